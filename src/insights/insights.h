/*
 * insights — daily counts for the editors' reports (issue #10): article views and request forms
 * served. Owns the `insight_counts` table (migration 20): one row per (kind, UTC day, key) with
 * its count.
 *
 * Counting costs a page nothing but a short lock: insights_count adds to a fixed table in memory
 * (INSIGHTS_SLOTS keys; a key that finds no slot in the interval is counted as dropped), and the
 * maintenance thread writes the table once a second with insights_flush, one upsert per key
 * (in transactions of at most 100, so that the write lock is held briefly), under the UTC day of
 * the flush. Views of slugs that are not a published article are not written (the upsert reads
 * the article's row), so that requests for made-up slugs never grow the table.
 */
#ifndef SPRAVKA_INSIGHTS_H
#define SPRAVKA_INSIGHTS_H

#include <stdbool.h>
#include <stdint.h>

struct arena;
struct db;
struct insights;

#define INSIGHTS_SLOTS 4096
#define INSIGHTS_KEY_MAX 80

enum insights_kind {
	INSIGHTS_VIEW,	       /* key: the article's slug */
	INSIGHTS_REQUEST_FORM, /* key: "" (the request form served: a request form started) */
};

struct insights *insights_new(void);
void insights_free(struct insights *s);
/* Counts one event of kind with key (at most INSIGHTS_KEY_MAX bytes). */
void insights_count(struct insights *s, enum insights_kind kind, const char *key);
/* Events dropped since start (no free slot). */
long insights_dropped(struct insights *s);
/* Writes the counts under the UTC day of now, in transactions of at most 100 keys; false on a
 * database error (the counts not yet written are then lost). */
bool insights_flush(struct insights *s, struct db *db, int64_t now);

/* The sum of kind's counts from day since (YYYY-MM-DD, included); -1 on error. */
int64_t insights_total(struct db *db, enum insights_kind kind, const char *since);
struct insights_key {
	const char *key;
	int64_t n;
};
/* kind's keys with their sums from day since, the largest first (then by key), at most limit:
 * their number, -1 on error. */
int insights_top(struct db *db, struct arena *a, enum insights_kind kind, const char *since, int limit,
		 struct insights_key **out);
/* The statements (for the plans test). */
extern const char insights_total_sql[], insights_top_sql[], insights_view_sql[], insights_form_sql[];

#endif
