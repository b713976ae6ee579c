/*
 * Sections in the desk (issue #10; role editor): the list of sections with "up"/"down" (plain
 * forms, no script needed) and the form that creates one; a section's page with its title and
 * description, its deletion (refused while articles or drafts are in it), and its articles in the
 * portal's order, each with "up"/"down", "move to place N" and "move to another section". Every
 * change goes through kb/ (sections.c): one transaction with its audit row, and the content
 * version bumped so that every node's pages follow.
 */
#include "desk.h"
#include "desk_int.h"

#include "../auth/auth.h"
#include "../core/arena.h"
#include "../core/buf.h"
#include "../core/config.h"
#include "../core/text.h"
#include "../ctx/ctx.h"
#include "../http/http.h"
#include "../kb/kb.h"
#include "../web/web.h"

#include <stdlib.h>
#include <string.h>

#define ARTICLES_PAGE 100
/* Up to this many sections, each article's row has a <select> of them; beyond, a text field with
 * one shared <datalist> (a page of 100 rows stays small however many sections there are). */
#define SECTIONS_SELECT_MAX 40

static void unavailable(struct ctx *c)
{
	page_error(c, 503, "База данных недоступна. Попробуйте через минуту.");
}

/* A refusal inside the desk, with a way back. */
static void refuse(struct ctx *c, int status, const char *message, const char *back)
{
	c->resp->status = status;
	desk_begin(c, "Разделы");
	html_printf(&c->resp->body,
		    "<h1>Разделы</h1>\n<p class=\"error\" role=\"alert\">%s</p>\n<p><a href=\"%s\">Вернуться</a></p>\n",
		    message, back);
	desk_end(c);
}

/* A form field, trimmed ("" when absent), in the request's arena. */
static const char *field(struct ctx *c, const char *name)
{
	const char *v = http_field(c->req, name, NULL);
	return str_trim(arena_strdup(c->req->arena, v ? v : ""));
}

static const char *error_of(const char **fields, const char **messages, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(fields[i], name))
			return messages[i];
	return NULL;
}

static void field_error(struct buf *b, const char *message)
{
	if (message)
		html_printf(b, "<p class=\"error\" role=\"alert\">%s</p>\n", message);
}

/* The form that creates a section, refilled (with its errors) after a refusal. */
static void create_form(struct ctx *c, const char *slug, const char *title, const char *description,
			const char **fields, const char **messages, int n)
{
	struct buf *b = &c->resp->body;
	html_printf(b,
		    "<h2>Новый раздел</h2>\n<form class=\"section-form\" action=\"/desk/sections\" method=\"post\">\n"
		    "<input type=\"hidden\" name=\"csrf\" value=\"%s\">\n"
		    "<p><label for=\"s-slug\">Адрес (slug): латинские буквы, цифры, дефис</label>\n"
		    "<input id=\"s-slug\" name=\"slug\" value=\"%s\" maxlength=\"80\" required></p>\n",
		    c->user->csrf, slug);
	field_error(b, error_of(fields, messages, n, "slug"));
	html_printf(b,
		    "<p><label for=\"s-title\">Название</label>\n"
		    "<input id=\"s-title\" name=\"title\" value=\"%s\" maxlength=\"200\" required></p>\n",
		    title);
	field_error(b, error_of(fields, messages, n, "title"));
	html_printf(b,
		    "<p><label for=\"s-description\">Описание</label>\n"
		    "<input id=\"s-description\" name=\"description\" value=\"%s\" maxlength=\"300\"></p>\n",
		    description);
	field_error(b, error_of(fields, messages, n, "description"));
	html_raw(b, "<p><button type=\"submit\">Создать раздел</button></p>\n</form>\n");
}

static const char *notice_of(const char *done)
{
	static const char *const notices[][2] = {
	    {"created", "Раздел создан."},
	    {"saved", "Раздел сохранён: портал показывает новое название и описание."},
	    {"moved", "Порядок разделов изменён."},
	    {"deleted", "Раздел удалён."},
	    {"ordered", "Порядок статей изменён: портал показывает их в этом порядке."},
	    {"article-moved", "Статья перенесена в другой раздел."},
	};
	for (size_t i = 0; done && i < sizeof notices / sizeof notices[0]; i++)
		if (!strcmp(done, notices[i][0]))
			return notices[i][1];
	return NULL;
}

static void list_page(struct ctx *c, const char *slug, const char *title, const char *description, const char **fields,
		      const char **messages, int n_errors)
{
	struct arena *a = c->req->arena;
	struct buf *b = &c->resp->body;
	struct kb_section *s;
	int n = kb_sections(c->db, a, &s);
	if (n < 0)
		return unavailable(c);
	desk_begin(c, "Разделы");
	html_raw(b, "<h1>Разделы</h1>\n");
	const char *notice = notice_of(http_param(c->req, "done"));
	if (notice)
		html_printf(b, "<p class=\"notice\" role=\"status\">%s</p>\n", notice);
	if (n_errors)
		html_raw(b, "<p class=\"error\" role=\"alert\">Раздел не создан: исправьте поля ниже.</p>\n");
	if (!n) {
		html_raw(b, "<p>Разделов пока нет.</p>\n");
	} else {
		html_raw(b, "<table class=\"queue\">\n<thead><tr><th>№</th><th>Раздел</th><th>Адрес</th>"
			    "<th>Статей</th><th>Порядок</th></tr></thead>\n<tbody>\n");
		for (int i = 0; i < n; i++) {
			html_printf(b,
				    "<tr><td>%d</td><td><a href=\"/desk/sections/%s\">%s</a></td><td>%s</td><td>%d</td>"
				    "<td><form action=\"/desk/sections/%s\" method=\"post\">"
				    "<input type=\"hidden\" name=\"csrf\" value=\"%s\">",
				    i + 1, s[i].slug, s[i].title, s[i].slug, s[i].n_articles, s[i].slug, c->user->csrf);
			if (i > 0)
				html_printf(
				    b,
				    "<button type=\"submit\" name=\"do\" value=\"up\" aria-label=\"Выше: %s\">↑ "
				    "выше</button> ",
				    s[i].title);
			if (i + 1 < n)
				html_printf(
				    b,
				    "<button type=\"submit\" name=\"do\" value=\"down\" aria-label=\"Ниже: %s\">↓ "
				    "ниже</button>",
				    s[i].title);
			html_raw(b, "</form></td></tr>\n");
		}
		html_raw(b, "</tbody>\n</table>\n");
	}
	create_form(c, slug, title, description, fields, messages, n_errors);
	desk_end(c);
}

/* GET /desk/sections */
void desk_sections(struct ctx *c)
{
	list_page(c, "", "", "", NULL, NULL, 0);
}

/* POST /desk/sections: a new section. */
void desk_section_create(struct ctx *c)
{
	struct arena *a = c->req->arena;
	const char *slug = field(c, "slug"), *title = field(c, "title"), *description = field(c, "description");
	const char *fields[KB_SECTION_FIELD_ERRORS], *messages[KB_SECTION_FIELD_ERRORS];
	int n = kb_section_check(slug, title, description, fields, messages, KB_SECTION_FIELD_ERRORS);
	char err[512];
	if (!n) {
		switch (kb_section_create(c->db, slug, title, description, c->user->id, err, sizeof err)) {
		case KB_SECTION_OK:
			return desk_redirect(c, arena_printf(a, "/desk/sections/%s?done=created", slug));
		case KB_SECTION_TAKEN:
			fields[0] = "slug";
			messages[0] = arena_printf(a,
						   "Раздел с адресом «%s» уже есть. Выберите другой адрес или "
						   "откройте существующий раздел в списке выше.",
						   slug);
			n = 1;
			c->resp->status = 409;
			break;
		default:
			return unavailable(c);
		}
	} else {
		c->resp->status = 422;
	}
	list_page(c, slug, title, description, fields, messages, n);
}

/* The section's page: its form (refilled after a refusal) and its articles in order. */
static void section_page(struct ctx *c, const char *title, const char *description, const char **fields,
			 const char **messages, int n_errors)
{
	struct arena *a = c->req->arena;
	struct buf *b = &c->resp->body;
	struct kb_section s, *all;
	int found = slug_valid(c->arg) ? kb_section_get(c->db, a, c->arg, &s) : 0;
	if (found < 0)
		return unavailable(c);
	if (!found)
		return refuse(c, 404, "Такого раздела нет.", "/desk/sections");
	int ns = kb_sections(c->db, a, &all);
	const char *p = http_param(c->req, "page");
	long page = p ? strtol(p, NULL, 10) : 1;
	if (page < 1 || page > 1000000)
		page = 1;
	int offset = (int)(page - 1) * ARTICLES_PAGE;
	struct kb_text *t;
	int nt = kb_section_articles(c->db, a, s.slug, offset, ARTICLES_PAGE, s.n_articles, &t);
	if (ns < 0 || nt < 0)
		return unavailable(c);
	desk_begin(c, s.title);
	html_printf(b,
		    "<p class=\"meta\"><a href=\"/desk/sections\">Разделы</a></p>\n<h1>%s</h1>\n"
		    "<p class=\"meta\">/s/%s · <a href=\"/s/%s\">на портале</a> · статей: %d</p>\n",
		    s.title, s.slug, s.slug, s.n_articles);
	const char *notice = notice_of(http_param(c->req, "done"));
	if (notice)
		html_printf(b, "<p class=\"notice\" role=\"status\">%s</p>\n", notice);
	if (n_errors)
		html_raw(b, "<p class=\"error\" role=\"alert\">Не сохранено: исправьте поля ниже.</p>\n");
	html_printf(b,
		    "<h2>Название и описание</h2>\n<form class=\"section-form\" action=\"/desk/sections/%s\" "
		    "method=\"post\">\n<input type=\"hidden\" name=\"csrf\" value=\"%s\">\n"
		    "<p><label for=\"s-title\">Название</label>\n"
		    "<input id=\"s-title\" name=\"title\" value=\"%s\" maxlength=\"200\" required></p>\n",
		    s.slug, c->user->csrf, title ? title : s.title);
	field_error(b, error_of(fields, messages, n_errors, "title"));
	html_printf(b,
		    "<p><label for=\"s-description\">Описание</label>\n"
		    "<input id=\"s-description\" name=\"description\" value=\"%s\" maxlength=\"300\"></p>\n",
		    description ? description : s.description);
	field_error(b, error_of(fields, messages, n_errors, "description"));
	html_raw(b, "<p><button type=\"submit\" name=\"do\" value=\"save\">Сохранить</button></p>\n</form>\n");

	html_raw(b, "<h2>Статьи раздела</h2>\n");
	if (!s.n_articles) {
		html_printf(b,
			    "<p>В разделе нет статей.</p>\n<form action=\"/desk/sections/%s\" method=\"post\">"
			    "<input type=\"hidden\" name=\"csrf\" value=\"%s\"><button type=\"submit\" name=\"do\" "
			    "value=\"delete\">Удалить раздел</button></form>\n",
			    s.slug, c->user->csrf);
	} else {
		html_raw(b, "<p>Статьи без заданного места идут после упорядоченных, по алфавиту. Удалить раздел "
			    "можно, когда в нём не останется статей.</p>\n");
		html_raw(b, "<table class=\"queue\">\n<thead><tr><th>Место</th><th>Статья</th><th>Порядок и "
			    "раздел</th></tr></thead>\n<tbody>\n");
		for (int i = 0; i < nt; i++) {
			int place = offset + i + 1;
			html_printf(b,
				    "<tr><td>%d%s</td><td><a href=\"/desk/articles/%s\">%s</a><br><small>/a/%s</small>"
				    "</td><td><form action=\"/desk/sections/%s\" method=\"post\">"
				    "<input type=\"hidden\" name=\"csrf\" value=\"%s\">"
				    "<input type=\"hidden\" name=\"article\" value=\"%s\">",
				    place, t[i].position ? "" : " (по алфавиту)", t[i].slug, t[i].title, t[i].slug,
				    s.slug, c->user->csrf, t[i].slug);
			/* "Move to place N" first: Enter in its field submits the form's first button. */
			html_printf(b,
				    "<label>на место <input name=\"place\" type=\"number\" min=\"1\" max=\"%d\" "
				    "value=\"%d\" aria-label=\"Место для «%s»\"></label> <button type=\"submit\" "
				    "name=\"do\" value=\"article-place\">Переставить</button> ",
				    s.n_articles, place, t[i].title);
			if (place > 1)
				html_printf(
				    b,
				    "<button type=\"submit\" name=\"do\" value=\"article-up\" aria-label=\"Выше: "
				    "%s\">↑ выше</button> ",
				    t[i].title);
			if (place < s.n_articles)
				html_printf(b,
					    "<button type=\"submit\" name=\"do\" value=\"article-down\" "
					    "aria-label=\"Ниже: %s\">↓ ниже</button> ",
					    t[i].title);
			if (ns <= SECTIONS_SELECT_MAX) {
				html_printf(b, "<label>в раздел <select name=\"to\" aria-label=\"Раздел для «%s»\">",
					    t[i].title);
				for (int k = 0; k < ns; k++)
					html_printf(b, "<option value=\"%s\"%s>%s</option>", all[k].slug,
						    strcmp(all[k].slug, s.slug) ? "" : " selected", all[k].title);
				html_raw(b, "</select></label>");
			} else {
				html_printf(b,
					    "<label>в раздел (адрес) <input name=\"to\" list=\"section-slugs\" "
					    "maxlength=\"80\" aria-label=\"Раздел для «%s»\"></label>",
					    t[i].title);
			}
			html_raw(b, " <button type=\"submit\" name=\"do\" value=\"article-section\">Перенести</button>"
				    "</form></td></tr>\n");
		}
		html_raw(b, "</tbody>\n</table>\n");
		if (ns > SECTIONS_SELECT_MAX) {
			html_raw(b, "<datalist id=\"section-slugs\">");
			for (int k = 0; k < ns; k++)
				html_printf(b, "<option value=\"%s\">%s</option>", all[k].slug, all[k].title);
			html_raw(b, "</datalist>\n");
		}
		int pages = (s.n_articles + ARTICLES_PAGE - 1) / ARTICLES_PAGE;
		if (pages > 1) {
			html_raw(b, "<nav class=\"pager\">");
			if (page > 1)
				html_printf(b, "<a rel=\"prev\" href=\"/desk/sections/%s?page=%ld\">Назад</a> ", s.slug,
					    page - 1);
			html_printf(b, "<span>страница %ld из %d</span>", page, pages);
			if (page < pages)
				html_printf(b, " <a rel=\"next\" href=\"/desk/sections/%s?page=%ld\">Дальше</a>",
					    s.slug, page + 1);
			html_raw(b, "</nav>\n");
		}
	}
	desk_end(c);
}

/* GET /desk/sections/{slug}[?page=N] */
void desk_section(struct ctx *c)
{
	section_page(c, NULL, NULL, NULL, NULL, 0);
}

/* The page of the section to come back to after an action on an article at place. */
static const char *back_to(struct ctx *c, const char *done, int place)
{
	int page = place > 0 ? (place - 1) / ARTICLES_PAGE + 1 : 1;
	return page > 1 ? arena_printf(c->req->arena, "/desk/sections/%s?done=%s&page=%d", c->arg, done, page)
			: arena_printf(c->req->arena, "/desk/sections/%s?done=%s", c->arg, done);
}

/* do=article-up | article-down | article-place | article-section, article=SLUG */
static void article_action(struct ctx *c, const char *what)
{
	struct arena *a = c->req->arena;
	const char *slug = field(c, "article");
	const char *back = arena_printf(a, "/desk/sections/%s", c->arg);
	if (!slug_valid(slug))
		return refuse(c, 404, "Такой статьи нет.", back);
	char err[512];
	enum kb_section_result r;
	int place = 0;
	if (!strcmp(what, "article-section")) {
		const char *to = field(c, "to");
		if (!slug_valid(to))
			return refuse(c, 422, "Выберите раздел, в который перенести статью.", back);
		/* A move publishes the article's texts in their new section: with review required,
		 * only an admin does it here; editors change the section in a draft. */
		if (c->app->cfg.require_review && !(c->user->roles & AUTH_ADMIN))
			return refuse(
			    c, 409,
			    arena_printf(a,
					 "Нужна проверка: измените раздел в черновике статьи "
					 "(/desk/articles/%s/edit) и отправьте его на проверку, или попросите "
					 "администратора перенести статью.",
					 slug),
			    back);
		r = kb_article_to_section(c->db, slug, to, c->user->id, err, sizeof err);
		if (r == KB_SECTION_OK)
			return desk_redirect(c, arena_printf(a, "/desk/sections/%s?done=article-moved", to));
		if (r == KB_SECTION_NOT_FOUND)
			return refuse(c, 404, "Нет такой опубликованной статьи или такого раздела.", back);
	} else {
		int now = kb_article_place(c->db, c->arg, slug);
		if (now < 0)
			return unavailable(c);
		if (now == 0)
			return refuse(c, 404, "Этой статьи нет в разделе (возможно, её уже перенесли).", back);
		if (!strcmp(what, "article-up")) {
			place = now - 1;
		} else if (!strcmp(what, "article-down")) {
			place = now + 1;
		} else {
			const char *p = field(c, "place");
			char *end;
			long v = strtol(p, &end, 10);
			if (!*p || *end || v < 1 || v > 1000000)
				return refuse(c, 422, arena_printf(a, "Место — целое число от 1; получено «%s».", p),
					      back);
			place = (int)v;
		}
		r = kb_article_move_to(c->db, c->arg, slug, place, c->user->id, err, sizeof err);
		if (r == KB_SECTION_OK)
			return desk_redirect(c, back_to(c, "ordered", place));
		if (r == KB_SECTION_NOT_FOUND)
			return refuse(c, 404, "Этой статьи нет в разделе (возможно, её уже перенесли).", back);
	}
	if (r == KB_SECTION_FAILED && *err && strncmp(err, "database", 8) != 0)
		return refuse(c, 422, arena_printf(a, "Не получилось: %s", err), back);
	unavailable(c);
}

/* POST /desk/sections/{slug}: do=save (title, description), up, down, delete, or an action on one
 * of its articles. */
void desk_section_action(struct ctx *c)
{
	struct arena *a = c->req->arena;
	if (!slug_valid(c->arg))
		return refuse(c, 404, "Такого раздела нет.", "/desk/sections");
	const char *what = field(c, "do");
	char err[512];
	enum kb_section_result r;
	const char *done;
	if (!strncmp(what, "article-", 8))
		return article_action(c, what);
	if (!strcmp(what, "save")) {
		const char *title = field(c, "title"), *description = field(c, "description");
		const char *fields[KB_SECTION_FIELD_ERRORS], *messages[KB_SECTION_FIELD_ERRORS];
		int n = kb_section_check(NULL, title, description, fields, messages, KB_SECTION_FIELD_ERRORS);
		if (n) {
			c->resp->status = 422;
			return section_page(c, title, description, fields, messages, n);
		}
		r = kb_section_update(c->db, c->arg, title, description, c->user->id, err, sizeof err);
		done = arena_printf(a, "/desk/sections/%s?done=saved", c->arg);
	} else if (!strcmp(what, "up") || !strcmp(what, "down")) {
		r = kb_section_move(c->db, c->arg, !strcmp(what, "up") ? -1 : 1, c->user->id, err, sizeof err);
		done = "/desk/sections?done=moved";
	} else if (!strcmp(what, "delete")) {
		int64_t articles, drafts;
		r = kb_section_delete(c->db, c->arg, c->user->id, &articles, &drafts, err, sizeof err);
		if (r == KB_SECTION_NOT_EMPTY)
			return refuse(c, 409,
				      arena_printf(a,
						   "Раздел не удалён: в нём статей — %lld, статей с черновиками или на "
						   "проверке — %lld. Перенесите их в другие разделы (или опубликуйте "
						   "черновики в другом разделе), затем удалите раздел.",
						   (long long)articles, (long long)drafts),
				      arena_printf(a, "/desk/sections/%s", c->arg));
		done = "/desk/sections?done=deleted";
	} else {
		return refuse(c, 422, "Неизвестное действие.", arena_printf(a, "/desk/sections/%s", c->arg));
	}
	if (r == KB_SECTION_OK)
		return desk_redirect(c, done);
	if (r == KB_SECTION_NOT_FOUND)
		return refuse(c, 404, "Такого раздела нет.", "/desk/sections");
	unavailable(c);
}
