/*
 * ctx — what a request handler gets: the request context (struct ctx) and the running portal it
 * points to (struct app), with the few services a handler may call on it: a static file, a
 * search (logged or not), and the hand-over of a request creation.
 *
 * This header sits below app/ (the route table and dispatcher) and the handlers (web/, api/,
 * desk/): handlers include it and never app/app.h, and only app/routes.c knows the handlers, so
 * the dependencies point one way (app -> handlers -> ctx). It never routes, renders or runs SQL.
 *
 * A handler gets a struct ctx: the request (with its arena), the response to fill, a database
 * connection from the pool, and the reader's country. struct app is created once by
 * `spravka serve` (main.c) and shared by every worker thread: the configuration (read-only), the
 * database pools, the search index (swapped under a lock when content changes), the static files
 * and the HTTP server.
 */
#ifndef SPRAVKA_CTX_H
#define SPRAVKA_CTX_H

#include "../core/config.h"
#include "../http/http.h"
#include "../req/req.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct arena;
struct db;
struct db_pool;
struct search_index;
struct search_log;
struct search_query;
struct search_result;
struct auth_user;
struct workers;

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
	atomic_bool resync;		 /* app_refresh builds the index from every text, whatever the version */
	_Atomic int64_t search_updates;	 /* index updates from the changed texts (app_refresh) */
	_Atomic int64_t search_rebuilds; /* index builds from every text */
	struct static_file *statics;
	size_t n_statics;
	struct search_log *search_log;
	struct insights *insights;  /* daily counts of views and request forms (insights/insights.h), or NULL */
	struct req_config req;	    /* support requests: limits, topics (from cfg) */
	const char **country_codes; /* cfg's country codes, for req */
	struct req_topic *topics;   /* cfg's [topics] for req, or NULL (the built-in list) */
	char *tmp_dir;		    /* DATA/tmp: uploads in progress */
	unsigned char link_key[32]; /* private links are derived with it (req.h; app_init_requests) */
	/* ctx_sections' copy of the first sections, for the search page (init: sections_lock) */
	pthread_mutex_t sections_lock;
	struct arena *sections_arena; /* under sections_lock: holds sections, or NULL (none read yet) */
	struct kb_section *sections;
	int n_sections;
	int64_t sections_version; /* the content version they were read at */
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

/*
 * The first CTX_SECTIONS sections by position (kb_section_list, without counts), copied into
 * c's request arena: from memory, read again from c->db only when the content version changed
 * since (the search page's filter needs them on every search: no database statement for it
 * then). Returns their number, -1 on a database error.
 */
#define CTX_SECTIONS 100
struct kb_section;
int ctx_sections(struct ctx *c, struct kb_section **out);
/* Frees ctx_sections' copy (at shutdown). */
void ctx_sections_free(struct app *app);

/* The static file called name (style.css...), or NULL. */
const struct static_file *ctx_static(const struct app *app, const char *name);

/*
 * Runs a search on the current index (under its read lock). An empty result when the query has
 * no words or no index is loaded yet.
 */
void ctx_search(struct app *app, struct arena *a, const struct search_query *q, struct search_result *out);
/*
 * Runs a search for a person (the page or the API) and queues it for the search log unless
 * instant (as-you-type requests are not logged).
 */
void ctx_search_logged(struct app *app, struct arena *a, const struct search_query *q, struct search_result *out,
		       bool instant, const char *client, const char *visit);

/*
 * The visit (issue #10, insights; search_log.h): a random id in the cookie CTX_VISIT_COOKIE,
 * set by the search page and kept SEARCH_LOG_VISIT_SECONDS after the last search. It is not a
 * credential and identifies nobody: 16 random bytes, no address, nothing stored with a request.
 * ctx_visit: the request's visit id, or NULL when it has none (or a malformed one).
 * ctx_visit_keep: the visit id to log a search under — the request's, or a new one — with the
 * cookie set on c's answer (refreshed: the window runs from the last search); NULL and no cookie
 * when the browser sends "DNT: 1" or "Sec-GPC: 1".
 */
#define CTX_VISIT_COOKIE "spravka_visit"
const char *ctx_visit(struct ctx *c);
const char *ctx_visit_keep(struct ctx *c);

/*
 * Creates a support request for a handler (j: cfg, a, in and finish filled, in the request's
 * arena). The checks run here on c's connection; when they decide already (invalid, duplicate,
 * replayed, limited...) it returns false with j->result final, and the handler answers at once.
 * Otherwise the connection is suspended, the files go to the file threads and the transaction
 * to the database writer, and it returns true: the handler returns at once without touching
 * the request again. j->finish then runs on the writer's thread with j->user set to a copy of
 * c (without a database connection); it answers through that copy and calls http_resume().
 */
bool ctx_create_request(struct ctx *c, struct req_create_job *j);

#endif
