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

Test(search, feedback_boost_is_bounded)
{
	cr_assert_eq(search_feedback_boost(0, 0), 1.0);
	cr_assert_eq(search_feedback_boost(0, 50), 1.0, "bad ratings never lower an article");
	cr_assert_eq(search_feedback_boost(3, 0), 1.0, "three votes are not enough");
	cr_assert_eq(search_feedback_boost(50, 50), 1.0, "half and half");
	double prev = 1.0;
	for (long long yes = 5; yes <= 5000000; yes *= 10) {
		double b = search_feedback_boost(yes, yes / 10);
		cr_assert_geq(b, prev, "more votes of the same share: no less boost (%lld)", yes);
		cr_assert_leq(b, 1.0 + SEARCH_FEEDBACK_MAX_BOOST);
		prev = b;
	}
	cr_assert_gt(search_feedback_boost(20, 0), 1.02);
	cr_assert_lt(search_feedback_boost(20, 0), 1.04);
	cr_assert_gt(search_feedback_boost(1000000, 0), 1.0 + SEARCH_FEEDBACK_MAX_BOOST - 0.001);
}

Test(search, feedback_decides_near_ties_only)
{
	/* Two texts equal for the query: the well-rated one first. */
	const struct search_doc twins[] = {
	    {.slug = "a-twin", .section = "s", .title = "Возврат товара", .text = "Как вернуть товар."},
	    {.slug = "b-twin", .section = "s", .title = "Возврат товара", .text = "Как вернуть товар."},
	};
	struct search_index *two = search_build(twins, 2, NULL);
	struct arena *ar = arena_new();
	struct search_query q = {.text = "возврат товара", .country = "", .limit = 10};
	struct search_result r;
	cr_assert_eq(search_run(two, ar, &q, &r), 0);
	cr_assert_eq(r.n, 2);
	cr_assert_float_eq(r.hits[0].score, r.hits[1].score, 1e-6);
	cr_assert_str_eq(r.hits[0].slug, "a-twin", "a tie goes by slug");
	const char *slugs[] = {"b-twin"};
	double best[] = {search_feedback_boost(1000, 0)};
	search_set_boosts(two, slugs, best, 1);
	cr_assert_eq(search_run(two, ar, &q, &r), 0);
	cr_assert_str_eq(r.hits[0].slug, "b-twin", "the well-rated twin first");
	search_set_boosts(two, slugs, best, 0);
	cr_assert_eq(search_run(two, ar, &q, &r), 0);
	cr_assert_float_eq(r.hits[0].score, r.hits[1].score, 1e-6, "boosts reset to 1");
	search_free(two);
	/* A clearly better text match (by more than the largest boost) keeps its place whatever the
	 * runner-up's rating. */
	const struct search_doc pair[] = {
	    {.slug = "exact", .section = "s", .title = "Как вернуть деньги за заказ", .text = "Вернуть деньги."},
	    {.slug = "loved", .section = "s", .title = "Доставка заказа", .text = "Сроки доставки, деньги."},
	};
	struct search_index *px = search_build(pair, 2, NULL);
	q.text = "вернуть деньги";
	cr_assert_eq(search_run(px, ar, &q, &r), 0);
	cr_assert_eq(r.n, 2);
	cr_assert_str_eq(r.hits[0].slug, "exact");
	cr_assert_gt(r.hits[0].score, r.hits[1].score * (1.0 + SEARCH_FEEDBACK_MAX_BOOST), "clearly better");
	const char *loved[] = {"loved"};
	search_set_boosts(px, loved, best, 1);
	cr_assert_eq(search_run(px, ar, &q, &r), 0);
	cr_assert_str_eq(r.hits[0].slug, "exact", "the better match stays first");
	search_free(px);
	arena_free(ar);
}

/* ---- updates from the changed texts (search_update) ---- */

static const char *const vocab[] = {
    "пароль",
    "пароля",
    "восстановить",
    "вход",
    "кабинет",
    "личный",
    "выплаты",
    "выплату",
    "реквизиты",
    "счёт",
    "заказ",
    "заказа",
    "посылка",
    "трек-номер",
    "возврат",
    "товара",
    "вернуть",
    "деньги",
    "регистрация",
    "регистрационные",
    "спонсор",
    "структура",
    "налоги",
    "доставка",
    "адрес",
    "телефон",
    "почта",
    "код",
    "sms",
    "iban",
    "карта",
    "банк",
    "документы",
    "паспорт",
    "проверка",
    "не",
    "и",
    "в",
    "на",
    "как",
    "где",
    "мой",
    "<b>жирный</b>",
    "a&b",
    "ёлка",
    "elka",
    "order",
};
#define N_VOCAB ((int)(sizeof vocab / sizeof vocab[0]))

static unsigned rnd_state;
static unsigned rnd(unsigned n)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return (rnd_state >> 8) % n;
}

/* A random text of lo..hi words from vocab, sometimes with a word no other text has. */
static char *random_text(struct arena *ar, int lo, int hi, int tag)
{
	int n = lo + (int)rnd((unsigned)(hi - lo + 1));
	char *s = arena_strdup(ar, "");
	for (int i = 0; i < n; i++)
		s = arena_printf(ar, "%s%s%s", s, i ? (rnd(5) ? " " : ". ") : "", vocab[rnd(N_VOCAB)]);
	if (rnd(4) == 0)
		s = arena_printf(ar, "%s новослово%dх", s, tag);
	return s;
}

struct model {
	struct search_doc d[64];
	int n;
};

static struct search_doc random_doc(struct arena *ar, int slug, const char *country, int tag)
{
	static const char *const sections[] = {"account", "orders", "payouts"};
	return (struct search_doc){.slug = arena_printf(ar, "art-%d", slug),
				   .country = country,
				   .section = sections[slug % 3],
				   .title = random_text(ar, 1, 4, tag),
				   .summary = rnd(3) ? random_text(ar, 0, 8, tag) : "",
				   .keywords = rnd(2) ? random_text(ar, 0, 3, tag) : "",
				   .text = random_text(ar, 0, 40, tag)};
}

static int model_find(const struct model *m, const char *slug, const char *country)
{
	for (int i = 0; i < m->n; i++)
		if (!strcmp(m->d[i].slug, slug) && !strcmp(m->d[i].country, country))
			return i;
	return -1;
}

/* Both indexes give the same answer to q, hit by hit (slug, score, snippet) and correction. */
static void expect_same(struct search_index *upd, struct search_index *full, struct arena *ar,
			const struct search_query *q, int round)
{
	struct search_result r1, r2;
	int rc1 = search_run(upd, ar, q, &r1), rc2 = search_run(full, ar, q, &r2);
	cr_assert_eq(rc1, rc2);
	if (rc1 != 0)
		return;
	cr_assert_eq(r1.total, r2.total, "round %d \"%s\" (%s): total %d vs %d", round, q->text, q->country, r1.total,
		     r2.total);
	cr_assert_eq(r1.n, r2.n);
	cr_assert_eq(!r1.corrected, !r2.corrected, "round %d \"%s\": corrected differs", round, q->text);
	if (r1.corrected)
		cr_assert_str_eq(r1.corrected, r2.corrected);
	for (int i = 0; i < r1.n; i++) {
		cr_assert_str_eq(r1.hits[i].slug, r2.hits[i].slug, "round %d \"%s\" (%s) hit %d", round, q->text,
				 q->country, i);
		cr_assert_float_eq(r1.hits[i].score, r2.hits[i].score, 1e-9, "round %d \"%s\" hit %d", round, q->text,
				   i);
		cr_assert_str_eq(r1.hits[i].snippet_html, r2.hits[i].snippet_html);
	}
}

/*
 * Property: after any sequence of random edits (new texts, new variants, changed texts, removed
 * texts, new and vanishing words), the updated index answers every query exactly as an index
 * built afresh from the same texts: the same hits, scores, snippets and corrections.
 */
Test(search, update_equals_full_build_over_random_edits, .timeout = 120)
{
	struct arena *ar = arena_new();
	const char *syn = "пароль, доступ\nзаказ, посылка\n";
	for (unsigned seed = 1; seed <= 12; seed++) {
		rnd_state = seed;
		struct model m = {.n = 0};
		for (int i = 0; i < 20; i++)
			m.d[m.n++] = random_doc(ar, i, "", 0);
		struct search_index *cur = search_build(m.d, m.n, syn);
		for (int round = 1; round <= 8; round++) {
			struct search_doc ch[8];
			int nch = 1 + (int)rnd(4);
			for (int c = 0; c < nch; c++) {
				unsigned kind = rnd(4);
				if (kind == 0 && m.n < 60) { /* a new text, sometimes a variant */
					int slug = (int)rnd(30);
					const char *country = rnd(3) == 0 ? (rnd(2) ? "KZ" : "BY") : "";
					ch[c] = random_doc(ar, slug, country, round * 10 + c);
				} else if (kind == 1 && m.n > 1) { /* removed */
					ch[c] = m.d[rnd((unsigned)m.n)];
					ch[c].removed = true;
				} else if (m.n > 0) { /* changed */
					struct search_doc old = m.d[rnd((unsigned)m.n)];
					ch[c] = random_doc(ar, 0, old.country, round * 10 + c);
					ch[c].slug = old.slug;
				} else {
					ch[c] = random_doc(ar, 1, "", round);
				}
				int at = model_find(&m, ch[c].slug, ch[c].country);
				if (ch[c].removed) {
					if (at >= 0)
						m.d[at] = m.d[--m.n];
				} else if (at >= 0) {
					m.d[at] = ch[c];
				} else {
					m.d[m.n++] = ch[c];
				}
			}
			struct search_index *next = search_update(cur, ch, nch);
			search_free(cur);
			cur = next;
			struct search_index *full = search_build(m.d, m.n, syn);
			cr_assert_eq(search_size(cur), search_size(full));
			static const char *const queries[] = {"пароль",
							      "восстановить пароль",
							      "gfhjkm",
							      "выплаты реквизиты",
							      "заказ трек-номер",
							      "трекномер",
							      "паспрот",
							      "регистрационный",
							      "рег",
							      "возврат товара деньги",
							      "новослово1х",
							      "новослово23х",
							      "новослово",
							      "<b>",
							      "ёлка",
							      "elka",
							      "банк карта счёт",
							      "доступ",
							      "посылку",
							      "кабинет личный вход"};
			static const char *const countries[] = {"", "KZ", "RU"};
			for (size_t qi = 0; qi < sizeof queries / sizeof queries[0]; qi++)
				for (int c = 0; c < 3; c++) {
					struct search_query q = {.text = queries[qi],
								 .country = countries[c],
								 .section = c == 2 && qi % 2 ? "orders" : NULL,
								 .limit = 10,
								 .snippets = true};
					expect_same(cur, full, ar, &q, round);
				}
			search_free(full);
		}
		search_free(cur);
	}
	arena_free(ar);
}

/* A text added, changed and removed by updates is found, found by its new words only, then not
 * found; the texts an update left alone keep their snippets. */
Test(search, update_adds_changes_and_removes, .init = setup, .fini = teardown)
{
	struct search_doc add = {.slug = "new-one",
				 .country = "",
				 .section = "orders",
				 .title = "Подарочный сертификат",
				 .summary = "Как активировать сертификат",
				 .text = "Введите код сертификата в корзине."};
	struct search_index *ix2 = search_update(ix, &add, 1);
	struct search_result r;
	struct search_query q = {.text = "сертификат", .limit = 10, .snippets = true};
	cr_assert_eq(search_run(ix2, a, &q, &r), 0);
	cr_assert_eq(r.n, 1);
	cr_assert_str_eq(r.hits[0].slug, "new-one");
	cr_assert_str_eq(r.hits[0].snippet_html, "Как активировать <mark>сертификат</mark>");
	struct search_doc change = add;
	change.title = "Подарочная карта";
	change.summary = "Как активировать карту";
	change.text = "Введите номер карты.";
	struct search_index *ix3 = search_update(ix2, &change, 1);
	search_free(ix);
	cr_assert_eq(search_run(ix3, a, &q, &r), 0);
	cr_assert_eq(r.n, 0, "the old words of a changed text are gone");
	q.text = "подарочная карта";
	cr_assert_eq(search_run(ix3, a, &q, &r), 0);
	cr_assert_geq(r.n, 1);
	cr_assert_str_eq(r.hits[0].slug, "new-one");
	struct search_doc gone = {.slug = "new-one", .country = "", .removed = true};
	struct search_index *ix4 = search_update(ix3, &gone, 1);
	search_free(ix2);
	cr_assert_eq(search_run(ix4, a, &q, &r), 0);
	for (int i = 0; i < r.n; i++)
		cr_assert_str_neq(r.hits[i].slug, "new-one");
	q.text = "забыли пароль";
	cr_assert_eq(search_run(ix4, a, &q, &r), 0);
	cr_assert_geq(r.n, 1);
	cr_assert_str_eq(r.hits[0].slug, "password-reset");
	cr_assert_not_null(strstr(r.hits[0].snippet_html, "<mark>пароль</mark>"));
	search_free(ix3);
	ix = ix4; /* freed by teardown */
}

/* Texts are scored in blocks of 1,024: a word in every text fills whole blocks (and the texts of
 * a section or a country's variants thin them). */
Test(search, a_word_in_every_text_fills_whole_blocks)
{
	enum { N = 3000 };
	struct arena *ar = arena_new();
	struct search_doc *d = arena_alloc(ar, N * sizeof *d);
	for (int i = 0; i < N; i++)
		d[i] = (struct search_doc){.slug = arena_printf(ar, "a-%04d", i / 2),
					   .country = i % 2 ? "KZ" : "",
					   .section = i % 3 ? "orders" : "account",
					   .title = arena_printf(ar, "Статья %d", i),
					   .summary = "",
					   .keywords = "",
					   .text = i % 7 ? "Как оформить заказ" : "Заказ и доставка заказа"};
	struct search_index *big = search_build(d, N, NULL);
	struct search_query q = {.text = "заказ", .country = "", .limit = 100, .snippets = true};
	struct search_result r;
	cr_assert_eq(search_run(big, ar, &q, &r), 0);
	cr_assert_eq(r.total, N / 2, "every general text, once: %d", r.total);
	cr_assert_eq(r.n, 100);
	for (int i = 1; i < r.n; i++)
		cr_assert_geq(r.hits[i - 1].score, r.hits[i].score);
	cr_assert_str_eq(r.hits[0].snippet_html, "<mark>Заказ</mark> и доставка <mark>заказа</mark>");
	q.country = "KZ"; /* the variants replace the general texts */
	cr_assert_eq(search_run(big, ar, &q, &r), 0);
	cr_assert_eq(r.total, N / 2);
	q.section = "account";
	cr_assert_eq(search_run(big, ar, &q, &r), 0);
	cr_assert_eq(r.total, N / 2 / 3 + (N / 2 % 3 != 0), "%d", r.total);
	search_free(big);
	arena_free(ar);
}
