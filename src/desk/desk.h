/*
 * desk — the agents' pages: login, the queue with filters (status, topic, country, assignee, age;
 * a request number opens the request, a member ID lists that member's requests) and the counts
 * per status, a page at a time by keyset (?after=UPDATED.ID, rel="next"; the outbox by
 * ?before=ID), so that a page costs the same at any depth and any number of requests; a request with its
 * conversation, attachments and audit log, and the actions (public reply, internal note, canned
 * replies, assign, status, merge — only one member's requests, shown for confirmation first and
 * done by a second POST), plus the outbox when mail stays there. A refused action answers 422
 * with the reason inside the desk and a link back to the request.
 *
 * Every desk route is in the route table with its role and CSRF flag; the dispatcher has already
 * checked both when a handler here runs (ctx->user is set). The handlers run on the back-office
 * threads with the back office's connections (app.h), never on an HTTP thread, so they may be
 * slow without holding up members' pages; they must not suspend the request themselves. The desk
 * runs no SQL: it reads through req/ (the queue, a request, its audit log, canned replies, an
 * attachment), mail/ (the outbox page) and auth/ (agents), and changes go through req/ (one
 * transaction each, with the audit row and the member's mail).
 */
#ifndef SPRAVKA_DESK_H
#define SPRAVKA_DESK_H

#include <stdbool.h>

struct ctx;
struct arena;

void desk_login_form(struct ctx *c); /* GET /desk/login */
void desk_login(struct ctx *c);	     /* POST /desk/login */
void desk_logout(struct ctx *c);     /* POST /desk/logout */
void desk_queue(struct ctx *c);	     /* GET /desk */
void desk_request(struct ctx *c);    /* GET /desk/r/{number} */
void desk_action(struct ctx *c);     /* POST /desk/r/{number} */
void desk_file(struct ctx *c);	     /* GET /desk/f/{id}: an attachment */
void desk_canned(struct ctx *c);     /* GET /desk/canned */
void desk_canned_add(struct ctx *c); /* POST /desk/canned */
void desk_outbox(struct ctx *c);     /* GET /desk/outbox */
/* The editors' workspace (articles.c; role editor): work in progress, an article's history and
 * actions, the editing form with preview and save (kb/ revisions). */
void desk_articles(struct ctx *c);	 /* GET /desk/articles */
void desk_article(struct ctx *c);	 /* GET /desk/articles/{slug} */
void desk_article_action(struct ctx *c); /* POST /desk/articles/{slug}: submit, publish */
void desk_article_edit(struct ctx *c);	 /* GET /desk/articles/{slug}/edit */
void desk_article_save(struct ctx *c);	 /* POST /desk/articles/{slug}/edit: preview, save */
/* Insights and content gaps (insights.c; role editor): the reports of the last 7/30/90 days
 * (?days=, 30 by default) as tables with inline SVG bar charts, each table as CSV
 * (/desk/insights/{table}.csv), and the failed searches with the articles opened next or ranked
 * nearest and the one-step fixes (keywords, synonyms). */
void desk_insights(struct ctx *c);     /* GET /desk/insights */
void desk_insights_csv(struct ctx *c); /* GET /desk/insights/{table}.csv */
void desk_gaps(struct ctx *c);	       /* GET /desk/gaps */
void desk_gaps_action(struct ctx *c);  /* POST /desk/gaps: do=keywords|synonyms */
/* Sections (sections.c; role editor): create, rename, describe, reorder, delete when empty; the
 * order of a section's articles and their moves to another section (kb/ sections.c). */
void desk_sections(struct ctx *c);	 /* GET /desk/sections */
void desk_section_create(struct ctx *c); /* POST /desk/sections */
void desk_section(struct ctx *c);	 /* GET /desk/sections/{slug} */
void desk_section_action(struct ctx *c); /* POST /desk/sections/{slug} */
/* workspace.c: variants, review, archive and rename, the diff, the live preview, stale content. */
void desk_article_preview(struct ctx *c);      /* POST /desk/articles/{slug}/preview: an HTML fragment */
void desk_article_diff(struct ctx *c);	       /* GET /desk/articles/{slug}/diff?from=N&to=M */
void desk_article_archive_form(struct ctx *c); /* GET /desk/articles/{slug}/archive: confirmation */
void desk_article_archive(struct ctx *c);      /* POST /desk/articles/{slug}/archive */
void desk_article_rename_form(struct ctx *c);  /* GET /desk/articles/{slug}/rename */
void desk_article_rename(struct ctx *c);       /* POST /desk/articles/{slug}/rename */
void desk_stale(struct ctx *c);		       /* GET /desk/stale */
/* The article images (media.c; role editor): the upload form alone, and the upload, which answers
 * the Markdown to insert (a page, or text/plain for static/editor.js with reply=markdown). */
void desk_media_form(struct ctx *c);   /* GET /desk/media[?slug=S] */
void desk_media_upload(struct ctx *c); /* POST /desk/media (multipart: file, alt, slug, csrf) */

/*
 * Every query of the desk's pages and of the maintenance work whose plan matters as the
 * requests grow (desk/plans.c): its name, SQL, and, when its plan may scan a table or sort
 * with a temporary B-tree, why that is bounded. desk_plans fills *out (arena) and returns the
 * count. desk_explain writes the EXPLAIN QUERY PLAN of each as Markdown (`spravka explain`);
 * desk_plan_problem tells what is wrong with a plan ("" when nothing).
 */
struct desk_plan {
	const char *name, *sql;
	const char *bounded; /* NULL: no SCAN of a table and no temporary B-tree allowed */
	const char *index;   /* the index the plan must use, or NULL */
};
int desk_plans(struct arena *a, struct desk_plan **out);
struct db;
/* The plan's lines joined by " | ", or NULL with the database's error. */
const char *desk_plan_text(struct db *db, struct arena *a, const char *sql);
const char *desk_plan_problem(const struct desk_plan *p, const char *plan);
#include <stdio.h>
/* Writes the plans as Markdown to out; returns how many have a problem (-1 on error). */
int desk_explain(struct db *db, FILE *out);

#endif
