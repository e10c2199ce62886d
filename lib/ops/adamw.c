/* optim.c: AdamW and gradient clipping over flat buffers (see optim.h). */
#include <math.h>
#include <stdlib.h>

#include "ops.h"
#include "util.h"

void adamw_init(struct adamw *opt, size_t n, float weight_decay)
{
	opt->n = n;
	opt->m = xcalloc(n, sizeof(real));
	opt->v = xcalloc(n, sizeof(real));
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

void adamw_update(real *params, const real *grads, real *m, real *v, size_t n, float lr,
		  float beta1, float beta2, float eps, float weight_decay, int64_t t)
{
	// as torch.optim.AdamW (amsgrad off):
	//   p ← p (1 − lr wd);  m ← β1 m + (1 − β1) g;  v ← β2 v + (1 − β2) g²
	//   p ← p − (lr / (1 − β1^t)) · m / (sqrt(v) / sqrt(1 − β2^t) + ε)
	real b1 = beta1, b2 = beta2;
	real step_size = (real)(lr / (1 - pow(b1, (double)t)));
	real bc2_sqrt = (real)sqrt(1 - pow(b2, (double)t));
	real decay = 1 - lr * weight_decay;
	#pragma omp parallel for
	for (size_t i = 0; i < n; i++) {
		real g = grads[i];
		m[i] = b1 * m[i] + (1 - b1) * g;
		v[i] = b2 * v[i] + (1 - b2) * g * g;
		params[i] = params[i] * decay - step_size * m[i] / (sqrtf(v[i]) / bc2_sqrt + eps);
	}
}

void adamw_step(struct adamw *opt, real *params, const real *grads, float lr)
{
	opt->t++;
	adamw_update(params, grads, opt->m, opt->v, opt->n, lr, opt->beta1, opt->beta2, opt->eps,
		     opt->weight_decay, opt->t);
}

double sumsq(const real *x, size_t n)
{
	double ss = 0;
	for (size_t i = 0; i < n; i++)
		ss += (double)x[i] * x[i];
	return ss;
}

double grad_clip_norm(real *grads, size_t n, float max_norm)
{
	double norm = sqrt(sumsq(grads, n));
	if (max_norm > 0 && isfinite(norm) && norm > max_norm) {
		real coef = (real)(max_norm / (norm + 1e-6));
		#pragma omp parallel for
		for (size_t i = 0; i < n; i++)
			grads[i] *= coef;
	}
	return norm;
}
