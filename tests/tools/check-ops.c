/* check-ops: every op of the cuda backend against the cpu backend
 * (ggml's test-backend-ops), plus the helpers tests/gpu/check.sh needs on a
 * machine without our Debian tools.
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
 * Tolerances are relative L2 errors ‖gpu − cpu‖ / ‖cpu‖: f32 1e-5 (the
 * kernels reorder sums and use erff/expf/sqrtf, a few ulps), tf32 2e-3
 * (10-bit mantissas on K-long dot products), bf16 2e-2 (8-bit mantissas);
 * tighter where an op has no sum to reorder, each with its reason below.
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
				gpu->blas_gemm(ta, tb, M, N, K, 0.7f, dA, lda, dB, ldb, 0.3f, dC, ldc);
				cpu->blas_gemm(ta, tb, M, N, K, 0.7f, A, lda, B, ldb, 0.3f, C, ldc);
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
		gpu->tensor_broadcast(d, dvec, rows, width, by_row);
		cpu->tensor_broadcast(ref, vec, rows, width, by_row);
		check(by_row ? "broadcast by row" : "broadcast by column", "f32", d, ref,
		      (size_t)rows * width, 0);
		gpu->free(d);
	}
	free(vec), free(ref), gpu->free(dvec);

	// residual, in place as the model does it
	size_t n = 10007;
	float *a = host_random(n, 1), *b = host_random(n, 1);
	float *da = to_gpu(a, n), *dbr = to_gpu(b, n);
	gpu->residual_forward(da, da, dbr, n, 0, 0, 0);
	cpu->residual_forward(a, a, b, n, 0, 0, 0);
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

static void check_linear_backward(void)
{
	// check_linear's shapes; dinp and dbias also NULL (the first layer, the
	// projections without bias).  Tolerances as the GEMMs': the same
	// cuBLAS calls with the sums over N (dweight) and out (dinp).
	int N = 100, in = 48, out = 72;
	size_t nx = (size_t)N * in, nw = (size_t)out * in, ny = (size_t)N * out;
	float *x = host_random(nx, 1), *w = host_random(nw, 0.2f), *dy = host_random(ny, 1);
	float *gx = to_gpu(x, nx), *gw = to_gpu(w, nw), *gdy = to_gpu(dy, ny);
	for (size_t p = 0; p < 3; p++) {
		gpu->set_precision(precisions[p].p);
		for (int all = 0; all < 2; all++) {
			float *dx, *dw, *db;
			float *gdx = gpu_start(&dx, nx, 1), *gdw = gpu_start(&dw, nw, 5);
			float *gdb = gpu_start(&db, out, 5);
			gpu->linear_backward(all ? gdx : NULL, gdw, all ? gdb : NULL, gdy, gx, gw, N, in, out);
			cpu->linear_backward(all ? dx : NULL, dw, all ? db : NULL, dy, x, w, N, in, out);
			const char *prec = precisions[p].name;
			double tol = precisions[p].tol;
			check(all ? "linear_backward dweight 100x48->72" : "linear_backward dweight (no dinp, dbias)",
			      prec, gdw, dw, nw, tol);
			if (all) {
				check("linear_backward dinp 100x48->72", prec, gdx, dx, nx, tol);
				// a sum over 100 rows in f32 whatever the precision
				check("linear_backward dbias 100x48->72", prec, gdb, db, out, 1e-5);
			}
			free(dx), free(dw), free(db);
			gpu->free(gdx), gpu->free(gdw), gpu->free(gdb);
		}
	}
	gpu->set_precision(BACKEND_F32);
	free(x), free(w), free(dy);
	gpu->free(gx), gpu->free(gw), gpu->free(gdy);
}

static void check_rmsnorm_backward(void)
{
	// rstd from the cpu's forward on both sides; the width of the configs
	// and one no multiple of a warp.  1e-5: a dot product per row, a sum
	// over the 77 rows per weight, both reordered on the GPU.
	static const int widths[] = { 192, 50 };
	int N = 77;
	for (int k = 0; k < 2; k++) {
		int C = widths[k];
		size_t n = (size_t)N * C;
		float *x = host_random(n, 3), *g = host_random(C, 1), *dy = host_random(n, 1);
		float *y = xmalloc(n * sizeof(float)), *r = xmalloc(N * sizeof(float));
		cpu->rmsnorm_forward(y, r, x, g, N, C);
		float *gx = to_gpu(x, n), *gg = to_gpu(g, C), *gdy = to_gpu(dy, n), *gr = to_gpu(r, N);
		float *dx, *gdx = gpu_start(&dx, n, 0.25f), *dg, *gdg = gpu_start(&dg, C, 5);
		gpu->rmsnorm_backward(gdx, gdg, gdy, gx, gg, gr, N, C);
		cpu->rmsnorm_backward(dx, dg, dy, x, g, r, N, C);
		char name[64];
		snprintf(name, sizeof name, "rmsnorm_backward 77x%d dinp", C);
		check(name, "f32", gdx, dx, n, 1e-5);
		snprintf(name, sizeof name, "rmsnorm_backward 77x%d dweight", C);
		check(name, "f32", gdg, dg, C, 1e-5);
		free(x), free(g), free(dy), free(y), free(r), free(dx), free(dg);
		gpu->free(gx), gpu->free(gg), gpu->free(gdy), gpu->free(gr), gpu->free(gdx), gpu->free(gdg);
	}
}

static void check_gelu(void)
{
	// elementwise with erff and expf (within 2 ulps each): 1e-6; inputs up
	// to ±4 reach both tails
	size_t n = 10007;
	float *x = host_random(n, 4), *dy = host_random(n, 1), *y = xmalloc(n * sizeof(float));
	float *gx = to_gpu(x, n), *gdy = to_gpu(dy, n), *gy = gpu_poisoned(n);
	gpu->gelu_forward(gy, gx, n);
	cpu->gelu_forward(y, x, n);
	check("gelu_forward n 10007", "f32", gy, y, n, 1e-6);
	float *x2 = xmalloc(n * sizeof(float));
	memcpy(x2, x, n * sizeof(float));
	float *gx2 = to_gpu(x2, n);
	gpu->gelu_forward(gx2, gx2, n);
	cpu->gelu_forward(x2, x2, n);
	check("gelu_forward (in place)", "f32", gx2, x2, n, 1e-6);
	float *dx, *gdx = gpu_start(&dx, n, 0.5f);
	gpu->gelu_backward(gdx, gdy, gx, n);
	cpu->gelu_backward(dx, dy, x, n);
	check("gelu_backward n 10007", "f32", gdx, dx, n, 1e-6);
	free(x), free(dy), free(y), free(x2), free(dx);
	gpu->free(gx), gpu->free(gdy), gpu->free(gy), gpu->free(gx2), gpu->free(gdx);
}

static void check_dropout(void)
{
	// The masks come from rng.h on both sides and must agree element for
	// element: one dropped differently is an error of about 1e-2 here, so
	// 1e-6 (an add and a multiply by 1/(1 − p)) says they match.  A stream
	// as the model makes them, (step << 16) | (layer << 1) | site.
	size_t n = 10007;
	uint64_t seed = 20240229, stream = ((uint64_t)123457 << 16) | (3 << 1) | 1;
	static const float ps[] = { 0, 0.1f };
	for (int k = 0; k < 2; k++) {
		float p = ps[k];
		float *x = host_random(n, 1), *b = host_random(n, 1), *dy = host_random(n, 1);
		float *y = xmalloc(n * sizeof(float));
		float *gx = to_gpu(x, n), *gb = to_gpu(b, n), *gdy = to_gpu(dy, n), *gy = gpu_poisoned(n);
		char name[64];
		gpu->residual_forward(gy, gx, gb, n, p, seed, stream);
		cpu->residual_forward(y, x, b, n, p, seed, stream);
		snprintf(name, sizeof name, "residual_dropout_forward p %g", p);
		check(name, "f32", gy, y, n, 1e-6);
		gpu->residual_forward(gx, gx, gb, n, p, seed, stream);	// in place, as the model
		cpu->residual_forward(x, x, b, n, p, seed, stream);
		snprintf(name, sizeof name, "residual_dropout_forward p %g in place", p);
		check(name, "f32", gx, x, n, 1e-6);
		float *db, *gdb = gpu_start(&db, n, 1);
		gpu->residual_backward(gdb, gdy, n, p, seed, stream);
		cpu->residual_backward(db, dy, n, p, seed, stream);
		snprintf(name, sizeof name, "residual_backward p %g", p);
		check(name, "f32", gdb, db, n, 1e-6);
		free(x), free(b), free(dy), free(y), free(db);
		gpu->free(gx), gpu->free(gb), gpu->free(gdy), gpu->free(gy), gpu->free(gdb);
	}
}

static void check_sums(void)
{
	// sum_rows: a bias gradient both ways (over the 1003 rows of each
	// column, over the 1003 columns of each row); 1e-5: f32 sums reordered
	int R = 1003, W = 77;
	float *x = host_random((size_t)R * W, 1), *gx = to_gpu(x, (size_t)R * W);
	float *acc, *gacc = gpu_start(&acc, W, 10);
	gpu->tensor_sum_rows(gacc, gx, R, W, false);
	cpu->tensor_sum_rows(acc, x, R, W, false);
	check("sum_rows by column (1003 rows x 77)", "f32", gacc, acc, W, 1e-5);
	free(acc), gpu->free(gacc);
	R = 77, W = 1003;	// the same x, seen as 77 rows of 1003
	gacc = gpu_start(&acc, R, 10);
	gpu->tensor_sum_rows(gacc, gx, R, W, true);
	cpu->tensor_sum_rows(acc, x, R, W, true);
	check("sum_rows by row (77 rows x 1003)", "f32", gacc, acc, R, 1e-5);
	free(acc), gpu->free(gacc);

	// stem_mix adds the stems in order from 0 as the cpu does: exact
	int B = 2, S = 4, C = 2;
	int64_t len = 1103;
	size_t nm = (size_t)B * C * len, ns = (size_t)S * nm;
	float *stems = host_random(ns, 1), *mix = xmalloc(nm * sizeof(float));
	float *gstems = to_gpu(stems, ns), *gmix = gpu_poisoned(nm);
	gpu->stem_mix(gmix, gstems, B, S, C, len);
	cpu->stem_mix(mix, stems, B, S, C, len);
	check("stem_mix (B 2, S 4, C 2, n 1103)", "f32", gmix, mix, nm, 0);

	// scale: one multiply per element, exact
	gpu->tensor_scale(gx, (size_t)R * W, 0.37f);
	cpu->tensor_scale(x, (size_t)R * W, 0.37f);
	check("scale n 77231", "f32", gx, x, (size_t)R * W, 0);
	free(x), free(stems), free(mix);
	gpu->free(gx), gpu->free(gstems), gpu->free(gmix);

	// sumsq: squares exact in double, sums in double in another order:
	// about 1e-16 · log n apart; 1e-9 would still pass squares rounded to
	// f32 (unbiased, they average out) but not an f32 running sum
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

static void check_optimizer(void)
{
	// Three AdamW steps t = 1, 2, 3 from zero moments with weight decay,
	// fresh gradients each step, compared after each.  lr 0.05 moves the
	// parameters by 5 %, so an error in the update shows; 1e-6: per
	// element a few roundings (a sqrtf, a division, contractions into fma).
	size_t n = 10007;
	float lr = 0.05f, wd = 0.1f;
	float *p = host_random(n, 1), *m = xcalloc(n, sizeof(float)), *v = xcalloc(n, sizeof(float));
	float *gp = to_gpu(p, n), *gm = gpu->alloc(n * sizeof(float)), *gv = gpu->alloc(n * sizeof(float));
	for (int64_t t = 1; t <= 3; t++) {
		float *g = host_random(n, 1), *gg = to_gpu(g, n);
		gpu->adamw_update(gp, gg, gm, gv, n, lr, 0.9f, 0.999f, 1e-8f, wd, t);
		cpu->adamw_update(p, g, m, v, n, lr, 0.9f, 0.999f, 1e-8f, wd, t);
		char name[64];
		snprintf(name, sizeof name, "adamw t %d params", (int)t);
		check(name, "f32", gp, p, n, 1e-6);
		snprintf(name, sizeof name, "adamw t %d m", (int)t);
		check(name, "f32", gm, m, n, 1e-6);
		snprintf(name, sizeof name, "adamw t %d v", (int)t);
		check(name, "f32", gv, v, n, 1e-6);
		free(g), gpu->free(gg);
	}
	free(p), free(m), free(v);
	gpu->free(gp), gpu->free(gm), gpu->free(gv);

	// EMA: a multiply and two adds per element, 1e-6; with decay 0.999 an
	// update skipped altogether is an error of about 1e-3
	static const float decays[] = { 0.5f, 0.999f };
	for (int k = 0; k < 2; k++) {
		float *w = host_random(n, 1), *e, *gw = to_gpu(w, n), *ge = gpu_start(&e, n, 1);
		gpu->ema_update(ge, gw, n, decays[k]);
		cpu->ema_update(e, w, n, decays[k]);
		char name[64];
		snprintf(name, sizeof name, "ema_update decay %g", decays[k]);
		check(name, "f32", ge, e, n, 1e-6);
		free(w), free(e), gpu->free(gw), gpu->free(ge);
	}
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
	// its gradient: the same products and sums of two, 1e-6; overwritten
	float *dys = host_random(nm, 1), *dm = xmalloc(nm * sizeof(float));
	float *gdys = to_gpu(dys, nm), *gdm = gpu_poisoned(nm);
	gpu->mask_backward(gdm, gdys, dx, B, S, C, F, T);
	cpu->mask_backward(dm, dys, x, B, S, C, F, T);
	check("mask_backward (S 4)", "f32", gdm, dm, nm, 1e-6);
	free(x), free(feat), free(sigma), free(mask), free(y), free(dys), free(dm);
	gpu->free(dx), gpu->free(dfeat), gpu->free(dsigma), gpu->free(dmask), gpu->free(dy);
	gpu->free(gdys), gpu->free(gdm);
}

/* The head sizes the CUDA attention kernels are built for (16, 24, 32, 64),
 * as (A, n_heads) of the configs and a few more. */
static const struct { int A, h; } heads[] = { { 48, 2 }, { 32, 2 }, { 192, 8 }, { 64, 2 }, { 128, 2 } };
#define N_HEADS (sizeof heads / sizeof *heads)

static void check_rope_attention(void)
{
	int B = 2, T = 100, L = 120;	// T is no multiple of any tile
	for (size_t k = 0; k < N_HEADS; k++) {
		int A = heads[k].A, h = heads[k].h, hs = A / h;
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

		// the adjoint turns a gradient back: products and sums of two, 1e-6
		float *g, *dg = gpu_start(&g, nq, 1);
		gpu->rope_backward(dg, drope, B, T, A, h);
		cpu->rope_backward(g, rope, B, T, A, h);
		snprintf(name, sizeof name, "rope_backward (T 100, head %d)", hs);
		check(name, "f32", dg, g, nq, 1e-6);
		free(g), gpu->free(dg);

		size_t no = (size_t)B * T * A, nl = (size_t)B * h * T;
		float *out = xmalloc(no * sizeof(float)), *lse = xmalloc(nl * sizeof(float));
		float *dout = gpu_poisoned(no), *dlse = gpu_poisoned(nl);
		gpu->attention_forward(dout, dlse, dqkv, B, T, A, h);
		cpu->attention_forward(out, lse, qkv, B, T, A, h);
		snprintf(name, sizeof name, "flash attention (T 100, head %d)", hs);
		check(name, "f32", dout, out, no, 1e-5);
		snprintf(name, sizeof name, "flash attention lse (head %d)", hs);
		check(name, "f32", dlse, lse, nl, 1e-6);

		// use_amp: the tensor-core kernel rounds Q, K, V and P to bf16
		// (8-bit mantissas) and accumulates in f32; the cpu stays f32
		gpu->free(dout), gpu->free(dlse);
		dout = gpu_poisoned(no), dlse = gpu_poisoned(nl);
		gpu->set_precision(BACKEND_BF16), cpu->set_precision(BACKEND_BF16);
		gpu->attention_forward(dout, dlse, dqkv, B, T, A, h);
		cpu->attention_forward(out, lse, qkv, B, T, A, h);
		gpu->set_precision(BACKEND_F32), cpu->set_precision(BACKEND_F32);
		snprintf(name, sizeof name, "flash attention (T 100, head %d)", hs);
		check(name, "bf16", dout, out, no, 2e-2);
		snprintf(name, sizeof name, "flash attention lse (head %d)", hs);
		check(name, "bf16", dlse, lse, nl, 2e-2);
		free(rope), free(qkv), free(out), free(lse);
		gpu->free(drope), gpu->free(dqkv), gpu->free(dout), gpu->free(dlse);
	}
}

static void check_attention_backward(void)
{
	// The same qkv, out, lse and dout on both sides (the cpu forward's), so
	// only the backward is compared.  1e-5: against a double-precision
	// attention, the cpu's f32 dqkv is off by 3e-7 on these inputs (4e-7
	// at head 64; 1e-6 with qkv twice as large), the GPU's sums in their
	// own order about as much again; 1e-5 leaves over ten times that.
	// attention.cu keeps the backward in f32 whatever the precision: the
	// last head size is checked once more under bf16 at the same 1e-5.
	int B = 2, T = 77;	// T: no multiple of 8, 16, 32 or 64
	for (size_t k = 0; k < N_HEADS; k++) {
		int A = heads[k].A, h = heads[k].h, hs = A / h;
		size_t nq = (size_t)B * T * 3 * A, no = (size_t)B * T * A, nl = (size_t)B * h * T;
		float *qkv = host_random(nq, 2), *dy = host_random(no, 1);
		float *out = xmalloc(no * sizeof(float)), *lse = xmalloc(nl * sizeof(float));
		cpu->attention_forward(out, lse, qkv, B, T, A, h);
		float *gqkv = to_gpu(qkv, nq), *gdy = to_gpu(dy, no), *gout = to_gpu(out, no);
		float *glse = to_gpu(lse, nl);
		for (int bf16 = 0; bf16 <= (k == N_HEADS - 1); bf16++) {
			float *dqkv, *gdqkv = gpu_start(&dqkv, nq, 0.25f);
			gpu->set_precision(bf16 ? BACKEND_BF16 : BACKEND_F32);
			gpu->attention_backward(gdqkv, gdy, gqkv, gout, glse, B, T, A, h);
			cpu->attention_backward(dqkv, dy, qkv, out, lse, B, T, A, h);
			gpu->set_precision(BACKEND_F32);
			char name[64];
			snprintf(name, sizeof name, "attention_backward (T 77, head %d)", hs);
			check(name, bf16 ? "bf16" : "f32", gdqkv, dqkv, nq, 1e-5);
			free(dqkv), gpu->free(gdqkv);
		}
		free(qkv), free(dy), free(out), free(lse);
		gpu->free(gqkv), gpu->free(gdy), gpu->free(gout), gpu->free(glse);
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
	check_gemm();
	check_linear();
	check_linear_backward();
	check_elementwise();
	check_rmsnorm_backward();
	check_gelu();
	check_dropout();
	check_sums();
	check_optimizer();
	check_features_mask();
	check_rope_attention();
	check_attention_backward();
	check_chunks();
	check_stft();
	check_stft_backward();
	check_losses();
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
					    size_t n, float p, uint64_t seed, uint64_t stream)
{
	residual_forward(out, inp, branch, n, p, seed + 1, stream);
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
