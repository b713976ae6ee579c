/* The knowledge-base pages: home, section, article, support contacts, country, errors. */
#include "web.h"

#include "../app/app.h"
#include "../core/arena.h"
#include "../core/buf.h"
#include "../core/text.h"
#include "../kb/kb.h"
#include "../md/md.h"
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

void page_home(struct ctx *c)
{
	struct arena *a = c->req->arena;
	struct kb_section *secs;
	struct kb_text *arts;
	int ns = kb_sections(c->db, a, &secs);
	int na = kb_articles(c->db, a, NULL, &arts);
	if (ns < 0 || na < 0)
		return db_failed(c);
	struct buf *b = &c->resp->body;
	page_begin(c, "Справочный центр", NULL);
	html_raw(b, "<section class=\"hero\">\n<h1>Чем мы можем помочь?</h1>\n"
		    "<p>Найдите инструкцию по регистрации, личному кабинету, заказам и выплатам.</p>\n");
	page_search_form(c, NULL, "search-hero");
	html_raw(b, "</section>\n<section class=\"toc\" aria-labelledby=\"toc-title\">\n"
		    "<h2 id=\"toc-title\">Разделы</h2>\n<div class=\"sections\">\n");
	for (int i = 0; i < ns; i++) {
		html_printf(b,
			    "<section class=\"card\">\n<h3><a href=\"/s/%s\">%s</a></h3>\n"
			    "<p>%s</p>\n<ul>\n",
			    secs[i].slug, secs[i].title, secs[i].description);
		for (int k = 0; k < na; k++)
			if (!strcmp(arts[k].section, secs[i].slug))
				html_printf(b, "<li><a href=\"/a/%s\">%s</a></li>\n", arts[k].slug, arts[k].title);
		html_raw(b, "</ul>\n</section>\n");
	}
	html_raw(b, "</div>\n</section>\n"
		    "<section class=\"support\">\n<h2>Не нашли ответ? Напишите в поддержку</h2>\n"
		    "<p>Если ни одна инструкция не помогла, отправьте обращение — укажите номер "
		    "партнёра и опишите вопрос.</p>\n"
		    "<p><a class=\"button\" href=\"/request\">Написать в поддержку</a></p>\n</section>\n");
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
	struct kb_text *arts;
	int na = kb_articles(c->db, a, sec.slug, &arts);
	if (na < 0)
		return db_failed(c);
	struct buf *b = &c->resp->body;
	page_begin(c, sec.title, NULL);
	html_printf(b,
		    "<nav class=\"crumbs\" aria-label=\"Навигация\"><a href=\"/\">Главная</a> › "
		    "<span aria-current=\"page\">%s</span></nav>\n<h1>%s</h1>\n<p class=\"lead\">%s</p>\n"
		    "<ul class=\"articles\">\n",
		    sec.title, sec.title, sec.description);
	for (int i = 0; i < na; i++)
		html_printf(b,
			    "<li><a href=\"/a/%s\">%s</a>\n<p>%s</p>\n"
			    "<p class=\"meta\">Обновлено: %s</p></li>\n",
			    arts[i].slug, arts[i].title, arts[i].summary, date_ru(a, arts[i].updated));
	if (na == 0)
		html_raw(b, "<li>В этом разделе пока нет статей.</li>\n");
	html_raw(b, "</ul>\n");
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

void page_article(struct ctx *c)
{
	struct arena *a = c->req->arena;
	struct kb_view v;
	int found = kb_article_for(c->db, a, c->arg, c->country, &v);
	if (found < 0)
		return db_failed(c);
	if (!found)
		return page_not_found(c);
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
	char *html = md_to_html(t->body, strlen(t->body));
	html_raw(b, "<div class=\"body\">\n");
	html_raw(b, html); /* trusted: cmark-gfm in safe mode */
	html_raw(b, "</div>\n</article>\n");
	free(html);
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
	buf_reset(&c->resp->body);
	struct buf *b = &c->resp->body;
	c->resp->cache_control = "no-store";
	page_begin(c, "Страница не найдена", NULL);
	html_raw(b, "<h1>Страница не найдена</h1>\n"
		    "<p class=\"lead\">Такой страницы нет: возможно, ссылка устарела или в адресе "
		    "опечатка. Попробуйте найти нужную инструкцию поиском.</p>\n");
	page_search_form(c, NULL, "search-404");
	html_raw(b, "<p><a href=\"/\">Перейти на главную</a> · <a href=\"/request\">Написать в "
		    "поддержку</a></p>\n<p class=\"meta\">Открывали ссылку на своё обращение? <a "
		    "href=\"/request/lost\">Потеряли ссылку?</a></p>\n");
	page_end(c);
	c->resp->status = 404;
}
