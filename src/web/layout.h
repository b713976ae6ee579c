/* layout — the frame shared by all pages (private to web/). */
#ifndef SPRAVKA_LAYOUT_H
#define SPRAVKA_LAYOUT_H

#include "../kb/kb.h"

struct ctx;

/* Opens the document: <head> (with <link rel="prev"/"next"> when c->rel_prev/rel_next are set),
 * the header with the country selector and a search box holding query (may be NULL), and <main>. */
void page_begin(struct ctx *c, const char *title, const char *query);
/* A search form; id is the input's id (unique per page). */
void page_search_form(struct ctx *c, const char *query, const char *id);
/* Closes <main> and adds the footer with the support contacts. */
void page_end(struct ctx *c);
/* Title of the section slug among secs (the slug itself when not found). */
const char *section_title(const struct kb_section *secs, int n, const char *slug);

#endif
