/* test_gemm.c: the CPU's bf16 GEMM (lib/ops/gemm_bf16.c) against the
 * exact product of the bf16-rounded inputs, in every layout blas_gemm is
 * called with, and its f32 twin (gemm_f32_fused) against the exact
 * product of the inputs; attention's bf16 forward against attention in
 * double on the rounded inputs; its rounding (to nearest, ties to even, NaN kept); the
 * bias and GELU epilogue of linear_forward and linear_gelu_forward; and
 * that blas_gemm takes the bf16 path only when mixed precision is on.
 *
 * On a processor without bf16 the checks of the bf16 results are
 * skipped (said on a "#" line) and what is left checks that mixed
 * precision falls back to f32 exactly. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "rng.h"
#include "util.h"

#include "test.h"

/* the bf16 value nearest x (ties to even), as a float */
static float bf16(float x)
{
	uint32_t u;
	memcpy(&u, &x, sizeof u);
	if ((u & 0x7fffffffu) > 0x7f800000u)
		return x;
	u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
	memcpy(&x, &u, sizeof x);
	return x;
}

static void fill(float *p, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = 2 * rng_uniform(seed, 0, i) - 1;
}

/* worst |C − exact| / Σ_k |a b| over C, the exact product in double of
 * the rounded inputs: f32 accumulation of K terms stays below K · 2^-24 */
static double gemm_error(bool ta, bool tb, int M, int N, int K, float alpha, const float *A,
			 int lda, const float *B, int ldb, float beta, const float *C0,
			 const float *C, int ldc, bool round)
{
	double worst = 0;
	for (int i = 0; i < M; i++)
		for (int j = 0; j < N; j++) {
			double s = 0, mag = 0;
			for (int k = 0; k < K; k++) {
				float a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
				float b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
				if (round)
					a = bf16(a), b = bf16(b);
				s += (double)a * b;
				mag += fabs((double)a * b);
			}
			double want = alpha * s + beta * C0[(size_t)i * ldc + j];
			double e = fabs(C[(size_t)i * ldc + j] - want) / (fabs(alpha) * mag + fabs(beta) + 1e-30);
			worst = e > worst || isnan(e) ? e : worst;
		}
	return worst;
}

/* every transpose, a padded C, alpha and beta as the model uses them:
 * gemm_bf16 against the product of the rounded inputs, or (f32)
 * gemm_f32_fused against the inputs' own; C's padding kept.  Where
 * gemm_f32_fused refuses (no oneDNN kernel) C must be untouched. */
static void layouts(bool f32)
{
	int M = 37, N = 53, K = 300, ldc = N + 5;
	float *A = xmalloc(sizeof(float) * M * K), *B = xmalloc(sizeof(float) * K * N);
	float *C0 = xmalloc(sizeof(float) * M * ldc), *C = xmalloc(sizeof(float) * M * ldc);
	fill(A, (size_t)M * K, 1);
	fill(B, (size_t)K * N, 2);
	fill(C0, (size_t)M * ldc, 3);
	const float alphas[] = { 1, 0.125f }, betas[] = { 0, 1 };
	for (int t = 0; t < 4; t++)
		for (int s = 0; s < 2; s++) {
			bool ta = t & 1, tb = t & 2;
			int lda = ta ? M : K, ldb = tb ? K : N;
			memcpy(C, C0, sizeof(float) * M * ldc);
			if (!f32)
				gemm_bf16(ta, tb, M, N, K, alphas[s], A, lda, B, ldb, betas[s], C, ldc,
					  NULL, false);
			else if (!gemm_f32_fused(ta, tb, M, N, K, alphas[s], A, lda, B, ldb, betas[s], C,
						 ldc, NULL, false)) {
				CHECK(!memcmp(C, C0, sizeof(float) * M * ldc), "refused, yet C written");
				continue;
			}
			double e = gemm_error(ta, tb, M, N, K, alphas[s], A, lda, B, ldb, betas[s], C0, C,
					      ldc, !f32);
			CHECK(e < K * 0x1p-24, "%s trans %d%d alpha %g beta %g: error %.3g",
			      f32 ? "f32" : "bf16", ta, tb, alphas[s], betas[s], e);
			// the padding between rows of C is not written
			bool kept = true;
			for (int i = 0; i < M; i++)
				kept &= !memcmp(C + (size_t)i * ldc + N, C0 + (size_t)i * ldc + N,
						5 * sizeof(float));
			CHECK(kept, "trans %d%d: C's padding written", ta, tb);
		}
	free(A), free(B), free(C0), free(C);
}

static void test_layouts(void)
{
	if (!gemm_bf16_available()) {
		printf("# no bf16 on this processor: gemm_bf16 not run\n");
		return;
	}
	layouts(false);
}

/* gemm_f32_fused: every layout (layouts), the bias and GELU epilogue,
 * and M or N of 0 writing nothing. */
static void test_f32_fused(void)
{
	layouts(true);
	int M = 37, N = 53, K = 300, ldc = N + 5;
	float *A = xmalloc(sizeof(float) * M * K), *B = xmalloc(sizeof(float) * K * N);
	float *C0 = xmalloc(sizeof(float) * M * ldc), *C = xmalloc(sizeof(float) * M * ldc);
	float *bias = xmalloc(sizeof(float) * N);
	fill(A, (size_t)M * K, 1);
	fill(B, (size_t)K * N, 2);
	fill(C0, (size_t)M * ldc, 3);
	fill(bias, N, 9);
	// bias, then GELU: against blas_gemm's product with them added after
	float *R = xmalloc(sizeof(float) * M * N);
	blas_gemm(false, true, M, N, K, 1, A, K, B, K, 0, R, N);
	for (int gelu = 0; gelu < 2; gelu++) {
		if (!gemm_f32_fused(false, true, M, N, K, 1, A, K, B, K, 0, C, N, bias, gelu))
			continue;
		double worst = 0;
		for (int i = 0; i < M; i++)
			for (int j = 0; j < N; j++) {
				double s = (double)R[(size_t)i * N + j] + bias[j];
				double want = gelu ? 0.5 * s * erfc(-s / sqrt(2)) : s;
				worst = fmax(worst, fabs(C[(size_t)i * N + j] - want) / (1 + fabs(want)));
			}
		CHECK(worst < 1e-5, "epilogue %s: error %.3g", gelu ? "bias+GELU" : "bias", worst);
	}
	memcpy(C, C0, sizeof(float) * M * ldc);
	CHECK(gemm_f32_fused(false, false, 0, N, K, 1, A, K, B, N, 0, C, ldc, NULL, false) &&
		      gemm_f32_fused(false, false, M, 0, K, 1, A, K, B, N, 0, C, ldc, NULL, false) &&
		      !memcmp(C, C0, sizeof(float) * M * ldc),
	      "an empty product wrote C");
	free(A), free(B), free(C0), free(C), free(bias), free(R);
}

/* Operands in frozen memory (a model's weights at inference) are read from
 * its bf16 mirror at their own strides: the same bits as rounding them per
 * call, in every layout, for an operand in the middle of the range and
 * one that runs past its end; thawed, a GEMM sees new values. */
static void test_frozen(void)
{
	if (!gemm_bf16_available()) {
		printf("# no bf16 on this processor: gemm_bf16 not run\n");
		return;
	}
	int M = 37, N = 53, K = 300, pad = 7;
	size_t n = (size_t)(K + pad) * (N + pad) * 2 + 1000;
	float *w = xmalloc(sizeof(float) * n), *X = xmalloc(sizeof(float) * M * K);
	float *C0 = xmalloc(sizeof(float) * M * N), *C = xmalloc(sizeof(float) * M * N);
	fill(w, n, 4);
	fill(X, (size_t)M * K, 5);
	for (int frozen_len = 0; frozen_len < 2; frozen_len++)
		for (int t = 0; t < 4; t++) {
			bool ta = t & 1, tb = t & 2;
			int lda = ta ? M : K, ldb = (tb ? K : N) + pad;
			const float *B = w + 500;	// (K, N) or (N, K) at stride ldb, inside w
			gemm_bf16(ta, tb, M, N, K, 1, X, lda, B, ldb, 0, C0, N, NULL, false);
			// all of w, or w up to the middle of B (B then is not read from it)
			gemm_bf16_freeze(w, frozen_len ? 500 + (size_t)ldb * 10 : n);
			gemm_bf16(ta, tb, M, N, K, 1, X, lda, B, ldb, 0, C, N, NULL, false);
			CHECK(!memcmp(C, C0, sizeof(float) * M * N), "trans %d%d, frozen %s: differs",
			      ta, tb, frozen_len ? "in part" : "whole");
			// A frozen too: both from the mirror
			gemm_bf16(!tb, !ta, N, M, K, 1, B, ldb, X, lda, 0, C, M, NULL, false);
			gemm_bf16_thaw(w);
			gemm_bf16(!tb, !ta, N, M, K, 1, B, ldb, X, lda, 0, C0, M, NULL, false);
			CHECK(!memcmp(C, C0, sizeof(float) * M * N), "trans %d%d as A, frozen %s: differs",
			      !tb, !ta, frozen_len ? "in part" : "whole");
		}
	// the mirror is what is read: a change before thawing is not seen
	// (as documented), one after is
	gemm_bf16_freeze(w, n);
	gemm_bf16(false, false, M, N, K, 1, X, K, w, N, 0, C0, N, NULL, false);
	for (size_t i = 0; i < n; i++)
		w[i] = -w[i];
	gemm_bf16(false, false, M, N, K, 1, X, K, w, N, 0, C, N, NULL, false);
	CHECK(!memcmp(C, C0, sizeof(float) * M * N), "frozen memory read as it is, not the mirror");
	gemm_bf16_thaw(w);
	gemm_bf16(false, false, M, N, K, 1, X, K, w, N, 0, C, N, NULL, false);
	bool negated = true;
	for (int i = 0; i < M * N; i++)
		negated &= C[i] == -C0[i];
	CHECK(negated, "thawed memory changed: the GEMM read the old values");
	free(w), free(X), free(C0), free(C);
}

/* 1×1×1 products: C = round(x) · 1 shows the rounding itself */
static void test_rounding(void)
{
	if (!gemm_bf16_available())
		return;
	const float one = 1;
	const struct { float x, want; } cases[] = {
		{ 1 + 0x1p-8f, 1 },			// a tie: to the even 1
		{ 1 + 3 * 0x1p-8f, 1 + 0x1p-6f },	// a tie: to the even 1 + 2^-6
		{ 1 + 0x1p-8f + 0x1p-20f, 1 + 0x1p-7f },	// past the tie: up
		{ -3.0f, -3.0f },
		{ 0x1.fffffep127f, INFINITY },		// past bf16's largest: to infinity
		{ 0x1p-120f * (1 + 0x1p-7f), 0x1p-120f * (1 + 0x1p-7f) },	// small, exact
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		float c = -1;
		gemm_bf16(false, false, 1, 1, 1, 1, &cases[i].x, 1, &one, 1, 0, &c, 1, NULL, false);
		CHECK(c == cases[i].want, "round(%a) = %a, not %a", (double)cases[i].x, (double)c,
		      (double)cases[i].want);
	}
	float nan = NAN, c = 0;
	gemm_bf16(false, false, 1, 1, 1, 1, &nan, 1, &one, 1, 0, &c, 1, NULL, false);
	CHECK(isnan(c), "NaN times 1 is %g", (double)c);
}

/* linear_forward's bias and linear_gelu_forward's GELU in the epilogue */
static void test_linear(void)
{
	int N = 70, in = 96, out = 40;
	float *x = xmalloc(sizeof(float) * N * in), *w = xmalloc(sizeof(float) * out * in);
	float *b = xmalloc(sizeof(float) * out), *y = xmalloc(sizeof(float) * N * out);
	float *g = xmalloc(sizeof(float) * N * out);
	fill(x, (size_t)N * in, 4);
	fill(w, (size_t)out * in, 5);
	fill(b, out, 6);
	for (int on = 0; on < 2; on++) {
		gemm_set_bf16(on);
		bool bf = gemm_bf16_active();
		CHECK(bf == (on && gemm_bf16_available()), "active %d with on %d", bf, on);
		linear_forward(y, x, w, b, N, in, out);
		linear_gelu_forward(g, x, w, b, N, in, out);
		double worst = 0, worst_gelu = 0, diff_f32 = 0;
		for (int n = 0; n < N; n++)
			for (int o = 0; o < out; o++) {
				double s = b[o], mag = fabs(b[o]);
				for (int k = 0; k < in; k++) {
					float xi = x[(size_t)n * in + k], wi = w[(size_t)o * in + k];
					if (bf)
						xi = bf16(xi), wi = bf16(wi);
					s += (double)xi * wi;
					mag += fabs((double)xi * wi);
				}
				double v = y[(size_t)n * out + o], gl = g[(size_t)n * out + o];
				double gw = 0.5 * s * erfc(-s / sqrt(2));
				worst = fmax(worst, fabs(v - s) / mag);
				worst_gelu = fmax(worst_gelu, fabs(gl - gw) / (mag + 1));
				double p = b[o];	// the product of the unrounded inputs
				for (int k = 0; k < in; k++)
					p += (double)x[(size_t)n * in + k] * w[(size_t)o * in + k];
				diff_f32 = fmax(diff_f32, fabs(v - p) / mag);
			}
		CHECK(worst < in * 0x1p-24, "bf16 %d: linear error %.3g", bf, worst);
		CHECK(worst_gelu < 1e-5, "bf16 %d: linear+GELU error %.3g", bf, worst_gelu);
		// rounding the inputs moves the result by about 2^-9 of its magnitude
		if (bf)
			CHECK(diff_f32 > 1e-4, "bf16 on, yet the result is f32's (%.3g)", diff_f32);
		else
			CHECK(diff_f32 < 1e-5, "bf16 off, yet the result differs from f32 (%.3g)",
			      diff_f32);
	}
	gemm_set_bf16(false);
	free(x), free(w), free(b), free(y), free(g);
}

/* blas_gemm: bf16 when on, f32 when off, and f32 inside an OpenMP region */
static void test_routing(void)
{
	int M = 64, N = 64, K = 64;
	float *A = xmalloc(sizeof(float) * M * K), *B = xmalloc(sizeof(float) * K * N);
	float *C = xcalloc((size_t)M * N, sizeof(float)), *Z = xcalloc((size_t)M * N, sizeof(float));
	fill(A, (size_t)M * K, 7);
	fill(B, (size_t)K * N, 8);
	gemm_set_bf16(true);
	blas_gemm(false, false, M, N, K, 1, A, K, B, N, 0, C, N);
	bool bf = gemm_bf16_available();
	double e_round = gemm_error(false, false, M, N, K, 1, A, K, B, N, 0, Z, C, N, bf);
	CHECK(e_round < K * 0x1p-24, "on: error %.3g against the %s product", e_round,
	      bf ? "rounded" : "f32");
	bool inside = true;
#pragma omp parallel num_threads(2)
	{
#pragma omp single
		inside = !gemm_bf16_active();
	}
	CHECK(inside, "bf16 inside an OpenMP region");
	gemm_set_bf16(false);
	blas_gemm(false, false, M, N, K, 1, A, K, B, N, 0, C, N);
	double e = gemm_error(false, false, M, N, K, 1, A, K, B, N, 0, Z, C, N, false);
	CHECK(e < K * 0x1p-24, "off: error %.3g against the f32 product", e);
	free(A), free(B), free(C), free(Z);
}

/* attention_forward_bf16 against attention in double on the rounded
 * inputs, the probabilities rounded as the kernel rounds them (each
 * exp(s − max) to bf16, the sum of the unrounded ones dividing): f32
 * accumulation's error, and one probability's bf16 step where its f32
 * exp may round the other way; lse to f32 rounding.  Odd lengths, two
 * query blocks, heads of 16, 24 and 64; attention_forward takes this path
 * only with bf16 on. */
static void test_attention_bf16(void)
{
	static const int shapes[][3] = { { 75, 3, 24 }, { 33, 2, 64 }, { 130, 2, 16 } };	// T, heads, hs
	if (!gemm_bf16_available() || !attention_bf16_available(24)) {
		printf("# no AVX512-BF16 here: attention_forward_bf16 not run\n");
		return;
	}
	for (int c = 0; c < 3; c++) {
		int B = 2, T = shapes[c][0], H = shapes[c][1], hs = shapes[c][2], A = H * hs;
		size_t nqkv = (size_t)B * T * 3 * A;
		float *qkv = xmalloc(sizeof(float) * nqkv), *out = xmalloc(sizeof(float) * B * T * A);
		float *lse = xmalloc(sizeof(float) * B * H * T), *o2 = xmalloc(sizeof(float) * B * T * A);
		float *l2 = xmalloc(sizeof(float) * B * H * T);
		double *sc = xmalloc(sizeof(double) * T), *e = xmalloc(sizeof(double) * T);
		fill(qkv, nqkv, 10 + c);
		for (size_t i = 0; i < nqkv; i++)
			qkv[i] *= 3;	// scores of a few units: a peaked softmax
		attention_forward_bf16(out, lse, qkv, B, T, A, H);
		double worst = 0, worst_lse = 0, scale = 1 / sqrt((double)hs);
		for (int b = 0; b < B; b++)
			for (int h = 0; h < H; h++)
				for (int i = 0; i < T; i++) {
					const float *q = qkv + ((size_t)b * T + i) * 3 * A + h * hs;
					double m = -INFINITY, sum = 0;
					for (int j = 0; j < T; j++) {
						const float *k = qkv + ((size_t)b * T + j) * 3 * A + A + h * hs;
						double d = 0;
						for (int x = 0; x < hs; x++)
							d += (double)bf16(q[x]) * bf16(k[x]);
						sc[j] = d * scale;
						m = fmax(m, sc[j]);
					}
					for (int j = 0; j < T; j++)
						sum += e[j] = exp(sc[j] - m);
					double l = lse[((size_t)b * H + h) * T + i];
					worst_lse = fmax(worst_lse, fabs(l - (m + log(sum))) / (1 + fabs(l)));
					for (int x = 0; x < hs; x++) {
						double o = 0, mag = 0, step = 0;
						for (int j = 0; j < T; j++) {
							size_t at = ((size_t)b * T + j) * 3 * A + 2 * A + h * hs;
							double v = bf16(qkv[at + x]);
							double pv = bf16((float)e[j]) * v;
							o += pv;
							mag += fabs(pv);
							step = fmax(step, fabs(e[j] * v) * 0x1p-8);
						}
						double got = out[((size_t)b * T + i) * A + h * hs + x];
						double bound = (1e-5 * mag + step) / sum + 1e-30;
						double err = fabs(got - o / sum) / bound;
						worst = fmax(worst, err);
					}
				}
		CHECK(worst <= 1, "T %d, %d heads of %d: output off by %.3g of its bound", T, H, hs,
		      worst);
		CHECK(worst_lse < 1e-5, "T %d, %d heads of %d: lse error %.3g", T, H, hs, worst_lse);
		// attention_forward: this with bf16 on, the f32 forward off
		gemm_set_bf16(true);
		attention_forward(o2, l2, qkv, B, T, A, H);
		CHECK(!memcmp(o2, out, sizeof(float) * B * T * A) &&
			      !memcmp(l2, lse, sizeof(float) * B * H * T),
		      "attention_forward with bf16 on is not attention_forward_bf16");
		gemm_set_bf16(false);
		attention_forward(o2, l2, qkv, B, T, A, H);
		CHECK(memcmp(o2, out, sizeof(float) * B * T * A), "attention_forward with bf16 off is bf16's");
		free(qkv), free(out), free(lse), free(o2), free(l2), free(sc), free(e);
	}
}

int main(void)
{
	printf("# bf16 on this processor: %s\n", gemm_bf16_available() ? "yes" : "no");
	RUN(test_layouts);
	RUN(test_frozen);
	RUN(test_f32_fused);
	RUN(test_rounding);
	RUN(test_linear);
	RUN(test_routing);
	RUN(test_attention_bf16);
	return test_summary();
}
