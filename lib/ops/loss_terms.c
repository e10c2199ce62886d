/* loss_terms.c: the terms of the training loss (docs/DESIGN.md §4) on
 * the CPU: SI-SDR and L1 of waveforms, L1 of magnitude spectrograms, and
 * their gradients (see ops.h; the assembly is lib/train/loss.c).
 *
 * Partial sums are made per (example, source) or per (example, source,
 * channel) in double and added in a fixed order, so the loss does not depend
 * on the thread count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <tgmath.h>

#include "ops.h"
#include "util.h"

#define SISDR_EPS 1e-8
#define MAG_EPS 1e-12
#define DB (10 / M_LN10)	/* 10 log10 x = DB · ln x */

static double sign_of(double x)
{
	return (x > 0) - (x < 0);
}

/* Terms of SI-SDR(x, y), x the estimate, y the reference, both (n). */
struct sisdr_terms {
	double dot, yy, alpha, num, den, ey;	/* ey = ⟨αy − x, y⟩ */
};

static struct sisdr_terms sisdr_terms(const real *x, const real *y, int64_t n)
{
	struct sisdr_terms s = { 0 };
	for (int64_t i = 0; i < n; i++) {
		s.dot += (double)x[i] * y[i];
		s.yy += (double)y[i] * y[i];
	}
	s.alpha = s.dot / (s.yy + SISDR_EPS);
	double ee = 0;
	for (int64_t i = 0; i < n; i++) {
		double e = s.alpha * y[i] - x[i];
		ee += e * e;
		s.ey += e * y[i];
	}
	s.num = s.alpha * s.alpha * s.yy + SISDR_EPS;
	s.den = ee + SISDR_EPS;
	return s;
}

double sisdr_db(const real *estimate, const real *reference, int64_t n)
{
	struct sisdr_terms s = sisdr_terms(estimate, reference, n);
	return DB * (log(s.num) - log(s.den));
}

/* dx += scale · ∂SI-SDR/∂x:  ∂num/∂x = 2α‖y‖² y / (‖y‖² + ε),
 * ∂den/∂x = 2 (⟨e, y⟩ y / (‖y‖² + ε) − e) with e = αy − x. */
static void sisdr_backward(real *dx, const real *x, const real *y, int64_t n,
			   const struct sisdr_terms *s, double scale)
{
	double Y = s->yy + SISDR_EPS;
	double cy = DB * scale * (2 * s->alpha * s->yy / (Y * s->num) - 2 * s->ey / (Y * s->den));
	double ce = DB * scale * 2 / s->den;	// coefficient of e
	for (int64_t i = 0; i < n; i++)
		dx[i] += (real)(cy * y[i] + ce * (s->alpha * y[i] - x[i]));
}

void loss_time_terms(double *sisdr, double *l1, real *dx, const real *x, const real *y, int BS,
		     int64_t len, double c_sisdr, double c_l1)
{
	#pragma omp parallel for schedule(dynamic)
	for (int bs = 0; bs < BS; bs++) {
		const real *xb = x + (size_t)bs * len, *yb = y + (size_t)bs * len;
		struct sisdr_terms st = sisdr_terms(xb, yb, len);
		sisdr[bs] = DB * (log(st.num) - log(st.den));
		double sum = 0;
		for (int64_t i = 0; i < len; i++)
			sum += fabs((double)xb[i] - yb[i]);
		l1[bs] = sum;
		if (!dx)
			continue;
		real *d = dx + (size_t)bs * len;
		memset(d, 0, len * sizeof(real));
		if (c_sisdr != 0)
			sisdr_backward(d, xb, yb, len, &st, c_sisdr);
		if (c_l1 != 0)
			for (int64_t i = 0; i < len; i++)
				d[i] += (real)(c_l1 * sign_of((double)xb[i] - yb[i]));
	}
}

/* One row of loss_spectral_terms. */
static double spectral_row(real *dyhat, const real *yhat, const real *yt, int64_t bins,
			   double c_spec)
{
	// magnitudes in f32 as the model computes them, sums in double
	double sum = 0;
	for (int64_t k = 0; k < bins; k++) {
		real re = yhat[2 * k], im = yhat[2 * k + 1];
		real tr = yt[2 * k], ti = yt[2 * k + 1];
		real mag = sqrt(re * re + im * im + (real)MAG_EPS);
		real diff = mag - sqrt(tr * tr + ti * ti + (real)MAG_EPS);
		sum += fabs(diff);
		if (dyhat && c_spec != 0) {
			real g = (real)c_spec * (real)sign_of(diff) / mag;
			dyhat[2 * k] += g * re;
			dyhat[2 * k + 1] += g * im;
		}
	}
	return sum;
}

void loss_spectral_terms(double *spec_l1, real *dyhat, const real *yhat, const real *yt,
			 int64_t rows, int64_t bins, double c_spec)
{
	#pragma omp parallel for schedule(dynamic)
	for (int64_t r = 0; r < rows; r++)
		spec_l1[r] = spectral_row(dyhat ? dyhat + r * bins * 2 : NULL, yhat + r * bins * 2,
					  yt + r * bins * 2, bins, c_spec);
}

