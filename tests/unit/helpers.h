/* Small helpers shared by the unit tests: temporary directories and files. */
#ifndef SPRAVKA_TEST_HELPERS_H
#define SPRAVKA_TEST_HELPERS_H

/* A new empty directory under /tmp (static storage, one per call site use). */
char *tmp_dir(void);
/* Writes text to dir/name. */
void put_file(const char *dir, const char *name, const char *text);
/* rm -rf dir. */
void rm_tree(const char *dir);

struct db;
struct arena;
/* The first column of the first row of sql (with arg bound to ?1 when not NULL), copied into
 * a; NULL when there is no row. Fails the test when the statement does not prepare. */
const char *db_text(struct db *db, struct arena *a, const char *sql, const char *arg);

#endif
