/* rmsnorm.c: RMSNorm forward and backward on the CPU (see ops.h).  Row
 * loops run under OpenMP; the weight gradient, which crosses rows, is a
 * sequential loop, so results do not depend on the thread count. */
#include <math.h>
#include <tgmath.h>

#include "ops.h"

void rmsnorm_forward(real *out, real *rstd, const real *inp, const real *weight, int N, int C,
		     float eps)
{
	// out, inp are (N, C); rstd is (N); weight is (C)
	#pragma omp parallel for if ((size_t)N * C > PARALLEL_MIN_CHEAP)
	for (int n = 0; n < N; n++) {
		const real *x = inp + (size_t)n * C;
		real *y = out + (size_t)n * C;
		real ss = 0;
		for (int i = 0; i < C; i++)
			ss += x[i] * x[i];
		real r = 1 / sqrt(ss / C + (real)eps);
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
