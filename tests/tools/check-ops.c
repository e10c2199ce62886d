/* check-ops: every op of the cuda backend against the cpu backend
 * (ggml's test-backend-ops), plus the helpers tests/gpu/check.sh needs on a
 * machine without our Debian tools.
 *
 *   check-ops                          each op on fresh random inputs, GPU
 *                                      outputs poisoned with NaN first; a
 *                                      table, exit 1 if any op is off
 *   check-ops --random-model CONFIG OUT [SEED]
 *                                      a checkpoint whose every weight is
 *                                      random (W_out and biases too, so the
 *                                      stems depend on the whole network)
 *   check-ops --noise SECONDS SEED     an f32 [2, N] record at 44.1 kHz
 *   check-ops --compare TOL A B        relative L2 error of every record of B
 *                                      against A (f32 or c64), NaN counted;
 *                                      exit 1 above TOL
 *
 * Tolerances are relative L2 errors ‖gpu − cpu‖ / ‖cpu‖: f32 1e-5 (the
 * kernels reorder sums and use erff/expf/sqrtf, a few ulps), tf32 2e-3
 * (10-bit mantissas on K-long dot products), bf16 2e-2 (8-bit mantissas).
 * Built with the test tools in every build; without CUDA (or a GPU) only
 * the helpers work and the op checks say why they cannot run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "checkpoint.h"
#include "chunk.h"
#include "config.h"
#include "layers.h"
#include "model.h"
#include "rng.h"
#include "separate.h"
#include "snt.h"
#include "util.h"

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

/* Compare the device array d (n floats) with the host reference. */
static void check(const char *op, const char *prec, const float *d, const float *ref, size_t n,
		  double tol)
{
	float *got = from_gpu(d, n);
	size_t nans;
	double e = rel_error(got, ref, n, &nans);
	bool ok = nans == 0 && e <= tol;
	printf("%-34s %-5s rel err %9.2e  tol %.0e  %s", op, prec, e, tol, ok ? "ok" : "FAIL");
	if (nans)
		printf(" (%zu NaN/Inf)", nans);
	printf("\n");
	n_checked++;
	n_failed += !ok;
	free(got);
}

static const struct {
	enum backend_precision p;
	const char *name;
	double tol;
} precisions[] = {
	{ BACKEND_F32, "f32", 1e-5 },
	{ BACKEND_TF32, "tf32", 2e-3 },
	{ BACKEND_BF16, "bf16", 2e-2 },
};

static void check_gemm(void)
{
	int M = 67, N = 45, K = 130;
	for (size_t p = 0; p < 3; p++)
		for (int ta = 0; ta < 2; ta++)
			for (int tb = 0; tb < 2; tb++) {
				int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5, ldc = N + 2;
				size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb;
				size_t nc = (size_t)M * ldc;
				float *A = host_random(na, 1), *B = host_random(nb, 1), *C = host_random(nc, 1);
				float *dA = to_gpu(A, na), *dB = to_gpu(B, nb), *dC = to_gpu(C, nc);
				gpu->set_precision(precisions[p].p);
				gpu->gemm(ta, tb, M, N, K, 0.7f, dA, lda, dB, ldb, 0.3f, dC, ldc);
				cpu->gemm(ta, tb, M, N, K, 0.7f, A, lda, B, ldb, 0.3f, C, ldc);
				char name[64];
				snprintf(name, sizeof name, "gemm %c%c 67x45x130", ta ? 'T' : 'N', tb ? 'T' : 'N');
				check(name, precisions[p].name, dC, C, nc, precisions[p].tol);
				free(A), free(B), free(C);
				gpu->free(dA), gpu->free(dB), gpu->free(dC);
			}
	gpu->set_precision(BACKEND_F32);
}

static void check_linear(void)
{
	int N = 100, in = 48, out = 72;
	float *x = host_random((size_t)N * in, 1), *w = host_random((size_t)out * in, 0.2f);
	float *b = host_random(out, 0.5f), *ref = xmalloc((size_t)N * out * sizeof(float));
	float *dx = to_gpu(x, (size_t)N * in), *dw = to_gpu(w, (size_t)out * in), *db = to_gpu(b, out);
	for (size_t p = 0; p < 3; p++) {
		gpu->set_precision(precisions[p].p);
		for (int gelu = 0; gelu < 2; gelu++)
			for (int bias = 0; bias < 2 - gelu; bias++) {
				float *dout = gpu_poisoned((size_t)N * out);
				if (gelu) {
					gpu->linear_gelu_forward(dout, dx, dw, db, N, in, out);
					cpu->linear_gelu_forward(ref, x, w, b, N, in, out);
				} else {
					gpu->linear_forward(dout, dx, dw, bias ? db : NULL, N, in, out);
					cpu->linear_forward(ref, x, w, bias ? b : NULL, N, in, out);
				}
				check(gelu ? "linear+bias+gelu 100x48->72" : bias ? "linear+bias 100x48->72"
										 : "linear 100x48->72",
				      precisions[p].name, dout, ref, (size_t)N * out, precisions[p].tol);
				gpu->free(dout);
			}
	}
	gpu->set_precision(BACKEND_F32);
	free(x), free(w), free(b), free(ref);
	gpu->free(dx), gpu->free(dw), gpu->free(db);
}

static void check_elementwise(void)
{
	// broadcast both ways
	int rows = 37, width = 53;
	float *vec = host_random(rows > width ? rows : width, 1);
	float *ref = xmalloc((size_t)rows * width * sizeof(float));
	float *dvec = to_gpu(vec, rows > width ? rows : width);
	for (int by_row = 0; by_row < 2; by_row++) {
		float *d = gpu_poisoned((size_t)rows * width);
		gpu->broadcast(d, dvec, rows, width, by_row);
		cpu->broadcast(ref, vec, rows, width, by_row);
		check(by_row ? "broadcast by row" : "broadcast by column", "f32", d, ref,
		      (size_t)rows * width, 0);
		gpu->free(d);
	}
	free(vec), free(ref), gpu->free(dvec);

	// residual, in place as the model does it
	size_t n = 10007;
	float *a = host_random(n, 1), *b = host_random(n, 1);
	float *da = to_gpu(a, n), *dbr = to_gpu(b, n);
	gpu->residual_forward(da, da, dbr, n);
	cpu->residual_forward(a, a, b, n);
	check("residual (in place)", "f32", da, a, n, 0);
	free(a), free(b), gpu->free(da), gpu->free(dbr);

	// RMSNorm of the base config's width
	int N = 77, C = 192;
	float *x = host_random((size_t)N * C, 3), *g = host_random(C, 1);
	float *y = xmalloc((size_t)N * C * sizeof(float)), *r = xmalloc(N * sizeof(float));
	float *dx = to_gpu(x, (size_t)N * C), *dg = to_gpu(g, C);
	float *dy = gpu_poisoned((size_t)N * C), *dr = gpu_poisoned(N);
	gpu->rmsnorm_forward(dy, dr, dx, dg, N, C);
	cpu->rmsnorm_forward(y, r, x, g, N, C);
	check("rmsnorm 77x192 out", "f32", dy, y, (size_t)N * C, 1e-5);
	check("rmsnorm 77x192 rstd", "f32", dr, r, N, 1e-5);
	free(x), free(g), free(y), free(r);
	gpu->free(dx), gpu->free(dg), gpu->free(dy), gpu->free(dr);
}

static void check_features_mask(void)
{
	int B = 2, S = 4, C = 2, F = 33, T = 50;
	size_t nx = (size_t)B * C * F * T * 2, nm = (size_t)B * S * 2 * C * F * T;
	float *x = host_random(nx, 4), *feat = xmalloc(nx * sizeof(float)), *sigma = xmalloc(B * sizeof(float));
	float *dx = to_gpu(x, nx), *dfeat = gpu_poisoned(nx), *dsigma = gpu_poisoned(B);
	gpu->features_forward(dfeat, dsigma, dx, B, C, F, T);
	cpu->features_forward(feat, sigma, x, B, C, F, T);
	check("features (B 2, C 2, F 33, T 50)", "f32", dfeat, feat, nx, 1e-6);
	check("features sigma", "f32", dsigma, sigma, B, 1e-6);
	float *mask = host_random(nm, 1), *y = xmalloc(nm * sizeof(float));
	float *dmask = to_gpu(mask, nm), *dy = gpu_poisoned(nm);
	gpu->mask_forward(dy, dmask, dx, B, S, C, F, T);
	cpu->mask_forward(y, mask, x, B, S, C, F, T);
	check("complex mask (S 4)", "f32", dy, y, nm, 1e-6);
	free(x), free(feat), free(sigma), free(mask), free(y);
	gpu->free(dx), gpu->free(dfeat), gpu->free(dsigma), gpu->free(dmask), gpu->free(dy);
}

static void check_rope_attention(void)
{
	static const struct { int A, h; } shapes[] = { { 48, 2 }, { 32, 2 }, { 192, 8 }, { 64, 2 }, { 128, 2 } };
	int B = 2, T = 100, L = 120;	// T is no multiple of any tile
	for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++) {
		int A = shapes[k].A, h = shapes[k].h, hs = A / h;
		size_t nq = (size_t)B * T * 3 * A;
		float *rope = xmalloc((size_t)L * hs * sizeof(float));
		rope_table(rope, L, hs);
		float *qkv = host_random(nq, 2), *drope = to_gpu(rope, (size_t)L * hs);
		float *dqkv = to_gpu(qkv, nq);
		gpu->rope_forward(dqkv, drope, B, T, A, h);
		cpu->rope_forward(qkv, rope, B, T, A, h);
		char name[64];
		snprintf(name, sizeof name, "rope (T 100, head %d)", hs);
		check(name, "f32", dqkv, qkv, nq, 1e-6);
		size_t no = (size_t)B * T * A, nl = (size_t)B * h * T;
		float *out = xmalloc(no * sizeof(float)), *lse = xmalloc(nl * sizeof(float));
		float *dout = gpu_poisoned(no), *dlse = gpu_poisoned(nl);
		gpu->attention_forward(dout, dlse, dqkv, B, T, A, h);
		cpu->attention_forward(out, lse, qkv, B, T, A, h);
		snprintf(name, sizeof name, "flash attention (T 100, head %d)", hs);
		check(name, "f32", dout, out, no, 1e-5);
		snprintf(name, sizeof name, "flash attention lse (head %d)", hs);
		check(name, "f32", dlse, lse, nl, 1e-6);
		free(rope), free(qkv), free(out), free(lse);
		gpu->free(drope), gpu->free(dqkv), gpu->free(dout), gpu->free(dlse);
	}
}

static void check_chunks(void)
{
	int64_t T = 100, rows = 7, width = 2;
	struct chunk_plan *plan = chunk_plan_create(T, 30, 0.25);
	size_t n = (size_t)rows * T * width, ns = (size_t)rows * plan->L * width;
	float *x = host_random(n, 1), *seg = xmalloc(ns * sizeof(float)), *out = xcalloc(n, sizeof(float));
	float *dx = to_gpu(x, n), *dseg = gpu->alloc(ns * sizeof(float)), *dout = gpu->alloc(n * sizeof(float));
	for (int64_t s = 0; s < plan->n; s++) {	// the identity through gather and cross-fade
		gpu->chunk_gather(dseg, dx, plan, s, rows, width);
		gpu->chunk_accumulate(dout, dseg, plan, s, rows, width);
		cpu->chunk_gather(seg, x, plan, s, rows, width);
		cpu->chunk_accumulate(out, seg, plan, s, rows, width);
	}
	check("chunk gather + cross-fade (4 segs)", "f32", dout, out, n, 1e-7);
	chunk_plan_free(plan);
	free(x), free(seg), free(out);
	gpu->free(dx), gpu->free(dseg), gpu->free(dout);
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
		printf("%-34s %-5s %s\n", "istft refuses too few frames", "", g == c && g == -1 ? "ok" : "FAIL");
		n_checked++;
		n_failed += !(g == c && g == -1);
		free(x), free(spec), free(y);
		gpu->free(dx), gpu->free(dspec), gpu->free(dy);
		gpu->stft_free(gs), cpu->stft_free(cs);
	}
}

/* A tiny model, every weight random, through the whole separator. */
static struct model *random_model(const struct config *c, uint64_t seed)
{
	struct model *m = model_create(c, 1, 1, false);
	model_init(m, seed);
	for (size_t i = 0; i < m->n_params; i++)
		m->params[i] += 0.05f * rng_normal(seed, 77, i);
	return m;
}

static void check_separator(void)
{
	struct config c;
	config_load_or_die(&c, "configs/tiny.ini");
	struct model *m = random_model(&c, 5);
	int64_t N = 3 * 44100;
	size_t nx = 2 * N, ny = 4 * nx;
	float *x = host_random(nx, 0.5f), *ref = xmalloc(ny * sizeof(float)), *got = xmalloc(ny * sizeof(float));
	int idx[] = { 0, 1, 2, 3 };
	struct separator *sc = separator_create(m, cpu, 3), *sg = separator_create(m, gpu, 3);
	separator_waveform(sc, ref, x, N, 0.25, idx, 4);
	for (size_t i = 0; i < ny; i++)
		got[i] = NAN;
	separator_waveform(sg, got, x, N, 0.25, idx, 4);
	float *d = to_gpu(got, ny);	// check() reads device memory
	check("separator tiny.ini, 3 s waveform", "f32", d, ref, ny, 1e-5);
	gpu->free(d);
	separator_free(sc), separator_free(sg);
	free(x), free(ref), free(got);
	model_free(m);
}

static int run_checks(void)
{
	printf("%-34s %-5s %s\n", "op", "prec", "relative L2 error against the CPU");
	check_gemm();
	check_linear();
	check_elementwise();
	check_features_mask();
	check_rope_attention();
	check_chunks();
	check_stft();
	check_separator();
	printf("%d of %d checks failed\n", n_failed, n_checked);
	return n_failed ? 1 : 0;
}

/* ---- helpers for check.sh ---- */

static int write_random_model(const char *config, const char *out, uint64_t seed)
{
	struct config c;
	config_load_or_die(&c, config);
	struct model *m = random_model(&c, seed);
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
	if (argc != 1)
		die_usage("usage: check-ops [--random-model CONFIG OUT [SEED] | --noise SECONDS SEED | "
			  "--compare TOL A B]");
	gpu = backend_get("cuda");	// dies saying why when there is no GPU
	return run_checks();
}
