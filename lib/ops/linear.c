/* linear.c: nn.Linear forward and backward on the CPU (see ops.h). */
#include <string.h>

#include "ops.h"

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

void linear_gelu_forward(real *out, const real *inp, const real *weight, const real *bias, int N,
			 int in_dim, int out_dim)
{
	linear_forward(out, inp, weight, bias, N, in_dim, out_dim);
	gelu_forward(out, out, (size_t)N * out_dim);	// elementwise: in place is safe
}
