/*
 * The editors' workspace, second part (issue #10): the per-country texts of an article (add a
 * country's variant from the general text, remove one: a revision like any other), review with
 * "send back with a comment", archiving and renaming with a confirmation form, the line diff of
 * any two revisions, the live preview's fragment and the stale content (review date passed,
 * variants older than their general text), with the signed-in editor's own on the desk home.
 * Everything goes through kb/ (revisions.c, kb.c) and diff/; every value is escaped by
 * html_printf.
 */
#include "desk.h"
#include "desk_int.h"

#include "../auth/auth.h"
#include "../core/arena.h"
#include "../core/buf.h"
#include "../core/config.h"
#include "../core/text.h"
#include "../ctx/ctx.h"
#include "../diff/diff.h"
#include "../http/http.h"
#include "../kb/kb.h"
#include "../md/md.h"
#include "../media/media.h"
#include "../web/web.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STALE_SHOWN 500
#define RETURNED_SHOWN 50
#define DIFF_CONTEXT 3

static void unavailable(struct ctx *c)
{
	page_error(c, 503, "База данных недоступна. Попробуйте через минуту.");
}

static const char *country_label(struct ctx *c, const char *code)
{
	if (!*code)
		return "Общий текст (все страны)";
	const struct country *k = config_country(&c->app->cfg, code);
	return k ? arena_printf(c->req->arena, "%s — %s", code, k->name) : code;
}

struct kb_check desk_kb_check(struct ctx *c, bool new_variant)
{
	const struct config *cfg = &c->app->cfg;
	const char **codes = arena_alloc(c->req->arena, (cfg->n_countries + 1) * sizeof *codes);
	for (size_t i = 0; i < cfg->n_countries; i++)
		codes[i] = cfg->countries[i].code;
	return (struct kb_check){.countries = codes, .n_countries = cfg->n_countries, .new_variant = new_variant};
}

/* ---- the desk home: the editor's stale articles and returned drafts ---- */

static const char *today(struct arena *a)
{
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	char d[16];
	strftime(d, sizeof d, "%Y-%m-%d", &tm);
	return arena_strdup(a, d);
}

static void stale_table(struct ctx *c, const struct kb_stale *s, int n, bool variants, bool owners)
{
	struct buf *b = &c->resp->body;
	/* Markup goes through html_raw: html_printf escapes its %s. */
	html_printf(b, "<table class=\"queue\">\n<thead><tr><th>Статья</th><th>Текст</th><th>%s</th>",
		    variants ? "Вариант обновлён" : "Пересмотреть до");
	if (variants)
		html_raw(b, "<th>Общий текст обновлён</th>");
	if (owners)
		html_raw(b, "<th>Ответственный</th>");
	html_raw(b, "<th><span class=\"visually-hidden\">Действие</span></th></tr></thead>\n<tbody>\n");
	for (int i = 0; i < n; i++) {
		const struct kb_text *t = &s[i].text;
		html_printf(b, "<tr><td><a href=\"/desk/articles/%s\">%s</a></td><td>%s</td><td>%s</td>", t->slug,
			    t->title, country_label(c, t->country), variants ? t->updated : t->review_by);
		if (variants)
			html_printf(b, "<td>%s</td>", s[i].general_updated);
		if (owners)
			html_printf(b, "<td>%s</td>", *t->owner ? t->owner : "не назначен");
		html_printf(b, "<td><a href=\"/desk/articles/%s/edit?country=%s\">править</a></td></tr>\n", t->slug,
			    t->country);
	}
	html_raw(b, "</tbody>\n</table>\n");
}

void desk_workspace_home(struct ctx *c)
{
	struct arena *a = c->req->arena;
	struct buf *b = &c->resp->body;
	struct kb_stale *over = NULL, *behind = NULL;
	int no = kb_stale(c->db, a, false, today(a), c->user->login, STALE_SHOWN, &over);
	int nb = kb_stale(c->db, a, true, NULL, c->user->login, STALE_SHOWN, &behind);
	struct kb_revision *ret = NULL;
	int nr = kb_returned(c->db, a, c->user->id, RETURNED_SHOWN, &ret);
	if (no > 0 || nb > 0) {
		html_raw(b, "<section class=\"stale mine\">\n<h2>Ваши статьи на пересмотр</h2>\n");
		if (no > 0) {
			html_raw(b, "<h3>Срок пересмотра прошёл</h3>\n");
			stale_table(c, over, no, false, false);
		}
		if (nb > 0) {
			html_raw(b, "<h3>Варианты для стран старше общего текста</h3>\n");
			stale_table(c, behind, nb, true, false);
		}
		html_raw(b, "</section>\n");
	}
	if (nr > 0) {
		html_raw(b, "<section class=\"returned mine\">\n<h2>Вернули на доработку</h2>\n<ul>\n");
		for (int i = 0; i < nr; i++)
			html_printf(b, "<li><a href=\"/desk/articles/%s\">%s</a>, версия %lld (%s): «%s» — %s</li>\n",
				    ret[i].slug, ret[i].text.title, (long long)ret[i].n,
				    *ret[i].country ? ret[i].country : "общий текст", ret[i].comment,
				    *ret[i].reviewer ? ret[i].reviewer : "проверяющий");
		html_raw(b, "</ul>\n</section>\n");
	}
	html_raw(b, "<p><a href=\"/desk/stale\">Устаревшие статьи</a>: срок пересмотра прошёл или вариант для страны "
		    "старше общего текста.</p>\n");
}

/* GET /desk/stale */
void desk_stale(struct ctx *c)
{
	struct arena *a = c->req->arena;
	struct buf *b = &c->resp->body;
	struct kb_stale *over, *behind;
	int no = kb_stale(c->db, a, false, today(a), NULL, STALE_SHOWN, &over);
	int nb = kb_stale(c->db, a, true, NULL, NULL, STALE_SHOWN, &behind);
	if (no < 0 || nb < 0)
		return unavailable(c);
	desk_begin(c, "Устаревшие статьи");
	html_raw(b, "<h1>Устаревшие статьи</h1>\n<p><a href=\"/desk/articles\">Статьи</a></p>\n"
		    "<h2>Срок пересмотра прошёл</h2>\n");
	if (no)
		stale_table(c, over, no, false, true);
	else
		html_raw(b, "<p>Нет статей с прошедшим сроком пересмотра.</p>\n");
	html_raw(b, "<h2>Варианты для стран старше общего текста</h2>\n");
	if (nb)
		stale_table(c, behind, nb, true, true);
	else
		html_raw(b, "<p>Все варианты для стран обновлены не раньше общего текста.</p>\n");
	if (no == STALE_SHOWN || nb == STALE_SHOWN)
		html_printf(b, "<p>Показаны первые %d.</p>\n", STALE_SHOWN);
	desk_end(c);
}

/* ---- an article's page: notices, texts per country, review ---- */

void desk_workspace_notice(struct ctx *c, const char *done)
{
	static const struct {
		const char *done, *text;
	} notices[] = {
	    {"returned", "Правка возвращена автору с замечанием: она снова черновик."},
	    {"removal", "Удаление варианта сохранено как черновик: опубликуйте его, и вариант исчезнет с портала "
			"(история сохранится)."},
	    {"renamed", "Статья переименована: прежний адрес ведёт на новый (301)."},
	    {"archived", "Статья снята с портала. История версий сохранена; опубликованная правка вернёт её."},
	};
	for (size_t i = 0; i < sizeof notices / sizeof notices[0]; i++)
		if (!strcmp(done, notices[i].done))
			html_printf(&c->resp->body, "<p class=\"notice\" role=\"status\">%s</p>\n", notices[i].text);
}

void desk_reject_form(struct ctx *c, const struct kb_revision *r, const char *comment, const char *error)
{
	struct buf *b = &c->resp->body;
	html_printf(b,
		    "<form class=\"request reject\" action=\"/desk/articles/%s\" method=\"post\">\n"
		    "<input type=\"hidden\" name=\"csrf\" value=\"%s\">\n<input type=\"hidden\" name=\"do\" "
		    "value=\"reject\">\n<div class=\"field%s\"><label for=\"f-comment\">Вернуть версию %lld автору "
		    "(%s) с замечанием</label>\n<textarea id=\"f-comment\" name=\"comment\" rows=\"3\"",
		    r->slug, c->user->csrf, error ? " invalid" : "", (long long)r->n,
		    *r->author ? r->author : "импорт");
	if (error)
		html_raw(b, " aria-invalid=\"true\" aria-describedby=\"f-comment-error\"");
	html_printf(b, ">%s</textarea>\n", comment ? comment : "");
	if (error)
		html_printf(b, "<p class=\"error\" id=\"f-comment-error\">%s</p>\n", error);
	html_raw(b, "</div>\n<p><button type=\"submit\">Вернуть на доработку</button></p>\n</form>\n");
}

/* The newest revision of each text (general first, then the countries by code) of r[0..n). */
void desk_texts_block(struct ctx *c, const struct kb_revision *r, int n)
{
	struct arena *a = c->req->arena;
	struct buf *b = &c->resp->body;
	const struct kb_revision **newest = arena_alloc(a, (size_t)(n + 1) * sizeof *newest);
	int k = 0;
	for (int i = 0; i < n; i++) {
		bool seen = false;
		for (int j = 0; j < k && !seen; j++)
			seen = !strcmp(newest[j]->country, r[i].country);
		if (!seen)
			newest[k++] = &r[i];
	}
	/* General text first, then by country code (a few: insertion sort). */
	for (int i = 1; i < k; i++)
		for (int j = i; j > 0 && strcmp(newest[j - 1]->country, newest[j]->country) > 0; j--) {
			const struct kb_revision *t = newest[j];
			newest[j] = newest[j - 1];
			newest[j - 1] = t;
		}
	const char *slug = r[0].slug;
	html_raw(b, "<h2>Тексты</h2>\n<table class=\"queue texts\">\n<thead><tr><th>Текст</th><th>Последняя "
		    "версия</th><th>Состояние</th><th><span class=\"visually-hidden\">Действие</span></th></tr></thead>"
		    "\n<tbody>\n");
	for (int i = 0; i < k; i++) {
		const struct kb_revision *t = newest[i];
		bool gone = t->removed && (!strcmp(t->status, "published") || !strcmp(t->status, "superseded"));
		html_printf(b, "<tr><td>%s</td><td>%lld</td><td>%s</td><td>", country_label(c, t->country),
			    (long long)t->n,
			    gone			      ? "вариант удалён"
			    : t->removed		      ? "удаление ждёт публикации"
			    : !strcmp(t->status, "published") ? "опубликован"
			    : !strcmp(t->status, "review")    ? "на проверке"
			    : !strcmp(t->status, "draft")     ? "черновик"
							      : "заменён");
		if (gone)
			html_printf(b, "<a href=\"/desk/articles/%s/edit?country=%s&amp;new=1\">добавить снова</a>",
				    slug, t->country);
		else
			html_printf(b, "<a href=\"/desk/articles/%s/edit?country=%s\">править</a>", slug, t->country);
		if (*t->country && !t->removed)
			html_printf(
			    b,
			    " <form class=\"inline\" action=\"/desk/articles/%s\" method=\"post\"><input "
			    "type=\"hidden\" name=\"csrf\" value=\"%s\"><input type=\"hidden\" name=\"country\" "
			    "value=\"%s\"><button type=\"submit\" name=\"do\" value=\"remove_variant\">Удалить "
			    "вариант</button></form>",
			    slug, c->user->csrf, t->country);
		html_raw(b, "</td></tr>\n");
	}
	html_raw(b, "</tbody>\n</table>\n");
	const struct config *cfg = &c->app->cfg;
	html_printf(b,
		    "<form class=\"filter\" action=\"/desk/articles/%s/edit\" method=\"get\">\n<input type=\"hidden\" "
		    "name=\"new\" value=\"1\">\n<label for=\"f-new-country\">Добавить вариант для страны (начнётся с "
		    "общего текста)</label>\n<select id=\"f-new-country\" name=\"country\">\n",
		    slug);
	for (size_t i = 0; i < cfg->n_countries; i++)
		html_printf(b, "<option value=\"%s\">%s</option>\n", cfg->countries[i].code,
			    country_label(c, cfg->countries[i].code));
	html_raw(b, "</select>\n<button type=\"submit\">Добавить вариант</button>\n</form>\n");
}

void desk_compare_form(struct ctx *c, int64_t from, int64_t to)
{
	html_printf(&c->resp->body,
		    "<form class=\"filter\" action=\"/desk/articles/%s/diff\" method=\"get\">\n"
		    "<label for=\"f-from\">Сравнить версию</label>\n<input id=\"f-from\" name=\"from\" "
		    "type=\"number\" min=\"1\" value=\"%lld\" required>\n<label for=\"f-to\">с версией</label>\n"
		    "<input id=\"f-to\" name=\"to\" type=\"number\" min=\"1\" value=\"%lld\" required>\n"
		    "<button type=\"submit\">Сравнить</button>\n</form>\n",
		    c->arg, (long long)from, (long long)to);
}

/* do=reject, comment=...: the revision in review goes back to its author. */
void desk_article_reject(struct ctx *c)
{
	struct arena *a = c->req->arena;
	const char *comment = http_field(c->req, "comment", NULL);
	char *trimmed = str_trim(arena_strdup(a, comment ? comment : ""));
	const char *error = NULL;
	if (!*trimmed)
		error = "Напишите, что исправить: автор увидит это замечание.";
	else if (utf8_length(trimmed) > KB_COMMENT_MAX)
		error = "Не больше 1000 знаков.";
	for (const unsigned char *p = (const unsigned char *)trimmed; !error && *p; p++)
		if (*p < 0x20 && *p != '\n' && *p != '\r' && *p != '\t')
			error = "Текст содержит управляющие символы: уберите их.";
	int64_t rev = 0;
	enum kb_publish_result r = error ? KB_RETURNED : kb_reject(c->db, c->arg, c->user->id, trimmed, &rev);
	if (!error && r == KB_RETURNED)
		return desk_redirect(c, arena_printf(a, "/desk/articles/%s?done=returned", c->arg));
	if (r == KB_NO_DRAFT)
		return page_error(c, 409, "У статьи нет правки на проверке: возвращать нечего.");
	if (r == KB_OWN_REVISION)
		return page_error(c, 409,
				  "Свою правку нельзя вернуть с замечанием: её проверяет другой редактор. Чтобы "
				  "изменить её, сохраните новый черновик.");
	if (!error)
		return unavailable(c);
	/* The form again with what was typed. */
	struct kb_revision *list;
	int n = kb_revisions(c->db, a, c->arg, &list);
	const struct kb_revision *pending = NULL;
	for (int i = 0; i < n && !pending; i++)
		if (!strcmp(list[i].status, "review"))
			pending = &list[i];
	if (!pending)
		return page_error(c, 409, "У статьи нет правки на проверке: возвращать нечего.");
	c->resp->status = 422;
	desk_begin(c, "Вернуть на доработку");
	html_printf(&c->resp->body,
		    "<h1>Вернуть на доработку: «%s»</h1>\n<p><a href=\"/desk/articles/%s\">История "
		    "версий</a></p>\n",
		    pending->text.title, c->arg);
	desk_reject_form(c, pending, comment, error);
	desk_end(c);
}

/* do=remove_variant, country=XX: a draft that removes the variant. */
void desk_variant_remove(struct ctx *c)
{
	struct arena *a = c->req->arena;
	const char *country = http_field(c->req, "country", NULL);
	if (!country || !*country)
		return page_error(c, 422, "Общий текст не удаляется как вариант: снимите статью с портала.");
	char err[512];
	int64_t n = kb_variant_remove(c->db, c->arg, country, c->user->id,
				      arena_printf(a, "удалён вариант для страны %s", country), err, sizeof err);
	if (n < 0)
		return unavailable(c);
	if (n == 0)
		return page_error(c, 404, "У статьи нет варианта для этой страны.");
	desk_redirect(c, arena_printf(a, "/desk/articles/%s?done=removal", c->arg));
}

/* ---- the preview (the form's button and the live preview's endpoint) ---- */

void desk_preview_fragment(struct ctx *c, const struct kb_text *t, const char *body_html)
{
	struct buf *b = &c->resp->body;
	html_printf(b, "<h2>Предпросмотр</h2>\n<h2 class=\"preview-title\">%s</h2>\n", t->title ? t->title : "");
	page_prepare_block(b, c->req->arena, t->prepare);
	html_raw(b, "<div class=\"article-body\">\n");
	html_raw(b, body_html); /* md_to_html_images: cmark-gfm in safe mode, as on the portal */
	html_raw(b, "</div>\n");
}

void desk_editor_script(struct ctx *c)
{
	const struct static_file *js = ctx_static(c->app, "preview.js");
	html_printf(&c->resp->body, "<script src=\"/static/preview.js?v=%s\" defer></script>\n",
		    js ? js->version : "0");
}

/* POST /desk/articles/{slug}/preview (title, prepare, body): the preview as an HTML fragment. */
void desk_article_preview(struct ctx *c)
{
	struct arena *a = c->req->arena;
	struct buf *b = &c->resp->body;
	struct kb_text t = {.slug = c->arg};
	const char *title = http_field(c->req, "title", NULL), *body = http_field(c->req, "body", NULL),
		   *prepare = http_field(c->req, "prepare", NULL);
	t.title = title ? title : "";
	t.body = body ? body : "";
	c->resp->content_type = "text/html; charset=utf-8";
	c->resp->cache_control = "no-store";
	if (!utf8_valid(t.title, strlen(t.title)) || !utf8_valid(t.body, strlen(t.body)) ||
	    (prepare && !utf8_valid(prepare, strlen(prepare)))) {
		c->resp->status = 422;
		html_raw(b, "<p class=\"error\">Текст не в кодировке UTF-8: предпросмотр невозможен.</p>\n");
		return;
	}
	t.prepare = kb_prepare_canon(a, prepare);
	c->resp->status = 200;
	char *html = md_to_html_images(t.body, strlen(t.body), media_size_lookup, c->db);
	desk_preview_fragment(c, &t, html ? html : "");
	free(html);
}

/* ---- the diff of two revisions ---- */

static void field_change(struct buf *b, const char *label, const char *from, const char *to)
{
	from = from ? from : "";
	to = to ? to : "";
	if (!strcmp(from, to))
		return;
	html_printf(b, "<tr><th scope=\"row\">%s</th><td><del>%s</del></td><td><ins>%s</ins></td></tr>\n", label, from,
		    to);
}

/* GET /desk/articles/{slug}/diff?from=N&to=M */
void desk_article_diff(struct ctx *c)
{
	struct arena *a = c->req->arena;
	struct buf *b = &c->resp->body;
	if (!slug_valid(c->arg))
		return page_error(c, 404, "Такой статьи нет.");
	const char *fs = http_param(c->req, "from"), *ts = http_param(c->req, "to");
	char *e1 = NULL, *e2 = NULL;
	long long from = fs ? strtoll(fs, &e1, 10) : 0, to = ts ? strtoll(ts, &e2, 10) : 0;
	if (!fs || !ts || *e1 || *e2 || from < 1 || to < 1)
		return page_error(c, 422, "Укажите номера двух версий (from и to): целые числа от 1.");
	struct kb_revision x, y;
	int fx = kb_revision_get(c->db, a, c->arg, from, &x);
	int fy = fx > 0 ? kb_revision_get(c->db, a, c->arg, to, &y) : 0;
	if (fx < 0 || fy < 0)
		return unavailable(c);
	if (!fx || !fy)
		return page_error(c, 404, "Такой версии у статьи нет.");
	desk_begin(c, "Сравнение версий");
	html_printf(b,
		    "<h1>Сравнение версий %lld и %lld: «%s»</h1>\n<p><a href=\"/desk/articles/%s\">История "
		    "версий</a></p>\n",
		    from, to, y.text.title, c->arg);
	html_printf(b, "<p class=\"meta\">Версия %lld: %s, %s, %s. Версия %lld: %s, %s, %s.</p>\n", from,
		    country_label(c, x.country), *x.author ? x.author : "импорт", desk_when(a, x.created), to,
		    country_label(c, y.country), *y.author ? y.author : "импорт", desk_when(a, y.created));
	size_t mark = b->len;
	html_printf(b,
		    "<table class=\"queue fields\">\n<thead><tr><th>Поле</th><th>Версия %lld</th><th>Версия %lld</th>"
		    "</tr></thead>\n<tbody>\n",
		    from, to);
	size_t rows = b->len;
	field_change(b, "Удаление варианта", x.removed ? "да" : "нет", y.removed ? "да" : "нет");
	field_change(b, "Страна", country_label(c, x.country), country_label(c, y.country));
	field_change(b, "Заголовок", x.text.title, y.text.title);
	field_change(b, "Раздел", x.text.section, y.text.section);
	field_change(b, "Кратко", x.text.summary, y.text.summary);
	field_change(b, "Ключевые слова", x.text.keywords, y.text.keywords);
	field_change(b, "Связанные статьи", x.text.related, y.text.related);
	field_change(b, "Для стран", x.text.countries, y.text.countries);
	field_change(b, "Что подготовить", x.text.prepare, y.text.prepare);
	field_change(b, "Пересмотреть до", x.text.review_by, y.text.review_by);
	field_change(b, "Ответственный", x.text.owner, y.text.owner);
	if (b->len == rows) {
		b->len = mark; /* no field changed: no table */
		html_raw(b, "<p>Поля статьи (заголовок, раздел, кратко, ключевые слова...) не изменились.</p>\n");
	} else {
		html_raw(b, "</tbody>\n</table>\n");
	}
	html_raw(b, "<h2>Текст</h2>\n");
	struct diff_line *d;
	long n = diff_lines(a, x.text.body, y.text.body, DIFF_MAX_LINES, &d);
	if (n < 0) {
		html_printf(b,
			    "<p class=\"notice\">Текст длиннее %d строк: построчное сравнение не показывается. "
			    "Откройте версии в форме правки, чтобы сравнить их.</p>\n",
			    DIFF_MAX_LINES);
		return desk_end(c);
	}
	/* Lines within DIFF_CONTEXT of a change are shown; longer unchanged runs are folded. */
	char *shown = arena_alloc(a, (size_t)(n ? n : 1));
	memset(shown, 0, (size_t)(n ? n : 1));
	long changes = 0;
	for (long i = 0; i < n; i++)
		if (d[i].op != DIFF_SAME) {
			changes++;
			for (long j = i - DIFF_CONTEXT; j <= i + DIFF_CONTEXT; j++)
				if (j >= 0 && j < n)
					shown[j] = 1;
		}
	if (!changes) {
		html_raw(b, "<p>Текст не изменился.</p>\n");
		return desk_end(c);
	}
	html_printf(b, "<p>Изменено строк: %ld (<del>удалённые</del>, <ins>добавленные</ins>).</p>\n", changes);
	html_raw(b, "<pre class=\"diff\">");
	for (long i = 0; i < n;) {
		if (!shown[i]) {
			long j = i;
			while (j < n && !shown[j])
				j++;
			html_printf(b, "<span class=\"fold\">⋯ без изменений: %ld стр. ⋯</span>\n", j - i);
			i = j;
			continue;
		}
		const char *tag = d[i].op == DIFF_DEL ? "del" : d[i].op == DIFF_INS ? "ins" : "span";
		const char *sign = d[i].op == DIFF_DEL ? "-" : d[i].op == DIFF_INS ? "+" : " ";
		html_printf(b, "<%s>%s %.*s</%s>\n", tag, sign, (int)d[i].len, d[i].text, tag);
		i++;
	}
	html_raw(b, "</pre>\n");
	desk_end(c);
}

/* ---- archiving and renaming, with a confirmation form ---- */

static void move_form(struct ctx *c, bool archive, const char *title, const char *value, const char *message,
		      const char *error)
{
	struct buf *b = &c->resp->body;
	if (archive)
		html_printf(b,
			    "<h1>Снять с портала: «%s»</h1>\n<p>Статья сразу исчезнет с портала и из поиска. История "
			    "версий сохранится; опубликованная снова правка вернёт статью. Прежний адрес ответит "
			    "страницей «Статья снята с публикации» с поиском (410) или, если указать замену, "
			    "переадресует на неё (301).</p>\n",
			    title);
	else
		html_printf(b,
			    "<h1>Переименовать: «%s»</h1>\n<p>Тексты и история версий переедут на новый адрес; "
			    "прежний адрес /a/%s будет переадресовывать на новый (301), ссылки из других статей "
			    "обновятся.</p>\n",
			    title, c->arg);
	if (error)
		html_printf(b, "<div class=\"error-summary\" role=\"alert\"><p>%s</p></div>\n", error);
	html_printf(b,
		    "<form class=\"request\" action=\"/desk/articles/%s/%s\" method=\"post\">\n<input "
		    "type=\"hidden\" name=\"csrf\" value=\"%s\">\n<div class=\"field%s\"><label for=\"f-slug\">%s"
		    "</label>\n<input id=\"f-slug\" name=\"%s\" value=\"%s\" pattern=\"[a-z0-9-]{1,80}\"",
		    c->arg, archive ? "archive" : "rename", c->user->csrf, error ? " invalid" : "",
		    archive ? "Замена: адрес статьи, на которую вести (пусто — страница 410 с поиском)"
			    : "Новый адрес (латинские буквы a–z, цифры и дефис, до 80 знаков)",
		    archive ? "replacement" : "slug", value ? value : "");
	if (!archive)
		html_raw(b, " required");
	if (error)
		html_raw(b, " aria-invalid=\"true\"");
	html_raw(b, ">\n</div>\n");
	if (archive)
		html_printf(b,
			    "<div class=\"field\"><label for=\"f-message\">Причина (для истории)</label>\n<input "
			    "id=\"f-message\" name=\"message\" value=\"%s\">\n</div>\n",
			    message ? message : "");
	html_printf(b, "<p><button type=\"submit\">%s</button> <a href=\"/desk/articles/%s\">Отмена</a></p>\n</form>\n",
		    archive ? "Снять с портала" : "Переименовать", c->arg);
}

static void move_page(struct ctx *c, bool archive)
{
	if (!slug_valid(c->arg))
		return page_error(c, 404, "Такой статьи нет.");
	const char *title = kb_title(c->db, c->req->arena, c->arg);
	if (!title && archive)
		return page_error(c, 404, "Статьи с этим адресом нет на портале: снимать нечего.");
	desk_begin(c, archive ? "Снять с портала" : "Переименовать");
	move_form(c, archive, title ? title : c->arg, NULL, NULL, NULL);
	desk_end(c);
}

void desk_article_archive_form(struct ctx *c)
{
	move_page(c, true);
}

void desk_article_rename_form(struct ctx *c)
{
	move_page(c, false);
}

/* The form again (status, error), with what was typed. */
static void move_refused(struct ctx *c, bool archive, int status, const char *value, const char *message,
			 const char *error)
{
	const char *title = kb_title(c->db, c->req->arena, c->arg);
	c->resp->status = status;
	desk_begin(c, archive ? "Снять с портала" : "Переименовать");
	move_form(c, archive, title ? title : c->arg, value, message, error);
	desk_end(c);
}

void desk_article_archive(struct ctx *c)
{
	struct arena *a = c->req->arena;
	if (!slug_valid(c->arg))
		return page_error(c, 404, "Такой статьи нет.");
	const char *rep = http_field(c->req, "replacement", NULL), *message = http_field(c->req, "message", NULL);
	char *replacement = str_trim(arena_strdup(a, rep ? rep : ""));
	message = message ? message : "";
	if (*replacement && !slug_valid(replacement))
		return move_refused(c, true, 422, replacement, message,
				    "Замена — адрес статьи: латинские буквы a–z, цифры и дефис, до 80 знаков.");
	if (utf8_length(message) > 500 || !utf8_valid(message, strlen(message)))
		return move_refused(c, true, 422, replacement, message, "Причина: не больше 500 знаков.");
	char err[512] = "";
	switch (kb_archive(c->db, c->arg, replacement, c->user->id, message, err, sizeof err)) {
	case KB_MOVED:
		return desk_redirect(c, arena_printf(a, "/desk/articles/%s?done=archived", c->arg));
	case KB_NOT_FOUND:
		return page_error(c, 404, "Статьи с этим адресом нет на портале: снимать нечего.");
	case KB_BAD_TARGET:
		return move_refused(c, true, 422, replacement, message,
				    arena_printf(a,
						 "Статьи «%s» нет на портале (или это та же статья): замена должна "
						 "быть другой опубликованной статьёй.",
						 replacement));
	case KB_TAKEN:
	case KB_MOVE_FAILED:
		break;
	}
	unavailable(c);
}

void desk_article_rename(struct ctx *c)
{
	struct arena *a = c->req->arena;
	if (!slug_valid(c->arg))
		return page_error(c, 404, "Такой статьи нет.");
	const char *to_s = http_field(c->req, "slug", NULL);
	char *to = str_trim(arena_strdup(a, to_s ? to_s : ""));
	if (!slug_valid(to))
		return move_refused(c, false, 422, to, NULL,
				    "Новый адрес: латинские буквы a–z, цифры и дефис, от 1 до 80 знаков.");
	char err[512] = "";
	switch (kb_rename(c->db, c->arg, to, c->user->id, err, sizeof err)) {
	case KB_MOVED:
		return desk_redirect(c, arena_printf(a, "/desk/articles/%s?done=renamed", to));
	case KB_NOT_FOUND:
		return page_error(c, 404, "У статьи с этим адресом нет ни текстов, ни версий.");
	case KB_TAKEN:
		return move_refused(c, false, 409, to, NULL,
				    !strcmp(to, c->arg)
					? "Это тот же адрес: введите новый."
					: arena_printf(a,
						       "Адрес «%s» уже занят другой статьёй (или её историей версий, "
						       "или снятой статьёй): выберите другой.",
						       to));
	case KB_BAD_TARGET:
	case KB_MOVE_FAILED:
		break;
	}
	unavailable(c);
}
