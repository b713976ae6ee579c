/* Unit tests of the search log (src/searchlog/search_log.c): clicks, and the plan of the click's
 * statement. */
#include "../../src/searchlog/search_log.h"
#include "../../src/core/arena.h"
#include "../../src/db/db.h"
#include "../../src/desk/desk.h"
#include "helpers.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

Test(search_log, a_click_marks_one_search_of_its_query)
{
	char *dir = tmp_dir(), err[512];
	struct db *db;
	cr_assert_eq(db_open(test_db(dir), &db, err, sizeof err), DB_OK, "%s", err);
	struct search_log *l = search_log_new(300);
	search_log_add(l, "127.0.0.1", "забыл пароль", 3, 100);
	search_log_add(l, "127.0.0.1", "возврат товара", 2, 100);
	search_log_add(l, "127.0.0.1", "забыл пароль", 3, 100);
	cr_assert(search_log_flush(l, db));
	search_log_click(l, "забыл пароль", "password-reset");
	cr_assert(search_log_flush(l, db));
	struct arena *a = arena_new();
	/* One search of the query is marked (both are of the same second: either may be "the
	 * latest"), the other query's is not. */
	cr_assert_str_eq(db_text(db, a, "SELECT count(*) FROM search_log WHERE clicked = ?", "password-reset"), "1");
	cr_assert_str_eq(db_text(db, a, "SELECT query FROM search_log WHERE clicked IS NOT NULL", NULL),
			 "забыл пароль");
	arena_free(a);
	search_log_free(l);
	db_close(db);
	rm_tree(dir);
	free(dir);
}

/* At 1,000,000 rows the click scanned the log by time (505 ms for a query not in it, under the
 * write lock): its plan must search an index on the query, never scan the table. */
Test(search_log, the_click_finds_its_row_through_an_index)
{
	if (test_on_pg())
		cr_skip_test("SQLite's plans");
	char *dir = tmp_dir(), err[512];
	struct db *db;
	cr_assert_eq(db_open(test_db(dir), &db, err, sizeof err), DB_OK, "%s", err);
	struct arena *a = arena_new();
	const char *all = desk_plan_text(db, a, search_log_click_sql);
	cr_assert_not_null(all, "%s", db_errmsg(db));
	cr_assert(strstr(all, "USING INDEX search_log_unclicked"), "plan: %s", all);
	cr_assert_null(strstr(all, "SCAN search_log"), "plan: %s", all);
	arena_free(a);
	db_close(db);
	rm_tree(dir);
	free(dir);
}

/* Searches older than the kept days go, the oldest first, at most max_rows a call. */
Test(search_log, old_searches_are_pruned)
{
	char *dir = tmp_dir(), err[512];
	struct db *db;
	cr_assert_eq(db_open(test_db(dir), &db, err, sizeof err), DB_OK, "%s", err);
	struct search_log *l = search_log_new(300);
	for (int i = 0; i < 3; i++)
		search_log_add(l, "127.0.0.1", "забыл пароль", 3, 100);
	cr_assert(search_log_flush(l, db));
	struct arena *a = arena_new();
	cr_assert_eq(search_log_prune(db, 30, 10), 0, "all are recent");
	cr_assert_eq(db_exec(db, "UPDATE search_log SET at = at - 40 * 86400"), DB_OK);
	cr_assert_eq(search_log_prune(db, 30, 2), 2);
	cr_assert_eq(search_log_prune(db, 30, 2), 1);
	cr_assert_str_eq(db_text(db, a, "SELECT count(*) FROM search_log WHERE query <> ?", ""), "0");
	arena_free(a);
	search_log_free(l);
	db_close(db);
	rm_tree(dir);
	free(dir);
}

/* A flush writes in transactions of at most 200 rows (so that it holds the write lock briefly);
 * every queued search and click arrives, in order, across them. */
Test(search_log, a_large_queue_arrives_whole_across_transactions)
{
	char *dir = tmp_dir(), err[512];
	struct db *db;
	cr_assert_eq(db_open(test_db(dir), &db, err, sizeof err), DB_OK, "%s", err);
	struct search_log *l = search_log_new(300);
	char client[32], query[32];
	for (int i = 0; i < 450; i++) {
		snprintf(client, sizeof client, "10.0.%d.%d", i / 200, i % 200);
		snprintf(query, sizeof query, "запрос %d", i);
		cr_assert(search_log_add(l, client, query, i % 4, 100));
	}
	search_log_click(l, "запрос 449", "last-one");
	cr_assert(search_log_flush(l, db));
	struct arena *a = arena_new();
	cr_assert_str_eq(db_text(db, a, "SELECT count(*) FROM search_log WHERE '' = ?", ""), "450");
	cr_assert_str_eq(db_text(db, a, "SELECT query FROM search_log WHERE clicked = ?", "last-one"), "запрос 449");
	arena_free(a);
	search_log_free(l);
	db_close(db);
	rm_tree(dir);
	free(dir);
}

/* Another writer (the request writer) that waits for the write lock while a long flush runs gets
 * it between the flush's transactions: SQLite's busy handler polls, and chunks written back to
 * back left it no gap (creations waited tens of milliseconds behind a second's searches). */
struct other_writer {
	struct db *db;
	atomic_bool stop;
	atomic_int commits;
};

static void *write_often(void *arg)
{
	struct other_writer *w = arg;
	while (!atomic_load(&w->stop)) {
		if (db_begin_write(w->db) != DB_OK)
			continue;
		cr_assert_eq(db_exec(w->db, "UPDATE meta SET value = value WHERE key = 'nothing'"), DB_OK);
		if (db_commit(w->db) == DB_OK)
			atomic_fetch_add(&w->commits, 1);
		usleep(100);
	}
	return NULL;
}

Test(search_log, a_writer_waiting_for_the_lock_gets_it_between_a_flushs_transactions)
{
	if (test_on_pg())
		cr_skip_test("SQLite's one write lock");
	char *dir = tmp_dir(), err[512];
	struct db *db;
	struct other_writer w = {0};
	cr_assert_eq(db_open(test_db(dir), &db, err, sizeof err), DB_OK, "%s", err);
	cr_assert_eq(db_open(test_db(dir), &w.db, err, sizeof err), DB_OK, "%s", err);
	struct search_log *l = search_log_new(1000000);
	char query[32];
	for (int i = 0; i < 4000; i++) { /* 20 transactions */
		snprintf(query, sizeof query, "запрос %d", i);
		cr_assert(search_log_add(l, "10.0.0.1", query, i % 4, 100));
	}
	pthread_t t;
	pthread_create(&t, NULL, write_often, &w);
	while (atomic_load(&w.commits) == 0)
		usleep(100);
	int before = atomic_load(&w.commits);
	cr_assert(search_log_flush(l, db));
	int during = atomic_load(&w.commits) - before;
	atomic_store(&w.stop, true);
	pthread_join(t, NULL);
	cr_assert_geq(during, 5, "the other writer committed %d times during the flush's 20 transactions", during);
	search_log_free(l);
	db_close(w.db);
	db_close(db);
	rm_tree(dir);
	free(dir);
}

/* Insights: searches grouped by their normalized words (case, ё, punctuation, spaces), by kind
 * (all, found nothing, results but no click), within the days asked for, most frequent first. */
Test(search_log, insights_group_searches_by_normalized_text)
{
	char *dir = tmp_dir(), err[512];
	struct db *db;
	cr_assert_eq(db_open(test_db(dir), &db, err, sizeof err), DB_OK, "%s", err);
	struct search_log *l = search_log_new(300);
	const char *zero[] = {"Ёлка  доставка", "елка доставка!", "ЕЛКА ДОСТАВКА", "вернуть деньги"};
	for (size_t i = 0; i < sizeof zero / sizeof zero[0]; i++)
		search_log_add(l, "127.0.0.1", zero[i], 0, 100);
	search_log_add(l, "127.0.0.1", "Забыл пароль", 4, 100);
	search_log_add(l, "127.0.0.1", "забыл пароль?", 4, 100);
	search_log_add(l, "127.0.0.1", "трек номер", 2, 100);
	cr_assert(search_log_flush(l, db));
	search_log_click(l, "трек номер", "track-order");
	cr_assert(search_log_flush(l, db));
	/* An old search (40 days ago) counts only in a window that reaches it. */
	struct db_stmt *st =
	    db_prepare(db, "INSERT INTO search_log(id, at, query, results, micros) VALUES (?, ?, ?, ?, ?)");
	cr_assert_not_null(st);
	db_bind_int(st, 1, 1);
	db_bind_int(st, 2, (int64_t)time(NULL) - 40 * 86400);
	db_bind_text(st, 3, "вернуть деньги");
	db_bind_int(st, 4, 0);
	db_bind_int(st, 5, 100);
	cr_assert_eq(db_step(st), DB_DONE);
	db_finalize(st);
	struct arena *a = arena_new();
	struct search_log_group *g;
	int n = search_log_groups(db, a, SEARCH_LOG_ZERO, 30, 10, &g);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(g[0].query, "елка доставка");
	cr_assert_eq(g[0].count, 3);
	cr_assert_str_eq(g[1].query, "вернуть деньги");
	cr_assert_eq(g[1].count, 1, "the search of 40 days ago is outside 30 days");
	n = search_log_groups(db, a, SEARCH_LOG_ZERO, 60, 10, &g);
	cr_assert_eq(n, 2);
	cr_assert_eq(g[1].count, 2, "within 60 days");
	n = search_log_groups(db, a, SEARCH_LOG_NO_CLICK, 30, 10, &g);
	cr_assert_eq(n, 1, "the clicked search and those without results are not in it");
	cr_assert_str_eq(g[0].query, "забыл пароль");
	cr_assert_eq(g[0].count, 2);
	n = search_log_groups(db, a, SEARCH_LOG_ALL, 30, 2, &g);
	cr_assert_eq(n, 2, "at most max groups");
	cr_assert_str_eq(g[0].query, "елка доставка");
	cr_assert_str_eq(g[1].query, "забыл пароль");
	arena_free(a);
	search_log_free(l);
	db_close(db);
	rm_tree(dir);
	free(dir);
}
