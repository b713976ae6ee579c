/* Daily counts of article views and request forms served. See insights.h. */
#include "insights.h"

#include "../core/arena.h"
#include "../db/db.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROBES 16
/* Upserts a transaction (insights_flush). */
#define FLUSH_CHUNK 100

struct slot {
	uint64_t hash; /* 0: free */
	int kind;
	int64_t n;
	char key[INSIGHTS_KEY_MAX + 1];
};

struct insights {
	pthread_mutex_t lock;
	int used;
	long dropped;
	struct slot slots[INSIGHTS_SLOTS];
};

struct insights *insights_new(void)
{
	struct insights *s = xcalloc(1, sizeof *s);
	pthread_mutex_init(&s->lock, NULL);
	return s;
}

void insights_free(struct insights *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* FNV-1a of kind and key, never 0. */
static uint64_t hash_of(int kind, const char *key)
{
	uint64_t h = 1469598103934665603ull ^ (uint64_t)kind;
	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 1099511628211ull;
	return h | 1;
}

void insights_count(struct insights *s, enum insights_kind kind, const char *key)
{
	if (!s || !key || strlen(key) > INSIGHTS_KEY_MAX)
		return;
	uint64_t h = hash_of((int)kind, key);
	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < PROBES; i++) {
		struct slot *x = &s->slots[(h + (uint64_t)i) % INSIGHTS_SLOTS];
		if (x->hash == 0) {
			*x = (struct slot){.hash = h, .kind = (int)kind};
			strcpy(x->key, key);
			s->used++;
		}
		if (x->hash == h && x->kind == (int)kind && !strcmp(x->key, key)) {
			x->n++;
			pthread_mutex_unlock(&s->lock);
			return;
		}
	}
	s->dropped++;
	pthread_mutex_unlock(&s->lock);
}

long insights_dropped(struct insights *s)
{
	pthread_mutex_lock(&s->lock);
	long n = s->dropped;
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* A view counts for a published article only (its general text's row, by primary key). */
const char insights_view_sql[] =
    "INSERT INTO insight_counts(kind, day, key, n) SELECT 'view', ?, slug, ? FROM articles WHERE slug = ? AND "
    "country = '' ON CONFLICT (kind, day, key) DO UPDATE SET n = insight_counts.n + excluded.n";
const char insights_form_sql[] = "INSERT INTO insight_counts(kind, day, key, n) VALUES ('request_form', ?, ?, ?) "
				 "ON CONFLICT (kind, day, key) DO UPDATE SET n = insight_counts.n + excluded.n";

static const char *kind_name(enum insights_kind k)
{
	return k == INSIGHTS_VIEW ? "view" : "request_form";
}

bool insights_flush(struct insights *s, struct db *db, int64_t now)
{
	pthread_mutex_lock(&s->lock);
	int n = 0;
	struct slot *taken = NULL;
	if (s->used) {
		taken = xmalloc((size_t)s->used * sizeof *taken);
		for (int i = 0; i < INSIGHTS_SLOTS; i++)
			if (s->slots[i].hash)
				taken[n++] = s->slots[i];
		memset(s->slots, 0, sizeof s->slots);
		s->used = 0;
	}
	pthread_mutex_unlock(&s->lock);
	if (!n)
		return true;
	time_t t = (time_t)now;
	struct tm tm;
	gmtime_r(&t, &tm);
	char day[16];
	strftime(day, sizeof day, "%Y-%m-%d", &tm);
	/* In transactions of at most FLUSH_CHUNK upserts: each holds SQLite's write lock for about a
	 * millisecond, so that a request's creation never waits long behind the counts (4,096 keys
	 * in one transaction held it for tens of milliseconds under load). */
	bool ok = true;
	for (int at = 0; ok && at < n; at += FLUSH_CHUNK) {
		int end = at + FLUSH_CHUNK < n ? at + FLUSH_CHUNK : n;
		if (at)
			db_write_pause(db); /* the request writer's turn */
		ok = db_begin_write(db) == DB_OK;
		struct db_stmt *view = ok ? db_prepare(db, insights_view_sql) : NULL;
		struct db_stmt *form = ok ? db_prepare(db, insights_form_sql) : NULL;
		bool began = ok;
		ok = ok && view && form;
		for (int i = at; ok && i < end; i++) {
			if (taken[i].kind == INSIGHTS_VIEW) {
				db_reset(view);
				db_bind_text(view, 1, day);
				db_bind_int(view, 2, taken[i].n);
				db_bind_text(view, 3, taken[i].key);
				ok = db_step(view) == DB_DONE;
			} else {
				db_reset(form);
				db_bind_text(form, 1, day);
				db_bind_text(form, 2, taken[i].key);
				db_bind_int(form, 3, taken[i].n);
				ok = db_step(form) == DB_DONE;
			}
		}
		db_finalize(view);
		db_finalize(form);
		if (ok)
			ok = db_commit(db) == DB_OK;
		else if (began)
			db_rollback(db);
	}
	free(taken);
	return ok;
}

/* Both read the primary key's range (kind, day). */
const char insights_total_sql[] = "SELECT COALESCE(sum(n), 0) FROM insight_counts WHERE kind = ? AND day >= ?";
const char insights_top_sql[] = "SELECT key, sum(n) FROM insight_counts WHERE kind = ? AND day >= ? GROUP BY key "
				"ORDER BY sum(n) DESC, key LIMIT ?";

int64_t insights_total(struct db *db, enum insights_kind kind, const char *since)
{
	struct db_stmt *st = db_prepare(db, insights_total_sql);
	int64_t n = st && db_bind_text(st, 1, kind_name(kind)) == DB_OK && db_bind_text(st, 2, since) == DB_OK &&
			    db_step(st) == DB_ROW
			? db_col_int(st, 0)
			: -1;
	db_finalize(st);
	return n;
}

int insights_top(struct db *db, struct arena *a, enum insights_kind kind, const char *since, int limit,
		 struct insights_key **out)
{
	*out = NULL;
	struct db_stmt *st = db_prepare(db, insights_top_sql);
	if (!st)
		return -1;
	db_bind_text(st, 1, kind_name(kind));
	db_bind_text(st, 2, since);
	db_bind_int(st, 3, limit);
	size_t n = 0, cap = 0;
	struct insights_key *r = NULL;
	enum db_rc rc;
	while ((rc = db_step(st)) == DB_ROW) {
		r = arena_grow(a, r, n, &cap, sizeof *r);
		r[n++] = (struct insights_key){arena_strdup(a, db_col_text(st, 0)), db_col_int(st, 1)};
	}
	db_finalize(st);
	if (rc != DB_DONE)
		return -1;
	*out = r;
	return (int)n;
}
