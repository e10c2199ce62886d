/* train_impl.h: the insides of struct trainer (train.h), shared by the
 * training loop (train.c, train_run.c) and white-box tests; everyone else
 * goes through train.h's functions. */
#ifndef SEPNET_TRAIN_IMPL_H
#define SEPNET_TRAIN_IMPL_H

#include "backend.h"
#include "dist.h"
#include "model.h"
#include "ops.h"
#include "prefetch.h"
#include "scheduler.h"
#include "train.h"

struct trainer {
	struct config cfg;
	const struct backend *be;	/* where the model, its moments and EMA live */
	/* data parallel (dist.h): this process is rank of ranks, and takes
	 * batch = batch_size / ranks examples of each micro-batch */
	int rank, ranks, batch;
	struct dist_grads *dg;	/* the gradients' sums over the ranks; NULL alone */
	int64_t stream_pos;	/* records seen in an unsharded stream (each rank takes
				   those at its rank mod ranks) */
	struct model *m;	/* training model: batch × segment frames, on be */
	struct loss_work *lw;	/* the loss's STFT plans and buffers, on be */
	struct adamw opt;	/* host moments (for checkpoints) and AdamW's t */
	real *ema;		/* (n_params) host EMA of the weights; NULL when ema_decay is 0 */
	real *dev_m, *dev_v, *dev_ema;	/* the backend's moments and EMA (opt.m, opt.v,
					   ema themselves on a host backend) */
	bool host_stale;	/* the backend's state is newer than the host copies */
	struct sched sched;
	int64_t epoch_size;	/* records per epoch */
	/* state saved in checkpoints */
	int64_t step, epoch, records, epoch_records, micro;
	int bad_in_row;
	int64_t bad_total;
	double epoch_loss_sum;	/* sum of the epoch's step losses, for its mean */
	int64_t epoch_loss_n;
	/* input */
	struct prefetch *pf;	/* the reader thread, after trainer_prefetch */
	struct snt_reader *r;	/* what it reads */
	/* buffers */
	float *stems;		/* (batch, S, C, N) one micro-batch, read without prefetch */
	real *dev_stems;	/* (batch, S, C, N) its copy on a device backend */
	float *window;		/* (S, C, N) a record longer than segment_length */
	size_t window_cap;	/* floats of window */
	struct snt_header h;
};

#endif
