/* test_stft.c: STFT against a direct DFT, perfect reconstruction, torch
 * golden data (tests/golden/stft-*.snt from tests/reference/golden-stft.py),
 * thread-count independence and the error cases. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "backend.h"
#include "fft.h"
#include "snt.h"
#include "stft.h"
#include "stftstream.h"
#include "test.h"
#include "util.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

/* uniform in [-1, 1) (xorshift64*) */
static float uniform(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (float)((rng_state * 0x2545f4914f6cdd1dull >> 11) * 0x1p-52 - 1.0);
}

static float *random_signal(int64_t n)
{
	float *x = xmalloc(sizeof(float) * n);
	int64_t i;

	for (i = 0; i < n; i++)
		x[i] = uniform();
	return x;
}

static float *spec_alloc(struct stft *s, int64_t n)
{
	return xmalloc(2 * sizeof(float) * stft_bins(s) * stft_frames(s, n));
}

/* ---- STFT against a direct DFT in double ---- */

/* X[f, t] = sum_k w[k] xpad[t*hop + k] e^{-2 pi i f k / N}; returns
 * max |X - ref| / max |ref|. */
static double dft_error(int n_fft, int hop, int64_t n)
{
	struct stft *s = stft_create(n_fft, hop);
	int F = n_fft / 2 + 1, pad = n_fft / 2, f, k;
	int64_t T = 1 + n / hop, t, i;
	float *x = random_signal(n), *X = spec_alloc(s, n);
	double *cs = xmalloc(sizeof(double) * n_fft), *sn = xmalloc(sizeof(double) * n_fft);
	double *frame = xmalloc(sizeof(double) * n_fft), err = 0, mag = 0;

	CHECK(stft_forward(s, X, x, n) == 0, "stft_forward failed");
	for (k = 0; k < n_fft; k++) {
		cs[k] = cos(2 * M_PI * k / n_fft);
		sn[k] = sin(2 * M_PI * k / n_fft);
	}
	for (t = 0; t < T; t++) {
		for (k = 0; k < n_fft; k++) {
			i = t * hop + k - pad;
			i = i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i;
			frame[k] = (0.5 - 0.5 * cs[k]) * x[i];
		}
		for (f = 0; f < F; f++) {
			double re = 0, im = 0, dre, dim;
			for (k = 0; k < n_fft; k++) {
				int m = (int)((int64_t)f * k % n_fft);
				re += frame[k] * cs[m];
				im -= frame[k] * sn[m];
			}
			dre = X[2 * (f * T + t)] - re;
			dim = X[2 * (f * T + t) + 1] - im;
			err = fmax(err, sqrt(dre * dre + dim * dim));
			mag = fmax(mag, sqrt(re * re + im * im));
		}
	}
	free(x), free(X), free(cs), free(sn), free(frame);
	stft_free(s);
	return err / mag;
}

static void test_window(void)
{
	struct stft *s = stft_create(512, 128);
	const float *w = stft_window(s);
	int k;

	CHECK(stft_n_fft(s) == 512 && stft_hop(s) == 128 && stft_bins(s) == 257, "sizes");
	CHECK(stft_frames(s, 1000) == 8 && stft_frames(s, 1024) == 9, "T = 1 + n / hop");
	for (k = 0; k < 512; k++)
		CHECK_NEAR(w[k], 0.5 - 0.5 * cos(2 * M_PI * k / 512), 1e-7);
	stft_free(s);
}

static void test_dft(void)
{
	/* n_fft, hop, n: the configs' sizes, a hop that does not divide n_fft,
	 * the shortest signal (n_fft/2 + 1) and lengths that are not a
	 * multiple of hop.  1e-5 relative: float32 FFT rounding grows like
	 * eps * log2(n_fft) ~ 1e-6 of the largest bin. */
	static const int cases[][3] = {
		{ 512, 128, 3000 }, { 512, 128, 257 }, { 256, 100, 1234 },
		{ 2048, 512, 4100 }, { 4096, 1024, 5000 }, { 64, 16, 33 }, { 6, 2, 19 },
	};
	size_t c;

	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		double e = dft_error(cases[c][0], cases[c][1], cases[c][2]);
		CHECK(e < 1e-5, "n_fft %d hop %d n %d: relative error %.3g",
		      cases[c][0], cases[c][1], cases[c][2], e);
	}
}

/* ---- perfect reconstruction ---- */

/* max |istft(stft(x)) - x| over a [channels, n] signal, one struct */
static double roundtrip_error(int n_fft, int hop, int channels, int64_t n)
{
	struct stft *s = stft_create(n_fft, hop);
	float *x = random_signal(channels * n), *y = xmalloc(sizeof(float) * n);
	float *X = spec_alloc(s, n);
	double err = 0;
	int64_t i;
	int c;

	for (c = 0; c < channels; c++) {
		CHECK(stft_forward(s, X, x + c * n, n) == 0, "stft_forward");
		CHECK(stft_inverse(s, y, X, stft_frames(s, n), n) == 0, "stft_inverse");
		for (i = 0; i < n; i++)
			err = fmax(err, fabs(y[i] - x[c * n + i]));
	}
	free(x), free(y), free(X);
	stft_free(s);
	return err;
}

static void test_reconstruction(void)
{
	static const int pairs[][2] = { { 512, 128 }, { 2048, 512 }, { 4096, 1024 } };
	size_t p, l;

	for (p = 0; p < sizeof(pairs) / sizeof(pairs[0]); p++) {
		int n_fft = pairs[p][0], hop = pairs[p][1];
		/* a multiple of hop, not a multiple, shorter than n_fft, the
		 * shortest allowed, and long enough to be split between threads */
		int64_t lengths[] = { 8 * hop, 8 * hop + 37, n_fft - 5, n_fft / 2 + 1, 300 * hop + 1 };
		for (l = 0; l < sizeof(lengths) / sizeof(lengths[0]); l++) {
			int channels = l % 2 ? 2 : 1;
			/* 1e-5 on a signal in [-1, 1]: float rounding of two FFTs */
			double e = roundtrip_error(n_fft, hop, channels, lengths[l]);
			CHECK(e < 1e-5, "n_fft %d hop %d n %lld channels %d: max error %.3g",
			      n_fft, hop, (long long)lengths[l], channels, e);
		}
	}
}

/* More frames than stft_frames(n): the istft of a longer signal's STFT,
 * trimmed, gives that signal's start. */
static void test_extra_frames(void)
{
	struct stft *s = stft_create(512, 128);
	int64_t n = 3000, m = 2500, i, T = stft_frames(s, n);
	float *x = random_signal(n), *X = spec_alloc(s, n), *y = xmalloc(sizeof(float) * m);
	double err = 0;

	CHECK(stft_forward(s, X, x, n) == 0, "stft_forward");
	CHECK(stft_inverse(s, y, X, T, m) == 0, "stft_inverse with extra frames");
	for (i = 0; i < m; i++)
		err = fmax(err, fabs(y[i] - x[i]));
	CHECK(err < 1e-5, "max error %.3g", err);
	free(x), free(X), free(y);
	stft_free(s);
}

/* Results do not depend on the thread count (bit-identical). */
static void test_threads(void)
{
#ifdef _OPENMP
	struct stft *s = stft_create(512, 128);
	int64_t n = 100000, T = stft_frames(s, n), F = stft_bins(s);
	float *x = random_signal(n), *X1 = spec_alloc(s, n), *X2 = spec_alloc(s, n);
	float *y1 = xmalloc(sizeof(float) * n), *y2 = xmalloc(sizeof(float) * n);
	int saved = omp_get_max_threads();

	omp_set_num_threads(1);
	stft_forward(s, X1, x, n);
	stft_inverse(s, y1, X1, T, n);
	omp_set_num_threads(3);
	stft_forward(s, X2, x, n);
	stft_inverse(s, y2, X1, T, n);
	omp_set_num_threads(saved);
	CHECK(!memcmp(X1, X2, sizeof(float) * 2 * F * T), "stft differs between 1 and 3 threads");
	CHECK(!memcmp(y1, y2, sizeof(float) * n), "istft differs between 1 and 3 threads");
	free(x), free(X1), free(X2), free(y1), free(y2);
	stft_free(s);
#endif
}

/* Plans made, used and freed by several threads at once, each thread with
 * its own struct stft as stft.h asks: every result must still be right.
 * (A smoke test: with the planner lock removed, the race did not show in
 * ten runs on two cores, so this does not prove the lock.) */
static void test_concurrent_plans(void)
{
	int failures = 0, i;

#ifdef _OPENMP
#pragma omp parallel for num_threads(4) schedule(static, 1) reduction(+ : failures)
#endif
	for (i = 0; i < 16; i++) {
		int n_fft = 64 << (i % 4), hop = n_fft / 4;
		struct stft *s = stft_create(n_fft, hop);
		int64_t n = 5 * n_fft + i, k;
		float *x = xmalloc(sizeof(float) * n), *y = xmalloc(sizeof(float) * n);
		float *X = spec_alloc(s, n);
		for (k = 0; k < n; k++)
			x[k] = (float)sin(0.01 * (k + 1) * (i + 1));
		stft_forward(s, X, x, n);
		stft_inverse(s, y, X, stft_frames(s, n), n);
		for (k = 0; k < n; k++)
			failures += !(fabs(y[k] - x[k]) < 1e-5);
		free(x), free(y), free(X);
		stft_free(s);
	}
	CHECK(failures == 0, "%d samples not reconstructed", failures);
}

/* ---- torch golden data ---- */

struct golden {
	int n_fft, hop;
	int64_t channels, n, F, T;
	float *x, *stft, *spec, *istft;
};

static int header_int(const struct snt_header *h, const char *key)
{
	const char *v = snt_header_get(h, key);
	int i;

	if (!v || parse_int(v, &i))
		die("golden record lacks %s", key);
	return i;
}

static void golden_load(struct golden *g, const char *path)
{
	struct snt_reader *r = snt_reader_open(path);
	struct snt_header h;
	float **dst[] = { &g->x, &g->stft, &g->spec, &g->istft };
	int i;

	if (!r)
		die("%s:", path);
	snt_header_init(&h);
	for (i = 0; i < 4; i++) {
		if (snt_read_header_or_die(r, &h) != 1)
			die("%s: expected 4 records", path);
		g->n_fft = header_int(&h, "n_fft");
		g->hop = header_int(&h, "hop");
		g->n = header_int(&h, "length");
		g->channels = h.shape[0];
		if (h.dtype == SNT_C64)
			g->F = h.shape[1], g->T = h.shape[2];
		*dst[i] = snt_read_payload_alloc_or_die(r, &h);
	}
	snt_header_free(&h);
	snt_reader_close(r);
}

static double max_abs(const float *a, int64_t len)
{
	double m = 0;
	int64_t i;

	for (i = 0; i < len; i++)
		m = fmax(m, fabs(a[i]));
	return m;
}

static double max_diff(const float *a, const float *b, int64_t len)
{
	double m = 0;
	int64_t i;

	for (i = 0; i < len; i++)
		m = fmax(m, isnan(a[i]) ? INFINITY : fabs(a[i] - b[i]));
	return m;
}

static void golden_check(const char *name)
{
	char path[4096];
	const char *root = getenv("SEPNET_ROOT");
	struct golden g;
	struct stft *s;
	float *X, *y;
	int64_t c, spec_len, F, T;
	double e;

	snprintf(path, sizeof(path), "%s/tests/golden/stft-%s.snt", root ? root : ".", name);
	golden_load(&g, path);
	s = stft_create(g.n_fft, g.hop);
	F = stft_bins(s);
	T = stft_frames(s, g.n);
	CHECK(F == g.F && T == g.T, "%s: shape [%lld, %lld], torch [%lld, %lld]",
	      name, (long long)F, (long long)T, (long long)g.F, (long long)g.T);
	spec_len = 2 * F * T;
	X = xmalloc(sizeof(float) * spec_len);
	y = xmalloc(sizeof(float) * g.n);
	/* Tolerance 1e-5 of the largest value: both sides are float32 FFTs
	 * (FFTW here, pocketfft in torch) whose rounding differs by a few
	 * eps * log2(n_fft) ~ 1e-6 relative to the norm of the data; the
	 * windows also differ in the last bit (torch computes cos in float). */
	for (c = 0; c < g.channels && F == g.F && T == g.T; c++) {
		const float *ref = g.stft + c * spec_len;
		CHECK(stft_forward(s, X, g.x + c * g.n, g.n) == 0, "stft_forward");
		e = max_diff(X, ref, spec_len) / max_abs(ref, spec_len);
		CHECK(e < 1e-5, "%s channel %lld: stft relative error %.3g", name, (long long)c, e);

		ref = g.istft + c * g.n;
		CHECK(stft_inverse(s, y, g.spec + c * spec_len, T, g.n) == 0, "stft_inverse");
		e = max_diff(y, ref, g.n) / max_abs(ref, g.n);
		CHECK(e < 1e-5, "%s channel %lld: istft relative error %.3g", name, (long long)c, e);
	}
	free(X), free(y), free(g.x), free(g.stft), free(g.spec), free(g.istft);
	stft_free(s);
}

static void test_golden_torch(void)
{
	golden_check("512-128");
	golden_check("2048-512");
	golden_check("4096-1024-short");
	golden_check("256-100");
}

/* ---- errors ---- */

static void test_errors(void)
{
	struct stft *s = stft_create(512, 128);
	float x[256] = { 0 }, X[2 * 257 * 3], y[400];

	CHECK(stft_create(512, 0) == NULL, "hop 0 accepted");
	CHECK(stft_create(512, 513) == NULL, "hop > n_fft accepted");
	CHECK(stft_create(511, 128) == NULL, "odd n_fft accepted");
	/* reflect padding of n_fft/2 needs n > n_fft/2 (torch errors too) */
	CHECK(stft_forward(s, X, x, 256) == -1, "n = n_fft/2 accepted");
	CHECK(stft_forward(s, X, x, 1) == -1, "n = 1 accepted");
	CHECK(stft_inverse(s, y, X, 3, 256) == -1, "istft n = n_fft/2 accepted");
	/* 2 frames reach padded sample 128 + 512 = 640 < 256 + 400 */
	CHECK(stft_inverse(s, y, X, 2, 400) == -1, "too few frames accepted");
	CHECK(stft_inverse(s, y, X, 0, 400) == -1, "no frames accepted");
	stft_free(s);

	/* hop == n_fft: the periodic Hann window is 0 at k = 0, so the
	 * envelope vanishes at every frame start (torch refuses too) */
	s = stft_create(8, 8);
	{
		float x2[64], X2[2 * 5 * 9], y2[64];
		int i;
		for (i = 0; i < 64; i++)
			x2[i] = uniform();
		CHECK(stft_forward(s, X2, x2, 64) == 0, "stft hop == n_fft");
		CHECK(stft_inverse(s, y2, X2, 9, 64) == -1, "zero envelope accepted");
	}
	stft_free(s);
}

/* ---- the FFT module on its own ---- */

static void test_fft_roundtrip(void)
{
	struct fft_plan *p = fft_plan_create(12, 3);
	float *re = fft_alloc(sizeof(float) * 36), *cx = fft_alloc(sizeof(float) * 2 * 7 * 3);
	float *back = fft_alloc(sizeof(float) * 36), orig[36];
	int i, b;

	CHECK(fft_plan_n(p) == 12 && fft_plan_batch(p) == 3, "plan sizes");
	for (i = 0; i < 36; i++)
		orig[i] = re[i] = uniform();
	fft_r2c(p, cx, re);
	for (b = 0; b < 3; b++) {	/* DC bin is the sum, Nyquist the alternating sum */
		double dc = 0, ny = 0;
		for (i = 0; i < 12; i++)
			dc += orig[12 * b + i], ny += (i % 2 ? -1 : 1) * orig[12 * b + i];
		CHECK_NEAR(cx[14 * b], dc, 1e-5);
		CHECK_NEAR(cx[14 * b + 12], ny, 1e-5);
	}
	CHECK(!memcmp(re, orig, sizeof(orig)), "r2c changed its input");
	float bins[2 * 7 * 3];	/* c2r takes them bin-major: [7][3] */
	for (b = 0; b < 3; b++)
		for (i = 0; i < 7; i++)
			bins[2 * (3 * i + b)] = cx[14 * b + 2 * i], bins[2 * (3 * i + b) + 1] = cx[14 * b + 2 * i + 1];
	memcpy(cx, bins, sizeof bins);
	fft_c2r(p, back, cx);
	for (i = 0; i < 36; i++)
		CHECK_NEAR(back[i], 12 * orig[i], 1e-5);
	fft_free(re), fft_free(cx), fft_free(back);
	fft_plan_free(p);
}

/* The configs' sizes are planned from the compiled-in wisdom (fft.c) where
 * FFTW took it: a plan's layout changed without `make wisdom` falls back to
 * FFTW_ESTIMATE silently, 20-30 % slower, and fails here.  (The plans'
 * results are the golden and DFT checks' above.) */
static void test_fft_wisdom(void)
{
	static const int sizes[] = { 512, 1024, 2048, 4096 };
	if (!fft_wisdom_in()) {
		printf("# FFTW did not take the compiled-in wisdom (another FFTW build or CPU): "
		       "every plan FFTW_ESTIMATE's\n");
		return;
	}
	for (int k = 0; k < 4; k++) {
		struct fft_plan *p = fft_plan_create(sizes[k], STFT_BLOCK);
		CHECK(fft_plan_wise(p) == (FFT_R2C_WISE | FFT_C2R_WISE),
		      "n %d batch %d: planned from the wisdom %d (make wisdom)", sizes[k], STFT_BLOCK,
		      fft_plan_wise(p));
		fft_plan_free(p);
	}
	struct fft_plan *p = fft_plan_create(12, 3);	// no wisdom: FFTW_ESTIMATE
	CHECK(fft_plan_wise(p) == 0, "n 12 batch 3: planned from the wisdom %d", fft_plan_wise(p));
	fft_plan_free(p);
}

/* ---- a track in pieces (backend/stftstream.h) ----
 *
 * Pushed in pieces of any size, every final frame taken after each push
 * (copied out, or row by row where the stream holds them, as stft writes),
 * the STFT of a track is its whole STFT bit for bit, and the iSTFT of
 * its frames pushed in pieces is the whole iSTFT bit for bit, whether a
 * push places every row at once or one row at a time (istft's). */
/* stft_stream_take_rows' put: bin q of the take at frame t of got (R·F, T) */
struct bins_at {
	float *got;
	int64_t T, t, q;
};

static void put_bins(void *ctx, const float *bin, int64_t n)
{
	struct bins_at *at = ctx;
	memcpy(at->got + (at->q++ * at->T + at->t) * 2, bin, sizeof(float) * 2 * (size_t)n);
}

static void test_stream(void)
{
	static const int ffts[][2] = { { 256, 64 }, { 256, 100 }, { 64, 16 } };
	static const int64_t lengths[] = { 129, 1000, 4096, 5003 }, pieces[] = { 1, 37, 256, 100000 };
	const int64_t R = 2;
	for (int c = 0; c < 3; c++)
		for (int l = 0; l < 4; l++) {
			int n_fft = ffts[c][0], hop = ffts[c][1];
			int64_t N = lengths[l], T = 1 + N / hop, F = n_fft / 2 + 1;
			float *x = random_signal(R * N), *whole = xmalloc(sizeof(float) * R * F * T * 2);
			float *got = xmalloc(sizeof(float) * R * F * T * 2);
			float *part = xmalloc(sizeof(float) * R * F * T * 2);
			float *y = xmalloc(sizeof(float) * R * N), *ywhole = xmalloc(sizeof(float) * R * N);
			struct backend_stft *bs = backend_cpu.stft_create(n_fft, hop);
			CHECK(!backend_cpu.stft_forward(bs, whole, x, R, N), "stft_forward");
			CHECK(!backend_cpu.stft_inverse(bs, ywhole, whole, R, T, N), "stft_inverse");
			struct stft_stream *ss = stft_stream_create(&backend_cpu, n_fft, hop, R);
			struct istft_stream *is = istft_stream_create(&backend_cpu, n_fft, hop, R);
			for (int k = 0; k < 4; k++) {
				stft_stream_begin(ss);
				int64_t pushed = 0, taken = 0;
				while (pushed < N) {
					int64_t n = N - pushed < pieces[k] ? N - pushed : pieces[k];
					pushed += n;
					CHECK(!stft_stream_push(ss, x + pushed - n, N, n, pushed == N),
					      "push refused");
					int64_t r = stft_stream_ready(ss);
					if (k & 2) {	// as stft writes them, from where they lie
						struct bins_at at = { got, T, taken, 0 };
						stft_stream_take_rows(ss, r, put_bins, &at);
						CHECK(at.q == (r ? R * F : 0), "%lld bins put", (long long)at.q);
					} else {
						stft_stream_take(ss, part, r);
						for (int64_t q = 0; q < R * F; q++)
							memcpy(got + (q * T + taken) * 2, part + q * r * 2,
							       sizeof(float) * 2 * r);
					}
					taken += r;
				}
				CHECK(taken == T, "n_fft %d hop %d N %lld pieces %lld: %lld of %lld frames",
				      n_fft, hop, (long long)N, (long long)pieces[k], (long long)taken,
				      (long long)T);
				CHECK(!memcmp(got, whole, sizeof(float) * R * F * T * 2),
				      "n_fft %d hop %d N %lld pieces %lld: frames differ", n_fft, hop,
				      (long long)N, (long long)pieces[k]);
				// the inverse, frames in pieces of pieces[k] / 16 (at least 1)
				int64_t step = pieces[k] / 16 > 0 ? pieces[k] / 16 : 1, made = 0;
				istft_stream_begin(is, k & 1 ? N : -1);
				if (!(k & 1) && N != (T - 1) * hop)
					istft_stream_begin(is, N);	// the length is not implied
				for (int64_t t = 0; t < T;) {
					int64_t n = T - t < step ? T - t : step;
					for (int64_t q = 0; q < R * F; q++)
						memcpy(part + q * n * 2, whole + (q * T + t) * 2,
						       sizeof(float) * 2 * n);
					t += n;
					const float *out;
					int64_t m = -1;
					if (k < 2) {	// every row at once
						m = istft_stream_push(is, part, n, t == T, &out);
						CHECK(m >= 0, "istft_stream_push refused");
						for (int64_t q = 0; q < R && m > 0; q++)
							memcpy(y + q * N + made, out + q * m, sizeof(float) * m);
					} else	// row by row, as istft reads a chunk
						for (int64_t r = 0; r < R; r++) {
							int64_t stride;
							float *at = istft_stream_place_rows(is, n, r, 1, &stride);
							for (int64_t q = 0; q < F; q++)
								memcpy(at + q * 2 * stride, part + (r * F + q) * n * 2,
								       sizeof(float) * 2 * n);
							int64_t mr = istft_stream_push_rows(is, t == T, &out);
							CHECK(mr >= 0 && (r == 0 || mr == m),
							      "row %lld: %lld samples, row 0 %lld", (long long)r,
							      (long long)mr, (long long)m);
							m = mr;
							if (m > 0)
								memcpy(y + r * N + made, out, sizeof(float) * m);
						}
					made += m > 0 ? m : 0;
				}
				CHECK(made == N, "n_fft %d hop %d N %lld: %lld of %lld samples", n_fft, hop,
				      (long long)N, (long long)made, (long long)N);
				CHECK(!memcmp(y, ywhole, sizeof(float) * R * N),
				      "n_fft %d hop %d N %lld pieces %lld: samples differ", n_fft, hop,
				      (long long)N, (long long)step);
			}
			// a track too short for the reflect padding is refused at its end
			stft_stream_begin(ss);
			CHECK(stft_stream_push(ss, x, N, n_fft / 2, true) == -1, "short track accepted");
			stft_stream_free(ss);
			istft_stream_free(is);
			backend_cpu.stft_free(bs);
			free(x), free(whole), free(got), free(part), free(y), free(ywhole);
		}
}

int main(void)
{
	RUN(test_fft_roundtrip);
	RUN(test_fft_wisdom);
	RUN(test_window);
	RUN(test_dft);
	RUN(test_reconstruction);
	RUN(test_extra_frames);
	RUN(test_threads);
	RUN(test_concurrent_plans);
	RUN(test_golden_torch);
	RUN(test_errors);
	RUN(test_stream);
	return test_summary();
}
