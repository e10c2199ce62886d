/* prefetch.h: a reader thread that fills batches of records ahead of their
 * consumer, so that reading a pipe overlaps computing (sepnet-train,
 * sepnet-fwd).
 *
 * Two slots, each of `per_slot` records of up to `record_floats` floats, in
 * host memory from the backend's host_alloc (page-locked on cuda, so a slot
 * can be copied to the device asynchronously).  The thread fills a free
 * slot record by record with the caller's read function and hands it over;
 * the consumer takes full slots in order with prefetch_next and gives each
 * back with prefetch_release when it no longer reads it.  At most one slot
 * is held by the consumer while the thread fills the other.
 *
 * Errors of the read function are not raised in the thread: they travel
 * with the slot in which they happened, so the consumer dies (or stops) at
 * the record where a plain sequential reader would have. */
#ifndef SEPNET_PREFETCH_H
#define SEPNET_PREFETCH_H

#include <stddef.h>

#include "backend.h"

/* Read one record into dst (record_floats at most).  1: read; 0: a clean
 * end of the records; -1: an error, its one-line message in err. */
typedef int (*prefetch_read_fn)(void *ctx, float *dst, char *err, size_t errlen);

struct prefetch;

struct prefetch *prefetch_start(const struct backend *be, int per_slot, size_t record_floats,
				prefetch_read_fn read, void *ctx);

/* The next full slot (per_slot records, record i at i · record_floats),
 * waiting for the thread.  NULL when the records ended before filling it:
 * then *err is "" at a clean end or the read function's message, and
 * *got (when not NULL) the records it holds. */
float *prefetch_next(struct prefetch *pf, const char **err, int *got);
/* Give back the slot prefetch_next returned last. */
void prefetch_release(struct prefetch *pf);

/* Stop the thread (cancelling a read that waits for input) and free
 * everything.  The read function's state (its reader) is then the caller's
 * again, positioned somewhere past the records consumed. */
void prefetch_free(struct prefetch *pf);

#endif
