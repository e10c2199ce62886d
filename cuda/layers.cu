/* layers.cu: the model's elementwise and row-wise layers on the GPU, the
 * twins of features_forward, mask_forward (model.c), rmsnorm, GELU, RoPE,
 * the residual (layers.c) and chunked inference's gather and cross-fade
 * (chunk.c).  Plain kernels: one thread per output element unless a row
 * reduction needs a warp; the arithmetic is the CPU's, in the same order
 * where it is cheap to keep (rounding then differs by an ulp or two only
 * through erff, expf and sqrtf). */
#include "common.cuh"

/* ---- kernels ---- */

// out (rows, width): out[r][i] = by_row ? vec[r] : vec[i]; one thread per element
__global__ static void broadcast_kernel(float *out, const float *vec, int rows, int width,
					bool by_row)
{
	GRID_STRIDE_LOOP(k, (int64_t)rows * width)
		out[k] = by_row ? vec[k / width] : vec[k % width];
}

// partial[b][blk] = Σ x_b² over the slice of example b that block blk strides
// over; x is (B, n) floats; grid (n_blocks, B), 256 threads, double sums
__global__ static void sumsq_partial_kernel(double *partial, const float *x, int64_t n)
{
	__shared__ double sh[BLOCK_SUM_THREADS];
	const float *xb = x + blockIdx.y * n;
	double s = 0;
	for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
	     i += (int64_t)gridDim.x * blockDim.x)
		s += (double)xb[i] * xb[i];
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

// feat (B, 2CF, T) from x (B, CF, T) complex: row cf the real parts, row CF + cf
// the imaginary parts, over σ_b; one thread per complex input element
__global__ static void features_kernel(float *feat, const float *sigma, const float *x, int B,
				       int CF, int T)
{
	int64_t per = (int64_t)CF * T;
	GRID_STRIDE_LOOP(k, B * per) {
		int64_t b = k / per, e = k % per;	// e = cf · T + t
		float inv = 1 / sigma[b];
		float2 v = reinterpret_cast<const float2 *>(x)[k];
		feat[b * 2 * per + e] = v.x * inv;
		feat[b * 2 * per + per + e] = v.y * inv;
	}
}

// out, inp (N, C); one warp per row: lanes sum x² over a stride of 32, a
// shuffle reduction gives the row's sum to every lane; 4 rows per block of 128
__global__ static void rmsnorm_kernel(float *out, float *rstd, const float *inp,
				      const float *weight, int N, int C)
{
	int row = blockIdx.x * 4 + threadIdx.x / 32, lane = threadIdx.x % 32;
	if (row >= N)
		return;
	const float *x = inp + (int64_t)row * C;
	float ss = 0;
	for (int i = lane; i < C; i += 32)
		ss += x[i] * x[i];
	for (int off = 16; off > 0; off /= 2)
		ss += __shfl_xor_sync(0xffffffff, ss, off);
	float r = 1 / sqrtf(ss / C + 1e-6f);
	float *y = out + (int64_t)row * C;
	for (int i = lane; i < C; i += 32)
		y[i] = x[i] * r * weight[i];
	if (lane == 0)
		rstd[row] = r;
}

// out (N, width) = GELU(out + bias), exact erf GELU; one thread per element
__global__ static void bias_gelu_kernel(float *out, const float *bias, int N, int width)
{
	GRID_STRIDE_LOOP(k, (int64_t)N * width) {
		float x = out[k] + bias[k % width];
		out[k] = 0.5f * x * (1 + erff(x * 0.70710678118654752440f));
	}
}

// qkv (B, T, 3A) in place: the pairs (2i, 2i+1) of every head of q (columns
// [0, A)) and k ([A, 2A)) of row t turn by cos_sin (T, hs/2, 2); one thread
// per pair: B·T rows × 2 parts × A/2 pairs
__global__ static void rope_kernel(float *qkv, const float *cos_sin, int B, int T, int A,
				   int n_heads)
{
	int hs = A / n_heads, half = hs / 2;
	GRID_STRIDE_LOOP(k, (int64_t)B * T * A) {
		int64_t bt = k / A;
		int j = (int)(k % A);		// pair j of the row's q and k: part, head, i
		int part = j / (A / 2), h = j % (A / 2) / half, i = j % half;
		const float *cs = cos_sin + ((int64_t)(bt % T) * half + i) * 2;
		float *x = qkv + bt * 3 * A + part * A + h * hs + 2 * i;
		float c = cs[0], s = cs[1], a = x[0], b = x[1];
		x[0] = a * c - b * s;
		x[1] = a * s + b * c;
	}
}

__global__ static void residual_kernel(float *out, const float *inp, const float *branch,
				       int64_t n)
{
	GRID_STRIDE_LOOP(k, n)
		out[k] = inp[k] + branch[k];
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

// seg (rows, L, width) = in (rows, T, width) at frames start .. start + L;
// one thread per float of seg
__global__ static void chunk_gather_kernel(float *seg, const float *in, int64_t T, int64_t L,
					   int64_t start, int64_t rows, int64_t width)
{
	GRID_STRIDE_LOOP(k, rows * L * width) {
		int64_t r = k / (L * width), e = k % (L * width);
		seg[k] = in[(r * T + start) * width + e];
	}
}

// out (rows, T, width) += weight[i] · seg (rows, L, width) at frame start + i;
// one thread per float of seg (each writes a distinct element of out)
__global__ static void chunk_accumulate_kernel(float *out, const float *seg, const float *weight,
					       int64_t T, int64_t L, int64_t start, int64_t rows,
					       int64_t width)
{
	GRID_STRIDE_LOOP(k, rows * L * width) {
		int64_t r = k / (L * width), e = k % (L * width), i = e / width;
		float *o = out + (r * T + start) * width + e;
		*o += weight[i] * seg[k];
	}
}

/* ---- launchers ---- */

extern "C" void broadcast_cuda(float *out, const float *vec, int rows, int width, bool by_row,
			       cuda_stream_t stream)
{
	int64_t n = (int64_t)rows * width;
	if (n == 0)
		return;
	broadcast_kernel<<<grid_for(n), 256, 0, stream>>>(out, vec, rows, width, by_row);
	LAUNCH_CHECK();
}

/* Scratch for the per-block partial sums of features_forward_cuda. */
static double *sumsq_scratch;
static size_t sumsq_cap;

extern "C" void features_forward_cuda(float *feat, float *sigma, const float *x, int B, int C,
				      int F, int T, cuda_stream_t stream)
{
	const int n_blocks = 64;	// per example: enough to fill the GPU for B ≥ 2
	size_t need = (size_t)B * n_blocks;
	if (sumsq_cap < need) {
		CUDA_CHECK(cudaFree(sumsq_scratch));
		CUDA_CHECK(cudaMalloc(&sumsq_scratch, need * sizeof(double)));
		sumsq_cap = need;
	}
	int64_t per = (int64_t)C * F * T;	// complex values per example
	sumsq_partial_kernel<<<dim3(n_blocks, B), 256, 0, stream>>>(sumsq_scratch, x, 2 * per);
	LAUNCH_CHECK();
	sigma_kernel<<<(B + 63) / 64, 64, 0, stream>>>(sigma, sumsq_scratch, n_blocks, B,
							(double)per);
	LAUNCH_CHECK();
	features_kernel<<<grid_for(B * per), 256, 0, stream>>>(feat, sigma, x, B, C * F, T);
	LAUNCH_CHECK();
}

extern "C" void rmsnorm_forward_cuda(float *out, float *rstd, const float *inp,
				     const float *weight, int N, int C, cuda_stream_t stream)
{
	rmsnorm_kernel<<<(N + 3) / 4, 128, 0, stream>>>(out, rstd, inp, weight, N, C);
	LAUNCH_CHECK();
}

extern "C" void bias_gelu_forward_cuda(float *out, const float *bias, int N, int width,
				       cuda_stream_t stream)
{
	bias_gelu_kernel<<<grid_for((int64_t)N * width), 256, 0, stream>>>(out, bias, N, width);
	LAUNCH_CHECK();
}

extern "C" void rope_forward_cuda(float *qkv, const float *cos_sin, int B, int T, int A,
				  int n_heads, cuda_stream_t stream)
{
	rope_kernel<<<grid_for((int64_t)B * T * A), 256, 0, stream>>>(qkv, cos_sin, B, T, A,
								       n_heads);
	LAUNCH_CHECK();
}

extern "C" void residual_forward_cuda(float *out, const float *inp, const float *branch,
				      size_t n, cuda_stream_t stream)
{
	residual_kernel<<<grid_for((int64_t)n), 256, 0, stream>>>(out, inp, branch, (int64_t)n);
	LAUNCH_CHECK();
}

extern "C" void mask_forward_cuda(float *yspec, const float *mask, const float *x, int B, int S,
				  int C, int F, int T, cuda_stream_t stream)
{
	mask_kernel<<<grid_for((int64_t)B * S * C * F * T), 256, 0, stream>>>(
		reinterpret_cast<float2 *>(yspec), mask, reinterpret_cast<const float2 *>(x), B, S,
		C * F, T);
	LAUNCH_CHECK();
}

extern "C" void chunk_gather_cuda(float *seg, const float *in, int64_t T, int64_t L,
				  int64_t start, int64_t rows, int64_t width, cuda_stream_t stream)
{
	chunk_gather_kernel<<<grid_for(rows * L * width), 256, 0, stream>>>(seg, in, T, L, start,
									     rows, width);
	LAUNCH_CHECK();
}

extern "C" void chunk_accumulate_cuda(float *out, const float *seg, const float *weight,
				      int64_t T, int64_t L, int64_t start, int64_t rows,
				      int64_t width, cuda_stream_t stream)
{
	chunk_accumulate_kernel<<<grid_for(rows * L * width), 256, 0, stream>>>(
		out, seg, weight, T, L, start, rows, width);
	LAUNCH_CHECK();
}
