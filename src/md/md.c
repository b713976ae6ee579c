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

char *md_to_html(const char *markdown, size_t len)
{
	cmark_parser *p = new_parser();
	cmark_parser_feed(p, markdown, len);
	cmark_node *doc = cmark_parser_finish(p);
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
	char *text = cmark_render_plaintext(doc, options, 0);
	cmark_node_free(doc);
	cmark_parser_free(p);
	/* cmark allocates with the system allocator by default; copy to keep ownership plain. */
	char *copy = xstrdup(text ? text : "");
	free(text);
	return copy;
}
