/*
 * db — the one door to the database.
 *
 * A small driver interface: open, prepare, bind, step, read columns, transactions, and a pool of
 * connections for the server's threads. Two drivers implement it: SQLite (db_sqlite.c, the
 * default: one file in the data directory) and PostgreSQL (db_pg.c, libpq), so feature code never
 * includes sqlite3.h or libpq-fe.h. The engine is chosen by the target string given to db_open,
 * db_pool_open and db_group_start: a `postgres://` or `postgresql://` URL (libpq's connection
 * URI) is PostgreSQL, anything else is the SQLite data directory.
 *
 * SQL rules, so that both drivers accept the same text: parameters are written `?` and bound by
 * position from 1 (the PostgreSQL driver rewrites them to $n; no numbered ?1, a value needed twice
 * is bound twice); use only portable SQL: no AUTOINCREMENT, REPLACE INTO, INSERT OR IGNORE,
 * `a IS b` / `a IS NOT b` between values, ifnull, GROUP_CONCAT, date functions (compute the time
 * in C and bind it), LIMIT -1, double-quoted strings or rowid; `INSERT ... ON CONFLICT (...) DO
 * UPDATE`, RETURNING and partial indexes are fine in both. Every parameter must have a type
 * PostgreSQL can infer from the SQL around it (not `? IS NULL` alone, not a CASE of parameters
 * assigned to a typed column: decide in C and bind), and a value is bound with the type of its
 * column (db_bind_int for INTEGER/BIGINT, never a number as text). The SQLite-only migrations in
 * schema.c may use SQLite's functions; feature code may not.
 *
 * The SQL passed to db_prepare and db_exec is a string literal of the program (or a const array
 * initialised with one), never text built at run time, not even from constants: the statement
 * cache of a connection is keyed by the text's address (checked by content), so text built in a
 * buffer would take a cache slot per build, and no SQL can ever carry user input.
 *
 * Errors: functions return enum db_rc; DB_ERR carries a message in db_errmsg(). A statement
 * belongs to its connection and to one thread at a time.
 */
#ifndef SPRAVKA_DB_H
#define SPRAVKA_DB_H

#include "../core/workers.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct db;
struct db_stmt;
struct db_pool;

enum db_engine {
	DB_SQLITE,
	DB_POSTGRES,
};

/* The engine a target string names (see above). */
enum db_engine db_target_engine(const char *target);
/*
 * Of two statements that do one thing each in its engine's own way, the one for db's engine:
 * where the engines truly differ (a PostgreSQL sequence, which SQLite lacks), and only there.
 * Both are literals of the program, as db_prepare wants; the SQLite one is checked by the
 * SQLite tests (tests/sql_coverage.py knows it never runs on PostgreSQL).
 */
const char *db_engine_sql(struct db *db, const char *sqlite, const char *postgres);

/*
 * Spreading a hot counter. A row that every transaction of one kind changes (a count per status,
 * the hits of one address) makes concurrent transactions on PostgreSQL wait for each other's
 * commit, one at a time. Such a counter is kept in DB_SLOTS rows instead, summed when read, each
 * transaction changing the row of its thread's slot: db_slot() is 0..DB_SLOTS-1, fixed per
 * thread, different for the first DB_SLOTS threads of the process that ask.
 */
#define DB_SLOTS 16
int db_slot(void);
/* target as it may be shown (a log line, a printed command): a URL's password replaced by ***. */
void db_target_display(const char *target, char *out, size_t outlen);

enum db_rc {
	DB_OK = 0,
	DB_ROW,	       /* db_step: a row is ready */
	DB_DONE,       /* db_step: no more rows */
	DB_CONSTRAINT, /* a unique/foreign-key/check constraint failed */
	DB_BUSY,       /* the database stayed locked past the busy timeout */
	DB_ERR,	       /* anything else; see db_errmsg() */
};

/*
 * Opens the database named by target: SQLite in the directory target (created with the database
 * file if needed), or the PostgreSQL database of a postgres:// URL (which must exist). Applies
 * pending migrations (under a lock: several processes may start at once) and returns the
 * connection in *out. Fails with a message in err when the directory or server cannot be used,
 * the file is not a database, or its schema is newer than this program knows.
 */
enum db_rc db_open(const char *target, struct db **out, char *err, size_t errlen);
void db_close(struct db *db);
const char *db_errmsg(struct db *db);

/* Prepares one statement; NULL on error (db_errmsg tells why). Free with db_finalize. */
struct db_stmt *db_prepare(struct db *db, const char *sql);
void db_finalize(struct db_stmt *st);
/* Resets a statement for another run with new bindings. */
void db_reset(struct db_stmt *st);
enum db_rc db_bind_text(struct db_stmt *st, int idx, const char *s);
enum db_rc db_bind_int(struct db_stmt *st, int idx, int64_t v);
enum db_rc db_bind_null(struct db_stmt *st, int idx);
/* n bytes at p (any bytes, NUL included; copied) for a BLOB column (SQLite) or a BYTEA column
 * (PostgreSQL: sent in binary, so no escaping doubles it on the way). n = 0 binds an empty value,
 * not NULL. */
enum db_rc db_bind_blob(struct db_stmt *st, int idx, const void *p, size_t n);
/* DB_ROW, DB_DONE or an error. */
enum db_rc db_step(struct db_stmt *st);
int db_column_count(struct db_stmt *st);
/* Column i of the current row: "" for NULL; valid until the next step/reset/finalize. */
const char *db_col_text(struct db_stmt *st, int i);
int64_t db_col_int(struct db_stmt *st, int i);
bool db_col_null(struct db_stmt *st, int i);
/* Column i of the current row as bytes (a BLOB / BYTEA column), its length in *n: NULL with *n = 0
 * for NULL (an empty value is not NULL); valid until the next step/reset/finalize or the next
 * db_col_blob of st. PostgreSQL
 * sends it as hex text, decoded here into memory the statement owns: read a large value in
 * pieces (a row per piece), not whole. */
const void *db_col_blob(struct db_stmt *st, int i, size_t *n);

/*
 * The engine's plan for sql (SQLite: EXPLAIN QUERY PLAN, PostgreSQL: EXPLAIN; its lines joined
 * by " | "), in a's
 * memory, for `spravka explain` and the plans test; NULL with db_errmsg when sql does not
 * prepare. The statement is not cached and never run.
 */
struct arena;
const char *db_query_plan(struct db *db, struct arena *a, const char *sql);

/* Whether the database answers a trivial query on db now (PostgreSQL: the connection is made again
 * first if it broke, db_pg.c): DB_OK, or the error. For /healthz. */
enum db_rc db_ping(struct db *db);

/*
 * Statements the calling thread has run so far, on any connection: what a request costs the
 * database, for the metrics (the HTTP server reads it around each handler; work handed to
 * another thread is counted by the thread that runs it). PostgreSQL: one per round trip (each
 * execution, each prepare of a statement not yet cached on the connection, each db_exec, BEGIN,
 * COMMIT, ROLLBACK). SQLite, counted the same way: one per statement started (a db_step after
 * a prepare, a reset or the end of its rows), each db_exec, BEGIN, COMMIT, ROLLBACK.
 */
uint64_t db_thread_statements(void);

/* Rows changed by the last INSERT/UPDATE/DELETE on this connection. */
int64_t db_changes(struct db *db);
/* Runs SQL without parameters or rows (may hold several statements). */
enum db_rc db_exec(struct db *db, const char *sql);
/*
 * Transactions. db_begin_write starts a transaction that will write. SQLite: BEGIN IMMEDIATE, the
 * database's one write lock taken at once, so that a reader turning writer never fails midway.
 * PostgreSQL: a plain BEGIN (READ COMMITTED): writers lock only the rows they change, and a
 * conflict waits for the other transaction instead of failing; a wait for a lock is bounded by
 * lock_timeout (5 s, then DB_BUSY), as SQLite's busy handler bounds its wait.
 * Savepoints (db_exec "SAVEPOINT x" / "ROLLBACK TO SAVEPOINT x" / "RELEASE SAVEPOINT x") are
 * portable. On PostgreSQL a failed statement spoils the rest of its transaction (every later
 * statement fails until a rollback, to a savepoint or whole), and a COMMIT of such a
 * transaction reports DB_ERR.
 */
enum db_rc db_begin(struct db *db);
enum db_rc db_begin_write(struct db *db);
enum db_rc db_commit(struct db *db);
enum db_rc db_rollback(struct db *db);

/*
 * Copies what the log holds into the database file, without waiting for readers or writers
 * (SQLite: a PASSIVE WAL checkpoint; what readers still use is copied next time). Durability
 * does not depend on it: a commit is durable in the log. The server calls it five times a second
 * from its maintenance thread, so that no request's commit pays for a checkpoint (the automatic
 * one runs inside the commit that passes its size) and each page changed many times in that
 * time is written to the database file once.
 */
enum db_rc db_checkpoint(struct db *db);
/*
 * Between the transactions of a long background write (the search log's and the view counts'
 * flushes, in chunks): on SQLite a pause of DB_WRITE_PAUSE_US, so that a writer waiting for the
 * database's one write lock (a request's creation on the group committer, whose busy handler
 * polls at least every millisecond) takes it before the next chunk does; back-to-back chunks
 * starved it for tens of milliseconds under load. Nothing on PostgreSQL (row locks).
 */
#define DB_WRITE_PAUSE_US 2000
void db_write_pause(struct db *db);

/*
 * Copies the open database into the new file path while it stays in use (SQLite's online backup
 * API; the copy is consistent, as of one moment). PostgreSQL: DB_ERR (its backups are pg_dump's
 * job; `spravka backup` prints the command).
 */
enum db_rc db_backup(struct db *db, const char *path, char *err, size_t errlen);

/*
 * A lock across processes for work done once at start by whichever process comes first (the
 * demo import into an empty database): db_lock_start waits until no other process holds it.
 * PostgreSQL: a session-level pg_advisory_lock, released by db_unlock_start or by closing the
 * connection. SQLite: nothing to do (one server per data directory), always DB_OK.
 */
enum db_rc db_lock_start(struct db *db);
enum db_rc db_unlock_start(struct db *db);

/*
 * Inside a write transaction: waits until no other transaction holds key (any text) and holds it
 * until this transaction ends. What makes a check-then-insert safe when several processes write
 * at once (two nodes creating a request for one member, or replaying one Idempotency-Key): take
 * the keys before the check, always in the same order. PostgreSQL: pg_advisory_xact_lock on a
 * 64-bit hash of key (a deadlock between two transactions ends one of them with DB_BUSY).
 * SQLite: nothing to do, DB_OK (a write transaction already excludes every other writer).
 */
enum db_rc db_lock_key(struct db *db, const char *key);

/*
 * Change signals between the processes of one database, so that every server learns of a change
 * at once instead of at its next poll. db_notify, called inside the transaction that makes the
 * change, tells every listener of channel when (and only if) it commits. PostgreSQL: pg_notify.
 * SQLite: nothing to do, DB_OK (one server per data directory; it polls).
 */
enum db_rc db_notify(struct db *db, const char *channel);

struct db_listener;
/*
 * PostgreSQL: starts a thread with a connection of its own that LISTENs on channel (a literal
 * identifier of the program) and calls wake(arg, false) after each batch of notifications. When
 * the connection breaks, it connects again by itself (backoff 0.1 s doubling to 2 s) and then
 * calls wake(arg, true): notifications may have been missed meanwhile. An idle connection is
 * checked every 5 s. wake runs on the listener's thread and must not block. Returns NULL for SQLite
 * (nothing to listen to: no error, err is "") or when the thread cannot start or the first
 * connection fails (err says why).
 */
struct db_listener *db_listen(const char *target, const char *channel, void (*wake)(void *arg, bool missed), void *arg,
			      char *err, size_t errlen);
/* Stops the thread and closes its connection. NULL is fine. */
void db_listen_stop(struct db_listener *l);

/* Schema version this program writes, and the one in the open database. */
int db_schema_latest(void);
int db_schema_version(struct db *db);

/*
 * A fixed set of connections shared by threads. db_pool_get blocks until one is free; give it
 * back with db_pool_put. The pool owns the connections.
 */
enum db_rc db_pool_open(const char *target, int size, struct db_pool **out, char *err, size_t errlen);
struct db *db_pool_get(struct db_pool *p);
void db_pool_put(struct db_pool *p, struct db *db);
void db_pool_close(struct db_pool *p);
/*
 * Stops the statements running now on the pool's connections (from any thread): they fail
 * with DB_ERR, and a transaction they were in is rolled back. For the end of a shutdown's grace
 * period, so that a long query does not hold the shutdown. Statements started afterwards run.
 */
void db_pool_interrupt(struct db_pool *p);

/*
 * Group commit. Every durable write costs a flush of the log to disk (SQLite: an fdatasync of
 * the WAL) under the database's write lock, so writers one at a time are bounded by the disk's
 * flushes. A db_group is one writer thread with its own connection: it takes every job queued
 * since its last commit (at most 64), runs each inside one shared write transaction under a
 * savepoint of its own (a batch of one job needs none: its undo is a rollback), and commits them
 * all with one flush. Within a batch, jobs run one after
 * another in the order queued, so a job sees the changes of the jobs before it (a retry of the
 * same Idempotency-Key in the same batch is a replay, not a second request).
 */
struct db_job {
	struct work item; /* first: the group's queue (core/workers.h); its run is not used */
	/* Runs on the writer's connection inside the shared transaction; must not begin, commit
	 * or roll back. Returns false to undo its own changes (the other jobs keep theirs). */
	bool (*run)(struct db *db, struct db_job *job);
	/* Called on the writer thread after the commit: committed is false when the transaction
	 * failed, and then no change of any job of the batch was kept. db may be used for reads
	 * and autocommitted writes. */
	void (*done)(struct db *db, struct db_job *job, bool committed);
	/* Set by the group before done(): the statements run for the job (db_thread_statements):
	 * its savepoint, its own, and for the first job of a batch the batch's BEGIN and COMMIT,
	 * so that the jobs' sum is what the writer ran. For the metrics of the job's request. */
	uint64_t statements;
	/* A directory whose new entries the job's rows refer to (files renamed into it), or NULL:
	 * fsynced once per batch, before the commit, when a job kept its changes. */
	const char *sync_dir;
	uint64_t queued_us; /* set by db_group_submit (CLOCK_MONOTONIC): for db_group_stats */
};
struct db_group;
#define DB_GROUP_MAX_WRITERS 16
/* PostgreSQL's default: with no row that every creation changes, 4 writers made 1.8x the creations
 * of one with 8 clients, 8 writers about as many as 4 (docs/benchmarks.md, "Writers on PostgreSQL
 * without hot rows"). */
#define DB_GROUP_PG_WRITERS 4
/*
 * Opens the writers' connections to the database target (db_open) and starts their threads.
 * SQLite: one writer whatever writers says. PostgreSQL: writers threads (0: the default), each
 * with its connection, take batches from the one queue and commit them at once (PostgreSQL
 * flushes concurrent commits together); jobs of different batches then run concurrently, so
 * what must not race takes db_lock_key.
 */
enum db_rc db_group_start(const char *target, int writers, struct db_group **out, char *err, size_t errlen);
/* The number of writer threads. */
int db_group_writers(const struct db_group *g);
/* The writers ask for a CPU priority DB_GROUP_WRITER_BOOST nice steps above the process's
 * (allowed with CAP_SYS_NICE): true when they got it (known once a writer has started). */
#define DB_GROUP_WRITER_BOOST 5
bool db_group_raised(const struct db_group *g);
/* Queues a job; its done() is called exactly once, on the writer thread. */
void db_group_submit(struct db_group *g, struct db_job *job);
/* Runs the jobs still queued, then stops the thread and closes the connection. NULL is fine. */
void db_group_stop(struct db_group *g);
/*
 * What the writers did since the start (monotonic counters, read without a lock): batches and
 * jobs; the jobs' time from being queued to their batch starting (wait) and to its commit
 * (latency, also as a histogram over db_group_buckets_ms); the writers' own CPU time. For
 * /metrics: where a creation's time goes (waiting for the writer, or the writer's work).
 */
#define DB_GROUP_BUCKETS 10
extern const double db_group_buckets_ms[DB_GROUP_BUCKETS]; /* upper bounds; the last is +Inf */
struct db_group_stats {
	uint64_t batches, jobs, wait_us, latency_us, cpu_us;
	uint64_t latency_le[DB_GROUP_BUCKETS]; /* jobs whose latency is within each bound (not cumulative) */
};
void db_group_stats(const struct db_group *g, struct db_group_stats *out);
/*
 * The shutdown's deadline passed: every job not yet run, now or later, ends with
 * done(committed = false) without running. A batch already waiting for the write lock fails
 * too once db_give_up_waiting() is called as well. NULL is fine.
 */
void db_group_abandon(struct db_group *g);
/*
 * From now on every wait for the write lock, on every connection of the process, fails at once
 * (DB_BUSY) instead of waiting up to 5 s: the last step of a shutdown whose grace period ended
 * while someone else held the database. (PostgreSQL: write transactions begun from now on wait
 * at most a millisecond for a row lock.)
 */
void db_give_up_waiting(void);

#endif
