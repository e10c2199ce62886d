/* test_metrics.c: SI-SDR and uSDR on hand-computable cases, the finite
 * median, museval's window count, BSSEval v4 on cases with known answers,
 * and BSSEval v4 against museval (and mir_eval) golden values.
 *
 * The golden cases' signals are made here, by bss_case_make(); run as
 *   test_metrics --dump-bss-cases DIR      raw f32 inputs for golden-bss.py
 *   test_metrics --dump-bss-wav DIR CASE   DIR/{ref,est}/CASE/sN.wav (f32 WAV)
 * so tests/reference/golden-bss.py feeds museval the very same samples and
 * the bats suite can run sisdr on them; the golden files hold only the
 * expected numbers (tests/golden/bss-CASE.txt). */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "audio.h"
#include "metrics.h"
#include "ops.h"
#include "test.h"
#include "util.h"

static uint64_t rng_state;

/* uniform in [-1, 1) (xorshift64*) */
static double uniform(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (double)(rng_state * 0x2545f4914f6cdd1dull >> 11) * 0x1p-52 - 1.0;
}

static void fill_noise(float *x, int64_t n, double gain)
{
	for (int64_t i = 0; i < n; i++)
		x[i] = (float)(gain * uniform());
}

static double energy(const float *x, int64_t n)
{
	double e = 0;
	for (int64_t i = 0; i < n; i++)
		e += (double)x[i] * x[i];
	return e;
}

/* ---- SI-SDR, uSDR ---- */

static void test_identical(void)
{
	int64_t n = 20000;
	float *s = xmalloc(n * sizeof *s);
	rng_state = 1;
	fill_noise(s, n, 0.5);
	double v = sisdr_db(s, s, n), u = metrics_usdr(s, s, n);
	CHECK(isfinite(v) && v > 100, "SI-SDR of identical signals %g", v);
	CHECK(isfinite(u) && u > 100, "uSDR of identical signals %g", u);
	free(s);
}

static void test_scaled(void)
{
	int64_t n = 20000;
	float *s = xmalloc(n * sizeof *s), *e = xmalloc(n * sizeof *e), *e2 = xmalloc(n * sizeof *e2);
	rng_state = 2;
	fill_noise(s, n, 0.5);
	for (int64_t i = 0; i < n; i++) {
		e[i] = s[i] + (float)(0.1 * uniform());
		e2[i] = 0.25f * e[i];	/* a power of two: exact */
	}
	/* unchanged but for eps = 1e-8 against energies ~1e3: ~1e-10 dB */
	CHECK_NEAR(sisdr_db(e2, s, n), sisdr_db(e, s, n), 1e-8);
	CHECK(fabs(metrics_usdr(s, e2, n) - metrics_usdr(s, e, n)) > 1,
	      "uSDR %g should change with the scale (%g)", metrics_usdr(s, e2, n), metrics_usdr(s, e, n));
	free(s);
	free(e);
	free(e2);
}

/* est = ref + white noise scaled to exactly SNR dB below the reference */
static void test_known_snr(void)
{
	int64_t n = 88200;
	float *s = xmalloc(n * sizeof *s), *w = xmalloc(n * sizeof *w), *e = xmalloc(n * sizeof *e);
	rng_state = 3;
	fill_noise(s, n, 0.5);
	fill_noise(w, n, 1);
	for (double snr = -5; snr <= 25; snr += 10) {
		double g = sqrt(energy(s, n) / energy(w, n) * pow(10, -snr / 10));
		for (int64_t i = 0; i < n; i++)
			e[i] = s[i] + (float)(g * w[i]);
		/* independent noise: a = 1 + O(1/sqrt(n)), SI-SDR within 0.1 dB */
		CHECK_NEAR(sisdr_db(e, s, n), snr, 0.1);
		/* uSDR is the plain SNR; f32 rounding of e moves it by ~1e-6 dB */
		CHECK_NEAR(metrics_usdr(s, e, n), snr, 1e-4);
	}
	free(s);
	free(w);
	free(e);
}

static void test_silent_reference(void)
{
	int64_t n = 1000;
	float *z = xcalloc(n, sizeof *z), *e = xmalloc(n * sizeof *e);
	rng_state = 4;
	fill_noise(e, n, 0.5);
	double v = sisdr_db(e, z, n), u = metrics_usdr(z, e, n);
	CHECK(isfinite(v) && v < -50, "SI-SDR of a silent reference %g", v);
	CHECK(isfinite(u) && u < -50, "uSDR of a silent reference %g", u);
	CHECK_NEAR(sisdr_db(z, z, n), 0, 1e-12);	/* both silent: eps / eps */
	CHECK_NEAR(metrics_usdr(z, z, n), 0, 1e-12);
	free(z);
	free(e);
}

static void test_median(void)
{
	double a[] = { 3, NAN, 1, INFINITY, 2, -INFINITY };
	double b[] = { 4, 1, 3, 2 };
	double c[] = { NAN, INFINITY };
	CHECK_NEAR(metrics_median_finite(a, 6), 2, 0);
	CHECK_NEAR(metrics_median_finite(b, 4), 2.5, 0);
	CHECK(isnan(metrics_median_finite(c, 2)), "median of no finite value is NaN");
	CHECK(isnan(metrics_median_finite(c, 0)), "median of nothing is NaN");
	CHECK_NEAR(metrics_mean_finite(a, 6), 2, 1e-15);
}

static void test_nframes(void)
{
	CHECK(bsseval_nframes(100, 30, 30) == 3, "100/30: %lld", (long long)bsseval_nframes(100, 30, 30));
	CHECK(bsseval_nframes(90, 30, 30) == 3, "90/30");
	CHECK(bsseval_nframes(100, 30, 20) == 4, "100/30/20");
	CHECK(bsseval_nframes(100, 100, 100) == 1, "window = length");
	CHECK(bsseval_nframes(100, 1000, 1000) == 1, "window > length");
}

/* ---- BSSEval v4: answers known by construction ---- */

static double *bss_run(const float *ref, const float *est, int nsrc, int nchan, int64_t n,
		       int64_t win, int64_t hop, int64_t *nframes)
{
	*nframes = bsseval_nframes(n, win, hop);
	double *out = xmalloc(BSS_NMETRICS * nsrc * *nframes * sizeof *out);
	bsseval_v4(out, ref, est, nsrc, nchan, n, win, hop, BSSEVAL_FILTER_LEN);
	return out;
}

#define BSS(out, m, j, t) (out)[((m) * nsrc + (j)) * nf + (t)]

/* est = 2 ref: the filters recover the gain exactly, so the whole error is
 * spatial distortion: SDR = ISR = 0 dB, SIR and SAR huge */
static void test_bss_gain(void)
{
	int nsrc = 2, nchan = 2;
	int64_t n = 12000, nf;
	float *ref = xmalloc(nsrc * nchan * n * sizeof *ref), *est = xmalloc(nsrc * nchan * n * sizeof *est);
	rng_state = 5;
	fill_noise(ref, nsrc * nchan * n, 0.5);
	for (int64_t i = 0; i < nsrc * nchan * n; i++)
		est[i] = 2 * ref[i];
	double *out = bss_run(ref, est, nsrc, nchan, n, 4000, 4000, &nf);
	CHECK(nf == 3, "nframes %lld", (long long)nf);
	for (int j = 0; j < nsrc; j++)
		for (int t = 0; t < nf; t++) {
			CHECK_NEAR(BSS(out, BSS_SDR, j, t), 0, 1e-9);
			CHECK_NEAR(BSS(out, BSS_ISR, j, t), 0, 1e-6);
			CHECK(BSS(out, BSS_SIR, j, t) > 100, "SIR %g", BSS(out, BSS_SIR, j, t));
			CHECK(BSS(out, BSS_SAR, j, t) > 100, "SAR %g", BSS(out, BSS_SAR, j, t));
		}
	free(out);
	free(ref);
	free(est);
}

/* A silent stretch in one reference makes the windows inside it NaN for
 * every source; an estimate equal to its reference has SDR = +inf. */
static void test_bss_silent(void)
{
	int nsrc = 2, nchan = 1;
	int64_t n = 9000, nf;
	float *ref = xmalloc(nsrc * n * sizeof *ref), *est = xmalloc(nsrc * n * sizeof *est);
	rng_state = 6;
	fill_noise(ref, nsrc * n, 0.5);
	memset(ref + n + 3000, 0, 3000 * sizeof *ref);	/* source 1, window 1 */
	memcpy(est, ref, nsrc * n * sizeof *ref);
	double *out = bss_run(ref, est, nsrc, nchan, n, 3000, 3000, &nf);
	for (int m = 0; m < BSS_NMETRICS; m++)
		for (int j = 0; j < nsrc; j++)
			CHECK(isnan(BSS(out, m, j, 1)), "metric %d source %d window 1 is %g", m, j, BSS(out, m, j, 1));
	CHECK(isinf(BSS(out, BSS_SDR, 0, 0)) && BSS(out, BSS_SDR, 0, 0) > 0, "SDR %g", BSS(out, BSS_SDR, 0, 0));
	CHECK(!isnan(BSS(out, BSS_SIR, 1, 2)), "window 2 is measured");
	free(out);

	/* a source silent over the whole track: every window NaN, no crash */
	memset(ref + n, 0, n * sizeof *ref);
	out = bss_run(ref, est, nsrc, nchan, n, 3000, 3000, &nf);
	for (int64_t i = 0; i < BSS_NMETRICS * nsrc * nf; i++)
		CHECK(isnan(out[i]), "value %lld is %g", (long long)i, out[i]);
	free(out);
	free(ref);
	free(est);
}

/* Two identical references make the Gram exactly singular: whichever
 * solver copes, the projections are the same as with the source alone, so
 * SDR, ISR and SAR equal the one-source evaluation's (SIR, interference
 * between identical copies, is not defined). */
static void test_bss_singular(void)
{
	int nsrc = 2, nchan = 2;
	int64_t n = 8000, nf, len = nchan * n;
	float *ref = xmalloc(nsrc * len * sizeof *ref), *est = xmalloc(nsrc * len * sizeof *est);
	rng_state = 7;
	fill_noise(ref, len, 0.5);
	memcpy(ref + len, ref, len * sizeof *ref);
	for (int64_t i = 0; i < nsrc * len; i++)
		est[i] = 0.8f * ref[i] + (float)(0.05 * uniform());
	double *two = bss_run(ref, est, nsrc, nchan, n, 4000, 4000, &nf);
	double *one = bss_run(ref, est, 1, nchan, n, 4000, 4000, &nf);
	for (int t = 0; t < nf; t++)
		for (int m = 0; m < BSS_NMETRICS; m++)
			if (m != BSS_SIR)
				CHECK(fabs(two[(m * nsrc) * nf + t] - one[m * nf + t]) < 0.01,
				      "%s window %d: %g with a duplicate, %g alone", bss_metric_names[m], t,
				      two[(m * nsrc) * nf + t], one[m * nf + t]);
	free(one);
	free(two);
	free(ref);
	free(est);
}

/* ---- golden cases (museval) ---- */

struct bss_case {
	const char *name;
	int nsrc, nchan;
	int64_t n, win, hop;
	const char *about;
};

static const struct bss_case bss_cases[] = {
	{ "mix4", 4, 2, 24000, 6000, 6000, "4 sources of different spectra, leakage, filtering, noise" },
	{ "silent", 3, 2, 23456, 5000, 3500, "silent and antiphase stretches, overlapping windows, dropped tail" },
	{ "leak", 2, 2, 16000, 4000, 4000, "delayed leakage of the other source, a filtered estimate" },
	{ "noise", 2, 1, 10000, 2500, 2500, "mono, white noise at 10 and 0 dB SNR" },
	{ "whole", 3, 2, 8000, 44100, 44100, "one window over the track (= mir_eval bss_eval_images)" },
	{ "monostereo", 2, 2, 12000, 4000, 4000, "a source with identical channels (singular Gram)" },
	{ "short", 2, 2, 2000, 44100, 44100, "shorter than four filter lengths" },
};
#define NCASES (int)(sizeof bss_cases / sizeof bss_cases[0])

/* y = x filtered by taps h (causal FIR), n samples */
static void fir(float *y, const float *x, int64_t n, const double *h, int nh)
{
	for (int64_t i = 0; i < n; i++) {
		double v = 0;
		for (int k = 0; k < nh && k <= i; k++)
			v += h[k] * x[i - k];
		y[i] = (float)v;
	}
}

/* source kinds: 0 white, 1 low-passed, 2 harmonic with a noise floor, 3 high-passed */
static void make_source(float *x, int64_t n, int kind, double gain)
{
	float *w = xmalloc(n * sizeof *w);
	fill_noise(w, n, 1);
	double f0 = 0.01 + 0.02 * uniform() * uniform();
	for (int64_t i = 0; i < n; i++) {
		double v = w[i];
		if (kind == 1)
			v = i ? 0.95 * x[i - 1] + 0.05 * w[i] * 4 : w[i];
		else if (kind == 2)
			v = sin(2 * M_PI * f0 * i) + 0.5 * sin(2 * M_PI * 2.01 * f0 * i + 1) +
			    0.3 * sin(2 * M_PI * 3.02 * f0 * i + 2) + 0.01 * w[i];
		else if (kind == 3)
			v = i ? w[i] - w[i - 1] : w[i];
		x[i] = (float)v;
	}
	for (int64_t i = 0; i < n; i++)
		x[i] = (float)(gain * x[i]);
	free(w);
}

/* stereo image: ch1 = 0.7 ch0 delayed by 2 samples + 0.3 independent noise */
static void make_image(float *src, int nchan, int64_t n, int kind, double gain)
{
	make_source(src, n, kind, gain);
	for (int c = 1; c < nchan; c++) {
		float *y = src + c * n;
		make_source(y, n, kind, 0.3 * gain);
		for (int64_t i = 2; i < n; i++)
			y[i] += 0.7f * src[i - 2];
	}
}

static void bss_case_make(const struct bss_case *bc, float *ref, float *est)
{
	int S = bc->nsrc, C = bc->nchan;
	int64_t n = bc->n;
	float *tmp = xmalloc(n * sizeof *tmp);
	rng_state = 0x5eed0000u + (uint64_t)(bc - bss_cases);
	for (int j = 0; j < S; j++)
		make_image(ref + (int64_t)j * C * n, C, n, j % 4, 0.3 + 0.1 * j);
#define R(j, c) (ref + ((int64_t)(j) * C + (c)) * n)
#define E(j, c) (est + ((int64_t)(j) * C + (c)) * n)
	const double smear[] = { 0.8, 0.15, 0.05 }, lowpass[] = { 0.6, 0.3, 0.1 };
	for (int j = 0; j < S; j++)
		for (int c = 0; c < C; c++) {
			int k = (j + 1) % S;
			fir(E(j, c), R(j, c), n, smear, 3);
			for (int64_t i = 0; i < n; i++)
				E(j, c)[i] += 0.1f * R(k, c)[i] + (float)(0.02 * uniform());
		}
	if (!strcmp(bc->name, "silent")) {
		for (int c = 0; c < C; c++) {
			memset(R(1, c) + 5000, 0, 7000 * sizeof(float));	/* window 2 silent, 1 and 3 partly */
			memset(E(2, c) + 15000, 0, 6000 * sizeof(float));	/* estimate silent in window 5 */
		}
		for (int64_t i = 3300; i < 8700; i++)	/* antiphase: window 1 counts as silent */
			R(2, 1)[i] = -R(2, 0)[i];
		memset(R(0, 1), 0, n * sizeof(float));	/* a one-sided source */
	} else if (!strcmp(bc->name, "leak")) {
		for (int c = 0; c < C; c++) {
			for (int64_t i = 0; i < n; i++)
				E(0, c)[i] = R(0, c)[i] + (i >= 3 ? 0.5f * R(1, c)[i - 3] : 0);
			fir(E(1, c), R(1, c), n, lowpass, 3);
			for (int64_t i = 0; i < n; i++)
				E(1, c)[i] += 0.2f * R(0, c)[i] + (float)(0.003 * uniform());
		}
	} else if (!strcmp(bc->name, "noise")) {
		for (int j = 0; j < S; j++) {
			double snr = j ? 0 : 10;
			fill_noise(tmp, n, 1);
			double g = sqrt(energy(R(j, 0), n) / energy(tmp, n) * pow(10, -snr / 10));
			for (int64_t i = 0; i < n; i++)
				E(j, 0)[i] = R(j, 0)[i] + (float)(g * tmp[i]);
		}
	} else if (!strcmp(bc->name, "monostereo")) {
		memcpy(R(0, 1), R(0, 0), n * sizeof(float));
		for (int c = 0; c < C; c++)
			for (int64_t i = 0; i < n; i++)
				E(0, c)[i] = 0.9f * R(0, 0)[i] + 0.2f * R(1, c)[i];
	}
#undef R
#undef E
	free(tmp);
}

static const char *golden_dir(void)
{
	const char *root = getenv("SEPNET_ROOT");
	static char path[4096];
	snprintf(path, sizeof path, "%s/tests/golden", root ? root : ".");
	return path;
}

/* Compare with tests/golden/bss-NAME[SUFFIX].txt: lines "frame source SDR ISR SIR SAR".
 * museval works in f64 like us; the tolerance 0.01 dB is the issue's. */
static void check_golden(const struct bss_case *bc, const double *out, int64_t nf, const char *suffix)
{
	char path[4200], line[512];
	snprintf(path, sizeof path, "%s/bss-%s%s.txt", golden_dir(), bc->name, suffix);
	FILE *fp = fopen(path, "r");
	CHECK(fp, "%s: %s", path, strerror(errno));
	if (!fp)
		return;
	int nsrc = bc->nsrc, rows = 0;
	double worst = 0;
	while (fgets(line, sizeof line, fp)) {
		if (line[0] == '#')
			continue;
		long t, j;
		double v[4];
		if (sscanf(line, "%ld %ld %lf %lf %lf %lf", &t, &j, &v[0], &v[1], &v[2], &v[3]) != 6) {
			CHECK(0, "%s: malformed line: %s", path, line);
			break;
		}
		if (t < 0 || t >= nf || j < 0 || j >= nsrc) {
			CHECK(0, "%s: window %ld source %ld out of range (%lld windows)", path, t, j, (long long)nf);
			continue;
		}
		rows++;
		for (int m = 0; m < BSS_NMETRICS; m++) {
			double got = BSS(out, m, j, t), want = v[m];
			if (isnan(want) || isinf(want)) {
				CHECK(isnan(got) == isnan(want) && isinf(got) == isinf(want) && (got > 0) == (want > 0),
				      "%s %s window %ld source %ld: %g, museval %g", bc->name, bss_metric_names[m], t, j, got, want);
				continue;
			}
			// beyond 120 dB the denominator is float rounding of the
			// signal (1e-12 of its energy): its dB value depends on the
			// order of the sums (gcc and clang differ by 3 dB at 150 dB),
			// so there both only need to say "beyond 120 dB"
			if (want > 120 && got > 120)
				continue;
			CHECK(fabs(got - want) <= 0.01, "%s %s window %ld source %ld: %.6f, museval %.6f",
			      bc->name, bss_metric_names[m], t, j, got, want);
			if (fabs(got - want) > worst)
				worst = fabs(got - want);
		}
	}
	fclose(fp);
	CHECK(rows == nf * nsrc, "%s: %d rows, expected %lld", path, rows, (long long)(nf * nsrc));
	printf("# %s%s: %d windows x sources, largest difference %.2e dB\n", bc->name, suffix, rows, worst);
}

static void test_bss_golden(void)
{
	for (int i = 0; i < NCASES; i++) {
		const struct bss_case *bc = &bss_cases[i];
		int64_t len = (int64_t)bc->nsrc * bc->nchan * bc->n, nf;
		float *ref = xmalloc(len * sizeof *ref), *est = xmalloc(len * sizeof *est);
		bss_case_make(bc, ref, est);
		double *out = bss_run(ref, est, bc->nsrc, bc->nchan, bc->n, bc->win, bc->hop, &nf);
		check_golden(bc, out, nf, "");
		if (!strcmp(bc->name, "whole"))
			check_golden(bc, out, nf, "-mir_eval");
		free(out);
		free(ref);
		free(est);
	}
}

/* the same numbers whatever the thread count */
static void test_bss_threads(void)
{
#ifdef _OPENMP
	const struct bss_case *bc = &bss_cases[0];
	int64_t len = (int64_t)bc->nsrc * bc->nchan * bc->n, nf;
	float *ref = xmalloc(len * sizeof *ref), *est = xmalloc(len * sizeof *est);
	bss_case_make(bc, ref, est);
	int saved = omp_get_max_threads();
	omp_set_num_threads(1);
	double *one = bss_run(ref, est, bc->nsrc, bc->nchan, bc->n, bc->win, bc->hop, &nf);
	omp_set_num_threads(3);
	double *three = bss_run(ref, est, bc->nsrc, bc->nchan, bc->n, bc->win, bc->hop, &nf);
	omp_set_num_threads(saved);
	CHECK(!memcmp(one, three, BSS_NMETRICS * bc->nsrc * nf * sizeof *one), "1 and 3 threads differ");
	free(one);
	free(three);
	free(ref);
	free(est);
#endif
}

/* ---- case dumps ---- */

static void dump_cases(const char *dir)
{
	for (int i = 0; i < NCASES; i++) {
		const struct bss_case *bc = &bss_cases[i];
		int64_t len = (int64_t)bc->nsrc * bc->nchan * bc->n;
		float *ref = xmalloc(len * sizeof *ref), *est = xmalloc(len * sizeof *est);
		char path[4200];
		bss_case_make(bc, ref, est);
		snprintf(path, sizeof path, "%s/%s.f32", dir, bc->name);
		FILE *fp = fopen(path, "wb");
		if (!fp)
			die("%s:", path);
		if (fwrite(ref, sizeof *ref, len, fp) != (size_t)len || fwrite(est, sizeof *est, len, fp) != (size_t)len ||
		    fclose(fp))
			die("%s:", path);
		/* one line per case: name nsrc nchan n win hop about */
		printf("%s %d %d %lld %lld %lld %s\n", bc->name, bc->nsrc, bc->nchan, (long long)bc->n,
		       (long long)bc->win, (long long)bc->hop, bc->about);
		free(ref);
		free(est);
	}
}

static void mkdir_or_die(const char *path)
{
	if (mkdir(path, 0777) && errno != EEXIST)
		die("%s:", path);
}

/* DIR/ref/CASE/sJ.wav and DIR/est/CASE/sJ.wav, f32 WAV at 8 kHz */
static void dump_wav(const char *dir, const char *name)
{
	const struct bss_case *bc = NULL;
	for (int i = 0; i < NCASES; i++)
		if (!strcmp(bss_cases[i].name, name))
			bc = &bss_cases[i];
	if (!bc)
		die("%s: no such case", name);
	int64_t len = (int64_t)bc->nsrc * bc->nchan * bc->n;
	float *sig[2] = { xmalloc(len * sizeof(float)), xmalloc(len * sizeof(float)) };
	bss_case_make(bc, sig[0], sig[1]);
	const char *side[2] = { "ref", "est" };
	char path[4200];
	mkdir_or_die(dir);
	for (int k = 0; k < 2; k++) {
		snprintf(path, sizeof path, "%s/%s", dir, side[k]);
		mkdir_or_die(path);
		snprintf(path, sizeof path, "%s/%s/%s", dir, side[k], bc->name);
		mkdir_or_die(path);
		for (int j = 0; j < bc->nsrc; j++) {
			snprintf(path, sizeof path, "%s/%s/%s/s%d.wav", dir, side[k], bc->name, j);
			struct audio_writer *aw = audio_open_write(path, 8000, bc->nchan, AUDIO_FLOAT32);
			audio_write(aw, sig[k] + (int64_t)j * bc->nchan * bc->n, bc->n, bc->n);
			audio_commit(aw);
		}
	}
	free(sig[0]);
	free(sig[1]);
}

int main(int argc, char **argv)
{
	set_progname(argv[0]);
	if (argc == 3 && !strcmp(argv[1], "--dump-bss-cases")) {
		dump_cases(argv[2]);
		return 0;
	}
	if (argc == 4 && !strcmp(argv[1], "--dump-bss-wav")) {
		dump_wav(argv[2], argv[3]);
		return 0;
	}
	RUN(test_identical);
	RUN(test_scaled);
	RUN(test_known_snr);
	RUN(test_silent_reference);
	RUN(test_median);
	RUN(test_nframes);
	RUN(test_bss_gain);
	RUN(test_bss_silent);
	RUN(test_bss_singular);
	RUN(test_bss_golden);
	RUN(test_bss_threads);
	return test_summary();
}
