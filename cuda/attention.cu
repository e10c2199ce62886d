/* attention.cu: non-causal multi-head attention forward on the GPU, the
 * twin of attention_forward (attention.c): flash attention in f32.
 *
 * For one head, Q, K, V are (T, HS) column slices of the fused qkv tensor
 * (B, T, 3A) after RoPE.  A block of BQ threads owns BQ consecutive queries
 * of one (example, head), one query per thread, with q and the output
 * accumulator o in registers.  It walks the keys in tiles of BK rows: the
 * block loads the K and V tiles into shared memory, each thread scores its
 * query against the tile, and the online softmax (running maximum m and sum
 * l, the accumulator rescaled by exp(m_old − m_new)) folds the tile in.  No
 * score matrix exists outside registers; the log-sum-exp m + log l is
 * written for the backward pass as the CPU writes it.
 *
 * Head sizes are template parameters so that q, o and the tile's scores
 * stay in registers; the kernel is built for the head sizes of the
 * published configs and a few more (16, 24, 32, 64), each instantiation
 * costing nvcc time in every build. */
#include <math.h>

#include "common.cuh"

#define ATT_BQ 64	/* queries (threads) per block */
#define ATT_BK 16	/* keys per shared-memory tile */

// out (B, T, A), lse (B, n_heads, T), qkv (B, T, 3A); grid (ceil(T / BQ), B · n_heads),
// BQ threads, thread i owns query q0 + i
template <int HS>
__global__ static void __launch_bounds__(ATT_BQ)
attention_kernel(float *out, float *lse, const float *qkv, int T, int A, int n_heads)
{
	__shared__ float Ks[ATT_BK][HS], Vs[ATT_BK][HS];
	int b = blockIdx.y / n_heads, h = blockIdx.y % n_heads;
	int i = blockIdx.x * ATT_BQ + threadIdx.x;
	bool active = i < T;	// inactive threads still help load tiles
	const float *base = qkv + (int64_t)b * T * 3 * A + h * HS;
	float scale = 1 / sqrtf((float)HS);

	float q[HS], o[HS];
	for (int c = 0; c < HS; c++) {
		q[c] = active ? base[(int64_t)i * 3 * A + c] : 0;
		o[c] = 0;
	}
	float m = -INFINITY, l = 0;
	for (int k0 = 0; k0 < T; k0 += ATT_BK) {
		__syncthreads();	// the previous tile is no longer read
		for (int e = threadIdx.x; e < ATT_BK * HS; e += ATT_BQ) {
			int j = e / HS, c = e % HS;
			bool in = k0 + j < T;
			const float *row = base + (int64_t)(k0 + j) * 3 * A;
			Ks[j][c] = in ? row[A + c] : 0;
			Vs[j][c] = in ? row[2 * A + c] : 0;
		}
		__syncthreads();
		float s[ATT_BK], tile_max = -INFINITY;
#pragma unroll
		for (int j = 0; j < ATT_BK; j++) {
			float dot = 0;
#pragma unroll
			for (int c = 0; c < HS; c++)
				dot += q[c] * Ks[j][c];
			s[j] = k0 + j < T ? dot * scale : -INFINITY;
			tile_max = fmaxf(tile_max, s[j]);
		}
		// the tile holds at least one key, so m_new is finite
		float m_new = fmaxf(m, tile_max), corr = expf(m - m_new);	// 0 on the first tile
		float sum = 0;
#pragma unroll
		for (int j = 0; j < ATT_BK; j++) {
			s[j] = expf(s[j] - m_new);	// exp(−inf) = 0 past the end
			sum += s[j];
		}
		l = l * corr + sum;
		m = m_new;
#pragma unroll
		for (int c = 0; c < HS; c++) {
			float acc = o[c] * corr;
#pragma unroll
			for (int j = 0; j < ATT_BK; j++)
				acc += s[j] * Vs[j][c];
			o[c] = acc;
		}
	}
	if (!active)
		return;
	float *dst = out + ((int64_t)b * T + i) * A + h * HS;
	for (int c = 0; c < HS; c++)
		dst[c] = o[c] / l;
	lse[((int64_t)b * n_heads + h) * T + i] = m + logf(l);
}

template <int HS>
static void attention_launch(float *out, float *lse, const float *qkv, int B, int T, int A,
			     int n_heads, cuda_stream_t stream)
{
	dim3 grid((T + ATT_BQ - 1) / ATT_BQ, B * n_heads);
	attention_kernel<HS><<<grid, ATT_BQ, 0, stream>>>(out, lse, qkv, T, A, n_heads);
	LAUNCH_CHECK();
}

extern "C" void attention_forward_cuda(float *out, float *lse, const float *qkv, int B, int T,
				       int A, int n_heads, cuda_stream_t stream)
{
	if (T == 0)
		return;
	switch (A / n_heads) {
	case 16: attention_launch<16>(out, lse, qkv, B, T, A, n_heads, stream); break;
	case 24: attention_launch<24>(out, lse, qkv, B, T, A, n_heads, stream); break;
	case 32: attention_launch<32>(out, lse, qkv, B, T, A, n_heads, stream); break;
	case 64: attention_launch<64>(out, lse, qkv, B, T, A, n_heads, stream); break;
	default:
		die("attention: head size %d has no CUDA kernel (16, 24, 32, 64); "
		    "use -d cpu", A / n_heads);
	}
}
