/*
 * The fuzz harnesses' shared part: the real HTTP server of src/http (http_start
 * on 127.0.0.1:0, in this process) with a small application that reads
 * everything a handler can read, and a client that sends one input over a fresh
 * TCP connection and checks what comes back.
 *
 * Every harness (fuzz_<name>.c) defines LLVMFuzzerTestOneInput. Built two ways:
 *   make fuzz      clang, -fsanitize=fuzzer,address,undefined: libFuzzer drives
 * it make test      gcc, with replay.c as main: every file of
 * tests/fuzz/<name>/ once A broken promise (a contract of http.h, no answer, a
 * dead server) calls fuzz_fail: under libFuzzer that aborts (a crash to
 * minimise), in a replay it is counted as a failed input.
 */
#ifndef SPRAVKA_FUZZ_H
#define SPRAVKA_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The answer to one request: the bytes until the server closed, or paused idle_ms after the
 * last byte was sent. */
struct fuzz_answer {
	char *bytes; /* NUL-terminated, malloc */
	size_t len;
	int status;  /* of the first status line, 0 = none */
	int answers; /* status lines at the start of a response ("HTTP/1.1 NNN") */
};

/* Starts the server once (first call); its port. */
int fuzz_server(void);
/* Sends the bytes on a new connection, half-closes it, reads the answer. A head that never
 * ends keeps libmicrohttpd waiting (until the header deadline): the raw-head harness gives up
 * after a short pause (idle_ms 30: it checks only that the server lives on); complete
 * requests are always answered (3000). */
void fuzz_exchange(const void *data, size_t len, struct fuzz_answer *a, unsigned idle_ms);
/* The same for a complete request, which must be answered: sent again once if nothing at all
 * came back (see fuzz.c). */
void fuzz_exchange_answered(const void *data, size_t len, struct fuzz_answer *a);
void fuzz_answer_free(struct fuzz_answer *a);
/* GET /healthz on a new connection must answer 200: the server survived. */
void fuzz_check_alive(void);
/* A request that the server parses must get exactly one answer and then a
 * close. */
void fuzz_check_one_answer(const struct fuzz_answer *a, const char *what);
void fuzz_fail(const char *why);

/* Set by replay.c: failures are counted instead of aborting. */
extern int fuzz_replay_mode;
extern int fuzz_failures;

#endif
