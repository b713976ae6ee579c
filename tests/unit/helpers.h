/* Small helpers shared by the unit tests: temporary directories and files, and the database
 * engine the tests run on. */
#ifndef SPRAVKA_TEST_HELPERS_H
#define SPRAVKA_TEST_HELPERS_H

/* A new empty directory under /tmp (static storage, one per call site use). */
char *tmp_dir(void);
/* Writes text to dir/name. */
void put_file(const char *dir, const char *name, const char *text);
/* rm -rf dir. */
void rm_tree(const char *dir);

#include <stdbool.h>

/*
 * The engine of this run. tests/run runs the unit tests twice: on SQLite, then (when it could
 * start a PostgreSQL cluster: SPRAVKA_TEST_PG=postgres://.../spravka) the suites that use a
 * database once more with SPRAVKA_TEST_ENGINE=postgres.
 */
bool test_on_pg(void);
/*
 * The database target for the data directory dir: dir itself on SQLite; on PostgreSQL the URL
 * of a new, empty database made for dir at its first use in this process (the same URL for the
 * same dir afterwards, so that a test can open "the same database" again). Never freed.
 */
const char *test_db(const char *dir);

struct db;
struct arena;
/* The first column of the first row of sql (with arg bound to its one ? when not NULL), copied into
 * a; NULL when there is no row. Fails the test when the statement does not prepare. */
const char *db_text(struct db *db, struct arena *a, const char *sql, const char *arg);
/* Runs sql (no rows) with arg bound to its one ?; fails the test unless it runs. For times
 * computed in C, as the SQL rules of db.h want (no date functions in SQL). */
void db_exec_int(struct db *db, const char *sql, long long arg);

/* A content directory and a data directory of their own, an arena, and the database (test_db of
 * data) that kb_fixture_open opens; kb_fixture_close closes and removes them all. The content is
 * the test's to write between kb_fixture_dirs and kb_fixture_open. */
struct kb_fixture {
	char *data, *content;
	struct db *db;
	struct arena *a;
};
void kb_fixture_dirs(struct kb_fixture *f);
void kb_fixture_open(struct kb_fixture *f);
void kb_fixture_close(struct kb_fixture *f);

#endif
