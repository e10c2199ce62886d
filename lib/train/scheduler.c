/* scheduler.c: warm-up and ReduceLROnPlateau (see scheduler.h). */
#include "scheduler.h"

#include <math.h>
#include <stdio.h>

/* PyTorch's defaults: relative improvement threshold, and the smallest
 * reduction worth applying */
#define PLATEAU_THRESHOLD 1e-4
#define PLATEAU_EPS 1e-8

void sched_init(struct sched *s, const struct config *cfg)
{
	*s = (struct sched){
		.base_lr = cfg->learning_rate,
		.factor = cfg->factor,
		.min_lr = cfg->min_lr,
		.patience = cfg->patience,
		.warmup_steps = cfg->warmup_steps,
		.plateau_lr = cfg->learning_rate,
		.best = INFINITY,
	};
}

double sched_lr(const struct sched *s, int64_t step)
{
	double warm = 1;
	if (s->warmup_steps > 0 && step < s->warmup_steps)
		warm = (double)(step + 1) / s->warmup_steps;
	return s->plateau_lr * warm;
}

bool sched_epoch_end(struct sched *s, double val_loss)
{
	bool improved = val_loss < s->best * (1 - PLATEAU_THRESHOLD) ||
			(isinf(s->best) && !isnan(val_loss));
	if (improved) {
		s->best = val_loss;
		s->bad_epochs = 0;
		return true;
	}
	if (++s->bad_epochs > s->patience) {
		double lr = fmax(s->plateau_lr * s->factor, s->min_lr);
		if (s->plateau_lr - lr > PLATEAU_EPS) {
			s->plateau_lr = lr;
			s->reductions++;
		}
		s->bad_epochs = 0;
	}
	return false;
}

void sched_format(const struct sched *s, char *buf, int len)
{
	snprintf(buf, len, "%a %a %d %d", s->plateau_lr, s->best, s->bad_epochs, s->reductions);
}

int sched_parse(struct sched *s, const char *text)
{
	double lr, best;
	int bad, red;
	char tail;
	if (sscanf(text, "%la %la %d %d %c", &lr, &best, &bad, &red, &tail) != 4 || !(lr > 0) ||
	    bad < 0 || red < 0)
		return -1;
	s->plateau_lr = lr, s->best = best, s->bad_epochs = bad, s->reductions = red;
	return 0;
}
