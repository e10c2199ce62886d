/* loss.c: the training loss assembled from its terms over a backend's ops
 * (loss.h), used by training and validation alike. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "loss.h"
#include "util.h"

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
	be->loss_time_terms(lw->sisdr, lw->l1, dywave, ywave, lw->stems, BS, (int64_t)C * n,
		      -lw->w_sisdr / BS, lw->w_l1 / n_time);
	if (dyspec) {
		be->zero(dyspec, (size_t)BSC * F * T * 2 * sizeof(real));
		if (be->stft_inverse_backward(lw->stft, dyspec, dywave, BSC, T, n))
			die("loss_compute: adjoint of the inverse STFT of %lld samples failed",
			    (long long)n);
	}
	// the spectral term always: its statistic is logged
	be->loss_spectral_terms(lw->spec_l1, dyspec, yspec, lw->target_spec.p, BSC, (int64_t)F * T,
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
