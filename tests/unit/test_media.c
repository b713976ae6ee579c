/*
 * Unit tests of src/media: the image parser (image.h) on real small images (tests/fuzz/image/,
 * drawn by chromium and modified by scripts/make-image-seeds, and PNGs made here), the media
 * table and store (media.h) against a real database — SQLite here, PostgreSQL again in tests/run
 * (PG_SUITES) — the Markdown pipeline's images (md.h) and the draft check's alt text (kb.h).
 */
#include "../../src/core/arena.h"
#include "../../src/db/db.h"
#include "../../src/files/files.h"
#include "../../src/kb/kb.h"
#include "../../src/md/md.h"
#include "../../src/media/image.h"
#include "../../src/media/media.h"
#include "../../src/req/req.h"
#include "helpers.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define SEEDS "tests/fuzz/image/"

struct bytes {
	unsigned char *p;
	size_t n;
};

static struct bytes seed(const char *name)
{
	char path[512];
	snprintf(path, sizeof path, SEEDS "%s", name);
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "%s: %s (run from the repository's root)", path, strerror(errno));
	struct bytes b = {.p = malloc(1 << 16)};
	b.n = fread(b.p, 1, 1 << 16, f);
	fclose(f);
	return b;
}

static void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* Appends a PNG chunk to b (room for it assumed). */
static void chunk(struct bytes *b, const char *type, const void *data, size_t n)
{
	put_be32(b->p + b->n, (uint32_t)n);
	memcpy(b->p + b->n + 4, type, 4);
	memcpy(b->p + b->n + 8, data, n);
	put_be32(b->p + b->n + 8 + n, (uint32_t)crc32(0, b->p + b->n + 4, (uInt)n + 4));
	b->n += n + 12;
}

/* A grey 8-bit PNG of w x h (w * h small), with the chunks of extra (already framed) after IHDR. */
static struct bytes make_png(unsigned w, unsigned h, const unsigned char *extra, size_t extra_n)
{
	struct bytes b = {.p = malloc(1 << 20)};
	memcpy(b.p, "\x89PNG\r\n\x1a\n", 8);
	b.n = 8;
	unsigned char ihdr[13] = {0};
	put_be32(ihdr, w);
	put_be32(ihdr + 4, h);
	ihdr[8] = 8;
	chunk(&b, "IHDR", ihdr, 13);
	if (extra_n)
		memcpy(b.p + b.n, extra, extra_n);
	b.n += extra_n;
	size_t raw_n = (size_t)(w + 1) * h;
	unsigned char *raw = calloc(raw_n, 1);
	uLongf zn = compressBound(raw_n);
	unsigned char *z = malloc(zn);
	compress(z, &zn, raw, raw_n);
	chunk(&b, "IDAT", z, zn);
	chunk(&b, "IEND", "", 0);
	free(raw);
	free(z);
	return b;
}

static bool clean(struct bytes b, struct image *img, char *err)
{
	return image_clean(b.p, b.n, img, err, 512);
}

/* ---- the parser ---- */

Test(image, each_type_is_told_from_its_bytes_with_its_size)
{
	static const struct {
		const char *file;
		enum image_type type;
		unsigned w, h;
	} ok[] = {{"ok.png", IMAGE_PNG, 3, 2},
		  {"ok.jpg", IMAGE_JPEG, 16, 12},
		  {"ok-lossy-icc.webp", IMAGE_WEBP, 16, 12},
		  {"ok-icc.webp", IMAGE_WEBP, 16, 12},
		  {"ok-vp8l-1x1.webp", IMAGE_WEBP, 1, 1},
		  {"ok-vp8-1x1.webp", IMAGE_WEBP, 1, 1},
		  {"ok-progressive.jpg", IMAGE_JPEG, 24, 17},
		  {"ok-gray.jpg", IMAGE_JPEG, 24, 17},
		  {"ok-cmyk-adobe.jpg", IMAGE_JPEG, 24, 17}};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		struct bytes b = seed(ok[i].file);
		struct image img;
		char err[512];
		cr_assert(clean(b, &img, err), "%s: %s", ok[i].file, err);
		cr_assert_eq(img.type, ok[i].type, "%s", ok[i].file);
		cr_assert_eq(img.width, ok[i].w, "%s", ok[i].file);
		cr_assert_eq(img.height, ok[i].h, "%s", ok[i].file);
		/* Nothing to strip: the same bytes. */
		cr_assert_eq(img.len, b.n, "%s", ok[i].file);
		cr_assert_eq(memcmp(img.data, b.p, b.n), 0, "%s", ok[i].file);
		image_free(&img);
		/* Every truncation is refused (the structure must walk to its end), never accepted. */
		for (size_t n = 0; n < b.n; n++) {
			cr_assert(!image_clean(b.p, n, &img, err, sizeof err), "%s cut at %zu accepted", ok[i].file, n);
			cr_assert(img.data == NULL && *err);
		}
		free(b.p);
	}
	cr_assert_str_eq(image_ext(IMAGE_JPEG), "jpg");
	cr_assert_str_eq(image_mime(IMAGE_WEBP), "image/webp");
	cr_assert_eq(image_type_of_ext("JPEG"), IMAGE_JPEG);
	cr_assert_eq(image_type_of_ext("gif"), 0);
}

Test(image, png_text_exif_and_time_are_stripped)
{
	struct bytes with = seed("png-text-exif.png"), plain = seed("ok.png");
	cr_assert(memmem(with.p, with.n, "secret", 6));
	struct image img;
	char err[512];
	cr_assert(clean(with, &img, err), "%s", err);
	cr_assert_eq(img.len, plain.n);
	cr_assert_eq(memcmp(img.data, plain.p, plain.n), 0, "only IHDR, IDAT, IEND left");
	image_free(&img);
	/* Colour chunks stay, in place; an unknown ancillary chunk goes; an unknown critical one refuses. */
	unsigned char extra[256];
	struct bytes e = {.p = extra};
	chunk(&e, "gAMA", "\0\0\xb1\x8f", 4);
	chunk(&e, "prVt", "secret", 6);
	struct bytes p = make_png(4, 4, extra, e.n);
	cr_assert(clean(p, &img, err), "%s", err);
	cr_assert(memmem(img.data, img.len, "gAMA", 4));
	cr_assert_null(memmem(img.data, img.len, "secret", 6));
	cr_assert_eq(img.len, p.n - 18);
	image_free(&img);
	free(p.p);
	e.n = 0;
	chunk(&e, "CrIT", "x", 1);
	p = make_png(4, 4, extra, e.n);
	cr_assert(!clean(p, &img, err));
	cr_assert(strstr(err, "PNG повреждён"), "%s", err);
	free(p.p);
	free(with.p);
	free(plain.p);
}

Test(image, jpeg_exif_xmp_and_comments_are_stripped)
{
	struct bytes with = seed("jpeg-exif-xmp-com.jpg"), plain = seed("ok.jpg");
	cr_assert(memmem(with.p, with.n, "Exif", 4) && memmem(with.p, with.n, "secret", 6));
	struct image img;
	char err[512];
	cr_assert(clean(with, &img, err), "%s", err);
	cr_assert_eq(img.len, plain.n, "APP1 (EXIF, XMP) and COM gone, JFIF and ICC kept");
	cr_assert_eq(memcmp(img.data, plain.p, plain.n), 0);
	cr_assert(memmem(img.data, img.len, "JFIF", 4) && memmem(img.data, img.len, "ICC_PROFILE", 11));
	image_free(&img);
	/* Restart markers inside the scan are data; the comment goes (its 11 bytes). */
	struct bytes rst = seed("jpeg-restart-comment.jpg");
	cr_assert(clean(rst, &img, err), "%s", err);
	cr_assert_eq(img.len, rst.n - 11);
	cr_assert_null(memmem(img.data, img.len, "comment", 7));
	cr_assert(img.width == 24 && img.height == 17);
	image_free(&img);
	free(rst.p);
	/* CMYK keeps its Adobe segment (the colour transform). */
	struct bytes cmyk = seed("ok-cmyk-adobe.jpg");
	cr_assert(clean(cmyk, &img, err), "%s", err);
	cr_assert(memmem(img.data, img.len, "Adobe", 5));
	image_free(&img);
	free(cmyk.p);
	free(with.p);
	free(plain.p);
}

Test(image, webp_exif_and_xmp_are_stripped_and_their_flags_cleared)
{
	struct bytes with = seed("webp-exif-xmp.webp");
	struct image img;
	char err[512];
	cr_assert(clean(with, &img, err), "%s", err);
	cr_assert_eq(img.type, IMAGE_WEBP);
	cr_assert_null(memmem(img.data, img.len, "EXIF", 4));
	cr_assert_null(memmem(img.data, img.len, "secret", 6));
	cr_assert_eq(img.data[20] & 0x0c, 0, "EXIF and XMP flags of VP8X cleared");
	uint32_t riff = img.data[4] | img.data[5] << 8 | img.data[6] << 16 | (uint32_t)img.data[7] << 24;
	cr_assert_eq(riff, img.len - 8, "the RIFF size follows");
	struct image again;
	cr_assert(image_clean(img.data, img.len, &again, err, sizeof err), "%s", err);
	cr_assert_eq(again.len, img.len);
	cr_assert_eq(memcmp(again.data, img.data, img.len), 0, "cleaning twice changes nothing");
	image_free(&again);
	image_free(&img);
	free(with.p);
}

Test(image, markup_polyglots_trailing_bytes_and_broken_files_are_refused)
{
	static const struct {
		const char *file, *why;
	} bad[] = {
	    {"svg.svg", "SVG и HTML не принимаются"},
	    {"html.html", "SVG и HTML не принимаются"},
	    {"gif-html-polyglot.gif", "GIF не принимается"},
	    {"png-trailing-html.png", "лишние данные"},
	    {"jpeg-trailing-zip.jpg", "лишние данные"},
	    {"webp-trailing.webp", "лишние данные"},
	    {"png-truncated.png", "PNG повреждён или обрезан"},
	    {"jpeg-truncated.jpg", "JPEG повреждён или обрезан"},
	    {"webp-truncated.webp", "WebP повреждён или обрезан"},
	    {"png-bad-crc.png", "контрольная сумма"},
	    {"png-huge.png", "20000×20000 пикселей слишком большое"},
	    {"webp-animated.webp", "Анимированные WebP"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct bytes b = seed(bad[i].file);
		struct image img;
		char err[512] = "";
		cr_assert(!clean(b, &img, err), "%s accepted", bad[i].file);
		cr_assert(strstr(err, bad[i].why), "%s: %s", bad[i].file, err);
		free(b.p);
	}
	struct image img;
	char err[512];
	cr_assert(!image_clean((const unsigned char *)"", 0, &img, err, sizeof err));
	cr_assert(strstr(err, "пустой"), "%s", err);
	const char *text = "  <svg onload=alert(1)>";
	cr_assert(!image_clean((const unsigned char *)text, strlen(text), &img, err, sizeof err));
	cr_assert(strstr(err, "SVG"), "%s", err);
	/* A PNG signature followed by HTML walks nowhere. */
	const char *fake = "\x89PNG\r\n\x1a\n<html><script>alert(1)</script></html>";
	cr_assert(!image_clean((const unsigned char *)fake, strlen(fake), &img, err, sizeof err));
}

Test(image, limits_on_bytes_and_pixels)
{
	struct image img;
	char err[512];
	struct bytes p = make_png(10001, 1, NULL, 0);
	cr_assert(!clean(p, &img, err));
	cr_assert(strstr(err, "10001×1 пикселей слишком большое"), "%s", err);
	free(p.p);
	p = make_png(10000, 2, NULL, 0);
	cr_assert(clean(p, &img, err), "%s", err);
	image_free(&img);
	free(p.p);
	/* 40 megapixels: an IHDR of 8000 x 5001 (its data need not be there to be refused). */
	p = make_png(1, 1, NULL, 0);
	put_be32(p.p + 16, 8000);
	put_be32(p.p + 20, 5001);
	put_be32(p.p + 29, (uint32_t)crc32(0, p.p + 12, 17));
	cr_assert(!clean(p, &img, err));
	cr_assert(strstr(err, "40 мегапикселей"), "%s", err);
	free(p.p);
	unsigned char *big = calloc(IMAGE_MAX_BYTES + 1, 1);
	memcpy(big, "\x89PNG\r\n\x1a\n", 8);
	cr_assert(!image_clean(big, IMAGE_MAX_BYTES + 1, &img, err, sizeof err));
	cr_assert(strstr(err, "больше 5 МБ"), "%s", err);
	free(big);
}

/* ---- the Markdown pipeline's images ---- */

static const char H1[] = "1111111111111111111111111111111111111111111111111111111111111111";

static bool sizes(void *arg, const char *name, unsigned *w, unsigned *h)
{
	(void)arg;
	if (strncmp(name, H1, 64) != 0)
		return false;
	*w = 640;
	*h = 480;
	return true;
}

static char *render(const char *md)
{
	return md_to_html_images(md, strlen(md), sizes, NULL);
}

Test(md_images, uploaded_images_are_sized_lazy_and_linked_others_are_alt_text)
{
	char *h =
	    render("![Форма \"входа\" <b>](/media/1111111111111111111111111111111111111111111111111111111111111111"
		   ".png \"Подпись\")\n");
	cr_assert(strstr(h, "<a class=\"shot\" href=\"/media/"
			    "1111111111111111111111111111111111111111111111111111111111111111.png\">"
			    "<img src=\"/media/1111111111111111111111111111111111111111111111111111111111111111.png\" "
			    "alt=\"Форма &quot;входа&quot; \" width=\"640\" height=\"480\" loading=\"lazy\" "
			    "decoding=\"async\" title=\"Подпись\"></a>"),
		  "%s", h);
	free(h);
	/* Inside a link: no second link. */
	h = render("[![Схема](/media/1111111111111111111111111111111111111111111111111111111111111111.jpg)](/a/x)\n");
	cr_assert(strstr(h, "<a href=\"/a/x\"><img src="), "%s", h);
	cr_assert_null(strstr(h, "class=\"shot\""), "%s", h);
	free(h);
	/* External, data:, javascript:, unknown or malformed /media names: their alt text only. */
	const char *others[] = {
	    "![Внешняя](https://evil.example/x.png)",
	    "![Данные](data:image/png;base64,iVBORw0KGgo=)",
	    "![Скрипт](javascript:alert(1))",
	    "![Неизвестная](/media/2222222222222222222222222222222222222222222222222222222222222222.png)",
	    "![Чужая](/media/1111111111111111111111111111111111111111111111111111111111111111.svg)",
	    "![Путь](/media/../1111111111111111111111111111111111111111111111111111111111111111.png)",
	    "![<script>alert(1)</script>](//evil.example/x.png)",
	};
	for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
		h = render(others[i]);
		cr_assert_null(strstr(h, "<img"), "%s -> %s", others[i], h);
		cr_assert_null(strstr(h, "evil"), "%s -> %s", others[i], h);
		cr_assert_null(strstr(h, "<script"), "%s -> %s", others[i], h);
		cr_assert_null(strstr(h, "javascript"), "%s -> %s", others[i], h);
		free(h);
	}
	h = render("![Внешняя](https://evil.example/x.png)");
	cr_assert(strstr(h, "<p>Внешняя</p>"), "%s", h);
	free(h);
	/* Without a lookup no image is shown. */
	const char *md = "![Схема](/media/1111111111111111111111111111111111111111111111111111111111111111.png)";
	h = md_to_html(md, strlen(md));
	cr_assert_null(strstr(h, "<img"), "%s", h);
	free(h);
}

struct seen {
	int n;
	char urls[4][256], alts[4][256];
};

static void collect(void *arg, const char *url, const char *alt)
{
	struct seen *s = arg;
	if (s->n < 4) {
		snprintf(s->urls[s->n], 256, "%s", url);
		snprintf(s->alts[s->n++], 256, "%s", alt);
	}
}

Test(md_images, md_images_lists_each_image_with_its_alt_text)
{
	const char *md = "Текст ![Один *два*](/media/a.png) и ![](/b.png)\n\n- ![Три\nчетыре](c.png)\n";
	struct seen s = {0};
	md_images(md, strlen(md), collect, &s);
	cr_assert_eq(s.n, 3);
	cr_assert_str_eq(s.urls[0], "/media/a.png");
	cr_assert_str_eq(s.alts[0], "Один два");
	cr_assert_str_eq(s.alts[1], "");
	cr_assert_str_eq(s.alts[2], "Три четыре");
}

/* ---- the table, the store, import and export: both engines ---- */

static char *dir;
static struct db *db;
static struct arena *A;
static struct files_store store;

static void setup(void)
{
	A = arena_new();
	dir = tmp_dir();
	char err[512];
	cr_assert_eq(db_open(test_db(dir), &db, err, sizeof err), DB_OK, "%s", err);
	store = (struct files_store){.data_dir = dir, .in_db = test_on_pg()};
}

static void teardown(void)
{
	db_close(db);
	rm_tree(dir);
	free(dir);
	arena_free(A);
}

TestSuite(media, .init = setup, .fini = teardown);

/* The stored content of hex, read through files_open. */
static struct bytes stored(const char *hex)
{
	int fd = files_open(&store, db, hex);
	cr_assert(fd >= 3, "%s not stored", hex);
	struct bytes b = {.p = malloc(1 << 20)};
	ssize_t r;
	while ((r = read(fd, b.p + b.n, (1 << 20) - b.n)) > 0)
		b.n += (size_t)r;
	close(fd);
	return b;
}

Test(media, add_stores_the_cleaned_image_once_and_registers_it)
{
	struct bytes jpeg = seed("jpeg-exif-xmp-com.jpg"), plain = seed("ok.jpg");
	struct media_info m;
	char err[512];
	cr_assert_eq(media_add(db, &store, jpeg.p, jpeg.n, 0, &m, err, sizeof err), 1, "%s", err);
	cr_assert_eq(m.type, IMAGE_JPEG);
	cr_assert_eq(m.width, 16);
	cr_assert_eq(m.bytes, (int64_t)plain.n);
	cr_assert_eq(strlen(m.name), 68);
	cr_assert_str_eq(m.name + 64, ".jpg");
	struct bytes s = stored(m.hash);
	cr_assert_eq(s.n, plain.n);
	cr_assert_eq(memcmp(s.p, plain.p, plain.n), 0, "the store holds the cleaned bytes");
	/* The cleaned one again: the same row. */
	struct media_info again;
	cr_assert_eq(media_add(db, &store, plain.p, plain.n, 0, &again, err, sizeof err), 1, "%s", err);
	cr_assert_str_eq(again.name, m.name);
	cr_assert_str_eq(db_text(db, A, "SELECT count(*) FROM media", NULL), "1");
	struct media_info got;
	cr_assert_eq(media_get(db, m.name, &got), 1);
	cr_assert_eq(got.height, 12);
	cr_assert_str_eq(got.name, m.name);
	char other[72];
	snprintf(other, sizeof other, "%.64s.png", m.name);
	cr_assert_eq(media_get(db, other, &got), 0, "another extension is another name");
	cr_assert_eq(media_get(db, "../../etc/passwd", &got), 0);
	unsigned w = 0, h = 0;
	cr_assert(media_size_lookup(db, m.name, &w, &h));
	cr_assert(w == 16 && h == 12);
	cr_assert(!media_size_lookup(db, other, &w, &h));
	cr_assert_eq(media_referenced(db, m.hash), 1, "the sweep keeps it");
	cr_assert_eq(media_referenced(db, H1), 0);
	/* A refused image: 0 with the reason, nothing stored. */
	struct bytes svg = seed("svg.svg");
	cr_assert_eq(media_add(db, &store, svg.p, svg.n, 0, &got, err, sizeof err), 0);
	cr_assert(strstr(err, "SVG"), "%s", err);
	cr_assert_str_eq(db_text(db, A, "SELECT count(*) FROM media", NULL), "1");
	free(jpeg.p);
	free(plain.p);
	free(s.p);
	free(svg.p);
}

static void write_bytes(const char *path, struct bytes b)
{
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f);
	fwrite(b.p, 1, b.n, f);
	fclose(f);
}

Test(media, import_maps_media_names_and_export_writes_them_back)
{
	char *content = arena_printf(A, "%s/content", dir);
	mkdir(content, 0700);
	mkdir(arena_printf(A, "%s/media", content), 0700);
	struct bytes png = seed("png-text-exif.png"), plain = seed("ok.png");
	write_bytes(arena_printf(A, "%s/media/form.png", content), png);
	struct kb_text t[2] = {
	    {.slug = "a",
	     .body = "Шаг.\n\n![Форма](media/form.png)\n\nИ снова ![Форма](</media/form.png>) и [ссылка](/a/b)"},
	    {.slug = "b", .body = "Без картинок: media/form.png и ](media) не трогаются."},
	};
	const char *files[2] = {"a.md", "b.md"};
	/* A draft (export --drafts) names its images the same way. */
	struct kb_text d = {.slug = "a", .body = "Черновик.\n\n![Форма](media/form.png)"};
	const char *dfile = "a.draft.md";
	struct kb_batch b = {
	    .texts = t, .n_texts = 2, .files = files, .drafts = &d, .n_drafts = 1, .draft_files = &dfile};
	int n = 0;
	char err[512];
	cr_assert(media_import(db, &store, A, content, &b, &n, err, sizeof err), "%s", err);
	cr_assert_eq(n, 1);
	const char *hash = db_text(db, A, "SELECT hash FROM media WHERE name = ?", "form.png");
	cr_assert_not_null(hash);
	char *want = arena_printf(
	    A, "Шаг.\n\n![Форма](/media/%s.png)\n\nИ снова ![Форма](</media/%s.png>) и [ссылка](/a/b)", hash, hash);
	cr_assert_str_eq(t[0].body, want);
	cr_assert_str_eq(t[1].body, "Без картинок: media/form.png и ](media) не трогаются.");
	cr_assert_str_eq(d.body, arena_printf(A, "Черновик.\n\n![Форма](/media/%s.png)", hash));
	struct bytes s = stored(hash);
	cr_assert(s.n == plain.n && !memcmp(s.p, plain.p, plain.n), "stored without its metadata");
	/* A reference to a file that is not there, and a bad image, fail naming the file. */
	struct kb_text missing = {.slug = "c", .body = "![x](media/nope.png)"};
	const char *mfile = "c.md";
	b = (struct kb_batch){.texts = &missing, .n_texts = 1, .files = &mfile};
	cr_assert(!media_import(db, &store, A, content, &b, &n, err, sizeof err));
	cr_assert(strstr(err, "c.md") && strstr(err, "media/nope.png"), "%s", err);
	struct kb_text no_alt = {.slug = "e", .body = "Текст\n\n![ ](media/form.png)"};
	const char *efile = "e.draft.md";
	b = (struct kb_batch){
	    .texts = t, .n_texts = 1, .files = files, .drafts = &no_alt, .n_drafts = 1, .draft_files = &efile};
	cr_assert(!media_import(db, &store, A, content, &b, &n, err, sizeof err));
	cr_assert(strstr(err, "e.draft.md") && strstr(err, "no alt text"), "%s", err);
	struct bytes bad = seed("png-trailing-html.png");
	write_bytes(arena_printf(A, "%s/media/zz-bad.png", content), bad);
	struct kb_text none = {.slug = "d", .body = "x"};
	b = (struct kb_batch){.texts = &none, .n_texts = 1};
	cr_assert(!media_import(db, &store, A, content, &b, &n, err, sizeof err));
	cr_assert(strstr(err, "zz-bad.png") && strstr(err, "лишние данные"), "%s", err);
	/* Export: the image under its name, and a text naming it as content/ does. */
	char *out = arena_printf(A, "%s/out", dir);
	mkdir(out, 0700);
	put_file(out, "a.md", want);
	cr_assert(media_export(db, &store, out, err, sizeof err), "%s", err);
	struct bytes e = seed("ok.png");
	FILE *f = fopen(arena_printf(A, "%s/media/form.png", out), "rb");
	cr_assert_not_null(f);
	e.n = fread(e.p, 1, 1 << 16, f);
	fclose(f);
	cr_assert(e.n == plain.n && !memcmp(e.p, plain.p, plain.n));
	f = fopen(arena_printf(A, "%s/a.md", out), "rb");
	char text[512] = "";
	size_t tn = fread(text, 1, sizeof text - 1, f);
	text[tn] = '\0';
	fclose(f);
	cr_assert_str_eq(text,
			 "Шаг.\n\n![Форма](media/form.png)\n\nИ снова ![Форма](<media/form.png>) и [ссылка](/a/b)");
	free(png.p);
	free(plain.p);
	free(s.p);
	free(bad.p);
	free(e.p);
}

Test(media, a_draft_with_an_image_without_alt_text_is_refused)
{
	cr_assert_eq(db_exec(db, "INSERT INTO sections(slug, title, position) VALUES ('faq', 'Вопросы', 1)"), DB_OK);
	struct kb_text t = {.slug = "x",
			    .section = "faq",
			    .title = "Заголовок",
			    .summary = "",
			    .keywords = "",
			    .related = "",
			    .countries = "",
			    .body = "Текст\n\n![  ](/media/a.png)\n"};
	const char *fields[KB_DRAFT_FIELD_ERRORS], *messages[KB_DRAFT_FIELD_ERRORS];
	cr_assert_eq(kb_draft_check(db, A, &t, NULL, fields, messages, KB_DRAFT_FIELD_ERRORS), 1);
	cr_assert_str_eq(fields[0], "body");
	cr_assert(strstr(messages[0], "/media/a.png") && strstr(messages[0], "нет описания"), "%s", messages[0]);
	t.body = "Текст\n\n![Схема оплаты](/media/a.png)\n";
	cr_assert_eq(kb_draft_check(db, A, &t, NULL, fields, messages, KB_DRAFT_FIELD_ERRORS), 0);
}

Test(md_images, plain_text_for_search_leaves_images_out)
{
	const char *md = "Откройте форму.\n\n![Форма возврата с кнопкой](media/x.png)\n\nНажмите «Отправить».\n";
	char *t = md_to_text(md, strlen(md));
	cr_assert(strstr(t, "Откройте форму.") && strstr(t, "Нажмите «Отправить»."), "%s", t);
	cr_assert_null(strstr(t, "Форма возврата"), "%s", t);
	free(t);
}

Test(media, the_file_sweep_keeps_registered_images)
{
	struct bytes p = seed("ok.png");
	struct media_info m;
	char err[512];
	cr_assert_eq(media_add(db, &store, p.p, p.n, 0, &m, err, sizeof err), 1, "%s", err);
	struct req_config cfg = {.data_dir = dir, .files_in_db = store.in_db};
	char cursor[65] = "";
	/* Everything counts as old: only the media row keeps the image. */
	int64_t later = (int64_t)time(NULL) + 3600;
	cr_assert_geq(req_sweep_files(db, &cfg, later, 100, cursor), 0);
	int fd = files_open(&store, db, m.hash);
	cr_assert(fd >= 3, "the sweep removed a registered image");
	close(fd);
	cr_assert_eq(db_exec(db, "DELETE FROM media"), DB_OK);
	cursor[0] = '\0';
	cr_assert_eq(req_sweep_files(db, &cfg, later, 100, cursor), 1);
	cr_assert_lt(files_open(&store, db, m.hash), 0, "an unregistered content is swept");
	free(p.p);
}
