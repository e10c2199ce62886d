/* worker.h: the project's one thread helper.
 *
 * A worker is one background thread that runs one job at a time, so that a
 * tool can read its next record, or write its last, while it computes
 * (the separation pipeline's reader and writer, sepnet-train's prefetch).
 * worker_run hands a job to the thread after the job before it finished;
 * worker_wait waits for the current job.  Signals stay with the main
 * thread.
 *
 * A job that dies does not end the process: die() ends the job, and its
 * message waits in the worker until the caller asks (worker_wait returns
 * it, worker_run dies with it in the caller's thread), so an error is
 * raised where a sequential program would have met it.
 *
 * ordered_map runs a producer on several workers and a consumer on the
 * calling thread, in index order (musdb-cat's records, the dataset's
 * cache and statistics). */
#ifndef SEPNET_WORKER_H
#define SEPNET_WORKER_H

#include <stddef.h>
#include <stdint.h>

struct worker;

struct worker *worker_create(void);
/* Run fn(arg) in the thread, after the job before it; when that one died,
 * die with its message here instead. */
void worker_run(struct worker *w, void (*fn)(void *), void *arg);
/* Wait for the current job: NULL when it returned (or there was none),
 * else the message of the die() that ended it (valid until the next
 * worker_run). */
const char *worker_wait(struct worker *w);
/* A job may let itself be cancelled inside a call that can block forever
 * (a read from a pipe): between worker_cancel_point(1) and (0).  Outside,
 * cancellation waits. */
void worker_cancel_point(int enable);
/* Wait for the current job, then end the thread (NULL: nothing). */
void worker_free(struct worker *w);
/* End the thread now: a job inside a cancellation point is cancelled, one
 * elsewhere is waited for. */
void worker_cancel(struct worker *w);

/* produce(ctx, index, slot) runs on `jobs` workers for index = first,
 * first + 1, ... (endless when count < 0), each writing one of a bounded
 * ring of slots of slot_bytes; consume(ctx, index, slot) runs on the
 * calling thread in index order.  A producer that dies ends the process,
 * as it would have sequentially. */
typedef void (*ordered_fn)(void *ctx, int64_t index, void *slot);
void ordered_map(int64_t first, int64_t count, int jobs, size_t slot_bytes,
		 ordered_fn produce, ordered_fn consume, void *ctx);

#endif
