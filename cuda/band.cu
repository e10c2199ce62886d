/* band.cu: the band-split model's ends and its axis swap on the GPU, the
 * twins of lib/ops/band.c.  One thread per complex value; a bin finds its
 * band by binary search in bands (n_bands + 1 first bins, F last). */
#include "common.cuh"

/* ---- kernels ---- */

// The band that holds bin f: the last j with bands[j] <= f.
__device__ static int band_of(const int *bands, int n_bands, int f)
{
	int lo = 0, hi = n_bands - 1;
	while (lo < hi) {
		int mid = (lo + hi + 1) / 2;
		if (bands[mid] <= f)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

// The offset of (row n, bin f, channel c) in a band-major tensor of N rows.
__device__ static int64_t band_index(const int *bands, int n_bands, int64_t N, int C, int64_t n,
				     int f, int c)
{
	int j = band_of(bands, n_bands, f);
	int64_t w = (int64_t)(bands[j + 1] - bands[j]) * 2 * C;
	return N * 2 * C * bands[j] + n * w + (int64_t)(f - bands[j]) * 2 * C + 2 * c;
}

// feat (band-major, rows B·T) from x (B, C, F, T) complex; k = ((b·C + c)·F + f)·T + t
__global__ static void band_features_kernel(float *feat, const float2 *x, const int *bands,
					    int n_bands, int B, int C, int F, int T)
{
	int64_t N = (int64_t)B * T;
	GRID_STRIDE_LOOP(k, N * C * F) {
		int t = (int)(k % T), f = (int)(k / T % F), c = (int)(k / ((int64_t)T * F) % C);
		int64_t b = k / ((int64_t)T * F * C);
		int64_t i = band_index(bands, n_bands, N, C, b * T + t, f, c);
		float2 v = x[k];
		feat[i] = v.x;
		feat[i + 1] = v.y;
	}
}

// yspec (B, S, C, F, T) complex = mask_s ⊙ x (backward: dmask_s = conj(x) dY);
// k = (((b·S + s)·C + c)·F + f)·T + t
__global__ static void band_mask_kernel(float *out, const float *in, const float2 *x,
					const int *bands, int n_bands, int B, int S, int C, int F,
					int T, bool backward)
{
	int64_t N = (int64_t)B * T, per = N * 2 * C * F;
	GRID_STRIDE_LOOP(k, N * S * C * F) {
		int t = (int)(k % T), f = (int)(k / T % F), c = (int)(k / ((int64_t)T * F) % C);
		int s = (int)(k / ((int64_t)T * F * C) % S);
		int64_t b = k / ((int64_t)T * F * C * S);
		int64_t i = s * per + band_index(bands, n_bands, N, C, b * T + t, f, c);
		float2 xv = x[((b * C + c) * F + f) * T + t];
		if (!backward) {
			float mr = in[i], mi = in[i + 1];
			reinterpret_cast<float2 *>(out)[k] =
				make_float2(mr * xv.x - mi * xv.y, mr * xv.y + mi * xv.x);
		} else {
			float2 dy = reinterpret_cast<const float2 *>(in)[k];
			out[i] = dy.x * xv.x + dy.y * xv.y;
			out[i + 1] = -dy.x * xv.y + dy.y * xv.x;
		}
	}
}

// out (B, Y, X, D) = inp (B, X, Y, D); one thread per element of out
__global__ static void axis_swap_kernel(float *out, const float *inp, int B, int X, int Y, int D)
{
	GRID_STRIDE_LOOP(k, (int64_t)B * X * Y * D) {
		int d = (int)(k % D), x = (int)(k / D % X), y = (int)(k / ((int64_t)D * X) % Y);
		int64_t b = k / ((int64_t)D * X * Y);
		out[k] = inp[((b * X + x) * Y + y) * D + d];
	}
}

/* ---- launchers ---- */

extern "C" void band_features_cuda(float *feat, const float *x, const int *bands, int n_bands,
				   int B, int C, int F, int T)
{
	int64_t n = (int64_t)B * C * F * T;
	band_features_kernel<<<grid_for(n), 256, 0, cuda_stream()>>>(
		feat, reinterpret_cast<const float2 *>(x), bands, n_bands, B, C, F, T);
	LAUNCH_CHECK();
}

extern "C" void band_mask_forward_cuda(float *yspec, const float *mask, const float *x,
				       const int *bands, int n_bands, int B, int S, int C, int F,
				       int T)
{
	int64_t n = (int64_t)B * S * C * F * T;
	band_mask_kernel<<<grid_for(n), 256, 0, cuda_stream()>>>(
		yspec, mask, reinterpret_cast<const float2 *>(x), bands, n_bands, B, S, C, F, T,
		false);
	LAUNCH_CHECK();
}

extern "C" void band_mask_backward_cuda(float *dmask, const float *dyspec, const float *x,
					const int *bands, int n_bands, int B, int S, int C, int F,
					int T)
{
	int64_t n = (int64_t)B * S * C * F * T;
	band_mask_kernel<<<grid_for(n), 256, 0, cuda_stream()>>>(
		dmask, dyspec, reinterpret_cast<const float2 *>(x), bands, n_bands, B, S, C, F, T,
		true);
	LAUNCH_CHECK();
}

extern "C" void axis_swap_cuda(float *out, const float *inp, int B, int X, int Y, int D)
{
	int64_t n = (int64_t)B * X * Y * D;
	axis_swap_kernel<<<grid_for(n), 256, 0, cuda_stream()>>>(out, inp, B, X, Y, D);
	LAUNCH_CHECK();
}
