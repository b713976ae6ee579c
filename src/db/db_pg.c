/*
 * The PostgreSQL driver of db.h (libpq). One connection per struct db, used by one thread at a
 * time, as with SQLite.
 *
 * Statements are prepared once per connection (PQprepare, named s1, s2 ...) and kept in a cache
 * keyed as the SQLite driver keys its own: the SQL text's address, checked by content. The `?`
 * of the portable SQL become $1..$n at prepare (outside quoted strings, identifiers and
 * comments). Values travel as text; PostgreSQL infers each parameter's type from the SQL around
 * it (db.h's rules make sure it can); a blob (db_bind_blob) travels in binary. A step runs the statement at its first
 * call and keeps the whole result: rows are read from it, so several statements of a connection may be open at once.
 *
 * A broken connection (PostgreSQL restarted, the network cut) is connected again by itself at its
 * next use outside a transaction: an idle connection is checked before each statement (a server
 * that went away has closed it or sent its last words), a failed reconnect is tried again after a
 * backoff (0.1 s doubling to 2 s; meanwhile every call fails at once with DB_ERR, unless another
 * connection of the process has reconnected since), and the
 * statements prepared before are prepared again on the new connection at their next step. A
 * connection lost inside a transaction stays lost until the transaction's end: every statement
 * fails, db_rollback succeeds (the server rolled back), and db_commit reports DB_ERR, since the
 * outcome of a COMMIT whose answer never came is unknown: never reported as a success.
 *
 * A write transaction's BEGIN is not sent alone: it goes with the transaction's first statement
 * in one round trip (libpq's pipeline mode: BEGIN, the statement, a sync), a round trip less for
 * every write transaction (a creation made about ten). A transaction that ran nothing commits or
 * rolls back without a word to the server.
 *
 * Errors: SQLSTATE class 23 (unique, foreign key, check, not null) is DB_CONSTRAINT;
 * serialization_failure, deadlock_detected and lock_not_available (lock_timeout, 5 s) are
 * DB_BUSY; the rest DB_ERR with the server's message.
 *
 * SPRAVKA_PG_SQL_LOG=FILE (for the tests): the SQL text of every statement that ran successfully
 * is appended to FILE, one line each (a prepared statement once per connection), so that
 * tests/sql_coverage.py can tell which statements of the program ran on PostgreSQL.
 */
#include "db_int.h"

#include "../core/arena.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STMT_CACHE 128

struct pg_stmt;

struct pg_db {
	struct db base; /* first */
	PGconn *c;
	PGcancel *cancel; /* for db_pool_interrupt, from any thread; under cancel_lock */
	pthread_mutex_t cancel_lock;
	unsigned epoch;	  /* connections made so far: statements of an older one are prepared again */
	bool in_tx;	  /* the server said a transaction was open after the last command */
	bool lost;	  /* the connection broke inside a transaction (see the header) */
	bool begin_due;	  /* db_begin_write's BEGIN, not sent yet: it goes with the next statement */
	int backoff_ms;	  /* after a failed reconnect: the wait before the next attempt */
	int64_t retry_at; /* CLOCK_MONOTONIC ms of the next attempt */
	unsigned seen;	  /* `reconnects` at the failed attempt */
	char err[1024];
	int64_t changes;
	unsigned next_name;
	int log_fd;	     /* SPRAVKA_PG_SQL_LOG, or -1 */
	atomic_bool writing; /* in a transaction begun by db_begin_write */
	struct pg_db *next;  /* in the list of open connections (db_give_up_waiting) */
	struct pg_stmt *cache[STMT_CACHE];
};

struct pg_stmt {
	struct db_stmt base; /* first */
	const char *key;     /* the SQL pointer it was prepared from, when cached */
	char *sql;	     /* a copy of its text, to check a cache hit by content */
	bool in_use;
	char name[16];
	unsigned epoch; /* of the connection it was prepared on */
	int nparams;
	char **vals; /* nparams values, NULL for NULL */
	int *lens;   /* a binary value's length (db_bind_blob) */
	int *fmts;   /* 1 for a binary value, 0 for text */
	PGresult *res;
	unsigned char *blob; /* the last db_col_blob, decoded (PQfreemem) */
	int row, nrows;
	bool ran;
	bool logged; /* SPRAVKA_PG_SQL_LOG has its text */
};

#define PG(db) ((struct pg_db *)(db))
#define PGST(st) ((struct pg_stmt *)(st))

/* The advisory lock of the migrations: any number, the same in every process ("spravka"). */
#define MIGRATION_LOCK "7572768211585642"

/* Reconnects made by any connection of the process: when one succeeds, the others waiting out
 * their backoff try at their next use, so that a server back serves every thread at once. */
static atomic_uint reconnects;

/* Every open connection, so that db_give_up_waiting can stop the waits already begun. */
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pg_db *open_list;

void db_pg_give_up_waiting(void)
{
	pthread_mutex_lock(&open_lock);
	for (struct pg_db *db = open_list; db; db = db->next) {
		char buf[256];
		pthread_mutex_lock(&db->cancel_lock);
		if (atomic_load(&db->writing) && db->cancel)
			PQcancel(db->cancel, buf, sizeof buf);
		pthread_mutex_unlock(&db->cancel_lock);
	}
	pthread_mutex_unlock(&open_lock);
}

static void set_err(struct pg_db *db, const char *msg)
{
	snprintf(db->err, sizeof db->err, "%s", msg && *msg ? msg : "unknown PostgreSQL error");
	size_t n = strlen(db->err);
	while (n && (db->err[n - 1] == '\n' || db->err[n - 1] == ' '))
		db->err[--n] = 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What every new connection (and every reconnect) sets up; false with the message in err. */
static bool set_up(struct pg_db *db)
{
	db_count_statement();
	/* A wait for a row lock is bounded as SQLite's busy handler bounds a wait for the write lock. */
	PGresult *res = PQexec(db->c, "SET lock_timeout = '5s'");
	bool ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!ok)
		set_err(db, res ? PQresultErrorMessage(res) : PQerrorMessage(db->c));
	PQclear(res);
	pthread_mutex_lock(&db->cancel_lock);
	if (db->cancel)
		PQfreeCancel(db->cancel);
	db->cancel = PQgetCancel(db->c); /* the new server process's */
	pthread_mutex_unlock(&db->cancel_lock);
	return ok;
}

/* Records what the last command left: whether a transaction is open, or was lost with the
 * connection. */
static void note_state(struct pg_db *db)
{
	if (PQstatus(db->c) != CONNECTION_OK) {
		if (db->in_tx)
			db->lost = true;
		return;
	}
	PGTransactionStatusType t = PQtransactionStatus(db->c);
	db->in_tx = t == PQTRANS_INTRANS || t == PQTRANS_INERROR || t == PQTRANS_ACTIVE;
}

/* An idle connection whose server has gone: what it sent last (a FATAL, then the end of the
 * stream) is read now, so that libpq marks it broken before a statement is sent on it. */
static void check_idle(struct pg_db *db)
{
	for (int i = 0; i < 3 && PQstatus(db->c) == CONNECTION_OK; i++) {
		struct pollfd p = {.fd = PQsocket(db->c), .events = POLLIN};
		if (p.fd < 0 || poll(&p, 1, 0) <= 0)
			return;
		if (!PQconsumeInput(db->c))
			return;
		PGnotify *n;
		while ((n = PQnotifies(db->c)))
			PQfreemem(n);
	}
}

/*
 * Whether db may send a statement now: true on a working connection (made again if it broke
 * outside a transaction, at most once per backoff period); false with a message otherwise.
 */
static bool connected(struct pg_db *db)
{
	if (db->lost) {
		set_err(db, "the connection to PostgreSQL was lost in the middle of a transaction");
		return false;
	}
	if (!db->in_tx)
		check_idle(db);
	if (PQstatus(db->c) == CONNECTION_OK)
		return true;
	if (db->in_tx) {
		db->lost = true;
		set_err(db, "the connection to PostgreSQL was lost in the middle of a transaction");
		return false;
	}
	int64_t now = now_ms();
	if (now < db->retry_at && atomic_load(&reconnects) == db->seen) {
		set_err(db, "PostgreSQL is unreachable (the next attempt to connect is due in a moment)");
		return false;
	}
	PQreset(db->c);
	if (PQstatus(db->c) != CONNECTION_OK || !set_up(db)) {
		if (PQstatus(db->c) != CONNECTION_OK)
			set_err(db, PQerrorMessage(db->c));
		db->backoff_ms = db->backoff_ms ? (db->backoff_ms * 2 > 2000 ? 2000 : db->backoff_ms * 2) : 100;
		db->retry_at = now + db->backoff_ms;
		db->seen = atomic_load(&reconnects);
		return false;
	}
	atomic_fetch_add(&reconnects, 1);
	db->backoff_ms = 0;
	db->retry_at = 0;
	db->epoch++;
	db->in_tx = false;
	return true;
}

/* After db_give_up_waiting, no statement of a write transaction waits for a lock, also in one
 * begun before it: set before each statement, as a rollback to a savepoint undoes a SET. */
static void no_more_waiting(struct pg_db *db)
{
	if (atomic_load(&db->writing) && db_giving_up()) {
		db_count_statement();
		PQclear(PQexec(db->c, "SET LOCAL lock_timeout = '1ms'"));
	}
}

static void log_sql(struct pg_db *db, const char *sql)
{
	if (db->log_fd < 0)
		return;
	size_t n = strlen(sql);
	char *line = xmalloc(n + 2);
	for (size_t i = 0; i < n; i++)
		line[i] = sql[i] == '\n' ? ' ' : sql[i];
	line[n] = '\n';
	ssize_t w = write(db->log_fd, line, n + 1); /* O_APPEND: one write per line */
	(void)w;
	free(line);
}

/* The result's outcome as db_rc; its message kept for db_errmsg. Does not clear res. */
static enum db_rc result_rc(struct pg_db *db, PGresult *res)
{
	ExecStatusType s = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) {
		const char *cmd = PQcmdStatus(res);
		if (!strncmp(cmd, "INSERT", 6) || !strncmp(cmd, "UPDATE", 6) || !strncmp(cmd, "DELETE", 6))
			db->changes = strtoll(PQcmdTuples(res), NULL, 10);
		return DB_OK;
	}
	set_err(db, res ? PQresultErrorMessage(res) : PQerrorMessage(db->c));
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	if (state && !strncmp(state, "23", 2))
		return DB_CONSTRAINT;
	if (state && (!strcmp(state, "40001") || !strcmp(state, "40P01") || !strcmp(state, "55P03")))
		return DB_BUSY;
	return DB_ERR;
}

static const char *pg_errmsg(struct db *db)
{
	return PG(db)->err;
}

/*
 * sql with its `?` numbered $1..$n, outside '...' strings, "..." identifiers and -- comments;
 * *n gets the count. The caller frees the result.
 */
static char *number_params(const char *sql, int *n)
{
	size_t len = strlen(sql), cap = len * 8 + 16; /* each ? becomes at most $99999 */
	char *out = xmalloc(cap), *o = out;
	char quote = 0;
	*n = 0;
	for (const char *p = sql; *p; p++) {
		if (quote) {
			if (*p == quote)
				quote = 0;
			*o++ = *p;
		} else if (*p == '\'' || *p == '"') {
			quote = *p;
			*o++ = *p;
		} else if (p[0] == '-' && p[1] == '-') {
			while (*p && *p != '\n')
				*o++ = *p++;
			if (!*p)
				break;
			*o++ = *p;
		} else if (*p == '?') {
			o += sprintf(o, "$%d", ++*n);
		} else {
			*o++ = *p;
		}
	}
	*o = 0;
	return out;
}

static void clear_blob(struct pg_stmt *st)
{
	if (st->blob)
		PQfreemem(st->blob);
	st->blob = NULL;
}

static void clear_result(struct pg_stmt *st)
{
	clear_blob(st);
	if (st->res)
		PQclear(st->res);
	st->res = NULL;
	st->ran = false;
	st->row = st->nrows = 0;
}

static void clear_binds(struct pg_stmt *st)
{
	for (int i = 0; i < st->nparams; i++) {
		free(st->vals[i]);
		st->vals[i] = NULL;
		st->lens[i] = st->fmts[i] = 0;
	}
}

static struct db_stmt *pg_prepare(struct db *base, const char *sql)
{
	struct pg_db *db = PG(base);
	int free_slot = -1;
	for (int i = 0; i < STMT_CACHE; i++) {
		struct pg_stmt *c = db->cache[i];
		if (!c) {
			if (free_slot < 0)
				free_slot = i;
		} else if (!c->in_use && c->key == sql && !strcmp(c->sql, sql)) {
			c->in_use = true;
			return &c->base;
		}
	}
	int n;
	char *text = number_params(sql, &n);
	if (!connected(db)) {
		free(text);
		return NULL;
	}
	struct pg_stmt *s = xcalloc(1, sizeof *s);
	s->base.db = base;
	snprintf(s->name, sizeof s->name, "s%u", ++db->next_name);
	db_count_statement();
	PGresult *res = PQprepare(db->c, s->name, text, n, NULL);
	free(text);
	enum db_rc rc = result_rc(db, res);
	PQclear(res);
	note_state(db);
	if (rc != DB_OK) {
		free(s);
		return NULL;
	}
	s->epoch = db->epoch;
	s->nparams = n;
	s->sql = xstrdup(sql);
	s->vals = xcalloc((size_t)(n ? n : 1), sizeof *s->vals);
	s->lens = xcalloc((size_t)(n ? n : 1), sizeof *s->lens);
	s->fmts = xcalloc((size_t)(n ? n : 1), sizeof *s->fmts);
	s->in_use = true;
	if (free_slot >= 0) {
		s->key = sql;
		db->cache[free_slot] = s;
	}
	return &s->base;
}

static void free_stmt(struct pg_stmt *st)
{
	clear_result(st);
	clear_binds(st);
	free(st->vals);
	free(st->lens);
	free(st->fmts);
	free(st->sql);
	free(st);
}

static void pg_finalize(struct db_stmt *sb)
{
	struct pg_stmt *st = PGST(sb);
	struct pg_db *db = PG(sb->db);
	if (st->key) { /* cached: ready for the next db_prepare of the same SQL */
		clear_result(st);
		clear_binds(st);
		st->in_use = false;
		return;
	}
	/* In a failed transaction DEALLOCATE fails too: the statement then lives on the server
	 * until the connection closes (its name is never used again). */
	if (st->epoch == db->epoch && !db->lost && PQstatus(db->c) == CONNECTION_OK) {
		char sql[32];
		snprintf(sql, sizeof sql, "DEALLOCATE %s", st->name);
		db_count_statement();
		PQclear(PQexec(db->c, sql));
		note_state(db);
	}
	free_stmt(st);
}

static void pg_reset(struct db_stmt *sb)
{
	clear_result(PGST(sb));
	clear_binds(PGST(sb));
}

static enum db_rc set_val(struct db_stmt *sb, int idx, char *v)
{
	struct pg_stmt *st = PGST(sb);
	if (idx < 1 || idx > st->nparams) {
		free(v);
		snprintf(PG(sb->db)->err, sizeof PG(sb->db)->err, "bind index %d out of range (1..%d)", idx,
			 st->nparams);
		return DB_ERR;
	}
	free(st->vals[idx - 1]);
	st->vals[idx - 1] = v;
	st->lens[idx - 1] = st->fmts[idx - 1] = 0;
	return DB_OK;
}

static enum db_rc pg_bind_text(struct db_stmt *st, int idx, const char *s)
{
	return set_val(st, idx, xstrdup(s));
}

static enum db_rc pg_bind_int(struct db_stmt *st, int idx, int64_t v)
{
	char buf[24];
	snprintf(buf, sizeof buf, "%lld", (long long)v);
	return set_val(st, idx, xstrdup(buf));
}

static enum db_rc pg_bind_null(struct db_stmt *st, int idx)
{
	return set_val(st, idx, NULL);
}

/* Sent in binary (format 1): the bytes as they are, no hex text of twice the size. */
static enum db_rc pg_bind_blob(struct db_stmt *sb, int idx, const void *p, size_t n)
{
	if (n > (size_t)INT32_MAX) {
		snprintf(PG(sb->db)->err, sizeof PG(sb->db)->err, "a value of %zu bytes is too large to bind", n);
		return DB_ERR;
	}
	char *copy = xmalloc(n ? n : 1);
	if (n)
		memcpy(copy, p, n);
	enum db_rc rc = set_val(sb, idx, copy);
	if (rc == DB_OK) {
		PGST(sb)->lens[idx - 1] = (int)n;
		PGST(sb)->fmts[idx - 1] = 1;
	}
	return rc;
}

/* st prepared on db's connection of now: again if it was prepared on a connection since lost. */
static bool prepare_again(struct pg_db *db, struct pg_stmt *st)
{
	if (st->epoch == db->epoch)
		return true;
	int n;
	char *text = number_params(st->sql, &n);
	db_count_statement();
	PGresult *res = PQprepare(db->c, st->name, text, n, NULL);
	free(text);
	enum db_rc rc = result_rc(db, res);
	PQclear(res);
	note_state(db);
	if (rc != DB_OK)
		return false;
	st->epoch = db->epoch;
	return true;
}

/* Sends db_begin_write's BEGIN now, alone (before a plain exec, or before a wait that must be
 * bounded at once: no_more_waiting's SET LOCAL needs the transaction). */
static enum db_rc pg_exec(struct db *base, const char *sql);
static enum db_rc send_begin(struct pg_db *db)
{
	db->begin_due = false;
	return pg_exec(&db->base, "BEGIN");
}

/* st run as the first statement of a write transaction: BEGIN and st in one pipeline, one round
 * trip. The statement's result (or BEGIN's, when BEGIN failed), as PQexecPrepared's. */
static PGresult *exec_after_begin(struct pg_db *db, struct pg_stmt *st)
{
	db->begin_due = false;
	if (!PQenterPipelineMode(db->c)) {
		PGresult *b = PQexec(db->c, "BEGIN");
		bool ok = result_rc(db, b) == DB_OK;
		PQclear(b);
		return ok ? PQexecPrepared(db->c, st->name, st->nparams, (const char *const *)st->vals, st->lens,
					   st->fmts, 0)
			  : NULL;
	}
	bool sent =
	    PQsendQueryParams(db->c, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) &&
	    PQsendQueryPrepared(db->c, st->name, st->nparams, (const char *const *)st->vals, st->lens, st->fmts, 0) &&
	    PQpipelineSync(db->c);
	PGresult *results[2] = {NULL, NULL};
	/* BEGIN's result and a NULL, the statement's and a NULL, then the sync. */
	for (int query = 0, nulls = 0; sent && nulls <= 2 && PQstatus(db->c) == CONNECTION_OK;) {
		PGresult *r = PQgetResult(db->c);
		if (!r) {
			nulls++;
			query += query < 2;
			continue;
		}
		if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
			PQclear(r);
			break;
		}
		if (query < 2 && !results[query])
			results[query] = r;
		else
			PQclear(r);
	}
	PQexitPipelineMode(db->c);
	if (results[0] && result_rc(db, results[0]) != DB_OK) {
		PQclear(results[1]);
		return results[0];
	}
	PQclear(results[0]);
	return results[1];
}

static enum db_rc pg_step(struct db_stmt *sb)
{
	struct pg_stmt *st = PGST(sb);
	struct pg_db *db = PG(sb->db);
	if (!st->ran) {
		st->ran = true;
		if (!connected(db) || !prepare_again(db, st))
			return DB_ERR;
		if (db->begin_due && db_giving_up() && send_begin(db) != DB_OK)
			return DB_ERR;
		no_more_waiting(db);
		db_count_statement(); /* one round trip, a pipelined BEGIN included */
		if (db->begin_due)
			st->res = exec_after_begin(db, st);
		else
			st->res = PQexecPrepared(db->c, st->name, st->nparams, (const char *const *)st->vals, st->lens,
						 st->fmts, 0);
		enum db_rc rc = result_rc(db, st->res);
		note_state(db);
		if (rc != DB_OK) {
			PQclear(st->res);
			st->res = NULL;
			return rc;
		}
		if (!st->logged) {
			st->logged = true;
			log_sql(db, st->sql);
		}
		st->nrows = PQresultStatus(st->res) == PGRES_TUPLES_OK ? PQntuples(st->res) : 0;
		st->row = -1;
	}
	if (!st->res)
		return DB_DONE;
	if (st->row + 1 < st->nrows) {
		st->row++;
		return DB_ROW;
	}
	st->row = st->nrows;
	return DB_DONE;
}

static int pg_column_count(struct db_stmt *sb)
{
	struct pg_stmt *st = PGST(sb);
	if (st->res)
		return PQnfields(st->res);
	if (!connected(PG(sb->db)) || !prepare_again(PG(sb->db), st))
		return 0;
	PGresult *d = PQdescribePrepared(PG(sb->db)->c, st->name);
	int n = d && PQresultStatus(d) == PGRES_COMMAND_OK ? PQnfields(d) : 0;
	PQclear(d);
	return n;
}

static bool has_cell(struct pg_stmt *st, int i)
{
	return st->res && st->row >= 0 && st->row < st->nrows && i >= 0 && i < PQnfields(st->res);
}

static const char *pg_col_text(struct db_stmt *sb, int i)
{
	struct pg_stmt *st = PGST(sb);
	return has_cell(st, i) ? PQgetvalue(st->res, st->row, i) : "";
}

static int64_t pg_col_int(struct db_stmt *sb, int i)
{
	struct pg_stmt *st = PGST(sb);
	if (!has_cell(st, i) || PQgetisnull(st->res, st->row, i))
		return 0;
	const char *v = PQgetvalue(st->res, st->row, i);
	/* A boolean expression reads as 1 or 0, as in SQLite. */
	if (!strcmp(v, "t"))
		return 1;
	if (!strcmp(v, "f"))
		return 0;
	return strtoll(v, NULL, 10);
}

static bool pg_col_null(struct db_stmt *sb, int i)
{
	struct pg_stmt *st = PGST(sb);
	return !has_cell(st, i) || PQgetisnull(st->res, st->row, i);
}

/* Results come as text: a bytea is "\\x" and hex (or the old escape format), which
 * PQunescapeBytea decodes either way. */
static const void *pg_col_blob(struct db_stmt *sb, int i, size_t *n)
{
	struct pg_stmt *st = PGST(sb);
	*n = 0;
	clear_blob(st);
	if (!has_cell(st, i) || PQgetisnull(st->res, st->row, i))
		return NULL;
	st->blob = PQunescapeBytea((const unsigned char *)PQgetvalue(st->res, st->row, i), n);
	if (!st->blob) {
		*n = 0;
		snprintf(PG(sb->db)->err, sizeof PG(sb->db)->err, "cannot decode a bytea value");
		return NULL;
	}
	return st->blob;
}

static const char *pg_query_plan(struct db *base, struct arena *a, const char *sql)
{
	/* Prepared past the cache (the text is built, and used once); every parameter NULL. */
	struct pg_db *db = PG(base);
	if (!connected(db))
		return NULL;
	int n;
	char *text = number_params(arena_printf(a, "EXPLAIN %s", sql), &n);
	db_count_statement();
	PGresult *res = PQprepare(db->c, "", text, n, NULL);
	free(text);
	enum db_rc rc = result_rc(db, res);
	PQclear(res);
	if (rc != DB_OK)
		return NULL;
	const char **vals = arena_alloc(a, sizeof *vals * (size_t)(n ? n : 1));
	for (int i = 0; i < n; i++)
		vals[i] = NULL;
	db_count_statement();
	res = PQexecPrepared(db->c, "", n, vals, NULL, NULL, 0);
	if (result_rc(db, res) != DB_OK) {
		PQclear(res);
		return NULL;
	}
	const char *all = "";
	for (int r = 0; r < PQntuples(res); r++) {
		const char *line = PQgetvalue(res, r, 0);
		while (*line == ' ')
			line++;
		all = *all ? arena_printf(a, "%s | %s", all, line) : arena_strdup(a, line);
	}
	PQclear(res);
	return all;
}

static int64_t pg_changes(struct db *db)
{
	return PG(db)->changes;
}

static enum db_rc pg_exec(struct db *base, const char *sql)
{
	struct pg_db *db = PG(base);
	if (!connected(db))
		return DB_ERR;
	if (db->begin_due && send_begin(db) != DB_OK)
		return DB_ERR;
	no_more_waiting(db);
	db_count_statement();
	PGresult *res = PQexec(db->c, sql);
	enum db_rc rc = result_rc(db, res);
	PQclear(res);
	note_state(db);
	if (rc == DB_OK)
		log_sql(db, sql);
	return rc;
}

static enum db_rc pg_begin(struct db *db)
{
	return pg_exec(db, "BEGIN");
}

static enum db_rc pg_begin_write(struct db *db)
{
	/* No lock up front (db.h): PostgreSQL's writers lock the rows they change. Marked as
	 * writing, so that db_give_up_waiting cancels what it waits for. BEGIN goes with the first
	 * statement (see the header). */
	struct pg_db *pdb = PG(db);
	pdb->begin_due = !pdb->in_tx; /* in one already: as a BEGIN there, nothing to do */
	atomic_store(&pdb->writing, true);
	return DB_OK;
}

static enum db_rc pg_commit(struct db *base)
{
	struct pg_db *db = PG(base);
	atomic_store(&db->writing, false);
	if (db->begin_due) { /* nothing ran: nothing to commit */
		db->begin_due = false;
		return DB_OK;
	}
	if (db->lost || PQstatus(db->c) != CONNECTION_OK || !db->in_tx) {
		/* Lost before: rolled back by the server. Not in a transaction: a COMMIT would only
		 * warn, and its changes (if any) were committed one by one, or lost. */
		set_err(db, db->in_tx || db->lost
				? "the connection to PostgreSQL was lost in the middle of a transaction"
				: "COMMIT without a transaction");
		db->lost = db->in_tx = false;
		return DB_ERR;
	}
	db_count_statement();
	PGresult *res = PQexec(db->c, "COMMIT");
	enum db_rc rc = result_rc(db, res);
	/* COMMIT of a transaction an error spoiled succeeds as a ROLLBACK: not a commit. */
	if (rc == DB_OK && !strcmp(PQcmdStatus(res), "ROLLBACK")) {
		set_err(db, "the transaction failed before its commit and was rolled back");
		rc = DB_ERR;
	}
	if (rc != DB_OK && PQstatus(db->c) != CONNECTION_OK)
		set_err(db, "the connection to PostgreSQL was lost during COMMIT: the outcome is unknown");
	PQclear(res);
	db->lost = false;
	note_state(db);
	db->in_tx = false;
	return rc;
}

static enum db_rc pg_rollback(struct db *base)
{
	struct pg_db *db = PG(base);
	atomic_store(&db->writing, false);
	if (db->begin_due) { /* nothing ran: nothing to roll back */
		db->begin_due = false;
		return DB_OK;
	}
	if (db->lost || PQstatus(db->c) != CONNECTION_OK) {
		db->lost = db->in_tx = false; /* the server rolled back when the connection ended */
		return DB_OK;
	}
	enum db_rc rc = pg_exec(base, "ROLLBACK");
	db->in_tx = false;
	return rc;
}

static enum db_rc pg_checkpoint(struct db *db)
{
	(void)db; /* the server checkpoints by itself */
	return DB_OK;
}

static void pg_interrupt(struct db *base)
{
	char buf[256];
	pthread_mutex_lock(&PG(base)->cancel_lock);
	if (PG(base)->cancel)
		PQcancel(PG(base)->cancel, buf, sizeof buf);
	pthread_mutex_unlock(&PG(base)->cancel_lock);
}

/* Migrations: one process at a time, under a transaction-level advisory lock taken inside the
 * transaction that applies them (released by its commit or rollback). */
static bool pg_locked(struct db *db, bool (*fn)(struct db *db, void *arg), void *arg, char *err, size_t errlen)
{
	if (pg_exec(db, "BEGIN; SELECT pg_advisory_xact_lock(" MIGRATION_LOCK ")") != DB_OK) {
		snprintf(err, errlen, "cannot lock the database: %s", pg_errmsg(db));
		pg_rollback(db);
		return false;
	}
	if (!fn(db, arg)) {
		pg_rollback(db);
		return false;
	}
	if (pg_commit(db) != DB_OK) {
		snprintf(err, errlen, "cannot commit migrations: %s", pg_errmsg(db));
		return false;
	}
	return true;
}

static void quiet(void *arg, const char *message)
{
	(void)arg, (void)message; /* notices ("no transaction in progress") are not errors */
}

static void pg_close(struct db *base)
{
	struct pg_db *db = PG(base);
	pthread_mutex_lock(&open_lock);
	for (struct pg_db **p = &open_list; *p; p = &(*p)->next) {
		if (*p == db) {
			*p = db->next;
			break;
		}
	}
	pthread_mutex_unlock(&open_lock);
	for (int i = 0; i < STMT_CACHE; i++)
		if (db->cache[i])
			free_stmt(db->cache[i]);
	if (db->cancel)
		PQfreeCancel(db->cancel);
	pthread_mutex_destroy(&db->cancel_lock);
	PQfinish(db->c);
	if (db->log_fd >= 0)
		close(db->log_fd);
	free(db);
}

static enum db_rc pg_open(const char *url, struct db **out, char *err, size_t errlen)
{
	struct pg_db *db = xcalloc(1, sizeof *db);
	db->base.drv = &db_pg_driver;
	db->log_fd = -1;
	pthread_mutex_init(&db->cancel_lock, NULL);
	/* A server that does not answer at all is given up after 5 s (the URL may say otherwise). */
	const char *const keys[] = {"connect_timeout", "dbname", NULL};
	const char *const vals[] = {"5", url, NULL};
	db->c = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(db->c) != CONNECTION_OK) {
		char shown[512];
		db_target_display(url, shown, sizeof shown);
		snprintf(err, errlen, "cannot connect to %s: %s", shown, PQerrorMessage(db->c));
		size_t n = strlen(err);
		while (n && err[n - 1] == '\n')
			err[--n] = 0;
		pg_close(&db->base);
		return DB_ERR;
	}
	PQsetNoticeProcessor(db->c, quiet, NULL);
	const char *log = getenv("SPRAVKA_PG_SQL_LOG");
	if (log && *log)
		db->log_fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (!set_up(db)) {
		snprintf(err, errlen, "cannot set up the connection: %s", db->err);
		pg_close(&db->base);
		return DB_ERR;
	}
	pthread_mutex_lock(&open_lock);
	db->next = open_list;
	open_list = db;
	pthread_mutex_unlock(&open_lock);
	*out = &db->base;
	return DB_OK;
}

const struct db_driver db_pg_driver = {
    .engine = DB_POSTGRES,
    .open = pg_open,
    .close = pg_close,
    .errmsg = pg_errmsg,
    .prepare = pg_prepare,
    .finalize = pg_finalize,
    .reset = pg_reset,
    .bind_text = pg_bind_text,
    .bind_int = pg_bind_int,
    .bind_null = pg_bind_null,
    .bind_blob = pg_bind_blob,
    .step = pg_step,
    .column_count = pg_column_count,
    .col_text = pg_col_text,
    .col_int = pg_col_int,
    .col_null = pg_col_null,
    .col_blob = pg_col_blob,
    .query_plan = pg_query_plan,
    .changes = pg_changes,
    .exec = pg_exec,
    .begin = pg_begin,
    .begin_write = pg_begin_write,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .checkpoint = pg_checkpoint,
    .interrupt = pg_interrupt,
    .locked = pg_locked,
};

/* ---- LISTEN (db_listen) ---- */

struct db_listener {
	char *url, *listen_sql;
	void (*wake)(void *arg, bool missed);
	void *arg;
	int stop[2]; /* a byte written to stop[1] stops the thread */
	pthread_t thread;
	PGconn *c;
};

/* A connection that LISTENs, or NULL with the message in err. */
static PGconn *listen_connect(struct db_listener *l, char *err, size_t errlen)
{
	/* Named, so that an operator (and the tests) can tell it in pg_stat_activity. */
	const char *const keys[] = {"connect_timeout", "dbname", "application_name", NULL};
	const char *const vals[] = {"5", l->url, "spravka-listen", NULL};
	PGconn *c = PQconnectdbParams(keys, vals, 1);
	PGresult *res = NULL;
	if (PQstatus(c) == CONNECTION_OK) {
		PQsetNoticeProcessor(c, quiet, NULL);
		res = PQexec(c, l->listen_sql);
		if (res && PQresultStatus(res) == PGRES_COMMAND_OK) {
			PQclear(res);
			return c;
		}
	}
	snprintf(err, errlen, "cannot listen for changes: %s", res ? PQresultErrorMessage(res) : PQerrorMessage(c));
	size_t n = strlen(err);
	while (n && err[n - 1] == '\n')
		err[--n] = 0;
	PQclear(res);
	PQfinish(c);
	return NULL;
}

/* Waits up to ms for the stop byte; true when it came. */
static bool listen_stopped(struct db_listener *l, int ms)
{
	struct pollfd p = {.fd = l->stop[0], .events = POLLIN};
	return poll(&p, 1, ms) > 0;
}

static void *listen_main(void *arg)
{
	struct db_listener *l = arg;
	int backoff = 100;
	pthread_setname_np(pthread_self(), "spravka-listen");
	for (;;) {
		if (!l->c) {
			char err[512];
			if (!(l->c = listen_connect(l, err, sizeof err))) {
				if (listen_stopped(l, backoff))
					break;
				backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
				continue;
			}
			backoff = 100;
			l->wake(l->arg, true); /* what changed while nobody listened is not known */
		}
		struct pollfd p[2] = {{.fd = l->stop[0], .events = POLLIN}, {.fd = PQsocket(l->c), .events = POLLIN}};
		int n = poll(p, 2, 5000);
		if (n > 0 && p[0].revents)
			break;
		bool alive;
		if (n == 0) { /* quiet for 5 s: is the server still there? */
			PGresult *res = PQexec(l->c, "SELECT 1");
			alive = res && PQresultStatus(res) == PGRES_TUPLES_OK;
			PQclear(res);
		} else {
			alive = PQconsumeInput(l->c) == 1;
		}
		bool got = false;
		for (PGnotify *note; (note = PQnotifies(l->c));) {
			PQfreemem(note);
			got = true;
		}
		if (got)
			l->wake(l->arg, false);
		if (!alive || PQstatus(l->c) != CONNECTION_OK) {
			PQfinish(l->c);
			l->c = NULL;
		}
	}
	return NULL;
}

struct db_listener *db_pg_listen(const char *url, const char *channel, void (*wake)(void *arg, bool missed), void *arg,
				 char *err, size_t errlen)
{
	struct db_listener *l = xcalloc(1, sizeof *l);
	l->url = xstrdup(url);
	l->listen_sql = xmalloc(strlen(channel) + 16);
	sprintf(l->listen_sql, "LISTEN %s", channel); /* a literal of the program (db.h) */
	l->wake = wake;
	l->arg = arg;
	l->stop[0] = l->stop[1] = -1;
	if (!(l->c = listen_connect(l, err, errlen)) || pipe2(l->stop, O_CLOEXEC) != 0 ||
	    pthread_create(&l->thread, NULL, listen_main, l) != 0) {
		if (l->c && !*err)
			snprintf(err, errlen, "cannot start the listener thread");
		if (l->c)
			PQfinish(l->c);
		if (l->stop[0] >= 0)
			close(l->stop[0]), close(l->stop[1]);
		free(l->listen_sql);
		free(l->url);
		free(l);
		return NULL;
	}
	return l;
}

void db_listen_stop(struct db_listener *l)
{
	if (!l)
		return;
	ssize_t w = write(l->stop[1], "x", 1);
	(void)w;
	pthread_join(l->thread, NULL);
	if (l->c)
		PQfinish(l->c);
	close(l->stop[0]);
	close(l->stop[1]);
	free(l->listen_sql);
	free(l->url);
	free(l);
}
