/*
 * The editors' image upload (issue #10): the form under the article editor, GET /desk/media (the
 * same form alone) and POST /desk/media, which checks and stores the image through src/media
 * (type from the content, limits, metadata stripped) and answers the Markdown to insert,
 * `![alt](/media/<sha256>.<ext>)`. Without JavaScript the answer is a page showing that Markdown
 * to copy (the form opens it in a new tab, so the text being edited stays); static/editor.js
 * sends the form itself with reply=markdown and gets the Markdown alone (text/plain, or the
 * error with 422), which it inserts at the cursor of the article's text.
 */
#include "desk.h"
#include "desk_int.h"

#include "../auth/auth.h"
#include "../core/arena.h"
#include "../core/buf.h"
#include "../core/text.h"
#include "../ctx/ctx.h"
#include "../files/files.h"
#include "../http/http.h"
#include "../media/media.h"
#include "../web/web.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ALT_MAX_CHARS 300

/* The upload form; slug (may be "") is the article to go back to; alt and error refill it. */
static void upload_form(struct ctx *c, const char *slug, const char *alt, const char *error, bool new_tab)
{
	struct buf *b = &c->resp->body;
	const struct static_file *js = ctx_static(c->app, "editor.js");
	html_printf(b,
		    "<section class=\"upload\" aria-labelledby=\"upload-title\">\n<h2 id=\"upload-title\">Изображение "
		    "(снимок экрана)</h2>\n<form class=\"request media-upload\" action=\"/desk/media\" method=\"post\" "
		    "enctype=\"multipart/form-data\"");
	/* Without the script the answer opens in a new tab: the text being edited stays. */
	html_raw(b, new_tab ? " target=\"_blank\">\n" : ">\n");
	html_printf(b,
		    "<input type=\"hidden\" name=\"csrf\" value=\"%s\">\n<input type=\"hidden\" name=\"slug\" "
		    "value=\"%s\">\n",
		    c->user->csrf, slug);
	if (error)
		html_printf(b, "<p class=\"error\" role=\"alert\" id=\"upload-error\">%s</p>\n", error);
	html_printf(b,
		    "<div class=\"field\"><label for=\"f-image\">Файл PNG, JPEG или WebP, до %u МБ и %u×%u "
		    "пикселей</label>\n<input id=\"f-image\" type=\"file\" name=\"file\" "
		    "accept=\"image/png,image/jpeg,image/webp\" required></div>\n"
		    "<div class=\"field\"><label for=\"f-alt\">Что на изображении (описание для тех, кто его не "
		    "видит; обязательно)</label>\n<input id=\"f-alt\" name=\"alt\" value=\"%s\" maxlength=\"%d\" "
		    "required></div>\n"
		    "<p><button type=\"submit\">Загрузить и вставить</button></p>\n"
		    "<p class=\"hint\" id=\"upload-status\" role=\"status\"></p>\n</form>\n</section>\n"
		    "<script src=\"/static/editor.js?v=%s\" defer></script>\n",
		    IMAGE_MAX_BYTES >> 20, IMAGE_MAX_SIDE, IMAGE_MAX_SIDE, alt ? alt : "", ALT_MAX_CHARS,
		    js ? js->version : "0");
}

void desk_media_box(struct ctx *c, const char *slug)
{
	upload_form(c, slug, NULL, NULL, true);
}

/* GET /desk/media[?slug=S] */
void desk_media_form(struct ctx *c)
{
	const char *slug = http_param(c->req, "slug");
	if (!slug || !slug_valid(slug))
		slug = "";
	desk_begin(c, "Загрузка изображения");
	html_raw(&c->resp->body, "<h1>Загрузка изображения</h1>\n");
	upload_form(c, slug, NULL, NULL, false);
	desk_end(c);
}

/* The alt text as Markdown image description: ASCII punctuation that Markdown could read
 * escaped, line breaks as spaces. */
static const char *alt_markdown(struct arena *a, const char *alt)
{
	struct buf b;
	buf_init(&b, 8 * ALT_MAX_CHARS + 16);
	for (const char *p = alt; *p; p++) {
		if (*p == '\r' || *p == '\n' || *p == '\t')
			buf_addc(&b, ' ');
		else {
			if (strchr("\\[]()*_`<>!&#~|", *p))
				buf_addc(&b, '\\');
			buf_addc(&b, *p);
		}
	}
	const char *r = arena_strdup(a, buf_str(&b));
	buf_free(&b);
	return r;
}

/* Whether alt has a control character other than tab and line ends. */
static bool has_control(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r') || *p == 0x7f)
			return true;
	return false;
}

/* A refusal: the page with the form again (422), or the message alone for the script. */
static void refuse(struct ctx *c, int status, bool plain, const char *slug, const char *alt, const char *message)
{
	c->resp->status = status;
	if (plain) {
		c->resp->content_type = "text/plain; charset=utf-8";
		c->resp->cache_control = "no-store";
		buf_adds(&c->resp->body, message);
		return;
	}
	desk_begin(c, "Загрузка изображения");
	html_raw(&c->resp->body, "<h1>Загрузка изображения</h1>\n");
	upload_form(c, slug, alt, message, false);
	desk_end(c);
}

/* The upload's bytes (at most max + 1 are read: more is "too large"), malloc'd, or NULL. */
static unsigned char *read_upload(const struct http_file *f, size_t max, size_t *len)
{
	int fd = open(f->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	size_t cap = f->size < max ? f->size + 1 : max + 1, n = 0;
	unsigned char *p = malloc(cap ? cap : 1);
	ssize_t r = 0;
	while (p && n < cap && (r = read(fd, p + n, cap - n)) > 0)
		n += (size_t)r;
	close(fd);
	if (!p || r < 0) {
		free(p);
		return NULL;
	}
	*len = n;
	return p;
}

/* POST /desk/media: file, alt, slug (to go back to), reply=markdown (the script's). */
void desk_media_upload(struct ctx *c)
{
	struct arena *a = c->req->arena;
	const char *reply = http_field(c->req, "reply", NULL);
	bool plain = reply && !strcmp(reply, "markdown");
	const char *slug = http_field(c->req, "slug", NULL);
	if (!slug || !slug_valid(slug))
		slug = "";
	const char *alt_in = http_field(c->req, "alt", NULL);
	char *alt = arena_strdup(a, alt_in ? alt_in : "");
	str_trim(alt);
	const struct http_file *f = NULL;
	for (int i = 0; i < c->req->n_files && !f; i++)
		if (!strcmp(c->req->files[i].field, "file"))
			f = &c->req->files[i];
	if (!f || (!f->size && !*f->filename))
		return refuse(c, 422, plain, slug, alt, "Выберите файл изображения: PNG, JPEG или WebP.");
	if (!*alt)
		return refuse(c, 422, plain, slug, alt,
			      "Напишите, что на изображении: это описание прочтут те, кто не видит снимок, и оно "
			      "обязательно.");
	if (utf8_length(alt) > ALT_MAX_CHARS || has_control(alt))
		return refuse(c, 422, plain, slug, alt,
			      arena_printf(a, "Описание изображения: не больше %d знаков, без управляющих символов.",
					   ALT_MAX_CHARS));
	size_t len = 0;
	unsigned char *data = read_upload(f, IMAGE_MAX_BYTES, &len);
	if (!data)
		return refuse(c, 503, plain, slug, alt, "Не удалось прочитать загруженный файл. Попробуйте ещё раз.");
	struct files_store fs = {.data_dir = c->app->req.data_dir, .in_db = c->app->req.files_in_db};
	struct media_info m;
	char err[512];
	int r = media_add(c->db, &fs, data, len, c->user->id, &m, err, sizeof err);
	free(data);
	if (r < 0) {
		fprintf(stderr, "spravka: image upload: %s\n", err);
		return refuse(c, 503, plain, slug, alt, "Не удалось сохранить изображение. Попробуйте через минуту.");
	}
	if (r == 0)
		return refuse(c, 422, plain, slug, alt, err);
	const char *md = arena_printf(a, "![%s](/media/%s)", alt_markdown(a, alt), m.name);
	c->resp->status = 200;
	if (plain) {
		c->resp->content_type = "text/plain; charset=utf-8";
		c->resp->cache_control = "no-store";
		buf_adds(&c->resp->body, md);
		return;
	}
	struct buf *b = &c->resp->body;
	desk_begin(c, "Изображение загружено");
	html_printf(b,
		    "<h1>Изображение загружено</h1>\n<p class=\"notice\" role=\"status\">Скопируйте эту строку в "
		    "текст статьи, туда, где должно быть изображение (%u×%u пикселей, %lld байт, метаданные "
		    "удалены):</p>\n<div class=\"field\"><label for=\"f-markdown\">Markdown</label>\n"
		    "<input id=\"f-markdown\" class=\"markdown\" value=\"%s\" readonly></div>\n"
		    "<p><img class=\"uploaded\" src=\"/media/%s\" alt=\"%s\" width=\"%u\" height=\"%u\"></p>\n",
		    m.width, m.height, (long long)m.bytes, md, m.name, alt, m.width, m.height);
	if (*slug)
		html_printf(b, "<p><a href=\"/desk/articles/%s/edit\">Вернуться к правке статьи</a></p>\n", slug);
	upload_form(c, slug, NULL, NULL, false);
	desk_end(c);
}
