/* worker.c: a thread with a one-job mailbox (worker.h). */
#include "worker.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct worker {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	void (*fn)(void *);	/* the job, NULL when there is none */
	void *arg;
	bool busy;		/* a job was handed over and has not finished */
	bool quit;
};

static void *worker_main(void *p)
{
	struct worker *w = p;
	sigset_t set;	// signals stay with the main thread
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->fn && !w->quit)
			pthread_cond_wait(&w->cv, &w->mu);
		if (!w->fn)
			break;
		void (*fn)(void *) = w->fn;
		void *arg = w->arg;
		pthread_mutex_unlock(&w->mu);
		fn(arg);
		pthread_mutex_lock(&w->mu);
		w->fn = NULL;
		w->busy = false;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

struct worker *worker_create(void)
{
	struct worker *w = xcalloc(1, sizeof *w);
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	int rc = pthread_create(&w->thread, NULL, worker_main, w);
	if (rc)
		die("cannot start a worker thread: %s", strerror(rc));
	return w;
}

void worker_wait(struct worker *w)
{
	pthread_mutex_lock(&w->mu);
	while (w->busy)
		pthread_cond_wait(&w->cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
}

void worker_run(struct worker *w, void (*fn)(void *), void *arg)
{
	pthread_mutex_lock(&w->mu);
	while (w->busy)
		pthread_cond_wait(&w->cv, &w->mu);
	w->fn = fn;
	w->arg = arg;
	w->busy = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

void worker_free(struct worker *w)
{
	if (!w)
		return;
	worker_wait(w);
	pthread_mutex_lock(&w->mu);
	w->quit = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w);
}
