/* common.cuh: error checks and launch helpers shared by the .cu files.
 *
 * Every CUDA, cuBLAS and cuFFT call goes through CUDA_CHECK, CUBLAS_CHECK
 * or CUFFT_CHECK, which die naming the call, file and line; every kernel
 * launch is followed by LAUNCH_CHECK(). */
#ifndef SEPNET_COMMON_CUH
#define SEPNET_COMMON_CUH

#include <cstdint>
#include <cuda_runtime.h>

#include "sepnet_cuda.h"

extern "C" [[noreturn]] void die(const char *fmt, ...);

#define CUDA_CHECK(call)                                                              \
	do {                                                                          \
		cudaError_t err_ = (call);                                            \
		if (err_ != cudaSuccess)                                              \
			die("%s: %s (%s:%d)", #call, cudaGetErrorString(err_), __FILE__, \
			    __LINE__);                                                \
	} while (0)

#define CUBLAS_CHECK(call)                                                            \
	do {                                                                          \
		int st_ = (int)(call);                                                \
		if (st_ != 0)                                                         \
			die("%s: cuBLAS status %d (%s:%d)", #call, st_, __FILE__, __LINE__); \
	} while (0)

#define CUFFT_CHECK(call)                                                             \
	do {                                                                          \
		int st_ = (int)(call);                                                \
		if (st_ != 0)                                                         \
			die("%s: cuFFT status %d (%s:%d)", #call, st_, __FILE__, __LINE__); \
	} while (0)

/* After every <<<...>>>: a bad configuration or an earlier asynchronous
 * fault is reported here, at the launch that saw it. */
#define LAUNCH_CHECK() CUDA_CHECK(cudaGetLastError())

/* Blocks of 256 threads covering n elements; kernels loop with a grid
 * stride, so the grid is capped. */
static inline unsigned grid_for(int64_t n)
{
	int64_t blocks = (n + 255) / 256;
	return (unsigned)(blocks < 1 ? 1 : blocks > (1 << 20) ? (1 << 20) : blocks);
}

/* Σ v over a block of BLOCK_SUM_THREADS threads by a fixed tree (the same
 * bits for the same inputs), returned to every thread; sh is that many
 * doubles of shared memory, free again on return.  Every thread of the
 * block must call it. */
#define BLOCK_SUM_THREADS 256
__device__ static inline double block_sum(double v, double *sh)
{
	sh[threadIdx.x] = v;
	__syncthreads();
	for (int w = BLOCK_SUM_THREADS / 2; w > 0; w /= 2) {
		if (threadIdx.x < w)
			sh[threadIdx.x] += sh[threadIdx.x + w];
		__syncthreads();
	}
	double s = sh[0];
	__syncthreads();
	return s;
}

#define GRID_STRIDE_LOOP(i, n)                                                        \
	for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);        \
	     i += (int64_t)gridDim.x * blockDim.x)

#endif
