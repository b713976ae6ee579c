/*
 * GET /media/{name}: an uploaded article image (src/media), by its name "<sha256>.<ext>". Only
 * images registered in the media table are served, never other contents of the files store
 * (the members' attachments). The bytes never change under a name, so the answer is cached for a
 * year by browsers (immutable) and kept in the page cache, which answers later requests without
 * the database; nosniff and a CSP that allows nothing keep a browser from reading it as anything
 * but an image.
 */
#include "web.h"

#include "../core/buf.h"
#include "../ctx/ctx.h"
#include "../files/files.h"
#include "../http/http.h"
#include "../media/media.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

void page_media(struct ctx *c)
{
	char key[128];
	snprintf(key, sizeof key, "media|%s", c->arg);
	if (http_cache_lookup(c->req, key))
		return;
	struct media_info m;
	int found = media_get(c->db, c->arg, &m);
	if (found < 0)
		return page_error(c, 503, "База данных недоступна. Попробуйте через минуту.");
	if (!found)
		return page_not_found(c);
	struct files_store fs = {.data_dir = c->app->req.data_dir, .in_db = c->app->req.files_in_db};
	int fd = files_open(&fs, c->db, m.hash);
	if (fd < 0)
		return errno == ENOENT ? page_not_found(c) : page_error(c, 503, "Хранилище файлов недоступно.");
	char chunk[65536];
	ssize_t r;
	while ((r = read(fd, chunk, sizeof chunk)) > 0 && c->resp->body.len <= (size_t)m.bytes)
		buf_add(&c->resp->body, chunk, (size_t)r);
	close(fd);
	if (r < 0 || c->resp->body.len != (size_t)m.bytes || buf_failed(&c->resp->body)) {
		buf_reset(&c->resp->body);
		return page_error(c, 503, "Хранилище файлов недоступно.");
	}
	c->resp->status = 200;
	c->resp->content_type = image_mime(m.type);
	c->resp->cache_control = "public, max-age=31536000, immutable";
	c->resp->csp = "default-src 'none'; sandbox";
	c->resp->vary = NULL;
}
