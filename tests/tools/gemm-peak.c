/* gemm-peak: the GEMM rates of this machine through sepnet's own GEMMs,
 * the roofline that make bench holds each stage against.
 *
 *   gemm-peak [-n N] [-r REPEATS]     sgemm=GFLOP/s bf16=GFLOP/s
 *   gemm-peak --has-bf16              yes or no
 *
 * sgemm: blas_gemm (OpenBLAS, split over OMP_NUM_THREADS threads as the
 * model's GEMMs are) on N×N×N, default 2048; bf16: gemm_bf16 (oneDNN, the
 * rounding of both operands included, as the model pays it), 0 on a
 * processor without bf16.  Best of REPEATS (default 5), after a warm-up. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops.h"
#include "rng.h"
#include "util.h"

static const char usage[] = "usage: gemm-peak [-n N] [-r REPEATS] | --has-bf16";

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

int main(int argc, char **argv)
{
	int n = 2048, repeats = 5, c;
	static const struct option longs[] = {
		{ "has-bf16", no_argument, NULL, 'b' }, { "help", no_argument, NULL, 'h' }, { 0 } };
	while ((c = getopt_long(argc, argv, "n:r:h", longs, NULL)) != -1) {
		switch (c) {
		case 'b':
			puts(gemm_bf16_available() ? "yes" : "no");
			return 0;
		case 'n':
			if (parse_int(optarg, &n) || n < 16 || n > 16384)
				die_usage("-n: a size from 16 to 16384, not '%s'", optarg);
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
	size_t nn = (size_t)n * n;
	float *a = xmalloc_big(nn * sizeof(float)), *b = xmalloc_big(nn * sizeof(float));
	float *out = xmalloc_big(nn * sizeof(float));
	for (size_t i = 0; i < nn; i++)
		a[i] = rng_uniform(1, 0, i) - 0.5f, b[i] = rng_uniform(2, 0, i) - 0.5f;
	double s = rate(false, n, repeats, a, b, out);
	double h = gemm_bf16_available() ? rate(true, n, repeats, a, b, out) : 0;
	printf("sgemm=%.1f bf16=%.1f\n", s, h);
	free(a), free(b), free(out);
	return 0;
}
