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

/* /: the first sections, each with its first [site] home_articles articles and «Все статьи
 * раздела (N)». */
void page_home(struct ctx *c);
void page_section(struct ctx *c);  /* /s/{section}?page=N: one page of its articles */
void page_sections(struct ctx *c); /* /sections?page=N: every section, a page at a time */
void page_article(struct ctx *c);  /* /a/{slug}, ?country=XX shows that country's text */
/* POST /feedback/{slug} (helpful=yes|no, comment): «Была ли статья полезной?» (feedback_page.c) */
void page_article_feedback(struct ctx *c);
/* The feedback form under an article (the same for every reader: the page is cached). */
void page_feedback_form(struct ctx *c, const char *slug);
void page_search(struct ctx *c);	    /* /search?q=&section=&page= */
void page_request(struct ctx *c);	    /* GET /request: the request form */
void page_request_post(struct ctx *c);	    /* POST /request: create, or the form again with errors */
void page_request_solved(struct ctx *c);    /* POST /request/solved: "this solved my question" */
void page_status(struct ctx *c);	    /* GET /r/{token}: the member's private page */
void page_status_post(struct ctx *c);	    /* POST /r/{token}: the member's reply, or a held addition confirmed */
void page_request_lost(struct ctx *c);	    /* GET /request/lost: «Потеряли ссылку?» */
void page_request_lost_post(struct ctx *c); /* POST /request/lost: mail the links, one answer for all */
void page_country(struct ctx *c);	    /* /country?c=XX&back=/path: sets the cookie, 303 back */
void page_not_found(struct ctx *c);
/* «Что подготовить»: the checklist block of an article's "what to prepare" lines (nothing when
 * empty), before its steps; the desk's preview shows the same. */
struct buf;
struct arena;
void page_prepare_block(struct buf *b, struct arena *a, const char *prepare);
void page_media(struct ctx *c); /* GET /media/{name}: an uploaded article image (media_page.c) */
/* A whole error page with status and a Russian message. */
void page_error(struct ctx *c, int status, const char *message);

#endif
