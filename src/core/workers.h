/*
 * workers — a queue of work items under a lock, and a few threads that run blocking tasks
 * (fsync of uploads) from one off the HTTP threads.
 *
 * The queue is also what the database writer (db_group) takes its batches from. Items are
 * taken in the order queued; after work_queue_stop() the items still queued are taken, then
 * work_queue_take() returns 0.
 */
#ifndef SPRAVKA_WORKERS_H
#define SPRAVKA_WORKERS_H

#include <pthread.h>
#include <stdbool.h>

struct work {
	void (*run)(struct work *w); /* for workers; a queue's own consumer may ignore it */
	struct work *next;	     /* the queue */
};

struct work_queue {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct work *head, *tail;
	bool stop;
};

void work_queue_init(struct work_queue *q);
void work_queue_push(struct work_queue *q, struct work *w);
/* Waits for items and takes up to max of them into out; 0 once stopped and empty. */
int work_queue_take(struct work_queue *q, struct work **out, int max);
/* Wakes every taker; they drain what is queued, then get 0. */
void work_queue_stop(struct work_queue *q);
/* After the takers have finished. */
void work_queue_destroy(struct work_queue *q);

/* Threads that run each item's run(), any number at once; a task must not wait for another. */
struct workers;
/* Starts n threads (n >= 1); NULL when a thread cannot be started. */
struct workers *workers_start(int n);
/*
 * The same, for background work: each thread lowers its own CPU priority by nice (1..19, Linux
 * setpriority on the thread's id, relative to the priority it started with, at most 19), so
 * that the threads at the default priority (the HTTP workers) get the CPU first when both want
 * it. nice 0 keeps the default.
 */
struct workers *workers_start_nice(int n, int nice);
/* The nice value the calling thread runs at (for tests). */
int workers_thread_nice(void);
void workers_submit(struct workers *p, struct work *w);
/* Runs what is still queued, then joins the threads. NULL is fine. */
void workers_stop(struct workers *p);

#endif
