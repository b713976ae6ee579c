/*
 * The route table and the dispatcher: where every request goes.
 *
 * One row per route: the path pattern (a trailing {name} matches one non-empty segment), the
 * methods it answers (GET always brings HEAD), the handler, the role it requires, whether it
 * checks a CSRF token, the largest body it takes, and flags. The dispatcher enforces all of it
 * before the handler runs: unknown path -> 404, other method -> 405 with Allow, too big a body ->
 * 413, missing role -> login redirect or 403 (roles arrive with the desk), and a cacheable route
 * is answered from the page cache without touching the database.
 *
 * Two classes of routes: the portal (members' pages, the API) runs on the HTTP thread that
 * received the request, with the portal's connections; the back office (R_BACK: the desk and
 * /metrics) is handed to the back-office threads after the checks that need no database
 * (route, method, origin, body), and there the session, role and CSRF checks and the handler run
 * with the back office's own connections, at a lower CPU priority. The connection is suspended
 * meanwhile, so a slow desk query never holds an HTTP thread (docs/architecture.md, "Threads").
 *
 * Cross-site writes: a form (every POST outside /api/) that a browser sends from another site is
 * refused with 403 — the Origin header, or the Referer when there is no Origin, must name the
 * site itself (public_url when configured, else the request's Host); "Origin: null" (sandboxed
 * frames, file: pages, redirected posts) counts as another site. A request with neither header
 * is not a browser's cross-site form and goes on (CSRF tokens still apply where a route checks
 * them). The API's request creation takes application/json or multipart/form-data only (415):
 * other types (text/plain...) are what a page elsewhere can send without a CORS preflight.
 */
#include "app.h"

#include "../api/api.h"
#include "../auth/auth.h"
#include "../desk/desk.h"
#include "../core/arena.h"
#include "../core/buf.h"
#include "../core/workers.h"
#include "../core/text.h"
#include "../db/db.h"
#include "../insights/insights.h"
#include "../kb/kb.h"
#include "../search/result_cache.h"
#include "../search/search.h"
#include "../searchlog/search_log.h"
#include "../web/web.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum method { M_GET = 1, M_POST = 2, M_PUT = 4 };
/* The role a route requires (bits of auth.h; an admin has them all). */
enum role {
	ROLE_ANYONE = 0,
	ROLE_AGENT = AUTH_AGENT,
	ROLE_EDITOR = AUTH_EDITOR,
	ROLE_ADMIN = AUTH_ADMIN,
	ROLE_SIGNED_IN = AUTH_AGENT | AUTH_EDITOR | AUTH_ADMIN, /* any account */
};
enum flags {
	R_CACHE = 1,	     /* the answer depends only on the path and the reader's country */
	R_API = 2,	     /* errors are JSON */
	R_NODB = 4,	     /* needs no database connection */
	R_COUNTRY_PARAM = 8, /* ?country=XX may override the reader's country */
	R_SEARCH_CLICK = 16, /* ?sq=QUERY records a click on a search result */
	R_PAGED = 32,	     /* ?page=N (app_page): part of the cache key */
	R_ANY_COUNTRY = 64,  /* with R_CACHE: the answer is the same for every country (cached once) */
	R_BACK = 128,	     /* back office: run on the back-office threads (see app.h) */
	R_LONG_FIELDS = 256, /* a form field may fill the route's body limit (an article's text), not 64 KB */
	R_COUNT_VIEW = 512,  /* a GET counts a view of the article {slug} (insights.h), cached answers too */
};
/* What a route takes as a body. */
enum body { B_NONE, B_FORM, B_JSON_OR_FORM, B_JSON /* JSON only, up to the route's limit */ };

#define KB 1024u
/* A request with attachments: 25 MB of files and room for the text fields. */
#define REQUEST_BODY (REQ_MAX_TOTAL_BYTES + 256 * KB)

struct route {
	const char *pattern;
	enum method method; /* GET also answers HEAD */
	void (*handler)(struct ctx *);
	enum role role;
	bool csrf;
	enum body body;
	size_t body_limit;
	unsigned flags;
};

static void sys_healthz(struct ctx *c);
static void sys_livez(struct ctx *c);
static void sys_metrics(struct ctx *c);
static void sys_static(struct ctx *c);

/* clang-format off */
static const struct route routes[] = {
	/* pattern                   method  handler              role         csrf   body            limit         flags */
	{"/",                        M_GET,  page_home,           ROLE_ANYONE, false, B_NONE,         0,            R_CACHE},
	{"/s/{section}",             M_GET,  page_section,        ROLE_ANYONE, false, B_NONE,         0,            R_CACHE | R_PAGED},
	{"/sections",                M_GET,  page_sections,       ROLE_ANYONE, false, B_NONE,         0,            R_CACHE | R_PAGED},
	{"/a/{slug}",                M_GET,  page_article,        ROLE_ANYONE, false, B_NONE,         0,            R_CACHE | R_COUNTRY_PARAM | R_SEARCH_CLICK | R_COUNT_VIEW},
	/* «Была ли статья полезной?»: a form of the cached article page (nothing per reader in it);
	 * the browser's id cookie is set on the answer. */
	{"/feedback/{slug}",         M_POST, page_article_feedback, ROLE_ANYONE, false, B_FORM,       16 * KB,      0},
	{"/search",                  M_GET,  page_search,         ROLE_ANYONE, false, B_NONE,         0,            0},
	/* The request form carries a one-time form token (a double submit creates one request):
	 * never cached. The member's private link is the credential of /r/{token}. */
	{"/request",                 M_GET,  page_request,        ROLE_ANYONE, false, B_NONE,         0,            0},
	{"/request",                 M_POST, page_request_post,   ROLE_ANYONE, false, B_FORM,         REQUEST_BODY, 0},
	{"/request/solved",          M_POST, page_request_solved, ROLE_ANYONE, false, B_FORM,         16 * KB,      0},
	/* «Потеряли ссылку?»: links go only to the contacts stored on the requests. */
	{"/request/lost",            M_GET,  page_request_lost,   ROLE_ANYONE, false, B_NONE,         0,            0},
	{"/request/lost",            M_POST, page_request_lost_post, ROLE_ANYONE, false, B_FORM,      16 * KB,      0},
	{"/r/{token}",               M_GET,  page_status,         ROLE_ANYONE, false, B_NONE,         0,            0},
	{"/r/{token}",               M_POST, page_status_post,    ROLE_ANYONE, false, B_FORM,         REQUEST_BODY, 0},
	/* Sets a preference cookie and redirects; no CSRF check: it changes nothing server-side. */
	{"/country",                 M_GET,  page_country,        ROLE_ANYONE, false, B_NONE,         0,            R_NODB},
	{"/static/{file}",           M_GET,  sys_static,          ROLE_ANYONE, false, B_NONE,         0,            R_NODB},
	/* /healthz: the node can serve, its database answers (balancers take it out otherwise);
	 * /livez: the process answers at all (a supervisor restarts it otherwise). */
	{"/healthz",                 M_GET,  sys_healthz,         ROLE_ANYONE, false, B_NONE,         0,            0},
	{"/livez",                   M_GET,  sys_livez,           ROLE_ANYONE, false, B_NONE,         0,            R_NODB},
	{"/metrics",                 M_GET,  sys_metrics,         ROLE_ANYONE, false, B_NONE,         0,            R_BACK},
	{"/api/v1/sections",         M_GET,  api_sections,        ROLE_ANYONE, false, B_NONE,         0,            R_API | R_CACHE | R_PAGED | R_ANY_COUNTRY},
	{"/api/v1/sections/{slug}",  M_GET,  api_section,         ROLE_ANYONE, false, B_NONE,         0,            R_API | R_CACHE | R_PAGED | R_ANY_COUNTRY},
	{"/api/v1/articles/{slug}",  M_GET,  api_article,         ROLE_ANYONE, false, B_NONE,         0,            R_API | R_CACHE | R_COUNTRY_PARAM},
	{"/api/v1/search",           M_GET,  api_search,          ROLE_ANYONE, false, B_NONE,         0,            R_API | R_COUNTRY_PARAM},
	{"/api/v1/topics",           M_GET,  api_topics,          ROLE_ANYONE, false, B_NONE,         0,            R_API | R_NODB},
	{"/api/v1/requests",         M_POST, api_request_create,  ROLE_ANYONE, false, B_JSON_OR_FORM, REQUEST_BODY, R_API},
	/* For automation: an API token (auth.h) of an editor or an admin. */
	{"/api/v1/articles/{slug}",  M_PUT,  api_article_put,     ROLE_EDITOR, false, B_JSON,         2048 * KB,    R_API | R_BACK},
	/* A body, if any, is JSON and ignored (room for a comment later). */
	{"/api/v1/articles/{slug}/publish", M_POST, api_article_publish, ROLE_EDITOR, false, B_JSON,   16 * KB,      R_API | R_BACK},
	{"/api/v1/articles/{slug}/submit", M_POST, api_article_submit, ROLE_EDITOR, false, B_JSON,    16 * KB,      R_API | R_BACK},
	{"/api/v1/articles/{slug}/revisions", M_GET, api_article_revisions, ROLE_EDITOR, false, B_NONE, 0,          R_API | R_BACK},
	{"/api/v1/articles/{slug}/archive", M_POST, api_article_archive, ROLE_EDITOR, false, B_JSON,   16 * KB,      R_API | R_BACK},
	{"/api/v1/articles/{slug}/rename", M_POST, api_article_rename, ROLE_EDITOR, false, B_JSON,     16 * KB,      R_API | R_BACK},
	{"/api/v1/articles/{slug}/audit", M_GET, api_article_audit,  ROLE_EDITOR, false, B_NONE,       0,            R_API | R_BACK},
	{"/api/v1/insights/searches", M_GET, api_insights_searches, ROLE_EDITOR, false, B_NONE,      0,            R_API | R_BACK},
	{"/api/v1/insights/articles", M_GET, api_insights_articles, ROLE_EDITOR, false, B_NONE,      0,            R_API | R_BACK},
	/* The desk. Login checks its own double-submit token (there is no session yet). */
	{"/desk/login",              M_GET,  desk_login_form,     ROLE_ANYONE, false, B_NONE,         0,            R_BACK},
	{"/desk/login",              M_POST, desk_login,          ROLE_ANYONE, false, B_FORM,         16 * KB,      R_BACK},
	{"/desk/logout",             M_POST, desk_logout,         ROLE_SIGNED_IN, true, B_FORM,       16 * KB,      R_BACK},
	/* Any account: agents get the queue, editors who are not agents their articles. */
	{"/desk",                    M_GET,  desk_queue,          ROLE_SIGNED_IN, false, B_NONE,      0,            R_BACK},
	{"/desk/r/{number}",         M_GET,  desk_request,        ROLE_AGENT,  false, B_NONE,         0,            R_BACK},
	{"/desk/r/{number}",         M_POST, desk_action,         ROLE_AGENT,  true,  B_FORM,         256 * KB,     R_BACK},
	{"/desk/f/{id}",             M_GET,  desk_file,           ROLE_AGENT,  false, B_NONE,         0,            R_BACK},
	{"/desk/canned",             M_GET,  desk_canned,         ROLE_AGENT,  false, B_NONE,         0,            R_BACK},
	{"/desk/canned",             M_POST, desk_canned_add,     ROLE_AGENT,  true,  B_FORM,         64 * KB,      R_BACK},
	{"/desk/outbox",             M_GET,  desk_outbox,         ROLE_AGENT,  false, B_NONE,         0,            R_BACK},
	{"/desk/articles",           M_GET,  desk_articles,       ROLE_EDITOR, false, B_NONE,         0,            R_BACK},
	{"/desk/articles/{slug}",    M_GET,  desk_article,        ROLE_EDITOR, false, B_NONE,         0,            R_BACK},
	{"/desk/articles/{slug}",    M_POST, desk_article_action, ROLE_EDITOR, true,  B_FORM,         16 * KB,      R_BACK},
	{"/desk/articles/{slug}/edit", M_GET, desk_article_edit,  ROLE_EDITOR, false, B_NONE,         0,            R_BACK},
	{"/desk/articles/{slug}/edit", M_POST, desk_article_save, ROLE_EDITOR, true,  B_FORM,         2048 * KB,    R_BACK | R_LONG_FIELDS},
	/* Insights and content gaps (desk/insights.c): the reports, each table as CSV, the gaps'
	 * one-step fixes. */
	{"/desk/insights",           M_GET,  desk_insights,       ROLE_EDITOR, false, B_NONE,         0,            R_BACK},
	{"/desk/insights/{table}",   M_GET,  desk_insights_csv,   ROLE_EDITOR, false, B_NONE,         0,            R_BACK},
	{"/desk/gaps",               M_GET,  desk_gaps,           ROLE_EDITOR, false, B_NONE,         0,            R_BACK},
	{"/desk/gaps",               M_POST, desk_gaps_action,    ROLE_EDITOR, true,  B_FORM,         16 * KB,      R_BACK},
	{"/desk/sections",           M_GET,  desk_sections,       ROLE_EDITOR, false, B_NONE,         0,            R_BACK},
	{"/desk/sections",           M_POST, desk_section_create, ROLE_EDITOR, true,  B_FORM,         16 * KB,      R_BACK},
	{"/desk/sections/{slug}",    M_GET,  desk_section,        ROLE_EDITOR, false, B_NONE,         0,            R_BACK},
	{"/desk/sections/{slug}",    M_POST, desk_section_action, ROLE_EDITOR, true,  B_FORM,         16 * KB,      R_BACK},
	/* The editing workspace, second part (desk/workspace.c, the editors' API's reject). */
	{"/desk/articles/{slug}/preview", M_POST, desk_article_preview, ROLE_EDITOR, true, B_FORM,    2048 * KB,    R_BACK | R_LONG_FIELDS},
	{"/desk/articles/{slug}/diff", M_GET, desk_article_diff,  ROLE_EDITOR, false, B_NONE,         0,            R_BACK},
	{"/desk/articles/{slug}/archive", M_GET, desk_article_archive_form, ROLE_EDITOR, false, B_NONE, 0,          R_BACK},
	{"/desk/articles/{slug}/archive", M_POST, desk_article_archive, ROLE_EDITOR, true, B_FORM,    16 * KB,      R_BACK},
	{"/desk/articles/{slug}/rename", M_GET, desk_article_rename_form, ROLE_EDITOR, false, B_NONE,  0,            R_BACK},
	{"/desk/articles/{slug}/rename", M_POST, desk_article_rename, ROLE_EDITOR, true, B_FORM,      16 * KB,      R_BACK},
	{"/desk/stale",              M_GET,  desk_stale,          ROLE_EDITOR, false, B_NONE,         0,            R_BACK},
	{"/api/v1/articles/{slug}/reject", M_POST, api_article_reject, ROLE_EDITOR, false, B_JSON,    16 * KB,      R_API | R_BACK},
	/* Article images (issue #10): the upload (the handler refuses more than IMAGE_MAX_BYTES with
	 * its own message; the body limit only bounds the bytes read) and the images themselves,
	 * served by name from the page cache or the files store. */
	{"/desk/media",              M_GET,  desk_media_form,     ROLE_EDITOR, false, B_NONE,         0,            R_BACK},
	{"/desk/media",              M_POST, desk_media_upload,   ROLE_EDITOR, true,  B_FORM,         8192 * KB,    R_BACK},
	{"/media/{name}",            M_GET,  page_media,          ROLE_ANYONE, false, B_NONE,         0,            0},
};
/* clang-format on */
#define N_ROUTES ((int)(sizeof routes / sizeof routes[0]))

const char *const *app_route_names(int *n)
{
	static const char *names[N_ROUTES];
	for (int i = 0; i < N_ROUTES; i++)
		names[i] = routes[i].pattern;
	*n = N_ROUTES;
	return names;
}

const char *const *app_route_methods(int *n)
{
	static const char *methods[N_ROUTES];
	for (int i = 0; i < N_ROUTES; i++)
		methods[i] = routes[i].method == M_POST ? "POST" : routes[i].method == M_PUT ? "PUT" : "GET";
	*n = N_ROUTES;
	return methods;
}

/* Matches path against pattern; *arg gets the {…} segment (one non-empty path segment, which
 * the rest of the pattern after it must follow exactly). */
static bool match(const char *pattern, const char *path, struct arena *a, const char **arg)
{
	const char *brace = strchr(pattern, '{');
	if (!brace)
		return !strcmp(pattern, path);
	size_t plen = (size_t)(brace - pattern);
	if (strncmp(pattern, path, plen) != 0)
		return false;
	const char *rest = path + plen;
	size_t seg = strcspn(rest, "/");
	const char *after = strchr(brace, '}') + 1;
	if (!seg || strcmp(rest + seg, after) != 0)
		return false;
	*arg = arena_strndup(a, rest, seg);
	return true;
}

static bool is_api_path(const char *path)
{
	return !strncmp(path, "/api/", 5) || !strcmp(path, "/api");
}

static void refuse(struct ctx *c, bool api, int status)
{
	const char *code, *msg;
	switch (status) {
	case 414:
		code = "uri_too_long";
		msg = "Слишком длинный адрес страницы. Сократите запрос и попробуйте снова.";
		break;
	case 431:
		code = "headers_too_large";
		msg = "Слишком большие заголовки запроса. Очистите cookie для этого сайта и "
		      "попробуйте снова.";
		break;
	case 413:
		code = "body_too_large";
		msg = "Слишком большой объём данных в запросе.";
		break;
	case 405:
		code = "method_not_allowed";
		msg = "Этот адрес не поддерживает такой метод запроса.";
		break;
	case 404:
		code = "not_found";
		msg = "Такого адреса нет.";
		break;
	default:
		code = "bad_request";
		msg = "Некорректный адрес: в нём недопустимые символы или неверная кодировка.";
		break;
	}
	if (api)
		api_error(c, status, code, msg);
	else if (status == 404)
		page_not_found(c);
	else
		page_error(c, status, msg);
}

/* A body broken while it was read: 413 (too large, too many files) or 400. */
static void refuse_body(struct ctx *c, bool api)
{
	int status = c->req->body_error == 500 ? 503 : c->req->body_error;
	const char *msg = c->req->body_problem ? c->req->body_problem : "Некорректный запрос.";
	if (api)
		api_error(c, status, status == 413 ? "body_too_large" : "bad_request", msg);
	else
		page_error(c, status, msg);
}

/* ct is type with optional parameters; case-insensitive. */
static bool media_type_is(const char *ct, const char *type)
{
	size_t n = strlen(type);
	if (!ct || strncasecmp(ct, type, n) != 0)
		return false;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t';
}

static bool api_json_type_ok(const char *ct)
{
	return media_type_is(ct, "application/json");
}

static bool api_body_type_ok(const char *ct)
{
	return media_type_is(ct, "application/json") || media_type_is(ct, "multipart/form-data");
}

/* scheme://authority of an absolute http(s) URL, lower case, without the scheme's default port;
 * false for anything else ("null", file:, a path). */
static bool url_origin(const char *url, char *out, size_t outlen)
{
	const char *rest;
	bool https;
	if (!strncasecmp(url, "http://", 7))
		https = false, rest = url + 7;
	else if (!strncasecmp(url, "https://", 8))
		https = true, rest = url + 8;
	else
		return false;
	size_t n = strcspn(rest, "/?#");
	if (n == 0 || memchr(rest, '@', n) || n + 9 >= outlen)
		return false;
	const char *dflt = https ? ":443" : ":80";
	size_t dl = strlen(dflt);
	if (n > dl && !memcmp(rest + n - dl, dflt, dl))
		n -= dl;
	int len = snprintf(out, outlen, "%s://%.*s", https ? "https" : "http", (int)n, rest);
	for (int i = 0; i < len; i++)
		out[i] = (char)(out[i] >= 'A' && out[i] <= 'Z' ? out[i] + 32 : out[i]);
	return true;
}

/* Whether a browser's form comes from the site itself (see the header comment). */
static bool same_origin(const struct ctx *c)
{
	const char *from = http_header(c->req, "Origin");
	if (!from) {
		from = http_header(c->req, "Referer");
		if (!from)
			return true;
	}
	char got[512], own[512];
	if (!url_origin(from, got, sizeof got))
		return false;
	if (c->app->cfg.public_url_set)
		return url_origin(c->app->cfg.public_url, own, sizeof own) && !strcmp(got, own);
	/* Without public_url: the Host this request was sent to, under the origin's scheme. */
	const char *host = http_header(c->req, "Host");
	if (!host || strpbrk(host, "/?#@"))
		return false;
	char url[512];
	snprintf(url, sizeof url, "%.*s%s", (int)(strstr(got, "://") - got + 3), got, host);
	return url_origin(url, own, sizeof own) && !strcmp(got, own);
}

void app_prepare(void *appv, struct http_request *req, struct http_body_rules *rules)
{
	struct app *app = appv;
	enum method m = !strcmp(req->method, "POST") ? M_POST : !strcmp(req->method, "PUT") ? M_PUT : M_GET;
	*rules = (struct http_body_rules){.kind = HTTP_BODY_NONE};
	for (int i = 0; m != M_GET && i < N_ROUTES; i++) {
		const char *arg;
		const struct route *r = &routes[i];
		if (r->method != m || !match(r->pattern, req->path, req->arena, &arg))
			continue;
		const char *ct = http_header(req, "Content-Type");
		bool multipart = ct && !strncasecmp(ct, "multipart/form-data", 19);
		bool form = r->body == B_FORM || (r->body == B_JSON_OR_FORM && multipart);
		*rules = (struct http_body_rules){
		    .kind = form		? HTTP_BODY_FORM
			    : r->body == B_NONE ? HTTP_BODY_NONE
						: HTTP_BODY_RAW,
		    .max_bytes = form || r->body == B_JSON ? r->body_limit : 64 * KB, /* JSON carries no files */
		    .max_field_bytes = (r->flags & R_LONG_FIELDS) ? r->body_limit : 64 * KB,
		    .max_files = REQ_MAX_FILES,
		    .max_file_bytes = REQ_MAX_FILE_BYTES,
		    .tmp_dir = app->tmp_dir,
		};
		return;
	}
}

/*
 * An API route with a role: the account of the request's `Authorization: Bearer` token (auth.h),
 * never a session cookie (an API call carries no CSRF token, and a browser never adds this header
 * by itself). 401 without a valid token, 403 when its account lacks the role; JSON either way.
 * True when the route may run.
 */
static bool api_token_ok(struct ctx *c, const struct route *r, struct auth_user *user)
{
	const char *h = http_header(c->req, "Authorization");
	const char *token = h && !strncasecmp(h, "Bearer ", 7) ? h + 7 : NULL;
	while (token && *token == ' ')
		token++;
	int s = auth_token_user(c->db, c->req->arena, token, user);
	if (s < 0) {
		api_error(c, 503, "unavailable", "Справочный центр временно недоступен, попробуйте позже.");
		return false;
	}
	if (s == 0) {
		c->resp->www_authenticate = "Bearer realm=\"spravka\"";
		api_error(c, 401, "unauthorized",
			  token ? "Токен API недействителен или отозван."
				: "Нужен токен API: заголовок Authorization: Bearer <токен> (spravka token add).");
		return false;
	}
	c->user = user;
	if (!(user->roles & (unsigned)r->role)) {
		api_error(c, 403, "forbidden", "У учётной записи этого токена нет доступа к этому действию.");
		return false;
	}
	return true;
}

/*
 * The part of a request that needs the database: the session, the role and the CSRF token, then
 * the handler, with a connection of pool (the portal's or the back office's).
 */
static void run_route(struct ctx *c, const struct route *r, struct db_pool *pool)
{
	struct http_request *req = c->req;
	struct http_response *resp = c->resp;
	bool get = !strcmp(req->method, "GET") || req->head;
	if (!(r->flags & R_NODB))
		c->db = db_pool_get(pool);
	struct auth_user user;
	if (r->role != ROLE_ANYONE && (r->flags & R_API)) {
		if (!api_token_ok(c, r, &user)) {
			db_pool_put(pool, c->db);
			return;
		}
	} else if (r->role != ROLE_ANYONE) {
		/* Anonymous: to the login page; signed in without the role: 403; a state change
		 * without the session's CSRF token: 403. */
		int s = auth_session(c->db, req->arena, http_cookie(req, AUTH_SESSION_COOKIE), &user);
		if (s <= 0) {
			if (s < 0) {
				page_error(c, 503, "База данных недоступна.");
			} else {
				/* Back to the page asked for, its query included (GET only: a form
				 * sent without a session is not replayed). */
				struct buf target, next;
				buf_init(&target, 8192);
				buf_init(&next, 32768); /* 3 times the target at most */
				buf_adds(&target, req->path);
				for (size_t i = 0; get && i < req->n_params; i++) {
					buf_addc(&target, i ? '&' : '?');
					url_encode(&target, req->params[i].name);
					buf_addc(&target, '=');
					url_encode(&target, req->params[i].value);
				}
				url_encode(&next, buf_failed(&target) ? req->path : buf_str(&target));
				buf_free(&target);
				resp->status = 303;
				resp->location = arena_printf(req->arena, "/desk/login?next=%s", buf_str(&next));
				resp->content_type = "text/plain; charset=utf-8";
				resp->cache_control = "no-store";
				buf_adds(&resp->body, "Войдите, чтобы продолжить.\n");
				buf_free(&next);
			}
			db_pool_put(pool, c->db);
			return;
		}
		c->user = &user;
		if (!(user.roles & (unsigned)r->role)) {
			page_error(c, 403, "У вашей учётной записи нет доступа к этой странице.");
			db_pool_put(pool, c->db);
			return;
		}
		if (r->csrf && !auth_csrf_ok(&user, http_field(req, "csrf", NULL))) {
			page_error(c, 403,
				   "Форма устарела или отправлена с другого сайта. Обновите страницу и "
				   "попробуйте ещё раз.");
			db_pool_put(pool, c->db);
			return;
		}
	}
	r->handler(c);
	if (c->db)
		db_pool_put(pool, c->db);
}

/* A back-office request: its route's checks and handler, on a back-office thread. */
struct back_job {
	struct work item; /* first: the workers' queue */
	struct ctx c;
	const struct route *r;
};

static void back_office_run(struct work *w)
{
	struct back_job *j = (struct back_job *)w;
	struct ctx *c = &j->c;
	uint64_t before = db_thread_statements();
	if (atomic_load(&c->app->back_abandoned))
		page_error(c, 503, "Сервис перезапускается. Повторите запрос через минуту.");
	else
		run_route(c, j->r, c->app->back_pool);
	c->req->db_statements += db_thread_statements() - before; /* for the metrics */
	http_resume(c->req); /* last: the request, and j in its arena, may be gone after it */
}

void app_dispatch(void *appv, struct http_request *req, struct http_response *resp)
{
	struct app *app = appv;
	struct ctx c = {.app = app, .req = req, .resp = resp, .country = app->cfg.default_country};
	bool api = is_api_path(req->path);
	/* Pages follow the country selector's cookie; the API only its ?country= parameter, so
	 * that its answers do not vary by cookie. */
	const char *cookie = api ? NULL : http_cookie(req, "country");
	if (cookie && config_country(&app->cfg, cookie))
		c.country = cookie;
	if (req->reject)
		return refuse(&c, api, req->reject);
	bool get = !strcmp(req->method, "GET") || req->head;
	bool post = !strcmp(req->method, "POST"), put = !strcmp(req->method, "PUT");
	const struct route *r = NULL;
	unsigned allowed = 0;
	for (int i = 0; i < N_ROUTES; i++) {
		const char *arg = NULL;
		if (!match(routes[i].pattern, req->path, req->arena, &arg))
			continue;
		allowed |= routes[i].method;
		if (!r && ((get && routes[i].method == M_GET) || (post && routes[i].method == M_POST) ||
			   (put && routes[i].method == M_PUT))) {
			r = &routes[i];
			req->route = i;
			c.arg = arg;
		}
	}
	if (!allowed)
		return refuse(&c, api, 404);
	if (!r) {
		resp->allow = arena_printf(req->arena, "%s%s%s", (allowed & M_GET) ? "GET, HEAD" : "",
					   (allowed & M_POST) ? ((allowed & M_GET) ? ", POST" : "POST") : "",
					   (allowed & M_PUT) ? ((allowed & (M_GET | M_POST)) ? ", PUT" : "PUT") : "");
		return refuse(&c, api, 405);
	}
	if (post && !(r->flags & R_API) && !same_origin(&c))
		return page_error(&c, 403,
				  "Форма отправлена с другого сайта. Откройте страницу на нашем сайте и "
				  "отправьте форму оттуда.");
	if ((post || put) && (r->flags & R_API) && r->body == B_JSON && (put || req->body_len > 0) &&
	    !api_json_type_ok(http_header(req, "Content-Type")))
		return api_error(&c, 415, "unsupported_media_type",
				 "Неподдерживаемый формат данных: отправьте JSON (Content-Type: application/json).");
	if ((post || put) && (r->flags & R_API) && r->body == B_JSON_OR_FORM &&
	    !api_body_type_ok(http_header(req, "Content-Type")))
		return api_error(&c, 415, "unsupported_media_type",
				 "Неподдерживаемый формат данных: отправьте JSON (Content-Type: application/json) "
				 "или форму multipart/form-data.");
	if (req->body_error)
		return refuse_body(&c, api || (r->flags & R_API));
	if (req->body_bytes > r->body_limit)
		return refuse(&c, api, 413);
	if (r->flags & R_COUNTRY_PARAM) {
		const char *p = http_param(req, "country");
		if (p && *p) {
			if (!config_country(&app->cfg, p)) {
				if (r->flags & R_API)
					return api_error(&c, 400, "bad_country",
							 "Неизвестный код страны. Используйте двухбуквенный "
							 "код из списка стран, например RU или KZ.");
				return page_error(&c, 400, "Такой страны нет в списке.");
			}
			c.country = p;
		}
	}
	if (r->flags & R_SEARCH_CLICK) {
		/* A click on a search result: /a/{slug}?sq=<the query>. */
		const char *sq = http_param(req, "sq");
		if (sq && *sq && app->search_log && slug_valid(c.arg))
			search_log_click(app->search_log, search_clean_query(req->arena, sq), c.arg);
	}
	if ((r->flags & R_COUNT_VIEW) && get && !req->head && slug_valid(c.arg)) {
		/* Before the page cache: a cached page is a view too. Memory only (insights.h); the
		 * visit's next article goes to the search log's queue (search_log.h). */
		insights_count(app->insights, INSIGHTS_VIEW, c.arg);
		const char *visit = http_cookie(req, CTX_VISIT_COOKIE);
		if (app->search_log && search_log_visit_valid(visit))
			search_log_visit_view(app->search_log, visit, c.arg);
	}
	if (!(r->flags & R_API))
		resp->vary = "Cookie";
	c.page = (r->flags & R_PAGED) ? app_page(req) : 1;
	time_t changed = (time_t)atomic_load(&app->content_changed);
	if ((r->flags & R_CACHE) && get && c.page > 0) {
		resp->last_modified = changed;
		/* Key: content version, country ("*" when the answer does not depend on it), path. */
		const char *kc = (r->flags & R_ANY_COUNTRY) ? "*" : c.country;
		char key[512];
		int n = snprintf(key, sizeof key, "%lld|%s|%s", (long long)atomic_load(&app->content_version), kc,
				 req->path);
		/* The page of a listing: page 1 keeps the key of the bare path. */
		if (n > 0 && c.page > 1 && (size_t)n < sizeof key)
			n += snprintf(key + n, sizeof key - (size_t)n, "|p%d", c.page);
		if (n > 0 && (size_t)n < sizeof key && http_cache_lookup(req, key))
			return;
	}
	if ((r->flags & R_BACK) && app->back_office) {
		/* The rest (role, CSRF, handler) runs on a back-office thread: this thread goes
		 * back to the portal's connections at once. */
		struct back_job *j = arena_alloc(req->arena, sizeof *j);
		*j = (struct back_job){.item.run = back_office_run, .c = c, .r = r};
		http_suspend(req);
		workers_submit(app->back_office, &j->item); /* last: the job owns req now */
		return;
	}
	run_route(&c, r, app->pool);
}

int app_page(const struct http_request *req)
{
	const char *v = NULL;
	for (size_t i = 0; i < req->n_params; i++) {
		if (strcmp(req->params[i].name, "page") != 0)
			continue;
		if (v)
			return 0; /* given twice: which one would the cache key be? */
		v = req->params[i].value;
	}
	if (!v)
		return 1;
	long n = 0;
	if (*v < '1' || *v > '9')
		return 0;
	for (const char *p = v; *p; p++) {
		if (*p < '0' || *p > '9')
			return 0;
		n = n * 10 + (*p - '0');
		if (n > APP_MAX_PAGE)
			return 0;
	}
	return (int)n;
}

static void sys_livez(struct ctx *c)
{
	c->resp->status = 200;
	c->resp->content_type = "text/plain; charset=utf-8";
	c->resp->cache_control = "no-store";
	buf_adds(&c->resp->body, "ok\n");
}

static void sys_healthz(struct ctx *c)
{
	if (db_ping(c->db) != DB_OK) {
		c->resp->status = 503;
		c->resp->content_type = "text/plain; charset=utf-8";
		c->resp->cache_control = "no-store";
		buf_adds(&c->resp->body, "database unreachable\n");
		return;
	}
	c->resp->status = 200;
	c->resp->content_type = "text/plain; charset=utf-8";
	c->resp->cache_control = "no-store";
	buf_adds(&c->resp->body, "ok\n");
}

/* The group commit's counters (db_group_stats): where a request creation's time goes. */
static void writer_metrics(const struct db_group *g, struct buf *b)
{
	struct db_group_stats st;
	db_group_stats(g, &st);
	buf_printf(b,
		   "# HELP spravka_writer_raised 1 when the writers run at a higher CPU priority than the HTTP "
		   "threads (CAP_SYS_NICE).\n# TYPE spravka_writer_raised gauge\nspravka_writer_raised %d\n",
		   db_group_raised(g));
	buf_printf(b,
		   "# HELP spravka_writer_batches_total Transactions the group-commit writers committed or failed.\n"
		   "# TYPE spravka_writer_batches_total counter\nspravka_writer_batches_total %llu\n"
		   "# HELP spravka_writer_jobs_total Writes (request creations) run in those transactions.\n"
		   "# TYPE spravka_writer_jobs_total counter\nspravka_writer_jobs_total %llu\n"
		   "# HELP spravka_writer_wait_seconds_total Jobs' time queued until their transaction began.\n"
		   "# TYPE spravka_writer_wait_seconds_total counter\nspravka_writer_wait_seconds_total %.6f\n"
		   "# HELP spravka_writer_cpu_seconds_total The writers' own CPU time in transactions.\n"
		   "# TYPE spravka_writer_cpu_seconds_total counter\nspravka_writer_cpu_seconds_total %.6f\n"
		   "# HELP spravka_writer_latency_seconds Jobs' time from queued to committed.\n"
		   "# TYPE spravka_writer_latency_seconds histogram\n",
		   (unsigned long long)st.batches, (unsigned long long)st.jobs, (double)st.wait_us / 1e6,
		   (double)st.cpu_us / 1e6);
	uint64_t cum = 0;
	for (int i = 0; i < DB_GROUP_BUCKETS; i++) {
		cum += st.latency_le[i];
		if (i < DB_GROUP_BUCKETS - 1)
			buf_printf(b, "spravka_writer_latency_seconds_bucket{le=\"%g\"} %llu\n",
				   db_group_buckets_ms[i] / 1000, (unsigned long long)cum);
		else
			buf_printf(b, "spravka_writer_latency_seconds_bucket{le=\"+Inf\"} %llu\n",
				   (unsigned long long)cum);
	}
	buf_printf(b, "spravka_writer_latency_seconds_sum %.6f\nspravka_writer_latency_seconds_count %llu\n",
		   (double)st.latency_us / 1e6, (unsigned long long)cum);
}

static void sys_metrics(struct ctx *c)
{
	c->resp->status = 200;
	c->resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
	c->resp->cache_control = "no-store";
	http_metrics(c->app->http, &c->resp->body);
	buf_printf(&c->resp->body,
		   "# HELP spravka_articles Articles in the knowledge base.\n"
		   "# TYPE spravka_articles gauge\nspravka_articles %lld\n"
		   "# HELP spravka_content_version Content version served.\n"
		   "# TYPE spravka_content_version gauge\nspravka_content_version %lld\n",
		   (long long)kb_article_count(c->db), (long long)atomic_load(&c->app->content_version));
	size_t bytes = 0;
	int texts = 0;
	pthread_rwlock_rdlock(&c->app->index_lock);
	if (c->app->index) {
		bytes = search_memory(c->app->index);
		texts = search_size(c->app->index);
	}
	pthread_rwlock_unlock(&c->app->index_lock);
	buf_printf(&c->resp->body,
		   "# HELP spravka_search_index_bytes Bytes the search index holds (counted).\n"
		   "# TYPE spravka_search_index_bytes gauge\nspravka_search_index_bytes %zu\n"
		   "# HELP spravka_search_texts Texts in the search index (general texts and variants).\n"
		   "# TYPE spravka_search_texts gauge\nspravka_search_texts %d\n"
		   "# HELP spravka_search_updates_total Index updates from the changed texts only.\n"
		   "# TYPE spravka_search_updates_total counter\nspravka_search_updates_total %lld\n"
		   "# HELP spravka_search_rebuilds_total Index builds from every text.\n"
		   "# TYPE spravka_search_rebuilds_total counter\nspravka_search_rebuilds_total %lld\n",
		   bytes, texts, (long long)atomic_load(&c->app->search_updates),
		   (long long)atomic_load(&c->app->search_rebuilds));
	struct search_cache_stats sc;
	search_cache_stats(c->app->search_cache, &sc);
	buf_printf(&c->resp->body,
		   "# HELP spravka_search_cache_bytes Bytes of the search answers kept ([limits] search_cache_mb).\n"
		   "# TYPE spravka_search_cache_bytes gauge\nspravka_search_cache_bytes %zu\n"
		   "# HELP spravka_search_cache_entries Search answers kept.\n"
		   "# TYPE spravka_search_cache_entries gauge\nspravka_search_cache_entries %zu\n"
		   "# HELP spravka_search_cache_hits_total Searches answered from the kept answers.\n"
		   "# TYPE spravka_search_cache_hits_total counter\nspravka_search_cache_hits_total %llu\n"
		   "# HELP spravka_search_cache_misses_total Searches the index answered.\n"
		   "# TYPE spravka_search_cache_misses_total counter\nspravka_search_cache_misses_total %llu\n",
		   sc.bytes, sc.entries, (unsigned long long)sc.hits, (unsigned long long)sc.misses);
	writer_metrics(c->app->writer, &c->resp->body);
}

static void sys_static(struct ctx *c)
{
	const struct static_file *f = ctx_static(c->app, c->arg);
	if (!f)
		return page_not_found(c);
	char key[128];
	snprintf(key, sizeof key, "static|%s", f->name);
	if (http_cache_lookup(c->req, key))
		return; /* answered from the cache, with its gzip form made once */
	c->resp->status = 200;
	c->resp->content_type = f->type;
	/* Pages link to /static/NAME?v=HASH, so a changed file gets a new URL. */
	c->resp->cache_control = "public, max-age=31536000, immutable";
	c->resp->vary = NULL;
	buf_add(&c->resp->body, f->data, f->len);
}
