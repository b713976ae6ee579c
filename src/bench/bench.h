/*
 * bench — `spravka bench-search CORPUS_JSONL`: the search engine behind the benchmark
 * harness's pipe protocol (../shared/bench/search/peers/README.md), running exactly the code
 * the server runs.
 *
 * Reads the corpus ({"id","title","text"} per line), builds the index, prints
 * "ready <build_seconds> <index_bytes>", then for every query line on stdin prints
 * "<search_microseconds>\t<docid> <docid> ..." (best first, at most 100). Exits at EOF.
 */
#ifndef SPRAVKA_BENCH_H
#define SPRAVKA_BENCH_H

/* Returns the process exit code. */
int bench_search_main(const char *corpus_path);

#endif
