/* The page cache. See cache.h for what it promises. */
#include "cache.h"

#include "../core/arena.h"
#include "../core/text.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EVICT_SCAN 32  /* marked entries passed over per eviction step before one goes anyway */
#define EVICT_BATCH 8  /* entries evicted per hold of a shard's lock */
#define ALLOC_SLACK 32 /* the allocator's bookkeeping, counted with each entry */
#define MAX_SHARDS 64
/* The smallest an entry really costs (struct, key, two prebuilt responses with their headers):
 * sizes the hash tables, which are fixed at start so that nothing ever rehashes under a lock. */
#define TYPICAL_MIN_ENTRY 4096

enum { ALT_NONE, ALT_MAKING, ALT_DONE };

struct page_entry {
	struct page_entry *chain;	/* hash chain */
	struct page_entry *prev, *next; /* the shard's CLOCK ring */
	struct page_entry *gone;	/* evicted, to be unreferenced outside the lock */
	uint64_t hash;
	uint64_t gen; /* the shard's table generation it was stored in */
	size_t cost;  /* counted in the budget: struct, key, payload, alternate form */
	page_release_fn release;
	void *payload;
	_Atomic(void *) alt;
	_Atomic int refs;
	_Atomic int alt_state;
	_Atomic bool mark; /* CLOCK's reference bit */
	bool linked;	   /* in its shard's table (changed under the shard's write lock) */
	size_t key_len;
	char key[];
};

struct table {
	struct page_entry **buckets;
	struct page_entry *hand; /* NULL when empty */
	size_t bytes, count;
};

struct shard {
	pthread_rwlock_t lock;
	_Atomic uint64_t hits, misses; /* next to the lock: the line a lookup writes anyway */
	struct table *t;
	uint64_t gen;
} __attribute__((aligned(64)));

struct page_cache {
	size_t budget, max_entries;
	page_release_fn release;
	unsigned n_shards; /* a power of two */
	size_t n_buckets;  /* per shard, a power of two */
	struct shard *shards;
	_Atomic size_t bytes, entries; /* changed under the lock of the shard concerned */
	_Atomic unsigned turn;	       /* the next shard eviction visits */
	_Atomic uint64_t inserts, evictions, alts;
	_Atomic uint64_t hold_max_ns, holds_over_1ms; /* write-lock holds: what a lookup may wait */
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A shard's write lock, timed: the longest hold is in the stats. */
static uint64_t write_lock(struct shard *s)
{
	pthread_rwlock_wrlock(&s->lock);
	return now_ns();
}

static void write_unlock(struct page_cache *c, struct shard *s, uint64_t since)
{
	uint64_t held = now_ns() - since;
	pthread_rwlock_unlock(&s->lock);
	if (held > 1000000)
		atomic_fetch_add_explicit(&c->holds_over_1ms, 1, memory_order_relaxed);
	uint64_t max = atomic_load_explicit(&c->hold_max_ns, memory_order_relaxed);
	while (held > max && !atomic_compare_exchange_weak(&c->hold_max_ns, &max, held))
		;
}

static struct table *table_new(size_t n_buckets)
{
	struct table *t = xcalloc(1, sizeof *t);
	t->buckets = xcalloc(n_buckets, sizeof *t->buckets);
	return t;
}

void page_entry_unref(struct page_entry *e)
{
	if (atomic_fetch_sub(&e->refs, 1) != 1)
		return;
	e->release(e->payload);
	void *alt = atomic_load(&e->alt);
	if (alt)
		e->release(alt);
	free(e);
}

/* Unreferences every entry of a table no longer reachable, and frees it. */
static void table_free(struct table *t, size_t n_buckets)
{
	for (size_t i = 0; i < n_buckets; i++)
		for (struct page_entry *e = t->buckets[i], *next; e; e = next) {
			next = e->chain;
			page_entry_unref(e);
		}
	free(t->buckets);
	free(t);
}

struct page_cache *page_cache_new(size_t budget, size_t max_entries, int n_shards, page_release_fn release)
{
	struct page_cache *c = xcalloc(1, sizeof *c);
	c->budget = budget;
	c->max_entries = max_entries;
	c->release = release;
	c->n_shards = 1;
	while (c->n_shards < (unsigned)(n_shards > 0 ? n_shards : 1) && c->n_shards < MAX_SHARDS)
		c->n_shards *= 2;
	size_t expected = budget / TYPICAL_MIN_ENTRY;
	if (max_entries && max_entries < expected)
		expected = max_entries;
	c->n_buckets = 16;
	while (c->n_buckets < expected / c->n_shards && c->n_buckets < (1u << 20))
		c->n_buckets *= 2;
	void *mem;
	if (posix_memalign(&mem, 64, c->n_shards * sizeof *c->shards))
		abort();
	c->shards = memset(mem, 0, c->n_shards * sizeof *c->shards);
	pthread_rwlockattr_t attr;
	pthread_rwlockattr_init(&attr);
	/* Readers do not starve an insert or an eviction (which hold the lock briefly). */
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	for (unsigned i = 0; i < c->n_shards; i++) {
		pthread_rwlock_init(&c->shards[i].lock, &attr);
		c->shards[i].t = table_new(c->n_buckets);
	}
	pthread_rwlockattr_destroy(&attr);
	return c;
}

void page_cache_free(struct page_cache *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < c->n_shards; i++) {
		table_free(c->shards[i].t, c->n_buckets);
		pthread_rwlock_destroy(&c->shards[i].lock);
	}
	free(c->shards);
	free(c);
}

static struct shard *shard_of(struct page_cache *c, uint64_t h)
{
	return &c->shards[(h >> 40) & (c->n_shards - 1)];
}

static struct page_entry **bucket_of(struct page_cache *c, struct table *t, uint64_t h)
{
	return &t->buckets[h & (c->n_buckets - 1)];
}

struct page_entry *page_cache_get(struct page_cache *c, const char *key)
{
	size_t len = strlen(key);
	uint64_t h = hash64(key, len);
	struct shard *s = shard_of(c, h);
	pthread_rwlock_rdlock(&s->lock);
	struct page_entry *e = *bucket_of(c, s->t, h);
	while (e && !(e->hash == h && e->key_len == len && !memcmp(e->key, key, len)))
		e = e->chain;
	if (e) {
		atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
		if (!atomic_load_explicit(&e->mark, memory_order_relaxed))
			atomic_store_explicit(&e->mark, true, memory_order_relaxed);
	}
	pthread_rwlock_unlock(&s->lock);
	atomic_fetch_add_explicit(e ? &s->hits : &s->misses, 1, memory_order_relaxed);
	return e;
}

static size_t entry_cost(size_t key_len, size_t payload_bytes)
{
	return sizeof(struct page_entry) + key_len + 1 + ALLOC_SLACK + payload_bytes;
}

struct page_entry *page_entry_new(struct page_cache *c, const char *key, void *payload, size_t payload_bytes)
{
	size_t len = strlen(key);
	struct page_entry *e = xcalloc(1, sizeof *e + len + 1);
	memcpy(e->key, key, len);
	e->key_len = len;
	e->hash = hash64(key, len);
	e->cost = entry_cost(len, payload_bytes);
	e->release = c->release;
	e->payload = payload;
	atomic_init(&e->refs, 1);
	return e;
}

void *page_entry_payload(const struct page_entry *e)
{
	return e->payload;
}

void *page_entry_alt(const struct page_entry *e)
{
	return atomic_load_explicit(&((struct page_entry *)e)->alt, memory_order_acquire);
}

bool page_entry_claim_alt(struct page_entry *e)
{
	int expected = ALT_NONE;
	return atomic_compare_exchange_strong(&e->alt_state, &expected, ALT_MAKING);
}

bool page_cache_fits(const struct page_cache *c, size_t key_len, size_t payload_bytes)
{
	return c->budget > 0 && entry_cost(key_len, payload_bytes) <= c->budget / 8;
}

static bool over(struct page_cache *c)
{
	return atomic_load(&c->bytes) > c->budget || (c->max_entries && atomic_load(&c->entries) > c->max_entries);
}

/* Takes e out of its table; under the shard's write lock. */
static void unlink_entry(struct page_cache *c, struct table *t, struct page_entry *e)
{
	struct page_entry **pp = bucket_of(c, t, e->hash);
	while (*pp != e)
		pp = &(*pp)->chain;
	*pp = e->chain;
	if (e->next == e) {
		t->hand = NULL;
	} else {
		e->prev->next = e->next;
		e->next->prev = e->prev;
		if (t->hand == e)
			t->hand = e->next;
	}
	e->linked = false;
	t->bytes -= e->cost;
	t->count--;
	atomic_fetch_sub(&c->bytes, e->cost);
	atomic_fetch_sub(&c->entries, 1);
}

/* One eviction step on shard s: CLOCK's hand evicts up to EVICT_BATCH entries while the cache
 * is over its budget. Returns false when the shard was empty. */
static bool evict_step(struct page_cache *c, struct shard *s)
{
	struct page_entry *victims = NULL;
	int scanned = 0, n = 0;
	uint64_t t0 = write_lock(s);
	struct table *t = s->t;
	bool had = t->hand != NULL;
	while (t->hand && n < EVICT_BATCH && over(c)) {
		struct page_entry *e = t->hand;
		if (scanned < EVICT_SCAN && atomic_load_explicit(&e->mark, memory_order_relaxed)) {
			atomic_store_explicit(&e->mark, false, memory_order_relaxed); /* its second chance */
			t->hand = e->next;
			scanned++;
			continue;
		}
		unlink_entry(c, t, e);
		e->gone = victims;
		victims = e;
		n++;
	}
	write_unlock(c, s, t0);
	atomic_fetch_add(&c->evictions, (uint64_t)n);
	while (victims) { /* freed outside the lock (or later, by the last reader) */
		struct page_entry *e = victims;
		victims = e->gone;
		page_entry_unref(e);
	}
	return had;
}

/* Evicts, shard after shard, until the cache is within its budget. */
static void evict_over(struct page_cache *c)
{
	unsigned empty = 0;
	while (over(c) && empty < 2 * c->n_shards) {
		struct shard *s = &c->shards[atomic_fetch_add(&c->turn, 1) & (c->n_shards - 1)];
		empty = evict_step(c, s) ? 0 : empty + 1;
	}
}

bool page_cache_put(struct page_cache *c, struct page_entry *e)
{
	if (!page_cache_fits(c, e->key_len, e->cost - entry_cost(e->key_len, 0)))
		return false;
	struct shard *s = shard_of(c, e->hash);
	uint64_t t0 = write_lock(s);
	struct table *t = s->t;
	struct page_entry **b = bucket_of(c, t, e->hash);
	for (struct page_entry *o = *b; o; o = o->chain)
		if (o->hash == e->hash && o->key_len == e->key_len && !memcmp(o->key, e->key, e->key_len)) {
			write_unlock(c, s, t0); /* another thread stored it first: keep that one */
			return false;
		}
	atomic_fetch_add(&e->refs, 1); /* the cache's own */
	e->chain = *b;
	*b = e;
	if (!t->hand) { /* the ring: just behind the hand, so the hand reaches it last */
		e->prev = e->next = e;
		t->hand = e;
	} else {
		e->next = t->hand;
		e->prev = t->hand->prev;
		e->prev->next = e;
		t->hand->prev = e;
	}
	e->linked = true;
	e->gen = s->gen;
	t->bytes += e->cost;
	t->count++;
	atomic_fetch_add(&c->bytes, e->cost);
	atomic_fetch_add(&c->entries, 1);
	write_unlock(c, s, t0);
	atomic_fetch_add_explicit(&c->inserts, 1, memory_order_relaxed);
	evict_over(c);
	return true;
}

void page_cache_attach_alt(struct page_cache *c, struct page_entry *e, void *alt, size_t alt_bytes)
{
	struct shard *s = shard_of(c, e->hash);
	bool counted = false;
	uint64_t t0 = write_lock(s);
	atomic_store_explicit(&e->alt, alt, memory_order_release);
	atomic_store(&e->alt_state, ALT_DONE);
	if (alt && e->linked && e->gen == s->gen) {
		e->cost += alt_bytes;
		s->t->bytes += alt_bytes;
		atomic_fetch_add(&c->bytes, alt_bytes);
		counted = true;
	}
	write_unlock(c, s, t0);
	if (alt)
		atomic_fetch_add_explicit(&c->alts, 1, memory_order_relaxed);
	if (counted)
		evict_over(c);
}

void page_cache_clear(struct page_cache *c)
{
	for (unsigned i = 0; i < c->n_shards; i++) {
		struct shard *s = &c->shards[i];
		struct table *fresh = table_new(c->n_buckets); /* allocated before the lock */
		uint64_t t0 = write_lock(s);
		struct table *old = s->t;
		s->t = fresh;
		s->gen++;
		atomic_fetch_sub(&c->bytes, old->bytes);
		atomic_fetch_sub(&c->entries, old->count);
		write_unlock(c, s, t0);
		table_free(old, c->n_buckets); /* outside the lock: readers go on meanwhile */
	}
}

void page_cache_stats(struct page_cache *c, struct page_cache_stats *st)
{
	*st = (struct page_cache_stats){
	    .budget = c->budget,
	    .bytes = atomic_load(&c->bytes),
	    .entries = atomic_load(&c->entries),
	    .inserts = atomic_load(&c->inserts),
	    .evictions = atomic_load(&c->evictions),
	    .alts = atomic_load(&c->alts),
	    .hold_max_ns = atomic_load(&c->hold_max_ns),
	    .holds_over_1ms = atomic_load(&c->holds_over_1ms),
	};
	for (unsigned i = 0; i < c->n_shards; i++) {
		st->hits += atomic_load_explicit(&c->shards[i].hits, memory_order_relaxed);
		st->misses += atomic_load_explicit(&c->shards[i].misses, memory_order_relaxed);
	}
}
