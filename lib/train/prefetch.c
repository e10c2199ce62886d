/* prefetch.c: the reader thread of prefetch.h.
 *
 * Two slots used in turn by both sides: the thread fills slot w, the
 * consumer holds slot r; a slot goes FREE → (filled) FULL → HELD → FREE.
 * The reader is a job of a worker (worker.h) that can be cancelled only
 * while it is inside the read function (where it may wait for input
 * forever), so it never ends holding the mutex. */
#include "prefetch.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "worker.h"

enum slot_state { SLOT_FREE, SLOT_FULL, SLOT_HELD };

struct slot {
	float *buf;		/* per_slot × record_floats */
	enum slot_state state;
	int count;		/* records in it */
	int end;		/* the records ended in it (count < per_slot) */
	char err[512];		/* why, when they ended with an error */
};

struct prefetch {
	const struct backend *be;
	int per_slot;
	size_t record_floats;
	prefetch_read_fn read;
	void *ctx;
	struct slot slot[2];
	int r;			/* the consumer's next slot */
	int stop;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct worker *thread;
};

static void reader(void *arg)
{
	struct prefetch *pf = arg;
	die_redirect(NULL, NULL);	// read reports its errors; any other ends the process
	for (int w = 0;; w ^= 1) {
		struct slot *s = &pf->slot[w];
		pthread_mutex_lock(&pf->mu);
		while (s->state != SLOT_FREE && !pf->stop)
			pthread_cond_wait(&pf->cv, &pf->mu);
		int stop = pf->stop;
		pthread_mutex_unlock(&pf->mu);
		if (stop)
			return;
		char err[sizeof s->err] = "";
		int got = 0, rc = 1;
		while (got < pf->per_slot) {
			worker_cancel_point(1);
			rc = pf->read(pf->ctx, s->buf + got * pf->record_floats, err, sizeof err);
			worker_cancel_point(0);
			if (rc != 1)
				break;
			got++;
		}
		pthread_mutex_lock(&pf->mu);
		s->count = got;
		s->end = rc != 1;
		memcpy(s->err, rc < 0 ? err : "", rc < 0 ? sizeof err : 1);
		s->state = SLOT_FULL;
		pthread_cond_broadcast(&pf->cv);
		pthread_mutex_unlock(&pf->mu);
		if (rc != 1)
			return;
	}
}

struct prefetch *prefetch_start(const struct backend *be, int per_slot, size_t record_floats,
				prefetch_read_fn read, void *ctx)
{
	struct prefetch *pf = xcalloc(1, sizeof *pf);
	pf->be = be;
	pf->per_slot = per_slot;
	pf->record_floats = record_floats;
	pf->read = read;
	pf->ctx = ctx;
	for (int i = 0; i < 2; i++)
		pf->slot[i].buf = be->host_alloc((size_t)per_slot * record_floats * sizeof(float));
	pthread_mutex_init(&pf->mu, NULL);
	pthread_cond_init(&pf->cv, NULL);
	pf->thread = worker_create();
	worker_run(pf->thread, reader, pf);
	return pf;
}

float *prefetch_next(struct prefetch *pf, const char **err, int *got)
{
	struct slot *s = &pf->slot[pf->r];
	pthread_mutex_lock(&pf->mu);
	while (s->state == SLOT_FREE)
		pthread_cond_wait(&pf->cv, &pf->mu);
	pthread_mutex_unlock(&pf->mu);
	if (s->state == SLOT_HELD)
		die("prefetch_next: the previous slot was not released");
	if (got)
		*got = s->count;
	if (s->end) {	// stays FULL: every later call ends too
		*err = s->err;
		return NULL;
	}
	s->state = SLOT_HELD;
	return s->buf;
}

void prefetch_release(struct prefetch *pf)
{
	pthread_mutex_lock(&pf->mu);
	pf->slot[pf->r].state = SLOT_FREE;
	pf->r ^= 1;
	pthread_cond_broadcast(&pf->cv);
	pthread_mutex_unlock(&pf->mu);
}

void prefetch_free(struct prefetch *pf)
{
	if (!pf)
		return;
	pthread_mutex_lock(&pf->mu);
	pf->stop = 1;
	pthread_cond_broadcast(&pf->cv);
	pthread_mutex_unlock(&pf->mu);
	worker_cancel(pf->thread);	// acts only inside a read
	for (int i = 0; i < 2; i++)
		pf->be->host_free(pf->slot[i].buf);
	pthread_mutex_destroy(&pf->mu);
	pthread_cond_destroy(&pf->cv);
	free(pf);
}
