/* Unit tests of src/core: arena, buf and the HTML formatter, text checks. */
#include "../../src/core/arena.h"
#include "../../src/core/buf.h"
#include "../../src/core/text.h"
#include "../../src/core/workers.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

Test(buf, grows_and_terminates)
{
	struct buf b;
	buf_init(&b, 0);
	for (int i = 0; i < 1000; i++)
		buf_printf(&b, "%d,", i);
	cr_assert_eq(strlen(buf_str(&b)), b.len);
	cr_assert(!strncmp(buf_str(&b), "0,1,2,", 6));
	cr_assert(!buf_failed(&b));
	buf_free(&b);
}

Test(buf, cap_sets_sticky_error)
{
	struct buf b;
	buf_init(&b, 8);
	buf_adds(&b, "12345");
	buf_adds(&b, "6789"); /* would pass 8 */
	cr_assert(buf_failed(&b));
	cr_assert_str_eq(buf_str(&b), "12345");
	buf_adds(&b, "x"); /* ignored after the error, even though it would fit */
	cr_assert_str_eq(buf_str(&b), "12345");
	buf_free(&b);
}

Test(html, printf_escapes_strings_only)
{
	struct buf b;
	buf_init(&b, 0);
	html_printf(&b, "<a href=\"/a/%s\">%s</a> %d%%", "x\"onmouseover=1", "<script>&'", 42);
	cr_assert_str_eq(buf_str(&b), "<a href=\"/a/x&quot;onmouseover=1\">&lt;script&gt;&amp;&#39;</a> 42%");
	buf_free(&b);
}

Test(html, printf_precision_and_widths)
{
	struct buf b;
	buf_init(&b, 0);
	html_printf(&b, "[%.3s][%5d][%-3d][%zu][%lld][%.*s]", "<<<<<", 7, 1, (size_t)9, -5LL, 2, "&&&");
	cr_assert_str_eq(buf_str(&b), "[&lt;&lt;&lt;][    7][1  ][9][-5][&amp;&amp;]");
	buf_free(&b);
}

Test(html, raw_is_not_escaped_and_null_is_empty)
{
	struct buf b;
	buf_init(&b, 0);
	html_raw(&b, "<b>");
	const char *volatile none = NULL;
	html_printf(&b, "%s|", none);
	cr_assert_str_eq(buf_str(&b), "<b>|");
	buf_free(&b);
}

Test(html, bidi_and_zero_width_are_shown_not_obeyed)
{
	/* Every class in the list, next to text and to characters that must stay as they are. */
	static const struct {
		const char *in, *out;
	} cases[] = {
	    {"a\u202Eb", "a\u27E8U+202E\u27E9b"},
	    {"\u202A\u202B\u202C\u202D", "\u27E8U+202A\u27E9\u27E8U+202B\u27E9\u27E8U+202C\u27E9\u27E8U+202D\u27E9"},
	    {"\u2066x\u2067y\u2068z\u2069",
	     "\u27E8U+2066\u27E9x\u27E8U+2067\u27E9y\u27E8U+2068\u27E9z\u27E8U+2069\u27E9"},
	    {"\u200B\u200C\u200D\u200E\u200F",
	     "\u27E8U+200B\u27E9\u27E8U+200C\u27E9\u27E8U+200D\u27E9\u27E8U+200E\u27E9\u27E8U+200F\u27E9"},
	    {"\u2060\u2064\uFEFF\u061C\u180E",
	     "\u27E8U+2060\u27E9\u27E8U+2064\u27E9\u27E8U+FEFF\u27E9\u27E8U+061C\u27E9\u27E8U+180E\u27E9"},
	    {"<\u202E>", "&lt;\u27E8U+202E\u27E9&gt;"},
	    /* Neighbours that are ordinary text: Cyrillic, dashes, quotes, ellipsis, Arabic, emoji. */
	    {"Ёж — «ок»…\u2010\u2065\u2070\u0627\u061B\U0001F600",
	     "Ёж — «ок»…\u2010\u2065\u2070\u0627\u061B\U0001F600"},
	    /* A sequence cut short (precision) is left alone. */
	    {"x\xE2\x80", "x\xE2\x80"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf b;
		buf_init(&b, 0);
		html_printf(&b, "%s", cases[i].in);
		cr_assert_str_eq(buf_str(&b), cases[i].out, "case %zu", i);
		buf_free(&b);
	}
	struct buf b;
	buf_init(&b, 0);
	html_printf(&b, "%.4s|", "a\u202Eb"); /* 4 bytes: a and the whole override */
	cr_assert_str_eq(buf_str(&b), "a\u27E8U+202E\u27E9|");
	buf_free(&b);
}

Test(html, a_form_value_gives_back_exactly_what_was_typed_escaped)
{
	struct buf b;
	buf_init(&b, 0);
	html_value(&b, "\"a\u202Eb\u200D<c>&'");
	html_value(&b, NULL);
	cr_assert_str_eq(buf_str(&b), "&quot;a\u202Eb\u200D&lt;c&gt;&amp;&#39;");
	buf_free(&b);
}

Test(url, encode)
{
	struct buf b;
	buf_init(&b, 0);
	url_encode(&b, "забыл пароль&x=1");
	cr_assert_str_eq(buf_str(&b), "%D0%B7%D0%B0%D0%B1%D1%8B%D0%BB%20%D0%BF%D0%B0%D1%80%D0%BE%D0%BB%D1%8C%26x%3D1");
	buf_free(&b);
}

Test(text, utf8_valid)
{
	cr_assert(utf8_valid("привет ё", strlen("привет ё")));
	cr_assert(!utf8_valid("\xff", 1));
	cr_assert(!utf8_valid("\xc0\xaf", 2));	       /* overlong '/' */
	cr_assert(!utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
	cr_assert(!utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
	cr_assert(!utf8_valid("a\0b", 3));	       /* NUL */
	cr_assert(!utf8_valid("\xd0", 1));	       /* truncated */
	cr_assert(utf8_valid("\xf0\x9f\x98\x80", 4));  /* emoji */
}

Test(text, utf8_cut_on_boundary)
{
	const char *s = "жжж"; /* 6 bytes */
	cr_assert_eq(utf8_cut(s, 6, 3), 2);
	cr_assert_eq(utf8_cut(s, 6, 4), 4);
	cr_assert_eq(utf8_cut(s, 6, 10), 6);
	cr_assert_eq(utf8_length("ёжик"), 4);
}

Test(text, slugs_countries_dates)
{
	cr_assert(slug_valid("password-reset"));
	cr_assert(!slug_valid("Password"));
	cr_assert(slug_valid("-a"), "[a-z0-9-]{1,80}");
	cr_assert(slug_valid("a234567890123456789012345678901234567890123456789012345678901234567890123456789"));
	cr_assert(!slug_valid("a2345678901234567890123456789012345678901234567890123456789012345678901234567890x"));
	cr_assert(!slug_valid("a/b"));
	cr_assert(!slug_valid(""));
	cr_assert(!slug_valid("../etc"));
	cr_assert(country_code_valid("KZ"));
	cr_assert(!country_code_valid("kz"));
	cr_assert(!country_code_valid("KZZ"));
	cr_assert(date_valid("2024-02-29"));
	cr_assert(!date_valid("2023-02-29"));
	cr_assert(!date_valid("2026-13-01"));
	cr_assert(!date_valid("2026-1-01"));
}

Test(text, date_ru)
{
	struct arena *a = arena_new();
	cr_assert_str_eq(date_ru(a, "2026-10-14"), "14 октября 2026");
	cr_assert_str_eq(date_ru(a, "bad"), "bad");
	arena_free(a);
}

Test(text, pct_decode)
{
	struct arena *a = arena_new();
	char *out;
	cr_assert(pct_decode(a, "a%20b+c", 7, true, &out));
	cr_assert_str_eq(out, "a b c");
	cr_assert(pct_decode(a, "a+b", 3, false, &out));
	cr_assert_str_eq(out, "a+b");
	cr_assert(!pct_decode(a, "%00", 3, false, &out));
	cr_assert(!pct_decode(a, "%FF", 3, false, &out));
	cr_assert(!pct_decode(a, "%4", 2, false, &out));
	cr_assert(!pct_decode(a, "%zz", 3, false, &out));
	cr_assert(pct_decode(a, "%D0%B6", 6, false, &out));
	cr_assert_str_eq(out, "ж");
	arena_free(a);
}

Test(text, split_list_trims_and_skips_empty)
{
	struct arena *a = arena_new();
	char **items;
	size_t n = split_list(a, " a, b ,, c ,", &items);
	cr_assert_eq(n, 3);
	cr_assert_str_eq(items[0], "a");
	cr_assert_str_eq(items[1], "b");
	cr_assert_str_eq(items[2], "c");
	cr_assert_eq(split_list(a, "", &items), 0);
	arena_free(a);
}

Test(arena, big_and_small_allocations)
{
	struct arena *a = arena_new();
	char *small = arena_strdup(a, "hello");
	char *big = arena_alloc(a, 100000);
	memset(big, 'x', 100000);
	char *after = arena_strdup(a, "world");
	cr_assert_str_eq(small, "hello");
	cr_assert_str_eq(after, "world");
	cr_assert_str_eq(arena_printf(a, "%d-%s", 5, "z"), "5-z");
	arena_free(a);
}

/* Issue #8: background threads run at a lower CPU priority than the thread that starts them. */
struct nice_probe {
	struct work w;
	int nice;
	pthread_mutex_t lock;
	pthread_cond_t done;
	bool ran;
};

static void probe_run(struct work *w)
{
	struct nice_probe *p = (struct nice_probe *)w;
	pthread_mutex_lock(&p->lock);
	p->nice = workers_thread_nice();
	p->ran = true;
	pthread_cond_signal(&p->done);
	pthread_mutex_unlock(&p->lock);
}

static int nice_of_worker(int nice)
{
	struct nice_probe p = {.w.run = probe_run};
	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.done, NULL);
	struct workers *ws = workers_start_nice(1, nice);
	cr_assert_not_null(ws);
	workers_submit(ws, &p.w);
	pthread_mutex_lock(&p.lock);
	while (!p.ran)
		pthread_cond_wait(&p.done, &p.lock);
	pthread_mutex_unlock(&p.lock);
	workers_stop(ws);
	return p.nice;
}

Test(workers, nice_lowers_the_threads_priority)
{
	int base = workers_thread_nice();
	if (base >= 10)
		cr_skip_test("the tests already run at nice %d", base);
	cr_assert_eq(nice_of_worker(5), base + 5, "relative to the creator's");
	cr_assert_eq(nice_of_worker(10), base + 10);
	cr_assert_eq(nice_of_worker(0), base, "workers_start keeps the default");
	cr_assert_eq(workers_thread_nice(), base, "the caller's own priority is unchanged");
}

/* The ETags' hash: the same bytes the same hash; a change of any one byte (in the 8-byte words or
 * in the tail), or of the length alone, another. */
Test(core, hash64_long_sees_every_byte_and_the_length)
{
	char a[40], b[40];
	for (size_t i = 0; i < sizeof a; i++)
		a[i] = (char)('a' + i % 26);
	memcpy(b, a, sizeof a);
	for (size_t n = 0; n <= sizeof a; n++) {
		cr_assert_eq(hash64_long(a, n), hash64_long(b, n));
		for (size_t i = 0; i < n; i++) {
			b[i] ^= 1;
			cr_assert_neq(hash64_long(a, n), hash64_long(b, n), "byte %zu of %zu", i, n);
			b[i] ^= 1;
		}
	}
	char z[9] = {0};
	for (size_t n = 0; n < 8; n++)
		cr_assert_neq(hash64_long(z, n), hash64_long(z, n + 1), "zeros: %zu and %zu bytes", n, n + 1);
}
