/* Unit tests of src/db: migrations, refusal of newer schemas, binding, transactions. */
#include "../../src/core/arena.h"
#include "../../src/db/db.h"
#include "../../src/db/schema.h"
#include "../../src/desk/desk.h"
#include "../../src/req/req.h"
#include "helpers.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

Test(db, creates_and_migrates)
{
	char *dir = tmp_dir(), err[512];
	struct db *db;
	cr_assert_eq(db_open(test_db(dir), &db, err, sizeof err), DB_OK, "%s", err);
	cr_assert_eq(db_schema_version(db), db_schema_latest());
	db_close(db);
	/* Opening again applies nothing and still works. */
	cr_assert_eq(db_open(test_db(dir), &db, err, sizeof err), DB_OK, "%s", err);
	cr_assert_eq(db_schema_version(db), db_schema_latest());
	db_close(db);
	rm_tree(dir);
	free(dir);
}

Test(db, refuses_a_newer_schema)
{
	char *dir = tmp_dir(), err[512];
	struct db *db;
	cr_assert_eq(db_open(test_db(dir), &db, err, sizeof err), DB_OK, "%s", err);
	cr_assert_eq(db_exec(db, "INSERT INTO schema_version(version) VALUES (999)"), DB_OK);
	db_close(db);
	cr_assert_neq(db_open(test_db(dir), &db, err, sizeof err), DB_OK);
	cr_assert(strstr(err, "999"), "%s", err);
	cr_assert(strstr(err, "newer"), "%s", err);
	rm_tree(dir);
	free(dir);
}

/* Migration 11 (issue #9): a database of version 10 keeps its content version, change time and
 * change-log start as numbers, and the assignments of its audit log as accounts. */
Test(db, migration_11_types_the_content_counters_and_audit_assignees)
{
	if (test_on_pg())
		cr_skip_test("SQLite only");
	char *dir = tmp_dir(), err[512], path[4200];
	snprintf(path, sizeof path, "%s/spravka.db", dir);
	sqlite3 *h;
	cr_assert_eq(sqlite3_open(path, &h), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(h, "CREATE TABLE schema_version (version INTEGER NOT NULL)", NULL, NULL, NULL),
		     SQLITE_OK);
	for (int i = 0; i < schema_migration_count && schema_migrations[i].version <= 10; i++) {
		cr_assert_eq(sqlite3_exec(h, schema_migrations[i].sql, NULL, NULL, NULL), SQLITE_OK, "%d: %s",
			     schema_migrations[i].version, sqlite3_errmsg(h));
		char ins[64];
		snprintf(ins, sizeof ins, "INSERT INTO schema_version VALUES (%d)", schema_migrations[i].version);
		cr_assert_eq(sqlite3_exec(h, ins, NULL, NULL, NULL), SQLITE_OK);
	}
	cr_assert_eq(
	    sqlite3_exec(h,
			 "UPDATE meta SET value = '7' WHERE key = 'content_version';"
			 "UPDATE meta SET value = '1700000000' WHERE key = 'content_changed';"
			 "UPDATE meta SET value = '5' WHERE key = 'content_log_from';"
			 "INSERT INTO meta(key, value) VALUES ('synonyms', 'a, b');"
			 "INSERT INTO users(id, login, role, password_hash, created) VALUES (3, 'anna', 'agent', "
			 "'x', 0);"
			 "INSERT INTO audit(at, user_id, request_id, action, detail) VALUES (1, 3, NULL, "
			 "'assign', '3'), (2, 3, NULL, 'assign', '0'), (3, 3, NULL, 'status', 'open')",
			 NULL, NULL, NULL),
	    SQLITE_OK, "%s", sqlite3_errmsg(h));
	sqlite3_close(h);
	struct db *db;
	cr_assert_eq(db_open(test_db(dir), &db, err, sizeof err), DB_OK, "%s", err);
	cr_assert_eq(db_schema_version(db), db_schema_latest());
	struct arena *a = arena_new();
	cr_assert_str_eq(db_text(db, a, "SELECT version || ' ' || changed || ' ' || log_from FROM content_state", NULL),
			 "7 1700000000 5");
	cr_assert_str_eq(db_text(db, a, "SELECT count(*) FROM meta WHERE key LIKE 'content%'", NULL), "0");
	cr_assert_str_eq(db_text(db, a, "SELECT value FROM meta WHERE key = 'synonyms'", NULL), "a, b");
	cr_assert_str_eq(db_text(db, a,
				 "SELECT group_concat(coalesce(assignee, '-'), ' ') FROM (SELECT assignee "
				 "FROM audit ORDER BY id)",
				 NULL),
			 "3 - -");
	arena_free(a);
	db_close(db);
	rm_tree(dir);
	free(dir);
}

Test(db, binds_steps_and_rolls_back)
{
	char *dir = tmp_dir(), err[512];
	struct db *db;
	cr_assert_eq(db_open(test_db(dir), &db, err, sizeof err), DB_OK, "%s", err);
	cr_assert_eq(db_begin_write(db), DB_OK);
	struct db_stmt *st =
	    db_prepare(db, "INSERT INTO sections(slug, title, position, description) VALUES (?,?,?,?)");
	cr_assert_not_null(st);
	db_bind_text(st, 1, "s1");
	db_bind_text(st, 2, "Заголовок'; DROP TABLE sections; --");
	db_bind_int(st, 3, 5);
	db_bind_null(st, 4);
	/* description is NOT NULL: a constraint error, reported as such. Under a savepoint: on
	 * PostgreSQL a failed statement spoils its transaction up to the last savepoint (db.h). */
	cr_assert_eq(db_exec(db, "SAVEPOINT s"), DB_OK);
	cr_assert_eq(db_step(st), DB_CONSTRAINT);
	cr_assert_eq(db_exec(db, "ROLLBACK TO SAVEPOINT s"), DB_OK);
	db_reset(st);
	db_bind_text(st, 1, "s1");
	db_bind_text(st, 2, "Заголовок'; DROP TABLE sections; --");
	db_bind_int(st, 3, 5);
	db_bind_text(st, 4, "");
	cr_assert_eq(db_step(st), DB_DONE);
	cr_assert_eq(db_changes(db), 1);
	db_finalize(st);
	cr_assert_eq(db_rollback(db), DB_OK);
	st = db_prepare(db, "SELECT count(*) FROM sections");
	cr_assert_eq(db_step(st), DB_ROW);
	cr_assert_eq(db_col_int(st, 0), 0);
	db_finalize(st);
	cr_assert_null(db_prepare(db, "SELEC nonsense"));
	cr_assert(strlen(db_errmsg(db)) > 0);
	db_close(db);
	rm_tree(dir);
	free(dir);
}

Test(db, pool_hands_out_connections)
{
	char *dir = tmp_dir(), err[512];
	struct db_pool *p;
	cr_assert_eq(db_pool_open(test_db(dir), 3, &p, err, sizeof err), DB_OK, "%s", err);
	struct db *a = db_pool_get(p), *b = db_pool_get(p);
	cr_assert_neq(a, b);
	cr_assert_eq(db_ping(a), DB_OK, "%s", db_errmsg(a));
	db_pool_put(p, a);
	db_pool_put(p, b);
	db_pool_close(p);
	rm_tree(dir);
	free(dir);
}

/* ---- the statement cache and group commit ---- */

/* db_thread_statements: one per statement run, whatever its rows, the same on both engines once
 * the statement is cached on its connection (PostgreSQL's first prepare is a round trip too). */
Test(db, counts_one_statement_per_execution)
{
	char *dir = tmp_dir(), err[512];
	struct db *db;
	cr_assert_eq(db_open(test_db(dir), &db, err, sizeof err), DB_OK, "%s", err);
	static const char *const sql = "SELECT ? * 2 UNION ALL SELECT 3";
	db_finalize(db_prepare(db, sql));
	uint64_t n0 = db_thread_statements();
	struct db_stmt *st = db_prepare(db, sql);
	cr_assert_not_null(st);
	cr_assert_eq(db_thread_statements(), n0, "a cached statement's prepare");
	db_bind_int(st, 1, 1);
	cr_assert_eq(db_step(st), DB_ROW);
	cr_assert_eq(db_step(st), DB_ROW);
	cr_assert_eq(db_step(st), DB_DONE);
	cr_assert_eq(db_thread_statements(), n0 + 1, "one execution, two rows");
	db_reset(st);
	db_bind_int(st, 1, 2);
	cr_assert_eq(db_step(st), DB_ROW);
	cr_assert_eq(db_thread_statements(), n0 + 2, "executed again after a reset");
	db_finalize(st);
	cr_assert_eq(db_begin(db), DB_OK);
	cr_assert_eq(db_exec(db, "SELECT 1"), DB_OK);
	cr_assert_eq(db_commit(db), DB_OK);
	cr_assert_eq(db_thread_statements(), n0 + 5, "BEGIN, an exec, COMMIT");
	db_close(db);
	rm_tree(dir);
	free(dir);
}

Test(db, a_cached_statement_is_reset_between_uses_and_nested_uses_get_their_own)
{
	char *dir = tmp_dir(), err[512];
	struct db *db;
	cr_assert_eq(db_open(test_db(dir), &db, err, sizeof err), DB_OK, "%s", err);
	static const char *const sql = "SELECT ? + 1";
	for (int i = 0; i < 3; i++) {
		struct db_stmt *st = db_prepare(db, sql);
		cr_assert(st);
		if (i == 1) /* the same SQL while the first is in use: a second statement */ {
			struct db_stmt *inner = db_prepare(db, sql);
			cr_assert(inner && inner != st);
			db_bind_int(inner, 1, 100);
			cr_assert_eq(db_step(inner), DB_ROW);
			cr_assert_eq(db_col_int(inner, 0), 101);
			db_finalize(inner);
		}
		cr_assert_eq(db_step(st), DB_ROW);
		cr_assert(db_col_null(st, 0), "bindings of the last use are cleared");
		db_finalize(st);
	}
	/* The same address with other text (SQL built in a buffer) is not mistaken for it. */
	char buf[64];
	snprintf(buf, sizeof buf, "SELECT 1");
	struct db_stmt *a = db_prepare(db, buf);
	cr_assert_eq(db_step(a), DB_ROW);
	cr_assert_eq(db_col_int(a, 0), 1);
	db_finalize(a);
	snprintf(buf, sizeof buf, "SELECT 2");
	a = db_prepare(db, buf);
	cr_assert_eq(db_step(a), DB_ROW);
	cr_assert_eq(db_col_int(a, 0), 2);
	db_finalize(a);
	db_close(db);
	rm_tree(dir);
	free(dir);
}

struct test_job {
	struct db_job job;
	int value;	/* inserted into t */
	bool keep;	/* what run() answers */
	int seen;	/* rows of t that run() saw */
	int done_calls; /* done() calls */
	bool committed;
};

static pthread_mutex_t jobs_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t jobs_cond = PTHREAD_COND_INITIALIZER;
static int jobs_done;

static bool job_run(struct db *db, struct db_job *job)
{
	struct test_job *t = (struct test_job *)job;
	struct db_stmt *st = db_prepare(db, "SELECT count(*) FROM t");
	if (st && db_step(st) == DB_ROW)
		t->seen = (int)db_col_int(st, 0);
	db_finalize(st);
	st = db_prepare(db, "INSERT INTO t(v) VALUES (?)");
	if (!st) /* PostgreSQL: a cancel (db_give_up_waiting) may land on the prepare */
		return false;
	db_bind_int(st, 1, t->value);
	bool ok = db_step(st) == DB_DONE;
	db_finalize(st);
	return ok && t->keep;
}

static void job_done(struct db *db, struct db_job *job, bool committed)
{
	(void)db;
	struct test_job *t = (struct test_job *)job;
	pthread_mutex_lock(&jobs_lock);
	t->done_calls++;
	t->committed = committed;
	jobs_done++;
	pthread_cond_signal(&jobs_cond);
	pthread_mutex_unlock(&jobs_lock);
}

/* A database with a table t, and a group committer on it. */
static char *group_dir;
static struct db *group_db;
static struct db_group *group;

static void group_setup(void)
{
	char err[512];
	group_dir = tmp_dir();
	cr_assert_eq(db_open(test_db(group_dir), &group_db, err, sizeof err), DB_OK, "%s", err);
	cr_assert_eq(db_exec(group_db, "CREATE TABLE t(v INTEGER NOT NULL)"), DB_OK);
	cr_assert_eq(db_group_start(test_db(group_dir), 1, &group, err, sizeof err), DB_OK, "%s", err);
	jobs_done = 0;
}

static void group_teardown(void)
{
	db_group_stop(group);
	db_close(group_db);
	rm_tree(group_dir);
	free(group_dir);
}

TestSuite(db_group, .init = group_setup, .fini = group_teardown);

/* Stops the group (its queue drained) so that its rows can be counted. */
static void stop_group(void)
{
	db_group_stop(group);
	group = NULL;
}

Test(db_group, runs_jobs_in_order_and_undoes_only_the_refused_ones)
{
	enum { N = 200 };
	static struct test_job jobs[N];
	for (int i = 0; i < N; i++) {
		jobs[i] = (struct test_job){.job = {.run = job_run, .done = job_done}, .value = i, .keep = i % 3 != 0};
		db_group_submit(group, &jobs[i].job);
	}
	pthread_mutex_lock(&jobs_lock);
	while (jobs_done < N)
		pthread_cond_wait(&jobs_cond, &jobs_lock);
	pthread_mutex_unlock(&jobs_lock);
	int kept = 0;
	for (int i = 0; i < N; i++) {
		cr_assert_eq(jobs[i].done_calls, 1, "job %d: done() once", i);
		cr_assert(jobs[i].committed, "job %d", i);
		cr_assert_eq(jobs[i].seen, kept, "job %d sees the jobs kept before it", i);
		kept += jobs[i].keep;
	}
	stop_group();
	struct db_stmt *st = db_prepare(group_db, "SELECT count(*), sum(CASE WHEN v % 3 = 0 THEN 1 ELSE 0 END) FROM t");
	cr_assert_eq(db_step(st), DB_ROW);
	cr_assert_eq(db_col_int(st, 0), kept, "rows of the kept jobs, durable");
	cr_assert_eq(db_col_int(st, 1), 0, "no row of a refused job");
	db_finalize(st);
}

/* The counters /metrics shows: every job counted once, in one bucket, its latency at least its
 * wait, a batch at most 64 jobs, and the writer's CPU time counted. */
Test(db_group, stats_count_every_job_once)
{
	enum { N = 150 };
	static struct test_job jobs[N];
	for (int i = 0; i < N; i++) {
		jobs[i] = (struct test_job){.job = {.run = job_run, .done = job_done}, .value = i, .keep = true};
		db_group_submit(group, &jobs[i].job);
	}
	pthread_mutex_lock(&jobs_lock);
	while (jobs_done < N)
		pthread_cond_wait(&jobs_cond, &jobs_lock);
	pthread_mutex_unlock(&jobs_lock);
	struct db_group_stats st;
	db_group_stats(group, &st);
	cr_assert_eq(st.jobs, N);
	cr_assert(st.batches >= (N + 63) / 64 && st.batches <= N, "%llu batches", (unsigned long long)st.batches);
	uint64_t in_buckets = 0;
	for (int b = 0; b < DB_GROUP_BUCKETS; b++)
		in_buckets += st.latency_le[b];
	cr_assert_eq(in_buckets, N, "each job in one bucket");
	cr_assert(st.latency_us >= st.wait_us, "committed after its transaction began");
	cr_assert(st.latency_us > 0 && st.cpu_us > 0);
	struct db_group_stats none;
	db_group_stats(NULL, &none);
	cr_assert_eq(none.jobs, 0);
}

/* Each job alone in its batch (submitted after the one before is done): no savepoint, a refused
 * job's rows are rolled back with its transaction and it still hears "committed" (nothing it
 * meant to keep was lost), and the writer goes on with the next. */
Test(db_group, a_job_alone_in_its_batch_is_undone_by_a_rollback)
{
	static struct test_job jobs[6];
	for (int i = 0; i < 6; i++) {
		jobs[i] = (struct test_job){.job = {.run = job_run, .done = job_done}, .value = i, .keep = i % 2 == 0};
		db_group_submit(group, &jobs[i].job);
		pthread_mutex_lock(&jobs_lock);
		while (jobs_done < i + 1)
			pthread_cond_wait(&jobs_cond, &jobs_lock);
		pthread_mutex_unlock(&jobs_lock);
		cr_assert_eq(jobs[i].done_calls, 1);
		cr_assert(jobs[i].committed, "job %d", i);
		cr_assert_eq(jobs[i].seen, (i + 1) / 2, "job %d sees only the kept rows", i);
	}
	stop_group();
	struct db_stmt *st = db_prepare(group_db, "SELECT count(*), sum(v) FROM t");
	cr_assert_eq(db_step(st), DB_ROW);
	cr_assert_eq(db_col_int(st, 0), 3);
	cr_assert_eq(db_col_int(st, 1), 0 + 2 + 4);
	db_finalize(st);
}

Test(db_group, stop_runs_what_is_queued)
{
	static struct test_job jobs[20];
	for (int i = 0; i < 20; i++) {
		jobs[i] = (struct test_job){.job = {.run = job_run, .done = job_done}, .value = i, .keep = true};
		db_group_submit(group, &jobs[i].job);
	}
	stop_group();
	cr_assert_eq(jobs_done, 20);
	struct db_stmt *st = db_prepare(group_db, "SELECT count(*) FROM t");
	cr_assert_eq(db_step(st), DB_ROW);
	cr_assert_eq(db_col_int(st, 0), 20);
	db_finalize(st);
}

/* The end of a shutdown's grace: with the database locked by someone else, the batch waiting
 * for the lock and every job queued after it fail at once, none is kept. */
Test(db_group, abandon_fails_what_waits_for_the_lock_at_once)
{
	cr_assert_eq(db_begin_write(group_db), DB_OK, "someone else holds the write lock");
	/* PostgreSQL has no database-wide write lock: someone holds the table the jobs write. */
	if (test_on_pg())
		cr_assert_eq(db_exec(group_db, "LOCK TABLE t IN EXCLUSIVE MODE"), DB_OK);
	static struct test_job jobs[10];
	for (int i = 0; i < 10; i++) {
		jobs[i] = (struct test_job){.job = {.run = job_run, .done = job_done}, .value = i, .keep = true};
		db_group_submit(group, &jobs[i].job);
	}
	usleep(300 * 1000); /* the writer waits for the lock (up to 5 s) */
	cr_assert_eq(jobs_done, 0);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	db_group_abandon(group);
	db_give_up_waiting();
	pthread_mutex_lock(&jobs_lock);
	while (jobs_done < 10)
		pthread_cond_wait(&jobs_cond, &jobs_lock);
	pthread_mutex_unlock(&jobs_lock);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	cr_assert_lt(took, 1.0, "took %.2f s", took);
	for (int i = 0; i < 10; i++)
		cr_assert(jobs[i].done_calls == 1 && !jobs[i].committed, "job %d", i);
	cr_assert_eq(db_rollback(group_db), DB_OK);
	stop_group();
	struct db_stmt *st = db_prepare(group_db, "SELECT count(*) FROM t");
	cr_assert(st, "%s", db_errmsg(group_db));
	cr_assert_eq(db_step(st), DB_ROW);
	cr_assert_eq(db_col_int(st, 0), 0);
	db_finalize(st);
}

/* Issue #8: a new request (link_hash NULL) does not write the link_hash index, and the private
 * link's lookup still finds both kinds of link through an index. */
Test(db, link_hash_index_is_partial_and_used)
{
	if (test_on_pg())
		cr_skip_test("SQLite's plans");
	char *dir = tmp_dir(), err[512];
	struct db *db;
	cr_assert_eq(db_open(test_db(dir), &db, err, sizeof err), DB_OK, "%s", err);
	struct db_stmt *st = db_prepare(db, "SELECT sql FROM sqlite_schema WHERE name = 'requests_link_hash'");
	cr_assert_eq(db_step(st), DB_ROW);
	cr_assert(strstr(db_col_text(st, 0), "WHERE link_hash IS NOT NULL"), "%s", db_col_text(st, 0));
	db_finalize(st);
	struct arena *a = arena_new();
	const char *all = desk_plan_text(db, a, req_view_by_token_sql);
	cr_assert_not_null(all, "%s", db_errmsg(db));
	cr_assert(strstr(all, "USING INDEX requests_link_hash"), "plan: %s", all);
	cr_assert_null(strstr(all, "SCAN"), "plan: %s", all);
	arena_free(a);
	db_close(db);
	rm_tree(dir);
	free(dir);
}

static long file_size(const char *dir, const char *name)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fclose(f);
	return n;
}

/* Commits stay in the log (no automatic checkpoint below its threshold) until db_checkpoint
 * copies them into the database file; a reader sees them either way. */
Test(db, checkpoint_copies_the_log)
{
	if (test_on_pg())
		cr_skip_test("SQLite only");
	char *dir = tmp_dir(), err[512];
	struct db *db, *reader;
	cr_assert_eq(db_open(test_db(dir), &db, err, sizeof err), DB_OK, "%s", err);
	cr_assert_eq(db_open(test_db(dir), &reader, err, sizeof err), DB_OK, "%s", err);
	cr_assert_eq(db_checkpoint(db), DB_OK);
	long before = file_size(dir, "spravka.db");
	cr_assert_eq(db_exec(db, "CREATE TABLE big(x TEXT)"), DB_OK);
	for (int i = 0; i < 300; i++) /* ~1.2 MB: 300 pages, under the automatic threshold */
		cr_assert_eq(db_exec(db, "INSERT INTO big VALUES (printf('%4000d', 1))"), DB_OK);
	cr_assert_eq(file_size(dir, "spravka.db"), before, "written to the database file before a checkpoint");
	cr_assert_gt(file_size(dir, "spravka.db-wal"), 300 * 4096);
	struct db_stmt *st = db_prepare(reader, "SELECT count(*) FROM big");
	cr_assert_eq(db_step(st), DB_ROW);
	cr_assert_eq(db_col_int(st, 0), 300);
	db_finalize(st);
	cr_assert_eq(db_checkpoint(db), DB_OK);
	cr_assert_gt(file_size(dir, "spravka.db"), before + 300 * 4000, "the checkpoint did not copy the log");
	db_close(reader);
	db_close(db);
	rm_tree(dir);
	free(dir);
}

struct long_query {
	struct db_pool *pool;
	enum db_rc rc;
	atomic_bool done;
};

static void *run_long_query(void *arg)
{
	struct long_query *q = arg;
	struct db *db = db_pool_get(q->pool);
	struct db_stmt *st = db_prepare(db, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
					    "WHERE x < 2000000000) SELECT count(*) FROM c");
	q->rc = st ? db_step(st) : DB_ERR;
	db_finalize(st);
	db_pool_put(q->pool, db);
	atomic_store(&q->done, true);
	return NULL;
}

/* Issue #8: the end of a shutdown's grace stops a long desk query instead of waiting for it. */
Test(db, pool_interrupt_stops_a_running_query)
{
	char *dir = tmp_dir(), err[512];
	struct long_query q = {.rc = DB_OK};
	cr_assert_eq(db_pool_open(test_db(dir), 2, &q.pool, err, sizeof err), DB_OK, "%s", err);
	pthread_t t;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pthread_create(&t, NULL, run_long_query, &q);
	/* Again every 100 ms: an interrupt before the statement starts does not count. */
	for (int i = 0; i < 100 && !atomic_load(&q.done); i++) {
		usleep(100 * 1000);
		db_pool_interrupt(q.pool);
	}
	pthread_join(t, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_assert_eq(q.rc, DB_ERR, "the query was not stopped");
	cr_assert_lt(t1.tv_sec - t0.tv_sec, 10, "the query ran to its end");
	/* The connections still work afterwards. */
	struct db *db = db_pool_get(q.pool);
	struct db_stmt *st = db_prepare(db, "SELECT 1");
	cr_assert_eq(db_step(st), DB_ROW);
	db_finalize(st);
	db_pool_put(q.pool, db);
	db_pool_close(q.pool);
	rm_tree(dir);
	free(dir);
}

/* Several processes starting at once on an empty database (nodes of one PostgreSQL, or two
 * commands on one data directory): the migrations are applied once, under the lock, and every
 * opener succeeds. */
struct opener {
	const char *target;
	pthread_barrier_t *start;
	enum db_rc rc;
	char err[512];
};

static void *open_at_once(void *arg)
{
	struct opener *o = arg;
	struct db *db = NULL;
	pthread_barrier_wait(o->start);
	o->rc = db_open(o->target, &db, o->err, sizeof o->err);
	db_close(db);
	return NULL;
}

Test(db, openers_at_once_migrate_an_empty_database_once)
{
	enum { N = 4 };
	char *dir = tmp_dir();
	const char *target = test_db(dir);
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, N);
	struct opener o[N];
	pthread_t t[N];
	for (int i = 0; i < N; i++) {
		o[i] = (struct opener){.target = target, .start = &start};
		cr_assert_eq(pthread_create(&t[i], NULL, open_at_once, &o[i]), 0);
	}
	for (int i = 0; i < N; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&start);
	for (int i = 0; i < N; i++)
		cr_assert_eq(o[i].rc, DB_OK, "opener %d: %s", i, o[i].err);
	struct db *db;
	char err[512];
	cr_assert_eq(db_open(target, &db, err, sizeof err), DB_OK, "%s", err);
	struct arena *a = arena_new();
	char want[32];
	snprintf(want, sizeof want, "%d %d %d", schema_migration_count, schema_migration_count, db_schema_latest());
	cr_assert_str_eq(db_text(db, a,
				 "SELECT count(*) || ' ' || count(DISTINCT version) || ' ' || max(version) FROM "
				 "schema_version WHERE '' = ?",
				 ""),
			 want, "each migration applied once");
	arena_free(a);
	db_close(db);
	rm_tree(dir);
	free(dir);
}

/* Several writers on PostgreSQL (one on SQLite, whatever is asked): every job runs once, its
 * done() is called once, and what was kept is durable. */
Test(db_group, several_writers_run_every_job_once)
{
	enum { N = 300 };
	static struct test_job jobs[N];
	struct db_group *many;
	char err[512];
	cr_assert_eq(db_group_start(test_db(group_dir), 4, &many, err, sizeof err), DB_OK, "%s", err);
	bool pg = db_target_engine(test_db(group_dir)) == DB_POSTGRES;
	cr_assert_eq(db_group_writers(many), pg ? 4 : 1);
	for (int i = 0; i < N; i++) {
		jobs[i] = (struct test_job){.job = {.run = job_run, .done = job_done}, .value = i, .keep = i % 5 != 0};
		db_group_submit(many, &jobs[i].job);
	}
	db_group_stop(many);
	int kept = 0;
	for (int i = 0; i < N; i++) {
		cr_assert_eq(jobs[i].done_calls, 1, "job %d: done() once", i);
		cr_assert(jobs[i].committed, "job %d", i);
		kept += jobs[i].keep;
	}
	struct db_stmt *st = db_prepare(group_db, "SELECT count(*), count(DISTINCT v) FROM t");
	cr_assert_eq(db_step(st), DB_ROW);
	cr_assert_eq(db_col_int(st, 0), kept);
	cr_assert_eq(db_col_int(st, 1), kept, "no job ran twice");
	db_finalize(st);
}
