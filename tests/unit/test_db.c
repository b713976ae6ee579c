/* Unit tests of src/db: migrations, refusal of newer schemas, binding, transactions. */
#include "../../src/db/db.h"
#include "helpers.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

Test(db, creates_and_migrates)
{
	char *dir = tmp_dir(), err[512];
	struct db *db;
	cr_assert_eq(db_open(dir, &db, err, sizeof err), DB_OK, "%s", err);
	cr_assert_eq(db_schema_version(db), db_schema_latest());
	db_close(db);
	/* Opening again applies nothing and still works. */
	cr_assert_eq(db_open(dir, &db, err, sizeof err), DB_OK, "%s", err);
	cr_assert_eq(db_schema_version(db), db_schema_latest());
	db_close(db);
	rm_tree(dir);
	free(dir);
}

Test(db, refuses_a_newer_schema)
{
	char *dir = tmp_dir(), err[512];
	struct db *db;
	cr_assert_eq(db_open(dir, &db, err, sizeof err), DB_OK, "%s", err);
	cr_assert_eq(db_exec(db, "INSERT INTO schema_version(version) VALUES (999)"), DB_OK);
	db_close(db);
	cr_assert_neq(db_open(dir, &db, err, sizeof err), DB_OK);
	cr_assert(strstr(err, "999"), "%s", err);
	cr_assert(strstr(err, "newer"), "%s", err);
	rm_tree(dir);
	free(dir);
}

Test(db, binds_steps_and_rolls_back)
{
	char *dir = tmp_dir(), err[512];
	struct db *db;
	cr_assert_eq(db_open(dir, &db, err, sizeof err), DB_OK, "%s", err);
	cr_assert_eq(db_begin_write(db), DB_OK);
	struct db_stmt *st =
	    db_prepare(db, "INSERT INTO sections(slug, title, position, description) VALUES (?,?,?,?)");
	cr_assert_not_null(st);
	db_bind_text(st, 1, "s1");
	db_bind_text(st, 2, "Заголовок'; DROP TABLE sections; --");
	db_bind_int(st, 3, 5);
	db_bind_null(st, 4);
	/* description is NOT NULL: a constraint error, reported as such. */
	cr_assert_eq(db_step(st), DB_CONSTRAINT);
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
	cr_assert_eq(db_pool_open(dir, 3, &p, err, sizeof err), DB_OK, "%s", err);
	struct db *a = db_pool_get(p), *b = db_pool_get(p);
	cr_assert_neq(a, b);
	db_pool_put(p, a);
	db_pool_put(p, b);
	db_pool_close(p);
	rm_tree(dir);
	free(dir);
}
