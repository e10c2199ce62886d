/* ema.c: exponential moving average of the weights (see ema.h). */
#include "ops.h"

void ema_update(real *ema, const real *params, size_t n, float decay)
{
	// ema + (1 − decay)(p − ema): the same value as decay·ema + (1 − decay)·p
	// up to rounding, and exactly p when decay is 0
	real w = 1 - decay;
	#pragma omp parallel for
	for (size_t i = 0; i < n; i++)
		ema[i] += w * (params[i] - ema[i]);
}
