/* The image parser of image.h: PNG, JPEG and WebP walked and rewritten without metadata. */
#include "image.h"

#include "../core/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

static const char trailing_msg[] = "После конца изображения в файле есть лишние данные: так выглядит склейка "
				   "изображения с другим файлом, такой файл не принимается. Сохраните снимок "
				   "заново и загрузите его.";

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static unsigned be16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static void put_le32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

/* The output being built: never more than the input (only whole parts are dropped). */
struct out {
	unsigned char *p;
	size_t len;
};

static void emit(struct out *o, const unsigned char *p, size_t n)
{
	memcpy(o->p + o->len, p, n);
	o->len += n;
}

static bool size_ok(unsigned w, unsigned h, char *err, size_t errlen)
{
	if (!w || !h)
		return errorf(err, errlen, "В заголовке изображения нулевая ширина или высота: файл повреждён.");
	if (w > IMAGE_MAX_SIDE || h > IMAGE_MAX_SIDE || (unsigned long long)w * h > IMAGE_MAX_PIXELS)
		return errorf(err, errlen,
			      "Изображение %u×%u пикселей слишком большое: не больше %u пикселей по каждой стороне и "
			      "%llu мегапикселей всего. Уменьшите снимок.",
			      w, h, IMAGE_MAX_SIDE, IMAGE_MAX_PIXELS / 1000000);
	return true;
}

/* ---- PNG ---- */

static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

static bool png_keep(const unsigned char *type)
{
	static const char *const keep[] = {"IHDR", "PLTE", "IDAT", "IEND", "tRNS", "gAMA",
					   "cHRM", "sRGB", "iCCP", "sBIT", "cICP"};
	for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
		if (!memcmp(type, keep[i], 4))
			return true;
	return false;
}

static bool png_depth_ok(unsigned depth, unsigned colour)
{
	switch (colour) {
	case 0:
		return depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16;
	case 3:
		return depth == 1 || depth == 2 || depth == 4 || depth == 8;
	case 2:
	case 4:
	case 6:
		return depth == 8 || depth == 16;
	default:
		return false;
	}
}

static bool png_clean(const unsigned char *in, size_t len, struct image *img, struct out *o, char *err, size_t errlen)
{
	static const char broken[] = "Файл PNG повреждён или обрезан (%s). Сохраните снимок заново и загрузите его.";
	emit(o, in, 8);
	size_t pos = 8;
	int n = 0;
	bool plte = false, idat_run = false, idat_done = false, seen_idat = false;
	unsigned colour = 0;
	for (;; n++) {
		if (len - pos < 12)
			return errorf(err, errlen, broken, "нет конца файла");
		uint32_t clen = be32(in + pos);
		const unsigned char *type = in + pos + 4;
		if (clen > 0x7fffffffu || clen > len - pos - 12)
			return errorf(err, errlen, broken, "неверная длина блока");
		for (int i = 0; i < 4; i++)
			if (!((type[i] >= 'A' && type[i] <= 'Z') || (type[i] >= 'a' && type[i] <= 'z')))
				return errorf(err, errlen, broken, "неверное имя блока");
		if (!(type[2] >= 'A' && type[2] <= 'Z'))
			return errorf(err, errlen, broken, "неверное имя блока");
		uint32_t crc = (uint32_t)crc32(0L, type, (uInt)clen + 4);
		if (crc != be32(in + pos + 8 + clen))
			return errorf(err, errlen, broken, "неверная контрольная сумма");
		const unsigned char *d = in + pos + 8;
		bool is_idat = !memcmp(type, "IDAT", 4);
		if (n == 0) {
			if (memcmp(type, "IHDR", 4) || clen != 13)
				return errorf(err, errlen, broken, "нет заголовка IHDR");
			img->width = be32(d);
			img->height = be32(d + 4);
			colour = d[9];
			if (!png_depth_ok(d[8], colour) || d[10] || d[11] || d[12] > 1 || img->width > 0x7fffffffu ||
			    img->height > 0x7fffffffu)
				return errorf(err, errlen, broken, "неверный заголовок IHDR");
			if (!size_ok(img->width, img->height, err, errlen))
				return false;
		} else if (!memcmp(type, "IHDR", 4)) {
			return errorf(err, errlen, broken, "второй заголовок IHDR");
		} else if (!memcmp(type, "PLTE", 4)) {
			if (plte || seen_idat || clen % 3 || !clen || clen > 768)
				return errorf(err, errlen, broken, "неверная палитра");
			plte = true;
		} else if (is_idat) {
			if (idat_done)
				return errorf(err, errlen, broken, "блоки данных IDAT не подряд");
			seen_idat = idat_run = true;
		} else if (type[0] >= 'A' && type[0] <= 'Z' && memcmp(type, "IEND", 4)) {
			return errorf(err, errlen, broken, "неизвестный обязательный блок");
		}
		if (!is_idat && idat_run) {
			idat_run = false;
			idat_done = true;
		}
		size_t whole = (size_t)clen + 12;
		if (png_keep(type))
			emit(o, in + pos, whole);
		pos += whole;
		if (!memcmp(type, "IEND", 4)) {
			if (clen)
				return errorf(err, errlen, broken, "неверный блок IEND");
			break;
		}
	}
	if (!seen_idat || (colour == 3 && !plte))
		return errorf(err, errlen, broken, seen_idat ? "нет палитры" : "нет данных изображения");
	if (pos != len)
		return errorf(err, errlen, "%s", trailing_msg);
	return true;
}

/* ---- JPEG ---- */

static bool jpeg_sof(unsigned m)
{
	return m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc;
}

/* Whether an APPn segment (its data after the length) is one that is kept. */
static bool jpeg_keep_app(unsigned m, const unsigned char *d, size_t n)
{
	if (m == 0xe0)
		return n >= 5 && !memcmp(d, "JFIF\0", 5);
	if (m == 0xe2)
		return n >= 12 && !memcmp(d, "ICC_PROFILE\0", 12);
	if (m == 0xee)
		return n >= 5 && !memcmp(d, "Adobe", 5);
	return false;
}

static bool jpeg_clean(const unsigned char *in, size_t len, struct image *img, struct out *o, char *err, size_t errlen)
{
	static const char broken[] = "Файл JPEG повреждён или обрезан (%s). Сохраните снимок заново и загрузите его.";
	emit(o, in, 2);
	size_t pos = 2;
	int sofs = 0, scans = 0;
	for (;;) {
		if (pos >= len || in[pos] != 0xff)
			return errorf(err, errlen, broken, pos >= len ? "нет конца файла" : "неверный маркер");
		while (pos < len && in[pos] == 0xff)
			pos++; /* fill bytes */
		if (pos >= len)
			return errorf(err, errlen, broken, "нет конца файла");
		unsigned m = in[pos++];
		if (m == 0xd9) {
			if (!sofs || !scans)
				return errorf(err, errlen, broken, "нет данных изображения");
			if (pos != len)
				return errorf(err, errlen, "%s", trailing_msg);
			static const unsigned char eoi[2] = {0xff, 0xd9};
			emit(o, eoi, 2);
			return true;
		}
		bool known = jpeg_sof(m) || m == 0xc4 || m == 0xcc || m == 0xdb || m == 0xdd || m == 0xda ||
			     m == 0xdc || m == 0xfe || (m >= 0xe0 && m <= 0xef);
		if (!known)
			return errorf(err, errlen, broken, "неожиданный маркер");
		if (len - pos < 2)
			return errorf(err, errlen, broken, "нет конца файла");
		unsigned slen = be16(in + pos);
		if (slen < 2 || slen > len - pos)
			return errorf(err, errlen, broken, "неверная длина сегмента");
		const unsigned char *d = in + pos + 2;
		size_t dn = slen - 2;
		bool keep = true;
		if (jpeg_sof(m)) {
			if (sofs++ || dn < 6)
				return errorf(err, errlen, broken, "неверный заголовок кадра");
			unsigned nc = d[5];
			if ((d[0] != 8 && d[0] != 12) || nc < 1 || nc > 4 || dn != 6 + 3 * (size_t)nc)
				return errorf(err, errlen, broken, "неверный заголовок кадра");
			img->height = be16(d + 1);
			img->width = be16(d + 3);
			if (!img->height)
				return errorf(err, errlen, broken, "высота не указана в заголовке");
			if (!size_ok(img->width, img->height, err, errlen))
				return false;
		} else if (m == 0xfe) {
			keep = false;
		} else if (m >= 0xe0 && m <= 0xef) {
			keep = jpeg_keep_app(m, d, dn);
		} else if (m == 0xdd && dn != 2) {
			return errorf(err, errlen, broken, "неверный сегмент DRI");
		}
		if (keep)
			emit(o, in + pos - 2,
			     slen + 2); /* FF, the marker (fill bytes before it dropped), the segment */
		pos += slen;
		if (m != 0xda)
			continue;
		if (!sofs || dn < 1 || !d[0] || d[0] > 4 || dn != 4 + 2 * (size_t)d[0])
			return errorf(err, errlen, broken, "неверный заголовок скана");
		scans++;
		/* The entropy-coded data: up to a marker other than a stuffed 00 or RSTn. */
		size_t start = pos;
		for (;;) {
			const unsigned char *ff = memchr(in + pos, 0xff, len - pos);
			if (!ff || (size_t)(ff - in) + 1 >= len)
				return errorf(err, errlen, broken, "нет конца файла");
			pos = (size_t)(ff - in) + 1;
			unsigned b = in[pos];
			if (b == 0x00 || (b >= 0xd0 && b <= 0xd7)) {
				pos++;
				continue;
			}
			if (b == 0xff)
				continue; /* a fill byte before the marker */
			pos--;
			break;
		}
		emit(o, in + start, pos - start);
	}
}

/* ---- WebP ---- */

/* The size of a VP8 or VP8L chunk's image; false with err when its header is wrong. */
static bool webp_frame_size(const unsigned char *fourcc, const unsigned char *d, uint32_t n, unsigned *w, unsigned *h,
			    char *err, size_t errlen)
{
	static const char broken[] = "Файл WebP повреждён или обрезан (%s). Сохраните снимок заново и загрузите его.";
	if (!memcmp(fourcc, "VP8 ", 4)) {
		if (n < 10 || (d[0] & 1) || d[3] != 0x9d || d[4] != 0x01 || d[5] != 0x2a)
			return errorf(err, errlen, broken, "неверный заголовок VP8");
		*w = (d[6] | (unsigned)d[7] << 8) & 0x3fff;
		*h = (d[8] | (unsigned)d[9] << 8) & 0x3fff;
		return true;
	}
	if (n < 5 || d[0] != 0x2f)
		return errorf(err, errlen, broken, "неверный заголовок VP8L");
	uint32_t bits = le32(d + 1);
	if (bits >> 29)
		return errorf(err, errlen, broken, "неизвестная версия VP8L");
	*w = (bits & 0x3fff) + 1;
	*h = ((bits >> 14) & 0x3fff) + 1;
	return true;
}

static bool webp_clean(const unsigned char *in, size_t len, struct image *img, struct out *o, char *err, size_t errlen)
{
	static const char broken[] = "Файл WebP повреждён или обрезан (%s). Сохраните снимок заново и загрузите его.";
	uint32_t riff = le32(in + 4);
	if (riff < 4 || riff % 2 || (size_t)riff > len - 8)
		return errorf(err, errlen, broken,
			      (size_t)riff > len - 8 ? "файл короче, чем указано" : "неверный размер");
	if ((size_t)riff != len - 8)
		return errorf(err, errlen, "%s", trailing_msg);
	emit(o, in, 12);
	size_t pos = 12;
	int n = 0;
	bool extended = false, frame = false, alph = false, iccp = false;
	unsigned cw = 0, ch = 0;
	size_t vp8x_at = 0;
	while (pos < len) {
		if (len - pos < 8)
			return errorf(err, errlen, broken, "обрезанный блок");
		const unsigned char *fourcc = in + pos;
		uint32_t clen = le32(in + pos + 4);
		if (clen > len - pos - 8 || (size_t)clen + (clen & 1) > len - pos - 8)
			return errorf(err, errlen, broken, "неверная длина блока");
		size_t whole = 8 + (size_t)clen + (clen % 2);
		const unsigned char *d = in + pos + 8;
		bool is_frame = !memcmp(fourcc, "VP8 ", 4) || !memcmp(fourcc, "VP8L", 4);
		bool keep = false;
		if (n == 0) {
			if (is_frame) {
				if (!webp_frame_size(fourcc, d, clen, &img->width, &img->height, err, errlen))
					return false;
				frame = keep = true;
			} else if (!memcmp(fourcc, "VP8X", 4)) {
				if (clen != 10)
					return errorf(err, errlen, broken, "неверный заголовок VP8X");
				if (d[0] & 0x02)
					return errorf(err, errlen,
						      "Анимированные WebP не принимаются: загрузите неподвижный снимок "
						      "(PNG, JPEG или WebP).");
				cw = (d[4] | (unsigned)d[5] << 8 | (unsigned)d[6] << 16) + 1;
				ch = (d[7] | (unsigned)d[8] << 8 | (unsigned)d[9] << 16) + 1;
				if (!size_ok(cw, ch, err, errlen))
					return false;
				extended = keep = true;
				vp8x_at = o->len;
			} else {
				return errorf(err, errlen, broken, "нет данных изображения");
			}
		} else if (!extended) {
			return errorf(err, errlen, broken, "лишний блок после изображения");
		} else if (is_frame) {
			if (frame)
				return errorf(err, errlen, broken, "второе изображение");
			if (alph && memcmp(fourcc, "VP8 ", 4))
				return errorf(err, errlen, broken, "прозрачность без VP8");
			if (!webp_frame_size(fourcc, d, clen, &img->width, &img->height, err, errlen))
				return false;
			if (img->width != cw || img->height != ch)
				return errorf(err, errlen, broken, "размер кадра не совпадает с холстом");
			frame = keep = true;
		} else if (!memcmp(fourcc, "ICCP", 4)) {
			if (iccp || frame || alph)
				return errorf(err, errlen, broken, "неверный порядок блоков");
			iccp = keep = true;
		} else if (!memcmp(fourcc, "ALPH", 4)) {
			if (alph || frame || !clen)
				return errorf(err, errlen, broken, "неверный порядок блоков");
			alph = keep = true;
		} else if (!memcmp(fourcc, "ANIM", 4) || !memcmp(fourcc, "ANMF", 4) || !memcmp(fourcc, "VP8X", 4)) {
			return errorf(err, errlen, broken, "неожиданный блок");
		}
		/* EXIF, XMP and unknown chunks are dropped. */
		if (keep)
			emit(o, in + pos, whole);
		pos += whole;
		n++;
	}
	if (!frame)
		return errorf(err, errlen, broken, "нет данных изображения");
	if (extended) {
		unsigned char *flags = o->p + vp8x_at + 8;
		*flags &= (unsigned char)~0x0c; /* EXIF, XMP: gone */
		if (!iccp)
			*flags &= (unsigned char)~0x20;
	}
	if (!size_ok(img->width, img->height, err, errlen))
		return false;
	put_le32(o->p + 4, (uint32_t)(o->len - 8));
	return true;
}

/* ---- the type ---- */

static bool starts_with_markup(const unsigned char *in, size_t len)
{
	size_t i = 0;
	if (len >= 3 && in[0] == 0xef && in[1] == 0xbb && in[2] == 0xbf)
		i = 3;
	while (i < len && (in[i] == ' ' || in[i] == '\t' || in[i] == '\r' || in[i] == '\n'))
		i++;
	return i < len && in[i] == '<';
}

bool image_clean(const unsigned char *in, size_t len, struct image *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	if (!len)
		return errorf(err, errlen, "Файл пустой. Выберите снимок экрана в формате PNG, JPEG или WebP.");
	if (len > IMAGE_MAX_BYTES)
		return errorf(err, errlen,
			      "Файл больше %u МБ. Уменьшите снимок или сохраните его в JPEG или WebP и загрузите "
			      "снова.",
			      IMAGE_MAX_BYTES >> 20);
	enum image_type t = 0;
	if (len >= 8 && !memcmp(in, png_sig, 8))
		t = IMAGE_PNG;
	else if (len >= 3 && in[0] == 0xff && in[1] == 0xd8 && in[2] == 0xff)
		t = IMAGE_JPEG;
	else if (len >= 12 && !memcmp(in, "RIFF", 4) && !memcmp(in + 8, "WEBP", 4))
		t = IMAGE_WEBP;
	if (!t) {
		if (starts_with_markup(in, len))
			return errorf(err, errlen,
				      "SVG и HTML не принимаются: загрузите снимок экрана в формате PNG, JPEG или "
				      "WebP.");
		if (len >= 6 && (!memcmp(in, "GIF87a", 6) || !memcmp(in, "GIF89a", 6)))
			return errorf(err, errlen,
				      "GIF не принимается: загрузите снимок экрана в формате PNG, JPEG или WebP.");
		return errorf(err, errlen,
			      "Это не изображение PNG, JPEG или WebP (формат определяется по содержимому файла, а не "
			      "по его имени). Загрузите снимок экрана в одном из этих форматов.");
	}
	struct out o = {.p = malloc(len), .len = 0};
	if (!o.p)
		return errorf(err, errlen, "Не хватает памяти. Попробуйте позже.");
	out->type = t;
	bool ok = t == IMAGE_PNG    ? png_clean(in, len, out, &o, err, errlen)
		  : t == IMAGE_JPEG ? jpeg_clean(in, len, out, &o, err, errlen)
				    : webp_clean(in, len, out, &o, err, errlen);
	if (!ok) {
		free(o.p);
		memset(out, 0, sizeof *out);
		return false;
	}
	out->data = o.p;
	out->len = o.len;
	return true;
}

void image_free(struct image *img)
{
	free(img->data);
	img->data = NULL;
	img->len = 0;
}

const char *image_ext(enum image_type t)
{
	return t == IMAGE_PNG ? "png" : t == IMAGE_JPEG ? "jpg" : t == IMAGE_WEBP ? "webp" : NULL;
}

const char *image_mime(enum image_type t)
{
	return t == IMAGE_PNG ? "image/png" : t == IMAGE_JPEG ? "image/jpeg" : t == IMAGE_WEBP ? "image/webp" : NULL;
}

enum image_type image_type_of_ext(const char *ext)
{
	if (!strcasecmp(ext, "png"))
		return IMAGE_PNG;
	if (!strcasecmp(ext, "jpg") || !strcasecmp(ext, "jpeg"))
		return IMAGE_JPEG;
	if (!strcasecmp(ext, "webp"))
		return IMAGE_WEBP;
	return 0;
}
