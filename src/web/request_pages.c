/*
 * The member's side of support requests: the form (/request), its outcomes (created, the form
 * again with every error next to its field and everything typed kept, a duplicate with the offer
 * to add to the open request), "this solved my question", and the private page /r/{token}.
 */
#include "web.h"

#include "../app/app.h"
#include "../core/arena.h"
#include "../core/buf.h"
#include "../core/text.h"
#include "../db/db.h"
#include "../req/req.h"
#include "layout.h"

#include <string.h>
#include <time.h>

static const char *date_time_ru(struct arena *a, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	char d[16];
	strftime(d, sizeof d, "%Y-%m-%d", &tm);
	return arena_printf(a, "%s, %02d:%02d UTC", date_ru(a, d), tm.tm_hour, tm.tm_min);
}

/* What the form shows: the values typed and the errors to fix. */
struct form {
	const char *v[9];
	const struct req_errors *errors;
	bool had_files;
	const char *problem; /* a message for the whole form */
};
enum { F_MEMBER, F_NAME, F_EMAIL, F_PHONE, F_COUNTRY, F_TOPIC, F_ORDER, F_SUBJECT, F_DESCRIPTION };
static const char *const names[] = {"member_id", "name",         "email",   "phone",      "country",
				    "topic",     "order_number", "subject", "description"};

static const char *error_of(const struct form *f, const char *field)
{
	for (int i = 0; f->errors && i < f->errors->n; i++)
		if (!strcmp(f->errors->field[i], field))
			return f->errors->message[i];
	return NULL;
}

/* The attributes that tie a control to its hint and error: aria-invalid, aria-describedby. */
static void control_attrs(struct ctx *c, int k, bool hint, const char *err)
{
	struct buf *b = &c->resp->body;
	struct arena *a = c->req->arena;
	const char *described = hint && err ? arena_printf(a, "f-%s-hint f-err-%s", names[k], names[k])
				: hint	    ? arena_printf(a, "f-%s-hint", names[k])
				: err	    ? arena_printf(a, "f-err-%s", names[k])
					    : NULL;
	if (err)
		html_raw(b, " aria-invalid=\"true\"");
	if (described)
		html_printf(b, " aria-describedby=\"%s\"", described);
}

/* The error paragraph under a control, when it has one. */
static void control_error(struct ctx *c, int k, const char *err)
{
	if (err)
		html_printf(&c->resp->body, "<p class=\"error\" id=\"f-err-%s\">%s</p>\n", names[k], err);
}

/* One labelled input with its hint and error. extra is trusted markup (attributes). */
static void input(struct ctx *c, const struct form *f, int k, const char *label, const char *type,
		  const char *hint, const char *extra)
{
	struct buf *b = &c->resp->body;
	const char *err = error_of(f, names[k]);
	html_printf(b, "<div class=\"field%s\">\n<label for=\"f-%s\">%s</label>\n", err ? " invalid" : "",
		    names[k], label);
	if (hint) {
		html_printf(b, "<p class=\"hint\" id=\"f-%s-hint\">", names[k]);
		html_raw(b, hint); /* trusted: literal markup of this file */
		html_raw(b, "</p>\n");
	}
	html_printf(b, "<input id=\"f-%s\" name=\"%s\" type=\"%s\" value=\"%s\"", names[k], names[k], type,
		    f->v[k] ? f->v[k] : "");
	control_attrs(c, k, hint != NULL, err);
	if (extra) {
		html_raw(b, " ");
		html_raw(b, extra);
	}
	html_raw(b, ">\n");
	control_error(c, k, err);
	html_raw(b, "</div>\n");
}

static void render_form(struct ctx *c, const struct form *f)
{
	struct arena *a = c->req->arena;
	struct buf *b = &c->resp->body;
	const struct config *cfg = &c->app->cfg;
	page_begin(c, "Обращение в поддержку", NULL);
	html_raw(b, "<nav class=\"crumbs\" aria-label=\"Навигация\"><a href=\"/\">Главная</a> › "
		    "<span aria-current=\"page\">Обращение в поддержку</span></nav>\n"
		    "<h1>Обращение в поддержку</h1>\n");
	if (f->errors && f->errors->n) {
		html_raw(b, "<div class=\"error-summary\" role=\"alert\">\n<p><strong>Проверьте, пожалуйста, "
			    "поля формы:</strong></p>\n<ul>\n");
		for (int i = 0; i < f->errors->n; i++)
			html_printf(b, "<li><a href=\"#f-%s\">%s</a></li>\n", f->errors->field[i],
				    f->errors->message[i]);
		html_raw(b, "</ul>\n");
		if (f->had_files)
			html_raw(b, "<p>Всё, что вы ввели, сохранено, но файлы нужно выбрать заново.</p>\n");
		html_raw(b, "</div>\n");
	} else if (f->problem) {
		html_printf(b, "<div class=\"error-summary\" role=\"alert\"><p>%s</p></div>\n", f->problem);
	} else {
		html_raw(b, "<p class=\"lead\">Прежде чем писать, поищите ответ в справке — по мере того как вы "
			    "заполняете тему и описание, ниже появятся подходящие инструкции.</p>\n");
	}
	html_raw(b, "<form class=\"request\" action=\"/request\" method=\"post\" enctype=\"multipart/form-data\" "
		    "novalidate>\n");
	html_printf(b, "<input type=\"hidden\" name=\"form_token\" value=\"%s\">\n", req_new_token(a));
	input(c, f, F_MEMBER, "Номер партнёра (ID)", "text",
	      "5–12 цифр. <a href=\"/a/member-id\">Где найти номер партнёра</a>",
	      "inputmode=\"numeric\" autocomplete=\"off\" required");
	input(c, f, F_NAME, "Имя и фамилия", "text", NULL, "autocomplete=\"name\" required");
	input(c, f, F_EMAIL, "Электронная почта", "email", "Укажите почту или телефон — хотя бы одно.",
	      "autocomplete=\"email\"");
	input(c, f, F_PHONE, "Телефон", "tel", NULL, "autocomplete=\"tel\"");
	/* Country and topic */
	const char *cerr = error_of(f, "country");
	const char *country = f->v[F_COUNTRY] ? f->v[F_COUNTRY] : c->country;
	html_printf(b, "<div class=\"field%s\">\n<label for=\"f-country\">Страна</label>\n"
		       "<select id=\"f-country\" name=\"country\"",
		    cerr ? " invalid" : "");
	control_attrs(c, F_COUNTRY, false, cerr);
	html_raw(b, ">\n");
	for (size_t i = 0; i < cfg->n_countries; i++)
		html_printf(b, "<option value=\"%s\"%s>%s</option>\n", cfg->countries[i].code,
			    strcmp(cfg->countries[i].code, country) ? "" : " selected", cfg->countries[i].name);
	html_raw(b, "</select>\n");
	control_error(c, F_COUNTRY, cerr);
	const char *terr = error_of(f, "topic");
	html_printf(b, "</div>\n<div class=\"field%s\">\n<label for=\"f-topic\">Тема</label>\n"
		       "<select id=\"f-topic\" name=\"topic\"",
		    terr ? " invalid" : "");
	control_attrs(c, F_TOPIC, false, terr);
	html_raw(b, ">\n<option value=\"\">Выберите тему</option>\n");
	for (int i = 0; i < c->app->req.n_topics; i++) {
		const struct req_topic *t = &c->app->req.topics[i];
		bool selected = f->v[F_TOPIC] && !strcmp(f->v[F_TOPIC], t->slug);
		html_printf(b, "<option value=\"%s\"", t->slug);
		if (t->order)
			html_raw(b, " data-order=\"1\"");
		if (selected)
			html_raw(b, " selected");
		html_printf(b, ">%s</option>\n", t->title);
	}
	html_raw(b, "</select>\n");
	control_error(c, F_TOPIC, terr);
	html_raw(b, "</div>\n<div class=\"order-field\">\n");
	input(c, f, F_ORDER, "Номер заказа", "text", "Для вопросов о заказе, возврате и браке.", NULL);
	html_raw(b, "</div>\n");
	input(c, f, F_SUBJECT, "Тема обращения", "text", NULL, "maxlength=\"200\" required");
	const char *derr = error_of(f, "description");
	html_printf(b, "<div class=\"field%s\">\n<label for=\"f-description\">Опишите вопрос</label>\n"
		       "<p class=\"hint\" id=\"f-description-hint\">Что случилось, что вы уже пробовали, "
		       "какие были сообщения об ошибках. Не меньше %d символов.</p>\n"
		       "<textarea id=\"f-description\" name=\"description\" rows=\"7\" maxlength=\"10000\"",
		    derr ? " invalid" : "", REQ_MIN_DESCRIPTION);
	control_attrs(c, F_DESCRIPTION, true, derr);
	html_printf(b, ">%s</textarea>\n", f->v[F_DESCRIPTION] ? f->v[F_DESCRIPTION] : "");
	control_error(c, F_DESCRIPTION, derr);
	html_raw(b, "</div>\n<div class=\"suggest-box\" id=\"request-suggest\" hidden aria-live=\"polite\"></div>\n");
	const char *aerr = error_of(f, "attachments");
	html_printf(b, "<div class=\"field%s\">\n<label for=\"f-attachments\">Файлы (необязательно)</label>\n"
		       "<p class=\"hint\">До %d файлов JPEG, PNG или PDF, каждый до 10 МБ, всего до 25 МБ.</p>\n"
		       "<input id=\"f-attachments\" name=\"attachments\" type=\"file\" multiple "
		       "accept=\"image/jpeg,image/png,application/pdf\">\n",
		    aerr ? " invalid" : "", REQ_MAX_FILES);
	if (aerr)
		html_printf(b, "<p class=\"error\" id=\"f-err-attachments\">%s</p>\n", aerr);
	html_raw(b, "</div>\n<div class=\"hp\" aria-hidden=\"true\"><label for=\"f-website\">Не заполняйте это "
		    "поле</label><input id=\"f-website\" name=\"website\" type=\"text\" tabindex=\"-1\" "
		    "autocomplete=\"off\"></div>\n<p><button type=\"submit\">Отправить обращение</button></p>\n"
		    "</form>\n");
	html_printf(b, "<p class=\"meta\">Или напишите нам: <a href=\"mailto:%s\">%s</a>, %s, Telegram %s "
		       "(%s).</p>\n",
		    cfg->support_email, cfg->support_email, cfg->support_phone, cfg->support_telegram,
		    cfg->support_hours);
	page_end(c);
}

void page_request(struct ctx *c)
{
	struct form f = {0};
	render_form(c, &f);
	c->resp->cache_control = "no-store"; /* it holds a one-time form token */
}

static void created_page(struct ctx *c, const char *number, const char *url)
{
	struct buf *b = &c->resp->body;
	page_begin(c, "Обращение отправлено", NULL);
	html_printf(b, "<h1>Обращение %s принято</h1>\n<div class=\"done\">\n"
		       "<p>Мы ответим на него по ссылке ниже%s. Сохраните её: по ней можно следить за "
		       "статусом, отвечать и добавлять файлы. Никому её не пересылайте.</p>\n"
		       "<p class=\"link\"><a href=\"%s\">Открыть обращение %s</a></p>\n</div>\n",
		    number, " и, если вы указали почту, пришлём её туда же", url, number);
	page_end(c);
}

/* The page for a creation's outcome, whether committed inline or by the group committer. */
static void form_outcome(struct ctx *c, struct form *fp, enum req_result r, const struct req_outcome *outp)
{
	struct arena *a = c->req->arena;
	struct form f = *fp;
	struct req_outcome out = *outp;
	switch (r) {
	case REQ_CREATED:
		return created_page(c, out.number, arena_printf(a, "/r/%s", out.token));
	case REQ_REPLAYED: {
		/* The same form sent twice: the first answer again. */
		const char *num = strstr(out.stored_json, "\"number\":\"");
		const char *url = strstr(out.stored_json, "\"url\":\"");
		if (num && url) {
			num += 10;
			url += 7;
			return created_page(c, arena_strndup(a, num, strcspn(num, "\"")),
					    arena_strndup(a, url, strcspn(url, "\"")));
		}
		break;
	}
	case REQ_SPAM:
		page_begin(c, "Обращение отправлено", NULL);
		html_raw(&c->resp->body, "<h1>Спасибо!</h1>\n<p class=\"lead\">Обращение отправлено.</p>\n");
		return page_end(c);
	case REQ_DUPLICATE: {
		struct buf *b = &c->resp->body;
		c->resp->status = 409;
		page_begin(c, "У вас уже есть обращение", NULL);
		html_printf(b,
			    "<h1>У вас уже есть открытое обращение по этому вопросу</h1>\n<div class=\"notice\">\n"
			    "<p>Обращение <strong>%s</strong> от %s, статус: <strong>%s</strong>.</p>\n"
			    "<p>Второе обращение не ускорит ответ — оно попадёт в конец очереди. Добавьте новые "
			    "сведения в открытое обращение.</p>\n</div>\n",
			    out.existing_number, date_time_ru(a, out.existing_created), req_status_ru(out.existing_status));
		html_raw(b, "<form class=\"request\" action=\"/request\" method=\"post\" enctype=\"multipart/form-data\">\n");
		html_printf(b, "<input type=\"hidden\" name=\"append_to\" value=\"%s\">\n", out.existing_number);
		html_printf(b, "<input type=\"hidden\" name=\"form_token\" value=\"%s\">\n", req_new_token(a));
		for (int k = 0; k < 9; k++)
			if (k != F_DESCRIPTION && f.v[k])
				html_printf(b, "<input type=\"hidden\" name=\"%s\" value=\"%s\">\n", names[k], f.v[k]);
		html_printf(b, "<div class=\"field\">\n<label for=\"f-description\">Текст, который будет добавлен</label>\n"
			       "<textarea id=\"f-description\" name=\"description\" rows=\"6\">%s</textarea>\n</div>\n",
			    f.v[F_DESCRIPTION] ? f.v[F_DESCRIPTION] : "");
		html_raw(b, "<div class=\"field\">\n<label for=\"f-attachments\">Файлы (выберите заново, если нужно)</label>\n"
			    "<input id=\"f-attachments\" name=\"attachments\" type=\"file\" multiple "
			    "accept=\"image/jpeg,image/png,application/pdf\">\n</div>\n");
		html_printf(b, "<p><button type=\"submit\">Добавить в обращение %s</button></p>\n</form>\n",
			    out.existing_number);
		return page_end(c);
	}
	case REQ_INVALID:
		f.errors = &out.errors;
		c->resp->status = 422;
		return render_form(c, &f);
	case REQ_LIMITED:
		f.problem = out.message;
		c->resp->status = 429;
		return render_form(c, &f);
	case REQ_FAILED:
		break;
	}
	f.problem = out.message ? out.message : "Не удалось отправить обращение. Попробуйте ещё раз.";
	c->resp->status = 503;
	render_form(c, &f);
}

/* A form whose creation went to the group committer: what the page needs afterwards. */
struct form_job {
	struct req_create_job j; /* first */
	struct form f;
};

/* On the group committer's thread: the page, then let the server send it. */
static void form_later(struct req_create_job *j)
{
	struct ctx *c = j->user;
	form_outcome(c, &((struct form_job *)j)->f, j->result, &j->out);
	http_resume(c->req);
}

void page_request_post(struct ctx *c)
{
	struct http_request *req = c->req;
	struct arena *a = req->arena;
	struct form f = {.had_files = req->n_files > 0};
	struct req_input in = {.client_ip = http_client_ip(req)};
	struct req_errors shape = {0};
	bool shaped = req_input_from_form(req, &in, &shape);
	const char *const typed[9] = {in.member_id, in.name,         in.email,   in.phone,      in.country,
				      in.topic,     in.order_number, in.subject, in.description};
	memcpy(f.v, typed, sizeof typed);
	if (!shaped) {
		f.errors = &shape;
		c->resp->status = 422;
		return render_form(c, &f);
	}
	const char *token = http_field(req, "form_token", NULL);
	if (token && strlen(token) == 43)
		in.idempotency_key = arena_printf(a, "form:%s", token);
	const char *append = http_field(req, "append_to", NULL);
	struct req_outcome out;
	if (append) {
		enum req_result r = req_append(c->db, &c->app->req, a, append, in.member_id, in.description,
					       in.files, in.n_files, in.idempotency_key, &out);
		if (r == REQ_CREATED || r == REQ_REPLAYED) {
			page_begin(c, "Добавлено в обращение", NULL);
			html_printf(&c->resp->body,
				    "<h1>Добавлено в обращение %s</h1>\n<p class=\"lead\">Ваш текст и файлы "
				    "добавлены к открытому обращению. Ответ придёт туда же — по ссылке из "
				    "письма о создании обращения.</p>\n<p><a href=\"/\">На главную</a></p>\n",
				    append);
			return page_end(c);
		}
		f.errors = &out.errors;
		c->resp->status = r == REQ_INVALID ? 422 : 503;
		return render_form(c, &f);
	}
	struct form_job *fj = arena_alloc(a, sizeof *fj);
	*fj = (struct form_job){.j = {.cfg = &c->app->req, .a = a, .in = in, .finish = form_later}, .f = f};
	if (!app_create_request(c, &fj->j))
		form_outcome(c, &fj->f, fj->j.result, &fj->j.out);
}

void page_request_solved(struct ctx *c)
{
	const char *slug = http_field(c->req, "slug", NULL);
	const char *topic = http_field(c->req, "topic", NULL);
	if (!slug || !slug_valid(slug))
		return page_error(c, 400, "Не указана статья.");
	if (!req_deflect(c->db, slug, topic && slug_valid(topic) ? topic : ""))
		return page_error(c, 503, "Не удалось сохранить ответ. Попробуйте позже.");
	page_begin(c, "Рады, что помогло", NULL);
	html_printf(&c->resp->body, "<h1>Рады, что инструкция помогла</h1>\n<p class=\"lead\">Обращение не "
				    "создано. <a href=\"/a/%s\">Вернуться к статье</a> или <a href=\"/\">на "
				    "главную</a>.</p>\n",
		    slug);
	page_end(c);
}

/*
 * A wrong token looks exactly like a missing page, and a client with 30 of them in an hour gets
 * 429 for every further miss. The token is looked up first and a right one always works, even
 * from a throttled address: it is 256 random bits, so the throttle does not protect it (nobody
 * guesses one) — it makes scanning noisy and cheap to answer — while refusing a right link would
 * let whoever shares the member's address (a carrier's NAT, an office, an untrusted proxy) lock
 * the member out of their own request.
 */
#define TOKEN_MISSES_PER_HOUR 30

static bool token_guard(struct ctx *c, struct req_view *v, int found)
{
	if (found > 0)
		return true;
	if (found < 0) {
		page_error(c, 503, "Сервис временно недоступен. Попробуйте позже.");
		return false;
	}
	const char *key = arena_printf(c->req->arena, "token-miss:%s", http_client_ip(c->req));
	if (req_throttled(c->db, key, 3600, TOKEN_MISSES_PER_HOUR) ||
	    req_throttle_hit(c->db, key, 3600, TOKEN_MISSES_PER_HOUR)) {
		page_error(c, 429, "Слишком много неверных ссылок. Попробуйте позже.");
		return false;
	}
	(void)v;
	page_not_found(c);
	return false;
}

void page_status(struct ctx *c)
{
	struct arena *a = c->req->arena;
	struct req_view v;
	if (!token_guard(c, &v, req_by_token(c->db, a, c->arg, true, &v)))
		return;
	struct buf *b = &c->resp->body;
	c->resp->cache_control = "no-store";
	c->resp->vary = NULL;
	page_begin(c, arena_printf(a, "Обращение %s", v.number), NULL);
	html_printf(b, "<h1>Обращение %s</h1>\n<p class=\"meta\">%s · создано %s · статус: "
		       "<strong class=\"status status-%s\">%s</strong></p>\n",
		    v.number, v.subject, date_time_ru(a, v.created), v.status, req_status_ru(v.status));
	if (v.merged_into_number)
		html_printf(b, "<p class=\"notice\">Ваше обращение %s объединено с этим обращением: ответы "
			       "по обоим вопросам будут здесь.</p>\n",
			    v.merged_from);
	html_raw(b, "<ol class=\"conversation\">\n");
	for (int i = 0; i < v.n_messages; i++) {
		const struct req_message *m = &v.messages[i];
		html_printf(b, "<li class=\"msg msg-%s\" id=\"m%lld\">\n<p class=\"meta\">%s · %s</p>\n<div class=\"text\">",
			    m->author, (long long)m->id,
			    !strcmp(m->author, "member") ? "Вы" : !strcmp(m->author, "agent") ? "Поддержка" : "Система",
			    date_time_ru(a, m->created));
		html_printf(b, "%s", m->body);
		html_raw(b, "</div>\n");
		bool any = false;
		for (int k = 0; k < v.n_attachments; k++) {
			if (v.attachments[k].message_id != m->id)
				continue;
			if (!any)
				html_raw(b, "<ul class=\"files\">\n");
			any = true;
			html_printf(b, "<li>%s (%lld КБ)</li>\n", v.attachments[k].filename,
				    (long long)((v.attachments[k].size + 1023) / 1024));
		}
		if (any)
			html_raw(b, "</ul>\n");
		html_raw(b, "</li>\n");
	}
	html_raw(b, "</ol>\n");
	html_printf(b, "<form class=\"request\" action=\"/r/%s\" method=\"post\" enctype=\"multipart/form-data\">\n"
		       "<input type=\"hidden\" name=\"form_token\" value=\"%s\">\n"
		       "<div class=\"field\">\n<label for=\"f-message\">Ваш ответ</label>\n"
		       "<textarea id=\"f-message\" name=\"message\" rows=\"5\" maxlength=\"10000\"></textarea>\n</div>\n"
		       "<div class=\"field\">\n<label for=\"f-attachments\">Файлы (необязательно)</label>\n"
		       "<input id=\"f-attachments\" name=\"attachments\" type=\"file\" multiple "
		       "accept=\"image/jpeg,image/png,application/pdf\">\n</div>\n"
		       "<p><button type=\"submit\">Отправить</button></p>\n</form>\n",
		    c->arg, req_new_token(a));
	page_end(c);
}

void page_status_post(struct ctx *c)
{
	struct arena *a = c->req->arena;
	struct req_view v;
	if (!token_guard(c, &v, req_by_token(c->db, a, c->arg, true, &v)))
		return;
	const char *text = http_field(c->req, "message", NULL);
	const char *token = http_field(c->req, "form_token", NULL);
	struct req_outcome out;
	enum req_result r = req_member_reply(c->db, &c->app->req, a, v.id, text && utf8_valid(text, strlen(text)) ? text : "",
					     c->req->files, c->req->n_files,
					     token && strlen(token) == 43 ? arena_printf(a, "reply:%s", token) : NULL, &out);
	if (r == REQ_CREATED || r == REQ_REPLAYED) {
		c->resp->status = 303;
		c->resp->location = arena_printf(a, "/r/%s", c->arg);
		c->resp->content_type = "text/plain; charset=utf-8";
		buf_adds(&c->resp->body, "Сообщение отправлено.\n");
		return;
	}
	page_error(c, r == REQ_INVALID ? 422 : 503,
		   r == REQ_INVALID && out.errors.n ? out.errors.message[0] : "Не удалось отправить сообщение. Попробуйте позже.");
}
