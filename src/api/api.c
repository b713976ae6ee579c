#include "api.h"

#include "../ctx/ctx.h"
#include "../core/arena.h"
#include "../core/buf.h"
#include "../core/text.h"
#include "../kb/kb.h"
#include "../md/md.h"
#include "../media/media.h"
#include "../search/search.h"
#include "../searchlog/search_log.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void api_send_json(struct ctx *c, int status, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6));
	json_decref(j);
	buf_reset(&c->resp->body);
	if (!s) {
		c->resp->status = 500;
		return;
	}
	buf_adds(&c->resp->body, s);
	buf_addc(&c->resp->body, '\n');
	free(s);
	c->resp->status = status;
	c->resp->content_type = "application/json; charset=utf-8";
}

void api_error(struct ctx *c, int status, const char *code, const char *message)
{
	c->resp->cache_control = "no-store";
	api_send_json(c, status, json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message));
}

static void db_failed(struct ctx *c)
{
	api_error(c, 503, "unavailable", "Справочный центр временно недоступен, попробуйте позже.");
}

static json_t *list_json(struct arena *a, const char *list)
{
	char **items;
	size_t n = split_list(a, list, &items);
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_string(items[i]));
	return arr;
}

/* Sections per page of /api/v1/sections: far more than a help center has, few enough that the
 * answer stays small (about 1.5 MB at worst). */
#define API_SECTIONS_PAGE 1000

/* The URL of page p of a listing at path (page 1 is the bare path). */
static const char *page_url(struct arena *a, const char *path, int p)
{
	return p == 1 ? path : arena_printf(a, "%s?page=%d", path, p);
}

/* Checks c->page against pages (answers 400 or 404 and returns false when it is not one of
 * them); sets the Link header to the neighbouring pages. */
static bool page_in_range(struct ctx *c, const char *path, int pages)
{
	if (c->page < 1) {
		api_error(c, 400, "bad_page",
			  "Параметр page должен быть целым числом от 1, указанным один раз, например page=2.");
		return false;
	}
	if (c->page > pages) {
		api_error(c, 404, "not_found",
			  arena_printf(c->req->arena, "Такой страницы нет: последняя страница — %d.", pages));
		return false;
	}
	struct arena *a = c->req->arena;
	const char *prev = c->page > 1 ? arena_printf(a, "<%s>; rel=\"prev\"", page_url(a, path, c->page - 1)) : NULL;
	const char *next =
	    c->page < pages ? arena_printf(a, "<%s>; rel=\"next\"", page_url(a, path, c->page + 1)) : NULL;
	c->resp->link = prev && next ? arena_printf(a, "%s, %s", prev, next) : prev ? prev : next;
	return true;
}

static int page_count(int total, int size)
{
	return total <= 0 ? 1 : (total - 1) / size + 1;
}

void api_sections(struct ctx *c)
{
	int total = kb_section_total(c->db);
	if (total < 0)
		return db_failed(c);
	if (!page_in_range(c, "/api/v1/sections", page_count(total, API_SECTIONS_PAGE)))
		return;
	struct kb_section *secs;
	int n = kb_section_list(c->db, c->req->arena, (c->page - 1) * API_SECTIONS_PAGE, API_SECTIONS_PAGE, &secs);
	if (n < 0)
		return db_failed(c);
	json_t *arr = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(arr,
				      json_pack("{s:s,s:s,s:s,s:i}", "slug", secs[i].slug, "title", secs[i].title,
						"description", secs[i].description, "articles", secs[i].n_articles));
	api_send_json(c, 200, arr);
}

void api_section(struct ctx *c)
{
	struct arena *a = c->req->arena;
	struct kb_section sec;
	int found = kb_section_get(c->db, a, c->arg, &sec);
	if (found < 0)
		return db_failed(c);
	if (!found)
		return api_error(c, 404, "not_found", "Такого раздела нет.");
	int size = c->app->cfg.section_page_size;
	int pages = page_count(sec.n_articles, size);
	const char *path = arena_printf(a, "/api/v1/sections/%s", sec.slug);
	if (!page_in_range(c, path, pages))
		return;
	struct kb_text *arts;
	int n = kb_section_articles(c->db, a, sec.slug, (c->page - 1) * size, size, sec.n_articles, &arts);
	if (n < 0)
		return db_failed(c);
	json_t *arr = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s,s:s}", "slug", arts[i].slug, "title",
						     arts[i].title, "summary", arts[i].summary, "updated",
						     arts[i].updated, "url", arena_printf(a, "/a/%s", arts[i].slug)));
	api_send_json(c, 200,
		      json_pack("{s:s,s:s,s:s,s:i,s:o,s:i,s:i,s:i,s:s?}", "slug", sec.slug, "title", sec.title,
				"description", sec.description, "position", sec.position, "articles", arr, "page",
				c->page, "pages", pages, "total", sec.n_articles, "next",
				c->page < pages ? page_url(a, path, c->page + 1) : NULL));
}

void api_article(struct ctx *c)
{
	struct arena *a = c->req->arena;
	struct kb_view v;
	int found = kb_article_for(c->db, a, c->arg, c->country, &v);
	if (found < 0)
		return db_failed(c);
	if (!found) {
		const char *to;
		int gone = kb_redirect(c->db, a, c->arg, &to);
		if (gone < 0)
			return db_failed(c);
		if (gone && to) {
			c->resp->location = arena_printf(a, "/api/v1/articles/%s", to);
			return api_send_json(c, 301, json_pack("{s:s,s:s}", "moved_to", to, "url", c->resp->location));
		}
		if (gone)
			return api_error(c, 410, "archived", "Статья снята с публикации.");
		return api_error(c, 404, "not_found", "Такой статьи нет.");
	}
	const struct kb_text *t = &v.text;
	char **rel;
	size_t nr = split_list(a, t->related, &rel);
	json_t *related = json_array();
	for (size_t i = 0; i < nr; i++) {
		const char *title = kb_title(c->db, a, rel[i]);
		if (title)
			json_array_append_new(related, json_pack("{s:s,s:s,s:s}", "slug", rel[i], "title", title, "url",
								 arena_printf(a, "/a/%s", rel[i])));
	}
	json_t *variants = json_array();
	for (size_t i = 0; i < v.n_variants; i++)
		json_array_append_new(variants, json_string(v.variants[i]));
	char *html = md_to_html_images(t->body, strlen(t->body), media_size_lookup, c->db);
	json_t *j =
	    json_pack("{s:s,s:s?,s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:b,s:s,s:s,s:s}", "slug", t->slug, "country",
		      *t->country ? t->country : NULL, "reader_country", c->country, "title", t->title, "section",
		      t->section, "summary", t->summary, "countries", list_json(a, t->countries), "keywords",
		      list_json(a, t->keywords), "related", related, "variants", variants, "foreign", v.foreign,
		      "updated", t->updated, "html", html, "url", arena_printf(a, "/a/%s", t->slug));
	free(html);
	/* "What to prepare" (issue #10): the checklist shown before the steps, one string an item. */
	json_t *prepare = json_array();
	for (const char *p = t->prepare ? t->prepare : ""; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		json_array_append_new(prepare, json_stringn(p, len));
		p += len + (nl ? 1 : 0);
	}
	json_object_set_new(j, "prepare", prepare);
	api_send_json(c, 200, j);
}

/* The integer parameter name, when given, into *v: false when it is not a number within [lo, hi]
 * (*v keeps its default when the parameter is absent). */
static bool int_param(struct ctx *c, const char *name, long lo, long hi, long *v)
{
	const char *s = http_param(c->req, name);
	if (!s)
		return true;
	char *end;
	long l = strtol(s, &end, 10);
	if (!*s || *end || l < lo || l > hi)
		return false;
	*v = l;
	return true;
}

void api_search(struct ctx *c)
{
	struct arena *a = c->req->arena;
	const char *raw = http_param(c->req, "q");
	const char *q = raw ? search_clean_query(a, raw) : "";
	if (!*q)
		return api_error(c, 400, "empty_query", "Введите текст запроса в параметре q.");
	long limit = 10;
	if (!int_param(c, "limit", 1, 100, &limit))
		return api_error(c, 400, "bad_limit", "Параметр limit должен быть числом от 1 до 100.");
	const char *section = http_param(c->req, "section");
	if (section && !*section)
		section = NULL;
	if (section) {
		struct kb_section sec;
		int found = kb_section_name(c->db, a, section, &sec);
		if (found < 0)
			return db_failed(c);
		if (!found)
			return api_error(c, 400, "bad_section", "Такого раздела нет.");
	}
	struct search_query sq = {
	    .text = q, .country = c->country, .section = section, .limit = (int)limit, .snippets = true};
	struct search_result r;
	const char *instant = http_param(c->req, "instant");
	ctx_search_logged(c->app, a, &sq, &r, instant && !strcmp(instant, "1"), http_client_ip(c->req), NULL);
	json_t *results = json_array();
	for (int i = 0; i < r.n; i++)
		json_array_append_new(
		    results, json_pack("{s:s,s:s,s:s,s:s,s:s,s:f}", "slug", r.hits[i].slug, "title", r.hits[i].title,
				       "section", r.hits[i].section, "snippet", r.hits[i].snippet_html, "url",
				       arena_printf(a, "/a/%s", r.hits[i].slug), "score", r.hits[i].score));
	api_send_json(c, 200,
		      json_pack("{s:s,s:i,s:s?,s:o}", "query", q, "total", r.total, "corrected", r.corrected, "results",
				results));
}

/* The insights' days (1-3650) and limit (1-1000) parameters; false when answered with 400. */
static bool insights_window(struct ctx *c, long *days, long *limit)
{
	if (!int_param(c, "days", 1, 3650, days)) {
		api_error(c, 400, "bad_days", "Параметр days должен быть числом от 1 до 3650.");
		return false;
	}
	if (!int_param(c, "limit", 1, 1000, limit)) {
		api_error(c, 400, "bad_limit", "Параметр limit должен быть числом от 1 до 1000.");
		return false;
	}
	return true;
}

/* GET /api/v1/insights/searches?kind=zero|noclick|all&days=N&limit=N (an editor's token):
 * [{"query", "count"}], the searches of the last days days grouped by normalized text. */
void api_insights_searches(struct ctx *c)
{
	struct arena *a = c->req->arena;
	const char *kind = http_param(c->req, "kind");
	enum search_log_kind k;
	if (!kind || !strcmp(kind, "all"))
		k = SEARCH_LOG_ALL;
	else if (!strcmp(kind, "zero"))
		k = SEARCH_LOG_ZERO;
	else if (!strcmp(kind, "noclick"))
		k = SEARCH_LOG_NO_CLICK;
	else
		return api_error(c, 400, "bad_kind", "Параметр kind: zero, noclick или all.");
	long days = 30, limit = 100;
	if (!insights_window(c, &days, &limit))
		return;
	struct search_log_group *g;
	int n = search_log_groups(c->db, a, k, (int)days, (int)limit, &g);
	if (n < 0)
		return db_failed(c);
	json_t *out = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(out,
				      json_pack("{s:s,s:I}", "query", g[i].query, "count", (json_int_t)g[i].count));
	c->resp->cache_control = "no-store";
	api_send_json(c, 200, out);
}

/* GET /api/v1/insights/articles?days=N&limit=N (an editor's token): the feedback of the last
 * days days per article, [{"slug", "title", "yes", "no", "comments"}], the least helpful first. */
void api_insights_articles(struct ctx *c)
{
	long days = 30, limit = 100;
	if (!insights_window(c, &days, &limit))
		return;
	struct kb_feedback_count *fc;
	int n = kb_feedback_counts(c->db, c->req->arena, (int)days, (int64_t)time(NULL), (int)limit, &fc);
	if (n < 0)
		return db_failed(c);
	json_t *out = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(out, json_pack("{s:s,s:s,s:I,s:I,s:I}", "slug", fc[i].slug, "title", fc[i].title,
						     "yes", (json_int_t)fc[i].yes, "no", (json_int_t)fc[i].no,
						     "comments", (json_int_t)fc[i].comments));
	c->resp->cache_control = "no-store";
	api_send_json(c, 200, out);
}
