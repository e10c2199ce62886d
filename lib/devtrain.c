/* devtrain.c: the training step through a backend's ops (devtrain.h).
 *
 * model_forward, loss_compute and model_backward of the model.c path,
 * restated over struct backend: every buffer is the backend's memory,
 * every op a table call, in the same order and with the same arguments,
 * with one exception: the mixture's spectrogram is the sum of the stems'
 * (which the spectral loss needs anyway) rather than the STFT of their
 * sum — equal but for rounding, and one FFT batch size throughout. */
#include "devtrain.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct devtrain {
	const struct backend *be;
	struct config cfg;
	int B, T, C, F, S, d, A, n_heads, Din, Dout;
	int64_t n;		/* samples per segment */
	size_t n_params;
	float *params, *grads, *opt_m, *opt_v, *ema;	/* (n_params) each, backend */
	struct model_params p, g;	/* views of params and grads */
	struct model_acts acts;	/* model.h's training arena, backend */
	float *branch, *arena;
	float *rope;		/* (T, head/2, 2) */
	float *stems;		/* (B, S, C, n) the micro-batch */
	float *target_spec;	/* (B, S, C, F, T) complex: STFT of the stems */
	struct backend_stft *stft;
	double *sisdr, *l1, *spec_l1;	/* host: (B·S), (B·S), (B·S·C) */
};

/* The arena's allocator: model_acts_alloc takes a plain function. */
static const struct backend *arena_backend;

static void *arena_alloc_backend(size_t bytes)
{
	return arena_backend->alloc(bytes);
}

static float *falloc(const struct backend *be, size_t floats)
{
	return be->alloc(floats * sizeof(float));
}

struct devtrain *devtrain_create(const struct model *m, const struct backend *be, bool with_ema)
{
	struct devtrain *dt = xcalloc(1, sizeof *dt);
	const struct config *c = &m->cfg;
	dt->be = be;
	dt->cfg = *c;
	dt->B = c->batch_size;
	dt->T = model_segment_frames(c);
	dt->n = c->segment_length;
	dt->C = m->C, dt->F = m->F, dt->S = m->S, dt->d = m->d, dt->A = m->A;
	dt->n_heads = m->n_heads, dt->Din = m->Din, dt->Dout = m->Dout;
	dt->n_params = m->n_params;
	be->set_precision(c->use_amp ? BACKEND_BF16 : c->tf32 ? BACKEND_TF32 : BACKEND_F32);

	size_t np = m->n_params;
	dt->params = falloc(be, np);
	dt->grads = falloc(be, np);
	dt->opt_m = falloc(be, np);
	dt->opt_v = falloc(be, np);
	be->upload(dt->params, m->params, np * sizeof(float));
	if (with_ema) {
		dt->ema = falloc(be, np);
		be->upload(dt->ema, m->params, np * sizeof(float));
	}
	model_params_views(m, dt->params, &dt->p);
	model_params_views(m, dt->grads, &dt->g);

	dt->acts.blocks = xcalloc(c->n_layers, sizeof *dt->acts.blocks);
	arena_backend = be;
	dt->arena = model_acts_alloc(m, dt->B, dt->T, true, &dt->acts, &dt->branch,
				     arena_alloc_backend);
	int hs = dt->A / dt->n_heads;
	float *rope = xmalloc((size_t)dt->T * hs * sizeof(float));
	rope_table(rope, dt->T, hs);
	dt->rope = falloc(be, (size_t)dt->T * hs);
	be->upload(dt->rope, rope, (size_t)dt->T * hs * sizeof(float));
	free(rope);

	size_t wave = (size_t)dt->B * dt->S * dt->C * dt->n;
	dt->stems = falloc(be, wave);
	dt->target_spec = falloc(be, (size_t)dt->B * dt->S * dt->C * dt->F * dt->T * 2);
	dt->stft = be->stft_create(c->n_fft, c->hop_length);
	dt->sisdr = xcalloc((size_t)dt->B * dt->S, sizeof(double));
	dt->l1 = xcalloc((size_t)dt->B * dt->S, sizeof(double));
	dt->spec_l1 = xcalloc((size_t)dt->B * dt->S * dt->C, sizeof(double));
	return dt;
}

void devtrain_free(struct devtrain *dt)
{
	if (!dt)
		return;
	const struct backend *be = dt->be;
	float *bufs[] = { dt->params, dt->grads, dt->opt_m, dt->opt_v, dt->ema, dt->arena,
			  dt->rope, dt->stems, dt->target_spec };
	for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
		if (bufs[i])
			be->free(bufs[i]);
	be->stft_free(dt->stft);
	free(dt->p.blocks);
	free(dt->g.blocks);
	free(dt->acts.blocks);
	free(dt->sisdr);
	free(dt->l1);
	free(dt->spec_l1);
	free(dt);
}

void devtrain_upload(struct devtrain *dt, const float *params, const float *opt_m,
		     const float *opt_v, const float *ema)
{
	size_t bytes = dt->n_params * sizeof(float);
	const float *src[] = { params, opt_m, opt_v, ema };
	float *dst[] = { dt->params, dt->opt_m, dt->opt_v, dt->ema };
	for (int i = 0; i < 4; i++)
		if (src[i] && dst[i])
			dt->be->upload(dst[i], src[i], bytes);
}

void devtrain_download(struct devtrain *dt, float *params, float *opt_m, float *opt_v,
		       float *ema)
{
	size_t bytes = dt->n_params * sizeof(float);
	const float *src[] = { dt->params, dt->opt_m, dt->opt_v, dt->ema };
	float *dst[] = { params, opt_m, opt_v, ema };
	for (int i = 0; i < 4; i++)
		if (src[i] && dst[i])
			dt->be->download(dst[i], src[i], bytes);
}

void devtrain_download_grads(struct devtrain *dt, float *grads)
{
	dt->be->download(grads, dt->grads, dt->n_params * sizeof(float));
}

void devtrain_zero_grad(struct devtrain *dt)
{
	dt->be->zero(dt->grads, dt->n_params * sizeof(float));
}

void devtrain_stage(struct devtrain *dt, const float *host)
{
	size_t bytes = (size_t)dt->B * dt->S * dt->C * dt->n * sizeof(float);
	dt->be->upload_async(dt->stems, host, bytes);
	dt->be->upload_fence();
}

/* ---- forward (model_forward) ---- */

static uint64_t dropout_stream(uint64_t micro, int layer, int site)
{
	return (micro << 16) | ((uint64_t)layer << 1) | (uint64_t)site;	// as model.c
}

static void devtrain_forward(struct devtrain *dt, uint64_t micro)
{
	const struct backend *be = dt->be;
	const struct config *c = &dt->cfg;
	struct model_acts *a = &dt->acts;
	int B = dt->B, T = dt->T, d = dt->d, A = dt->A, h = dt->n_heads, N = B * T;
	size_t spec = (size_t)dt->Din * T;	// floats per example
	float p = c->dropout;

	// the stems' spectrograms (the spectral loss's targets), and x = STFT(Σ_s
	// stems) as their sum: the STFT is linear, and one batch size keeps one
	// FFT plan (model_mixture_spectrogram transforms the mixture itself)
	if (be->stft_forward(dt->stft, dt->target_spec, dt->stems, (int64_t)B * dt->S * dt->C,
			     dt->n))
		die("devtrain: %lld samples are too few for n_fft %d", (long long)dt->n, c->n_fft);
	be->stem_mix(a->x, dt->target_spec, B, dt->S, dt->C, (int64_t)dt->F * T * 2);

	be->features_forward(a->feat, a->sigma, a->x, B, dt->C, dt->F, T);
	real *z = a->blocks[0].z_in;
	be->broadcast(z, dt->p.in_b, N, d, false);
	for (int b = 0; b < B; b++)
		be->gemm(true, true, T, d, dt->Din, 1, a->feat + b * spec, T, dt->p.in_w, dt->Din, 1,
			 z + (size_t)b * T * d, d);

	for (int l = 0; l < c->n_layers; l++) {
		struct block_acts *ba = &a->blocks[l];
		const struct block_params *bp = &dt->p.blocks[l];
		real *z_out = l + 1 < c->n_layers ? a->blocks[l + 1].z_in : a->z_out;
		be->rmsnorm_forward(ba->a1, ba->rstd1, ba->z_in, bp->attn_norm, N, d);
		be->linear_forward(ba->qkv, ba->a1, bp->wqkv, NULL, N, d, 3 * A);
		be->rope_forward(ba->qkv, dt->rope, B, T, A, h);
		be->attention_forward(ba->att, ba->lse, ba->qkv, B, T, A, h);
		be->linear_forward(dt->branch, ba->att, bp->wo, bp->bo, N, A, d);
		be->residual_dropout_forward(ba->z_mid, ba->z_in, dt->branch, (size_t)N * d, p,
					     c->seed, dropout_stream(micro, l, 0));
		be->rmsnorm_forward(ba->a2, ba->rstd2, ba->z_mid, bp->ffn_norm, N, d);
		const real *hin = ba->a2;
		int width = d;
		for (int j = 0; j < c->n_ffn; j++) {
			int hid = c->ffn_hidden_dim[j];
			be->linear_forward(ba->ffn_pre[j], hin, bp->ffn_w[j], bp->ffn_b[j], N, width, hid);
			be->gelu_forward(ba->ffn_act[j], ba->ffn_pre[j], (size_t)N * hid);
			hin = ba->ffn_act[j];
			width = hid;
		}
		be->linear_forward(dt->branch, hin, bp->ffn_w[c->n_ffn], bp->ffn_b[c->n_ffn], N,
				   width, d);
		be->residual_dropout_forward(z_out, ba->z_mid, dt->branch, (size_t)N * d, p, c->seed,
					     dropout_stream(micro, l, 1));
	}

	be->rmsnorm_forward(a->an, a->rstd_out, a->z_out, dt->p.out_norm, N, d);
	for (int b = 0; b < B; b++) {
		real *mb = a->mask + (size_t)b * dt->Dout * T;
		be->broadcast(mb, dt->p.out_b, dt->Dout, T, true);
		be->gemm(false, true, dt->Dout, T, d, 1, dt->p.out_w, d, a->an + (size_t)b * T * d, d,
			 1, mb, T);
	}
	be->mask_forward(a->yspec, a->mask, a->x, B, dt->S, dt->C, dt->F, T);
	// model_waveforms
	if (be->stft_inverse(dt->stft, a->ywave, a->yspec, (int64_t)B * dt->S * dt->C, T, dt->n))
		die("devtrain: inverse STFT of %lld samples failed", (long long)dt->n);
}

/* ---- loss (loss_compute with backward) ---- */

static double devtrain_loss(struct devtrain *dt, struct loss_stats *stats)
{
	const struct backend *be = dt->be;
	struct model_acts *a = &dt->acts;
	int B = dt->B, S = dt->S, C = dt->C, F = dt->F, T = dt->T, BS = B * S, BSC = BS * C;
	int64_t n = dt->n;
	double w_sisdr, w_l1, w_spec;
	loss_weights(&dt->cfg, &w_sisdr, &w_l1, &w_spec);
	double n_time = (double)BSC * n, n_bins = (double)BSC * F * T;

	be->loss_time(dt->sisdr, dt->l1, a->dywave, a->ywave, dt->stems, BS, (int64_t)C * n,
		      -w_sisdr / BS, w_l1 / n_time);
	be->zero(a->dyspec, (size_t)BSC * F * T * 2 * sizeof(float));
	if (be->stft_inverse_backward(dt->stft, a->dyspec, a->dywave, BSC, T, n))
		die("devtrain: adjoint of the inverse STFT of %lld samples failed", (long long)n);
	// the spectral term: always, for its statistic (loss_compute with stats)
	be->loss_spectral(dt->spec_l1, a->dyspec, a->yspec, dt->target_spec, BSC, (int64_t)F * T,
			  w_spec / n_bins);
	struct loss_stats st;
	loss_stats_make(&st, dt->sisdr, dt->l1, dt->spec_l1, B, S, C, n_time, n_bins, w_sisdr,
			w_l1, w_spec);
	if (stats)
		*stats = st;
	return st.loss;
}

/* ---- backward (model_backward) ---- */

static void zero(const struct backend *be, float *p, size_t n)
{
	be->zero(p, n * sizeof(float));
}

static void devtrain_backward(struct devtrain *dt, uint64_t micro)
{
	const struct backend *be = dt->be;
	const struct config *c = &dt->cfg;
	struct model_acts *a = &dt->acts;
	int B = dt->B, T = dt->T, d = dt->d, A = dt->A, h = dt->n_heads, N = B * T;
	float p = c->dropout;

	be->mask_backward(a->dmask, a->dyspec, a->x, B, dt->S, dt->C, dt->F, T);
	zero(be, a->da, (size_t)N * d);
	for (int b = 0; b < B; b++) {
		const real *dmb = a->dmask + (size_t)b * dt->Dout * T;
		be->gemm(false, false, dt->Dout, d, T, 1, dmb, T, a->an + (size_t)b * T * d, d, 1,
			 dt->g.out_w, d);
		be->gemm(true, false, T, d, dt->Dout, 1, dmb, T, dt->p.out_w, d, 1,
			 a->da + (size_t)b * T * d, d);
		be->sum_rows(dt->g.out_b, dmb, dt->Dout, T, true);
	}
	zero(be, a->dz, (size_t)N * d);
	be->rmsnorm_backward(a->dz, dt->g.out_norm, a->da, a->z_out, dt->p.out_norm, a->rstd_out, N,
			     d);

	for (int l = c->n_layers - 1; l >= 0; l--) {
		struct block_acts *ba = &a->blocks[l];
		const struct block_params *bp = &dt->p.blocks[l];
		struct block_params *bg = &dt->g.blocks[l];
		zero(be, a->dbranch, (size_t)N * d);
		be->residual_backward(a->dbranch, a->dz, (size_t)N * d, p, c->seed,
				      dropout_stream(micro, l, 1));
		int nf = c->n_ffn;
		const real *hin = nf ? ba->ffn_act[nf - 1] : ba->a2;
		int width = nf ? c->ffn_hidden_dim[nf - 1] : d;
		real *dact = nf ? a->dhidden[0] : a->da, *dpre = a->dhidden[1];
		zero(be, dact, (size_t)N * width);
		be->linear_backward(dact, bg->ffn_w[nf], bg->ffn_b[nf], a->dbranch, hin, bp->ffn_w[nf],
				    N, width, d);
		for (int j = nf - 1; j >= 0; j--) {
			int hid = c->ffn_hidden_dim[j];
			zero(be, dpre, (size_t)N * hid);
			be->gelu_backward(dpre, dact, ba->ffn_pre[j], (size_t)N * hid);
			hin = j ? ba->ffn_act[j - 1] : ba->a2;
			width = j ? c->ffn_hidden_dim[j - 1] : d;
			real *din = j ? a->dhidden[0] : a->da;
			zero(be, din, (size_t)N * width);
			be->linear_backward(din, bg->ffn_w[j], bg->ffn_b[j], dpre, hin, bp->ffn_w[j], N,
					    width, hid);
			dact = din;
		}
		be->rmsnorm_backward(a->dz, bg->ffn_norm, a->da, ba->z_mid, bp->ffn_norm, ba->rstd2, N,
				     d);

		zero(be, a->dbranch, (size_t)N * d);
		be->residual_backward(a->dbranch, a->dz, (size_t)N * d, p, c->seed,
				      dropout_stream(micro, l, 0));
		zero(be, a->datt, (size_t)N * A);
		be->linear_backward(a->datt, bg->wo, bg->bo, a->dbranch, ba->att, bp->wo, N, A, d);
		zero(be, a->dqkv, (size_t)N * 3 * A);
		be->attention_backward(a->dqkv, a->datt, ba->qkv, ba->att, ba->lse, B, T, A, h);
		be->rope_backward(a->dqkv, dt->rope, B, T, A, h);
		zero(be, a->da, (size_t)N * d);
		be->linear_backward(a->da, bg->wqkv, NULL, a->dqkv, ba->a1, bp->wqkv, N, d, 3 * A);
		be->rmsnorm_backward(a->dz, bg->attn_norm, a->da, ba->z_in, bp->attn_norm, ba->rstd1, N,
				     d);
	}

	size_t spec = (size_t)dt->Din * T;
	for (int b = 0; b < B; b++)
		be->gemm(true, true, d, dt->Din, T, 1, a->dz + (size_t)b * T * d, d, a->feat + b * spec,
			 T, 1, dt->g.in_w, dt->Din);
	be->sum_rows(dt->g.in_b, a->dz, N, d, false);
}

double devtrain_micro(struct devtrain *dt, uint64_t micro, struct loss_stats *stats)
{
	devtrain_forward(dt, micro);
	double loss = devtrain_loss(dt, stats);
	if (isfinite(loss))
		devtrain_backward(dt, micro);
	return loss;
}

double devtrain_step(struct devtrain *dt, int accum, float lr, int64_t t)
{
	const struct backend *be = dt->be;
	const struct config *c = &dt->cfg;
	size_t n = dt->n_params;
	if (accum > 1)
		be->scale(dt->grads, n, 1.0f / accum);
	double norm = sqrt(be->sumsq(dt->grads, n));	// grad_clip_norm
	if (!isfinite(norm))
		return norm;
	if (c->grad_clip > 0 && norm > c->grad_clip)
		be->scale(dt->grads, n, (float)(c->grad_clip / (norm + 1e-6)));
	be->adamw(dt->params, dt->grads, dt->opt_m, dt->opt_v, n, lr, 0.9f, 0.999f, 1e-8f,
		  c->weight_decay, t);
	if (dt->ema)
		be->ema_update(dt->ema, dt->params, n, c->ema_decay);
	return norm;
}
