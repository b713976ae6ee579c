/*
 * web — the portal's HTML pages, server-rendered, in Russian.
 *
 * Each page handler fills ctx->resp with a whole HTML5 document built with html_printf (so every
 * dynamic value is escaped) around one shared layout: header with the search box and the
 * country selector, the page, and a footer with the support contacts. Pages need no JavaScript.
 * Handlers read through kb/ and search/ only; they never talk SQL.
 */
#ifndef SPRAVKA_WEB_H
#define SPRAVKA_WEB_H

struct ctx;

void page_home(struct ctx *c);
void page_section(struct ctx *c);   /* /s/{section} */
void page_article(struct ctx *c);   /* /a/{slug}, ?country=XX shows that country's text */
void page_search(struct ctx *c);    /* /search?q=&section=&page= */
void page_request(struct ctx *c);   /* /request: support contacts (the form comes with requests) */
void page_country(struct ctx *c);   /* /country?c=XX&back=/path: sets the cookie, 303 back */
void page_not_found(struct ctx *c);
/* A whole error page with status and a Russian message. */
void page_error(struct ctx *c, int status, const char *message);

#endif
