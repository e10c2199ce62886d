/* separate.c: chunked inference on top of the model (separate.h): a long
 * spectrogram is cut into the model's segments, each batch of them goes
 * through model_forward, and the stems are cross-faded back (chunk.h). */
#include "separate.h"

#include <stdlib.h>
#include <string.h>

#include "chunk.h"
#include "config.h"
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
	/* the track being separated, separator_begin to its last frame taken */
	int64_t L, hop;		/* segment frames (the model's max_frames) and grid */
	int64_t total;		/* its frames, -1 while unknown */
	int64_t R;		/* frames pushed */
	int64_t next;		/* the next segment to run */
	int64_t taken;		/* frames taken */
	/* the window of frames [w0, w0 + wcap), zero from R on: the input
	 * (C·F rows) and the stems' weighted sum (S·C·F rows), both interleaved
	 * complex on the backend, and per frame the sum of the weights (host) */
	int64_t w0, wcap;
	struct backend_buffer win_x, win_y, tmp;
	double *den;
	real *ones, *weight;	/* [wcap] 1s; [max_batch × L] a batch's ramps */
	int64_t *start;		/* [max_batch] a batch's starts in the window */
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
	backend_buffer_free(be, &sp->win_x);
	backend_buffer_free(be, &sp->win_y);
	backend_buffer_free(be, &sp->tmp);
	be->stft_free(sp->stft);
	free(sp->den);
	free(sp->ones);
	free(sp->weight);
	free(sp->start);
	free(sp);
}

/* ---- the streaming core ----
 *
 * Segments lie on a grid of `hop` frames; the last one moves back to end
 * at the track's last frame (chunk.h), so a segment's place is known once
 * frames beyond its end have arrived (it cannot be the last) or the total
 * is.  A segment runs once its frames are here and the next one's place
 * is known (its ramp down depends on it); its stems are added into the
 * window with the unnormalised ramp, and the ramp into den.  A frame is
 * final once no later segment can cover it; taking it divides by den,
 * which gives chunk.h's normalised cross-fade.  Frames taken leave the
 * window when the next push needs room. */

#define NO_SEGMENT (-2)	/* the track has no such segment */
#define NOT_YET (-1)	/* its place is not known yet */

/* The first frame of segment s, NOT_YET or NO_SEGMENT. */
static int64_t seg_start(const struct separator *sp, int64_t s)
{
	int64_t T = sp->total, L = sp->L, h = sp->hop;
	if (T < 0)
		return s * h + L < sp->R ? s * h : NOT_YET;
	if (T <= L)
		return s == 0 ? 0 : NO_SEGMENT;
	int64_t n = (T - L + h - 1) / h + 1;
	return s < n - 1 ? s * h : s == n - 1 ? T - L : NO_SEGMENT;
}

/* Frames of every segment: the model's, or the whole track when shorter. */
static int64_t seg_frames(const struct separator *sp)
{
	return sp->total >= 0 && sp->total < sp->L ? sp->total : sp->L;
}

/* Frames before this one are final: no segment still to run covers them. */
static int64_t final_frames(const struct separator *sp)
{
	int64_t s = seg_start(sp, sp->next);
	if (sp->total >= 0)
		return s == NO_SEGMENT ? sp->total : s;
	int64_t f = sp->R - sp->L;	// the last segment starts at or after it
	if (sp->next * sp->hop < f)
		f = sp->next * sp->hop;
	return f > 0 ? f : 0;
}

/* A plan over the window for the backend's gather and accumulate: segment
 * k of it is `len` frames at start[k], weighted by weight + k · len. */
static struct chunk_plan window_plan(int64_t T, int64_t len, int64_t n, int64_t *start,
				     real *weight)
{
	return (struct chunk_plan){ .T = T, .L = len, .n = n, .start = start, .weight = weight };
}

/* dst (rows, dT) at frame d0 += src (rows, sT) frames s0 .. s0 + n, through
 * tmp; dst is zero there when this is a copy. */
static void move_frames(struct separator *sp, real *dst, int64_t dT, int64_t d0, const real *src,
			int64_t sT, int64_t s0, int64_t n, int64_t rows)
{
	const struct backend *be = sp->be;
	if (n <= 0)
		return;
	real *t = backend_buffer_want(be, &sp->tmp, (size_t)rows * n * 2);
	struct chunk_plan g = window_plan(sT, n, 1, &s0, NULL),
			  a = window_plan(dT, n, 1, &d0, sp->ones);
	be->chunk_gather(t, src, &g, 0, rows, 2);
	be->chunk_accumulate(dst, t, &a, 0, rows, 2);
}

/* Room in the window for frames up to `until`: frames taken leave it, and
 * it grows when that is not enough. */
static void window_room(struct separator *sp, int64_t until)
{
	const struct backend *be = sp->be;
	int64_t rows_in = (int64_t)sp->C * sp->F, rows_out = sp->S * rows_in;
	int64_t keep = sp->R - sp->taken, shift = sp->taken - sp->w0;
	if (until - sp->w0 <= sp->wcap)
		return;
	int64_t cap = until - sp->taken;
	if (cap < sp->wcap)
		cap = sp->wcap;	// the frames taken make the room
	else if (sp->total < 0 || until < sp->total)
		cap += cap / 2;	// streaming: grow in steps
	struct backend_buffer x = { 0 }, y = { 0 };
	real *nx = backend_buffer_want(be, &x, (size_t)rows_in * cap * 2);
	real *ny = backend_buffer_want(be, &y, (size_t)rows_out * cap * 2);
	be->zero(nx, (size_t)rows_in * cap * 2 * sizeof(real));
	be->zero(ny, (size_t)rows_out * cap * 2 * sizeof(real));
	sp->ones = xrealloc(sp->ones, (size_t)cap * sizeof(real));
	for (int64_t i = 0; i < cap; i++)
		sp->ones[i] = 1;
	if (keep > 0) {
		move_frames(sp, nx, cap, 0, sp->win_x.p, sp->wcap, shift, keep, rows_in);
		move_frames(sp, ny, cap, 0, sp->win_y.p, sp->wcap, shift, keep, rows_out);
	}
	double *den = xcalloc((size_t)cap, sizeof *den);
	if (keep > 0)
		memcpy(den, sp->den + shift, (size_t)keep * sizeof *den);
	free(sp->den);
	backend_buffer_free(be, &sp->win_x);
	backend_buffer_free(be, &sp->win_y);
	sp->win_x = x, sp->win_y = y, sp->den = den;
	sp->w0 = sp->taken, sp->wcap = cap;
}

/* Run every segment that can run, max_batch at a time. */
static void run_segments(struct separator *sp)
{
	const struct backend *be = sp->be;
	struct model *m = sp->m;
	int64_t rows_in = (int64_t)sp->C * sp->F, rows_out = sp->S * rows_in, len = seg_frames(sp);
	size_t seg_in = rows_in * len * 2, seg_out = rows_out * len * 2;
	bool dropout = m->dropout_active;
	m->dropout_active = false;
	for (;;) {
		int nb = 0;
		for (int64_t s = sp->next; nb < m->max_batch; s++, nb++) {
			int64_t st = seg_start(sp, s), nx = seg_start(sp, s + 1);
			if (st < 0 || nx == NOT_YET || st + len > sp->R)
				break;
			int64_t in = s > 0 ? seg_start(sp, s - 1) + len - st : 0;
			int64_t out = nx >= 0 ? st + len - nx : 0;
			real *w = sp->weight + nb * len;
			for (int64_t i = 0; i < len; i++) {
				double r = chunk_ramp(len, in, out, i);
				w[i] = (real)r;
				sp->den[st - sp->w0 + i] += r;
			}
			sp->start[nb] = st - sp->w0;
		}
		if (nb == 0)
			break;
		struct chunk_plan p = window_plan(sp->wcap, len, nb, sp->start, sp->weight);
		for (int i = 0; i < nb; i++)
			be->chunk_gather(m->x + i * seg_in, sp->win_x.p, &p, i, rows_in, 2);
		model_forward(m, nb, (int)len);
		for (int i = 0; i < nb; i++)
			be->chunk_accumulate(sp->win_y.p, m->yspec + i * seg_out, &p, i, rows_out, 2);
		sp->next += nb;
		if (sp->progress)
			sp->progress(sp->progress_ctx, final_frames(sp), sp->total >= 0 ? sp->total : sp->R);
	}
	m->dropout_active = dropout;
}

void separator_begin(struct separator *sp, double overlap, int64_t total)
{
	if (!(overlap >= 0 && overlap < 1))
		die("separator_begin: overlap %g is outside [0, 1)", overlap);
	sp->L = sp->m->max_frames;
	sp->hop = chunk_hop(sp->L, overlap);
	sp->total = total;
	sp->R = sp->next = sp->taken = sp->w0 = 0;
	if (sp->wcap) {	// the last track's window, zeroed
		sp->be->zero(sp->win_x.p, (size_t)sp->C * sp->F * sp->wcap * 2 * sizeof(real));
		sp->be->zero(sp->win_y.p, (size_t)sp->S * sp->C * sp->F * sp->wcap * 2 * sizeof(real));
		memset(sp->den, 0, (size_t)sp->wcap * sizeof *sp->den);
	}
	if (!sp->weight) {
		sp->weight = xmalloc((size_t)sp->m->max_batch * sp->L * sizeof(real));
		sp->start = xmalloc((size_t)sp->m->max_batch * sizeof *sp->start);
	}
}

static void push_backend(struct separator *sp, const real *x, int64_t n, bool last)
{
	int64_t rows_in = (int64_t)sp->C * sp->F;
	if (sp->total >= 0 && sp->R + n > sp->total)
		die("separator_push: %lld frames pushed into a track of %lld",
		    (long long)(sp->R + n), (long long)sp->total);
	window_room(sp, sp->R + n);
	move_frames(sp, sp->win_x.p, sp->wcap, sp->R - sp->w0, x, n, 0, n, rows_in);
	sp->R += n;
	if (last)
		sp->total = sp->R;
	run_segments(sp);
}

int64_t separator_ready(const struct separator *sp)
{
	return final_frames(sp) - sp->taken;
}

static void take_backend(struct separator *sp, real *out, int64_t n, const int *idx, int n_out)
{
	const struct backend *be = sp->be;
	int64_t rows = (int64_t)sp->C * sp->F, f0 = sp->taken - sp->w0;
	if (n > separator_ready(sp))
		die("separator_take: %lld frames asked, %lld final", (long long)n,
		    (long long)separator_ready(sp));
	real *inv = xmalloc((size_t)(n ? n : 1) * sizeof *inv);
	for (int64_t i = 0; i < n; i++)
		inv[i] = (real)(1 / sp->den[f0 + i]);
	int64_t zero = 0;
	struct chunk_plan g = window_plan(sp->wcap, n, 1, &f0, NULL),
			  a = window_plan(n, n, 1, &zero, inv);
	for (int k = 0; k < n_out && n > 0; k++) {
		real *t = backend_buffer_want(be, &sp->tmp, (size_t)rows * n * 2);
		be->chunk_gather(t, sp->win_y.p + (size_t)idx[k] * rows * sp->wcap * 2, &g, 0, rows, 2);
		be->chunk_accumulate(out + (size_t)k * rows * n * 2, t, &a, 0, rows, 2);
	}
	free(inv);
	sp->taken += n;
}

/* out (S, C, F, T) complex += x (C, F, T) complex separated, both backend
 * memory: one push of the whole track. */
void separator_run(struct separator *sp, real *out, const real *x, int64_t T, double overlap)
{
	int all[CONFIG_MAX_SOURCES];
	for (int s = 0; s < sp->S; s++)
		all[s] = s;
	separator_begin(sp, overlap, T);
	push_backend(sp, x, T, true);
	take_backend(sp, out, T, all, sp->S);
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

void separator_push(struct separator *sp, const real *x, int64_t n, bool last)
{
	const real *dx = staged(sp, x);
	if (!dx)
		dx = on_backend(sp->be, &sp->rec_x, x, (size_t)sp->C * sp->F * n * 2, true);
	push_backend(sp, dx, n, last);
}

void separator_take(struct separator *sp, real *out, int64_t n, const int *idx, int n_out)
{
	const struct backend *be = sp->be;
	size_t floats = (size_t)n_out * sp->C * sp->F * n * 2;
	real *d = on_backend(be, &sp->rec_out, out, floats, false);
	be->zero(d, floats * sizeof(real));
	take_backend(sp, d, n, idx, n_out);
	if (d != out)
		be->download(out, d, floats * sizeof(real));
}

void separator_spectrogram(struct separator *sp, real *out, const real *x, int64_t T,
			   double overlap, const int *idx, int n_out)
{
	if (T == 0)
		return;
	separator_begin(sp, overlap, T);
	separator_push(sp, x, T, true);
	separator_take(sp, out, T, idx, n_out);
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
	size_t n = (size_t)sp->S * stem;
	real *dout = backend_buffer_want(be, &sp->rec_out, n);
	be->zero(dout, n * sizeof(real));
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
