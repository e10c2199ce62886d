/* validate.c: whole-track validation with chunked inference (see validate.h). */
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "loss.h"
#include "separate.h"
#include "snt.h"
#include "train.h"
#include "util.h"
#include "validate.h"

/* Score one track: ref (S, C, n) stems, host memory. */
static void validate_track(struct model *m, struct separator *sp, struct loss_work *lw,
			   const float *ref, int64_t n, struct loss_stats *st)
{
	const struct backend *be = m->be;
	int S = m->S, C = m->C, F = m->F;
	int64_t T = 1 + n / m->cfg.hop_length;
	size_t wave = (size_t)S * C * n, spec = (size_t)C * F * T * 2;
	real *stems = be->alloc(wave * sizeof(real));
	real *x = be->alloc(spec * sizeof(real));	// (C, F, T) the mixture
	real *yspec = be->alloc(S * spec * sizeof(real));	// (S, C, F, T) the estimates
	be->upload(stems, ref, wave * sizeof(real));
	if (loss_targets(lw, x, stems, 1, S, C, F, n))
		die("validation: %lld samples are too few for n_fft %d", (long long)n, m->cfg.n_fft);
	separator_run(sp, yspec, x, T, VALIDATE_OVERLAP);
	loss_compute(lw, NULL, yspec, st);
	be->free(stems);
	be->free(x);
	be->free(yspec);
}

void validate_file(struct model *m, const char *path, struct valid_result *res)
{
	struct separator *sp = separator_create(m);
	struct loss_work *lw = loss_work_create(m->be, &m->cfg);
	struct snt_reader *r = snt_reader_open(path);
	if (!r)
		die("%s:", path);
	struct snt_header h;
	snt_header_init(&h);
	*res = (struct valid_result){ 0 };
	struct loss_stats sum = { 0 };
	int rank = dist_rank(), ranks = dist_size(), S = m->S;
	for (int64_t k = 0; snt_read_header_or_die(r, &h); k++) {
		char err[512];
		if (train_check_record(&h, &m->cfg, 0, err, sizeof err))
			die("%s: record %lld: %s", r->name, (long long)r->record, err);
		int64_t n = h.shape[2];
		if (n <= m->cfg.n_fft / 2)
			die("%s: record %lld: %lld samples, too short for n_fft %d", r->name,
			    (long long)r->record, (long long)n, m->cfg.n_fft);
		if (k % ranks != rank)	// a data-parallel run: another rank's track
			continue;
		float *ref = snt_read_payload_alloc_or_die(r, &h);
		int64_t bad = find_nonfinite(ref, (size_t)snt_numel(&h));
		if (bad >= 0)
			die("%s: record %lld: NaN or infinity at value %lld (validation records must be "
			    "finite)", r->name, (long long)r->record, (long long)bad);
		struct loss_stats st;
		validate_track(m, sp, lw, ref, n, &st);
		free(ref);
		sum.loss += st.loss;
		sum.sisdr += st.sisdr;
		sum.l1 += st.l1;
		sum.spectral += st.spectral;
		for (int s = 0; s < S; s++)
			sum.sisdr_source[s] += st.sisdr_source[s];
		res->n_tracks++;
	}
	if (ranks > 1) {	// the ranks' sums
		double v[5 + CONFIG_MAX_SOURCES] = { sum.loss, sum.sisdr, sum.l1, sum.spectral,
						     res->n_tracks };
		for (int s = 0; s < S; s++)
			v[5 + s] = sum.sisdr_source[s];
		dist_sum(v, 5 + S);
		sum = (struct loss_stats){ .loss = v[0], .sisdr = v[1], .l1 = v[2], .spectral = v[3] };
		res->n_tracks = (int)v[4];
		for (int s = 0; s < S; s++)
			sum.sisdr_source[s] = v[5 + s];
	}
	if (res->n_tracks == 0)
		die("%s: no validation record", r->name);
	int k = res->n_tracks;
	res->stats = (struct loss_stats){ .loss = sum.loss / k, .sisdr = sum.sisdr / k,
					  .l1 = sum.l1 / k, .spectral = sum.spectral / k };
	for (int s = 0; s < S; s++)
		res->stats.sisdr_source[s] = sum.sisdr_source[s] / k;
	snt_header_free(&h);
	snt_reader_close(r);
	loss_work_free(lw);
	separator_free(sp);
}
