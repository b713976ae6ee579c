/*
 * workers — a few threads that run blocking tasks (fsync of uploads) off the HTTP threads.
 *
 * Tasks run in the order queued, on whichever thread is free; a task must not wait for another
 * task. workers_stop() runs what is still queued, then joins the threads.
 */
#ifndef SPRAVKA_WORKERS_H
#define SPRAVKA_WORKERS_H

struct work {
	void (*run)(struct work *w);
	struct work *next; /* the queue */
};

struct workers;
/* Starts n threads (n >= 1); NULL when a thread cannot be started. */
struct workers *workers_start(int n);
void workers_submit(struct workers *p, struct work *w);
/* NULL is fine. */
void workers_stop(struct workers *p);

#endif
