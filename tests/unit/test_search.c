/* Unit tests of src/search: analysis, country rules, typos, layout, transliteration, synonyms. */
#include "../../src/core/arena.h"
#include "../../src/search/search.h"

#include <criterion/criterion.h>
#include <string.h>

static const struct search_doc docs[] = {
    {.slug = "password-reset",
     .country = "",
     .section = "account",
     .title = "Как восстановить пароль",
     .summary = "Если забыли пароль от личного кабинета",
     .keywords = "забыл пароль, не могу войти",
     .text = "Нажмите «Забыли пароль?» на странице входа. Код придёт по SMS."},
    {.slug = "payout-setup",
     .country = "",
     .section = "payouts",
     .title = "Как настроить выплаты",
     .summary = "Реквизиты для выплат",
     .keywords = "деньги",
     .text = "Укажите счёт для выплат вознаграждения."},
    {.slug = "payout-setup",
     .country = "KZ",
     .section = "payouts",
     .title = "Выплаты в Казахстане",
     .summary = "ИИН и IBAN",
     .keywords = "деньги",
     .text = "Укажите IBAN для выплат."},
    {.slug = "track-order",
     .country = "",
     .section = "orders",
     .title = "Как отследить заказ",
     .summary = "Где посмотреть трек-номер посылки",
     .keywords = "где мой заказ",
     .text = "Трек-номер приходит в письме. Возврат товара оформляется отдельно."},
    {.slug = "return-order",
     .country = "",
     .section = "orders",
     .title = "Возврат товара",
     .summary = "Как вернуть товар",
     .keywords = "вернуть деньги",
     .text = "Оформите возврат в личном кабинете в течение 14 дней."},
};
#define N_DOCS ((int)(sizeof docs / sizeof docs[0]))

static struct search_index *ix;
static struct arena *a;

static void setup(void)
{
	ix = search_build(docs, N_DOCS, "пароль, доступ\n# comment\nзаказ, посылка\n");
	a = arena_new();
}

static void teardown(void)
{
	search_free(ix);
	arena_free(a);
}

static struct search_result run(const char *text, const char *country)
{
	struct search_result r;
	struct search_query q = {.text = text, .country = country, .limit = 10, .snippets = true};
	cr_assert_eq(search_run(ix, a, &q, &r), 0, "query \"%s\"", text);
	return r;
}

static void expect_top(const char *text, const char *slug)
{
	struct search_result r = run(text, "");
	cr_assert_geq(r.n, 1, "no result for \"%s\"", text);
	cr_assert_str_eq(r.hits[0].slug, slug, "\"%s\" gave %s first", text, r.hits[0].slug);
}

Test(search, words_fold_case_and_yo)
{
	struct arena *ar = arena_new();
	char **w;
	size_t n = search_words(ar, "ЁЖИК, Пароль-123!", &w);
	cr_assert_eq(n, 4); /* ежик, пароль, 123, пароль123 */
	cr_assert_str_eq(w[0], "ежик");
	cr_assert_str_eq(w[1], "пароль");
	cr_assert_str_eq(w[2], "123");
	cr_assert_str_eq(w[3], "пароль123");
	arena_free(ar);
}

Test(search, clean_query_cuts_and_drops_controls)
{
	struct arena *ar = arena_new();
	cr_assert_str_eq(search_clean_query(ar, "  a\x01\tb   c "), "a b c");
	char long_q[1200] = "";
	for (int i = 0; i < 300; i++)
		strcat(long_q, "ж");
	cr_assert_eq(strlen(search_clean_query(ar, long_q)), 2 * SEARCH_MAX_QUERY_CHARS);
	arena_free(ar);
}

Test(search, inflections_and_caps, .init = setup, .fini = teardown)
{
	expect_top("ЗАБЫЛА пароля", "password-reset");
	expect_top("восстановление паролей", "password-reset");
	expect_top("выплатами", "payout-setup");
}

Test(search, typos_are_fixed_and_reported, .init = setup, .fini = teardown)
{
	struct search_result r = run("пороль", "");
	cr_assert_geq(r.n, 1);
	cr_assert_str_eq(r.hits[0].slug, "password-reset");
	cr_assert_not_null(r.corrected);
	cr_assert_str_eq(r.corrected, "пароль");
	expect_top("отследть заказ", "track-order");  /* a deletion */
	expect_top("вощврат товара", "return-order"); /* a substitution */
	r = run("пароль", "");
	cr_assert_null(r.corrected, "a correct query is not rewritten");
}

Test(search, wrong_layout_and_transliteration, .init = setup, .fini = teardown)
{
	struct search_result r = run("pf,sk gfhjkm", "");
	cr_assert_geq(r.n, 1);
	cr_assert_str_eq(r.hits[0].slug, "password-reset");
	cr_assert_str_eq(r.corrected, "забыл пароль");
	expect_top("vozvrat tovara", "return-order");
	expect_top("otsledit zakaz", "track-order");
	expect_top("ult vjq pfrfp", "track-order");
}

Test(search, hyphenated_words_match_every_spelling, .init = setup, .fini = teardown)
{
	expect_top("трек номер", "track-order");
	expect_top("трекномер", "track-order");
	expect_top("трек-номер", "track-order");
}

Test(search, synonyms_and_prefix, .init = setup, .fini = teardown)
{
	expect_top("нет доступа", "password-reset");
	expect_top("где посылка", "track-order");
	expect_top("возвр", "return-order"); /* prefix of the last word */
}

Test(search, country_variants_are_exclusive, .init = setup, .fini = teardown)
{
	struct search_result r = run("выплаты", "KZ");
	cr_assert_eq(r.n, 1, "one hit per article");
	cr_assert_str_eq(r.hits[0].title, "Выплаты в Казахстане");
	r = run("выплаты", "DE");
	cr_assert_eq(r.n, 1);
	cr_assert_str_eq(r.hits[0].title, "Как настроить выплаты");
	r = run("iban", "DE");
	cr_assert_eq(r.n, 0, "the KZ text is hidden for DE");
	r = run("выплаты", "");
	cr_assert_str_eq(r.hits[0].title, "Как настроить выплаты");
}

Test(search, section_filter_and_operators_are_text, .init = setup, .fini = teardown)
{
	struct search_result r;
	struct search_query q = {.text = "выплаты", .country = "", .section = "account", .limit = 10};
	cr_assert_eq(search_run(ix, a, &q, &r), 0);
	cr_assert_eq(r.total, 0);
	r = run("\"пароль\" NEAR( -вход * :", "");
	cr_assert_str_eq(r.hits[0].slug, "password-reset");
	q = (struct search_query){.text = "!!! ---", .country = "", .limit = 10};
	cr_assert_eq(search_run(ix, a, &q, &r), -1);
}

Test(search, snippets_mark_matches_and_escape, .init = setup, .fini = teardown)
{
	struct search_doc d = {.slug = "x",
			       .country = "",
			       .section = "s",
			       .title = "Пароль",
			       .summary = "<b>пароль</b> & вход",
			       .keywords = "",
			       .text = "x"};
	struct search_index *one = search_build(&d, 1, NULL);
	struct search_result r;
	struct search_query q = {.text = "пароль", .country = "", .limit = 5, .snippets = true};
	cr_assert_eq(search_run(one, a, &q, &r), 0);
	cr_assert_str_eq(r.hits[0].snippet_html, "&lt;b&gt;<mark>пароль</mark>&lt;/b&gt; &amp; вход");
	search_free(one);
}

Test(search, boost_hook_changes_order, .init = setup, .fini = teardown)
{
	struct search_result r = run("вернуть деньги", "");
	const char *first = r.hits[0].slug;
	const char *other = strcmp(first, "return-order") ? "return-order" : "payout-setup";
	search_set_boost(ix, other, 100.0);
	r = run("вернуть деньги", "");
	cr_assert_str_eq(r.hits[0].slug, other);
}
