/*
 * The editors' API (issue #10): drafts, publishing and the history of articles, for automation
 * and migrations, with a personal API token (auth.h; the route table checks it and the role).
 *   PUT  /api/v1/articles/{slug}            {title, section, summary, keywords, body, country?,
 *                                            related?, message?, prepare?, review_by?, owner?}
 *                                            -> {"revision": N, "status": "draft"}
 *   POST /api/v1/articles/{slug}/submit     the newest draft goes to review
 *   POST /api/v1/articles/{slug}/reject     {comment}: the revision in review goes back to its
 *                                            author as a draft -> {"revision": N, "status": "draft"}
 *   POST /api/v1/articles/{slug}/publish    the newest draft (or revision in review) goes live;
 *                                            409 review_required when [editors] require_review
 *                                            asks for another editor's approval
 *   GET  /api/v1/articles/{slug}/revisions  newest first
 *   POST /api/v1/articles/{slug}/archive    {replacement?, message?}: off the portal (410, or 301 to
 *                                            the replacement), history kept -> {"status": "archived"}
 *   POST /api/v1/articles/{slug}/rename     {slug}: texts and revisions move, the old address
 *                                            answers 301 -> {"status": "renamed", "slug": new}
 *   GET  /api/v1/articles/{slug}/audit      the content audit of the article, newest first
 * The texts are checked as the content directory's are (docs/content.md); Markdown stays in safe
 * mode wherever it is rendered.
 */
#include "api.h"

#include "../auth/auth.h"
#include "../core/arena.h"
#include "../core/buf.h"
#include "../core/config.h"
#include "../core/text.h"
#include "../ctx/ctx.h"
#include "../kb/kb.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define MAX_KEYWORDS 1000 /* bytes of a list joined from an array (kb_draft_check counts characters) */
#define MAX_MESSAGE 500

struct fields {
	json_t *errors; /* field -> message */
};

static void field_error(struct fields *f, const char *name, const char *message)
{
	if (!json_object_get(f->errors, name))
		json_object_set_new(f->errors, name, json_string(message));
}

/* A string member of o ("" when absent or null; an error when of another type or holding NUL),
 * copied into a. What it may hold is kb_draft_check's (and the message's length, below). */
static const char *text_of(struct fields *f, struct arena *a, json_t *o, const char *name)
{
	json_t *v = json_object_get(o, name);
	if (!v || json_is_null(v))
		return "";
	if (!json_is_string(v)) {
		field_error(f, name, "Ожидается строка.");
		return "";
	}
	const char *s = json_string_value(v);
	if (strlen(s) != json_string_length(v)) {
		field_error(f, name, "Текст содержит управляющие символы: уберите их.");
		return "";
	}
	return arena_strdup(a, s);
}

/* The revision's message (for the history): at most MAX_MESSAGE characters. */
static const char *message_of(struct fields *f, struct arena *a, json_t *o)
{
	const char *m = text_of(f, a, o, "message");
	if (utf8_length(m) > MAX_MESSAGE)
		field_error(f, "message", "Не больше 500 знаков.");
	return m;
}

/* A list member (a comma-separated string or an array of strings) as "a, b, c". */
static const char *list_of(struct fields *f, struct arena *a, json_t *o, const char *name)
{
	json_t *v = json_object_get(o, name);
	if (!v || json_is_null(v) || json_is_string(v))
		return text_of(f, a, o, name);
	if (!json_is_array(v)) {
		field_error(f, name, "Ожидается строка через запятую или массив строк.");
		return "";
	}
	struct buf b;
	buf_init(&b, MAX_KEYWORDS * 4);
	size_t i;
	json_t *item;
	json_array_foreach(v, i, item)
	{
		if (!json_is_string(item)) {
			field_error(f, name, "Ожидается массив строк.");
			break;
		}
		if (b.len)
			buf_adds(&b, ", ");
		buf_adds(&b, json_string_value(item));
	}
	if (buf_failed(&b))
		field_error(f, name, "Слишком длинный список.");
	const char *s = arena_strdup(a, buf_failed(&b) || !b.data ? "" : b.data);
	buf_free(&b);
	return s;
}

/* "What to prepare": an array of strings or a string of lines, in its canonical form (kb.h). */
static const char *prepare_of(struct fields *f, struct arena *a, json_t *o)
{
	json_t *v = json_object_get(o, "prepare");
	if (!json_is_array(v))
		return kb_prepare_canon(a, text_of(f, a, o, "prepare"));
	if (json_array_size(v) > KB_PREPARE_ITEMS) {
		field_error(f, "prepare", "Не больше 20 пунктов.");
		return "";
	}
	struct buf b;
	buf_init(&b, KB_PREPARE_ITEMS * (KB_PREPARE_ITEM_CHARS * 4 + 1) + 1);
	size_t i;
	json_t *item;
	json_array_foreach(v, i, item)
	{
		const char *s = json_string_value(item);
		if (!s || strlen(s) != json_string_length(item) || strchr(s, '\n')) {
			field_error(f, "prepare", "Ожидается массив строк, каждая — один пункт.");
			break;
		}
		if (b.len)
			buf_addc(&b, '\n');
		buf_adds(&b, s);
	}
	if (buf_failed(&b))
		field_error(f, "prepare", "Слишком длинный список.");
	const char *r = kb_prepare_canon(a, buf_failed(&b) || !b.data ? "" : b.data);
	buf_free(&b);
	return r;
}

/* The configured country codes, for kb_draft_check. */
static struct kb_check check_of(struct ctx *c)
{
	const struct config *cfg = &c->app->cfg;
	const char **codes = arena_alloc(c->req->arena, (cfg->n_countries + 1) * sizeof *codes);
	for (size_t i = 0; i < cfg->n_countries; i++)
		codes[i] = cfg->countries[i].code;
	return (struct kb_check){.countries = codes, .n_countries = cfg->n_countries};
}

/* 409: someone saved revision newest since the editor's base; both texts, to compare. */
static void conflict(struct ctx *c, const struct kb_text *yours, int64_t newest)
{
	struct kb_revision theirs;
	int found = kb_revision_get(c->db, c->req->arena, yours->slug, newest, &theirs);
	json_t *t = found > 0 ? json_pack("{s:I,s:s,s:s,s:s,s:s,s:s}", "revision", (json_int_t)newest, "author",
					  theirs.author, "status", theirs.status, "title", theirs.text.title, "summary",
					  theirs.text.summary, "body", theirs.text.body)
			      : json_pack("{s:I}", "revision", (json_int_t)newest);
	api_send_json(c, 409,
		      json_pack("{s:{s:s,s:s,s:I,s:o,s:{s:s,s:s,s:s}}}", "error", "code", "conflict", "message",
				"Пока вы правили статью, её сохранил кто-то ещё. Сравните обе версии и сохраните "
				"свою ещё раз, указав base_revision новой версии.",
				"newest", (json_int_t)newest, "theirs", t, "yours", "title", yours->title, "summary",
				yours->summary, "body", yours->body));
}

void api_article_put(struct ctx *c)
{
	struct http_request *req = c->req;
	struct arena *a = req->arena;
	if (!slug_valid(c->arg))
		return api_error(c, 400, "bad_slug",
				 "Адрес статьи (slug): латинские буквы a–z, цифры и дефис, до 80 знаков.");
	json_error_t jerr;
	json_t *o = req->body ? json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
	if (!json_is_object(o)) {
		json_decref(o);
		return api_error(c, 400, "bad_json", "Тело запроса — объект JSON с полями статьи.");
	}
	struct fields f = {.errors = json_object()};
	struct kb_text t = {.slug = c->arg};
	t.title = text_of(&f, a, o, "title");
	t.section = text_of(&f, a, o, "section");
	t.summary = text_of(&f, a, o, "summary");
	t.body = text_of(&f, a, o, "body");
	t.country = text_of(&f, a, o, "country");
	t.keywords = list_of(&f, a, o, "keywords");
	t.related = list_of(&f, a, o, "related");
	t.countries = list_of(&f, a, o, "countries");
	t.prepare = prepare_of(&f, a, o);
	t.review_by = text_of(&f, a, o, "review_by");
	t.owner = text_of(&f, a, o, "owner");
	const char *message = message_of(&f, a, o);
	json_t *bv = json_object_get(o, "base_revision");
	json_int_t base = json_is_integer(bv) ? json_integer_value(bv) : 0;
	if (bv && !json_is_null(bv) && (!json_is_integer(bv) || base < 1))
		field_error(&f, "base_revision", "Номер версии, с которой начата правка: целое число от 1.");
	json_decref(o);
	const char *names[KB_DRAFT_FIELD_ERRORS], *why[KB_DRAFT_FIELD_ERRORS];
	struct kb_check chk = check_of(c);
	int n_errors = kb_draft_check(c->db, a, &t, &chk, names, why, KB_DRAFT_FIELD_ERRORS);
	if (n_errors < 0) {
		json_decref(f.errors);
		return api_error(c, 503, "unavailable", "Справочный центр временно недоступен, попробуйте позже.");
	}
	for (int i = 0; i < n_errors; i++)
		field_error(&f, names[i], why[i]);
	if (json_object_size(f.errors)) {
		api_send_json(c, 422,
			      json_pack("{s:{s:s,s:s,s:o}}", "error", "code", "invalid", "message",
					"Проверьте поля статьи: в некоторых есть ошибки.", "fields", f.errors));
		return;
	}
	json_decref(f.errors);
	char err[512];
	int64_t newest = 0;
	int64_t n = kb_draft_save(c->db, &t, c->user->id, message, (int64_t)base, &newest, err, sizeof err);
	if (n == KB_CONFLICT)
		return conflict(c, &t, newest);
	if (n < 0) {
		fprintf(stderr, "spravka: a draft of %s was not saved: %s\n", t.slug, err);
		return api_error(c, 503, "unavailable", "Не удалось сохранить черновик. Попробуйте ещё раз.");
	}
	api_send_json(c, 200, json_pack("{s:I,s:s}", "revision", (json_int_t)n, "status", "draft"));
}

static void publish_answer(struct ctx *c, enum kb_publish_result r, int64_t rev, const char *err)
{
	switch (r) {
	case KB_PUBLISHED:
		return api_send_json(c, 200,
				     json_pack("{s:I,s:s}", "revision", (json_int_t)rev, "status", "published"));
	case KB_SUBMITTED:
		return api_send_json(c, 200, json_pack("{s:I,s:s}", "revision", (json_int_t)rev, "status", "review"));
	case KB_RETURNED:
		return api_send_json(c, 200, json_pack("{s:I,s:s}", "revision", (json_int_t)rev, "status", "draft"));
	case KB_OWN_REVISION:
		return api_error(c, 409, "own_revision",
				 "Свою правку нельзя вернуть с замечанием: сохраните новый черновик.");
	case KB_NO_DRAFT:
		return api_error(c, 404, "no_draft", "У статьи нет черновика для этого действия.");
	case KB_REVIEW_REQUIRED:
		return api_error(c, 409, "review_required",
				 "Нужна проверка: отправьте черновик на проверку (submit), опубликовать его "
				 "может другой редактор или администратор.");
	case KB_REFUSED:
		return api_send_json(c, 422,
				     json_pack("{s:{s:s,s:s,s:s}}", "error", "code", "cannot_publish", "message",
					       "Черновик нельзя опубликовать: исправьте его и сохраните снова.",
					       "detail", err));
	case KB_FAILED:
		break;
	}
	api_error(c, 503, "unavailable", "Справочный центр временно недоступен, попробуйте позже.");
}

void api_article_publish(struct ctx *c)
{
	if (!slug_valid(c->arg))
		return api_error(c, 404, "not_found", "Такой статьи нет.");
	int64_t rev;
	char err[512] = "";
	enum kb_publish_result r = kb_publish(c->db, c->arg, c->user->id, (c->user->roles & AUTH_ADMIN) != 0,
					      c->app->cfg.require_review != 0, &rev, err, sizeof err);
	publish_answer(c, r, rev, err);
}

void api_article_submit(struct ctx *c)
{
	if (!slug_valid(c->arg))
		return api_error(c, 404, "not_found", "Такой статьи нет.");
	int64_t rev = 0;
	enum kb_publish_result r = kb_submit(c->db, c->arg, c->user->id, &rev);
	publish_answer(c, r, rev, "");
}

void api_article_revisions(struct ctx *c)
{
	struct arena *a = c->req->arena;
	struct kb_revision *r;
	int n = slug_valid(c->arg) ? kb_revisions(c->db, a, c->arg, &r) : 0;
	if (n < 0)
		return api_error(c, 503, "unavailable", "Справочный центр временно недоступен, попробуйте позже.");
	if (n == 0)
		return api_error(c, 404, "not_found", "У этой статьи нет ни одной версии.");
	json_t *out = json_array();
	for (int i = 0; i < n; i++) {
		char when[32];
		time_t t = (time_t)r[i].created;
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
		json_t *one = json_pack("{s:I,s:s,s:s?,s:s,s:s,s:s,s:s}", "revision", (json_int_t)r[i].n, "status",
					r[i].status, "country", *r[i].country ? r[i].country : NULL, "author",
					r[i].author, "time", when, "message", r[i].message, "title", r[i].text.title);
		if (r[i].removed)
			json_object_set_new(one, "removed", json_true());
		if (*r[i].comment) {
			json_object_set_new(one, "comment", json_string(r[i].comment));
			json_object_set_new(one, "reviewer", json_string(r[i].reviewer));
		}
		json_array_append_new(out, one);
	}
	c->resp->cache_control = "no-store";
	api_send_json(c, 200, out);
}

/* The JSON object of the body of an archive or rename of c->arg, or NULL (answered 404 or 400).
 * An empty body is {}. */
static json_t *move_request(struct ctx *c)
{
	if (!slug_valid(c->arg)) {
		api_error(c, 404, "not_found", "Такой статьи нет.");
		return NULL;
	}
	if (!c->req->body || !c->req->body_len)
		return json_object();
	json_error_t jerr;
	json_t *o = json_loadb(c->req->body, c->req->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (json_is_object(o))
		return o;
	json_decref(o);
	api_error(c, 400, "bad_json", "Тело запроса — объект JSON.");
	return NULL;
}

/* A slug member of o ("" when absent and not required), checked. */
static const char *slug_of(struct fields *f, struct arena *a, json_t *o, const char *name, bool required)
{
	const char *s = text_of(f, a, o, name);
	if (required && !*s)
		field_error(f, name, "Заполните это поле.");
	else if (*s && !slug_valid(s))
		field_error(f, name, "Адрес статьи (slug): латинские буквы a–z, цифры и дефис, до 80 знаков.");
	return s;
}

/* True when f has errors (answered 422); frees them. */
static bool refused(struct ctx *c, struct fields *f)
{
	if (!json_object_size(f->errors)) {
		json_decref(f->errors);
		return false;
	}
	api_send_json(c, 422,
		      json_pack("{s:{s:s,s:s,s:o}}", "error", "code", "invalid", "message", "Проверьте поля запроса.",
				"fields", f->errors));
	return true;
}

static void move_answer(struct ctx *c, enum kb_move_result r, json_t *ok, const char *err)
{
	switch (r) {
	case KB_MOVED:
		return api_send_json(c, 200, ok);
	case KB_NOT_FOUND:
		json_decref(ok);
		return api_error(c, 404, "not_found", "Такой статьи нет.");
	case KB_TAKEN:
		json_decref(ok);
		return api_error(c, 409, "slug_taken",
				 "Этот адрес уже занят другой статьёй (или её историей): выберите другой.");
	case KB_BAD_TARGET:
		json_decref(ok);
		return api_error(c, 422, "bad_replacement", "Замена должна быть другой опубликованной статьёй.");
	case KB_MOVE_FAILED:
		break;
	}
	json_decref(ok);
	fprintf(stderr, "spravka: %s was not moved: %s\n", c->arg, err);
	api_error(c, 503, "unavailable", "Справочный центр временно недоступен, попробуйте позже.");
}

void api_article_archive(struct ctx *c)
{
	struct arena *a = c->req->arena;
	json_t *o = move_request(c);
	if (!o)
		return;
	struct fields f = {.errors = json_object()};
	const char *replacement = slug_of(&f, a, o, "replacement", false);
	const char *message = message_of(&f, a, o);
	json_decref(o);
	if (refused(c, &f))
		return;
	char err[512] = "";
	enum kb_move_result r = kb_archive(c->db, c->arg, replacement, c->user->id, message, err, sizeof err);
	json_t *ok = json_pack("{s:s}", "status", "archived");
	if (*replacement)
		json_object_set_new(ok, "replacement", json_string(replacement));
	move_answer(c, r, ok, err);
}

void api_article_rename(struct ctx *c)
{
	struct arena *a = c->req->arena;
	json_t *o = move_request(c);
	if (!o)
		return;
	struct fields f = {.errors = json_object()};
	const char *to = slug_of(&f, a, o, "slug", true);
	json_decref(o);
	if (refused(c, &f))
		return;
	char err[512] = "";
	enum kb_move_result r = kb_rename(c->db, c->arg, to, c->user->id, err, sizeof err);
	move_answer(c, r, json_pack("{s:s,s:s}", "status", "renamed", "slug", to), err);
}

void api_article_reject(struct ctx *c)
{
	struct arena *a = c->req->arena;
	json_t *o = move_request(c);
	if (!o)
		return;
	struct fields f = {.errors = json_object()};
	const char *comment = text_of(&f, a, o, "comment");
	json_decref(o);
	char *trimmed = str_trim(arena_strdup(a, comment));
	if (!*trimmed)
		field_error(&f, "comment", "Напишите, что исправить: автор увидит это замечание.");
	else if (utf8_length(trimmed) > KB_COMMENT_MAX)
		field_error(&f, "comment", "Не больше 1000 знаков.");
	for (const unsigned char *p = (const unsigned char *)trimmed; *p; p++)
		if (*p < 0x20 && *p != '\n' && *p != '\r' && *p != '\t') {
			field_error(&f, "comment", "Текст содержит управляющие символы: уберите их.");
			break;
		}
	if (refused(c, &f))
		return;
	int64_t rev = 0;
	enum kb_publish_result r = kb_reject(c->db, c->arg, c->user->id, trimmed, &rev);
	if (r == KB_NO_DRAFT)
		return api_error(c, 404, "no_review", "У статьи нет правки на проверке.");
	publish_answer(c, r, rev, "");
}

void api_article_audit(struct ctx *c)
{
	struct kb_audit_entry *e;
	int n = slug_valid(c->arg) ? kb_audit(c->db, c->req->arena, c->arg, &e) : 0;
	if (n < 0)
		return api_error(c, 503, "unavailable", "Справочный центр временно недоступен, попробуйте позже.");
	json_t *out = json_array();
	for (int i = 0; i < n; i++) {
		char when[32];
		time_t t = (time_t)e[i].at;
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
		json_array_append_new(out, json_pack("{s:s,s:s,s:s,s:s}", "time", when, "user", e[i].login, "action",
						     e[i].action, "detail", e[i].detail));
	}
	c->resp->cache_control = "no-store";
	api_send_json(c, 200, out);
}
