/*
 * Unit tests of src/files (the content-addressed store) and of the blob values of src/db it is
 * built on, against a real database: SQLite here, and again on PostgreSQL (tests/run, PG_SUITES),
 * where the server keeps the files in the database. Both homes: the directory (DATA/files) and
 * the database (file_store, file_chunks): chunks of FILES_CHUNK bytes, content stored once,
 * reads a chunk at a time, the sweep keeping what is referenced or young, and a put racing a
 * sweep on another connection.
 */
#include "../../src/core/arena.h"
#include "../../src/db/db.h"
#include "../../src/files/files.h"
#include "helpers.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char *dir;
static struct db *db;
static struct arena *A;
static struct files_store in_db, in_dir;

static void setup(void)
{
	A = arena_new();
	dir = tmp_dir();
	char err[512];
	cr_assert_eq(db_open(test_db(dir), &db, err, sizeof err), DB_OK, "%s", err);
	in_db = (struct files_store){.data_dir = dir, .in_db = true};
	in_dir = (struct files_store){.data_dir = dir, .in_db = false};
	mkdir(arena_printf(A, "%s/tmp", dir), 0700);
}

static void teardown(void)
{
	db_close(db);
	rm_tree(dir);
	arena_free(A);
}

TestSuite(files, .init = setup, .fini = teardown);

/* n bytes of a pattern that differs per seed and holds every byte value (NUL included). */
static unsigned char *content(size_t n, unsigned seed)
{
	unsigned char *p = arena_alloc(A, n ? n : 1);
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)((i * 31 + seed * 7 + i / 251) & 0xff);
	return p;
}

/* An upload in DATA/tmp, as the http module leaves one: its path; its hash in sha256. */
static const char *upload(const void *data, size_t n, unsigned char sha256[32])
{
	static int seq;
	const char *path = arena_printf(A, "%s/tmp/upload-%d", dir, ++seq);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, data, n), (ssize_t)n);
	close(fd);
	crypto_hash_sha256(sha256, data, n);
	return path;
}

static const char *hex(const unsigned char sha256[32])
{
	char *h = arena_alloc(A, 65);
	sodium_bin2hex(h, 65, sha256, 32);
	return h;
}

/* Everything fd holds from its offset on, checked against want. */
static void assert_reads(int fd, const unsigned char *want, size_t n)
{
	cr_assert_gt(fd, 2, "a descriptor above stdin/stdout/stderr");
	unsigned char *got = arena_alloc(A, n + 1);
	size_t have = 0;
	ssize_t r;
	while ((r = read(fd, got + have, n + 1 - have)) > 0)
		have += (size_t)r;
	close(fd);
	cr_assert_eq(have, n, "read %zu bytes, stored %zu", have, n);
	cr_assert(!memcmp(got, want, n), "the bytes read differ from those stored");
}

static int64_t count(const char *sql, const char *arg)
{
	const char *v = db_text(db, A, sql, arg);
	return v ? strtoll(v, NULL, 10) : -1;
}

Test(files, blobs_keep_every_byte_and_empty_is_not_null)
{
	size_t n = 300000;
	const unsigned char *data = content(n, 1);
	struct db_stmt *st = db_prepare(db, "INSERT INTO file_chunks(sha256, n, data) VALUES (?, ?, ?)");
	cr_assert(st, "%s", db_errmsg(db));
	cr_assert_eq(db_bind_text(st, 1, "x"), DB_OK);
	cr_assert_eq(db_bind_int(st, 2, 0), DB_OK);
	cr_assert_eq(db_bind_blob(st, 3, data, n), DB_OK);
	cr_assert_eq(db_step(st), DB_DONE, "%s", db_errmsg(db));
	db_reset(st);
	db_bind_text(st, 1, "x");
	db_bind_int(st, 2, 1);
	db_bind_blob(st, 3, NULL, 0);
	cr_assert_eq(db_step(st), DB_DONE, "%s", db_errmsg(db));
	db_reset(st);
	db_bind_text(st, 1, "x");
	db_bind_int(st, 2, 2);
	db_bind_blob(st, 3, "\0\1\2", 3);
	cr_assert_eq(db_step(st), DB_DONE, "%s", db_errmsg(db));
	db_finalize(st);
	cr_assert_eq(count("SELECT count(*) FROM file_chunks WHERE sha256 = ?", "x"), 3);

	st = db_prepare(db, "SELECT n, data FROM file_chunks WHERE sha256 = ? ORDER BY n");
	cr_assert(st);
	db_bind_text(st, 1, "x");
	size_t len;
	cr_assert_eq(db_step(st), DB_ROW);
	const unsigned char *got = db_col_blob(st, 1, &len);
	cr_assert_eq(len, n);
	cr_assert(!memcmp(got, data, n));
	cr_assert_eq(db_step(st), DB_ROW);
	got = db_col_blob(st, 1, &len);
	cr_assert_not_null(got, "an empty blob is not NULL");
	cr_assert_eq(len, 0);
	cr_assert_eq(db_step(st), DB_ROW);
	got = db_col_blob(st, 1, &len);
	cr_assert_eq(len, 3);
	cr_assert(!memcmp(got, "\0\1\2", 3));
	cr_assert_eq(db_step(st), DB_DONE);
	db_finalize(st);

	/* NULL: a row of file_store without chunks, through a LEFT JOIN. */
	cr_assert_eq(db_exec(db, "INSERT INTO file_store(sha256, size, chunks, stored) VALUES ('y', 0, 0, 0)"), DB_OK);
	st = db_prepare(db, "SELECT c.data FROM file_store s LEFT JOIN file_chunks c ON c.sha256 = s.sha256 WHERE "
			    "s.sha256 = ?");
	cr_assert(st);
	db_bind_text(st, 1, "y");
	cr_assert_eq(db_step(st), DB_ROW);
	len = 7;
	cr_assert_null(db_col_blob(st, 0, &len));
	cr_assert_eq(len, 0);
	db_finalize(st);
}

Test(files, the_database_home_stores_in_chunks_once_per_content)
{
	size_t n = 2 * FILES_CHUNK + 12345;
	const unsigned char *data = content(n, 2);
	unsigned char sha[32];
	const char *path = upload(data, n, sha);
	cr_assert(files_put(&in_db, db, sha, path, n, true), "%s", db_errmsg(db));
	struct stat st;
	cr_assert_neq(stat(path, &st), 0, "the upload was removed");
	cr_assert_neq(stat(arena_printf(A, "%s/files", dir), &st), 0, "nothing in DATA/files");
	cr_assert_eq(count("SELECT count(*) FROM file_chunks WHERE sha256 = ?", hex(sha)), 3);
	cr_assert_eq(count("SELECT chunks FROM file_store WHERE sha256 = ?", hex(sha)), 3);
	cr_assert_eq(count("SELECT size FROM file_store WHERE sha256 = ?", hex(sha)), (int64_t)n);
	cr_assert_null(files_sync_dir(&in_db, A));
	cr_assert(files_sync(&in_db));
	assert_reads(files_open(&in_db, db, hex(sha)), data, n);

	/* The same content again: touched, not stored twice. */
	cr_assert_eq(db_exec(db, "UPDATE file_store SET stored = 5"), DB_OK);
	path = upload(data, n, sha);
	cr_assert(files_put(&in_db, db, sha, path, n, false));
	cr_assert_neq(stat(path, &st), 0, "the second upload was removed");
	cr_assert_eq(count("SELECT count(*) FROM file_chunks", NULL), 3);
	cr_assert_eq(count("SELECT count(*) FROM file_store", NULL), 1);
	cr_assert_gt(count("SELECT stored FROM file_store WHERE sha256 = ?", hex(sha)), 5, "reuse touches");

	/* An exact multiple of the chunk, a small file, and an empty one. */
	size_t sizes[] = {FILES_CHUNK, 1, 0};
	for (int i = 0; i < 3; i++) {
		const unsigned char *d = content(sizes[i], 10 + (unsigned)i);
		path = upload(d, sizes[i], sha);
		cr_assert(files_put(&in_db, db, sha, path, sizes[i], true));
		cr_assert_eq(count("SELECT chunks FROM file_store WHERE sha256 = ?", hex(sha)),
			     (int64_t)((sizes[i] + FILES_CHUNK - 1) / FILES_CHUNK));
		assert_reads(files_open(&in_db, db, hex(sha)), d, sizes[i]);
	}
}

Test(files, unknown_or_malformed_names_are_not_found)
{
	char zeros[65];
	memset(zeros, '0', 64);
	zeros[64] = 0;
	const struct files_store *homes[] = {&in_db, &in_dir};
	for (int i = 0; i < 2; i++) {
		errno = 0;
		cr_assert_eq(files_open(homes[i], db, zeros), -1);
		cr_assert_eq(errno, ENOENT);
		cr_assert_eq(files_open(homes[i], db, "../../etc/passwd"), -1);
		cr_assert_eq(errno, ENOENT);
		cr_assert_eq(files_open(homes[i], db, NULL), -1);
	}
	/* A store row whose chunks are missing is an error, not a short file. */
	cr_assert_eq(db_exec(db, "INSERT INTO file_store(sha256, size, chunks, stored) VALUES "
				 "('1111111111111111111111111111111111111111111111111111111111111111', 10, 1, 0)"),
		     DB_OK);
	errno = 0;
	cr_assert_eq(files_open(&in_db, db, "1111111111111111111111111111111111111111111111111111111111111111"), -1);
	cr_assert_eq(errno, EIO);
}

Test(files, the_directory_home_keeps_files_in_data_files)
{
	const unsigned char *data = content(5000, 3);
	unsigned char sha[32];
	const char *path = upload(data, 5000, sha);
	cr_assert(files_put(&in_dir, db, sha, path, 5000, false));
	cr_assert(files_sync(&in_dir));
	cr_assert_str_eq(files_sync_dir(&in_dir, A), arena_printf(A, "%s/files", dir));
	struct stat st;
	cr_assert_eq(stat(arena_printf(A, "%s/files/%s", dir, hex(sha)), &st), 0);
	cr_assert_eq(count("SELECT count(*) FROM file_store", NULL), 0, "nothing in the database");
	assert_reads(files_open(&in_dir, db, hex(sha)), data, 5000);
}

/* The references of the tests: the hashes listed in a set. */
struct refs {
	const char *hex[4];
	int n;
	int calls;
};

static int is_referenced(struct db *d, const char *h, void *arg)
{
	(void)d;
	struct refs *r = arg;
	r->calls++;
	for (int i = 0; i < r->n; i++)
		if (!strcmp(r->hex[i], h))
			return 1;
	return 0;
}

static const char *put_db(unsigned seed, size_t n, int64_t stored)
{
	unsigned char sha[32];
	const char *path = upload(content(n, seed), n, sha);
	cr_assert(files_put(&in_db, db, sha, path, n, true), "%s", db_errmsg(db));
	const char *h = hex(sha);
	struct db_stmt *st = db_prepare(db, "UPDATE file_store SET stored = ? WHERE sha256 = ?");
	db_bind_int(st, 1, stored);
	db_bind_text(st, 2, h);
	cr_assert_eq(db_step(st), DB_DONE);
	db_finalize(st);
	return h;
}

Test(files, the_database_sweep_removes_only_old_unreferenced_contents)
{
	int64_t now = time(NULL), old = now - 7200;
	const char *kept = put_db(20, FILES_CHUNK + 1, old); /* referenced */
	const char *gone = put_db(21, FILES_CHUNK + 2, old); /* old, unreferenced */
	const char *young = put_db(22, 100, now - 60);	     /* unreferenced, within the grace */
	const char *gone2 = put_db(23, 200, old);	     /* old, unreferenced */
	struct refs refs = {.hex = {kept}, .n = 1};
	/* An old upload in DATA/tmp goes too; a young one stays. */
	const char *lost = arena_printf(A, "%s/tmp/upload-lost", dir);
	put_file(arena_printf(A, "%s/tmp", dir), "upload-lost", "a lost upload");
	struct timespec t[2] = {{.tv_sec = old}, {.tv_sec = old}};
	utimensat(AT_FDCWD, lost, t, 0);
	char cursor[65] = "";
	int removed = files_sweep(&in_db, db, now - 3600, 100, cursor, is_referenced, &refs);
	cr_assert_eq(removed, 3, "removed %d", removed);
	cr_assert_str_eq(cursor, "");
	cr_assert_eq(count("SELECT count(*) FROM file_store WHERE sha256 = ?", kept), 1, "a referenced file went");
	cr_assert_eq(count("SELECT count(*) FROM file_chunks WHERE sha256 = ?", kept), 2);
	cr_assert_eq(count("SELECT count(*) FROM file_store WHERE sha256 = ?", young), 1, "a young file went");
	cr_assert_eq(count("SELECT count(*) FROM file_store WHERE sha256 = ?", gone), 0);
	cr_assert_eq(count("SELECT count(*) FROM file_chunks WHERE sha256 = ?", gone), 0, "its chunks stayed");
	cr_assert_eq(count("SELECT count(*) FROM file_chunks WHERE sha256 = ?", gone2), 0);
	struct stat st;
	cr_assert_neq(stat(lost, &st), 0, "an old upload was kept");

	/* Bounded: one content a call, going on from the cursor; a reference error keeps it. */
	const char *a1 = put_db(30, 10, old), *a2 = put_db(31, 10, old);
	const char *first = strcmp(a1, a2) < 0 ? a1 : a2, *second = first == a1 ? a2 : a1;
	refs.hex[1] = young; /* not old: never asked */
	refs.n = 2;
	cursor[0] = 0;
	int got = 0;
	for (int i = 0; i < 5 && count("SELECT count(*) FROM file_store WHERE sha256 = ?", second) == 1; i++)
		got += files_sweep(&in_db, db, now - 3600, 1, cursor, is_referenced, &refs);
	cr_assert_eq(got, 2);
	cr_assert_eq(count("SELECT count(*) FROM file_store WHERE sha256 = ?", first), 0);
	cr_assert_eq(count("SELECT count(*) FROM file_store", NULL), 2, "the referenced and the young stay");
}

static int refs_error(struct db *d, const char *h, void *arg)
{
	(void)d, (void)h, (void)arg;
	return -1;
}

Test(files, a_reference_error_keeps_the_content)
{
	const char *h = put_db(40, 10, 1);
	char cursor[65] = "";
	cr_assert_eq(files_sweep(&in_db, db, time(NULL), 100, cursor, refs_error, NULL), 0);
	cr_assert_eq(count("SELECT count(*) FROM file_store WHERE sha256 = ?", h), 1);
}

/* A put reusing old unreferenced content while a sweep on another connection removes it: after
 * every put, the content must be readable whole (the sweep either came first, and the put stored
 * it again, or found it touched). */
struct sweeper {
	struct db *db; /* a connection of its own */
	atomic_bool stop;
	int removed;
};

static int never(struct db *d, const char *h, void *arg)
{
	(void)d, (void)h, (void)arg;
	return 0;
}

static void *sweep_loop(void *arg)
{
	struct sweeper *s = arg;
	struct files_store fs = in_db;
	char cursor[65] = "";
	do {
		int n = files_sweep(&fs, s->db, time(NULL) - 3600, 100, cursor, never, NULL);
		if (n > 0)
			s->removed += n;
	} while (!atomic_load(&s->stop));
	return NULL;
}

Test(files, a_put_racing_the_sweep_leaves_the_content_whole, .timeout = 120)
{
	size_t n = FILES_CHUNK + 777;
	const unsigned char *data = content(n, 50);
	int removed = 0;
	struct db *own;
	char err[256];
	cr_assert_eq(db_open(test_db(dir), &own, err, sizeof err), DB_OK, "%s", err);
	for (int i = 0; i < 60; i++) {
		unsigned char sha[32];
		const char *path = upload(data, n, sha);
		cr_assert(files_put(&in_db, db, sha, path, n, true));
		cr_assert_eq(db_exec(db, "UPDATE file_store SET stored = 1"), DB_OK);
		struct sweeper s = {.db = own};
		atomic_init(&s.stop, false);
		pthread_t t;
		cr_assert_eq(pthread_create(&t, NULL, sweep_loop, &s), 0);
		usleep((useconds_t)(i % 6) * 300);
		path = upload(data, n, sha);
		bool put = files_put(&in_db, db, sha, path, n, true);
		atomic_store(&s.stop, true);
		pthread_join(t, NULL);
		removed += s.removed;
		cr_assert(put, "iteration %d: %s", i, db_errmsg(db));
		/* The sweeper is stopped; the content must be there and whole. */
		assert_reads(files_open(&in_db, db, hex(sha)), data, n);
		cr_assert_geq(count("SELECT stored FROM file_store", NULL), time(NULL) - 60);
	}
	db_close(own);
	cr_log_info("the sweep removed the old content %d times in 60 iterations", removed);
	cr_assert_gt(removed, 0, "the sweep never ran into the content: no race was tried");
}
