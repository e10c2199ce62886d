/* dist.h: data-parallel training over the ranks of an MPI launch
 * (docs/DESIGN.md §5.6).
 *
 * sepnet-train started by mpirun, mpiexec or srun (shard.h reads which)
 * is one rank of a world of dist_size() processes; every rank holds the
 * whole model, reads its shard of the records (records r, r+N, r+2N, ...
 * of the one-process sequence), and takes batch_size / N of each
 * micro-batch.  The gradients are summed over the ranks in buckets that
 * start while the backward still runs (dist_grads); the step's loss, its
 * NaN check and the stop signals are summed too (dist_sum), so every rank
 * takes the same decisions and holds the same weights, those of one
 * process up to float rounding.
 *
 * The sums are MPI_Allreduce on host memory, or NCCL on a device backend
 * that has it (backend.h comm_*), its unique id broadcast over MPI.
 * Without a launcher, or in a build without MPI (NO_MPI=1) launched as one
 * rank, the world is this process: every call is a no-op. */
#ifndef SEPNET_DIST_H
#define SEPNET_DIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "real.h"

struct backend;

/* Join the launch this process belongs to, if any: MPI_Init, and
 * progname "TOOL[rank R]" when the world has more than one rank.  From
 * here on, a process that ends before dist_finalize (die(), exit) takes
 * the whole job down (MPI_Abort) instead of leaving the others waiting.
 * Dies when launched as one of several ranks by a build without MPI. */
void dist_init(int *argc, char ***argv);
void dist_finalize(void);

/* The MPI library this binary runs on ("Open MPI v4.1.4"), or NULL in a
 * build without MPI. */
const char *dist_library(void);

int dist_rank(void);
int dist_size(void);
/* Whether this is rank 0, the one that writes files and progress. */
bool dist_writer(void);

/* x[0 .. n) ← its sum over the ranks, the same bits on every rank. */
void dist_sum(double *x, int n);
/* Whether every rank passed the same h (a hash of its weights). */
bool dist_same(uint64_t h);
/* Wait until every rank got here. */
void dist_barrier(void);

/* ---- the gradients: summed over the ranks, bucket by bucket ---- */
struct dist_grads;

/* Sums of grads (n floats of be's memory) over the ranks: NCCL when be
 * has it, else MPI on host memory (through a host copy on a device
 * backend without it).  NULL without a launcher; a launch of one rank
 * takes this path too (mpirun -np 1: tests/gpu/check.sh's NCCL check). */
struct dist_grads *dist_grads_create(const struct backend *be, real *grads, size_t n);
/* The backend's own sums (NCCL) over a world of this process alone, with
 * no launcher and no MPI: the sums are the gradients themselves, which
 * checks the path on a GPU (check-train --comm).  NULL with why when the
 * backend has none. */
struct dist_grads *dist_grads_alone(const struct backend *be, real *grads, size_t n, char *why,
				    size_t whylen);
void dist_grads_free(struct dist_grads *g);
/* A backward pass has made grads[from .. n) final: start the sums of the
 * buckets it covers.  Any order of calls; from only decreases in a pass. */
void dist_grads_ready(struct dist_grads *g, size_t from);
/* Start what is left, and wait until grads holds the sums (on a device
 * backend: until the ops enqueued after this see them).  Ends the pass. */
void dist_grads_finish(struct dist_grads *g);

#endif
