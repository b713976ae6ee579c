/*
 * db_int — what the drivers of db.h share. Private to src/db.
 *
 * db.c implements the public functions once: it dispatches each call through the connection's
 * driver table, and owns what does not depend on the engine (the pool, the migrations' order and
 * the refusal of a newer schema). A driver (db_sqlite.c, db_pg.c) embeds struct db and struct
 * db_stmt as the first members of its own structs.
 */
#ifndef SPRAVKA_DB_INT_H
#define SPRAVKA_DB_INT_H

#include "db.h"

struct db_driver {
	enum db_engine engine;
	/* Opens one connection; no migrations. */
	enum db_rc (*open)(const char *target, struct db **out, char *err, size_t errlen);
	void (*close)(struct db *db);
	const char *(*errmsg)(struct db *db);
	struct db_stmt *(*prepare)(struct db *db, const char *sql);
	void (*finalize)(struct db_stmt *st);
	void (*reset)(struct db_stmt *st);
	enum db_rc (*bind_text)(struct db_stmt *st, int idx, const char *s);
	enum db_rc (*bind_int)(struct db_stmt *st, int idx, int64_t v);
	enum db_rc (*bind_null)(struct db_stmt *st, int idx);
	enum db_rc (*bind_blob)(struct db_stmt *st, int idx, const void *p, size_t n);
	enum db_rc (*step)(struct db_stmt *st);
	int (*column_count)(struct db_stmt *st);
	const char *(*col_text)(struct db_stmt *st, int i);
	int64_t (*col_int)(struct db_stmt *st, int i);
	bool (*col_null)(struct db_stmt *st, int i);
	const void *(*col_blob)(struct db_stmt *st, int i, size_t *n);
	const char *(*query_plan)(struct db *db, struct arena *a, const char *sql);
	int64_t (*changes)(struct db *db);
	enum db_rc (*exec)(struct db *db, const char *sql);
	enum db_rc (*begin)(struct db *db);
	enum db_rc (*begin_write)(struct db *db);
	enum db_rc (*commit)(struct db *db);
	enum db_rc (*rollback)(struct db *db);
	enum db_rc (*checkpoint)(struct db *db);
	/* Stops the statement running now on db (callable from another thread). */
	void (*interrupt)(struct db *db);
	/*
	 * Runs fn(db, arg) with the migration lock held: the schema is changed by one process at a
	 * time however many start together (SQLite: a write transaction, BEGIN IMMEDIATE;
	 * PostgreSQL: pg_advisory_lock, then a transaction). fn runs inside the transaction, which
	 * is committed when fn returns true and rolled back otherwise.
	 */
	bool (*locked)(struct db *db, bool (*fn)(struct db *db, void *arg), void *arg, char *err, size_t errlen);
};

struct db {
	const struct db_driver *drv;
};

struct db_stmt {
	struct db *db;
};

extern const struct db_driver db_sqlite_driver;
extern const struct db_driver db_pg_driver;

/* Counts one statement for db_thread_statements: called by the drivers where one is sent
 * (PostgreSQL: each PQexec, PQprepare, PQexecPrepared; SQLite: each statement started). */
void db_count_statement(void);

/* The give-up flag of db_give_up_waiting, read by the drivers. */
bool db_giving_up(void);
/* db_give_up_waiting's part in the PostgreSQL driver: cancels the statements of the
 * connections in a write transaction (db_begin_write), the waits for a row lock among them. */
void db_pg_give_up_waiting(void);

/* db_listen's PostgreSQL half, and db_listen_stop. */
struct db_listener *db_pg_listen(const char *url, const char *channel, void (*wake)(void *arg, bool missed), void *arg,
				 char *err, size_t errlen);

#endif
