/* separate.c: chunked inference on top of the model (separate.h): a long
 * spectrogram is cut into the model's segments, each batch of them goes
 * through model_forward, and the stems are cross-faded back (chunk.h). */
#include "separate.h"

#include <stdlib.h>
#include <string.h>

#include "chunk.h"
#include "util.h"

struct separator {
	struct model *m;
	const struct backend *be;
	int C, F, S;
	/* one record */
	struct backend_buffer rec_wave, rec_x, rec_out, rec_y;
	struct backend_buffer stage[2];	/* records copied ahead (separator_stage) */
	const real *staged[2];	/* the host array each holds */
	struct backend_stft *stft;
	void (*progress)(void *ctx, int64_t done, int64_t total);
	void *progress_ctx;
};

struct separator *separator_create(struct model *m)
{
	struct separator *sp = xcalloc(1, sizeof *sp);
	sp->m = m;
	sp->be = m->be;
	sp->C = m->C, sp->F = m->F, sp->S = m->S;
	sp->stft = sp->be->stft_create(m->cfg.n_fft, m->cfg.hop_length);
	return sp;
}

void separator_free(struct separator *sp)
{
	if (!sp)
		return;
	const struct backend *be = sp->be;
	backend_buffer_free(be, &sp->stage[0]);
	backend_buffer_free(be, &sp->stage[1]);
	backend_buffer_free(be, &sp->rec_wave);
	backend_buffer_free(be, &sp->rec_x);
	backend_buffer_free(be, &sp->rec_out);
	backend_buffer_free(be, &sp->rec_y);
	be->stft_free(sp->stft);
	free(sp);
}

/* out (S, C, F, T) complex ← x (C, F, T) complex, both backend memory:
 * model_separate through the backend. */
void separator_run(struct separator *sp, real *out, const real *x, int64_t T, double overlap)
{
	const struct backend *be = sp->be;
	struct model *m = sp->m;
	int64_t rows_in = (int64_t)sp->C * sp->F, rows_out = sp->S * rows_in;
	struct chunk_plan *plan = chunk_plan_create(T, m->max_frames, overlap);
	size_t seg_in = rows_in * plan->L * 2, seg_out = rows_out * plan->L * 2;
	bool dropout = m->dropout_active;
	m->dropout_active = false;
	for (int64_t s0 = 0; s0 < plan->n; s0 += m->max_batch) {
		int nb = plan->n - s0 < m->max_batch ? (int)(plan->n - s0) : m->max_batch;
		for (int i = 0; i < nb; i++)
			be->chunk_gather(m->x + i * seg_in, x, plan, s0 + i, rows_in, 2);
		model_forward(m, nb, (int)plan->L);
		for (int i = 0; i < nb; i++)
			be->chunk_accumulate(out, m->yspec + i * seg_out, plan, s0 + i, rows_out, 2);
		if (sp->progress)
			sp->progress(sp->progress_ctx, s0 + nb, plan->n);
	}
	m->dropout_active = dropout;
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
static real *on_backend(const struct backend *be, struct backend_buffer *b, const real *host,
			 size_t floats, bool upload)
{
	if (be->host)
		return (real *)host;
	real *d = backend_buffer_want(be, b, floats);
	if (upload)
		be->upload(d, host, floats * sizeof(real));
	return d;
}

void separator_stage(struct separator *sp, int k, const real *x, size_t floats)
{
	const struct backend *be = sp->be;
	sp->staged[k] = x;
	if (be->host)
		return;	// used in place
	real *d = backend_buffer_want(be, &sp->stage[k], floats ? floats : 1);
	be->upload_async(d, x, floats * sizeof(real));
}

void separator_staged(struct separator *sp)
{
	sp->be->upload_fence();
}

/* The backend copy of x when x was staged, else NULL; the stage is used up. */
static const real *staged(struct separator *sp, const real *x)
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
static real *separator_record_out(struct separator *sp, real *out, int64_t T, const int *idx,
				   int n_out)
{
	size_t n = (size_t)sp->S * sp->C * sp->F * T * 2;
	bool all = n_out == sp->S;
	for (int i = 0; i < n_out; i++)
		all = all && idx[i] == i;
	real *d = all ? on_backend(sp->be, &sp->rec_out, out, n, false)
		       : backend_buffer_want(sp->be, &sp->rec_out, n);
	sp->be->zero(d, n * sizeof(real));
	return d;
}

void separator_spectrogram(struct separator *sp, real *out, const real *x, int64_t T,
			   double overlap, const int *idx, int n_out)
{
	const struct backend *be = sp->be;
	size_t stem = (size_t)sp->C * sp->F * T * 2;
	if (T == 0)
		return;
	const real *dx = staged(sp, x);
	if (!dx)
		dx = on_backend(be, &sp->rec_x, x, stem, true);
	real *dout = separator_record_out(sp, out, T, idx, n_out);
	separator_run(sp, dout, dx, T, overlap);
	for (int i = 0; i < n_out && dout != out; i++)
		be->download(out + i * stem, dout + idx[i] * stem, stem * sizeof(real));
}

void separator_waveform(struct separator *sp, real *y, const real *x, int64_t N,
			double overlap, const int *idx, int n_out)
{
	const struct backend *be = sp->be;
	int64_t T = chunk_segment_frames(N, sp->m->cfg.hop_length);
	size_t stem = (size_t)sp->C * sp->F * T * 2, wave = (size_t)sp->C * N;
	const real *dwave = staged(sp, x);
	if (!dwave)
		dwave = on_backend(be, &sp->rec_wave, x, wave, true);
	real *dx = backend_buffer_want(be, &sp->rec_x, stem);
	if (be->stft_forward(sp->stft, dx, dwave, sp->C, N))
		die("separator_waveform: %lld samples are too few for n_fft %d", (long long)N,
		    sp->m->cfg.n_fft);
	real *dout = separator_record_out(sp, NULL, T, idx, 0);	// never the caller's
	separator_run(sp, dout, dx, T, overlap);
	real *dy = on_backend(be, &sp->rec_y, y, n_out * wave, false);
	for (int i = 0; i < n_out; i++)
		if (be->stft_inverse(sp->stft, dy + i * wave, dout + idx[i] * stem, sp->C, T, N))
			die("separator_waveform: inverse STFT of %lld samples failed", (long long)N);
	if (dy != y)
		be->download(y, dy, n_out * wave * sizeof(real));
}

int separator_istft(struct separator *sp, real *y, const real *spec, int64_t rows, int64_t T,
		    int64_t N)
{
	const struct backend *be = sp->be;
	size_t in = (size_t)rows * sp->F * T * 2, out = (size_t)rows * N;
	const real *dspec = on_backend(be, &sp->rec_out, spec, in, true);
	real *dy = on_backend(be, &sp->rec_y, y, out, false);
	if (be->stft_inverse(sp->stft, dy, dspec, rows, T, N))
		return -1;
	if (dy != y)
		be->download(y, dy, out * sizeof(real));
	return 0;
}
