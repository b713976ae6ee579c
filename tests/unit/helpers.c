#include "helpers.h"

#include "../../src/core/arena.h"
#include "../../src/db/db.h"

#include <criterion/criterion.h>
#include <ftw.h>
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
