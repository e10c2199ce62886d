/* chunk.c: segment plan and triangular cross-fade for chunked inference.
 *
 * Each segment gets a trapezoid: 1 in its interior, a linear ramp up over
 * its overlap with the previous segment and down over its overlap with the
 * next, none at the signal's ends.  Where exactly two segments overlap by O
 * frames the ramps are (j+1)/(O+1) and (O−j)/(O+1), which already sum to 1;
 * dividing by the sum of all trapezoids covering a frame keeps that true
 * when the last segment, moved back to end at T, overlaps several. */
#include "chunk.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Gather and accumulate split their rows over OpenMP's threads above this
 * many values (each row is independent: the same bits for any count). */
#define CHUNK_PARALLEL_MIN (1 << 16)

int64_t chunk_segment_frames(int64_t samples, int64_t hop)
{
	return 1 + samples / hop;
}

/* Starts on a grid of L − round(overlap·L) frames while a segment still ends
 * before T, then one segment ending exactly at T. */
int64_t chunk_hop(int64_t L, double overlap)
{
	int64_t ov = llround(overlap * (double)L);
	if (ov > L - 1)
		ov = L - 1;	/* keep the hop at least one frame */
	return L - ov;
}

static void chunk_place_segments(struct chunk_plan *p, double overlap)
{
	int64_t T = p->T, L = p->L, hop = chunk_hop(L, overlap);
	p->n = T <= L ? 1 : (T - L + hop - 1) / hop + 1;
	p->start = xmalloc((size_t)p->n * sizeof *p->start);
	for (int64_t s = 0; s < p->n - 1; s++)
		p->start[s] = s * hop;
	p->start[p->n - 1] = T - L;
}

double chunk_ramp(int64_t L, int64_t in, int64_t out, int64_t i)
{
	double w = 1;
	if (i < in)
		w = (double)(i + 1) / (double)(in + 1);
	if (i >= L - out)
		w = fmin(w, (double)(L - i) / (double)(out + 1));
	return w;
}

/* Unnormalised trapezoid of segment s at local frame i. */
static double chunk_trapezoid(const struct chunk_plan *p, int64_t s, int64_t i)
{
	int64_t L = p->L, in = 0, out = 0;
	if (s > 0)
		in = p->start[s - 1] + L - p->start[s];
	if (s < p->n - 1)
		out = p->start[s] + L - p->start[s + 1];
	return chunk_ramp(L, in, out, i);
}

static void chunk_compute_weights(struct chunk_plan *p)
{
	int64_t L = p->L;
	double *sum = xcalloc((size_t)p->T, sizeof *sum);	/* [T] */
	for (int64_t s = 0; s < p->n; s++)
		for (int64_t i = 0; i < L; i++)
			sum[p->start[s] + i] += chunk_trapezoid(p, s, i);
	p->weight = xmalloc((size_t)(p->n * L) * sizeof *p->weight);
	for (int64_t s = 0; s < p->n; s++)
		for (int64_t i = 0; i < L; i++)
			p->weight[s * L + i] = (real)(chunk_trapezoid(p, s, i) / sum[p->start[s] + i]);
	free(sum);
}

struct chunk_plan *chunk_plan_create(int64_t T, int64_t L, double overlap)
{
	if (T < 0 || L < 1 || !(overlap >= 0 && overlap < 1))
		die("chunk_plan_create: invalid plan: T=%lld L=%lld overlap=%g",
		    (long long)T, (long long)L, overlap);
	struct chunk_plan *p = xcalloc(1, sizeof *p);
	p->T = T;
	p->L = T < L ? T : L;
	if (T == 0)
		return p;
	chunk_place_segments(p, overlap);
	chunk_compute_weights(p);
	return p;
}

void chunk_plan_free(struct chunk_plan *p)
{
	if (!p)
		return;
	free(p->start);
	free(p->weight);
	free(p);
}

real chunk_weight(const struct chunk_plan *p, int64_t s, int64_t i)
{
	return p->weight[s * p->L + i];
}

void chunk_gather(real *seg, const real *in, const struct chunk_plan *p, int64_t s,
		  int64_t rows, int64_t width)
{
	// seg is (rows, L, width), in is (rows, T, width)
	int64_t T = p->T, L = p->L, t0 = p->start[s];
	#pragma omp parallel for if (rows * L * width > CHUNK_PARALLEL_MIN)
	for (int64_t r = 0; r < rows; r++)
		memcpy(seg + r * L * width, in + (r * T + t0) * width,
		       (size_t)(L * width) * sizeof *seg);
}

void chunk_accumulate(real *out, const real *seg, const struct chunk_plan *p, int64_t s,
		      int64_t rows, int64_t width)
{
	// out is (rows, T, width), seg is (rows, L, width)
	int64_t T = p->T, L = p->L, t0 = p->start[s];
	const real *w = p->weight + s * L;
	#pragma omp parallel for if (rows * L * width > CHUNK_PARALLEL_MIN)
	for (int64_t r = 0; r < rows; r++) {
		real *o = out + (r * T + t0) * width;
		const real *x = seg + r * L * width;
		if (width == 2) {	// complex: the pair as one, which GCC vectorizes
			for (int64_t i = 0; i < L; i++) {
				o[2 * i] += w[i] * x[2 * i];
				o[2 * i + 1] += w[i] * x[2 * i + 1];
			}
			continue;
		}
		for (int64_t i = 0; i < L; i++)
			for (int64_t k = 0; k < width; k++)
				o[i * width + k] += w[i] * x[i * width + k];
	}
}
