/* ema.cu: the EMA of the weights on the GPU, the twin of lib/ops/ema.c. */
#include "common.cuh"

/* ---- kernels ---- */

// ema (n) += w (params − ema) with w = 1 − decay; one thread per element
__global__ static void ema_kernel(float *ema, const float *params, int64_t n, float w)
{
	GRID_STRIDE_LOOP(k, n)
		ema[k] += w * (params[k] - ema[k]);
}

/* ---- launchers ---- */

extern "C" void ema_update_cuda(float *ema, const float *params, size_t n, float decay)
{
	cudaStream_t stream = cuda_stream();
	float w = 1 - decay;
	ema_kernel<<<grid_for((int64_t)n), 256, 0, stream>>>(ema, params, (int64_t)n, w);
	LAUNCH_CHECK();
}
