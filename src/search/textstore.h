/*
 * textstore — what a search index keeps of each text for its snippets, compressed.
 *
 * A text's snippet data (its summary, its body and their tokens' offsets) is one blob,
 * compressed on its own with zstd against a dictionary trained on a sample of the index's
 * texts: Russian help texts shrink about 3.3 times this way (2.2 each on its own), and a
 * snippet decompresses only its own hit's few kilobytes (microseconds). A store is shared,
 * reference counted, by the index built with it and the indexes updated from that one.
 *
 * Unpacking is safe from any number of threads at once (each thread keeps its decompression
 * context); packing takes the store's lock.
 */
#ifndef SPRAVKA_TEXTSTORE_H
#define SPRAVKA_TEXTSTORE_H

#include <stddef.h>
#include <stdint.h>

struct arena;
struct textstore;

/*
 * A store for texts like the n samples (a few thousand texts are plenty). Without samples, or
 * when they are too few to train a dictionary from (under 128 KB), texts are compressed each
 * on its own. Never NULL.
 */
struct textstore *textstore_new(const char *const *samples, const size_t *lens, size_t n);
struct textstore *textstore_ref(struct textstore *ts);
/* Drops a reference; the last one frees the store. NULL is fine. */
void textstore_unref(struct textstore *ts);

/* raw (len bytes) compressed into a new malloc'd blob of *blob_len bytes. */
uint8_t *textstore_pack(struct textstore *ts, const void *raw, size_t len, uint32_t *blob_len);
/* Frees what packing keeps between calls (compression tables: megabytes), e.g. after a build. */
void textstore_packed(struct textstore *ts);
/* The raw bytes of a blob, allocated in a, with a NUL after them; *len their count. NULL when
 * the blob does not decompress (never for a blob this store packed). */
const uint8_t *textstore_unpack(const struct textstore *ts, struct arena *a, const uint8_t *blob, uint32_t blob_len,
				size_t *len);
/* Bytes the store holds (its dictionary and decompression tables). */
size_t textstore_bytes(const struct textstore *ts);

#endif
