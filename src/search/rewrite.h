/*
 * rewrite — how a query typed on the wrong keyboard layout or in Latin transliteration is turned
 * back into what the person meant. Private to search/. Pure functions over UTF-8 strings; the
 * decision whether a rewrite is better is the index's (it knows the vocabulary).
 */
#ifndef SPRAVKA_REWRITE_H
#define SPRAVKA_REWRITE_H

#include <stdbool.h>
#include <stddef.h>

/* Latin keys typed while meaning the Russian layout (ЙЦУКЕН on a US keyboard): "ghbdtn" →
 * "привет", "pf,sk" → "забыл". out must hold 2*strlen(in)+1 bytes. False when in has characters
 * that are not on those keys. */
bool rw_layout_to_ru(const char *in, char *out, size_t outlen);
/* The reverse: Cyrillic typed while meaning the US layout ("дшикущаашсу" → "libreoffice").
 * False when in has characters other than Cyrillic letters and the layout's punctuation. */
bool rw_layout_to_en(const char *in, char *out, size_t outlen);
#define RW_MAX_BYTES 130
/*
 * Readings of one Latin word as chat transliteration of Russian ("vozvrat" → "возврат",
 * "otsledit" → "оцледит", "отследит"): up to max variants, the most usual first, written to
 * out. Returns their count; 0 when the word is not all ASCII letters and apostrophes.
 */
size_t rw_translit_to_ru(const char *in, char out[][RW_MAX_BYTES], size_t max);

#endif
