/* wiener.c: the multichannel Wiener filter's EM refinement of separated
 * stems (ops.h), on the CPU: norbert's expectation_maximization as
 * Open-Unmix runs it (norbert.wiener without its initial mask), each
 * frequency bin on its own, in double. */
#include <math.h>
#include <stdlib.h>

#include "config.h"
#include "ops.h"
#include "util.h"

/* The scale norbert.wiener divides by before its EM: max(1, max |x| / 10). */
static double block_scale(const real *x, int CF, int64_t stride, int64_t n)
{
	double m2 = 0;
	for (int r = 0; r < CF; r++) {
		const real *row = x + (size_t)r * stride * 2;
		for (int64_t t = 0; t < n; t++) {
			double a = (double)row[2 * t] * row[2 * t] + (double)row[2 * t + 1] * row[2 * t + 1];
			m2 = a > m2 ? a : m2;
		}
	}
	double m = sqrt(m2) / 10;
	return m > 1 ? m : 1;
}

/* One bin: y (S, C, n) and x (C, n) complex doubles, refined in place
 * (iterations of EM); v (S, n) and R (S, C, C) complex are scratch.
 * Inlined where C is a constant (1 or 2), so its loops unroll. */
static inline __attribute__((always_inline)) void bin_em(double *y, const double *x, double *v,
							 double *R, int S, int C, int64_t n,
							 int iterations)
{
	const double eps = WIENER_EPS, reg = sqrt(WIENER_EPS);
	size_t yc = (size_t)n * 2, ys = (size_t)C * yc;	// a channel's and a stem's doubles
	for (int it = 0; it < iterations; it++) {
		// the local Gaussian model: v_j(t) = mean_c |y_jc(t)|², R_j = Σ_t y_j y_jᴴ / (eps + Σ_t v_j)
		for (int j = 0; j < S; j++) {
			const double *yj = y + j * ys;
			double *Rj = R + (size_t)j * C * C * 2, weight = eps;
			for (int k = 0; k < C * C * 2; k++)
				Rj[k] = 0;
			for (int64_t t = 0; t < n; t++) {
				double p = 0;
				for (int c = 0; c < C; c++) {
					double re = yj[c * yc + 2 * t], im = yj[c * yc + 2 * t + 1];
					p += re * re + im * im;
				}
				v[j * n + t] = p / C;
				weight += p / C;
				for (int a = 0; a < C; a++)
					for (int b = 0; b < C; b++) {	// y_a · conj(y_b)
						double ar = yj[a * yc + 2 * t], ai = yj[a * yc + 2 * t + 1];
						double br = yj[b * yc + 2 * t], bi = yj[b * yc + 2 * t + 1];
						Rj[(a * C + b) * 2] += ar * br + ai * bi;
						Rj[(a * C + b) * 2 + 1] += ai * br - ar * bi;
					}
			}
			for (int k = 0; k < C * C * 2; k++)
				Rj[k] /= weight;
		}
		// each frame: Cxx = Σ_j v_j R_j + sqrt(eps) I, its inverse, and y_j = v_j R_j Cxx⁻¹ x
		for (int64_t t = 0; t < n; t++) {
			double M[8] = { 0 }, inv[8];	// C ≤ 2: C × C complex
			for (int j = 0; j < S; j++)
				for (int k = 0; k < C * C * 2; k++)
					M[k] += v[j * n + t] * R[(size_t)j * C * C * 2 + k];
			for (int c = 0; c < C; c++)
				M[(c * C + c) * 2] += reg;
			if (C == 1) {	// 1 / (M + eps)
				double re = M[0] + eps, im = M[1], d = re * re + im * im;
				inv[0] = re / d, inv[1] = -im / d;
			} else {	// the 2 × 2 inverse: adj(M) / det(M)
				double dr = M[0] * M[6] - M[1] * M[7] - (M[2] * M[4] - M[3] * M[5]);
				double di = M[0] * M[7] + M[1] * M[6] - (M[2] * M[5] + M[3] * M[4]);
				double d = dr * dr + di * di, ir = dr / d, ii = -di / d;	// 1 / det
				const double adj[8] = { M[6], M[7], -M[2], -M[3], -M[4], -M[5], M[0], M[1] };
				for (int k = 0; k < 4; k++) {
					inv[2 * k] = adj[2 * k] * ir - adj[2 * k + 1] * ii;
					inv[2 * k + 1] = adj[2 * k] * ii + adj[2 * k + 1] * ir;
				}
			}
			for (int j = 0; j < S; j++) {
				const double *Rj = R + (size_t)j * C * C * 2;
				double vj = v[j * n + t], G[8];	// G = v_j R_j Cxx⁻¹
				for (int a = 0; a < C; a++)
					for (int b = 0; b < C; b++) {
						double gr = 0, gi = 0;
						for (int k = 0; k < C; k++) {
							double rr = Rj[(a * C + k) * 2], ri = Rj[(a * C + k) * 2 + 1];
							double qr = inv[(k * C + b) * 2], qi = inv[(k * C + b) * 2 + 1];
							gr += rr * qr - ri * qi;
							gi += rr * qi + ri * qr;
						}
						G[(a * C + b) * 2] = vj * gr, G[(a * C + b) * 2 + 1] = vj * gi;
					}
				double *yj = y + j * ys;
				for (int a = 0; a < C; a++) {
					double re = 0, im = 0;
					for (int b = 0; b < C; b++) {
						double gr = G[(a * C + b) * 2], gi = G[(a * C + b) * 2 + 1];
						double xr = x[b * yc + 2 * t], xi = x[b * yc + 2 * t + 1];
						re += gr * xr - gi * xi;
						im += gr * xi + gi * xr;
					}
					yj[a * yc + 2 * t] = re, yj[a * yc + 2 * t + 1] = im;
				}
			}
		}
	}
}

void wiener_em(real *y, const real *x, int S, int C, int F, int64_t stride, int64_t n,
	       int iterations)
{
	if (n <= 0 || iterations <= 0)
		return;
	if (C < 1 || C > 2 || S < 1 || S > CONFIG_MAX_SOURCES)
		die("wiener_em: %d stems of %d channels; the filter takes 1 to %d stems, mono or "
		    "stereo", S, C, CONFIG_MAX_SOURCES);
	double scale = block_scale(x, C * F, stride, n);
	#pragma omp parallel
	{
		double *yb = xmalloc(sizeof(double) * (size_t)S * C * n * 2);
		double *xb = xmalloc(sizeof(double) * (size_t)C * n * 2);
		double *v = xmalloc(sizeof(double) * (size_t)S * n);
		double R[CONFIG_MAX_SOURCES * 8];
		#pragma omp for schedule(static)
		for (int f = 0; f < F; f++) {
			for (int c = 0; c < C; c++) {
				const real *xr = x + ((size_t)c * F + f) * stride * 2;
				for (int64_t i = 0; i < 2 * n; i++)
					xb[c * n * 2 + i] = xr[i] / scale;
				for (int j = 0; j < S; j++) {
					const real *yr = y + (((size_t)j * C + c) * F + f) * stride * 2;
					for (int64_t i = 0; i < 2 * n; i++)
						yb[(j * C + c) * n * 2 + i] = yr[i] / scale;
				}
			}
			if (C == 2)
				bin_em(yb, xb, v, R, S, 2, n, iterations);
			else
				bin_em(yb, xb, v, R, S, 1, n, iterations);
			for (int j = 0; j < S; j++)
				for (int c = 0; c < C; c++) {
					real *yr = y + (((size_t)j * C + c) * F + f) * stride * 2;
					for (int64_t i = 0; i < 2 * n; i++)
						yr[i] = (real)(yb[(j * C + c) * n * 2 + i] * scale);
				}
		}
		free(yb), free(xb), free(v);
	}
}
