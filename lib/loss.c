/* loss.c: SI-SDR, L1 and spectral L1 losses (docs/DESIGN.md, "Loss") and
 * their gradient with respect to the masked spectrograms, through the iSTFT:
 * the terms on the CPU (the cpu backend's loss ops), and their assembly over
 * any backend's ops, used by training and validation alike.
 *
 * Partial sums are made per (example, source) or per (example, source,
 * channel) in double and added in a fixed order, so the loss does not depend
 * on the thread count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <tgmath.h>

#include "loss.h"
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

/* ---- the assembly, over a backend's ops ---- */

struct loss_work {
	const struct backend *be;
	double w_sisdr, w_l1, w_spec;
	struct backend_stft *stft;
	int hop;
	const real *stems;	/* (B, S, C, n), the caller's, from loss_targets */
	int B, S, C, F;
	int64_t n, T;
	struct backend_buffer target_spec, ywave, dywave;
	double *sisdr, *l1, *spec_l1;	/* host: (B·S), (B·S), (B·S·C) */
	size_t cap;		/* entries of spec_l1 */
};

struct loss_work *loss_work_create(const struct backend *be, const struct config *cfg)
{
	struct loss_work *lw = xcalloc(1, sizeof *lw);
	lw->be = be;
	loss_weights(cfg, &lw->w_sisdr, &lw->w_l1, &lw->w_spec);
	lw->hop = cfg->hop_length;
	lw->stft = be->stft_create(cfg->n_fft, cfg->hop_length);
	return lw;
}

void loss_work_free(struct loss_work *lw)
{
	if (!lw)
		return;
	const struct backend *be = lw->be;
	be->stft_free(lw->stft);
	backend_buffer_free(be, &lw->target_spec);
	backend_buffer_free(be, &lw->ywave);
	backend_buffer_free(be, &lw->dywave);
	free(lw->sisdr);
	free(lw->l1);
	free(lw->spec_l1);
	free(lw);
}

int loss_targets(struct loss_work *lw, real *x, const real *stems, int B, int S, int C, int F,
		 int64_t n)
{
	// the stems' spectrograms are the spectral term's targets, and x =
	// STFT(Σ_s stems) is their sum: the STFT is linear, and one batch of
	// transforms serves both
	const struct backend *be = lw->be;
	int64_t rows = (int64_t)B * S * C, T = 1 + n / lw->hop;
	lw->stems = stems;
	lw->B = B, lw->S = S, lw->C = C, lw->F = F;
	lw->n = n;
	lw->T = T;
	real *spec = backend_buffer_want(be, &lw->target_spec, (size_t)rows * F * T * 2);
	if (be->stft_forward(lw->stft, spec, stems, rows, n))
		return -1;
	be->stem_mix(x, spec, B, S, C, (int64_t)F * T * 2);
	return 0;
}

double loss_compute(struct loss_work *lw, real *dyspec, const real *yspec,
		    struct loss_stats *stats)
{
	const struct backend *be = lw->be;
	int B = lw->B, S = lw->S, C = lw->C, F = lw->F, BS = B * S, BSC = BS * C;
	int64_t n = lw->n, T = lw->T;
	double n_time = (double)BSC * n, n_bins = (double)BSC * F * T;
	if ((size_t)BSC > lw->cap) {
		lw->cap = BSC;
		lw->sisdr = xrealloc(lw->sisdr, BSC * sizeof(double));
		lw->l1 = xrealloc(lw->l1, BSC * sizeof(double));
		lw->spec_l1 = xrealloc(lw->spec_l1, BSC * sizeof(double));
	}
	size_t wave = (size_t)BSC * n;
	real *ywave = backend_buffer_want(be, &lw->ywave, wave);
	real *dywave = dyspec ? backend_buffer_want(be, &lw->dywave, wave) : NULL;
	if (be->stft_inverse(lw->stft, ywave, yspec, BSC, T, n))
		die("loss_compute: inverse STFT of %lld samples failed", (long long)n);
	// one (example, source) has both channels flattened: len C·n
	be->loss_time(lw->sisdr, lw->l1, dywave, ywave, lw->stems, BS, (int64_t)C * n,
		      -lw->w_sisdr / BS, lw->w_l1 / n_time);
	if (dyspec) {
		be->zero(dyspec, (size_t)BSC * F * T * 2 * sizeof(real));
		if (be->stft_inverse_backward(lw->stft, dyspec, dywave, BSC, T, n))
			die("loss_compute: adjoint of the inverse STFT of %lld samples failed",
			    (long long)n);
	}
	// the spectral term always: its statistic is logged
	be->loss_spectral(lw->spec_l1, dyspec, yspec, lw->target_spec.p, BSC, (int64_t)F * T,
			  lw->w_spec / n_bins);
	struct loss_stats st;
	loss_stats_make(&st, lw->sisdr, lw->l1, lw->spec_l1, B, S, C, n_time, n_bins, lw->w_sisdr,
			lw->w_l1, lw->w_spec);
	if (stats)
		*stats = st;
	return st.loss;
}

const real *loss_work_ywave(const struct loss_work *lw)
{
	return lw->ywave.p;
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
