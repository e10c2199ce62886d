/* layers.h: the separation model's layers on the CPU, forward and backward.
 *
 * llm.c style: each layer is a pair name_forward / name_backward with the
 * arguments in the order outputs, inputs, sizes, and a shape comment on each
 * tensor.  Row-major throughout; "N" is the number of rows (batch × frames).
 * Backward functions ADD into every gradient they produce (dinp, dweight,
 * dbias): parameter gradients accumulate over micro-batches, and a residual
 * stream's gradient collects both branches without a copy.  The caller zeroes
 * what must start at zero.
 *
 * The code is written over `real`, float by default.  tests/unit/
 * test_gradcheck.c defines SEPNET_DOUBLE and #includes the .c files to build
 * the very same code in double precision, where central finite differences
 * are accurate enough to check every backward (DESIGN §4).
 *
 * GEMMs go through OpenBLAS (cblas_sgemm / cblas_dgemm), FFTs through FFTW. */
#ifndef SEPNET_LAYERS_H
#define SEPNET_LAYERS_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "real.h"

/* exp for hot loops (attention's softmax).  x is first clamped to
 * [-104, 104] (beyond, the result is 0 or +inf anyway; NaN gives 0), so
 * no value reaches the integer conversion out of its range.  In
 * f32: exp(x) = 2^k exp(r) with k = round(x / ln 2), r = x − k ln 2
 * (Cody–Waite split), |r| ≤ ln 2 / 2, and a degree-7 Taylor polynomial
 * whose error there is below 5e-9: within float rounding of expf.  k is
 * clamped as an integer (x below about −87.7 gives 0, above 88.7 +inf), so
 * there is no float comparison and loops of it vectorize.  In double (the
 * gradient checks): the C library's exp. */
static inline real exp_fast(real x)
{
#ifdef SEPNET_DOUBLE
	return exp(x);
#else
	// written as selects, which vectorize: NaN fails the first test
	x = x > -104.0f ? x : -104.0f;
	x = x < 104.0f ? x : 104.0f;
	// round to nearest by adding and subtracting 1.5 · 2^23 (no libm call)
	float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
	float r = (x - n * 0.693145751953125f) - n * 1.42860682030941723e-6f;
	float p = 1.0f / 5040;
	p = p * r + 1.0f / 720;
	p = p * r + 1.0f / 120;
	p = p * r + 1.0f / 24;
	p = p * r + 1.0f / 6;
	p = p * r + 0.5f;
	p = p * r + 1.0f;
	p = p * r + 1.0f;
	int32_t k = (int32_t)n;
	k = k < -127 ? -127 : k > 128 ? 128 : k;	// 2^-127 → 0.0f, 2^128 → inf
	union { int32_t i; float f; } scale = { .i = (k + 127) << 23 };
	return p * scale.f;
#endif
}

/* C[M,N] = alpha · op(A) op(B) + beta · C, row-major, op = transpose when
 * the flag is set; lda/ldb/ldc are row strides. */
void blas_gemm(bool trans_a, bool trans_b, int M, int N, int K, real alpha, const real *A, int lda,
	       const real *B, int ldb, real beta, real *C, int ldc);

/* Make OpenBLAS single-threaded: blas_gemm splits work over OpenMP threads
 * itself (DESIGN §7: one pool, no oversubscription).  Called by
 * model_create.  Each slice is an independent sgemm, so results are
 * bit-identical for a given thread count. */
void blas_init_threads(void);

/* out = inp · weightᵀ + bias (nn.Linear).  bias may be NULL. */
void linear_forward(real *out, const real *inp, const real *weight, const real *bias,
		    int N, int in_dim, int out_dim);
/* dinp may be NULL (first layer), dbias NULL when there is no bias. */
void linear_backward(real *dinp, real *dweight, real *dbias, const real *dout,
		     const real *inp, const real *weight, int N, int in_dim, int out_dim);

/* out = inp / sqrt(mean(inp²) + 1e-6) ⊙ weight, per row; rstd keeps the
 * reciprocal root for backward. */
void rmsnorm_forward(real *out, real *rstd, const real *inp, const real *weight, int N, int C);
void rmsnorm_backward(real *dinp, real *dweight, const real *dout, const real *inp,
		      const real *weight, const real *rstd, int N, int C);

/* Exact GELU: 0.5 x (1 + erf(x / sqrt 2)). */
void gelu_forward(real *out, const real *inp, size_t n);
void gelu_backward(real *dinp, const real *dout, const real *inp, size_t n);

/* Rotary position embedding, in place, on the q and k parts of a fused qkv
 * tensor [B, T, 3A] (q at columns 0..A, k at A..2A).  Row t of each example
 * turns the pair (2i, 2i+1) of every head by t · theta_i: table cos_sin is
 * [T_table, head/2, 2] (cos, sin).  Backward turns the gradient back. */
void rope_table(real *cos_sin, int T, int head_size);
void rope_forward(real *qkv, const real *cos_sin, int B, int T, int A, int n_heads);
void rope_backward(real *dqkv, const real *cos_sin, int B, int T, int A, int n_heads);

/* out = inp + Dropout(branch), elementwise over n.  out may alias inp.  The
 * dropout mask is a pure function of (seed, stream, element index), so
 * backward regenerates it instead of storing it; p = 0 is plain addition. */
void residual_forward(real *out, const real *inp, const real *branch, size_t n, float p,
		      uint64_t seed, uint64_t stream);
/* dbranch += Dropout(dout) (the same mask); the residual path's gradient is
 * dout itself, which the caller keeps. */
void residual_backward(real *dbranch, const real *dout, size_t n, float p, uint64_t seed,
		       uint64_t stream);

/* Multi-head attention (attention.c), non-causal, on a fused qkv [B, T, 3A]
 * after RoPE: out [B, T, A], lse [B, n_heads, T] (log-sum-exp of each
 * query's scaled scores, kept for backward).  Blocked over keys with an
 * online softmax, so the T×T scores of a head never all exist at once. */
void attention_forward(real *out, real *lse, const real *qkv, int B, int T, int A, int n_heads);
/* dqkv [B, T, 3A] += gradient; dout [B, T, A]. */
void attention_backward(real *dqkv, const real *dout, const real *qkv, const real *out,
			const real *lse, int B, int T, int A, int n_heads);

/* ---- the model's input and output (mask.c) ----
 * feat (B, 2CF, T) = features of x (B, C, F, T) complex divided by sigma (B)
 * = sqrt(mean |x_b|²) + 1e-5; yspec (B, S, C, F, T) complex = mask
 * (B, S·2·C·F, T) ⊙ x; mask_backward overwrites dmask with ∂/∂mask. */
void features_forward(real *feat, real *sigma, const real *x, int B, int C, int F, int T);
void mask_forward(real *yspec, const real *mask, const real *x, int B, int S, int C, int F, int T);
void mask_backward(real *dmask, const real *dyspec, const real *x, int B, int S, int C, int F,
		   int T);

#endif
