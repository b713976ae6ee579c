/*
 * files — the content-addressed store of uploaded files (members' attachments today; the
 * editors' article images of issue #10 are meant to use it too).
 *
 * A stored file is named by the hex SHA-256 of its content and never changes: the same content
 * stored twice is kept once. The store has two homes, chosen by the caller (struct files_store):
 *
 * - the directory DATA/files (one machine, SQLite): a file per content, made durable by fsync
 *   (content, then the directory's entry) before any row refers to it;
 * - the database (several nodes on PostgreSQL, which share nothing but the database): the tables
 *   file_store (one row per content: size, number of chunks, when it was last stored) and
 *   file_chunks (the content in chunks of FILES_CHUNK bytes), written in one transaction, so a
 *   file_store row means every chunk is there. Every node reads what any node stored.
 *
 * What it owns: DATA/files, the file_store and file_chunks rows, and the uploads left in DATA/tmp
 * (the sweep removes old ones). What it never does: know who refers to a file. Rows that refer to
 * stored files belong to their modules (req: attachments and held files); the sweep asks them
 * through a callback, and removes only what no row refers to and nobody stored or reused within
 * the grace period.
 *
 * The rules that keep a referenced file from being removed (a row never refers to a file that is
 * not durable, and the sweep never removes one a committed row refers to):
 * - files_put is complete (durable, committed) before the caller writes a row that refers to the
 *   hash; storing content that is already there touches it (its time moves to now) instead;
 * - nothing but files_sweep removes stored content; it takes only files older than its grace
 *   period, and checks the references again after it has made the file unreachable (renamed
 *   aside; in the database: its file_store row deleted, a row lock that a concurrent put waits
 *   for), putting it back when a reference or a touch appeared meanwhile.
 * A row written long after its files_put (more than the grace period, hours) could lose its file,
 * as with the directory alone; callers put just before they write.
 */
#ifndef SPRAVKA_FILES_H
#define SPRAVKA_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct db;
struct arena;

/* Where a store keeps its contents. Copied freely; points to the caller's strings. */
struct files_store {
	const char *data_dir; /* DATA: DATA/files (the directory home), DATA/tmp (uploads, reads) */
	bool in_db;	      /* the contents live in the database (file_store, file_chunks) */
};

/* The database home's chunk: a read holds one chunk in memory (twice, as hex text, on PostgreSQL). */
#define FILES_CHUNK (1u << 20)

/*
 * Stores the upload at path (size bytes whose SHA-256 is sha256, computed by the caller while it
 * was received) and removes the upload (renamed into DATA/files, or deleted once its content is in
 * the database or was there already). True when the content is durable under its hash.
 * Directory: the content fsynced, and its directory entry too unless sync_dir is false (then the
 * caller fsyncs files_sync_dir before it commits a row that refers to it: one fsync for many files).
 * Database: one transaction of its own on db (db must not be in one); sync_dir does not matter.
 * False on an I/O or database error: the upload may still be at path (the caller removes it).
 */
bool files_put(const struct files_store *fs, struct db *db, const unsigned char sha256[32], const char *path,
	       size_t size, bool sync_dir);

/* Fsyncs the directory whose entries files_put(sync_dir = false) left unsynced; true at once for
 * the database home. */
bool files_sync(const struct files_store *fs);
/* The directory whose entries files_put(sync_dir = false) left unsynced (DATA/files, in a), or
 * NULL for the database home. */
const char *files_sync_dir(const struct files_store *fs, struct arena *a);

/*
 * Opens the stored content hex (64 lowercase hex digits) for reading from its start: a file
 * descriptor (>= 3, close-on-exec) the caller owns and closes. Directory: DATA/files/<hex> itself.
 * Database: the chunks are copied one at a time into an unnamed temporary file in DATA/tmp (gone
 * when closed), so at most one chunk is in memory whatever the size. -1 with errno ENOENT when
 * the store has no such content, another errno on an I/O or database error (EIO).
 */
int files_open(const struct files_store *fs, struct db *db, const char *hex);

/* Whether a row refers to the stored content hex: 1 yes, 0 no, -1 a database error (the sweep
 * then keeps the file). Called inside the sweep's transaction in the database home. */
typedef int (*files_referenced_fn)(struct db *db, const char *hex, void *arg);

/*
 * The sweep: removes stored contents that referenced() says no row refers to and that were last
 * stored or reused before older_than (unix time: the grace period), and uploads in DATA/tmp older
 * than that (each node's own). At most max_checks stored contents are looked at per call, in hash
 * order after cursor (65 bytes, "" at first; updated, "" again after the last). Returns how many
 * files were removed, -1 when the store cannot be read.
 */
int files_sweep(const struct files_store *fs, struct db *db, int64_t older_than, int max_checks, char cursor[65],
		files_referenced_fn referenced, void *arg);

/* SQL texts of the database home (for the plans list). */
extern const char files_touch_sql[], files_sweep_candidates_sql[], files_chunk_sql[];

#endif
