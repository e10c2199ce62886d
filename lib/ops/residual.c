/* residual.c: the residual sum with dropout on its branch, forward and
 * backward on the CPU (see ops.h).  The mask is a pure function of (seed,
 * stream, element): backward regenerates it. */
#include "ops.h"
#include "rng.h"


/* Scale of element i: 0 (dropped) or 1 / (1 − p). */
static inline real dropout_scale(float p, uint64_t seed, uint64_t stream, uint64_t i)
{
	return rng_uniform(seed, stream, i) < p ? 0 : (real)(1 / (1 - (double)p));
}

void residual_forward(real *out, const real *inp, const real *branch, size_t n, float p,
		      uint64_t seed, uint64_t stream, uint64_t first)
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
		out[i] = inp[i] + branch[i] * dropout_scale(p, seed, stream, first + i);
}

void residual_backward(real *dbranch, const real *dout, size_t n, float p, uint64_t seed,
		       uint64_t stream, uint64_t first)
{
	#pragma omp parallel for if (n > PARALLEL_MIN_COSTLY)
	for (size_t i = 0; i < n; i++)
		dbranch[i] += p <= 0 ? dout[i] : dout[i] * dropout_scale(p, seed, stream, first + i);
}
