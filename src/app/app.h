/*
 * app — the running portal's start-up, upkeep and the one route table.
 *
 * struct app (ctx/ctx.h) is created once by `spravka serve` (main.c) and then shared by every
 * worker thread. The route table in routes.c says, for every path, which handler answers (it is
 * the only place that knows the handlers of web/, api/ and desk/), which methods it takes, the
 * role it requires, whether it checks a CSRF token, the largest body it accepts, and whether its
 * answer can be cached; app_dispatch() enforces all of that before any handler runs. Handlers
 * include ctx/ctx.h, never this header: app/ depends on them, not the other way round.
 *
 * Back-office routes (the desk, /metrics) run on back_office — desk_threads threads at nice
 * BACK_OFFICE_NICE — with connections of back_pool, never of pool: the portal's threads and
 * connections are never held by desk work, however slow its queries. Their handlers must not
 * suspend the request themselves (no ctx_create_request).
 */
#ifndef SPRAVKA_APP_H
#define SPRAVKA_APP_H

#include "../ctx/ctx.h"
#include "../http/http.h"

#include <stdbool.h>
#include <stddef.h>

/* The CPU priority of the back-office threads (a nice value; docs/benchmarks.md, "Portal
 * isolation"). */
#define BACK_OFFICE_NICE 10

/* The largest ?page= taken: a listing of more pages does not exist on one machine. */
#define APP_MAX_PAGE 1000000
/*
 * The ?page= of a paginated listing: 1 when absent; the number when the parameter is given
 * exactly once as a canonical decimal from 1 to APP_MAX_PAGE ("2", not "02", "+2", "2.0", "1e3");
 * 0 otherwise (the handler answers 400). The dispatcher sets ctx.page with it and adds the page
 * to the cache key (page 1 and no parameter share one key; other parameters never make a key).
 */
int app_page(const struct http_request *req);

/* The dispatcher given to http_start. */
void app_dispatch(void *app, struct http_request *req, struct http_response *resp);
/* The body rules of the route a request goes to, given to http_start as its prepare step. */
void app_prepare(void *app, struct http_request *req, struct http_body_rules *rules);
/* Fills app->req from the configuration (the link key: DATA/link.key on SQLite, the database's
 * on PostgreSQL, app->pool's) and creates DATA/tmp; app_free_requests undoes it. */
bool app_init_requests(struct app *app, char *err, size_t errlen);
void app_free_requests(struct app *app);
/* Route names (patterns) and methods for logs and metrics, and their count. */
const char *const *app_route_names(int *n);
const char *const *app_route_methods(int *n);
/*
 * Loads the static files named in app.c from cfg.static_dir (ctx_static finds them). False with a message in err
 * when one is missing.
 */
bool app_load_static(struct app *app, char *err, size_t errlen);
void app_free_static(struct app *app);
/*
 * Rechecks the content version in the database and, when it changed, brings the search index up
 * to date and empties the page cache. The index is updated from the texts the change log
 * (kb_changes_since) names since the version it was made from; it is built from every text at
 * start, when the log cannot tell (too old, synonyms, a change of more than KB_CHANGES_MAX
 * texts), when a quarter of its words are dead (search_dead_share), or when app->resync is set
 * (the listener of a PostgreSQL node reconnected: changes may have been missed). Called at start
 * and by the maintenance thread: on SQLite five times a second, on PostgreSQL as soon as a change
 * is announced (db_listen, KB_CHANNEL) and once a second besides (one indexed row when nothing
 * changed). Returns false on a database error.
 */
bool app_refresh(struct app *app, struct db *db);

#endif
