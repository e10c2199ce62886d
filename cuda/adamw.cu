/* adamw.cu: AdamW and the gradient's sum of squares over the flat
 * buffers on the GPU, the twins of lib/ops/adamw.c.  AdamW is one fused
 * elementwise kernel, its bias corrections computed on the host in double
 * as adamw.c does; sumsq sums doubles in two passes whose grid depends on
 * n only (the same bits for the same input) and waits for the stream. */
#include <cmath>

#include "common.cuh"

/* ---- kernels ---- */

/* sumsq's first pass runs at most this many blocks (its partials). */
#define SUMSQ_BLOCKS 1024

// partial[blk] = Σ x² in double over the elements block blk strides over
// (x (n)); blocks of 256, a fixed tree in shared memory
__global__ static void sumsq_block_kernel(double *partial, const float *x, int64_t n)
{
	__shared__ double sh[BLOCK_SUM_THREADS];
	double s = 0;
	GRID_STRIDE_LOOP(k, n)
		s += (double)x[k] * x[k];
	s = block_sum(s, sh);
	if (threadIdx.x == 0)
		partial[blockIdx.x] = s;
}

// *out = Σ partial (n_partial), in a fixed order; one block of 256
__global__ static void sumsq_finish_kernel(double *out, const double *partial, int n_partial)
{
	__shared__ double sh[BLOCK_SUM_THREADS];
	double s = 0;
	for (int i = threadIdx.x; i < n_partial; i += blockDim.x)
		s += partial[i];
	s = block_sum(s, sh);
	if (threadIdx.x == 0)
		*out = s;
}

// one AdamW step over params, grads, m, v (n), as adamw_update (lib/ops/adamw.c):
//   m ← β1 m + (1 − β1) g;  v ← β2 v + (1 − β2) g²
//   p ← p decay − step_size · m / (sqrt(v) / bc2_sqrt + ε)
// with decay = 1 − lr wd, step_size = lr / (1 − β1^t), bc2_sqrt = sqrt(1 − β2^t);
// one thread per element
__global__ static void adamw_kernel(float *params, const float *grads, float *m, float *v,
				    int64_t n, float b1, float b2, float eps, float decay,
				    float step_size, float bc2_sqrt)
{
	GRID_STRIDE_LOOP(k, n) {
		float g = grads[k];
		float mk = b1 * m[k] + (1 - b1) * g;
		float vk = b2 * v[k] + (1 - b2) * g * g;
		m[k] = mk;
		v[k] = vk;
		params[k] = params[k] * decay - step_size * mk / (sqrtf(vk) / bc2_sqrt + eps);
	}
}

/* ---- launchers ---- */

/* sumsq's partials [SUMSQ_BLOCKS] and its result [1], allocated once. */
static double *sumsq_scratch;

extern "C" double sumsq_cuda(const float *x, size_t n)
{
	cudaStream_t stream = cuda_stream();
	if (!sumsq_scratch)
		CUDA_CHECK(cudaMalloc(&sumsq_scratch, (SUMSQ_BLOCKS + 1) * sizeof(double)));
	// the grid depends on n alone: the same n sums in the same order
	unsigned blocks = grid_for((int64_t)n);
	if (blocks > SUMSQ_BLOCKS)
		blocks = SUMSQ_BLOCKS;
	double *result = sumsq_scratch + SUMSQ_BLOCKS;
	sumsq_block_kernel<<<blocks, 256, 0, stream>>>(sumsq_scratch, x, (int64_t)n);
	LAUNCH_CHECK();
	sumsq_finish_kernel<<<1, 256, 0, stream>>>(result, sumsq_scratch, (int)blocks);
	LAUNCH_CHECK();
	double ss;
	CUDA_CHECK(cudaMemcpyAsync(&ss, result, sizeof ss, cudaMemcpyDeviceToHost, stream));
	CUDA_CHECK(cudaStreamSynchronize(stream));
	return ss;
}

extern "C" void adamw_update_cuda(float *params, const float *grads, float *m, float *v, size_t n,
				  float lr, float beta1, float beta2, float eps,
				  float weight_decay, int64_t t)
{
	cudaStream_t stream = cuda_stream();
	// the scalars exactly as adamw_update computes them
	float b1 = beta1, b2 = beta2;
	float step_size = (float)(lr / (1 - pow(b1, (double)t)));
	float bc2_sqrt = (float)sqrt(1 - pow(b2, (double)t));
	float decay = 1 - lr * weight_decay;
	adamw_kernel<<<grid_for((int64_t)n), 256, 0, stream>>>(params, grads, m, v, (int64_t)n, b1,
								b2, eps, decay, step_size,
								bc2_sqrt);
	LAUNCH_CHECK();
}
