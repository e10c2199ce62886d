/* wiener.cu: the Wiener post-filter's EM on the GPU, the twin of
 * lib/ops/wiener.c: one thread per frequency bin, in double. */
#include "common.cuh"
#include "config.h"
#include "ops.h"

/* ---- kernels ---- */

/* norbert.wiener's scale of the block being filtered: max(1, max |x| / 10) */
__device__ static double wiener_scale;

// wiener_scale from x (CF rows of n complex frames, stride apart); one block of
// BLOCK_SUM_THREADS threads, a tree of maxima
__global__ static void wiener_scale_kernel(const float *x, int CF, int64_t stride, int64_t n)
{
	__shared__ double sh[BLOCK_SUM_THREADS];
	double m = 0;
	for (int64_t i = threadIdx.x; i < (int64_t)CF * n; i += blockDim.x) {
		const float *p = x + ((i / n) * stride + i % n) * 2;
		double a = (double)p[0] * p[0] + (double)p[1] * p[1];
		m = a > m ? a : m;
	}
	sh[threadIdx.x] = m;
	__syncthreads();
	for (int w = BLOCK_SUM_THREADS / 2; w > 0; w /= 2) {
		if (threadIdx.x < w && sh[threadIdx.x + w] > sh[threadIdx.x])
			sh[threadIdx.x] = sh[threadIdx.x + w];
		__syncthreads();
	}
	if (threadIdx.x == 0) {
		double s = sqrt(sh[0]) / 10;
		wiener_scale = s > 1 ? s : 1;
	}
}

// Every iteration of EM for bin f = one thread: y (S, C, F, stride) and x (C, F,
// stride) complex, frames [0, n).  v_j(t) is computed from y_j(t) where it is
// used, just before y_j(t) is replaced: the same values as wiener.c's table.
__global__ static void wiener_bin_kernel(float *y, const float *x, int S, int C, int F,
					 int64_t stride, int64_t n, int iterations)
{
	int f = blockIdx.x * blockDim.x + threadIdx.x;
	if (f >= F)
		return;
	const double eps = WIENER_EPS, reg = sqrt(WIENER_EPS), sc = wiener_scale;
	const int64_t row = stride * 2;	// floats between channels' rows of a bin
	auto yp = [&](int j, int c) { return y + (((int64_t)j * C + c) * F + f) * row; };
	const float *xp[2] = { x + (int64_t)f * row, x + ((int64_t)F + f) * row };
	double R[CONFIG_MAX_SOURCES * 8];	// R_j: C × C complex
	for (int it = 0; it < iterations; it++) {
		for (int j = 0; j < S; j++) {
			double *Rj = R + j * 8, weight = eps;
			for (int k = 0; k < 8; k++)
				Rj[k] = 0;
			for (int64_t t = 0; t < n; t++) {
				double yr[2], yi[2], p = 0;
				for (int c = 0; c < C; c++) {
					yr[c] = yp(j, c)[2 * t] / sc, yi[c] = yp(j, c)[2 * t + 1] / sc;
					p += yr[c] * yr[c] + yi[c] * yi[c];
				}
				weight += p / C;
				for (int a = 0; a < C; a++)
					for (int b = 0; b < C; b++) {
						Rj[(a * C + b) * 2] += yr[a] * yr[b] + yi[a] * yi[b];
						Rj[(a * C + b) * 2 + 1] += yi[a] * yr[b] - yr[a] * yi[b];
					}
			}
			for (int k = 0; k < C * C * 2; k++)
				Rj[k] /= weight;
		}
		for (int64_t t = 0; t < n; t++) {
			double v[CONFIG_MAX_SOURCES], M[8] = { 0 }, inv[8], xr[2], xi[2];
			for (int j = 0; j < S; j++) {
				double p = 0;
				for (int c = 0; c < C; c++) {
					double re = yp(j, c)[2 * t] / sc, im = yp(j, c)[2 * t + 1] / sc;
					p += re * re + im * im;
				}
				v[j] = p / C;
				for (int k = 0; k < C * C * 2; k++)
					M[k] += v[j] * R[j * 8 + k];
			}
			for (int c = 0; c < C; c++) {
				M[(c * C + c) * 2] += reg;
				xr[c] = xp[c][2 * t] / sc, xi[c] = xp[c][2 * t + 1] / sc;
			}
			if (C == 1) {
				double re = M[0] + eps, im = M[1], d = re * re + im * im;
				inv[0] = re / d, inv[1] = -im / d;
			} else {
				double dr = M[0] * M[6] - M[1] * M[7] - (M[2] * M[4] - M[3] * M[5]);
				double di = M[0] * M[7] + M[1] * M[6] - (M[2] * M[5] + M[3] * M[4]);
				double d = dr * dr + di * di, ir = dr / d, ii = -di / d;
				const double adj[8] = { M[6], M[7], -M[2], -M[3], -M[4], -M[5], M[0], M[1] };
				for (int k = 0; k < 4; k++) {
					inv[2 * k] = adj[2 * k] * ir - adj[2 * k + 1] * ii;
					inv[2 * k + 1] = adj[2 * k] * ii + adj[2 * k + 1] * ir;
				}
			}
			for (int j = 0; j < S; j++) {
				const double *Rj = R + j * 8;
				for (int a = 0; a < C; a++) {
					double re = 0, im = 0;
					for (int b = 0; b < C; b++) {
						double gr = 0, gi = 0;	// (R_j Cxx⁻¹)[a][b]
						for (int k = 0; k < C; k++) {
							double rr = Rj[(a * C + k) * 2], ri = Rj[(a * C + k) * 2 + 1];
							double qr = inv[(k * C + b) * 2], qi = inv[(k * C + b) * 2 + 1];
							gr += rr * qr - ri * qi;
							gi += rr * qi + ri * qr;
						}
						gr *= v[j], gi *= v[j];
						re += gr * xr[b] - gi * xi[b];
						im += gr * xi[b] + gi * xr[b];
					}
					yp(j, a)[2 * t] = (float)(re * sc);
					yp(j, a)[2 * t + 1] = (float)(im * sc);
				}
			}
		}
	}
}

/* ---- launchers ---- */

extern "C" void wiener_em_cuda(float *y, const float *x, int S, int C, int F, int64_t stride,
			       int64_t n, int iterations)
{
	if (n <= 0 || iterations <= 0)
		return;
	if (C < 1 || C > 2 || S < 1 || S > CONFIG_MAX_SOURCES)
		die("wiener_em: %d stems of %d channels; the filter takes 1 to %d stems, mono or "
		    "stereo", S, C, CONFIG_MAX_SOURCES);
	cudaStream_t stream = cuda_stream();
	wiener_scale_kernel<<<1, BLOCK_SUM_THREADS, 0, stream>>>(x, C * F, stride, n);
	LAUNCH_CHECK();
	wiener_bin_kernel<<<(F + 127) / 128, 128, 0, stream>>>(y, x, S, C, F, stride, n,
								   iterations);
	LAUNCH_CHECK();
}
