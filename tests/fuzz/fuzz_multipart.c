/* Harness: a multipart/form-data body (boundary XyZ123) through libmicrohttpd's
 * post processor as the server drives it (body_begin/body_data/body_end,
 * on_post_data), then the form read like the request form does
 * (req_input_from_form). */
#include "body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 262144)
		return 0;
	fuzz_post("/form", "multipart/form-data; boundary=XyZ123", data, size);
	return 0;
}
