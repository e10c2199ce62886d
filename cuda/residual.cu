/* residual.cu: the residual sum with dropout on its branch, forward and
 * backward on the GPU, the twins of lib/ops/residual.c; the masks draw the
 * CPU's numbers (rng.h is __host__ __device__ under nvcc). */
#include "common.cuh"
#include "rng.h"

/* ---- kernels ---- */

__global__ static void residual_kernel(float *out, const float *inp, const float *branch,
				       int64_t n)
{
	GRID_STRIDE_LOOP(k, n)
		out[k] = inp[k] + branch[k];
}

/* Dropout scale of element i: 0 where rng_uniform(seed, stream, i) < p, else
 * keep = (float)(1 / (1 − p)) (computed on the host in double, as the CPU
 * does); 1 for p <= 0, which leaves branch · scale exactly branch. */
__device__ static inline float dropout_scale(float p, float keep, uint64_t seed,
					     uint64_t stream, uint64_t i)
{
	if (p <= 0)
		return 1;
	return rng_uniform(seed, stream, i) < p ? 0 : keep;
}

// out (n) = inp + branch · scale; out may alias inp; one thread per element
__global__ static void residual_dropout_kernel(float *out, const float *inp, const float *branch,
					       int64_t n, float p, float keep, uint64_t seed,
					       uint64_t stream, uint64_t first)
{
	GRID_STRIDE_LOOP(k, n)
		out[k] = inp[k] + branch[k] * dropout_scale(p, keep, seed, stream, first + k);
}

// dbranch (n) += dout · scale; one thread per element
__global__ static void residual_backward_kernel(float *dbranch, const float *dout, int64_t n,
						float p, float keep, uint64_t seed,
						uint64_t stream, uint64_t first)
{
	GRID_STRIDE_LOOP(k, n)
		dbranch[k] += dout[k] * dropout_scale(p, keep, seed, stream, first + k);
}

/* ---- launchers ---- */

extern "C" void residual_add_cuda(float *out, const float *inp, const float *branch,
				      size_t n)
{
	cudaStream_t stream = cuda_stream();
	residual_kernel<<<grid_for((int64_t)n), 256, 0, stream>>>(out, inp, branch, (int64_t)n);
	LAUNCH_CHECK();
}

/* The kept elements' scale, (float)(1 / (1 − p)) in double as lib/ops/residual.c's
 * dropout_scale; unused for p <= 0. */
static float dropout_keep(float p)
{
	return p > 0 ? (float)(1 / (1 - (double)p)) : 1.0f;
}

extern "C" void residual_forward_cuda(float *out, const float *inp, const float *branch,
					      size_t n, float p, uint64_t seed,
					      uint64_t rng_stream, uint64_t first)
{
	if (p == 0) {	// inference: the plain sum, without the mask's hash
		residual_add_cuda(out, inp, branch, n);
		return;
	}
	cudaStream_t stream = cuda_stream();
	residual_dropout_kernel<<<grid_for((int64_t)n), 256, 0, stream>>>(
		out, inp, branch, (int64_t)n, p, dropout_keep(p), seed, rng_stream, first);
	LAUNCH_CHECK();
}

extern "C" void residual_backward_cuda(float *dbranch, const float *dout, size_t n, float p,
				       uint64_t seed, uint64_t rng_stream, uint64_t first)
{
	cudaStream_t stream = cuda_stream();
	residual_backward_kernel<<<grid_for((int64_t)n), 256, 0, stream>>>(
		dbranch, dout, (int64_t)n, p, dropout_keep(p), seed, rng_stream, first);
	LAUNCH_CHECK();
}
