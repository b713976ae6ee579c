# spravka — one Makefile with tiers (see ../shared/STYLE.md):
#   make run         install build deps if missing, build, serve the demo content on :8080
#   make test        everything that must pass on every commit (unit + end-to-end)
#   make asan        the same suite under AddressSanitizer + UBSan
#   make bench-http  HTTP throughput against nginx (reported, not a test)
#   make bench-search search quality and speed against FTS5, PostgreSQL, Xapian, Sphinx
#   make bench-requests durable support-request creations per second (8 clients)
#   make test-crash  the SIGKILL crash test of request creation, 200 cycles
#   make lint        clang-format check

PKGS      := libmicrohttpd sqlite3 libcmark-gfm jansson zlib libutf8proc inih libsodium libcurl libcrypto
TEST_PKGS := criterion
CC        ?= gcc
OPT       ?= -O2 -g
WARN      := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wformat=2 -Wno-format-nonliteral
ifeq ($(CI),true)
WARN      += -Werror
endif
VERSION   := 0.1.0
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lcmark-gfm-extensions -lstemmer -lpthread -lm
CFLAGS    += -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) $(PKG_CFLAGS) -DSPRAVKA_VERSION='"$(VERSION)"' -MMD -MP
SAN        =
BUILD     ?= build
BIN       ?= bin

SRC       := $(shell find src -name '*.c' | sort)
OBJ       := $(SRC:%.c=$(BUILD)/%.o)
LIB_OBJ   := $(filter-out $(BUILD)/src/main.o,$(OBJ))
UNIT_SRC  := $(sort $(wildcard tests/unit/*.c))
UNIT_OBJ  := $(UNIT_SRC:%.c=$(BUILD)/%.o)

.PHONY: all run test test-crash asan deps test-deps clean lint bench-http bench-search bench-requests

all: deps $(BIN)/spravka

deps:
	@pkg-config --exists $(PKGS) && [ -f /usr/include/libstemmer.h ] && [ -f /usr/include/cmark-gfm-core-extensions.h ] || scripts/install-deps build

test-deps: deps
	@pkg-config --exists $(TEST_PKGS) && command -v chromium >/dev/null || scripts/install-deps test

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN) -c $< -o $@

$(BIN)/spravka: $(OBJ)
	@mkdir -p $(BIN)
	$(CC) $(SAN) -o $@ $(OBJ) $(PKG_LIBS)

$(BIN)/unit-tests: $(LIB_OBJ) $(UNIT_OBJ)
	@mkdir -p $(BIN)
	$(CC) $(SAN) -o $@ $(LIB_OBJ) $(UNIT_OBJ) $(PKG_LIBS) $(shell pkg-config --libs criterion)

run: all
	$(BIN)/spravka serve

test: test-deps
	@$(MAKE) --no-print-directory $(BIN)/spravka $(BIN)/unit-tests
	@BIN=$(BIN) tests/run

asan: test-deps
	@$(MAKE) --no-print-directory BUILD=build-asan BIN=bin-asan OPT="-O1 -g" \
		SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
		bin-asan/spravka bin-asan/unit-tests
	@BIN=bin-asan ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 tests/run

bench-http: all
	scripts/bench-http

bench-search: all
	scripts/bench-search

bench-requests: all
	scripts/bench-requests

test-crash: test-deps
	@$(MAKE) --no-print-directory $(BIN)/spravka
	SPRAVKA_BIN=$(BIN)/spravka SPRAVKA_CRASH_CYCLES=$${CYCLES:-200} /usr/bin/python3 tests/e2e/crash_test.py

lint:
	clang-format --dry-run --Werror $(SRC) $(UNIT_SRC)

clean:
	rm -rf build build-asan bin bin-asan

-include $(OBJ:.o=.d) $(UNIT_OBJ:.o=.d)
