/* loss.c: SI-SDR, L1 and spectral L1 losses (DESIGN §4) and their gradient
 * with respect to the masked spectrograms, through the iSTFT.
 *
 * Partial sums are made per (example, source) or per (example, source,
 * channel) in double and added in a fixed order, so the loss does not depend
 * on the thread count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <tgmath.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "loss.h"
#include "util.h"

#define SISDR_EPS 1e-8
#define MAG_EPS 1e-12
#define DB (10 / M_LN10)	/* 10 log10 x = DB · ln x */

static int loss_thread_num(void)
{
#ifdef _OPENMP
	return omp_get_thread_num();
#else
	return 0;
#endif
}

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

double loss_sisdr(const real *estimate, const real *reference, int64_t n)
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

double loss_compute(struct model *m, const real *targets, int64_t n, bool backward,
		    struct loss_stats *stats)
{
	const struct config *c = &m->cfg;
	struct model_acts *a = &m->acts;
	int B = m->B, S = m->S, C = m->C, F = m->F, T = m->T;
	if (m->N != n)
		die("loss_compute: model_waveforms was not run for %lld samples", (long long)n);
	double w_sisdr, w_l1, w_spec;
	loss_weights(c, &w_sisdr, &w_l1, &w_spec);

	int BS = B * S, BSC = B * S * C;
	int64_t len = (int64_t)C * n;		// one (example, source), channels flattened
	size_t spec = (size_t)F * T * 2;
	double n_time = (double)BSC * n, n_bins = (double)BSC * F * T;
	double *sisdr = xcalloc(BS, sizeof *sisdr), *l1 = xcalloc(BS, sizeof *l1);
	double *spec_l1 = xcalloc(BSC, sizeof *spec_l1);

	loss_time_terms(sisdr, l1, backward ? a->dywave : NULL, a->ywave, targets, BS, len,
			-w_sisdr / BS, w_l1 / n_time);
	if (backward)
		memset(a->dyspec, 0, BSC * spec * sizeof(real));
	#pragma omp parallel
	{
		real *target_spec = xmalloc(spec * sizeof(real));
		#pragma omp for schedule(dynamic)
		for (int r = 0; r < BSC; r++) {
			int th = loss_thread_num();
			const real *yhat = a->yspec + r * spec;
			real *dyhat = backward ? a->dyspec + r * spec : NULL;
			if (backward)	// time-domain terms, through the iSTFT
				spectral_istft_backward(m->spectral, th, dyhat, a->dywave + (size_t)r * n, T, n);
			if (w_spec == 0 && !stats)
				continue;
			spectral_stft(m->spectral, th, target_spec, targets + (size_t)r * n, n);
			spec_l1[r] = spectral_row(dyhat, yhat, target_spec, (int64_t)spec / 2,
						  w_spec / n_bins);
		}
		free(target_spec);
	}

	struct loss_stats st;
	loss_stats_make(&st, sisdr, l1, spec_l1, B, S, C, n_time, n_bins, w_sisdr, w_l1, w_spec);
	if (stats)
		*stats = st;
	free(sisdr);
	free(l1);
	free(spec_l1);
	return st.loss;
}

void loss_weights(const struct config *c, double *w_sisdr, double *w_l1, double *w_spec)
{
	*w_sisdr = c->si_sdr_weight, *w_l1 = c->l1_weight, *w_spec = c->spectral_weight;
	if (c->loss_type == LOSS_L1)
		*w_sisdr = 0, *w_l1 = 1, *w_spec = 0;
	else if (c->loss_type == LOSS_SISDR)
		*w_sisdr = 1, *w_l1 = 0, *w_spec = 0;
}

void loss_stats_make(struct loss_stats *st, const double *sisdr, const double *l1,
		     const double *spec_l1, int B, int S, int C, double n_time, double n_bins,
		     double w_sisdr, double w_l1, double w_spec)
{
	int BS = B * S;
	memset(st, 0, sizeof *st);
	for (int bs = 0; bs < BS; bs++) {
		st->sisdr += sisdr[bs] / BS;
		st->sisdr_source[bs % S] += sisdr[bs] / B;
		st->l1 += l1[bs] / n_time;
	}
	for (int r = 0; r < BS * C; r++)
		st->spectral += spec_l1[r] / n_bins;
	st->loss = -w_sisdr * st->sisdr + w_l1 * st->l1 + w_spec * st->spectral;
}
