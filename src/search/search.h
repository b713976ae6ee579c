/*
 * search — finding the article a person means, however they typed it.
 *
 * An in-memory inverted index over every text of the knowledge base (title, keywords, summary,
 * body), built from the database at start and brought up to date when content changes: either
 * built again, or updated from the texts that changed (search_update: the unchanged texts are
 * not analyzed again); the app swaps in the new index, searches never wait for either. The
 * index keeps each text's words and, compressed (textstore.h), its snippet data, so snippets
 * need no analysis per query. Documents are analyzed by analyze.c: Unicode case folding
 * (utf8proc), ё = е, compounds split and joined, Snowball stems (Russian, English), stop words.
 * Ranking is BM25F over the four fields with a proximity bonus for query words that stand
 * together, and a per-article boost (the hook for "this helped" feedback).
 *
 * A query goes through, in order: clean-up (control characters, 256 characters); per word, the
 * wrong keyboard layout (Latin keys for Russian and the reverse) and Latin transliteration, kept
 * when they make more words known to the index; typo correction (edit distance 1 for words of 4+
 * letters, 2 for 8+, through a deletion dictionary, weighted below exact matches); synonyms from
 * content/synonyms.txt; prefix matching of the last word (search as you type). When the query was
 * rewritten, the result says how (`corrected`).
 *
 * Per-country texts: a search for country C sees C's variant of an article where one exists and
 * the general text otherwise, never a text hidden for C, and each article at most once.
 *
 * An index is read-only once built: any number of threads may search it at once (a query scores
 * the texts in blocks of 1,024 with 16 KB of accumulators from its arena, whatever the index's
 * size). The module never touches the database and builds snippet HTML itself, escaped, with
 * <mark> around matches.
 */
#ifndef SPRAVKA_SEARCH_H
#define SPRAVKA_SEARCH_H

#include <stdbool.h>
#include <stddef.h>

struct arena;
struct search_index;

/* One text to index. Strings are copied. */
struct search_doc {
	const char *slug;    /* the article (several docs share it: general text and variants) */
	const char *country; /* "" for the general text, else the variant's country code */
	const char *section;
	const char *title, *summary, *keywords;
	const char *text; /* the body as plain text */
	bool removed;	  /* search_update: the text of (slug, country) is gone (other fields unused) */
};

struct search_query {
	const char *text;    /* what the person typed (valid UTF-8; see search_clean_query) */
	const char *country; /* the reader's country code; "" = general texts only */
	const char *section; /* only this section, or NULL */
	int limit;	     /* 1..100 */
	int offset;	     /* 0..1000 */
	bool snippets;	     /* build snippet_html (the benchmark does not need them) */
};

struct search_hit {
	const char *slug, *title, *section;
	const char *snippet_html; /* escaped HTML with <mark> around matches; NULL without snippets */
	double score;
};

struct search_result {
	int total;	       /* matching articles before limit/offset */
	const char *corrected; /* the query as rewritten (layout, transliteration, typos), or NULL */
	struct search_hit *hits;
	int n;
};

/*
 * Builds an index over n docs. synonyms is the text of content/synonyms.txt (lines of
 * comma-separated words that mean the same; '#' starts a comment) or NULL. Never NULL.
 */
struct search_index *search_build(const struct search_doc *docs, int n, const char *synonyms);
/*
 * A new index equal to search_build() over old's texts with changes applied: each change
 * replaces the text with its (slug, country), adds it when there is none, or removes it
 * (.removed); the last change of a key wins. Only the changed texts are analyzed; the unchanged
 * ones move over without a copy of their strings or tokens: old may still be searched while the
 * new index lives, the two may be freed in either order, and at most one update may be made
 * from old. Synonyms and boosts stay as they were (a changed text's boost is 1).
 */
struct search_index *search_update(struct search_index *old, const struct search_doc *changes, int n);
/* Share of the index's words that no text has any more (updates keep them, invisible): the
 * caller builds afresh when it grows. */
double search_dead_share(const struct search_index *ix);
/* Number of texts. */
int search_size(const struct search_index *ix);
void search_free(struct search_index *ix);
/* Bytes the index holds (counted: arrays, strings and tokens; not malloc's own overhead). */
size_t search_memory(const struct search_index *ix);
/* Multiplies the scores of slug's texts by boost (1.0 = neutral), e.g. from "this helped". */
void search_set_boost(struct search_index *ix, const char *slug, double boost);
/*
 * Feedback in the ranking («Была ли статья полезной?»): the boost of an article with yes and no
 * votes, 1 + SEARCH_FEEDBACK_MAX_BOOST x clamp(2 x (w - 0.5), 0, 1) where w is the lower bound
 * of the Wilson interval (95%) of the share of "yes": never below 1 (a poorly rated article loses
 * nothing: its text may still be the answer), at most 1 + SEARCH_FEEDBACK_MAX_BOOST however
 * many votes (so a text match better by more than that is never outranked), and close to 1 for
 * few votes (3 "yes" of 3: w = 0.44, no boost; 20 of 20: 1.03).
 */
#define SEARCH_FEEDBACK_MAX_BOOST 0.05
double search_feedback_boost(long long yes, long long no);
/* Sets every text's boost: boosts[i] for the texts of slugs[i] (sorted by strcmp), 1 for the
 * others. Only on an index no thread searches yet (before the app publishes it). */
void search_set_boosts(struct search_index *ix, const char *const *slugs, const double *boosts, int n);
/* Runs q; hits and strings are allocated in a. Returns 0, or -1 when the query has no words. */
int search_run(const struct search_index *ix, struct arena *a, const struct search_query *q, struct search_result *out);

#define SEARCH_MAX_QUERY_CHARS 256
/*
 * The query as the engine takes it: control characters dropped, white space runs collapsed,
 * cut to 256 characters at a character boundary. text must be valid UTF-8. Arena string.
 */
const char *search_clean_query(struct arena *a, const char *text);
/* Normalized words of text (lower case, ё → е), compounds joined as well; arena. */
size_t search_words(struct arena *a, const char *text, char ***words);

#endif
