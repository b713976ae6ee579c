/* Unit tests of src/diff: the line diff of two revisions' texts. */
#include "../../src/core/arena.h"
#include "../../src/diff/diff.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The script as one string: " x", "-x", "+x" lines. */
static const char *script(struct arena *a, const char *old, const char *new)
{
	struct diff_line *d;
	long n = diff_lines(a, old, new, DIFF_MAX_LINES, &d);
	cr_assert_geq(n, 0);
	size_t cap = 16;
	for (long i = 0; i < n; i++)
		cap += d[i].len + 2;
	char *s = arena_alloc(a, cap), *p = s;
	for (long i = 0; i < n; i++) {
		*p++ = d[i].op == DIFF_SAME ? ' ' : d[i].op == DIFF_DEL ? '-' : '+';
		memcpy(p, d[i].text, d[i].len);
		p += d[i].len;
		*p++ = '\n';
	}
	*p = 0;
	return s;
}

Test(diff, the_edits_of_small_texts)
{
	struct arena *a = arena_new();
	cr_assert_str_eq(script(a, "a\nb\nc\n", "a\nb\nc\n"), " a\n b\n c\n", "identical");
	cr_assert_str_eq(script(a, "a\nc\n", "a\nb\nc\n"), " a\n+b\n c\n", "an insertion");
	cr_assert_str_eq(script(a, "a\nb\nc\n", "a\nc\n"), " a\n-b\n c\n", "a deletion");
	cr_assert_str_eq(script(a, "a\nb\nc\n", "a\nx\ny\nc\n"), " a\n-b\n+x\n+y\n c\n", "a change: deleted first");
	cr_assert_str_eq(script(a, "", "a\nb"), "+a\n+b\n", "from nothing; no final newline");
	cr_assert_str_eq(script(a, "a\nb\n", ""), "-a\n-b\n", "to nothing");
	cr_assert_str_eq(script(a, "", ""), "", "both empty");
	cr_assert_str_eq(script(a, "a\nb", "a\nb\n"), " a\n b\n", "a final newline ends the last line");
	cr_assert_str_eq(script(a, "a\n\nb\n", "a\nb\n"), " a\n-\n b\n", "an empty line is a line");
	/* LCS, not greedy: the common "b c d" is kept, not the first "a". */
	cr_assert_str_eq(script(a, "x\nb\nc\nd\na\n", "a\nb\nc\nd\ny\n"), "-x\n+a\n b\n c\n d\n-a\n+y\n");
	cr_assert_str_eq(script(a, "<script>\nok\n", "ok\n<b>\n"), "-<script>\n ok\n+<b>\n", "bytes as they are");
	arena_free(a);
}

Test(diff, refuses_texts_over_the_limit)
{
	struct arena *a = arena_new();
	char *big = malloc(3 * 6000 + 1), *p = big;
	for (int i = 0; i < 6000; i++)
		p += sprintf(p, "%c\n", 'a' + i % 26);
	struct diff_line *d;
	cr_assert_eq(diff_count_lines(big), 6000);
	cr_assert_eq(diff_lines(a, big, "a\n", DIFF_MAX_LINES, &d), -1, "old too long");
	cr_assert_eq(diff_lines(a, "a\n", big, DIFF_MAX_LINES, &d), -1, "new too long");
	cr_assert_gt(diff_lines(a, big, big, 6000, &d), 0, "within a larger limit");
	free(big);
	arena_free(a);
}

/* Random texts over a small alphabet: the script rebuilds both texts, and its length is
 * n + m - LCS (checked against a plain quadratic LCS). */
Test(diff, the_script_rebuilds_both_texts_and_is_shortest)
{
	struct arena *a = arena_new();
	srand(7);
	for (int round = 0; round < 300; round++) {
		int n = rand() % 40, m = rand() % 40;
		char old[200] = "", new[200] = "";
		char xs[40], ys[40];
		for (int i = 0; i < n; i++) {
			xs[i] = (char)('a' + rand() % 4);
			char l[3] = {xs[i], '\n', 0};
			strcat(old, l);
		}
		for (int j = 0; j < m; j++) {
			ys[j] = (char)('a' + rand() % 4);
			char l[3] = {ys[j], '\n', 0};
			strcat(new, l);
		}
		struct diff_line *d;
		long k = diff_lines(a, old, new, DIFF_MAX_LINES, &d);
		char ro[200] = "", rn[200] = "";
		int edits = 0;
		for (long i = 0; i < k; i++) {
			char l[3] = {d[i].text[0], '\n', 0};
			cr_assert_eq(d[i].len, 1);
			if (d[i].op != DIFF_INS)
				strcat(ro, l);
			if (d[i].op != DIFF_DEL)
				strcat(rn, l);
			edits += d[i].op != DIFF_SAME;
		}
		cr_assert_str_eq(ro, old);
		cr_assert_str_eq(rn, new);
		static int L[41][41];
		for (int i = n; i >= 0; i--)
			for (int j = m; j >= 0; j--)
				L[i][j] = i == n || j == m	      ? 0
					  : xs[i] == ys[j]	      ? L[i + 1][j + 1] + 1
					  : L[i + 1][j] > L[i][j + 1] ? L[i + 1][j]
								      : L[i][j + 1];
		cr_assert_eq(edits, n + m - 2 * L[0][0], "round %d: a shortest script", round);
	}
	arena_free(a);
}
