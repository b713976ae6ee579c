/* Unit tests of the PostgreSQL driver (src/db/db_pg.c) that have no SQLite counterpart: the
 * numbering of parameters, the mapping of errors, a commit after an error, the start lock, the
 * URL shown without its password. Run by tests/run on the test cluster (SPRAVKA_TEST_ENGINE=
 * postgres); skipped on SQLite. */
#include "../../src/core/arena.h"
#include "../../src/db/db.h"
#include "helpers.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static char *dir;
static struct db *db;
static struct arena *A;

static void setup(void)
{
	if (!test_on_pg())
		return;
	A = arena_new();
	dir = tmp_dir();
	char err[512];
	cr_assert_eq(db_open(test_db(dir), &db, err, sizeof err), DB_OK, "%s", err);
	cr_assert_eq(db_target_engine(test_db(dir)), DB_POSTGRES);
}

static void teardown(void)
{
	if (!test_on_pg())
		return;
	db_close(db);
	rm_tree(dir);
	free(dir);
	arena_free(A);
}

TestSuite(db_pg, .init = setup, .fini = teardown);

#define PG_ONLY()                                                                                                      \
	do {                                                                                                           \
		if (!test_on_pg())                                                                                     \
			cr_skip_test("PostgreSQL only");                                                               \
	} while (0)

Test(db_pg, question_marks_in_strings_and_comments_are_not_parameters)
{
	PG_ONLY();
	cr_assert_str_eq(db_text(db, A, "SELECT '?''?' || ? -- a comment? yes\n", "x"), "?'?x");
	cr_assert_str_eq(db_text(db, A, "SELECT \"?\" FROM (SELECT ? AS \"?\") t", "y"), "y");
}

Test(db_pg, errors_map_to_their_codes)
{
	PG_ONLY();
	cr_assert_eq(db_exec(db, "INSERT INTO sections(slug, title, position) VALUES ('a', 'A', 1)"), DB_OK);
	cr_assert_eq(db_changes(db), 1);
	cr_assert_eq(db_exec(db, "INSERT INTO sections(slug, title, position) VALUES ('a', 'A', 1)"), DB_CONSTRAINT,
		     "unique");
	cr_assert_eq(db_exec(db, "INSERT INTO articles(slug, section, title, updated, body) VALUES "
				 "('x', 'none', 'X', '', '')"),
		     DB_CONSTRAINT, "foreign key");
	cr_assert_eq(db_exec(db, "INSERT INTO users(login, role, password_hash, created) VALUES ('a', 'boss', "
				 "'x', 0)"),
		     DB_CONSTRAINT, "check");
	cr_assert_eq(db_exec(db, "SELECT nonsense FROM sections"), DB_ERR);
	cr_assert(strstr(db_errmsg(db), "nonsense"), "%s", db_errmsg(db));
	cr_assert_null(db_prepare(db, "SELEC 1"));
	/* A number bound where text is expected, and the reverse, are the server's to refuse. */
	struct db_stmt *st = db_prepare(db, "SELECT count(*) FROM sections WHERE position = ?");
	cr_assert(st);
	db_bind_text(st, 1, "not a number");
	cr_assert_eq(db_step(st), DB_ERR);
	db_finalize(st);
}

Test(db_pg, a_commit_after_an_error_is_not_a_commit)
{
	PG_ONLY();
	cr_assert_eq(db_begin_write(db), DB_OK);
	cr_assert_eq(db_exec(db, "INSERT INTO sections(slug, title, position) VALUES ('a', 'A', 1)"), DB_OK);
	cr_assert_eq(db_exec(db, "INSERT INTO sections(slug, title, position) VALUES ('a', 'A', 1)"), DB_CONSTRAINT);
	cr_assert_eq(db_commit(db), DB_ERR, "the transaction was rolled back");
	cr_assert_str_eq(db_text(db, A, "SELECT count(*) FROM sections WHERE slug <> ?", ""), "0");
}

Test(db_pg, booleans_read_as_numbers_and_nulls_as_empty)
{
	PG_ONLY();
	struct db_stmt *st = db_prepare(db, "SELECT 1 = 1, 1 = 2, NULL, 'text', 9000000000");
	cr_assert_eq(db_step(st), DB_ROW);
	cr_assert_eq(db_column_count(st), 5);
	cr_assert_eq(db_col_int(st, 0), 1);
	cr_assert_eq(db_col_int(st, 1), 0);
	cr_assert(db_col_null(st, 2));
	cr_assert_str_eq(db_col_text(st, 2), "");
	cr_assert(!db_col_null(st, 3));
	cr_assert_eq(db_col_int(st, 4), 9000000000LL);
	cr_assert_eq(db_step(st), DB_DONE);
	db_finalize(st);
}

Test(db_pg, the_start_lock_is_held_by_one_connection_at_a_time)
{
	PG_ONLY();
	struct db *other;
	char err[512];
	cr_assert_eq(db_open(test_db(dir), &other, err, sizeof err), DB_OK, "%s", err);
	cr_assert_eq(db_lock_start(db), DB_OK);
	/* pg_try_advisory_lock on the other connection fails while the first holds it. */
	const char *held = db_text(other, A,
				   "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND "
				   "pid <> pg_backend_pid() AND database = (SELECT oid FROM pg_database WHERE "
				   "datname = current_database()) AND '' = ?",
				   "");
	cr_assert_str_eq(held, "1");
	cr_assert_eq(db_unlock_start(db), DB_OK);
	cr_assert_eq(db_lock_start(other), DB_OK);
	cr_assert_eq(db_unlock_start(other), DB_OK);
	db_close(other);
}

Test(db_pg, a_url_is_shown_without_its_password)
{
	PG_ONLY();
	char out[256];
	db_target_display("postgres://spravka:s3cret@db.example.org:5432/help", out, sizeof out);
	cr_assert_str_eq(out, "postgres://spravka:***@db.example.org:5432/help");
	db_target_display("postgresql://spravka@db/help", out, sizeof out);
	cr_assert_str_eq(out, "postgresql://spravka@db/help");
	db_target_display("./data", out, sizeof out);
	cr_assert_str_eq(out, "./data");
	cr_assert_eq(db_target_engine("./data"), DB_SQLITE);
	cr_assert_eq(db_target_engine("POSTGRES://x"), DB_POSTGRES);
}

/* Terminates the server process of the connection whose pid is given, from another connection,
 * and waits until it is gone. */
static void kill_backend(struct db *other, const char *pid)
{
	cr_assert_str_eq(db_text(other, A, "SELECT pg_terminate_backend(CAST(? AS INTEGER), 5000)::text", pid), "true");
}

Test(db_pg, a_connection_whose_server_went_away_reconnects_and_prepares_again)
{
	PG_ONLY();
	struct db *other;
	char err[512];
	cr_assert_eq(db_open(test_db(dir), &other, err, sizeof err), DB_OK, "%s", err);
	static const char pid_sql[] = "SELECT pg_backend_pid()::text || ?";
	const char *pid = db_text(db, A, pid_sql, "");
	cr_assert(*pid);
	kill_backend(other, pid);
	/* The same cached statement, prepared on the lost connection, runs on a new one. */
	const char *again = db_text(db, A, pid_sql, "");
	cr_assert(*again, "reconnected: %s", db_errmsg(db));
	cr_assert_str_neq(again, pid);
	cr_assert_eq(db_exec(db, "INSERT INTO sections(slug, title, position) VALUES ('a', 'A', 1)"), DB_OK);
	/* The settings of a connection are made again: a row lock is not waited for forever. */
	cr_assert_str_eq(db_text(db, A, "SELECT current_setting('lock_timeout') || ?", ""), "5s");
	db_close(other);
}

Test(db_pg, a_transaction_whose_connection_broke_is_never_committed)
{
	PG_ONLY();
	struct db *other;
	char err[512];
	cr_assert_eq(db_open(test_db(dir), &other, err, sizeof err), DB_OK, "%s", err);
	const char *pid = db_text(db, A, "SELECT pg_backend_pid()::text || ?", "");
	cr_assert_eq(db_begin_write(db), DB_OK);
	cr_assert_eq(db_exec(db, "INSERT INTO sections(slug, title, position) VALUES ('a', 'A', 1)"), DB_OK);
	kill_backend(other, pid);
	cr_assert_eq(db_exec(db, "INSERT INTO sections(slug, title, position) VALUES ('b', 'B', 2)"), DB_ERR);
	/* No reconnect in the middle of the transaction: the rest would run outside it. */
	cr_assert_eq(db_exec(db, "INSERT INTO sections(slug, title, position) VALUES ('c', 'C', 3)"), DB_ERR);
	cr_assert_eq(db_commit(db), DB_ERR, "a lost transaction is not reported as committed");
	cr_assert_str_eq(db_text(db, A, "SELECT count(*) FROM sections WHERE slug <> ?", ""), "0", "%s", db_errmsg(db));
	/* The same for a COMMIT sent on a connection that is already gone. */
	pid = db_text(db, A, "SELECT pg_backend_pid()::text || ?", "");
	cr_assert_eq(db_begin_write(db), DB_OK);
	cr_assert_eq(db_exec(db, "INSERT INTO sections(slug, title, position) VALUES ('d', 'D', 4)"), DB_OK);
	kill_backend(other, pid);
	cr_assert_eq(db_commit(db), DB_ERR);
	cr_assert_eq(db_rollback(db), DB_OK);
	cr_assert_str_eq(db_text(db, A, "SELECT count(*) FROM sections WHERE slug <> ?", ""), "0");
	db_close(other);
}
