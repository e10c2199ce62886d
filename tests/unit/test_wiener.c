/* test_wiener.c: the Wiener post-filter's op (lib/ops/wiener.c) against
 * norbert's expectation_maximization (tests/golden/wiener.snt from
 * tests/reference/golden-wiener.py): stereo and mono, one and two
 * iterations, a loud mixture (norbert.wiener's scale) and a quiet one, the
 * frames in rows of their own length and inside longer rows. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "snt.h"
#include "test.h"
#include "util.h"

static int header_int(const struct snt_header *h, const char *key)
{
	const char *v = snt_header_get(h, key);
	int i;
	if (!v || parse_int(v, &i))
		die("golden record lacks %s", key);
	return i;
}

/* rows (rows, n) complex copied into rows of `stride` frames at frame `at` */
static float *embed(const float *x, int64_t rows, int64_t n, int64_t stride, int64_t at)
{
	float *y = xcalloc((size_t)rows * stride * 2, sizeof(float));
	for (int64_t r = 0; r < rows; r++)
		memcpy(y + (r * stride + at) * 2, x + r * n * 2, (size_t)n * 2 * sizeof(float));
	return y;
}

/* max |a − b| over max |b|, a in rows of `stride` frames at `at` */
static double rel_error(const float *a, const float *b, int64_t rows, int64_t n, int64_t stride,
			int64_t at)
{
	double m = 0, e = 0;
	for (int64_t r = 0; r < rows; r++)
		for (int64_t i = 0; i < 2 * n; i++) {
			double got = a[(r * stride + at) * 2 + i], want = b[r * n * 2 + i];
			m = fmax(m, fabs(want));
			e = isnan(got) ? INFINITY : fmax(e, fabs(got - want));
		}
	return e / m;
}

static void test_golden_norbert(void)
{
	char path[4096];
	const char *root = getenv("SEPNET_ROOT");
	snprintf(path, sizeof path, "%s/tests/golden/wiener.snt", root ? root : ".");
	struct snt_reader *r = snt_reader_open(path);
	if (!r)
		die("%s:", path);
	struct snt_header h;
	snt_header_init(&h);
	int cases = 0;
	for (;;) {
		float *rec[3];
		int64_t shape[3][4];
		char name[64] = "";
		int iterations = 0, k;
		for (k = 0; k < 3 && snt_read_header_or_die(r, &h) == 1; k++) {
			memcpy(shape[k], h.shape, sizeof shape[k]);
			snprintf(name, sizeof name, "%s", snt_header_get(&h, "case"));
			iterations = header_int(&h, "iterations");
			rec[k] = snt_read_payload_alloc_or_die(r, &h);
		}
		if (k == 0)
			break;
		CHECK(k == 3, "%s: %d records of a case", path, k);
		if (k < 3)
			break;
		int S = (int)shape[1][0], C = (int)shape[0][0], F = (int)shape[0][1];
		int64_t T = shape[0][2];
		static const int64_t pad[][2] = { { 0, 0 }, { 3, 11 } };	// frames before, after
		for (int p = 0; p < 2; p++) {
			int64_t at = pad[p][0], stride = T + pad[p][0] + pad[p][1];
			float *x = embed(rec[0], (int64_t)C * F, T, stride, at);
			float *y = embed(rec[1], (int64_t)S * C * F, T, stride, at);
			backend_cpu.wiener_em(y + at * 2, x + at * 2, S, C, F, stride, T, iterations);
			double err = rel_error(y, rec[2], (int64_t)S * C * F, T, stride, at);
			// norbert in complex128 from the same f32 inputs; here double
			// inside, f32 out: the error is the output's rounding
			CHECK(err < 2e-6, "%s, stride %lld: error %.3g of the largest value", name,
			      (long long)stride, err);
			// frames outside [at, at + T) untouched
			bool kept = true;
			for (int64_t row = 0; row < (int64_t)S * C * F; row++)
				for (int64_t t = 0; t < stride; t++)
					if (t < at || t >= at + T)
						kept &= y[(row * stride + t) * 2] == 0 &&
							y[(row * stride + t) * 2 + 1] == 0;
			CHECK(kept, "%s: frames outside the block written", name);
			free(x), free(y);
		}
		for (k = 0; k < 3; k++)
			free(rec[k]);
		cases++;
	}
	CHECK(cases == 4, "%s: %d cases, 4 expected", path, cases);
	snt_header_free(&h);
	snt_reader_close(r);
}

/* Zero iterations and zero frames leave the stems as they are. */
static void test_nothing_to_do(void)
{
	float x[2 * 3 * 4 * 2], y[4 * 2 * 3 * 4 * 2], y0[sizeof y / sizeof *y];
	for (size_t i = 0; i < sizeof x / sizeof *x; i++)
		x[i] = (float)i;
	for (size_t i = 0; i < sizeof y / sizeof *y; i++)
		y[i] = y0[i] = (float)(i % 7) - 3;
	backend_cpu.wiener_em(y, x, 4, 2, 3, 4, 4, 0);
	backend_cpu.wiener_em(y, x, 4, 2, 3, 4, 0, 2);
	CHECK(!memcmp(y, y0, sizeof y), "the stems changed");
}

int main(void)
{
	RUN(test_golden_norbert);
	RUN(test_nothing_to_do);
	return test_summary();
}
