/* The handlers' services on the running portal. See ctx.h. */
#include "ctx.h"

#include "../core/arena.h"
#include "../search/result_cache.h"
#include "../search/search.h"
#include "../searchlog/search_log.h"

#include <string.h>

const struct static_file *ctx_static(const struct app *app, const char *name)
{
	for (size_t i = 0; i < app->n_statics; i++)
		if (!strcmp(app->statics[i].name, name))
			return &app->statics[i];
	return NULL;
}

void ctx_search(struct app *app, struct arena *a, const struct search_query *q, struct search_result *out)
{
	pthread_rwlock_rdlock(&app->index_lock);
	int rc = -1;
	if (search_cache_get(app->search_cache, app->index_gen, q, a, out)) {
		rc = 0;
	} else if (app->index) {
		rc = search_run(app->index, a, q, out);
		if (rc >= 0)
			search_cache_put(app->search_cache, app->index_gen, q, out);
	}
	pthread_rwlock_unlock(&app->index_lock);
	if (rc < 0)
		*out = (struct search_result){0};
}

void ctx_search_logged(struct app *app, struct arena *a, const struct search_query *q, struct search_result *out,
		       bool instant, const char *client)
{
	uint64_t t0 = http_now_us();
	ctx_search(app, a, q, out);
	if (!instant && app->search_log)
		search_log_add(app->search_log, client, q->text, out->total, (int)(http_now_us() - t0));
}

/* The plain text of a text's Markdown body, in a. */
bool ctx_create_request(struct ctx *c, struct req_create_job *j)
{
	if (!req_create_check(c->db, j))
		return false;
	struct ctx *later = arena_alloc(c->req->arena, sizeof *later);
	*later = *c;
	later->db = NULL; /* the handler's connection goes back to the pool */
	j->user = later;
	http_suspend(c->req);
	req_create_submit(c->app->writer, c->app->file_sync, j); /* last: the job owns req now */
	return true;
}
