/* The line diff of diff.h: common prefix and suffix, then an LCS table of choice bits. */
#include "diff.h"

#include "../core/arena.h"
#include "../core/text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct line {
	const char *p;
	size_t len;
	uint64_t hash;
};

size_t diff_count_lines(const char *s)
{
	size_t n = 0;
	for (const char *p = s; p && *p; n++) {
		const char *nl = strchr(p, '\n');
		p = nl ? nl + 1 : p + strlen(p);
	}
	return n;
}

/* The lines of s into *out (malloc'd), at most max (-1 beyond). */
static long split(const char *s, size_t max, struct line **out)
{
	size_t n = diff_count_lines(s);
	*out = NULL;
	if (n > max)
		return -1;
	struct line *l = malloc((n ? n : 1) * sizeof *l);
	if (!l)
		abort();
	size_t i = 0;
	for (const char *p = s; p && *p; i++) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		l[i] = (struct line){.p = p, .len = len, .hash = hash64(p, len)};
		p += len + (nl ? 1 : 0);
	}
	*out = l;
	return (long)n;
}

static int same(const struct line *x, const struct line *y)
{
	return x->hash == y->hash && x->len == y->len && !memcmp(x->p, y->p, x->len);
}

long diff_lines(struct arena *a, const char *old, const char *new, size_t max_lines, struct diff_line **out)
{
	*out = NULL;
	struct line *x, *y;
	long nx = split(old, max_lines, &x);
	long ny = nx < 0 ? -1 : split(new, max_lines, &y);
	if (nx < 0 || ny < 0) {
		free(x);
		return -1;
	}
	size_t n = (size_t)nx, m = (size_t)ny;
	struct diff_line *d = arena_alloc(a, (n + m ? n + m : 1) * sizeof *d);
	size_t k = 0;
	size_t pre = 0;
	while (pre < n && pre < m && same(&x[pre], &y[pre]))
		pre++;
	size_t suf = 0;
	while (suf < n - pre && suf < m - pre && same(&x[n - 1 - suf], &y[m - 1 - suf]))
		suf++;
	for (size_t i = 0; i < pre; i++)
		d[k++] = (struct diff_line){DIFF_SAME, x[i].p, x[i].len};
	/* The middle: x[pre, n - suf) against y[pre, m - suf). L[i][j] is the LCS of the suffixes
	 * from i and j; bit (i, j) says "drop x[i]" is at least as good as "take y[j]" where the
	 * lines differ. */
	struct line *xs = x + pre, *ys = y + pre;
	size_t r = n - suf - pre, c = m - suf - pre;
	if (r && c) {
		size_t cells = r * c;
		uint8_t *bits = calloc(cells / 8 + 1, 1);
		uint32_t *next = calloc(c + 1, sizeof *next), *cur = calloc(c + 1, sizeof *cur);
		if (!bits || !next || !cur)
			abort();
		for (size_t i = r; i-- > 0;) {
			cur[c] = 0;
			for (size_t j = c; j-- > 0;) {
				if (same(&xs[i], &ys[j])) {
					cur[j] = next[j + 1] + 1;
				} else if (next[j] >= cur[j + 1]) {
					cur[j] = next[j];
					size_t bit = i * c + j;
					bits[bit / 8] |= (uint8_t)(1u << (bit % 8));
				} else {
					cur[j] = cur[j + 1];
				}
			}
			uint32_t *t = next;
			next = cur;
			cur = t;
		}
		size_t i = 0, j = 0;
		while (i < r && j < c) {
			size_t bit = i * c + j;
			if (same(&xs[i], &ys[j])) {
				d[k++] = (struct diff_line){DIFF_SAME, xs[i].p, xs[i].len};
				i++, j++;
			} else if (bits[bit / 8] & (1u << (bit % 8))) {
				d[k++] = (struct diff_line){DIFF_DEL, xs[i].p, xs[i].len};
				i++;
			} else {
				d[k++] = (struct diff_line){DIFF_INS, ys[j].p, ys[j].len};
				j++;
			}
		}
		for (; i < r; i++)
			d[k++] = (struct diff_line){DIFF_DEL, xs[i].p, xs[i].len};
		for (; j < c; j++)
			d[k++] = (struct diff_line){DIFF_INS, ys[j].p, ys[j].len};
		free(bits);
		free(next);
		free(cur);
	} else {
		for (size_t i = 0; i < r; i++)
			d[k++] = (struct diff_line){DIFF_DEL, xs[i].p, xs[i].len};
		for (size_t j = 0; j < c; j++)
			d[k++] = (struct diff_line){DIFF_INS, ys[j].p, ys[j].len};
	}
	for (size_t i = n - suf; i < n; i++)
		d[k++] = (struct diff_line){DIFF_SAME, x[i].p, x[i].len};
	free(x);
	free(y);
	*out = d;
	return (long)k;
}
