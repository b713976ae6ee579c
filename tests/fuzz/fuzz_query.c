/* Harness: the query string of a GET (parse_target: names, values,
 * percent-decoding) sent through the server. Bytes a request line cannot carry
 * (space, controls) are percent-encoded; parse_target refuses them raw, which
 * the head harness covers. */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	char *req = malloc(size * 3 + 128);
	size_t n = (size_t)sprintf(req, "GET /q?");
	for (size_t i = 0; i < size; i++) {
		if (data[i] <= 0x20 || data[i] == 0x7f)
			n += (size_t)sprintf(req + n, "%%%02X", data[i]);
		else
			req[n++] = (char)data[i];
	}
	n += (size_t)sprintf(req + n, " HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\r\n");
	struct fuzz_answer a;
	fuzz_exchange_answered(req, n, &a);
	free(req);
	fuzz_check_one_answer(&a, "query");
	fuzz_answer_free(&a);
	fuzz_check_alive();
	return 0;
}
