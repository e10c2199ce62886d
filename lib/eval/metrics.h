/* metrics.h: separation quality metrics (sisdr, validation in training).
 *
 * Signals are planar f32 [C, N]; a source's channels are flattened into one
 * vector for SI-SDR and uSDR.  Sums run in double.
 *
 *   SI-SDR = 10 log10((|a s|^2 + eps) / (|a s - e|^2 + eps)),
 *            a = <e, s> / (|s|^2 + eps), eps = 1e-8  (docs/DESIGN.md §4, the loss)
 *   uSDR   = 10 log10((|s|^2 + 1e-7) / (|s - e|^2 + 1e-7))  (MDX "new SDR")
 *
 * bsseval_v4() is BSSEval version 4 exactly as museval.evaluate(mode='v4')
 * computes it (the "images" decomposition, time-invariant distortion
 * filters estimated once over the whole track, then SDR/ISR/SIR/SAR per
 * window); see bsseval.c and man/sisdr.1 for the definitions. */
#ifndef SEPNET_METRICS_H
#define SEPNET_METRICS_H

#include <stdint.h>

#define METRICS_USDR_EPS 1e-7
#define BSSEVAL_FILTER_LEN 512	/* museval's filters_len: taps of the distortion filters */

/* ref, est: n samples (all channels of one source, flattened).  SI-SDR
 * is ops.h's sisdr_db(est, ref, n), the training loss's own. */
double metrics_usdr(const float *ref, const float *est, int64_t n);

/* The median of the finite values of x[0..n) (NaN and +-inf left out, as
 * museval stores infinite frame values as NaN and pandas' median skips
 * them); NaN when none is finite.  Works on a copy. */
double metrics_median_finite(const double *x, int64_t n);
double metrics_mean_finite(const double *x, int64_t n);

enum bss_metric { BSS_SDR, BSS_ISR, BSS_SIR, BSS_SAR, BSS_NMETRICS };
extern const char *const bss_metric_names[BSS_NMETRICS];	/* "SDR", "ISR", ... */

/* museval's Framing: nwin = floor((n - win + hop) / hop) when win < n,
 * else 1 window covering the whole signal; window t is
 * [t hop, min(t hop + win, n)), so a trailing partial window is dropped. */
int64_t bsseval_nframes(int64_t n, int64_t win, int64_t hop);

/* BSSEval v4.  ref, est: [nsrc, nchan, n] planar f32; filter_len taps
 * (BSSEVAL_FILTER_LEN for museval).  out: [BSS_NMETRICS][nsrc][nframes]
 * doubles in dB, nframes = bsseval_nframes(n, win, hop); a window in which
 * any reference or any estimate source is silent (every sample of the
 * channel sum is zero) gives NaN, a zero denominator +inf, as museval.
 * Returns the solver used for the Gram system: 0 Cholesky, 1 LU (the matrix
 * was not numerically positive definite), 2 least squares (singular). */
int bsseval_v4(double *out, const float *ref, const float *est, int nsrc, int nchan,
	       int64_t n, int64_t win, int64_t hop, int filter_len);

/* ---- the sisdr worker (metrics_eval.c) ---- */

enum metric_kind { METRIC_SISDR, METRIC_USDR, METRIC_BSS };
enum metric_format { FORMAT_TABLE, FORMAT_CSV, FORMAT_JSON };

struct eval_opts {
	enum metric_kind metric;
	enum metric_format format;
	int frames;		/* BSSEval: every window, not only the medians */
	int tracks;		/* only the aggregate over tracks (table and CSV) */
	int64_t win, hop;	/* BSSEval window and hop in samples; 0: 1 s at the track's rate */
};

/* Measure the estimate against the reference and print the results on
 * stdout.  ref and est: two audio files or SNT streams ("-" stdin), records
 * paired in order, sources by their names (sources=) or by position; or
 * two folders REF/<track>/<source>.wav and EST/<track>/<source>.wav, the
 * estimate's tracks and sources evaluated.  Dies (exit 1) on any mismatch
 * of tracks, sources, channels or sample rates; an estimate of another
 * length is zero-padded or cut with a warning, as museval does. */
void metrics_evaluate(char *ref, char *est, const struct eval_opts *o);

#endif
