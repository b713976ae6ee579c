/*
 * cache — the page cache: finished answers by key, bounded by bytes, shared by every HTTP thread.
 * Private to http (http.c stores its prebuilt responses in it); knows nothing about HTTP.
 *
 * An entry is a key, a payload (the answer as the server first made it) and, attached later at
 * most once, an alternate form (its gzip form: page_entry_claim_alt / page_cache_attach_alt).
 * The caller says what a payload and an alternate form cost in bytes; the cache adds its own
 * struct and the key. Payloads are opaque: the release function given to page_cache_new frees
 * them (it is called for the payload and for the alternate form when there is one).
 *
 * Promises:
 * - Budget: the bytes of the entries held (page_cache_stats().bytes) are never above the budget
 *   once every page_cache_put / page_cache_attach_alt in progress has returned: each evicts what
 *   is needed before returning. An entry costing more than an eighth of the budget is not stored
 *   (so storing one never evicts more than an eighth of the cache). max_entries, when not 0, caps
 *   the number of entries the same way. A budget of 0 stores nothing.
 * - Eviction is CLOCK (second chance): a hit marks the entry; the hand of a shard passes over
 *   marked entries once (clearing the mark) and evicts unmarked ones, a few at a time, under
 *   that shard's write lock; at most EVICT_SCAN entries are looked at per step, after which the
 *   entry under the hand goes whatever its mark (so a step is bounded). There is never a global
 *   drop. New entries enter just behind the hand, unmarked: a page read once goes first.
 * - Entries are reference counted: page_cache_get returns a reference (page_entry_unref when
 *   done); an entry leaves the cache (eviction, clear) while references remain, and its memory
 *   is freed by the last unref, never under a cache lock.
 * - Shards: keys are spread over n_shards shards by hash, each with its own read-write lock;
 *   a lookup takes one shard's read lock for a hash-chain walk and two atomic operations. The
 *   budget is global; eviction takes shards in turn.
 * - page_cache_clear swaps every shard's table for an empty one, O(1) under each lock, and
 *   frees the old entries afterwards on the calling thread, outside every lock.
 * - Every function may be called from any thread at any time (except page_cache_free).
 */
#ifndef SPRAVKA_CACHE_H
#define SPRAVKA_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct page_cache;
struct page_entry;

typedef void (*page_release_fn)(void *payload);

/* budget in bytes; max_entries 0 = no cap on the count; n_shards >= 1 (rounded up to a power
 * of two, at most 64). */
struct page_cache *page_cache_new(size_t budget, size_t max_entries, int n_shards, page_release_fn release);
/* Frees the cache and every entry it holds (entries still referenced elsewhere live on until
 * their last unref). No other call may run at the same time. */
void page_cache_free(struct page_cache *c);

/* A hit: the entry, with a reference for the caller, marked for CLOCK. NULL on a miss. */
struct page_entry *page_cache_get(struct page_cache *c, const char *key);
/* A new entry for c holding one reference (the caller's); not in the cache yet. */
struct page_entry *page_entry_new(struct page_cache *c, const char *key, void *payload, size_t payload_bytes);
/* Whether an entry of that key length and payload size may be stored (the eighth rule). */
bool page_cache_fits(const struct page_cache *c, size_t key_len, size_t payload_bytes);
/* Stores e under its key, taking a reference of its own, and evicts what the budget needs.
 * False (nothing stored) when the key is already there (the existing entry is kept), when e does
 * not fit (page_cache_fits) or when the budget is 0. The caller's reference stays the caller's. */
bool page_cache_put(struct page_cache *c, struct page_entry *e);
/* Drops a reference; the last one frees the payload and the alternate form (with the release
 * function of the cache e was made for, which may be freed by then) and the entry. */
void page_entry_unref(struct page_entry *e);

void *page_entry_payload(const struct page_entry *e);
/* The alternate form, NULL until attached (or when attached as NULL). */
void *page_entry_alt(const struct page_entry *e);
/* True for exactly one caller per entry: that caller makes the alternate form and must call
 * page_cache_attach_alt (with NULL when it is not worth having). */
bool page_entry_claim_alt(struct page_entry *e);
/* Attaches the alternate form (alt may be NULL) to e, whose alt was claimed by the caller. Its
 * bytes count in the budget while e is in the cache (evicting others if needed). */
void page_cache_attach_alt(struct page_cache *c, struct page_entry *e, void *alt, size_t alt_bytes);

/* Empties the cache (see above). */
void page_cache_clear(struct page_cache *c);

struct page_cache_stats {
	size_t budget, bytes, entries;
	uint64_t hits, misses, inserts, evictions, alts;
	/* The longest a shard's write lock was held (what a lookup can wait at most, unless the
	 * holder is descheduled), and how many holds took over 1 ms. */
	uint64_t hold_max_ns, holds_over_1ms;
};
void page_cache_stats(struct page_cache *c, struct page_cache_stats *st);

#endif
