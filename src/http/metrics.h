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
/* route -1 = unmatched; status 0 = no answer sent. */
void metrics_observe(struct metrics *m, int route, int status, uint64_t us);
void metrics_write(struct metrics *m, struct buf *b, long in_flight);

#endif
