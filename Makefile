# spravka — one Makefile with tiers (see ../shared/STYLE.md):
#   make run         install build deps if missing, build, serve the demo content on :8080
#   make test        everything that must pass on every commit (unit + end-to-end + browser)
#   make asan        the same suite under AddressSanitizer + UBSan
#   make bench-http  HTTP throughput against nginx (reported, not a test)
#   make bench-search search quality and speed against FTS5, PostgreSQL, Xapian, Sphinx
#   make bench-requests durable support-request creations per second (8 clients)
#   make bench-load  50,000 articles and 1,000,000 requests: import, reads, search, desk, mixed load
#   make test-crash  the SIGKILL crash test of request creation, 200 cycles
#   make fuzz        libFuzzer harnesses (clang), each run FUZZ_SECONDS on its corpus (docs/fuzzing.md)
#   make lint        clang-format check (.clang-format); make format applies it

PKGS      := libmicrohttpd sqlite3 libpq libcmark-gfm jansson zlib libzstd libutf8proc inih libsodium libcurl libcrypto
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
# The fuzz harnesses: tests/fuzz/fuzz_NAME.c, corpus tests/fuzz/NAME/. make test replays every
# corpus through them (gcc, replay.c as main); make fuzz runs them under libFuzzer (clang).
FUZZ      := head multipart urlencoded query cookie json image
FUZZ_SRC  := $(sort $(wildcard tests/fuzz/*.c))
FUZZ_COMMON := $(BUILD)/tests/fuzz/fuzz.o
FUZZ_REPLAY := $(FUZZ:%=$(BIN)/fuzz-replay-%)
FUZZ_SECONDS ?= 60

.PHONY: all run test test-crash asan deps test-deps browser-deps fuzz-deps clean lint format fuzz bench-http bench-search bench-requests bench-load bench-scale

all: deps $(BIN)/spravka

deps:
	@pkg-config --exists $(PKGS) && [ -f /usr/include/libstemmer.h ] && [ -f /usr/include/cmark-gfm-core-extensions.h ] || scripts/install-deps build

test-deps: deps
	@pkg-config --exists $(TEST_PKGS) && command -v chromium >/dev/null && command -v node >/dev/null && command -v npm >/dev/null && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && { command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ]; } || scripts/install-deps test

# The browser tests' npm packages (tests/browser: playwright-core and axe-core, pinned in the lock;
# chromium is Debian's, never downloaded). npm ci writes node_modules/.package-lock.json last:
# its date says the install is complete and newer than the lock.
BROWSER_DEPS := tests/browser/node_modules/.package-lock.json

browser-deps: $(BROWSER_DEPS)

$(BROWSER_DEPS): tests/browser/package.json tests/browser/package-lock.json | test-deps
	cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN) -c $< -o $@

$(BIN)/spravka: $(OBJ)
	@mkdir -p $(BIN)
	$(CC) $(SAN) -o $@ $(OBJ) $(PKG_LIBS)

$(BIN)/unit-tests: $(LIB_OBJ) $(UNIT_OBJ)
	@mkdir -p $(BIN)
	$(CC) $(SAN) -o $@ $(LIB_OBJ) $(UNIT_OBJ) $(PKG_LIBS) $(shell pkg-config --libs criterion)

$(BIN)/fuzz-replay-%: $(LIB_OBJ) $(FUZZ_COMMON) $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/tests/fuzz/replay.o
	@mkdir -p $(BIN)
	$(CC) $(SAN) -o $@ $^ $(PKG_LIBS)

# libFuzzer binaries: everything built by clang with the fuzzer's coverage, ASan and UBSan.
$(BIN)/fuzz-%: $(LIB_OBJ) $(FUZZ_COMMON) $(BUILD)/tests/fuzz/fuzz_%.o
	@mkdir -p $(BIN)
	$(CC) $(SAN) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS)

fuzz-deps: deps
	@command -v clang >/dev/null && [ -n "$$(ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a 2>/dev/null)" ] || scripts/install-deps fuzz

# make fuzz [FUZZ_SECONDS=60] [FUZZ="head json"]: new inputs go to build-fuzz/corpus-NAME (copy
# the interesting ones into tests/fuzz/NAME/ by hand, minimised), crashes to build-fuzz/.
fuzz: fuzz-deps
	@$(MAKE) --no-print-directory CC=clang BUILD=build-fuzz BIN=bin-fuzz OPT="-O1 -g" \
		SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
		$(FUZZ:%=bin-fuzz/fuzz-%)
	@set -e; for h in $(FUZZ); do \
		mkdir -p build-fuzz/corpus-$$h; \
		echo "== fuzz $$h for $(FUZZ_SECONDS) s"; \
		ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		bin-fuzz/fuzz-$$h -max_total_time=$(FUZZ_SECONDS) -timeout=20 -rss_limit_mb=4096 \
			-max_len=65536 -print_final_stats=1 -artifact_prefix=build-fuzz/$$h- \
			build-fuzz/corpus-$$h tests/fuzz/$$h; \
	done

run: all
	$(BIN)/spravka serve

test: test-deps browser-deps
	@$(MAKE) --no-print-directory $(BIN)/spravka $(BIN)/unit-tests $(FUZZ_REPLAY)
	@BIN=$(BIN) tests/run

asan: test-deps browser-deps
	@$(MAKE) --no-print-directory BUILD=build-asan BIN=bin-asan OPT="-O1 -g" \
		SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
		bin-asan/spravka bin-asan/unit-tests $(FUZZ:%=bin-asan/fuzz-replay-%)
	@BIN=bin-asan ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 tests/run

bench-http: all
	scripts/bench-http

bench-search: all
	scripts/bench-search

bench-requests: all
	scripts/bench-requests

bench-load: all
	scripts/bench-load

bench-scale: all
	scripts/bench-scale

test-crash: test-deps
	@$(MAKE) --no-print-directory $(BIN)/spravka
	SPRAVKA_BIN=$(BIN)/spravka SPRAVKA_CRASH_CYCLES=$${CYCLES:-200} /usr/bin/python3 tests/e2e/crash_test.py

FORMAT_SRC = $(SRC) $(UNIT_SRC) $(FUZZ_SRC) $(shell find src tests/unit tests/fuzz -name '*.h' | sort)

lint:
	clang-format --dry-run --Werror $(FORMAT_SRC)

format:
	clang-format -i $(FORMAT_SRC)

clean:
	rm -rf build build-asan build-fuzz bin bin-asan bin-fuzz

# The harness objects are not intermediates to delete after a link.
.SECONDARY: $(FUZZ_SRC:%.c=$(BUILD)/%.o)

-include $(OBJ:.o=.d) $(UNIT_OBJ:.o=.d) $(FUZZ_SRC:%.c=$(BUILD)/%.d)
