/*
 * buf — a growable byte buffer with a hard cap and a sticky error, and the one HTML formatter.
 *
 * Every buffer has a maximum size given at init. An append that would pass it appends nothing,
 * sets the sticky error and every later append is ignored; the caller checks buf_failed() once,
 * at the end. The data is always NUL-terminated (the NUL is not counted in len).
 *
 * HTML output goes through html_printf(), whose %s conversion HTML-escapes its argument. Trusted
 * HTML (sanitized Markdown output, HTML built by html_printf itself) is added only with
 * html_raw(), which is easy to grep for. Plain buf_printf() does not escape and must never be
 * used for HTML.
 */
#ifndef SPRAVKA_BUF_H
#define SPRAVKA_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct buf {
	char *data; /* malloc'd; NULL until the first append */
	size_t len; /* bytes used, without the terminating NUL */
	size_t cap; /* bytes allocated */
	size_t max; /* the cap on len */
	bool err;   /* sticky: an append went past max */
};

#define BUF_MAX_DEFAULT (4u << 20) /* 4 MiB */

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
bool buf_failed(const struct buf *b);
/* The contents ("" when empty); valid until the next append. */
const char *buf_str(const struct buf *b);
/* Hands the malloc'd data (NUL-terminated) to the caller and resets b; *len gets its length. */
char *buf_steal(struct buf *b, size_t *len);

void buf_add(struct buf *b, const void *p, size_t n);
void buf_adds(struct buf *b, const char *s);
void buf_addc(struct buf *b, char c);
/* printf without any escaping: for logs, headers, plain text. Never for HTML. */
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);

/* printf for HTML: %s (and %.*s) HTML-escape their argument; numbers are printed as printf does. */
void html_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as trusted HTML, unescaped. Only for HTML this program produced or sanitized. */
void html_raw(struct buf *b, const char *s);
/*
 * Appends n bytes of s HTML-escaped (& < > " '). Invisible characters that could reorder or
 * disguise what a reader sees — bidi marks, embeddings, overrides and isolates (U+061C,
 * U+200E/F, U+202A..E, U+2066..9) and zero-width ones (U+180E, U+200B..D, U+2060..4, U+FEFF) —
 * are shown as a visible mark instead, e.g. "⟨U+202E⟩", so every page that prints text with
 * html_printf's %s shows it as typed but cannot be rearranged by it. The stored text is unchanged.
 */
void html_escape(struct buf *b, const char *s, size_t n);
/*
 * Appends s (NULL: nothing) HTML-escaped like html_escape but with invisible characters kept as
 * they are: only for the value of a form control that gives a person back what they typed
 * (value="...", a <textarea>), so that sending the form again sends the same text. Never for
 * text shown to someone else.
 */
void html_value(struct buf *b, const char *s);
/* Appends s percent-encoded for a URL query value or path segment (RFC 3986 unreserved kept). */
void url_encode(struct buf *b, const char *s);

#endif
