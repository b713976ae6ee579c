/*
 * image — what an uploaded "image" really is: PNG, JPEG or WebP, told from its bytes alone (never
 * a file name or a declared type), walked structurally from its signature to its last byte, its
 * size read from the format's own header (PNG IHDR, JPEG SOFn, WebP VP8 / VP8L / VP8X), and
 * rewritten without its metadata.
 *
 * Accepted:
 * - PNG: the signature, IHDR first (valid depth and colour type), chunks with valid CRCs, IDAT
 *   chunks in one run, IEND last and nothing after it. Kept: the critical chunks (IHDR, PLTE,
 *   IDAT, IEND) and the colour ones (tRNS, gAMA, cHRM, sRGB, iCCP, sBIT, cICP); everything else
 *   (tEXt, zTXt, iTXt, eXIf, tIME, pHYs, APNG's frames...) is dropped; an unknown critical chunk
 *   refuses the file.
 * - JPEG: SOI, marker segments with valid lengths, exactly one SOFn (width and height > 0, 1-4
 *   components), scans walked through their entropy-coded data, EOI last and nothing after it.
 *   Kept: APP0 "JFIF", APP2 "ICC_PROFILE", APP14 "Adobe" (the colour transform) and the segments
 *   that decode the image; dropped: every other APPn (EXIF and XMP in APP1, IPTC in APP13...)
 *   and COM. The EXIF orientation goes with the EXIF (screenshots have none).
 * - WebP: RIFF whose size is exactly the file's, "WEBP", then either one VP8 / VP8L chunk alone,
 *   or VP8X (no animation) with optional ICCP and ALPH and one VP8 / VP8L chunk whose size is
 *   the canvas's. EXIF, XMP and unknown chunks are dropped and the VP8X flags of EXIF and XMP
 *   cleared.
 * Refused, each with a Russian message for the person who uploaded it: anything else (SVG,
 * HTML, GIF, text...), bytes after the image's end (a polyglot: an image glued to another file),
 * a structure that does not walk cleanly (truncated, bad lengths or CRCs), more than
 * IMAGE_MAX_BYTES, a side of more than IMAGE_MAX_SIDE pixels or more than IMAGE_MAX_PIXELS.
 *
 * The rewriting only drops whole chunks or segments, so the cleaned image is never larger, and
 * cleaning it again gives the same bytes (an import of an export changes nothing). Pure code:
 * no I/O, thread-safe.
 */
#ifndef SPRAVKA_IMAGE_H
#define SPRAVKA_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IMAGE_MAX_BYTES (5u << 20)
#define IMAGE_MAX_SIDE 10000u
#define IMAGE_MAX_PIXELS 40000000ull

enum image_type { IMAGE_PNG = 1, IMAGE_JPEG, IMAGE_WEBP };

struct image {
	enum image_type type;
	unsigned width, height;
	unsigned char *data; /* the cleaned image (malloc'd; image_free) */
	size_t len;
};

/* Checks and cleans in[0..len). True with *out filled; false with a Russian message in err
 * (*out then holds nothing to free). */
bool image_clean(const unsigned char *in, size_t len, struct image *out, char *err, size_t errlen);
void image_free(struct image *img);
/* "png", "jpg", "webp" (NULL for anything else). */
const char *image_ext(enum image_type t);
/* "image/png", "image/jpeg", "image/webp" (NULL for anything else). */
const char *image_mime(enum image_type t);
/* The type of a file name's extension ("png", "jpg", "jpeg", "webp"; case-insensitive), or 0. */
enum image_type image_type_of_ext(const char *ext);

#endif
