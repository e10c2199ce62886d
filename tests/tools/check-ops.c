/* check-ops: every op of the cuda backend against the cpu backend
 * (ggml's test-backend-ops): every row of the op table
 * (tests/unit/op_cases.h, which test_gradcheck also runs against finite
 * differences), the ops that return host values, the STFT plans, the
 * upload stream and a whole separation; plus the helpers tests/gpu/check.sh
 * needs on a machine without our Debian tools.
 *
 *   check-ops                          each op on fresh random inputs, GPU
 *                                      outputs poisoned with NaN first; a
 *                                      table, exit 1 if any op is off
 *   check-ops --self                   the same with the cpu backend standing
 *                                      in for the GPU: the harness itself, on
 *                                      any machine (every error 0 or tiny)
 *   check-ops --self-faulty            --self with four ops broken on purpose
 *                                      (see faulty_*): their checks must fail
 *   check-ops --random-model CONFIG OUT [SEED]
 *                                      a checkpoint whose every weight is
 *                                      random (W_out and biases too, so the
 *                                      stems depend on the whole network)
 *   check-ops --noise SECONDS SEED     an f32 [2, N] record at 44.1 kHz
 *   check-ops --compare TOL A B        relative L2 error of every record of B
 *                                      against A (f32 or c64), NaN counted;
 *                                      exit 1 above TOL
 *
 * Tolerances are relative L2 errors ‖gpu − cpu‖ / ‖cpu‖, each row's with
 * its reason in the table: f32 1e-5 (the kernels reorder sums and use
 * erff/expf/sqrtf, a few ulps), tf32 2e-3 (10-bit mantissas on K-long dot
 * products), bf16 2e-2 (8-bit mantissas); tighter where an op has no sum
 * to reorder.
 * Backward ops ADD into their gradients: both sides start those from the
 * same random values (never NaN), so an op that overwrites them fails;
 * outputs an op overwrites start as NaN on the GPU, so an element it
 * skips fails.  Ops that return host arrays (sumsq, the loss terms) have
 * those compared too, NaN-filled before the call.
 * Built with the test tools in every build; without CUDA (or a GPU) only
 * --self and the helpers work, and the op checks say why they cannot run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "checkpoint.h"
#include "chunk.h"
#include "config.h"
#include "ops.h"
#include "loss.h"
#include "model.h"
#include "rng.h"
#include "separate.h"
#include "snt.h"
#include "util.h"

#include "../unit/op_cases.h"

static const struct backend *gpu, *cpu = &backend_cpu;
static int n_failed, n_checked;
static uint64_t draw = 1;	/* a fresh RNG stream per array */

static float *host_random(size_t n, float scale)
{
	float *x = xmalloc(n * sizeof(float));
	uint64_t stream = draw++;
	for (size_t i = 0; i < n; i++)
		x[i] = scale * (2 * rng_uniform(12345, stream, i) - 1);
	return x;
}

static float *to_gpu(const float *h, size_t n)
{
	float *d = gpu->alloc(n * sizeof(float));
	gpu->upload(d, h, n * sizeof(float));
	return d;
}

/* Device memory full of NaN: an output a kernel fails to write shows. */
static float *gpu_poisoned(size_t n)
{
	float *h = xmalloc(n * sizeof(float));
	for (size_t i = 0; i < n; i++)
		h[i] = NAN;
	float *d = to_gpu(h, n);
	free(h);
	return d;
}

/* A gradient an op adds into, the same random values on both sides:
 * *host for the cpu, the returned copy for the GPU.  scale is about the
 * size of what the op adds (0.15 to 0.7 of the result's norm), so the
 * start neither hides an error in it nor lets an overwrite pass. */
static float *gpu_start(float **host, size_t n, float scale)
{
	*host = host_random(n, scale);
	return to_gpu(*host, n);
}

static float *from_gpu(const float *d, size_t n)
{
	float *h = xmalloc(n * sizeof(float));
	gpu->download(h, d, n * sizeof(float));
	return h;
}

static double rel_error(const float *got, const float *ref, size_t n, size_t *nans)
{
	double num = 0, den = 0;
	*nans = 0;
	for (size_t i = 0; i < n; i++) {
		if (isnan(got[i]) || isinf(got[i])) {
			(*nans)++;
			continue;
		}
		num += ((double)got[i] - ref[i]) * ((double)got[i] - ref[i]);
		den += (double)ref[i] * ref[i];
	}
	return den > 0 ? sqrt(num / den) : sqrt(num);
}

static void report(const char *op, const char *prec, double e, size_t nans, double tol)
{
	bool ok = nans == 0 && e <= tol;
	printf("%-40s %-5s rel err %9.2e  tol %.0e  %s", op, prec, e, tol, ok ? "ok" : "FAIL");
	if (nans)
		printf(" (%zu NaN/Inf)", nans);
	printf("\n");
	n_checked++;
	n_failed += !ok;
}

/* A check without a number: both backends did the same thing. */
static void report_same(const char *op, bool ok)
{
	printf("%-40s %-5s %s\n", op, "", ok ? "ok" : "FAIL");
	n_checked++;
	n_failed += !ok;
}

/* Compare the device array d (n floats) with the host reference. */
static void check(const char *op, const char *prec, const float *d, const float *ref, size_t n,
		  double tol)
{
	float *got = from_gpu(d, n);
	size_t nans;
	double e = rel_error(got, ref, n, &nans);
	report(op, prec, e, nans, tol);
	free(got);
}

/* Compare host doubles an op returned (sumsq, the loss terms). */
static void check_f64(const char *op, const double *got, const double *ref, size_t n, double tol)
{
	double num = 0, den = 0;
	size_t nans = 0;
	for (size_t i = 0; i < n; i++) {
		if (!isfinite(got[i])) {
			nans++;
			continue;
		}
		num += (got[i] - ref[i]) * (got[i] - ref[i]);
		den += ref[i] * ref[i];
	}
	report(op, "f64", den > 0 ? sqrt(num / den) : sqrt(num), nans, tol);
}

static double *nan_doubles(size_t n)
{
	double *x = xmalloc(n * sizeof(double));
	for (size_t i = 0; i < n; i++)
		x[i] = NAN;
	return x;
}

static const char *precision_name(enum backend_precision p)
{
	return p == BACKEND_BF16 ? "bf16" : p == BACKEND_TF32 ? "tf32" : "f32";
}

/* Every row of the op table (tests/unit/op_cases.h) on both backends from
 * the same inputs: each output (NaN first on the GPU, so a skipped element
 * shows) and, for ops with a backward, each input's gradient (both started
 * at the same random values, so an op that overwrites instead of adding
 * shows), to the row's tolerance. */
static void check_table(void)
{
	for (size_t k = 0; k < N_OP_CASES; k++) {
		const struct op_case *c = &op_cases[k];
		struct op_io ci, gi;
		char label[96], name[128];
		op_case_label(c, label, sizeof label);
		const char *prec = precision_name(c->prec);
		gpu->set_precision(c->prec);
		op_case_setup(cpu, c, &ci, 5000 + k, 0.25, 0);
		op_case_setup(gpu, c, &gi, 5000 + k, 0.25, NAN);
		c->run(gpu, c->d, &gi, OP_FORWARD);
		c->run(cpu, c->d, &ci, OP_FORWARD);
		for (int j = 0; j < ci.n_out; j++) {
			snprintf(name, sizeof name, ci.n_out > 1 ? "%s out %d" : "%s", label, j);
			check(name, prec, gi.out[j], ci.out[j], ci.out_n[j], c->tol);
		}
		if (ci.has_backward) {
			c->run(gpu, c->d, &gi, OP_BACKWARD);
			c->run(cpu, c->d, &ci, OP_BACKWARD);
			for (int i = 0; i < ci.n_in; i++) {
				if (!ci.in_grad[i])
					continue;
				snprintf(name, sizeof name, "%s d%d", label, i);
				check(name, prec, gi.din[i], ci.din[i], ci.in_n[i], c->tol);
			}
		}
		op_case_free(gpu, &gi);
		op_case_free(cpu, &ci);
	}
	gpu->set_precision(BACKEND_F32);
}

/* The ops that hand values back to the host in double: sumsq (squares
 * exact in double, sums in another order: about 1e-16 · log n apart; 1e-9
 * would still pass squares rounded to f32, which average out, but not an
 * f32 running sum) */
static void check_sumsq(void)
{
	static const size_t ns2[] = { 1, 7, 10007, (1 << 20) + 3 };
	for (int k = 0; k < 4; k++) {
		size_t n = ns2[k];
		float *v = host_random(n, 3), *gv = to_gpu(v, n);
		double got = gpu->sumsq(gv, n), ref = cpu->sumsq(v, n);
		char name[64];
		snprintf(name, sizeof name, "sumsq n %zu", n);
		check_f64(name, &got, &ref, 1, 1e-9);
		free(v), gpu->free(gv);
	}
}

static void check_stft(void)
{
	static const struct { int n_fft, hop; int64_t n; } cases[] = { { 512, 128, 5000 }, { 4096, 1024, 44100 } };
	int64_t rows = 3;
	for (size_t k = 0; k < 2; k++) {
		int n_fft = cases[k].n_fft, hop = cases[k].hop;
		int64_t n = cases[k].n, T = 1 + n / hop, F = n_fft / 2 + 1;
		size_t nx = rows * n, ns = rows * F * T * 2;
		struct backend_stft *gs = gpu->stft_create(n_fft, hop), *cs = cpu->stft_create(n_fft, hop);
		float *x = host_random(nx, 1), *spec = xmalloc(ns * sizeof(float)), *y = xmalloc(nx * sizeof(float));
		float *dx = to_gpu(x, nx), *dspec = gpu_poisoned(ns), *dy = gpu_poisoned(nx);
		char name[64];
		if (gpu->stft_forward(gs, dspec, dx, rows, n) || cpu->stft_forward(cs, spec, x, rows, n))
			die("stft_forward refused %lld samples", (long long)n);
		snprintf(name, sizeof name, "stft %d/%d (cuFFT)", n_fft, hop);
		check(name, "f32", dspec, spec, ns, 1e-5);
		gpu->upload(dspec, spec, ns * sizeof(float));	// the same input for both
		if (gpu->stft_inverse(gs, dy, dspec, rows, T, n) || cpu->stft_inverse(cs, y, spec, rows, T, n))
			die("stft_inverse refused %lld samples", (long long)n);
		snprintf(name, sizeof name, "istft %d/%d (cuFFT)", n_fft, hop);
		check(name, "f32", dy, y, nx, 1e-5);
		// both refuse frames that do not reach the end
		int g = gpu->stft_inverse(gs, dy, dspec, rows, T, n + 2 * hop);
		int c = cpu->stft_inverse(cs, y, spec, rows, T, n + 2 * hop);
		report_same("istft refuses too few frames", g == c && g == -1);
		free(x), free(spec), free(y);
		gpu->free(dx), gpu->free(dspec), gpu->free(dy);
		gpu->stft_free(gs), cpu->stft_free(cs);
	}
}

static void check_losses(void)
{
	// loss_time over B·S = 8 pairs of both channels of 1103 samples, the
	// estimates near their targets (SI-SDR about +8 dB) so no sum cancels;
	// the weights of loss_compute (c_sisdr −1/(B·S)) with an L1 weight that
	// makes both terms of dx count, L1 alone, and no dx (validation).
	// Host values: sums of exact double products in another order, 1e-9.
	// dx: those sums through a few double operations, rounded to f32, 1e-5.
	int BS = 8;
	int64_t len = 2 * 1103;
	size_t n = (size_t)BS * len;
	float *y = host_random(n, 0.5f), *x = host_random(n, 0.2f);
	for (size_t i = 0; i < n; i++)
		x[i] += 0.8f * y[i];
	float *gx = to_gpu(x, n), *gy = to_gpu(y, n), *dx = xmalloc(n * sizeof(float));
	static const struct { double c_sisdr, c_l1; bool dx; const char *name; } terms[] = {
		{ -0.125, 0.005, true, "loss_time" },
		{ 0, 1.0 / (8 * 2206), true, "loss_time (L1 only)" },
		{ -1, 1, false, "loss_time (no dx)" },
	};
	for (int k = 0; k < 3; k++) {
		double *sisdr = nan_doubles(BS), *l1 = nan_doubles(BS);
		double *gsisdr = nan_doubles(BS), *gl1 = nan_doubles(BS);
		float *gdx = terms[k].dx ? gpu_poisoned(n) : NULL;
		gpu->loss_time_terms(gsisdr, gl1, gdx, gx, gy, BS, len, terms[k].c_sisdr, terms[k].c_l1);
		cpu->loss_time_terms(sisdr, l1, terms[k].dx ? dx : NULL, x, y, BS, len, terms[k].c_sisdr,
			       terms[k].c_l1);
		char name[64];
		snprintf(name, sizeof name, "%s sisdr", terms[k].name);
		check_f64(name, gsisdr, sisdr, BS, 1e-9);
		snprintf(name, sizeof name, "%s l1", terms[k].name);
		check_f64(name, gl1, l1, BS, 1e-9);
		if (gdx) {
			snprintf(name, sizeof name, "%s dx", terms[k].name);
			check(name, "f32", gdx, dx, n, 1e-5);
			gpu->free(gdx);
		}
		free(sisdr), free(l1), free(gsisdr), free(gl1);
	}
	free(x), free(y), free(dx), gpu->free(gx), gpu->free(gy);

	// loss_spectral over B·S·C = 16 rows of F·T = 33·50 bins.  Each target
	// bin is its estimate scaled by 0.5..0.9 or 1.1..1.5, so no |Ŷ| − |Y|
	// is near 0 and a magnitude an ulp apart cannot flip a sign.
	// Magnitudes are f32 (sqrtf, contractions into fma on the GPU), their
	// differences summed in double: 1e-6; dyhat, a division and a multiply
	// per element: 1e-6.
	int64_t rows = 16, bins = 33 * 50;
	n = (size_t)rows * bins * 2;
	float *yhat = host_random(n, 1), *yt = xmalloc(n * sizeof(float));
	uint64_t stream = draw++;
	for (size_t b = 0; b < n / 2; b++) {
		float u = rng_uniform(12345, stream, b);
		float f = u < 0.5f ? 0.5f + 0.8f * u : 0.7f + 0.8f * u;
		yt[2 * b] = f * yhat[2 * b], yt[2 * b + 1] = f * yhat[2 * b + 1];
	}
	float *gyhat = to_gpu(yhat, n), *gyt = to_gpu(yt, n);
	for (int with_grad = 1; with_grad >= 0; with_grad--) {
		double *spec = nan_doubles(rows), *gspec = nan_doubles(rows);
		float *dyhat = NULL, *gdyhat = with_grad ? gpu_start(&dyhat, n, 0.01f) : NULL;
		gpu->loss_spectral_terms(gspec, gdyhat, gyhat, gyt, rows, bins, 0.01);
		cpu->loss_spectral_terms(spec, dyhat, yhat, yt, rows, bins, 0.01);
		check_f64(with_grad ? "loss_spectral spec_l1" : "loss_spectral (no dyhat) spec_l1", gspec,
			  spec, rows, 1e-6);
		if (with_grad)
			check("loss_spectral dyhat", "f32", gdyhat, dyhat, n, 1e-6);
		free(spec), free(gspec), free(dyhat);
		if (gdyhat)
			gpu->free(gdyhat);
	}
	free(yhat), free(yt), gpu->free(gyhat), gpu->free(gyt);
}

static void check_stft_backward(void)
{
	// The iSTFT's adjoint: a tiny transform on one row, check_stft's on
	// three; 1e-5 as the FFTs (cuFFT and FFTW order their sums apart).
	// Both refuse 3 frames fewer than the signal needs.
	static const struct { int n_fft, hop; int64_t n, rows; } cases[] = {
		{ 16, 4, 77, 1 }, { 512, 128, 5000, 3 },
	};
	for (size_t k = 0; k < 2; k++) {
		int n_fft = cases[k].n_fft, hop = cases[k].hop;
		int64_t n = cases[k].n, rows = cases[k].rows, T = 1 + n / hop, F = n_fft / 2 + 1;
		size_t ny = rows * n, ns = rows * F * T * 2;
		struct backend_stft *gs = gpu->stft_create(n_fft, hop), *cs = cpu->stft_create(n_fft, hop);
		float *dy = host_random(ny, 1), *gdy = to_gpu(dy, ny), *din, *gdin = gpu_start(&din, ns, 0.02f);
		if (gpu->stft_inverse_backward(gs, gdin, gdy, rows, T, n) ||
		    cpu->stft_inverse_backward(cs, din, dy, rows, T, n))
			die("stft_inverse_backward refused %lld samples", (long long)n);
		char name[64];
		snprintf(name, sizeof name, "stft_inverse_backward %d/%d rows %d", n_fft, hop, (int)rows);
		check(name, "f32", gdin, din, ns, 1e-5);
		int g = gpu->stft_inverse_backward(gs, gdin, gdy, rows, T - 3, n);
		int c = cpu->stft_inverse_backward(cs, din, dy, rows, T - 3, n);
		snprintf(name, sizeof name, "stft_inverse_backward %d/%d refuses", n_fft, hop);
		report_same(name, g == c && g == -1);
		free(dy), free(din), gpu->free(gdy), gpu->free(gdin);
		gpu->stft_free(gs), cpu->stft_free(cs);
	}
}

/* What sepnet-train does with a micro-batch: read into host_alloc'd
 * memory, copied in pieces on the copy stream, a fence, compute on it, and
 * the host buffer refilled for the next once sync says the copy is done
 * (then scribbled with NaN, which must not reach the result).  Exact. */
static void check_overlap(void)
{
	size_t n = 10007, piece = 4000;
	float *h = gpu->host_alloc(n * sizeof(float)), *ref = xmalloc(n * sizeof(float));
	for (int round = 1; round <= 2; round++) {
		float *x = host_random(n, 1), *d = gpu_poisoned(n);
		gpu->sync();	// the poison is on the compute stream, the copies are not
		memcpy(h, x, n * sizeof(float));
		for (size_t i = 0; i < n; i += piece)
			gpu->upload_async(d + i, h + i, (n - i < piece ? n - i : piece) * sizeof(float));
		gpu->upload_fence();
		gpu->tensor_scale(d, n, 2);
		gpu->sync();
		for (size_t i = 0; i < n; i++)
			h[i] = NAN, ref[i] = 2 * x[i];
		check(round == 1 ? "host_alloc, upload_async, fence, sync" : "upload_async (a second round)",
		      "f32", d, ref, n, 0);
		free(x), gpu->free(d);
	}
	gpu->host_free(h);
	free(ref);
}

/* A tiny model, every weight random, through the whole separator. */
static struct model *random_model(const struct config *c, const struct backend *be, int batch,
				   uint64_t seed)
{
	struct model *m = model_create(c, be, batch, model_segment_frames(c), false);
	m->arch->init(m, seed);
	for (size_t i = 0; i < m->n_params; i++)
		m->params[i] += 0.05f * rng_normal(seed, 77, i);
	model_upload(m);
	return m;
}

static void check_separator(void)
{
	struct config c;
	config_load_or_die(&c, "configs/tiny.ini");
	struct model *mc = random_model(&c, cpu, 3, 5), *mg = random_model(&c, gpu, 3, 5);
	int64_t N = 3 * 44100;
	size_t nx = 2 * N, ny = 4 * nx;
	float *x = host_random(nx, 0.5f), *ref = xmalloc(ny * sizeof(float)), *got = xmalloc(ny * sizeof(float));
	int idx[] = { 0, 1, 2, 3 };
	struct separator *sc = separator_create(mc), *sg = separator_create(mg);
	separator_waveform(sc, ref, x, N, 0.25, idx, 4);
	for (size_t i = 0; i < ny; i++)
		got[i] = NAN;
	separator_waveform(sg, got, x, N, 0.25, idx, 4);
	float *d = to_gpu(got, ny);	// check() reads device memory
	check("separator tiny.ini, 3 s waveform", "f32", d, ref, ny, 1e-5);
	gpu->free(d);
	separator_free(sc), separator_free(sg);
	free(x), free(ref), free(got);
	model_free(mc), model_free(mg);
}

static int run_checks(void)
{
	printf("%-40s %-5s %s\n", "op", "prec", "relative L2 error against the CPU");
	check_table();
	check_sumsq();
	check_losses();
	check_stft();
	check_stft_backward();
	check_overlap();
	check_separator();
	printf("%d of %d checks failed\n", n_failed, n_checked);
	return n_failed ? 1 : 0;
}

/* ---- --self-faulty: the cpu backend with four ops broken on purpose,
 * one per way a kernel goes wrong; exactly their checks must fail ---- */

/* overwrites dweight instead of adding into it */
static void faulty_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
				   const float *inp, const float *weight, int N, int in_dim,
				   int out_dim)
{
	memset(dweight, 0, (size_t)out_dim * in_dim * sizeof(float));
	linear_backward(dinp, dweight, dbias, dout, inp, weight, N, in_dim, out_dim);
}

/* leaves the last element of dmask unwritten */
static void faulty_mask_backward(float *dmask, const float *dyspec, const float *x, int B, int S,
				 int C, int F, int T)
{
	size_t n = (size_t)B * S * 2 * C * F * T;
	float *all = xmalloc(n * sizeof(float));
	mask_backward(all, dyspec, x, B, S, C, F, T);
	memcpy(dmask, all, (n - 1) * sizeof(float));
	free(all);
}

/* draws its dropout mask from another seed */
static void faulty_residual_forward(float *out, const float *inp, const float *branch,
					    size_t n, float p, uint64_t seed, uint64_t stream,
					    uint64_t first)
{
	residual_forward(out, inp, branch, n, p, seed + 1, stream, first);
}

/* returns the first SI-SDR off in its seventh digit */
static void faulty_loss_time(double *sisdr, double *l1, float *dx, const float *x, const float *y,
			     int BS, int64_t len, double c_sisdr, double c_l1)
{
	loss_time_terms(sisdr, l1, dx, x, y, BS, len, c_sisdr, c_l1);
	sisdr[0] *= 1 + 1e-7;
}

static struct backend faulty;

/* ---- helpers for check.sh ---- */

static int write_random_model(const char *config, const char *out, uint64_t seed)
{
	struct config c;
	config_load_or_die(&c, config);
	struct model *m = random_model(&c, &backend_cpu, 1, seed);
	checkpoint_save(out, m, NULL, NULL, NULL, 0);
	model_free(m);
	return 0;
}

static int write_noise(double seconds, uint64_t seed)
{
	int64_t N = (int64_t)(seconds * 44100);
	float *x = xmalloc(2 * N * sizeof(float));
	for (int64_t i = 0; i < 2 * N; i++)
		x[i] = 0.5f * (2 * rng_uniform(seed, 99, i) - 1);
	struct snt_header h;
	snt_header_init(&h);
	snt_header_set_dtype(&h, SNT_F32);
	snt_header_set_shape(&h, 2, (int64_t[]){ 2, N });
	snt_header_set(&h, "sr", "44100");
	snt_header_set(&h, "track", "noise");
	struct snt_writer *w = snt_writer_open("-");
	snt_write_header(w, &h);
	snt_write_payload(w, x, 2 * N * sizeof(float));
	snt_writer_close(w);
	snt_header_free(&h);
	free(x);
	return 0;
}

static int compare(double tol, const char *a, const char *b)
{
	struct snt_reader *ra = snt_reader_open(a), *rb = snt_reader_open(b);
	if (!ra || !rb)
		die("%s:", ra ? b : a);
	struct snt_header ha, hb;
	snt_header_init(&ha);
	snt_header_init(&hb);
	int bad = 0, k = 0;
	while (snt_read_header_or_die(ra, &ha)) {
		if (!snt_read_header_or_die(rb, &hb))
			die("%s: fewer records than %s", b, a);
		if (snt_numel(&ha) != snt_numel(&hb) || ha.dtype != hb.dtype)
			die("%s: record %d differs in shape or dtype", b, k);
		float *xa = snt_read_payload_alloc_or_die(ra, &ha), *xb = snt_read_payload_alloc_or_die(rb, &hb);
		size_t n = snt_payload_bytes(&ha) / sizeof(float), nans;
		double e = rel_error(xb, xa, n, &nans);
		printf("record %d: relative L2 error %.3e, %zu NaN/Inf (tolerance %.0e)\n", k, e, nans, tol);
		bad |= nans > 0 || !(e <= tol);
		free(xa), free(xb);
		k++;
	}
	snt_reader_close(ra), snt_reader_close(rb);
	snt_header_free(&ha), snt_header_free(&hb);
	return bad || k == 0;
}

int main(int argc, char **argv)
{
	set_progname(argv[0]);
	if (argc >= 4 && !strcmp(argv[1], "--random-model"))
		return write_random_model(argv[2], argv[3], argc > 4 ? strtoull(argv[4], NULL, 10) : 1);
	if (argc == 4 && !strcmp(argv[1], "--noise"))
		return write_noise(atof(argv[2]), strtoull(argv[3], NULL, 10));
	if (argc == 5 && !strcmp(argv[1], "--compare"))
		return compare(atof(argv[2]), argv[3], argv[4]);
	if (argc == 2 && !strcmp(argv[1], "--self")) {
		gpu = &backend_cpu;
		return run_checks();
	}
	if (argc == 2 && !strcmp(argv[1], "--self-faulty")) {
		faulty = backend_cpu;
		faulty.linear_backward = faulty_linear_backward;
		faulty.mask_backward = faulty_mask_backward;
		faulty.residual_forward = faulty_residual_forward;
		faulty.loss_time_terms = faulty_loss_time;
		gpu = &faulty;
		return run_checks();
	}
	if (argc != 1)
		die_usage("usage: check-ops [--self | --self-faulty | --random-model CONFIG OUT [SEED] | "
			  "--noise SECONDS SEED | --compare TOL A B]");
	gpu = backend_get("cuda");	// dies saying why when there is no GPU
	return run_checks();
}
