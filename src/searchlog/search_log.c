/*
 * The search log: every search from the portal's page and API (not the as-you-type requests)
 * is queued in memory and written by the maintenance thread once a second, in one transaction,
 * so that a search never waits for a disk write. A click on a result (/a/{slug}?sq=QUERY) is
 * queued the same way and attached to the latest search of that query that has no click yet
 * (result pages carry the query, not a per-search id, so that a page stays the same for the
 * same query and can be cached and revalidated). The queue is bounded: under overload, entries are dropped, never the
 * searches.
 *
 * Anonymous traffic cannot grow the table without bound: a client gets at most per_client_hour
 * entries per clock hour. The counts live in a fixed table of CLIENT_SLOTS counters in memory,
 * emptied when the hour changes, each under a SipHash of the client keyed with a random key made
 * at start (nobody can aim collisions, and no address is kept). A client that finds no free slot
 * within a few probes (more distinct clients this hour than the table holds) is not logged for
 * the rest of the hour: the log is a statistic, and the searches themselves are never refused.
 */
#include "search_log.h"

#include "../core/arena.h"
#include "../core/buf.h"
#include "../db/db.h"
#include "../search/analyze.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOG_MAX 4096
#define CLIENT_SLOTS 16384 /* of 16 bytes */
#define CLIENT_PROBES 16

enum entry_kind {
	E_SEARCH,
	E_CLICK,   /* clicked: the slug */
	E_REQUEST, /* visit created a support request */
	E_VIEW,	   /* visit opened the article clicked */
};

struct log_entry {
	int64_t id, at;
	char *query;   /* E_SEARCH, E_CLICK */
	char *clicked; /* E_CLICK, E_VIEW: the slug */
	char *visit;   /* E_SEARCH (or NULL), E_REQUEST, E_VIEW */
	int results, micros;
	enum entry_kind kind;
};

struct client_slot {
	uint64_t hash; /* 0: free */
	uint32_t count;
};

struct search_log {
	pthread_mutex_t lock;
	struct log_entry e[LOG_MAX];
	int n;
	long dropped, over_limit;
	int per_client_hour;
	int64_t hour; /* of the counts in clients */
	unsigned char key[crypto_shorthash_KEYBYTES];
	struct client_slot clients[CLIENT_SLOTS];
};

struct search_log *search_log_new(int per_client_hour)
{
	struct search_log *l = xcalloc(1, sizeof *l);
	pthread_mutex_init(&l->lock, NULL);
	if (sodium_init() < 0)
		abort();
	l->per_client_hour = per_client_hour;
	crypto_shorthash_keygen(l->key);
	return l;
}

/* Counts one entry of client in this hour; false when its hour is full. Under l->lock. */
static bool client_take(struct search_log *l, const char *client, int64_t now)
{
	if (now / 3600 != l->hour) {
		memset(l->clients, 0, sizeof l->clients);
		l->hour = now / 3600;
	}
	uint64_t h;
	crypto_shorthash((unsigned char *)&h, (const unsigned char *)client, strlen(client), l->key);
	h |= 1; /* never 0, the mark of a free slot */
	for (int i = 0; i < CLIENT_PROBES; i++) {
		struct client_slot *s = &l->clients[(h + (uint64_t)i) % CLIENT_SLOTS];
		if (s->hash == 0)
			s->hash = h;
		if (s->hash != h)
			continue;
		if (s->count >= (uint32_t)l->per_client_hour)
			return false;
		s->count++;
		return true;
	}
	return false;
}

static void clear(struct search_log *l)
{
	for (int i = 0; i < l->n; i++) {
		free(l->e[i].query);
		free(l->e[i].clicked);
		free(l->e[i].visit);
	}
	l->n = 0;
}

void search_log_free(struct search_log *l)
{
	if (!l)
		return;
	clear(l);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

/* The query as stored: digit runs of 5 or more and words with '@' masked (member IDs, phone
 * numbers and e-mail addresses are personal data). */
static char *mask(const char *q)
{
	struct buf b;
	buf_init(&b, 4096);
	for (const char *p = q; *p;) {
		size_t len = strcspn(p, " ");
		bool at = memchr(p, '@', len) != NULL;
		if (at) {
			buf_adds(&b, "<email>");
		} else {
			for (size_t i = 0; i < len;) {
				size_t d = 0;
				while (i + d < len && p[i + d] >= '0' && p[i + d] <= '9')
					d++;
				if (d >= 5) {
					buf_adds(&b, "<число>");
					i += d;
				} else if (d > 0) {
					buf_add(&b, p + i, d);
					i += d;
				} else {
					buf_addc(&b, p[i++]);
				}
			}
		}
		p += len;
		if (*p == ' ') {
			buf_addc(&b, ' ');
			p++;
		}
	}
	return buf_steal(&b, NULL);
}

bool search_log_add(struct search_log *l, const char *client, const char *query, int results, int micros)
{
	return search_log_add_visit(l, client, query, results, micros, NULL);
}

bool search_log_visit_valid(const char *visit)
{
	if (!visit || strlen(visit) != SEARCH_LOG_VISIT_LEN)
		return false;
	for (const char *p = visit; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		      *p == '_'))
			return false;
	return true;
}

bool search_log_add_visit(struct search_log *l, const char *client, const char *query, int results, int micros,
			  const char *visit)
{
	int64_t id;
	randombytes_buf(&id, sizeof id);
	id &= INT64_MAX; /* random, so that several nodes never collide */
	int64_t now = (int64_t)time(NULL);
	bool queued = false;
	pthread_mutex_lock(&l->lock);
	if (l->n >= LOG_MAX) {
		l->dropped++;
	} else if (!client_take(l, client ? client : "?", now)) {
		l->over_limit++;
	} else {
		l->e[l->n++] = (struct log_entry){.id = id,
						  .at = now,
						  .query = mask(query),
						  .results = results,
						  .micros = micros,
						  .visit = search_log_visit_valid(visit) ? xstrdup(visit) : NULL};
		queued = true;
	}
	pthread_mutex_unlock(&l->lock);
	return queued;
}

void search_log_click(struct search_log *l, const char *query, const char *slug)
{
	pthread_mutex_lock(&l->lock);
	if (l->n < LOG_MAX)
		l->e[l->n++] = (struct log_entry){.kind = E_CLICK, .query = mask(query), .clicked = xstrdup(slug)};
	else
		l->dropped++;
	pthread_mutex_unlock(&l->lock);
}

/* Queues a visit's event (E_REQUEST, or E_VIEW of slug). */
static void visit_event(struct search_log *l, enum entry_kind kind, const char *visit, const char *slug)
{
	if (!search_log_visit_valid(visit))
		return;
	int64_t now = (int64_t)time(NULL);
	pthread_mutex_lock(&l->lock);
	if (l->n < LOG_MAX)
		l->e[l->n++] = (struct log_entry){
		    .kind = kind, .at = now, .visit = xstrdup(visit), .clicked = slug ? xstrdup(slug) : NULL};
	else
		l->dropped++;
	pthread_mutex_unlock(&l->lock);
}

void search_log_visit_request(struct search_log *l, const char *visit)
{
	visit_event(l, E_REQUEST, visit, NULL);
}

void search_log_visit_view(struct search_log *l, const char *visit, const char *slug)
{
	visit_event(l, E_VIEW, visit, slug);
}

/* A click marks the latest unclicked search of its query (the partial index
 * search_log_unclicked finds it without a scan of the log). */
const char search_log_click_sql[] = "UPDATE search_log SET clicked = ? WHERE id = (SELECT id FROM search_log "
				    "WHERE query = ? AND clicked IS NULL ORDER BY at DESC LIMIT 1)";

/* A request created in a visit marks the visit's searches of the last SEARCH_LOG_VISIT_SECONDS
 * (through search_log_visit). */
const char search_log_requested_sql[] =
    "UPDATE search_log SET requested = 1 WHERE visit = ? AND at >= ? AND at <= ? AND requested = 0";
/* An article opened in a visit is the next article of the visit's recent searches that were not
 * clicked and have none yet. */
const char search_log_next_sql[] = "UPDATE search_log SET next_slug = ? WHERE visit = ? AND at >= ? AND at <= ? AND "
				   "next_slug IS NULL AND clicked IS NULL";

/* Rows written per transaction: each transaction holds the database's write lock (SQLite),
 * which request creations wait for; a second's searches in one transaction (thousands under
 * load) held it for tens of milliseconds. */
#define FLUSH_CHUNK 200

/* Writes e[0..n) in one transaction. */
static bool flush_chunk(struct db *db, const struct log_entry *e, int n)
{
	if (db_begin_write(db) != DB_OK)
		return false;
	struct db_stmt *ins = db_prepare(db, "INSERT INTO search_log(id, at, query, results, micros, visit) "
					     "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING");
	struct db_stmt *clk = db_prepare(db, search_log_click_sql);
	struct db_stmt *req = db_prepare(db, search_log_requested_sql);
	struct db_stmt *nxt = db_prepare(db, search_log_next_sql);
	bool ok = ins && clk && req && nxt;
	for (int i = 0; ok && i < n; i++) {
		struct db_stmt *st = e[i].kind == E_CLICK     ? clk
				     : e[i].kind == E_REQUEST ? req
				     : e[i].kind == E_VIEW    ? nxt
							      : ins;
		db_reset(st);
		switch (e[i].kind) {
		case E_SEARCH:
			db_bind_int(st, 1, e[i].id);
			db_bind_int(st, 2, e[i].at);
			db_bind_text(st, 3, e[i].query);
			db_bind_int(st, 4, e[i].results);
			db_bind_int(st, 5, e[i].micros);
			if (e[i].visit)
				db_bind_text(st, 6, e[i].visit);
			else
				db_bind_null(st, 6);
			break;
		case E_CLICK:
			db_bind_text(st, 1, e[i].clicked);
			db_bind_text(st, 2, e[i].query);
			break;
		case E_REQUEST:
			db_bind_text(st, 1, e[i].visit);
			db_bind_int(st, 2, e[i].at - SEARCH_LOG_VISIT_SECONDS);
			db_bind_int(st, 3, e[i].at);
			break;
		case E_VIEW:
			db_bind_text(st, 1, e[i].clicked);
			db_bind_text(st, 2, e[i].visit);
			db_bind_int(st, 3, e[i].at - SEARCH_LOG_VISIT_SECONDS);
			db_bind_int(st, 4, e[i].at);
			break;
		}
		ok = db_step(st) == DB_DONE;
	}
	db_finalize(ins);
	db_finalize(clk);
	db_finalize(req);
	db_finalize(nxt);
	if (ok)
		return db_commit(db) == DB_OK;
	db_rollback(db);
	return false;
}

bool search_log_flush(struct search_log *l, struct db *db)
{
	pthread_mutex_lock(&l->lock);
	int n = l->n;
	struct log_entry *e = NULL;
	if (n) {
		e = xmalloc((size_t)n * sizeof *e);
		memcpy(e, l->e, (size_t)n * sizeof *e);
		l->n = 0;
	}
	pthread_mutex_unlock(&l->lock);
	bool ok = true;
	for (int at = 0; ok && at < n; at += FLUSH_CHUNK) {
		if (at)
			db_write_pause(db); /* the request writer's turn */
		ok = flush_chunk(db, e + at, n - at < FLUSH_CHUNK ? n - at : FLUSH_CHUNK);
	}
	for (int i = 0; i < n; i++) {
		free(e[i].query);
		free(e[i].clicked);
		free(e[i].visit);
	}
	free(e);
	return ok;
}

/* The oldest first, through search_log_at. */
const char search_log_prune_sql[] =
    "DELETE FROM search_log WHERE id IN (SELECT id FROM search_log WHERE at < ? ORDER BY at LIMIT ?)";

int search_log_prune(struct db *db, int days, int max_rows)
{
	struct db_stmt *st = db_prepare(db, search_log_prune_sql);
	if (!st)
		return -1;
	db_bind_int(st, 1, (int64_t)time(NULL) - (int64_t)days * 86400);
	db_bind_int(st, 2, max_rows);
	int n = db_step(st) == DB_DONE ? (int)db_changes(db) : -1;
	db_finalize(st);
	return n;
}

/* ---- insights ---- */

/* By kind (enum search_log_kind); the range of `at` reads search_log_at. */
const char search_log_all_sql[] =
    "SELECT query, count(*) FROM search_log WHERE at >= ? GROUP BY query ORDER BY count(*) DESC, query LIMIT ?";
const char search_log_zero_sql[] = "SELECT query, count(*) FROM search_log WHERE at >= ? AND results = 0 GROUP BY "
				   "query ORDER BY count(*) DESC, query LIMIT ?";
/* COALESCE(clicked, '') = '' (a slug is never empty) rather than clicked IS NULL: with the latter
 * SQLite reads the whole partial index search_log_unclicked for the GROUP BY's order instead of
 * the days' range of search_log_at. */
const char search_log_no_click_sql[] =
    "SELECT query, count(*) FROM search_log WHERE at >= ? AND results > 0 AND "
    "COALESCE(clicked, '') = '' GROUP BY query ORDER BY count(*) DESC, query LIMIT ?";
const char search_log_requested_groups_sql[] = "SELECT query, count(*) FROM search_log WHERE at >= ? AND requested = 1 "
					       "GROUP BY query ORDER BY count(*) DESC, query LIMIT ?";
static const char *const groups_sql[] = {search_log_all_sql, search_log_zero_sql, search_log_no_click_sql,
					 search_log_requested_groups_sql};

/* The group of a stored query: its normalized words joined by one space ("" for none). */
static const char *group_key(struct arena *a, const char *q)
{
	struct buf b;
	buf_init(&b, 4096);
	char word[AN_MAX_WORD + 1];
	for (const char *p = q; *p;) {
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		const char *s = p;
		while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
			p++;
		if (p > s && an_normalize_word(s, (size_t)(p - s), word)) {
			if (b.len)
				buf_addc(&b, ' ');
			buf_adds(&b, word);
		}
	}
	const char *key = arena_strdup(a, buf_failed(&b) ? "" : buf_str(&b));
	buf_free(&b);
	return key;
}

static int by_key(const void *x, const void *y)
{
	return strcmp(((const struct search_log_group *)x)->query, ((const struct search_log_group *)y)->query);
}

static int by_count(const void *x, const void *y)
{
	const struct search_log_group *p = x, *q = y;
	if (p->count != q->count)
		return p->count > q->count ? -1 : 1;
	return strcmp(p->query, q->query);
}

int search_log_groups(struct db *db, struct arena *a, enum search_log_kind kind, int days, int max,
		      struct search_log_group **out)
{
	*out = NULL;
	if (kind < SEARCH_LOG_ALL || kind > SEARCH_LOG_REQUESTED || max <= 0)
		return 0;
	struct db_stmt *st = db_prepare(db, groups_sql[kind]);
	if (!st)
		return -1;
	db_bind_int(st, 1, (int64_t)time(NULL) - (int64_t)days * 86400);
	db_bind_int(st, 2, SEARCH_LOG_GROUPS_READ);
	size_t n = 0, cap = 256;
	struct search_log_group *g = malloc(cap * sizeof *g);
	enum db_rc rc;
	while (g && (rc = db_step(st)) == DB_ROW) {
		if (n == cap) {
			struct search_log_group *bigger = realloc(g, 2 * cap * sizeof *g);
			if (!bigger)
				break;
			g = bigger;
			cap *= 2;
		}
		const char *key = group_key(a, db_col_text(st, 0));
		if (*key)
			g[n++] = (struct search_log_group){key, db_col_int(st, 1)};
	}
	db_finalize(st);
	if (!g || rc != DB_DONE) {
		free(g);
		return -1;
	}
	/* The stored texts of one group are neighbours once sorted by key: add them up. */
	qsort(g, n, sizeof *g, by_key);
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		if (m && !strcmp(g[m - 1].query, g[i].query))
			g[m - 1].count += g[i].count;
		else
			g[m++] = g[i];
	}
	qsort(g, m, sizeof *g, by_count);
	if (m > (size_t)max)
		m = (size_t)max;
	*out = arena_alloc(a, (m ? m : 1) * sizeof **out);
	memcpy(*out, g, m * sizeof *g);
	free(g);
	return (int)m;
}

/* The failed searches' next articles, by stored text and slug (through search_log_at). */
const char search_log_next_articles_sql[] =
    "SELECT query, next_slug, count(*) FROM search_log WHERE at >= ? AND COALESCE(next_slug, '') <> '' GROUP BY "
    "query, next_slug ORDER BY count(*) DESC, query, next_slug LIMIT ?";

static int next_by_key(const void *x, const void *y)
{
	const struct search_log_next *p = x, *q = y;
	int c = strcmp(p->query, q->query);
	return c ? c : strcmp(p->slug, q->slug);
}

static int next_by_count(const void *x, const void *y)
{
	const struct search_log_next *p = x, *q = y;
	if (p->count != q->count)
		return p->count > q->count ? -1 : 1;
	return next_by_key(x, y);
}

int search_log_next_articles(struct db *db, struct arena *a, int days, int max, struct search_log_next **out)
{
	*out = NULL;
	if (max <= 0)
		return 0;
	struct db_stmt *st = db_prepare(db, search_log_next_articles_sql);
	if (!st)
		return -1;
	db_bind_int(st, 1, (int64_t)time(NULL) - (int64_t)days * 86400);
	db_bind_int(st, 2, SEARCH_LOG_GROUPS_READ);
	size_t n = 0, cap = 0;
	struct search_log_next *g = NULL;
	enum db_rc rc;
	while ((rc = db_step(st)) == DB_ROW) {
		const char *key = group_key(a, db_col_text(st, 0));
		if (!*key)
			continue;
		g = arena_grow(a, g, n, &cap, sizeof *g);
		g[n++] = (struct search_log_next){key, arena_strdup(a, db_col_text(st, 1)), db_col_int(st, 2)};
	}
	db_finalize(st);
	if (rc != DB_DONE)
		return -1;
	if (!n)
		return 0;
	qsort(g, n, sizeof *g, next_by_key);
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		if (m && !next_by_key(&g[m - 1], &g[i]))
			g[m - 1].count += g[i].count;
		else
			g[m++] = g[i];
	}
	qsort(g, m, sizeof *g, next_by_count);
	*out = g;
	return (int)(m > (size_t)max ? (size_t)max : m);
}

/* Visits are forgotten an hour after their searches (through search_log_at, a bounded range). */
const char search_log_forget_sql[] = "UPDATE search_log SET visit = NULL WHERE id IN (SELECT id FROM search_log WHERE "
				     "at >= ? AND at < ? AND visit IS NOT NULL LIMIT ?)";

int search_log_forget_visits(struct db *db, int max_rows)
{
	struct db_stmt *st = db_prepare(db, search_log_forget_sql);
	if (!st)
		return -1;
	int64_t now = (int64_t)time(NULL);
	db_bind_int(st, 1, now - SEARCH_LOG_FORGET_FROM);
	db_bind_int(st, 2, now - SEARCH_LOG_FORGET_AFTER);
	db_bind_int(st, 3, max_rows);
	int n = db_step(st) == DB_DONE ? (int)db_changes(db) : -1;
	db_finalize(st);
	return n;
}
