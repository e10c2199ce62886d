/* model.h: the separation transformer of DESIGN §4 on the CPU.
 *
 * llm.c layout: the parameters are one flat buffer with a table of named
 * views (names and shapes as DESIGN §8, nn.Linear [out, in] weights), and
 * gradients and the AdamW moments are flat buffers of the same layout, so the
 * optimizer, checkpoints and all-reduce are each one loop over one buffer.
 * Activations that backward needs live in one arena sized at creation from
 * max_batch × max_frames.
 *
 * A training step:
 *
 *   model_mixture_spectrogram(m, x, stems, B, n);  // x = STFT(Σ_s stems)
 *   model_forward(m, x, B, T);          // masked spectrograms, acts.yspec
 *   model_waveforms(m, n);              // iSTFT, acts.ywave
 *   loss = loss_compute(m, stems, n, true, &stats);   // loss.h, fills acts.dyspec
 *   model_backward(m);                  // grads += ∂loss/∂params
 *   optim_step(...);                    // optim.h
 *
 * Inference: model_separate() runs a long spectrogram in cross-faded
 * segments (lib/chunk.h). */
#ifndef SEPNET_MODEL_H
#define SEPNET_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "layers.h"
#include "safetensors.h"

struct block_params {
	real *attn_norm;	/* (d) */
	real *wqkv;		/* (3A, d): attn.wq, attn.wk, attn.wv stacked, each (A, d) */
	real *wo, *bo;		/* (d, A), (d) */
	real *ffn_norm;		/* (d) */
	real *ffn_w[CONFIG_MAX_FFN + 1];	/* (out_j, in_j) */
	real *ffn_b[CONFIG_MAX_FFN + 1];	/* (out_j) */
};

/* Named pointers into one flat buffer (parameters, or gradients). */
struct model_params {
	real *in_w, *in_b;	/* (d, 2CF), (d) */
	struct block_params *blocks;	/* [n_layers] */
	real *out_norm;		/* (d) */
	real *out_w, *out_b;	/* (S·2·C·F, d), (S·2·C·F) */
};

struct block_acts {
	real *z_in;		/* (B, T, d) residual stream entering the block */
	real *a1, *rstd1;	/* (B, T, d) attn_norm output, (B, T) */
	real *qkv;		/* (B, T, 3A) after RoPE */
	real *att, *lse;	/* (B, T, A) heads' output, (B, h, T) */
	real *z_mid;		/* (B, T, d) after the attention residual */
	real *a2, *rstd2;	/* (B, T, d) ffn_norm output, (B, T) */
	real *ffn_pre[CONFIG_MAX_FFN];	/* (B, T, hidden_j) before GELU */
	real *ffn_act[CONFIG_MAX_FFN];	/* (B, T, hidden_j) after GELU */
};

struct model_acts {
	real *x;		/* (B, C, F, T) complex: the input mixture spectrogram */
	real *sigma;		/* (B) per-example scale */
	real *feat;		/* (B, 2CF, T) features u / σ, frames last */
	struct block_acts *blocks;	/* [n_layers]; all alias one set at inference */
	real *z_out;		/* (B, T, d) last block's output */
	real *an, *rstd_out;	/* (B, T, d) out_norm output, (B, T) */
	real *mask;		/* (B, S·2·C·F, T) the head's output, frames last */
	real *yspec;		/* (B, S, C, F, T) complex: masked spectrograms Ŷ */
	real *ywave;		/* (B, S, C, N) their iSTFT (training only) */
	/* gradients (training only) */
	real *dyspec;		/* (B, S, C, F, T) complex: ∂loss/∂Ŷ, from loss_compute */
	real *dywave;		/* (B, S, C, N) */
	real *dz, *dbranch, *da;	/* (B, T, d) */
	real *dqkv;		/* (B, T, 3A) */
	real *datt;		/* (B, T, A) */
	real *dhidden[2];	/* (B, T, max hidden) ping-pong through the FFN */
	real *dmask;		/* (B, S·2·C·F, T): aliases mask (not needed in backward) */
};

struct model {
	struct config cfg;
	/* sizes */
	int C, F, S, d, A, n_heads, Din, Dout;
	int max_batch, max_frames;
	int64_t max_samples;	/* waveform length that max_frames covers */
	bool training;		/* arena holds every layer's activations and the gradients */
	/* parameters: a flat buffer and its views (DESIGN §8 names) */
	int n_tensors;
	struct safetensors_view *tensors;
	size_t n_params;
	real *params, *grads;	/* grads only when training */
	struct model_params p, g;
	/* activations */
	struct model_acts acts;
	real *branch;		/* (B, T, d) a block branch's output before the residual */
	real *arena;
	real *rope;		/* (max_frames, head/2, 2) */
	struct spectral *spectral;
	int n_threads;
	/* the current batch */
	int B, T;
	int64_t N;
	/* dropout (when dropout_active and cfg.dropout > 0): masks are functions
	 * of (cfg.seed, step, layer, element); on by default when training */
	bool dropout_active;
	uint64_t step;
};

/* Creates a model for batches of up to max_batch examples of up to
 * max_frames STFT frames.  training: keep every layer's activations and
 * allocate gradients.  Parameters are zero until model_init or a load.
 * Per-thread scratch is sized for omp_get_max_threads() at this call: do
 * not raise the thread count afterwards.  OpenBLAS is made single-threaded
 * (blas_init_threads). */
struct model *model_create(const struct config *cfg, int max_batch, int max_frames, bool training);
void model_free(struct model *m);

/* DESIGN §4 init: weights N(0, 0.02) (W_o and the last FFN layer scaled by
 * 1/sqrt(2 n_layers)), biases 0, norms 1, W_out 0, b_out 1/S on real parts.
 * Deterministic for a seed. */
void model_init(struct model *m, uint64_t seed);

/* x (B, C, F, T) complex = STFT(Σ_s stems), stems (B, S, C, n). */
void model_mixture_spectrogram(struct model *m, real *x, const real *stems, int B, int64_t n);

/* x (B, C, F, T) complex → acts.yspec (B, S, C, F, T) complex. */
void model_forward(struct model *m, const real *x, int B, int T);
/* acts.yspec → acts.ywave (B, S, C, n), iSTFT with length n. */
void model_waveforms(struct model *m, int64_t n);
/* grads += ∂loss/∂params from acts.dyspec (and the forward's activations). */
void model_backward(struct model *m);
void model_zero_grad(struct model *m);

/* Separate one long spectrogram x (C, F, T) into out (S, C, F, T) complex,
 * in segments of max_frames frames overlapping by `overlap` (a fraction),
 * cross-faded, up to max_batch segments per forward pass. */
void model_separate(struct model *m, real *out, const real *x, int64_t T, double overlap);

/* The first and last steps of the forward pass, for other backends' twins
 * (lib/backend.h).  feat (B, 2CF, T) = features of x (B, C, F, T) complex
 * divided by sigma (B) = sqrt(mean |x_b|²) + 1e-5 (DESIGN §4.1); yspec
 * (B, S, C, F, T) complex = mask (B, S·2·C·F, T) ⊙ x (DESIGN §4.3). */
void features_forward(real *feat, real *sigma, const real *x, int B, int C, int F, int T);
void mask_forward(real *yspec, const real *mask, const real *x, int B, int S, int C, int F, int T);
/* dmask (B, S·2·C·F, T) = ∂/∂mask of mask_forward given dyspec; overwritten. */
void mask_backward(real *dmask, const real *dyspec, const real *x, int B, int S, int C, int F,
		   int T);

/* The activations (and, when training, their gradients) of m's config for
 * batches of B × T frames, laid out as model_create lays out its own, in
 * one block of alloc(bytes) — another backend's memory (lib/devtrain.c).
 * acts->blocks must point to n_layers block_acts; the other pointers of
 * acts and *branch are set into the block, which is returned. */
real *model_acts_alloc(const struct model *m, int B, int T, bool training,
		       struct model_acts *acts, real **branch, void *(*alloc)(size_t));

/* Views p into base, a buffer of n_params laid out as m->params (another
 * backend's copy of the weights or gradients); p->blocks is allocated
 * (free it). */
void model_params_views(const struct model *m, real *base, struct model_params *p);

/* Frames of one training segment (config segment_length). */
int model_segment_frames(const struct config *cfg);

#endif
