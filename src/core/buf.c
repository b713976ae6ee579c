#include "buf.h"

#include "arena.h"
#include "text.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>

void buf_init(struct buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max ? max : BUF_MAX_DEFAULT;
}

void buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	b->err = false;
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	b->err = false;
	if (b->data)
		b->data[0] = '\0';
}

bool buf_failed(const struct buf *b)
{
	return b->err;
}

const char *buf_str(const struct buf *b)
{
	return b->data ? b->data : "";
}

char *buf_steal(struct buf *b, size_t *len)
{
	char *p = b->data ? b->data : xstrdup("");
	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

/* Makes room for n more bytes plus the NUL; false (and the sticky error) past max. */
static bool reserve(struct buf *b, size_t n)
{
	if (b->err)
		return false;
	if (n > b->max - b->len) {
		b->err = true;
		return false;
	}
	size_t need = b->len + n + 1;
	if (need > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < need)
			cap *= 2;
		b->data = xrealloc(b->data, cap);
		b->cap = cap;
	}
	return true;
}

void buf_add(struct buf *b, const void *p, size_t n)
{
	if (!reserve(b, n))
		return;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void buf_addc(struct buf *b, char c)
{
	buf_add(b, &c, 1);
}

void buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0 || !reserve(b, (size_t)n))
		return;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(b, fmt, ap);
	va_end(ap);
}

/* The escaping of html_escape; marks says whether invisible characters become visible marks. */
static void escape(struct buf *b, const char *s, size_t n, bool marks)
{
	size_t start = 0;
	for (size_t i = 0; i < n; i++) {
		const char *rep;
		char mark[32];
		size_t skip = 1;
		switch (s[i]) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&#39;";
			break;
		default: {
			unsigned cp;
			if (!marks || (unsigned char)s[i] < 0xD8 || !(skip = utf8_invisible(s + i, n - i, &cp)))
				continue;
			/* Shown, not obeyed: a visible mark instead of the character. */
			snprintf(mark, sizeof mark, "\u27E8U+%04X\u27E9", cp);
			rep = mark;
		}
		}
		buf_add(b, s + start, i - start);
		buf_adds(b, rep);
		start = i + skip;
		i += skip - 1;
	}
	buf_add(b, s + start, n - start);
}

void html_escape(struct buf *b, const char *s, size_t n)
{
	escape(b, s, n, true);
}

void html_value(struct buf *b, const char *s)
{
	if (s)
		escape(b, s, strlen(s), false);
}

void html_raw(struct buf *b, const char *s)
{
	buf_adds(b, s);
}

void url_encode(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		    *p == '_' || *p == '.' || *p == '~') {
			buf_addc(b, (char)*p);
		} else {
			char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
			buf_add(b, e, 3);
		}
	}
}

/*
 * The conversions html_printf understands are the ones the format attribute lets the compiler
 * check: flags, width and precision (also '*'), the length modifiers hh h l ll z j t, and the
 * conversions d i u x X o c s p f g e %. Only s differs from printf: its text is HTML-escaped.
 */
void html_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	const char *p = fmt;
	while (*p) {
		const char *pct = strchr(p, '%');
		if (!pct) {
			buf_adds(b, p);
			break;
		}
		buf_add(b, p, (size_t)(pct - p));
		const char *q = pct + 1;
		char spec[32];
		size_t sl = 0;
		spec[sl++] = '%';
		int stars[2], nstars = 0, prec = -1;
		while (*q && strchr("-+ #0", *q) && sl < 8)
			spec[sl++] = *q++;
		if (*q == '*') {
			stars[nstars++] = va_arg(ap, int);
			spec[sl++] = *q++;
		} else {
			while (*q >= '0' && *q <= '9' && sl < 16)
				spec[sl++] = *q++;
		}
		if (*q == '.') {
			spec[sl++] = *q++;
			if (*q == '*') {
				prec = va_arg(ap, int);
				stars[nstars++] = prec;
				spec[sl++] = *q++;
			} else {
				prec = 0;
				while (*q >= '0' && *q <= '9' && sl < 24) {
					prec = prec * 10 + (*q - '0');
					spec[sl++] = *q++;
				}
			}
		}
		char len[3] = {0};
		size_t ll = 0;
		while (*q && strchr("hlzjt", *q) && ll < 2) {
			len[ll++] = *q;
			spec[sl++] = *q++;
		}
		char conv = *q ? *q++ : '\0';
		spec[sl++] = conv;
		spec[sl] = '\0';
		p = q;
		char tmp[128];
		int n = 0;
#define FMT1(T)                                                                                                        \
	(nstars == 2   ? snprintf(tmp, sizeof tmp, spec, stars[0], stars[1], va_arg(ap, T))                            \
	 : nstars == 1 ? snprintf(tmp, sizeof tmp, spec, stars[0], va_arg(ap, T))                                      \
		       : snprintf(tmp, sizeof tmp, spec, va_arg(ap, T)))
		switch (conv) {
		case '%':
			buf_addc(b, '%');
			continue;
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (!s)
				s = "";
			size_t n2 = strlen(s);
			if (prec >= 0 && (size_t)prec < n2)
				n2 = (size_t)prec;
			html_escape(b, s, n2);
			continue;
		}
		case 'd':
		case 'i':
		case 'u':
		case 'x':
		case 'X':
		case 'o':
		case 'c':
			if (!strcmp(len, "ll"))
				n = FMT1(long long);
			else if (!strcmp(len, "l"))
				n = FMT1(long);
			else if (!strcmp(len, "z"))
				n = FMT1(size_t);
			else if (!strcmp(len, "j"))
				n = FMT1(intmax_t);
			else if (!strcmp(len, "t"))
				n = FMT1(ptrdiff_t);
			else
				n = FMT1(int);
			break;
		case 'f':
		case 'g':
		case 'e':
		case 'F':
		case 'G':
		case 'E':
			n = FMT1(double);
			break;
		case 'p':
			n = FMT1(void *);
			break;
		default:
			/* Unknown conversion: the compiler's format check keeps these out. */
			continue;
		}
#undef FMT1
		if (n > 0)
			html_escape(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
	}
	va_end(ap);
}
