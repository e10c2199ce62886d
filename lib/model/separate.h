/* separate.h: separation of whole records (sepnet-fwd, validation).
 *
 * A separator runs an inference model (model.h, on its backend) over
 * records of any length: a long spectrogram is cut into segments of the
 * model's max_frames overlapping by `overlap` (a fraction), up to
 * max_batch of them per model_forward, and the stems are cross-faded back
 * together (chunk.h).
 *
 * Waveform mode does the STFT and the iSTFT on the backend too, so a record
 * crosses the host-device boundary once each way as audio. */
#ifndef SEPNET_SEPARATE_H
#define SEPNET_SEPARATE_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "model.h"

struct separator;

/* m: the model (its weights set), for segments of m->max_frames frames,
 * m->max_batch per forward pass; it must outlive the separator. */
struct separator *separator_create(struct model *m);
void separator_free(struct separator *sp);
/* fn(ctx, done, total) after each batch of a record's segments (the work
 * enqueued, on a device), for a progress line; NULL: none. */
void separator_on_progress(struct separator *sp, void (*fn)(void *ctx, int64_t done, int64_t total),
			   void *ctx);

/* Copy the input of a coming record, x (floats, host memory: page-locked
 * from be->host_alloc for a real overlap), to the backend on its copy
 * stream, into stage k (0 or 1), while earlier work computes; may be
 * called from a thread other than the separator's.  separator_staged(),
 * from the separator's thread, orders the copies made so far before the
 * work enqueued next; separator_spectrogram or separator_waveform given the
 * same x then use the copy (once).  On a host backend x is used in place. */
void separator_stage(struct separator *sp, int k, const real *x, size_t floats);
void separator_staged(struct separator *sp);

/* ---- one track, streamed ----
 *
 * separator_begin starts a track of `total` frames (-1: unknown until the
 * last push) whose stems idx[0 .. n_out) are kept; separator_push appends
 * its next n frames x (C, F, n) complex, host memory (or staged), and runs
 * every segment that can run; separator_ready says how many frames are
 * final (no segment still to run covers them) and separator_take hands
 * out the next n of them: out (n_out, C, F, n) complex, host memory.
 * Pushing a track in any pieces gives the stems of pushing it whole, to
 * float rounding (exactly chunk.h's plan when the total is known from the
 * start); memory holds the frames not yet taken plus a segment. */
/* Segments of `frames` frames (1 to the model's max_frames; 0: those) from
 * the next track on: shorter segments, less latency for a live stream. */
void separator_segment(struct separator *sp, int64_t frames);
/* The Wiener post-filter from the next track on (sepnet-fwd --wiener):
 * `iterations` of EM (ops.h's wiener_em; 0: off) over every stem against
 * the mixture, in blocks of `frames` final frames from the track's first
 * (Open-Unmix's 300; the last block shorter), before they are taken.  The
 * blocks do not depend on how the track is pushed; a live stream's stems
 * wait for their block to fill. */
void separator_wiener(struct separator *sp, int iterations, int64_t frames);
void separator_begin(struct separator *sp, double overlap, int64_t total, const int *idx,
		     int n_out);
void separator_push(struct separator *sp, const real *x, int64_t n, bool last);
/* separator_push of frames t0 .. t0 + n of the record x (C, F, T) complex
 * (host memory, or staged: on a device backend each call copies x whole,
 * so push whole records there). */
void separator_push_part(struct separator *sp, const real *x, int64_t T, int64_t t0, int64_t n,
			 bool last);
/* The frames to push next: those before the next max_batch segments can
 * run (or the track ends), at most max_batch hops, at least 1.  A caller
 * that holds more frames and pushes them this many at a time, taking
 * every ready frame after each push, keeps the stems' window at a batch
 * of segments (less the hop) and the input's at L − 1 frames and a
 * batch's hops: pushed whole, both hold the chunk's frames plus a
 * segment. */
int64_t separator_wants(const struct separator *sp);
/* The frames the windows hold now: *x of the input, *y of the stems. */
void separator_window(const struct separator *sp, int64_t *x, int64_t *y);
int64_t separator_ready(const struct separator *sp);
void separator_take(struct separator *sp, real *out, int64_t n);
/* separator_take without the record: the next n final frames as they lie
 * in the window, put(ctx, row, n) once per row of (n_take, C, F, n) in
 * order, each n complex values, for a caller that writes them out (no
 * record-sized copy, whose pages are touched fresh).  Only where a take
 * is a copy (a host backend, the total known from the start or the Wiener
 * filter's frames already divided); false, nothing taken, elsewhere. */
bool separator_take_rows(struct separator *sp, int64_t n,
			 void (*put)(void *ctx, const real *row, int64_t n), void *ctx);
/* Whether separator_take_rows would take (it does for the current track
 * until its end, whatever is pushed). */
bool separator_rows_in_place(const struct separator *sp);

/* out (S, C, F, T) complex += every stem of x (C, F, T) complex, both
 * memory of the model's backend (the caller zeroes out): a track in one
 * push. */
void separator_run(struct separator *sp, real *out, const real *x, int64_t T, double overlap);

/* out (n_out, C, F, T) complex: stems idx[0 .. n_out) of x (C, F, T) complex. */
void separator_spectrogram(struct separator *sp, real *out, const real *x, int64_t T,
			   double overlap, const int *idx, int n_out);

/* y (n_out, C, N): stems idx[0 .. n_out) of the waveform x (C, N), through
 * STFT, the model and iSTFT of length N.  N must exceed n_fft / 2. */
void separator_waveform(struct separator *sp, real *y, const real *x, int64_t N,
			double overlap, const int *idx, int n_out);

/* y (rows, N) = iSTFT of spec (rows, F, T) complex, length N, on the
 * backend (spectrogram input written as audio).  -1 where stft_inverse
 * refuses. */
int separator_istft(struct separator *sp, real *y, const real *spec, int64_t rows, int64_t T,
		    int64_t N);

#endif
