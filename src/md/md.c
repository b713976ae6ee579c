#include "md.h"

#include "../core/arena.h"
#include "../core/buf.h"

#include <cmark-gfm-core-extensions.h>
#include <cmark-gfm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void register_extensions(void)
{
	cmark_gfm_core_extensions_ensure_registered();
}

static const int options = CMARK_OPT_DEFAULT | CMARK_OPT_GITHUB_PRE_LANG;

static cmark_parser *new_parser(void)
{
	pthread_once(&once, register_extensions);
	cmark_parser *p = cmark_parser_new(options);
	static const char *const exts[] = {"table", "autolink", "strikethrough", "tasklist"};
	for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
		cmark_syntax_extension *e = cmark_find_syntax_extension(exts[i]);
		if (e)
			cmark_parser_attach_syntax_extension(p, e);
	}
	return p;
}

/* The text of a heading node, its children's literals joined. */
static bool heading_is(cmark_node *n, const char *text)
{
	if (cmark_node_get_type(n) != CMARK_NODE_HEADING)
		return false;
	cmark_node *c = cmark_node_first_child(n);
	if (!c || cmark_node_next(c) || cmark_node_get_type(c) != CMARK_NODE_TEXT)
		return false;
	const char *lit = cmark_node_get_literal(c);
	return lit && !strcmp(lit, text);
}

/* The plain text of an image's description (its children's literals; line breaks as spaces). */
static void alt_text(cmark_node *img, struct buf *out)
{
	cmark_iter *it = cmark_iter_new(img);
	for (cmark_event_type ev; (ev = cmark_iter_next(it)) != CMARK_EVENT_DONE;) {
		cmark_node *n = cmark_iter_get_node(it);
		if (ev != CMARK_EVENT_ENTER || n == img)
			continue;
		cmark_node_type t = cmark_node_get_type(n);
		if (t == CMARK_NODE_TEXT || t == CMARK_NODE_CODE) { /* raw HTML is dropped, as everywhere */
			const char *lit = cmark_node_get_literal(n);
			buf_adds(out, lit ? lit : "");
		} else if (t == CMARK_NODE_SOFTBREAK || t == CMARK_NODE_LINEBREAK) {
			buf_addc(out, ' ');
		}
	}
	cmark_iter_free(it);
}

/* The uploaded image's name when url is /media/<64 lowercase hex>.<png|jpg|webp>, else NULL. */
static const char *media_name(const char *url)
{
	if (!url || strncmp(url, "/media/", 7) != 0)
		return NULL;
	const char *name = url + 7;
	for (int i = 0; i < 64; i++)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
			return NULL;
	if (name[64] != '.')
		return NULL;
	const char *ext = name + 65;
	return !strcmp(ext, "png") || !strcmp(ext, "jpg") || !strcmp(ext, "webp") ? name : NULL;
}

static bool inside_link(cmark_node *n)
{
	for (n = cmark_node_parent(n); n; n = cmark_node_parent(n))
		if (cmark_node_get_type(n) == CMARK_NODE_LINK)
			return true;
	return false;
}

/* The images of doc that are not inside another image's description (an outer image's alt text
 * includes the inner one), in document order: disjoint subtrees, so each can be replaced or freed
 * without touching the others. The array is the caller's to free. */
static cmark_node **outer_images(cmark_node *doc, size_t *count)
{
	size_t n = 0, cap = 0;
	cmark_node **imgs = NULL;
	cmark_iter *it = cmark_iter_new(doc);
	for (cmark_event_type ev; (ev = cmark_iter_next(it)) != CMARK_EVENT_DONE;) {
		cmark_node *node = cmark_iter_get_node(it);
		if (ev != CMARK_EVENT_ENTER || cmark_node_get_type(node) != CMARK_NODE_IMAGE)
			continue;
		bool nested = false;
		for (cmark_node *p = cmark_node_parent(node); p && !nested; p = cmark_node_parent(p))
			nested = cmark_node_get_type(p) == CMARK_NODE_IMAGE;
		if (nested)
			continue;
		if (n == cap)
			imgs = xrealloc(imgs, (cap = cap ? cap * 2 : 8) * sizeof *imgs);
		imgs[n++] = node;
	}
	cmark_iter_free(it);
	*count = n;
	return imgs;
}

/* Every image of doc replaced by raw HTML made here (a custom inline node): the uploaded ones as
 * <img> with their size, the others as their escaped alt text. */
static void render_images(cmark_node *doc, md_image_size_fn size, void *arg)
{
	size_t n;
	cmark_node **imgs = outer_images(doc, &n);
	for (size_t i = 0; i < n; i++) {
		cmark_node *img = imgs[i];
		struct buf alt, html;
		buf_init(&alt, 1u << 20);
		buf_init(&html, 2u << 20);
		alt_text(img, &alt);
		const char *name = media_name(cmark_node_get_url(img));
		unsigned w = 0, h = 0;
		if (name && size && size(arg, name, &w, &h)) {
			bool link = !inside_link(img);
			const char *title = cmark_node_get_title(img);
			if (link)
				html_printf(&html, "<a class=\"shot\" href=\"/media/%s\">", name);
			html_printf(&html,
				    "<img src=\"/media/%s\" alt=\"%s\" width=\"%u\" height=\"%u\" loading=\"lazy\" "
				    "decoding=\"async\"",
				    name, buf_str(&alt), w, h);
			if (title && *title)
				html_printf(&html, " title=\"%s\"", title);
			html_raw(&html, link ? "></a>" : ">");
		} else {
			html_printf(&html, "%s", buf_str(&alt));
		}
		cmark_node *raw = cmark_node_new(CMARK_NODE_CUSTOM_INLINE);
		cmark_node_set_on_enter(raw, buf_failed(&html) ? "" : buf_str(&html));
		cmark_node_replace(img, raw);
		cmark_node_free(img);
		buf_free(&alt);
		buf_free(&html);
	}
	free(imgs);
}

/* Every image of doc removed (its alt text with it). */
static void drop_images(cmark_node *doc)
{
	size_t n;
	cmark_node **imgs = outer_images(doc, &n);
	for (size_t i = 0; i < n; i++)
		cmark_node_free(imgs[i]); /* unlinks it */
	free(imgs);
}

char *md_to_html(const char *markdown, size_t len)
{
	return md_to_html_images(markdown, len, NULL, NULL);
}

void md_images(const char *markdown, size_t len, void (*each)(void *arg, const char *url, const char *alt), void *arg)
{
	cmark_parser *p = new_parser();
	cmark_parser_feed(p, markdown, len);
	cmark_node *doc = cmark_parser_finish(p);
	cmark_iter *it = cmark_iter_new(doc);
	for (cmark_event_type ev; (ev = cmark_iter_next(it)) != CMARK_EVENT_DONE;) {
		cmark_node *n = cmark_iter_get_node(it);
		if (ev != CMARK_EVENT_ENTER || cmark_node_get_type(n) != CMARK_NODE_IMAGE)
			continue;
		struct buf alt;
		buf_init(&alt, 1u << 20);
		alt_text(n, &alt);
		const char *url = cmark_node_get_url(n);
		each(arg, url ? url : "", buf_str(&alt));
		buf_free(&alt);
	}
	cmark_iter_free(it);
	cmark_node_free(doc);
	cmark_parser_free(p);
}

char *md_to_html_images(const char *markdown, size_t len, md_image_size_fn size, void *arg)
{
	cmark_parser *p = new_parser();
	cmark_parser_feed(p, markdown, len);
	cmark_node *doc = cmark_parser_finish(p);
	render_images(doc, size, arg);
	cmark_llist *exts = cmark_parser_get_syntax_extensions(p);
	struct buf out;
	buf_init(&out, 16u << 20);
	int prepare_level = 0; /* inside a "what to prepare" box opened by a heading of this level */
	for (cmark_node *n = cmark_node_first_child(doc); n; n = cmark_node_next(n)) {
		bool heading = cmark_node_get_type(n) == CMARK_NODE_HEADING;
		int level = heading ? cmark_node_get_heading_level(n) : 0;
		if (prepare_level && heading && level <= prepare_level) {
			html_raw(&out, "</section>\n");
			prepare_level = 0;
		}
		if (heading_is(n, "Что подготовить")) {
			html_raw(&out, "<section class=\"prepare\">\n");
			prepare_level = level;
		}
		char *html = cmark_render_html(n, options, exts);
		html_raw(&out, html);
		free(html);
	}
	if (prepare_level)
		html_raw(&out, "</section>\n");
	cmark_node_free(doc);
	cmark_parser_free(p);
	return buf_steal(&out, NULL);
}

char *md_to_text(const char *markdown, size_t len)
{
	cmark_parser *p = new_parser();
	cmark_parser_feed(p, markdown, len);
	cmark_node *doc = cmark_parser_finish(p);
	drop_images(doc);
	char *text = cmark_render_plaintext(doc, options, 0);
	cmark_node_free(doc);
	cmark_parser_free(p);
	/* cmark allocates with the system allocator by default; copy to keep ownership plain. */
	char *copy = xstrdup(text ? text : "");
	free(text);
	return copy;
}
