/*
 * Replays a harness's corpus without libFuzzer (built with gcc for make test):
 *   fuzz-replay-NAME DIR|FILE...
 * Every file once through LLVMFuzzerTestOneInput; ends with "fuzz-replay NAME:
 * P passed, F failed" (an input fails when the harness reports a broken
 * promise; a crash ends the run).
 */
#include "fuzz.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int passed, failed;

static void run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "replay: cannot open %s\n", path);
		failed++;
		return;
	}
	size_t cap = 1 << 16, len = 0;
	unsigned char *buf = malloc(cap);
	size_t n;
	while ((n = fread(buf + len, 1, cap - len, f)) > 0) {
		len += n;
		if (len == cap)
			buf = realloc(buf, cap *= 2);
	}
	fclose(f);
	int before = fuzz_failures;
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	if (fuzz_failures > before) {
		fprintf(stderr, "replay: FAIL %s\n", path);
		failed++;
	} else {
		passed++;
	}
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_path(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		fprintf(stderr, "replay: no %s\n", path);
		failed++;
		return;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path);
	DIR *d = opendir(path);
	char **names = NULL;
	size_t count = 0;
	for (struct dirent *e; d && (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		names = realloc(names, (count + 1) * sizeof *names);
		size_t len = strlen(path) + strlen(e->d_name) + 2;
		names[count] = malloc(len);
		snprintf(names[count++], len, "%s/%s", path, e->d_name);
	}
	if (d)
		closedir(d);
	qsort(names, count, sizeof *names, by_name);
	for (size_t i = 0; i < count; i++) {
		run_file(names[i]);
		free(names[i]);
	}
	free(names);
}

int main(int argc, char **argv)
{
	fuzz_replay_mode = 1;
	const char *name = strrchr(argv[0], '-');
	for (int i = 1; i < argc; i++)
		run_path(argv[i]);
	printf("fuzz-replay %s: %d passed, %d failed\n", name ? name + 1 : argv[0], passed, failed);
	fflush(stdout);
	/* The server's threads are left to the exit: stopping them would wait for the
	 * grace time. */
	_exit(failed ? 1 : 0);
}
