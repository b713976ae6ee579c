/*
 * Unit tests of api_request_input_from_json (src/api/requests_api.c): the creation request's
 * JSON body as a stranger may send it. (The same function is the JSON fuzz harness's target.)
 */
#include "../../src/api/api.h"
#include "../../src/core/arena.h"
#include "../../src/req/req.h"

#include <criterion/criterion.h>
#include <string.h>

static struct arena *A;

static void setup(void)
{
	A = arena_new();
}

static void teardown(void)
{
	arena_free(A);
}

TestSuite(api_json, .init = setup, .fini = teardown);

static bool parse(const char *body, size_t len, struct req_input *in, struct req_errors *e)
{
	memset(in, 0, sizeof *in);
	memset(e, 0, sizeof *e);
	return api_request_input_from_json(A, body, len, in, e);
}

Test(api_json, reads_the_known_string_fields_and_ignores_the_rest)
{
	struct req_input in;
	struct req_errors e;
	const char *b = "{\"member_id\":\"1234567\",\"name\":\"Анна\",\"extra\":[1,2],\"description\":\"x\"}";
	cr_assert(parse(b, strlen(b), &in, &e));
	cr_assert_str_eq(in.member_id, "1234567");
	cr_assert_str_eq(in.name, "Анна");
	cr_assert_str_eq(in.description, "x");
	cr_assert_null(in.email);
	cr_assert_eq(e.n, 0);
}

Test(api_json, a_body_that_is_not_one_object_is_bad_json)
{
	struct req_input in;
	struct req_errors e;
	static const char *const bad[] = {"",
					  "[]",
					  "\"x\"",
					  "1",
					  "{\"a\":1",
					  "{} {}",
					  "null",
					  "{\"name\":\"a\",\"name\":\"b\"}",
					  "{\"name\":\"a\\u0000b\"}",
					  "{\"a\\u0000\":1}"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert_not(parse(bad[i], strlen(bad[i]), &in, &e), "accepted %s", bad[i]);
	/* A NUL byte after the object: the length given is what counts. */
	cr_assert_not(parse("{}\0x", 4, &in, &e));
	cr_assert(parse("{}\0x", 2, &in, &e));
	/* Invalid UTF-8 in a string is refused by the parser. */
	cr_assert_not(parse("{\"name\":\"\xff\"}", 11, &in, &e));
}

Test(api_json, fields_of_the_wrong_type_are_errors_null_is_absent)
{
	struct req_input in;
	struct req_errors e;
	const char *b = "{\"member_id\":1234567,\"name\":null,\"email\":[\"a\"],\"topic\":{}}";
	cr_assert(parse(b, strlen(b), &in, &e));
	cr_assert_eq(e.n, 3);
	cr_assert_null(in.member_id);
	cr_assert_null(in.name);
	cr_assert_str_eq(e.field[0], "member_id");
	cr_assert_str_eq(e.message[0], "Ожидается строка.");
}

Test(api_json, deep_nesting_is_refused_without_a_crash)
{
	struct req_input in;
	struct req_errors e;
	size_t n = 100000;
	char *b = arena_alloc(A, 2 * n + 1);
	memset(b, '[', n);
	memset(b + n, ']', n);
	b[2 * n] = '\0';
	cr_assert_not(parse(b, 2 * n, &in, &e));
}
