/*
 * Group commit (db.h): writer threads (one on SQLite), each with its connection, taking batches
 * from one queue; many jobs per transaction. Driver independent: savepoints are portable SQL.
 */
#include "db.h"

#include "../core/arena.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_BATCH 64

struct writer {
	struct db_group *g;
	struct db *db;
	pthread_t thread;
};

struct db_group {
	struct writer w[DB_GROUP_MAX_WRITERS];
	int n;
	struct work_queue q;
	atomic_bool abandoned; /* db_group_abandon */
	atomic_bool raised;    /* a writer runs at a higher CPU priority than the HTTP threads */
	_Atomic uint64_t batches, jobs, wait_us, latency_us, cpu_us, latency_le[DB_GROUP_BUCKETS];
};

const double db_group_buckets_ms[DB_GROUP_BUCKETS] = {0.5, 1, 2, 5, 10, 20, 50, 100, 250, 1e300};

static uint64_t clock_us(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Counts a batch of n jobs that started at start_us and committed at end_us (monotonic). */
static void count_batch(struct db_group *g, struct db_job **jobs, int n, uint64_t start_us, uint64_t end_us,
			uint64_t cpu_us)
{
	uint64_t wait = 0, latency = 0;
	for (int i = 0; i < n; i++) {
		uint64_t q = jobs[i]->queued_us < start_us ? jobs[i]->queued_us : start_us;
		wait += start_us - q;
		latency += end_us - q;
		int b = 0;
		while (b < DB_GROUP_BUCKETS - 1 && (double)(end_us - q) > db_group_buckets_ms[b] * 1000)
			b++;
		atomic_fetch_add_explicit(&g->latency_le[b], 1, memory_order_relaxed);
	}
	atomic_fetch_add_explicit(&g->batches, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&g->jobs, (uint64_t)n, memory_order_relaxed);
	atomic_fetch_add_explicit(&g->wait_us, wait, memory_order_relaxed);
	atomic_fetch_add_explicit(&g->latency_us, latency, memory_order_relaxed);
	atomic_fetch_add_explicit(&g->cpu_us, cpu_us, memory_order_relaxed);
}

void db_group_stats(const struct db_group *g, struct db_group_stats *out)
{
	struct db_group *m = (struct db_group *)g; /* relaxed loads of counters only */
	*out = (struct db_group_stats){0};
	if (!g)
		return;
	out->batches = atomic_load_explicit(&m->batches, memory_order_relaxed);
	out->jobs = atomic_load_explicit(&m->jobs, memory_order_relaxed);
	out->wait_us = atomic_load_explicit(&m->wait_us, memory_order_relaxed);
	out->latency_us = atomic_load_explicit(&m->latency_us, memory_order_relaxed);
	out->cpu_us = atomic_load_explicit(&m->cpu_us, memory_order_relaxed);
	for (int b = 0; b < DB_GROUP_BUCKETS; b++)
		out->latency_le[b] = atomic_load_explicit(&m->latency_le[b], memory_order_relaxed);
}

/* Runs one batch in one transaction on db, then tells every job how it ended. */
static void run_batch(struct db_group *g, struct db *db, struct work **items, int n)
{
	struct db_job *jobs[MAX_BATCH];
	for (int i = 0; i < n; i++)
		jobs[i] = (struct db_job *)items[i]; /* item is a db_job's first member */
	uint64_t start_us = clock_us(CLOCK_MONOTONIC), cpu_us = clock_us(CLOCK_THREAD_CPUTIME_ID);
	if (atomic_load(&g->abandoned)) {
		for (int i = 0; i < n; i++)
			jobs[i]->done(db, jobs[i], false);
		return;
	}
	uint64_t mark = db_thread_statements();
	for (int i = 0; i < n; i++)
		jobs[i]->statements = 0;
	bool began = db_begin_write(db) == DB_OK;
	/* A batch of one job needs no savepoint (two round trips on PostgreSQL, where several writers
	 * mostly take one job each): a job that undoes its changes rolls back the transaction, which
	 * then holds nothing else. */
	bool alone = n == 1, undone = false;
	const char *dirs[MAX_BATCH];
	int n_dirs = 0;
	for (int i = 0; began && i < n; i++) {
		if (!alone && db_exec(db, "SAVEPOINT job") != DB_OK) {
			began = false; /* the transaction is unusable: fail the batch */
			break;
		}
		bool keep = jobs[i]->run(db, jobs[i]);
		if (alone)
			undone = !keep;
		else if (!keep && db_exec(db, "ROLLBACK TO SAVEPOINT job") != DB_OK)
			began = false;
		if (began && !alone && db_exec(db, "RELEASE SAVEPOINT job") != DB_OK)
			began = false;
		jobs[i]->statements += db_thread_statements() - mark;
		mark = db_thread_statements();
		bool seen = !keep || !jobs[i]->sync_dir;
		for (int k = 0; !seen && k < n_dirs; k++)
			seen = !strcmp(dirs[k], jobs[i]->sync_dir);
		if (!seen)
			dirs[n_dirs++] = jobs[i]->sync_dir;
	}
	/* The files the rows refer to are durable before the rows are. */
	for (int k = 0; began && k < n_dirs; k++) {
		int fd = open(dirs[k], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		began = fd >= 0 && fsync(fd) == 0;
		if (fd >= 0)
			close(fd);
	}
	/* Abandoned while it ran (PostgreSQL: its waits for row locks were cancelled, db.h): not
	 * committed, as a batch that waited for SQLite's write lock is not. */
	if (atomic_load(&g->abandoned))
		began = false;
	if (began && undone) {
		/* Its job changed nothing that stays: as a rollback to its savepoint and a commit. */
		bool rolled_back = db_rollback(db) == DB_OK;
		count_batch(g, jobs, n, start_us, clock_us(CLOCK_MONOTONIC),
			    clock_us(CLOCK_THREAD_CPUTIME_ID) - cpu_us);
		jobs[0]->done(db, jobs[0], rolled_back);
		return;
	}
	bool committed = began && db_commit(db) == DB_OK;
	jobs[0]->statements += db_thread_statements() - mark; /* the batch's COMMIT (a ROLLBACK uncounted) */
	if (!committed) {
		db_rollback(db);
		fprintf(stderr, "spravka: a group of %d writes failed: %s\n", n, db_errmsg(db));
	}
	count_batch(g, jobs, n, start_us, clock_us(CLOCK_MONOTONIC), clock_us(CLOCK_THREAD_CPUTIME_ID) - cpu_us);
	for (int i = 0; i < n; i++)
		jobs[i]->done(db, jobs[i], committed);
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct work *batch[MAX_BATCH];
	pthread_setname_np(pthread_self(), "spravka-writer"); /* top -H, perf, renice find it */
	/* A creation's answer waits for this thread, which needs a fraction of a core (about 0.3 ms
	 * of CPU a job): ahead of the HTTP threads when both want the CPU, its jobs wait less
	 * (measured under the mixed load: a creation's median 3.0 -> 1.9 ms, docs/benchmarks.md).
	 * Raising a priority needs CAP_SYS_NICE (deploy/spravka.service grants it); without it the
	 * writer stays at the process's priority. */
	id_t tid = (id_t)syscall(SYS_gettid);
	int base = getpriority(PRIO_PROCESS, tid);
	atomic_store(&w->g->raised, setpriority(PRIO_PROCESS, tid, base - DB_GROUP_WRITER_BOOST) == 0);
	for (int n; (n = work_queue_take(&w->g->q, batch, MAX_BATCH));)
		run_batch(w->g, w->db, batch, n);
	return NULL;
}

enum db_rc db_group_start(const char *target, int writers, struct db_group **out, char *err, size_t errlen)
{
	/* SQLite has one writer at a time whatever the threads: more would only wait for its lock. */
	if (db_target_engine(target) != DB_POSTGRES)
		writers = 1;
	else if (writers <= 0)
		writers = DB_GROUP_PG_WRITERS;
	if (writers > DB_GROUP_MAX_WRITERS)
		writers = DB_GROUP_MAX_WRITERS;
	struct db_group *g = xcalloc(1, sizeof *g);
	work_queue_init(&g->q);
	enum db_rc rc = DB_OK;
	for (; g->n < writers && rc == DB_OK; g->n++) {
		g->w[g->n].g = g;
		rc = db_open(target, &g->w[g->n].db, err, errlen);
	}
	if (rc != DB_OK)
		g->n--; /* the one that failed */
	int started = 0;
	for (; rc == DB_OK && started < g->n; started++) {
		if (pthread_create(&g->w[started].thread, NULL, writer_main, &g->w[started]) != 0) {
			snprintf(err, errlen, "cannot start the database writer thread");
			rc = DB_ERR;
			break;
		}
	}
	if (rc != DB_OK) {
		work_queue_stop(&g->q);
		for (int i = 0; i < started; i++)
			pthread_join(g->w[i].thread, NULL);
		for (int i = 0; i < g->n; i++)
			db_close(g->w[i].db);
		work_queue_destroy(&g->q);
		free(g);
		return rc;
	}
	*out = g;
	return DB_OK;
}

int db_group_writers(const struct db_group *g)
{
	return g->n;
}

bool db_group_raised(const struct db_group *g)
{
	return g && atomic_load(&((struct db_group *)g)->raised); /* an atomic load only */
}

void db_group_submit(struct db_group *g, struct db_job *job)
{
	job->queued_us = clock_us(CLOCK_MONOTONIC);
	work_queue_push(&g->q, &job->item);
}

void db_group_abandon(struct db_group *g)
{
	if (g)
		atomic_store(&g->abandoned, true);
}

void db_group_stop(struct db_group *g)
{
	if (!g)
		return;
	work_queue_stop(&g->q);
	for (int i = 0; i < g->n; i++)
		pthread_join(g->w[i].thread, NULL);
	for (int i = 0; i < g->n; i++)
		db_close(g->w[i].db);
	work_queue_destroy(&g->q);
	free(g);
}
