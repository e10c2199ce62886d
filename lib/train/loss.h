/* loss.h: the training loss (docs/DESIGN.md §4) and its gradient.
 *
 * combined:  w_sisdr · mean_{b,s}(−SI-SDR(ŷ, y))
 *          + w_l1    · mean |ŷ − y|                      (time domain)
 *          + w_spec  · mean | |Ŷ| − |STFT(y)| |          (every bin)
 * with SI-SDR(ŷ, y) = 10 log10((‖αy‖² + ε) / (‖αy − ŷ‖² + ε)),
 * α = ⟨ŷ, y⟩ / (‖y‖² + ε), ε = 1e-8, both channels flattened, and
 * |z| = sqrt(re² + im² + 1e-12).  loss_type l1 is the plain time-domain L1
 * term (weight 1), sisdr the plain negative SI-SDR term (weight 1). */
#ifndef SEPNET_LOSS_H
#define SEPNET_LOSS_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "backend.h"
#include "real.h"

struct loss_stats {
	double loss;		/* what loss_compute returns */
	double sisdr;		/* mean SI-SDR over examples and sources, dB */
	double sisdr_source[CONFIG_MAX_SOURCES];	/* mean over the batch, per source */
	double l1;		/* mean |ŷ − y| */
	double spectral;	/* mean | |Ŷ| − |Y| | */
};

/* The assembly over a backend's ops, for training and validation alike:
 *
 *   loss_targets(lw, x, stems, ...);     // target spectrograms, x = their sum
 *   ... the model makes yspec from x ...
 *   loss = loss_compute(lw, dyspec, yspec, &stats);
 *
 * Every pointer is memory of the workspace's backend. */
struct loss_work;
struct loss_work *loss_work_create(const struct backend *be, const struct config *cfg);
void loss_work_free(struct loss_work *lw);

/* The STFTs of stems (B, S, C, n), kept as the spectral term's targets, and
 * x (B, C, F, T) complex = their sum over sources: the mixture's
 * spectrogram.  stems must stay until loss_compute.  -1 when n is too short
 * for n_fft. */
int loss_targets(struct loss_work *lw, real *x, const real *stems, int B, int S, int C, int F,
		 int64_t n);
/* The loss of the estimates yspec (B, S, C, F, T) complex against the
 * stems of loss_targets, their waveforms made by the iSTFT of length n.
 * With dyspec non-NULL, dyspec = ∂loss/∂yspec (through the iSTFT for the
 * time-domain terms).  stats may be NULL. */
double loss_compute(struct loss_work *lw, real *dyspec, const real *yspec,
		    struct loss_stats *stats);
/* The estimates' waveforms (B, S, C, n) of the last loss_compute. */
const real *loss_work_ywave(const struct loss_work *lw);

/* The term weights of cfg's loss_type (combined: the config's weights). */
void loss_weights(const struct config *cfg, double *w_sisdr, double *w_l1, double *w_spec);
/* The stats of loss_compute from the per-pair and per-row sums:
 * sisdr, l1 (B·S), spec_l1 (B·S·C), and the means' counts. */
void loss_stats_make(struct loss_stats *st, const double *sisdr, const double *l1,
		     const double *spec_l1, int B, int S, int C, double n_time, double n_bins,
		     double w_sisdr, double w_l1, double w_spec);

#endif
