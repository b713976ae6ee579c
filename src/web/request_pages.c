/*
 * The member's side of support requests: the form (/request), its outcomes (created, with the
 * whole private link to copy; the form again with every error next to its field and everything
 * typed kept; a duplicate with the offer to add to the open request — directly with its private
 * link, or held until confirmed on the private page), "this solved my question", the private page
 * /r/{token} (with the held additions to confirm), and «Потеряли ссылку?» (/request/lost).
 */
#include "web.h"

#include "../ctx/ctx.h"
#include "../core/arena.h"
#include "../core/buf.h"
#include "../core/text.h"
#include "../insights/insights.h"
#include "../req/req.h"
#include "../searchlog/search_log.h"
#include "layout.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
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
static const char *const names[] = {"member_id", "name",	 "email",   "phone",	  "country",
				    "topic",	 "order_number", "subject", "description"};

static const char *error_of(const struct form *f, const char *field)
{
	for (int i = 0; f->errors && i < f->errors->n; i++)
		if (!strcmp(f->errors->field[i], field))
			return f->errors->message[i];
	return NULL;
}

/* The attributes that tie control `name` to its hint and error: aria-invalid, aria-describedby. */
static void control_attrs(struct ctx *c, const char *name, bool hint, const char *err)
{
	struct buf *b = &c->resp->body;
	struct arena *a = c->req->arena;
	const char *described = hint && err ? arena_printf(a, "f-%s-hint f-err-%s", name, name)
				: hint	    ? arena_printf(a, "f-%s-hint", name)
				: err	    ? arena_printf(a, "f-err-%s", name)
					    : NULL;
	if (err)
		html_raw(b, " aria-invalid=\"true\"");
	if (described)
		html_printf(b, " aria-describedby=\"%s\"", described);
}

/* The error paragraph under control `name`, when it has one. */
static void control_error(struct ctx *c, const char *name, const char *err)
{
	if (err)
		html_printf(&c->resp->body, "<p class=\"error\" id=\"f-err-%s\">%s</p>\n", name, err);
}

/* One labelled input with its hint and error. extra is trusted markup (attributes). */
static void input(struct ctx *c, const struct form *f, int k, const char *label, const char *type, const char *hint,
		  const char *extra)
{
	struct buf *b = &c->resp->body;
	const char *err = error_of(f, names[k]);
	html_printf(b, "<div class=\"field%s\">\n<label for=\"f-%s\">%s</label>\n", err ? " invalid" : "", names[k],
		    label);
	if (hint) {
		html_printf(b, "<p class=\"hint\" id=\"f-%s-hint\">", names[k]);
		html_raw(b, hint); /* trusted: literal markup of this file */
		html_raw(b, "</p>\n");
	}
	html_printf(b, "<input id=\"f-%s\" name=\"%s\" type=\"%s\" value=\"", names[k], names[k], type);
	html_value(b, f->v[k]);
	html_raw(b, "\"");
	control_attrs(c, names[k], hint != NULL, err);
	if (extra) {
		html_raw(b, " ");
		html_raw(b, extra);
	}
	html_raw(b, ">\n");
	control_error(c, names[k], err);
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
	html_raw(b, "<p class=\"meta\">Уже писали нам? <a href=\"/request/lost\">Потеряли ссылку?</a> Пришлём "
		    "ссылки на ваши открытые обращения на почту, указанную в них.</p>\n");
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
	html_printf(b,
		    "<div class=\"field%s\">\n<label for=\"f-country\">Страна</label>\n"
		    "<select id=\"f-country\" name=\"country\"",
		    cerr ? " invalid" : "");
	control_attrs(c, names[F_COUNTRY], false, cerr);
	html_raw(b, ">\n");
	for (size_t i = 0; i < cfg->n_countries; i++)
		html_printf(b, "<option value=\"%s\"%s>%s</option>\n", cfg->countries[i].code,
			    strcmp(cfg->countries[i].code, country) ? "" : " selected", cfg->countries[i].name);
	html_raw(b, "</select>\n");
	control_error(c, names[F_COUNTRY], cerr);
	const char *terr = error_of(f, "topic");
	html_printf(b,
		    "</div>\n<div class=\"field%s\">\n<label for=\"f-topic\">Тема</label>\n"
		    "<select id=\"f-topic\" name=\"topic\"",
		    terr ? " invalid" : "");
	control_attrs(c, names[F_TOPIC], false, terr);
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
	control_error(c, names[F_TOPIC], terr);
	html_raw(b, "</div>\n<div class=\"order-field\">\n");
	input(c, f, F_ORDER, "Номер заказа", "text", "Для вопросов о заказе, возврате и браке.", NULL);
	html_raw(b, "</div>\n");
	input(c, f, F_SUBJECT, "Тема обращения", "text", NULL, "maxlength=\"200\" required");
	const char *derr = error_of(f, "description");
	html_printf(b,
		    "<div class=\"field%s\">\n<label for=\"f-description\">Опишите вопрос</label>\n"
		    "<p class=\"hint\" id=\"f-description-hint\">Что случилось, что вы уже пробовали, "
		    "какие были сообщения об ошибках. Не меньше %d символов.</p>\n"
		    "<textarea id=\"f-description\" name=\"description\" rows=\"7\" maxlength=\"10000\"",
		    derr ? " invalid" : "", REQ_MIN_DESCRIPTION);
	control_attrs(c, names[F_DESCRIPTION], true, derr);
	html_raw(b, ">");
	html_value(b, f->v[F_DESCRIPTION]);
	html_raw(b, "</textarea>\n");
	control_error(c, names[F_DESCRIPTION], derr);
	/* The token "Это решило мой вопрос" posts with (search.js copies it into each button's form). */
	const char *solved = req_form_token(c->db, a, "solved", (int64_t)time(NULL));
	html_printf(b,
		    "</div>\n<div class=\"suggest-box\" id=\"request-suggest\" data-solved-token=\"%s\" hidden "
		    "aria-live=\"polite\"></div>\n",
		    solved ? solved : "");
	const char *aerr = error_of(f, "attachments");
	html_printf(b,
		    "<div class=\"field%s\">\n<label for=\"f-attachments\">Файлы (необязательно)</label>\n"
		    "<p class=\"hint\">До %d файлов JPEG, PNG или PDF, каждый до 10 МБ, всего до 25 МБ.</p>\n"
		    "<input id=\"f-attachments\" name=\"attachments\" type=\"file\" multiple "
		    "accept=\"image/jpeg,image/png,application/pdf\">\n",
		    aerr ? " invalid" : "", REQ_MAX_FILES);
	control_error(c, "attachments", aerr);
	html_raw(b, "</div>\n<div class=\"hp\" aria-hidden=\"true\"><label for=\"f-website\">Не заполняйте это "
		    "поле</label><input id=\"f-website\" name=\"website\" type=\"text\" tabindex=\"-1\" "
		    "autocomplete=\"off\"></div>\n<p><button type=\"submit\">Отправить обращение</button></p>\n"
		    "</form>\n");
	html_printf(b,
		    "<p class=\"meta\">Или напишите нам: <a href=\"mailto:%s\">%s</a>, %s, Telegram %s "
		    "(%s).</p>\n",
		    cfg->support_email, cfg->support_email, cfg->support_phone, cfg->support_telegram,
		    cfg->support_hours);
	page_end(c);
}

void page_request(struct ctx *c)
{
	/* Insights: a request form started (the deflection rate's denominator; HEAD is no start). */
	if (!c->req->head)
		insights_count(c->app->insights, INSIGHTS_REQUEST_FORM, "");
	struct form f = {0};
	render_form(c, &f);
	c->resp->cache_control = "no-store"; /* it holds a one-time form token */
}

/* The private link as text to copy: a read-only field (select it and copy, with or without
 * JavaScript) and a "copy" button that static/copy.js (loaded by the page) shows and wires. */
static void link_to_copy(struct ctx *c, const char *id, const char *url)
{
	html_printf(&c->resp->body,
		    "<div class=\"copy-link\">\n<label for=\"%s\">Ссылка на обращение — сохраните её</label>\n"
		    "<input id=\"%s\" type=\"text\" readonly value=\"%s\" size=\"60\" spellcheck=\"false\">\n"
		    "<button type=\"button\" class=\"copy\" data-copy=\"%s\" hidden>Скопировать</button>\n"
		    "<p class=\"hint\">Выделите ссылку и скопируйте её (Ctrl+C, на телефоне — долгое нажатие), "
		    "сохраните в заметках или закладках.</p>\n</div>\n",
		    id, id, url, id);
}

static void created_page(struct ctx *c, const char *number, const char *path)
{
	struct buf *b = &c->resp->body;
	/* The whole link, as the member will paste it: absolute with [server] public_url. */
	const char *url = arena_printf(c->req->arena, "%s%s", c->app->req.public_url, path);
	page_begin(c, "Обращение отправлено", NULL);
	html_printf(b,
		    "<h1>Обращение %s принято</h1>\n<div class=\"done\">\n"
		    "<p>Мы ответим на него по ссылке ниже%s. Сохраните её: по ней можно следить за "
		    "статусом, отвечать и добавлять файлы. Никому её не пересылайте.</p>\n",
		    number, " и, если вы указали почту, пришлём её туда же");
	link_to_copy(c, "private-link", url);
	html_printf(b, "<p class=\"link\"><a href=\"%s\">Открыть обращение %s</a></p>\n</div>\n", path, number);
	/* Only this page has a link to copy: the script is loaded here, not by every page. */
	const struct static_file *js = ctx_static(c->app, "copy.js");
	html_printf(b, "<script src=\"/static/copy.js?v=%s\" defer></script>\n", js ? js->version : "0");
	page_end(c);
}

/* What someone who did not give the open request's contact is told about its link. */
static void link_mail_notice(struct ctx *c, enum req_link_mail m, const char *contact, bool held)
{
	struct buf *b = &c->resp->body;
	const struct config *cfg = &c->app->cfg;
	switch (m) {
	case REQ_LINK_SENT:
		html_printf(b,
			    "<p>Мы отправили письмо со ссылкой на это обращение на почту, указанную в нём: "
			    "<strong>%s</strong>.%s</p>\n",
			    contact,
			    held ? " Откройте обращение по этой ссылке и нажмите «Добавить в обращение» — только "
				   "тогда текст и файлы появятся в обращении. Если их не подтвердить, через 3 дня они "
				   "удалятся."
				 : " Письмо обычно приходит за несколько минут; проверьте и папку «Спам».");
		return;
	case REQ_LINK_RECENT:
		html_printf(b,
			    "<p>Ссылку на это обращение недавно уже отправляли на почту, указанную в нём: "
			    "<strong>%s</strong>. Откройте обращение по ссылке из того письма%s (проверьте и "
			    "папку «Спам»).</p>\n",
			    contact, held ? " — там текст будет ждать подтверждения 3 дня" : "");
		return;
	case REQ_LINK_NO_EMAIL:
		break;
	}
	html_printf(b,
		    "<p>В обращении указан только телефон <strong>%s</strong>, а SMS мы не отправляем, "
		    "поэтому прислать ссылку не можем. Если ссылка у вас сохранилась, откройте обращение по "
		    "ней%s. Если нет — свяжитесь с поддержкой: <a href=\"mailto:%s\">%s</a>, %s, Telegram "
		    "%s.</p>\n",
		    contact, held ? ": текст будет ждать там подтверждения 3 дня" : "", cfg->support_email,
		    cfg->support_email, cfg->support_phone, cfg->support_telegram);
}

/*
 * The offer to add to the open request: with its private link (added at once), or without
 * (held until confirmed on the private page). Everything the member typed is carried along.
 */
static void append_form(struct ctx *c, const struct form *f, const char *original, const struct req_errors *e)
{
	struct arena *a = c->req->arena;
	struct buf *b = &c->resp->body;
	const char *link_err = NULL, *text_err = NULL, *files_err = NULL;
	for (int i = 0; e && i < e->n; i++) {
		if (!strcmp(e->field[i], "append_to"))
			link_err = e->message[i];
		else if (!strcmp(e->field[i], "attachments"))
			files_err = e->message[i];
		else
			text_err = e->message[i];
	}
	html_raw(b, "<h2>Добавить сведения в открытое обращение</h2>\n"
		    "<p>Если у вас есть ссылка на обращение, вставьте её — текст добавится сразу. Если ссылки "
		    "нет, оставьте поле пустым: текст будет ждать подтверждения, а ссылку на обращение мы "
		    "пришлём на почту, указанную в нём. В обращении текст появится, только когда его подтвердят "
		    "по этой ссылке.</p>\n");
	html_raw(b, "<form class=\"request\" action=\"/request\" method=\"post\" enctype=\"multipart/form-data\" "
		    "novalidate>\n<input type=\"hidden\" name=\"hold\" value=\"1\">\n");
	html_printf(b, "<input type=\"hidden\" name=\"form_token\" value=\"%s\">\n", req_new_token(a));
	for (int k = 0; k < 9; k++)
		if (k != F_DESCRIPTION && f->v[k]) {
			html_printf(b, "<input type=\"hidden\" name=\"%s\" value=\"", names[k]);
			html_value(b, f->v[k]);
			html_raw(b, "\">\n");
		}
	html_raw(b, "<input type=\"hidden\" name=\"original_description\" value=\"");
	html_value(b, original);
	html_raw(b, "\">\n");
	html_printf(b,
		    "<div class=\"field%s\">\n<label for=\"f-append_to\">Ссылка на обращение "
		    "(если сохранилась)</label>\n<input id=\"f-append_to\" name=\"append_to\" type=\"text\" "
		    "autocomplete=\"off\" spellcheck=\"false\"",
		    link_err ? " invalid" : "");
	control_attrs(c, "append_to", false, link_err);
	html_raw(b, ">\n");
	control_error(c, "append_to", link_err);
	html_printf(b,
		    "</div>\n<div class=\"field%s\">\n<label for=\"f-description\">Текст, который нужно "
		    "добавить</label>\n<textarea id=\"f-description\" name=\"description\" rows=\"6\" "
		    "maxlength=\"10000\"",
		    text_err ? " invalid" : "");
	control_attrs(c, names[F_DESCRIPTION], false, text_err);
	html_raw(b, ">");
	html_value(b, f->v[F_DESCRIPTION]);
	html_raw(b, "</textarea>\n");
	control_error(c, names[F_DESCRIPTION], text_err);
	html_printf(b,
		    "</div>\n<div class=\"field%s\">\n<label for=\"f-attachments\">Файлы (выберите заново, "
		    "если нужно)</label>\n<input id=\"f-attachments\" name=\"attachments\" type=\"file\" "
		    "multiple accept=\"image/jpeg,image/png,application/pdf\">\n",
		    files_err ? " invalid" : "");
	control_error(c, "attachments", files_err);
	html_raw(b, "</div>\n<p><button type=\"submit\">Добавить к обращению</button></p>\n</form>\n"
		    "<p class=\"meta\"><a href=\"/request/lost\">Потеряли ссылку?</a></p>\n");
}

/* The append form again, after its own errors (nothing of the request is said). */
static void append_again(struct ctx *c, const struct form *f, const char *original, const struct req_errors *e,
			 const char *problem, int status)
{
	struct buf *b = &c->resp->body;
	c->resp->status = status;
	page_begin(c, "Добавить в открытое обращение", NULL);
	html_raw(b, "<h1>Добавить в открытое обращение</h1>\n");
	if (problem)
		html_printf(b, "<div class=\"error-summary\" role=\"alert\"><p>%s</p></div>\n", problem);
	else if (e && e->n) {
		html_printf(b, "<div class=\"error-summary\" role=\"alert\"><p>%s</p>\n", e->message[0]);
		if (f->had_files)
			html_raw(b, "<p>Всё, что вы ввели, сохранено, но файлы нужно выбрать заново.</p>\n");
		html_raw(b, "</div>\n");
	}
	append_form(c, f, original, e);
	page_end(c);
}

/* The held addition's page: what happens next, and the text to keep. */
static void held_page(struct ctx *c, const struct form *f, const struct req_outcome *out)
{
	struct buf *b = &c->resp->body;
	c->resp->status = 202;
	page_begin(c, "Текст ждёт подтверждения", NULL);
	html_raw(b, "<h1>Текст ждёт подтверждения</h1>\n<div class=\"notice\">\n");
	link_mail_notice(c, out->link_mail, out->contact_masked, true);
	html_raw(b, "</div>\n<div class=\"field\">\n<label for=\"held-text\">Ваш текст — на всякий случай "
		    "сохраните его</label>\n<textarea id=\"held-text\" rows=\"6\" readonly>");
	html_value(b, f->v[F_DESCRIPTION]);
	html_raw(b, "</textarea>\n</div>\n<p><a href=\"/\">На главную</a></p>\n");
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
		/* Insights: the visit's recent searches did not help (search_log.h, visits). */
		if (c->app->search_log)
			search_log_visit_request(c->app->search_log, ctx_visit(c));
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
		page_begin(c, "Уже есть открытое обращение", NULL);
		if (out.existing_owner) {
			/* The request's own contact was given: its number, date and status. */
			html_printf(
			    b,
			    "<h1>У вас уже есть открытое обращение по этому вопросу</h1>\n<div class=\"notice\">\n"
			    "<p>Обращение <strong>%s</strong> от %s, статус: <strong>%s</strong>.</p>\n"
			    "<p>Второе обращение не ускорит ответ — оно попадёт в конец очереди. Добавьте новые "
			    "сведения в открытое обращение.</p>\n</div>\n",
			    out.existing_number, date_time_ru(a, out.existing_created),
			    req_status_ru(out.existing_status));
		} else {
			html_raw(b, "<h1>С этим номером партнёра уже есть открытое обращение по этому вопросу</h1>\n"
				    "<div class=\"notice\">\n");
			link_mail_notice(c, out.link_mail, out.contact_masked, false);
			html_raw(b, "<p>Второе обращение не ускорит ответ. Новые сведения можно добавить в открытое "
				    "обращение.</p>\n</div>\n");
		}
		append_form(c, &f, f.v[F_DESCRIPTION], NULL);
		return page_end(c);
	}
	case REQ_MISMATCH:
		f.problem = "Эта форма уже была отправлена с другими данными. Проверьте поля и отправьте её ещё раз.";
		c->resp->status = 422;
		return render_form(c, &f);
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
	c->req->db_statements += j->job.statements; /* the transaction's, for the metrics */
	http_resume(c->req);
}

/* Wrong private links (on /r/{token} and as append_to) are counted per client under one key:
 * at most TOKEN_MISSES_PER_HOUR an hour. */
#define TOKEN_MISSES_PER_HOUR 30

static const char *token_miss_key(struct ctx *c)
{
	return arena_printf(c->req->arena, "token-miss:%s", http_client_ip(c->req));
}

void page_request_post(struct ctx *c)
{
	struct http_request *req = c->req;
	struct arena *a = req->arena;
	struct form f = {.had_files = req->n_files > 0};
	struct req_input in = {.client_ip = http_client_ip(req)};
	struct req_errors shape = {0};
	bool shaped = req_input_from_form(req, &in, &shape);
	const char *const typed[9] = {in.member_id, in.name,	     in.email,	 in.phone,	in.country,
				      in.topic,	    in.order_number, in.subject, in.description};
	memcpy(f.v, typed, sizeof typed);
	if (!shaped) {
		f.errors = &shape;
		c->resp->status = 422;
		return render_form(c, &f);
	}
	const char *token = http_field(req, "form_token", NULL);
	if (token && strlen(token) == 43)
		in.idempotency_key = arena_printf(a, "form:%s", token);
	in.route = "POST /request";
	const char *append = http_field(req, "append_to", NULL);
	const char *original = http_field(req, "original_description", NULL);
	if (original && !utf8_valid(original, strlen(original)))
		original = NULL;
	struct req_outcome out;
	if (append && *str_trim(arena_strdup(a, append))) {
		/* Straight into a request only with its private link, throttled like /r/{token}: only
		 * wrong links count, and the right one works even from a throttled client. */
		enum req_result r = req_append(c->db, &c->app->req, a, append, in.description, in.files, in.n_files,
					       in.idempotency_key, &out);
		if (r == REQ_CREATED || r == REQ_REPLAYED) {
			page_begin(c, "Добавлено в обращение", NULL);
			html_printf(&c->resp->body,
				    "<h1>Добавлено в обращение %s</h1>\n<p class=\"lead\">Ваш текст и файлы "
				    "добавлены к обращению. Ответ придёт туда же — по той же ссылке.</p>\n"
				    "<p><a href=\"/\">На главную</a></p>\n",
				    out.existing_number);
			return page_end(c);
		}
		bool wrong_link = r == REQ_INVALID && out.errors.n && !strcmp(out.errors.field[0], "append_to");
		const char *miss = wrong_link ? token_miss_key(c) : NULL;
		if (miss && (req_throttled(c->db, miss, 3600, TOKEN_MISSES_PER_HOUR) ||
			     req_throttle_hit(c->db, miss, 3600, TOKEN_MISSES_PER_HOUR)))
			return append_again(c, &f, original, NULL, "Слишком много неверных ссылок. Попробуйте позже.",
					    429);
		if (r == REQ_INVALID)
			return append_again(c, &f, original, &out.errors, NULL, wrong_link ? 404 : 422);
		return append_again(c, &f, original, NULL,
				    r == REQ_MISMATCH
					? "Эта форма уже была отправлена с другим текстом. Отправьте её ещё раз."
					: "Не удалось добавить текст. Попробуйте ещё раз.",
				    r == REQ_MISMATCH ? 422 : 503);
	}
	if (http_field(req, "hold", NULL)) {
		/* Without the link: held until confirmed on the request's private page. */
		enum req_result r = req_hold(c->db, &c->app->req, a, &in, original, &out);
		switch (r) {
		case REQ_CREATED:
			return held_page(c, &f, &out);
		case REQ_REPLAYED: {
			json_t *j = json_loads(out.stored_json, 0, NULL);
			const char *contact = json_string_value(json_object_get(j, "contact"));
			const char *mail = json_string_value(json_object_get(j, "mail"));
			out.contact_masked = arena_strdup(a, contact ? contact : "");
			out.link_mail = mail && !strcmp(mail, "sent")	  ? REQ_LINK_SENT
					: mail && !strcmp(mail, "recent") ? REQ_LINK_RECENT
									  : REQ_LINK_NO_EMAIL;
			json_decref(j);
			return held_page(c, &f, &out);
		}
		case REQ_INVALID:
			if (out.errors.n && !strcmp(out.errors.field[0], "request")) {
				/* The open request is gone: the new-request form with everything typed. */
				f.problem = out.errors.message[0];
				c->resp->status = 422;
				return render_form(c, &f);
			}
			return append_again(c, &f, original, &out.errors, NULL, 422);
		case REQ_LIMITED:
			return append_again(c, &f, original, NULL, out.message, 429);
		case REQ_MISMATCH:
			return append_again(c, &f, original, NULL,
					    "Эта форма уже была отправлена с другим текстом. Отправьте её ещё раз.",
					    422);
		default:
			return append_again(
			    c, &f, original, NULL,
			    out.message ? out.message : "Не удалось сохранить текст. Попробуйте ещё раз.", 503);
		}
	}
	struct form_job *fj = arena_alloc(a, sizeof *fj);
	*fj = (struct form_job){.j = {.cfg = &c->app->req, .a = a, .in = in, .finish = form_later}, .f = f};
	if (!ctx_create_request(c, &fj->j))
		form_outcome(c, &fj->f, fj->j.result, &fj->j.out);
}

/* "Это решило мой вопрос" answers accepted per client and hour. */
#define SOLVED_PER_HOUR 30

void page_request_solved(struct ctx *c)
{
	const char *slug = http_field(c->req, "slug", NULL);
	const char *topic = http_field(c->req, "topic", NULL);
	/* Only from the request form as served here (its token, a day at most), and not too often
	 * from one client: the deflections count what helped. */
	if (!req_form_token_ok(c->db, c->req->arena, "solved", http_field(c->req, "solved_token", NULL), 86400))
		return page_error(c, 403, "Форма устарела. Откройте форму обращения ещё раз.");
	if (req_throttle_hit(c->db, arena_printf(c->req->arena, "solved:%s", http_client_ip(c->req)), 3600,
			     SOLVED_PER_HOUR))
		return page_error(c, 429, "Слишком много ответов за короткое время. Попробуйте позже.");
	if (!slug || !slug_valid(slug))
		return page_error(c, 400, "Не указана статья.");
	if (!req_deflect(c->db, slug, topic && slug_valid(topic) ? topic : ""))
		return page_error(c, 503, "Не удалось сохранить ответ. Попробуйте позже.");
	page_begin(c, "Рады, что помогло", NULL);
	html_printf(&c->resp->body,
		    "<h1>Рады, что инструкция помогла</h1>\n<p class=\"lead\">Обращение не "
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

static bool token_guard(struct ctx *c, struct req_view *v, int found)
{
	if (found > 0)
		return true;
	if (found < 0) {
		page_error(c, 503, "Сервис временно недоступен. Попробуйте позже.");
		return false;
	}
	const char *key = token_miss_key(c);
	if (req_throttled(c->db, key, 3600, TOKEN_MISSES_PER_HOUR) ||
	    req_throttle_hit(c->db, key, 3600, TOKEN_MISSES_PER_HOUR)) {
		page_error(c, 429, "Слишком много неверных ссылок. Попробуйте позже.");
		return false;
	}
	(void)v;
	page_not_found(c);
	return false;
}

/* Additions from the duplicate screen waiting for the link's holder to confirm them. */
static void held_block(struct ctx *c, const struct req_view *v)
{
	struct arena *a = c->req->arena;
	struct buf *b = &c->resp->body;
	struct req_held *h;
	int n = req_held_list(c->db, a, v->id, &h);
	if (n <= 0)
		return;
	html_raw(b, "<section class=\"held\" id=\"held\">\n<h2>Ждут вашего подтверждения</h2>\n"
		    "<p>Этот текст отправлен через форму на сайте с вашим номером партнёра. В обращении он "
		    "появится, только если вы его добавите. Если это писали не вы — отклоните.</p>\n");
	for (int i = 0; i < n; i++) {
		html_printf(b,
			    "<div class=\"held-item\" id=\"held-%lld\">\n<p class=\"meta\">%s · удалится %s, если "
			    "не подтвердить</p>\n<div class=\"text\">%s</div>\n",
			    (long long)h[i].id, date_time_ru(a, h[i].created), date_time_ru(a, h[i].expires),
			    h[i].body);
		if (h[i].n_files) {
			html_raw(b, "<ul class=\"files\">\n");
			for (int k = 0; k < h[i].n_files; k++)
				html_printf(b, "<li>%s</li>\n", h[i].filenames[k]);
			html_raw(b, "</ul>\n");
		}
		html_printf(b,
			    "<form action=\"/r/%s\" method=\"post\">\n<input type=\"hidden\" name=\"held\" "
			    "value=\"%lld\">\n<button type=\"submit\" name=\"held_action\" value=\"confirm\">Добавить "
			    "в обращение</button>\n<button type=\"submit\" name=\"held_action\" value=\"discard\">"
			    "Отклонить</button>\n</form>\n</div>\n",
			    c->arg, (long long)h[i].id);
	}
	html_raw(b, "</section>\n");
}

/* ?file=ID on the private link: an attachment of the request the link opens (or of one merged
 * into it), as the desk serves it; any other id is not found. */
static void member_file(struct ctx *c, const struct req_view *v, const char *file)
{
	struct arena *a = c->req->arena;
	char *end;
	long long id = strtoll(file, &end, 10);
	const struct req_attachment *f = NULL;
	for (int k = 0; *file && !*end && k < v->n_attachments; k++)
		if (v->attachments[k].id == id)
			f = &v->attachments[k];
	if (!f)
		return page_not_found(c);
	int fd = req_file_open(c->db, &c->app->req, f->sha256);
	if (fd < 0)
		return errno == ENOENT ? page_not_found(c) : page_error(c, 503, "Файл сейчас недоступен.");
	c->resp->content_type = f->mime;
	c->resp->disposition = req_content_disposition(a, f->filename, f->mime);
	c->resp->file_fd = fd;
	c->resp->cache_control = "private, no-store";
	c->resp->vary = NULL;
	c->resp->status = 200;
}

void page_status(struct ctx *c)
{
	struct arena *a = c->req->arena;
	struct req_view v;
	if (!token_guard(c, &v, req_by_token(c->db, a, c->arg, true, &v)))
		return;
	const char *file = http_param(c->req, "file");
	if (file)
		return member_file(c, &v, file);
	struct buf *b = &c->resp->body;
	c->resp->cache_control = "no-store";
	c->resp->vary = NULL;
	page_begin(c, arena_printf(a, "Обращение %s", v.number), NULL);
	html_printf(b,
		    "<h1>Обращение %s</h1>\n<p class=\"meta\">%s · создано %s · статус: "
		    "<strong class=\"status status-%s\">%s</strong></p>\n",
		    v.number, v.subject, date_time_ru(a, v.created), v.status, req_status_ru(v.status));
	if (v.merged_into_number)
		html_printf(b,
			    "<p class=\"notice\">Ваше обращение %s объединено с этим обращением: ответы "
			    "по обоим вопросам будут здесь.</p>\n",
			    v.merged_from);
	if (v.n_messages_total > v.n_messages)
		html_printf(b,
			    "<p class=\"notice\">Показаны последние %d сообщений из %d. Более ранние сообщения "
			    "приходили вам в письмах; если нужна вся переписка, напишите об этом в ответе.</p>\n",
			    v.n_messages, v.n_messages_total);
	html_raw(b, "<ol class=\"conversation\">\n");
	for (int i = 0; i < v.n_messages; i++) {
		const struct req_message *m = &v.messages[i];
		html_printf(
		    b, "<li class=\"msg msg-%s\" id=\"m%lld\">\n<p class=\"meta\">%s · %s</p>\n<div class=\"text\">",
		    m->author, (long long)m->id,
		    !strcmp(m->author, "member")  ? "Вы"
		    : !strcmp(m->author, "agent") ? "Поддержка"
						  : "Система",
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
			html_printf(b, "<li><a href=\"/r/%s?file=%lld\">%s</a> (%lld КБ)</li>\n", c->arg,
				    (long long)v.attachments[k].id, v.attachments[k].filename,
				    (long long)((v.attachments[k].size + 1023) / 1024));
		}
		if (any)
			html_raw(b, "</ul>\n");
		html_raw(b, "</li>\n");
	}
	html_raw(b, "</ol>\n");
	held_block(c, &v);
	html_printf(b,
		    "<form class=\"request\" action=\"/r/%s\" method=\"post\" enctype=\"multipart/form-data\">\n"
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
	const char *held = http_field(c->req, "held", NULL);
	if (held) {
		/* Confirming or discarding a held addition: the private link is the credential. */
		const char *action = http_field(c->req, "held_action", NULL);
		char *end = NULL;
		long long id = strtoll(held, &end, 10);
		bool confirm = action && !strcmp(action, "confirm");
		if (!*held || *end || id <= 0 || !action || (!confirm && strcmp(action, "discard")))
			return page_error(c, 400, "Не понятно, что сделать с текстом: добавить или отклонить.");
		enum req_result r = req_held_resolve(c->db, a, v.id, id, confirm);
		if (r == REQ_FAILED)
			return page_error(c, 503, "Не удалось сохранить. Попробуйте позже.");
		if (r == REQ_INVALID)
			return page_error(c, 422, "Этот текст уже добавлен, отклонён или устарел.");
		c->resp->status = 303;
		c->resp->location = arena_printf(a, "/r/%s", c->arg);
		c->resp->content_type = "text/plain; charset=utf-8";
		buf_adds(&c->resp->body, confirm ? "Добавлено в обращение.\n" : "Отклонено.\n");
		return;
	}
	const char *text = http_field(c->req, "message", NULL);
	const char *token = http_field(c->req, "form_token", NULL);
	struct req_outcome out;
	enum req_result r = req_member_reply(
	    c->db, &c->app->req, a, v.id, text && utf8_valid(text, strlen(text)) ? text : "", c->req->files,
	    c->req->n_files, token && strlen(token) == 43 ? arena_printf(a, "reply:%s", token) : NULL, &out);
	if (r == REQ_CREATED || r == REQ_REPLAYED) {
		c->resp->status = 303;
		c->resp->location = arena_printf(a, "/r/%s", c->arg);
		c->resp->content_type = "text/plain; charset=utf-8";
		buf_adds(&c->resp->body, "Сообщение отправлено.\n");
		return;
	}
	page_error(c, r == REQ_INVALID || r == REQ_MISMATCH ? 422 : 503,
		   r == REQ_INVALID && out.errors.n ? out.errors.message[0]
		   : r == REQ_MISMATCH
		       ? "Эта форма уже была отправлена с другим текстом. Обновите страницу и отправьте ещё раз."
		       : "Не удалось отправить сообщение. Попробуйте позже.");
}

/* ---- «Потеряли ссылку?» ---- */

static void lost_form(struct ctx *c, const char *member_id, const char *error, int status)
{
	struct buf *b = &c->resp->body;
	c->resp->status = status;
	c->resp->cache_control = "no-store";
	page_begin(c, "Потеряли ссылку на обращение?", NULL);
	html_raw(b, "<nav class=\"crumbs\" aria-label=\"Навигация\"><a href=\"/\">Главная</a> › "
		    "<a href=\"/request\">Обращение в поддержку</a> › <span aria-current=\"page\">Потеряли "
		    "ссылку?</span></nav>\n<h1>Потеряли ссылку на обращение?</h1>\n"
		    "<p class=\"lead\">Укажите номер партнёра — мы отправим ссылки на его незакрытые обращения на "
		    "почту, указанную в каждом из них. Ссылки приходят только туда: по номеру партнёра никто "
		    "другой обращение не откроет.</p>\n");
	if (error)
		html_printf(
		    b, "<div class=\"error-summary\" role=\"alert\"><p><a href=\"#f-member_id\">%s</a></p></div>\n",
		    error);
	html_printf(b,
		    "<form class=\"request\" action=\"/request/lost\" method=\"post\" novalidate>\n"
		    "<div class=\"field%s\">\n<label for=\"f-member_id\">Номер партнёра (ID)</label>\n"
		    "<input id=\"f-member_id\" name=\"member_id\" type=\"text\" inputmode=\"numeric\" "
		    "autocomplete=\"off\" required value=\"%s\"",
		    error ? " invalid" : "", member_id ? member_id : "");
	control_attrs(c, names[F_MEMBER], false, error);
	html_raw(b, ">\n");
	control_error(c, names[F_MEMBER], error);
	html_raw(b, "</div>\n<p><button type=\"submit\">Прислать ссылки</button></p>\n</form>\n");
	page_end(c);
}

void page_request_lost(struct ctx *c)
{
	lost_form(c, NULL, NULL, 200);
}

void page_request_lost_post(struct ctx *c)
{
	struct arena *a = c->req->arena;
	const struct config *cfg = &c->app->cfg;
	const char *raw = http_field(c->req, "member_id", NULL);
	const char *member = raw && utf8_valid(raw, strlen(raw)) ? str_trim(arena_strdup(a, raw)) : "";
	size_t n = strlen(member);
	bool digits = n > 0;
	for (size_t i = 0; i < n; i++)
		digits &= member[i] >= '0' && member[i] <= '9';
	if (!digits || (int)n < cfg->member_id_min || (int)n > cfg->member_id_max)
		return lost_form(c, member,
				 arena_printf(a, "Номер партнёра — это %d–%d цифр, без букв и пробелов.",
					      cfg->member_id_min, cfg->member_id_max),
				 422);
	/* Counted whether or not the member ID has requests, so the answer tells nothing. */
	if (req_throttle_hit(c->db, arena_printf(a, "lost-ip:%s", http_client_ip(c->req)), 3600, 10))
		return lost_form(c, member, "Слишком много запросов за короткое время. Попробуйте позже.", 429);
	if (!req_throttle_hit(c->db, arena_printf(a, "lost-member:%s", member), 86400, 3) &&
	    req_send_links(c->db, &c->app->req, a, member) < 0)
		return page_error(c, 503, "Не удалось отправить письмо. Попробуйте позже.");
	struct buf *b = &c->resp->body;
	c->resp->cache_control = "no-store";
	page_begin(c, "Проверьте почту", NULL);
	html_printf(b,
		    "<h1>Проверьте почту</h1>\n<div class=\"notice\">\n<p>Если с этим номером партнёра есть "
		    "незакрытые обращения, ссылки на них отправлены на почту, указанную в каждом из них. Письмо "
		    "обычно приходит за несколько минут; проверьте и папку «Спам». Ссылки на один номер партнёра "
		    "мы присылаем не чаще трёх раз в сутки.</p>\n<p>Если в обращении был указан только телефон, "
		    "прислать ссылку мы не можем (SMS мы не отправляем) — свяжитесь с поддержкой: "
		    "<a href=\"mailto:%s\">%s</a>, %s, Telegram %s.</p>\n</div>\n<p><a href=\"/\">На главную</a> · "
		    "<a href=\"/request\">Написать в поддержку</a></p>\n",
		    cfg->support_email, cfg->support_email, cfg->support_phone, cfg->support_telegram);
	page_end(c);
}
