/* loss.h: the training loss of DESIGN §4 and its gradient.
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
#include "model.h"

struct loss_stats {
	double loss;		/* what loss_compute returns */
	double sisdr;		/* mean SI-SDR over examples and sources, dB */
	double sisdr_source[CONFIG_MAX_SOURCES];	/* mean over the batch, per source */
	double l1;		/* mean |ŷ − y| */
	double spectral;	/* mean | |Ŷ| − |Y| | */
};

/* The loss of the model's last forward (acts.yspec, and acts.ywave from
 * model_waveforms(m, n)) against targets (B, S, C, n).  With backward, also
 * sets acts.dyspec = ∂loss/∂Ŷ (through the iSTFT for the time-domain
 * terms), ready for model_backward.  stats may be NULL. */
double loss_compute(struct model *m, const real *targets, int64_t n, bool backward,
		    struct loss_stats *stats);

/* SI-SDR in dB of an estimate against a reference, both (n). */
double loss_sisdr(const real *estimate, const real *reference, int64_t n);

#endif
