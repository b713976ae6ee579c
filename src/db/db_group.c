/*
 * Group commit (db.h): one writer thread, one connection, many jobs per transaction. Driver
 * independent: savepoints are portable SQL.
 */
#include "db.h"

#include "../core/arena.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_BATCH 64

struct db_group {
	struct db *db;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct db_job *head, *tail; /* FIFO, under lock */
	bool stop;
};

/* Runs one batch in one transaction, then tells every job how it ended. */
static void run_batch(struct db *db, struct db_job **jobs, int n)
{
	bool began = db_begin_write(db) == DB_OK;
	const char *dirs[MAX_BATCH];
	int n_dirs = 0;
	for (int i = 0; began && i < n; i++) {
		if (db_exec(db, "SAVEPOINT job") != DB_OK) {
			began = false; /* the transaction is unusable: fail the batch */
			break;
		}
		bool keep = jobs[i]->run(db, jobs[i]);
		if (!keep && db_exec(db, "ROLLBACK TO SAVEPOINT job") != DB_OK)
			began = false;
		if (began && db_exec(db, "RELEASE SAVEPOINT job") != DB_OK)
			began = false;
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
	bool committed = began && db_commit(db) == DB_OK;
	if (!committed) {
		db_rollback(db);
		fprintf(stderr, "spravka: a group of %d writes failed: %s\n", n, db_errmsg(db));
	}
	for (int i = 0; i < n; i++)
		jobs[i]->done(db, jobs[i], committed);
}

static void *writer_main(void *arg)
{
	struct db_group *g = arg;
	struct db_job *batch[MAX_BATCH];
	pthread_mutex_lock(&g->lock);
	for (;;) {
		while (!g->head && !g->stop)
			pthread_cond_wait(&g->wake, &g->lock);
		if (!g->head)
			break; /* stopping, and nothing is left */
		int n = 0;
		while (g->head && n < MAX_BATCH) {
			batch[n++] = g->head;
			g->head = g->head->next;
		}
		if (!g->head)
			g->tail = NULL;
		pthread_mutex_unlock(&g->lock);
		run_batch(g->db, batch, n);
		pthread_mutex_lock(&g->lock);
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

enum db_rc db_group_start(const char *dir, struct db_group **out, char *err, size_t errlen)
{
	struct db_group *g = xcalloc(1, sizeof *g);
	enum db_rc rc = db_open(dir, &g->db, err, errlen);
	if (rc != DB_OK) {
		free(g);
		return rc;
	}
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->wake, NULL);
	if (pthread_create(&g->thread, NULL, writer_main, g) != 0) {
		snprintf(err, errlen, "cannot start the database writer thread");
		db_close(g->db);
		free(g);
		return DB_ERR;
	}
	*out = g;
	return DB_OK;
}

void db_group_submit(struct db_group *g, struct db_job *job)
{
	job->next = NULL;
	pthread_mutex_lock(&g->lock);
	if (g->tail)
		g->tail->next = job;
	else
		g->head = job;
	g->tail = job;
	pthread_cond_signal(&g->wake);
	pthread_mutex_unlock(&g->lock);
}

void db_group_stop(struct db_group *g)
{
	if (!g)
		return;
	pthread_mutex_lock(&g->lock);
	g->stop = true;
	pthread_cond_signal(&g->wake);
	pthread_mutex_unlock(&g->lock);
	pthread_join(g->thread, NULL);
	pthread_cond_destroy(&g->wake);
	pthread_mutex_destroy(&g->lock);
	db_close(g->db);
	free(g);
}
