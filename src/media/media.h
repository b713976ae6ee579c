/*
 * media — the editors' article images (issue #10): uploaded PNG, JPEG and WebP screenshots,
 * checked and cleaned by image.h, kept in the content-addressed store of src/files (DATA/files on
 * SQLite, file_store/file_chunks on PostgreSQL: every node reads them) under the SHA-256 of the
 * cleaned bytes, and registered in the `media` table (owned here: hash, type, width, height,
 * bytes, uploader, created). Only registered images are served (/media/<hash>.<ext>): the store
 * also holds the members' attachments, which never are.
 *
 * An image's name is its address's last segment: 64 lowercase hex digits, a dot and the
 * extension of its type ("png", "jpg", "webp"). A row never changes once written (the same
 * content uploaded twice is one row), so pages that show an image may be cached for ever.
 *
 * Import and export (content/media/, docs/content.md): every file of DIR/media is stored through
 * the same checks, its file name kept in the row (a name imported again with other content moves
 * to it), and the article texts' references to them (`media/NAME` or `/media/NAME`) become the
 * stored image's address. An export writes every registered image as DIR/media/<file name> (an
 * upload: <hash>.<ext>) and turns the exported texts' addresses of named images back into
 * `media/<file name>`, so that exporting content/ gives content/ back.
 */
#ifndef SPRAVKA_MEDIA_H
#define SPRAVKA_MEDIA_H

#include "image.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct db;
struct arena;
struct files_store;
struct kb_batch;

struct media_info {
	char hash[65];
	enum image_type type;
	unsigned width, height;
	int64_t bytes;
	char name[72]; /* "<hash>.<ext>" */
};

/* Whether name is "<64 lowercase hex>.<png|jpg|webp>": the hash (65 bytes) and type. */
bool media_name_parse(const char *name, char hash[65], enum image_type *type);

/*
 * Cleans data[0..len) (image_clean), stores the cleaned bytes (files_put: durable before the row)
 * and registers them as uploaded by uploader (0: an import). db: outside any transaction. 1 with
 * *out filled; 0 when the image is refused (a Russian message in err); -1 on a storage or
 * database error (err says which, in English, for logs).
 */
int media_add(struct db *db, const struct files_store *fs, const unsigned char *data, size_t len, int64_t uploader,
	      struct media_info *out, char *err, size_t errlen);
/* The registered image name: 1 with *out, 0 when there is none (or the name is malformed or of
 * another type), -1 on error. */
int media_get(struct db *db, const char *name, struct media_info *out);
/* For the file sweep (files_referenced_fn's contract): whether a media row holds hex. */
int media_referenced(struct db *db, const char *hex);
/* md_image_size_fn (md.h) over the media table: arg is the struct db *. */
bool media_size_lookup(void *db, const char *name, unsigned *width, unsigned *height);

/* Every image of dir/media stored and registered, then the references of b's texts and drafts rewritten
 * (see above). False with "FILE: what is wrong" in err: nothing of the texts is imported then
 * (images stored before the failure stay, unreferenced). *stored gets the number of images. */
bool media_import(struct db *db, const struct files_store *fs, struct arena *a, const char *dir, struct kb_batch *b,
		  int *stored, char *err, size_t errlen);
/* Writes every registered image to dir/media/<name>; false with a message in err. */
bool media_export(struct db *db, const struct files_store *fs, const char *dir, char *err, size_t errlen);

/* The SQL texts (each by the primary key or the unique name index), for tests. */
extern const char media_get_sql[], media_insert_sql[], media_referenced_sql[], media_all_sql[], media_unname_sql[],
    media_name_sql[];

#endif
