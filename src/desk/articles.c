/*
 * The editors' workspace in the desk (issue #10, first pages): the drafts and revisions waiting
 * for review, an article's history with "submit for review" and "publish", and the editing form
 * with a server-side preview (the portal's Markdown pipeline, safe mode) and the draft's save.
 * Everything goes through kb/ (revisions.c): a save is a draft revision, the live text changes
 * only when a revision is published; two editors saving from the same revision get a conflict
 * page with both texts side by side, never a silent overwrite.
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
#include "../md/md.h"
#include "../media/media.h"
#include "../web/web.h"

#include <stdlib.h>
#include <string.h>

#define PENDING_SHOWN 200

static const char *status_ru(const char *s)
{
	return !strcmp(s, "draft")	  ? "черновик"
	       : !strcmp(s, "review")	  ? "на проверке"
	       : !strcmp(s, "published")  ? "опубликована"
	       : !strcmp(s, "superseded") ? "заменена"
					  : s;
}

static void unavailable(struct ctx *c)
{
	page_error(c, 503, "База данных недоступна. Попробуйте через минуту.");
}

/* GET /desk/articles[?slug=S]: the work in progress, and a slug to open or create. */
void desk_articles(struct ctx *c)
{
	struct arena *a = c->req->arena;
	struct buf *b = &c->resp->body;
	const char *open = http_param(c->req, "slug");
	if (open && slug_valid(open))
		return desk_redirect(c, arena_printf(a, "/desk/articles/%s", open));
	struct kb_revision *r;
	int n = kb_pending(c->db, a, PENDING_SHOWN, &r);
	if (n < 0)
		return unavailable(c);
	if (open)
		c->resp->status = 422;
	desk_begin(c, "Статьи");
	html_raw(b, "<h1>Статьи</h1>\n");
	desk_workspace_home(c);
	html_printf(b,
		    "<form class=\"filter\" action=\"/desk/articles\" method=\"get\">\n"
		    "<label for=\"f-slug\">Адрес статьи (slug): открыть или создать</label>\n"
		    "<input id=\"f-slug\" name=\"slug\" value=\"%s\" pattern=\"[a-z0-9-]{1,80}\" required>\n"
		    "<button type=\"submit\">Открыть</button>\n%s</form>\n",
		    open ? open : "",
		    open ? "<p class=\"error\" role=\"alert\">Адрес статьи: латинские буквы a–z, цифры и дефис, до 80 "
			   "знаков.</p>\n"
			 : "");
	html_raw(b, "<h2>Черновики и проверка</h2>\n");
	if (!n) {
		html_raw(b, "<p>Черновиков нет: все сохранённые правки опубликованы.</p>\n");
	} else {
		html_raw(b, "<table class=\"queue\">\n<thead><tr><th>Статья</th><th>Версия</th><th>Страна</th>"
			    "<th>Состояние</th><th>Автор</th><th>Сохранена</th><th>Комментарий</th></tr></thead>\n"
			    "<tbody>\n");
		for (int i = 0; i < n; i++)
			html_printf(
			    b,
			    "<tr><td><a href=\"/desk/articles/%s\">%s</a></td><td>%lld</td><td>%s</td><td>%s</td>"
			    "<td>%s</td><td>%s</td><td>%s</td></tr>\n",
			    r[i].slug, r[i].text.title, (long long)r[i].n, *r[i].country ? r[i].country : "все",
			    status_ru(r[i].status), *r[i].author ? r[i].author : "импорт", desk_when(a, r[i].created),
			    r[i].message);
		html_raw(b, "</tbody>\n</table>\n");
	}
	html_raw(b, "<p>Правки можно вносить и через API редакторов с личным токеном (spravka token add): "
		    "см. docs/api.md.</p>\n");
	desk_end(c);
}

/* GET /desk/articles/{slug}: the history, and the actions on the newest draft. */
void desk_article(struct ctx *c)
{
	struct arena *a = c->req->arena;
	struct buf *b = &c->resp->body;
	if (!slug_valid(c->arg))
		return page_error(c, 404, "Такой статьи нет.");
	struct kb_revision *r;
	int n = kb_revisions(c->db, a, c->arg, &r);
	if (n < 0)
		return unavailable(c);
	const char *done = http_param(c->req, "done");
	desk_begin(c, n ? r[0].text.title : c->arg);
	if (!n) {
		html_printf(b,
			    "<h1>Новая статья «%s»</h1>\n<p>У статьи с этим адресом ещё нет ни одной версии.</p>\n"
			    "<p><a class=\"button\" href=\"/desk/articles/%s/edit\">Написать статью</a></p>\n",
			    c->arg, c->arg);
		return desk_end(c);
	}
	html_printf(b,
		    "<h1>%s</h1>\n<p class=\"meta\">/a/%s · <a href=\"/a/%s\">на портале</a> · "
		    "<a href=\"/desk/articles/%s/edit\">править</a> · <a href=\"/desk/articles/%s/rename\">"
		    "переименовать</a> · <a href=\"/desk/articles/%s/archive\">снять с портала</a></p>\n",
		    r[0].text.title, c->arg, c->arg, c->arg, c->arg, c->arg);
	if (done && !strcmp(done, "saved"))
		html_raw(b, "<p class=\"notice\" role=\"status\">Черновик сохранён. На портале прежний текст, пока "
			    "черновик не опубликован.</p>\n");
	else if (done && !strcmp(done, "published"))
		html_raw(b, "<p class=\"notice\" role=\"status\">Опубликовано: портал и поиск показывают новый "
			    "текст.</p>\n");
	else if (done && !strcmp(done, "review"))
		html_raw(b, "<p class=\"notice\" role=\"status\">Черновик отправлен на проверку.</p>\n");
	else if (done)
		desk_workspace_notice(c, done);
	const struct kb_revision *pending = NULL;
	for (int i = 0; i < n && !pending; i++)
		if (!strcmp(r[i].status, "draft") || !strcmp(r[i].status, "review"))
			pending = &r[i];
	if (pending) {
		html_printf(b,
			    "<form class=\"actions\" action=\"/desk/articles/%s\" method=\"post\">\n"
			    "<input type=\"hidden\" name=\"csrf\" value=\"%s\">\n"
			    "<button type=\"submit\" name=\"do\" value=\"submit\">Отправить на проверку</button>\n"
			    "<button type=\"submit\" name=\"do\" value=\"publish\">Опубликовать</button>\n</form>\n",
			    c->arg, c->user->csrf);
		if (!strcmp(pending->status, "review"))
			desk_reject_form(c, pending, NULL, NULL);
	}
	desk_texts_block(c, r, n);
	html_raw(b, "<h2>Версии</h2>\n<table class=\"queue\">\n<thead><tr><th>№</th><th>Состояние</th><th>Страна</th>"
		    "<th>Заголовок</th><th>Автор</th><th>Сохранена</th><th>Комментарий</th><th>Изменения</th><th><span "
		    "class=\"visually-hidden\">Действие</span></th>"
		    "</tr></thead>\n<tbody>\n");
	for (int i = 0; i < n; i++) {
		/* The previous revision of the same text, to compare with. */
		int64_t prev = 0;
		for (int j = i + 1; j < n && !prev; j++)
			if (!strcmp(r[j].country, r[i].country))
				prev = r[j].n;
		html_printf(b, "<tr><td>%lld</td><td>%s%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s",
			    (long long)r[i].n, r[i].removed ? "удаление варианта: " : "", status_ru(r[i].status),
			    *r[i].country ? r[i].country : "все", r[i].text.title,
			    *r[i].author ? r[i].author : "импорт", desk_when(a, r[i].created), r[i].message);
		if (*r[i].comment)
			html_printf(b, "<p class=\"returned\">Возвращена на доработку (%s): %s</p>", r[i].reviewer,
				    r[i].comment);
		html_raw(b, "</td><td>");
		if (prev)
			html_printf(b, "<a href=\"/desk/articles/%s/diff?from=%lld&amp;to=%lld\">с версией %lld</a>",
				    c->arg, (long long)prev, (long long)r[i].n, (long long)prev);
		html_printf(
		    b,
		    "</td><td><form action=\"/desk/articles/%s\" method=\"post\"><input type=\"hidden\" "
		    "name=\"csrf\" value=\"%s\"><input type=\"hidden\" name=\"revision\" value=\"%lld\"><button "
		    "type=\"submit\" name=\"do\" value=\"restore\">Восстановить как черновик</button></form>"
		    "</td></tr>\n",
		    c->arg, c->user->csrf, (long long)r[i].n);
	}
	html_raw(b, "</tbody>\n</table>\n");
	desk_compare_form(c, n > 1 ? r[1].n : r[0].n, r[0].n);
	desk_end(c);
}

/* do=restore: revision=N saved again as the newest draft (its text, for its country). */
static void restore(struct ctx *c)
{
	struct arena *a = c->req->arena;
	const char *n_s = http_field(c->req, "revision", NULL);
	int64_t n = n_s ? strtoll(n_s, NULL, 10) : 0;
	struct kb_revision old;
	int found = n > 0 ? kb_revision_get(c->db, a, c->arg, n, &old) : 0;
	if (found < 0)
		return unavailable(c);
	if (!found)
		return page_error(c, 404, "Такой версии у статьи нет.");
	char err[512];
	int64_t newest = 0;
	if (kb_draft_save(c->db, &old.text, c->user->id, arena_printf(a, "восстановлена версия %lld", (long long)n), 0,
			  &newest, err, sizeof err) < 0)
		return unavailable(c);
	desk_redirect(c, arena_printf(a, "/desk/articles/%s?done=saved", c->arg));
}

/* POST /desk/articles/{slug}: do=submit or do=publish on the newest draft, do=restore. */
void desk_article_action(struct ctx *c)
{
	struct arena *a = c->req->arena;
	if (!slug_valid(c->arg))
		return page_error(c, 404, "Такой статьи нет.");
	const char *what = http_field(c->req, "do", NULL);
	if (what && !strcmp(what, "restore"))
		return restore(c);
	if (what && !strcmp(what, "reject"))
		return desk_article_reject(c);
	if (what && !strcmp(what, "remove_variant"))
		return desk_variant_remove(c);
	int64_t rev = 0;
	char err[512] = "";
	enum kb_publish_result r;
	if (what && !strcmp(what, "submit"))
		r = kb_submit(c->db, c->arg, c->user->id, &rev);
	else if (what && !strcmp(what, "publish"))
		r = kb_publish(c->db, c->arg, c->user->id, (c->user->roles & AUTH_ADMIN) != 0,
			       c->app->cfg.require_review != 0, &rev, err, sizeof err);
	else
		return page_error(c, 422, "Неизвестное действие.");
	switch (r) {
	case KB_PUBLISHED:
		return desk_redirect(c, arena_printf(a, "/desk/articles/%s?done=published", c->arg));
	case KB_SUBMITTED:
		return desk_redirect(c, arena_printf(a, "/desk/articles/%s?done=review", c->arg));
	case KB_NO_DRAFT:
		return page_error(c, 409, "У статьи нет черновика для этого действия.");
	case KB_REVIEW_REQUIRED:
		return page_error(c, 409,
				  "Нужна проверка: отправьте черновик на проверку; опубликовать его может другой "
				  "редактор или администратор.");
	case KB_REFUSED:
		return page_error(c, 422,
				  arena_printf(a,
					       "Черновик нельзя опубликовать: %s. Исправьте его и сохраните "
					       "снова.",
					       err));
	case KB_RETURNED:
	case KB_OWN_REVISION:
	case KB_FAILED:
		break;
	}
	unavailable(c);
}

/* What the form holds. */
struct form {
	struct kb_text t;
	const char *message;
	int64_t base;
	bool new_variant; /* the form adds t.country's variant */
	const char *fields[KB_DRAFT_FIELD_ERRORS + 1], *errors[KB_DRAFT_FIELD_ERRORS + 1];
	int n_errors;
};

static const char *error_of(const struct form *f, const char *field)
{
	for (int i = 0; i < f->n_errors; i++)
		if (!strcmp(f->fields[i], field))
			return f->errors[i];
	return NULL;
}

/* One labelled input (or textarea when rows > 0), with its error under it. */
static void field(struct buf *b, const struct form *f, const char *name, const char *label, const char *value, int rows)
{
	const char *e = error_of(f, name);
	html_printf(b, "<div class=\"field%s\"><label for=\"f-%s\">%s</label>\n", e ? " invalid" : "", name, label);
	if (rows)
		html_printf(b, "<textarea id=\"f-%s\" name=\"%s\" rows=\"%d\"", name, name, rows);
	else
		html_printf(b, "<input id=\"f-%s\" name=\"%s\" value=\"%s\"", name, name, value ? value : "");
	/* Not through %s: html_printf would escape the attribute's quotes (aria-invalid="&quot;true&quot;"). */
	if (e)
		html_printf(b, " aria-invalid=\"true\" aria-describedby=\"f-%s-error\"", name);
	if (rows)
		html_printf(b, ">%s</textarea>\n", value ? value : "");
	else
		html_raw(b, ">\n");
	if (e)
		html_printf(b, "<p class=\"error\" id=\"f-%s-error\">%s</p>\n", name, e);
	html_raw(b, "</div>\n");
}

static void edit_form(struct ctx *c, const struct form *f, const char *preview_html)
{
	struct arena *a = c->req->arena;
	struct buf *b = &c->resp->body;
	struct kb_section *secs;
	int ns = kb_sections(c->db, a, &secs);
	if (ns < 0)
		ns = 0;
	if (f->n_errors) {
		html_raw(b, "<div class=\"error-summary\" role=\"alert\"><p>Проверьте поля: в некоторых есть "
			    "ошибки. Написанное сохранено в форме.</p><ul>\n");
		for (int i = 0; i < f->n_errors; i++)
			html_printf(b, "<li><a href=\"#f-%s\">%s</a></li>\n", f->fields[i], f->errors[i]);
		html_raw(b, "</ul></div>\n");
	}
	/* The preview: the button's (preview_html), or an empty place the live preview fills. */
	html_printf(b,
		    "<section class=\"preview\" id=\"preview\" aria-label=\"Предпросмотр\" aria-live=\"polite\"%s>\n",
		    preview_html ? "" : " hidden");
	if (preview_html)
		desk_preview_fragment(c, &f->t, preview_html);
	html_raw(b, "</section>\n");
	html_printf(b,
		    "<form class=\"request editor\" action=\"/desk/articles/%s/edit\" method=\"post\" "
		    "data-preview=\"/desk/articles/%s/preview\">\n"
		    "<input type=\"hidden\" name=\"csrf\" value=\"%s\">\n"
		    "<input type=\"hidden\" name=\"base_revision\" value=\"%lld\">\n",
		    f->t.slug, f->t.slug, c->user->csrf, (long long)f->base);
	if (f->new_variant)
		html_raw(b, "<input type=\"hidden\" name=\"new_variant\" value=\"1\">\n");
	field(b, f, "title", "Заголовок", f->t.title, 0);
	const char *se = error_of(f, "section");
	html_printf(b,
		    "<div class=\"field%s\"><label for=\"f-section\">Раздел</label>\n<select id=\"f-section\" "
		    "name=\"section\">\n",
		    se ? " invalid" : "");
	for (int i = 0; i < ns; i++)
		html_printf(b, "<option value=\"%s\"%s>%s</option>\n", secs[i].slug,
			    f->t.section && !strcmp(f->t.section, secs[i].slug) ? " selected" : "", secs[i].title);
	html_raw(b, "</select>\n");
	if (se)
		html_printf(b, "<p class=\"error\">%s</p>\n", se);
	html_raw(b, "</div>\n");
	html_printf(b, "<div class=\"field\"><label for=\"f-country\">Для страны</label>\n<select id=\"f-country\" "
		       "name=\"country\">\n<option value=\"\">Общий текст (все страны)</option>\n");
	for (size_t i = 0; i < c->app->cfg.n_countries; i++) {
		const struct country *k = &c->app->cfg.countries[i];
		html_printf(b, "<option value=\"%s\"%s>%s</option>\n", k->code,
			    f->t.country && !strcmp(f->t.country, k->code) ? " selected" : "", k->name);
	}
	html_raw(b, "</select>\n");
	if (error_of(f, "country"))
		html_printf(b, "<p class=\"error\" id=\"f-country-error\">%s</p>\n", error_of(f, "country"));
	html_raw(b, "</div>\n");
	field(b, f, "summary", "Кратко (под заголовком и в поиске)", f->t.summary, 2);
	field(b, f, "keywords", "Ключевые слова через запятую (как ищут люди)", f->t.keywords, 0);
	field(b, f, "related", "Связанные статьи (адреса через запятую)", f->t.related, 0);
	if (!f->t.country || !*f->t.country || (f->t.countries && *f->t.countries))
		field(b, f, "countries", "Для каких стран общий текст (коды через запятую; пусто — для всех)",
		      f->t.countries, 0);
	field(b, f, "prepare", "Что подготовить (по пункту в строке; показывается перед шагами)", f->t.prepare, 4);
	html_raw(b, "<div class=\"field-row\">\n");
	field(b, f, "review_by", "Пересмотреть до (ГГГГ-ММ-ДД)", f->t.review_by, 0);
	field(b, f, "owner", "Ответственный (логин редактора)", f->t.owner, 0);
	html_raw(b, "</div>\n");
	field(b, f, "body", "Текст (Markdown)", f->t.body, 24);
	field(b, f, "message", "Что изменено (для истории)", f->message, 0);
	html_raw(b, "<p><button type=\"submit\" name=\"do\" value=\"preview\">Предпросмотр</button>\n"
		    "<button type=\"submit\" name=\"do\" value=\"save\">Сохранить черновик</button></p>\n</form>\n");
	desk_editor_script(c);
	desk_media_box(c, f->t.slug); /* images: a form of its own (media.c) */
}

/* The newest revision of slug for country (its text to edit) and the article's newest number. */
static int newest_text(struct ctx *c, const char *country, struct form *f)
{
	struct arena *a = c->req->arena;
	struct kb_revision *r;
	int n = kb_revisions(c->db, a, c->arg, &r);
	if (n < 0)
		return -1;
	f->base = n ? r[0].n : 0;
	for (int i = 0; i < n; i++) {
		if (strcmp(r[i].country, country) != 0)
			continue;
		struct kb_revision full;
		int found = kb_revision_get(c->db, a, c->arg, r[i].n, &full);
		if (found > 0)
			f->t = full.text;
		return found < 0 ? -1 : 1;
	}
	return 0;
}

/* GET /desk/articles/{slug}/edit[?country=XX] */
void desk_article_edit(struct ctx *c)
{
	if (!slug_valid(c->arg))
		return page_error(c, 404, "Адрес статьи: латинские буквы a–z, цифры и дефис, до 80 знаков.");
	const char *country = http_param(c->req, "country");
	if (!country || !config_country(&c->app->cfg, country))
		country = "";
	const char *add = http_param(c->req, "new");
	struct form f = {.t = {.slug = c->arg, .country = country}, .new_variant = add && *country};
	/* A new variant starts from the general text (without its list of countries). */
	if (newest_text(c, f.new_variant ? "" : country, &f) < 0)
		return unavailable(c);
	f.t.slug = c->arg;
	if (f.new_variant) {
		f.t.country = country;
		f.t.countries = "";
	}
	desk_begin(c, "Правка статьи");
	if (f.new_variant)
		html_printf(&c->resp->body,
			    "<h1>Новый вариант статьи «%s» для страны %s</h1>\n<p>Форма заполнена общим текстом: "
			    "измените то, что отличается в этой стране. <a href=\"/desk/articles/%s\">История "
			    "версий</a></p>\n",
			    f.t.title ? f.t.title : c->arg, country, c->arg);
	else
		html_printf(&c->resp->body,
			    "<h1>Правка статьи «%s»%s%s</h1>\n<p><a href=\"/desk/articles/%s\">История "
			    "версий</a></p>\n",
			    f.t.title ? f.t.title : c->arg, *country ? ": вариант для страны " : "", country, c->arg);
	edit_form(c, &f, NULL);
	desk_end(c);
}

/* POST /desk/articles/{slug}/edit: do=preview shows the text as the portal would; do=save keeps
 * it as a draft revision. */
void desk_article_save(struct ctx *c)
{
	struct arena *a = c->req->arena;
	struct buf *b = &c->resp->body;
	if (!slug_valid(c->arg))
		return page_error(c, 404, "Адрес статьи: латинские буквы a–z, цифры и дефис, до 80 знаков.");
	struct form f = {.t = {.slug = c->arg}};
	const char **v[] = {&f.t.title,	    &f.t.section, &f.t.country, &f.t.summary, &f.t.keywords,  &f.t.related,
			    &f.t.countries, &f.t.body,	  &f.message,	&f.t.prepare, &f.t.review_by, &f.t.owner};
	static const char *const names[] = {"title",	 "section", "country", "summary", "keywords",  "related",
					    "countries", "body",    "message", "prepare", "review_by", "owner"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		const char *s = http_field(c->req, names[i], NULL);
		*v[i] = s ? s : "";
	}
	const char *base = http_field(c->req, "base_revision", NULL);
	f.base = base ? strtoll(base, NULL, 10) : 0;
	const char *nv = http_field(c->req, "new_variant", NULL);
	f.new_variant = nv && !strcmp(nv, "1") && *f.t.country;
	f.t.review_by = str_trim(arena_strdup(a, f.t.review_by));
	f.t.owner = str_trim(arena_strdup(a, f.t.owner));
	struct kb_check chk = desk_kb_check(c, f.new_variant);
	int n = kb_draft_check(c->db, a, &f.t, &chk, f.fields + f.n_errors, f.errors + f.n_errors,
			       KB_DRAFT_FIELD_ERRORS - f.n_errors);
	if (n < 0)
		return unavailable(c);
	f.n_errors += n;
	if (utf8_length(f.message) > 500) {
		f.fields[f.n_errors] = "message";
		f.errors[f.n_errors++] = "Не больше 500 знаков.";
	}
	if (!f.n_errors)
		f.t.prepare = kb_prepare_canon(a, f.t.prepare);
	const char *what = http_field(c->req, "do", NULL);
	bool preview = what && !strcmp(what, "preview");
	if (f.n_errors || preview) {
		c->resp->status = f.n_errors ? 422 : 200;
		char *html =
		    !f.n_errors ? md_to_html_images(f.t.body, strlen(f.t.body), media_size_lookup, c->db) : NULL;
		desk_begin(c, "Правка статьи");
		html_printf(b, "<h1>Правка статьи «%s»</h1>\n", c->arg);
		edit_form(c, &f, html);
		free(html);
		return desk_end(c);
	}
	char err[512];
	int64_t newest = 0;
	int64_t rev = kb_draft_save(c->db, &f.t, c->user->id, f.message, f.base, &newest, err, sizeof err);
	if (rev == KB_CONFLICT) {
		/* Someone saved since this editor began: both texts side by side, the form again on
		 * top of the newest revision, nothing lost. */
		struct kb_revision theirs;
		int found = kb_revision_get(c->db, a, c->arg, newest, &theirs);
		c->resp->status = 409;
		desk_begin(c, "Конфликт правок");
		html_printf(b,
			    "<h1>Статью изменили, пока вы её правили</h1>\n<div class=\"error-summary\" "
			    "role=\"alert\"><p>Версию %lld сохранил(а) %s. Сравните тексты, перенесите нужное в "
			    "форму ниже и сохраните снова: ваша правка не потеряна.</p></div>\n"
			    "<div class=\"compare\">\n<section><h2>Версия %lld</h2>\n<h3>%s</h3>\n<pre>%s</pre>\n"
			    "</section>\n<section><h2>Ваша правка</h2>\n<h3>%s</h3>\n<pre>%s</pre>\n</section>\n"
			    "</div>\n",
			    (long long)newest, found > 0 && *theirs.author ? theirs.author : "импорт",
			    (long long)newest, found > 0 ? theirs.text.title : "", found > 0 ? theirs.text.body : "",
			    f.t.title, f.t.body);
		f.base = newest;
		edit_form(c, &f, NULL);
		return desk_end(c);
	}
	if (rev < 0)
		return unavailable(c);
	desk_redirect(c, arena_printf(a, "/desk/articles/%s?done=saved", c->arg));
}
