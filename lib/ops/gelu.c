/* gelu.c: exact (erf) GELU forward and backward on the CPU (see ops.h). */
#include <math.h>
#include <tgmath.h>

#include "ops.h"

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
