/* scheduler.h: the learning-rate schedule of docs/DESIGN.md §5.
 *
 * lr(step) = plateau_lr · warmup(step), where
 *   warmup(step) = min(1, (step + 1) / warmup_steps)   (1 when warmup_steps = 0)
 * and plateau_lr starts at learning_rate and follows PyTorch's
 * ReduceLROnPlateau(mode='min', threshold=1e-4, threshold_mode='rel',
 * cooldown=0, eps=1e-8): after each epoch's validation loss, a loss below
 * best·(1 − 1e-4) is an improvement; more than `patience` epochs in a row
 * without one multiply the rate by `factor`, never below min_lr.
 *
 * The state is a few numbers, saved in checkpoints for a bit-exact resume. */
#ifndef SEPNET_SCHEDULER_H
#define SEPNET_SCHEDULER_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

struct sched {
	/* settings */
	double base_lr, factor, min_lr;
	int patience, warmup_steps;
	/* state */
	double plateau_lr;	/* the rate the plateau rule has reached */
	double best;		/* best validation loss so far (INFINITY before any) */
	int bad_epochs;		/* epochs in a row without improvement */
	int reductions;		/* how many times the rate was reduced */
};

void sched_init(struct sched *s, const struct config *cfg);
/* The rate for optimizer step `step` (counted from 0). */
double sched_lr(const struct sched *s, int64_t step);
/* Feed one epoch's validation loss; true when this was the best so far. */
bool sched_epoch_end(struct sched *s, double val_loss);

/* "plateau_lr best bad_epochs reductions" with every double in %a (exact),
 * and back; -1 when malformed. */
void sched_format(const struct sched *s, char *buf, int len);
int sched_parse(struct sched *s, const char *text);

#endif
