/* bsroformer.c: the band-split RoPE transformer (Lu et al., 2023,
 * "Music Source Separation with Band-Split RoPE Transformer"), the
 * architecture "bsroformer" (docs/DESIGN.md §4): its parameter table,
 * activations, init, forward and backward over the backend's ops, with the
 * tensor names of the bs-roformer package's BSRoformer (0.3.10) so that
 * weights move between the two.
 *
 *   X (B, C, F, T) → bands j: RMSNorm + Linear(2C·w_j → d) per frame
 *   → depth × [ time_depth blocks along time (a sequence per band),
 *               freq_depth blocks along bands (a sequence per frame) ]
 *   → RMSNorm → per stem and band an MLP (d → 4d, tanh, ..., → 2·2C·w_j)
 *     and GLU: the band's complex mask; Ŷ_s = M_s ⊙ X.
 *
 * Layouts.  Band-major tensors (ops.h) hold band j as a block of rows
 * n = b·T + t.  The blocks run on (B, nb, T, d), time layout, B·nb
 * sequences of T frames, and on (B, T, nb, d), band layout, B·T
 * sequences of nb bands; axis_swap turns between them.  The band split's
 * output (nb, B·T, d) and the mask heads' input are band-major. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "ops.h"
#include "model.h"
#include "rng.h"
#include "util.h"

/* the mask heads' hidden width, a multiple of d (mlp_expansion_factor) */
#define HEAD_EXPANSION 4

struct bs_params {
	real *band_norm[CONFIG_MAX_BANDS];	/* (2C·w_j) */
	real *band_w[CONFIG_MAX_BANDS];		/* (d, 2C·w_j) */
	real *band_b[CONFIG_MAX_BANDS];		/* (d) */
	struct block_params *blocks;		/* [n_blocks]: per layer time, then band blocks */
	real *final_norm;			/* (d) */
	real **head_w, **head_b;		/* [(s·nb + j)·mask_depth + k] */
};

struct bsroformer {
	int d, nb, hid, n_blocks;	/* hid: the mask heads' */
	int starts[CONFIG_MAX_BANDS + 1];
	int *bands;		/* starts, backend memory */
	int max_w2;		/* the widest band's 2C·w_j */
	struct block_shape shape;
	struct bs_params p, g;
	real *arena;
	real *rope;		/* (max(max_frames, nb), hs/2, 2) */
	/* activations */
	real *feat, *bn;	/* band-major: the bands, and their norms' output */
	real *brstd;		/* (nb, B·T) */
	real *hb;		/* (nb, B·T, d) the band split's output */
	struct block_acts *acts;	/* [n_blocks]; all alias one set at inference */
	struct block_scratch sc;
	real *turn;		/* (B·T·nb, d) a block's output before a turn of axes */
	real *z_out;		/* (B, T, nb, d) the last block's output */
	real *an, *rstd_out;	/* (B, T, nb, d) final_norm's output, (B·T·nb) */
	real *anb;		/* (nb, B·T, d) the same band-major */
	real **head_h;		/* the heads' hidden layers after tanh, (B·T, hid) */
	real **head_g;		/* the last linear layers' output, (B·T, 2·2C·w_j) */
	real *mask;		/* (S, band-major) complex */
	/* gradients (training only) */
	real *dz, *dz2;		/* (B·T·nb, d) */
	real *dan;		/* (nb, B·T, d) */
	real *dh[2];		/* (B·T, hid) */
	real *dglu;		/* (B·T, 2·max_w2) */
	real *dbn, *dfeat;	/* (B·T, max_w2) */
	real *dmask;		/* aliases mask */
};

static int band_w2(const struct model *m, const struct bsroformer *bs, int j)
{
	return 2 * m->C * (bs->starts[j + 1] - bs->starts[j]);
}

/* ---- parameters: the reference's names (docs/DESIGN.md §4) ---- */

static void block_tensors(struct model *m, const char *prefix, int k)
{
	const struct config *c = &m->cfg;
	int d = c->emb_dim, A = c->attention_dim, h = c->n_heads, H = c->ffn_hidden_dim[0];
	model_tensor_add(m, 1, d, 0, "%s.layers.%d.0.norm.gamma", prefix, k);
	model_tensor_add(m, 2, 3 * A, d, "%s.layers.%d.0.to_qkv.weight", prefix, k);
	model_tensor_add(m, 2, h, d, "%s.layers.%d.0.to_gates.weight", prefix, k);
	model_tensor_add(m, 1, h, 0, "%s.layers.%d.0.to_gates.bias", prefix, k);
	model_tensor_add(m, 2, d, A, "%s.layers.%d.0.to_out.0.weight", prefix, k);
	model_tensor_add(m, 1, d, 0, "%s.layers.%d.1.net.0.gamma", prefix, k);
	model_tensor_add(m, 2, H, d, "%s.layers.%d.1.net.1.weight", prefix, k);
	model_tensor_add(m, 1, H, 0, "%s.layers.%d.1.net.1.bias", prefix, k);
	model_tensor_add(m, 2, d, H, "%s.layers.%d.1.net.4.weight", prefix, k);
	model_tensor_add(m, 1, d, 0, "%s.layers.%d.1.net.4.bias", prefix, k);
}

static void bsroformer_tensors(struct model *m)
{
	const struct config *c = &m->cfg;
	int d = c->emb_dim, hid = HEAD_EXPANSION * d, md = c->mask_depth;
	int starts[CONFIG_MAX_BANDS + 1], nb = config_bands(c, starts);
	for (int j = 0; j < nb; j++) {
		int w2 = 2 * m->C * (starts[j + 1] - starts[j]);
		model_tensor_add(m, 1, w2, 0, "band_split.to_features.%d.0.gamma", j);
		model_tensor_add(m, 2, d, w2, "band_split.to_features.%d.1.weight", j);
		model_tensor_add(m, 1, d, 0, "band_split.to_features.%d.1.bias", j);
	}
	char prefix[64];
	for (int l = 0; l < c->n_layers; l++) {
		snprintf(prefix, sizeof prefix, "layers.%d.0", l);
		for (int k = 0; k < c->time_depth; k++)
			block_tensors(m, prefix, k);
		snprintf(prefix, sizeof prefix, "layers.%d.1", l);
		for (int k = 0; k < c->freq_depth; k++)
			block_tensors(m, prefix, k);
	}
	model_tensor_add(m, 1, d, 0, "final_norm.gamma");
	for (int s = 0; s < m->S; s++)
		for (int j = 0; j < nb; j++) {
			int w2 = 2 * m->C * (starts[j + 1] - starts[j]);
			for (int k = 0, in = d; k < md; k++) {
				int out = k + 1 < md ? hid : 2 * w2;
				// Sequential(MLP, GLU); the MLP's linear layers between tanh's
				model_tensor_add(m, 2, out, in, "mask_estimators.%d.to_freqs.%d.0.%d.weight",
						 s, j, 2 * k);
				model_tensor_add(m, 1, out, 0, "mask_estimators.%d.to_freqs.%d.0.%d.bias",
						 s, j, 2 * k);
				in = out;
			}
		}
}

static void bs_point_params(const struct model *m, const struct bsroformer *bs, real *base,
			 struct bs_params *p)
{
	const struct safetensors_view *v = m->tensors;
	int k = 0, md = m->cfg.mask_depth;
#define NEXT() (base + v[k++].offset)
	for (int j = 0; j < bs->nb; j++) {
		p->band_norm[j] = NEXT();
		p->band_w[j] = NEXT();
		p->band_b[j] = NEXT();
	}
	for (int i = 0; i < bs->n_blocks; i++) {
		struct block_params *bp = &p->blocks[i];
		bp->attn_norm = NEXT();
		bp->wqkv = NEXT();
		bp->wgate = NEXT();
		bp->bgate = NEXT();
		bp->wo = NEXT();
		bp->bo = NULL;
		bp->ffn_norm = NEXT();
		for (int j = 0; j < 2; j++) {
			bp->ffn_w[j] = NEXT();
			bp->ffn_b[j] = NEXT();
		}
	}
	p->final_norm = NEXT();
	for (int i = 0; i < m->S * bs->nb * md; i++) {
		p->head_w[i] = NEXT();
		p->head_b[i] = NEXT();
	}
#undef NEXT
}

/* PyTorch's defaults, as the reference starts: norms 1, a linear layer's
 * weight and bias uniform in ±1/sqrt(fan_in). */
static void bsroformer_init(struct model *m, uint64_t seed)
{
	int fan_in = 1;
	for (int k = 0; k < m->n_tensors; k++) {
		const struct safetensors_view *v = &m->tensors[k];
		real *w = m->params + v->offset;
		size_t n = safetensors_view_numel(v);
		if (name_ends(v->name, ".gamma")) {
			for (size_t i = 0; i < n; i++)
				w[i] = 1;
			continue;
		}
		if (v->ndim == 2)
			fan_in = (int)v->shape[1];	// a bias follows its weight
		double bound = 1 / sqrt((double)fan_in);
		for (size_t i = 0; i < n; i++)	// stream k: each tensor its own draws
			w[i] = (real)(bound * (2 * rng_uniform(seed, k, i) - 1));
	}
}

/* ---- activations ---- */

static real *head_hidden(const struct model *m, const struct bsroformer *bs, int s, int j, int k)
{
	int md = m->cfg.mask_depth;
	return m->training ? bs->head_h[(s * bs->nb + j) * (md - 1) + k] : bs->head_h[k & 1];
}

static real *head_glu_in(const struct model *m, const struct bsroformer *bs, int s, int j)
{
	return m->training ? bs->head_g[s * bs->nb + j] : bs->head_g[0];
}

static void bs_plan_arena(struct model *m, struct bsroformer *bs, struct arena_plan *ap)
{
	const struct config *c = &m->cfg;
	size_t N = (size_t)m->max_batch * m->max_frames, R = N * bs->nb, d = bs->d;
	size_t spec = N * m->Din;
	int md = c->mask_depth;

	arena_want(ap, &m->x, spec);
	arena_want(ap, &bs->feat, spec);
	arena_want(ap, &bs->bn, spec);
	arena_want(ap, &bs->brstd, (size_t)bs->nb * N);
	arena_want(ap, &bs->hb, R * d);
	block_plan_scratch(ap, &bs->shape, &bs->sc, R, m->training);
	int n_sets = m->training ? bs->n_blocks : 1;
	for (int i = 0; i < n_sets; i++)
		block_plan_acts(ap, &bs->shape, &bs->acts[i], R, R, m->training);
	arena_want(ap, &bs->turn, R * d);
	if (m->training)
		arena_want(ap, &bs->z_out, R * d);
	arena_want(ap, &bs->an, R * d);
	arena_want(ap, &bs->rstd_out, R);
	arena_want(ap, &bs->anb, R * d);
	if (m->training) {
		for (int s = 0; s < m->S; s++)
			for (int j = 0; j < bs->nb; j++) {
				for (int k = 0; k < md - 1; k++)
					arena_want(ap, &bs->head_h[(s * bs->nb + j) * (md - 1) + k],
						   N * bs->hid);
				arena_want(ap, &bs->head_g[s * bs->nb + j], N * 2 * band_w2(m, bs, j));
			}
	} else {
		for (int k = 0; k < 2 && k < md - 1; k++)
			arena_want(ap, &bs->head_h[k], N * bs->hid);
		arena_want(ap, &bs->head_g[0], N * 2 * bs->max_w2);
	}
	arena_want(ap, &bs->mask, spec * m->S);
	arena_want(ap, &m->yspec, spec * m->S);
	if (!m->training)
		return;
	arena_want(ap, &m->dyspec, spec * m->S);
	arena_want(ap, &bs->dz, R * d);
	arena_want(ap, &bs->dz2, R * d);
	arena_want(ap, &bs->dan, R * d);
	arena_want(ap, &bs->dh[0], N * bs->hid);
	arena_want(ap, &bs->dh[1], N * bs->hid);
	arena_want(ap, &bs->dglu, N * 2 * bs->max_w2);
	arena_want(ap, &bs->dbn, N * bs->max_w2);
	arena_want(ap, &bs->dfeat, N * bs->max_w2);
}

static void bsroformer_point(struct model *m, void *state)
{
	struct bsroformer *bs = state;
	bs_point_params(m, bs, m->w, &bs->p);
	if (m->grads)
		bs_point_params(m, bs, m->grads, &bs->g);
}

static void *bsroformer_create(struct model *m)
{
	const struct config *c = &m->cfg;
	const struct backend *be = m->be;
	struct bsroformer *bs = xcalloc(1, sizeof *bs);
	int md = c->mask_depth;
	bs->d = c->emb_dim;
	bs->hid = HEAD_EXPANSION * bs->d;
	bs->nb = config_bands(c, bs->starts);
	bs->n_blocks = c->n_layers * (c->time_depth + c->freq_depth);
	for (int j = 0; j < bs->nb; j++)
		bs->max_w2 = band_w2(m, bs, j) > bs->max_w2 ? band_w2(m, bs, j) : bs->max_w2;
	bs->shape = (struct block_shape){ .d = bs->d, .A = c->attention_dim, .h = c->n_heads,
		.n_ffn = 1, .hidden = c->ffn_hidden_dim, .gates = true,
		.eps = RMSNORM_EPS_NORMALIZE };
	int n_heads = m->S * bs->nb * md;
	for (struct bs_params *p = &bs->p; p <= &bs->g; p++) {
		p->blocks = xcalloc(bs->n_blocks, sizeof *p->blocks);
		p->head_w = xcalloc(n_heads, sizeof *p->head_w);
		p->head_b = xcalloc(n_heads, sizeof *p->head_b);
	}
	bsroformer_point(m, bs);

	bs->acts = xcalloc(bs->n_blocks, sizeof *bs->acts);
	bs->head_h = xcalloc((size_t)m->S * bs->nb * md + 2, sizeof *bs->head_h);
	bs->head_g = xcalloc((size_t)m->S * bs->nb, sizeof *bs->head_g);
	struct arena_plan ap = { 0 };
	bs_plan_arena(m, bs, &ap);
	bs->arena = arena_alloc(&ap, be, m->training);
	if (m->training) {
		bs->dmask = bs->mask;	// the mask is not needed by backward
	} else {
		// one set of block activations serves every block, updated in place
		block_acts_in_place(&bs->shape, &bs->acts[0]);
		bs->z_out = bs->acts[0].z_in;
		for (int i = 1; i < bs->n_blocks; i++)
			bs->acts[i] = bs->acts[0];
	}
	bs->bands = be->alloc(sizeof bs->starts);
	be->upload(bs->bands, bs->starts, sizeof bs->starts);

	// positions: frames along time, band indices along the bands
	int positions = m->max_frames > bs->nb ? m->max_frames : bs->nb;
	bs->rope = rope_upload(be, positions, c->attention_dim / c->n_heads);
	return bs;
}

static void bsroformer_free(struct model *m, void *state)
{
	struct bsroformer *bs = state;
	m->be->free(bs->arena);
	m->be->free(bs->rope);
	m->be->free(bs->bands);
	for (struct bs_params *p = &bs->p; p <= &bs->g; p++) {
		free(p->blocks);
		free(p->head_w);
		free(p->head_b);
	}
	free(bs->acts);
	free(bs->head_h);
	free(bs->head_g);
	free(bs);
}

/* ---- forward ---- */

static void bsroformer_forward(struct model *m, void *state, int B, int T)
{
	const struct config *c = &m->cfg;
	const struct backend *be = m->be;
	struct bsroformer *bs = state;
	const struct bs_params *P = &bs->p;
	int d = bs->d, nb = bs->nb, N = B * T, R = N * nb, md = c->mask_depth;
	size_t spec = (size_t)N * m->Din;	// a stem's floats

	// band split: (nb, N, d)
	be->band_features(bs->feat, m->x, bs->bands, nb, B, m->C, m->F, T);
	for (int j = 0; j < nb; j++) {
		size_t off = (size_t)N * 2 * m->C * bs->starts[j];
		int w2 = band_w2(m, bs, j);
		be->rmsnorm_forward(bs->bn + off, bs->brstd + (size_t)j * N, bs->feat + off,
				    P->band_norm[j], N, w2, RMSNORM_EPS_NORMALIZE);
		be->linear_forward(bs->hb + (size_t)j * N * d, bs->bn + off, P->band_w[j], P->band_b[j],
				   N, w2, d);
	}
	// (nb, B, T·d) → time layout (B, nb, T, d)
	be->axis_swap(bs->acts[0].z_in, bs->hb, 1, nb, B, T * d);

	int k = 0;
	for (int l = 0; l < c->n_layers; l++) {
		for (int i = 0; i < c->time_depth; i++, k++) {
			real *out = i + 1 < c->time_depth ? bs->acts[k + 1].z_in : bs->turn;
			block_forward(m, &bs->shape, &P->blocks[k], &bs->acts[k], &bs->sc, out, bs->rope,
				      B * nb, T, k);
		}
		be->axis_swap(bs->acts[k].z_in, bs->turn, B, nb, T, d);	// → band layout
		for (int i = 0; i < c->freq_depth; i++, k++) {
			real *out = i + 1 < c->freq_depth ? bs->acts[k + 1].z_in
				  : l + 1 < c->n_layers ? bs->turn : bs->z_out;
			block_forward(m, &bs->shape, &P->blocks[k], &bs->acts[k], &bs->sc, out, bs->rope,
				      N, nb, k);
		}
		if (l + 1 < c->n_layers)	// → time layout
			be->axis_swap(bs->acts[k].z_in, bs->turn, B, T, nb, d);
	}

	be->rmsnorm_forward(bs->an, bs->rstd_out, bs->z_out, P->final_norm, R, d,
			    RMSNORM_EPS_NORMALIZE);
	be->axis_swap(bs->anb, bs->an, 1, N, nb, d);	// → band-major
	for (int s = 0; s < m->S; s++)
		for (int j = 0; j < nb; j++) {
			int w2 = band_w2(m, bs, j), h = (s * nb + j) * md;
			const real *in = bs->anb + (size_t)j * N * d;
			int width = d;
			for (int q = 0; q < md - 1; q++) {
				real *hq = head_hidden(m, bs, s, j, q);
				be->linear_forward(hq, in, P->head_w[h + q], P->head_b[h + q], N, width,
						   bs->hid);
				be->tanh_forward(hq, hq, (size_t)N * bs->hid);
				in = hq;
				width = bs->hid;
			}
			real *g = head_glu_in(m, bs, s, j);
			be->linear_forward(g, in, P->head_w[h + md - 1], P->head_b[h + md - 1], N, width,
					   2 * w2);
			be->glu_forward(bs->mask + s * spec + (size_t)N * 2 * m->C * bs->starts[j], g, N,
					w2);
		}
	be->band_mask_forward(m->yspec, bs->mask, m->x, bs->bands, nb, B, m->S, m->C, m->F, T);
}

/* ---- backward ---- */

static void trade(real **a, real **b)
{
	real *t = *a;
	*a = *b;
	*b = t;
}

static void bsroformer_backward(struct model *m, void *state)
{
	const struct config *c = &m->cfg;
	const struct backend *be = m->be;
	struct bsroformer *bs = state;
	const struct bs_params *P = &bs->p, *G = &bs->g;
	int B = m->B, T = m->T, d = bs->d, nb = bs->nb, N = B * T, R = N * nb;
	int md = c->mask_depth, hid = bs->hid;
	size_t spec = (size_t)N * m->Din;

	be->band_mask_backward(bs->dmask, m->dyspec, m->x, bs->bands, nb, B, m->S, m->C, m->F, T);
	// the mask heads, into dan (nb, N, d)
	zero_floats(be, bs->dan, (size_t)R * d);
	for (int s = 0; s < m->S; s++)
		for (int j = 0; j < nb; j++) {
			int w2 = band_w2(m, bs, j), h = (s * nb + j) * md;
			const real *anb = bs->anb + (size_t)j * N * d;
			real *dan = bs->dan + (size_t)j * N * d;
			zero_floats(be, bs->dglu, (size_t)N * 2 * w2);
			be->glu_backward(bs->dglu, bs->dmask + s * spec + (size_t)N * 2 * m->C * bs->starts[j],
					 head_glu_in(m, bs, s, j), N, w2);
			const real *in = md > 1 ? head_hidden(m, bs, s, j, md - 2) : anb;
			real *din = md > 1 ? bs->dh[0] : dan;
			if (md > 1)
				zero_floats(be, din, (size_t)N * hid);
			be->linear_backward(din, G->head_w[h + md - 1], G->head_b[h + md - 1], bs->dglu, in,
					    P->head_w[h + md - 1], N, md > 1 ? hid : d, 2 * w2);
			for (int q = md - 2; q >= 0; q--) {
				// dh[0]: ∂/∂(hidden layer q after tanh)
				zero_floats(be, bs->dh[1], (size_t)N * hid);
				be->tanh_backward(bs->dh[1], bs->dh[0], head_hidden(m, bs, s, j, q),
						  (size_t)N * hid);
				in = q ? head_hidden(m, bs, s, j, q - 1) : anb;
				din = q ? bs->dh[0] : dan;
				if (q)
					zero_floats(be, din, (size_t)N * hid);
				be->linear_backward(din, G->head_w[h + q], G->head_b[h + q], bs->dh[1], in,
						    P->head_w[h + q], N, q ? hid : d, hid);
			}
		}
	// final norm, in band layout
	real *dz = bs->dz, *dz2 = bs->dz2;	// an axis swap writes dz2, then they trade places
	be->axis_swap(dz2, bs->dan, 1, nb, N, d);
	zero_floats(be, dz, (size_t)R * d);
	be->rmsnorm_backward(dz, G->final_norm, dz2, bs->z_out, P->final_norm, bs->rstd_out, R, d);
	model_grads_ready(m, G->final_norm);

	int k = bs->n_blocks;
	for (int l = c->n_layers - 1; l >= 0; l--) {
		if (l + 1 < c->n_layers) {	// the turn to time layout after this layer
			be->axis_swap(dz2, dz, B, nb, T, d);
			trade(&dz, &dz2);
		}
		for (int i = c->freq_depth - 1; i >= 0; i--) {
			k--;
			block_backward(m, &bs->shape, &P->blocks[k], &G->blocks[k], &bs->acts[k], &bs->sc,
				       dz, bs->rope, N, nb, k);
		}
		be->axis_swap(dz2, dz, B, T, nb, d);	// the turn to band layout
		trade(&dz, &dz2);
		for (int i = c->time_depth - 1; i >= 0; i--) {
			k--;
			block_backward(m, &bs->shape, &P->blocks[k], &G->blocks[k], &bs->acts[k], &bs->sc,
				       dz, bs->rope, B * nb, T, k);
		}
		model_grads_ready(m, G->blocks[k].attn_norm);
	}

	// band split: time layout (B, nb, T·d) → (nb, B, T·d)
	be->axis_swap(dz2, dz, 1, B, nb, T * d);
	for (int j = 0; j < nb; j++) {
		size_t off = (size_t)N * 2 * m->C * bs->starts[j];
		int w2 = band_w2(m, bs, j);
		zero_floats(be, bs->dbn, (size_t)N * w2);
		be->linear_backward(bs->dbn, G->band_w[j], G->band_b[j], dz2 + (size_t)j * N * d,
				    bs->bn + off, P->band_w[j], N, w2, d);
		// ∂/∂features is not needed (the input is data): dfeat is scratch
		be->rmsnorm_backward(bs->dfeat, G->band_norm[j], bs->dbn, bs->feat + off,
				     P->band_norm[j], bs->brstd + (size_t)j * N, N, w2);
	}
}

const struct arch arch_bsroformer = {
	.name = "bsroformer",
	.tensors = bsroformer_tensors,
	.create = bsroformer_create,
	.free = bsroformer_free,
	.point = bsroformer_point,
	.init = bsroformer_init,
	.forward = bsroformer_forward,
	.backward = bsroformer_backward,
};
