/* test_chunk.c: the chunked-inference plan covers the signal, its cross-fade
 * weights sum to 1 at every frame, an identity model reconstructs its input,
 * and a segment's interior is its own output untouched. */
#include <stdlib.h>
#include <string.h>

#include "chunk.h"
#include "test.h"
#include "util.h"

/* Float weights of two or three segments summed in float: a few ulp of 1. */
#define SUM_TOL 1e-6

static const int64_t Ls[] = { 1, 2, 3, 7, 16, 100 };
static const double overlaps[] = { 0, 0.1, 0.25, 0.5, 0.75, 0.9 };

/* Segments lie in [0, T), start at 0, end at T, leave no gap, and the
 * weights covering each frame sum to 1. */
static void check_plan(int64_t T, int64_t L, double overlap)
{
	struct chunk_plan *p = chunk_plan_create(T, L, overlap);
	int64_t Le = T < L ? T : L;
	CHECK(p->T == T && p->L == Le, "T=%lld L=%lld: plan has T=%lld L=%lld", (long long)T,
	      (long long)L, (long long)p->T, (long long)p->L);
	if (T == 0) {
		CHECK(p->n == 0, "T=0 gives %lld segments", (long long)p->n);
		chunk_plan_free(p);
		return;
	}
	CHECK(p->n >= 1 && p->start[0] == 0 && p->start[p->n - 1] + Le == T,
	      "T=%lld L=%lld ov=%g: n=%lld first %lld last end %lld", (long long)T, (long long)L,
	      overlap, (long long)p->n, (long long)p->start[0],
	      (long long)(p->start[p->n - 1] + Le));
	for (int64_t s = 1; s < p->n; s++)
		CHECK(p->start[s] > p->start[s - 1] && p->start[s] <= p->start[s - 1] + Le,
		      "T=%lld L=%lld ov=%g: segment %lld starts at %lld after %lld", (long long)T,
		      (long long)L, overlap, (long long)s, (long long)p->start[s],
		      (long long)p->start[s - 1]);
	double *sum = calloc((size_t)T, sizeof *sum);
	for (int64_t s = 0; s < p->n; s++)
		for (int64_t i = 0; i < Le; i++) {
			float w = chunk_weight(p, s, i);
			CHECK(w > 0 && w <= 1, "T=%lld L=%lld ov=%g: weight[%lld,%lld] = %g",
			      (long long)T, (long long)L, overlap, (long long)s, (long long)i, w);
			sum[p->start[s] + i] += w;
		}
	int bad = 0;
	for (int64_t t = 0; t < T; t++)
		if (fabs(sum[t] - 1) > SUM_TOL && bad++ < 3)
			CHECK(0, "T=%lld L=%lld ov=%g: weights at frame %lld sum to %.9g",
			      (long long)T, (long long)L, overlap, (long long)t, sum[t]);
	CHECK(chunk_weight(p, 0, 0) == 1 && chunk_weight(p, p->n - 1, Le - 1) == 1,
	      "T=%lld L=%lld ov=%g: a ramp at the signal's ends", (long long)T, (long long)L,
	      overlap);
	free(sum);
	chunk_plan_free(p);
}

static void test_weights_sum_to_one(void)
{
	for (size_t a = 0; a < sizeof Ls / sizeof *Ls; a++)
		for (size_t b = 0; b < sizeof overlaps / sizeof *overlaps; b++) {
			int64_t L = Ls[a];
			int64_t Ts[] = { 0, 1, L - 1, L, L + 1, L + 2, 2 * L - 1, 2 * L, 2 * L + 1,
					 3 * L + L / 2, 5 * L + 3, 1000 };
			for (size_t c = 0; c < sizeof Ts / sizeof *Ts; c++)
				if (Ts[c] >= 0)
					check_plan(Ts[c], L, overlaps[b]);
		}
	for (int64_t T = 0; T < 260; T++)	/* every remainder against the hop */
		check_plan(T, 37, 0.25);
}

static void test_short_input_single_segment(void)
{
	struct chunk_plan *p = chunk_plan_create(40, 100, 0.25);
	CHECK(p->n == 1 && p->L == 40 && p->start[0] == 0, "n=%lld L=%lld", (long long)p->n,
	      (long long)p->L);
	for (int64_t i = 0; i < p->L; i++)
		CHECK(chunk_weight(p, 0, i) == 1, "weight[%lld] = %g", (long long)i,
		      chunk_weight(p, 0, i));
	chunk_plan_free(p);
}

/* 25 % of 100 frames: a hop of 75 frames while segments fit, the last moved
 * back to end at T. */
static void test_segment_starts(void)
{
	struct chunk_plan *p = chunk_plan_create(325, 100, 0.25);
	int64_t want[] = { 0, 75, 150, 225 };
	CHECK(p->n == 4, "n = %lld", (long long)p->n);
	for (int s = 0; s < 4 && s < p->n; s++)
		CHECK(p->start[s] == want[s], "start[%d] = %lld", s, (long long)p->start[s]);
	chunk_plan_free(p);

	p = chunk_plan_create(330, 100, 0.25);
	int64_t want2[] = { 0, 75, 150, 225, 230 };
	CHECK(p->n == 5, "n = %lld", (long long)p->n);
	for (int s = 0; s < 5 && s < p->n; s++)
		CHECK(p->start[s] == want2[s], "start[%d] = %lld", s, (long long)p->start[s]);
	chunk_plan_free(p);

	p = chunk_plan_create(300, 100, 0);
	CHECK(p->n == 3 && p->start[1] == 100 && p->start[2] == 200, "overlap 0: n = %lld",
	      (long long)p->n);
	for (int64_t i = 0; i < 100; i++)
		CHECK(chunk_weight(p, 1, i) == 1, "overlap 0: weight[1,%lld] = %g", (long long)i,
		      chunk_weight(p, 1, i));
	chunk_plan_free(p);

	CHECK(chunk_segment_frames(44100 * 6, 1024) == 259, "frames of 6 s at hop 1024: %lld",
	      (long long)chunk_segment_frames(44100 * 6, 1024));
}

/* Two segments overlapping by O frames: a linear cross-fade (j+1)/(O+1). */
static void test_triangular_ramp(void)
{
	struct chunk_plan *p = chunk_plan_create(12, 8, 0.5);	/* starts 0, 4: O = 4 */
	CHECK(p->n == 2 && p->start[1] == 4, "n = %lld", (long long)p->n);
	for (int64_t j = 0; j < 4; j++) {
		CHECK_NEAR(chunk_weight(p, 1, j), (j + 1) / 5.0, 1e-7);
		CHECK_NEAR(chunk_weight(p, 0, 4 + j), (4 - j) / 5.0, 1e-7);
	}
	for (int64_t i = 0; i < 4; i++)
		CHECK(chunk_weight(p, 0, i) == 1 && chunk_weight(p, 1, 4 + i) == 1,
		      "interior weight not 1 at %lld", (long long)i);
	chunk_plan_free(p);
}

static float frand(unsigned *state)
{
	*state = *state * 1664525u + 1013904223u;
	return (float)(*state >> 8) / (float)(1u << 24) * 2 - 1;
}

/* seg_out = seg_in reconstructs the input; with seg_out = (s+1)·seg_in + s a
 * frame covered by one segment only holds that segment's value exactly. */
static void run_model(int64_t T, int64_t L, double overlap, int64_t rows, int64_t width)
{
	struct chunk_plan *p = chunk_plan_create(T, L, overlap);
	size_t nsig = (size_t)(rows * T * width), nseg = (size_t)(rows * p->L * width);
	float *x = xmalloc(nsig * sizeof *x), *id = xcalloc(nsig, sizeof *id);
	float *mod = xcalloc(nsig, sizeof *mod), *seg = xmalloc(nseg * sizeof *seg);
	float *segmod = xmalloc(nseg * sizeof *seg);
	int *cover = xcalloc((size_t)T, sizeof *cover), *owner = xcalloc((size_t)T, sizeof *owner);
	unsigned st = 12345;
	for (size_t k = 0; k < nsig; k++)
		x[k] = frand(&st);
	for (int64_t s = 0; s < p->n; s++) {
		chunk_gather(seg, x, p, s, rows, width);
		chunk_accumulate(id, seg, p, s, rows, width);
		for (size_t k = 0; k < nseg; k++)
			segmod[k] = (float)(s + 1) * seg[k] + (float)s;
		chunk_accumulate(mod, segmod, p, s, rows, width);
		for (int64_t i = 0; i < p->L; i++) {
			cover[p->start[s] + i]++;
			owner[p->start[s] + i] = (int)s;
		}
	}
	double maxerr = 0;
	for (size_t k = 0; k < nsig; k++)
		maxerr = fmax(maxerr, fabs((double)id[k] - x[k]));
	/* |x| <= 1, weights summing to 1 within a few ulp */
	CHECK(maxerr <= 1e-6, "T=%lld L=%lld ov=%g: identity model off by %.3g", (long long)T,
	      (long long)L, overlap, maxerr);
	int64_t exact = 0, interior = 0;
	for (int64_t r = 0; r < rows; r++)
		for (int64_t t = 0; t < T; t++) {
			if (cover[t] != 1)
				continue;
			for (int64_t k = 0; k < width; k++) {
				size_t at = (size_t)((r * T + t) * width + k);
				float want = (float)(owner[t] + 1) * x[at] + (float)owner[t];
				interior++;
				exact += mod[at] == want;
			}
		}
	CHECK(exact == interior, "T=%lld L=%lld ov=%g: %lld of %lld interior values not exact",
	      (long long)T, (long long)L, overlap, (long long)(interior - exact),
	      (long long)interior);
	free(x), free(id), free(mod), free(seg), free(segmod), free(cover), free(owner);
	chunk_plan_free(p);
}

static void test_identity_model(void)
{
	run_model(1000, 100, 0.25, 3, 2);	/* complex rows */
	run_model(1000, 100, 0, 2, 1);
	run_model(101, 100, 0.25, 2, 2);	/* T just above L */
	run_model(250, 100, 0.5, 2, 1);
	run_model(257, 64, 0.75, 1, 2);
	run_model(50, 100, 0.25, 2, 2);		/* one short segment */
}

/* Constant outputs a and b of two segments meet without a step: the
 * cross-faded signal moves by (b − a)/(O+1) per frame across the overlap. */
static void test_no_seams(void)
{
	struct chunk_plan *p = chunk_plan_create(140, 100, 0.25);	/* starts 0, 40 */
	float out[140] = { 0 }, seg[100];
	for (int s = 0; s < 2; s++) {
		for (int i = 0; i < 100; i++)
			seg[i] = s ? 3.0f : 1.0f;
		chunk_accumulate(out, seg, p, s, 1, 1);
	}
	double maxstep = 0;
	for (int t = 1; t < 140; t++)
		maxstep = fmax(maxstep, fabs((double)out[t] - out[t - 1]));
	CHECK(out[0] == 1 && out[139] == 3, "ends %g %g", out[0], out[139]);
	CHECK_NEAR(maxstep, 2.0 / 61, 1e-6);	/* overlap of 60 frames */
	chunk_plan_free(p);
}

int main(void)
{
	RUN(test_weights_sum_to_one);
	RUN(test_short_input_single_segment);
	RUN(test_segment_starts);
	RUN(test_triangular_ramp);
	RUN(test_identity_model);
	RUN(test_no_seams);
	return test_summary();
}
