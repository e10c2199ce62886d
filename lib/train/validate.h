/* validate.h: validation on whole tracks (docs/DESIGN.md §5, sepnet-train --valid).
 *
 * Each record of the validation file is a track's stems f32 [S, C, N]
 * (musdb-cat valid); the mixture is their sum, as in training.  The model
 * separates it with the chunked inference of sepnet-fwd (separate.h, on the
 * model's backend, segments of the training length overlapping by 25 %, cross-faded), the
 * stems' waveforms come from the iSTFT, and the track is scored with the
 * training loss's terms (lib/loss.h) over the whole track:
 *
 *   SI-SDR per source (both channels flattened), the L1 of the waveforms,
 *   the L1 of the magnitude spectrograms, and the loss combining them with
 *   the config's weights.
 *
 * Figures are means over tracks, each track weighing the same. */
#ifndef SEPNET_VALIDATE_H
#define SEPNET_VALIDATE_H

#include "config.h"
#include "loss.h"
#include "model.h"

#define VALIDATE_OVERLAP 0.25	/* sepnet-fwd's default --overlap */

struct valid_result {
	int n_tracks;
	struct loss_stats stats;	/* loss, mean SI-SDR (dB), per source, l1, spectral */
};

/* Score model m (its weights set: model_use_weights picks the EMA) on
 * every record of path, on m's backend; m may be the training model (its
 * dropout is off for the call).  Dies naming the record on a malformed
 * record or one that does not fit the model's config. */
void validate_file(struct model *m, const char *path, struct valid_result *res);

#endif
