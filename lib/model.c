/* model.c: the separation transformer of DESIGN §4 on the CPU: parameter
 * table, activation arena, init, forward, backward, chunked inference.
 *
 * Layouts.  A spectrogram is (C, F, T) complex with frames last, as in the
 * stream.  The features and the mask head are kept "frames last" too:
 * feat (B, 2CF, T) is the input reshuffled, and the head computes
 * mask_b (S·2·C·F, T) = W_out · an_bᵀ, so applying the mask to X and going
 * back to spectrograms are contiguous loops.  The blocks work on rows
 * (B·T, width). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "chunk.h"
#include "model.h"
#include "rng.h"
#include "util.h"

#define INIT_STD 0.02
#define SIGMA_EPS 1e-5

static int model_thread_num(void)
{
#ifdef _OPENMP
	return omp_get_thread_num();
#else
	return 0;
#endif
}

static int model_max_threads(void)
{
#ifdef _OPENMP
	return omp_get_max_threads();
#else
	return 1;
#endif
}

/* ---- parameter layout ---- */

struct layout {
	struct model *m;
	real *base;	/* NULL: only count and record the table */
	size_t off;
	bool record;
};

static real *layout_add(struct layout *lt, int ndim, int64_t d0, int64_t d1, const char *fmt, ...)
{
	char name[128];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(name, sizeof name, fmt, ap);
	va_end(ap);
	size_t numel = ndim == 1 ? (size_t)d0 : (size_t)d0 * d1;
	if (lt->record) {
		struct model *m = lt->m;
		m->tensors = xrealloc(m->tensors, (m->n_tensors + 1) * sizeof *m->tensors);
		struct safetensors_view *v = &m->tensors[m->n_tensors++];
		memset(v, 0, sizeof *v);
		v->name = xstrdup(name);
		v->ndim = ndim;
		v->shape[0] = d0;
		v->shape[1] = d1;
		v->offset = lt->off;
	}
	real *p = lt->base ? lt->base + lt->off : NULL;
	lt->off += numel;
	return p;
}

/* Walks the DESIGN §8 tensors in buffer order: records the table, or points
 * p into base.  attn.wq, wk, wv are consecutive so that one GEMM makes q, k
 * and v. */
static size_t model_layout(struct model *m, real *base, struct model_params *p, bool record)
{
	struct layout lt = { m, base, 0, record };
	const struct config *c = &m->cfg;
	int d = m->d, A = m->A;
	p->in_w = layout_add(&lt, 2, d, m->Din, "in.weight");
	p->in_b = layout_add(&lt, 1, d, 0, "in.bias");
	for (int l = 0; l < c->n_layers; l++) {
		struct block_params *bp = &p->blocks[l];
		bp->attn_norm = layout_add(&lt, 1, d, 0, "blocks.%d.attn_norm.weight", l);
		bp->wqkv = layout_add(&lt, 2, A, d, "blocks.%d.attn.wq.weight", l);
		layout_add(&lt, 2, A, d, "blocks.%d.attn.wk.weight", l);
		layout_add(&lt, 2, A, d, "blocks.%d.attn.wv.weight", l);
		bp->wo = layout_add(&lt, 2, d, A, "blocks.%d.attn.wo.weight", l);
		bp->bo = layout_add(&lt, 1, d, 0, "blocks.%d.attn.wo.bias", l);
		bp->ffn_norm = layout_add(&lt, 1, d, 0, "blocks.%d.ffn_norm.weight", l);
		int in = d;
		for (int j = 0; j <= c->n_ffn; j++) {
			int out = j < c->n_ffn ? c->ffn_hidden_dim[j] : d;
			bp->ffn_w[j] = layout_add(&lt, 2, out, in, "blocks.%d.ffn.%d.weight", l, j);
			bp->ffn_b[j] = layout_add(&lt, 1, out, 0, "blocks.%d.ffn.%d.bias", l, j);
			in = out;
		}
	}
	p->out_norm = layout_add(&lt, 1, d, 0, "out_norm.weight");
	p->out_w = layout_add(&lt, 2, m->Dout, d, "out.weight");
	p->out_b = layout_add(&lt, 1, m->Dout, 0, "out.bias");
	return lt.off;
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

static void *host_arena(size_t bytes)
{
	void *base = NULL;
	if (posix_memalign(&base, 64, bytes))
		die("out of memory for %zu MB of activations", bytes >> 20);
	return base;
}

/* One block of alloc(bytes) (64-byte aligned) holding every request. */
static real *arena_alloc(struct arena_plan *ap, void *(*alloc)(size_t))
{
	size_t total = 0;
	for (int i = 0; i < ap->n; i++)
		total += ap->req[i].n;
	real *base = alloc(total * sizeof(real) + 64);
	size_t off = 0;
	for (int i = 0; i < ap->n; i++) {
		*ap->req[i].ptr = base + off;
		off += ap->req[i].n;
	}
	free(ap->req);
	return base;
}

static void model_plan_arena(struct model *m, struct arena_plan *ap)
{
	struct model_acts *a = &m->acts;
	const struct config *c = &m->cfg;
	size_t rows = (size_t)m->max_batch * m->max_frames, d = m->d;
	size_t spec = (size_t)m->max_batch * m->C * m->F * m->max_frames * 2;
	size_t wave = (size_t)m->max_batch * m->S * m->C * m->max_samples;
	int max_hidden = 1;
	for (int j = 0; j < c->n_ffn; j++)
		max_hidden = c->ffn_hidden_dim[j] > max_hidden ? c->ffn_hidden_dim[j] : max_hidden;

	arena_want(ap, &a->x, spec);
	arena_want(ap, &a->sigma, m->max_batch);
	arena_want(ap, &a->feat, spec);
	arena_want(ap, &m->branch, rows * d);
	int n_sets = m->training ? c->n_layers : 1;
	for (int l = 0; l < n_sets; l++) {
		struct block_acts *ba = &a->blocks[l];
		arena_want(ap, &ba->z_in, rows * d);
		arena_want(ap, &ba->a1, rows * d);
		arena_want(ap, &ba->rstd1, rows);
		arena_want(ap, &ba->qkv, rows * 3 * m->A);
		arena_want(ap, &ba->att, rows * m->A);
		arena_want(ap, &ba->lse, (size_t)m->max_batch * m->n_heads * m->max_frames);
		if (m->training)
			arena_want(ap, &ba->z_mid, rows * d);
		arena_want(ap, &ba->a2, rows * d);
		arena_want(ap, &ba->rstd2, rows);
		for (int j = 0; j < c->n_ffn; j++) {
			arena_want(ap, &ba->ffn_pre[j], rows * c->ffn_hidden_dim[j]);
			arena_want(ap, &ba->ffn_act[j], rows * c->ffn_hidden_dim[j]);
		}
	}
	if (m->training)
		arena_want(ap, &a->z_out, rows * d);
	arena_want(ap, &a->an, rows * d);
	arena_want(ap, &a->rstd_out, rows);
	arena_want(ap, &a->mask, rows * m->Dout);
	arena_want(ap, &a->yspec, spec * m->S);
	if (!m->training)
		return;
	arena_want(ap, &a->ywave, wave);
	arena_want(ap, &a->dyspec, spec * m->S);
	arena_want(ap, &a->dywave, wave);
	arena_want(ap, &a->dz, rows * d);
	arena_want(ap, &a->dbranch, rows * d);
	arena_want(ap, &a->da, rows * d);
	arena_want(ap, &a->dqkv, rows * 3 * m->A);
	arena_want(ap, &a->datt, rows * m->A);
	arena_want(ap, &a->dhidden[0], rows * max_hidden);
	arena_want(ap, &a->dhidden[1], rows * max_hidden);
}

/* At inference one set of block activations serves every layer and the
 * residual stream is updated in place. */
static void model_alias_inference(struct model *m)
{
	struct model_acts *a = &m->acts;
	a->blocks[0].z_mid = a->blocks[0].z_in;
	a->z_out = a->blocks[0].z_in;
	for (int l = 1; l < m->cfg.n_layers; l++)
		a->blocks[l] = a->blocks[0];
}

void model_params_views(const struct model *m, real *base, struct model_params *p)
{
	struct model sh = *m;	// model_layout records nothing and only reads sizes
	p->blocks = xcalloc(m->cfg.n_layers, sizeof *p->blocks);
	model_layout(&sh, base, p, false);
}

real *model_acts_alloc(const struct model *m, int B, int T, bool training,
		       struct model_acts *acts, real **branch, void *(*alloc)(size_t))
{
	// a shadow of m with the sizes asked for plans the arena as model_create does
	struct model sh = *m;
	sh.max_batch = B;
	sh.max_frames = T;
	sh.max_samples = (int64_t)T * m->cfg.hop_length;
	sh.training = training;
	sh.acts = (struct model_acts){ .blocks = acts->blocks };
	memset(sh.acts.blocks, 0, m->cfg.n_layers * sizeof *sh.acts.blocks);
	struct arena_plan ap = { 0 };
	model_plan_arena(&sh, &ap);
	real *base = arena_alloc(&ap, alloc);
	if (training)
		sh.acts.dmask = sh.acts.mask;
	else
		model_alias_inference(&sh);
	*acts = sh.acts;
	*branch = sh.branch;
	return base;
}

struct model *model_create(const struct config *cfg, int max_batch, int max_frames, bool training)
{
	struct model *m = xcalloc(1, sizeof *m);
	m->cfg = *cfg;
	m->C = cfg->channels;
	m->F = cfg->n_fft / 2 + 1;
	m->S = cfg->n_sources;
	m->d = cfg->emb_dim;
	m->A = cfg->attention_dim;
	m->n_heads = cfg->n_heads;
	m->Din = 2 * m->C * m->F;
	m->Dout = m->S * 2 * m->C * m->F;
	m->max_batch = max_batch;
	m->max_frames = max_frames;
	m->max_samples = (int64_t)max_frames * cfg->hop_length;
	m->training = training;
	m->dropout_active = training;
	if (max_batch < 1 || max_frames < 1)
		die("model_create: batch %d and frames %d must be positive", max_batch, max_frames);

	m->p.blocks = xcalloc(cfg->n_layers, sizeof *m->p.blocks);
	m->g.blocks = xcalloc(cfg->n_layers, sizeof *m->g.blocks);
	m->n_params = model_layout(m, NULL, &m->p, true);
	m->params = xcalloc(m->n_params, sizeof(real));
	model_layout(m, m->params, &m->p, false);
	if (training) {
		m->grads = xcalloc(m->n_params, sizeof(real));
		model_layout(m, m->grads, &m->g, false);
	}

	m->acts.blocks = xcalloc(cfg->n_layers, sizeof *m->acts.blocks);
	struct arena_plan ap = { 0 };
	model_plan_arena(m, &ap);
	m->arena = arena_alloc(&ap, host_arena);
	// training: block l writes its output into block l+1's z_in (the last
	// into z_out); the mask is not needed by backward, so its gradient
	// takes its place
	if (training)
		m->acts.dmask = m->acts.mask;
	else
		model_alias_inference(m);
	m->rope = xmalloc((size_t)max_frames * (m->A / m->n_heads) * sizeof(real));
	rope_table(m->rope, max_frames, m->A / m->n_heads);
	m->n_threads = model_max_threads();
	blas_init_threads();
	m->spectral = spectral_create(cfg->n_fft, cfg->hop_length, m->n_threads);
	return m;
}

void model_free(struct model *m)
{
	if (!m)
		return;
	for (int i = 0; i < m->n_tensors; i++)
		free((char *)m->tensors[i].name);
	free(m->tensors);
	free(m->params);
	free(m->grads);
	free(m->p.blocks);
	free(m->g.blocks);
	free(m->acts.blocks);
	free(m->arena);
	free(m->rope);
	spectral_free(m->spectral);
	free(m);
}

int model_segment_frames(const struct config *cfg)
{
	return (int)(1 + cfg->segment_length / cfg->hop_length);
}

static bool name_ends(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcmp(s + n - k, suffix) == 0;
}

void model_init(struct model *m, uint64_t seed)
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
	for (int s = 0; s < m->S; s++)
		for (int i = 0; i < m->C * m->F; i++)
			m->p.out_b[(size_t)s * 2 * m->C * m->F + i] = (real)1 / m->S;
}

/* ---- features, mask ---- */

void features_forward(real *feat, real *sigma, const real *x, int B, int C, int F, int T)
{
	// feat is (B, 2CF, T): row (p·C + c)·F + f is Re (p = 0) or Im (p = 1) of
	// x[b, c, f, :] divided by σ_b = sqrt(mean |x_b|²) + 1e-5; x is (B, C, F, T) complex
	size_t ex = (size_t)C * F * T;
	for (int b = 0; b < B; b++) {
		const real *xb = x + b * ex * 2;
		double ss = 0;
		for (size_t i = 0; i < 2 * ex; i++)
			ss += (double)xb[i] * xb[i];
		sigma[b] = (real)(sqrt(ss / ex) + SIGMA_EPS);
		real inv = 1 / sigma[b];
		real *fb = feat + b * ex * 2;
		#pragma omp parallel for
		for (int cf = 0; cf < C * F; cf++)
			for (int t = 0; t < T; t++) {
				fb[(size_t)cf * T + t] = xb[((size_t)cf * T + t) * 2] * inv;
				fb[((size_t)C * F + cf) * T + t] = xb[((size_t)cf * T + t) * 2 + 1] * inv;
			}
	}
}

void mask_forward(real *yspec, const real *mask, const real *x, int B, int S, int C, int F,
			 int T)
{
	// yspec is (B, S, C, F, T) complex; mask is (B, S·2·C·F, T), row (s·2 + p)·C·F + c·F + f;
	// x is (B, C, F, T) complex.  Ŷ_s = (m_re + i m_im) · X
	size_t CF = (size_t)C * F;
	#pragma omp parallel for collapse(2)
	for (int b = 0; b < B; b++)
		for (int s = 0; s < S; s++)
			for (size_t cf = 0; cf < CF; cf++) {
				const real *mr = mask + ((size_t)b * S * 2 * CF + (2 * s) * CF + cf) * T;
				const real *mi = mr + CF * T;
				const real *xx = x + ((size_t)b * CF + cf) * T * 2;
				real *y = yspec + (((size_t)b * S + s) * CF + cf) * T * 2;
				for (int t = 0; t < T; t++) {
					real xr = xx[2 * t], xi = xx[2 * t + 1];
					y[2 * t] = mr[t] * xr - mi[t] * xi;
					y[2 * t + 1] = mr[t] * xi + mi[t] * xr;
				}
			}
}

void mask_backward(real *dmask, const real *dyspec, const real *x, int B, int S, int C,
		   int F, int T)
{
	// dmask is overwritten (it aliases mask): dm_re = dY_re x_re + dY_im x_im,
	// dm_im = −dY_re x_im + dY_im x_re
	size_t CF = (size_t)C * F;
	#pragma omp parallel for collapse(2)
	for (int b = 0; b < B; b++)
		for (int s = 0; s < S; s++)
			for (size_t cf = 0; cf < CF; cf++) {
				real *mr = dmask + ((size_t)b * S * 2 * CF + (2 * s) * CF + cf) * T;
				real *mi = mr + CF * T;
				const real *xx = x + ((size_t)b * CF + cf) * T * 2;
				const real *dy = dyspec + (((size_t)b * S + s) * CF + cf) * T * 2;
				for (int t = 0; t < T; t++) {
					real xr = xx[2 * t], xi = xx[2 * t + 1];
					mr[t] = dy[2 * t] * xr + dy[2 * t + 1] * xi;
					mi[t] = -dy[2 * t] * xi + dy[2 * t + 1] * xr;
				}
			}
}

/* ---- forward ---- */

static uint64_t dropout_stream(const struct model *m, int layer, int site)
{
	return (m->step << 16) | ((uint64_t)layer << 1) | (uint64_t)site;
}

static float model_dropout(const struct model *m)
{
	return m->dropout_active ? m->cfg.dropout : 0;
}

void model_forward(struct model *m, const real *x, int B, int T)
{
	if (B < 1 || B > m->max_batch || T < 1 || T > m->max_frames)
		die("model_forward: batch %d × %d frames exceeds the model's %d × %d", B, T,
		    m->max_batch, m->max_frames);
	const struct config *c = &m->cfg;
	struct model_acts *a = &m->acts;
	int d = m->d, A = m->A, h = m->n_heads, N = B * T;
	size_t spec = (size_t)m->C * m->F * T * 2;	// floats per example
	float p = model_dropout(m);
	m->B = B;
	m->T = T;

	memcpy(a->x, x, B * spec * sizeof(real));
	features_forward(a->feat, a->sigma, a->x, B, m->C, m->F, T);
	// z_b (T, d) = feat_bᵀ (T, Din) · W_inᵀ + b_in
	real *z = a->blocks[0].z_in;
	for (int n = 0; n < N; n++)
		memcpy(z + (size_t)n * d, m->p.in_b, d * sizeof(real));
	for (int b = 0; b < B; b++)
		blas_gemm(true, true, T, d, m->Din, 1, a->feat + b * spec, T, m->p.in_w, m->Din, 1,
			  z + (size_t)b * T * d, d);

	for (int l = 0; l < c->n_layers; l++) {
		struct block_acts *ba = &a->blocks[l];
		struct block_params *bp = &m->p.blocks[l];
		real *z_out = l + 1 < c->n_layers ? a->blocks[l + 1].z_in : a->z_out;
		rmsnorm_forward(ba->a1, ba->rstd1, ba->z_in, bp->attn_norm, N, d);
		linear_forward(ba->qkv, ba->a1, bp->wqkv, NULL, N, d, 3 * A);
		rope_forward(ba->qkv, m->rope, B, T, A, h);
		attention_forward(ba->att, ba->lse, ba->qkv, B, T, A, h);
		linear_forward(m->branch, ba->att, bp->wo, bp->bo, N, A, d);
		residual_forward(ba->z_mid, ba->z_in, m->branch, (size_t)N * d, p, c->seed,
				 dropout_stream(m, l, 0));
		rmsnorm_forward(ba->a2, ba->rstd2, ba->z_mid, bp->ffn_norm, N, d);
		const real *hin = ba->a2;
		int width = d;
		for (int j = 0; j < c->n_ffn; j++) {
			int hid = c->ffn_hidden_dim[j];
			linear_forward(ba->ffn_pre[j], hin, bp->ffn_w[j], bp->ffn_b[j], N, width, hid);
			gelu_forward(ba->ffn_act[j], ba->ffn_pre[j], (size_t)N * hid);
			hin = ba->ffn_act[j];
			width = hid;
		}
		linear_forward(m->branch, hin, bp->ffn_w[c->n_ffn], bp->ffn_b[c->n_ffn], N, width, d);
		residual_forward(z_out, ba->z_mid, m->branch, (size_t)N * d, p, c->seed,
				 dropout_stream(m, l, 1));
	}

	rmsnorm_forward(a->an, a->rstd_out, a->z_out, m->p.out_norm, N, d);
	// mask_b (Dout, T) = W_out (Dout, d) · an_bᵀ (d, T) + b_out
	for (int b = 0; b < B; b++) {
		real *mb = a->mask + (size_t)b * m->Dout * T;
		#pragma omp parallel for
		for (int r = 0; r < m->Dout; r++)
			for (int t = 0; t < T; t++)
				mb[(size_t)r * T + t] = m->p.out_b[r];
		blas_gemm(false, true, m->Dout, T, d, 1, m->p.out_w, d, a->an + (size_t)b * T * d, d,
			  1, mb, T);
	}
	mask_forward(a->yspec, a->mask, a->x, B, m->S, m->C, m->F, T);
}

void model_waveforms(struct model *m, int64_t n)
{
	if (!m->training)
		die("model_waveforms: the model was created for inference");
	if (n > m->max_samples || 1 + n / m->cfg.hop_length != m->T)
		die("model_waveforms: %lld samples do not match %d frames", (long long)n, m->T);
	int rows = m->B * m->S * m->C;
	size_t spec = (size_t)m->F * m->T * 2;
	m->N = n;
	#pragma omp parallel for schedule(dynamic)
	for (int r = 0; r < rows; r++)
		spectral_istft(m->spectral, model_thread_num(), m->acts.ywave + (size_t)r * n,
			       m->acts.yspec + r * spec, m->T, n);
}

void model_mixture_spectrogram(struct model *m, real *x, const real *stems, int B, int64_t n)
{
	// x is (B, C, F, T) complex; stems is (B, S, C, n)
	int64_t T = 1 + n / m->cfg.hop_length;
	size_t spec = (size_t)m->F * T * 2;
	#pragma omp parallel
	{
		real *mix = xmalloc(n * sizeof(real));
		#pragma omp for schedule(dynamic)
		for (int bc = 0; bc < B * m->C; bc++) {
			int b = bc / m->C, ch = bc % m->C;
			memset(mix, 0, n * sizeof(real));
			for (int s = 0; s < m->S; s++) {
				const real *y = stems + (((size_t)b * m->S + s) * m->C + ch) * n;
				for (int64_t i = 0; i < n; i++)
					mix[i] += y[i];
			}
			spectral_stft(m->spectral, model_thread_num(), x + bc * spec, mix, n);
		}
		free(mix);
	}
}

/* ---- backward ---- */

static void zero(real *p, size_t n)
{
	memset(p, 0, n * sizeof(real));
}

void model_zero_grad(struct model *m)
{
	if (m->grads)
		zero(m->grads, m->n_params);
}

void model_backward(struct model *m)
{
	if (!m->training)
		die("model_backward: the model was created for inference");
	const struct config *c = &m->cfg;
	struct model_acts *a = &m->acts;
	int B = m->B, T = m->T, d = m->d, A = m->A, h = m->n_heads, N = B * T;
	float p = model_dropout(m);

	mask_backward(a->dmask, a->dyspec, a->x, B, m->S, m->C, m->F, T);
	// head: mask_b = W_out an_bᵀ + b_out
	zero(a->da, (size_t)N * d);
	for (int b = 0; b < B; b++) {
		const real *dmb = a->dmask + (size_t)b * m->Dout * T;
		blas_gemm(false, false, m->Dout, d, T, 1, dmb, T, a->an + (size_t)b * T * d, d, 1,
			  m->g.out_w, d);
		blas_gemm(true, false, T, d, m->Dout, 1, dmb, T, m->p.out_w, d, 1,
			  a->da + (size_t)b * T * d, d);
		#pragma omp parallel for
		for (int r = 0; r < m->Dout; r++) {
			real s = 0;
			for (int t = 0; t < T; t++)
				s += dmb[(size_t)r * T + t];
			m->g.out_b[r] += s;
		}
	}
	zero(a->dz, (size_t)N * d);
	rmsnorm_backward(a->dz, m->g.out_norm, a->da, a->z_out, m->p.out_norm, a->rstd_out, N, d);

	for (int l = c->n_layers - 1; l >= 0; l--) {
		struct block_acts *ba = &a->blocks[l];
		struct block_params *bp = &m->p.blocks[l], *bg = &m->g.blocks[l];
		// FFN sublayer: z_out = z_mid + Dropout(FFN(ffn_norm(z_mid)))
		zero(a->dbranch, (size_t)N * d);
		residual_backward(a->dbranch, a->dz, (size_t)N * d, p, c->seed, dropout_stream(m, l, 1));
		int nf = c->n_ffn;
		const real *hin = nf ? ba->ffn_act[nf - 1] : ba->a2;
		int width = nf ? c->ffn_hidden_dim[nf - 1] : d;
		real *dact = nf ? a->dhidden[0] : a->da, *dpre = a->dhidden[1];
		zero(dact, (size_t)N * width);
		linear_backward(dact, bg->ffn_w[nf], bg->ffn_b[nf], a->dbranch, hin, bp->ffn_w[nf],
				N, width, d);
		for (int j = nf - 1; j >= 0; j--) {
			int hid = c->ffn_hidden_dim[j];
			zero(dpre, (size_t)N * hid);
			gelu_backward(dpre, dact, ba->ffn_pre[j], (size_t)N * hid);
			hin = j ? ba->ffn_act[j - 1] : ba->a2;
			width = j ? c->ffn_hidden_dim[j - 1] : d;
			real *din = j ? a->dhidden[0] : a->da;
			zero(din, (size_t)N * width);
			linear_backward(din, bg->ffn_w[j], bg->ffn_b[j], dpre, hin, bp->ffn_w[j], N,
					width, hid);
			dact = din;
		}
		rmsnorm_backward(a->dz, bg->ffn_norm, a->da, ba->z_mid, bp->ffn_norm, ba->rstd2, N, d);

		// attention sublayer: z_mid = z_in + Dropout(W_o attention(rope(W_qkv attn_norm(z_in))))
		zero(a->dbranch, (size_t)N * d);
		residual_backward(a->dbranch, a->dz, (size_t)N * d, p, c->seed, dropout_stream(m, l, 0));
		zero(a->datt, (size_t)N * A);
		linear_backward(a->datt, bg->wo, bg->bo, a->dbranch, ba->att, bp->wo, N, A, d);
		zero(a->dqkv, (size_t)N * 3 * A);
		attention_backward(a->dqkv, a->datt, ba->qkv, ba->att, ba->lse, B, T, A, h);
		rope_backward(a->dqkv, m->rope, B, T, A, h);
		zero(a->da, (size_t)N * d);
		linear_backward(a->da, bg->wqkv, NULL, a->dqkv, ba->a1, bp->wqkv, N, d, 3 * A);
		rmsnorm_backward(a->dz, bg->attn_norm, a->da, ba->z_in, bp->attn_norm, ba->rstd1, N, d);
	}

	// input projection: dW_in += dz_bᵀ (d, T) · feat_bᵀ (T, Din); db_in += Σ rows dz
	size_t spec = (size_t)m->C * m->F * T * 2;
	for (int b = 0; b < B; b++)
		blas_gemm(true, true, d, m->Din, T, 1, a->dz + (size_t)b * T * d, d, a->feat + b * spec,
			  T, 1, m->g.in_w, m->Din);
	for (int n = 0; n < N; n++)
		for (int i = 0; i < d; i++)
			m->g.in_b[i] += a->dz[(size_t)n * d + i];
}

/* ---- chunked inference ---- */

#ifndef SEPNET_DOUBLE
/* chunk_gather / chunk_accumulate of segment s, rows split over threads
 * (each row is independent; they are memory-bound loops). */
static void separate_gather(real *seg, const real *x, const struct chunk_plan *plan, int64_t s,
			    int64_t rows)
{
	#pragma omp parallel for
	for (int64_t r0 = 0; r0 < rows; r0 += 64) {
		int64_t n = rows - r0 < 64 ? rows - r0 : 64;
		chunk_gather(seg + r0 * plan->L * 2, x + r0 * plan->T * 2, plan, s, n, 2);
	}
}

static void separate_accumulate(real *out, const real *seg, const struct chunk_plan *plan,
				int64_t s, int64_t rows)
{
	#pragma omp parallel for
	for (int64_t r0 = 0; r0 < rows; r0 += 64) {
		int64_t n = rows - r0 < 64 ? rows - r0 : 64;
		chunk_accumulate(out + r0 * plan->T * 2, seg + r0 * plan->L * 2, plan, s, n, 2);
	}
}

void model_separate(struct model *m, real *out, const real *x, int64_t T, double overlap)
{
	// out is (S, C, F, T) complex, x is (C, F, T) complex
	int64_t rows_in = (int64_t)m->C * m->F, rows_out = (int64_t)m->S * rows_in;
	memset(out, 0, rows_out * T * 2 * sizeof(real));
	if (T == 0)
		return;
	struct chunk_plan *plan = chunk_plan_create(T, m->max_frames, overlap);
	size_t seg_in = rows_in * plan->L * 2, seg_out = rows_out * plan->L * 2;
	real *segs = xmalloc(m->max_batch * seg_in * sizeof(real));
	for (int64_t s0 = 0; s0 < plan->n; s0 += m->max_batch) {
		int nb = plan->n - s0 < m->max_batch ? (int)(plan->n - s0) : m->max_batch;
		for (int i = 0; i < nb; i++)
			separate_gather(segs + i * seg_in, x, plan, s0 + i, rows_in);
		model_forward(m, segs, nb, (int)plan->L);
		for (int i = 0; i < nb; i++)
			separate_accumulate(out, m->acts.yspec + i * seg_out, plan, s0 + i, rows_out);
	}
	free(segs);
	chunk_plan_free(plan);
}
#endif
