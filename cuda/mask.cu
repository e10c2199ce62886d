/* mask.cu: the model's features and its complex mask, forward and
 * backward on the GPU, the twins of lib/ops/mask.c. */
#include "common.cuh"

/* ---- kernels ---- */

// partial[b][blk] = Σ x_b² over the slice of example b that block blk strides
// over; x is (B, rows, stride) floats, of each row its first `row` (n =
// rows · row in all); grid (n_blocks, B), 256 threads, double sums
__global__ static void sumsq_partial_kernel(double *partial, const float *x, int64_t n,
					    int64_t rows, int64_t row, int64_t stride)
{
	__shared__ double sh[BLOCK_SUM_THREADS];
	const float *xb = x + blockIdx.y * rows * stride;
	double s = 0;
	for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
	     i += (int64_t)gridDim.x * blockDim.x) {
		float v = xb[i / row * stride + i % row];
		s += (double)v * v;
	}
	s = block_sum(s, sh);
	if (threadIdx.x == 0)
		partial[blockIdx.y * gridDim.x + blockIdx.x] = s;
}

// sigma[b] = sqrt(Σ partial[b] / count) + 1e-5, summed in a fixed order; one thread per b
__global__ static void sigma_kernel(float *sigma, const double *partial, int n_blocks, int B,
				    double count)
{
	int b = blockIdx.x * blockDim.x + threadIdx.x;
	if (b >= B)
		return;
	double s = 0;
	for (int i = 0; i < n_blocks; i++)
		s += partial[b * n_blocks + i];
	sigma[b] = (float)(sqrt(s / count) + 1e-5);
}

// feat (B, 2CF, T) from x (B, CF, xT) complex, its first T frames: row cf the
// real parts, row CF + cf the imaginary parts, over σ_b; one thread per
// complex input element
__global__ static void features_kernel(float *feat, const float *sigma, const float *x, int B,
				       int CF, int T, int64_t xT)
{
	int64_t per = (int64_t)CF * T;
	GRID_STRIDE_LOOP(k, B * per) {
		int64_t b = k / per, e = k % per;	// e = cf · T + t
		float inv = 1 / sigma[b];
		float2 v = reinterpret_cast<const float2 *>(x)[(b * CF + e / T) * xT + e % T];
		feat[b * 2 * per + e] = v.x * inv;
		feat[b * 2 * per + per + e] = v.y * inv;
	}
}

// yspec (B, S, CF, T) complex = (m_re + i m_im) · x; mask (B, S·2·CF, T) with
// rows (2s)·CF + cf (real) and (2s+1)·CF + cf (imaginary); x (B, CF, T)
// complex; one thread per output complex value
__global__ static void mask_kernel(float2 *yspec, const float *mask, const float2 *x, int B, int S,
				   int CF, int T)
{
	int64_t per = (int64_t)CF * T;		// cf · T + t
	GRID_STRIDE_LOOP(k, (int64_t)B * S * per) {
		int64_t b = k / (S * per), s = k / per % S, e = k % per;
		const float *mb = mask + b * S * 2 * per;
		float mr = mb[2 * s * per + e], mi = mb[(2 * s + 1) * per + e];
		float2 v = x[b * per + e];
		yspec[k] = make_float2(mr * v.x - mi * v.y, mr * v.y + mi * v.x);
	}
}

// dmask (B, S·2·CF, T), rows (2s)·CF + cf (real) and (2s+1)·CF + cf
// (imaginary), overwritten with the gradient of mask_kernel:
// dm_re = dY_re x_re + dY_im x_im, dm_im = −dY_re x_im + dY_im x_re, from
// dyspec (B, S, CF, T) complex and x (B, CF, T) complex; one thread per
// complex value of dyspec
__global__ static void mask_backward_kernel(float *dmask, const float2 *dyspec, const float2 *x,
					    int B, int S, int CF, int T)
{
	int64_t per = (int64_t)CF * T;		// cf · T + t
	GRID_STRIDE_LOOP(k, (int64_t)B * S * per) {
		int64_t b = k / (S * per), s = k / per % S, e = k % per;
		float *mb = dmask + b * S * 2 * per;
		float2 dy = dyspec[k], v = x[b * per + e];
		mb[2 * s * per + e] = dy.x * v.x + dy.y * v.y;
		mb[(2 * s + 1) * per + e] = -dy.x * v.y + dy.y * v.x;
	}
}

/* ---- launchers ---- */

/* Scratch for the per-block partial sums of features_forward_cuda. */
static double *sumsq_scratch;
static size_t sumsq_cap;

extern "C" void features_forward_cuda(float *feat, float *sigma, const float *x, int B, int C,
				      int F, int T, int64_t xT)
{
	cudaStream_t stream = cuda_stream();
	const int n_blocks = 64;	// per example: enough to fill the GPU for B ≥ 2
	size_t need = (size_t)B * n_blocks;
	if (sumsq_cap < need) {
		CUDA_CHECK(cudaFree(sumsq_scratch));
		CUDA_CHECK(cudaMalloc(&sumsq_scratch, need * sizeof(double)));
		sumsq_cap = need;
	}
	int64_t per = (int64_t)C * F * T;	// complex values per example
	sumsq_partial_kernel<<<dim3(n_blocks, B), 256, 0, stream>>>(sumsq_scratch, x, 2 * per,
								     (int64_t)C * F, 2 * (int64_t)T,
								     2 * xT);
	LAUNCH_CHECK();
	sigma_kernel<<<(B + 63) / 64, 64, 0, stream>>>(sigma, sumsq_scratch, n_blocks, B,
							(double)per);
	LAUNCH_CHECK();
	features_kernel<<<grid_for(B * per), 256, 0, stream>>>(feat, sigma, x, B, C * F, T, xT);
	LAUNCH_CHECK();
}

extern "C" void mask_forward_cuda(float *yspec, const float *mask, const float *x, int B, int S,
				  int C, int F, int T)
{
	cudaStream_t stream = cuda_stream();
	mask_kernel<<<grid_for((int64_t)B * S * C * F * T), 256, 0, stream>>>(
		reinterpret_cast<float2 *>(yspec), mask, reinterpret_cast<const float2 *>(x), B, S,
		C * F, T);
	LAUNCH_CHECK();
}

extern "C" void mask_backward_cuda(float *dmask, const float *dyspec, const float *x, int B,
				   int S, int C, int F, int T)
{
	cudaStream_t stream = cuda_stream();
	mask_backward_kernel<<<grid_for((int64_t)B * S * C * F * T), 256, 0, stream>>>(
		dmask, reinterpret_cast<const float2 *>(dyspec),
		reinterpret_cast<const float2 *>(x), B, S, C * F, T);
	LAUNCH_CHECK();
}
