/* band.c: the band-split model's ends and its turn between axes, on the
 * CPU (see ops.h): the mixture's bands as features, the bands' complex
 * masks applied to the mixture, and the swap of time and band axes. */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "ops.h"

/* The offset of (row n, bin f, channel c) in a band-major tensor of rows N
 * for the band j that holds f; real part there, imaginary part next. */
static inline size_t band_index(const int *bands, int j, size_t N, int C, size_t n, int f, int c)
{
	size_t w = (size_t)(bands[j + 1] - bands[j]) * 2 * C;
	return N * 2 * C * bands[j] + n * w + (size_t)(f - bands[j]) * 2 * C + 2 * c;
}

void band_features(real *feat, const real *x, const int *bands, int n_bands, int B, int C, int F,
		   int T)
{
	// x (B, C, F, T) complex; feat band-major of rows N = B·T
	size_t N = (size_t)B * T;
	(void)F;
	#pragma omp parallel for collapse(2) if (N * bands[n_bands] * C > PARALLEL_MIN_CHEAP)
	for (int b = 0; b < B; b++)
		for (int j = 0; j < n_bands; j++)
			for (int c = 0; c < C; c++)
				for (int f = bands[j]; f < bands[j + 1]; f++) {
					const real *xx = x + (((size_t)b * C + c) * F + f) * T * 2;
					for (int t = 0; t < T; t++) {
						size_t k = band_index(bands, j, N, C, (size_t)b * T + t, f, c);
						feat[k] = xx[2 * t];
						feat[k + 1] = xx[2 * t + 1];
					}
				}
}

/* The two walks of the same index pairs, as cuda/band.cu's kernel:
 * forward, out = yspec = mask_s ⊙ x from in = mask; backward, out = dmask
 * = conj(x) · dY from in = dyspec, overwriting.  Spectrograms are (B, S,
 * C, F, T) complex, masks (S, band-major of rows B·T) complex. */
static void band_mask_apply(real *out, const real *in, const real *x, const int *bands,
			    int n_bands, int B, int S, int C, int F, int T, bool backward)
{
	size_t N = (size_t)B * T, per = N * 2 * C * F;
	#pragma omp parallel for collapse(3)
	for (int b = 0; b < B; b++)
		for (int s = 0; s < S; s++)
			for (int j = 0; j < n_bands; j++)
				for (int c = 0; c < C; c++)
					for (int f = bands[j]; f < bands[j + 1]; f++) {
						const real *xx = x + (((size_t)b * C + c) * F + f) * T * 2;
						size_t spec = ((((size_t)b * S + s) * C + c) * F + f) * T * 2;
						for (int t = 0; t < T; t++) {
							size_t m = s * per +
								   band_index(bands, j, N, C, (size_t)b * T + t, f, c);
							size_t y = spec + 2 * (size_t)t;
							real xr = xx[2 * t], xi = xx[2 * t + 1];
							if (!backward) {
								out[y] = in[m] * xr - in[m + 1] * xi;
								out[y + 1] = in[m] * xi + in[m + 1] * xr;
							} else {
								// dm_re = dY_re x_re + dY_im x_im, dm_im = −dY_re x_im + dY_im x_re
								out[m] = in[y] * xr + in[y + 1] * xi;
								out[m + 1] = -in[y] * xi + in[y + 1] * xr;
							}
						}
					}
}

void band_mask_forward(real *yspec, const real *mask, const real *x, const int *bands,
		       int n_bands, int B, int S, int C, int F, int T)
{
	band_mask_apply(yspec, mask, x, bands, n_bands, B, S, C, F, T, false);
}

void band_mask_backward(real *dmask, const real *dyspec, const real *x, const int *bands,
			int n_bands, int B, int S, int C, int F, int T)
{
	band_mask_apply(dmask, dyspec, x, bands, n_bands, B, S, C, F, T, true);
}

void axis_swap(real *out, const real *inp, int B, int X, int Y, int D)
{
	// out (B, Y, X, D) from inp (B, X, Y, D): rows of D copied whole
	#pragma omp parallel for collapse(2) if ((size_t)B * X * Y * D > PARALLEL_MIN_CHEAP)
	for (int b = 0; b < B; b++)
		for (int y = 0; y < Y; y++)
			for (int x = 0; x < X; x++)
				memcpy(out + (((size_t)b * Y + y) * X + x) * D,
				       inp + (((size_t)b * X + x) * Y + y) * D, (size_t)D * sizeof(real));
}
