/* Harness: the JSON body of POST /api/v1/requests, read by
 * api_request_input_from_json (the function the handler calls), in-process
 * without a server: fast. */
#include "fuzz.h"

#include "../../src/api/api.h"
#include "../../src/core/arena.h"
#include "../../src/core/text.h"
#include "../../src/req/req.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arena *a = arena_new();
	struct req_input in = {0};
	struct req_errors shape = {0};
	if (api_request_input_from_json(a, (const char *)data, size, &in, &shape)) {
		const char *v[] = {in.member_id, in.name,	  in.email,   in.phone,	     in.country,
				   in.topic,	 in.order_number, in.subject, in.description};
		for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
			if (v[i] && !utf8_valid(v[i], strlen(v[i])))
				fuzz_fail("json: a string field that is not valid UTF-8");
		if (shape.n > REQ_MAX_ERRORS)
			fuzz_fail("json: too many errors recorded");
	}
	arena_free(a);
	return 0;
}
