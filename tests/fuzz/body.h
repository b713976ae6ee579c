/* A request around a fuzzed body: the harnesses of multipart and urlencoded
 * forms. */
#ifndef SPRAVKA_FUZZ_BODY_H
#define SPRAVKA_FUZZ_BODY_H

#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* POST path with Content-Type ct and data as the body (Content-Length framing);
 * exactly one answer must come back, and the server must live on. */
static inline void fuzz_post(const char *path, const char *ct, const uint8_t *data, size_t size)
{
	char head[512];
	int n = snprintf(head, sizeof head,
			 "POST %s HTTP/1.1\r\nHost: fuzz\r\nConnection: "
			 "close\r\nContent-Type: %s\r\n"
			 "Content-Length: %zu\r\n\r\n",
			 path, ct, size);
	char *req = malloc((size_t)n + size + 1);
	memcpy(req, head, (size_t)n);
	if (size)
		memcpy(req + n, data, size);
	struct fuzz_answer a;
	fuzz_exchange_answered(req, (size_t)n + size, &a);
	free(req);
	fuzz_check_one_answer(&a, path);
	fuzz_answer_free(&a);
	fuzz_check_alive();
}

#endif
