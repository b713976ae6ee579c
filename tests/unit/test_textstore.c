/* The compressed snippet texts of the search index (src/search/textstore.c). */
#include "../../src/core/arena.h"
#include "../../src/search/textstore.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A help text of about 1.5 KB, different for each i (words drawn from a small vocabulary). */
static char *help_text(unsigned i)
{
	static const char *const words[] = {"заказ",	 "доставка", "оплата",	  "личный",  "кабинет",	  "выплаты",
					    "реквизиты", "банк",     "документы", "паспорт", "спонсор",	  "структура",
					    "возврат",	 "товара",   "код",	  "из",	     "и",	  "в",
					    "на",	 "нажмите",  "откройте",  "раздел",  "заполните", "форму"};
	size_t n = sizeof words / sizeof words[0], cap = 2048, len = 0;
	char *s = malloc(cap);
	unsigned x = i * 2654435761u + 1;
	while (len < 1500) {
		x = x * 1103515245u + 12345u;
		const char *w = words[(x >> 16) % n];
		len += (size_t)snprintf(s + len, cap - len, "%s%s", w, (x >> 8) % 9 ? " " : ". ");
	}
	return s;
}

static void roundtrip(struct textstore *ts, unsigned from, unsigned to, size_t *raw_bytes, size_t *packed_bytes)
{
	struct arena *a = arena_new();
	for (unsigned i = from; i < to; i++) {
		char *t = help_text(i);
		size_t len = strlen(t);
		uint32_t blob_len;
		uint8_t *blob = textstore_pack(ts, t, len, &blob_len);
		size_t got_len = 0;
		const uint8_t *got = textstore_unpack(ts, a, blob, blob_len, &got_len);
		cr_assert_not_null(got, "text %u does not unpack", i);
		cr_assert_eq(got_len, len);
		cr_assert_eq(memcmp(got, t, len), 0);
		cr_assert_eq(got[len], 0, "a NUL follows the text");
		*raw_bytes += len;
		*packed_bytes += blob_len;
		free(blob);
		free(t);
	}
	arena_free(a);
}

/* A store trained on n help texts; the texts in samples (the caller frees them) when given. */
static struct textstore *trained(int n, char **samples)
{
	char **s = samples ? samples : malloc((size_t)n * sizeof *s);
	size_t *lens = malloc((size_t)n * sizeof *lens);
	for (int i = 0; i < n; i++) {
		s[i] = help_text((unsigned)i);
		lens[i] = strlen(s[i]);
	}
	struct textstore *ts = textstore_new((const char *const *)s, lens, (size_t)n);
	if (!samples) {
		for (int i = 0; i < n; i++)
			free(s[i]);
		free(s);
	}
	free(lens);
	return ts;
}

Test(textstore, with_a_dictionary_texts_come_back_and_shrink)
{
	struct textstore *ts = trained(400, NULL);
	cr_assert_gt(textstore_bytes(ts), 16 * 1024, "a dictionary was trained");
	size_t raw = 0, packed = 0;
	roundtrip(ts, 1000, 1200, &raw, &packed); /* texts the dictionary never saw */
	textstore_packed(ts);
	roundtrip(ts, 2000, 2010, &raw, &packed); /* packing again after the tables were freed */
	cr_assert_lt(packed * 3, raw, "packed %zu of %zu bytes", packed, raw);

	/* The same texts each on its own, without a dictionary, take more. */
	struct textstore *plain = textstore_new(NULL, NULL, 0);
	size_t raw2 = 0, packed2 = 0;
	roundtrip(plain, 1000, 1200, &raw2, &packed2);
	cr_assert_lt(packed * 10, packed2 * 9, "dictionary %zu, none %zu", packed, packed2);
	textstore_unref(plain);
	textstore_unref(ts);
}

Test(textstore, too_few_samples_compress_without_a_dictionary)
{
	const char *one = "Как изменить реквизиты банка для выплат";
	size_t len = strlen(one);
	struct textstore *ts = textstore_new(&one, &len, 1);
	size_t raw = 0, packed = 0;
	roundtrip(ts, 0, 20, &raw, &packed);
	/* Empty text too. */
	uint32_t blob_len;
	uint8_t *blob = textstore_pack(ts, "", 0, &blob_len);
	struct arena *a = arena_new();
	size_t got_len = 1;
	const uint8_t *got = textstore_unpack(ts, a, blob, blob_len, &got_len);
	cr_assert_not_null(got);
	cr_assert_eq(got_len, 0);
	free(blob);
	arena_free(a);
	textstore_unref(ts);
}

Test(textstore, a_damaged_blob_is_refused)
{
	struct textstore *ts = textstore_new(NULL, NULL, 0);
	char *t = help_text(7);
	uint32_t blob_len;
	uint8_t *blob = textstore_pack(ts, t, strlen(t), &blob_len);
	struct arena *a = arena_new();
	size_t len;
	cr_assert_null(textstore_unpack(ts, a, blob, blob_len / 2, &len), "cut short");
	uint8_t junk[64];
	memset(junk, 0xA5, sizeof junk);
	cr_assert_null(textstore_unpack(ts, a, junk, sizeof junk, &len), "not a frame");
	arena_free(a);
	free(blob);
	free(t);
	textstore_unref(ts);
}

struct unpacker {
	const struct textstore *ts;
	const uint8_t *blob;
	uint32_t blob_len;
	const char *want;
	int bad;
};

static void *unpack_many(void *arg)
{
	struct unpacker *u = arg;
	for (int i = 0; i < 2000; i++) {
		struct arena *a = arena_new();
		size_t len;
		const uint8_t *got = textstore_unpack(u->ts, a, u->blob, u->blob_len, &len);
		if (!got || len != strlen(u->want) || memcmp(got, u->want, len))
			u->bad++;
		arena_free(a);
	}
	return NULL;
}

Test(textstore, threads_unpack_at_once)
{
	enum { N = 200 };
	char *samples[N];
	struct textstore *ts = trained(N, samples);
	uint32_t blob_len;
	uint8_t *blob = textstore_pack(ts, samples[5], strlen(samples[5]), &blob_len);
	struct unpacker u[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		u[i] = (struct unpacker){ts, blob, blob_len, samples[5], 0};
		pthread_create(&th[i], NULL, unpack_many, &u[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(u[i].bad, 0);
	}
	free(blob);
	for (int i = 0; i < N; i++)
		free(samples[i]);
	textstore_unref(ts);
}
