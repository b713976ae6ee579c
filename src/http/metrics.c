#include "metrics.h"

#include "../core/arena.h"
#include "../core/buf.h"

#include <stdatomic.h>
#include <stdlib.h>

static const int statuses[] = {0,   200, 301, 302, 303, 304, 400, 401, 403, 404, 405,
			       408, 409, 413, 414, 415, 422, 429, 431, 500, 503};
#define N_STATUS ((int)(sizeof statuses / sizeof statuses[0]) + 1) /* + "other" */
static const double bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0};
#define N_BUCKETS ((int)(sizeof bounds / sizeof bounds[0]) + 1) /* + "+Inf" */

struct route_metrics {
	_Atomic uint64_t by_status[N_STATUS];
	_Atomic uint64_t buckets[N_BUCKETS];
	_Atomic uint64_t sum_us;
	/* By enum metrics_cache: requests, and the database statements they ran. */
	_Atomic uint64_t db_requests[METRICS_CACHE_CLASSES];
	_Atomic uint64_t db_statements[METRICS_CACHE_CLASSES];
};

static const char *const cache_names[METRICS_CACHE_CLASSES] = {"none", "hit", "miss"};

struct metrics {
	const char *const *names;
	const char *const *methods;
	int n;
	struct route_metrics *routes; /* n + 1: the last is "unmatched" */
};

struct metrics *metrics_new(const char *const *route_names, const char *const *route_methods, int n_routes)
{
	struct metrics *m = xcalloc(1, sizeof *m);
	m->names = route_names;
	m->methods = route_methods;
	m->n = n_routes;
	m->routes = xcalloc((size_t)n_routes + 1, sizeof *m->routes);
	return m;
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	free(m->routes);
	free(m);
}

void metrics_observe(struct metrics *m, int route, int status, uint64_t us, enum metrics_cache cache,
		     uint64_t statements)
{
	struct route_metrics *r = &m->routes[route >= 0 && route < m->n ? route : m->n];
	atomic_fetch_add_explicit(&r->db_requests[cache], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&r->db_statements[cache], statements, memory_order_relaxed);
	int si = N_STATUS - 1;
	for (int i = 0; i < N_STATUS - 1; i++)
		if (statuses[i] == status)
			si = i;
	atomic_fetch_add_explicit(&r->by_status[si], 1, memory_order_relaxed);
	double s = (double)us / 1e6;
	int bi = N_BUCKETS - 1;
	for (int i = 0; i < N_BUCKETS - 1; i++)
		if (s <= bounds[i]) {
			bi = i;
			break;
		}
	atomic_fetch_add_explicit(&r->buckets[bi], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&r->sum_us, us, memory_order_relaxed);
}

/* One line of the statement counters, for a route and cache class that had requests. */
static void write_db_line(struct metrics *m, struct buf *b, const char *metric, int r, int c, _Atomic uint64_t *v)
{
	if (!atomic_load_explicit(&m->routes[r].db_requests[c], memory_order_relaxed))
		return;
	const char *name = r < m->n ? m->names[r] : "unmatched";
	const char *method = r < m->n && m->methods ? m->methods[r] : "GET";
	buf_printf(b, "%s{route=\"%s\",method=\"%s\",cache=\"%s\"} %llu\n", metric, name, method, cache_names[c],
		   (unsigned long long)atomic_load_explicit(v, memory_order_relaxed));
}

void metrics_write(struct metrics *m, struct buf *b, long in_flight)
{
	buf_adds(b, "# HELP spravka_http_requests_total HTTP requests by route and status.\n"
		    "# TYPE spravka_http_requests_total counter\n");
	for (int r = 0; r <= m->n; r++) {
		const char *name = r < m->n ? m->names[r] : "unmatched";
		for (int i = 0; i < N_STATUS; i++) {
			uint64_t v = atomic_load_explicit(&m->routes[r].by_status[i], memory_order_relaxed);
			if (!v)
				continue;
			const char *method = r < m->n && m->methods ? m->methods[r] : "GET";
			if (i < N_STATUS - 1)
				buf_printf(
				    b, "spravka_http_requests_total{route=\"%s\",method=\"%s\",status=\"%d\"} %llu\n",
				    name, method, statuses[i], (unsigned long long)v);
			else
				buf_printf(
				    b,
				    "spravka_http_requests_total{route=\"%s\",method=\"%s\",status=\"other\"} %llu\n",
				    name, method, (unsigned long long)v);
		}
	}
	buf_adds(b, "# HELP spravka_http_request_duration_seconds Time from headers to response end.\n"
		    "# TYPE spravka_http_request_duration_seconds histogram\n");
	for (int r = 0; r <= m->n; r++) {
		const char *name = r < m->n ? m->names[r] : "unmatched";
		const char *method = r < m->n && m->methods ? m->methods[r] : "GET";
		uint64_t cum = 0;
		for (int i = 0; i < N_BUCKETS; i++) {
			cum += atomic_load_explicit(&m->routes[r].buckets[i], memory_order_relaxed);
			if (i < N_BUCKETS - 1)
				buf_printf(b,
					   "spravka_http_request_duration_seconds_bucket{route=\"%s\",method=\"%s\",le="
					   "\"%g\"} %llu\n",
					   name, method, bounds[i], (unsigned long long)cum);
			else
				buf_printf(b,
					   "spravka_http_request_duration_seconds_bucket{route=\"%s\",method=\"%s\",le="
					   "\"+Inf\"} %llu\n",
					   name, method, (unsigned long long)cum);
		}
		buf_printf(b, "spravka_http_request_duration_seconds_sum{route=\"%s\",method=\"%s\"} %.6f\n", name,
			   method, (double)atomic_load(&m->routes[r].sum_us) / 1e6);
		buf_printf(b, "spravka_http_request_duration_seconds_count{route=\"%s\",method=\"%s\"} %llu\n", name,
			   method, (unsigned long long)cum);
	}
	/* Statements per request of a route = the first over the second (a cached page: 0). */
	buf_adds(b, "# HELP spravka_db_statements_total Database statements run for requests (round trips on "
		    "PostgreSQL), by route and page-cache outcome (none: not a cached route).\n"
		    "# TYPE spravka_db_statements_total counter\n");
	for (int r = 0; r <= m->n; r++)
		for (int c = 0; c < METRICS_CACHE_CLASSES; c++)
			write_db_line(m, b, "spravka_db_statements_total", r, c, &m->routes[r].db_statements[c]);
	buf_adds(b, "# HELP spravka_db_requests_total The requests spravka_db_statements_total counts.\n"
		    "# TYPE spravka_db_requests_total counter\n");
	for (int r = 0; r <= m->n; r++)
		for (int c = 0; c < METRICS_CACHE_CLASSES; c++)
			write_db_line(m, b, "spravka_db_requests_total", r, c, &m->routes[r].db_requests[c]);
	buf_printf(b,
		   "# HELP spravka_http_in_flight Requests being answered now.\n"
		   "# TYPE spravka_http_in_flight gauge\nspravka_http_in_flight %ld\n",
		   in_flight);
}
