/* model.h: the separation model, written once and run by every backend
 * (docs/DESIGN.md §4).
 *
 * A model is an architecture (struct arch: [model] arch in the config,
 * "transformer" by default) over one backend's ops (backend.h).  Its
 * memory is llm.c's: one flat buffer of parameters with a table of named
 * views (the checkpoint's tensor names and shapes), gradients in a second
 * buffer of the same layout, and the activations of one batch in one arena
 * sized at creation from max_batch × max_frames.  All of it lives in the
 * backend's memory; the host keeps `params`, the weights checkpoints read
 * and write (the very buffer the ops use on the cpu backend).
 *
 * Spectrograms in, spectrograms out: x (B, C, F, T) complex is the mixture,
 * yspec (B, S, C, F, T) complex the masked stems Ŷ_s = M_s ⊙ X.  A training
 * step (lib/train.c) is
 *
 *   STFT of the stems → x (their sum), model_forward(m, B, T),
 *   loss_compute (loss.h) → dyspec, model_backward(m), AdamW.
 *
 * and inference cuts a long spectrogram into cross-faded segments of
 * max_frames (separate.h).  The same calls run on the cpu and the cuda
 * backend. */
#ifndef SEPNET_MODEL_H
#define SEPNET_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "config.h"
#include "real.h"
#include "safetensors.h"

struct model;

/* An architecture: one file (lib/model/transformer.c) fills this.  Its
 * state (views into the buffers, the arena) is its own, in m->arch_state. */
struct arch {
	const char *name;	/* the config's [model] arch */
	/* Record the parameter table, in buffer order, with model_tensor_add. */
	void (*tensors)(struct model *m);
	/* Its state on m->be: views of m->w and m->grads, the activation
	 * arena for max_batch × max_frames (with the gradients' when
	 * training), and m->x, m->yspec, m->dyspec pointed into it (in
	 * inference yspec may wait for the first forward that makes it). */
	void *(*create)(struct model *m);
	void (*free)(struct model *m, void *state);
	/* The views again after m->w changed (model_use_weights). */
	void (*point)(struct model *m, void *state);
	/* Initial weights into m->params (host), deterministic for a seed. */
	void (*init)(struct model *m, uint64_t seed);
	/* m->x (B, C, F, T) → m->yspec (B, S, C, F, T); B ≤ max_batch, T ≤ max_frames. */
	void (*forward)(struct model *m, void *state, int B, int T);
	/* m->grads += ∂loss/∂params from m->dyspec and the last forward's activations. */
	void (*backward)(struct model *m, void *state);
};

/* The architecture named name, or NULL. */
const struct arch *arch_find(const char *name);

struct model {
	struct config cfg;
	const struct backend *be;
	const struct arch *arch;
	void *arch_state;
	/* sizes */
	int C, F, S;		/* channels, bins (n_fft/2 + 1), sources */
	int Din, Dout;		/* 2CF features in, S·2·C·F mask values out, per frame */
	int max_batch, max_frames;
	bool training;		/* the arena holds every layer's activations and the gradients */
	const real *frozen;	/* model_freeze's weights (w then), or NULL */
	/* the parameter table (checkpoint names and shapes) and its buffers */
	int n_tensors;
	struct safetensors_view *tensors;
	size_t n_params;
	real *params;		/* host: what checkpoints read and write */
	real *w;		/* backend: the weights the ops read (params on a host backend) */
	real *own_w;		/* the model's own weights on the backend */
	real *grads;		/* backend, training only */
	/* checkpoint_map_model: the checkpoint whose mapping w points into (the
	 * page cache's pages, not copied), closed by model_free */
	struct safetensors_file *weights_file;
	/* the current batch, backend memory in the arena */
	real *x;		/* (B, C, F, T) complex: the mixture spectrogram */
	real *yspec;		/* (B, S, C, F, T) complex: masked spectrograms Ŷ */
	real *dyspec;		/* (B, S, C, F, T) complex: ∂loss/∂Ŷ (training) */
	/* The separator's way to the masks (separate.c), where the
	 * architecture makes them in mask_forward's layout (the transformer:
	 * has_mask_sink).  With mask_sink set the forward stops at the head and
	 * makes the masks of example b, stem s (for each s with mask_want[s]:
	 * stems not kept are never computed) into one stem's buffer, (2·C·F, T)
	 * (mask_forward's rows of stem s) without their bias, and hands it and
	 * the bias (2·C·F) to mask_sink, which applies them (mask_accumulate)
	 * before the next; m->yspec is not made, nor the whole masks (56 MB a
	 * base.ini segment: a model only the separator runs never allocates
	 * them). */
	bool has_mask_sink;
	void (*mask_sink)(void *ctx, int b, int stem, const real *mask, const real *bias);
	void *mask_sink_ctx;
	/* With mask_sink set and one example, the input read in place where
	 * x_view is set: (C, F, x_view_T) complex, each row's first T frames
	 * (a segment in the separator's window: no copy into x, whose pages
	 * are then never touched). */
	const real *x_view;
	int64_t x_view_T;
	bool mask_want[CONFIG_MAX_SOURCES];
	int B, T;
	/* dropout (when dropout_active and cfg.dropout > 0): masks are functions
	 * of (cfg.seed, step, layer, element); on by default when training.
	 * Example b of a batch draws the masks of example example0 + b ·
	 * example_stride of the global batch (0 and 1 but on a data-parallel
	 * rank: lib/train/dist.h), so ranks together draw one process's. */
	bool dropout_active;
	uint64_t step;
	uint64_t example0, example_stride;
	/* Called during model_backward, when set, as soon as grads[from ..
	 * n_params) are final (with from decreasing): data-parallel training
	 * starts summing them over the ranks while the backward goes on. */
	void (*grads_ready)(void *ctx, size_t from);
	void *grads_ready_ctx;
};

/* A model of cfg's architecture on backend be, for batches of up to
 * max_batch examples of up to max_frames STFT frames.  training: keep
 * every layer's activations and allocate gradients.  Parameters are zero
 * until model_init or a load (then model_upload).  Dies on an unknown
 * architecture or when out of memory. */
struct model *model_create(const struct config *cfg, const struct backend *be, int max_batch,
			   int max_frames, bool training);
void model_free(struct model *m);

/* The architecture's initial weights (docs/DESIGN.md), on the host and the
 * backend.  Deterministic for a seed. */
void model_init(struct model *m, uint64_t seed);
/* m->params (host) → the backend's weights, and back; no-ops on a host
 * backend. */
void model_upload(struct model *m);
void model_download(struct model *m);
/* The weights (w) are final (a loaded model at inference): the backend may
 * keep copies derived from them (the cpu's bf16 GEMMs, a rounded copy made
 * once instead of at every call).  model_init, model_upload and model_free
 * thaw them. */
void model_freeze(struct model *m);
/* Run the forward with the weights w (backend memory, n_params in m's
 * layout, e.g. an EMA of them) until the next call; NULL: m's own. */
void model_use_weights(struct model *m, real *w);

/* A named tensor of the table at the next offset (arch.tensors). */
void model_tensor_add(struct model *m, int ndim, int64_t d0, int64_t d1, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* The offset of tensor name in the flat buffers; dies when there is none. */
size_t model_tensor_offset(const struct model *m, const char *name);

/* m->x → m->yspec for B examples of T frames. */
void model_forward(struct model *m, int B, int T);
/* m->grads += ∂loss/∂params from m->dyspec (set by loss_compute). */
void model_backward(struct model *m);
/* For the architecture's backward: the gradients from g (a view of
 * m->grads) to the end are final (m->grads_ready). */
void model_grads_ready(struct model *m, const real *g);
void model_zero_grad(struct model *m);

/* Frames of one training segment (config segment_length). */
int model_segment_frames(const struct config *cfg);

#endif
