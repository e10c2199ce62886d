/* stemout.h: waveform records written as audio files named by a pattern.
 *
 * `istft -o` (and every tool that writes separated stems as audio) turns a
 * record f32 [C, N] or [S, C, N] into one file per source, the name made
 * from a pattern: %s the source (its entry in sources=, else the name key,
 * else "out"), %t the track key (else the record index), %d the folder
 * holding the input file (the file= key; else the track), %b the input
 * file's name without extension (else the track), %i the record index, %%
 * a percent sign.  Parent directories are created; every file is written
 * to a temporary and renamed into place; two outputs mapped to one name
 * are an error instead of a silent overwrite.  Files are written at the
 * rate and length of the audio the record came from (orig_sr,
 * orig_length: lib/resample.h), or resampled to the writer's rate.  The sample format is
 * lossless by default: 32-bit float, 24-bit for FLAC. */
#ifndef SEPNET_STEMOUT_H
#define SEPNET_STEMOUT_H

#include <stdint.h>

#include "audio.h"
#include "snt.h"

struct stem_writer;

/* Dies (usage, exit 2) on an unknown %-conversion.  sample_set: use
 * `sample` for every file instead of the lossless default; sr > 0: files
 * at that rate (resampled; for records without sr, their rate). */
struct stem_writer *stem_writer_create(const char *pattern, enum audio_sample sample,
				       int sample_set, int sr);
/* y is the record's payload, h its header (rank 2 or 3), index the record
 * number in the stream, where a prefix for messages ("FILE: record N"). */
void stem_writer_write(struct stem_writer *sw, const struct snt_header *h, const float *y,
		       int64_t index, const char *where);
/* Claim the paths of a record to come (h with its track, file and
 * sources keys; S sources) before anything is computed, so that a
 * collision is an error before the work, not after; dies naming both. */
void stem_writer_reserve(struct stem_writer *sw, const struct snt_header *h, int S, int64_t index,
			 const char *where);
void stem_writer_free(struct stem_writer *sw);

/* A track written as it comes (chunk records, lib/io/chunked.h, or
 * sepnet-fwd's streamed audio): its files opened from its first chunk's
 * header h (f32 [C, n] or [S, C, n]), appended to with n frames of y
 * (S, C, n) at a time, and renamed into place by stem_stream_commit (an
 * exit before it leaves no file).  The files are at the rate and length
 * stem_writer_write gives a whole record (orig_sr, orig_length, or the
 * writer's rate), resampled as the samples come (resample.h's
 * resampler). */
struct stem_stream;
struct stem_stream *stem_writer_open_track(struct stem_writer *sw, const struct snt_header *h,
					   int64_t index, const char *where);
void stem_stream_write(struct stem_stream *st, const float *y, int64_t n);
void stem_stream_commit(struct stem_stream *st);

#endif
