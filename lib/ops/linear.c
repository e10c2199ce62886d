/* linear.c: nn.Linear forward and backward on the CPU (see ops.h). */
#include <string.h>

#include "ops.h"

void linear_forward(real *out, const real *inp, const real *weight, const real *bias,
		    int N, int in_dim, int out_dim)
{
	// out is (N, out_dim), inp is (N, in_dim), weight is (out_dim, in_dim), bias (out_dim)
#ifndef SEPNET_DOUBLE
	if (gemm_bf16_active()) {	// the bias in the GEMM's epilogue
		gemm_bf16(false, true, N, out_dim, in_dim, 1, inp, in_dim, weight, in_dim, 0, out,
			  out_dim, bias, false);
		return;
	}
	if (gemm_f32_fused(false, true, N, out_dim, in_dim, 1, inp, in_dim, weight, in_dim, 0, out,
			   out_dim, bias, false))
		return;
#endif
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

/* Rows per block of the fused linear + GELU: each block's GELU runs while
 * its GEMM output is still in the core's cache (128 × 512 floats: 256 KiB). */
#define LINEAR_GELU_ROWS 128

void linear_gelu_forward(real *out, const real *inp, const real *weight, const real *bias, int N,
			 int in_dim, int out_dim)
{
#ifndef SEPNET_DOUBLE
	if (gemm_bf16_active()) {	// bias and GELU in the epilogue
		gemm_bf16(false, true, N, out_dim, in_dim, 1, inp, in_dim, weight, in_dim, 0, out,
			  out_dim, bias, true);
		return;
	}
	if (gemm_f32_fused(false, true, N, out_dim, in_dim, 1, inp, in_dim, weight, in_dim, 0, out,
			   out_dim, bias, true))
		return;
#endif
	// blocks of fixed rows, whatever the thread count: the same bits for any;
	// blas_gemm and gelu_forward run serially inside the region
	int n_blocks = (N + LINEAR_GELU_ROWS - 1) / LINEAR_GELU_ROWS;
	#pragma omp parallel for schedule(static) \
		if (n_blocks > 1 && (double)N * in_dim * out_dim > 1 << 18)
	for (int b = 0; b < n_blocks; b++) {
		int n0 = b * LINEAR_GELU_ROWS;
		int n = N - n0 < LINEAR_GELU_ROWS ? N - n0 : LINEAR_GELU_ROWS;
		real *o = out + (size_t)n0 * out_dim;
		linear_forward(o, inp + (size_t)n0 * in_dim, weight, bias, n, in_dim, out_dim);
		gelu_forward(o, o, (size_t)n * out_dim);	// elementwise: in place is safe
	}
}
