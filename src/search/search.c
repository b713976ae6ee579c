/*
 * The first, simple engine: no inverted index yet, a scan of a few hundred documents with
 * prefix matching. Good for the demo content; the search issue brings the real index.
 */
#include "search.h"

#include "../core/arena.h"
#include "../core/buf.h"
#include "../kb/kb.h"
#include "../md/md.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

enum { F_TITLE, F_KEYWORDS, F_SUMMARY, F_BODY, F_COUNT };
static const double field_weight[F_COUNT] = {6.0, 4.0, 2.0, 1.0};

struct doc {
	char *slug, *country, *section, *title, *summary;
	char *field[F_COUNT]; /* folded words separated by single spaces, with a leading space */
};

struct search_index {
	struct doc *docs;
	int n;
};

size_t search_words(struct arena *a, const char *text, char ***words)
{
	size_t len = strlen(text), cap = 16, n = 0;
	char **v = arena_alloc(a, cap * sizeof *v);
	struct buf w;
	buf_init(&w, 1024);
	const utf8proc_uint8_t *s = (const utf8proc_uint8_t *)text;
	utf8proc_ssize_t i = 0;
	while (true) {
		utf8proc_int32_t cp = -1;
		utf8proc_ssize_t k = (size_t)i < len ? utf8proc_iterate(s + i, (utf8proc_ssize_t)len - i, &cp) : 0;
		bool word_char = false;
		if (k > 0) {
			utf8proc_category_t cat = utf8proc_category(cp);
			word_char = (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
				    (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO) ||
				    (cat >= UTF8PROC_CATEGORY_MN && cat <= UTF8PROC_CATEGORY_ME);
		}
		if (word_char) {
			cp = utf8proc_tolower(cp);
			if (cp == 0x451) /* ё */
				cp = 0x435; /* е */
			utf8proc_uint8_t enc[4];
			utf8proc_ssize_t el = utf8proc_encode_char(cp, enc);
			buf_add(&w, enc, (size_t)el);
		} else if (w.len) {
			if (n == cap) {
				char **bigger = arena_alloc(a, 2 * cap * sizeof *bigger);
				memcpy(bigger, v, cap * sizeof *v);
				v = bigger;
				cap *= 2;
			}
			v[n++] = arena_strdup(a, buf_str(&w));
			buf_reset(&w);
		}
		if (k <= 0)
			break;
		i += k;
	}
	buf_free(&w);
	*words = v;
	return n;
}

const char *search_clean_query(struct arena *a, const char *text)
{
	size_t len = strlen(text);
	char *out = arena_alloc(a, len + 1);
	size_t k = 0, chars = 0;
	bool space = true; /* drops leading spaces and collapses runs */
	for (size_t i = 0; i < len && chars < SEARCH_MAX_QUERY_CHARS;) {
		unsigned char ch = (unsigned char)text[i];
		size_t n = ch < 0x80 ? 1 : ch < 0xE0 ? 2 : ch < 0xF0 ? 3 : 4;
		if (i + n > len)
			break;
		bool ctl = ch < 0x20 || ch == 0x7f || (ch == 0xC2 && (unsigned char)text[i + 1] < 0xA0);
		bool ws = ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
		if (ws) {
			if (!space)
				out[k++] = ' ', chars++;
			space = true;
		} else if (!ctl) {
			memcpy(out + k, text + i, n);
			k += n;
			chars++;
			space = false;
		}
		i += n;
	}
	while (k > 0 && out[k - 1] == ' ')
		k--;
	out[k] = '\0';
	return out;
}

static char *folded_field(const char *text)
{
	struct arena *a = arena_new();
	char **words;
	size_t n = search_words(a, text, &words);
	struct buf b;
	buf_init(&b, 64u << 20);
	for (size_t i = 0; i < n; i++) {
		buf_addc(&b, ' ');
		buf_adds(&b, words[i]);
	}
	buf_addc(&b, ' ');
	arena_free(a);
	return buf_steal(&b, NULL);
}

struct search_index *search_build(const struct kb_text *texts, int n)
{
	struct search_index *ix = xcalloc(1, sizeof *ix);
	ix->docs = xcalloc((size_t)(n > 0 ? n : 1), sizeof *ix->docs);
	for (int i = 0; i < n; i++) {
		const struct kb_text *t = &texts[i];
		struct doc *d = &ix->docs[ix->n++];
		d->slug = xstrdup(t->slug);
		d->country = xstrdup(t->country);
		d->section = xstrdup(t->section);
		d->title = xstrdup(t->title);
		d->summary = xstrdup(t->summary);
		char *plain = md_to_text(t->body ? t->body : "", t->body ? strlen(t->body) : 0);
		d->field[F_TITLE] = folded_field(t->title);
		d->field[F_KEYWORDS] = folded_field(t->keywords);
		d->field[F_SUMMARY] = folded_field(t->summary);
		d->field[F_BODY] = folded_field(plain);
		free(plain);
	}
	return ix;
}

void search_free(struct search_index *ix)
{
	if (!ix)
		return;
	for (int i = 0; i < ix->n; i++) {
		struct doc *d = &ix->docs[i];
		free(d->slug), free(d->country), free(d->section), free(d->title), free(d->summary);
		for (int f = 0; f < F_COUNT; f++)
			free(d->field[f]);
	}
	free(ix->docs);
	free(ix);
}

/* The prefix of a folded word that stands in for its stem: drop 1-2 trailing characters. */
static char *stem_prefix(struct arena *a, const char *w)
{
	size_t chars = 0, len = strlen(w);
	for (size_t i = 0; i < len; i++)
		chars += ((unsigned char)w[i] & 0xC0) != 0x80;
	size_t keep = chars <= 4 ? chars : chars <= 6 ? chars - 1 : chars - 2;
	size_t i = 0, c = 0;
	while (i < len && c < keep) {
		i++;
		while (i < len && ((unsigned char)w[i] & 0xC0) == 0x80)
			i++;
		c++;
	}
	char *p = arena_alloc(a, i + 2);
	p[0] = ' ';
	memcpy(p + 1, w, i);
	return p;
}

static int count_prefix(const char *field, const char *prefix)
{
	int n = 0;
	for (const char *p = strstr(field, prefix); p; p = strstr(p + 1, prefix))
		n++;
	return n;
}

/* Whether the slug has a variant for country (so its general text is not shown there). */
static bool has_variant(const struct search_index *ix, const char *slug, const char *country)
{
	for (int i = 0; i < ix->n; i++)
		if (!strcmp(ix->docs[i].slug, slug) && !strcmp(ix->docs[i].country, country))
			return true;
	return false;
}

static int by_score(const void *x, const void *y)
{
	const struct search_hit *a = x, *b = y;
	if (a->score != b->score)
		return a->score < b->score ? 1 : -1;
	return strcmp(a->slug, b->slug);
}

int search_run(const struct search_index *ix, struct arena *a, const struct search_query *q,
	       struct search_result *out)
{
	memset(out, 0, sizeof *out);
	char **words;
	size_t nw = search_words(a, q->text, &words);
	if (nw == 0)
		return -1;
	if (nw > 32)
		nw = 32;
	char **prefixes = arena_alloc(a, nw * sizeof *prefixes);
	double *idf = arena_alloc(a, nw * sizeof *idf);
	for (size_t k = 0; k < nw; k++) {
		prefixes[k] = stem_prefix(a, words[k]);
		int df = 0;
		for (int i = 0; i < ix->n; i++)
			for (int f = 0; f < F_COUNT; f++)
				if (strstr(ix->docs[i].field[f], prefixes[k])) {
					df++;
					break;
				}
		idf[k] = log(1.0 + (ix->n - df + 0.5) / (df + 0.5));
	}
	struct search_hit *hits = arena_alloc(a, (size_t)(ix->n ? ix->n : 1) * sizeof *hits);
	int nh = 0;
	const char *country = q->country ? q->country : "";
	for (int i = 0; i < ix->n; i++) {
		const struct doc *d = &ix->docs[i];
		if (*d->country ? strcmp(d->country, country) != 0
				: (*country && has_variant(ix, d->slug, country)))
			continue;
		if (q->section && strcmp(q->section, d->section) != 0)
			continue;
		double score = 0;
		size_t matched = 0;
		for (size_t k = 0; k < nw; k++) {
			double s = 0;
			for (int f = 0; f < F_COUNT; f++) {
				int tf = count_prefix(d->field[f], prefixes[k]);
				if (tf)
					s += field_weight[f] * (1.0 + log(tf));
			}
			if (s > 0)
				matched++;
			score += s * idf[k];
		}
		if (score <= 0)
			continue;
		score *= (double)matched / (double)nw;
		hits[nh++] = (struct search_hit){.slug = d->slug, .title = d->title,
						 .section = d->section, .score = score,
						 .snippet_html = d->summary};
	}
	qsort(hits, (size_t)nh, sizeof *hits, by_score);
	out->total = nh;
	int start = q->offset < nh ? q->offset : nh;
	int count = nh - start < q->limit ? nh - start : q->limit;
	out->hits = hits + start;
	out->n = count;
	for (int i = 0; i < count; i++) {
		struct buf b;
		buf_init(&b, 8192);
		html_escape(&b, out->hits[i].snippet_html, strlen(out->hits[i].snippet_html));
		out->hits[i].snippet_html = arena_strdup(a, buf_str(&b));
		out->hits[i].score = round(out->hits[i].score * 1000.0) / 1000.0;
		buf_free(&b);
	}
	return 0;
}
