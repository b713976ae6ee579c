/* The agents' desk. See desk.h. */
#include "desk.h"
#include "desk_int.h"

#include "../ctx/ctx.h"
#include "../auth/auth.h"
#include "../core/arena.h"
#include "../core/buf.h"
#include "../core/text.h"
#include "../mail/mail.h"
#include "../req/req.h"
#include "../web/web.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOGIN_CSRF_COOKIE "spravka_login_csrf"

void desk_begin(struct ctx *c, const char *title)
{
	struct buf *b = &c->resp->body;
	const struct static_file *css = ctx_static(c->app, "style.css");
	c->resp->status = c->resp->status ? c->resp->status : 200;
	c->resp->content_type = "text/html; charset=utf-8";
	c->resp->cache_control = "no-store";
	html_printf(b,
		    "<!DOCTYPE html>\n<html lang=\"ru\">\n<head>\n<meta charset=\"utf-8\">\n"
		    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
		    "<title>%s — стол поддержки</title>\n<link rel=\"stylesheet\" href=\"/static/style.css?v=%s\">\n"
		    "</head>\n<body class=\"desk\">\n<header class=\"site\">\n<div class=\"bar\">\n"
		    "<a class=\"logo\" href=\"/desk\">Стол поддержки</a>\n",
		    title, css ? css->version : "0");
	if (c->user) {
		bool agent = c->user->roles & AUTH_AGENT, editor = c->user->roles & AUTH_EDITOR;
		html_raw(b, "<nav class=\"desk-nav\">");
		if (agent)
			html_raw(b, "<a href=\"/desk\">Очередь</a> · <a href=\"/desk/canned\">Шаблоны ответов</a> · "
				    "<a href=\"/desk/outbox\">Исходящая почта</a>");
		if (editor)
			html_raw(
			    b, agent
				   ? " · <a href=\"/desk/articles\">Статьи</a> · <a href=\"/desk/sections\">Разделы</a>"
				   : "<a href=\"/desk/articles\">Статьи</a> · <a href=\"/desk/sections\">Разделы</a>");
		if (editor)
			html_raw(b, " · <a href=\"/desk/insights\">Аналитика</a>");
		html_printf(b,
			    "</nav>\n"
			    "<form action=\"/desk/logout\" method=\"post\"><input type=\"hidden\" name=\"csrf\" "
			    "value=\"%s\"><span>%s</span> <button type=\"submit\">Выйти</button></form>\n",
			    c->user->csrf, c->user->login);
	}
	html_raw(b, "</div>\n</header>\n<main id=\"main\">\n");
}

void desk_end(struct ctx *c)
{
	html_raw(&c->resp->body, "</main>\n</body>\n</html>\n");
}

const char *desk_when(struct arena *a, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	char s[32];
	strftime(s, sizeof s, "%Y-%m-%d %H:%M UTC", &tm);
	return arena_strdup(a, s);
}

void desk_redirect(struct ctx *c, const char *to)
{
	c->resp->status = 303;
	c->resp->location = to;
	c->resp->content_type = "text/plain; charset=utf-8";
	c->resp->cache_control = "no-store";
	buf_adds(&c->resp->body, "См. другую страницу.\n");
}

/* ---- login ---- */

/* Where to go after login: a desk path only. */
static const char *next_path(struct ctx *c, const char *next)
{
	if (next && !strncmp(next, "/desk", 5) && !strchr(next, '\\') && !strstr(next, "//"))
		for (const unsigned char *p = (const unsigned char *)next;; p++) {
			if (!*p)
				return next;
			if (*p < 0x20 || *p >= 0x7f)
				break;
		}
	(void)c;
	return "/desk";
}

static void login_page(struct ctx *c, const char *message, const char *login)
{
	const char *token = req_new_token(c->req->arena);
	c->resp->set_cookie =
	    arena_printf(c->req->arena, LOGIN_CSRF_COOKIE "=%s; Path=/desk; HttpOnly; SameSite=Strict%s", token,
			 c->app->cfg.secure_cookies ? "; Secure" : "");
	desk_begin(c, "Вход");
	struct buf *b = &c->resp->body;
	html_raw(b, "<h1>Вход для сотрудников</h1>\n");
	if (message)
		html_printf(b, "<div class=\"error-summary\" role=\"alert\"><p>%s</p></div>\n", message);
	/* The page asked for: from the query of the form's GET, or from the refused POST's form. */
	const char *next = http_param(c->req, "next");
	if (!next)
		next = http_field(c->req, "next", NULL);
	next = next && *next ? next_path(c, next) : "";
	html_printf(b,
		    "<form class=\"request\" action=\"/desk/login\" method=\"post\">\n"
		    "<input type=\"hidden\" name=\"csrf\" value=\"%s\">\n"
		    "<input type=\"hidden\" name=\"next\" value=\"%s\">\n"
		    "<div class=\"field\"><label for=\"f-login\">Логин</label>"
		    "<input id=\"f-login\" name=\"login\" type=\"text\" value=\"%s\" autocomplete=\"username\" "
		    "required></div>\n"
		    "<div class=\"field\"><label for=\"f-password\">Пароль</label>"
		    "<input id=\"f-password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" "
		    "required></div>\n"
		    "<p><button type=\"submit\">Войти</button></p>\n</form>\n",
		    token, next, login ? login : "");
	desk_end(c);
}

void desk_login_form(struct ctx *c)
{
	login_page(c, NULL, NULL);
}

void desk_login(struct ctx *c)
{
	const char *cookie = http_cookie(c->req, LOGIN_CSRF_COOKIE);
	const char *csrf = http_field(c->req, "csrf", NULL);
	const char *login = http_field(c->req, "login", NULL);
	const char *password = http_field(c->req, "password", NULL);
	if (!cookie || !csrf || strlen(cookie) != strlen(csrf) || strcmp(cookie, csrf) != 0) {
		c->resp->status = 403;
		return login_page(c, "Форма устарела. Попробуйте войти ещё раз.", NULL);
	}
	if (!login || !password || !utf8_valid(login, strlen(login))) {
		c->resp->status = 422;
		return login_page(c, "Введите логин и пароль.", NULL);
	}
	const char *token, *session_csrf;
	int delay_ms = 0;
	enum auth_result r =
	    auth_login(c->db, c->req->arena, login, password, http_client_ip(c->req), &token, &session_csrf, &delay_ms);
	/* The account is under attack from somewhere: the answer waits, without holding a thread. */
	http_delay(c->req, delay_ms);
	switch (r) {
	case AUTH_OK:
		c->resp->set_cookie =
		    arena_printf(c->req->arena, AUTH_SESSION_COOKIE "=%s; Path=/; HttpOnly; SameSite=Lax; Max-Age=%d%s",
				 token, AUTH_SESSION_SECONDS, c->app->cfg.secure_cookies ? "; Secure" : "");
		return desk_redirect(c, next_path(c, http_field(c->req, "next", NULL)));
	case AUTH_WRONG:
		c->resp->status = 401;
		return login_page(c, "Неверный логин или пароль.", login);
	case AUTH_THROTTLED:
		c->resp->status = 429;
		return login_page(c, "Слишком много неудачных попыток с вашего адреса. Попробуйте через 15 минут.",
				  login);
	case AUTH_ERROR:
		break;
	}
	c->resp->status = 503;
	login_page(c, "Вход временно недоступен.", login);
}

void desk_logout(struct ctx *c)
{
	auth_logout(c->db, http_cookie(c->req, AUTH_SESSION_COOKIE));
	/* The same attributes as the cookie it replaces, Secure included. */
	c->resp->set_cookie = c->app->cfg.secure_cookies
				  ? AUTH_SESSION_COOKIE "=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Secure"
				  : AUTH_SESSION_COOKIE "=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0";
	desk_redirect(c, "/desk/login");
}

/* ---- queue ---- */

#define statuses req_statuses

/* A topic's title (its slug when it is no longer configured) and a country's name. */
static const char *topic_name(struct ctx *c, const char *slug)
{
	const struct req_topic *t = req_topic(&c->app->req, slug);
	return t ? t->title : slug;
}

static const char *country_name(struct ctx *c, const char *code)
{
	const struct country *k = config_country(&c->app->cfg, code);
	return k ? k->name : code;
}

/* The keyset of the next page: "UPDATED.ID" after the row shown last. */
static bool parse_after(const char *s, int64_t *updated, int64_t *id)
{
	if (!s || !*s)
		return false;
	char *end;
	long long u = strtoll(s, &end, 10);
	if (end == s || *end != '.')
		return false;
	const char *p = end + 1;
	long long i = strtoll(p, &end, 10);
	if (end == p || *end || u < 0 || i < 0)
		return false;
	*updated = u, *id = i;
	return true;
}

/* This list's address with another keyset (after NULL: its first page); html_printf escapes it. */
static const char *queue_link(struct ctx *c, const char *after)
{
	static const char *const keys[] = {"status", "topic", "country", "assignee", "age", "q"};
	struct buf b;
	buf_init(&b, 4096);
	buf_adds(&b, "/desk?");
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		const char *v = http_param(c->req, keys[i]);
		if (!v || !*v)
			continue;
		buf_adds(&b, keys[i]);
		buf_adds(&b, "=");
		for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
			char hex[4];
			if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
			    *p == '-' || *p == '_' || *p == '.') {
				hex[0] = (char)*p, hex[1] = '\0';
			} else {
				snprintf(hex, sizeof hex, "%%%02X", *p);
			}
			buf_adds(&b, hex);
		}
		buf_adds(&b, "&");
	}
	if (after) {
		buf_adds(&b, "after=");
		buf_adds(&b, after);
	}
	/* Without a keyset, the last '&' (or the '?' of a list without filters) goes. */
	const char *r = b.err ? "/desk" : arena_strndup(c->req->arena, buf_str(&b), after ? b.len : b.len - 1);
	buf_free(&b);
	return r;
}

void desk_queue(struct ctx *c)
{
	/* An editor who is not an agent works on the articles: the desk's home is theirs. */
	if (!(c->user->roles & AUTH_AGENT))
		return desk_redirect(c, "/desk/articles");
	struct arena *a = c->req->arena;
	struct buf *b = &c->resp->body;
	const char *status = http_param(c->req, "status");
	const char *topic = http_param(c->req, "topic");
	const char *country = http_param(c->req, "country");
	const char *assignee = http_param(c->req, "assignee");
	const char *age = http_param(c->req, "age");
	const char *search = http_param(c->req, "q");
	search = search ? str_trim(arena_strdup(a, search)) : "";
	int age_days = age ? atoi(age) : 0;
	if (age_days < 0 || age_days > 3650)
		age_days = 0;
	/* A request number opens the request; anything else is a member ID. */
	if (!strncmp(search, "R-", 2) && strlen(search) < 64) {
		struct req_view v;
		if (req_by_number(c->db, a, search, &v) > 0)
			return desk_redirect(c, arena_printf(a, "/desk/r/%s", v.number));
	}
	desk_begin(c, "Очередь");
	html_raw(b, "<h1>Очередь обращений</h1>\n<ul class=\"counts\">\n");
	int64_t counts[REQ_N_STATUSES];
	if (!req_counts(c->db, counts)) {
		html_raw(b, "</ul>\n<p>Очередь недоступна.</p>\n");
		return desk_end(c);
	}
	for (int i = 0; i < REQ_N_STATUSES; i++)
		html_printf(b, "<li><a href=\"/desk?status=%s\">%s: <strong>%lld</strong></a></li>\n", statuses[i],
			    req_status_ru(statuses[i]), (long long)counts[i]);
	html_printf(b,
		    "</ul>\n<form class=\"filter\" action=\"/desk\" method=\"get\">\n"
		    "<label for=\"q-search\">Номер или ID партнёра</label><input id=\"q-search\" name=\"q\" "
		    "type=\"search\" value=\"%s\">\n"
		    "<label for=\"q-status\">Статус</label><select id=\"q-status\" name=\"status\">"
		    "<option value=\"\">Открытые</option>\n",
		    search);
	for (int i = 0; i < REQ_N_STATUSES; i++)
		html_printf(b, "<option value=\"%s\"%s>%s</option>\n", statuses[i],
			    status && !strcmp(status, statuses[i]) ? " selected" : "", req_status_ru(statuses[i]));
	html_printf(b,
		    "<option value=\"all\"%s>Все</option></select>\n"
		    "<label for=\"q-topic\">Тема</label><select id=\"q-topic\" name=\"topic\"><option "
		    "value=\"\">Все</option>\n",
		    status && !strcmp(status, "all") ? " selected" : "");
	for (int i = 0; i < c->app->req.n_topics; i++)
		html_printf(b, "<option value=\"%s\"%s>%s</option>\n", c->app->req.topics[i].slug,
			    topic && !strcmp(topic, c->app->req.topics[i].slug) ? " selected" : "",
			    c->app->req.topics[i].title);
	html_raw(b, "</select>\n<label for=\"q-country\">Страна</label><select id=\"q-country\" name=\"country\">"
		    "<option value=\"\">Все</option>\n");
	for (size_t i = 0; i < c->app->cfg.n_countries; i++)
		html_printf(b, "<option value=\"%s\"%s>%s</option>\n", c->app->cfg.countries[i].code,
			    country && !strcmp(country, c->app->cfg.countries[i].code) ? " selected" : "",
			    c->app->cfg.countries[i].name);
	html_printf(
	    b,
	    "</select>\n<label for=\"q-assignee\">Исполнитель</label><select id=\"q-assignee\" name=\"assignee\">"
	    "<option value=\"\">Любой</option><option value=\"me\"%s>Мои</option>"
	    "<option value=\"none\"%s>Без исполнителя</option></select>\n"
	    "<label for=\"q-age\">Старше, дней</label><input id=\"q-age\" name=\"age\" type=\"number\" min=\"0\" "
	    "value=\"%d\">\n"
	    "<button type=\"submit\">Показать</button>\n</form>\n",
	    assignee && !strcmp(assignee, "me") ? " selected" : "",
	    assignee && !strcmp(assignee, "none") ? " selected" : "", age_days);

	struct req_queue_filter f = {
	    .status = status,
	    .topic = topic && *topic ? topic : NULL,
	    .country = country && *country ? country : NULL,
	    .assignee = assignee && (!strcmp(assignee, "me") || !strcmp(assignee, "none")) ? assignee : NULL,
	    .member = *search ? search : NULL,
	    .user_id = c->user->id,
	    .created_before = (int64_t)time(NULL) - (int64_t)age_days * 86400};
	f.paged = parse_after(http_param(c->req, "after"), &f.after_updated, &f.after_id);
	bool paged = f.paged, more;
	struct req_queue_row *rows;
	int n = req_queue(c->db, a, &f, &rows, &more);
	if (n < 0) {
		html_raw(b, "<p>Очередь недоступна.</p>\n");
		return desk_end(c);
	}
	html_raw(b, "<table class=\"queue\">\n<thead><tr><th>Номер</th><th>Тема</th><th>ID партнёра</th><th>Раздел</th>"
		    "<th>Страна</th><th>Статус</th><th>Исполнитель</th><th>Обновлено</th></tr></thead>\n<tbody>\n");
	for (int i = 0; i < n; i++) {
		const struct req_queue_row *r = &rows[i];
		html_printf(b,
			    "<tr><td><a href=\"/desk/r/%s\">%s</a></td><td>%s</td><td>%s</td><td>%s</td><td>%s</td>"
			    "<td>%s</td><td>%s</td><td>%s</td></tr>\n",
			    r->number, r->number, r->subject, r->member_id, topic_name(c, r->topic),
			    country_name(c, r->country), req_status_ru(r->status), r->assignee ? r->assignee : "—",
			    desk_when(a, r->updated));
	}
	html_raw(b, "</tbody>\n</table>\n");
	if (!n)
		html_raw(b, paged ? "<p>Больше обращений нет.</p>\n" : "<p>Обращений нет.</p>\n");
	if (more || paged) {
		html_raw(b, "<nav class=\"pager\">");
		if (paged)
			html_printf(b, "<a href=\"%s\">К первой странице</a> ", queue_link(c, NULL));
		if (more)
			html_printf(b, "<a rel=\"next\" href=\"%s\">Следующая страница</a>",
				    queue_link(c, arena_printf(a, "%lld.%lld", (long long)rows[n - 1].updated,
							       (long long)rows[n - 1].id)));
		html_raw(b, "</nav>\n");
	}
	desk_end(c);
}

/* ---- one request ---- */

/* An audit row's action as the log on the page reads it. */
static const char *audit_action_ru(const char *action)
{
	static const char *const map[][2] = {{"reply", "ответ участнику, статус"},
					     {"note", "внутренняя заметка"},
					     {"assign", "назначено:"},
					     {"status", "статус"},
					     {"merge", "объединено с"},
					     {"merged-in", "присоединено обращение"}};
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (!strcmp(map[i][0], action))
			return map[i][1];
	return action;
}

static void hidden_csrf(struct ctx *c)
{
	html_printf(&c->resp->body, "<input type=\"hidden\" name=\"csrf\" value=\"%s\">\n", c->user->csrf);
}

void desk_request(struct ctx *c)
{
	struct arena *a = c->req->arena;
	struct buf *b = &c->resp->body;
	struct req_view v;
	int found = req_by_number(c->db, a, c->arg, &v);
	if (found <= 0)
		return page_error(c, found < 0 ? 503 : 404,
				  found < 0 ? "База данных недоступна." : "Такого обращения нет.");
	desk_begin(c, v.number);
	html_printf(b, "<p class=\"crumbs\"><a href=\"/desk\">Очередь</a> › %s</p>\n<h1>%s: %s</h1>\n", v.number,
		    v.number, v.subject);
	if (v.merged_into_number)
		html_printf(b, "<p class=\"notice\">Обращение %s объединено с %s.</p>\n", v.merged_from,
			    v.merged_into_number);
	html_printf(
	    b,
	    "<dl class=\"facts\"><dt>Статус</dt><dd>%s</dd><dt>ID партнёра</dt><dd>%s</dd><dt>Имя</dt><dd>%s</dd>"
	    "<dt>Почта</dt><dd>%s</dd><dt>Телефон</dt><dd>%s</dd><dt>Страна</dt><dd>%s</dd><dt>Тема</dt><dd>%s</dd>"
	    "<dt>Заказ</dt><dd>%s</dd><dt>Исполнитель</dt><dd>%s</dd><dt>Создано</dt><dd>%s</dd></dl>\n",
	    req_status_ru(v.status), v.member_id, v.name, v.email, v.phone, country_name(c, v.country),
	    topic_name(c, v.topic), *v.order_number ? v.order_number : "—", v.assignee ? v.assignee : "—",
	    desk_when(a, v.created));
	html_raw(b, "<h2>Переписка</h2>\n<ol class=\"conversation\">\n");
	for (int i = 0; i < v.n_messages; i++) {
		const struct req_message *m = &v.messages[i];
		html_printf(
		    b, "<li class=\"msg msg-%s%s\">\n<p class=\"meta\">%s%s · %s</p>\n<div class=\"text\">%s</div>\n",
		    m->author, m->internal ? " internal" : "",
		    !strcmp(m->author, "member") ? "Участник"
		    : m->agent			 ? m->agent
						 : "Система",
		    m->internal ? " · внутренняя заметка" : "", desk_when(a, m->created), m->body);
		for (int k = 0; k < v.n_attachments; k++)
			if (v.attachments[k].message_id == m->id)
				html_printf(b, "<p class=\"file\"><a href=\"/desk/f/%lld\">%s</a> (%s, %lld КБ)</p>\n",
					    (long long)v.attachments[k].id,
					    req_download_name(a, v.attachments[k].filename, v.attachments[k].mime),
					    v.attachments[k].mime, (long long)((v.attachments[k].size + 1023) / 1024));
		html_raw(b, "</li>\n");
	}
	html_raw(b, "</ol>\n<h2>Ответить</h2>\n");
	html_printf(b, "<form class=\"request\" action=\"/desk/r/%s\" method=\"post\">\n", v.number);
	hidden_csrf(c);
	html_raw(
	    b, "<input type=\"hidden\" name=\"action\" value=\"reply\">\n<div class=\"field\"><label for=\"f-canned\">"
	       "Шаблон</label><select id=\"f-canned\" name=\"canned\"><option value=\"\">Без шаблона</option>\n");
	struct req_canned *canned;
	int n_canned = req_canned_list(c->db, a, false, &canned);
	for (int i = 0; i < n_canned; i++)
		html_printf(b, "<option value=\"%lld\">%s</option>\n", (long long)canned[i].id, canned[i].title);
	html_raw(b, "</select></div>\n<div class=\"field\"><label for=\"f-reply\">Ответ участнику</label>"
		    "<textarea id=\"f-reply\" name=\"text\" rows=\"6\"></textarea></div>\n"
		    "<div class=\"field\"><label for=\"f-reply-status\">Статус после ответа</label>"
		    "<select id=\"f-reply-status\" name=\"status\">");
	for (int i = 0; i < 5; i++)
		html_printf(b, "<option value=\"%s\"%s>%s</option>", statuses[i], i == 2 ? " selected" : "",
			    req_status_ru(statuses[i]));
	html_raw(b, "</select></div>\n<p><button type=\"submit\">Отправить ответ</button></p>\n</form>\n");
	html_printf(b, "<h2>Внутренняя заметка</h2>\n<form class=\"request\" action=\"/desk/r/%s\" method=\"post\">\n",
		    v.number);
	hidden_csrf(c);
	html_raw(
	    b,
	    "<input type=\"hidden\" name=\"action\" value=\"note\">\n<div class=\"field\"><label for=\"f-note\">"
	    "Заметка (участник её не видит)</label><textarea id=\"f-note\" name=\"text\" rows=\"3\"></textarea></div>\n"
	    "<p><button type=\"submit\">Сохранить заметку</button></p>\n</form>\n");
	html_printf(b, "<h2>Действия</h2>\n<form class=\"filter\" action=\"/desk/r/%s\" method=\"post\">\n", v.number);
	hidden_csrf(c);
	html_raw(
	    b, "<input type=\"hidden\" name=\"action\" value=\"assign\">\n<label for=\"f-assignee\">Исполнитель</label>"
	       "<select id=\"f-assignee\" name=\"assignee\"><option value=\"0\">Никто</option>\n");
	int64_t *ids;
	const char **logins;
	int na = auth_agents(c->db, a, &ids, &logins);
	for (int i = 0; i < na; i++)
		html_printf(b, "<option value=\"%lld\"%s>%s</option>\n", (long long)ids[i],
			    v.assignee && !strcmp(v.assignee, logins[i]) ? " selected" : "", logins[i]);
	html_raw(b, "</select>\n<button type=\"submit\">Назначить</button>\n</form>\n");
	html_printf(b, "<form class=\"filter\" action=\"/desk/r/%s\" method=\"post\">\n", v.number);
	hidden_csrf(c);
	html_raw(b, "<input type=\"hidden\" name=\"action\" value=\"status\">\n<label for=\"f-status\">Статус</label>"
		    "<select id=\"f-status\" name=\"status\">");
	for (int i = 0; i < 5; i++)
		html_printf(b, "<option value=\"%s\"%s>%s</option>", statuses[i],
			    strcmp(v.status, statuses[i]) ? "" : " selected", req_status_ru(statuses[i]));
	html_raw(b, "</select>\n<button type=\"submit\">Изменить статус</button>\n</form>\n");
	html_printf(b, "<form class=\"filter\" action=\"/desk/r/%s\" method=\"post\">\n", v.number);
	hidden_csrf(c);
	html_raw(
	    b,
	    "<input type=\"hidden\" name=\"action\" value=\"merge\">\n<label for=\"f-merge\">Объединить с "
	    "обращением того же партнёра</label><input id=\"f-merge\" name=\"target\" type=\"text\" "
	    "placeholder=\"R-2026-000123\">\n"
	    "<button type=\"submit\">Объединить</button>\n</form>\n<h2>Журнал изменений</h2>\n<ul class=\"audit\">\n");
	struct req_audit_entry *log;
	int n_log = req_audit_list(c->db, a, v.id, &log);
	for (int i = 0; i < n_log; i++) {
		const char *action = log[i].action, *detail = log[i].detail;
		if (!strcmp(action, "reply") || !strcmp(action, "status"))
			detail = req_status_ru(detail);
		else if (!strcmp(action, "assign"))
			detail = log[i].assignee ? log[i].assignee : "никому";
		html_printf(b, "<li>%s · %s · %s %s</li>\n", desk_when(a, log[i].at),
			    log[i].user ? log[i].user : "автоматически", audit_action_ru(action), detail);
	}
	html_raw(b, "</ul>\n");
	desk_end(c);
}

/* The account to assign to: 0 for nobody, or the id of an agent or admin; -1 for anything else
 * (an editor cannot open the desk, so a request assigned to one would be lost). */
static int64_t assignee_id(struct ctx *c, const char *field)
{
	char *end;
	if (!field || !*field)
		return -1;
	long long id = strtoll(field, &end, 10);
	if (*end || id < 0)
		return -1;
	if (id == 0)
		return 0;
	int64_t *ids;
	const char **logins;
	int n = auth_agents(c->db, c->req->arena, &ids, &logins);
	for (int i = 0; i < n; i++)
		if (ids[i] == id)
			return id;
	return -1;
}

/* A refused action: the reason and the way back to the request, inside the desk. */
static void desk_error(struct ctx *c, int status, const char *message, const char *number)
{
	buf_reset(&c->resp->body);
	c->resp->status = status;
	desk_begin(c, "Действие не выполнено");
	html_printf(&c->resp->body,
		    "<p class=\"crumbs\"><a href=\"/desk\">Очередь</a> › <a href=\"/desk/r/%s\">%s</a></p>\n"
		    "<h1>Действие не выполнено</h1>\n<div class=\"error-summary\" role=\"alert\"><p>%s</p></div>\n"
		    "<p><a href=\"/desk/r/%s\">Вернуться к обращению %s</a></p>\n",
		    number, number, message, number, number);
	desk_end(c);
	c->resp->status = status;
}

/* The second step of a merge: both requests, and the form that really merges. */
static void merge_confirm_page(struct ctx *c, const struct req_merge_side *from, const struct req_merge_side *to)
{
	struct buf *b = &c->resp->body;
	desk_begin(c, "Объединение обращений");
	html_printf(b,
		    "<p class=\"crumbs\"><a href=\"/desk\">Очередь</a> › <a href=\"/desk/r/%s\">%s</a></p>\n"
		    "<h1>Объединить обращения?</h1>\n<dl class=\"facts\"><dt>Обращение</dt><dd>%s: %s</dd>"
		    "<dt>Присоединяется к</dt><dd>%s: %s</dd><dt>ID партнёра</dt><dd>%s</dd></dl>\n"
		    "<p>Сообщения и файлы обращения %s перейдут в %s, а %s будет закрыто. Ссылка участника на %s "
		    "будет показывать обращение %s.</p>\n"
		    "<form class=\"filter\" action=\"/desk/r/%s\" method=\"post\">\n",
		    from->number, from->number, from->number, from->subject, to->number, to->subject, from->member_id,
		    from->number, to->number, from->number, from->number, to->number, from->number);
	hidden_csrf(c);
	html_printf(b,
		    "<input type=\"hidden\" name=\"action\" value=\"merge-confirm\">\n"
		    "<input type=\"hidden\" name=\"target\" value=\"%s\">\n"
		    "<button type=\"submit\">Объединить</button> <a href=\"/desk/r/%s\">Отмена</a>\n</form>\n",
		    to->number, from->number);
	desk_end(c);
}

void desk_action(struct ctx *c)
{
	struct arena *a = c->req->arena;
	struct req_view v;
	int found = req_by_number(c->db, a, c->arg, &v);
	if (found <= 0)
		return page_error(c, found < 0 ? 503 : 404,
				  found < 0 ? "База данных недоступна." : "Такого обращения нет.");
	const char *action = http_field(c->req, "action", NULL);
	const char *text = http_field(c->req, "text", NULL);
	if (text && !utf8_valid(text, strlen(text)))
		text = NULL;
	if (text)
		text = str_trim(arena_strdup(a, text));
	bool ok = false;
	char err[256] = "Не удалось выполнить действие: проверьте поля.";
	if (action && !strcmp(action, "reply")) {
		const char *canned = http_field(c->req, "canned", NULL);
		const char *body = canned && *canned ? req_canned_body(c->db, a, strtoll(canned, NULL, 10)) : NULL;
		if (body)
			text = text && *text ? arena_printf(a, "%s\n\n%s", text, body) : body;
		ok = req_agent_reply(c->db, &c->app->req, a, v.id, c->user->id, text,
				     http_field(c->req, "status", NULL));
	} else if (action && !strcmp(action, "note")) {
		ok = req_agent_note(c->db, v.id, c->user->id, text);
	} else if (action && !strcmp(action, "assign")) {
		int64_t who = assignee_id(c, http_field(c->req, "assignee", NULL));
		ok = who >= 0 && req_assign(c->db, v.id, c->user->id, who);
	} else if (action && !strcmp(action, "status")) {
		ok = req_set_status(c->db, &c->app->req, a, v.id, c->user->id, http_field(c->req, "status", NULL));
	} else if (action && !strcmp(action, "merge")) {
		/* The first step only shows what would be merged; nothing changes yet. */
		struct req_merge_side from, to;
		if (req_merge_check(c->db, a, v.id, http_field(c->req, "target", NULL), &from, &to, err, sizeof err))
			return merge_confirm_page(c, &from, &to);
	} else if (action && !strcmp(action, "merge-confirm")) {
		ok = req_merge(c->db, a, v.id, c->user->id, http_field(c->req, "target", NULL), err, sizeof err);
	}
	if (!ok)
		return desk_error(c, 422, err, v.number);
	desk_redirect(c, arena_printf(a, "/desk/r/%s", v.number));
}

void desk_file(struct ctx *c)
{
	struct arena *a = c->req->arena;
	char *end;
	long long id = strtoll(c->arg, &end, 10);
	struct req_attachment f;
	int found = req_attachment(c->db, a, *end ? -1 : id, &f);
	if (found < 0)
		return page_error(c, 503, "База данных недоступна.");
	if (!found)
		return page_not_found(c);
	int fd = req_file_open(c->db, &c->app->req, f.sha256);
	if (fd < 0)
		return errno == ENOENT ? page_not_found(c) : page_error(c, 503, "Файл сейчас недоступен.");
	c->resp->content_type = f.mime;
	/* The stored name is untrusted: its extension follows the detected type, and only a
	 * sanitised fallback and its percent-encoded form reach the header. */
	c->resp->disposition = req_content_disposition(a, f.filename, c->resp->content_type);
	c->resp->file_fd = fd;
	c->resp->cache_control = "private, no-store";
	c->resp->status = 200;
}

void desk_canned(struct ctx *c)
{
	struct buf *b = &c->resp->body;
	desk_begin(c, "Шаблоны ответов");
	html_raw(b, "<h1>Шаблоны ответов</h1>\n<ul class=\"canned\">\n");
	struct req_canned *canned;
	int n = req_canned_list(c->db, c->req->arena, true, &canned);
	for (int i = 0; i < n; i++)
		html_printf(b, "<li><strong>%s</strong><div class=\"text\">%s</div></li>\n", canned[i].title,
			    canned[i].body);
	html_raw(b, "</ul>\n<h2>Новый шаблон</h2>\n<form class=\"request\" action=\"/desk/canned\" method=\"post\">\n");
	hidden_csrf(c);
	html_raw(b, "<div class=\"field\"><label for=\"f-title\">Название</label><input id=\"f-title\" name=\"title\" "
		    "type=\"text\"></div>\n"
		    "<div class=\"field\"><label for=\"f-body\">Текст (можно со ссылками на статьи /a/…)</label>"
		    "<textarea id=\"f-body\" name=\"body\" rows=\"5\"></textarea></div>\n"
		    "<p><button type=\"submit\">Сохранить</button></p>\n</form>\n");
	desk_end(c);
}

void desk_canned_add(struct ctx *c)
{
	const char *title = http_field(c->req, "title", NULL);
	const char *body = http_field(c->req, "body", NULL);
	if (!title || !body || !*title || !*body || !utf8_valid(title, strlen(title)) ||
	    !utf8_valid(body, strlen(body)))
		return page_error(c, 422, "Укажите название и текст шаблона.");
	if (!req_canned_add(c->db, title, body))
		return page_error(c, 503, "Не удалось сохранить шаблон.");
	desk_redirect(c, "/desk/canned");
}

/* A letter's delivery status as the outbox page reads it. */
static const char *outbox_status_ru(const char *status)
{
	return !strcmp(status, "pending")  ? "ждёт отправки"
	       : !strcmp(status, "sent")   ? "отправлено"
	       : !strcmp(status, "failed") ? "не доставлено"
					   : status;
}

#define OUTBOX_PAGE 100

void desk_outbox(struct ctx *c)
{
	struct arena *a = c->req->arena;
	struct buf *b = &c->resp->body;
	/* A page at a time, newest first: ?before=ID continues after the last letter shown. */
	const char *before_s = http_param(c->req, "before");
	char *end = NULL;
	long long before = before_s && *before_s ? strtoll(before_s, &end, 10) : 0;
	bool paged = end && !*end && before > 0;
	desk_begin(c, "Исходящая почта");
	html_raw(
	    b,
	    "<h1>Исходящая почта</h1>\n<table class=\"queue\">\n<thead><tr><th>Создано</th><th>Кому</th><th>Тема</th>"
	    "<th>Статус</th><th>Попыток</th><th>Ошибка</th></tr></thead>\n<tbody>\n");
	struct mail_outbox_row *rows;
	int n = mail_outbox_page(c->db, a, paged ? before : INT64_MAX, OUTBOX_PAGE + 1, &rows);
	bool more = n > OUTBOX_PAGE;
	if (more)
		n = OUTBOX_PAGE;
	int64_t last = 0;
	for (int i = 0; i < n; i++) {
		last = rows[i].id;
		html_printf(b, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%lld</td><td>%s</td></tr>\n",
			    desk_when(a, rows[i].created), rows[i].to, rows[i].subject,
			    outbox_status_ru(rows[i].status), (long long)rows[i].attempts, rows[i].last_error);
	}
	html_raw(b, "</tbody>\n</table>\n");
	if (more)
		html_printf(b,
			    "<nav class=\"pager\"><a rel=\"next\" href=\"/desk/outbox?before=%lld\">Следующая "
			    "страница</a></nav>\n",
			    (long long)last);
	desk_end(c);
}
