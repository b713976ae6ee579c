/* Unit tests of src/http/cache.c: the byte budget, CLOCK eviction, clear, lazy alternate forms,
 * and a concurrent stress run. Payloads are counted allocations, so leaks and double frees show. */
#include "../../src/http/cache.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Atomic long live; /* payloads allocated and not yet released */

static void *payload(int v)
{
	int *p = malloc(sizeof *p);
	*p = v;
	atomic_fetch_add(&live, 1);
	return p;
}

static void release(void *p)
{
	free(p);
	atomic_fetch_sub(&live, 1);
}

static void init(void)
{
	atomic_store(&live, 0);
}

static bool put(struct page_cache *c, const char *key, int v, size_t bytes)
{
	struct page_entry *e = page_entry_new(c, key, payload(v), bytes);
	bool stored = page_cache_put(c, e);
	page_entry_unref(e);
	return stored;
}

static bool has(struct page_cache *c, const char *key)
{
	struct page_entry *e = page_cache_get(c, key);
	if (e)
		page_entry_unref(e);
	return e != NULL;
}

/* What one entry of key length 4 with payload bytes costs in this build. */
static size_t cost_of(size_t bytes)
{
	struct page_cache *c = page_cache_new(1u << 30, 0, 1, release);
	put(c, "cost", 0, bytes);
	struct page_cache_stats st;
	page_cache_stats(c, &st);
	page_cache_free(c);
	return st.bytes;
}

Test(cache, budget_is_respected_and_every_byte_counted, .init = init)
{
	size_t one = cost_of(1000);
	cr_assert_gt(one, 1000, "the struct and the key count too");
	struct page_cache *c = page_cache_new(20 * one, 0, 4, release);
	char key[32];
	for (int i = 0; i < 500; i++) {
		snprintf(key, sizeof key, "k%03d", i);
		cr_assert(put(c, key, i, 1000));
		struct page_cache_stats st;
		page_cache_stats(c, &st);
		cr_assert_leq(st.bytes, 20 * one, "after %d puts: %zu bytes", i + 1, st.bytes);
		cr_assert_eq(st.bytes, st.entries * one);
	}
	struct page_cache_stats st;
	page_cache_stats(c, &st);
	cr_assert_geq(st.entries, 19, "a few at a time, not a global drop: %zu left", st.entries);
	cr_assert_eq(st.inserts, 500);
	cr_assert_eq(st.evictions, 500 - st.entries);
	cr_assert_eq(atomic_load(&live), (long)st.entries, "evicted payloads are released");
	/* An entry over an eighth of the budget is refused; its payload freed by the caller's unref. */
	cr_assert_not(put(c, "huge", 0, 3 * one));
	cr_assert_not(has(c, "huge"));
	page_cache_free(c);
	cr_assert_eq(atomic_load(&live), 0);
}

Test(cache, a_zero_budget_stores_nothing_and_the_entry_cap_applies, .init = init)
{
	struct page_cache *c = page_cache_new(0, 0, 1, release);
	cr_assert_not(put(c, "a", 1, 10));
	cr_assert_not(has(c, "a"));
	page_cache_free(c);
	c = page_cache_new(1u << 20, 5, 2, release);
	char key[16];
	for (int i = 0; i < 50; i++) {
		snprintf(key, sizeof key, "k%d", i);
		put(c, key, i, 10);
	}
	struct page_cache_stats st;
	page_cache_stats(c, &st);
	cr_assert_eq(st.entries, 5);
	page_cache_free(c);
	cr_assert_eq(atomic_load(&live), 0);
}

Test(cache, a_key_stored_twice_keeps_the_first, .init = init)
{
	struct page_cache *c = page_cache_new(1u << 20, 0, 1, release);
	cr_assert(put(c, "k", 1, 10));
	cr_assert_not(put(c, "k", 2, 10));
	struct page_entry *e = page_cache_get(c, "k");
	cr_assert_eq(*(int *)page_entry_payload(e), 1);
	page_entry_unref(e);
	cr_assert_null(page_cache_get(c, "k2"));
	struct page_cache_stats st;
	page_cache_stats(c, &st);
	cr_assert_eq(st.hits, 1);
	cr_assert_eq(st.misses, 1);
	cr_assert_eq(st.entries, 1);
	page_cache_free(c);
	cr_assert_eq(atomic_load(&live), 0);
}

Test(cache, clock_gives_hot_entries_a_second_chance, .init = init)
{
	size_t one = cost_of(100);
	struct page_cache *c = page_cache_new(10 * one, 0, 1, release);
	char key[16];
	for (int i = 0; i < 10; i++) {
		snprintf(key, sizeof key, "k%d", i);
		put(c, key, i, 100);
	}
	for (int round = 0; round < 20; round++) {
		/* k0..k4 are read between inserts; k5.. and the new ones never again */
		for (int i = 0; i < 5; i++) {
			snprintf(key, sizeof key, "k%d", i);
			cr_assert(has(c, key), "hot %s evicted in round %d", key, round);
		}
		snprintf(key, sizeof key, "new%d", round);
		put(c, key, 100 + round, 100);
	}
	cr_assert_not(has(c, "k5"));
	cr_assert_not(has(c, "k9"));
	struct page_cache_stats st;
	page_cache_stats(c, &st);
	cr_assert_eq(st.entries, 10);
	page_cache_free(c);
	cr_assert_eq(atomic_load(&live), 0);
}

Test(cache, an_entry_in_use_outlives_eviction_and_clear, .init = init)
{
	size_t one = cost_of(100);
	struct page_cache *c = page_cache_new(8 * one, 0, 1, release);
	cr_assert(put(c, "k0", 42, 100));
	struct page_entry *held = page_cache_get(c, "k0");
	page_cache_clear(c);
	cr_assert_not(has(c, "k0"));
	struct page_cache_stats st;
	page_cache_stats(c, &st);
	cr_assert_eq(st.bytes, 0);
	cr_assert_eq(st.entries, 0);
	cr_assert_eq(*(int *)page_entry_payload(held), 42, "still readable while referenced");
	cr_assert_eq(atomic_load(&live), 1);
	/* an alternate form attached after the clear is not counted, and freed with the entry */
	cr_assert(page_entry_claim_alt(held));
	page_cache_attach_alt(c, held, payload(43), 1000);
	page_cache_stats(c, &st);
	cr_assert_eq(st.bytes, 0);
	page_entry_unref(held);
	cr_assert_eq(atomic_load(&live), 0);
	/* the same for eviction */
	put(c, "a", 1, 100);
	held = page_cache_get(c, "a");
	cr_assert_not_null(held);
	for (int i = 0; i < 20; i++) {
		char key[8];
		snprintf(key, sizeof key, "b%d", i);
		put(c, key, i, 100);
	}
	cr_assert_not(has(c, "a"));
	cr_assert_eq(*(int *)page_entry_payload(held), 1);
	page_entry_unref(held);
	page_cache_free(c);
	cr_assert_eq(atomic_load(&live), 0);
}

Test(cache, the_alternate_form_is_claimed_once_and_counted, .init = init)
{
	size_t one = cost_of(100);
	struct page_cache *c = page_cache_new(1u << 20, 0, 2, release);
	put(c, "page", 1, 100);
	struct page_entry *e = page_cache_get(c, "page");
	cr_assert_null(page_entry_alt(e));
	cr_assert(page_entry_claim_alt(e));
	cr_assert_not(page_entry_claim_alt(e), "a second claim while the first is being made");
	page_cache_attach_alt(c, e, payload(2), 50);
	cr_assert_not(page_entry_claim_alt(e), "a claim after the form is attached");
	cr_assert_eq(*(int *)page_entry_alt(e), 2);
	page_entry_unref(e);
	struct page_cache_stats st;
	page_cache_stats(c, &st);
	cr_assert_eq(st.bytes, one + 50);
	cr_assert_eq(st.alts, 1);
	/* attached as NULL (not worth it): never claimed again */
	put(c, "tiny", 3, 100);
	e = page_cache_get(c, "tiny");
	cr_assert(page_entry_claim_alt(e));
	page_cache_attach_alt(c, e, NULL, 0);
	cr_assert_not(page_entry_claim_alt(e));
	cr_assert_null(page_entry_alt(e));
	page_entry_unref(e);
	page_cache_free(c);
	cr_assert_eq(atomic_load(&live), 0);
}

/* ---- concurrency: several threads put, get, attach and clear at once ---- */

struct stress {
	struct page_cache *c;
	int id;
	_Atomic long *claims;
};

static void *stress_main(void *arg)
{
	struct stress *s = arg;
	unsigned seed = (unsigned)s->id * 7919u + 1;
	char key[32];
	for (int i = 0; i < 40000; i++) {
		int k = (int)(rand_r(&seed) % 3000);
		snprintf(key, sizeof key, "/a/page-%d", k);
		struct page_entry *e = page_cache_get(s->c, key);
		if (e) {
			cr_assert_eq(*(int *)page_entry_payload(e), k, "entry %s holds %d", key,
				     *(int *)page_entry_payload(e));
			if (page_entry_claim_alt(e)) {
				atomic_fetch_add(s->claims, 1);
				page_cache_attach_alt(s->c, e, payload(-k), 200);
			}
			int *alt = page_entry_alt(e);
			if (alt)
				cr_assert_eq(*alt, -k);
			page_entry_unref(e);
		} else {
			put(s->c, key, k, 500 + (size_t)(k % 7) * 300);
		}
		if (s->id == 0 && i % 5000 == 4999)
			page_cache_clear(s->c);
	}
	return NULL;
}

Test(cache, concurrent_stress_keeps_the_budget_and_frees_everything, .init = init, .timeout = 60)
{
	size_t budget = 400 * cost_of(1000);
	struct page_cache *c = page_cache_new(budget, 0, 8, release);
	_Atomic long claims = 0;
	enum { N = 4 };
	pthread_t th[N];
	struct stress s[N];
	for (int i = 0; i < N; i++) {
		s[i] = (struct stress){.c = c, .id = i, .claims = &claims};
		pthread_create(&th[i], NULL, stress_main, &s[i]);
	}
	for (int i = 0; i < N; i++)
		pthread_join(th[i], NULL);
	struct page_cache_stats st;
	page_cache_stats(c, &st);
	cr_assert_leq(st.bytes, budget, "%zu bytes over a budget of %zu", st.bytes, budget);
	cr_assert_gt(st.evictions, 0);
	cr_assert_gt(st.hits, 0);
	cr_assert_eq(st.hits + st.misses, (uint64_t)N * 40000);
	cr_assert_eq((long)st.alts, atomic_load(&claims));
	/* what the cache holds: its entries and their alternate forms, nothing else */
	long held = atomic_load(&live);
	cr_assert_geq(held, (long)st.entries);
	cr_assert_leq(held, 2 * (long)st.entries);
	page_cache_free(c);
	cr_assert_eq(atomic_load(&live), 0, "%ld payloads leaked", atomic_load(&live));
}
