/* resample.h: any ordinary audio to what a model takes, and back.
 *
 * Sample-rate conversion is libsoxr's at its very-high quality (VHQ:
 * 28-bit, 95 % passband, linear phase), whole signals at once, so the
 * output has round(N * sr_out / sr_in) samples aligned with the input.
 * Channel mapping: mono is duplicated to stereo; more than two channels
 * are downmixed (5.1 by ITU-R BS.775, others odd/even channels to
 * left/right); two to one is their mean.
 *
 * A record conformed to a model keeps the input's rate and length in the
 * keys orig_sr and orig_length, which every tool passes
 * through, so that outputs go back to the input's rate and length: stems
 * line up with the input in a DAW. */
#ifndef SEPNET_RESAMPLE_H
#define SEPNET_RESAMPLE_H

#include <stdbool.h>
#include <stdint.h>

#include "snt.h"

/* the highest sample rate a record or file may have (768 kHz) */
#define WAVE_MAX_RATE 768000

/* A record's sr key: 0 when it has none; dies naming where when it is not
 * an integer from 1 to WAVE_MAX_RATE. */
int wave_rate(const struct snt_header *h, const char *where);
/* The same for another key (orig_sr). */
int wave_rate_key(const struct snt_header *h, const char *key, const char *where);

/* round(n * sr_out / sr_in) */
int64_t resample_length(int64_t n, int sr_in, int sr_out);
/* x [R, n] planar at sr_in -> [R, n_out] at sr_out (malloc'd); n_out
 * frames exactly (the converter's output, cut or zero-padded by at most a
 * sample).  Dies naming where on a converter error. */
float *resample_rows(const float *x, int64_t R, int64_t n, int sr_in, int sr_out, int64_t n_out,
		     const char *where);
/* The same as the signal arrives: rows signals at sr_in pushed in pieces
 * come out at sr_out as soon as the converter makes them, the very
 * samples resample_rows makes of the whole (the converter is one stream
 * either way), round(N · sr_out / sr_in) of them after the last push, for
 * the N pushed (the converter's output cut or zero-padded, as there).
 * Dies naming where on a converter error. */
struct resampler;
struct resampler *resampler_create(int64_t rows, int sr_in, int sr_out, const char *where);
/* n samples of every row, x[r · stride + i]; last: the end (n may be 0).
 * Returns the samples made, (rows, m) at *y, valid until the next call. */
int64_t resampler_push(struct resampler *rs, const float *x, int64_t stride, int64_t n, bool last,
		       const float **y);
void resampler_free(struct resampler *rs);

/* A track going back to its input's rate and length as it comes (the
 * streaming twin of wave_restore): rows at sr made `out` Hz (no converter
 * when they are equal), M samples in all (-1: the converter's own count),
 * cut at M and padded with zeros to it at the end.  y (rows, n), n may be
 * 0 at the end; returns the samples out, (rows, m) at *z until the next
 * call. */
struct restore_stream;
struct restore_stream *restore_stream_create(int64_t rows, int sr, int out, int64_t M,
					     const char *where);
int64_t restore_stream_push(struct restore_stream *r, const float *y, int64_t n, bool last,
			    const float **z);
void restore_stream_free(struct restore_stream *r);

/* x [c_in, n] -> [c_out, n] (malloc'd), by the mapping above; stride n.
 * Works on interleaved complex data too with n doubled (it is linear). */
float *channels_map(const float *x, int c_in, int c_out, int64_t n);

/* A waveform record h, *x (f32 [C, N], rank 2) made sr Hz (0: as it is)
 * and `channels` channels (0: as it is): resampled and mapped in place of
 * *x (freed), h's shape and sr edited, orig_sr and orig_length added the
 * first time.  A record without sr is taken to be at sr.  A
 * downmix of more than two channels is noted once on stderr, naming where. */
void wave_conform(struct snt_header *h, float **x, int sr, int channels, const char *where);

/* The rate a waveform record goes out at: `rate` when > 0, else its
 * orig_sr, else its sr (0 when it has none). */
int wave_output_rate(const struct snt_header *h, int rate);
/* A waveform record h, y (f32 [..., N]) back at its input's rate and
 * length (orig_sr, orig_length), or at `rate` when > 0 (the length scaled):
 * returns y itself when nothing changes, else a new buffer (also in
 * *owned, for the caller to free); h's shape and sr are edited and the
 * orig_ keys dropped.  A record without sr is labelled `rate`. */
const float *wave_restore(struct snt_header *h, const float *y, int rate, float **owned,
			  const char *where);

#endif
