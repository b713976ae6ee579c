/*
 * analyze — text to index terms, the same way for documents and queries. Private to search/.
 *
 * Normalization: Unicode NFC where combining marks appear, lower case (utf8proc), ё → е.
 * Words are runs of letters, digits and combining marks; a hyphen or apostrophe between two word
 * characters joins a compound, which yields its parts and also the joined form ("трек-номер" →
 * "трек", "номер", "трекномер"). Terms are Snowball stems (libstemmer: Russian for Cyrillic words,
 * English for Latin ones); words with digits are kept as they are. Stop words are flagged, not
 * dropped, so positions stay true.
 *
 * Tokens carry the normalized word only: stemming and the stop-word check are separate calls, so
 * that an index stems each distinct word once.
 *
 * Thread-safe: libstemmer instances are per thread.
 */
#ifndef SPRAVKA_ANALYZE_H
#define SPRAVKA_ANALYZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AN_MAX_WORD 64 /* bytes; longer words are cut (at a character boundary) */

struct an_token {
	char word[AN_MAX_WORD + 1]; /* normalized surface form */
	size_t len;		    /* its bytes */
	uint32_t pos;		    /* word position (a compound's joined form shares its first part's) */
	uint32_t start, end;	    /* byte offsets of the word in the source text */
	bool joined;		    /* the joined form of a compound */
};

/*
 * Calls fn for every token of text[0..len). Returns the number of positions used (so that a
 * caller can keep fields apart by offsetting the next field's positions).
 */
uint32_t an_tokens(const char *text, size_t len, void (*fn)(const struct an_token *t, void *arg), void *arg);
/* The stem of one normalized word into out (AN_MAX_WORD + 1 bytes). */
void an_stem(const char *word, char *out);
/* Normalizes one word (lower case, ё → е, NFC) into out; false when it has no word characters. */
bool an_normalize_word(const char *word, size_t len, char *out);
/* True for a stop word (normalized form). */
bool an_is_stop(const char *word);
/* Code points in a UTF-8 string. */
size_t an_chars(const char *s);
/* True when every letter of s is Cyrillic (and there is at least one). */
bool an_is_cyrillic(const char *s);

#endif
