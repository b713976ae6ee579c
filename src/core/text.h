/*
 * text — small checks and conversions on UTF-8 text that every layer needs.
 *
 * Nothing here allocates except the functions that take an arena. None of them accepts a NUL
 * inside the text they check: the network gives lengths, and a NUL in user text is always an
 * error here.
 */
#ifndef SPRAVKA_TEXT_H
#define SPRAVKA_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;

/* True when s[0..n) is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF) with no NUL. */
bool utf8_valid(const char *s, size_t n);
/* Number of code points in a valid UTF-8 string. */
size_t utf8_length(const char *s);
/* Largest prefix length <= max that ends on a character boundary of valid UTF-8 s. */
size_t utf8_cut(const char *s, size_t len, size_t max);
/*
 * The length (2 or 3) of an invisible formatting character at s (n bytes left) that could change
 * how the text around it reads, else 0; *cp gets its code point. The class: bidi marks,
 * embeddings, overrides and isolates (U+061C, U+200E, U+200F, U+202A..U+202E, U+2066..U+2069)
 * and zero-width or invisible characters (U+180E, U+200B..U+200D, U+2060..U+2064, U+FEFF).
 */
size_t utf8_invisible(const char *s, size_t n, unsigned *cp);
/* [a-z0-9-]{1,80} (issue #10's rule for slugs, sections' too). */
bool slug_valid(const char *s);
/* Two upper-case ASCII letters. */
bool country_code_valid(const char *s);
/* A real calendar date written YYYY-MM-DD. */
bool date_valid(const char *s);
/* "2026-10-14" -> "14 октября 2026" in the arena; returns s itself when it is not a date. */
const char *date_ru(struct arena *a, const char *s);
/* Removes leading and trailing ASCII white space in place; returns s. */
char *str_trim(char *s);
/*
 * Percent-decodes in[0..n) into a new arena string (plus_space: '+' means ' ', as in a query).
 * Returns false for a malformed escape, a decoded NUL or invalid UTF-8; *out is then NULL.
 */
bool pct_decode(struct arena *a, const char *in, size_t n, bool plus_space, char **out);
/* FNV-1a 64-bit hash of n bytes: for hash tables, cache keys and diff lines (not for security). */
uint64_t hash64(const void *p, size_t n);
/* A 64-bit hash of n bytes taken 8 at a time (MurmurHash3's mixing), several times faster than
 * hash64 on long inputs: for ETags of whole pages and file versions (not for security). */
uint64_t hash64_long(const void *p, size_t n);
/* Splits a comma-separated list into trimmed, non-empty items (arena), returns their count. */
size_t split_list(struct arena *a, const char *s, char ***items);
/* Formats a message into err (at most errlen bytes, cut) and returns false: for
 * `return errorf(err, errlen, "%s: ...", path)` in functions that report failure that way. */
bool errorf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
