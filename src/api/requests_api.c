/* The support-request routes of the JSON API: topics and request creation. */
#include "api.h"

#include "../ctx/ctx.h"
#include "../core/arena.h"
#include "../core/text.h"
#include "../req/req.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void api_topics(struct ctx *c)
{
	json_t *arr = json_array();
	for (int i = 0; i < c->app->req.n_topics; i++)
		json_array_append_new(arr, json_pack("{s:s,s:s}", "slug", c->app->req.topics[i].slug, "title",
						     c->app->req.topics[i].title));
	char *s = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	c->resp->status = 200;
	c->resp->content_type = "application/json; charset=utf-8";
	c->resp->cache_control = "no-cache";
	buf_adds(&c->resp->body, s);
	buf_addc(&c->resp->body, '\n');
	free(s);
}

static const char *const fields[] = {"member_id", "name",	  "email",   "phone",	   "country",
				     "topic",	  "order_number", "subject", "description"};
#define N_FIELDS (sizeof fields / sizeof fields[0])

static void send(struct ctx *c, int status, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	buf_reset(&c->resp->body);
	buf_adds(&c->resp->body, s ? s : "{}");
	buf_addc(&c->resp->body, '\n');
	free(s);
	c->resp->status = status;
	c->resp->content_type = "application/json; charset=utf-8";
	c->resp->cache_control = "no-store";
}

static void invalid(struct ctx *c, const struct req_errors *e)
{
	json_t *f = json_object();
	for (int i = 0; i < e->n; i++)
		json_object_set_new(f, e->field[i], json_string(e->message[i]));
	send(c, 422,
	     json_pack("{s:{s:s,s:s,s:o}}", "error", "code", "invalid", "message",
		       "Проверьте поля обращения: в некоторых есть ошибки.", "fields", f));
}

static const char *iso_date(struct arena *a, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	char buf[32];
	strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return arena_strdup(a, buf);
}

bool api_request_input_from_json(struct arena *a, const char *body, size_t len, struct req_input *in,
				 struct req_errors *shape)
{
	const char **v[N_FIELDS] = {&in->member_id, &in->name,	       &in->email,   &in->phone,      &in->country,
				    &in->topic,	    &in->order_number, &in->subject, &in->description};
	json_error_t jerr;
	json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j || !json_is_object(j)) {
		json_decref(j);
		return false;
	}
	for (size_t i = 0; i < N_FIELDS; i++) {
		json_t *f = json_object_get(j, fields[i]);
		if (!f || json_is_null(f))
			continue;
		if (!json_is_string(f)) {
			if (shape->n < REQ_MAX_ERRORS) {
				shape->field[shape->n] = fields[i];
				shape->message[shape->n++] = "Ожидается строка.";
			}
			continue;
		}
		*v[i] = arena_strdup(a, json_string_value(f));
	}
	json_decref(j);
	return true;
}

/* The input from a JSON object or a form; false (answered) when its shape is wrong. */
static bool read_input(struct ctx *c, struct req_input *in)
{
	struct http_request *req = c->req;
	struct req_errors shape = {0};
	if (req->body) { /* JSON */
		if (!api_request_input_from_json(req->arena, req->body, req->body_len, in, &shape)) {
			api_error(c, 400, "bad_json", "Тело запроса должно быть JSON-объектом с полями обращения.");
			return false;
		}
	} else { /* multipart/form-data */
		req_input_from_form(req, in, &shape);
	}
	if (shape.n) {
		invalid(c, &shape);
		return false;
	}
	return true;
}

/* What a duplicate from someone who did not give the request's contact is told. */
static const char *duplicate_message(struct arena *a, const struct req_outcome *out)
{
	const char *head = "С этим номером партнёра уже есть открытое обращение по этому вопросу.";
	switch (out->link_mail) {
	case REQ_LINK_SENT:
		return arena_printf(a, "%s Ссылку на него мы отправили ещё раз на почту, указанную в нём: %s.", head,
				    out->contact_masked);
	case REQ_LINK_RECENT:
		return arena_printf(a,
				    "%s Ссылку на него недавно отправляли на почту, указанную в нём: %s — "
				    "проверьте почту, в том числе папку «Спам».",
				    head, out->contact_masked);
	case REQ_LINK_NO_EMAIL:
		break;
	}
	return arena_printf(a,
			    "%s В нём указан только телефон %s, а SMS мы не отправляем, поэтому переслать "
			    "ссылку не можем. Откройте обращение по ссылке, которую вы сохранили, или "
			    "свяжитесь с поддержкой.",
			    head, out->contact_masked);
}

/* The answer to a creation, whether it was committed inline or by the group committer. */
static void answer_created(struct ctx *c, enum req_result r, const struct req_outcome *out)
{
	struct http_request *req = c->req;
	switch (r) {
	case REQ_CREATED:
	case REQ_SPAM:
	case REQ_REPLAYED:
		c->resp->status = r == REQ_REPLAYED ? out->stored_status : 201;
		c->resp->content_type = "application/json; charset=utf-8";
		c->resp->cache_control = "no-store";
		buf_adds(&c->resp->body, out->stored_json ? out->stored_json : "{}");
		buf_addc(&c->resp->body, '\n');
		return;
	case REQ_DUPLICATE:
		/* Its number, status and date only for the one who gave the request's own contact. */
		if (out->existing_owner)
			return send(c, 409,
				    json_pack("{s:{s:s,s:s,s:{s:s,s:s,s:s}}}", "error", "code", "duplicate", "message",
					      "У вас уже есть открытое обращение по этому вопросу. Добавьте новые "
					      "сведения в него — так ответ придёт быстрее.",
					      "existing", "number", out->existing_number, "status",
					      out->existing_status, "created",
					      iso_date(req->arena, out->existing_created)));
		return send(c, 409,
			    json_pack("{s:{s:s,s:s}}", "error", "code", "duplicate", "message",
				      duplicate_message(req->arena, out)));
	case REQ_MISMATCH:
		return api_error(c, 422, "idempotency_mismatch",
				 "Этот ключ Idempotency-Key уже использован для другого обращения. Для нового "
				 "обращения возьмите новый ключ.");
	case REQ_INVALID:
		return invalid(c, &out->errors);
	case REQ_LIMITED:
		return api_error(c, 429, "rate_limited", out->message);
	case REQ_FAILED:
		return api_error(c, 503, "unavailable", out->message ? out->message : "Попробуйте позже.");
	}
}

/* On the group committer's thread: answer, then let the server send it. */
static void created_later(struct req_create_job *j)
{
	struct ctx *c = j->user;
	answer_created(c, j->result, &j->out);
	c->req->db_statements += j->job.statements; /* the transaction's, for the metrics */
	http_resume(c->req);
}

void api_request_create(struct ctx *c)
{
	struct http_request *req = c->req;
	struct req_create_job *j = arena_alloc(req->arena, sizeof *j);
	*j = (struct req_create_job){.cfg = &c->app->req, .a = req->arena, .finish = created_later};
	struct req_input *in = &j->in;
	in->client_ip = http_client_ip(req);
	const char *key = http_header(req, "Idempotency-Key");
	if (key) {
		size_t n = strlen(key);
		bool ok = n >= 1 && n <= 200;
		for (size_t i = 0; i < n; i++)
			ok &= key[i] > ' ' && key[i] < 0x7f;
		if (!ok)
			return api_error(c, 400, "bad_idempotency_key",
					 "Заголовок Idempotency-Key: от 1 до 200 печатных символов ASCII.");
		in->idempotency_key = arena_printf(req->arena, "api:%s", key);
	}
	in->route = "POST /api/v1/requests";
	if (!read_input(c, in))
		return;
	if (!ctx_create_request(c, j))
		answer_created(c, j->result, &j->out);
}
