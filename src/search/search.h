/*
 * search — finding articles for a query typed by a person.
 *
 * First version (issue #2): an in-memory index of every text's title, keywords, summary and
 * body, case-folded with utf8proc (ё = е), matched by word prefixes that stand in for stemming,
 * scored by field weight. The search issue replaces the engine behind these same functions.
 *
 * An index is built from the knowledge base's texts and is read-only afterwards, so any number
 * of threads may search it at once; the owner swaps in a new one when content changes. The
 * module never touches the database and never writes HTML outside the snippets it builds (which
 * are escaped here).
 */
#ifndef SPRAVKA_SEARCH_H
#define SPRAVKA_SEARCH_H

#include <stddef.h>

struct arena;
struct kb_text;
struct search_index;

struct search_query {
	const char *text;    /* what the person typed (valid UTF-8, already length-capped) */
	const char *country; /* reader's country code, "" for the general texts */
	const char *section; /* only this section's articles, or NULL */
	int limit;           /* 1..100 */
	int offset;
};

struct search_hit {
	const char *slug, *title, *section;
	const char *snippet_html; /* escaped HTML with <mark> around matches */
	double score;
};

struct search_result {
	int total;             /* matches before limit/offset */
	const char *corrected; /* the rewritten query, or NULL */
	struct search_hit *hits;
	int n;
};

/* Builds an index over n texts (with bodies). The index copies what it needs. */
struct search_index *search_build(const struct kb_text *texts, int n);
void search_free(struct search_index *ix);
/* Runs q; hits are allocated in a. Returns 0, or -1 when the query has no words. */
int search_run(const struct search_index *ix, struct arena *a, const struct search_query *q,
	       struct search_result *out);
/*
 * The query as the engine takes it: control characters dropped, white space runs collapsed,
 * cut to 256 characters at a character boundary. text must be valid UTF-8. Arena string.
 */
const char *search_clean_query(struct arena *a, const char *text);
#define SEARCH_MAX_QUERY_CHARS 256
/* Case-folded words of text (arena), ё folded to е; returns their count. */
size_t search_words(struct arena *a, const char *text, char ***words);

#endif
