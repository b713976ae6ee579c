#include "bench.h"

#include "../core/arena.h"
#include "../core/text.h"
#include "../http/http.h"
#include "../search/search.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int bench_search_main(const char *corpus_path)
{
	FILE *f = fopen(corpus_path, "r");
	if (!f) {
		fprintf(stderr, "spravka: cannot open %s\n", corpus_path);
		return 1;
	}
	size_t cap = 1024, n = 0;
	struct search_doc *docs = xmalloc(cap * sizeof *docs);
	json_t **keep = xmalloc(cap * sizeof *keep);
	char *line = NULL;
	size_t linecap = 0;
	ssize_t len;
	int lineno = 0;
	uint64_t t0 = http_now_us();
	while ((len = getline(&line, &linecap, f)) > 0) {
		lineno++;
		json_error_t jerr;
		json_t *j = json_loadb(line, (size_t)len, 0, &jerr);
		const char *id, *title, *text;
		if (!j || json_unpack(j, "{s:s, s:s, s:s}", "id", &id, "title", &title, "text", &text)) {
			fprintf(stderr, "spravka: %s:%d: expected {\"id\",\"title\",\"text\"}\n", corpus_path, lineno);
			json_decref(j);
			continue;
		}
		if (n == cap) {
			cap *= 2;
			docs = xrealloc(docs, cap * sizeof *docs);
			keep = xrealloc(keep, cap * sizeof *keep);
		}
		keep[n] = j;
		docs[n++] = (struct search_doc){.slug = id,
						.country = "",
						.section = "",
						.title = title,
						.summary = "",
						.keywords = "",
						.text = text};
	}
	free(line);
	fclose(f);
	struct search_index *ix = search_build(docs, (int)n, NULL);
	double build_s = (double)(http_now_us() - t0) / 1e6;
	for (size_t i = 0; i < n; i++)
		json_decref(keep[i]);
	free(keep);
	free(docs);
	printf("ready %.3f %zu\n", build_s, search_memory(ix));
	fflush(stdout);
	struct buf out;
	buf_init(&out, 1 << 20);
	line = NULL;
	linecap = 0;
	while ((len = getline(&line, &linecap, stdin)) > 0) {
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		struct arena *a = arena_new();
		uint64_t q0 = http_now_us();
		struct search_result r = {0};
		if (utf8_valid(line, (size_t)len)) {
			struct search_query q = {.text = search_clean_query(a, line), .country = "", .limit = 100};
			search_run(ix, a, &q, &r);
		}
		uint64_t us = http_now_us() - q0;
		buf_reset(&out);
		buf_printf(&out, "%llu\t", (unsigned long long)us);
		for (int i = 0; i < r.n; i++) {
			if (i)
				buf_addc(&out, ' ');
			buf_adds(&out, r.hits[i].slug);
		}
		buf_addc(&out, '\n');
		fwrite(buf_str(&out), 1, out.len, stdout);
		fflush(stdout);
		arena_free(a);
	}
	free(line);
	buf_free(&out);
	search_free(ix);
	return 0;
}
