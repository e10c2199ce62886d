/* stft.h: STFT and iSTFT with torch.stft / torch.istft semantics.
 *
 * Periodic Hann window of length n_fft, centered frames with reflect
 * padding of n_fft/2 on both sides, T = 1 + n / hop frames, onesided
 * F = n_fft/2 + 1 bins, no normalisation:
 *   X[f, t] = sum_k w[k] xpad[t*hop + k] exp(-2 pi i f k / n_fft)
 * The inverse is torch.istft(center=True, length=n): windowed overlap-add
 * divided by the summed squared window, trimmed to n samples.
 *
 * The inverse's adjoint (stft_inverse_adjoint) carries a loss's gradient
 * back through the iSTFT in training.
 *
 * Spectrograms are interleaved complex [F, T] (the c64 layout: re, im).
 * One struct stft holds a plan and scratch; it is not shared between
 * threads: make one per thread (plans are created once, under a lock). */
#ifndef SEPNET_STFT_H
#define SEPNET_STFT_H

#include <stdint.h>
#include "real.h"

struct stft;

/* Frames transformed at once, by one batched FFT plan (fft.h).  16 frames
 * of 4096: 256 KiB real + 256 KiB complex scratch, within L2, while each
 * output row write is 16 complex values (two cache lines).  Measured on
 * 4096/1024: as fast as 8, faster than tiles of 32-128 frames transposed
 * in 8x8 blocks (the scratch then falls out of L2). */
#define STFT_BLOCK 16

struct stft *stft_create(int n_fft, int hop);
void stft_free(struct stft *s);
int stft_n_fft(const struct stft *s);
int stft_hop(const struct stft *s);
int stft_bins(const struct stft *s);			/* n_fft / 2 + 1 */
int64_t stft_frames(const struct stft *s, int64_t n);	/* 1 + n / hop */
const real *stft_window(const struct stft *s);		/* [n_fft] */

/* out: complex [F, T] (2*F*T floats), x: [n].  Reflect padding needs
 * n > n_fft/2; shorter signals are an error (returns -1). */
int stft_forward(struct stft *s, real *out, const real *x, int64_t n);
/* y: [n], in: complex [F, T] with T frames.  Returns -1 if T is too small
 * to cover n samples or n is too small to hold the padding. */
int stft_inverse(struct stft *s, real *y, const real *in, int64_t T, int64_t n);
/* din: complex [F, T] += the adjoint of stft_inverse (T frames, length n)
 * applied to dy [n]: the gradient of a loss on y with respect to in.
 * -1 where stft_inverse would refuse. */
int stft_inverse_adjoint(struct stft *s, real *din, const real *dy, int64_t T, int64_t n);

#endif
