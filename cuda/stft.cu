/* stft.cu: STFT and iSTFT of many rows with cuFFT, the twins of
 * stft_forward and stft_inverse (stft.c), torch semantics (stft.h).
 *
 * Forward: a kernel cuts the reflect-padded rows into windowed frames
 * (rows·T, n_fft), one batched R2C plan transforms them all into
 * (rows·T, F), and a kernel transposes to the stream layout (rows, F, T).
 * Inverse: the transpose back, one batched C2R plan, and a kernel that
 * overlap-adds by gathering: each output sample sums the frames covering
 * it (window / n_fft applied) and divides by the summed squared window, so
 * no two threads write one sample.  The iSTFT's adjoint (training's
 * gradient through it, stft_inverse_adjoint in lib/dsp/stft.c) runs the same
 * steps backwards: a kernel divides dy by the envelope and cuts it into
 * windowed frames, the R2C plan transforms them, and a kernel adds c_f /
 * n_fft of each bin into din in the stream layout.  Plans are made for a batch size
 * and reused while the batch stays the same (a stream of equal-length
 * records plans once). */
#include <cufft.h>
#include <math.h>
#include <stdlib.h>

#include "common.cuh"

struct backend_stft {
	int n_fft, hop, F;
	float *window;		/* [n_fft] periodic Hann, device */
	cufftHandle r2c, c2r;
	int64_t r2c_batch, c2r_batch;	/* 0: no plan yet */
	float *frames;		/* (batch, n_fft) real */
	float2 *bins;		/* (batch, F) complex */
	int64_t cap;		/* frames the two buffers hold */
	double *window_sq;	/* [n_fft] host copy of window², for the envelope check */
};

/* ---- kernels ---- */

// frames (rows, T, n_fft): frame t of row r is window · xpad[t·hop + k], with
// x (rows, n) reflect-padded by n_fft/2 (n > n_fft/2: one reflection suffices);
// one thread per frame sample
__global__ static void frame_kernel(float *frames, const float *x, const float *window,
				    int64_t rows, int64_t n, int64_t T, int n_fft, int hop)
{
	GRID_STRIDE_LOOP(e, rows * T * n_fft) {
		int64_t r = e / (T * n_fft), t = e / n_fft % T;
		int k = (int)(e % n_fft);
		int64_t i = t * hop + k - n_fft / 2;
		i = i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i;
		frames[e] = window[k] * x[r * n + i];
	}
}

// out (rows, F, T) ← bins (rows, T, F), complex; one thread per value
__global__ static void bins_to_rows_kernel(float2 *out, const float2 *bins, int64_t rows,
					   int64_t T, int F)
{
	GRID_STRIDE_LOOP(e, rows * F * T) {
		int64_t r = e / (F * T), f = e / T % F, t = e % T;
		out[e] = bins[(r * T + t) * F + f];
	}
}

// bins (rows, T, F) ← in (rows, F, T), complex; one thread per value
__global__ static void rows_to_bins_kernel(float2 *bins, const float2 *in, int64_t rows,
					   int64_t T, int F)
{
	GRID_STRIDE_LOOP(e, rows * T * F) {
		int64_t r = e / (T * F), t = e / F % T, f = e % F;
		bins[e] = in[(r * F + f) * T + t];
	}
}

// y (rows, n): output sample i is padded position j = i + n_fft/2; it sums
// frames[t][j − t·hop] · window / n_fft over the frames t covering j and
// divides by Σ window²; one thread per output sample
__global__ static void overlap_add_kernel(float *y, const float *frames, const float *window,
					  int64_t rows, int64_t n, int64_t T, int n_fft, int hop)
{
	GRID_STRIDE_LOOP(e, rows * n) {
		int64_t r = e / n, j = e % n + n_fft / 2;
		int64_t t_hi = min(T - 1, j / hop), t_lo = j - n_fft + 1;
		t_lo = t_lo <= 0 ? 0 : (t_lo + hop - 1) / hop;
		float sum = 0, env = 0;
		for (int64_t t = t_lo; t <= t_hi; t++) {
			int k = (int)(j - t * hop);
			float w = window[k];
			sum += frames[(r * T + t) * n_fft + k] * (w / n_fft);
			env += w * w;
		}
		y[e] = sum / env;
	}
}

// frames (rows, T, n_fft): frame t of row r is window[k] · g[t·hop + k] with
// g[j] = dy[j − n_fft/2] / Σ window² (the frames covering j) for padded
// positions j in [n_fft/2, n_fft/2 + n), 0 elsewhere: the adjoint of
// overlap_add_kernel's trim, division and overlap-add; one thread per frame
// sample.  The envelope is summed as the CPU's envelope (lib/dsp/stft.c) is, frames
// in order, each square rounded before it is added.
__global__ static void adjoint_frame_kernel(float *frames, const float *dy, const float *window,
					    int64_t rows, int64_t n, int64_t T, int n_fft, int hop)
{
	GRID_STRIDE_LOOP(e, rows * T * n_fft) {
		int64_t r = e / (T * n_fft), t = e / n_fft % T;
		int k = (int)(e % n_fft);
		int64_t j = t * hop + k, i = j - n_fft / 2;
		float g = 0;
		if (i >= 0 && i < n) {
			int64_t u_hi = min(T - 1, j / hop), u_lo = j - n_fft + 1;
			u_lo = u_lo <= 0 ? 0 : (u_lo + hop - 1) / hop;
			float env = 0;
			for (int64_t u = u_lo; u <= u_hi; u++) {
				float w = window[j - u * hop];
				env = __fadd_rn(env, __fmul_rn(w, w));
			}
			g = dy[r * n + i] / env;
		}
		frames[e] = g * window[k];
	}
}

// din (rows, F, T) += c_f / n_fft · bins (rows, T, F), complex, with c_f = 1 for
// f = 0 and f = n_fft/2 (whose imaginary parts irfft ignores, so theirs get
// nothing) and 2 otherwise; one thread per din value
__global__ static void adjoint_bins_kernel(float2 *din, const float2 *bins, int64_t rows,
					   int64_t T, int F, int n_fft)
{
	float scale = 1.0f / n_fft;
	GRID_STRIDE_LOOP(e, rows * F * T) {
		int64_t r = e / (F * T), t = e % T;
		int f = (int)(e / T % F);
		bool edge = f == 0 || 2 * f == n_fft;
		float c = edge ? scale : 2 * scale;
		float2 b = bins[(r * T + t) * F + f], d = din[e];
		d.x = __fadd_rn(d.x, __fmul_rn(c, b.x));
		if (!edge)
			d.y = __fadd_rn(d.y, __fmul_rn(c, b.y));
		din[e] = d;
	}
}

/* ---- plans ---- */

extern "C" struct backend_stft *stft_create_cuda(int n_fft, int hop)
{
	if (n_fft < 2 || n_fft % 2 || hop < 1 || hop > n_fft)
		die("stft: invalid n_fft %d and hop %d", n_fft, hop);
	struct backend_stft *s = (struct backend_stft *)calloc(1, sizeof *s);
	float *w = (float *)malloc(n_fft * sizeof(float));
	s->window_sq = (double *)malloc(n_fft * sizeof(double));
	if (!s || !w || !s->window_sq)
		die("out of memory");
	s->n_fft = n_fft, s->hop = hop, s->F = n_fft / 2 + 1;
	for (int k = 0; k < n_fft; k++) {	// torch.hann_window(n_fft, periodic=True)
		w[k] = (float)(0.5 - 0.5 * cos(2.0 * M_PI * k / n_fft));
		s->window_sq[k] = (double)w[k] * w[k];
	}
	CUDA_CHECK(cudaMalloc(&s->window, n_fft * sizeof(float)));
	CUDA_CHECK(cudaMemcpy(s->window, w, n_fft * sizeof(float), cudaMemcpyHostToDevice));
	free(w);
	return s;
}

extern "C" void stft_free_cuda(struct backend_stft *s)
{
	if (!s)
		return;
	CUDA_CHECK(cudaDeviceSynchronize());	// no transform of these plans still queued
	if (s->r2c_batch)
		CUFFT_CHECK(cufftDestroy(s->r2c));
	if (s->c2r_batch)
		CUFFT_CHECK(cufftDestroy(s->c2r));
	CUDA_CHECK(cudaFree(s->window));
	CUDA_CHECK(cudaFree(s->frames));
	CUDA_CHECK(cudaFree(s->bins));
	free(s->window_sq);
	free(s);
}

/* Buffers for `batch` frames, and the plan of `type` for that batch. */
static void stft_prepare(struct backend_stft *s, int64_t batch, cufftType type,
			 cuda_stream_t stream)
{
	if (batch > INT32_MAX)
		die("stft: %lld frames exceed one cuFFT batch", (long long)batch);
	if (s->cap < batch) {
		CUDA_CHECK(cudaFree(s->frames));	// waits for work still using them
		CUDA_CHECK(cudaFree(s->bins));
		CUDA_CHECK(cudaMalloc(&s->frames, batch * s->n_fft * sizeof(float)));
		CUDA_CHECK(cudaMalloc(&s->bins, batch * s->F * sizeof(float2)));
		s->cap = batch;
	}
	cufftHandle *plan = type == CUFFT_R2C ? &s->r2c : &s->c2r;
	int64_t *have = type == CUFFT_R2C ? &s->r2c_batch : &s->c2r_batch;
	if (*have != batch) {
		if (*have) {
			// the old plan's transforms may still be queued: its work
			// area must outlive them
			CUDA_CHECK(cudaStreamSynchronize(stream));
			CUFFT_CHECK(cufftDestroy(*plan));
		}
		int n = s->n_fft;
		int idist = type == CUFFT_R2C ? n : s->F, odist = type == CUFFT_R2C ? s->F : n;
		CUFFT_CHECK(cufftPlanMany(plan, 1, &n, NULL, 1, idist, NULL, 1, odist, type,
					  (int)batch));
		*have = batch;
	}
	CUFFT_CHECK(cufftSetStream(*plan, stream));
}

extern "C" int stft_forward_cuda(struct backend_stft *s, float *out, const float *x, int64_t rows,
				 int64_t n)
{
	cudaStream_t stream = cuda_stream();
	// out (rows, F, T) complex, x (rows, n)
	if (n <= s->n_fft / 2)
		return -1;
	int64_t T = 1 + n / s->hop, batch = rows * T;
	if (rows == 0)
		return 0;
	stft_prepare(s, batch, CUFFT_R2C, stream);
	frame_kernel<<<grid_for(batch * s->n_fft), 256, 0, stream>>>(s->frames, x, s->window, rows,
								     n, T, s->n_fft, s->hop);
	LAUNCH_CHECK();
	CUFFT_CHECK(cufftExecR2C(s->r2c, s->frames, (cufftComplex *)s->bins));
	bins_to_rows_kernel<<<grid_for(batch * s->F), 256, 0, stream>>>((float2 *)out, s->bins,
									rows, T, s->F);
	LAUNCH_CHECK();
	return 0;
}

/* Summed squared window at padded position j over frames [0, T), in double. */
static double envelope_at(const struct backend_stft *s, int64_t j, int64_t T)
{
	int64_t t_hi = j / s->hop < T - 1 ? j / s->hop : T - 1, t_lo = j - s->n_fft + 1;
	t_lo = t_lo <= 0 ? 0 : (t_lo + s->hop - 1) / s->hop;
	double e = 0;
	for (int64_t t = t_lo; t <= t_hi; t++)
		e += s->window_sq[j - t * s->hop];
	return e;
}

/* torch.istft's refusals (stft_inverse's): frames that do not reach the
 * last kept sample, or a summed squared window below 1e-11 at a kept
 * sample.  The envelope is periodic with period hop where every frame
 * overlapping a sample exists, so the head and tail (n_fft + hop samples
 * each, which include one full period) decide. */
static bool inverse_ok(const struct backend_stft *s, int64_t T, int64_t n)
{
	int64_t pad = s->n_fft / 2, end = pad + n, edge = s->n_fft + s->hop;
	if (n <= pad || T < 1 || (T - 1) * s->hop + s->n_fft < end)
		return false;
	for (int64_t j = pad; j < end; j++) {
		if (j == pad + edge && end - edge > j)
			j = end - edge;	// skip the periodic interior
		if (!(envelope_at(s, j, T) > 1e-11))
			return false;
	}
	return true;
}

extern "C" int stft_inverse_cuda(struct backend_stft *s, float *y, const float *in, int64_t rows,
				 int64_t T, int64_t n)
{
	cudaStream_t stream = cuda_stream();
	// y (rows, n), in (rows, F, T) complex
	if (!inverse_ok(s, T, n))
		return -1;
	int64_t batch = rows * T;
	if (rows == 0)
		return 0;
	stft_prepare(s, batch, CUFFT_C2R, stream);
	rows_to_bins_kernel<<<grid_for(batch * s->F), 256, 0, stream>>>(
		s->bins, (const float2 *)in, rows, T, s->F);
	LAUNCH_CHECK();
	CUFFT_CHECK(cufftExecC2R(s->c2r, (cufftComplex *)s->bins, s->frames));
	overlap_add_kernel<<<grid_for(rows * n), 256, 0, stream>>>(y, s->frames, s->window, rows, n,
								   T, s->n_fft, s->hop);
	LAUNCH_CHECK();
	return 0;
}

extern "C" int stft_inverse_backward_cuda(struct backend_stft *s, float *din, const float *dy,
					  int64_t rows, int64_t T, int64_t n)
{
	cudaStream_t stream = cuda_stream();
	// din (rows, F, T) complex, dy (rows, n)
	if (!inverse_ok(s, T, n))
		return -1;
	int64_t batch = rows * T;
	if (rows == 0)
		return 0;
	stft_prepare(s, batch, CUFFT_R2C, stream);
	adjoint_frame_kernel<<<grid_for(batch * s->n_fft), 256, 0, stream>>>(
		s->frames, dy, s->window, rows, n, T, s->n_fft, s->hop);
	LAUNCH_CHECK();
	CUFFT_CHECK(cufftExecR2C(s->r2c, s->frames, (cufftComplex *)s->bins));
	adjoint_bins_kernel<<<grid_for(batch * s->F), 256, 0, stream>>>(
		(float2 *)din, s->bins, rows, T, s->F, s->n_fft);
	LAUNCH_CHECK();
	return 0;
}
