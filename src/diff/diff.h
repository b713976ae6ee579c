/*
 * diff — a line diff of two texts, for the editors' comparison of two revisions (desk/).
 *
 * The edit script is a shortest one (a longest common subsequence of the lines): the common
 * prefix and suffix are taken first, the rest by the classic LCS table, kept as one bit per pair
 * of lines (the choice at each cell) with two rows of lengths, so that 5,000 lines against 5,000
 * cost 3 MB and 25 million steps (about 25 ms when no line is common). Within a change, deletions come before
 * insertions. Lines are
 * '\n'-separated; a final '\n' ends the last line (it does not start an empty one); a '\r' before
 * '\n' is part of its line. Never renders anything (the caller escapes the lines).
 */
#ifndef SPRAVKA_DIFF_H
#define SPRAVKA_DIFF_H

#include <stddef.h>

struct arena;

enum diff_op { DIFF_SAME, DIFF_DEL, DIFF_INS };

struct diff_line {
	enum diff_op op;
	const char *text; /* into the caller's old (SAME, DEL) or new (INS) text; not terminated */
	size_t len;	  /* without its '\n' */
};

/* The limit the desk uses: a longer text is not compared line by line. */
#define DIFF_MAX_LINES 5000

/* The number of lines of s (as above). */
size_t diff_count_lines(const char *s);
/*
 * The script turning old into new, in order, into *out (arena): old is its SAME and DEL lines,
 * new its SAME and INS lines. Returns the number of lines of the script, or -1 when old or new
 * has more than max_lines lines (nothing computed).
 */
long diff_lines(struct arena *a, const char *old, const char *new, size_t max_lines, struct diff_line **out);

#endif
