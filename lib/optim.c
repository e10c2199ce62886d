/* optim.c: AdamW and gradient clipping over flat buffers (see optim.h). */
#include <math.h>
#include <stdlib.h>

#include "optim.h"
#include "util.h"

void adamw_init(struct adamw *opt, size_t n, float weight_decay)
{
	opt->n = n;
	opt->m = xcalloc(n, sizeof(float));
	opt->v = xcalloc(n, sizeof(float));
	opt->t = 0;
	opt->beta1 = 0.9f;
	opt->beta2 = 0.999f;
	opt->eps = 1e-8f;
	opt->weight_decay = weight_decay;
}

void adamw_free(struct adamw *opt)
{
	free(opt->m);
	free(opt->v);
	opt->m = opt->v = NULL;
}

void adamw_step(struct adamw *opt, float *params, const float *grads, float lr)
{
	// as torch.optim.AdamW (amsgrad off):
	//   p ← p (1 − lr wd);  m ← β1 m + (1 − β1) g;  v ← β2 v + (1 − β2) g²
	//   p ← p − (lr / (1 − β1^t)) · m / (sqrt(v) / sqrt(1 − β2^t) + ε)
	opt->t++;
	float b1 = opt->beta1, b2 = opt->beta2;
	float step_size = (float)(lr / (1 - pow(b1, (double)opt->t)));
	float bc2_sqrt = (float)sqrt(1 - pow(b2, (double)opt->t));
	float decay = 1 - lr * opt->weight_decay;
	float *m = opt->m, *v = opt->v;
	#pragma omp parallel for
	for (size_t i = 0; i < opt->n; i++) {
		float g = grads[i];
		m[i] = b1 * m[i] + (1 - b1) * g;
		v[i] = b2 * v[i] + (1 - b2) * g * g;
		params[i] = params[i] * decay - step_size * m[i] / (sqrtf(v[i]) / bc2_sqrt + opt->eps);
	}
}

double grad_clip_norm(float *grads, size_t n, float max_norm)
{
	double ss = 0;
	for (size_t i = 0; i < n; i++)
		ss += (double)grads[i] * grads[i];
	double norm = sqrt(ss);
	if (max_norm > 0 && isfinite(norm) && norm > max_norm) {
		float coef = (float)(max_norm / (norm + 1e-6));
		#pragma omp parallel for
		for (size_t i = 0; i < n; i++)
			grads[i] *= coef;
	}
	return norm;
}
