/* validate.c: whole-track validation with chunked inference (see validate.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "layers.h"
#include "separate.h"
#include "snt.h"
#include "train.h"
#include "util.h"
#include "validate.h"

#define MAG_EPS 1e-12	/* |z| = sqrt(re² + im² + 1e-12), as the training loss */

static int thread_num(void)
{
#ifdef _OPENMP
	return omp_get_thread_num();
#else
	return 0;
#endif
}

double validate_combine(const struct config *cfg, const struct loss_stats *st)
{
	double w_sisdr = cfg->si_sdr_weight, w_l1 = cfg->l1_weight, w_spec = cfg->spectral_weight;
	if (cfg->loss_type == LOSS_L1)
		w_sisdr = 0, w_l1 = 1, w_spec = 0;
	else if (cfg->loss_type == LOSS_SISDR)
		w_sisdr = 1, w_l1 = 0, w_spec = 0;
	return -w_sisdr * st->sisdr + w_l1 * st->l1 + w_spec * st->spectral;
}

/* Score one track: ref (S, C, n) stems; the separation on sp. */
static void validate_track(struct model *m, struct separator *sp, const float *ref, int64_t n,
			   struct loss_stats *st)
{
	int S = m->S, C = m->C, F = m->F;
	int64_t T = 1 + n / m->cfg.hop_length;
	size_t spec = (size_t)F * T * 2;	// floats of one [F, T] complex spectrogram
	float *x = xmalloc(C * spec * sizeof(float));	// (C, F, T) mixture
	float *yspec = xmalloc(S * C * spec * sizeof(float));	// (S, C, F, T) estimates
	float *est = xmalloc((size_t)S * C * n * sizeof(float));	// (S, C, n)
	double *l1 = xcalloc(S * C, sizeof *l1), *spec_l1 = xcalloc(S * C, sizeof *spec_l1);

	#pragma omp parallel
	{
		float *mix = xmalloc(n * sizeof(float));
		#pragma omp for
		for (int c = 0; c < C; c++) {
			memset(mix, 0, n * sizeof(float));
			for (int s = 0; s < S; s++)
				for (int64_t i = 0; i < n; i++)
					mix[i] += ref[((size_t)s * C + c) * n + i];
			spectral_stft(m->spectral, thread_num(), x + c * spec, mix, n);
		}
		free(mix);
	}
	int all[CONFIG_MAX_SOURCES];
	for (int s = 0; s < S; s++)
		all[s] = s;
	separator_spectrogram(sp, yspec, x, T, VALIDATE_OVERLAP, all, S);

	#pragma omp parallel
	{
		float *target = xmalloc(spec * sizeof(float));
		#pragma omp for schedule(dynamic)
		for (int r = 0; r < S * C; r++) {
			const float *y = ref + (size_t)r * n, *yhat = yspec + r * spec;
			float *e = est + (size_t)r * n;
			spectral_istft(m->spectral, thread_num(), e, yhat, T, n);
			double sum = 0;
			for (int64_t i = 0; i < n; i++)
				sum += fabs((double)e[i] - y[i]);
			l1[r] = sum;
			spectral_stft(m->spectral, thread_num(), target, y, n);
			sum = 0;
			for (size_t k = 0; k < spec / 2; k++) {
				double re = yhat[2 * k], im = yhat[2 * k + 1];
				double tr = target[2 * k], ti = target[2 * k + 1];
				sum += fabs(sqrt(re * re + im * im + MAG_EPS) - sqrt(tr * tr + ti * ti + MAG_EPS));
			}
			spec_l1[r] = sum;
		}
		free(target);
	}

	*st = (struct loss_stats){ 0 };
	for (int s = 0; s < S; s++) {
		int64_t len = (int64_t)C * n;	// both channels flattened
		st->sisdr_source[s] = loss_sisdr(est + (size_t)s * len, ref + (size_t)s * len, len);
		st->sisdr += st->sisdr_source[s] / S;
	}
	for (int r = 0; r < S * C; r++) {
		st->l1 += l1[r] / ((double)S * C * n);
		st->spectral += spec_l1[r] / ((double)S * C * F * T);
	}
	st->loss = validate_combine(&m->cfg, st);
	free(x);
	free(yspec);
	free(est);
	free(l1);
	free(spec_l1);
}

void validate_file(struct model *m, const char *path, struct valid_result *res)
{
	validate_file_on(m, &backend_cpu, path, res);
}

void validate_file_on(struct model *m, const struct backend *be, const char *path,
		      struct valid_result *res)
{
	struct separator *sp = separator_create(m, be, m->max_batch);
	struct snt_reader *r = snt_reader_open(path);
	if (!r)
		die("%s:", path);
	struct snt_header h;
	snt_header_init(&h);
	*res = (struct valid_result){ 0 };
	struct loss_stats sum = { 0 };
	while (snt_read_header_or_die(r, &h)) {
		char err[512];
		if (train_check_record(&h, &m->cfg, 0, err, sizeof err))
			die("%s: record %lld: %s", r->name, (long long)r->record, err);
		int64_t n = h.shape[2];
		if (n <= m->cfg.n_fft / 2)
			die("%s: record %lld: %lld samples, too short for n_fft %d", r->name,
			    (long long)r->record, (long long)n, m->cfg.n_fft);
		float *ref = snt_read_payload_alloc_or_die(r, &h);
		int64_t bad = find_nonfinite(ref, (size_t)snt_numel(&h));
		if (bad >= 0)
			die("%s: record %lld: NaN or infinity at value %lld (validation records must be "
			    "finite)", r->name, (long long)r->record, (long long)bad);
		struct loss_stats st;
		validate_track(m, sp, ref, n, &st);
		free(ref);
		sum.loss += st.loss;
		sum.sisdr += st.sisdr;
		sum.l1 += st.l1;
		sum.spectral += st.spectral;
		for (int s = 0; s < m->S; s++)
			sum.sisdr_source[s] += st.sisdr_source[s];
		res->n_tracks++;
	}
	if (res->n_tracks == 0)
		die("%s: no validation record", r->name);
	int k = res->n_tracks;
	res->stats = (struct loss_stats){ .loss = sum.loss / k, .sisdr = sum.sisdr / k,
					  .l1 = sum.l1 / k, .spectral = sum.spectral / k };
	for (int s = 0; s < m->S; s++)
		res->stats.sisdr_source[s] = sum.sisdr_source[s] / k;
	snt_header_free(&h);
	snt_reader_close(r);
	separator_free(sp);
}
