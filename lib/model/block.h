/* block.h: what the architectures share (docs/DESIGN.md §4): the
 * activation arena, and the pre-norm transformer block over rows (B, T, d)
 * of B sequences of T tokens:
 *
 *   z_mid = z_in + Dropout(W_o gate(attention(rope(W_qkv attn_norm(z_in)))) + b_o)
 *   z_out = z_mid + Dropout(FFN(ffn_norm(z_mid)))
 *
 * gate: per-head sigmoid gates σ(W_g a1 + b_g) on attention's output where
 * the block has them (the band-split model's), b_o where it has one (the
 * transformer's).  The FFN is n_ffn GELU layers and a linear one. */
#ifndef SEPNET_BLOCK_H
#define SEPNET_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "model.h"

/* ---- the activation arena: one backend allocation for every tensor ---- */

struct arena_plan {
	struct { real **ptr; size_t n; } *req;
	int n, cap;
};

/* Ask for n floats at *ptr (64-byte aligned). */
void arena_want(struct arena_plan *ap, real **ptr, size_t n);
/* One zeroed block of the backend's memory holding every request; frees the
 * plan.  touch: written through now (be->zero, in parallel on the cpu), for
 * an arena every step uses whole (training): its first step then does not
 * pay the first touches of gigabytes; else pages are touched as used. */
real *arena_alloc(struct arena_plan *ap, const struct backend *be, bool touch);

/* ---- dropout on residual sums ---- */

/* The dropout stream of a layer's site (0 attention, 1 FFN) at m->step. */
uint64_t dropout_stream(const struct model *m, int layer, int site);
/* out = inp + Dropout_p(branch) on B examples of `per` floats, each
 * example drawing its own place in the global batch (model.h). */
void residual_forward_batch(const struct model *m, real *out, const real *inp, const real *branch,
			    int B, size_t per, float p, uint64_t stream);
void residual_backward_batch(const struct model *m, real *dbranch, const real *dout, int B,
			     size_t per, float p, uint64_t stream);

/* ---- the block ---- */

struct block_shape {
	int d, A, h;		/* width, attention width, heads */
	int n_ffn;		/* GELU layers of the FFN */
	const int *hidden;	/* [n_ffn] their widths */
	bool gates;		/* per-head attention gates */
	float eps;		/* the RMSNorms' (ops.h) */
};

struct block_params {
	real *attn_norm;	/* (d) */
	real *wqkv;		/* (3A, d): q, k and v stacked */
	real *wgate, *bgate;	/* (h, d), (h); NULL without gates */
	real *wo, *bo;		/* (d, A), (d) or NULL */
	real *ffn_norm;		/* (d) */
	real *ffn_w[CONFIG_MAX_FFN + 1];	/* (out_j, in_j) */
	real *ffn_b[CONFIG_MAX_FFN + 1];	/* (out_j) */
};

struct block_acts {
	real *z_in;		/* (B, T, d) residual stream entering the block */
	real *a1, *rstd1;	/* (B, T, d) attn_norm output, (B, T) */
	real *qkv;		/* (B, T, 3A) after RoPE */
	real *att, *lse;	/* (B, T, A) heads' output, (B, h, T) */
	real *gate, *gated;	/* (B, T, h) gates before σ, (B, T, A) gated output */
	real *z_mid;		/* (B, T, d) after the attention residual */
	real *a2, *rstd2;	/* (B, T, d) ffn_norm output, (B, T) */
	real *ffn_pre[CONFIG_MAX_FFN];	/* (B, T, hidden_j) before GELU */
	real *ffn_act[CONFIG_MAX_FFN];	/* (B, T, hidden_j) after GELU */
};

/* Buffers every block of a model shares: the branch before its residual,
 * and the gradients' scratch (training). */
struct block_scratch {
	real *branch;		/* (rows, d) */
	real *dbranch, *da;	/* (rows, d) */
	real *dqkv;		/* (rows, 3A) */
	real *datt, *dgated;	/* (rows, A) */
	real *dgate;		/* (rows, h) */
	real *dhidden[2];	/* (rows, max hidden) */
};

/* Arena requests for one block's activations over `rows` tokens in
 * sequences of up to max_T (lse), training or not. */
void block_plan_acts(struct arena_plan *ap, const struct block_shape *s, struct block_acts *ba,
		     size_t rows, size_t max_seqs_T, bool training);
void block_plan_scratch(struct arena_plan *ap, const struct block_shape *s,
			struct block_scratch *sc, size_t rows, bool training);
/* At inference one set of activations serves every block: the residual
 * stream is updated in place and GELU runs in place. */
void block_acts_in_place(const struct block_shape *s, struct block_acts *ba);

/* Block `layer` (its dropout streams) on B sequences of T tokens: ba->z_in
 * → z_out (which may be ba->z_in at inference); rope: the (T, hs/2, 2)
 * table.  The sequences are those of m->B examples, each example's
 * contiguous (dropout draws per example: model.h). */
void block_forward(const struct model *m, const struct block_shape *s,
		   const struct block_params *bp, struct block_acts *ba, struct block_scratch *sc,
		   real *z_out, const real *rope, int B, int T, int layer);
/* dz: ∂loss/∂z_out on entry, ∂loss/∂z_in on return (in place); bg: the
 * gradients' views, added into. */
void block_backward(const struct model *m, const struct block_shape *s,
		    const struct block_params *bp, const struct block_params *bg,
		    const struct block_acts *ba, struct block_scratch *sc, real *dz,
		    const real *rope, int B, int T, int layer);

/* be->zero of n floats. */
void zero_floats(const struct backend *be, real *p, size_t n);
/* The rotary table (ops.h: rope_table) of `positions` rows for heads of
 * hs, in be's memory (be->free it). */
real *rope_upload(const struct backend *be, int positions, int hs);
/* Whether tensor name s ends in suffix (the inits' tests of a name). */
bool name_ends(const char *s, const char *suffix);

#endif
