/* worker.c: a thread with a one-job mailbox, and ordered_map on top
 * (worker.h). */
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
	bool died;		/* the last job died: msg holds why */
	char msg[1024];
};

/* die() in a job: keep the message and end the job (the thread goes on to
 * worker_ended, then exits; the caller learns of it from worker_wait). */
static void job_died(const char *msg, void *arg)
{
	struct worker *w = arg;
	snprintf(w->msg, sizeof w->msg, "%s", msg);
	w->died = true;
	pthread_exit(NULL);
}

/* The job is over, returned, died or cancelled. */
static void job_ended(void *arg)
{
	struct worker *w = arg;
	pthread_mutex_lock(&w->mu);
	w->fn = NULL;
	w->busy = false;
	if (w->died)
		w->quit = true;	// the thread is gone
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static void *worker_main(void *p)
{
	struct worker *w = p;
	sigset_t set;	// signals stay with the main thread
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->fn && !w->quit)
			pthread_cond_wait(&w->cv, &w->mu);
		if (!w->fn)
			break;
		void (*fn)(void *) = w->fn;
		void *arg = w->arg;
		pthread_mutex_unlock(&w->mu);
		die_redirect(job_died, w);
		pthread_cleanup_push(job_ended, w);
		fn(arg);
		pthread_cleanup_pop(1);
		pthread_mutex_lock(&w->mu);
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

const char *worker_wait(struct worker *w)
{
	pthread_mutex_lock(&w->mu);
	while (w->busy)
		pthread_cond_wait(&w->cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
	return w->died ? w->msg : NULL;
}

void worker_run(struct worker *w, void (*fn)(void *), void *arg)
{
	const char *msg = worker_wait(w);
	if (msg)
		die("%s", msg);
	pthread_mutex_lock(&w->mu);
	w->fn = fn;
	w->arg = arg;
	w->busy = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

void worker_cancel_point(int enable)
{
	pthread_setcancelstate(enable ? PTHREAD_CANCEL_ENABLE : PTHREAD_CANCEL_DISABLE, NULL);
}

static void worker_end(struct worker *w, bool cancel)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->quit = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	if (cancel)
		pthread_cancel(w->thread);	// acts only at a cancellation point
	else
		worker_wait(w);
	pthread_join(w->thread, NULL);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w);
}

void worker_free(struct worker *w)
{
	worker_end(w, false);
}

void worker_cancel(struct worker *w)
{
	worker_end(w, true);
}

/* ---- ordered_map ----
 *
 * Producers claim indices in increasing order, but only while the index's
 * slot in the ring (index mod nslots) has been consumed, so at most nslots
 * results are held at once; the caller consumes them strictly in order. */

struct pool {
	pthread_mutex_t lock;
	pthread_cond_t claimable;	/* a slot was consumed */
	pthread_cond_t done;	/* a slot was filled */
	int64_t next;		/* next index to claim */
	int64_t end;		/* INT64_MAX when endless */
	int64_t consumed;	/* indices below this are consumed */
	int64_t *filled;	/* per slot: the index it holds, or -1 */
	int nslots;
	size_t slot_bytes;
	char *slots;
	ordered_fn produce;
	void *ctx;
};

/* One producer: claim the next index while a slot is free, fill it. */
static void produce_loop(void *arg)
{
	struct pool *p = arg;
	die_redirect(NULL, NULL);	// a producer's error ends the process
	for (;;) {
		pthread_mutex_lock(&p->lock);
		while (p->next < p->end && p->next >= p->consumed + p->nslots)
			pthread_cond_wait(&p->claimable, &p->lock);
		if (p->next >= p->end) {
			pthread_mutex_unlock(&p->lock);
			return;
		}
		int64_t index = p->next++;
		pthread_mutex_unlock(&p->lock);

		int k = (int)(index % p->nslots);
		p->produce(p->ctx, index, p->slots + k * p->slot_bytes);

		pthread_mutex_lock(&p->lock);
		p->filled[k] = index;
		pthread_cond_broadcast(&p->done);
		pthread_mutex_unlock(&p->lock);
	}
}

void ordered_map(int64_t first, int64_t count, int jobs, size_t slot_bytes,
		 ordered_fn produce, ordered_fn consume, void *ctx)
{
	struct pool p = { 0 };
	if (jobs < 1)
		jobs = 1;
	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.claimable, NULL);
	pthread_cond_init(&p.done, NULL);
	p.next = p.consumed = first;
	p.end = count < 0 || count > INT64_MAX - first ? INT64_MAX : first + count;
	p.nslots = 2 * jobs;	/* one being filled and one ready per worker */
	p.slot_bytes = (slot_bytes + 63) / 64 * 64;
	p.slots = xmalloc(p.nslots * p.slot_bytes);
	p.filled = xmalloc(sizeof *p.filled * p.nslots);
	for (int k = 0; k < p.nslots; k++)
		p.filled[k] = -1;
	p.produce = produce;
	p.ctx = ctx;
	struct worker **w = xmalloc(sizeof *w * jobs);
	for (int i = 0; i < jobs; i++) {
		w[i] = worker_create();
		worker_run(w[i], produce_loop, &p);
	}
	for (int64_t index = first; index < p.end; index++) {
		int k = (int)(index % p.nslots);
		pthread_mutex_lock(&p.lock);
		while (p.filled[k] != index)
			pthread_cond_wait(&p.done, &p.lock);
		pthread_mutex_unlock(&p.lock);

		consume(ctx, index, p.slots + k * p.slot_bytes);

		pthread_mutex_lock(&p.lock);
		p.consumed = index + 1;
		pthread_cond_broadcast(&p.claimable);
		pthread_mutex_unlock(&p.lock);
	}
	for (int i = 0; i < jobs; i++)
		worker_free(w[i]);
	pthread_mutex_destroy(&p.lock);
	pthread_cond_destroy(&p.claimable);
	pthread_cond_destroy(&p.done);
	free(w);
	free(p.filled);
	free(p.slots);
}
