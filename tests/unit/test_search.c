/* Unit tests of src/search (the first engine): folding, country rules, ranking basics. */
#include "../../src/core/arena.h"
#include "../../src/kb/kb.h"
#include "../../src/search/search.h"

#include <criterion/criterion.h>
#include <string.h>

static const struct kb_text texts[] = {
    {.slug = "password-reset", .country = "", .section = "account", .title = "Как восстановить пароль",
     .summary = "Если забыли пароль", .keywords = "забыл пароль, не могу войти", .countries = "",
     .body = "Нажмите «Забыли пароль?» на странице входа.\n"},
    {.slug = "payout-setup", .country = "", .section = "payouts", .title = "Как настроить выплаты",
     .summary = "Реквизиты для выплат", .keywords = "деньги", .countries = "",
     .body = "Укажите счёт для выплат.\n"},
    {.slug = "payout-setup", .country = "KZ", .section = "payouts", .title = "Выплаты в Казахстане",
     .summary = "ИИН и IBAN", .keywords = "деньги", .countries = "",
     .body = "Укажите IBAN для выплат.\n"},
};

Test(search, words_fold_case_and_yo)
{
	struct arena *a = arena_new();
	char **w;
	size_t n = search_words(a, "ЁЖИК, Пароль-123!", &w);
	cr_assert_eq(n, 3);
	cr_assert_str_eq(w[0], "ежик");
	cr_assert_str_eq(w[1], "пароль");
	cr_assert_str_eq(w[2], "123");
	arena_free(a);
}

Test(search, clean_query_cuts_and_drops_controls)
{
	struct arena *a = arena_new();
	cr_assert_str_eq(search_clean_query(a, "  a\x01\tb   c "), "a b c");
	char long_q[1200] = "";
	for (int i = 0; i < 300; i++)
		strcat(long_q, "ж");
	const char *q = search_clean_query(a, long_q);
	cr_assert_eq(strlen(q), 2 * SEARCH_MAX_QUERY_CHARS);
	arena_free(a);
}

Test(search, finds_inflected_forms_and_respects_country)
{
	struct arena *a = arena_new();
	struct search_index *ix = search_build(texts, 3);
	struct search_result r;
	struct search_query q = {.text = "ЗАБЫЛА пароля", .country = "", .limit = 10};
	cr_assert_eq(search_run(ix, a, &q, &r), 0);
	cr_assert_geq(r.n, 1);
	cr_assert_str_eq(r.hits[0].slug, "password-reset");
	q = (struct search_query){.text = "выплаты", .country = "KZ", .limit = 10};
	cr_assert_eq(search_run(ix, a, &q, &r), 0);
	cr_assert_eq(r.n, 1, "one hit per article");
	cr_assert_str_eq(r.hits[0].title, "Выплаты в Казахстане");
	q = (struct search_query){.text = "выплаты", .country = "DE", .limit = 10};
	cr_assert_eq(search_run(ix, a, &q, &r), 0);
	cr_assert_str_eq(r.hits[0].title, "Как настроить выплаты");
	q = (struct search_query){.text = "выплаты", .country = "", .section = "account", .limit = 10};
	cr_assert_eq(search_run(ix, a, &q, &r), 0);
	cr_assert_eq(r.total, 0);
	q = (struct search_query){.text = "!!! ---", .country = "", .limit = 10};
	cr_assert_eq(search_run(ix, a, &q, &r), -1);
	search_free(ix);
	arena_free(a);
}

Test(search, snippets_are_escaped)
{
	struct kb_text t = {.slug = "x", .country = "", .section = "s", .title = "Пароль",
			    .summary = "<b>пароль</b>", .keywords = "", .countries = "", .body = "x"};
	struct arena *a = arena_new();
	struct search_index *ix = search_build(&t, 1);
	struct search_result r;
	struct search_query q = {.text = "пароль", .country = "", .limit = 5};
	cr_assert_eq(search_run(ix, a, &q, &r), 0);
	cr_assert_null(strstr(r.hits[0].snippet_html, "<b>"));
	cr_assert(strstr(r.hits[0].snippet_html, "&lt;b&gt;"));
	search_free(ix);
	arena_free(a);
}
