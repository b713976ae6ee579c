/* The handlers' services on the running portal. See ctx.h. */
#include "ctx.h"

#include "../core/arena.h"
#include "../kb/kb.h"
#include "../search/result_cache.h"
#include "../search/search.h"
#include "../searchlog/search_log.h"

#include <sodium.h>
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
		       bool instant, const char *client, const char *visit)
{
	uint64_t t0 = http_now_us();
	ctx_search(app, a, q, out);
	if (!instant && app->search_log)
		search_log_add_visit(app->search_log, client, q->text, out->total, (int)(http_now_us() - t0), visit);
}

const char *ctx_visit(struct ctx *c)
{
	const char *v = http_cookie(c->req, CTX_VISIT_COOKIE);
	return search_log_visit_valid(v) ? v : NULL;
}

/* The browser asks not to be tracked (Do Not Track, Global Privacy Control). */
static bool opted_out(struct ctx *c)
{
	const char *dnt = http_header(c->req, "DNT"), *gpc = http_header(c->req, "Sec-GPC");
	return (dnt && !strcmp(dnt, "1")) || (gpc && !strcmp(gpc, "1"));
}

const char *ctx_visit_keep(struct ctx *c)
{
	if (opted_out(c))
		return NULL;
	const char *v = ctx_visit(c);
	if (!v) {
		unsigned char raw[16];
		randombytes_buf(raw, sizeof raw);
		char *s = arena_alloc(c->req->arena,
				      sodium_base64_ENCODED_LEN(sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING));
		sodium_bin2base64(s, sodium_base64_ENCODED_LEN(sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING),
				  raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
		v = s;
	}
	c->resp->set_cookie =
	    arena_printf(c->req->arena, CTX_VISIT_COOKIE "=%s; Path=/; HttpOnly; SameSite=Lax; Max-Age=%d%s", v,
			 SEARCH_LOG_VISIT_SECONDS, c->app->cfg.secure_cookies ? "; Secure" : "");
	return v;
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

/* Copies n sections into arena a (their strings too). */
static struct kb_section *copy_sections(struct arena *a, const struct kb_section *s, int n)
{
	struct kb_section *out = arena_alloc(a, (size_t)(n ? n : 1) * sizeof *out);
	for (int i = 0; i < n; i++)
		out[i] = (struct kb_section){.slug = arena_strdup(a, s[i].slug),
					     .title = arena_strdup(a, s[i].title),
					     .description = arena_strdup(a, s[i].description),
					     .position = s[i].position,
					     .n_articles = -1};
	return out;
}

int ctx_sections(struct ctx *c, struct kb_section **out)
{
	struct app *app = c->app;
	struct arena *a = c->req->arena;
	int64_t version = atomic_load(&app->content_version);
	pthread_mutex_lock(&app->sections_lock);
	if (app->sections_arena && app->sections_version == version) {
		*out = copy_sections(a, app->sections, app->n_sections);
		int n = app->n_sections;
		pthread_mutex_unlock(&app->sections_lock);
		return n;
	}
	pthread_mutex_unlock(&app->sections_lock);
	/* Read outside the lock (a slow database must not hold the other searches); the copy kept
	 * is the one of the latest version read. */
	struct kb_section *secs;
	int n = c->db ? kb_section_list(c->db, a, 0, CTX_SECTIONS, &secs) : -1;
	if (n < 0)
		return -1;
	struct arena *kept = arena_new();
	struct kb_section *copy = copy_sections(kept, secs, n);
	pthread_mutex_lock(&app->sections_lock);
	if (!app->sections_arena || app->sections_version <= version) {
		struct arena *old = app->sections_arena;
		app->sections_arena = kept;
		app->sections = copy;
		app->n_sections = n;
		app->sections_version = version;
		kept = old;
	}
	pthread_mutex_unlock(&app->sections_lock);
	if (kept)
		arena_free(kept);
	*out = secs;
	return n;
}

void ctx_sections_free(struct app *app)
{
	if (app->sections_arena)
		arena_free(app->sections_arena);
	app->sections_arena = NULL;
}
