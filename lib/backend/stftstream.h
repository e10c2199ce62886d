/* stftstream.h: the STFT and iSTFT of a track that arrives in pieces,
 * equal to the whole track's (dsp/stft.h semantics) frame for frame and
 * sample for sample, on a backend's STFT plans.
 *
 * Forward: samples are pushed as they come; a frame is final once every
 * sample its window covers has arrived (t·hop + n_fft/2 < samples pushed)
 * or the track has ended (its last frames reflect at the end).  A take
 * transforms the samples its frames cover, from m = n_fft/(2·hop) + 1
 * frames before the first (stft_span), so every frame's window lies
 * inside them or meets the track's own ends: the same numbers as the
 * whole track's STFT.  Memory: the samples not yet covered by a taken
 * frame, plus a take's frames.
 *
 * Inverse: frames are pushed as they come; the samples every one of whose
 * frames has arrived (before t1·hop − n_fft/2 for frames up to t1) are
 * inverted with the frames kept from before (those covering samples not
 * made yet, and enough for the inverse's reflect length) and handed out.
 * Memory: the kept frames plus a push's (a group's of rows, pushed by
 * groups). */
#ifndef SEPNET_STFTSTREAM_H
#define SEPNET_STFTSTREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"

/* The samples [*a, *b) whose STFT holds frames t0 .. t1 of a track of N
 * samples (-1: its end not reached) exactly, at frames t0 − *a/hop on. */
void stft_span(int n_fft, int hop, int64_t t0, int64_t t1, int64_t N, int64_t *a, int64_t *b);

struct stft_stream;

/* rows signals (channels) at a time, host memory in and out */
struct stft_stream *stft_stream_create(const struct backend *be, int n_fft, int hop, int64_t rows);
void stft_stream_free(struct stft_stream *s);
/* A new track. */
void stft_stream_begin(struct stft_stream *s);
/* Its next n samples of every row, x[r · stride + i]; last: its end.
 * Returns -1 when the track ends with n_fft/2 samples or fewer (too few
 * for the reflect padding). */
int stft_stream_push(struct stft_stream *s, const float *x, int64_t stride, int64_t n, bool last);
/* Frames final and not taken yet. */
int64_t stft_stream_ready(const struct stft_stream *s);
/* The next n of them: out (rows, F, n) interleaved complex. */
void stft_stream_take(struct stft_stream *s, float *out, int64_t n);
/* stft_stream_take without out: put(ctx, bin, n) once per (row, bin) in
 * out's order, bin the n complex values where the stream holds them
 * (until its next call), for a caller that writes them out (stft: no
 * record-sized copy). */
void stft_stream_take_rows(struct stft_stream *s, int64_t n,
			   void (*put)(void *ctx, const float *bin, int64_t n), void *ctx);
/* Samples pushed. */
int64_t stft_stream_samples(const struct stft_stream *s);

struct istft_stream;

struct istft_stream *istft_stream_create(const struct backend *be, int n_fft, int hop,
					 int64_t rows);
void istft_stream_free(struct istft_stream *s);
/* A new track of N samples (-1: (T − 1)·hop for its T frames). */
void istft_stream_begin(struct istft_stream *s, int64_t N);
/* The track's length, once known (before its last push). */
void istft_stream_length(struct istft_stream *s, int64_t N);
/* Its next n frames, spec (rows, F, n) interleaved complex; last: its
 * end.  Returns the samples made final, (rows, m) at *y (valid until the
 * next call), or -1 when the frames cannot make the track's length (the
 * caller checks N against the frames first). */
int64_t istft_stream_push(struct istft_stream *s, const float *spec, int64_t n, bool last,
			  const float **y);
/* istft_stream_push in two steps, for a caller that reads the frames
 * straight into place (istft: no record-sized copy of its own): place
 * returns where the next n frames go, row q (of rows·F) at
 * at + 2·q·stride, n complex values each; push_placed then pushes them. */
float *istft_stream_place(struct istft_stream *s, int64_t n, int64_t *stride);
int64_t istft_stream_push_placed(struct istft_stream *s, bool last, const float **y);
/* The same by groups of rows, for a caller that reads a push's frames
 * signal by signal (istft: a stem's channel at a time, so no more than a
 * group's frames are in memory at once): place_rows takes rows r0 .. r0 + nr
 * (of rows, each of F rows of bins), in order, every group of a push
 * with the same n; push_rows inverts them and returns their samples made
 * final, (nr, m) at *y (m the same for every group of a push), or -1 as
 * push_placed.  The push is made when its last row has been pushed. */
float *istft_stream_place_rows(struct istft_stream *s, int64_t n, int64_t r0, int64_t nr,
			       int64_t *stride);
int64_t istft_stream_push_rows(struct istft_stream *s, bool last, const float **y);
/* Samples handed out so far. */
int64_t istft_stream_samples(const struct istft_stream *s);

#endif
