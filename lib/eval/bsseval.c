/* bsseval.c: BSSEval version 4 exactly as museval computes it
 * (museval.metrics.bss_eval with framewise_filters=False,
 * bsseval_sources_version=False, compute_permutation=False: what
 * museval.evaluate(mode='v4') and the SiSEC18/MUSDB18 scores use).
 *
 * Reference channels are r_X, X = source * nchan + channel; the estimate
 * channels are e_x numbered the same way; L taps of delay 0..L-1.
 *
 *  1. Over the whole track: corr_XY(k) = sum_n r_X[n] r_Y[n+k] for |k| < L
 *     and d_Xx(a) = sum_n r_X[n] e_x[n+a] for 0 <= a < L.  museval takes one
 *     FFT of the whole track per pair; here blocks of the track are
 *     transformed and the cross-spectra summed per block (same numbers up to
 *     rounding, bounded memory, and per-pair work that threads can share).
 *  2. The Gram G[(X,a),(Y,b)] = corr_XY(a-b) (museval's _reshape_G order:
 *     source, channel, lag) and the right sides D[(X,a), x] = d_Xx(a) give
 *     the distortion filters: (G + eps I) C = D projects every estimate on
 *     all references, (G_jj + eps I) Cj = D_j projects estimate j on its own
 *     reference only, eps = DBL_EPSILON as museval.  museval solves with LU
 *     (numpy.linalg.solve); G + eps I is symmetric positive definite, so
 *     Cholesky (half the work) gives the same filters; LU when Cholesky finds
 *     it numerically indefinite, least squares on G when LU finds it
 *     singular (museval's fallback, numpy.linalg.lstsq's default rcond).
 *  3. Window [t0, t0 + W): museval's _project convolves the window's slice
 *     of the references with the filters (W + L - 1 samples, nothing from
 *     outside the window).  With s = r_j, Pj, Pa those projections of the
 *     own and of all references and e the estimate, each zero-padded to
 *     W + L - 1 samples and summed over channels:
 *        SDR = |s|²/|e - s|²   ISR = |s|²/|Pj - s|²
 *        SIR = |Pj|²/|Pa - Pj|²   SAR = |Pa|²/|e - Pa|²   (in dB)
 *     The projections stay spectra (one FFT of M >= W + L - 1 points per
 *     channel and window, no wrap-around) and their energies are summed
 *     there by Parseval; SDR's come from the samples as museval's.
 *     A window where any reference or estimate source is silent is NaN; a
 *     zero denominator is +inf (museval's _safe_db).
 *
 * Threads: the blocks' FFTs and the per-pair accumulation, the filters'
 * spectra and the windows are shared out with OpenMP; every sum runs in an
 * order that does not depend on the thread count. */
#include "metrics.h"

#include <float.h>
#include <fftw3.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* LAPACK from OpenBLAS (Debian ships no lapacke.h with it); the trailing
 * size_t is gfortran's hidden length of a character argument. */
extern void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info,
		    size_t uplo_len);
extern void dpotrs_(const char *uplo, const int *n, const int *nrhs, const double *a,
		    const int *lda, double *b, const int *ldb, int *info, size_t uplo_len);
extern void dgesv_(const int *n, const int *nrhs, double *a, const int *lda, int *ipiv,
		   double *b, const int *ldb, int *info);
extern void dgelsd_(const int *m, const int *n, const int *nrhs, double *a, const int *lda,
		    double *b, const int *ldb, double *s, const double *rcond, int *rank,
		    double *work, const int *lwork, int *iwork, int *info);

#define BLOCK_BATCH 8	/* track blocks transformed per round of step 1 */

static void *fft_xmalloc(size_t bytes)
{
	void *p = fftw_malloc(bytes ? bytes : 1);
	if (!p)
		die("out of memory (%zu bytes)", bytes);
	return p;
}

/* smallest m >= n of the form 2^a 3^b 5^c 7^d (fast for FFTW) */
static int64_t fft_nice_size(int64_t n)
{
	static const int primes[] = { 2, 3, 5, 7 };
	for (int64_t m = n > 1 ? n : 1;; m++) {
		int64_t r = m;
		for (int i = 0; i < 4; i++)
			while (r % primes[i] == 0)
				r /= primes[i];
		if (r == 1)
			return m;
	}
}

int64_t bsseval_nframes(int64_t n, int64_t win, int64_t hop)
{
	return win < n ? (n - win + hop) / hop : 1;
}

static double safe_db(double num, double den)
{
	return den == 0 ? INFINITY : 10 * log10(num / den);
}

/* x[n0 .. n0 + len) of a signal of n samples (zero outside) into buf[0..m) */
static void load_segment(double *buf, int64_t m, const float *x, int64_t n, int64_t n0, int64_t len)
{
	for (int64_t i = 0; i < m; i++) {
		int64_t k = n0 + i;
		buf[i] = i < len && k >= 0 && k < n ? x[k] : 0;
	}
}

/* Step 1.  rr: [K][K][2L-1] with rr[X][Y][k + L-1] = corr_XY(k);
 * d: [K][K][L] with d[X][x][a] = d_Xx(a).  ref, est: [K][n]. */
static void correlate(double *rr, double *d, const float *ref, const float *est, int K,
		      int64_t n, int L)
{
	int64_t B = 16384 - 2 * (L - 1);	/* block length: FFT size ~16k */
	if (B < 8 * L)
		B = 8 * L;
	if (B > n)
		B = n;
	int64_t M = fft_nice_size(B + 2 * (L - 1)), F = M / 2 + 1, Fs = (F + 3) & ~3;
	int64_t nblocks = (n + B - 1) / B;
	int nrr = K * (K + 1) / 2, npairs = nrr + K * K;
	int *px = xmalloc(npairs * sizeof *px), *py = xmalloc(npairs * sizeof *py);
	for (int X = 0, p = 0; X < K; X++)
		for (int Y = X; Y < K; Y++, p++)
			px[p] = X, py[p] = Y;
	for (int p = nrr; p < npairs; p++)
		px[p] = (p - nrr) / K, py[p] = K + (p - nrr) % K;

	/* per block of a batch: 3K spectra (x form of the references, y form
	 * of the references, y form of the estimates); channel index
	 * K + Y / 2K + x picks the y forms */
	fftw_complex *spec = fft_xmalloc((size_t)BLOCK_BATCH * 3 * K * Fs * sizeof *spec);
	fftw_complex *acc = fft_xmalloc((size_t)npairs * Fs * sizeof *acc);
	memset(acc, 0, (size_t)npairs * Fs * sizeof *acc);
	double *rbuf = fft_xmalloc(M * sizeof *rbuf);
	fftw_plan fwd = fftw_plan_dft_r2c_1d(M, rbuf, spec, FFTW_ESTIMATE);
	fftw_plan inv = fftw_plan_dft_c2r_1d(M, acc, rbuf, FFTW_ESTIMATE);

	for (int64_t b0 = 0; b0 < nblocks; b0 += BLOCK_BATCH) {
		int nb = nblocks - b0 < BLOCK_BATCH ? nblocks - b0 : BLOCK_BATCH;
		#pragma omp parallel
		{
			double *buf = fft_xmalloc(M * sizeof *buf);
			#pragma omp for schedule(static)
			for (int task = 0; task < nb * 3 * K; task++) {
				int ib = task / (3 * K), ch = task % (3 * K);
				int64_t s = (b0 + ib) * B, len = n - s < B ? n - s : B;
				if (ch < K)	/* x form: the block alone */
					load_segment(buf, M, ref + ch * n, n, s, len);
				else		/* y form: the block and L-1 samples each side */
					load_segment(buf, M, ch < 2 * K ? ref + (ch - K) * n : est + (ch - 2 * K) * n,
						     n, s - (L - 1), len + 2 * (L - 1));
				fftw_execute_dft_r2c(fwd, buf, spec + ((size_t)ib * 3 * K + ch) * Fs);
			}
			fftw_free(buf);
		}
		/* acc += conj(X) Y, blocks summed in order whatever the threads */
		#pragma omp parallel for schedule(dynamic)
		for (int p = 0; p < npairs; p++) {
			fftw_complex *a = acc + (size_t)p * Fs;
			for (int ib = 0; ib < nb; ib++) {
				const fftw_complex *x = spec + ((size_t)ib * 3 * K + px[p]) * Fs;
				const fftw_complex *y = spec + ((size_t)ib * 3 * K + K + py[p]) * Fs;
				for (int64_t f = 0; f < F; f++) {
					a[f][0] += x[f][0] * y[f][0] + x[f][1] * y[f][1];
					a[f][1] += x[f][0] * y[f][1] - x[f][1] * y[f][0];
				}
			}
		}
	}

	/* back to lags: out[m] = sum_i x[i] yseg[i + m], lag k = m - (L-1) */
	#pragma omp parallel
	{
		double *buf = fft_xmalloc(M * sizeof *buf);
		#pragma omp for schedule(dynamic)
		for (int p = 0; p < npairs; p++) {
			fftw_execute_dft_c2r(inv, acc + (size_t)p * Fs, buf);
			int X = px[p], Y = py[p];
			if (p < nrr) {
				for (int k = -(L - 1); k <= L - 1; k++) {
					double v = buf[k + L - 1] / M;
					rr[((size_t)X * K + Y) * (2 * L - 1) + k + L - 1] = v;
					rr[((size_t)Y * K + X) * (2 * L - 1) - k + L - 1] = v;
				}
			} else {
				for (int a = 0; a < L; a++)
					d[((size_t)X * K + Y - K) * L + a] = buf[a + L - 1] / M;
			}
		}
		fftw_free(buf);
	}
	fftw_destroy_plan(fwd);
	fftw_destroy_plan(inv);
	fftw_free(rbuf);
	fftw_free(acc);
	fftw_free(spec);
	free(px);
	free(py);
}

/* G (+ eps I) over reference channels [x0, x0 + k), column-major, order (X, lag) */
static void gram_fill(double *g, const double *rr, int K, int L, int x0, int k, double eps)
{
	int64_t nn = (int64_t)k * L;
	for (int X = 0; X < k; X++)
		for (int Y = 0; Y < k; Y++) {
			const double *c = rr + ((size_t)(x0 + X) * K + x0 + Y) * (2 * L - 1) + L - 1;
			for (int b = 0; b < L; b++)
				for (int a = 0; a < L; a++)
					g[(int64_t)X * L + a + ((int64_t)Y * L + b) * nn] = c[a - b];
		}
	for (int64_t i = 0; i < nn; i++)
		g[i + i * nn] += eps;
}

/* Solve (G + eps I) X = B in place of b (nn x nrhs, column-major), g built
 * by gram_fill.  Returns 0 Cholesky, 1 LU, 2 least squares. */
static int gram_solve(double *g, double *b, int nn, int nrhs, const double *rr, int K, int L,
		      int x0, int k)
{
	int info, method = 0;
	double *b0 = xmalloc((size_t)nn * nrhs * sizeof *b0);
	memcpy(b0, b, (size_t)nn * nrhs * sizeof *b0);
	dpotrf_("L", &nn, g, &nn, &info, 1);
	if (!info) {
		dpotrs_("L", &nn, &nrhs, g, &nn, b, &nn, &info, 1);
		if (info)
			die("bsseval: dpotrs failed (info %d)", info);
		free(b0);
		return method;
	}
	method = 1;
	int *ipiv = xmalloc(nn * sizeof *ipiv);
	gram_fill(g, rr, K, L, x0, k, DBL_EPSILON);
	dgesv_(&nn, &nrhs, g, &nn, ipiv, b, &nn, &info);
	free(ipiv);
	if (info > 0) {		/* exactly singular: numpy.linalg.lstsq(G, D) */
		method = 2;
		memcpy(b, b0, (size_t)nn * nrhs * sizeof *b0);
		gram_fill(g, rr, K, L, x0, k, 0);
		double rcond = DBL_EPSILON * nn, wq;
		int rank, lwork = -1, iwq;
		double *s = xmalloc(nn * sizeof *s);
		dgelsd_(&nn, &nn, &nrhs, g, &nn, b, &nn, s, &rcond, &rank, &wq, &lwork, &iwq, &info);
		lwork = (int)wq;
		double *work = xmalloc((size_t)lwork * sizeof *work);
		int *iwork = xmalloc((size_t)(iwq > 1 ? iwq : 1) * sizeof *iwork);
		dgelsd_(&nn, &nn, &nrhs, g, &nn, b, &nn, s, &rcond, &rank, work, &lwork, iwork, &info);
		free(work);
		free(iwork);
		free(s);
	}
	if (info)
		die("bsseval: the Gram system cannot be solved (LAPACK info %d)", info);
	free(b0);
	return method;
}

/* 1 when some source of x[nsrc][nchan][n] is silent over [t0, t0 + len):
 * every sample of its channel sum is zero (museval's _any_source_silent,
 * summed in f32 like numpy on f32 input) */
static int any_source_silent(const float *x, int nsrc, int nchan, int64_t n, int64_t t0, int64_t len)
{
	for (int j = 0; j < nsrc; j++) {
		int64_t i;
		for (i = t0; i < t0 + len; i++) {
			float sum = 0;
			for (int c = 0; c < nchan; c++)
				sum += x[((int64_t)j * nchan + c) * n + i];
			if (sum != 0)
				break;
		}
		if (i == t0 + len)
			return 1;
	}
	return 0;
}

/* out = sum_X h[X] r[X]: the spectrum of the projection on nin channels */
static void project(fftw_complex *out, const fftw_complex *h, const fftw_complex *r, int nin,
		    int64_t F, int64_t Fs)
{
	memset(out, 0, F * sizeof *out);
	for (int X = 0; X < nin; X++) {
		const fftw_complex *hf = h + (size_t)X * Fs, *rf = r + (size_t)X * Fs;
		for (int64_t f = 0; f < F; f++) {
			out[f][0] += hf[f][0] * rf[f][0] - hf[f][1] * rf[f][1];
			out[f][1] += hf[f][0] * rf[f][1] + hf[f][1] * rf[f][0];
		}
	}
}

static double sqdiff(const double *a, const double *b)
{
	double re = a[0] - b[0], im = a[1] - b[1];
	return re * re + im * im;
}

int bsseval_v4(double *out, const float *ref, const float *est, int nsrc, int nchan,
	       int64_t n, int64_t win, int64_t hop, int L)
{
	int K = nsrc * nchan, method = 0;
	int64_t nframes = bsseval_nframes(n, win, hop), W = win < n ? win : n;
	char *silent = xmalloc(nframes);
	int64_t nloud = 0;
	for (int64_t t = 0; t < nframes; t++) {
		silent[t] = any_source_silent(ref, nsrc, nchan, n, t * hop, W) ||
			    any_source_silent(est, nsrc, nchan, n, t * hop, W);
		nloud += !silent[t];
	}
	for (int64_t i = 0; i < (int64_t)BSS_NMETRICS * nsrc * nframes; i++)
		out[i] = NAN;
	if (!nloud) {	/* nothing to measure: skip the (degenerate) filters */
		free(silent);
		return 0;
	}

	/* steps 1 and 2: the filters, call[x][X][a] and cj[x][cj][a] */
	double *rr = xmalloc((size_t)K * K * (2 * L - 1) * sizeof *rr);
	double *d = xmalloc((size_t)K * K * L * sizeof *d);
	correlate(rr, d, ref, est, K, n, L);
	int nn = K * L, nj = nchan * L;
	double *g = xmalloc((size_t)nn * nn * sizeof *g);
	double *call = xmalloc((size_t)nn * K * sizeof *call);	/* [x][(X,a)] column-major */
	for (int x = 0; x < K; x++)
		for (int X = 0; X < K; X++)
			memcpy(call + (size_t)x * nn + X * L, d + ((size_t)X * K + x) * L, L * sizeof *d);
	gram_fill(g, rr, K, L, 0, K, DBL_EPSILON);
	method = gram_solve(g, call, nn, K, rr, K, L, 0, K);
	double *cj = xmalloc((size_t)nsrc * nchan * nj * sizeof *cj);	/* [j][c][(cj,a)] */
	for (int j = 0; j < nsrc; j++) {
		double *bj = cj + (size_t)j * nchan * nj;
		for (int c = 0; c < nchan; c++)
			for (int ci = 0; ci < nchan; ci++)
				memcpy(bj + (size_t)c * nj + ci * L,
				       d + ((size_t)(j * nchan + ci) * K + j * nchan + c) * L, L * sizeof *d);
		gram_fill(g, rr, K, L, j * nchan, nchan, DBL_EPSILON);
		int m = gram_solve(g, bj, nj, nchan, rr, K, L, j * nchan, nchan);
		method = m > method ? m : method;
	}
	free(g);
	free(d);
	free(rr);

	/* step 3: filter spectra, then the windows */
	int64_t M = fft_nice_size(W + L - 1), F = M / 2 + 1, Fs = (F + 3) & ~3;
	int nfilt = K * K + K * nchan;	/* all: [x][X], own: [x][cj] */
	fftw_complex *h = fft_xmalloc((size_t)nfilt * Fs * sizeof *h);
	double *rbuf = fft_xmalloc(M * sizeof *rbuf);
	fftw_plan fwd = fftw_plan_dft_r2c_1d(M, rbuf, h, FFTW_ESTIMATE);
	#pragma omp parallel
	{
		double *buf = fft_xmalloc(M * sizeof *buf);
		#pragma omp for schedule(static)
		for (int i = 0; i < nfilt; i++) {
			const double *taps = i < K * K ? call + (size_t)(i / K) * nn + (i % K) * L
						       : cj + (size_t)(i - K * K) / nchan * nj + (i - K * K) % nchan * L;
			memset(buf, 0, M * sizeof *buf);
			memcpy(buf, taps, L * sizeof *buf);
			fftw_execute_dft_r2c(fwd, buf, h + (size_t)i * Fs);
		}
		fftw_free(buf);
	}

	#pragma omp parallel
	{
		/* spectra of the window's references and estimates, [2K][Fs] */
		fftw_complex *sf = fft_xmalloc((size_t)2 * K * Fs * sizeof *sf);
		fftw_complex *pa = fft_xmalloc(Fs * sizeof *pa), *pj = fft_xmalloc(Fs * sizeof *pj);
		double *buf = fft_xmalloc(M * sizeof *buf);
		#pragma omp for schedule(dynamic)
		for (int64_t t = 0; t < nframes; t++) {
			if (silent[t])
				continue;
			int64_t t0 = t * hop;
			for (int x = 0; x < 2 * K; x++) {
				load_segment(buf, M, (x < K ? ref : est) + (int64_t)(x % K) * n, n, t0, W);
				fftw_execute_dft_r2c(fwd, buf, sf + (size_t)x * Fs);
			}
			for (int j = 0; j < nsrc; j++) {
				double e_s = 0, s_s = 0, pj_s = 0, pj_pj = 0, pa_pj = 0, pa_pa = 0, e_pa = 0;
				for (int c = 0; c < nchan; c++) {
					int x = j * nchan + c;
					const float *rs = ref + (int64_t)x * n + t0, *es = est + (int64_t)x * n + t0;
					for (int64_t m = 0; m < W; m++) {
						s_s += (double)rs[m] * rs[m];
						e_s += ((double)es[m] - rs[m]) * ((double)es[m] - rs[m]);
					}
					project(pa, h + (size_t)x * K * Fs, sf, K, F, Fs);
					project(pj, h + ((size_t)K * K + (size_t)x * nchan) * Fs,
						sf + (size_t)j * nchan * Fs, nchan, F, Fs);
					const fftw_complex *S = sf + (size_t)x * Fs, *E = sf + (size_t)(K + x) * Fs;
					for (int64_t f = 0; f < F; f++) {
						/* Parseval over the M-point real signals: bins
						 * 1 .. ceil(M/2)-1 stand for two */
						double w = (f == 0 || 2 * f == M) ? 1.0 / M : 2.0 / M;
						pj_s += w * sqdiff(pj[f], S[f]);
						pj_pj += w * (pj[f][0] * pj[f][0] + pj[f][1] * pj[f][1]);
						pa_pj += w * sqdiff(pa[f], pj[f]);
						pa_pa += w * (pa[f][0] * pa[f][0] + pa[f][1] * pa[f][1]);
						e_pa += w * sqdiff(E[f], pa[f]);
					}
				}
				double *o = out + (size_t)j * nframes + t;
				o[(size_t)BSS_SDR * nsrc * nframes] = safe_db(s_s, e_s);
				o[(size_t)BSS_ISR * nsrc * nframes] = safe_db(s_s, pj_s);
				o[(size_t)BSS_SIR * nsrc * nframes] = safe_db(pj_pj, pa_pj);
				o[(size_t)BSS_SAR * nsrc * nframes] = safe_db(pa_pa, e_pa);
			}
		}
		fftw_free(sf);
		fftw_free(pa);
		fftw_free(pj);
		fftw_free(buf);
	}
	fftw_destroy_plan(fwd);
	fftw_free(rbuf);
	fftw_free(h);
	free(cj);
	free(call);
	free(silent);
	return method;
}
