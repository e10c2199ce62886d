/* mask.c: the model's first and last steps (docs/DESIGN.md §4):
 * the features of a mixture spectrogram and the complex mask applied to it,
 * forward and backward, on the CPU. */
#include <math.h>
#include <stddef.h>

#include "chunk.h"
#include "ops.h"

#define SIGMA_EPS 1e-5
#define SUMSQ_BLOCKS 64	/* features_forward's slices of Σ x² */

void features_forward(real *feat, real *sigma, const real *x, int B, int C, int F, int T,
		      int64_t xT)
{
	// feat is (B, 2CF, T): row (p·C + c)·F + f is Re (p = 0) or Im (p = 1) of
	// x[b, c, f, :T] divided by σ_b = sqrt(mean |x_b|²) + 1e-5; x is (B, C, F, xT)
	// complex
	size_t ex = (size_t)C * F * T, row = 2 * (size_t)T, stride = 2 * (size_t)xT;
	for (int b = 0; b < B; b++) {
		const real *xb = x + b * (size_t)C * F * stride;
		// Σ x² in double over SUMSQ_BLOCKS fixed slices of the packed
		// floats (float i is row i / row's, at i % row), in parallel, then
		// the slices in order: the same sum for any thread count and xT
		double part[SUMSQ_BLOCKS], ss = 0;
		size_t n = 2 * ex, per = (n + SUMSQ_BLOCKS - 1) / SUMSQ_BLOCKS;
		#pragma omp parallel for if (n > PARALLEL_MIN_CHEAP)
		for (int k = 0; k < SUMSQ_BLOCKS; k++) {
			size_t i0 = k * per < n ? k * per : n, i1 = i0 + per < n ? i0 + per : n;
			double s = 0;
			for (size_t i = i0; i < i1;) {	// the slice's pieces of rows
				size_t r = i / row, j = i % row, e = r * row + row < i1 ? row : i1 - r * row;
				const real *xr = xb + r * stride;
				for (; j < e; j++)
					s += (double)xr[j] * xr[j];
				i = r * row + e;
			}
			part[k] = s;
		}
		for (int k = 0; k < SUMSQ_BLOCKS; k++)
			ss += part[k];
		sigma[b] = (real)(sqrt(ss / ex) + SIGMA_EPS);
		real inv = 1 / sigma[b];
		real *fb = feat + b * ex * 2;
		#pragma omp parallel for
		for (int cf = 0; cf < C * F; cf++)
			for (int t = 0; t < T; t++) {
				fb[(size_t)cf * T + t] = xb[cf * stride + 2 * t] * inv;
				fb[((size_t)C * F + cf) * T + t] = xb[cf * stride + 2 * t + 1] * inv;
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

void mask_accumulate(real *out, const real *mask, const real *bias, const real *x,
		     const struct chunk_plan *p, int64_t s, int C, int F, int64_t xT)
{
	int64_t T = p->T, L = p->L, t0 = p->start[s], CF = (int64_t)C * F;
	const real *w = p->weight + s * L;
	#pragma omp parallel for
	for (int64_t cf = 0; cf < CF; cf++) {
		const real *mr = mask + cf * L, *mi = mr + CF * L;
		real br = bias ? bias[cf] : 0, bi = bias ? bias[CF + cf] : 0;
		const real *xx = x + cf * xT * 2;
		real *o = out + (cf * T + t0) * 2;
		for (int64_t i = 0; i < L; i++) {
			real xr = xx[2 * i], xi = xx[2 * i + 1];
			real ar = br + mr[i], ai = bi + mi[i];
			real yr = ar * xr - ai * xi, yi = ar * xi + ai * xr;
			o[2 * i] += w[i] * yr;
			o[2 * i + 1] += w[i] * yi;
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
