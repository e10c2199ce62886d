/* separate.c: DESIGN §4's inference through a backend's ops (separate.h).
 *
 * The forward pass is model_forward's at inference, op for op and in the
 * same order: the weights are a copy of the model's flat parameter buffer
 * (so every view sits at the same offset), one set of block activations
 * serves every layer, and the residual stream is updated in place. */
#include "separate.h"

#include <stdlib.h>
#include <string.h>

#include "chunk.h"
#include "util.h"

struct separator {
	const struct backend *be;
	struct config cfg;
	int C, F, S, d, A, n_heads, Din, Dout, max_hidden;
	int batch, frames;	/* segments per pass, frames per segment */
	/* weights on the backend, views at the model's offsets */
	float *params;
	struct model_params p;
	float *rope;		/* (frames, head/2, 2) */
	/* activations of one batch of segments */
	float *x;		/* (B, C, F, L) complex */
	float *sigma;		/* (B) */
	float *feat;		/* (B, 2CF, L) */
	float *z, *a, *branch;	/* (B·L, d) residual stream, normed, branch output */
	float *rstd;		/* (B·L) */
	float *qkv;		/* (B·L, 3A) */
	float *att;		/* (B·L, A) */
	float *lse;		/* (B, h, L) */
	float *hidden[2];	/* (B·L, max hidden) ping-pong through the FFN */
	float *mask;		/* (B, Dout, L) */
	float *yspec;		/* (B, S, C, F, L) complex */
	/* one record */
	struct backend_buffer rec_wave, rec_x, rec_out, rec_y;
	struct backend_buffer stage[2];	/* records copied ahead (separator_stage) */
	const float *staged[2];	/* the host array each holds */
	struct backend_stft *stft;
	void (*progress)(void *ctx, int64_t done, int64_t total);
	void *progress_ctx;
};

static void separator_upload_weights(struct separator *sp, const struct model *m)
{
	const struct backend *be = sp->be;
	if (be->host) {	// the model's own buffer: no second copy of the weights
		sp->params = m->params;
	} else {
		sp->params = be->alloc(m->n_params * sizeof(float));
		be->upload(sp->params, m->params, m->n_params * sizeof(float));
	}
	model_params_views(m, sp->params, &sp->p);
}

static float *falloc(const struct backend *be, size_t floats)
{
	return be->alloc(floats * sizeof(float));
}

struct separator *separator_create(const struct model *m, const struct backend *be, int batch)
{
	struct separator *sp = xcalloc(1, sizeof *sp);
	const struct config *c = &m->cfg;
	sp->be = be;
	sp->cfg = *c;
	sp->C = m->C, sp->F = m->F, sp->S = m->S, sp->d = m->d, sp->A = m->A;
	sp->n_heads = m->n_heads, sp->Din = m->Din, sp->Dout = m->Dout;
	sp->batch = batch;
	sp->frames = model_segment_frames(c);
	sp->max_hidden = 1;
	for (int j = 0; j < c->n_ffn; j++)
		if (c->ffn_hidden_dim[j] > sp->max_hidden)
			sp->max_hidden = c->ffn_hidden_dim[j];
	be->set_precision(c->use_amp ? BACKEND_BF16 : c->tf32 ? BACKEND_TF32 : BACKEND_F32);
	separator_upload_weights(sp, m);

	int hs = sp->A / sp->n_heads;
	size_t L = sp->frames, rows = (size_t)batch * L, spec = (size_t)batch * m->Din * L;
	float *rope = xmalloc(L * hs * sizeof(float));
	rope_table(rope, (int)L, hs);
	sp->rope = falloc(be, L * hs);
	be->upload(sp->rope, rope, L * hs * sizeof(float));
	free(rope);
	sp->x = falloc(be, spec);
	sp->sigma = falloc(be, batch);
	sp->feat = falloc(be, spec);
	sp->z = falloc(be, rows * sp->d);
	sp->a = falloc(be, rows * sp->d);
	sp->branch = falloc(be, rows * sp->d);
	sp->rstd = falloc(be, rows);
	sp->qkv = falloc(be, rows * 3 * sp->A);
	sp->att = falloc(be, rows * sp->A);
	sp->lse = falloc(be, rows * sp->n_heads);
	sp->hidden[0] = falloc(be, rows * sp->max_hidden);
	sp->hidden[1] = falloc(be, rows * sp->max_hidden);
	sp->mask = falloc(be, rows * sp->Dout);
	sp->yspec = falloc(be, spec * sp->S);
	sp->stft = be->stft_create(c->n_fft, c->hop_length);
	return sp;
}

void separator_free(struct separator *sp)
{
	if (!sp)
		return;
	const struct backend *be = sp->be;
	if (!be->host)
		be->free(sp->params);
	float *bufs[] = { sp->rope, sp->x, sp->sigma, sp->feat, sp->z, sp->a,
			  sp->branch, sp->rstd, sp->qkv, sp->att, sp->lse, sp->hidden[0],
			  sp->hidden[1], sp->mask, sp->yspec };
	for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
		be->free(bufs[i]);
	backend_buffer_free(be, &sp->stage[0]);
	backend_buffer_free(be, &sp->stage[1]);
	backend_buffer_free(be, &sp->rec_wave);
	backend_buffer_free(be, &sp->rec_x);
	backend_buffer_free(be, &sp->rec_out);
	backend_buffer_free(be, &sp->rec_y);
	be->stft_free(sp->stft);
	free(sp->p.blocks);
	free(sp);
}

/* sp->x (B, C, F, T) complex → sp->yspec (B, S, C, F, T) complex: model_forward
 * at inference, through the backend. */
static void separator_forward(struct separator *sp, int B, int T)
{
	const struct backend *be = sp->be;
	const struct config *c = &sp->cfg;
	int d = sp->d, A = sp->A, h = sp->n_heads, N = B * T;
	size_t spec = (size_t)sp->Din * T;	// floats per example

	be->features_forward(sp->feat, sp->sigma, sp->x, B, sp->C, sp->F, T);
	// z_b (T, d) = feat_bᵀ (T, Din) · W_inᵀ + b_in
	be->broadcast(sp->z, sp->p.in_b, N, d, false);
	for (int b = 0; b < B; b++)
		be->gemm(true, true, T, d, sp->Din, 1, sp->feat + b * spec, T, sp->p.in_w, sp->Din, 1,
			 sp->z + (size_t)b * T * d, d);

	for (int l = 0; l < c->n_layers; l++) {
		const struct block_params *bp = &sp->p.blocks[l];
		be->rmsnorm_forward(sp->a, sp->rstd, sp->z, bp->attn_norm, N, d);
		be->linear_forward(sp->qkv, sp->a, bp->wqkv, NULL, N, d, 3 * A);
		be->rope_forward(sp->qkv, sp->rope, B, T, A, h);
		be->attention_forward(sp->att, sp->lse, sp->qkv, B, T, A, h);
		be->linear_forward(sp->branch, sp->att, bp->wo, bp->bo, N, A, d);
		be->residual_forward(sp->z, sp->z, sp->branch, (size_t)N * d);
		be->rmsnorm_forward(sp->a, sp->rstd, sp->z, bp->ffn_norm, N, d);
		const float *hin = sp->a;
		int width = d;
		for (int j = 0; j < c->n_ffn; j++) {
			int hid = c->ffn_hidden_dim[j];
			be->linear_gelu_forward(sp->hidden[j % 2], hin, bp->ffn_w[j], bp->ffn_b[j], N,
						width, hid);
			hin = sp->hidden[j % 2];
			width = hid;
		}
		be->linear_forward(sp->branch, hin, bp->ffn_w[c->n_ffn], bp->ffn_b[c->n_ffn], N,
				   width, d);
		be->residual_forward(sp->z, sp->z, sp->branch, (size_t)N * d);
	}

	be->rmsnorm_forward(sp->a, sp->rstd, sp->z, sp->p.out_norm, N, d);
	// mask_b (Dout, T) = W_out (Dout, d) · a_bᵀ (d, T) + b_out
	for (int b = 0; b < B; b++) {
		float *mb = sp->mask + (size_t)b * sp->Dout * T;
		be->broadcast(mb, sp->p.out_b, sp->Dout, T, true);
		be->gemm(false, true, sp->Dout, T, d, 1, sp->p.out_w, d, sp->a + (size_t)b * T * d, d,
			 1, mb, T);
	}
	be->mask_forward(sp->yspec, sp->mask, sp->x, B, sp->S, sp->C, sp->F, T);
}

/* out (S, C, F, T) complex ← x (C, F, T) complex, both backend memory:
 * model_separate through the backend. */
static void separator_run(struct separator *sp, float *out, const float *x, int64_t T,
			  double overlap)
{
	const struct backend *be = sp->be;
	int64_t rows_in = (int64_t)sp->C * sp->F, rows_out = sp->S * rows_in;
	struct chunk_plan *plan = chunk_plan_create(T, sp->frames, overlap);
	size_t seg_in = rows_in * plan->L * 2, seg_out = rows_out * plan->L * 2;
	for (int64_t s0 = 0; s0 < plan->n; s0 += sp->batch) {
		int nb = plan->n - s0 < sp->batch ? (int)(plan->n - s0) : sp->batch;
		for (int i = 0; i < nb; i++)
			be->chunk_gather(sp->x + i * seg_in, x, plan, s0 + i, rows_in, 2);
		separator_forward(sp, nb, (int)plan->L);
		for (int i = 0; i < nb; i++)
			be->chunk_accumulate(out, sp->yspec + i * seg_out, plan, s0 + i, rows_out, 2);
		if (sp->progress)
			sp->progress(sp->progress_ctx, s0 + nb, plan->n);
	}
	chunk_plan_free(plan);
}

void separator_on_progress(struct separator *sp, void (*fn)(void *ctx, int64_t done, int64_t total),
			   void *ctx)
{
	sp->progress = fn;
	sp->progress_ctx = ctx;
}

/* Where a record's host array lives on the backend: the array itself on a
 * host backend (no copy, no second record in memory), else b, uploaded
 * when `upload`. */
static float *on_backend(const struct backend *be, struct backend_buffer *b, const float *host,
			 size_t floats, bool upload)
{
	if (be->host)
		return (float *)host;
	float *d = backend_buffer_want(be, b, floats);
	if (upload)
		be->upload(d, host, floats * sizeof(float));
	return d;
}

void separator_stage(struct separator *sp, int k, const float *x, size_t floats)
{
	const struct backend *be = sp->be;
	sp->staged[k] = x;
	if (be->host)
		return;	// used in place
	float *d = backend_buffer_want(be, &sp->stage[k], floats ? floats : 1);
	be->upload_async(d, x, floats * sizeof(float));
}

void separator_staged(struct separator *sp)
{
	sp->be->upload_fence();
}

/* The backend copy of x when x was staged, else NULL; the stage is used up. */
static const float *staged(struct separator *sp, const float *x)
{
	for (int k = 0; k < 2; k++)
		if (x && sp->staged[k] == x) {
			sp->staged[k] = NULL;
			return sp->be->host ? x : sp->stage[k].p;
		}
	return NULL;
}

/* The whole record's stems (S, C, F, T) complex on the backend, zeroed for
 * accumulation: out itself when it holds every stem in order on a host
 * backend. */
static float *separator_record_out(struct separator *sp, float *out, int64_t T, const int *idx,
				   int n_out)
{
	size_t n = (size_t)sp->S * sp->C * sp->F * T * 2;
	bool all = n_out == sp->S;
	for (int i = 0; i < n_out; i++)
		all = all && idx[i] == i;
	float *d = all ? on_backend(sp->be, &sp->rec_out, out, n, false)
		       : backend_buffer_want(sp->be, &sp->rec_out, n);
	sp->be->zero(d, n * sizeof(float));
	return d;
}

void separator_spectrogram(struct separator *sp, float *out, const float *x, int64_t T,
			   double overlap, const int *idx, int n_out)
{
	const struct backend *be = sp->be;
	size_t stem = (size_t)sp->C * sp->F * T * 2;
	if (T == 0)
		return;
	const float *dx = staged(sp, x);
	if (!dx)
		dx = on_backend(be, &sp->rec_x, x, stem, true);
	float *dout = separator_record_out(sp, out, T, idx, n_out);
	separator_run(sp, dout, dx, T, overlap);
	for (int i = 0; i < n_out && dout != out; i++)
		be->download(out + i * stem, dout + idx[i] * stem, stem * sizeof(float));
}

void separator_waveform(struct separator *sp, float *y, const float *x, int64_t N,
			double overlap, const int *idx, int n_out)
{
	const struct backend *be = sp->be;
	int64_t T = chunk_segment_frames(N, sp->cfg.hop_length);
	size_t stem = (size_t)sp->C * sp->F * T * 2, wave = (size_t)sp->C * N;
	const float *dwave = staged(sp, x);
	if (!dwave)
		dwave = on_backend(be, &sp->rec_wave, x, wave, true);
	float *dx = backend_buffer_want(be, &sp->rec_x, stem);
	if (be->stft_forward(sp->stft, dx, dwave, sp->C, N))
		die("separator_waveform: %lld samples are too few for n_fft %d", (long long)N,
		    sp->cfg.n_fft);
	float *dout = separator_record_out(sp, NULL, T, idx, 0);	// never the caller's
	separator_run(sp, dout, dx, T, overlap);
	float *dy = on_backend(be, &sp->rec_y, y, n_out * wave, false);
	for (int i = 0; i < n_out; i++)
		if (be->stft_inverse(sp->stft, dy + i * wave, dout + idx[i] * stem, sp->C, T, N))
			die("separator_waveform: inverse STFT of %lld samples failed", (long long)N);
	if (dy != y)
		be->download(y, dy, n_out * wave * sizeof(float));
}

int separator_istft(struct separator *sp, float *y, const float *spec, int64_t rows, int64_t T,
		    int64_t N)
{
	const struct backend *be = sp->be;
	size_t in = (size_t)rows * sp->F * T * 2, out = (size_t)rows * N;
	const float *dspec = on_backend(be, &sp->rec_out, spec, in, true);
	float *dy = on_backend(be, &sp->rec_y, y, out, false);
	if (be->stft_inverse(sp->stft, dy, dspec, rows, T, N))
		return -1;
	if (dy != y)
		be->download(y, dy, out * sizeof(float));
	return 0;
}
