/* rope.cu: rotary position embedding forward and backward on the GPU, the
 * twins of lib/ops/rope.c. */
#include "common.cuh"

/* ---- kernels ---- */

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

// dqkv (B, T, 3A) in place: the pairs (2i, 2i+1) of every head of q (columns
// [0, A)) and k ([A, 2A)) of row t turn back by the angles of cos_sin
// (T, hs/2, 2), the adjoint of rope_kernel, indexed as it is;
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

/* ---- launchers ---- */

extern "C" void rope_forward_cuda(float *qkv, const float *cos_sin, int B, int T, int A,
				  int n_heads)
{
	cudaStream_t stream = cuda_stream();
	rope_kernel<<<grid_for((int64_t)B * T * A), 256, 0, stream>>>(qkv, cos_sin, B, T, A,
								       n_heads);
	LAUNCH_CHECK();
}

extern "C" void rope_backward_cuda(float *dqkv, const float *cos_sin, int B, int T, int A,
				   int n_heads)
{
	cudaStream_t stream = cuda_stream();
	rope_backward_kernel<<<grid_for((int64_t)B * T * A), 256, 0, stream>>>(dqkv, cos_sin, B,
										T, A, n_heads);
	LAUNCH_CHECK();
}
