/* fft.h: real FFT plans (GROMACS gmx_fft style), one backend per file.
 *
 * A plan transforms `batch` real signals of length n at once:
 *   real arrays          [batch][n]        floats
 *   r2c's complex output [batch][n/2 + 1]  interleaved re, im (c64)
 *   c2r's complex input  [n/2 + 1][batch]  bin-major: a bin's batch values
 *                                          side by side, as a [F, T]
 *                                          spectrogram's row holds frames
 * (the layouts the STFT runs fastest with, measured: FFTW writes r2c's
 * output fastest whole, and the iSTFT copies each bin's run of a row into
 * c2r's input where a frame-major gather's stores fell into the same L1
 * sets; tests/tools/bench-stft)
 * fft_r2c is the forward transform X[f] = sum_k x[k] exp(-2 pi i f k / n);
 * fft_c2r is its unnormalised inverse (fft_c2r(fft_r2c(x)) = n * x).
 *
 * Arrays passed to a plan must come from fft_alloc (the backend's aligned
 * or device memory).  fft_c2r may overwrite its input.  Creating and
 * freeing plans is serialised internally; executing one plan from many
 * threads at once, each with its own arrays, is safe. */
#ifndef SEPNET_FFT_H
#define SEPNET_FFT_H

#include <stdbool.h>
#include <stddef.h>
#include "real.h"

struct fft_plan;

struct fft_plan *fft_plan_create(int n, int batch);
void fft_plan_free(struct fft_plan *p);
int fft_plan_n(const struct fft_plan *p);
int fft_plan_batch(const struct fft_plan *p);
/* Which of p's transforms were planned from the compiled-in wisdom (fft.c):
 * FFT_R2C_WISE | FFT_C2R_WISE, 0 for FFTW_ESTIMATE's plans. */
#define FFT_R2C_WISE 1
#define FFT_C2R_WISE 2
int fft_plan_wise(const struct fft_plan *p);
/* Whether FFTW took the compiled-in wisdom (the FFTW build and SIMD
 * extensions it was made with). */
bool fft_wisdom_in(void);
/* FFTW_MEASURE's plans for batches of `batch` signals of each length n[k]
 * as fft_plan_create makes them, as wisdom (FFTW's text, free() it): the
 * body of fft_wisdom.inc (`make wisdom`).  Forgets all other wisdom. */
char *fft_wisdom_measure(const int *n, int count, int batch);

/* out: complex [batch][n/2+1], in: real [batch][n] (preserved) */
void fft_r2c(const struct fft_plan *p, real *out, const real *in);
/* out: real [batch][n], in: complex [n/2+1][batch] (destroyed) */
void fft_c2r(const struct fft_plan *p, real *out, real *in);

/* Memory suitable for plan arrays; dies when out of memory. */
void *fft_alloc(size_t bytes);
void fft_free(void *ptr);

#endif
