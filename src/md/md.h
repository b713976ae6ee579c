/*
 * md — Markdown to safe HTML, with cmark-gfm.
 *
 * cmark-gfm runs in its default safe mode: raw HTML in the source is not passed through and
 * links or images with javascript:, vbscript:, file: or data: (other than images) URLs are
 * dropped. GFM tables, autolinks, strikethrough and task lists are on. On top of plain rendering
 * md knows one convention of our content (docs/content.md): a "## Что подготовить" heading and
 * the blocks under it are wrapped in <section class="prepare">.
 *
 * The output is trusted HTML for html_raw(). Thread-safe.
 */
#ifndef SPRAVKA_MD_H
#define SPRAVKA_MD_H

#include <stddef.h>

/* HTML of markdown[0..len); malloc'd, the caller frees. Never NULL. */
char *md_to_html(const char *markdown, size_t len);
/* Plain text of markdown[0..len) (for search and snippets); malloc'd. Never NULL. */
char *md_to_text(const char *markdown, size_t len);

#endif
