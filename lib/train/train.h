/* train.h: the training loop of sepnet-train (docs/DESIGN.md §5).
 *
 * A trainer owns a training model, its AdamW moments, the EMA of its
 * weights (when ema_decay > 0), the learning-rate schedule and the counters
 * that a checkpoint must hold for a bit-exact resume:
 *
 *   step          optimizer steps taken (AdamW's t; the scheduler's step)
 *   epoch         epochs completed
 *   records       training records consumed by the steps taken or skipped
 *                 (restart the data with musdb-cat --skip RECORDS)
 *   epoch_records records of the current epoch
 *   micro         micro-batches run: the dropout RNG's counter, so every
 *                 micro-batch draws fresh masks, (cfg.seed, micro) in all
 *   bad_in_row    skipped steps in a row (NaN/Inf loss or gradient)
 *
 * A step reads batch_size × gradient_accum records from a stream, runs
 * forward, loss and backward per micro-batch of batch_size, averages the
 * gradients, clips them to grad_clip, and takes an AdamW step at the
 * scheduler's rate, then updates the EMA.  A step whose loss or gradient
 * norm is not finite changes no weight and is counted as bad.
 *
 * train_run() is the whole tool: output directory, epochs, validation,
 * checkpoints, metrics, progress and signals. */
#ifndef SEPNET_TRAIN_H
#define SEPNET_TRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "loss.h"
#include "real.h"
#include "snt.h"

struct backend;
struct model;

/* Opaque: its fields are train_impl.h's, for the training loop itself and
 * white-box tests. */
struct trainer;

enum train_step_result {
	TRAIN_STEP_OK,		/* weights updated */
	TRAIN_STEP_BAD,		/* NaN/Inf: skipped, counted in bad_in_row */
	TRAIN_STEP_END,		/* the stream ended before a full step: nothing done */
};

struct train_step_stats {
	struct loss_stats loss;	/* means over the step's micro-batches */
	double grad_norm;	/* before clipping */
	double lr;
};

/* A trainer for cfg with epochs of epoch_size records, weights from
 * model_init(cfg.seed), zero moments, EMA = the initial weights, on the
 * cpu backend (trainer_create) or be (trainer_create_on): the state lives
 * in be's memory and is copied to the host for checkpoints. */
struct trainer *trainer_create(const struct config *cfg, int64_t epoch_size);
struct trainer *trainer_create_on(const struct config *cfg, int64_t epoch_size,
				  const struct backend *be);
void trainer_free(struct trainer *t);

/* The training model (its config, sizes and weights on the backend). */
struct model *trainer_model(struct trainer *t);

/* Read r's records in a thread from now on, a micro-batch ahead of the
 * steps (prefetch.h); trainer_step must then be given r.  trainer_free
 * stops the thread; close r after it. */
void trainer_prefetch(struct trainer *t, struct snt_reader *r);

/* One optimizer step on the next batch_size × gradient_accum records of r.
 * Dies naming the record when one is malformed or does not fit the config
 * (train_check_record). */
enum train_step_result trainer_step(struct trainer *t, struct snt_reader *r,
				    struct train_step_stats *st);

/* The parts of trainer_step, for checks and benchmarks that bring their
 * own stems.  trainer_micro: forward, loss and backward of one micro-batch
 * of stems (B, S, C, N), host memory (pinned on a device backend), its
 * gradients added to the model's (none when the loss is not finite);
 * micro numbers the dropout masks; last: it ends the step, so on a
 * data-parallel run (dist.h) the gradients' sums over the ranks start
 * during its backward.  Returns the loss.  trainer_sum_grads: wait for
 * those sums (every rank, whatever its losses; nothing alone).
 * trainer_update: average the gradients over gradient_accum and the
 * ranks, clip them, take an AdamW step at rate lr and update the EMA, on
 * the backend; returns the norm before clipping (nothing changed when it
 * is not finite). */
double trainer_micro(struct trainer *t, const float *stems, uint64_t micro, bool last,
		     struct loss_stats *ls);
void trainer_sum_grads(struct trainer *t);
double trainer_update(struct trainer *t, float lr);

/* True when the current epoch has had its epoch_size records. */
bool trainer_epoch_done(const struct trainer *t);
/* Close the epoch: returns the mean training loss of its steps (NaN when
 * none) and starts the next. */
double trainer_end_epoch(struct trainer *t);

/* The weights that inference should use, host memory: the EMA when on,
 * else the training weights. */
const real *trainer_eval_weights(struct trainer *t);
/* The same on the backend, for model_use_weights (NULL: the model's own). */
real *trainer_eval_weights_backend(struct trainer *t);

/* A training checkpoint: the weights, AdamW moments, the EMA (tensors
 * "ema.NAME") and every counter, the schedule and the RNG in the metadata.
 * Written atomically.  Dies if a weight is not finite: a NaN checkpoint is
 * never written. */
void trainer_save(struct trainer *t, const char *path);
/* Restore everything trainer_save wrote.  The checkpoint's [model] config
 * must equal t's.  0 ok, -1 with a message in err. */
int trainer_load(struct trainer *t, const char *path, char *err, size_t errlen);
/* The records count stored in a training checkpoint; -1 with a message. */
int64_t trainer_checkpoint_records(const char *path, char *err, size_t errlen);

/* Is h a stems record f32 [S, C, length] for cfg (sources, sr, channels;
 * any length when length is 0)?  0 yes; -1 with the reason in err. */
int train_check_record(const struct snt_header *h, const struct config *cfg, int64_t length,
		       char *err, size_t errlen);

/* ---- the tool ---- */

struct train_opts {
	const char *outdir;	/* -o: checkpoints, metrics.jsonl, config.ini */
	const char *config_path;	/* -c; NULL on resume: DIR/config.ini */
	const char *valid;	/* --valid FILE, or NULL */
	const char *input;	/* training records; NULL or "-" for stdin */
	const char *device;	/* -d: "cpu", "cuda", or NULL for backend.h's default */
	int64_t max_steps;	/* stop when step reaches it; 0: no limit */
	int64_t epoch_size;	/* records per epoch (the config's unless > 0) */
	int64_t save_every;	/* also write last.safetensors every N steps; 0: per epoch */
	int64_t log_every;	/* a metrics line every N steps */
	bool resume, quiet;
};

/* Train as docs/DESIGN.md §5 describes, with the config at o->config_path (on a
 * resume: its [model] must match the checkpoint's).  Dies on errors. */
void train_run(const struct train_opts *o);

#endif
