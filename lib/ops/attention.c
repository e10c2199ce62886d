/* attention.c: non-causal multi-head attention on the CPU, blocked over keys
 * with an online softmax (the flash-attention recurrence), forward and
 * backward (docs/DESIGN.md §4, §7).
 *
 * For one head, queries Q, keys K, values V are (T, hs) column slices of the
 * fused qkv tensor.  Forward walks query blocks of ATT_QB rows and key blocks
 * of ATT_KB rows; only a (ATT_QB, ATT_KB) tile of scores exists at a time, and
 * each query keeps its running maximum and sum, ending with the log-sum-exp
 * lse = log Σ_j exp(s_ij) that backward uses to rebuild the probabilities
 * P = exp(S − lse) tile by tile (FlashAttention-2, Dao 2023).
 *
 * Work is split over OpenMP threads by (example, head, query block) forward
 * and by (example, head) backward, each unit done by one thread in a fixed
 * order, so results are the same for any thread count.  blas_gemm is
 * serial inside these regions. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <tgmath.h>

#include "ops.h"
#include "util.h"


static int att_min(int a, int b)
{
	return a < b ? a : b;
}

#define ATT_LANES 8

/* The maximum is the same in any order: a simd reduction (finite x; the
 * 8 lanes written out, as row_sum has them, compiled to scalar code). */
static real row_max(const real *x, int n)
{
	real m = -INFINITY;
	#pragma omp simd reduction(max : m)
	for (int j = 0; j < n; j++)
		m = x[j] > m ? x[j] : m;
	return m;
}

/* x[j] = exp(x[j] − shift), vectorized. */
static void exp_shifted(real *x, int n, real shift)
{
	for (int j = 0; j < n; j++)
		x[j] = exp_fast(x[j] - shift);
}

/* A sum in 8 lanes, combined in a fixed order: vectorizable without
 * -ffast-math, and the same for every thread count. */
static real row_sum(const real *x, int n)
{
	real lane[ATT_LANES] = { 0 };
	int j = 0;
	for (; j + ATT_LANES <= n; j += ATT_LANES)
		for (int k = 0; k < ATT_LANES; k++)
			lane[k] += x[j + k];
	for (; j < n; j++)
		lane[0] += x[j];
	real s = 0;
	for (int k = 0; k < ATT_LANES; k++)
		s += lane[k];
	return s;
}

void attention_forward(real *out, real *lse, const real *qkv, int B, int T, int A, int n_heads)
{
	// out is (B, T, A); lse is (B, n_heads, T); qkv is (B, T, 3A)
	int hs = A / n_heads, ld = 3 * A;
	int n_qb = (T + ATT_QB - 1) / ATT_QB;
	real scale = 1 / sqrt((real)hs);
#ifndef SEPNET_DOUBLE
	if (gemm_bf16_active() && attention_bf16_available(hs)) {	// as the GPU's bf16 forward
		attention_forward_bf16(out, lse, qkv, B, T, A, n_heads);
		return;
	}
#endif
	#pragma omp parallel
	{
		real *S = xmalloc((size_t)ATT_QB * ATT_KB * sizeof(real));
		real *run_max = xmalloc(ATT_QB * sizeof(real)), *run_sum = xmalloc(ATT_QB * sizeof(real));
		#pragma omp for schedule(static)
		for (int unit = 0; unit < B * n_heads * n_qb; unit++) {
			int b = unit / (n_heads * n_qb), h = unit / n_qb % n_heads, qb = unit % n_qb;
			int q0 = qb * ATT_QB, nq = att_min(ATT_QB, T - q0);
			const real *base = qkv + (size_t)b * T * ld;
			const real *Q = base + (size_t)q0 * ld + h * hs;
			real *O = out + ((size_t)b * T + q0) * A + h * hs;
			for (int i = 0; i < nq; i++) {
				run_max[i] = -INFINITY;
				run_sum[i] = 0;
				memset(O + (size_t)i * A, 0, hs * sizeof(real));
			}
			for (int k0 = 0; k0 < T; k0 += ATT_KB) {
				int nk = att_min(ATT_KB, T - k0);
				const real *K = base + (size_t)k0 * ld + A + h * hs;
				const real *V = K + A;
				// S = scale · Q Kᵀ (nq, nk)
				blas_gemm(false, true, nq, nk, hs, scale, Q, ld, K, ld, 0, S, ATT_KB);
				for (int i = 0; i < nq; i++) {
					real *s = S + (size_t)i * ATT_KB;
					real m = fmax(run_max[i], row_max(s, nk));
					real corr = exp(run_max[i] - m);	// 0 for the first tile: −inf
					exp_shifted(s, nk, m);
					run_sum[i] = run_sum[i] * corr + row_sum(s, nk);
					run_max[i] = m;
					real *o = O + (size_t)i * A;
					for (int c = 0; c < hs; c++)
						o[c] *= corr;
				}
				// O += P V (nq, hs)
				blas_gemm(false, false, nq, hs, nk, 1, S, ATT_KB, V, ld, 1, O, A);
			}
			for (int i = 0; i < nq; i++) {
				real *o = O + (size_t)i * A;
				for (int c = 0; c < hs; c++)
					o[c] /= run_sum[i];
				lse[((size_t)b * n_heads + h) * T + q0 + i] = run_max[i] + log(run_sum[i]);
			}
		}
		free(S);
		free(run_max);
		free(run_sum);
	}
}

void attention_backward(real *dqkv, const real *dout, const real *qkv, const real *out,
			const real *lse, int B, int T, int A, int n_heads)
{
	// dqkv is (B, T, 3A), accumulated; dout, out are (B, T, A)
	// With P = softmax(scale · Q Kᵀ) and O = P V:
	//   dV = Pᵀ dO,  dP = dO Vᵀ,  dS = P ⊙ (dP − rowsum(dO ⊙ O)),
	//   dQ = scale · dS K,  dK = scale · dSᵀ Q
	int hs = A / n_heads, ld = 3 * A;
	real scale = 1 / sqrt((real)hs);
	#pragma omp parallel
	{
		real *P = xmalloc((size_t)ATT_QB * ATT_KB * sizeof(real));
		real *dP = xmalloc((size_t)ATT_QB * ATT_KB * sizeof(real));
		real *D = xmalloc((size_t)T * sizeof(real));
		#pragma omp for schedule(static)
		for (int unit = 0; unit < B * n_heads; unit++) {
			int b = unit / n_heads, h = unit % n_heads;
			const real *base = qkv + (size_t)b * T * ld;
			real *dbase = dqkv + (size_t)b * T * ld;
			const real *dO = dout + (size_t)b * T * A + h * hs;
			const real *O = out + (size_t)b * T * A + h * hs;
			const real *L = lse + ((size_t)b * n_heads + h) * T;
			for (int i = 0; i < T; i++) {
				real d = 0;
				for (int c = 0; c < hs; c++)
					d += dO[(size_t)i * A + c] * O[(size_t)i * A + c];
				D[i] = d;
			}
			for (int k0 = 0; k0 < T; k0 += ATT_KB) {
				int nk = att_min(ATT_KB, T - k0);
				const real *K = base + (size_t)k0 * ld + A + h * hs, *V = K + A;
				real *dK = dbase + (size_t)k0 * ld + A + h * hs, *dV = dK + A;
				for (int q0 = 0; q0 < T; q0 += ATT_QB) {
					int nq = att_min(ATT_QB, T - q0);
					const real *Q = base + (size_t)q0 * ld + h * hs;
					real *dQ = dbase + (size_t)q0 * ld + h * hs;
					const real *dOq = dO + (size_t)q0 * A;
					blas_gemm(false, true, nq, nk, hs, scale, Q, ld, K, ld, 0, P, ATT_KB);
					for (int i = 0; i < nq; i++) {
						exp_shifted(P + (size_t)i * ATT_KB, nk, L[q0 + i]);
					}
					blas_gemm(true, false, nk, hs, nq, 1, P, ATT_KB, dOq, A, 1, dV, ld);
					blas_gemm(false, true, nq, nk, hs, 1, dOq, A, V, ld, 0, dP, ATT_KB);
					for (int i = 0; i < nq; i++) {
						real *p = P + (size_t)i * ATT_KB, *dp = dP + (size_t)i * ATT_KB;
						for (int j = 0; j < nk; j++)
							dp[j] = p[j] * (dp[j] - D[q0 + i]);
					}
					blas_gemm(false, false, nq, hs, nk, scale, dP, ATT_KB, K, ld, 1, dQ, ld);
					blas_gemm(true, false, nk, hs, nq, scale, dP, ATT_KB, Q, ld, 1, dK, ld);
				}
			}
		}
		free(P);
		free(dP);
		free(D);
	}
}
