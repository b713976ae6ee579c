/* The content-addressed file store. See files.h. */
#include "files.h"

#include "../core/arena.h"
#include "../db/db.h"

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

static bool fsync_path(const char *path, bool dir)
{
	int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
	if (fd < 0)
		return false;
	bool ok = fsync(fd) == 0;
	close(fd);
	return ok;
}

const char *files_sync_dir(const struct files_store *fs, struct arena *a)
{
	return fs->in_db ? NULL : arena_printf(a, "%s/files", fs->data_dir);
}

bool files_sync(const struct files_store *fs)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/files", fs->data_dir);
	return fs->in_db || fsync_path(dir, true);
}

/* ---- the directory home ---- */

/* Moves the upload to DATA/files/<hex>: its content durable before return, and its name too
 * unless sync_dir is false. */
static bool put_dir(const struct files_store *fs, const char *hex, const char *path, size_t size, bool sync_dir)
{
	char dir[4096], dest[4096 + 80];
	snprintf(dir, sizeof dir, "%s/files", fs->data_dir);
	snprintf(dest, sizeof dest, "%s/%s", dir, hex);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return false;
	if (!fsync_path(path, false))
		return false;
	/* The same content already stored: touch it first. The sweep leaves a file touched within
	 * its grace period alone, and looks again after taking one aside, so a file reused here is
	 * never removed; once touched (and still there), the upload goes. */
	struct stat st;
	if (utimensat(AT_FDCWD, dest, NULL, 0) == 0 && stat(dest, &st) == 0 && (size_t)st.st_size == size)
		unlink(path);
	else if (rename(path, dest) != 0)
		return false;
	return !sync_dir || fsync_path(dir, true);
}

/* ---- the database home ---- */

const char files_touch_sql[] = "UPDATE file_store SET stored = ? WHERE sha256 = ? AND size = ?";
const char files_chunk_sql[] = "SELECT data FROM file_chunks WHERE sha256 = ? AND n = ?";

/* Moves file_store's time of hex to now when it is stored with that size: true when it was. */
static bool touch(struct db *db, const char *hex, size_t size, bool *ok)
{
	struct db_stmt *st = db_prepare(db, files_touch_sql);
	*ok = st && db_bind_int(st, 1, (int64_t)time(NULL)) == DB_OK && db_bind_text(st, 2, hex) == DB_OK &&
	      db_bind_int(st, 3, (int64_t)size) == DB_OK && db_step(st) == DB_DONE;
	db_finalize(st);
	return *ok && db_changes(db) == 1;
}

/* Writes the chunks of the open file fd (size bytes) under hex, in order. */
static bool write_chunks(struct db *db, const char *hex, int fd, size_t size)
{
	struct db_stmt *st = db_prepare(db, "INSERT INTO file_chunks(sha256, n, data) VALUES (?, ?, ?)");
	unsigned char *chunk = xmalloc(FILES_CHUNK);
	bool ok = st != NULL;
	size_t done = 0;
	for (int64_t n = 0; ok && done < size; n++) {
		size_t want = size - done < FILES_CHUNK ? size - done : FILES_CHUNK, got = 0;
		while (got < want) {
			ssize_t r = read(fd, chunk + got, want - got);
			if (r <= 0)
				break;
			got += (size_t)r;
		}
		db_reset(st);
		ok = got == want && db_bind_text(st, 1, hex) == DB_OK && db_bind_int(st, 2, n) == DB_OK &&
		     db_bind_blob(st, 3, chunk, got) == DB_OK && db_step(st) == DB_DONE;
		done += got;
	}
	free(chunk);
	db_finalize(st);
	return ok;
}

/*
 * One transaction: touch the content when it is there; otherwise claim its file_store row
 * (ON CONFLICT DO NOTHING waits for a concurrent put of the same content and then finds its row)
 * and write the chunks under it. The row's lock is held until the commit, so a sweep deleting
 * the row waits for it, and then finds it touched.
 */
static bool put_db(struct db *db, const char *hex, const char *path, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	bool ok = db_begin_write(db) == DB_OK;
	if (ok && !touch(db, hex, size, &ok) && ok) {
		struct db_stmt *st =
		    db_prepare(db, "INSERT INTO file_store(sha256, size, chunks, stored) VALUES (?, ?, "
				   "?, ?) ON CONFLICT (sha256) DO NOTHING");
		ok = st && db_bind_text(st, 1, hex) == DB_OK && db_bind_int(st, 2, (int64_t)size) == DB_OK &&
		     db_bind_int(st, 3, (int64_t)((size + FILES_CHUNK - 1) / FILES_CHUNK)) == DB_OK &&
		     db_bind_int(st, 4, (int64_t)time(NULL)) == DB_OK && db_step(st) == DB_DONE;
		db_finalize(st);
		if (ok && db_changes(db) == 1)
			ok = write_chunks(db, hex, fd, size);
		else if (ok) /* stored by someone else meanwhile (committed): touched now, or a mismatch */
			ok = touch(db, hex, size, &ok) && ok;
	}
	close(fd);
	if (ok && db_commit(db) == DB_OK) {
		unlink(path);
		return true;
	}
	db_rollback(db);
	return false;
}

bool files_put(const struct files_store *fs, struct db *db, const unsigned char sha256[32], const char *path,
	       size_t size, bool sync_dir)
{
	char hex[65];
	sodium_bin2hex(hex, sizeof hex, sha256, 32);
	if (fs->in_db)
		return db && put_db(db, hex, path, size);
	return put_dir(fs, hex, path, size, sync_dir);
}

/* fd moved above the standard descriptors (a daemon may have closed them: a response must
 * never send or close stdin by mistake). */
static int high_fd(int fd)
{
	if (fd < 0 || fd > 2)
		return fd;
	int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	close(fd);
	return moved;
}

/* An unnamed file in DATA/tmp, read and write. */
static int spool(const struct files_store *fs)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/tmp", fs->data_dir);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return -1;
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		char name[4096 + 32];
		snprintf(name, sizeof name, "%s/read-XXXXXX", dir);
		fd = mkostemp(name, O_CLOEXEC);
		if (fd >= 0)
			unlink(name);
	}
	return high_fd(fd);
}

static bool write_all(int fd, const unsigned char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

static int open_db(const struct files_store *fs, struct db *db, const char *hex)
{
	struct db_stmt *st = db_prepare(db, "SELECT size, chunks FROM file_store WHERE sha256 = ?");
	if (!st || db_bind_text(st, 1, hex) != DB_OK) {
		db_finalize(st);
		errno = EIO;
		return -1;
	}
	enum db_rc rc = db_step(st);
	int64_t size = rc == DB_ROW ? db_col_int(st, 0) : 0, chunks = rc == DB_ROW ? db_col_int(st, 1) : 0;
	db_finalize(st);
	if (rc != DB_ROW) {
		errno = rc == DB_DONE ? ENOENT : EIO;
		return -1;
	}
	int fd = spool(fs);
	if (fd < 0)
		return -1;
	/* A chunk a statement: one chunk in memory at a time. The chunks of a stored content never
	 * change, and a referenced one is never swept, so no transaction is needed around them. */
	st = db_prepare(db, files_chunk_sql);
	bool ok = st != NULL;
	int64_t total = 0;
	for (int64_t n = 0; ok && n < chunks; n++) {
		db_reset(st);
		ok = db_bind_text(st, 1, hex) == DB_OK && db_bind_int(st, 2, n) == DB_OK && db_step(st) == DB_ROW;
		size_t len = 0;
		const void *data = ok ? db_col_blob(st, 0, &len) : NULL;
		ok = ok && data && write_all(fd, data, len);
		total += (int64_t)len;
	}
	db_finalize(st);
	if (!ok || total != size || lseek(fd, 0, SEEK_SET) != 0) {
		close(fd);
		errno = EIO;
		return -1;
	}
	return fd;
}

static bool is_hex64(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return false;
	return n == 64;
}

int files_open(const struct files_store *fs, struct db *db, const char *hex)
{
	if (!hex || !is_hex64(hex)) {
		errno = ENOENT;
		return -1;
	}
	if (fs->in_db)
		return open_db(fs, db, hex);
	char path[4096];
	snprintf(path, sizeof path, "%s/files/%s", fs->data_dir, hex);
	return high_fd(open(path, O_RDONLY | O_CLOEXEC));
}

/* ---- the sweep ---- */

static int cmp_names(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Brings a file taken aside back under its name (a crash between the two renames, or a file
 * touched or referenced meanwhile). rename() replaces a copy stored again meanwhile: the same
 * content. */
static void put_back(const char *aside, const char *path)
{
	if (rename(aside, path) != 0)
		unlink(aside);
}

static int sweep_dir(const struct files_store *fs, struct db *db, struct arena *a, int64_t older_than, int max_checks,
		     char cursor[65], files_referenced_fn referenced, void *arg)
{
	const char *dir = arena_printf(a, "%s/files", fs->data_dir);
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -1;
	/* The names after the cursor, in order, so that a large store is covered over several runs. */
	size_t n = 0, cap = 1024;
	char **names = arena_alloc(a, cap * sizeof *names);
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (len == 70 && !strcmp(e->d_name + 64, ".sweep")) {
			/* Left over by a sweep that stopped half-way: back, to be judged afresh. */
			char hex[65];
			memcpy(hex, e->d_name, 64);
			hex[64] = '\0';
			if (is_hex64(hex))
				put_back(arena_printf(a, "%s/%s", dir, e->d_name), arena_printf(a, "%s/%s", dir, hex));
			continue;
		}
		if (!is_hex64(e->d_name) || strcmp(e->d_name, cursor) <= 0)
			continue;
		if (n == cap) {
			char **bigger = arena_alloc(a, cap * 2 * sizeof *bigger);
			memcpy(bigger, names, cap * sizeof *bigger);
			names = bigger;
			cap *= 2;
		}
		names[n++] = arena_strdup(a, e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof *names, cmp_names);
	int removed = 0;
	size_t i = 0;
	for (; i < n && (int)i < max_checks; i++) {
		const char *path = arena_printf(a, "%s/%s", dir, names[i]);
		const char *aside = arena_printf(a, "%s.sweep", path);
		struct stat st;
		if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode) || (int64_t)st.st_mtime >= older_than ||
		    referenced(db, names[i], arg) != 0)
			continue;
		/* Taken aside first: a put reusing the content from now on finds no file and stores
		 * its own upload; one that touched it before shows in the mtime, one whose row
		 * committed in the references. Only then is it removed. */
		if (rename(path, aside) != 0)
			continue;
		if (stat(aside, &st) != 0 || (int64_t)st.st_mtime >= older_than || referenced(db, names[i], arg) != 0) {
			put_back(aside, path);
			continue;
		}
		if (unlink(aside) == 0)
			removed++;
	}
	/* Where the next run goes on; from the start again once the end is reached. */
	if (i < n && i > 0)
		snprintf(cursor, 65, "%s", names[i - 1]);
	else
		cursor[0] = '\0';
	return removed;
}

const char files_sweep_candidates_sql[] =
    "SELECT sha256 FROM file_store WHERE sha256 > ? AND stored < ? ORDER BY sha256 LIMIT ?";

/*
 * One candidate, in one write transaction: its file_store row deleted if still older than the
 * grace period (PostgreSQL: the DELETE waits for a put holding the row and then re-checks
 * `stored`), the references asked after that (a put from now on waits for this transaction, and
 * then stores the content anew), the chunks deleted only when nothing refers to it.
 */
static bool sweep_one(struct db *db, const char *hex, int64_t older_than, files_referenced_fn referenced, void *arg)
{
	if (db_begin_write(db) != DB_OK)
		return false;
	struct db_stmt *st = db_prepare(db, "DELETE FROM file_store WHERE sha256 = ? AND stored < ?");
	bool ok = st && db_bind_text(st, 1, hex) == DB_OK && db_bind_int(st, 2, older_than) == DB_OK &&
		  db_step(st) == DB_DONE && db_changes(db) == 1;
	db_finalize(st);
	ok = ok && referenced(db, hex, arg) == 0;
	st = ok ? db_prepare(db, "DELETE FROM file_chunks WHERE sha256 = ?") : NULL;
	ok = ok && st && db_bind_text(st, 1, hex) == DB_OK && db_step(st) == DB_DONE;
	db_finalize(st);
	if (ok && db_commit(db) == DB_OK)
		return true;
	db_rollback(db);
	return false;
}

static int sweep_db(struct db *db, struct arena *a, int64_t older_than, int max_checks, char cursor[65],
		    files_referenced_fn referenced, void *arg)
{
	struct db_stmt *st = db_prepare(db, files_sweep_candidates_sql);
	if (!st)
		return -1;
	db_bind_text(st, 1, cursor);
	db_bind_int(st, 2, older_than);
	db_bind_int(st, 3, max_checks);
	char **names = arena_alloc(a, (size_t)(max_checks > 0 ? max_checks : 1) * sizeof *names);
	int n = 0;
	enum db_rc rc;
	while (n < max_checks && (rc = db_step(st)) == DB_ROW)
		names[n++] = arena_strdup(a, db_col_text(st, 0));
	db_finalize(st);
	if (n < max_checks && rc != DB_DONE)
		return -1;
	int removed = 0;
	for (int i = 0; i < n; i++)
		/* Most old contents are referenced: asked first, outside a write transaction. */
		if (referenced(db, names[i], arg) == 0 && sweep_one(db, names[i], older_than, referenced, arg))
			removed++;
	if (n == max_checks && n > 0)
		snprintf(cursor, 65, "%s", names[n - 1]);
	else
		cursor[0] = '\0';
	return removed;
}

int files_sweep(const struct files_store *fs, struct db *db, int64_t older_than, int max_checks, char cursor[65],
		files_referenced_fn referenced, void *arg)
{
	struct arena *a = arena_new();
	int removed = fs->in_db ? sweep_db(db, a, older_than, max_checks, cursor, referenced, arg)
				: sweep_dir(fs, db, a, older_than, max_checks, cursor, referenced, arg);
	if (removed < 0) {
		arena_free(a);
		return -1;
	}
	/* Uploads left in DATA/tmp by a crash or a lost connection (each node's own). */
	const char *tmp = arena_printf(a, "%s/tmp", fs->data_dir);
	DIR *d = opendir(tmp);
	if (d) {
		int seen = 0;
		struct dirent *e;
		while ((e = readdir(d)) && seen < max_checks) {
			if (strncmp(e->d_name, "upload-", 7) != 0)
				continue;
			seen++;
			const char *path = arena_printf(a, "%s/%s", tmp, e->d_name);
			struct stat st;
			if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && (int64_t)st.st_mtime < older_than &&
			    unlink(path) == 0)
				removed++;
		}
		closedir(d);
	}
	arena_free(a);
	return removed;
}
