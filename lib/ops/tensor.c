/* tensor.c: the small tensor ops of the model and the trainer on the CPU
 * (see ops.h): bias broadcast and bias-gradient sums, scaling, the stems'
 * sum. */
#include <string.h>

#include "ops.h"

void tensor_broadcast(real *out, const real *vec, int rows, int width, bool by_row)
{
	// out is (rows, width): the biases, filled before a GEMM adds into them
	#pragma omp parallel for if ((size_t)rows * width > PARALLEL_MIN_CHEAP)
	for (int r = 0; r < rows; r++) {
		real *o = out + (size_t)r * width;
		if (by_row)
			for (int i = 0; i < width; i++)
				o[i] = vec[r];
		else
			memcpy(o, vec, width * sizeof(real));
	}
}

void tensor_sum_rows(real *acc, const real *x, int rows, int width, bool by_row)
{
	// x is (rows, width): the bias gradients, in a fixed order
	if (by_row) {
		#pragma omp parallel for if ((size_t)rows * width > PARALLEL_MIN_CHEAP)
		for (int r = 0; r < rows; r++) {
			real s = 0;
			for (int i = 0; i < width; i++)
				s += x[(size_t)r * width + i];
			acc[r] += s;
		}
		return;
	}
	for (int r = 0; r < rows; r++)
		for (int i = 0; i < width; i++)
			acc[i] += x[(size_t)r * width + i];
}

void tensor_scale(real *x, size_t n, float s)
{
	#pragma omp parallel for if (n > PARALLEL_MIN_CHEAP)
	for (size_t i = 0; i < n; i++)
		x[i] *= s;
}

void stem_mix(real *mix, const real *stems, int B, int S, int C, int64_t n)
{
	// mix (B, C, n), stems (B, S, C, n), sources added in order from 0
	#pragma omp parallel for
	for (int bc = 0; bc < B * C; bc++) {
		int b = bc / C, ch = bc % C;
		real *m = mix + (size_t)bc * n;
		memset(m, 0, n * sizeof(real));
		for (int s = 0; s < S; s++) {
			const real *y = stems + (((size_t)b * S + s) * C + ch) * n;
			for (int64_t i = 0; i < n; i++)
				m[i] += y[i];
		}
	}
}
