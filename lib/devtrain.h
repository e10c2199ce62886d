/* devtrain.h: the training step of DESIGN §5 through a backend's table of
 * ops (backend.h): sepnet-train -d cuda.
 *
 * A devtrain holds, in the backend's memory, the flat parameter, gradient
 * and AdamW moment buffers (and the EMA) in the layout of a host model's
 * tensor table, the activations of one micro-batch (model.h's arena,
 * allocated by the backend) and STFT plans.  Its forward, loss and backward
 * are model_forward, loss_compute and model_backward op for op, in the same
 * order, so on the cpu backend they agree with the model.c path to float
 * rounding (the STFT is stft.c's instead of layers.h's spectral) and on the
 * cuda backend every op is a kernel, cuBLAS or cuFFT on one stream.
 *
 * The host keeps what checkpoints need: devtrain_download copies the
 * device state into host buffers of the same layout, devtrain_upload the
 * other way (after a resume).
 *
 * One step:
 *
 *   devtrain_zero_grad(dt);
 *   for each micro-batch: devtrain_micro(dt, stems, micro, &stats);
 *   devtrain_step(dt, accum, lr, t, &grad_norm);   // clip, AdamW, EMA
 */
#ifndef SEPNET_DEVTRAIN_H
#define SEPNET_DEVTRAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "loss.h"
#include "model.h"
#include "optim.h"

struct devtrain;

/* m: a host model of the config (its sizes, tensor table and initial
 * weights are used; it may be an inference model of 1 × 1).  Batches of
 * cfg.batch_size segments of cfg.segment_length samples; with_ema keeps an
 * EMA of the weights.  The weights, moments and EMA start as m's weights,
 * zero and m's weights. */
struct devtrain *devtrain_create(const struct model *m, const struct backend *be, bool with_ema);
void devtrain_free(struct devtrain *dt);

/* Host ↔ backend copies of the state, each buffer (n_params) in m's
 * layout; a NULL pointer is skipped (ema also when there is none). */
void devtrain_upload(struct devtrain *dt, const float *params, const float *opt_m,
		     const float *opt_v, const float *ema);
void devtrain_download(struct devtrain *dt, float *params, float *opt_m, float *opt_v,
		       float *ema);

/* The gradients accumulated since devtrain_zero_grad, (n_params). */
void devtrain_download_grads(struct devtrain *dt, float *grads);
void devtrain_zero_grad(struct devtrain *dt);

/* Stage the next micro-batch's stems (B, S, C, n), host memory (pinned
 * from be->host_alloc for an overlapping copy): the copy runs on the
 * backend's copy stream while earlier work computes.  host must stay
 * unchanged until devtrain_micro has returned. */
void devtrain_stage(struct devtrain *dt, const float *host);

/* Forward, loss and backward of the staged micro-batch: grads += ∂loss/∂params
 * (nothing is added when the loss is not finite).  micro numbers the
 * dropout masks (model.h's step).  Returns the loss; stats as loss_compute. */
double devtrain_micro(struct devtrain *dt, uint64_t micro, struct loss_stats *stats);

/* The rest of trainer_step: grads /= accum, global-norm clipping at
 * cfg.grad_clip, AdamW step t (>= 1) at rate lr, then the EMA.  Returns the
 * norm before clipping; when it is not finite nothing changes. */
double devtrain_step(struct devtrain *dt, int accum, float lr, int64_t t);

#endif
