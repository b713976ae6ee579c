#include "helpers.h"

#include "../../src/core/arena.h"
#include "../../src/db/db.h"

#include <criterion/criterion.h>
#include <ftw.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *tmp_dir(void)
{
	char tmpl[] = "/tmp/spravka-unit-XXXXXX";
	char *d = mkdtemp(tmpl);
	cr_assert_not_null(d);
	return strdup(d);
}

void put_file(const char *dir, const char *name, const char *text)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f, "%s", path);
	fputs(text, f);
	fclose(f);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(path);
}

void rm_tree(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *db_text(struct db *db, struct arena *a, const char *sql, const char *arg)
{
	struct db_stmt *st = db_prepare(db, sql);
	cr_assert(st, "%s: %s", sql, db_errmsg(db));
	if (arg)
		db_bind_text(st, 1, arg);
	const char *v = db_step(st) == DB_ROW ? arena_strdup(a, db_col_text(st, 0)) : NULL;
	db_finalize(st);
	return v;
}

void db_exec_int(struct db *db, const char *sql, long long arg)
{
	struct db_stmt *st = db_prepare(db, sql);
	cr_assert(st, "%s: %s", sql, db_errmsg(db));
	db_bind_int(st, 1, arg);
	cr_assert_eq(db_step(st), DB_DONE, "%s: %s", sql, db_errmsg(db));
	db_finalize(st);
}

bool test_on_pg(void)
{
	const char *e = getenv("SPRAVKA_TEST_ENGINE"), *url = getenv("SPRAVKA_TEST_PG");
	return e && !strcmp(e, "postgres") && url && *url;
}

static pthread_mutex_t dbs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char *dir, *url;
} dbs[16];
static int n_dbs;

/* A new database on the test cluster (CREATE DATABASE from template0: empty), its URL. */
static char *new_pg_database(void)
{
	const char *base = getenv("SPRAVKA_TEST_PG");
	PGconn *c = PQconnectdb(base);
	cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s: %s", base, PQerrorMessage(c));
	static unsigned counter;
	char name[64], sql[128];
	snprintf(name, sizeof name, "t_%ld_%u_%u", (long)getpid(), ++counter, (unsigned)rand());
	snprintf(sql, sizeof sql, "CREATE DATABASE %s TEMPLATE template0", name);
	PGresult *r = PQexec(c, sql);
	cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s: %s", sql, PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
	const char *slash = strrchr(base, '/');
	cr_assert_not_null(slash);
	size_t n = (size_t)(slash - base) + 1 + strlen(name) + 1;
	char *url = malloc(n);
	snprintf(url, n, "%.*s/%s", (int)(slash - base), base, name);
	return url;
}

const char *test_db(const char *dir)
{
	if (!test_on_pg())
		return dir;
	pthread_mutex_lock(&dbs_lock);
	const char *url = NULL;
	for (int i = 0; i < n_dbs && !url; i++)
		if (!strcmp(dbs[i].dir, dir))
			url = dbs[i].url;
	if (!url) {
		cr_assert_lt(n_dbs, 16);
		dbs[n_dbs].dir = strdup(dir);
		url = dbs[n_dbs].url = new_pg_database();
		n_dbs++;
	}
	pthread_mutex_unlock(&dbs_lock);
	return url;
}

void kb_fixture_dirs(struct kb_fixture *f)
{
	f->data = tmp_dir();
	f->content = tmp_dir();
	f->a = arena_new();
	f->db = NULL;
}

void kb_fixture_open(struct kb_fixture *f)
{
	char err[512];
	cr_assert_eq(db_open(test_db(f->data), &f->db, err, sizeof err), DB_OK, "%s", err);
}

void kb_fixture_close(struct kb_fixture *f)
{
	db_close(f->db);
	arena_free(f->a);
	rm_tree(f->data);
	rm_tree(f->content);
	free(f->data);
	free(f->content);
}
