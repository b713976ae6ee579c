/* The media table, the images' store, and content/media/ (media.h). */
#include "media.h"

#include "../core/arena.h"
#include "../core/text.h"
#include "../core/buf.h"
#include "../db/db.h"
#include "../files/files.h"
#include "../kb/kb.h"
#include "../md/md.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char media_get_sql[] = "SELECT type, width, height, bytes FROM media WHERE hash = ?";
const char media_insert_sql[] = "INSERT INTO media(hash, type, width, height, bytes, uploader, created) "
				"VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (hash) DO NOTHING";
const char media_referenced_sql[] = "SELECT 1 FROM media WHERE hash = ?";
const char media_all_sql[] = "SELECT hash, type, name FROM media ORDER BY hash";
/* An imported file's name moves to its new content (names are unique). */
const char media_unname_sql[] = "UPDATE media SET name = '' WHERE name = ? AND hash <> ?";
const char media_name_sql[] = "UPDATE media SET name = ? WHERE hash = ?";

bool media_name_parse(const char *name, char hash[65], enum image_type *type)
{
	for (int i = 0; i < 64; i++)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
			return false;
	if (name[64] != '.')
		return false;
	const char *ext = name + 65;
	enum image_type t = !strcmp(ext, "png")	   ? IMAGE_PNG
			    : !strcmp(ext, "jpg")  ? IMAGE_JPEG
			    : !strcmp(ext, "webp") ? IMAGE_WEBP
						   : 0;
	if (!t)
		return false;
	memcpy(hash, name, 64);
	hash[64] = '\0';
	*type = t;
	return true;
}

static void fill_name(struct media_info *m)
{
	snprintf(m->name, sizeof m->name, "%s.%s", m->hash, image_ext(m->type));
}

/* Writes bytes to a new file in DATA/tmp (made when missing): its path (malloc) or NULL. */
static char *temp_file(const char *data_dir, const unsigned char *p, size_t n)
{
	mkdir(data_dir, 0700);
	size_t plen = strlen(data_dir) + 32;
	char *path = malloc(plen);
	snprintf(path, plen, "%s/tmp", data_dir);
	mkdir(path, 0700);
	snprintf(path, plen, "%s/tmp/media-XXXXXX", data_dir);
	int fd = mkstemp(path);
	if (fd < 0) {
		free(path);
		return NULL;
	}
	bool ok = true;
	for (size_t off = 0; ok && off < n;) {
		ssize_t w = write(fd, p + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		ok = w > 0;
		off += ok ? (size_t)w : 0;
	}
	ok = close(fd) == 0 && ok;
	if (!ok) {
		unlink(path);
		free(path);
		return NULL;
	}
	return path;
}

int media_add(struct db *db, const struct files_store *fs, const unsigned char *data, size_t len, int64_t uploader,
	      struct media_info *out, char *err, size_t errlen)
{
	struct image img;
	if (!image_clean(data, len, &img, err, errlen))
		return 0;
	unsigned char sha[32];
	crypto_hash_sha256(sha, img.data, img.len);
	memset(out, 0, sizeof *out);
	sodium_bin2hex(out->hash, sizeof out->hash, sha, sizeof sha);
	out->type = img.type;
	out->width = img.width;
	out->height = img.height;
	out->bytes = (int64_t)img.len;
	fill_name(out);
	char *path = temp_file(fs->data_dir, img.data, img.len);
	size_t n = img.len;
	image_free(&img);
	if (!path) {
		errorf(err, errlen, "cannot write a temporary file in %s/tmp: %s", fs->data_dir, strerror(errno));
		return -1;
	}
	if (!files_put(fs, db, sha, path, n, true)) {
		unlink(path);
		free(path);
		errorf(err, errlen, "cannot store the image: %s", fs->in_db ? db_errmsg(db) : strerror(errno));
		return -1;
	}
	free(path);
	struct db_stmt *st = db_prepare(db, media_insert_sql);
	bool ok = st && db_bind_text(st, 1, out->hash) == DB_OK && db_bind_text(st, 2, image_ext(out->type)) == DB_OK &&
		  db_bind_int(st, 3, out->width) == DB_OK && db_bind_int(st, 4, out->height) == DB_OK &&
		  db_bind_int(st, 5, out->bytes) == DB_OK &&
		  (uploader > 0 ? db_bind_int(st, 6, uploader) : db_bind_null(st, 6)) == DB_OK &&
		  db_bind_int(st, 7, (int64_t)time(NULL)) == DB_OK && db_step(st) == DB_DONE;
	db_finalize(st);
	if (!ok) {
		errorf(err, errlen, "database: %s", db_errmsg(db));
		return -1;
	}
	return 1;
}

int media_get(struct db *db, const char *name, struct media_info *out)
{
	memset(out, 0, sizeof *out);
	enum image_type t;
	if (!media_name_parse(name, out->hash, &t))
		return 0;
	struct db_stmt *st = db_prepare(db, media_get_sql);
	if (!st)
		return -1;
	db_bind_text(st, 1, out->hash);
	enum db_rc rc = db_step(st);
	int found = rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : -1;
	if (found == 1) {
		out->type = image_type_of_ext(db_col_text(st, 0));
		out->width = (unsigned)db_col_int(st, 1);
		out->height = (unsigned)db_col_int(st, 2);
		out->bytes = db_col_int(st, 3);
		if (out->type != t)
			found = 0; /* the right content under another extension: not this name */
	}
	db_finalize(st);
	if (found == 1)
		fill_name(out);
	return found;
}

int media_referenced(struct db *db, const char *hex)
{
	struct db_stmt *st = db_prepare(db, media_referenced_sql);
	if (!st)
		return -1;
	db_bind_text(st, 1, hex);
	enum db_rc rc = db_step(st);
	db_finalize(st);
	return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : -1;
}

bool media_size_lookup(void *db, const char *name, unsigned *width, unsigned *height)
{
	struct media_info m;
	if (media_get(db, name, &m) != 1)
		return false;
	*width = m.width;
	*height = m.height;
	return true;
}

/* ---- content/media/ ---- */

/* A file of dir/media, read whole (at most IMAGE_MAX_BYTES + 1 bytes: more is refused). */
static unsigned char *read_image_file(const char *path, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		errorf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	unsigned char *p = malloc(IMAGE_MAX_BYTES + 1);
	size_t n = p ? fread(p, 1, IMAGE_MAX_BYTES + 1, f) : 0;
	bool bad = !p || ferror(f);
	fclose(f);
	if (bad) {
		free(p);
		errorf(err, errlen, "%s: read error", path);
		return NULL;
	}
	*len = n;
	return p;
}

struct mapped {
	const char *file; /* the name in dir/media */
	const char *name; /* the stored image's name */
};

static const struct mapped *find_mapped(const struct mapped *m, size_t n, const char *file, size_t flen)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(m[i].file) == flen && !memcmp(m[i].file, file, flen))
			return &m[i];
	return NULL;
}

/*
 * The references of one body rewritten: a link destination (after "](", maybe "<") that is
 * media/NAME or /media/NAME with NAME a file of dir/media becomes /media/<stored name>; a
 * media/NAME without such a file is an error. NULL with err when so.
 */
static const char *rewrite_body(struct arena *a, const char *body, const struct mapped *m, size_t n, const char *file,
				char *err, size_t errlen)
{
	if (!strstr(body, "media/"))
		return body;
	struct buf out;
	buf_init(&out, 4u << 20);
	const char *p = body; /* copied up to here */
	for (const char *q = body; (q = strstr(q, "]("));) {
		q += 2;
		if (*q == '<')
			q++;
		bool absolute = !strncmp(q, "/media/", 7);
		if (!absolute && strncmp(q, "media/", 6) != 0)
			continue;
		const char *name = q + (absolute ? 7 : 6);
		size_t len = strcspn(name, ")> \t\n\"'");
		const struct mapped *hit = find_mapped(m, n, name, len);
		if (!hit && !absolute) {
			buf_free(&out);
			errorf(err, errlen, "%s: image media/%.*s is not a file of the content's media/ directory",
			       file, (int)(len > 200 ? 200 : len), name);
			return NULL;
		}
		if (!hit)
			continue;
		buf_add(&out, p, (size_t)(q - p));
		buf_printf(&out, "/media/%s", hit->name);
		p = q = name + len;
	}
	buf_adds(&out, p);
	const char *r = buf_failed(&out) ? NULL : arena_strdup(a, buf_str(&out));
	buf_free(&out);
	if (!r)
		errorf(err, errlen, "%s: too large", file);
	return r;
}

struct no_alt {
	char *url; /* the first image without alt text (malloc, at most 200 bytes shown) */
};

static void first_without_alt(void *arg, const char *url, const char *alt)
{
	struct no_alt *na = arg;
	alt += strspn(alt, " \t");
	if (!*alt && !na->url)
		na->url = strndup(url, 200);
}

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

bool media_import(struct db *db, const struct files_store *fs, struct arena *a, const char *dir, struct kb_batch *b,
		  int *stored, char *err, size_t errlen)
{
	*stored = 0;
	const char *mdir = arena_printf(a, "%s/media", dir);
	size_t n = 0, cap = 16;
	char **files = xmalloc(cap * sizeof *files);
	DIR *d = opendir(mdir);
	for (struct dirent *e; d && (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap)
			files = xrealloc(files, (cap *= 2) * sizeof *files);
		files[n++] = arena_strdup(a, e->d_name);
	}
	if (d)
		closedir(d);
	qsort(files, n, sizeof *files, cmp_str);
	struct mapped *m = arena_alloc(a, (n ? n : 1) * sizeof *m);
	bool ok = true;
	/* Every file checked before any is stored: a bad image fails the import, naming it. */
	unsigned char **data = xcalloc(n ? n : 1, sizeof *data);
	size_t *lens = xcalloc(n ? n : 1, sizeof *lens);
	for (size_t i = 0; ok && i < n; i++) {
		const char *path = arena_printf(a, "%s/%s", mdir, files[i]);
		if (strspn(files[i], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
			strlen(files[i]) ||
		    strlen(files[i]) > 200) {
			ok = errorf(err, errlen,
				    "%s: an image's file name may hold only Latin letters, digits, '.', '_' and '-' "
				    "(at most 200)",
				    path);
			break;
		}
		struct stat st;
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
			ok = errorf(err, errlen, "%s: not a regular file", path);
			break;
		}
		data[i] = read_image_file(path, &lens[i], err, errlen);
		if (!data[i]) {
			ok = false;
			break;
		}
		struct image img;
		char why[512];
		if (!image_clean(data[i], lens[i], &img, why, sizeof why))
			ok = errorf(err, errlen, "%s: not an accepted image: %s", path, why);
		image_free(&img);
	}
	for (size_t i = 0; ok && i < n; i++) {
		struct media_info info;
		const char *path = arena_printf(a, "%s/%s", mdir, files[i]);
		if (media_add(db, fs, data[i], lens[i], 0, &info, err, errlen) != 1) {
			char why[512];
			snprintf(why, sizeof why, "%s", err);
			ok = errorf(err, errlen, "%s: %s", path, why);
			break;
		}
		m[i] = (struct mapped){.file = files[i], .name = arena_strdup(a, info.name)};
		(*stored)++;
		/* The file's name, for the export; none when it is the stored name itself. */
		const char *keep = strcmp(files[i], info.name) ? files[i] : "";
		const char *sqls[] = {media_unname_sql, media_name_sql};
		for (int k = 0; ok && k < 2; k++) {
			struct db_stmt *st = db_prepare(db, sqls[k]);
			ok = st && db_bind_text(st, 1, k ? keep : files[i]) == DB_OK &&
			     db_bind_text(st, 2, info.hash) == DB_OK && db_step(st) == DB_DONE;
			db_finalize(st);
		}
		if (!ok)
			errorf(err, errlen, "database: %s", db_errmsg(db));
	}
	for (size_t i = 0; i < n; i++)
		free(data[i]);
	free(data);
	free(lens);
	/* The published texts, then the drafts (export --drafts writes both). */
	for (size_t i = 0; ok && i < b->n_texts + b->n_drafts; i++) {
		bool draft = i >= b->n_texts;
		struct kb_text *t = draft ? &b->drafts[i - b->n_texts] : &b->texts[i];
		const char *const *names = draft ? b->draft_files : b->files;
		const char *file = names ? names[draft ? i - b->n_texts : i] : t->slug;
		/* Every image needs its alt text, as in the editors' form. */
		struct no_alt na = {0};
		md_images(t->body, strlen(t->body), first_without_alt, &na);
		if (na.url) {
			ok = errorf(err, errlen,
				    "%s: the image %s has no alt text: write what it shows in the brackets, "
				    "![...](%s)",
				    file, na.url, na.url);
			free(na.url);
			break;
		}
		const char *body = rewrite_body(a, t->body, m, n, file, err, errlen);
		if (!body)
			ok = false;
		else
			t->body = body;
	}
	free(files);
	return ok;
}

/* Rewrites the exported texts of dir (*.md): a link destination /media/<stored name> of an image
 * with a file name becomes media/<file name>, as content/ writes it. */
static bool relink_texts(struct arena *a, const char *dir, const char **stored, const char **named, size_t n, char *err,
			 size_t errlen)
{
	DIR *d = opendir(dir);
	if (!d)
		return errorf(err, errlen, "%s: cannot open: %s", dir, strerror(errno));
	bool ok = true;
	for (struct dirent *e; ok && (e = readdir(d));) {
		size_t nl = strlen(e->d_name);
		if (e->d_name[0] == '.' || nl < 4 || strcmp(e->d_name + nl - 3, ".md") != 0)
			continue;
		const char *path = arena_printf(a, "%s/%s", dir, e->d_name);
		FILE *f = fopen(path, "rb");
		if (!f) {
			ok = errorf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
			break;
		}
		struct buf in, out;
		buf_init(&in, 4u << 20);
		buf_init(&out, 4u << 20);
		char chunk[65536];
		size_t r;
		while ((r = fread(chunk, 1, sizeof chunk, f)) > 0)
			buf_add(&in, chunk, r);
		fclose(f);
		const char *p = buf_str(&in); /* copied up to here */
		bool changed = false;
		for (const char *q = p; (q = strstr(q, "]("));) {
			q += 2;
			if (*q == '<')
				q++;
			if (strncmp(q, "/media/", 7) != 0)
				continue;
			const char *name = q + 7;
			size_t len = strcspn(name, ")> \t\n\"'");
			const char *to = NULL;
			for (size_t k = 0; k < n && !to; k++)
				if (named[k] && strlen(stored[k]) == len && !memcmp(stored[k], name, len))
					to = named[k];
			if (!to)
				continue;
			buf_add(&out, p, (size_t)(q - p));
			buf_printf(&out, "media/%s", to);
			changed = true;
			p = q = name + len;
		}
		buf_adds(&out, p);
		if (buf_failed(&in) || buf_failed(&out)) {
			ok = errorf(err, errlen, "%s: too large", path);
		} else if (changed) {
			const char *tmp = arena_printf(a, "%s.tmp", path);
			FILE *w = fopen(tmp, "wb");
			bool written = w && fwrite(buf_str(&out), 1, out.len, w) == out.len;
			written = (w && fclose(w) == 0) && written;
			if (!written || rename(tmp, path) != 0) {
				remove(tmp);
				ok = errorf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
			}
		}
		buf_free(&in);
		buf_free(&out);
	}
	closedir(d);
	return ok;
}

bool media_export(struct db *db, const struct files_store *fs, const char *dir, char *err, size_t errlen)
{
	struct arena *a = arena_new();
	const char *mdir = arena_printf(a, "%s/media", dir);
	bool ok = true;
	struct db_stmt *st = db_prepare(db, media_all_sql);
	if (!st) {
		ok = errorf(err, errlen, "database: %s", db_errmsg(db));
		goto out;
	}
	/* The rows first: a read of the store may need the connection (the database home). */
	size_t n = 0, cap = 16;
	const char **hashes = NULL, **stored = NULL, **named = NULL;
	enum db_rc rc;
	while ((rc = db_step(st)) == DB_ROW) {
		if (!hashes || n == cap) {
			cap = hashes ? cap * 2 : cap;
			const char **h2 = arena_alloc(a, cap * sizeof *h2), **s2 = arena_alloc(a, cap * sizeof *s2),
				   **n2 = arena_alloc(a, cap * sizeof *n2);
			if (n) {
				memcpy(h2, hashes, n * sizeof *h2);
				memcpy(s2, stored, n * sizeof *s2);
				memcpy(n2, named, n * sizeof *n2);
			}
			hashes = h2, stored = s2, named = n2;
		}
		hashes[n] = arena_strdup(a, db_col_text(st, 0));
		stored[n] = arena_printf(a, "%s.%s", hashes[n], db_col_text(st, 1));
		const char *name = db_col_text(st, 2);
		named[n++] = name && *name ? arena_strdup(a, name) : NULL;
	}
	db_finalize(st);
	if (rc != DB_DONE) {
		ok = errorf(err, errlen, "database: %s", db_errmsg(db));
		goto out;
	}
	if (n && mkdir(mdir, 0755) != 0 && errno != EEXIST) {
		ok = errorf(err, errlen, "%s: cannot create: %s", mdir, strerror(errno));
		goto out;
	}
	for (size_t i = 0; ok && i < n; i++) {
		const char *path = arena_printf(a, "%s/%s", mdir, named[i] ? named[i] : stored[i]);
		int in = files_open(fs, db, hashes[i]);
		if (in < 0) {
			ok = errorf(err, errlen, "stored image %s: cannot open: %s", hashes[i], strerror(errno));
			break;
		}
		const char *tmp = arena_printf(a, "%s.tmp", path);
		FILE *f = fopen(tmp, "wb");
		char chunk[65536];
		ssize_t r = 0;
		while (f && (r = read(in, chunk, sizeof chunk)) > 0)
			if (fwrite(chunk, 1, (size_t)r, f) != (size_t)r)
				break;
		close(in);
		bool written = f && r == 0 && !ferror(f);
		written = (f && fclose(f) == 0) && written;
		if (!written || rename(tmp, path) != 0) {
			remove(tmp);
			ok = errorf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
		}
	}
	if (ok && n)
		ok = relink_texts(a, dir, stored, named, n, err, errlen);
out:
	arena_free(a);
	return ok;
}
