/*
 * md — Markdown to safe HTML, with cmark-gfm.
 *
 * cmark-gfm runs in its default safe mode: raw HTML in the source is not passed through and
 * links or images with javascript:, vbscript:, file: or data: (other than images) URLs are
 * dropped. GFM tables, autolinks, strikethrough and task lists are on. On top of plain rendering
 * md knows one convention of our content (docs/content.md): a "## Что подготовить" heading and
 * the blocks under it are wrapped in <section class="prepare">.
 *
 * Images: only the uploaded ones (issue #10, src/media) are shown, those whose URL is
 * /media/<64 hex>.<png|jpg|webp> and that the size lookup knows: an <img> with their alt text,
 * intrinsic width and height (the layout is reserved before the image arrives), loading="lazy",
 * inside a link to the full-size image (unless the image is already inside a link). Every other
 * image (external, data:, javascript:, an unknown /media name) is rendered as its alt text only.
 *
 * The output is trusted HTML for html_raw(). Thread-safe.
 */
#ifndef SPRAVKA_MD_H
#define SPRAVKA_MD_H

#include <stdbool.h>
#include <stddef.h>

/* The size of the uploaded image name ("<hash>.<ext>"): true with *width, *height when there is
 * one (media_size_lookup in src/media). */
typedef bool (*md_image_size_fn)(void *arg, const char *name, unsigned *width, unsigned *height);

/* HTML of markdown[0..len); malloc'd, the caller frees. Never NULL. size (may be NULL: no image
 * is shown) tells the uploaded images' sizes. */
char *md_to_html_images(const char *markdown, size_t len, md_image_size_fn size, void *arg);
/* The same without images (their alt text only). */
char *md_to_html(const char *markdown, size_t len);
/* Calls each(arg, url, alt) for every image of markdown[0..len) (url and alt as parsed; alt the
 * plain text of the image's description, "" when it has none). */
void md_images(const char *markdown, size_t len, void (*each)(void *arg, const char *url, const char *alt), void *arg);
/* Plain text of markdown[0..len) (for search and snippets), without the images (their alt texts
 * describe screenshots of what the text already says: search ranks the text); malloc'd. Never
 * NULL. */
char *md_to_text(const char *markdown, size_t len);

#endif
