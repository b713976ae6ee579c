/* The layout every page shares: head, header (search, country selector), footer. */
#include "layout.h"

#include "../ctx/ctx.h"
#include "../core/buf.h"

#include <string.h>

void page_begin(struct ctx *c, const char *title, const char *query)
{
	struct buf *b = &c->resp->body;
	const struct config *cfg = &c->app->cfg;
	const struct static_file *css = ctx_static(c->app, "style.css");
	const struct static_file *js = ctx_static(c->app, "search.js");
	c->resp->content_type = "text/html; charset=utf-8";
	if (!c->resp->status)
		c->resp->status = 200;
	html_printf(b,
		    "<!DOCTYPE html>\n<html lang=\"ru\">\n<head>\n<meta charset=\"utf-8\">\n"
		    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
		    "<title>%s — %s</title>\n"
		    "<link rel=\"stylesheet\" href=\"/static/style.css?v=%s\">\n"
		    "<script src=\"/static/search.js?v=%s\" defer></script>\n",
		    title, cfg->site_name, css ? css->version : "0", js ? js->version : "0");
	if (c->rel_prev)
		html_printf(b, "<link rel=\"prev\" href=\"%s\">\n", c->rel_prev);
	if (c->rel_next)
		html_printf(b, "<link rel=\"next\" href=\"%s\">\n", c->rel_next);
	html_raw(b, "</head>\n<body>\n<header class=\"site\">\n<div class=\"bar\">\n");
	if (*cfg->logo)
		html_printf(b, "<a class=\"logo\" href=\"/\"><img src=\"%s\" alt=\"%s\"></a>\n", cfg->logo,
			    cfg->site_name);
	else
		html_printf(b, "<a class=\"logo\" href=\"/\">%s</a>\n", cfg->site_name);
	html_printf(b, "<form class=\"country\" action=\"/country\" method=\"get\">\n"
		       "<label for=\"country-select\">Страна</label>\n"
		       "<select id=\"country-select\" name=\"c\">\n");
	for (size_t i = 0; i < cfg->n_countries; i++)
		html_printf(b, "<option value=\"%s\"%s>%s</option>\n", cfg->countries[i].code,
			    strcmp(cfg->countries[i].code, c->country) ? "" : " selected", cfg->countries[i].name);
	html_printf(b,
		    "</select>\n<input type=\"hidden\" name=\"back\" value=\"%s\">\n"
		    "<button type=\"submit\">Выбрать</button>\n</form>\n</div>\n",
		    c->req->path);
	page_search_form(c, query, "search-top");
	html_raw(b, "</header>\n<main id=\"main\">\n");
}

void page_search_form(struct ctx *c, const char *query, const char *id)
{
	/* The header's search and a page's own are two search landmarks: each named apart. */
	html_printf(&c->resp->body,
		    "<form class=\"search\" action=\"/search\" method=\"get\" role=\"search\" aria-label=\"%s\" "
		    "data-country=\"%s\">\n"
		    "<label class=\"visually-hidden\" for=\"%s\">Поиск по справке</label>\n"
		    "<input id=\"%s\" type=\"search\" name=\"q\" value=\"%s\" maxlength=\"256\" "
		    "placeholder=\"Например: забыл пароль\" autocomplete=\"off\">\n"
		    "<button type=\"submit\">Найти</button>\n</form>\n",
		    strcmp(id, "search-top") ? "Поиск по справке" : "Поиск в шапке сайта", c->country, id, id,
		    query ? query : "");
}

void page_end(struct ctx *c)
{
	const struct config *cfg = &c->app->cfg;
	html_printf(&c->resp->body,
		    "</main>\n<footer class=\"site\">\n"
		    "<p class=\"cta\">Не нашли ответ? <a href=\"/request\">Напишите в поддержку</a></p>\n"
		    "<p>Поддержка: <a href=\"mailto:%s\">%s</a> · %s · %s</p>\n"
		    "<p>Этот справочный центр — официальный источник инструкций. "
		    "Даты обновления указаны в каждой статье.</p>\n"
		    "</footer>\n</body>\n</html>\n",
		    cfg->support_email, cfg->support_email, cfg->support_phone, cfg->support_hours);
}

const char *section_title(const struct kb_section *secs, int n, const char *slug)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(secs[i].slug, slug))
			return secs[i].title;
	return slug;
}
