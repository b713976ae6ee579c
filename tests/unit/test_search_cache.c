/* The cache of recent search answers (src/search/result_cache.c). */
#include "../../src/core/arena.h"
#include "../../src/search/result_cache.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* An answer of n hits whose strings carry tag, in a. */
static struct search_result answer(struct arena *a, int n, int total, const char *tag)
{
	struct search_result r = {.total = total, .n = n, .corrected = arena_printf(a, "исправлено %s", tag)};
	r.hits = arena_alloc(a, (size_t)(n ? n : 1) * sizeof *r.hits);
	for (int i = 0; i < n; i++)
		r.hits[i] = (struct search_hit){.slug = arena_printf(a, "slug-%s-%d", tag, i),
						.title = arena_printf(a, "Заголовок %s %d", tag, i),
						.section = "orders",
						.snippet_html = arena_printf(a, "текст <mark>%s</mark> %d", tag, i),
						.score = 10.0 - i};
	return r;
}

static void same(const struct search_result *x, const struct search_result *y)
{
	cr_assert_eq(x->total, y->total);
	cr_assert_eq(x->n, y->n);
	cr_assert_str_eq(x->corrected, y->corrected);
	for (int i = 0; i < x->n; i++) {
		cr_assert_str_eq(x->hits[i].slug, y->hits[i].slug);
		cr_assert_str_eq(x->hits[i].title, y->hits[i].title);
		cr_assert_str_eq(x->hits[i].section, y->hits[i].section);
		cr_assert_str_eq(x->hits[i].snippet_html, y->hits[i].snippet_html);
		cr_assert_float_eq(x->hits[i].score, y->hits[i].score, 1e-12);
	}
}

Test(search_cache, an_answer_comes_back_only_for_the_same_query_and_index)
{
	struct arena *a = arena_new();
	struct search_cache *c = search_cache_new(1 << 20);
	struct search_query q = {.text = "забыл пароль", .country = "RU", .limit = 10, .snippets = true};
	struct search_result r = answer(a, 3, 42, "a"), got;
	cr_assert_not(search_cache_get(c, 1, &q, a, &got), "empty");
	search_cache_put(c, 1, &q, &r);
	cr_assert(search_cache_get(c, 1, &q, a, &got));
	same(&r, &got);
	cr_assert_not(search_cache_get(c, 2, &q, a, &got), "another index generation");
	struct search_query other[] = {
	    {.text = "забыл пароль", .country = "KZ", .limit = 10, .snippets = true},
	    {.text = "забыл пароль", .country = "RU", .section = "orders", .limit = 10, .snippets = true},
	    {.text = "забыл пароль", .country = "RU", .limit = 10, .offset = 10, .snippets = true},
	    {.text = "забыл пароль", .country = "RU", .limit = 5, .snippets = true},
	    {.text = "забыл пароль", .country = "RU", .limit = 10, .snippets = false},
	    {.text = "забыл пароль ", .country = "RU", .limit = 10, .snippets = true},
	};
	for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
		cr_assert_not(search_cache_get(c, 1, &other[i], a, &got), "query %zu differs", i);
	struct search_cache_stats st;
	search_cache_stats(c, &st);
	cr_assert_eq(st.hits, 1);
	cr_assert_eq(st.entries, 1);
	search_cache_clear(c);
	cr_assert_not(search_cache_get(c, 1, &q, a, &got), "cleared");
	search_cache_stats(c, &st);
	cr_assert_eq(st.bytes, 0);
	cr_assert_eq(st.entries, 0);
	search_cache_free(c);
	arena_free(a);
}

Test(search_cache, the_budget_holds_however_many_answers_come)
{
	struct arena *a = arena_new();
	size_t budget = 64 << 10;
	struct search_cache *c = search_cache_new(budget);
	struct search_cache_stats st;
	for (int i = 0; i < 2000; i++) {
		char text[32];
		snprintf(text, sizeof text, "вопрос %d", i);
		struct search_query q = {.text = text, .country = "RU", .limit = 10, .snippets = true};
		struct search_result r = answer(a, 1 + i % 10, i, text);
		search_cache_put(c, 7, &q, &r);
		search_cache_stats(c, &st);
		cr_assert_leq(st.bytes, budget, "answer %d", i);
	}
	cr_assert_gt(st.entries, 10, "the cache keeps answers (%zu)", st.entries);
	cr_assert_gt(st.bytes, budget / 4, "and uses its budget (%zu bytes)", st.bytes);
	cr_assert_null(search_cache_new(0), "a budget of 0 is no cache");
	struct search_result got;
	struct search_query q = {.text = "x", .country = "RU", .limit = 10};
	cr_assert_not(search_cache_get(NULL, 1, &q, a, &got));
	search_cache_free(c);
	arena_free(a);
}

struct stress {
	struct search_cache *c;
	int id;
	int wrong; /* answers that were another query's (asserted on the main thread) */
};

static void *stress_main(void *p)
{
	struct stress *s = p;
	struct arena *a = arena_new();
	for (int i = 0; i < 3000; i++) {
		char text[32];
		snprintf(text, sizeof text, "q%d", i % 97);
		struct search_query q = {.text = text, .country = "RU", .limit = 10, .snippets = true};
		struct search_result got;
		if (search_cache_get(s->c, 3, &q, a, &got)) {
			s->wrong += got.total != i % 97 || strcmp(got.hits[0].slug, arena_printf(a, "slug-%s-0", text));
		} else {
			struct search_result r = answer(a, 4, i % 97, text);
			search_cache_put(s->c, 3, &q, &r);
		}
		if (s->id == 0 && i % 500 == 0)
			search_cache_clear(s->c);
		if (i % 256 == 0) {
			arena_free(a);
			a = arena_new();
		}
	}
	arena_free(a);
	return NULL;
}

Test(search_cache, threads_share_it_safely)
{
	size_t budget = 256 << 10;
	struct search_cache *c = search_cache_new(budget);
	pthread_t t[4];
	struct stress s[4];
	for (int i = 0; i < 4; i++) {
		s[i] = (struct stress){c, i, 0};
		pthread_create(&t[i], NULL, stress_main, &s[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		cr_assert_eq(s[i].wrong, 0, "thread %d got another query's answer", i);
	}
	struct search_cache_stats st;
	search_cache_stats(c, &st);
	cr_assert_leq(st.bytes, budget);
	cr_assert_gt(st.hits, 0);
	search_cache_clear(c);
	search_cache_stats(c, &st);
	cr_assert_eq(st.bytes, 0, "every block accounted for");
	search_cache_free(c);
}
