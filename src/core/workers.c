#include "workers.h"

#include "arena.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

struct workers {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct work *head, *tail;
	bool stop;
	int n;
	pthread_t threads[];
};

static void *worker_main(void *arg)
{
	struct workers *p = arg;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->head && !p->stop)
			pthread_cond_wait(&p->wake, &p->lock);
		struct work *w = p->head;
		if (!w)
			break;
		p->head = w->next;
		if (!p->head)
			p->tail = NULL;
		pthread_mutex_unlock(&p->lock);
		w->run(w);
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

struct workers *workers_start(int n)
{
	struct workers *p = xcalloc(1, sizeof *p + (size_t)n * sizeof(pthread_t));
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->wake, NULL);
	for (; p->n < n; p->n++)
		if (pthread_create(&p->threads[p->n], NULL, worker_main, p) != 0) {
			workers_stop(p);
			return NULL;
		}
	return p;
}

void workers_submit(struct workers *p, struct work *w)
{
	w->next = NULL;
	pthread_mutex_lock(&p->lock);
	if (p->tail)
		p->tail->next = w;
	else
		p->head = w;
	p->tail = w;
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->lock);
}

void workers_stop(struct workers *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);
	for (int i = 0; i < p->n; i++)
		pthread_join(p->threads[i], NULL);
	pthread_cond_destroy(&p->wake);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
