/* The knowledge-base pages: home, section, article, support contacts, country, errors. */
#include "web.h"

#include "../ctx/ctx.h"
#include "../core/arena.h"
#include "../core/buf.h"
#include "../core/text.h"
#include "../kb/kb.h"
#include "../md/md.h"
#include "../media/media.h"
#include "layout.h"

#include <stdlib.h>
#include <string.h>

static const char *country_name(struct ctx *c, const char *code)
{
	const struct country *k = config_country(&c->app->cfg, code);
	return k ? k->name : code;
}

static void db_failed(struct ctx *c)
{
	page_error(c, 503,
		   "Справочный центр временно недоступен. Попробуйте обновить страницу через "
		   "минуту.");
}

/* Sections the home page shows at most; the rest are on /sections («Все разделы (N)»). With
 * home_articles <= 100 this bounds the page (50 x 100 links, a few MB at worst). */
#define HOME_MAX_SECTIONS 50

/* The URL of page p of a listing at path (page 1 is the bare path). */
static const char *page_url(struct arena *a, const char *path, int p)
{
	return p == 1 ? path : arena_printf(a, "%s?page=%d", path, p);
}

static int page_count(int total, int size)
{
	return total <= 0 ? 1 : (total - 1) / size + 1;
}

/* Checks c->page against pages: false when the page has been answered (400 or 404). Sets the
 * head's rel links. */
static bool page_in_range(struct ctx *c, const char *path, int pages, const char *what)
{
	if (c->page < 1) {
		page_error(c, 400,
			   "Неверный номер страницы. Укажите целое число от 1, например ?page=2, или "
			   "откройте первую страницу.");
		return false;
	}
	if (c->page > pages) {
		page_error(c, 404,
			   arena_printf(c->req->arena, "Такой страницы нет. Последняя страница %s — %d.", what, pages));
		return false;
	}
	if (c->page > 1)
		c->rel_prev = page_url(c->req->arena, path, c->page - 1);
	if (c->page < pages)
		c->rel_next = page_url(c->req->arena, path, c->page + 1);
	return true;
}

/* The visible pager: «Предыдущая страница · Страница 2 из 37 · Следующая страница». */
static void pager(struct ctx *c, int pages, const char *label)
{
	if (pages <= 1)
		return;
	struct buf *b = &c->resp->body;
	html_printf(b, "<nav class=\"pager\" aria-label=\"%s\">\n", label);
	if (c->rel_prev)
		html_printf(b, "<a rel=\"prev\" href=\"%s\">Предыдущая страница</a>\n", c->rel_prev);
	html_printf(b, "<span aria-current=\"page\">Страница %d из %d</span>\n", c->page, pages);
	if (c->rel_next)
		html_printf(b, "<a rel=\"next\" href=\"%s\">Следующая страница</a>\n", c->rel_next);
	html_raw(b, "</nav>\n");
}

void page_home(struct ctx *c)
{
	struct arena *a = c->req->arena;
	struct kb_section *secs;
	int total = kb_section_total(c->db);
	int ns = kb_section_list(c->db, a, 0, HOME_MAX_SECTIONS, &secs);
	if (total < 0 || ns < 0)
		return db_failed(c);
	struct buf *b = &c->resp->body;
	page_begin(c, "Справочный центр", NULL);
	html_raw(b, "<section class=\"hero\">\n<h1>Чем мы можем помочь?</h1>\n"
		    "<p>Найдите инструкцию по регистрации, личному кабинету, заказам и выплатам.</p>\n");
	page_search_form(c, NULL, "search-hero");
	html_raw(b, "</section>\n<section class=\"toc\" aria-labelledby=\"toc-title\">\n"
		    "<h2 id=\"toc-title\">Разделы</h2>\n<div class=\"sections\">\n");
	for (int i = 0; i < ns; i++) {
		struct kb_text *arts;
		int na = kb_section_articles(c->db, a, secs[i].slug, 0, c->app->cfg.home_articles, secs[i].n_articles,
					     &arts);
		if (na < 0)
			return db_failed(c);
		html_printf(b,
			    "<section class=\"card\">\n<h3><a href=\"/s/%s\">%s</a></h3>\n"
			    "<p>%s</p>\n<ul>\n",
			    secs[i].slug, secs[i].title, secs[i].description);
		for (int k = 0; k < na; k++)
			html_printf(b, "<li><a href=\"/a/%s\">%s</a></li>\n", arts[k].slug, arts[k].title);
		html_raw(b, "</ul>\n");
		if (secs[i].n_articles > 0)
			html_printf(b, "<p class=\"more\"><a href=\"/s/%s\">Все статьи раздела (%d)</a></p>\n",
				    secs[i].slug, secs[i].n_articles);
		html_raw(b, "</section>\n");
	}
	html_raw(b, "</div>\n");
	if (total > ns)
		html_printf(b, "<p class=\"more\"><a href=\"/sections\">Все разделы (%d)</a></p>\n", total);
	html_raw(b, "</section>\n"
		    "<section class=\"support\">\n<h2>Не нашли ответ? Напишите в поддержку</h2>\n"
		    "<p>Если ни одна инструкция не помогла, отправьте обращение — укажите номер "
		    "партнёра и опишите вопрос.</p>\n"
		    "<p><a class=\"button\" href=\"/request\">Написать в поддержку</a></p>\n</section>\n");
	page_end(c);
}

void page_sections(struct ctx *c)
{
	struct arena *a = c->req->arena;
	int size = c->app->cfg.section_page_size;
	int total = kb_section_total(c->db);
	if (total < 0)
		return db_failed(c);
	int pages = page_count(total, size);
	if (!page_in_range(c, "/sections", pages, "списка разделов"))
		return;
	struct kb_section *secs;
	int ns = kb_section_list(c->db, a, (c->page - 1) * size, size, &secs);
	if (ns < 0)
		return db_failed(c);
	struct buf *b = &c->resp->body;
	page_begin(c, c->page > 1 ? arena_printf(a, "Все разделы — страница %d", c->page) : "Все разделы", NULL);
	html_printf(b,
		    "<nav class=\"crumbs\" aria-label=\"Навигация\"><a href=\"/\">Главная</a> › "
		    "<span aria-current=\"page\">Все разделы</span></nav>\n<h1>Все разделы</h1>\n"
		    "<p class=\"lead\">Разделов: %d</p>\n<ul class=\"articles\">\n",
		    total);
	for (int i = 0; i < ns; i++)
		html_printf(b, "<li><a href=\"/s/%s\">%s</a>\n<p>%s</p>\n<p class=\"meta\">Статей: %d</p></li>\n",
			    secs[i].slug, secs[i].title, secs[i].description, secs[i].n_articles);
	if (ns == 0)
		html_raw(b, "<li>Разделов пока нет.</li>\n");
	html_raw(b, "</ul>\n");
	pager(c, pages, "Страницы списка разделов");
	page_end(c);
}

void page_section(struct ctx *c)
{
	struct arena *a = c->req->arena;
	struct kb_section sec;
	int found = kb_section_get(c->db, a, c->arg, &sec);
	if (found < 0)
		return db_failed(c);
	if (!found)
		return page_not_found(c);
	int size = c->app->cfg.section_page_size;
	int pages = page_count(sec.n_articles, size);
	const char *path = arena_printf(a, "/s/%s", sec.slug);
	if (!page_in_range(c, path, pages, arena_printf(a, "раздела «%s»", sec.title)))
		return;
	struct kb_text *arts;
	int na = kb_section_articles(c->db, a, sec.slug, (c->page - 1) * size, size, sec.n_articles, &arts);
	if (na < 0)
		return db_failed(c);
	struct buf *b = &c->resp->body;
	page_begin(c, c->page > 1 ? arena_printf(a, "%s — страница %d", sec.title, c->page) : sec.title, NULL);
	html_printf(b,
		    "<nav class=\"crumbs\" aria-label=\"Навигация\"><a href=\"/\">Главная</a> › "
		    "<span aria-current=\"page\">%s</span></nav>\n<h1>%s</h1>\n<p class=\"lead\">%s</p>\n",
		    sec.title, sec.title, sec.description);
	if (pages > 1)
		html_printf(b, "<p class=\"meta\">Статей в разделе: %d</p>\n", sec.n_articles);
	html_raw(b, "<ul class=\"articles\">\n");
	for (int i = 0; i < na; i++)
		html_printf(b,
			    "<li><a href=\"/a/%s\">%s</a>\n<p>%s</p>\n"
			    "<p class=\"meta\">Обновлено: %s</p></li>\n",
			    arts[i].slug, arts[i].title, arts[i].summary, date_ru(a, arts[i].updated));
	if (na == 0)
		html_raw(b, "<li>В этом разделе пока нет статей.</li>\n");
	html_raw(b, "</ul>\n");
	pager(c, pages, "Страницы раздела");
	page_end(c);
}

/* "Россия, Казахстан" for a list of codes. */
static const char *country_names(struct ctx *c, const char *list)
{
	char **items;
	size_t n = split_list(c->req->arena, list, &items);
	struct buf b;
	buf_init(&b, 4096);
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_adds(&b, ", ");
		buf_adds(&b, country_name(c, items[i]));
	}
	const char *r = arena_strdup(c->req->arena, buf_str(&b));
	buf_free(&b);
	return r;
}

/* A page with no content of its own (404, 410): its title, a lead (plain text), the search form,
 * the ways out, then extra (trusted HTML). */
static void search_page(struct ctx *c, int status, const char *title, const char *lead, const char *extra)
{
	buf_reset(&c->resp->body);
	struct buf *b = &c->resp->body;
	c->resp->cache_control = "no-store";
	page_begin(c, title, NULL);
	html_printf(b, "<h1>%s</h1>\n<p class=\"lead\">%s</p>\n", title, lead);
	page_search_form(c, NULL, status == 404 ? "search-404" : "search-gone");
	html_raw(b, "<p><a href=\"/\">Перейти на главную</a> · <a href=\"/request\">Написать в "
		    "поддержку</a></p>\n");
	html_raw(b, extra);
	page_end(c);
	c->resp->status = status;
}

/* An absent article: 301 to where it went, 410 when archived, else 404. */
static void article_gone(struct ctx *c)
{
	const char *to;
	int gone = kb_redirect(c->db, c->req->arena, c->arg, &to);
	if (gone < 0)
		return db_failed(c);
	if (!gone)
		return page_not_found(c);
	struct buf *b = &c->resp->body;
	buf_reset(b);
	if (to) {
		c->resp->status = 301;
		c->resp->location = arena_printf(c->req->arena, "/a/%s", to);
		c->resp->content_type = "text/plain; charset=utf-8";
		buf_printf(b, "Статья переехала: /a/%s\n", to);
		return;
	}
	search_page(c, 410, "Статья снята с публикации",
		    "Эта инструкция больше не действует и убрана с портала. Найдите актуальную инструкцию "
		    "поиском.",
		    "");
}

void page_prepare_block(struct buf *b, struct arena *a, const char *prepare)
{
	(void)a;
	if (!prepare || !*prepare)
		return;
	html_raw(b, "<section class=\"prepare\" aria-labelledby=\"prepare-h\">\n<h2 id=\"prepare-h\">Что "
		    "подготовить</h2>\n<ul class=\"checklist\">\n");
	for (const char *p = prepare; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (len)
			html_printf(b, "<li>%.*s</li>\n", (int)len, p);
		p += len + (nl ? 1 : 0);
	}
	html_raw(b, "</ul>\n</section>\n");
}

void page_article(struct ctx *c)
{
	struct arena *a = c->req->arena;
	struct kb_view v;
	int found = kb_article_for(c->db, a, c->arg, c->country, &v);
	if (found < 0)
		return db_failed(c);
	if (!found)
		return article_gone(c);
	const struct kb_text *t = &v.text;
	struct kb_section sec;
	if (kb_section_name(c->db, a, t->section, &sec) <= 0)
		sec = (struct kb_section){.slug = t->section, .title = t->section};
	struct buf *b = &c->resp->body;
	page_begin(c, t->title, NULL);
	html_printf(b,
		    "<nav class=\"crumbs\" aria-label=\"Навигация\"><a href=\"/\">Главная</a> › "
		    "<a href=\"/s/%s\">%s</a> › <span aria-current=\"page\">%s</span></nav>\n"
		    "<article>\n<h1>%s</h1>\n<p class=\"meta\">Обновлено: <time datetime=\"%s\">%s</time>",
		    sec.slug, sec.title, t->title, t->title, t->updated, date_ru(a, t->updated));
	if (*t->country)
		html_printf(b, " · Версия для страны: %s", country_name(c, t->country));
	html_raw(b, "</p>\n");
	if (v.foreign) {
		html_printf(b,
			    "<div class=\"notice\" role=\"note\">\n<p><strong>Эта инструкция написана "
			    "для других стран (%s).</strong> Для вашей страны — %s — порядок действий "
			    "и документы могут отличаться.</p>\n",
			    country_names(c, t->countries), country_name(c, c->country));
		html_raw(b, "<p>Уточните детали в поддержке или выберите другую страну вверху "
			    "страницы.</p>\n</div>\n");
	}
	if (v.n_variants > 0) {
		html_raw(b, "<p class=\"variants\">Эта статья есть в версиях для стран: ");
		for (size_t i = 0; i < v.n_variants; i++) {
			bool shown = !strcmp(v.variants[i], t->country);
			html_printf(b,
				    shown ? "%s<a href=\"/a/%s?country=%s\" aria-current=\"true\">%s</a>"
					  : "%s<a href=\"/a/%s?country=%s\">%s</a>",
				    i ? ", " : "", t->slug, v.variants[i], country_name(c, v.variants[i]));
		}
		html_raw(b, ".</p>\n");
	}
	page_prepare_block(b, a, t->prepare);
	char *html = md_to_html_images(t->body, strlen(t->body), media_size_lookup, c->db);
	html_raw(b, "<div class=\"body\">\n");
	html_raw(b, html); /* trusted: cmark-gfm in safe mode */
	html_raw(b, "</div>\n</article>\n");
	free(html);
	page_feedback_form(c, t->slug);
	char **rel;
	size_t nr = split_list(a, t->related, &rel);
	bool opened = false;
	for (size_t i = 0; i < nr; i++) {
		const char *title = kb_title(c->db, a, rel[i]);
		if (!title)
			continue;
		if (!opened)
			html_raw(b, "<section class=\"related\">\n<h2>Смотрите также</h2>\n<ul>\n");
		opened = true;
		html_printf(b, "<li><a href=\"/a/%s\">%s</a></li>\n", rel[i], title);
	}
	if (opened)
		html_raw(b, "</ul>\n</section>\n");
	html_raw(b, "<section class=\"support\">\n<h2>Инструкция не помогла?</h2>\n"
		    "<p><a class=\"button\" href=\"/request\">Напишите в поддержку</a> — мы ответим "
		    "на ваш вопрос.</p>\n</section>\n");
	page_end(c);
}

/* A local path to go back to: "/..." but not "//..." (another host) and no control bytes. */
static bool local_path(const char *p)
{
	if (!p || p[0] != '/' || p[1] == '/' || p[1] == '\\' || strlen(p) > 2048)
		return false;
	for (const unsigned char *s = (const unsigned char *)p; *s; s++)
		if (*s < 0x20 || *s == 0x7f || *s == '\\')
			return false;
	return true;
}

void page_country(struct ctx *c)
{
	const char *code = http_param(c->req, "c");
	if (!code || !config_country(&c->app->cfg, code))
		return page_error(c, 400,
				  "Такой страны нет в списке. Выберите страну из списка вверху "
				  "страницы.");
	const char *back = http_param(c->req, "back");
	struct buf loc;
	buf_init(&loc, 8192);
	if (local_path(back)) {
		/* Re-encode so that the header carries only ASCII. */
		for (const unsigned char *s = (const unsigned char *)back; *s; s++) {
			if (*s >= 0x80 || *s == ' ' || *s == '"' || *s == '<' || *s == '>')
				buf_printf(&loc, "%%%02X", *s);
			else
				buf_addc(&loc, (char)*s);
		}
	} else {
		buf_addc(&loc, '/');
	}
	c->resp->status = 303;
	c->resp->location = arena_strdup(c->req->arena, buf_str(&loc));
	buf_free(&loc);
	c->resp->set_cookie =
	    arena_printf(c->req->arena, "country=%s; Path=/; Max-Age=31536000; SameSite=Lax; HttpOnly", code);
	c->resp->content_type = "text/plain; charset=utf-8";
	buf_adds(&c->resp->body, "Страна выбрана.\n");
}

void page_error(struct ctx *c, int status, const char *message)
{
	buf_reset(&c->resp->body);
	c->resp->status = status;
	c->resp->cache_control = "no-store";
	c->resp->set_cookie = NULL;
	struct buf *b = &c->resp->body;
	page_begin(c, "Ошибка", NULL);
	html_printf(b,
		    "<h1>%s</h1>\n<p class=\"lead\">%s</p>\n"
		    "<p><a href=\"/\">На главную</a></p>\n",
		    status == 404 ? "Страница не найдена" : "Не удалось открыть страницу", message);
	page_end(c);
	c->resp->status = status;
}

void page_not_found(struct ctx *c)
{
	search_page(c, 404, "Страница не найдена",
		    "Такой страницы нет: возможно, ссылка устарела или в адресе опечатка. Попробуйте найти "
		    "нужную инструкцию поиском.",
		    "<p class=\"meta\">Открывали ссылку на своё обращение? <a href=\"/request/lost\">Потеряли "
		    "ссылку?</a></p>\n");
}
