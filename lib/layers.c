/* layers.c: Linear, RMSNorm, GELU, RoPE and residual dropout of the
 * separation model, forward and backward, on the CPU (docs/DESIGN.md).  See layers.h for the conventions.
 *
 * Row loops run under OpenMP; every reduction that crosses rows (bias and
 * norm-weight gradients) is a sequential loop, so results do not depend on
 * the thread count at all. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <tgmath.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "layers.h"
#include "rng.h"
#include "util.h"

#ifdef SEPNET_DOUBLE
#define cblas_gemm cblas_dgemm
#else
#define cblas_gemm cblas_sgemm
#endif

static void blas_gemm_serial(bool trans_a, bool trans_b, int M, int N, int K, real alpha,
			     const real *A, int lda, const real *B, int ldb, real beta, real *C,
			     int ldc)
{
	cblas_gemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
		   trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void blas_gemm(bool trans_a, bool trans_b, int M, int N, int K, real alpha, const real *A, int lda,
	       const real *B, int ldb, real beta, real *C, int ldc)
{
	// OpenBLAS runs single-threaded (blas_init_threads) and OpenMP splits the
	// larger of M and N into one slice per thread: one pool of threads for
	// everything, no two pools spinning against each other for the cores.
	// Inside an enclosing parallel region (attention) the call is serial.
	if (M == 0 || N == 0)
		return;
	int nt = 1;
#ifdef _OPENMP
	if (!omp_in_parallel() && (double)M * N * K > 1 << 18)
		nt = omp_get_max_threads();
#endif
	if (nt == 1) {
		blas_gemm_serial(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
		return;
	}
	bool split_rows = M >= N;
	int len = split_rows ? M : N;
	#pragma omp parallel num_threads(nt)
	{
#ifdef _OPENMP
		int t = omp_get_thread_num(), n_t = omp_get_num_threads();
#else
		int t = 0, n_t = 1;
#endif
		// slices of a multiple of 16 rows or columns keep the kernels' tiles whole
		int step = ((len + n_t - 1) / n_t + 15) / 16 * 16;
		int i0 = t * step, n = len - i0 < step ? len - i0 : step;
		if (n > 0 && split_rows)
			blas_gemm_serial(trans_a, trans_b, n, N, K, alpha,
					 A + (trans_a ? (size_t)i0 : (size_t)i0 * lda), lda, B, ldb, beta,
					 C + (size_t)i0 * ldc, ldc);
		else if (n > 0)
			blas_gemm_serial(trans_a, trans_b, M, n, K, alpha, A, lda,
					 B + (trans_b ? (size_t)i0 * ldb : (size_t)i0), ldb, beta,
					 C + i0, ldc);
	}
}

void blas_init_threads(void)
{
	openblas_set_num_threads(1);
}

/* Elementwise loops run in parallel only above these sizes (elements): a
 * parallel region costs a barrier, which on a busy machine can cost a
 * scheduler time slice, far more than a few hundred thousand additions. */
#define PARALLEL_MIN_CHEAP (1 << 19)	/* additions, products */
#define PARALLEL_MIN_COSTLY (1 << 15)	/* erf, exp, a hash per element */

/* ---- Linear ---- */

void linear_forward(real *out, const real *inp, const real *weight, const real *bias,
		    int N, int in_dim, int out_dim)
{
	// out is (N, out_dim), inp is (N, in_dim), weight is (out_dim, in_dim), bias (out_dim)
	if (bias) {
		for (int n = 0; n < N; n++)
			memcpy(out + (size_t)n * out_dim, bias, out_dim * sizeof(real));
	}
	blas_gemm(false, true, N, out_dim, in_dim, 1, inp, in_dim, weight, in_dim,
		  bias ? 1 : 0, out, out_dim);
}

void linear_backward(real *dinp, real *dweight, real *dbias, const real *dout,
		     const real *inp, const real *weight, int N, int in_dim, int out_dim)
{
	// dinp += dout · weight; dweight += doutᵀ · inp; dbias += column sums of dout
	if (dinp)
		blas_gemm(false, false, N, in_dim, out_dim, 1, dout, out_dim, weight, in_dim,
			  1, dinp, in_dim);
	blas_gemm(true, false, out_dim, in_dim, N, 1, dout, out_dim, inp, in_dim, 1, dweight, in_dim);
	if (dbias)
		for (int n = 0; n < N; n++) {
			const real *d = dout + (size_t)n * out_dim;
			for (int o = 0; o < out_dim; o++)
				dbias[o] += d[o];
		}
}

/* ---- RMSNorm ---- */

#define RMSNORM_EPS ((real)1e-6)

void rmsnorm_forward(real *out, real *rstd, const real *inp, const real *weight, int N, int C)
{
	// out, inp are (N, C); rstd is (N); weight is (C)
	#pragma omp parallel for if ((size_t)N * C > PARALLEL_MIN_CHEAP)
	for (int n = 0; n < N; n++) {
		const real *x = inp + (size_t)n * C;
		real *y = out + (size_t)n * C;
		real ss = 0;
		for (int i = 0; i < C; i++)
			ss += x[i] * x[i];
		real r = 1 / sqrt(ss / C + RMSNORM_EPS);
		for (int i = 0; i < C; i++)
			y[i] = x[i] * r * weight[i];
		rstd[n] = r;
	}
}

void rmsnorm_backward(real *dinp, real *dweight, const real *dout, const real *inp,
		      const real *weight, const real *rstd, int N, int C)
{
	// y = x r g with r = (mean x² + eps)^-1/2:
	// dx = r (dy ⊙ g − x r² mean(dy ⊙ g ⊙ x)),  dg = Σ_rows dy ⊙ x r
	#pragma omp parallel for if ((size_t)N * C > PARALLEL_MIN_CHEAP)
	for (int n = 0; n < N; n++) {
		const real *x = inp + (size_t)n * C, *dy = dout + (size_t)n * C;
		real *dx = dinp + (size_t)n * C;
		real r = rstd[n], dot = 0;
		for (int i = 0; i < C; i++)
			dot += dy[i] * weight[i] * x[i];
		real c = r * r * dot / C;
		for (int i = 0; i < C; i++)
			dx[i] += r * (dy[i] * weight[i] - x[i] * c);
	}
	for (int n = 0; n < N; n++) {
		const real *x = inp + (size_t)n * C, *dy = dout + (size_t)n * C;
		for (int i = 0; i < C; i++)
			dweight[i] += dy[i] * x[i] * rstd[n];
	}
}

/* ---- GELU (erf) ---- */

#define SQRT1_2 ((real)0.70710678118654752440)
#define INV_SQRT_2PI ((real)0.39894228040143267794)

void gelu_forward(real *out, const real *inp, size_t n)
{
	#pragma omp parallel for if (n > PARALLEL_MIN_COSTLY)
	for (size_t i = 0; i < n; i++) {
		real x = inp[i];
		out[i] = (real)0.5 * x * (1 + erf(x * SQRT1_2));
	}
}

void gelu_backward(real *dinp, const real *dout, const real *inp, size_t n)
{
	// d/dx [x Φ(x)] = Φ(x) + x φ(x)
	#pragma omp parallel for if (n > PARALLEL_MIN_COSTLY)
	for (size_t i = 0; i < n; i++) {
		real x = inp[i];
		real cdf = (real)0.5 * (1 + erf(x * SQRT1_2));
		real pdf = exp((real)-0.5 * x * x) * INV_SQRT_2PI;
		dinp[i] += dout[i] * (cdf + x * pdf);
	}
}

/* ---- RoPE ---- */

void rope_table(real *cos_sin, int T, int head_size)
{
	// cos_sin is (T, head_size/2, 2); angles in double so that long inputs
	// (t up to thousands) keep their phase exact to float rounding
	int half = head_size / 2;
	for (int t = 0; t < T; t++)
		for (int i = 0; i < half; i++) {
			double theta = (double)t * pow(10000.0, -2.0 * i / head_size);
			cos_sin[((size_t)t * half + i) * 2] = (real)cos(theta);
			cos_sin[((size_t)t * half + i) * 2 + 1] = (real)sin(theta);
		}
}

/* Turn the q and k pairs of every head by sign · angle. */
static void rope_rotate(real *qkv, const real *cos_sin, int B, int T, int A, int n_heads,
			real sign)
{
	// qkv is (B, T, 3A); q at columns [0, A), k at [A, 2A)
	int hs = A / n_heads, half = hs / 2;
	#pragma omp parallel for if ((size_t)B * T * A > PARALLEL_MIN_CHEAP)
	for (int bt = 0; bt < B * T; bt++) {
		const real *cs = cos_sin + (size_t)(bt % T) * half * 2;
		real *row = qkv + (size_t)bt * 3 * A;
		for (int part = 0; part < 2; part++)
			for (int h = 0; h < n_heads; h++) {
				real *x = row + part * A + h * hs;
				for (int i = 0; i < half; i++) {
					real c = cs[2 * i], s = sign * cs[2 * i + 1];
					real a = x[2 * i], b = x[2 * i + 1];
					x[2 * i] = a * c - b * s;
					x[2 * i + 1] = a * s + b * c;
				}
			}
	}
}

void rope_forward(real *qkv, const real *cos_sin, int B, int T, int A, int n_heads)
{
	rope_rotate(qkv, cos_sin, B, T, A, n_heads, 1);
}

void rope_backward(real *dqkv, const real *cos_sin, int B, int T, int A, int n_heads)
{
	// a rotation's adjoint is the rotation by the opposite angle
	rope_rotate(dqkv, cos_sin, B, T, A, n_heads, -1);
}

/* ---- residual with dropout ---- */

/* Scale of element i: 0 (dropped) or 1 / (1 − p). */
static inline real dropout_scale(float p, uint64_t seed, uint64_t stream, size_t i)
{
	return rng_uniform(seed, stream, i) < p ? 0 : (real)(1 / (1 - (double)p));
}

void residual_forward(real *out, const real *inp, const real *branch, size_t n, float p,
		      uint64_t seed, uint64_t stream)
{
	// out, inp, branch are (n)
	if (p <= 0) {
		#pragma omp parallel for if (n > PARALLEL_MIN_CHEAP)
		for (size_t i = 0; i < n; i++)
			out[i] = inp[i] + branch[i];
		return;
	}
	#pragma omp parallel for if (n > PARALLEL_MIN_COSTLY)
	for (size_t i = 0; i < n; i++)
		out[i] = inp[i] + branch[i] * dropout_scale(p, seed, stream, i);
}

void residual_backward(real *dbranch, const real *dout, size_t n, float p, uint64_t seed,
		       uint64_t stream)
{
	#pragma omp parallel for if (n > PARALLEL_MIN_COSTLY)
	for (size_t i = 0; i < n; i++)
		dbranch[i] += p <= 0 ? dout[i] : dout[i] * dropout_scale(p, seed, stream, i);
}
