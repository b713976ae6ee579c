/* Harness: an application/x-www-form-urlencoded body, through the server's body
 * code. */
#include "body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 262144)
		return 0;
	fuzz_post("/form", "application/x-www-form-urlencoded", data, size);
	return 0;
}
