/* transformer.c: the separation transformer (docs/DESIGN.md §4):
 * its parameter table, activations, init, forward and backward, over the
 * backend's ops.  This file is the architecture "transformer"; every
 * backend, in training and at inference, runs this code.
 *
 * Layouts.  A spectrogram is (C, F, T) complex with frames last, as in the
 * stream.  The features and the mask head are kept "frames last" too:
 * feat (B, 2CF, T) is the input reshuffled, and the head computes
 * mask_b (S·2·C·F, T) = W_out · an_bᵀ, so applying the mask to X and going
 * back to spectrograms are contiguous loops.  The blocks work on rows
 * (B·T, width). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "ops.h"
#include "model.h"
#include "rng.h"
#include "util.h"

#define INIT_STD 0.02

/* Named pointers into one flat buffer (weights, or gradients). */
struct params {
	real *in_w, *in_b;	/* (d, 2CF), (d) */
	struct block_params *blocks;	/* [n_layers] */
	real *out_norm;		/* (d) */
	real *out_w, *out_b;	/* (S·2·C·F, d), (S·2·C·F) */
};

struct transformer {
	int d, A, h;		/* emb_dim, attention_dim, n_heads */
	struct block_shape shape;
	struct params p, g;	/* views of m->w and m->grads */
	real *arena;
	real *rope;		/* (max_frames, head/2, 2) */
	/* activations */
	real *sigma;		/* (B) per-example scale */
	real *feat;		/* (B, 2CF, T) features u / σ, frames last */
	struct block_acts *blocks;	/* [n_layers]; all alias one set at inference */
	struct block_scratch sc;
	real *z_out;		/* (B, T, d) last block's output */
	real *an, *rstd_out;	/* (B, T, d) out_norm output, (B, T) */
	real *mask;		/* (B, S·2·C·F, T) the head's output, frames last; in
				   inference made on first need, outside the arena */
	real *stem_mask;	/* (2·C·F, T): one stem's masks, for m->mask_sink */
	real *yspec;		/* inference: m->yspec, outside the arena (made on first need) */
	/* gradients (training only) */
	real *dz;		/* (B, T, d) */
	real *dmask;		/* (B, S·2·C·F, T): aliases mask (not needed in backward) */
};

/* ---- parameters (checkpoint names and shapes: docs/DESIGN.md) ---- */

/* The tensors in buffer order.  attn.wq, wk, wv are consecutive so that
 * one GEMM makes q, k and v. */
static void transformer_tensors(struct model *m)
{
	const struct config *c = &m->cfg;
	int d = c->emb_dim, A = c->attention_dim;
	model_tensor_add(m, 2, d, m->Din, "in.weight");
	model_tensor_add(m, 1, d, 0, "in.bias");
	for (int l = 0; l < c->n_layers; l++) {
		model_tensor_add(m, 1, d, 0, "blocks.%d.attn_norm.weight", l);
		model_tensor_add(m, 2, A, d, "blocks.%d.attn.wq.weight", l);
		model_tensor_add(m, 2, A, d, "blocks.%d.attn.wk.weight", l);
		model_tensor_add(m, 2, A, d, "blocks.%d.attn.wv.weight", l);
		model_tensor_add(m, 2, d, A, "blocks.%d.attn.wo.weight", l);
		model_tensor_add(m, 1, d, 0, "blocks.%d.attn.wo.bias", l);
		model_tensor_add(m, 1, d, 0, "blocks.%d.ffn_norm.weight", l);
		int in = d;
		for (int j = 0; j <= c->n_ffn; j++) {
			int out = j < c->n_ffn ? c->ffn_hidden_dim[j] : d;
			model_tensor_add(m, 2, out, in, "blocks.%d.ffn.%d.weight", l, j);
			model_tensor_add(m, 1, out, 0, "blocks.%d.ffn.%d.bias", l, j);
			in = out;
		}
	}
	model_tensor_add(m, 1, d, 0, "out_norm.weight");
	model_tensor_add(m, 2, m->Dout, d, "out.weight");
	model_tensor_add(m, 1, m->Dout, 0, "out.bias");
}

/* p's views into base, walking the table in the order transformer_tensors
 * recorded it. */
static void point_params(const struct model *m, real *base, struct params *p)
{
	const struct safetensors_view *v = m->tensors;
	int k = 0;
#define NEXT() (base + v[k++].offset)
	p->in_w = NEXT();
	p->in_b = NEXT();
	for (int l = 0; l < m->cfg.n_layers; l++) {
		struct block_params *bp = &p->blocks[l];
		bp->attn_norm = NEXT();
		bp->wqkv = NEXT();
		k += 2;		// wk, wv follow wq
		bp->wo = NEXT();
		bp->bo = NEXT();
		bp->ffn_norm = NEXT();
		for (int j = 0; j <= m->cfg.n_ffn; j++) {
			bp->ffn_w[j] = NEXT();
			bp->ffn_b[j] = NEXT();
		}
	}
	p->out_norm = NEXT();
	p->out_w = NEXT();
	p->out_b = NEXT();
#undef NEXT
}

/* Weights N(0, 0.02) (W_o and the last FFN layer scaled by 1/sqrt(2
 * n_layers)), biases 0, norms 1, W_out 0, b_out 1/S on real parts, so the
 * untrained model splits the mixture equally. */
static void transformer_init(struct model *m, uint64_t seed)
{
	const struct config *c = &m->cfg;
	char last_ffn[32];
	snprintf(last_ffn, sizeof last_ffn, ".ffn.%d.weight", c->n_ffn);
	double residual_scale = 1 / sqrt(2.0 * c->n_layers);
	for (int k = 0; k < m->n_tensors; k++) {
		const struct safetensors_view *v = &m->tensors[k];
		real *w = m->params + v->offset;
		size_t n = safetensors_view_numel(v);
		if (strcmp(v->name, "out.weight") == 0 || name_ends(v->name, ".bias")) {
			memset(w, 0, n * sizeof(real));
		} else if (name_ends(v->name, "norm.weight")) {
			for (size_t i = 0; i < n; i++)
				w[i] = 1;
		} else {
			double std = INIT_STD;
			if (name_ends(v->name, ".attn.wo.weight") || name_ends(v->name, last_ffn))
				std *= residual_scale;
			for (size_t i = 0; i < n; i++)	// stream k: each tensor its own draws
				w[i] = (real)(std * rng_normal(seed, k, i));
		}
	}
	// b_out: 1/S on the real parts m[s, 0, c, f], so the mask starts at 1/S
	real *out_b = m->params + model_tensor_offset(m, "out.bias");
	for (int s = 0; s < m->S; s++)
		for (int i = 0; i < m->C * m->F; i++)
			out_b[(size_t)s * 2 * m->C * m->F + i] = (real)1 / m->S;
}

/* ---- activation arena ---- */

static void plan_arena(struct model *m, struct transformer *tf, struct arena_plan *ap)
{
	const struct config *c = &m->cfg;
	size_t rows = (size_t)m->max_batch * m->max_frames, d = tf->d;
	size_t spec = (size_t)m->max_batch * m->Din * m->max_frames;

	arena_want(ap, &m->x, spec);
	arena_want(ap, &tf->sigma, m->max_batch);
	arena_want(ap, &tf->feat, spec);
	block_plan_scratch(ap, &tf->shape, &tf->sc, rows, m->training);
	int n_sets = m->training ? c->n_layers : 1;
	for (int l = 0; l < n_sets; l++)
		block_plan_acts(ap, &tf->shape, &tf->blocks[l], rows, rows, m->training);
	if (m->training)
		arena_want(ap, &tf->z_out, rows * d);
	arena_want(ap, &tf->an, rows * d);
	arena_want(ap, &tf->rstd_out, rows);
	arena_want(ap, &tf->stem_mask, (size_t)m->max_frames * m->Din);
	if (!m->training)
		return;	// the masks and yspec on first need: the separator has neither
	arena_want(ap, &tf->mask, rows * m->Dout);
	arena_want(ap, &m->yspec, spec * m->S);
	arena_want(ap, &m->dyspec, spec * m->S);
	arena_want(ap, &tf->dz, rows * d);
}

static void transformer_point(struct model *m, void *state)
{
	struct transformer *tf = state;
	point_params(m, m->w, &tf->p);
	if (m->grads)
		point_params(m, m->grads, &tf->g);
}

static void *transformer_create(struct model *m)
{
	const struct config *c = &m->cfg;
	const struct backend *be = m->be;
	struct transformer *tf = xcalloc(1, sizeof *tf);
	tf->d = c->emb_dim;
	tf->A = c->attention_dim;
	tf->h = c->n_heads;
	tf->shape = (struct block_shape){ .d = tf->d, .A = tf->A, .h = tf->h, .n_ffn = c->n_ffn,
		.hidden = c->ffn_hidden_dim, .gates = false, .eps = RMSNORM_EPS };
	tf->p.blocks = xcalloc(c->n_layers, sizeof *tf->p.blocks);
	tf->g.blocks = xcalloc(c->n_layers, sizeof *tf->g.blocks);
	transformer_point(m, tf);

	tf->blocks = xcalloc(c->n_layers, sizeof *tf->blocks);
	struct arena_plan ap = { 0 };
	plan_arena(m, tf, &ap);
	tf->arena = arena_alloc(&ap, be, m->training);
	if (m->training) {
		// block l writes its output into block l+1's z_in (the last into
		// z_out); the mask is not needed by backward, so its gradient takes
		// its place
		tf->dmask = tf->mask;
	} else {
		// one set of block activations serves every layer, the residual
		// stream is updated in place and GELU runs in place
		struct block_acts *b0 = &tf->blocks[0];
		block_acts_in_place(&tf->shape, b0);
		tf->z_out = b0->z_in;
		for (int l = 1; l < c->n_layers; l++)
			tf->blocks[l] = *b0;
	}
	tf->rope = rope_upload(be, m->max_frames, tf->A / tf->h);
	m->has_mask_sink = true;
	return tf;
}

static void transformer_free(struct model *m, void *state)
{
	struct transformer *tf = state;
	m->be->free(tf->arena);
	if (!m->training)
		m->be->free(tf->mask);
	m->be->free(tf->yspec);
	m->be->free(tf->rope);
	free(tf->p.blocks);
	free(tf->g.blocks);
	free(tf->blocks);
	free(tf);
}

/* ---- forward ---- */

static void transformer_forward(struct model *m, void *state, int B, int T)
{
	const struct config *c = &m->cfg;
	const struct backend *be = m->be;
	struct transformer *tf = state;
	const struct params *P = &tf->p;
	int d = tf->d, N = B * T;
	size_t spec = (size_t)m->Din * T;	// floats per example

	if (m->x_view && (!m->mask_sink || B != 1))
		die("transformer_forward: an input read in place needs the mask sink and one example");
	be->features_forward(tf->feat, tf->sigma, m->x_view ? m->x_view : m->x, B, m->C, m->F, T,
			     m->x_view ? m->x_view_T : T);
	// z_b (T, d) = feat_bᵀ (T, Din) · W_inᵀ + b_in
	real *z = tf->blocks[0].z_in;
	be->tensor_broadcast(z, P->in_b, N, d, false);
	for (int b = 0; b < B; b++)
		be->blas_gemm(true, true, T, d, m->Din, 1, tf->feat + b * spec, T, P->in_w, m->Din, 1,
			 z + (size_t)b * T * d, d);

	for (int l = 0; l < c->n_layers; l++) {
		real *z_out = l + 1 < c->n_layers ? tf->blocks[l + 1].z_in : tf->z_out;
		block_forward(m, &tf->shape, &P->blocks[l], &tf->blocks[l], &tf->sc, z_out, tf->rope, B,
			      T, l);
	}

	be->rmsnorm_forward(tf->an, tf->rstd_out, tf->z_out, P->out_norm, N, d, RMSNORM_EPS);
	// mask_b (Dout, T) = W_out (Dout, d) · an_bᵀ (d, T) + b_out
	if (m->mask_sink) {	// stem by stem, each applied before the next is made
		// (beta 0: the bias is the sink's to add as it applies them, no pass
		// over the masks before the GEMM, whose beta-1 sum costs oneDNN's
		// bf16 kernel 20 %)
		for (int b = 0; b < B; b++)
			for (int s = 0; s < m->S; s++) {
				if (!m->mask_want[s])
					continue;
				be->blas_gemm(false, true, m->Din, T, d, 1, P->out_w + (size_t)s * m->Din * d,
					      d, tf->an + (size_t)b * T * d, d, 0, tf->stem_mask, T);
				m->mask_sink(m->mask_sink_ctx, b, s, tf->stem_mask,
					     P->out_b + (size_t)s * m->Din);
			}
		return;
	}
	if (!tf->mask)	// inference: made by the first forward that wants it
		tf->mask = be->alloc((size_t)m->max_batch * m->max_frames * m->Dout * sizeof(real));
	for (int b = 0; b < B; b++) {
		real *mb = tf->mask + (size_t)b * m->Dout * T;
		be->tensor_broadcast(mb, P->out_b, m->Dout, T, true);
		be->blas_gemm(false, true, m->Dout, T, d, 1, P->out_w, d, tf->an + (size_t)b * T * d, d, 1,
			      mb, T);
	}
	if (!m->yspec)	// inference: made by the first forward that wants it
		m->yspec = tf->yspec = be->alloc((size_t)m->max_batch * m->S * m->Din * m->max_frames *
						 sizeof(real));
	be->mask_forward(m->yspec, tf->mask, m->x, B, m->S, m->C, m->F, T);
}

/* ---- backward ---- */

static void transformer_backward(struct model *m, void *state)
{
	const struct config *c = &m->cfg;
	const struct backend *be = m->be;
	struct transformer *tf = state;
	const struct params *P = &tf->p, *G = &tf->g;
	int B = m->B, T = m->T, d = tf->d, N = B * T;

	be->mask_backward(tf->dmask, m->dyspec, m->x, B, m->S, m->C, m->F, T);
	// head: mask_b = W_out an_bᵀ + b_out
	zero_floats(be, tf->sc.da, (size_t)N * d);
	for (int b = 0; b < B; b++) {
		const real *dmb = tf->dmask + (size_t)b * m->Dout * T;
		be->blas_gemm(false, false, m->Dout, d, T, 1, dmb, T, tf->an + (size_t)b * T * d, d, 1,
			 G->out_w, d);
		be->blas_gemm(true, false, T, d, m->Dout, 1, dmb, T, P->out_w, d, 1,
			 tf->sc.da + (size_t)b * T * d, d);
		be->tensor_sum_rows(G->out_b, dmb, m->Dout, T, true);
	}
	zero_floats(be, tf->dz, (size_t)N * d);
	be->rmsnorm_backward(tf->dz, G->out_norm, tf->sc.da, tf->z_out, P->out_norm, tf->rstd_out, N, d);
	model_grads_ready(m, G->out_norm);

	for (int l = c->n_layers - 1; l >= 0; l--) {
		block_backward(m, &tf->shape, &P->blocks[l], &G->blocks[l], &tf->blocks[l], &tf->sc,
			       tf->dz, tf->rope, B, T, l);
		model_grads_ready(m, G->blocks[l].attn_norm);
	}

	// input projection: dW_in += dz_bᵀ (d, T) · feat_bᵀ (T, Din); db_in += Σ rows dz
	size_t spec = (size_t)m->Din * T;
	for (int b = 0; b < B; b++)
		be->blas_gemm(true, true, d, m->Din, T, 1, tf->dz + (size_t)b * T * d, d, tf->feat + b * spec,
			 T, 1, G->in_w, m->Din);
	be->tensor_sum_rows(G->in_b, tf->dz, N, d, false);
}

const struct arch arch_transformer = {
	.name = "transformer",
	.tensors = transformer_tensors,
	.create = transformer_create,
	.free = transformer_free,
	.point = transformer_point,
	.init = transformer_init,
	.forward = transformer_forward,
	.backward = transformer_backward,
};
