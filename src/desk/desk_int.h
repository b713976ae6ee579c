/* Private to desk: the page frame and helpers desk.c (the agents' pages) and articles.c (the
 * editors' workspace) share. */
#ifndef SPRAVKA_DESK_INT_H
#define SPRAVKA_DESK_INT_H

#include <stdbool.h>
#include <stdint.h>

struct arena;
struct ctx;

/* The desk's page head (title escaped; the navigation by the user's roles) and end. */
void desk_begin(struct ctx *c, const char *title);
void desk_end(struct ctx *c);
/* "YYYY-MM-DD HH:MM UTC" of a unix time (arena). */
const char *desk_when(struct arena *a, int64_t t);
/* 303 to a desk path. */
void desk_redirect(struct ctx *c, const char *to);
/* The image upload form shown under the article editor of slug (media.c). */
void desk_media_box(struct ctx *c, const char *slug);

/* The editors' workspace's parts that articles.c's pages use (workspace.c). */
struct kb_revision;
struct kb_text;
#include "../kb/kb.h"
/* The check of a text with the configured countries (new_variant: it adds a country's variant). */
struct kb_check desk_kb_check(struct ctx *c, bool new_variant);
/* At the top of /desk/articles: the signed-in editor's stale articles and returned drafts. */
void desk_workspace_home(struct ctx *c);
/* The notice of ?done=returned|removal|renamed|archived. */
void desk_workspace_notice(struct ctx *c, const char *done);
/* The form that sends revision r (in review) back with a comment (refilled with comment and
 * error when not NULL). */
void desk_reject_form(struct ctx *c, const struct kb_revision *r, const char *comment, const char *error);
/* The article's texts (general and variants) with their state, edit and remove, and the form to
 * add a country's variant; r: its revisions, newest first, n > 0. */
void desk_texts_block(struct ctx *c, const struct kb_revision *r, int n);
/* The form to pick two revisions to compare. */
void desk_compare_form(struct ctx *c, int64_t from, int64_t to);
/* POST /desk/articles/{slug}: do=reject and do=remove_variant. */
void desk_article_reject(struct ctx *c);
void desk_variant_remove(struct ctx *c);
/* The preview of t with its body rendered (body_html): the button's and the live one's. */
void desk_preview_fragment(struct ctx *c, const struct kb_text *t, const char *body_html);
/* The script of the live preview (static/preview.js). */
void desk_editor_script(struct ctx *c);

#endif
