/* rmsnorm.cu: RMSNorm forward and backward on the GPU, the twins of
 * lib/ops/rmsnorm.c.  One warp per row; the weight gradient is a
 * deterministic two-pass column sum (colsum.cuh). */
#include "common.cuh"
#include "colsum.cuh"

/* ---- kernels ---- */

// out, inp (N, C); one warp per row: lanes sum x² over a stride of 32, a
// shuffle reduction gives the row's sum to every lane; 4 rows per block of 128
__global__ static void rmsnorm_kernel(float *out, float *rstd, const float *inp,
				      const float *weight, int N, int C, float eps)
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
	float r = 1 / sqrtf(ss / C + eps);
	float *y = out + (int64_t)row * C;
	for (int i = lane; i < C; i += 32)
		y[i] = x[i] * r * weight[i];
	if (lane == 0)
		rstd[row] = r;
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

// dinp (N, C) += r (dy ⊙ g − x r² mean(dy ⊙ g ⊙ x)) with dout, inp (N, C),
// weight g (C), rstd r (N); one warp per row as rmsnorm_kernel,
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

/* ---- launchers ---- */

extern "C" void rmsnorm_forward_cuda(float *out, float *rstd, const float *inp,
				     const float *weight, int N, int C, float eps)
{
	cudaStream_t stream = cuda_stream();
	rmsnorm_kernel<<<(N + 3) / 4, 128, 0, stream>>>(out, rstd, inp, weight, N, C, eps);
	LAUNCH_CHECK();
}

extern "C" void rmsnorm_backward_cuda(float *dinp, float *dweight, const float *dout,
				      const float *inp, const float *weight, const float *rstd,
				      int N, int C)
{
	cudaStream_t stream = cuda_stream();
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
