/*
 * metrics — request counters by route and status and a latency histogram, in Prometheus text.
 * Private to http. Counting is lock-free (relaxed atomics), so every request can afford it.
 */
#ifndef SPRAVKA_METRICS_H
#define SPRAVKA_METRICS_H

#include <stdint.h>

struct buf;
struct metrics;

/* route_methods may be NULL (all GET). */
struct metrics *metrics_new(const char *const *route_names, const char *const *route_methods, int n_routes);
void metrics_free(struct metrics *m);
/* How the page cache took part in an answer. */
enum metrics_cache {
	METRICS_UNCACHED, /* no lookup: the route's answers are not cached */
	METRICS_HIT,	  /* answered from the cache */
	METRICS_MISS,	  /* looked up, not there: rendered */
};
#define METRICS_CACHE_CLASSES 3
/* route -1 = unmatched; status 0 = no answer sent; statements: the database statements the
 * request ran (http_request.db_statements). */
void metrics_observe(struct metrics *m, int route, int status, uint64_t us, enum metrics_cache cache,
		     uint64_t statements);
void metrics_write(struct metrics *m, struct buf *b, long in_flight);

#endif
