/* Recent search answers within a byte budget. See result_cache.h. */
#include "result_cache.h"

#include "../core/arena.h"
#include "../core/buf.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHARDS 16
/* A slot per this many bytes of budget: about what an answer with snippets takes. */
#define BYTES_PER_SLOT 4096
/* Queries whose key is longer are not kept (the text is at most 256 characters). */
#define KEY_MAX 2048

struct entry {
	uint64_t hash;
	size_t bytes; /* the whole block */
	size_t key_len;
	int total, n;
	const char *corrected;
	struct search_hit *hits;
	const char *key;
	alignas(max_align_t) char data[]; /* hits, then the key and the strings */
};

struct shard {
	pthread_mutex_t lock;
	struct entry **slots;
};

struct search_cache {
	struct shard shards[SHARDS];
	size_t slots_per_shard; /* a power of two */
	size_t budget;
	_Atomic size_t bytes, entries;
	_Atomic uint64_t hits, misses;
};

struct search_cache *search_cache_new(size_t budget)
{
	if (!budget)
		return NULL;
	struct search_cache *c = xcalloc(1, sizeof *c);
	size_t want = budget / BYTES_PER_SLOT / SHARDS, n = 16;
	while (n < want && n < ((size_t)1 << 20))
		n *= 2;
	c->slots_per_shard = n;
	c->budget = budget;
	for (int i = 0; i < SHARDS; i++) {
		pthread_mutex_init(&c->shards[i].lock, NULL);
		c->shards[i].slots = xcalloc(n, sizeof *c->shards[i].slots);
	}
	return c;
}

/* The key of q under gen in b; false when it is too long to keep. */
static bool make_key(struct buf *b, uint64_t gen, const struct search_query *q)
{
	buf_printf(b, "%llu\x1f%s\x1f%s\x1f%d\x1f%d\x1f%d\x1f%s", (unsigned long long)gen, q->country ? q->country : "",
		   q->section ? q->section : "\x1e", q->limit, q->offset, q->snippets ? 1 : 0, q->text ? q->text : "");
	return !buf_failed(b) && b->len <= KEY_MAX;
}

static uint64_t fnv1a(const char *s, size_t n)
{
	uint64_t h = 14695981039346656037ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return h;
}

/* The shard of hash h, and the index of its slot there. The slot itself is read under the
 * shard's lock: search_cache_clear swaps a shard's table. */
static struct shard *shard_of(struct search_cache *c, uint64_t h, size_t *slot)
{
	*slot = (h / SHARDS) & (c->slots_per_shard - 1);
	return &c->shards[h % SHARDS];
}

bool search_cache_get(struct search_cache *c, uint64_t gen, const struct search_query *q, struct arena *a,
		      struct search_result *out)
{
	if (!c)
		return false;
	struct buf k;
	buf_init(&k, KEY_MAX + 1);
	bool hit = false;
	if (make_key(&k, gen, q)) {
		uint64_t h = fnv1a(buf_str(&k), k.len);
		size_t si;
		struct shard *sh = shard_of(c, h, &si);
		pthread_mutex_lock(&sh->lock);
		const struct entry *e = sh->slots[si];
		if (e && e->hash == h && e->key_len == k.len && !memcmp(e->key, buf_str(&k), k.len)) {
			hit = true;
			out->total = e->total;
			out->n = e->n;
			out->corrected = e->corrected ? arena_strdup(a, e->corrected) : NULL;
			out->hits = arena_alloc(a, (size_t)(e->n ? e->n : 1) * sizeof *out->hits);
			for (int i = 0; i < e->n; i++) {
				const struct search_hit *s = &e->hits[i];
				out->hits[i] = (struct search_hit){
				    .slug = arena_strdup(a, s->slug),
				    .title = arena_strdup(a, s->title),
				    .section = arena_strdup(a, s->section),
				    .snippet_html = s->snippet_html ? arena_strdup(a, s->snippet_html) : NULL,
				    .score = s->score};
			}
		}
		pthread_mutex_unlock(&sh->lock);
	}
	buf_free(&k);
	atomic_fetch_add(hit ? &c->hits : &c->misses, 1);
	return hit;
}

/* Copies s into the block at *p and returns the copy. */
static const char *put_str(char **p, const char *s)
{
	size_t n = strlen(s) + 1;
	memcpy(*p, s, n);
	const char *r = *p;
	*p += n;
	return r;
}

static void drop(struct search_cache *c, struct entry *e)
{
	if (!e)
		return;
	atomic_fetch_sub(&c->bytes, e->bytes);
	atomic_fetch_sub(&c->entries, 1);
	free(e);
}

void search_cache_put(struct search_cache *c, uint64_t gen, const struct search_query *q, const struct search_result *r)
{
	if (!c || r->n < 0)
		return;
	struct buf k;
	buf_init(&k, KEY_MAX + 1);
	if (!make_key(&k, gen, q)) {
		buf_free(&k);
		return;
	}
	size_t strs = k.len + 1 + (r->corrected ? strlen(r->corrected) + 1 : 0);
	for (int i = 0; i < r->n; i++) {
		const struct search_hit *s = &r->hits[i];
		strs += strlen(s->slug) + strlen(s->title) + strlen(s->section) + 3;
		strs += s->snippet_html ? strlen(s->snippet_html) + 1 : 0;
	}
	size_t bytes = sizeof(struct entry) + (size_t)r->n * sizeof(struct search_hit) + strs;
	if (bytes > c->budget / 64) { /* one answer never takes a large share */
		buf_free(&k);
		return;
	}
	struct entry *e = xmalloc(bytes);
	e->bytes = bytes;
	e->total = r->total;
	e->n = r->n;
	e->hits = (struct search_hit *)e->data;
	char *p = e->data + (size_t)r->n * sizeof(struct search_hit);
	e->key_len = k.len;
	e->hash = fnv1a(buf_str(&k), k.len);
	e->key = put_str(&p, buf_str(&k));
	e->corrected = r->corrected ? put_str(&p, r->corrected) : NULL;
	for (int i = 0; i < r->n; i++) {
		const struct search_hit *s = &r->hits[i];
		e->hits[i] = (struct search_hit){.slug = put_str(&p, s->slug),
						 .title = put_str(&p, s->title),
						 .section = put_str(&p, s->section),
						 .snippet_html = s->snippet_html ? put_str(&p, s->snippet_html) : NULL,
						 .score = s->score};
	}
	buf_free(&k);
	size_t i;
	struct shard *sh = shard_of(c, e->hash, &i);
	struct entry *old = NULL;
	pthread_mutex_lock(&sh->lock);
	struct entry **slot = &sh->slots[i];
	size_t freed = *slot ? (*slot)->bytes : 0;
	/* Reserve first: the sum never passes the budget, even with puts on other shards. */
	size_t before = atomic_fetch_add(&c->bytes, bytes);
	if (before + bytes - freed <= c->budget) {
		old = *slot;
		*slot = e;
		atomic_fetch_add(&c->entries, 1);
		e = NULL;
	} else {
		atomic_fetch_sub(&c->bytes, bytes);
	}
	pthread_mutex_unlock(&sh->lock);
	drop(c, old);
	free(e); /* not kept: over the budget */
}

void search_cache_clear(struct search_cache *c)
{
	if (!c)
		return;
	struct entry **fresh = xcalloc(c->slots_per_shard, sizeof *fresh);
	for (int i = 0; i < SHARDS; i++) {
		struct shard *sh = &c->shards[i];
		pthread_mutex_lock(&sh->lock);
		struct entry **old = sh->slots;
		sh->slots = fresh;
		pthread_mutex_unlock(&sh->lock);
		for (size_t j = 0; j < c->slots_per_shard; j++)
			drop(c, old[j]);
		memset(old, 0, c->slots_per_shard * sizeof *old);
		fresh = old; /* reused for the next shard */
	}
	free(fresh);
}

void search_cache_free(struct search_cache *c)
{
	if (!c)
		return;
	search_cache_clear(c);
	for (int i = 0; i < SHARDS; i++) {
		pthread_mutex_destroy(&c->shards[i].lock);
		free(c->shards[i].slots);
	}
	free(c);
}

void search_cache_stats(struct search_cache *c, struct search_cache_stats *out)
{
	*out = (struct search_cache_stats){0};
	if (!c)
		return;
	out->bytes = atomic_load(&c->bytes);
	out->budget = c->budget;
	out->entries = atomic_load(&c->entries);
	out->hits = atomic_load(&c->hits);
	out->misses = atomic_load(&c->misses);
}
