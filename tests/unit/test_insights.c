/* Unit tests of issue #10's insights, on either engine: the search log's visits (a request and the
 * article opened next), the daily counts of views and request forms (src/insights), the reports on
 * requests (src/req/req_insights.c), and the content gaps' fixes (src/kb/gaps.c). */
#include "../../src/core/arena.h"
#include "../../src/db/db.h"
#include "../../src/insights/insights.h"
#include "../../src/kb/kb.h"
#include "../../src/req/req.h"
#include "../../src/searchlog/search_log.h"
#include "helpers.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *data, *content;
static struct db *db;
static struct arena *A;

static const char sections[] = "# slug | title | order | description\n"
			       "payouts | Выплаты | 1 | Про выплаты\n";
static const char article[] = "---\nslug: payout-setup\ntitle: Как настроить выплаты\nsection: payouts\n"
			      "summary: Кратко\nupdated: 2026-10-01\nkeywords: деньги\n---\n\nТекст.\n";
static const char other[] = "---\nslug: payout-delay\ntitle: Выплата задерживается\nsection: payouts\n"
			    "summary: Кратко\nupdated: 2026-10-01\n---\n\nТекст.\n";

static void setup(void)
{
	char err[512];
	data = tmp_dir();
	content = tmp_dir();
	A = arena_new();
	put_file(content, "sections", sections);
	put_file(content, "payout-setup.md", article);
	put_file(content, "payout-delay.md", other);
	cr_assert_eq(db_open(test_db(data), &db, err, sizeof err), DB_OK, "%s", err);
	struct kb_batch b;
	long changed;
	cr_assert(kb_read_dir(A, content, &b, err, sizeof err) && kb_import(db, &b, &changed, err, sizeof err), "%s",
		  err);
}

static void teardown(void)
{
	db_close(db);
	arena_free(A);
	rm_tree(data);
	rm_tree(content);
	free(data);
	free(content);
}

TestSuite(insights, .init = setup, .fini = teardown);

#define V1 "AAAAAAAAAAAAAAAAAAAAAA"
#define V2 "BBBBBBBBBBBBBBBBBBBBBB"

/* A request created in a visit marks the visit's searches of the last 30 minutes (not another
 * visit's, not older ones); an article opened in a visit becomes the next article of its searches
 * that were not clicked, once. */
Test(insights, a_visit_links_searches_to_a_request_and_to_the_article_opened_next)
{
	struct search_log *l = search_log_new(300);
	cr_assert(!search_log_visit_valid("short"));
	cr_assert(!search_log_visit_valid("AAAAAAAAAAAAAAAAAAAA<>"));
	cr_assert(search_log_visit_valid(V1));
	search_log_add_visit(l, "127.0.0.1", "Фыва пролдж", 0, 10, V1);
	search_log_add_visit(l, "127.0.0.1", "фыва  пролдж!", 0, 10, V1);
	search_log_add_visit(l, "127.0.0.1", "пароль", 3, 10, V1);
	search_log_add_visit(l, "127.0.0.1", "фыва пролдж", 0, 10, V2);
	search_log_add_visit(l, "127.0.0.1", "другой запрос", 3, 10, "not a visit");
	cr_assert(search_log_flush(l, db));
	/* One of visit 1's searches is 40 minutes old: outside the window. */
	db_exec_int(db, "UPDATE search_log SET at = at - 2400 WHERE query = 'Фыва пролдж' AND 0 = ?", 0);
	search_log_click(l, "пароль", "password-reset");
	search_log_visit_view(l, V1, "payout-setup");
	search_log_visit_view(l, V1, "payout-delay"); /* not the first: ignored */
	search_log_visit_request(l, V1);
	search_log_visit_request(l, "bogus"); /* ignored */
	cr_assert(search_log_flush(l, db));
	cr_assert_str_eq(db_text(db, A, "SELECT count(*) FROM search_log WHERE requested = 1 AND '' = ?", ""), "2");
	cr_assert_str_eq(db_text(db, A, "SELECT count(*) FROM search_log WHERE visit IS NULL AND '' = ?", ""), "1");
	struct search_log_group *g;
	int n = search_log_groups(db, A, SEARCH_LOG_REQUESTED, 30, 10, &g);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(g[0].query, "пароль");
	cr_assert_eq(g[0].count, 1);
	cr_assert_str_eq(g[1].query, "фыва пролдж");
	cr_assert_eq(g[1].count, 1);
	/* The next article: visit 1's unclicked searches in the window (one), not the clicked one. */
	struct search_log_next *nx;
	n = search_log_next_articles(db, A, 30, 10, &nx);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(nx[0].query, "фыва пролдж");
	cr_assert_str_eq(nx[0].slug, "payout-setup");
	cr_assert_eq(nx[0].count, 1);
	/* Visits are erased an hour after their searches. */
	cr_assert_eq(search_log_forget_visits(db, 100), 0, "recent visits stay");
	db_exec_int(db, "UPDATE search_log SET at = at - ?", 7200);
	cr_assert_eq(search_log_forget_visits(db, 100), 4);
	cr_assert_str_eq(db_text(db, A, "SELECT count(*) FROM search_log WHERE visit IS NOT NULL AND '' = ?", ""), "0");
	search_log_free(l);
}

/* Views and forms are counted in memory and written per day, added to what is there; a view of a
 * slug that is no article is not written. */
Test(insights, counts_are_written_per_day_and_summed)
{
	struct insights *s = insights_new();
	for (int i = 0; i < 3; i++)
		insights_count(s, INSIGHTS_VIEW, "payout-setup");
	insights_count(s, INSIGHTS_VIEW, "payout-delay");
	insights_count(s, INSIGHTS_VIEW, "no-such-article");
	insights_count(s, INSIGHTS_REQUEST_FORM, "");
	insights_count(s, INSIGHTS_REQUEST_FORM, "");
	int64_t now = (int64_t)time(NULL);
	cr_assert(insights_flush(s, db, now), "%s", db_errmsg(db));
	insights_count(s, INSIGHTS_VIEW, "payout-delay");
	insights_count(s, INSIGHTS_VIEW, "payout-delay");
	cr_assert(insights_flush(s, db, now));
	cr_assert(insights_flush(s, db, now), "an empty flush");
	/* Yesterday's view: in a window of 2 days, not of 1. */
	insights_count(s, INSIGHTS_VIEW, "payout-setup");
	cr_assert(insights_flush(s, db, now - 86400));
	char today[11], yesterday[11];
	kb_feedback_day(now, today);
	kb_feedback_day(now - 86400, yesterday);
	struct insights_key *k;
	int n = insights_top(db, A, INSIGHTS_VIEW, today, 10, &k);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(k[0].key, "payout-delay");
	cr_assert_eq(k[0].n, 3);
	cr_assert_str_eq(k[1].key, "payout-setup");
	cr_assert_eq(k[1].n, 3);
	n = insights_top(db, A, INSIGHTS_VIEW, yesterday, 1, &k);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(k[0].key, "payout-setup");
	cr_assert_eq(k[0].n, 4);
	cr_assert_eq(insights_total(db, INSIGHTS_REQUEST_FORM, today), 2);
	cr_assert_eq(insights_total(db, INSIGHTS_VIEW, yesterday), 7);
	cr_assert_str_eq(db_text(db, A, "SELECT count(*) FROM insight_counts WHERE key = ?", "no-such-article"), "0");
	cr_assert_eq(insights_dropped(s), 0);
	insights_free(s);
}

/* More keys than one transaction takes (the flush writes at most 100 a transaction): all written. */
Test(insights, a_flush_of_many_keys_writes_them_all)
{
	struct insights *s = insights_new();
	for (int i = 0; i < 250; i++) {
		char key[16];
		snprintf(key, sizeof key, "k%d", i);
		insights_count(s, INSIGHTS_REQUEST_FORM, key);
		insights_count(s, INSIGHTS_VIEW, i % 2 ? "payout-setup" : "no-such-article");
	}
	int64_t now = (int64_t)time(NULL);
	cr_assert(insights_flush(s, db, now), "%s", db_errmsg(db));
	char today[11];
	kb_feedback_day(now, today);
	cr_assert_eq(insights_total(db, INSIGHTS_REQUEST_FORM, today), 250);
	cr_assert_eq(insights_total(db, INSIGHTS_VIEW, today), 125);
	cr_assert_str_eq(db_text(db, A, "SELECT count(*) FROM insight_counts WHERE kind = 'request_form'", NULL),
			 "250");
	insights_free(s);
}

static void request_row(int i, const char *topic, const char *country, int64_t created)
{
	struct db_stmt *st = db_prepare(db, "INSERT INTO requests(number, token_hash, member_id, name, country, topic, "
					    "subject, status, created, updated) VALUES (?, ?, '1234567', 'Имя', ?, ?, "
					    "'Тема', 'new', ?, ?)");
	cr_assert_not_null(st, "%s", db_errmsg(db));
	char number[32], token[32];
	snprintf(number, sizeof number, "R-2026-%06d", i);
	snprintf(token, sizeof token, "t%d", i);
	db_bind_text(st, 1, number);
	db_bind_text(st, 2, token);
	db_bind_text(st, 3, country);
	db_bind_text(st, 4, topic);
	db_bind_int(st, 5, created);
	db_bind_int(st, 6, created);
	cr_assert_eq(db_step(st), DB_DONE, "%s", db_errmsg(db));
	db_finalize(st);
}

/* Requests by topic and by country, the most first, within the range; deflections counted. */
Test(insights, requests_by_topic_and_country_and_deflections)
{
	int64_t now = (int64_t)time(NULL);
	request_row(1, "payouts", "RU", now);
	request_row(2, "payouts", "KZ", now - 100);
	request_row(3, "order", "RU", now - 200);
	request_row(4, "order", "RU", now - 40 * 86400); /* outside 30 days */
	struct req_insight_count *r;
	int n = req_insights_by(db, A, false, now - 30 * 86400, 10, &r);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(r[0].key, "payouts");
	cr_assert_eq(r[0].n, 2);
	cr_assert_str_eq(r[1].key, "order");
	cr_assert_eq(r[1].n, 1);
	n = req_insights_by(db, A, true, now - 30 * 86400, 1, &r);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(r[0].key, "RU");
	cr_assert_eq(r[0].n, 2);
	cr_assert_eq(req_insights_by(db, A, true, now - 50 * 86400, 10, &r), 2);
	cr_assert_eq(r[0].n, 3);
	cr_assert_eq(req_deflections_since(db, now - 86400), 0);
	cr_assert(req_deflect(db, "payout-setup", "payouts"));
	cr_assert(req_deflect(db, "payout-setup", ""));
	cr_assert_eq(req_deflections_since(db, now - 86400), 2);
	cr_assert_eq(req_deflections_since(db, now + 86400), 0);
}

static int64_t editor(const char *login)
{
	struct db_stmt *st = db_prepare(db, "INSERT INTO users(login, role, password_hash, created) VALUES (?, "
					    "'editor', 'x', 0) RETURNING id");
	cr_assert_not_null(st, "%s", db_errmsg(db));
	db_bind_text(st, 1, login);
	cr_assert_eq(db_step(st), DB_ROW, "%s", db_errmsg(db));
	int64_t id = db_col_int(st, 0);
	db_finalize(st);
	return id;
}

/* A failed query's words as keywords: a published revision (the live text has them, the content
 * version grows), audited; again: nothing; with review: a revision in review; on top of someone's
 * draft: a draft, not published. */
Test(insights, gap_keywords_make_a_revision_like_any_other)
{
	int64_t olga = editor("olga");
	char err[512];
	int64_t rev = 0, v0 = kb_content_version(db, NULL);
	cr_assert_eq(kb_gap_keywords(db, A, "payout-setup", "фыва пролдж", olga, false, false, &rev, err, sizeof err),
		     KB_GAP_PUBLISHED, "%s", err);
	cr_assert_eq(rev, 2);
	cr_assert_str_eq(
	    db_text(db, A, "SELECT keywords FROM articles WHERE slug = ? AND country = ''", "payout-setup"),
	    "деньги, фыва пролдж");
	cr_assert_gt(kb_content_version(db, NULL), v0);
	cr_assert_str_eq(db_text(db, A,
				 "SELECT count(*) FROM content_audit WHERE action IN ('draft', 'gap-keywords', "
				 "'publish') AND slug = ?",
				 "payout-setup"),
			 "3");
	cr_assert_eq(kb_gap_keywords(db, A, "payout-setup", "ФЫВА ПРОЛДЖ", olga, false, false, &rev, err, sizeof err),
		     KB_GAP_ALREADY);
	cr_assert_eq(kb_gap_keywords(db, A, "no-such", "фыва", olga, false, false, &rev, err, sizeof err),
		     KB_GAP_NOT_FOUND);
	cr_assert_eq(kb_gap_keywords(db, A, "payout-delay", "ёлка", olga, false, true, &rev, err, sizeof err),
		     KB_GAP_REVIEW);
	struct kb_revision *r;
	cr_assert_gt(kb_revisions(db, A, "payout-delay", &r), 0);
	cr_assert_str_eq(r[0].status, "review");
	cr_assert_str_eq(
	    db_text(db, A, "SELECT keywords FROM articles WHERE slug = ? AND country = ''", "payout-delay"), "",
	    "the live text waits for the review");
	/* A second phrase on top of the revision in review: a draft with both, nothing published. */
	cr_assert_eq(kb_gap_keywords(db, A, "payout-delay", "гирлянда", olga, false, false, &rev, err, sizeof err),
		     KB_GAP_DRAFT);
	cr_assert_gt(kb_revisions(db, A, "payout-delay", &r), 0);
	cr_assert_str_eq(r[0].status, "draft");
	struct kb_revision full;
	cr_assert_eq(kb_revision_get(db, A, "payout-delay", r[0].n, &full), 1);
	cr_assert_str_eq(full.text.keywords, "ёлка, гирлянда");
}

/* A synonym line is appended to the list in the database once, announced as a change of
 * everything, audited. */
Test(insights, synonyms_are_added_to_the_stored_list_once)
{
	int64_t olga = editor("olga");
	char err[512];
	int64_t v0 = kb_content_version(db, NULL);
	cr_assert_eq(kb_synonyms_add(db, A, "фыва, выплата", olga, err, sizeof err), KB_GAP_PUBLISHED, "%s", err);
	cr_assert_str_eq(kb_synonyms(db, A), "фыва, выплата\n");
	cr_assert_eq(kb_synonyms_add(db, A, "фыва, выплата", olga, err, sizeof err), KB_GAP_ALREADY);
	cr_assert_eq(kb_synonyms_add(db, A, "ёлка, деньги", olga, err, sizeof err), KB_GAP_PUBLISHED, "%s", err);
	cr_assert_str_eq(kb_synonyms(db, A), "фыва, выплата\nёлка, деньги\n");
	cr_assert_gt(kb_content_version(db, NULL), v0);
	struct kb_change *ch;
	cr_assert_eq(kb_changes_since(db, A, v0, &ch), KB_CHANGES_ALL, "the index is built again");
	cr_assert_str_eq(db_text(db, A, "SELECT count(*) FROM content_audit WHERE action = ?", "synonyms"), "2");
}
