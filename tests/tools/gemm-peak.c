/* gemm-peak: the GEMM rates of this machine through sepnet's own GEMMs,
 * the roofline that make bench holds each stage against.
 *
 *   gemm-peak [-n N] [-r REPEATS]     sgemm=GFLOP/s bf16=GFLOP/s openblas=.. onednn=..
 *   gemm-peak -m CONFIG [-r REPEATS]  model_sgemm=GFLOP/s model_bf16=GFLOP/s
 *   gemm-peak --has-bf16              yes or no
 *
 * sgemm: blas_gemm on N×N×N, default 2048, the faster of its two f32
 * kernels: OpenBLAS's (split over OMP_NUM_THREADS threads; openblas=)
 * and oneDNN's (onednn=, what the model's GEMMs run now); bf16: gemm_bf16 (oneDNN, the
 * rounding of both operands included, as the model pays it), 0 on a
 * processor without bf16.  Best of REPEATS (default 5), after a warm-up.
 *
 * -m: the GEMMs of a transformer config's forward over one segment, alone,
 * at their own shapes and through the same calls (transformer.c, block.c,
 * attention.c, as sepnet-fwd makes them): the input projection and the
 * head (stem by stem into one stem's buffer, beta 0) through blas_gemm,
 * the linears through linear_forward (bias included), the weights frozen
 * (gemm_bf16_freeze: bf16 reads them rounded once, as model_freeze has it),
 * attention's tiles serially inside a parallel region over (head, query
 * block), or in bf16 where attention_forward runs it the fused bf16
 * forward (attention_bf16.c, its softmax included).  Their rate is the attainable roofline: the 2048³ one no GEMM
 * of K = 192 reaches. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "config.h"
#include "ops.h"
#include "rng.h"
#include "util.h"

static const char usage[] = "usage: gemm-peak [-n N | -m CONFIG] [-r REPEATS] | --has-bf16";

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + 1e-9 * t.tv_nsec;
}

static double rate(bool bf16, int n, int repeats, const float *a, const float *b, float *c)
{
	double best = 1e99;
	for (int r = 0; r <= repeats; r++) {	// r == 0: the warm-up (oneDNN compiles its kernel)
		double t = now();
		if (bf16)
			gemm_bf16(false, false, n, n, n, 1, a, n, b, n, 0, c, n, NULL, false);
		else
			blas_gemm(false, false, n, n, n, 1, a, n, b, n, 0, c, n);
		t = now() - t;
		if (r > 0 && t < best)
			best = t;
	}
	return 2.0 * n * n * n / best * 1e-9;
}

/* ---- -m: a segment's GEMMs ---- */

struct seg {
	int T, d, A, h, Din, Dout, layers, n_ffn, hidden[CONFIG_MAX_FFN];
	size_t widest;		/* wbig is widest × widest */
	float *feat, *in_w, *z, *wbig, *bias, *act, *act2, *qkv, *S, *mask, *out_w, *lse;
	size_t S_per;
	double flops;
};

static float *filled(size_t n, uint64_t seed)
{
	float *p = xmalloc_big(n * sizeof(float));
	for (size_t i = 0; i < n; i++)
		p[i] = rng_uniform(seed, 0, i) - 0.5f;
	return p;
}

static void seg_create(struct seg *g, const struct config *c)
{
	g->T = (int)(1 + c->segment_length / c->hop_length);
	g->d = c->emb_dim, g->A = c->attention_dim, g->h = c->n_heads, g->layers = c->n_layers;
	g->Din = 2 * c->channels * config_freq_bins(c), g->Dout = c->n_sources * g->Din;
	g->n_ffn = c->n_ffn;
	int widest = 3 * g->A > g->d ? 3 * g->A : g->d;
	for (int j = 0; j < c->n_ffn; j++) {
		g->hidden[j] = c->ffn_hidden_dim[j];
		widest = g->hidden[j] > widest ? g->hidden[j] : widest;
	}
	g->widest = widest;
	size_t T = g->T;
	g->feat = filled((size_t)g->Din * T, 1), g->in_w = filled((size_t)g->d * g->Din, 2);
	g->out_w = filled((size_t)g->Dout * g->d, 3);
	g->wbig = filled((size_t)widest * widest, 4), g->bias = filled(widest, 5);
	g->z = filled(T * g->d, 6), g->act = filled(T * widest, 7), g->act2 = filled(T * widest, 8);
	g->qkv = filled(T * 3 * g->A, 9), g->lse = filled(T * g->h, 10);
	g->mask = xmalloc_big((size_t)g->Din * T * sizeof(float));	// one stem's
	g->S_per = (size_t)ATT_QB * ATT_KB;
	g->S = xmalloc_big((size_t)max_threads() * g->S_per * sizeof(float));
	// the bench's count (bench-model.sh): 2 × every GEMM's multiply-adds
	double block = 4.0 * g->A * g->d + 2.0 * T * g->A, prev = g->d;
	for (int j = 0; j < g->n_ffn; j++)
		block += prev * g->hidden[j], prev = g->hidden[j];
	block += prev * g->d;
	g->flops = 2.0 * T * (2.0 * g->Din * g->d + g->layers * block);
	g->flops += 2.0 * T * g->d * g->Dout - 2.0 * T * g->Din * g->d;	// the head is Dout wide
}

static void seg_free(struct seg *g)
{
	free(g->feat), free(g->in_w), free(g->out_w), free(g->wbig), free(g->bias);
	free(g->z), free(g->act), free(g->act2), free(g->qkv), free(g->mask), free(g->S);
	free(g->lse);
}

static void seg_attention(struct seg *g)
{
	int T = g->T, A = g->A, hs = A / g->h, ld = 3 * A, n_qb = (T + ATT_QB - 1) / ATT_QB;
	if (gemm_bf16_active() && attention_bf16_available(hs)) {	// as attention_forward
		attention_forward_bf16(g->act, g->lse, g->qkv, 1, T, A, g->h);
		return;
	}
	#pragma omp parallel
	{
#ifdef _OPENMP
		float *S = g->S + (size_t)omp_get_thread_num() * g->S_per;
#else
		float *S = g->S;
#endif
		#pragma omp for schedule(static)
		for (int unit = 0; unit < g->h * n_qb; unit++) {
			int h = unit / n_qb, q0 = unit % n_qb * ATT_QB;
			int nq = T - q0 < ATT_QB ? T - q0 : ATT_QB;
			const float *Q = g->qkv + (size_t)q0 * ld + h * hs;
			float *O = g->act + (size_t)q0 * A + h * hs;
			for (int k0 = 0; k0 < T; k0 += ATT_KB) {
				int nk = T - k0 < ATT_KB ? T - k0 : ATT_KB;
				const float *K = g->qkv + (size_t)k0 * ld + A + h * hs, *V = K + A;
				blas_gemm(false, true, nq, nk, hs, 1, Q, ld, K, ld, 0, S, ATT_KB);
				blas_gemm(false, false, nq, hs, nk, 1, S, ATT_KB, V, ld, 1, O, A);
			}
		}
	}
}

static void seg_forward(struct seg *g)
{
	int T = g->T, d = g->d, A = g->A;
	blas_gemm(true, true, T, d, g->Din, 1, g->feat, T, g->in_w, g->Din, 1, g->z, d);
	for (int l = 0; l < g->layers; l++) {
		linear_forward(g->qkv, g->z, g->wbig, g->bias, T, d, 3 * A);
		seg_attention(g);
		linear_forward(g->act2, g->act, g->wbig, g->bias, T, A, d);
		int prev = d;
		float *in = g->z, *out = g->act;
		for (int j = 0; j < g->n_ffn; j++) {
			linear_forward(out, in, g->wbig, g->bias, T, prev, g->hidden[j]);
			prev = g->hidden[j];
			in = out, out = out == g->act ? g->act2 : g->act;
		}
		linear_forward(out, in, g->wbig, g->bias, T, prev, d);
	}
	// the head stem by stem, beta 0, as the separator's mask_sink has it
	int Din = g->Din;
	for (int s = 0; s < g->Dout / Din; s++)
		blas_gemm(false, true, Din, T, d, 1, g->out_w + (size_t)s * Din * d, d, g->z, d, 0,
			  g->mask, T);
}

static double model_rate(bool bf16, const struct config *c, int repeats)
{
	struct seg g = { 0 };
	seg_create(&g, c);
	// the weights frozen, as sepnet-fwd has them (model_freeze): bf16
	// reads them rounded once
	const float *weights[] = { g.in_w, g.wbig, g.out_w };
	size_t sizes[] = { (size_t)g.d * g.Din, g.widest * g.widest, (size_t)g.Dout * g.d };
	for (int i = 0; i < 3; i++)
		gemm_bf16_freeze(weights[i], sizes[i]);
	gemm_set_bf16(bf16);
	double best = 1e99;
	for (int r = 0; r <= repeats; r++) {	// r == 0: the warm-up (first touches, JIT)
		double t = now();
		seg_forward(&g);
		t = now() - t;
		if (r > 0 && t < best)
			best = t;
	}
	gemm_set_bf16(false);
	for (int i = 0; i < 3; i++)
		gemm_bf16_thaw(weights[i]);
	double rate = g.flops / best * 1e-9;
	seg_free(&g);
	return rate;
}

int main(int argc, char **argv)
{
	int n = 2048, repeats = 5, c;
	const char *cfg_path = NULL;
	set_progname(argv[0]);
	static const struct option longs[] = {
		{ "has-bf16", no_argument, NULL, 'b' }, { "help", no_argument, NULL, 'h' }, { 0 } };
	while ((c = getopt_long(argc, argv, "n:m:r:h", longs, NULL)) != -1) {
		switch (c) {
		case 'b':
			puts(gemm_bf16_available() ? "yes" : "no");
			return 0;
		case 'n':
			if (parse_int(optarg, &n) || n < 16 || n > 16384)
				die_usage("-n: a size from 16 to 16384, not '%s'", optarg);
			break;
		case 'm':
			cfg_path = optarg;
			break;
		case 'r':
			if (parse_int(optarg, &repeats) || repeats < 1)
				die_usage("-r: a positive count, not '%s'", optarg);
			break;
		case 'h':
			puts(usage);
			return 0;
		default:
			die_usage("%s", usage);
		}
	}
	if (cfg_path) {
		struct config cfg;
		config_defaults(&cfg);
		config_load_or_die(&cfg, cfg_path);
		if (strcmp(cfg.arch, "transformer"))
			die("%s: -m times the transformer's GEMMs, not arch %s", cfg_path, cfg.arch);
		double s = model_rate(false, &cfg, repeats);
		double h = gemm_bf16_available() ? model_rate(true, &cfg, repeats) : 0;
		printf("model_sgemm=%.1f model_bf16=%.1f\n", s, h);
		return 0;
	}
	size_t nn = (size_t)n * n;
	float *a = xmalloc_big(nn * sizeof(float)), *b = xmalloc_big(nn * sizeof(float));
	float *out = xmalloc_big(nn * sizeof(float));
	for (size_t i = 0; i < nn; i++)
		a[i] = rng_uniform(1, 0, i) - 0.5f, b[i] = rng_uniform(2, 0, i) - 0.5f;
	gemm_set_f32_onednn(false);
	double ob = rate(false, n, repeats, a, b, out);
	gemm_set_f32_onednn(true);
	double dn = rate(false, n, repeats, a, b, out);
	double h = gemm_bf16_available() ? rate(true, n, repeats, a, b, out) : 0;
	printf("sgemm=%.1f bf16=%.1f openblas=%.1f onednn=%.1f\n", ob > dn ? ob : dn, h, ob, dn);
	free(a), free(b), free(out);
	return 0;
}
