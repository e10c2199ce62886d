/* gelu.cu: exact (erf) GELU forward and backward on the GPU, and the bias +
 * GELU epilogue of linear_gelu_forward, the twins of lib/ops/gelu.c. */
#include <cmath>

#include "common.cuh"

/* ---- kernels ---- */

// out (N, width) = GELU(out + bias), exact erf GELU; one thread per element
__global__ static void bias_gelu_kernel(float *out, const float *bias, int N, int width)
{
	GRID_STRIDE_LOOP(k, (int64_t)N * width) {
		float x = out[k] + bias[k % width];
		out[k] = 0.5f * x * (1 + erff(x * 0.70710678118654752440f));
	}
}

#define SQRT1_2 0.70710678118654752440f
#define INV_SQRT_2PI 0.39894228040143267794f

// out (n) = x Φ(x) of inp (n), exact erf GELU; one thread per element
__global__ static void gelu_kernel(float *out, const float *inp, int64_t n)
{
	GRID_STRIDE_LOOP(k, n) {
		float x = inp[k];
		out[k] = 0.5f * x * (1 + erff(x * SQRT1_2));
	}
}

// dinp (n) += dout · (Φ(x) + x φ(x)) at x = inp (n); one thread per element
__global__ static void gelu_backward_kernel(float *dinp, const float *dout, const float *inp,
					    int64_t n)
{
	GRID_STRIDE_LOOP(k, n) {
		float x = inp[k];
		float cdf = 0.5f * (1 + erff(x * SQRT1_2));
		float pdf = expf(-0.5f * x * x) * INV_SQRT_2PI;
		dinp[k] += dout[k] * (cdf + x * pdf);
	}
}

/* ---- launchers ---- */

extern "C" void bias_gelu_forward_cuda(float *out, const float *bias, int N, int width)
{
	cudaStream_t stream = cuda_stream();
	bias_gelu_kernel<<<grid_for((int64_t)N * width), 256, 0, stream>>>(out, bias, N, width);
	LAUNCH_CHECK();
}

extern "C" void gelu_forward_cuda(float *out, const float *inp, size_t n)
{
	cudaStream_t stream = cuda_stream();
	gelu_kernel<<<grid_for((int64_t)n), 256, 0, stream>>>(out, inp, (int64_t)n);
	LAUNCH_CHECK();
}

extern "C" void gelu_backward_cuda(float *dinp, const float *dout, const float *inp, size_t n)
{
	cudaStream_t stream = cuda_stream();
	gelu_backward_kernel<<<grid_for((int64_t)n), 256, 0, stream>>>(dinp, dout, inp,
									(int64_t)n);
	LAUNCH_CHECK();
}
