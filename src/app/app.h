/*
 * app — the running portal: what a request handler can reach, and the one route table.
 *
 * struct app is created once by `spravka serve` (main.c) and then shared by every worker
 * thread: the configuration (read-only), the database pool, the search index (swapped under a
 * lock when content changes), the static files and the HTTP server. The route table in routes.c
 * says, for every path, which handler answers, which methods it takes, the role it requires,
 * whether it checks a CSRF token, the largest body it accepts, and whether its answer can be
 * cached; app_dispatch() enforces all of that before any handler runs.
 *
 * A handler gets a struct ctx: the request (with its arena), the response to fill, a database
 * connection from the pool, and the reader's country.
 *
 * Back-office routes (the desk, /metrics) run on back_office — desk_threads threads at nice
 * BACK_OFFICE_NICE — with connections of back_pool, never of pool: the portal's threads and
 * connections are never held by desk work, however slow its queries. Their handlers must not
 * suspend the request themselves (no app_create_request).
 */
#ifndef SPRAVKA_APP_H
#define SPRAVKA_APP_H

#include "../core/config.h"
#include "../http/http.h"
#include "../req/req.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

struct arena;
struct db;
struct db_pool;
struct search_index;
struct search_log;
struct auth_user;
struct workers;

/* The CPU priority of the back-office threads (a nice value; docs/benchmarks.md, "Portal
 * isolation"). */
#define BACK_OFFICE_NICE 10

struct static_file {
	const char *name; /* URL name under /static/ */
	const char *type; /* Content-Type */
	char *data;
	size_t len;
	char version[17]; /* hash of the data, for cache-busting URLs */
};

struct app {
	struct config cfg;
	struct db_pool *pool;
	struct db_group *writer;   /* group commit of request creations */
	struct workers *file_sync; /* fsyncs of uploaded files, off the HTTP threads */
	struct http_server *http;
	struct workers *back_office; /* back-office routes; NULL: they run like the others */
	struct db_pool *back_pool;   /* the back office's connections */
	atomic_bool back_abandoned;  /* shutdown's grace is over: queued back-office work answers 503 */
	pthread_rwlock_t index_lock;
	struct search_index *index;	   /* under index_lock */
	uint64_t index_gen;		   /* under index_lock: grows with every new index */
	struct search_cache *search_cache; /* recent answers (search/result_cache.h), or NULL */
	_Atomic int64_t content_version;
	_Atomic int64_t content_changed; /* unix time of the last content change */
	_Atomic int64_t search_updates;	 /* index updates from the changed texts (app_refresh) */
	_Atomic int64_t search_rebuilds; /* index builds from every text */
	struct static_file *statics;
	size_t n_statics;
	struct search_log *search_log;
	struct req_config req;	    /* support requests: limits, topics (from cfg) */
	const char **country_codes; /* cfg's country codes, for req */
	struct req_topic *topics;   /* cfg's [topics] for req, or NULL (the built-in list) */
	char *tmp_dir;		    /* DATA/tmp: uploads in progress */
	unsigned char link_key[32]; /* DATA/link.key: private links are derived with it (req.h) */
};

struct ctx {
	struct app *app;
	struct http_request *req;
	struct http_response *resp;
	struct db *db;		/* NULL for routes flagged R_NODB */
	const char *country;	/* the reader's country code (always a configured one) */
	const char *arg;	/* the path's {…} part, decoded */
	struct auth_user *user; /* the signed-in desk user, on routes that require a role */
	int page;		/* paginated routes: ?page= (1 when absent), 0 when malformed (app_page) */
	const char *rel_prev;	/* pages: URLs for <link rel="prev"/"next"> in the head, or NULL */
	const char *rel_next;
};

/* The largest ?page= taken: a listing of more pages does not exist on one machine. */
#define APP_MAX_PAGE 1000000
/*
 * The ?page= of a paginated listing: 1 when absent; the number when the parameter is given
 * exactly once as a canonical decimal from 1 to APP_MAX_PAGE ("2", not "02", "+2", "2.0", "1e3");
 * 0 otherwise (the handler answers 400). The dispatcher sets ctx.page with it and adds the page
 * to the cache key (page 1 and no parameter share one key; other parameters never make a key).
 */
int app_page(const struct http_request *req);

/*
 * Creates a support request for a handler (j: cfg, a, in and finish filled, in the request's
 * arena). The checks run here on c's connection; when they decide already (invalid, duplicate,
 * replayed, limited...) it returns false with j->result final, and the handler answers at once.
 * Otherwise the connection is suspended, the files go to the file threads and the transaction
 * to the database writer, and it returns true: the handler returns at once without touching
 * the request again. j->finish then runs on the writer's thread with j->user set to a copy of
 * c (without a database connection); it answers through that copy and calls http_resume().
 */
bool app_create_request(struct ctx *c, struct req_create_job *j);

/* The dispatcher given to http_start. */
void app_dispatch(void *app, struct http_request *req, struct http_response *resp);
/* The body rules of the route a request goes to, given to http_start as its prepare step. */
void app_prepare(void *app, struct http_request *req, struct http_body_rules *rules);
/* Fills app->req from the configuration and creates DATA/tmp; app_free_requests undoes it. */
bool app_init_requests(struct app *app, char *err, size_t errlen);
void app_free_requests(struct app *app);
/* Route names (patterns) and methods for logs and metrics, and their count. */
const char *const *app_route_names(int *n);
const char *const *app_route_methods(int *n);
/*
 * Loads the static files named in static.c from cfg.static_dir. False with a message in err
 * when one is missing.
 */
bool app_load_static(struct app *app, char *err, size_t errlen);
void app_free_static(struct app *app);
const struct static_file *app_static(const struct app *app, const char *name);
struct search_query;
struct search_result;
/*
 * Runs a search on the current index (under its read lock). An empty result when the query has
 * no words or no index is loaded yet.
 */
void app_search(struct app *app, struct arena *a, const struct search_query *q, struct search_result *out);
/*
 * Runs a search for a person (the page or the API) and queues it for the search log unless
 * instant (as-you-type requests are not logged).
 */
void app_search_logged(struct app *app, struct arena *a, const struct search_query *q, struct search_result *out,
		       bool instant, const char *client);

/*
 * Rechecks the content version in the database and, when it changed, brings the search index up
 * to date and empties the page cache. The index is updated from the texts the change log
 * (kb_changes_since) names since the version it was made from; it is built from every text at
 * start, when the log cannot tell (too old, synonyms, a change of more than KB_CHANGES_MAX
 * texts), or when a quarter of its words are dead (search_dead_share). Called at start and by
 * the maintenance thread five times a second (one indexed row when nothing changed). Returns
 * false on a database error.
 */
bool app_refresh(struct app *app, struct db *db);

#endif
