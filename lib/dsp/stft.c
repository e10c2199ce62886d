/* stft.c: STFT and iSTFT with torch.stft / torch.istft semantics (stft.h).
 *
 * Frames are transformed STFT_BLOCK at a time by one batched FFT plan.
 * Forward: window each frame of the reflect-padded signal into a
 * [B, n_fft] buffer, r2c into [B, F], then write the block's B columns of
 * the [F, T] output (B contiguous complex values per row, so the
 * transpose stays cache-friendly).  Inverse: copy each row's B frames in
 * one run into c2r's bin-major [F, B] input (fft.h; a frame-major gather's
 * stores, F complex apart, fell into the same L1 sets and took 60 % of
 * the inverse's time), c2r, multiply by window / n_fft and overlap-add into a sliding
 * accumulator; samples no later frame touches are divided by the summed
 * squared window and written out.
 *
 * Long signals are split between OpenMP threads in whole blocks, so every
 * frame goes through the same FFT batch slot and every output sample is
 * summed in the same order whatever the thread count: results are
 * bit-identical for any number of threads. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "fft.h"
#include "stft.h"
#include "util.h"

/* Blocks per thread below which threads cost more than they save. */
#define STFT_MIN_BLOCKS_PER_THREAD 4
/* torch.istft refuses an envelope below this ("window overlap add min") */
#define STFT_ENVELOPE_MIN 1e-11

struct stft_scratch {
	real *frames;		/* [B, n_fft] real */
	real *spec;		/* [B, F] complex (r2c), or [F, B] bin-major (c2r) */
	real *acc;		/* [B*hop + n_fft] overlap-add accumulator */
};

struct stft {
	int n_fft, hop, bins;
	real *window;		/* [n_fft] periodic Hann */
	real *synth;		/* [n_fft] window / n_fft (c2r is unnormalised) */
	double *window_sq;	/* [n_fft] window^2, for envelopes near the edges */
	real *inv_env;		/* [hop] 1 / envelope where every frame overlaps, by j % hop;
				   0 where the envelope is below STFT_ENVELOPE_MIN */
	int interior_ok;	/* the interior envelope is never below the minimum */
	real *inv_edge;	/* [3*n_fft] per-call inverse envelope: head [2*n_fft]
				   (a short signal may be all head), tail [n_fft] */
	struct fft_plan *plan;	/* batch STFT_BLOCK */
	int nscratch;
	struct stft_scratch *scratch;	/* per thread, allocated on first use */
};

struct stft *stft_create(int n_fft, int hop)
{
	struct stft *s;
	int k, r;

	if (n_fft < 2 || n_fft % 2 || hop < 1 || hop > n_fft)
		return NULL;
	s = xcalloc(1, sizeof(*s));
	s->n_fft = n_fft;
	s->hop = hop;
	s->bins = n_fft / 2 + 1;
	s->window = xmalloc(sizeof(real) * n_fft);
	s->synth = xmalloc(sizeof(real) * n_fft);
	s->window_sq = xmalloc(sizeof(double) * n_fft);
	for (k = 0; k < n_fft; k++) {
		/* torch.hann_window(n_fft, periodic=True) */
		double w = 0.5 - 0.5 * cos(2.0 * M_PI * k / n_fft);
		s->window[k] = (real)w;
		s->synth[k] = (real)(w / n_fft);
		s->window_sq[k] = (double)s->window[k] * s->window[k];
	}
	s->inv_env = xmalloc(sizeof(real) * hop);
	s->interior_ok = 1;
	for (r = 0; r < hop; r++) {
		double e = 0;
		for (k = r; k < n_fft; k += hop)
			e += s->window_sq[k];
		s->inv_env[r] = e > STFT_ENVELOPE_MIN ? (real)(1.0 / e) : 0.0f;
		if (!(e > STFT_ENVELOPE_MIN))
			s->interior_ok = 0;
	}
	s->inv_edge = xmalloc(sizeof(real) * 3 * n_fft);
	s->plan = fft_plan_create(n_fft, STFT_BLOCK);
	return s;
}

void stft_free(struct stft *s)
{
	int i;

	if (!s)
		return;
	for (i = 0; i < s->nscratch; i++) {
		fft_free(s->scratch[i].frames);
		fft_free(s->scratch[i].spec);
		free(s->scratch[i].acc);
	}
	free(s->scratch);
	fft_plan_free(s->plan);
	free(s->window);
	free(s->synth);
	free(s->window_sq);
	free(s->inv_env);
	free(s->inv_edge);
	free(s);
}

int stft_n_fft(const struct stft *s) { return s->n_fft; }
int stft_hop(const struct stft *s) { return s->hop; }
int stft_bins(const struct stft *s) { return s->bins; }
int64_t stft_frames(const struct stft *s, int64_t n) { return 1 + n / s->hop; }
const real *stft_window(const struct stft *s) { return s->window; }

/* ---- threads ---- */

static int thread_count(int64_t blocks)
{
	int64_t most = blocks / STFT_MIN_BLOCKS_PER_THREAD;
	int nth = max_threads();
	return most < 1 ? 1 : most < nth ? (int)most : nth;
}

static int thread_id(void)
{
#ifdef _OPENMP
	return omp_get_thread_num();
#else
	return 0;
#endif
}

/* Make room for nth threads' scratch; each thread allocates its own on
 * first use (first touch puts it near the thread that uses it). */
static void scratch_reserve(struct stft *s, int nth)
{
	if (nth <= s->nscratch)
		return;
	s->scratch = xrealloc(s->scratch, sizeof(*s->scratch) * nth);
	memset(s->scratch + s->nscratch, 0, sizeof(*s->scratch) * (nth - s->nscratch));
	s->nscratch = nth;
}

static struct stft_scratch *scratch_get(struct stft *s)
{
	struct stft_scratch *sc = &s->scratch[thread_id()];

	if (!sc->frames) {
		sc->frames = fft_alloc(sizeof(real) * STFT_BLOCK * s->n_fft);
		sc->spec = fft_alloc(2 * sizeof(real) * STFT_BLOCK * s->bins);
		sc->acc = xmalloc(sizeof(real) * ((size_t)STFT_BLOCK * s->hop + s->n_fft));
	}
	return sc;
}

/* ---- forward ---- */

/* frame[k] = w[k] * xpad[t*hop + k], xpad = x reflect-padded by n_fft/2 */
static void window_frame(const struct stft *s, real *frame, const real *x, int64_t n, int64_t t)
{
	int64_t start = t * s->hop - s->n_fft / 2, i;
	int k;

	if (start >= 0 && start + s->n_fft <= n) {
		const real *xs = x + start;
		for (k = 0; k < s->n_fft; k++)
			frame[k] = s->window[k] * xs[k];
		return;
	}
	for (k = 0; k < s->n_fft; k++) {
		i = start + k;
		if (i < 0)
			i = -i;
		else if (i >= n)
			i = 2 * (n - 1) - i;
		frame[k] = s->window[k] * x[i];
	}
}

/* Frames [t0, t0 + B) ∩ [0, T) into columns of out [F, T]. */
static void forward_block(struct stft *s, struct stft_scratch *sc, real *out,
                          const real *x, int64_t n, int64_t T, int64_t t0)
{
	int nb = T - t0 < STFT_BLOCK ? (int)(T - t0) : STFT_BLOCK;
	int b, f, F = s->bins;

	for (b = 0; b < nb; b++)
		window_frame(s, sc->frames + (size_t)b * s->n_fft, x, n, t0 + b);
	if (nb < STFT_BLOCK)
		memset(sc->frames + (size_t)nb * s->n_fft, 0,
		       sizeof(real) * (STFT_BLOCK - nb) * s->n_fft);
	fft_r2c(s->plan, sc->spec, sc->frames);
	for (f = 0; f < F; f++) {
		real *row = out + 2 * ((size_t)f * T + t0);
		const real *col = sc->spec + 2 * f;
		for (b = 0; b < nb; b++) {
			row[2 * b] = col[2 * (size_t)b * F];
			row[2 * b + 1] = col[2 * (size_t)b * F + 1];
		}
	}
}

int stft_forward(struct stft *s, real *out, const real *x, int64_t n)
{
	int64_t T, nblocks;
	int nth;

	if (n <= s->n_fft / 2)
		return -1;
	T = stft_frames(s, n);
	nblocks = (T + STFT_BLOCK - 1) / STFT_BLOCK;
	nth = thread_count(nblocks);
	scratch_reserve(s, nth);
#ifdef _OPENMP
#pragma omp parallel num_threads(nth) if (nth > 1)
#endif
	{
		int id = thread_id();
		struct stft_scratch *sc = scratch_get(s);
		int64_t blk, b0 = nblocks * id / nth, b1 = nblocks * (id + 1) / nth;

		for (blk = b0; blk < b1; blk++)
			forward_block(s, sc, out, x, n, T, blk * STFT_BLOCK);
	}
	return 0;
}

/* ---- inverse ---- */

/* Summed squared window at padded position j over frames [0, T), in double. */
static double envelope_at(const struct stft *s, int64_t j, int64_t T)
{
	int64_t t = j / s->hop, tlo = j - s->n_fft + 1;
	double e = 0;

	tlo = tlo <= 0 ? 0 : (tlo + s->hop - 1) / s->hop;
	if (t > T - 1)
		t = T - 1;
	for (; t >= tlo; t--)
		e += s->window_sq[j - t * s->hop];
	return e;
}

/* Padded positions [pad, pad + n) split into: head [pad, ia), interior
 * [ia, ib) where every frame overlapping j exists, tail [ib, pad + n). */
struct inverse_ranges {
	int64_t pad, end, ia, ib;
};

/* Fill s->inv_edge for the head and tail; -1 where torch would refuse. */
static int edge_envelope(struct stft *s, struct inverse_ranges *r, int64_t T, int64_t n)
{
	int64_t j;

	r->pad = s->n_fft / 2;
	r->end = r->pad + n;
	r->ia = s->n_fft - 1;
	r->ib = T * s->hop;
	if (r->ia < r->pad)
		r->ia = r->pad;
	if (r->ib > r->end)
		r->ib = r->end;
	if (r->ia > r->ib)	/* no interior at all: one edge region */
		r->ia = r->ib = r->end;
	/* T covers n (checked by the caller), so the head is shorter than
	 * 1.5 n_fft and the tail shorter than n_fft */
	if (r->ia - r->pad > 2 * s->n_fft || r->end - r->ib > s->n_fft)
		return -1;
	for (j = r->pad; j < r->ia; j++) {
		double e = envelope_at(s, j, T);
		if (!(e > STFT_ENVELOPE_MIN))
			return -1;
		s->inv_edge[j - r->pad] = (real)(1.0 / e);
	}
	for (j = r->ib; j < r->end; j++) {
		double e = envelope_at(s, j, T);
		if (!(e > STFT_ENVELOPE_MIN))
			return -1;
		s->inv_edge[2 * s->n_fft + j - r->ib] = (real)(1.0 / e);
	}
	return 0;
}

/* y[j - pad] = acc[j - base] / envelope(j) for padded j in [j0, j1). */
static void emit(const struct stft *s, const struct inverse_ranges *r, real *y,
                 const real *acc, int64_t base, int64_t j0, int64_t j1)
{
	int64_t j, stop;
	int ph;

	for (j = j0, stop = j1 < r->ia ? j1 : r->ia; j < stop; j++)
		y[j - r->pad] = acc[j - base] * s->inv_edge[j - r->pad];
	j = j0 > r->ia ? j0 : r->ia;
	stop = j1 < r->ib ? j1 : r->ib;
	for (ph = (int)(j % s->hop); j < stop; j++) {
		y[j - r->pad] = acc[j - base] * s->inv_env[ph];
		if (++ph == s->hop)
			ph = 0;
	}
	for (j = j0 > r->ib ? j0 : r->ib; j < j1; j++)
		y[j - r->pad] = acc[j - base] * s->inv_edge[2 * s->n_fft + j - r->ib];
}

/* Gather frames [t0, t0 + B) ∩ [0, T) of in [F, T], c2r, window and add
 * into acc, which starts at padded position t0 * hop. */
static void inverse_block(struct stft *s, struct stft_scratch *sc, const real *in,
                          int64_t T, int64_t t0)
{
	int nb = T - t0 < STFT_BLOCK ? (int)(T - t0) : STFT_BLOCK;
	int b, f, k, F = s->bins;

	if (nb == STFT_BLOCK) {	// a whole block: copies of a constant size, inlined
		for (f = 0; f < F; f++)	// bin-major: a row's frames in one run
			memcpy(sc->spec + 2 * (size_t)f * STFT_BLOCK, in + 2 * ((size_t)f * T + t0),
			       2 * sizeof(real) * STFT_BLOCK);
	} else {
		for (f = 0; f < F; f++) {
			real *col = sc->spec + 2 * (size_t)f * STFT_BLOCK;
			memcpy(col, in + 2 * ((size_t)f * T + t0), 2 * sizeof(real) * nb);
			memset(col + 2 * nb, 0, 2 * sizeof(real) * (STFT_BLOCK - nb));
		}
	}
	fft_c2r(s->plan, sc->frames, sc->spec);
	for (b = 0; b < nb; b++) {
		real *a = sc->acc + (size_t)b * s->hop;
		const real *fr = sc->frames + (size_t)b * s->n_fft;
		for (k = 0; k < s->n_fft; k++)
			a[k] += fr[k] * s->synth[k];
	}
}

/* Output positions owned by blocks [b0, b1): padded [b0*B*hop, b1*B*hop),
 * the last owner taking everything to the end. */
static void inverse_range(struct stft *s, const struct inverse_ranges *r, real *y,
                          const real *in, int64_t T, int64_t b0, int64_t b1, int last)
{
	struct stft_scratch *sc = scratch_get(s);
	int64_t step = (int64_t)STFT_BLOCK * s->hop, lo, hi, first, blk;
	size_t keep = (size_t)s->n_fft, len = (size_t)step + keep;

	lo = b0 * step > r->pad ? b0 * step : r->pad;
	hi = last || b1 * step > r->end ? r->end : b1 * step;
	if (lo >= hi)
		return;
	/* the first block holding a frame that reaches lo */
	first = lo - s->n_fft + 1;
	first = first <= 0 ? 0 : (first + s->hop - 1) / s->hop / STFT_BLOCK;
	memset(sc->acc, 0, sizeof(real) * len);
	for (blk = first;; blk++) {
		int64_t base = blk * step, j0 = base > lo ? base : lo, j1 = base + step;
		inverse_block(s, sc, in, T, blk * STFT_BLOCK);
		/* no later frame starts before base + step; after the last
		 * frame, acc holds everything up to hi (T covers n) */
		if (j1 > hi || (blk + 1) * STFT_BLOCK >= T)
			j1 = hi;
		if (j0 < j1)
			emit(s, r, y, sc->acc, base, j0, j1);
		if (j1 == hi)
			break;
		memmove(sc->acc, sc->acc + step, sizeof(real) * keep);
		memset(sc->acc + keep, 0, sizeof(real) * step);
	}
}

/* The ranges of an inverse of T frames to n samples; -1 when T frames
 * cannot make n samples (stft_inverse and its adjoint). */
static int inverse_plan(struct stft *s, struct inverse_ranges *r, int64_t T, int64_t n)
{
	if (n <= s->n_fft / 2 || T < 1)
		return -1;
	/* the frames must reach the last kept sample (torch would pad zeros) */
	if ((T - 1) * s->hop + s->n_fft < s->n_fft / 2 + n)
		return -1;
	if (edge_envelope(s, r, T, n) < 0 || (r->ia < r->ib && !s->interior_ok))
		return -1;
	return 0;
}

int stft_inverse(struct stft *s, real *y, const real *in, int64_t T, int64_t n)
{
	struct inverse_ranges r;
	int64_t nblocks;
	int nth;

	if (inverse_plan(s, &r, T, n))
		return -1;
	nblocks = (T + STFT_BLOCK - 1) / STFT_BLOCK;
	nth = thread_count(nblocks);
	scratch_reserve(s, nth);
#ifdef _OPENMP
#pragma omp parallel num_threads(nth) if (nth > 1)
#endif
	{
		int id = thread_id();
		inverse_range(s, &r, y, in, T, nblocks * id / nth,
		              nblocks * (id + 1) / nth, id == nth - 1);
	}
	return 0;
}

/* ---- the inverse's adjoint (training: the loss's gradient through iSTFT) ---- */

/* 1 / envelope at padded position j in [pad, end) (as emit divides). */
static real inv_envelope(const struct stft *s, const struct inverse_ranges *r, int64_t j)
{
	if (j < r->ia)
		return s->inv_edge[j - r->pad];
	if (j < r->ib)
		return s->inv_env[j % s->hop];
	return s->inv_edge[2 * s->n_fft + j - r->ib];
}

int stft_inverse_adjoint(struct stft *s, real *din, const real *dy, int64_t T, int64_t n)
{
	// stft_inverse is y = trim(OLA(synth · irfft(X_t))) / envelope.  The
	// trim and the division are diagonal; the adjoint of the windowed
	// overlap-add cuts frames and windows them; and irfft(X)[k] =
	// (1/N) Σ_f c_f Re(X_f e^{2πifk/N}) with c_f = 2 except c_0 = c_{N/2} = 1
	// (whose imaginary parts irfft ignores) has the adjoint
	// dX_f = c_f · rfft(g)_f / N, the 1/N being in synth.
	struct inverse_ranges r;
	int F = s->bins;

	if (inverse_plan(s, &r, T, n))
		return -1;
	scratch_reserve(s, 1);
#ifdef _OPENMP
#pragma omp parallel num_threads(1)	/* scratch 0 whatever the caller's thread */
#endif
	{
		struct stft_scratch *sc = scratch_get(s);
		for (int64_t t0 = 0; t0 < T; t0 += STFT_BLOCK) {
			int nb = T - t0 < STFT_BLOCK ? (int)(T - t0) : STFT_BLOCK;
			memset(sc->frames, 0, sizeof(real) * STFT_BLOCK * s->n_fft);
			for (int b = 0; b < nb; b++) {
				real *fr = sc->frames + (size_t)b * s->n_fft;
				int64_t j0 = (t0 + b) * s->hop;
				for (int k = 0; k < s->n_fft; k++) {
					int64_t j = j0 + k;
					if (j >= r.pad && j < r.end)
						fr[k] = dy[j - r.pad] * inv_envelope(s, &r, j) * s->synth[k];
				}
			}
			fft_r2c(s->plan, sc->spec, sc->frames);
			for (int f = 0; f < F; f++) {
				int edge = f == 0 || 2 * f == s->n_fft;
				real c = edge ? 1 : 2, *row = din + 2 * ((size_t)f * T + t0);
				const real *col = sc->spec + 2 * f;
				for (int b = 0; b < nb; b++) {
					row[2 * b] += c * col[2 * (size_t)b * F];
					if (!edge)
						row[2 * b + 1] += c * col[2 * (size_t)b * F + 1];
				}
			}
		}
	}
	return 0;
}
