/*
 * The search quality gate on the demo content: every query of tests/search/queries.tsv (what
 * members really type: clean, inflected, colloquial, typos, wrong layout, transliteration, caps)
 * must have one of its answers in the top 3 for at least 90% of the queries. Prints the hit
 * rate per category and every miss.
 */
#include "../../src/core/arena.h"
#include "../../src/kb/kb.h"
#include "../../src/md/md.h"
#include "../../src/search/search.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The index of the demo content (content/), built as the server builds it; its texts live in a. */
static struct search_index *demo_index(struct arena *a)
{
	struct kb_batch b;
	char err[512];
	cr_assert(kb_read_dir(a, "content", &b, err, sizeof err), "%s", err);
	struct search_doc *docs = arena_alloc(a, b.n_texts * sizeof *docs);
	for (size_t i = 0; i < b.n_texts; i++) {
		const struct kb_text *t = &b.texts[i];
		char *plain = md_to_text(t->body, strlen(t->body));
		docs[i] = (struct search_doc){
		    t->slug, t->country, t->section, t->title, t->summary, t->keywords, arena_strdup(a, plain), false};
		free(plain);
	}
	return search_build(docs, (int)b.n_texts, b.synonyms);
}

Test(search_queries, demo_content_top3_at_least_90_percent, .timeout = 60)
{
	struct arena *a = arena_new();
	struct search_index *ix = demo_index(a);
	FILE *f = fopen("tests/search/queries.tsv", "r");
	cr_assert_not_null(f);
	char line[2048];
	int total = 0, hits = 0;
	struct {
		char name[32];
		int total, hits;
	} cats[16];
	int ncats = 0;
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (!*line || *line == '#')
			continue;
		char *cat = strtok(line, "\t"), *query = strtok(NULL, "\t"), *slugs = strtok(NULL, "\t");
		cr_assert(cat && query && slugs, "malformed line");
		int c = 0;
		while (c < ncats && strcmp(cats[c].name, cat))
			c++;
		if (c == ncats) {
			snprintf(cats[c].name, sizeof cats[c].name, "%s", cat);
			cats[c].total = cats[c].hits = 0;
			ncats++;
		}
		struct search_query q = {.text = search_clean_query(a, query), .country = "RU", .limit = 3};
		struct search_result r;
		bool ok = false;
		if (search_run(ix, a, &q, &r) == 0)
			for (int i = 0; i < r.n && !ok; i++) {
				char want[512];
				snprintf(want, sizeof want, ",%s,", slugs);
				char got[256];
				snprintf(got, sizeof got, ",%s,", r.hits[i].slug);
				ok = strstr(want, got) != NULL;
			}
		total++, cats[c].total++;
		if (ok)
			hits++, cats[c].hits++;
		else
			printf("search miss [%s] \"%s\" -> want %s, got %s, %s, %s%s%s\n", cat, query, slugs,
			       r.n > 0 ? r.hits[0].slug : "-", r.n > 1 ? r.hits[1].slug : "-",
			       r.n > 2 ? r.hits[2].slug : "-", r.corrected ? " (corrected: " : "",
			       r.corrected ? r.corrected : "");
	}
	fclose(f);
	for (int c = 0; c < ncats; c++)
		printf("search hit rate [%s]: %d/%d\n", cats[c].name, cats[c].hits, cats[c].total);
	printf("search hit rate (top 3, tests/search/queries.tsv): %d/%d = %.1f%%\n", hits, total,
	       100.0 * hits / total);
	fflush(stdout);
	cr_assert_geq(total, 80, "queries.tsv must hold at least 80 queries");
	cr_assert_geq(hits * 10, total * 9, "top-3 hit rate %d/%d is below 90%%", hits, total);
	search_free(ix);
	arena_free(a);
}

/*
 * Snippets are built from the per-document token data kept at index time. Their output must be
 * what the former code (which analyzed each result's text again per query) produced:
 * tests/search/snippets.tsv was written by that code (SPRAVKA_WRITE_SNIPPETS=1 rewrites it) for
 * the top 3 results of every query of queries.tsv, for a reader in RU and in KZ.
 */
Test(search_queries, snippets_equal_the_reanalyzing_code, .timeout = 60)
{
	struct arena *a = arena_new();
	struct search_index *ix = demo_index(a);
	bool write = getenv("SPRAVKA_WRITE_SNIPPETS") != NULL;
	FILE *f = fopen("tests/search/queries.tsv", "r");
	FILE *golden = fopen("tests/search/snippets.tsv", write ? "w" : "r");
	cr_assert(f && golden);
	char line[2048], want[8192];
	int compared = 0;
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (!*line || *line == '#')
			continue;
		strtok(line, "\t");
		char *query = strtok(NULL, "\t");
		static const char *const countries[] = {"RU", "KZ"};
		for (int c = 0; c < 2; c++) {
			struct search_query q = {.text = search_clean_query(a, query),
						 .country = countries[c],
						 .limit = 3,
						 .snippets = true};
			struct search_result r;
			if (search_run(ix, a, &q, &r) != 0)
				continue;
			for (int i = 0; i < r.n; i++) {
				char *snip = arena_strdup(a, r.hits[i].snippet_html);
				for (char *p = snip; *p; p++)
					if (*p == '\n' || *p == '\t')
						*p = ' '; /* one line per snippet */
				char *got =
				    arena_printf(a, "%s\t%s\t%s\t%s", query, countries[c], r.hits[i].slug, snip);
				if (write) {
					fprintf(golden, "%s\n", got);
					continue;
				}
				cr_assert_not_null(fgets(want, sizeof want, golden), "snippets.tsv ends early");
				want[strcspn(want, "\n")] = '\0';
				cr_assert_str_eq(got, want);
				compared++;
			}
		}
	}
	fclose(f);
	fclose(golden);
	if (!write)
		cr_assert_geq(compared, 300, "only %d snippets compared", compared);
	search_free(ix);
	arena_free(a);
}
