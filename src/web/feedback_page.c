/*
 * «Была ли статья полезной?»: the form under every article and POST /feedback/{slug}.
 *
 * The article page is cached, so its form carries nothing of the reader. The browser is known by
 * a random id in the cookie FEEDBACK_COOKIE, set on the answer to its first vote; the vote is
 * stored under a keyed hash of that id (the key is the `secrets` row "feedback", the same on
 * every node), never under an address. The route is /feedback/{slug}, not under /a/, so that the
 * cookie (Path=/feedback/) never travels with the article pages. The answer is a small page (never cached): thanks, and
 * after «Нет» the optional comment «Чего не хватило?», posted to the same route.
 */
#include "web.h"

#include "../ctx/ctx.h"
#include "../core/arena.h"
#include "../core/buf.h"
#include "../core/text.h"
#include "../kb/kb.h"
#include "../req/req.h"
#include "layout.h"

#include <sodium.h>
#include <string.h>
#include <time.h>

#define FEEDBACK_COOKIE "feedback_id"
#define FEEDBACK_NEW_VOTERS_PER_HOUR 60 /* votes without the cookie from one address */
#define FEEDBACK_ID_BYTES 16

void page_feedback_form(struct ctx *c, const char *slug)
{
	html_printf(&c->resp->body,
		    "<section class=\"feedback\" aria-labelledby=\"feedback-title\">\n"
		    "<h2 id=\"feedback-title\">Была ли статья полезной?</h2>\n"
		    "<form method=\"post\" action=\"/feedback/%s\">\n"
		    "<button type=\"submit\" name=\"helpful\" value=\"yes\">Да</button>\n"
		    "<button type=\"submit\" name=\"helpful\" value=\"no\">Нет</button>\n"
		    "</form>\n</section>\n",
		    slug);
}

/* The browser's id from its cookie (32 hex digits), or a new one (*fresh set). */
static const char *browser_id(struct ctx *c, bool *fresh)
{
	const char *id = http_cookie(c->req, FEEDBACK_COOKIE);
	*fresh = false;
	if (id && strlen(id) == FEEDBACK_ID_BYTES * 2 && strspn(id, "0123456789abcdef") == FEEDBACK_ID_BYTES * 2)
		return id;
	unsigned char raw[FEEDBACK_ID_BYTES];
	randombytes_buf(raw, sizeof raw);
	char *hex = arena_alloc(c->req->arena, sizeof raw * 2 + 1);
	sodium_bin2hex(hex, sizeof raw * 2 + 1, raw, sizeof raw);
	*fresh = true;
	return hex;
}

/* The voter key of a browser id: BLAKE2b-128 keyed with the shared "feedback" key, in hex. */
static const char *voter_of(struct ctx *c, const char *id)
{
	unsigned char key[32], h[16];
	if (!req_shared_key(c->db, "feedback", key))
		return NULL;
	crypto_generichash(h, sizeof h, (const unsigned char *)id, strlen(id), key, sizeof key);
	sodium_memzero(key, sizeof key);
	char *hex = arena_alloc(c->req->arena, sizeof h * 2 + 1);
	sodium_bin2hex(hex, sizeof h * 2 + 1, h, sizeof h);
	return hex;
}

/* The comment form after «Нет» (comment: the text to keep, error: why it was refused). */
static void comment_form(struct ctx *c, const char *slug, const char *comment, const char *error)
{
	struct buf *b = &c->resp->body;
	html_printf(b,
		    "<form method=\"post\" action=\"/feedback/%s\">\n"
		    "<input type=\"hidden\" name=\"helpful\" value=\"no\">\n<div class=\"field%s\">\n"
		    "<label for=\"feedback-comment\">Чего не хватило?</label>\n"
		    "<p class=\"hint\" id=\"feedback-hint\">Необязательно, до %d символов. Не пишите сюда личные "
		    "данные: на вопросы по вашему аккаунту ответит поддержка.</p>\n",
		    slug, error ? " invalid" : "", KB_FEEDBACK_COMMENT_MAX);
	if (error)
		html_printf(b, "<p class=\"error\" id=\"feedback-error\">%s</p>\n", error);
	html_raw(b, error ? "<textarea id=\"feedback-comment\" name=\"comment\" rows=\"4\" maxlength=\"500\" "
			    "aria-describedby=\"feedback-hint feedback-error\" aria-invalid=\"true\">"
			  : "<textarea id=\"feedback-comment\" name=\"comment\" rows=\"4\" maxlength=\"500\" "
			    "aria-describedby=\"feedback-hint\">");
	html_printf(b, "%s</textarea>\n</div>\n<p><button type=\"submit\">Отправить</button></p>\n</form>\n",
		    comment ? comment : "");
}

void page_article_feedback(struct ctx *c)
{
	struct arena *a = c->req->arena;
	const char *slug = c->arg;
	const char *title = slug_valid(slug) ? kb_title(c->db, a, slug) : NULL;
	if (!title)
		return page_not_found(c);
	const char *value = http_field(c->req, "helpful", NULL);
	bool yes = value && !strcmp(value, "yes");
	if (!yes && !(value && !strcmp(value, "no")))
		return page_error(c, 400,
				  "Не удалось принять отзыв: выберите «Да» или «Нет» под статьёй и отправьте "
				  "форму ещё раз.");
	const char *comment = yes ? NULL : http_field(c->req, "comment", NULL);
	if (comment && !utf8_valid(comment, strlen(comment)))
		return page_error(c, 400, "Комментарий не удалось прочитать: в нём недопустимые символы.");
	comment = comment ? str_trim(arena_strdup(a, comment)) : NULL;
	struct buf *b = &c->resp->body;
	c->resp->cache_control = "no-store";
	const char *back = arena_printf(a, "/a/%s", slug);
	if (comment && utf8_length(comment) > KB_FEEDBACK_COMMENT_MAX) {
		page_begin(c, "Отзыв о статье", NULL);
		html_printf(b, "<h1>Отзыв о статье «%s»</h1>\n", title);
		comment_form(c, slug, comment,
			     arena_printf(a,
					  "Комментарий длиннее %d символов (сейчас %zu). Сократите его и отправьте "
					  "ещё раз.",
					  KB_FEEDBACK_COMMENT_MAX, utf8_length(comment)));
		html_printf(b, "<p><a href=\"%s\">Вернуться к статье</a></p>\n", back);
		page_end(c);
		c->resp->status = 400;
		return;
	}
	bool fresh;
	const char *id = browser_id(c, &fresh);
	/* A browser without the cookie is a new voter: an address may bring a household's or an
	 * office's, not the hundreds of someone dropping the cookie to vote again. */
	if (fresh && req_throttle_hit(c->db, arena_printf(a, "feedback-voter:%s", http_client_ip(c->req)), 3600,
				      FEEDBACK_NEW_VOTERS_PER_HOUR))
		return page_error(c, 429,
				  "Слишком много отзывов с вашего адреса за час. Спасибо за участие, попробуйте "
				  "позже.");
	const char *voter = voter_of(c, id);
	if (!voter || !kb_feedback_vote(c->db, slug, voter, yes, comment, (int64_t)time(NULL)))
		return page_error(c, 503, "Не удалось сохранить отзыв. Попробуйте ещё раз через минуту.");
	if (fresh)
		c->resp->set_cookie =
		    arena_printf(a, FEEDBACK_COOKIE "=%s; Path=/feedback/; Max-Age=31536000; SameSite=Lax; HttpOnly%s",
				 id, c->app->cfg.secure_cookies ? "; Secure" : "");
	c->resp->status = 200;
	page_begin(c, "Спасибо за отзыв", NULL);
	html_raw(b, "<h1>Спасибо за отзыв!</h1>\n");
	if (yes)
		html_printf(b, "<p class=\"lead\">Рады, что статья «%s» помогла.</p>\n", title);
	else if (comment && *comment)
		html_raw(b, "<p class=\"lead\">Ваш комментарий получен: редакторы учтут его, когда будут "
			    "дополнять статью.</p>\n");
	else {
		html_printf(b,
			    "<p class=\"lead\">Жаль, что статья «%s» не помогла. Расскажите, чего не "
			    "хватило — так мы быстрее её улучшим.</p>\n",
			    title);
		comment_form(c, slug, NULL, NULL);
	}
	html_printf(b, "<p><a href=\"%s\">Вернуться к статье</a> · <a href=\"/request\">Написать в поддержку</a></p>\n",
		    back);
	page_end(c);
}
