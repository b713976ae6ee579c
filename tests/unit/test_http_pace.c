/*
 * Unit tests of the reaper's test of a request body's pace (src/http/http.c, http_body_too_slow):
 * the 408 of [limits] min_body_rate.
 */
#include "../../src/http/http.h"

#include <criterion/criterion.h>

#define S 1000000u /* µs in a second */

Test(http_pace, a_body_under_the_rate_after_the_window_is_too_slow)
{
	uint64_t t0 = 50 * (uint64_t)S;
	cr_assert(http_body_too_slow(t0 + 10 * S, t0, 10239, 1024, 10 * S));
	cr_assert(!http_body_too_slow(t0 + 10 * S, t0, 10240, 1024, 10 * S));
	cr_assert(!http_body_too_slow(t0 + 9 * S, t0, 0, 1024, 10 * S), "inside the grace window");
	cr_assert(!http_body_too_slow(t0 + 100 * S, t0, 0, 0, 10 * S), "no minimum");
}

/* Found behind haproxy, whose keep-alive connections carry one small POST after another: a body
 * begun between the reaper's reading of the clock and its look at that connection has a window
 * starting after "now", and the unsigned now - mark wrapped to nearly 2^64, so the request was
 * cut at once with "408 Данные приходят слишком медленно". */
Test(http_pace, a_body_begun_after_the_reapers_clock_reading_is_not_cut)
{
	uint64_t now = 50 * (uint64_t)S;
	cr_assert(!http_body_too_slow(now, now + 1, 0, 1024, 10 * S));
	cr_assert(!http_body_too_slow(now, now + 200000, 0, 1024, 10 * S));
	cr_assert(!http_body_too_slow(now, now, 0, 1024, 10 * S));
}
