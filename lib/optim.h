/* optim.h: AdamW and global gradient-norm clipping (DESIGN §5), each one loop
 * over the flat parameter, gradient and moment buffers (lib/model.h), with
 * torch.optim.AdamW and torch.nn.utils.clip_grad_norm_ semantics. */
#ifndef SEPNET_OPTIM_H
#define SEPNET_OPTIM_H

#include <stddef.h>
#include "real.h"
#include <stdint.h>

struct adamw {
	size_t n;
	real *m, *v;		/* (n) first and second moments, the parameters' layout */
	int64_t t;		/* steps taken */
	float beta1, beta2, eps, weight_decay;
};

/* Zero moments for n parameters; β 0.9 / 0.999, ε 1e-8. */
void adamw_init(struct adamw *opt, size_t n, float weight_decay);
void adamw_free(struct adamw *opt);

/* One step: p ← p − lr·wd·p, then the Adam update with bias correction. */
void adamw_step(struct adamw *opt, real *params, const real *grads, float lr);

/* The update of adamw_step for step t (>= 1) over n, with explicit state:
 * the CPU twin of the backend's adamw op. */
void adamw_update(real *params, const real *grads, real *m, real *v, size_t n, float lr,
		  float beta1, float beta2, float eps, float weight_decay, int64_t t);
/* Σ x² (n) in double, in index order. */
double sumsq(const real *x, size_t n);

/* The global L2 norm of grads (n), in double, in a fixed order.  When
 * max_norm > 0 and the norm exceeds it, grads are scaled by
 * max_norm / (norm + 1e-6) as clip_grad_norm_ does.  Returns the norm
 * before clipping (NaN or Inf when a gradient is: the caller skips the
 * step). */
double grad_clip_norm(real *grads, size_t n, float max_norm);

#endif
