/* Harness: the raw bytes of a connection (request line, headers, framing,
 * body), as sent. Checks: the server survives and still answers /healthz. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	struct fuzz_answer a;
	fuzz_exchange(data, size, &a, 30);
	fuzz_answer_free(&a);
	fuzz_check_alive();
	return 0;
}
