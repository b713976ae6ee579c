/* Private to desk: the page frame and helpers desk.c (the agents' pages) and articles.c (the
 * editors' workspace) share. */
#ifndef SPRAVKA_DESK_INT_H
#define SPRAVKA_DESK_INT_H

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

#endif
