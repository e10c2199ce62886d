/* tensor.cu: the small tensor ops on the GPU, the twins of
 * lib/ops/tensor.c: bias broadcast, row and column sums (deterministic:
 * a fixed order for a given shape, no float atomics), scaling, the stems'
 * sum. */
#include <cmath>

#include "common.cuh"
#include "colsum.cuh"

/* ---- kernels ---- */

// out (rows, width): out[r][i] = by_row ? vec[r] : vec[i]; one thread per element
__global__ static void broadcast_kernel(float *out, const float *vec, int rows, int width,
					bool by_row)
{
	GRID_STRIDE_LOOP(k, (int64_t)rows * width)
		out[k] = by_row ? vec[k / width] : vec[k % width];
}

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

// x (n) *= s; one thread per element
__global__ static void scale_kernel(float *x, int64_t n, float s)
{
	GRID_STRIDE_LOOP(k, n)
		x[k] *= s;
}

/* ---- launchers ---- */

extern "C" void tensor_broadcast_cuda(float *out, const float *vec, int rows, int width, bool by_row)
{
	cudaStream_t stream = cuda_stream();
	int64_t n = (int64_t)rows * width;
	if (n == 0)
		return;
	broadcast_kernel<<<grid_for(n), 256, 0, stream>>>(out, vec, rows, width, by_row);
	LAUNCH_CHECK();
}

extern "C" void tensor_sum_rows_cuda(float *acc, const float *x, int rows, int width, bool by_row)
{
	cudaStream_t stream = cuda_stream();
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

extern "C" void stem_mix_cuda(float *mix, const float *stems, int B, int S, int C, int64_t n)
{
	cudaStream_t stream = cuda_stream();
	stem_mix_kernel<<<grid_for((int64_t)B * C * n), 256, 0, stream>>>(mix, stems, B, S, C, n);
	LAUNCH_CHECK();
}

extern "C" void tensor_scale_cuda(float *x, size_t n, float s)
{
	cudaStream_t stream = cuda_stream();
	scale_kernel<<<grid_for((int64_t)n), 256, 0, stream>>>(x, (int64_t)n, s);
	LAUNCH_CHECK();
}
