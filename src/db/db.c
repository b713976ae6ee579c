/*
 * The engine-independent half of db.h: the dispatch to a connection's driver, the pool, and the
 * order of the migrations (the drivers hold the lock; schema.c the texts per engine).
 */
#include "db_int.h"

#include "../core/arena.h"
#include "schema.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

enum db_engine db_target_engine(const char *target)
{
	return !strncasecmp(target, "postgres://", 11) || !strncasecmp(target, "postgresql://", 13) ? DB_POSTGRES
												    : DB_SQLITE;
}

static enum db_engine db_engine(struct db *db)
{
	return db->drv->engine;
}

const char *db_engine_sql(struct db *db, const char *sqlite, const char *postgres)
{
	return db_engine(db) == DB_POSTGRES ? postgres : sqlite;
}

int db_slot(void)
{
	static atomic_int next;
	static _Thread_local int slot = -1;
	if (slot < 0)
		slot = atomic_fetch_add(&next, 1) % DB_SLOTS;
	return slot;
}

void db_target_display(const char *target, char *out, size_t outlen)
{
	const char *scheme = strstr(target, "://");
	const char *at = scheme && db_target_engine(target) == DB_POSTGRES ? strrchr(scheme + 3, '@') : NULL;
	const char *colon = at ? memchr(scheme + 3, ':', (size_t)(at - (scheme + 3))) : NULL;
	if (!colon)
		snprintf(out, outlen, "%s", target);
	else
		snprintf(out, outlen, "%.*s:***%s", (int)(colon - target), target, at);
}

/* Any number, the same in every process; the migrations' lock is another (db_pg.c). */
#define START_LOCK 7572768211585643

/* Runs sql, a SELECT of one PostgreSQL function whose one parameter is key (text) or else n;
 * DB_OK at once on another engine. */
static enum db_rc pg_call(struct db *db, const char *sql, int64_t n, const char *key)
{
	if (db_engine(db) != DB_POSTGRES)
		return DB_OK;
	struct db_stmt *st = db_prepare(db, sql);
	if (!st)
		return DB_ERR;
	if (key)
		db_bind_text(st, 1, key);
	else
		db_bind_int(st, 1, n);
	enum db_rc rc = db_step(st);
	db_finalize(st);
	return rc == DB_ROW ? DB_OK : rc;
}

enum db_rc db_lock_start(struct db *db)
{
	return pg_call(db, "SELECT pg_advisory_lock(?)", START_LOCK, NULL);
}

enum db_rc db_unlock_start(struct db *db)
{
	return pg_call(db, "SELECT pg_advisory_unlock(?)", START_LOCK, NULL);
}

enum db_rc db_lock_key(struct db *db, const char *key)
{
	return pg_call(db, "SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", 0, key);
}

enum db_rc db_notify(struct db *db, const char *channel)
{
	if (db_engine(db) != DB_POSTGRES)
		return DB_OK;
	struct db_stmt *st = db_prepare(db, "SELECT pg_notify(?, '')");
	if (!st)
		return DB_ERR;
	db_bind_text(st, 1, channel);
	enum db_rc rc = db_step(st);
	db_finalize(st);
	return rc == DB_ROW ? DB_OK : rc;
}

struct db_listener *db_listen(const char *target, const char *channel, void (*wake)(void *arg, bool missed), void *arg,
			      char *err, size_t errlen)
{
	if (errlen)
		*err = 0;
	if (db_target_engine(target) != DB_POSTGRES)
		return NULL;
	return db_pg_listen(target, channel, wake, arg, err, errlen);
}

static atomic_bool give_up;

void db_give_up_waiting(void)
{
	atomic_store(&give_up, true);
	db_pg_give_up_waiting();
}

bool db_giving_up(void)
{
	return atomic_load(&give_up);
}

static _Thread_local uint64_t thread_statements;

void db_count_statement(void)
{
	thread_statements++;
}

uint64_t db_thread_statements(void)
{
	return thread_statements;
}

const char *db_errmsg(struct db *db)
{
	return db ? db->drv->errmsg(db) : "no database";
}

struct db_stmt *db_prepare(struct db *db, const char *sql)
{
	return db->drv->prepare(db, sql);
}

void db_finalize(struct db_stmt *st)
{
	if (st)
		st->db->drv->finalize(st);
}

void db_reset(struct db_stmt *st)
{
	st->db->drv->reset(st);
}

enum db_rc db_bind_text(struct db_stmt *st, int idx, const char *s)
{
	if (!s)
		return st->db->drv->bind_null(st, idx);
	return st->db->drv->bind_text(st, idx, s);
}

enum db_rc db_bind_int(struct db_stmt *st, int idx, int64_t v)
{
	return st->db->drv->bind_int(st, idx, v);
}

enum db_rc db_bind_null(struct db_stmt *st, int idx)
{
	return st->db->drv->bind_null(st, idx);
}

enum db_rc db_bind_blob(struct db_stmt *st, int idx, const void *p, size_t n)
{
	return st->db->drv->bind_blob(st, idx, p, n);
}

enum db_rc db_step(struct db_stmt *st)
{
	return st->db->drv->step(st);
}

int db_column_count(struct db_stmt *st)
{
	return st->db->drv->column_count(st);
}

const char *db_col_text(struct db_stmt *st, int i)
{
	return st->db->drv->col_text(st, i);
}

int64_t db_col_int(struct db_stmt *st, int i)
{
	return st->db->drv->col_int(st, i);
}

bool db_col_null(struct db_stmt *st, int i)
{
	return st->db->drv->col_null(st, i);
}

const void *db_col_blob(struct db_stmt *st, int i, size_t *n)
{
	return st->db->drv->col_blob(st, i, n);
}

const char *db_query_plan(struct db *db, struct arena *a, const char *sql)
{
	return db->drv->query_plan(db, a, sql);
}

enum db_rc db_ping(struct db *db)
{
	struct db_stmt *st = db_prepare(db, "SELECT 1");
	if (!st)
		return DB_ERR;
	enum db_rc rc = db_step(st);
	db_finalize(st);
	return rc == DB_ROW ? DB_OK : rc;
}

int64_t db_changes(struct db *db)
{
	return db->drv->changes(db);
}

enum db_rc db_exec(struct db *db, const char *sql)
{
	return db->drv->exec(db, sql);
}

enum db_rc db_begin(struct db *db)
{
	return db->drv->begin(db);
}

enum db_rc db_begin_write(struct db *db)
{
	return db->drv->begin_write(db);
}

enum db_rc db_commit(struct db *db)
{
	return db->drv->commit(db);
}

enum db_rc db_rollback(struct db *db)
{
	return db->drv->rollback(db);
}

enum db_rc db_checkpoint(struct db *db)
{
	return db->drv->checkpoint(db);
}

void db_write_pause(struct db *db)
{
	if (db_engine(db) == DB_SQLITE)
		usleep(DB_WRITE_PAUSE_US);
}

void db_close(struct db *db)
{
	if (db)
		db->drv->close(db);
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

struct migrate_ctx {
	char *err;
	size_t errlen;
};

/* Inside the driver's migration lock and transaction: the pending migrations in order. */
static bool migrate_locked(struct db *db, void *arg)
{
	struct migrate_ctx *m = arg;
	if (db_exec(db, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)") != DB_OK) {
		snprintf(m->err, m->errlen, "not a spravka database: %s", db_errmsg(db));
		return false;
	}
	int have = db_schema_version(db), latest = db_schema_latest();
	if (have > latest) {
		snprintf(m->err, m->errlen,
			 "the database has schema version %d, newer than this spravka knows (%d): "
			 "run a newer spravka or restore a backup",
			 have, latest);
		return false;
	}
	bool pg = db_engine(db) == DB_POSTGRES;
	for (int i = 0; i < schema_migration_count; i++) {
		const struct migration *mg = &schema_migrations[i];
		if (mg->version <= have)
			continue;
		const char *sql = pg ? mg->pg : mg->sql;
		struct db_stmt *st = NULL;
		if ((*sql && db_exec(db, sql) != DB_OK) ||
		    !(st = db_prepare(db, "INSERT INTO schema_version(version) VALUES (?)")) ||
		    db_bind_int(st, 1, mg->version) != DB_OK || db_step(st) != DB_DONE) {
			snprintf(m->err, m->errlen, "migration %d failed: %s", mg->version, db_errmsg(db));
			db_finalize(st);
			return false;
		}
		db_finalize(st);
	}
	return true;
}

static enum db_rc open_one(const char *target, bool run_migrations, struct db **out, char *err, size_t errlen)
{
	const struct db_driver *drv = db_target_engine(target) == DB_POSTGRES ? &db_pg_driver : &db_sqlite_driver;
	*out = NULL;
	struct db *db;
	enum db_rc rc = drv->open(target, &db, err, errlen);
	if (rc != DB_OK)
		return rc;
	struct migrate_ctx m = {err, errlen};
	if (run_migrations && !drv->locked(db, migrate_locked, &m, err, errlen)) {
		db_close(db);
		return DB_ERR;
	}
	*out = db;
	return DB_OK;
}

enum db_rc db_open(const char *target, struct db **out, char *err, size_t errlen)
{
	return open_one(target, true, out, err, errlen);
}

struct db_pool {
	pthread_mutex_t lock;
	pthread_cond_t freed;
	int size, nfree;
	struct db **all, **free_list;
};

enum db_rc db_pool_open(const char *target, int size, struct db_pool **out, char *err, size_t errlen)
{
	struct db_pool *p = xcalloc(1, sizeof *p);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->freed, NULL);
	p->all = xcalloc((size_t)size, sizeof(struct db *));
	p->free_list = xcalloc((size_t)size, sizeof(struct db *));
	for (int i = 0; i < size; i++) {
		if (open_one(target, i == 0, &p->all[i], err, errlen) != DB_OK) {
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
	/* The connections live until db_pool_close; the drivers' interrupts may be called from
	 * another thread while a connection is in use. */
	for (int i = 0; p && i < p->size; i++)
		p->all[i]->drv->interrupt(p->all[i]);
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
