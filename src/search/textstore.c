/*
 * Compressed snippet texts: zstd (level 3) with a dictionary trained by zstd's own trainer on
 * the samples. See textstore.h.
 */
#include "textstore.h"

#include "../core/arena.h"
#include "../core/text.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zdict.h>
#include <zstd.h>

#define DICT_MAX (64 * 1024)
#define TRAIN_MIN (128 * 1024) /* fewer sample bytes: no dictionary */
#define LEVEL 3

struct textstore {
	void *dict; /* NULL: no dictionary */
	size_t dict_len;
	ZSTD_DDict *ddict;
	pthread_mutex_t lock; /* packing */
	ZSTD_CCtx *cctx;
	ZSTD_CDict *cdict;
	int refs; /* atomic */
};

struct textstore *textstore_new(const char *const *samples, const size_t *lens, size_t n)
{
	struct textstore *ts = xcalloc(1, sizeof *ts);
	pthread_mutex_init(&ts->lock, NULL);
	ts->refs = 1;
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += lens[i];
	if (total >= TRAIN_MIN && n >= 8) {
		char *all = xmalloc(total);
		size_t at = 0;
		for (size_t i = 0; i < n; i++) {
			memcpy(all + at, samples[i], lens[i]);
			at += lens[i];
		}
		void *dict = xmalloc(DICT_MAX);
		size_t got = ZDICT_trainFromBuffer(dict, DICT_MAX, all, lens, (unsigned)n);
		free(all);
		if (ZDICT_isError(got)) {
			free(dict);
		} else {
			ts->dict = dict;
			ts->dict_len = got;
			ts->ddict = ZSTD_createDDict(dict, got);
		}
	}
	return ts;
}

struct textstore *textstore_ref(struct textstore *ts)
{
	__atomic_add_fetch(&ts->refs, 1, __ATOMIC_RELAXED);
	return ts;
}

void textstore_packed(struct textstore *ts)
{
	pthread_mutex_lock(&ts->lock);
	ZSTD_freeCDict(ts->cdict);
	ZSTD_freeCCtx(ts->cctx);
	ts->cdict = NULL;
	ts->cctx = NULL;
	pthread_mutex_unlock(&ts->lock);
}

void textstore_unref(struct textstore *ts)
{
	if (!ts || __atomic_sub_fetch(&ts->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	textstore_packed(ts);
	ZSTD_freeDDict(ts->ddict);
	free(ts->dict);
	pthread_mutex_destroy(&ts->lock);
	free(ts);
}

uint8_t *textstore_pack(struct textstore *ts, const void *raw, size_t len, uint32_t *blob_len)
{
	size_t cap = ZSTD_compressBound(len);
	uint8_t *out = xmalloc(cap);
	pthread_mutex_lock(&ts->lock);
	if (!ts->cctx) {
		ts->cctx = ZSTD_createCCtx();
		if (!ts->cctx)
			abort();
		/* The frame keeps the raw size (unpack sizes its buffer from it); a dictionary's id
		 * and a checksum would only cost bytes per text. */
		ZSTD_CCtx_setParameter(ts->cctx, ZSTD_c_dictIDFlag, 0);
		ZSTD_CCtx_setParameter(ts->cctx, ZSTD_c_compressionLevel, LEVEL);
		if (ts->dict) {
			ts->cdict = ZSTD_createCDict(ts->dict, ts->dict_len, LEVEL);
			if (!ts->cdict || ZSTD_isError(ZSTD_CCtx_refCDict(ts->cctx, ts->cdict)))
				abort();
		}
	}
	size_t n = ZSTD_compress2(ts->cctx, out, cap, raw, len);
	pthread_mutex_unlock(&ts->lock);
	if (ZSTD_isError(n))
		abort(); /* cannot happen with a bound-sized buffer */
	*blob_len = (uint32_t)n;
	return xrealloc(out, n ? n : 1);
}

static pthread_key_t dctx_key;
static pthread_once_t dctx_once = PTHREAD_ONCE_INIT;

static void dctx_free(void *p)
{
	ZSTD_freeDCtx(p);
}

static void dctx_key_make(void)
{
	pthread_key_create(&dctx_key, dctx_free);
}

const uint8_t *textstore_unpack(const struct textstore *ts, struct arena *a, const uint8_t *blob, uint32_t blob_len,
				size_t *len)
{
	pthread_once(&dctx_once, dctx_key_make);
	ZSTD_DCtx *dctx = pthread_getspecific(dctx_key);
	if (!dctx) {
		dctx = ZSTD_createDCtx();
		if (!dctx)
			abort();
		pthread_setspecific(dctx_key, dctx);
	}
	unsigned long long raw = ZSTD_getFrameContentSize(blob, blob_len);
	if (raw == ZSTD_CONTENTSIZE_UNKNOWN || raw == ZSTD_CONTENTSIZE_ERROR || raw > (1u << 30))
		return NULL;
	uint8_t *out = arena_alloc(a, (size_t)raw + 1);
	size_t n = ts->ddict ? ZSTD_decompress_usingDDict(dctx, out, (size_t)raw, blob, blob_len, ts->ddict)
			     : ZSTD_decompressDCtx(dctx, out, (size_t)raw, blob, blob_len);
	if (ZSTD_isError(n) || n != raw)
		return NULL;
	out[n] = 0;
	*len = n;
	return out;
}

size_t textstore_bytes(const struct textstore *ts)
{
	return sizeof *ts + ts->dict_len + (ts->ddict ? ZSTD_sizeof_DDict(ts->ddict) : 0);
}
