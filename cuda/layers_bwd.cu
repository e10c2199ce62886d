/* layers_bwd.cu: the training side of the layers on the GPU, the twins of
 * rmsnorm_backward, gelu_forward/backward, rope_backward, residual_forward
 * with dropout and residual_backward (layers.c), mask_backward (model.c),
 * and the backend's sum_rows and stem_mix (backend.c).
 *
 * Backward kernels ADD into their gradients as the twins do (mask_backward
 * overwrites, as its twin does).  Every reduction is deterministic: a fixed
 * order for a given shape, no float atomics.  Column sums (bias and norm
 * weight gradients) run in two passes: the rows are cut into chunks of
 * consecutive rows, pass 1 sums each chunk's columns in row order into a
 * scratch (chunks, width), pass 2 adds the chunks in order to acc.  Dropout
 * draws the CPU's numbers: rng.h is __host__ __device__ under nvcc. */
#include <cmath>

#include "common.cuh"
#include "rng.h"

#define SQRT1_2 0.70710678118654752440f
#define INV_SQRT_2PI 0.39894228040143267794f

/* Column sums keep their partials under this many floats (16 MiB) unless
 * one row is wider; at that size pass 1 still has millions of threads. */
#define COLSUM_SCRATCH (1 << 22)

/* ---- kernels ---- */

// partial (n_chunks, width): partial[c][i] = Σ x[r][i] over the rows r of
// chunk c, [c·chunk, min((c+1)·chunk, rows)), in order; x (rows, width);
// grid (⌈width/256⌉, n_chunks) of 256, one thread per (chunk, column)
__global__ static void colsum_partial_kernel(float *partial, const float *x, int rows, int width,
					     int chunk)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i >= width)
		return;
	int64_t r0 = (int64_t)blockIdx.y * chunk, r1 = min(r0 + chunk, (int64_t)rows);
	float s = 0;
	for (int64_t r = r0; r < r1; r++)
		s += x[r * width + i];
	partial[(int64_t)blockIdx.y * width + i] = s;
}

// as colsum_partial_kernel for the RMSNorm weight gradient: partial[c][i] =
// Σ dy[r][i] x[r][i] rstd[r] over chunk c's rows; dy, x (rows, width), rstd (rows)
__global__ static void rmsnorm_dweight_partial_kernel(float *partial, const float *dout,
						      const float *inp, const float *rstd, int rows,
						      int width, int chunk)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i >= width)
		return;
	int64_t r0 = (int64_t)blockIdx.y * chunk, r1 = min(r0 + chunk, (int64_t)rows);
	float s = 0;
	for (int64_t r = r0; r < r1; r++) {
		int64_t k = r * width + i;
		s += dout[k] * inp[k] * rstd[r];
	}
	partial[(int64_t)blockIdx.y * width + i] = s;
}

// acc (width) += Σ_c partial[c] (n_chunks, width), c in order from 0; one
// thread per column
__global__ static void colsum_finish_kernel(float *acc, const float *partial, int n_chunks,
					    int width)
{
	GRID_STRIDE_LOOP(i, width) {
		float s = acc[i];
		for (int c = 0; c < n_chunks; c++)
			s += partial[(int64_t)c * width + i];
		acc[i] = s;
	}
}

// acc (rows) += Σ_i x[r][i], x (rows, width); groups of G threads (a warp or
// the whole block of 256) per row: each thread sums a stride of G, then a
// shuffle tree in each warp and, for G = 256, the 8 warp sums in order
template <int G>
__global__ static void rowsum_kernel(float *acc, const float *x, int rows, int width)
{
	int64_t row = (int64_t)blockIdx.x * (256 / G) + threadIdx.x / G;
	int lane = threadIdx.x % G;
	if (row >= rows)	// whole groups leave: G is a multiple of the warp
		return;
	const float *xr = x + row * width;
	float s = 0;
	for (int i = lane; i < width; i += G)
		s += xr[i];
	for (int off = 16; off > 0; off /= 2)
		s += __shfl_xor_sync(0xffffffff, s, off);
	if (G == 32) {
		if (lane == 0)
			acc[row] += s;
		return;
	}
	__shared__ float warp_sum[8];
	if (threadIdx.x % 32 == 0)
		warp_sum[threadIdx.x / 32] = s;
	__syncthreads();
	if (threadIdx.x == 0) {
		float t = 0;
		for (int w = 0; w < 8; w++)
			t += warp_sum[w];
		acc[row] += t;
	}
}

// dinp (N, C) += r (dy ⊙ g − x r² mean(dy ⊙ g ⊙ x)) with dout, inp (N, C),
// weight g (C), rstd r (N); one warp per row as rmsnorm_kernel (layers.cu),
// 4 rows per block of 128
__global__ static void rmsnorm_backward_kernel(float *dinp, const float *dout, const float *inp,
					       const float *weight, const float *rstd, int N, int C)
{
	int64_t row = (int64_t)blockIdx.x * 4 + threadIdx.x / 32;
	int lane = threadIdx.x % 32;
	if (row >= N)
		return;
	const float *x = inp + row * C, *dy = dout + row * C;
	float *dx = dinp + row * C;
	float r = rstd[row], dot = 0;
	for (int i = lane; i < C; i += 32)
		dot += dy[i] * weight[i] * x[i];
	for (int off = 16; off > 0; off /= 2)
		dot += __shfl_xor_sync(0xffffffff, dot, off);
	float c = r * r * dot / C;
	for (int i = lane; i < C; i += 32)
		dx[i] += r * (dy[i] * weight[i] - x[i] * c);
}

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

// dqkv (B, T, 3A) in place: the pairs (2i, 2i+1) of every head of q (columns
// [0, A)) and k ([A, 2A)) of row t turn back by the angles of cos_sin
// (T, hs/2, 2), the adjoint of rope_kernel (layers.cu), indexed as it is;
// one thread per pair: B·T rows × 2 parts × A/2 pairs
__global__ static void rope_backward_kernel(float *dqkv, const float *cos_sin, int B, int T,
					    int A, int n_heads)
{
	int hs = A / n_heads, half = hs / 2;
	GRID_STRIDE_LOOP(k, (int64_t)B * T * A) {
		int64_t bt = k / A;
		int j = (int)(k % A);		// pair j of the row's q and k: part, head, i
		int part = j / (A / 2), h = j % (A / 2) / half, i = j % half;
		const float *cs = cos_sin + ((int64_t)(bt % T) * half + i) * 2;
		float *x = dqkv + bt * 3 * A + part * A + h * hs + 2 * i;
		float c = cs[0], s = -cs[1], a = x[0], b = x[1];
		x[0] = a * c - b * s;
		x[1] = a * s + b * c;
	}
}

/* Dropout scale of element i: 0 where rng_uniform(seed, stream, i) < p, else
 * keep = (float)(1 / (1 − p)) (computed on the host in double, as the CPU
 * does); 1 for p <= 0, which leaves branch · scale exactly branch. */
__device__ static inline float dropout_scale(float p, float keep, uint64_t seed,
					     uint64_t stream, int64_t i)
{
	if (p <= 0)
		return 1;
	return rng_uniform(seed, stream, (uint64_t)i) < p ? 0 : keep;
}

// out (n) = inp + branch · scale; out may alias inp; one thread per element
__global__ static void residual_dropout_kernel(float *out, const float *inp, const float *branch,
					       int64_t n, float p, float keep, uint64_t seed,
					       uint64_t stream)
{
	GRID_STRIDE_LOOP(k, n)
		out[k] = inp[k] + branch[k] * dropout_scale(p, keep, seed, stream, k);
}

// dbranch (n) += dout · scale; one thread per element
__global__ static void residual_backward_kernel(float *dbranch, const float *dout, int64_t n,
						float p, float keep, uint64_t seed,
						uint64_t stream)
{
	GRID_STRIDE_LOOP(k, n)
		dbranch[k] += dout[k] * dropout_scale(p, keep, seed, stream, k);
}

// dmask (B, S·2·CF, T), rows (2s)·CF + cf (real) and (2s+1)·CF + cf
// (imaginary), overwritten with the gradient of mask_kernel (layers.cu):
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

// mix (B, C, n) = Σ_s stems (B, S, C, n), s in order from 0; one thread per
// element of mix
__global__ static void stem_mix_kernel(float *mix, const float *stems, int B, int S, int C,
				       int64_t n)
{
	GRID_STRIDE_LOOP(k, (int64_t)B * C * n) {
		int64_t bc = k / n, i = k % n, b = bc / C, ch = bc % C;
		float m = 0;
		for (int s = 0; s < S; s++)
			m += stems[((b * S + s) * C + ch) * n + i];
		mix[k] = m;
	}
}

/* ---- launchers ---- */

/* Scratch of the column sums' partials, grown on demand. */
static float *colsum_scratch;
static size_t colsum_cap;

/* How the rows are cut into chunks: about √rows chunks balances pass 1's
 * loop (chunk rows) against pass 2's (n_chunks), and bounds the scratch. */
struct colsum_plan {
	int chunk, n_chunks;
	float *partial;		/* (n_chunks, width) */
	dim3 grid;		/* pass 1's: (⌈width/256⌉, n_chunks) */
};

static struct colsum_plan colsum_prepare(int rows, int width)
{
	// rows, width >= 1; n_chunks <= √(2^31) fits gridDim.y (65535)
	int64_t n = (int64_t)ceil(sqrt((double)rows));
	int64_t cap = COLSUM_SCRATCH / width > 1 ? COLSUM_SCRATCH / width : 1;
	if (n > cap)
		n = cap;
	struct colsum_plan p;
	p.chunk = (int)((rows + n - 1) / n);
	p.n_chunks = (int)(((int64_t)rows + p.chunk - 1) / p.chunk);	// no empty chunk
	size_t need = (size_t)p.n_chunks * width;
	if (colsum_cap < need) {
		CUDA_CHECK(cudaFree(colsum_scratch));	// waits for work still using it
		CUDA_CHECK(cudaMalloc(&colsum_scratch, need * sizeof(float)));
		colsum_cap = need;
	}
	p.partial = colsum_scratch;
	p.grid = dim3((unsigned)(((int64_t)width + 255) / 256), p.n_chunks);
	return p;
}

extern "C" void rmsnorm_backward_cuda(float *dinp, float *dweight, const float *dout,
				      const float *inp, const float *weight, const float *rstd,
				      int N, int C, cuda_stream_t stream)
{
	if (N <= 0 || C <= 0)
		return;
	rmsnorm_backward_kernel<<<(unsigned)(((int64_t)N + 3) / 4), 128, 0, stream>>>(
		dinp, dout, inp, weight, rstd, N, C);
	LAUNCH_CHECK();
	struct colsum_plan p = colsum_prepare(N, C);
	rmsnorm_dweight_partial_kernel<<<p.grid, 256, 0, stream>>>(p.partial, dout, inp, rstd, N,
								    C, p.chunk);
	LAUNCH_CHECK();
	colsum_finish_kernel<<<grid_for(C), 256, 0, stream>>>(dweight, p.partial, p.n_chunks, C);
	LAUNCH_CHECK();
}

extern "C" void gelu_forward_cuda(float *out, const float *inp, size_t n, cuda_stream_t stream)
{
	gelu_kernel<<<grid_for((int64_t)n), 256, 0, stream>>>(out, inp, (int64_t)n);
	LAUNCH_CHECK();
}

extern "C" void gelu_backward_cuda(float *dinp, const float *dout, const float *inp, size_t n,
				   cuda_stream_t stream)
{
	gelu_backward_kernel<<<grid_for((int64_t)n), 256, 0, stream>>>(dinp, dout, inp,
									(int64_t)n);
	LAUNCH_CHECK();
}

extern "C" void rope_backward_cuda(float *dqkv, const float *cos_sin, int B, int T, int A,
				   int n_heads, cuda_stream_t stream)
{
	rope_backward_kernel<<<grid_for((int64_t)B * T * A), 256, 0, stream>>>(dqkv, cos_sin, B,
										T, A, n_heads);
	LAUNCH_CHECK();
}

/* The kept elements' scale, (float)(1 / (1 − p)) in double as layers.c's
 * dropout_scale; unused for p <= 0. */
static float dropout_keep(float p)
{
	return p > 0 ? (float)(1 / (1 - (double)p)) : 1.0f;
}

extern "C" void residual_dropout_forward_cuda(float *out, const float *inp, const float *branch,
					      size_t n, float p, uint64_t seed,
					      uint64_t rng_stream, cuda_stream_t stream)
{
	residual_dropout_kernel<<<grid_for((int64_t)n), 256, 0, stream>>>(
		out, inp, branch, (int64_t)n, p, dropout_keep(p), seed, rng_stream);
	LAUNCH_CHECK();
}

extern "C" void residual_backward_cuda(float *dbranch, const float *dout, size_t n, float p,
				       uint64_t seed, uint64_t rng_stream, cuda_stream_t stream)
{
	residual_backward_kernel<<<grid_for((int64_t)n), 256, 0, stream>>>(
		dbranch, dout, (int64_t)n, p, dropout_keep(p), seed, rng_stream);
	LAUNCH_CHECK();
}

extern "C" void mask_backward_cuda(float *dmask, const float *dyspec, const float *x, int B,
				   int S, int C, int F, int T, cuda_stream_t stream)
{
	mask_backward_kernel<<<grid_for((int64_t)B * S * C * F * T), 256, 0, stream>>>(
		dmask, reinterpret_cast<const float2 *>(dyspec),
		reinterpret_cast<const float2 *>(x), B, S, C * F, T);
	LAUNCH_CHECK();
}

extern "C" void sum_rows_cuda(float *acc, const float *x, int rows, int width, bool by_row,
			      cuda_stream_t stream)
{
	if (rows <= 0 || width <= 0)
		return;
	if (by_row && width <= 1024) {	// narrow rows: a warp each, 8 rows per block
		rowsum_kernel<32><<<(unsigned)(((int64_t)rows + 7) / 8), 256, 0, stream>>>(
			acc, x, rows, width);
		LAUNCH_CHECK();
		return;
	}
	if (by_row) {			// wide rows: a block each
		rowsum_kernel<256><<<(unsigned)rows, 256, 0, stream>>>(acc, x, rows, width);
		LAUNCH_CHECK();
		return;
	}
	struct colsum_plan p = colsum_prepare(rows, width);
	colsum_partial_kernel<<<p.grid, 256, 0, stream>>>(p.partial, x, rows, width, p.chunk);
	LAUNCH_CHECK();
	colsum_finish_kernel<<<grid_for(width), 256, 0, stream>>>(acc, p.partial, p.n_chunks,
								   width);
	LAUNCH_CHECK();
}

extern "C" void stem_mix_cuda(float *mix, const float *stems, int B, int S, int C, int64_t n,
			      cuda_stream_t stream)
{
	stem_mix_kernel<<<grid_for((int64_t)B * C * n), 256, 0, stream>>>(mix, stems, B, S, C, n);
	LAUNCH_CHECK();
}
