/*
 * The SQLite driver of db.h: WAL journal, foreign keys on, a busy handler so that writers queue
 * instead of failing, and one connection per thread at a time (SQLITE_OPEN_NOMUTEX).
 */
#include "db.h"

#include "../core/arena.h"
#include "schema.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STMT_CACHE 48

struct db {
	sqlite3 *h;
	/* Prepared statements kept for reuse, keyed by their SQL text's address (the program's
	 * string literals) and checked by content: preparing is a good part of a small write's
	 * cost (the parser showed up at 3% of the request writer's time). */
	struct db_stmt *cache[STMT_CACHE];
};

#define BUSY_LIMIT_US 5000000 /* a writer waits at most 5 s for the lock */
/* The log's size (pages) past which a commit checkpoints by itself: 40 MB, reached only when
 * db_checkpoint is not called often enough (SQLite's default is 1000). */
#define DB_AUTOCHECKPOINT_PAGES "10000"

/*
 * SQLite's own busy timeout sleeps 1, 2, 5, 10 ... 100 ms between tries: while one thread
 * commits (about a millisecond), another waiting writer could sleep 50 ms or more, which made
 * the p99 of request creation under 8 clients 800 ms. Short, growing waits (50 us to 1 ms) keep
 * writers queued closely behind each other.
 */
static atomic_bool give_up;

void db_give_up_waiting(void)
{
	atomic_store(&give_up, true);
}

static int on_busy(void *unused, int tries)
{
	(void)unused;
	if (atomic_load(&give_up))
		return 0;
	static const int step_us[] = {50, 100, 200, 400, 700, 1000};
	int n = (int)(sizeof step_us / sizeof step_us[0]);
	long waited = 0;
	for (int i = 0; i < tries; i++)
		waited += step_us[i < n ? i : n - 1];
	if (waited >= BUSY_LIMIT_US)
		return 0;
	usleep((useconds_t)step_us[tries < n ? tries : n - 1]);
	return 1;
}

struct db_stmt {
	struct db *db;
	sqlite3_stmt *st;
	const char *key; /* the SQL pointer it was prepared from, when cached */
	bool in_use;
};

static enum db_rc map_rc(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
		return DB_OK;
	case SQLITE_ROW:
		return DB_ROW;
	case SQLITE_DONE:
		return DB_DONE;
	case SQLITE_CONSTRAINT:
		return DB_CONSTRAINT;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return DB_BUSY;
	default:
		return DB_ERR;
	}
}

const char *db_errmsg(struct db *db)
{
	return db && db->h ? sqlite3_errmsg(db->h) : "no database";
}

struct db_stmt *db_prepare(struct db *db, const char *sql)
{
	int free_slot = -1;
	for (int i = 0; i < STMT_CACHE; i++) {
		struct db_stmt *c = db->cache[i];
		if (!c) {
			if (free_slot < 0)
				free_slot = i;
		} else if (!c->in_use && c->key == sql && !strcmp(sqlite3_sql(c->st), sql)) {
			c->in_use = true;
			return c;
		}
	}
	sqlite3_stmt *st;
	if (sqlite3_prepare_v3(db->h, sql, -1, free_slot >= 0 ? SQLITE_PREPARE_PERSISTENT : 0, &st, NULL) != SQLITE_OK)
		return NULL;
	struct db_stmt *s = xmalloc(sizeof *s);
	*s = (struct db_stmt){.db = db, .st = st, .in_use = true};
	if (free_slot >= 0) {
		s->key = sql;
		db->cache[free_slot] = s;
	}
	return s;
}

void db_finalize(struct db_stmt *st)
{
	if (!st)
		return;
	if (st->key) { /* cached: ready for the next db_prepare of the same SQL */
		sqlite3_reset(st->st);
		sqlite3_clear_bindings(st->st);
		st->in_use = false;
		return;
	}
	sqlite3_finalize(st->st);
	free(st);
}

void db_reset(struct db_stmt *st)
{
	sqlite3_reset(st->st);
	sqlite3_clear_bindings(st->st);
}

enum db_rc db_bind_text(struct db_stmt *st, int idx, const char *s)
{
	if (!s)
		return db_bind_null(st, idx);
	return map_rc(sqlite3_bind_text(st->st, idx, s, -1, SQLITE_TRANSIENT));
}

enum db_rc db_bind_int(struct db_stmt *st, int idx, int64_t v)
{
	return map_rc(sqlite3_bind_int64(st->st, idx, v));
}

enum db_rc db_bind_null(struct db_stmt *st, int idx)
{
	return map_rc(sqlite3_bind_null(st->st, idx));
}

enum db_rc db_step(struct db_stmt *st)
{
	return map_rc(sqlite3_step(st->st));
}

int db_column_count(struct db_stmt *st)
{
	return sqlite3_column_count(st->st);
}

const char *db_col_text(struct db_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st->st, i);
	return t ? (const char *)t : "";
}

int64_t db_col_int(struct db_stmt *st, int i)
{
	return sqlite3_column_int64(st->st, i);
}

bool db_col_null(struct db_stmt *st, int i)
{
	return sqlite3_column_type(st->st, i) == SQLITE_NULL;
}

const char *db_query_plan(struct db *db, struct arena *a, const char *sql)
{
	/* Prepared here, past the cache: the text is built, and used once. */
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db->h, arena_printf(a, "EXPLAIN QUERY PLAN %s", sql), -1, &st, NULL) != SQLITE_OK)
		return NULL;
	const char *all = "";
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *line = (const char *)sqlite3_column_text(st, 3);
		all = *all ? arena_printf(a, "%s | %s", all, line ? line : "") : arena_strdup(a, line ? line : "");
	}
	sqlite3_finalize(st);
	return all;
}

int64_t db_changes(struct db *db)
{
	return sqlite3_changes64(db->h);
}

enum db_rc db_exec(struct db *db, const char *sql)
{
	return map_rc(sqlite3_exec(db->h, sql, NULL, NULL, NULL));
}

enum db_rc db_begin(struct db *db)
{
	return db_exec(db, "BEGIN");
}

enum db_rc db_begin_write(struct db *db)
{
	return db_exec(db, "BEGIN IMMEDIATE");
}

enum db_rc db_commit(struct db *db)
{
	return db_exec(db, "COMMIT");
}

enum db_rc db_rollback(struct db *db)
{
	return db_exec(db, "ROLLBACK");
}

int db_schema_latest(void)
{
	return schema_migrations[schema_migration_count - 1].version;
}

int db_schema_version(struct db *db)
{
	struct db_stmt *st = db_prepare(db, "SELECT max(version) FROM schema_version");
	if (!st)
		return 0;
	int v = db_step(st) == DB_ROW ? (int)db_col_int(st, 0) : 0;
	db_finalize(st);
	return v;
}

static bool migrate(struct db *db, char *err, size_t errlen)
{
	if (db_begin_write(db) != DB_OK) {
		snprintf(err, errlen, "cannot lock the database: %s", db_errmsg(db));
		return false;
	}
	if (db_exec(db, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)") != DB_OK) {
		snprintf(err, errlen, "not a spravka database: %s", db_errmsg(db));
		db_rollback(db);
		return false;
	}
	int have = db_schema_version(db), latest = db_schema_latest();
	if (have > latest) {
		snprintf(err, errlen,
			 "the database has schema version %d, newer than this spravka knows (%d): "
			 "run a newer spravka or restore a backup",
			 have, latest);
		db_rollback(db);
		return false;
	}
	for (int i = 0; i < schema_migration_count; i++) {
		const struct migration *m = &schema_migrations[i];
		if (m->version <= have)
			continue;
		struct db_stmt *st = NULL;
		if (db_exec(db, m->sql) != DB_OK ||
		    !(st = db_prepare(db, "INSERT INTO schema_version(version) VALUES (?)")) ||
		    db_bind_int(st, 1, m->version) != DB_OK || db_step(st) != DB_DONE) {
			snprintf(err, errlen, "migration %d failed: %s", m->version, db_errmsg(db));
			db_finalize(st);
			db_rollback(db);
			return false;
		}
		db_finalize(st);
	}
	if (db_commit(db) != DB_OK) {
		snprintf(err, errlen, "cannot commit migrations: %s", db_errmsg(db));
		return false;
	}
	return true;
}

/* Takes group and other permissions away from path (when it exists and has any), with a note. */
static void tighten(const char *path, mode_t mode)
{
	struct stat st;
	if (lstat(path, &st) != 0 || S_ISLNK(st.st_mode) || !(st.st_mode & 077))
		return;
	if (chmod(path, mode) == 0)
		fprintf(stderr, "spravka: %s was readable by others (mode %03o): now %03o\n", path,
			(unsigned)(st.st_mode & 0777), (unsigned)mode);
	else
		fprintf(stderr, "spravka: warning: %s is readable by others (mode %03o) and cannot be changed: %s\n",
			path, (unsigned)(st.st_mode & 0777), strerror(errno));
}

static enum db_rc open_one(const char *dir, bool run_migrations, struct db **out, char *err, size_t errlen)
{
	*out = NULL;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create data directory %s: %s", dir, strerror(errno));
		return DB_ERR;
	}
	char path[4096];
	if ((size_t)snprintf(path, sizeof path, "%s/spravka.db", dir) >= sizeof path) {
		snprintf(err, errlen, "data directory path too long");
		return DB_ERR;
	}
	/* The data holds members' requests: the directory is 0700 and the database files 0600
	 * (SQLite gives -wal and -shm the database file's mode). Wider ones are tightened. */
	tighten(dir, 0700);
	struct stat st;
	if (stat(path, &st) != 0 && errno == ENOENT) {
		/* Created here, empty, only when it does not exist: closing a descriptor of a database
		 * file this process has open would drop SQLite's POSIX locks on it. */
		int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0)
			close(fd);
	}
	static const char *const suffixes[] = {"", "-wal", "-shm"};
	for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
		char file[4200];
		snprintf(file, sizeof file, "%s%s", path, suffixes[i]);
		tighten(file, 0600);
	}
	struct db *db = xcalloc(1, sizeof *db);
	int rc = sqlite3_open_v2(path, &db->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot open %s: %s", path, db->h ? sqlite3_errmsg(db->h) : "?");
		db_close(db);
		return DB_ERR;
	}
	sqlite3_busy_handler(db->h, on_busy, NULL);
	/* synchronous=FULL: a commit is on disk when it returns (WAL fsynced), which is what
	 * "a request is acknowledged only when durable" needs. Checkpoints: db_checkpoint, called
	 * once a second by the server's maintenance thread; the automatic one (run by whichever
	 * connection commits past the threshold, inside its commit) only as a bound on the log
	 * (docs/benchmarks.md, "Writes per creation"). temp_store=MEMORY: the statement journal of
	 * each savepoint (the group commit runs every job under one) and the small sorts stay in
	 * memory: in temporary files they were 60% of the bytes the writer passed to write calls
	 * per request creation (163 -> 64 KB), for data no crash recovery reads (an
	 * uncommitted transaction is simply absent from the WAL). */
	if (db_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA temp_store=MEMORY; "
			"PRAGMA foreign_keys=ON; PRAGMA wal_autocheckpoint=" DB_AUTOCHECKPOINT_PAGES) != DB_OK) {
		snprintf(err, errlen, "%s is not a usable database: %s", path, db_errmsg(db));
		db_close(db);
		return DB_ERR;
	}
	if (run_migrations && !migrate(db, err, errlen)) {
		db_close(db);
		return DB_ERR;
	}
	*out = db;
	return DB_OK;
}

enum db_rc db_open(const char *dir, struct db **out, char *err, size_t errlen)
{
	return open_one(dir, true, out, err, errlen);
}

enum db_rc db_checkpoint(struct db *db)
{
	int log = 0, copied = 0;
	return map_rc(sqlite3_wal_checkpoint_v2(db->h, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &copied));
}

void db_close(struct db *db)
{
	if (!db)
		return;
	for (int i = 0; i < STMT_CACHE; i++) {
		if (db->cache[i]) {
			sqlite3_finalize(db->cache[i]->st);
			free(db->cache[i]);
		}
	}
	sqlite3_close_v2(db->h);
	free(db);
}

struct db_pool {
	pthread_mutex_t lock;
	pthread_cond_t freed;
	int size, nfree;
	struct db **all, **free_list;
};

enum db_rc db_pool_open(const char *dir, int size, struct db_pool **out, char *err, size_t errlen)
{
	struct db_pool *p = xcalloc(1, sizeof *p);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->freed, NULL);
	p->all = xcalloc((size_t)size, sizeof(struct db *));
	p->free_list = xcalloc((size_t)size, sizeof(struct db *));
	for (int i = 0; i < size; i++) {
		if (open_one(dir, i == 0, &p->all[i], err, errlen) != DB_OK) {
			p->size = i;
			db_pool_close(p);
			*out = NULL;
			return DB_ERR;
		}
		p->free_list[p->nfree++] = p->all[i];
		p->size = i + 1;
	}
	*out = p;
	return DB_OK;
}

struct db *db_pool_get(struct db_pool *p)
{
	pthread_mutex_lock(&p->lock);
	while (p->nfree == 0)
		pthread_cond_wait(&p->freed, &p->lock);
	struct db *db = p->free_list[--p->nfree];
	pthread_mutex_unlock(&p->lock);
	return db;
}

void db_pool_put(struct db_pool *p, struct db *db)
{
	pthread_mutex_lock(&p->lock);
	p->free_list[p->nfree++] = db;
	pthread_cond_signal(&p->freed);
	pthread_mutex_unlock(&p->lock);
}

void db_pool_interrupt(struct db_pool *p)
{
	/* sqlite3_interrupt may be called from another thread while the connection is in use; the
	 * connections live until db_pool_close. */
	for (int i = 0; p && i < p->size; i++)
		sqlite3_interrupt(p->all[i]->h);
}

void db_pool_close(struct db_pool *p)
{
	if (!p)
		return;
	for (int i = 0; i < p->size; i++)
		db_close(p->all[i]);
	free(p->all);
	free(p->free_list);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->freed);
	free(p);
}
