/* chunk.h: chunked inference over STFT frames (sepnet-fwd, validation).
 *
 * A long spectrogram of T frames is cut into segments of L frames (the length
 * the model was trained on, chunk_segment_frames()), consecutive segments
 * overlapping by round(overlap × L) frames; the last segment is moved back to
 * end exactly at T, so every segment lies inside [0, T) and no padding is
 * ever needed.  When T <= L there is a single segment of T frames: the model
 * takes any length, so a short input runs once, whole.
 *
 * The segments' outputs are cross-faded: inside an overlap the earlier
 * segment ramps down and the later one ramps up linearly (triangular
 * cross-fade), elsewhere a segment's weight is exactly 1, and there is no ramp
 * at the signal's two ends.  Weights are normalised so that at every frame the
 * weights of the segments covering it sum to 1 (up to float rounding), also
 * when the moved last segment overlaps more than one earlier segment.
 *
 * Data layout, generic over what a "row" is: a signal is [rows, T, width]
 * floats, a segment [rows, L, width] floats, with width 2 for interleaved
 * complex (c64 spectrograms: rows = C·F for a mixture, S·C·F for stems) and
 * 1 for real data.  sepnet-fwd loops:
 *
 *   struct chunk_plan *p = chunk_plan_create(T, L, overlap);
 *   memset(out, 0, …);
 *   for (s = 0; s < p->n; s++) {
 *       chunk_gather(seg_in, x, p, s, C * F, 2);	// [C, F, L] complex
 *       model_forward(…, seg_in, seg_out);		// [S, C, F, L] complex
 *       chunk_accumulate(out, seg_out, p, s, S * C * F, 2);
 *   }
 *   chunk_plan_free(p);
 */
#ifndef SEPNET_CHUNK_H
#define SEPNET_CHUNK_H

#include <stdint.h>
#include "real.h"

struct chunk_plan {
	int64_t T;		/* frames of the whole signal */
	int64_t L;		/* frames per segment: min(T, requested L) */
	int64_t n;		/* number of segments; 0 when T == 0 */
	int64_t *start;		/* [n] first frame of each segment, increasing */
	real *weight;		/* [n, L] cross-fade weight of segment s, local frame i */
};

/* STFT frames of a segment of `samples` samples with hop `hop` (centered
 * frames, as stft and torch.stft(center=True) make them). */
int64_t chunk_segment_frames(int64_t samples, int64_t hop);

/* T >= 0, L >= 1, 0 <= overlap < 1 (fraction of L; the caller validates
 * user input, a violation here is a bug and dies). */
struct chunk_plan *chunk_plan_create(int64_t T, int64_t L, double overlap);
void chunk_plan_free(struct chunk_plan *p);

/* The grid of the segments' starts: L − round(overlap·L) frames, at least 1. */
int64_t chunk_hop(int64_t L, double overlap);
/* The unnormalised trapezoid of a segment of L frames that overlaps the
 * one before it by `in` frames and the one after by `out`, at local frame
 * i: the plan's weights are these divided by their sum at each frame
 * (separate.c's streaming separator sums and divides itself). */
double chunk_ramp(int64_t L, int64_t in, int64_t out, int64_t i);

/* Weight of segment s at its local frame i (0 <= i < L). */
real chunk_weight(const struct chunk_plan *p, int64_t s, int64_t i);

/* seg [rows, L, width] = in [rows, T, width] at frames start[s] .. start[s]+L */
void chunk_gather(real *seg, const real *in, const struct chunk_plan *p, int64_t s,
		  int64_t rows, int64_t width);

/* out [rows, T, width] += weight[s, i] · seg [rows, L, width] at frame
 * start[s] + i.  out starts zeroed; after every segment it holds the
 * cross-faded signal.  Inside a segment's own interior (weight 1) the value
 * is the segment's output exactly. */
void chunk_accumulate(real *out, const real *seg, const struct chunk_plan *p, int64_t s,
		      int64_t rows, int64_t width);

#endif
