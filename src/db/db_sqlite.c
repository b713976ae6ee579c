/*
 * The SQLite driver of db.h: WAL journal, foreign keys on, a busy handler so that writers queue
 * instead of failing, and one connection per thread at a time (SQLITE_OPEN_NOMUTEX).
 */
#include "db_int.h"

#include "../core/arena.h"

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

struct sq_db {
	struct db base; /* first */
	sqlite3 *h;
	/* Prepared statements kept for reuse, keyed by their SQL text's address (the program's
	 * string literals) and checked by content: preparing is a good part of a small write's
	 * cost (the parser showed up at 3% of the request writer's time). */
	struct sq_stmt *cache[STMT_CACHE];
};

#define SQ(db) ((struct sq_db *)(db))
#define SQST(st) ((struct sq_stmt *)(st))

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
static int on_busy(void *unused, int tries)
{
	(void)unused;
	if (db_giving_up())
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

struct sq_stmt {
	struct db_stmt base; /* first */
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

static const char *sq_errmsg(struct db *base)
{
	struct sq_db *db = SQ(base);
	return db->h ? sqlite3_errmsg(db->h) : "no database";
}

static struct db_stmt *sq_prepare(struct db *base, const char *sql)
{
	struct sq_db *db = SQ(base);
	int free_slot = -1;
	for (int i = 0; i < STMT_CACHE; i++) {
		struct sq_stmt *c = db->cache[i];
		if (!c) {
			if (free_slot < 0)
				free_slot = i;
		} else if (!c->in_use && c->key == sql && !strcmp(sqlite3_sql(c->st), sql)) {
			c->in_use = true;
			return &c->base;
		}
	}
	sqlite3_stmt *st;
	if (sqlite3_prepare_v3(db->h, sql, -1, free_slot >= 0 ? SQLITE_PREPARE_PERSISTENT : 0, &st, NULL) != SQLITE_OK)
		return NULL;
	struct sq_stmt *s = xmalloc(sizeof *s);
	*s = (struct sq_stmt){.base = {.db = base}, .st = st, .in_use = true};
	if (free_slot >= 0) {
		s->key = sql;
		db->cache[free_slot] = s;
	}
	return &s->base;
}

static void sq_finalize(struct db_stmt *sb)
{
	struct sq_stmt *st = SQST(sb);
	if (st->key) { /* cached: ready for the next db_prepare of the same SQL */
		sqlite3_reset(st->st);
		sqlite3_clear_bindings(st->st);
		st->in_use = false;
		return;
	}
	sqlite3_finalize(st->st);
	free(st);
}

static void sq_reset(struct db_stmt *st)
{
	sqlite3_reset(SQST(st)->st);
	sqlite3_clear_bindings(SQST(st)->st);
}

static enum db_rc sq_bind_text(struct db_stmt *st, int idx, const char *s)
{
	return map_rc(sqlite3_bind_text(SQST(st)->st, idx, s, -1, SQLITE_TRANSIENT));
}

static enum db_rc sq_bind_int(struct db_stmt *st, int idx, int64_t v)
{
	return map_rc(sqlite3_bind_int64(SQST(st)->st, idx, v));
}

static enum db_rc sq_bind_null(struct db_stmt *st, int idx)
{
	return map_rc(sqlite3_bind_null(SQST(st)->st, idx));
}

static enum db_rc sq_bind_blob(struct db_stmt *st, int idx, const void *p, size_t n)
{
	/* A zero-length blob with a pointer: empty, not NULL. */
	return map_rc(sqlite3_bind_blob64(SQST(st)->st, idx, n ? p : "", (sqlite3_uint64)n, SQLITE_TRANSIENT));
}

static enum db_rc sq_step(struct db_stmt *st)
{
	if (!sqlite3_stmt_busy(SQST(st)->st)) /* starts: prepared, reset, or its rows ended */
		db_count_statement();
	return map_rc(sqlite3_step(SQST(st)->st));
}

static int sq_column_count(struct db_stmt *st)
{
	return sqlite3_column_count(SQST(st)->st);
}

static const char *sq_col_text(struct db_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(SQST(st)->st, i);
	return t ? (const char *)t : "";
}

static int64_t sq_col_int(struct db_stmt *st, int i)
{
	return sqlite3_column_int64(SQST(st)->st, i);
}

static bool sq_col_null(struct db_stmt *st, int i)
{
	return sqlite3_column_type(SQST(st)->st, i) == SQLITE_NULL;
}

static const void *sq_col_blob(struct db_stmt *sb, int i, size_t *n)
{
	sqlite3_stmt *st = SQST(sb)->st;
	*n = 0;
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return NULL;
	const void *p = sqlite3_column_blob(st, i);
	*n = (size_t)sqlite3_column_bytes(st, i);
	return p ? p : "";
}

static const char *sq_query_plan(struct db *base, struct arena *a, const char *sql)
{
	struct sq_db *db = SQ(base);
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

static int64_t sq_changes(struct db *db)
{
	return sqlite3_changes64(SQ(db)->h);
}

static enum db_rc sq_exec(struct db *db, const char *sql)
{
	db_count_statement();
	return map_rc(sqlite3_exec(SQ(db)->h, sql, NULL, NULL, NULL));
}

static enum db_rc sq_begin(struct db *db)
{
	return sq_exec(db, "BEGIN");
}

static enum db_rc sq_begin_write(struct db *db)
{
	return sq_exec(db, "BEGIN IMMEDIATE");
}

static enum db_rc sq_commit(struct db *db)
{
	return sq_exec(db, "COMMIT");
}

static enum db_rc sq_rollback(struct db *db)
{
	return sq_exec(db, "ROLLBACK");
}

/* The migration lock: SQLite's one write lock, taken at once. */
static bool sq_locked(struct db *db, bool (*fn)(struct db *db, void *arg), void *arg, char *err, size_t errlen)
{
	if (sq_begin_write(db) != DB_OK) {
		snprintf(err, errlen, "cannot lock the database: %s", sq_errmsg(db));
		return false;
	}
	if (!fn(db, arg)) {
		sq_rollback(db);
		return false;
	}
	if (sq_commit(db) != DB_OK) {
		snprintf(err, errlen, "cannot commit migrations: %s", sq_errmsg(db));
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

static void sq_close(struct db *db);

static enum db_rc sq_open(const char *dir, struct db **out, char *err, size_t errlen)
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
	struct sq_db *db = xcalloc(1, sizeof *db);
	db->base.drv = &db_sqlite_driver;
	int rc = sqlite3_open_v2(path, &db->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot open %s: %s", path, db->h ? sqlite3_errmsg(db->h) : "?");
		sq_close(&db->base);
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
	static const char pragmas[] = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA temp_store=MEMORY; "
				      "PRAGMA foreign_keys=ON; PRAGMA wal_autocheckpoint=" DB_AUTOCHECKPOINT_PAGES;
	/* The switch of a new database to WAL can meet another opener's switch with SQLITE_BUSY
	 * without the busy handler (SQLite refuses to wait where waiting could deadlock): it is
	 * tried again, within the same limit as any other wait for a lock. */
	enum db_rc prc = sq_exec(&db->base, pragmas);
	for (long waited = 0; prc != DB_OK && (sqlite3_errcode(db->h) & 0xff) == SQLITE_BUSY &&
			      waited < BUSY_LIMIT_US && !db_giving_up();
	     waited += 1000) {
		usleep(1000);
		prc = sq_exec(&db->base, pragmas);
	}
	if (prc != DB_OK) {
		snprintf(err, errlen, "%s is not a usable database: %s", path, sq_errmsg(&db->base));
		sq_close(&db->base);
		return DB_ERR;
	}
	*out = &db->base;
	return DB_OK;
}

static enum db_rc sq_checkpoint(struct db *db)
{
	int log = 0, copied = 0;
	return map_rc(sqlite3_wal_checkpoint_v2(SQ(db)->h, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &copied));
}

static void sq_interrupt(struct db *db)
{
	sqlite3_interrupt(SQ(db)->h);
}

static void sq_close(struct db *base)
{
	struct sq_db *db = SQ(base);
	for (int i = 0; i < STMT_CACHE; i++) {
		if (db->cache[i]) {
			sqlite3_finalize(db->cache[i]->st);
			free(db->cache[i]);
		}
	}
	sqlite3_close_v2(db->h);
	free(db);
}

enum db_rc db_backup(struct db *base, const char *path, char *err, size_t errlen)
{
	if (base->drv != &db_sqlite_driver) {
		snprintf(err, errlen, "the online backup is SQLite's; back PostgreSQL up with pg_dump");
		return DB_ERR;
	}
	sqlite3 *to;
	/* The copy is private to its owner, as the database is (0600); an existing file is not
	 * overwritten. */
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
		return DB_ERR;
	}
	close(fd);
	if (sqlite3_open_v2(path, &to, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open %s: %s", path, to ? sqlite3_errmsg(to) : "?");
		sqlite3_close(to);
		unlink(path);
		return DB_ERR;
	}
	sqlite3_backup *b = sqlite3_backup_init(to, "main", SQ(base)->h, "main");
	int rc = SQLITE_ERROR;
	if (b) {
		/* All pages in one step: the copy is of one moment, and writers wait for it (the busy
		 * handler) rather than restart it. */
		rc = sqlite3_backup_step(b, -1);
		sqlite3_backup_finish(b);
	}
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "backup failed: %s", sqlite3_errmsg(to));
		sqlite3_close(to);
		unlink(path);
		return DB_ERR;
	}
	if (sqlite3_close(to) != SQLITE_OK) {
		snprintf(err, errlen, "cannot close %s", path);
		return DB_ERR;
	}
	return DB_OK;
}

const struct db_driver db_sqlite_driver = {
    .engine = DB_SQLITE,
    .open = sq_open,
    .close = sq_close,
    .errmsg = sq_errmsg,
    .prepare = sq_prepare,
    .finalize = sq_finalize,
    .reset = sq_reset,
    .bind_text = sq_bind_text,
    .bind_int = sq_bind_int,
    .bind_null = sq_bind_null,
    .bind_blob = sq_bind_blob,
    .step = sq_step,
    .column_count = sq_column_count,
    .col_text = sq_col_text,
    .col_int = sq_col_int,
    .col_null = sq_col_null,
    .col_blob = sq_col_blob,
    .query_plan = sq_query_plan,
    .changes = sq_changes,
    .exec = sq_exec,
    .begin = sq_begin,
    .begin_write = sq_begin_write,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .checkpoint = sq_checkpoint,
    .interrupt = sq_interrupt,
    .locked = sq_locked,
};
