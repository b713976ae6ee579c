/* Harness: a Cookie header value, parsed by libmicrohttpd (its cookie table)
 * and read by http_cookie. Line ends and NUL, which would end or break the
 * header, become ';'. */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 8192)
		return 0;
	static const char head[] = "GET /c HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\nCookie: ";
	char *req = malloc(sizeof head + size + 8);
	memcpy(req, head, sizeof head - 1);
	size_t n = sizeof head - 1;
	for (size_t i = 0; i < size; i++)
		req[n++] = data[i] == '\r' || data[i] == '\n' || data[i] == 0 ? ';' : (char)data[i];
	memcpy(req + n, "\r\n\r\n", 4);
	n += 4;
	struct fuzz_answer a;
	fuzz_exchange_answered(req, n, &a);
	free(req);
	fuzz_check_one_answer(&a, "cookie");
	fuzz_answer_free(&a);
	fuzz_check_alive();
	return 0;
}
