/* worker.h: one background thread that runs one job at a time, so that a
 * tool can read its next record, or write its last, while it computes
 * (sepnet-fwd's reader and writer).
 *
 * worker_run hands a job to the thread, after waiting for the job before
 * it; worker_wait waits for the current job.  A job that dies ends the
 * process as die() does anywhere (wrap it in die_catch, util.h, to carry
 * the error to where it belongs). */
#ifndef SEPNET_WORKER_H
#define SEPNET_WORKER_H

struct worker;

struct worker *worker_create(void);
void worker_run(struct worker *w, void (*fn)(void *), void *arg);
void worker_wait(struct worker *w);
/* Waits for the current job, then ends the thread. */
void worker_free(struct worker *w);

#endif
