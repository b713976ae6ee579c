/*
 * search_cache — the answers of recent searches, kept in memory within a byte budget.
 *
 * People ask the same few hundred questions far more often than the rest (the search log's
 * head), and a search at 50,000 articles costs a millisecond of CPU while copying a kept answer
 * costs microseconds. The cache maps a query (text as cleaned, country, section, limit, offset,
 * snippets) and the generation of the index that answered it to that answer. It knows nothing
 * of the index: the caller passes the generation and bumps it (search_cache_clear) whenever the
 * index changes, so an answer from old content is never returned.
 *
 * Layout: 16 shards, each a table of slots under its own mutex; a query has one slot (direct
 * mapped), and a new answer replaces the slot's old one. An answer is one block of memory; the
 * sum of the blocks never exceeds the budget (an answer that would pass it is not kept). Blocks
 * are freed outside the locks. Safe from any thread.
 */
#ifndef SPRAVKA_SEARCH_RESULT_CACHE_H
#define SPRAVKA_SEARCH_RESULT_CACHE_H

#include "search.h"

#include <stddef.h>
#include <stdint.h>

struct arena;
struct search_cache;

/* A cache of at most budget bytes; NULL when budget is 0 (every function accepts NULL). */
struct search_cache *search_cache_new(size_t budget);
void search_cache_free(struct search_cache *c);
/* The answer to q under index generation gen, copied into a: true on a hit. */
bool search_cache_get(struct search_cache *c, uint64_t gen, const struct search_query *q, struct arena *a,
		      struct search_result *out);
/* Keeps r as the answer to q under generation gen (replacing the slot's answer). */
void search_cache_put(struct search_cache *c, uint64_t gen, const struct search_query *q,
		      const struct search_result *r);
/* Forgets every answer (the index changed). */
void search_cache_clear(struct search_cache *c);

struct search_cache_stats {
	size_t bytes, budget, entries;
	uint64_t hits, misses;
};
void search_cache_stats(struct search_cache *c, struct search_cache_stats *out);

#endif
