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

#include "ops.h"
#include "model.h"
#include "rng.h"
#include "util.h"

#define INIT_STD 0.02

struct block_params {
	real *attn_norm;	/* (d) */
	real *wqkv;		/* (3A, d): attn.wq, attn.wk, attn.wv stacked, each (A, d) */
	real *wo, *bo;		/* (d, A), (d) */
	real *ffn_norm;		/* (d) */
	real *ffn_w[CONFIG_MAX_FFN + 1];	/* (out_j, in_j) */
	real *ffn_b[CONFIG_MAX_FFN + 1];	/* (out_j) */
};

/* Named pointers into one flat buffer (weights, or gradients). */
struct params {
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

struct transformer {
	int d, A, h;		/* emb_dim, attention_dim, n_heads */
	struct params p, g;	/* views of m->w and m->grads */
	real *arena;
	real *rope;		/* (max_frames, head/2, 2) */
	/* activations */
	real *sigma;		/* (B) per-example scale */
	real *feat;		/* (B, 2CF, T) features u / σ, frames last */
	struct block_acts *blocks;	/* [n_layers]; all alias one set at inference */
	real *branch;		/* (B, T, d) a block branch's output before the residual */
	real *z_out;		/* (B, T, d) last block's output */
	real *an, *rstd_out;	/* (B, T, d) out_norm output, (B, T) */
	real *mask;		/* (B, S·2·C·F, T) the head's output, frames last */
	/* gradients (training only) */
	real *dz, *dbranch, *da;	/* (B, T, d) */
	real *dqkv;		/* (B, T, 3A) */
	real *datt;		/* (B, T, A) */
	real *dhidden[2];	/* (B, T, max hidden) ping-pong through the FFN */
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

static bool name_ends(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcmp(s + n - k, suffix) == 0;
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

struct arena_plan {
	struct { real **ptr; size_t n; } *req;
	int n, cap;
};

static void arena_want(struct arena_plan *ap, real **ptr, size_t n)
{
	if (ap->n == ap->cap) {
		ap->cap = ap->cap ? 2 * ap->cap : 64;
		ap->req = xrealloc(ap->req, ap->cap * sizeof *ap->req);
	}
	ap->req[ap->n].ptr = ptr;
	ap->req[ap->n].n = (n + 15) & ~(size_t)15;	// keep every tensor 64-byte aligned
	ap->n++;
}

/* One block of the backend's memory (zeroed, 64-byte aligned) holding every request. */
static real *arena_alloc(struct arena_plan *ap, const struct backend *be)
{
	size_t total = 0;
	for (int i = 0; i < ap->n; i++)
		total += ap->req[i].n;
	real *base = be->alloc(total * sizeof(real));
	size_t off = 0;
	for (int i = 0; i < ap->n; i++) {
		*ap->req[i].ptr = base + off;
		off += ap->req[i].n;
	}
	free(ap->req);
	return base;
}

static void plan_arena(struct model *m, struct transformer *tf, struct arena_plan *ap)
{
	const struct config *c = &m->cfg;
	size_t rows = (size_t)m->max_batch * m->max_frames, d = tf->d, A = tf->A;
	size_t spec = (size_t)m->max_batch * m->Din * m->max_frames;
	int max_hidden = 1;
	for (int j = 0; j < c->n_ffn; j++)
		max_hidden = c->ffn_hidden_dim[j] > max_hidden ? c->ffn_hidden_dim[j] : max_hidden;

	arena_want(ap, &m->x, spec);
	arena_want(ap, &tf->sigma, m->max_batch);
	arena_want(ap, &tf->feat, spec);
	arena_want(ap, &tf->branch, rows * d);
	int n_sets = m->training ? c->n_layers : 1;
	for (int l = 0; l < n_sets; l++) {
		struct block_acts *ba = &tf->blocks[l];
		arena_want(ap, &ba->z_in, rows * d);
		arena_want(ap, &ba->a1, rows * d);
		arena_want(ap, &ba->rstd1, rows);
		arena_want(ap, &ba->qkv, rows * 3 * A);
		arena_want(ap, &ba->att, rows * A);
		arena_want(ap, &ba->lse, (size_t)m->max_batch * tf->h * m->max_frames);
		if (m->training)
			arena_want(ap, &ba->z_mid, rows * d);
		arena_want(ap, &ba->a2, rows * d);
		arena_want(ap, &ba->rstd2, rows);
		for (int j = 0; j < c->n_ffn; j++) {
			arena_want(ap, &ba->ffn_pre[j], rows * c->ffn_hidden_dim[j]);
			if (m->training)	// at inference GELU runs in place
				arena_want(ap, &ba->ffn_act[j], rows * c->ffn_hidden_dim[j]);
		}
	}
	if (m->training)
		arena_want(ap, &tf->z_out, rows * d);
	arena_want(ap, &tf->an, rows * d);
	arena_want(ap, &tf->rstd_out, rows);
	arena_want(ap, &tf->mask, rows * m->Dout);
	arena_want(ap, &m->yspec, spec * m->S);
	if (!m->training)
		return;
	arena_want(ap, &m->dyspec, spec * m->S);
	arena_want(ap, &tf->dz, rows * d);
	arena_want(ap, &tf->dbranch, rows * d);
	arena_want(ap, &tf->da, rows * d);
	arena_want(ap, &tf->dqkv, rows * 3 * A);
	arena_want(ap, &tf->datt, rows * A);
	arena_want(ap, &tf->dhidden[0], rows * max_hidden);
	arena_want(ap, &tf->dhidden[1], rows * max_hidden);
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
	tf->p.blocks = xcalloc(c->n_layers, sizeof *tf->p.blocks);
	tf->g.blocks = xcalloc(c->n_layers, sizeof *tf->g.blocks);
	transformer_point(m, tf);

	tf->blocks = xcalloc(c->n_layers, sizeof *tf->blocks);
	struct arena_plan ap = { 0 };
	plan_arena(m, tf, &ap);
	tf->arena = arena_alloc(&ap, be);
	if (m->training) {
		// block l writes its output into block l+1's z_in (the last into
		// z_out); the mask is not needed by backward, so its gradient takes
		// its place
		tf->dmask = tf->mask;
	} else {
		// one set of block activations serves every layer, the residual
		// stream is updated in place and GELU runs in place
		struct block_acts *b0 = &tf->blocks[0];
		b0->z_mid = b0->z_in;
		tf->z_out = b0->z_in;
		for (int j = 0; j < c->n_ffn; j++)
			b0->ffn_act[j] = b0->ffn_pre[j];
		for (int l = 1; l < c->n_layers; l++)
			tf->blocks[l] = *b0;
	}
	int hs = tf->A / tf->h;
	size_t rope = (size_t)m->max_frames * hs;
	real *table = xmalloc(rope * sizeof(real));
	rope_table(table, m->max_frames, hs);
	tf->rope = be->alloc(rope * sizeof(real));
	be->upload(tf->rope, table, rope * sizeof(real));
	free(table);
	return tf;
}

static void transformer_free(struct model *m, void *state)
{
	struct transformer *tf = state;
	m->be->free(tf->arena);
	m->be->free(tf->rope);
	free(tf->p.blocks);
	free(tf->g.blocks);
	free(tf->blocks);
	free(tf);
}

/* ---- forward ---- */

static uint64_t dropout_stream(const struct model *m, int layer, int site)
{
	return (m->step << 16) | ((uint64_t)layer << 1) | (uint64_t)site;
}

/* The residual sums of B examples of `per` elements each, example b drawing
 * the dropout mask of example m->example0 + b · m->example_stride of the
 * global batch (one call when they are consecutive there). */
static void residual_forward_batch(const struct model *m, real *out, const real *inp,
				   const real *branch, int B, size_t per, float p, uint64_t stream)
{
	const struct backend *be = m->be;
	uint64_t seed = m->cfg.seed;
	if (p <= 0 || m->example_stride == 1) {
		be->residual_forward(out, inp, branch, B * per, p, seed, stream, m->example0 * per);
		return;
	}
	for (int b = 0; b < B; b++)
		be->residual_forward(out + b * per, inp + b * per, branch + b * per, per, p, seed,
				     stream, (m->example0 + (uint64_t)b * m->example_stride) * per);
}

static void residual_backward_batch(const struct model *m, real *dbranch, const real *dout,
				    int B, size_t per, float p, uint64_t stream)
{
	const struct backend *be = m->be;
	uint64_t seed = m->cfg.seed;
	if (p <= 0 || m->example_stride == 1) {
		be->residual_backward(dbranch, dout, B * per, p, seed, stream, m->example0 * per);
		return;
	}
	for (int b = 0; b < B; b++)
		be->residual_backward(dbranch + b * per, dout + b * per, per, p, seed, stream,
				      (m->example0 + (uint64_t)b * m->example_stride) * per);
}

static void transformer_forward(struct model *m, void *state, int B, int T)
{
	const struct config *c = &m->cfg;
	const struct backend *be = m->be;
	struct transformer *tf = state;
	const struct params *P = &tf->p;
	int d = tf->d, A = tf->A, h = tf->h, N = B * T;
	size_t spec = (size_t)m->Din * T;	// floats per example
	float p = m->dropout_active ? c->dropout : 0;

	be->features_forward(tf->feat, tf->sigma, m->x, B, m->C, m->F, T);
	// z_b (T, d) = feat_bᵀ (T, Din) · W_inᵀ + b_in
	real *z = tf->blocks[0].z_in;
	be->tensor_broadcast(z, P->in_b, N, d, false);
	for (int b = 0; b < B; b++)
		be->blas_gemm(true, true, T, d, m->Din, 1, tf->feat + b * spec, T, P->in_w, m->Din, 1,
			 z + (size_t)b * T * d, d);

	for (int l = 0; l < c->n_layers; l++) {
		struct block_acts *ba = &tf->blocks[l];
		const struct block_params *bp = &P->blocks[l];
		real *z_out = l + 1 < c->n_layers ? tf->blocks[l + 1].z_in : tf->z_out;
		be->rmsnorm_forward(ba->a1, ba->rstd1, ba->z_in, bp->attn_norm, N, d);
		be->linear_forward(ba->qkv, ba->a1, bp->wqkv, NULL, N, d, 3 * A);
		be->rope_forward(ba->qkv, tf->rope, B, T, A, h);
		be->attention_forward(ba->att, ba->lse, ba->qkv, B, T, A, h);
		be->linear_forward(tf->branch, ba->att, bp->wo, bp->bo, N, A, d);
		residual_forward_batch(m, ba->z_mid, ba->z_in, tf->branch, B, (size_t)T * d, p,
				       dropout_stream(m, l, 0));
		be->rmsnorm_forward(ba->a2, ba->rstd2, ba->z_mid, bp->ffn_norm, N, d);
		const real *hin = ba->a2;
		int width = d;
		for (int j = 0; j < c->n_ffn; j++) {
			int hid = c->ffn_hidden_dim[j];
			if (ba->ffn_act[j] == ba->ffn_pre[j]) {	// inference: fused, in place
				be->linear_gelu_forward(ba->ffn_act[j], hin, bp->ffn_w[j], bp->ffn_b[j], N,
							width, hid);
			} else {
				be->linear_forward(ba->ffn_pre[j], hin, bp->ffn_w[j], bp->ffn_b[j], N, width,
						   hid);
				be->gelu_forward(ba->ffn_act[j], ba->ffn_pre[j], (size_t)N * hid);
			}
			hin = ba->ffn_act[j];
			width = hid;
		}
		be->linear_forward(tf->branch, hin, bp->ffn_w[c->n_ffn], bp->ffn_b[c->n_ffn], N, width,
				   d);
		residual_forward_batch(m, z_out, ba->z_mid, tf->branch, B, (size_t)T * d, p,
				       dropout_stream(m, l, 1));
	}

	be->rmsnorm_forward(tf->an, tf->rstd_out, tf->z_out, P->out_norm, N, d);
	// mask_b (Dout, T) = W_out (Dout, d) · an_bᵀ (d, T) + b_out
	for (int b = 0; b < B; b++) {
		real *mb = tf->mask + (size_t)b * m->Dout * T;
		be->tensor_broadcast(mb, P->out_b, m->Dout, T, true);
		be->blas_gemm(false, true, m->Dout, T, d, 1, P->out_w, d, tf->an + (size_t)b * T * d, d, 1,
			 mb, T);
	}
	be->mask_forward(m->yspec, tf->mask, m->x, B, m->S, m->C, m->F, T);
}

/* ---- backward ---- */

static void zero(const struct backend *be, real *p, size_t n)
{
	be->zero(p, n * sizeof(real));
}

static void transformer_backward(struct model *m, void *state)
{
	const struct config *c = &m->cfg;
	const struct backend *be = m->be;
	struct transformer *tf = state;
	const struct params *P = &tf->p, *G = &tf->g;
	int B = m->B, T = m->T, d = tf->d, A = tf->A, h = tf->h, N = B * T;
	float p = m->dropout_active ? c->dropout : 0;

	be->mask_backward(tf->dmask, m->dyspec, m->x, B, m->S, m->C, m->F, T);
	// head: mask_b = W_out an_bᵀ + b_out
	zero(be, tf->da, (size_t)N * d);
	for (int b = 0; b < B; b++) {
		const real *dmb = tf->dmask + (size_t)b * m->Dout * T;
		be->blas_gemm(false, false, m->Dout, d, T, 1, dmb, T, tf->an + (size_t)b * T * d, d, 1,
			 G->out_w, d);
		be->blas_gemm(true, false, T, d, m->Dout, 1, dmb, T, P->out_w, d, 1,
			 tf->da + (size_t)b * T * d, d);
		be->tensor_sum_rows(G->out_b, dmb, m->Dout, T, true);
	}
	zero(be, tf->dz, (size_t)N * d);
	be->rmsnorm_backward(tf->dz, G->out_norm, tf->da, tf->z_out, P->out_norm, tf->rstd_out, N, d);
	model_grads_ready(m, G->out_norm);

	for (int l = c->n_layers - 1; l >= 0; l--) {
		struct block_acts *ba = &tf->blocks[l];
		const struct block_params *bp = &P->blocks[l], *bg = &G->blocks[l];
		// FFN sublayer: z_out = z_mid + Dropout(FFN(ffn_norm(z_mid)))
		zero(be, tf->dbranch, (size_t)N * d);
		residual_backward_batch(m, tf->dbranch, tf->dz, B, (size_t)T * d, p,
					dropout_stream(m, l, 1));
		int nf = c->n_ffn;
		const real *hin = nf ? ba->ffn_act[nf - 1] : ba->a2;
		int width = nf ? c->ffn_hidden_dim[nf - 1] : d;
		real *dact = nf ? tf->dhidden[0] : tf->da, *dpre = tf->dhidden[1];
		zero(be, dact, (size_t)N * width);
		be->linear_backward(dact, bg->ffn_w[nf], bg->ffn_b[nf], tf->dbranch, hin, bp->ffn_w[nf],
				    N, width, d);
		for (int j = nf - 1; j >= 0; j--) {
			int hid = c->ffn_hidden_dim[j];
			zero(be, dpre, (size_t)N * hid);
			be->gelu_backward(dpre, dact, ba->ffn_pre[j], (size_t)N * hid);
			hin = j ? ba->ffn_act[j - 1] : ba->a2;
			width = j ? c->ffn_hidden_dim[j - 1] : d;
			real *din = j ? tf->dhidden[0] : tf->da;
			zero(be, din, (size_t)N * width);
			be->linear_backward(din, bg->ffn_w[j], bg->ffn_b[j], dpre, hin, bp->ffn_w[j], N,
					    width, hid);
			dact = din;
		}
		be->rmsnorm_backward(tf->dz, bg->ffn_norm, tf->da, ba->z_mid, bp->ffn_norm, ba->rstd2, N,
				     d);

		// attention sublayer: z_mid = z_in + Dropout(W_o attention(rope(W_qkv attn_norm(z_in))))
		zero(be, tf->dbranch, (size_t)N * d);
		residual_backward_batch(m, tf->dbranch, tf->dz, B, (size_t)T * d, p,
					dropout_stream(m, l, 0));
		zero(be, tf->datt, (size_t)N * A);
		be->linear_backward(tf->datt, bg->wo, bg->bo, tf->dbranch, ba->att, bp->wo, N, A, d);
		zero(be, tf->dqkv, (size_t)N * 3 * A);
		be->attention_backward(tf->dqkv, tf->datt, ba->qkv, ba->att, ba->lse, B, T, A, h);
		be->rope_backward(tf->dqkv, tf->rope, B, T, A, h);
		zero(be, tf->da, (size_t)N * d);
		be->linear_backward(tf->da, bg->wqkv, NULL, tf->dqkv, ba->a1, bp->wqkv, N, d, 3 * A);
		be->rmsnorm_backward(tf->dz, bg->attn_norm, tf->da, ba->z_in, bp->attn_norm, ba->rstd1, N,
				     d);
		model_grads_ready(m, bg->attn_norm);
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
