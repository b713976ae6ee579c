/* /search: the results page (works without JavaScript). */
#include "web.h"

#include "../ctx/ctx.h"
#include "../core/arena.h"
#include "../core/buf.h"
#include "../kb/kb.h"
#include "../search/search.h"
#include "layout.h"

#include <stdlib.h>
#include <string.h>

#define PAGE_SIZE 10

/* The title of a result's section: from the listed sections, else one indexed lookup. */
static const char *hit_section_title(struct ctx *c, const struct kb_section *secs, int ns, const char *slug)
{
	const char *t = section_title(secs, ns, slug);
	if (t == slug && ns < CTX_SECTIONS)
		return t; /* every section is listed: it has no other title */
	struct kb_section sec;
	if (t == slug && kb_section_name(c->db, c->req->arena, slug, &sec) > 0)
		t = sec.title;
	return t;
}

void page_search(struct ctx *c)
{
	struct arena *a = c->req->arena;
	struct buf *b = &c->resp->body;
	const char *raw = http_param(c->req, "q");
	const char *q = raw ? search_clean_query(a, raw) : "";
	const char *section = http_param(c->req, "section");
	if (section && !*section)
		section = NULL;
	const char *page_s = http_param(c->req, "page");
	int page = page_s ? atoi(page_s) : 1;
	if (page < 1 || page > 100)
		page = 1;
	/* The section filter and the list shown when nothing is found hold the first sections
	 * (no counts): a bounded page however many sections there are. */
	struct kb_section *secs;
	int ns = ctx_sections(c, &secs);
	if (ns < 0)
		ns = 0;
	struct kb_section chosen;
	bool listed = section && section_title(secs, ns, section) != section;
	if (section && !listed && (ns < CTX_SECTIONS || kb_section_name(c->db, a, section, &chosen) <= 0))
		section = NULL; /* unknown section: search everywhere */
	bool chosen_listed = !section || strcmp(section_title(secs, ns, section), section) != 0;
	page_begin(c, *q ? arena_printf(a, "Поиск: %s", q) : "Поиск", q);
	html_raw(b, "<h1>Поиск по справке</h1>\n");
	if (!*q) {
		html_raw(b, "<p class=\"lead\">Введите вопрос своими словами, например «забыл пароль», "
			    "«где мой заказ» или «как сменить спонсора». Можно писать с ошибками и даже "
			    "в английской раскладке.</p>\n");
		page_search_form(c, NULL, "search-main");
		page_end(c);
		return;
	}
	struct search_query sq = {.text = q,
				  .country = c->country,
				  .section = section,
				  .limit = PAGE_SIZE,
				  .offset = (page - 1) * PAGE_SIZE,
				  .snippets = true};
	struct search_result r;
	ctx_search_logged(c->app, a, &sq, &r, false, http_client_ip(c->req), ctx_visit_keep(c));
	if (r.corrected)
		html_printf(b, "<p class=\"corrected\">Показаны результаты по запросу «%s»</p>\n", r.corrected);
	html_raw(b, "<form class=\"filter\" action=\"/search\" method=\"get\">\n");
	html_printf(b,
		    "<input type=\"hidden\" name=\"q\" value=\"%s\">\n"
		    "<label for=\"section-filter\">Раздел</label>\n"
		    "<select id=\"section-filter\" name=\"section\">\n"
		    "<option value=\"\">Все разделы</option>\n",
		    q);
	for (int i = 0; i < ns; i++)
		html_printf(b, "<option value=\"%s\"%s>%s</option>\n", secs[i].slug,
			    section && !strcmp(section, secs[i].slug) ? " selected" : "", secs[i].title);
	if (!chosen_listed)
		html_printf(b, "<option value=\"%s\" selected>%s</option>\n", chosen.slug, chosen.title);
	html_raw(b, "</select>\n<button type=\"submit\">Показать</button>\n</form>\n");
	if (r.total == 0) {
		html_printf(b, "<p class=\"lead\">По запросу «%s» ничего не нашлось.</p>\n", q);
		html_raw(b, "<p>Попробуйте другие слова или загляните в разделы:</p>\n<ul class=\"sections-list\">\n");
		for (int i = 0; i < ns; i++)
			html_printf(b, "<li><a href=\"/s/%s\">%s</a></li>\n", secs[i].slug, secs[i].title);
		html_raw(b, "</ul>\n");
		if (ns == CTX_SECTIONS) /* the first sections (ctx_sections) */
			html_raw(b, "<p><a href=\"/sections\">Все разделы</a></p>\n");
		html_raw(b, "<p>Не нашли ответ? <a href=\"/request\">Напишите в поддержку</a>.</p>\n");
		page_end(c);
		return;
	}
	struct buf qb;
	buf_init(&qb, 4096);
	url_encode(&qb, q);
	const char *q_url = arena_strdup(a, buf_str(&qb)); /* ?sq= records which result was chosen */
	buf_free(&qb);
	html_printf(b, "<p class=\"meta\">Найдено статей: %d</p>\n<ol class=\"results\" start=\"%d\">\n", r.total,
		    sq.offset + 1);
	for (int i = 0; i < r.n; i++) {
		html_printf(b, "<li><a href=\"/a/%s?sq=%s\">%s</a> <span class=\"meta\">%s</span>\n<p>", r.hits[i].slug,
			    q_url, r.hits[i].title, hit_section_title(c, secs, ns, r.hits[i].section));
		html_raw(b, r.hits[i].snippet_html); /* trusted: escaped by search/ */
		html_raw(b, "</p></li>\n");
	}
	html_raw(b, "</ol>\n");
	int pages = (r.total + PAGE_SIZE - 1) / PAGE_SIZE;
	if (pages > 100)
		pages = 100;
	if (pages > 1) {
		/* The first and last pages and two on each side of this one («…» between): a bounded
		 * list whatever the number of results, the query encoded once. */
		const char *sec_url = NULL;
		if (section) {
			buf_init(&qb, 4096);
			url_encode(&qb, section);
			sec_url = arena_strdup(a, buf_str(&qb));
			buf_free(&qb);
		}
		html_raw(b, "<nav class=\"pages\" aria-label=\"Страницы результатов\">\n");
		for (int p = 1; p <= pages; p++) {
			if (p != 1 && p != pages && (p < page - 2 || p > page + 2)) {
				if (p == page - 3 || p == page + 3)
					html_raw(b, "<span>…</span>\n");
				continue;
			}
			if (p == page) {
				html_printf(b, "<span aria-current=\"page\">%d</span>\n", p);
				continue;
			}
			html_printf(b, "<a href=\"/search?q=%s", q_url);
			if (sec_url)
				html_printf(b, "&amp;section=%s", sec_url);
			html_printf(b, "&amp;page=%d\">%d</a>\n", p, p);
		}
		html_raw(b, "</nav>\n");
	}
	html_raw(b, "<p>Не нашли ответ? <a href=\"/request\">Напишите в поддержку</a>.</p>\n");
	page_end(c);
}
