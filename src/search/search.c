/*
 * The search engine: index build and update, query rewriting, BM25F ranking, snippets. See
 * search.h.
 *
 * Layout of the index (all arrays, no per-term allocations):
 *   words      distinct normalized surface words: their stem's term, document frequency, length
 *   terms      distinct stems: a slice of the postings array
 *   postings   per term, sorted by document: the text and BM25F's weighted term frequency
 *              (negative for a title or keyword hit; 8 bytes), computed from the words of every
 *              text by each build and update, with the texts' field weights (each field's
 *              weight over its length normalisation), which are needed only meanwhile
 *   docs       per text: slug, title, section (for hits), field lengths, its words (below), and
 *              its snippet data compressed (textstore.h): summary, body, their tokens' offsets
 *   deletes    the deletion dictionary for typos: hash of (word with one character removed) ->
 *              words, bucketed by hash; a query word's deletions meet the dictionary's
 *   sorted     live word ids in byte order, for prefix matching and word families
 *
 * Tokens of a document, kept at index time: per field, a byte string of varints, one entry per
 * token in text order: (word id << 1 | joined), for the joined form of a compound then how many
 * positions back its first part stands. Proximity reads positions from it and an update
 * re-indexes from it. For the summary and the body, the offsets of the plain tokens (the gap from
 * the previous token's end to its start, its length in bytes: two varints) are in the compressed
 * snippet data, beside the texts they point into: a snippet decompresses its text and marks hits
 * from words and offsets (no analysis per query).
 *
 * Words and terms are only ever added (an update copies them and appends): a word no live text
 * has (document frequency 0) and a term with no live word are invisible to queries, so an
 * updated index answers exactly as one built afresh from the same texts.
 */
#include "search.h"

#include "../core/arena.h"
#include "../core/buf.h"
#include "../core/text.h"
#include "analyze.h"
#include "rewrite.h"
#include "textstore.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

enum { F_TITLE, F_KEYWORDS, F_SUMMARY, F_BODY, F_COUNT };

/* Tuned on the demo queries (tests/search/queries.tsv) and the bench data sets; see
 * docs/search.md. */
static const float field_weight[F_COUNT] = {2.6f, 2.2f, 1.4f, 1.0f};
static const float field_b[F_COUNT] = {0.4f, 0.4f, 0.5f, 0.35f};
/* Share of the score that does not depend on how many of the query's words a document has. */
#define COORD 0.5f
#define K1 1.5f
#define FIELD_GAP 100000u
#define MAX_QWORDS 24 /* at most 24: struct acc keeps a count in its masks' top byte */
#define MAX_ALTS 12
#define W_TYPO1 0.75f
#define W_TYPO2 0.55f
#define W_SYNONYM 0.6f
#define W_PREFIX 0.7f
#define W_JOINED 0.9f
#define W_FAMILY 0.6f
#define FAMILY_MIN_CHARS 5

struct doc {
	char *slug, *title, *section;
	uint8_t *tok;		   /* the fields' words, one after the other (see the top) */
	uint8_t *cold;		   /* the snippet data, compressed (struct cold) */
	uint32_t tok_len[F_COUNT]; /* bytes of each field's words */
	uint32_t cold_len;
	uint32_t len[F_COUNT]; /* words of each field */
	uint32_t slug_id, section_id;
	int16_t country; /* -1 general, else index into countries */
	float boost;
};

/* Per text: each field's weight over its BM25F length normalisation. */
struct weights {
	float f[F_COUNT];
};

/* wtf: BM25F's tf, the sum over the fields of tf (saturating at 255) times the text's weight of
 * the field; negative when the term is in the text's title or keywords. */
struct posting {
	uint32_t doc;
	float wtf;
};

struct term {
	uint32_t str, post_start, post_count;
	uint32_t live; /* a word some text has stems to it */
};

struct word {
	uint32_t str, term, df;
	uint8_t stop, chars, has_digit;
	uint8_t in_base; /* in the index's base lexicon (else in its extra one when live) */
};

/*
 * Word ids in byte order (prefixes, word families) and the deletion dictionary (typos) over a
 * set of words. An index has a base lexicon, made by a build and shared (reference counted) by
 * the indexes updated from it, and its own small extra lexicon of the live words the base lacks.
 * Queries read both and skip dead words (document frequency 0).
 */
struct lexicon {
	uint32_t *sorted;
	uint32_t n_sorted;
	uint32_t del_mask;
	uint32_t *del_start; /* del_mask + 2 offsets into del_word/del_hash */
	uint32_t *del_hash;  /* the upper half of the deletion's hash (the lower picks the bucket) */
	uint32_t *del_word;
	size_t bytes;
	int refs;
};

/* Open addressing: ids + 1 (0 = empty), keyed by a string in the pool. */
struct strmap {
	uint32_t *ids;
	uint64_t *hashes;
	uint32_t cap, count;
};

struct search_index {
	struct doc *docs;
	int n_docs;
	/* What a query's loop over the postings reads besides them, packed so that it stays in the
	 * cache: who sees a text, as bit sets of the texts (vis_words uint64 each): [0] a reader
	 * without a country's variants (the general texts), [1 + c] a reader in country c (c's
	 * variants and the general texts of the articles without one); the texts' score multipliers
	 * (boosted: some is not 1). */
	uint64_t *vis;
	size_t vis_words;
	float *boost;
	bool boosted;
	struct textstore *store; /* the docs' snippet data's dictionary (shared by updates) */
	/* Per word: its term, or UINT32_MAX for a stop word (the proximity scan's lookup). */
	uint32_t *word_term;
	uint8_t *moved; /* per doc: its strings and tokens now belong to a newer index (update) */
	char *pool;
	size_t pool_len, pool_cap;
	struct term *terms;
	uint32_t n_terms, cap_terms;
	struct strmap term_map;
	struct word *words;
	uint32_t n_words, cap_words;
	struct strmap word_map;
	struct posting *postings;
	uint32_t n_postings;
	struct lexicon *base, *extra;
	uint32_t n_live; /* words some text has */
	/* countries of variants, per-slug bit sets of them, sections */
	char countries[64][3];
	int n_countries;
	uint64_t *slug_variants;
	uint32_t n_slugs;
	char **sections;
	uint32_t n_sections;
	char *synonyms; /* the text, kept for updates */
	/* synonyms: (stem hash, group) pairs sorted by hash; a group is a slice of group_terms,
	 * the terms of its members that the index has (a query word need not be one of them) */
	struct syn_pair {
		uint64_t hash;
		uint32_t group;
	} * syn_pairs;
	uint32_t n_syn_pairs;
	uint32_t *group_start, *group_terms;
	uint32_t n_groups;
	float avglen[F_COUNT];
	size_t bytes;
};

/* ---- strings and maps ---- */

static uint32_t pool_add(struct search_index *ix, const char *s, size_t n)
{
	if (ix->pool_len + n + 1 > ix->pool_cap) {
		ix->pool_cap = (ix->pool_cap + n + 1) * 2;
		ix->pool = xrealloc(ix->pool, ix->pool_cap);
	}
	uint32_t off = (uint32_t)ix->pool_len;
	memcpy(ix->pool + off, s, n);
	ix->pool[off + n] = '\0';
	ix->pool_len += n + 1;
	return off;
}

static void map_init(struct strmap *m, uint32_t cap)
{
	m->cap = cap;
	m->count = 0;
	m->ids = xcalloc(cap, sizeof *m->ids);
	m->hashes = xcalloc(cap, sizeof *m->hashes);
}

static void map_free(struct strmap *m)
{
	free(m->ids);
	free(m->hashes);
}

static void *memdup(const void *p, size_t n)
{
	void *q = xmalloc(n ? n : 1);
	if (n)
		memcpy(q, p, n);
	return q;
}

static void map_copy(struct strmap *to, const struct strmap *from)
{
	*to = *from;
	to->ids = memdup(from->ids, (size_t)from->cap * sizeof *from->ids);
	to->hashes = memdup(from->hashes, (size_t)from->cap * sizeof *from->hashes);
}

/* Slot of s in m: where its id is, or the empty slot where it belongs. */
static uint32_t map_slot(const struct strmap *m, const char *pool, const uint32_t *str_of, size_t stride, const char *s,
			 size_t n, uint64_t h)
{
	uint32_t i = (uint32_t)h & (m->cap - 1);
	for (;;) {
		uint32_t id = m->ids[i];
		if (!id)
			return i;
		if (m->hashes[i] == h) {
			const char *k = pool + *(const uint32_t *)((const char *)str_of + (size_t)(id - 1) * stride);
			if (!strncmp(k, s, n) && k[n] == '\0')
				return i;
		}
		i = (i + 1) & (m->cap - 1);
	}
}

/* A live term's id + 1, or 0. */
static uint32_t term_find(const struct search_index *ix, const char *s)
{
	if (!ix->n_terms)
		return 0;
	size_t n = strlen(s);
	uint64_t h = hash64(s, n);
	uint32_t slot = map_slot(&ix->term_map, ix->pool, &ix->terms[0].str, sizeof(struct term), s, n, h);
	uint32_t id = ix->term_map.ids[slot];
	return id && ix->terms[id - 1].live ? id : 0;
}

/* A live word's id + 1 (some text has it), or 0. */
static uint32_t word_find(const struct search_index *ix, const char *s)
{
	if (!ix->n_words)
		return 0;
	size_t n = strlen(s);
	uint64_t h = hash64(s, n);
	uint32_t slot = map_slot(&ix->word_map, ix->pool, &ix->words[0].str, sizeof(struct word), s, n, h);
	uint32_t id = ix->word_map.ids[slot];
	return id && ix->words[id - 1].df ? id : 0;
}

static void map_grow(struct strmap *m)
{
	struct strmap old = *m;
	map_init(m, old.cap * 2);
	for (uint32_t i = 0; i < old.cap; i++) {
		if (!old.ids[i])
			continue;
		uint32_t j = (uint32_t)old.hashes[i] & (m->cap - 1);
		while (m->ids[j])
			j = (j + 1) & (m->cap - 1);
		m->ids[j] = old.ids[i];
		m->hashes[j] = old.hashes[i];
		m->count++;
	}
	map_free(&old);
}

static uint32_t term_add(struct search_index *ix, const char *s)
{
	size_t n = strlen(s);
	uint64_t h = hash64(s, n);
	uint32_t slot =
	    map_slot(&ix->term_map, ix->pool, ix->terms ? &ix->terms[0].str : NULL, sizeof(struct term), s, n, h);
	if (ix->term_map.ids[slot])
		return ix->term_map.ids[slot] - 1;
	if (ix->n_terms == ix->cap_terms) {
		ix->cap_terms = ix->cap_terms ? ix->cap_terms * 2 : 4096;
		ix->terms = xrealloc(ix->terms, ix->cap_terms * sizeof *ix->terms);
	}
	uint32_t id = ix->n_terms++;
	ix->terms[id] = (struct term){.str = pool_add(ix, s, n)};
	ix->term_map.ids[slot] = id + 1;
	ix->term_map.hashes[slot] = h;
	if (++ix->term_map.count * 2 > ix->term_map.cap)
		map_grow(&ix->term_map);
	return id;
}

static uint32_t word_add(struct search_index *ix, const char *s, size_t n)
{
	uint64_t h = hash64(s, n);
	uint32_t slot =
	    map_slot(&ix->word_map, ix->pool, ix->words ? &ix->words[0].str : NULL, sizeof(struct word), s, n, h);
	if (ix->word_map.ids[slot])
		return ix->word_map.ids[slot] - 1;
	if (ix->n_words == ix->cap_words) {
		ix->cap_words = ix->cap_words ? ix->cap_words * 2 : 4096;
		ix->words = xrealloc(ix->words, ix->cap_words * sizeof *ix->words);
	}
	char stem[AN_MAX_WORD + 1];
	char w[AN_MAX_WORD + 1];
	memcpy(w, s, n);
	w[n] = '\0';
	an_stem(w, stem);
	uint32_t id = ix->n_words++;
	struct word *wd = &ix->words[id];
	*wd = (struct word){.str = pool_add(ix, s, n)};
	wd->stop = an_is_stop(w);
	size_t chars = an_chars(w);
	wd->chars = (uint8_t)(chars > 255 ? 255 : chars);
	for (size_t i = 0; i < n; i++)
		wd->has_digit |= s[i] >= '0' && s[i] <= '9';
	ix->word_map.ids[slot] = id + 1;
	ix->word_map.hashes[slot] = h;
	if (++ix->word_map.count * 2 > ix->word_map.cap)
		map_grow(&ix->word_map);
	/* After the map is updated (term_add may move the pool). */
	ix->words[id].term = term_add(ix, stem);
	return id;
}

/* ---- per-document tokens ---- */

struct tokbuf {
	uint8_t *p;
	size_t len, cap;
};

static void put_varint(struct tokbuf *b, uint32_t v)
{
	if (b->len + 5 > b->cap) {
		b->cap = b->cap ? b->cap * 2 : 4096;
		b->p = xrealloc(b->p, b->cap);
	}
	while (v >= 0x80) {
		b->p[b->len++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	b->p[b->len++] = (uint8_t)v;
}

static uint32_t get_varint(const uint8_t **p)
{
	uint32_t v = 0;
	for (int shift = 0;; shift += 7) {
		uint8_t c = *(*p)++;
		v |= (uint32_t)(c & 0x7f) << shift;
		if (!(c & 0x80) || shift >= 28)
			return v;
	}
}

struct tok {
	uint32_t word, pos;
	bool joined;
};

struct tok_reader {
	const uint8_t *p, *end;
	uint32_t pos;
};

static struct tok_reader tok_field(const struct doc *d, int f)
{
	const uint8_t *p = d->tok;
	for (int i = 0; i < f; i++)
		p += d->tok_len[i];
	return (struct tok_reader){.p = p, .end = p + d->tok_len[f]};
}

static bool tok_next(struct tok_reader *r, struct tok *t)
{
	if (r->p >= r->end)
		return false;
	uint32_t v = get_varint(&r->p);
	t->word = v >> 1;
	t->joined = v & 1;
	if (t->joined)
		t->pos = r->pos - get_varint(&r->p);
	else
		t->pos = r->pos++;
	return true;
}

/*
 * A text's snippet data, as packed (then compressed) at index time: four varints (the bytes of
 * the summary, of the body, of the summary's offsets, of the body's offsets), then those four
 * byte strings. Offsets: per plain token of the field, in order, the gap from the previous
 * token's end to its start and its length in bytes.
 */
struct cold {
	const char *text[2]; /* summary, body (NUL-terminated) */
	size_t text_len[2];
	const uint8_t *offs[2];
	size_t offs_len[2];
};

/* The snippet data of doc, decompressed into a; false when it does not decompress. */
static bool cold_of(const struct search_index *ix, struct arena *a, const struct doc *doc, struct cold *c)
{
	size_t len;
	const uint8_t *p = textstore_unpack(ix->store, a, doc->cold, doc->cold_len, &len);
	if (!p)
		return false;
	const uint8_t *end = p + len;
	size_t sizes[4];
	for (int i = 0; i < 4; i++) {
		if (p >= end)
			return false;
		sizes[i] = get_varint(&p);
	}
	if (sizes[0] + sizes[1] + sizes[2] + sizes[3] + 2 > (size_t)(end - p))
		return false;
	/* Each text is followed by a NUL in the packed data. */
	for (int i = 0; i < 2; i++) {
		c->text[i] = (const char *)p;
		c->text_len[i] = sizes[i];
		p += sizes[i] + 1;
	}
	for (int i = 0; i < 2; i++) {
		c->offs[i] = p;
		c->offs_len[i] = sizes[2 + i];
		p += sizes[2 + i];
	}
	return true;
}

struct analyze_ctx {
	struct search_index *ix;
	struct tokbuf b;     /* the fields' words */
	struct tokbuf o[2];  /* the summary's and the body's offsets */
	struct tokbuf cold;  /* the packed snippet data */
	struct tokbuf *offs; /* the field's offsets, or NULL (title, keywords) */
	uint32_t npos, prev_end, len;
};

static void on_doc_token(const struct an_token *t, void *arg)
{
	struct analyze_ctx *c = arg;
	uint32_t w = word_add(c->ix, t->word, t->len);
	put_varint(&c->b, w << 1 | (t->joined ? 1u : 0u));
	if (t->joined) {
		put_varint(&c->b, c->npos - t->pos);
		return;
	}
	if (c->offs) {
		put_varint(c->offs, t->start - c->prev_end);
		put_varint(c->offs, t->end - t->start);
	}
	c->prev_end = t->end;
	c->npos++;
	c->len++;
}

static void put_bytes(struct tokbuf *b, const void *p, size_t n)
{
	if (!n)
		return;
	if (b->len + n > b->cap) {
		b->cap = b->len + n + b->cap;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static uint32_t intern_country(struct search_index *ix, const char *c)
{
	for (int i = 0; i < ix->n_countries; i++)
		if (!strcmp(ix->countries[i], c))
			return (uint32_t)i;
	if (ix->n_countries == 64)
		return UINT32_MAX;
	snprintf(ix->countries[ix->n_countries], 3, "%s", c);
	return (uint32_t)ix->n_countries++;
}

static char *dup_or_empty(const char *s)
{
	return xstrdup(s ? s : "");
}

/* Fills doc from s: copies of its strings, its country, its words (adding new words to the
 * index), its snippet data packed by the index's store. */
static void analyze_doc(struct search_index *ix, struct doc *doc, const struct search_doc *s, struct analyze_ctx *c)
{
	*doc = (struct doc){.slug = dup_or_empty(s->slug),
			    .title = dup_or_empty(s->title),
			    .section = dup_or_empty(s->section),
			    .country = -1,
			    .boost = 1.0f};
	if (s->country && *s->country) {
		uint32_t cc = intern_country(ix, s->country);
		if (cc != UINT32_MAX)
			doc->country = (int16_t)cc;
	}
	const char *fields[F_COUNT] = {doc->title, s->keywords ? s->keywords : "", s->summary ? s->summary : "",
				       s->text ? s->text : ""};
	c->b.len = c->o[0].len = c->o[1].len = c->cold.len = 0;
	for (int f = 0; f < F_COUNT; f++) {
		size_t before = c->b.len;
		c->npos = c->prev_end = c->len = 0;
		c->offs = f == F_SUMMARY ? &c->o[0] : f == F_BODY ? &c->o[1] : NULL;
		an_tokens(fields[f], strlen(fields[f]), on_doc_token, c);
		doc->len[f] = c->len;
		doc->tok_len[f] = (uint32_t)(c->b.len - before);
	}
	doc->tok = memdup(c->b.p, c->b.len);
	size_t text_len[2] = {strlen(fields[F_SUMMARY]), strlen(fields[F_BODY])};
	put_varint(&c->cold, (uint32_t)text_len[0]);
	put_varint(&c->cold, (uint32_t)text_len[1]);
	put_varint(&c->cold, (uint32_t)c->o[0].len);
	put_varint(&c->cold, (uint32_t)c->o[1].len);
	put_bytes(&c->cold, fields[F_SUMMARY], text_len[0] + 1);
	put_bytes(&c->cold, fields[F_BODY], text_len[1] + 1);
	put_bytes(&c->cold, c->o[0].p, c->o[0].len);
	put_bytes(&c->cold, c->o[1].p, c->o[1].len);
	doc->cold = textstore_pack(ix->store, c->cold.p, c->cold.len, &doc->cold_len);
}

static void analyze_ctx_free(struct analyze_ctx *c)
{
	free(c->b.p);
	free(c->o[0].p);
	free(c->o[1].p);
	free(c->cold.p);
}

/* ---- from the documents' tokens to the rest of the index ---- */

static int cmp_words(const void *a, const void *b, void *ixv)
{
	const struct search_index *ix = ixv;
	return strcmp(ix->pool + ix->words[*(const uint32_t *)a].str, ix->pool + ix->words[*(const uint32_t *)b].str);
}

/* Code points of a normalized word (at most AN_MAX_WORD). */
static int to_cps(const char *s, int32_t *cp)
{
	int n = 0;
	const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
	utf8proc_int32_t c;
	utf8proc_ssize_t k;
	while (*p && n < AN_MAX_WORD && (k = utf8proc_iterate(p, -1, &c)) > 0) {
		cp[n++] = c;
		p += k;
	}
	return n;
}

/* Hash of the code points cp[0..n) without position skip (-1: none). */
static uint64_t hash_cps(const int32_t *cp, int n, int skip1, int skip2)
{
	uint64_t h = 1469598103934665603ull;
	for (int i = 0; i < n; i++) {
		if (i == skip1 || i == skip2)
			continue;
		h = (h ^ (uint64_t)(uint32_t)cp[i]) * 1099511628211ull;
	}
	return h;
}

#define DEL_MIN_CHARS 4
#define DEL_MAX_CHARS 32

static bool typo_candidate(const struct word *w)
{
	return w->df && !w->has_digit && !w->stop && w->chars >= DEL_MIN_CHARS - 1 && w->chars <= DEL_MAX_CHARS;
}

/* A lexicon over the live words with in_base == base. */
static struct lexicon *build_lexicon(struct search_index *ix, bool base)
{
	struct lexicon *lx = xcalloc(1, sizeof *lx);
	lx->refs = 1;
	lx->sorted = xmalloc((ix->n_words ? ix->n_words : 1) * sizeof *lx->sorted);
	size_t total = 0;
	for (uint32_t w = 0; w < ix->n_words; w++) {
		const struct word *wd = &ix->words[w];
		if (!wd->df || (bool)wd->in_base != base)
			continue;
		lx->sorted[lx->n_sorted++] = w;
		if (typo_candidate(wd))
			total += (size_t)wd->chars + 1;
	}
	qsort_r(lx->sorted, lx->n_sorted, sizeof *lx->sorted, cmp_words, ix);
	uint32_t buckets = base ? 1024 : 16;
	while (buckets < total)
		buckets *= 2;
	lx->del_mask = buckets - 1;
	lx->del_start = xcalloc((size_t)buckets + 2, sizeof *lx->del_start);
	lx->del_hash = xmalloc((total ? total : 1) * sizeof *lx->del_hash);
	lx->del_word = xmalloc((total ? total : 1) * sizeof *lx->del_word);
	uint64_t *hs = xmalloc((total ? total : 1) * sizeof *hs);
	uint32_t *ws = xmalloc((total ? total : 1) * sizeof *ws);
	size_t k = 0;
	int32_t cp[AN_MAX_WORD];
	for (uint32_t i = 0; i < lx->n_sorted; i++) {
		uint32_t w = lx->sorted[i];
		if (!typo_candidate(&ix->words[w]))
			continue;
		int n = to_cps(ix->pool + ix->words[w].str, cp);
		hs[k] = hash_cps(cp, n, -1, -1);
		ws[k++] = w;
		for (int j = 0; j < n; j++) {
			if (j > 0 && cp[j] == cp[j - 1])
				continue; /* same deletion as the previous one */
			hs[k] = hash_cps(cp, n, j, -1);
			ws[k++] = w;
		}
	}
	/* Counting sort by bucket. */
	for (size_t i = 0; i < k; i++)
		lx->del_start[(hs[i] & lx->del_mask) + 2]++;
	for (uint32_t b = 2; b < buckets + 2; b++)
		lx->del_start[b] += lx->del_start[b - 1];
	for (size_t i = 0; i < k; i++) {
		uint32_t at = lx->del_start[(hs[i] & lx->del_mask) + 1]++;
		lx->del_hash[at] = (uint32_t)(hs[i] >> 32);
		lx->del_word[at] = ws[i];
	}
	free(hs);
	free(ws);
	lx->bytes = sizeof *lx + ((size_t)buckets + 2) * sizeof(uint32_t) + total * 2 * sizeof(uint32_t) +
		    (size_t)ix->n_words * sizeof(uint32_t);
	return lx;
}

static void lexicon_unref(struct lexicon *lx)
{
	if (!lx || --lx->refs > 0)
		return;
	free(lx->sorted);
	free(lx->del_start);
	free(lx->del_hash);
	free(lx->del_word);
	free(lx);
}

static void build_synonyms(struct search_index *ix, const char *text)
{
	if (!text)
		return;
	struct arena *a = arena_new();
	size_t cap_pairs = 64, cap_terms = 64, cap_groups = 16;
	ix->syn_pairs = xmalloc(cap_pairs * sizeof *ix->syn_pairs);
	ix->group_terms = xmalloc(cap_terms * sizeof *ix->group_terms);
	ix->group_start = xmalloc((cap_groups + 1) * sizeof *ix->group_start);
	ix->group_start[0] = 0;
	uint32_t n_terms = 0;
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char *line = arena_strndup(a, p, len);
		p += len + (nl ? 1 : 0);
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char **items;
		size_t n = split_list(a, line, &items);
		uint32_t first_term = n_terms, first_pair = ix->n_syn_pairs;
		for (size_t i = 0; i < n; i++) {
			char **ws;
			size_t nw = search_words(a, items[i], &ws);
			for (size_t j = 0; j < nw; j++) {
				if (an_is_stop(ws[j]))
					continue;
				char stem[AN_MAX_WORD + 1];
				an_stem(ws[j], stem);
				if (ix->n_syn_pairs == cap_pairs)
					ix->syn_pairs =
					    xrealloc(ix->syn_pairs, (cap_pairs *= 2) * sizeof *ix->syn_pairs);
				ix->syn_pairs[ix->n_syn_pairs++] =
				    (struct syn_pair){hash64(stem, strlen(stem)), ix->n_groups};
				uint32_t t = term_find(ix, stem);
				bool dup = !t;
				for (uint32_t k = first_term; k < n_terms && !dup; k++)
					dup = ix->group_terms[k] == t - 1;
				if (dup)
					continue;
				if (n_terms == cap_terms)
					ix->group_terms =
					    xrealloc(ix->group_terms, (cap_terms *= 2) * sizeof *ix->group_terms);
				ix->group_terms[n_terms++] = t - 1;
			}
		}
		if (n_terms == first_term) { /* nothing of the group is in the index */
			ix->n_syn_pairs = first_pair;
			continue;
		}
		if (ix->n_groups == cap_groups)
			ix->group_start = xrealloc(ix->group_start, ((cap_groups *= 2) + 1) * sizeof *ix->group_start);
		ix->group_start[++ix->n_groups] = n_terms;
	}
	arena_free(a);
	ix->bytes += ix->n_syn_pairs * sizeof *ix->syn_pairs + n_terms * 4 + ix->n_groups * 4;
}
static int cmp_pairs(const void *a, const void *b)
{
	const struct syn_pair *x = a, *y = b;
	return x->hash < y->hash ? -1 : x->hash > y->hash ? 1 : (x->group > y->group) - (x->group < y->group);
}

/* Ids for strings in first-seen order: a temporary open-addressing table. */
struct interner {
	uint32_t *slot; /* id + 1, 0 = empty */
	char **keys;
	uint32_t cap, n;
};

static void interner_init(struct interner *t, size_t max)
{
	t->cap = 16;
	while (t->cap < 2 * max + 16)
		t->cap *= 2;
	t->slot = xcalloc(t->cap, sizeof *t->slot);
	t->keys = xmalloc((max ? max : 1) * sizeof *t->keys);
	t->n = 0;
}

static uint32_t intern(struct interner *t, char *s)
{
	uint32_t i = (uint32_t)hash64(s, strlen(s)) & (t->cap - 1);
	while (t->slot[i]) {
		if (!strcmp(t->keys[t->slot[i] - 1], s))
			return t->slot[i] - 1;
		i = (i + 1) & (t->cap - 1);
	}
	t->keys[t->n] = s;
	t->slot[i] = ++t->n;
	return t->n - 1;
}

/* Adds sign to the document frequency of each word of doc and to the posting count of each of
 * its terms. wmark/tmark: per word/term, a tag distinct from tag before the call. */
static void count_doc(struct search_index *ix, const struct doc *doc, int sign, uint32_t tag, uint32_t *wmark,
		      uint32_t *tmark)
{
	size_t bytes = 0;
	for (int f = 0; f < F_COUNT; f++)
		bytes += doc->tok_len[f];
	struct tok_reader r = {.p = doc->tok, .end = doc->tok + bytes};
	struct tok t;
	while (tok_next(&r, &t)) {
		struct word *wd = &ix->words[t.word];
		if (wmark[t.word] != tag) {
			wmark[t.word] = tag;
			wd->df += (uint32_t)sign;
		}
		if (!wd->stop && tmark[wd->term] != tag) {
			tmark[wd->term] = tag;
			ix->terms[wd->term].post_count += (uint32_t)sign;
		}
	}
}

/* Document frequencies and posting counts from every text's tokens (a build). */
static void count_all(struct search_index *ix)
{
	uint32_t n = (uint32_t)ix->n_docs, nw = ix->n_words, nt = ix->n_terms;
	uint32_t *wmark = xmalloc((nw ? nw : 1) * sizeof *wmark);
	uint32_t *tmark = xmalloc((nt ? nt : 1) * sizeof *tmark);
	memset(wmark, 0xff, (nw ? nw : 1) * sizeof *wmark);
	memset(tmark, 0xff, (nt ? nt : 1) * sizeof *tmark);
	for (uint32_t w = 0; w < nw; w++)
		ix->words[w].df = 0;
	for (uint32_t t = 0; t < nt; t++)
		ix->terms[t].post_count = 0;
	for (uint32_t d = 0; d < n; d++)
		count_doc(ix, &ix->docs[d], 1, d, wmark, tmark);
	free(wmark);
	free(tmark);
}

/* An update's document frequencies and posting counts: old's (copied with the words and
 * terms), less those of old's texts that did not move over, plus those of the new texts
 * ix->docs[first_new..]. Only the changed texts' words are read. */
static void count_update(struct search_index *ix, const struct search_index *old, uint32_t first_new)
{
	uint32_t nw = ix->n_words, nt = ix->n_terms;
	uint32_t *wmark = xmalloc((nw ? nw : 1) * sizeof *wmark);
	uint32_t *tmark = xmalloc((nt ? nt : 1) * sizeof *tmark);
	memset(wmark, 0xff, (nw ? nw : 1) * sizeof *wmark);
	memset(tmark, 0xff, (nt ? nt : 1) * sizeof *tmark);
	uint32_t tag = 0;
	for (int d = 0; d < old->n_docs; d++)
		if (!old->moved[d])
			count_doc(ix, &old->docs[d], -1, tag++, wmark, tmark);
	for (uint32_t d = first_new; d < (uint32_t)ix->n_docs; d++)
		count_doc(ix, &ix->docs[d], 1, tag++, wmark, tmark);
	free(wmark);
	free(tmark);
}

/* Lays out the postings slices from the terms' counts; returns the total. */
static uint32_t layout_postings(struct search_index *ix)
{
	uint32_t total = 0;
	for (uint32_t t = 0; t < ix->n_terms; t++) {
		ix->terms[t].post_start = total;
		total += ix->terms[t].post_count;
	}
	ix->n_postings = total;
	ix->postings = xmalloc((total ? total : 1) * sizeof *ix->postings);
	return total;
}

/* A term's frequency in each field of the text being read (fill_postings). */
struct local_tf {
	uint32_t term;
	uint8_t tf[F_COUNT]; /* saturates at 255 (BM25's tf curve is flat long before) */
};

/*
 * Appends the postings of every text at cursor[term] (advanced), in document order, weighted by
 * the texts' weights wt (finish_docs). tmark, tslot: n_terms entries each, tmark none equal to a
 * document.
 */
static void fill_postings(struct search_index *ix, const struct weights *weights, uint32_t *cursor, uint32_t *tmark,
			  uint32_t *tslot)
{
	struct local_tf *loc = NULL;
	uint32_t cap = 0;
	for (uint32_t d = 0; d < (uint32_t)ix->n_docs; d++) {
		const struct doc *doc = &ix->docs[d];
		uint32_t n = 0;
		for (int f = 0; f < F_COUNT; f++) {
			struct tok_reader r = tok_field(doc, f);
			struct tok t;
			while (tok_next(&r, &t)) {
				const struct word *wd = &ix->words[t.word];
				if (wd->stop)
					continue;
				if (tmark[wd->term] != d) {
					tmark[wd->term] = d;
					if (n == cap) {
						cap = cap ? cap * 2 : 1024;
						loc = xrealloc(loc, cap * sizeof *loc);
					}
					tslot[wd->term] = n;
					loc[n++] = (struct local_tf){.term = wd->term};
				}
				struct local_tf *l = &loc[tslot[wd->term]];
				if (l->tf[f] < UINT8_MAX)
					l->tf[f]++;
			}
		}
		const float *wt = weights[d].f;
		for (uint32_t i = 0; i < n; i++) {
			float wtf = 0;
			for (int f = 0; f < F_COUNT; f++)
				wtf += loc[i].tf[f] * wt[f];
			if (loc[i].tf[F_TITLE] || loc[i].tf[F_KEYWORDS])
				wtf = -wtf;
			ix->postings[cursor[loc[i].term]++] = (struct posting){d, wtf};
		}
	}
	free(loc);
}

/* Postings of every text from their tokens (a build): documents in order, so each term's
 * slice fills sorted. */
static void postings_all(struct search_index *ix, struct weights *weights)
{
	uint32_t nt = ix->n_terms;
	layout_postings(ix);
	uint32_t *cursor = xmalloc((nt ? nt : 1) * sizeof *cursor);
	uint32_t *tmark = xmalloc((nt ? nt : 1) * sizeof *tmark);
	uint32_t *tslot = xmalloc((nt ? nt : 1) * sizeof *tslot);
	memset(tmark, 0xff, (nt ? nt : 1) * sizeof *tmark);
	for (uint32_t t = 0; t < nt; t++)
		cursor[t] = ix->terms[t].post_start;
	fill_postings(ix, weights, cursor, tmark, tslot);
	free(weights);
	free(cursor);
	free(tmark);
	free(tslot);
}

/* Field averages and the texts' weights (*weights, for postings_all, which frees them), slugs and
 * sections, who sees each text, the boosts. Returns the texts' bytes. */
static size_t finish_docs(struct search_index *ix, struct weights **weights)
{
	uint32_t n = (uint32_t)ix->n_docs;
	double total_len[F_COUNT] = {0};
	size_t text = 0;
	for (uint32_t d = 0; d < n; d++) {
		const struct doc *doc = &ix->docs[d];
		for (int f = 0; f < F_COUNT; f++) {
			total_len[f] += doc->len[f];
			text += doc->tok_len[f];
		}
		text += strlen(doc->slug) + strlen(doc->title) + strlen(doc->section) + 3 + doc->cold_len;
	}
	for (int f = 0; f < F_COUNT; f++) {
		ix->avglen[f] = n > 0 ? (float)(total_len[f] / n) : 1.0f;
		if (ix->avglen[f] < 1.0f)
			ix->avglen[f] = 1.0f;
	}
	/* Slugs (a slug's texts: the general one and its variants) and sections. */
	struct interner slugs, sections;
	interner_init(&slugs, n);
	interner_init(&sections, n);
	for (uint32_t d = 0; d < n; d++) {
		ix->docs[d].slug_id = intern(&slugs, ix->docs[d].slug);
		ix->docs[d].section_id = intern(&sections, ix->docs[d].section);
	}
	struct weights *w = xmalloc((n ? n : 1) * sizeof *w);
	ix->boost = xmalloc((n ? n : 1) * sizeof *ix->boost);
	ix->boosted = false;
	for (uint32_t d = 0; d < n; d++) {
		const struct doc *doc = &ix->docs[d];
		for (int f = 0; f < F_COUNT; f++)
			w[d].f[f] =
			    field_weight[f] / (1.0f - field_b[f] + field_b[f] / ix->avglen[f] * (float)doc->len[f]);
		ix->boost[d] = doc->boost;
		ix->boosted |= doc->boost != 1.0f;
	}
	*weights = w;
	ix->n_slugs = slugs.n;
	ix->slug_variants = xcalloc(slugs.n ? slugs.n : 1, sizeof *ix->slug_variants);
	for (uint32_t d = 0; d < n; d++)
		if (ix->docs[d].country >= 0)
			ix->slug_variants[ix->docs[d].slug_id] |= 1ull << ix->docs[d].country;
	ix->vis_words = (n + 63) / 64;
	ix->vis = xcalloc((size_t)(ix->n_countries + 1) * (ix->vis_words ? ix->vis_words : 1), sizeof *ix->vis);
	for (uint32_t d = 0; d < n; d++) {
		const struct doc *doc = &ix->docs[d];
		uint64_t bit = 1ull << (d & 63);
		if (doc->country >= 0) {
			ix->vis[(size_t)(1 + doc->country) * ix->vis_words + d / 64] |= bit;
			continue;
		}
		ix->vis[d / 64] |= bit;
		for (int c = 0; c < ix->n_countries; c++)
			if (!((ix->slug_variants[doc->slug_id] >> c) & 1))
				ix->vis[(size_t)(1 + c) * ix->vis_words + d / 64] |= bit;
	}
	ix->sections = sections.keys;
	ix->n_sections = sections.n;
	free(slugs.slot);
	free(slugs.keys);
	free(sections.slot);
	return text;
}

/*
 * Live terms, the lexicons (a new base when base is NULL or the extra one outgrew an eighth of
 * it; else base shared and a new extra), synonyms, the byte count.
 */
static void finish_words(struct search_index *ix, struct lexicon *base, size_t text)
{
	ix->n_live = 0;
	for (uint32_t t = 0; t < ix->n_terms; t++)
		ix->terms[t].live = 0;
	ix->word_term = xmalloc((ix->n_words ? ix->n_words : 1) * sizeof *ix->word_term);
	for (uint32_t w = 0; w < ix->n_words; w++)
		ix->word_term[w] = ix->words[w].stop ? UINT32_MAX : ix->words[w].term;
	uint32_t outside = 0;
	for (uint32_t w = 0; w < ix->n_words; w++) {
		struct word *wd = &ix->words[w];
		if (!wd->df)
			continue;
		ix->n_live++;
		ix->terms[wd->term].live = 1;
		outside += !wd->in_base;
	}
	if (base && outside <= base->n_sorted / 8 + 256) {
		base->refs++;
		ix->base = base;
	} else {
		for (uint32_t w = 0; w < ix->n_words; w++)
			ix->words[w].in_base = ix->words[w].df > 0;
		ix->base = build_lexicon(ix, true);
	}
	ix->extra = build_lexicon(ix, false);
	build_synonyms(ix, ix->synonyms);
	if (ix->n_syn_pairs)
		qsort(ix->syn_pairs, ix->n_syn_pairs, sizeof *ix->syn_pairs, cmp_pairs);
	ix->bytes += sizeof *ix + (size_t)ix->n_docs * (sizeof(struct doc) + sizeof(float)) + text +
		     textstore_bytes(ix->store) + ix->pool_cap + (size_t)(ix->n_countries + 1) * ix->vis_words * 8 +
		     (size_t)ix->n_words * 4 + (size_t)ix->cap_terms * sizeof(struct term) +
		     (size_t)ix->cap_words * sizeof(struct word) + (size_t)(ix->term_map.cap + ix->word_map.cap) * 12 +
		     (size_t)ix->n_postings * sizeof(struct posting) + ix->base->bytes + ix->extra->bytes +
		     (size_t)ix->n_slugs * 8 + (size_t)ix->n_sections * 8 + (ix->synonyms ? strlen(ix->synonyms) : 0);
}

/* A store whose dictionary is trained on up to STORE_SAMPLES of the texts' summaries and
 * bodies, spread over them. */
#define STORE_SAMPLES 2000
#define STORE_SAMPLE_MAX 4096 /* bytes of one text */

static struct textstore *new_store(const struct search_doc *docs, int n)
{
	int step = n / STORE_SAMPLES + 1;
	const char **samples = xmalloc((size_t)(n / step + 1) * 2 * sizeof *samples);
	size_t *lens = xmalloc((size_t)(n / step + 1) * 2 * sizeof *lens);
	size_t k = 0;
	for (int d = 0; d < n; d += step) {
		if (docs[d].removed)
			continue;
		const char *parts[2] = {docs[d].summary, docs[d].text};
		for (int i = 0; i < 2; i++) {
			size_t len = parts[i] ? strlen(parts[i]) : 0;
			if (!len)
				continue;
			samples[k] = parts[i];
			lens[k++] = len < STORE_SAMPLE_MAX ? len : STORE_SAMPLE_MAX;
		}
	}
	struct textstore *ts = textstore_new(samples, lens, k);
	free(samples);
	free(lens);
	return ts;
}

static struct search_index *index_new(void)
{
	struct search_index *ix = xcalloc(1, sizeof *ix);
	return ix;
}

struct search_index *search_build(const struct search_doc *docs, int n, const char *synonyms)
{
	struct search_index *ix = index_new();
	map_init(&ix->term_map, 1 << 14);
	map_init(&ix->word_map, 1 << 14);
	ix->synonyms = synonyms ? xstrdup(synonyms) : NULL;
	ix->docs = xcalloc((size_t)(n > 0 ? n : 1), sizeof *ix->docs);
	ix->store = new_store(docs, n);
	struct analyze_ctx c = {.ix = ix};
	for (int d = 0; d < n; d++) {
		if (docs[d].removed)
			continue;
		analyze_doc(ix, &ix->docs[ix->n_docs++], &docs[d], &c);
	}
	analyze_ctx_free(&c);
	textstore_packed(ix->store);
	count_all(ix);
	struct weights *weights;
	size_t text = finish_docs(ix, &weights);
	postings_all(ix, weights);
	finish_words(ix, NULL, text);
	return ix;
}

/* "slug\x1fcountry": the key of a text. */
static char *text_key(const char *slug, const char *country)
{
	size_t a = strlen(slug), b = strlen(country);
	char *k = xmalloc(a + b + 2);
	memcpy(k, slug, a);
	k[a] = '\x1f';
	memcpy(k + a + 1, country, b + 1);
	return k;
}

struct search_index *search_update(struct search_index *old, const struct search_doc *changes, int n)
{
	struct search_index *ix = index_new();
	/* The dictionaries, copied: new words are appended to the copy. */
	ix->pool_len = ix->pool_cap = old->pool_len;
	ix->pool = memdup(old->pool, old->pool_len);
	ix->n_terms = ix->cap_terms = old->n_terms;
	ix->terms = memdup(old->terms, (size_t)old->n_terms * sizeof *old->terms);
	ix->n_words = ix->cap_words = old->n_words;
	ix->words = memdup(old->words, (size_t)old->n_words * sizeof *old->words);
	map_copy(&ix->term_map, &old->term_map);
	map_copy(&ix->word_map, &old->word_map);
	memcpy(ix->countries, old->countries, sizeof ix->countries);
	ix->n_countries = old->n_countries;
	ix->synonyms = old->synonyms ? xstrdup(old->synonyms) : NULL;

	/* The changed keys; the last change of a key wins. */
	struct interner keys;
	interner_init(&keys, (size_t)(n > 0 ? n : 0));
	int32_t *last = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *last);
	for (int i = 0; i < n; i++) {
		char *key =
		    text_key(changes[i].slug ? changes[i].slug : "", changes[i].country ? changes[i].country : "");
		uint32_t k = intern(&keys, key);
		if (keys.keys[k] != key) /* seen before: the first copy is kept */
			free(key);
		last[k] = i;
	}
	/* The unchanged texts move over (strings and tokens are not copied). */
	old->moved = xcalloc((size_t)(old->n_docs > 0 ? old->n_docs : 1), 1);
	ix->docs = xcalloc((size_t)old->n_docs + (size_t)(n > 0 ? n : 0) + 1, sizeof *ix->docs);
	for (int d = 0; d < old->n_docs; d++) {
		const struct doc *doc = &old->docs[d];
		char *k = text_key(doc->slug, doc->country >= 0 ? old->countries[doc->country] : "");
		uint32_t i = (uint32_t)hash64(k, strlen(k)) & (keys.cap - 1);
		bool changed = false;
		while (keys.slot[i] && !changed) {
			changed = !strcmp(keys.keys[keys.slot[i] - 1], k);
			i = (i + 1) & (keys.cap - 1);
		}
		free(k);
		if (changed)
			continue;
		ix->docs[ix->n_docs++] = *doc;
		old->moved[d] = 1;
	}
	uint32_t first_new = (uint32_t)ix->n_docs;
	ix->store = textstore_ref(old->store);
	struct analyze_ctx c = {.ix = ix};
	for (uint32_t k = 0; k < keys.n; k++) {
		const struct search_doc *s = &changes[last[k]];
		if (!s->removed)
			analyze_doc(ix, &ix->docs[ix->n_docs++], s, &c);
		free(keys.keys[k]);
	}
	analyze_ctx_free(&c);
	textstore_packed(ix->store);
	free(keys.slot);
	free(keys.keys);
	free(last);
	count_update(ix, old, first_new);
	/* The postings afresh from every text's words (no text is analyzed again): the field
	 * averages changed, and with them every posting's weight. */
	struct weights *weights;
	size_t text = finish_docs(ix, &weights);
	postings_all(ix, weights);
	finish_words(ix, old->base, text);
	return ix;
}

double search_dead_share(const struct search_index *ix)
{
	return ix->n_words ? (double)(ix->n_words - ix->n_live) / ix->n_words : 0.0;
}

int search_size(const struct search_index *ix)
{
	return ix->n_docs;
}

void search_free(struct search_index *ix)
{
	if (!ix)
		return;
	for (int d = 0; d < ix->n_docs; d++) {
		if (ix->moved && ix->moved[d])
			continue;
		struct doc *doc = &ix->docs[d];
		free(doc->slug), free(doc->title), free(doc->section);
		free(doc->tok);
		free(doc->cold);
	}
	free(ix->moved);
	free(ix->docs);
	free(ix->vis);
	free(ix->boost);
	textstore_unref(ix->store);
	free(ix->word_term);
	free(ix->pool);
	free(ix->terms);
	free(ix->words);
	map_free(&ix->term_map);
	map_free(&ix->word_map);
	free(ix->postings);
	lexicon_unref(ix->base);
	lexicon_unref(ix->extra);
	free(ix->slug_variants);
	free(ix->sections);
	free(ix->synonyms);
	free(ix->syn_pairs);
	free(ix->group_start);
	free(ix->group_terms);
	free(ix);
}

size_t search_memory(const struct search_index *ix)
{
	return ix->bytes;
}

void search_set_boost(struct search_index *ix, const char *slug, double boost)
{
	for (int d = 0; d < ix->n_docs; d++)
		if (!strcmp(ix->docs[d].slug, slug)) {
			ix->docs[d].boost = ix->boost[d] = (float)boost;
			ix->boosted |= boost != 1.0;
		}
}

double search_feedback_boost(long long yes, long long no)
{
	if (yes <= 0 || no < 0)
		return 1.0;
	double n = (double)(yes + no), p = (double)yes / n, z = 1.96, z2 = z * z;
	double w = (p + z2 / (2 * n) - z * sqrt(p * (1 - p) / n + z2 / (4 * n * n))) / (1 + z2 / n);
	double x = 2 * (w - 0.5);
	return 1.0 + SEARCH_FEEDBACK_MAX_BOOST * (x < 0 ? 0 : x > 1 ? 1 : x);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void search_set_boosts(struct search_index *ix, const char *const *slugs, const double *boosts, int n)
{
	ix->boosted = false;
	for (int d = 0; d < ix->n_docs; d++) {
		const char *slug = ix->docs[d].slug;
		const char *const *hit = n > 0 ? bsearch(&slug, slugs, (size_t)n, sizeof *slugs, cmp_str) : NULL;
		float b = hit ? (float)boosts[hit - slugs] : 1.0f;
		ix->docs[d].boost = ix->boost[d] = b;
		ix->boosted |= b != 1.0f;
	}
}

/* ---- query side ---- */

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

struct words_ctx {
	struct arena *a;
	char **v;
	size_t n, cap;
};

static void on_word(const struct an_token *t, void *arg)
{
	struct words_ctx *w = arg;
	if (w->n == w->cap) {
		char **bigger = arena_alloc(w->a, 2 * w->cap * sizeof *bigger);
		memcpy(bigger, w->v, w->cap * sizeof *bigger);
		w->v = bigger;
		w->cap *= 2;
	}
	w->v[w->n++] = arena_strndup(w->a, t->word, t->len);
}

size_t search_words(struct arena *a, const char *text, char ***words)
{
	struct words_ctx w = {.a = a, .cap = 16};
	w.v = arena_alloc(a, w.cap * sizeof *w.v);
	an_tokens(text, strlen(text), on_word, &w);
	*words = w.v;
	return w.n;
}

/* A word the index knows: a stop word, a surface word, or a word whose stem is a term. */
static bool known(const struct search_index *ix, const char *w)
{
	if (an_is_stop(w) || word_find(ix, w))
		return true;
	char stem[AN_MAX_WORD + 1];
	an_stem(w, stem);
	return term_find(ix, stem) != 0;
}

/* Optimal string alignment distance between code point strings, at most max+1. */
static int osa(const int32_t *a, int n, const int32_t *b, int m, int max)
{
	if (abs(n - m) > max)
		return max + 1;
	int d[AN_MAX_WORD + 1][AN_MAX_WORD + 1];
	for (int i = 0; i <= n; i++)
		d[i][0] = i;
	for (int j = 0; j <= m; j++)
		d[0][j] = j;
	for (int i = 1; i <= n; i++) {
		int row_min = max + 1;
		for (int j = 1; j <= m; j++) {
			int cost = a[i - 1] != b[j - 1];
			int v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + cost < v)
				v = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
			if (v < row_min)
				row_min = v;
		}
		if (row_min > max)
			return max + 1;
	}
	return d[n][m];
}

struct fix {
	uint32_t word;
	int dist;
};

static bool fix_better(const struct search_index *ix, struct fix a, struct fix b)
{
	if (a.dist != b.dist)
		return a.dist < b.dist;
	if (ix->words[a.word].df != ix->words[b.word].df)
		return ix->words[a.word].df > ix->words[b.word].df;
	return strcmp(ix->pool + ix->words[a.word].str, ix->pool + ix->words[b.word].str) < 0;
}

static void consider_in(const struct search_index *ix, const struct lexicon *lx, uint64_t h, const int32_t *cp, int n,
			int max, struct fix *best, int *nbest);

static void consider(const struct search_index *ix, uint64_t h, const int32_t *cp, int n, int max, struct fix *best,
		     int *nbest)
{
	for (int l = 0; l < 2; l++)
		consider_in(ix, l ? ix->extra : ix->base, h, cp, n, max, best, nbest);
}

static void consider_in(const struct search_index *ix, const struct lexicon *lx, uint64_t h, const int32_t *cp, int n,
			int max, struct fix *best, int *nbest)
{
	uint32_t b = (uint32_t)h & lx->del_mask;
	for (uint32_t i = lx->del_start[b]; i < lx->del_start[b + 1]; i++) {
		if (lx->del_hash[i] != (uint32_t)(h >> 32))
			continue;
		uint32_t w = lx->del_word[i];
		if (!ix->words[w].df)
			continue; /* dead since the lexicon was made */
		bool seen = false;
		for (int k = 0; k < *nbest; k++)
			seen |= best[k].word == w;
		if (seen)
			continue;
		int32_t wc[AN_MAX_WORD];
		int wn = to_cps(ix->pool + ix->words[w].str, wc);
		int d = osa(cp, n, wc, wn, max);
		if (d > max || d == 0)
			continue;
		/* Keep the 4 best by distance, then document frequency, then byte order (not the
		 * word's id, which depends on the order texts were indexed in). */
		struct fix f = {w, d};
		int at = *nbest;
		while (at > 0 && fix_better(ix, f, best[at - 1]))
			at--;
		if (at >= 4)
			continue;
		int last = *nbest < 4 ? (*nbest)++ : 3;
		for (int k = last; k > at; k--)
			best[k] = best[k - 1];
		best[at] = f;
	}
}

/* Words of the index within the allowed edit distance of w, best first; their count (<= 4). */
static int typo_fixes(const struct search_index *ix, const char *w, struct fix *best)
{
	int32_t cp[AN_MAX_WORD];
	int n = to_cps(w, cp);
	if (n < DEL_MIN_CHARS || n > DEL_MAX_CHARS)
		return 0;
	for (int i = 0; i < n; i++)
		if ((cp[i] >= '0' && cp[i] <= '9'))
			return 0;
	int max = n >= 8 ? 2 : 1;
	int nbest = 0;
	consider(ix, hash_cps(cp, n, -1, -1), cp, n, max, best, &nbest);
	for (int i = 0; i < n; i++) {
		if (i > 0 && cp[i] == cp[i - 1])
			continue;
		consider(ix, hash_cps(cp, n, i, -1), cp, n, max, best, &nbest);
		if (max == 2)
			for (int j = i + 1; j < n; j++)
				consider(ix, hash_cps(cp, n, i, j), cp, n, max, best, &nbest);
	}
	return nbest;
}

struct qalt {
	uint32_t term;
	float w;
};

struct qword {
	const char *text; /* the word searched (after rewriting) */
	struct qalt alt[MAX_ALTS];
	int nalt;
	bool last;
};

static void add_alt(struct qword *q, uint32_t term, float w)
{
	for (int i = 0; i < q->nalt; i++) {
		if (q->alt[i].term == term) {
			if (w > q->alt[i].w)
				q->alt[i].w = w;
			return;
		}
	}
	if (q->nalt < MAX_ALTS)
		q->alt[q->nalt++] = (struct qalt){term, w};
}

/*
 * How well the index understands s, from 0 to 1: each word the index knows counts 2, a word it
 * could fix as a typo 1, out of 2 per word. Single letters count as unknown (a layout mistake
 * splits words at the keys of б, ж, э, х, ъ, ю into fragments that look like letters).
 */
static float resolvable(const struct search_index *ix, struct arena *a, const char *s, bool typos)
{
	char **ws;
	size_t n = search_words(a, s, &ws);
	if (n == 0)
		return 0;
	int score = 0;
	struct fix f[4];
	for (size_t i = 0; i < n; i++) {
		if (an_chars(ws[i]) < 2 && !(ws[i][0] >= '0' && ws[i][0] <= '9'))
			continue;
		score += known(ix, ws[i]) ? 2 : typos && typo_fixes(ix, ws[i], f) > 0 ? 1 : 0;
	}
	return (float)score / (float)(2 * n);
}

static bool ascii_chunk(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

static bool has_ascii_letter(const char *s)
{
	for (; *s; s++)
		if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z'))
			return true;
	return false;
}

/*
 * One piece of the query (split at spaces and hyphens): the text to search for it. Tries the
 * Russian layout for Latin keys, the US layout for Cyrillic, and transliteration, and keeps the
 * reading whose words the index knows best (ties keep what was typed).
 */
static const char *reread(const struct search_index *ix, struct arena *a, const char *piece, bool *changed)
{
	*changed = false;
	/* The readings: as typed, the other layout, transliterations. */
	const char *reading[18];
	int n = 0;
	reading[n++] = piece;
	size_t cap = strlen(piece) * 2 + 8;
	char *conv = arena_alloc(a, cap);
	if (ascii_chunk(piece)) {
		if (rw_layout_to_ru(piece, conv, cap))
			reading[n++] = conv;
		if (has_ascii_letter(piece)) {
			char(*tr)[RW_MAX_BYTES] = arena_alloc(a, 16 * RW_MAX_BYTES);
			size_t nt = rw_translit_to_ru(piece, tr, 16);
			for (size_t i = 0; i < nt; i++)
				reading[n++] = tr[i];
		}
	} else if (rw_layout_to_en(piece, conv, cap)) {
		reading[n++] = conv;
	}
	/* First by known words only (cheap); typo fixes are weighed only when no reading is
	 * wholly known. Ties keep the earlier reading, so what was typed wins a tie. */
	for (int pass = 0; pass < 2; pass++) {
		float best = -1;
		int choice = 0;
		for (int i = 0; i < n; i++) {
			float s = resolvable(ix, a, reading[i], pass == 1);
			if (s > best)
				best = s, choice = i;
			if (pass == 0 && i == 0 && s >= 1.0f)
				return piece; /* every word known as typed */
		}
		if (pass == 1 || best >= 1.0f) {
			*changed = choice != 0;
			return *changed ? arena_strdup(a, reading[choice]) : piece;
		}
	}
	return piece;
}

struct piece {
	const char *text;
	bool hyphen_before; /* joined to the previous piece by a hyphen ("трек-номер") */
};

static size_t reread_query(const struct search_index *ix, struct arena *a, const char *q, struct piece **pieces,
			   bool *changed)
{
	size_t n = 0, len = strlen(q);
	struct piece *v = arena_alloc(a, (len / 2 + 2) * sizeof *v);
	*changed = false;
	for (const char *p = q; *p;) {
		bool hyphen = n > 0 && *p == '-' && p > q && p[-1] != ' ';
		while (*p == ' ' || *p == '-')
			p++;
		size_t plen = strcspn(p, " -");
		if (!plen)
			break;
		bool ch = false;
		v[n].text = reread(ix, a, arena_strndup(a, p, plen), &ch);
		v[n++].hyphen_before = hyphen;
		*changed |= ch;
		p += plen;
	}
	*pieces = v;
	return n;
}

struct plain_words {
	const char *w[8];
	int n;
	struct arena *a;
};

static void on_plain_word(const struct an_token *t, void *arg)
{
	struct plain_words *pw = arg;
	if (!t->joined && pw->n < 8)
		pw->w[pw->n++] = arena_strndup(pw->a, t->word, t->len);
}

/* The other members of the synonym groups of the word whose stem is given. */
static void add_synonyms(const struct search_index *ix, struct qword *q, const char *stem, float w)
{
	uint64_t h = hash64(stem, strlen(stem));
	uint32_t lo = 0, hi = ix->n_syn_pairs;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (ix->syn_pairs[mid].hash < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (uint32_t i = lo; i < ix->n_syn_pairs && ix->syn_pairs[i].hash == h; i++) {
		uint32_t g = ix->syn_pairs[i].group;
		for (uint32_t k = ix->group_start[g]; k < ix->group_start[g + 1]; k++)
			add_alt(q, ix->group_terms[k], w * W_SYNONYM);
	}
}

/* Terms of the (up to max) most frequent words starting with prefix, at weight w. */
/* First position in lx->sorted whose word is not below prefix. */
static uint32_t lower_bound(const struct search_index *ix, const struct lexicon *lx, const char *prefix)
{
	uint32_t lo = 0, hi = lx->n_sorted;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (strcmp(ix->pool + ix->words[lx->sorted[mid]].str, prefix) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The max most frequent live words starting with prefix, among the first 400 in byte order
 * (both lexicons walked together, so the order is the same as in one). */
static void add_words_with_prefix(const struct search_index *ix, struct qword *q, const char *prefix, int max, float w)
{
	size_t n = strlen(prefix);
	const struct lexicon *lx[2] = {ix->base, ix->extra};
	uint32_t at_[2] = {lower_bound(ix, lx[0], prefix), lower_bound(ix, lx[1], prefix)};
	uint32_t best[8];
	int nb = 0;
	if (max > 8)
		max = 8;
	for (int seen = 0; seen < 400;) {
		uint32_t cand[2] = {UINT32_MAX, UINT32_MAX};
		for (int l = 0; l < 2; l++) {
			while (at_[l] < lx[l]->n_sorted && !ix->words[lx[l]->sorted[at_[l]]].df)
				at_[l]++; /* dead since the lexicon was made */
			if (at_[l] < lx[l]->n_sorted)
				cand[l] = lx[l]->sorted[at_[l]];
		}
		int l = cand[0] == UINT32_MAX								    ? 1
			: cand[1] == UINT32_MAX								    ? 0
			: strcmp(ix->pool + ix->words[cand[0]].str, ix->pool + ix->words[cand[1]].str) <= 0 ? 0
													    : 1;
		if (cand[l] == UINT32_MAX)
			break;
		at_[l]++;
		seen++;
		uint32_t id = cand[l];
		const struct word *wd = &ix->words[id];
		if (strncmp(ix->pool + wd->str, prefix, n) != 0)
			break;
		if (wd->stop)
			continue;
		int at = nb;
		while (at > 0 && ix->words[best[at - 1]].df < wd->df)
			at--;
		if (at >= max)
			continue;
		if (nb < max)
			nb++;
		for (int k = nb - 1; k > at; k--)
			best[k] = best[k - 1];
		best[at] = id;
	}
	for (int k = 0; k < nb; k++)
		add_alt(q, ix->words[best[k]].term, w);
}

/* Search as you type: the last word may be the start of a longer one. */
static void add_prefix(const struct search_index *ix, struct qword *q, const char *prefix)
{
	if (an_chars(prefix) >= 3)
		add_words_with_prefix(ix, q, prefix, 6, W_PREFIX);
}

/*
 * Words of the same family: Snowball gives "регистрац" for "регистрация" but "регистрацион"
 * for "регистрационные", and "измен" for "изменить" but "изменен" for "изменение". Words that
 * share the stem's first characters (all but the last three, at least five) stand in, weighted
 * below the word itself.
 */
static void add_family(const struct search_index *ix, struct qword *q, const char *stem)
{
	size_t chars = an_chars(stem);
	if (chars < FAMILY_MIN_CHARS || !an_is_cyrillic(stem))
		return;
	size_t keep = chars - 3 < FAMILY_MIN_CHARS ? FAMILY_MIN_CHARS : chars - 3;
	char prefix[AN_MAX_WORD + 1];
	size_t i = 0, c = 0;
	while (stem[i] && c < keep) {
		i++;
		while (stem[i] && ((unsigned char)stem[i] & 0xC0) == 0x80)
			i++;
		c++;
	}
	memcpy(prefix, stem, i);
	prefix[i] = '\0';
	add_words_with_prefix(ix, q, prefix, 8, W_FAMILY);
}

/*
 * The query's words with their alternatives (exact stem, typo fixes, synonyms, prefix
 * completions). Sets *corrected when anything was rewritten.
 */
static int build_qwords(const struct search_index *ix, struct arena *a, const char *q, struct qword *qw,
			const char **corrected)
{
	struct piece *pieces;
	bool changed;
	size_t np = reread_query(ix, a, q, &pieces, &changed);
	int n = 0;
	struct buf fixed;
	buf_init(&fixed, 4096);
	for (size_t p = 0; p < np; p++) {
		struct plain_words pw = {.a = a};
		an_tokens(pieces[p].text, strlen(pieces[p].text), on_plain_word, &pw);
		if (pieces[p].hyphen_before && pw.n == 1 && n > 0 && !an_is_stop(pw.w[0])) {
			/* "трек-номер" also means "трекномер": an alternative of the first part. */
			char *joined = arena_printf(a, "%s%s", qw[n - 1].text, pw.w[0]);
			char stem[AN_MAX_WORD + 1];
			if (strlen(joined) <= AN_MAX_WORD) {
				an_stem(joined, stem);
				uint32_t t = term_find(ix, stem);
				if (t)
					add_alt(&qw[n - 1], t - 1, W_JOINED);
			}
		}
		for (int i = 0; i < pw.n && n < MAX_QWORDS; i++) {
			const char *w = pw.w[i];
			if (fixed.len)
				buf_addc(&fixed, ' ');
			if (an_is_stop(w)) {
				buf_adds(&fixed, w);
				continue;
			}
			struct qword *x = &qw[n++];
			memset(x, 0, sizeof *x);
			x->text = w;
			char stem[AN_MAX_WORD + 1];
			an_stem(w, stem);
			uint32_t t = term_find(ix, stem);
			const char *shown = w;
			if (t) {
				add_alt(x, t - 1, 1.0f);
			} else {
				struct fix f[4];
				int nf = typo_fixes(ix, w, f);
				for (int k = 0; k < nf; k++) {
					if (f[k].dist > f[0].dist)
						break;
					add_alt(x, ix->words[f[k].word].term, f[k].dist == 1 ? W_TYPO1 : W_TYPO2);
				}
				if (nf > 0) {
					shown = ix->pool + ix->words[f[0].word].str;
					changed = true;
				}
			}
			add_family(ix, x, stem);
			/* Synonyms of what was typed, and of the typo fixes. */
			add_synonyms(ix, x, stem, 1.0f);
			for (int k = x->nalt - 1; k >= 0; k--)
				if (x->alt[k].w < 1.0f)
					add_synonyms(ix, x, ix->pool + ix->terms[x->alt[k].term].str, x->alt[k].w);
			buf_adds(&fixed, shown);
		}
	}
	if (n > 0) {
		qw[n - 1].last = true;
		add_prefix(ix, &qw[n - 1], qw[n - 1].text);
	}
	*corrected = changed && fixed.len ? arena_strdup(a, buf_str(&fixed)) : NULL;
	buf_free(&fixed);
	return n;
}

/* ---- ranking ---- */

#define PROX_WEIGHT 0.3f
#define TITLE_COVER 1.5f
#define RERANK 40
#define SNIPPET_WORDS 26

struct cand {
	uint32_t doc, mask;
	float score;
};

/* The texts a reader in country ci (-1: none; -2: one without variants) sees. */
static const uint64_t *visible_set(const struct search_index *ix, int ci)
{
	return ix->vis + (size_t)(ci < 0 ? 0 : 1 + ci) * ix->vis_words;
}

/* Smallest forward gap (1..3) from a position in a to one in b, or 0. */
static uint32_t gap(const uint32_t *a, uint32_t na, const uint32_t *b, uint32_t nb)
{
	uint32_t best = 0;
	for (uint32_t i = 0, j = 0; i < na && j < nb;) {
		if (b[j] <= a[i]) {
			j++;
			continue;
		}
		uint32_t g = b[j] - a[i];
		if (g <= 3 && (!best || g < best))
			best = g;
		i++;
	}
	return best;
}

struct poslist {
	uint32_t *v, n, cap;
};

/*
 * The proximity bonus of doc for the query: consecutive query words (their first alternative)
 * standing 1-3 positions apart in order. Positions come from the document's tokens, in the order
 * they were indexed.
 */
static float proximity(const struct search_index *ix, struct arena *a, uint32_t d, uint32_t mask,
		       const struct qword *qw, int nq)
{
	struct poslist *pl = arena_alloc(a, (size_t)nq * sizeof *pl);
	const struct doc *doc = &ix->docs[d];
	for (int f = 0; f < F_COUNT; f++) {
		struct tok_reader r = tok_field(doc, f);
		struct tok t;
		while (tok_next(&r, &t)) {
			uint32_t term = ix->word_term[t.word];
			if (term == UINT32_MAX)
				continue;
			for (int i = 0; i < nq; i++) {
				if (!qw[i].nalt || qw[i].alt[0].term != term || !(mask >> i & 1))
					continue;
				struct poslist *p = &pl[i];
				if (p->n == p->cap) {
					uint32_t cap = p->cap ? p->cap * 2 : 16;
					uint32_t *bigger = arena_alloc(a, cap * sizeof *bigger);
					if (p->n)
						memcpy(bigger, p->v, p->n * sizeof *bigger);
					p->v = bigger;
					p->cap = cap;
				}
				p->v[p->n++] = (uint32_t)f * FIELD_GAP + t.pos;
			}
		}
	}
	float bonus = 0;
	for (int i = 0; i + 1 < nq; i++) {
		if (!(mask >> i & 1) || !(mask >> (i + 1) & 1) || !qw[i].nalt || !qw[i + 1].nalt)
			continue;
		uint32_t g = gap(pl[i].v, pl[i].n, pl[i + 1].v, pl[i + 1].n);
		bonus += g == 1 ? 1.0f : g == 2 ? 0.6f : g == 3 ? 0.4f : 0.0f;
	}
	return bonus;
}

/* a ranks before b: by score, then by slug (a result never holds one slug twice), so the order
 * does not depend on the order texts were indexed in. */
static bool better(const struct search_index *ix, const struct cand *a, const struct cand *b)
{
	if (a->score != b->score)
		return a->score > b->score;
	return strcmp(ix->docs[a->doc].slug, ix->docs[b->doc].slug) < 0;
}

/* Min-heap of the best candidates (the worst at the root). */
static void heap_push(const struct search_index *ix, struct cand *h, int *n, int cap, struct cand c)
{
	if (*n == cap) {
		if (!better(ix, &c, &h[0]))
			return;
		h[0] = c;
		for (int i = 0;;) { /* sift down */
			int l = 2 * i + 1, r = l + 1, m = i;
			if (l < *n && better(ix, &h[m], &h[l]))
				m = l;
			if (r < *n && better(ix, &h[m], &h[r]))
				m = r;
			if (m == i)
				break;
			struct cand t = h[i];
			h[i] = h[m];
			h[m] = t;
			i = m;
		}
		return;
	}
	int i = (*n)++;
	h[i] = c;
	while (i > 0 && better(ix, &h[(i - 1) / 2], &h[i])) {
		struct cand t = h[i];
		h[i] = h[(i - 1) / 2];
		h[(i - 1) / 2] = t;
		i = (i - 1) / 2;
	}
}

static int cmp_cands(const void *x, const void *y, void *ixv)
{
	const struct search_index *ix = ixv;
	const struct cand *a = x, *b = y;
	return better(ix, a, b) ? -1 : better(ix, b, a) ? 1 : 0;
}

static void sort_cands(const struct search_index *ix, struct cand *c, int n)
{
	qsort_r(c, (size_t)n, sizeof *c, cmp_cands, (void *)ix);
}

/*
 * Scoring runs over the texts in blocks of BLOCK ids: every posting list is read in doc order,
 * block after block, so the accumulators of a block (struct acc, 16 bytes each: 16 KB) stay in
 * the processor's first-level cache whatever the size of the index, instead of one random access
 * into an array as large as the index per posting.
 */
#define BLOCK 1024

struct acc {
	float acc, best;
	/* Query words (bits 0..MAX_QWORDS - 1) in the text; in its title or keywords. The top byte
	 * of each counts its bits, kept as each word is added up (cheaper than counting them). */
	uint32_t mask, tmask;
};

/* One alternative's posting list, read block after block. */
struct plist {
	const struct posting *p, *end;
	float w;       /* the alternative's weight times its idf */
	bool title_ok; /* a hit in its title or keywords counts as covering the query word */
};

/* ---- snippets ---- */

struct snip_tok {
	uint32_t start, end;
	bool hit;
};

struct snip {
	struct snip_tok *t;
	size_t n;
};

/* What marks a hit in a snippet: the query words' alternatives (sorted terms) and the last
 * query word as a prefix (3+ characters), made once per query. */
struct marks {
	uint32_t *terms;
	int n;
	const char *prefix; /* or NULL */
	size_t prefix_len;
};

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

static struct marks make_marks(struct arena *a, const struct qword *qw, int nq)
{
	struct marks m = {.terms = arena_alloc(a, (size_t)(nq * MAX_ALTS + 1) * sizeof *m.terms)};
	for (int i = 0; i < nq; i++) {
		for (int k = 0; k < qw[i].nalt; k++)
			m.terms[m.n++] = qw[i].alt[k].term;
		if (qw[i].last && an_chars(qw[i].text) >= 3) {
			m.prefix = qw[i].text;
			m.prefix_len = strlen(qw[i].text);
		}
	}
	qsort(m.terms, (size_t)m.n, sizeof *m.terms, cmp_u32);
	return m;
}

/* A token is a hit when its term is an alternative of a query word, or (the last query word, 3+
 * characters) when it starts with that word. Stop words never are. */
static bool is_hit(const struct search_index *ix, const struct marks *m, uint32_t word)
{
	uint32_t term = ix->word_term[word];
	if (term == UINT32_MAX)
		return false;
	if (bsearch(&term, m->terms, (size_t)m->n, sizeof *m->terms, cmp_u32))
		return true;
	return m->prefix && !strncmp(ix->pool + ix->words[word].str, m->prefix, m->prefix_len);
}

/* The plain tokens of field f of doc with their hits. */
static struct snip snip_tokens(const struct search_index *ix, struct arena *a, const struct doc *doc,
			       const struct cold *c, int f, const struct marks *m)
{
	struct snip s = {0};
	int k = f == F_SUMMARY ? 0 : 1;
	size_t cap = doc->len[f] ? doc->len[f] : 1;
	s.t = arena_alloc(a, cap * sizeof *s.t);
	struct tok_reader r = tok_field(doc, f);
	const uint8_t *o = c->offs[k], *o_end = c->offs[k] + c->offs_len[k];
	uint32_t prev_end = 0;
	struct tok t;
	while (tok_next(&r, &t)) {
		if (t.joined)
			continue;
		if (s.n == cap || o >= o_end)
			break;
		uint32_t start = prev_end + get_varint(&o);
		uint32_t end = start + get_varint(&o);
		if (end > c->text_len[k] || end < start) /* never for data the index packed */
			break;
		prev_end = end;
		s.t[s.n++] = (struct snip_tok){start, end, is_hit(ix, m, t.word)};
	}
	return s;
}

/* Escaped text[from..to) with <mark> around the hit tokens inside it. */
static void put_marked(struct buf *b, const char *text, const struct snip *s, size_t first, size_t last, uint32_t from,
		       uint32_t to)
{
	uint32_t at = from;
	for (size_t i = first; i <= last && i < s->n; i++) {
		if (!s->t[i].hit)
			continue;
		html_escape(b, text + at, s->t[i].start - at);
		html_raw(b, "<mark>");
		html_escape(b, text + s->t[i].start, s->t[i].end - s->t[i].start);
		html_raw(b, "</mark>");
		at = s->t[i].end;
	}
	html_escape(b, text + at, to - at);
}

/* A window of field f (summary or body) around the most query words, or NULL when it has none
 * of them (and whole is false). */
static const char *snippet_of(const struct search_index *ix, struct arena *a, const struct doc *doc,
			      const struct cold *c, int f, const struct marks *m, bool whole)
{
	int k = f == F_SUMMARY ? 0 : 1;
	const char *text = c->text[k];
	struct snip s = snip_tokens(ix, a, doc, c, f, m);
	if (s.n == 0)
		return NULL;
	size_t best = 0, best_hits = 0, hits = 0;
	for (size_t i = 0; i < s.n; i++) {
		hits += s.t[i].hit;
		if (i >= SNIPPET_WORDS)
			hits -= s.t[i - SNIPPET_WORDS].hit;
		if (hits > best_hits) {
			best_hits = hits;
			best = i >= SNIPPET_WORDS - 1 ? i - (SNIPPET_WORDS - 1) : 0;
		}
	}
	if (!best_hits && !whole)
		return NULL;
	/* Start a few words before the first hit of the window, for context. */
	size_t first = best;
	while (first < s.n && !s.t[first].hit && first < best + SNIPPET_WORDS)
		first++;
	first = first >= best + 3 ? first - 3 : best;
	size_t last = first + SNIPPET_WORDS - 1 < s.n ? first + SNIPPET_WORDS - 1 : s.n - 1;
	if (s.n <= SNIPPET_WORDS + 6) { /* short enough to show whole */
		first = 0;
		last = s.n - 1;
	} else if (last - first + 1 < SNIPPET_WORDS) { /* near the end: fill the window backwards */
		first = last + 1 - SNIPPET_WORDS;
	}
	struct buf b;
	buf_init(&b, 16384);
	uint32_t from = first == 0 ? 0 : s.t[first].start;
	uint32_t to = last == s.n - 1 ? (uint32_t)c->text_len[k] : s.t[last].end;
	if (first > 0)
		html_raw(&b, "… ");
	put_marked(&b, text, &s, first, last, from, to);
	if (last < s.n - 1)
		html_raw(&b, " …");
	const char *r = arena_strdup(a, buf_str(&b));
	buf_free(&b);
	return r;
}

static const char *make_snippet(const struct search_index *ix, struct arena *a, const struct doc *d,
				const struct marks *m)
{
	struct cold c;
	if (!cold_of(ix, a, d, &c))
		return "";
	const char *s = snippet_of(ix, a, d, &c, F_SUMMARY, m, false);
	if (!s)
		s = snippet_of(ix, a, d, &c, F_BODY, m, false);
	if (!s)
		s = snippet_of(ix, a, d, &c, c.text_len[0] ? F_SUMMARY : F_BODY, m, true);
	return s ? s : "";
}

int search_run(const struct search_index *ix, struct arena *a, const struct search_query *q, struct search_result *out)
{
	memset(out, 0, sizeof *out);
	char **all;
	if (search_words(a, q->text, &all) == 0)
		return -1;
	struct qword *qw = arena_alloc(a, MAX_QWORDS * sizeof *qw);
	const char *corrected;
	int nq = build_qwords(ix, a, q->text, qw, &corrected);
	out->corrected = corrected;
	out->hits = arena_alloc(a, sizeof *out->hits);
	if (nq == 0 || ix->n_docs == 0)
		return 0;
	int ci = -1;
	if (q->country && *q->country) {
		ci = -2; /* a country without variants: general texts only */
		for (int i = 0; i < ix->n_countries; i++)
			if (!strcmp(ix->countries[i], q->country))
				ci = i;
	}
	uint32_t sid = UINT32_MAX;
	if (q->section) {
		for (uint32_t i = 0; i < ix->n_sections; i++)
			if (!strcmp(ix->sections[i], q->section))
				sid = i;
		if (sid == UINT32_MAX)
			return 0;
	}
	const uint64_t *vis = visible_set(ix, ci);
	float N = (float)ix->n_docs;
	/* The alternatives' lists, word after word (first[i]..first[i + 1]). */
	struct plist *pl = arena_alloc(a, (size_t)(nq * MAX_ALTS + 1) * sizeof *pl);
	int *first = arena_alloc(a, (size_t)(nq + 1) * sizeof *first);
	int npl = 0;
	for (int i = 0; i < nq; i++) {
		first[i] = npl;
		/* An alternative (synonym, completion) is never worth more than the word typed: a
		 * rare synonym must not outrank the common word the person actually used. */
		float cap_idf = INFINITY;
		if (qw[i].nalt && qw[i].alt[0].w >= 1.0f) {
			float df0 = (float)ix->terms[qw[i].alt[0].term].post_count;
			cap_idf = logf(1.0f + (N - df0 + 0.5f) / (df0 + 0.5f));
		}
		for (int k = 0; k < qw[i].nalt; k++) {
			const struct term *t = &ix->terms[qw[i].alt[k].term];
			float df = (float)t->post_count;
			float idf = logf(1.0f + (N - df + 0.5f) / (df + 0.5f));
			if (idf > cap_idf)
				idf = cap_idf;
			pl[npl++] = (struct plist){.p = ix->postings + t->post_start,
						   .end = ix->postings + t->post_start + t->post_count,
						   .w = qw[i].alt[k].w * idf,
						   .title_ok = qw[i].alt[k].w >= W_TYPO2};
		}
	}
	first[nq] = npl;
	int want = q->offset + q->limit;
	int cap = want > RERANK ? want : RERANK;
	struct cand *heap = arena_alloc(a, (size_t)cap * sizeof *heap);
	int nh = 0;
	struct acc *v = arena_alloc(a, BLOCK * sizeof *v);
	memset(v, 0, BLOCK * sizeof *v);
	uint16_t *touched = arena_alloc(a, (BLOCK + 1) * sizeof *touched); /* + 1: branch-free appends */
	uint16_t *word_docs = arena_alloc(a, (BLOCK + 1) * sizeof *word_docs);
	size_t total = 0;
	for (uint32_t base = 0; base < (uint32_t)ix->n_docs; base += BLOCK) {
		uint32_t end = base + BLOCK;
		int nt = 0;
		for (int i = 0; i < nq; i++) {
			/* A word counts once per text: its best alternative (exact, typo fix, synonym...). */
			int nwd = 0;
			for (int l = first[i]; l < first[i + 1]; l++) {
				const struct posting *ps = pl[l].p;
				for (; ps < pl[l].end && ps->doc < end; ps++) {
					uint32_t d = ps->doc;
					if (!((vis[d / 64] >> (d & 63)) & 1) ||
					    (sid != UINT32_MAX && ix->docs[d].section_id != sid))
						continue;
					/* Branch-free: whether a text is new to the block or to the word
					 * is a coin toss per posting. */
					struct acc *x = &v[d - base];
					uint32_t bit = 1u << i;
					touched[nt] = (uint16_t)(d - base);
					nt += !x->mask;
					word_docs[nwd] = (uint16_t)(d - base);
					nwd += !(x->mask & bit);
					float tf = fabsf(ps->wtf);
					float val = pl[l].w * tf * (K1 + 1.0f) / (tf + K1);
					x->best = fmaxf(x->best, val);
					x->mask |= bit;
					x->tmask |= (pl[l].title_ok && ps->wtf < 0) ? bit : 0;
				}
				pl[l].p = ps;
			}
			for (int j = 0; j < nwd; j++) {
				struct acc *x = &v[word_docs[j]];
				x->acc += x->best;
				x->best = 0;
				x->mask += 1u << 24;
				x->tmask += ((x->tmask >> i) & 1u) << 24;
			}
		}
		for (int j = 0; j < nt; j++) {
			struct acc *x = &v[touched[j]];
			uint32_t d = base + touched[j];
			float matched = (float)(x->mask >> 24) / (float)nq;
			float cover = (float)(x->tmask >> 24) / (float)nq;
			/* Coordination: documents with more of the query's words first; and an article
			 * whose title or keywords hold the query's words is what the person is looking for. */
			float score =
			    x->acc * (COORD + (1.0f - COORD) * matched) * (1.0f + TITLE_COVER * cover * cover);
			if (ix->boosted)
				score *= ix->boost[d];
			heap_push(ix, heap, &nh, cap, (struct cand){d, x->mask & 0xffffffu, score});
			*x = (struct acc){0}; /* zero again for the next block */
		}
		total += (size_t)nt;
	}
	out->total = (int)total;
	sort_cands(ix, heap, nh);
	/* Proximity: the best candidates gain when query words stand together, in order. */
	if (nq > 1) {
		int top = nh < RERANK ? nh : RERANK;
		/* The bonus multiplies a score by at most 1 + PROX_WEIGHT: a candidate that would stay
		 * below the last one shown even with it keeps its place without the scan. */
		if (want < top) {
			float bar = heap[want - 1].score / (1.0f + PROX_WEIGHT) * 0.9999f;
			for (int c = want; c < top; c++)
				if (heap[c].score < bar) {
					top = c;
					break;
				}
		}
		for (int c = 0; c < top; c++) {
			float bonus = proximity(ix, a, heap[c].doc, heap[c].mask, qw, nq);
			heap[c].score *= 1.0f + PROX_WEIGHT * bonus / (float)(nq - 1);
		}
		sort_cands(ix, heap, top);
	}
	int start = q->offset < nh ? q->offset : nh;
	int count = nh - start < q->limit ? nh - start : q->limit;
	out->hits = arena_alloc(a, (size_t)(count > 0 ? count : 1) * sizeof *out->hits);
	out->n = count;
	struct marks m = q->snippets ? make_marks(a, qw, nq) : (struct marks){0};
	for (int i = 0; i < count; i++) {
		const struct doc *doc = &ix->docs[heap[start + i].doc];
		out->hits[i] = (struct search_hit){
		    .slug = doc->slug,
		    .title = doc->title,
		    .section = doc->section,
		    .score = round(heap[start + i].score * 1000.0) / 1000.0,
		    .snippet_html = q->snippets ? make_snippet(ix, a, doc, &m) : NULL,
		};
	}
	return 0;
}
