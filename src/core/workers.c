#include "workers.h"

#include "arena.h"

#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

void work_queue_init(struct work_queue *q)
{
	*q = (struct work_queue){.head = NULL};
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->wake, NULL);
}

void work_queue_push(struct work_queue *q, struct work *w)
{
	w->next = NULL;
	pthread_mutex_lock(&q->lock);
	if (q->tail)
		q->tail->next = w;
	else
		q->head = w;
	q->tail = w;
	pthread_cond_signal(&q->wake);
	pthread_mutex_unlock(&q->lock);
}

int work_queue_take(struct work_queue *q, struct work **out, int max)
{
	pthread_mutex_lock(&q->lock);
	while (!q->head && !q->stop)
		pthread_cond_wait(&q->wake, &q->lock);
	int n = 0;
	while (q->head && n < max) {
		out[n++] = q->head;
		q->head = q->head->next;
	}
	if (!q->head)
		q->tail = NULL;
	pthread_mutex_unlock(&q->lock);
	return n;
}

void work_queue_stop(struct work_queue *q)
{
	pthread_mutex_lock(&q->lock);
	q->stop = true;
	pthread_cond_broadcast(&q->wake);
	pthread_mutex_unlock(&q->lock);
}

void work_queue_destroy(struct work_queue *q)
{
	pthread_cond_destroy(&q->wake);
	pthread_mutex_destroy(&q->lock);
}

struct workers {
	struct work_queue q;
	int n;
	int nice;
	pthread_t threads[];
};

int workers_thread_nice(void)
{
	return getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
}

static void *worker_main(void *arg)
{
	struct workers *p = arg;
	struct work *w;
	pthread_setname_np(pthread_self(), p->nice > 0 ? "spravka-back" : "spravka-worker");
	/* On Linux a nice value belongs to the thread (PRIO_PROCESS with a thread id). Lowering it
	 * needs no privilege; when it fails anyway the work still runs, at the default. */
	if (p->nice > 0) {
		/* Relative to the thread's start (its creator's), as nice(1) is: a server started at
		 * nice 5 runs its background work at 5 + nice, still below its HTTP threads. */
		id_t tid = (id_t)syscall(SYS_gettid);
		int base = getpriority(PRIO_PROCESS, tid);
		(void)setpriority(PRIO_PROCESS, tid, base + p->nice > 19 ? 19 : base + p->nice);
	}
	while (work_queue_take(&p->q, &w, 1))
		w->run(w);
	return NULL;
}

struct workers *workers_start(int n)
{
	return workers_start_nice(n, 0);
}

struct workers *workers_start_nice(int n, int nice)
{
	struct workers *p = xcalloc(1, sizeof *p + (size_t)n * sizeof(pthread_t));
	p->nice = nice < 0 ? 0 : nice > 19 ? 19 : nice;
	work_queue_init(&p->q);
	for (; p->n < n; p->n++)
		if (pthread_create(&p->threads[p->n], NULL, worker_main, p) != 0) {
			workers_stop(p);
			return NULL;
		}
	return p;
}

void workers_submit(struct workers *p, struct work *w)
{
	work_queue_push(&p->q, w);
}

void workers_stop(struct workers *p)
{
	if (!p)
		return;
	work_queue_stop(&p->q);
	for (int i = 0; i < p->n; i++)
		pthread_join(p->threads[i], NULL);
	work_queue_destroy(&p->q);
	free(p);
}
