/* audio.h: audio files through libsndfile.
 *
 * Everything libsndfile reads is accepted; "-" reads stdin, where WAV (and
 * the other formats libsndfile can stream) work from a pipe.  Samples move
 * as planar float [C, N] (the SNT waveform convention), converted to and
 * from libsndfile's interleaved frames in bounded chunks. */
#ifndef SEPNET_AUDIO_H
#define SEPNET_AUDIO_H

#include <stdint.h>

#include "util.h"

/* more channels than any audio format in use; a header claiming more is
 * refused before anything is sized from it */
#define AUDIO_MAX_CHANNELS 1024

/* Raw PCM's sample encodings (-t raw, as sox -t raw writes them), little
 * endian. */
enum audio_raw {
	AUDIO_RAW_S16,
	AUDIO_RAW_S24,
	AUDIO_RAW_S32,
	AUDIO_RAW_F32,
	AUDIO_RAW_F64,
	AUDIO_RAW_U8,
};

struct audio_reader {
	void *sf;		/* SNDFILE *, or NULL for a stream read as it arrives */
	char *path;		/* for messages */
	int sr;
	int channels;
	int64_t frames;		/* -1 when unknown (a pipe) */
	float *chunk;		/* interleaved scratch */
	int64_t chunk_frames;
	void *mem;		/* standard input held in memory (virtual I/O) */
	/* a stream: standard input decoded here, frames as they arrive */
	enum audio_raw enc;
	int bytes;		/* a sample's */
	unsigned char *pend;	/* bytes read, not yet a whole frame */
	int npend;
	int64_t left;		/* data bytes to come, -1: up to the end */
	int64_t got;		/* frames read */
};

/* Dies with "PATH: reason" when the file is missing or not audio.  Standard
 * input is read whole into memory first (one file is one record), so every
 * format libsndfile knows works from a pipe. */
struct audio_reader *audio_open_read(const char *path);
/* Standard input whose first n bytes the caller already consumed. */
struct audio_reader *audio_open_read_stdin_prefix(const void *prefix, size_t n);
/* The same, NULL with the message in err instead of dying (nothing left
 * open): for callers that go on, such as the fuzz harnesses. */
struct audio_reader *audio_try_open(const char *path, char *err, size_t errlen);
struct audio_reader *audio_try_open_stdin(const void *prefix, size_t n, char *err, size_t errlen);
/* Standard input read as it arrives (live input), not held whole: raw PCM
 * of sr Hz, channels and enc when sr > 0, else a WAV stream (PCM of 8 to
 * 32 bits or float) whose first n bytes the caller consumed; a data size
 * of 0 or over 2 GB (a writer that could not seek back) means up to the
 * end.  Another format on standard input, or a WAV this reader does not
 * decode, is read whole through libsndfile (audio_open_read_stdin_prefix)
 * and still works; frames is -1 for a stream whose length is open. */
struct audio_reader *audio_open_stream_stdin(const void *prefix, size_t n, int sr, int channels,
					     enum audio_raw enc);
/* "s16" (also "raw"), "s24", "s32", "f32", "f64", "u8"; -1 if unknown */
int audio_raw_parse(const char *s, enum audio_raw *out);
/* Up to n frames into planar out[c * stride + i], at least one unless at
 * the end: a stream's reads return what has arrived (waiting for one
 * frame, not for n); 0 at the end. */
int64_t audio_read_some(struct audio_reader *ar, float *out, int64_t stride, int64_t n);
/* Reads up to n frames into planar out[c * stride + i]; returns frames read
 * (0 at the end). */
int64_t audio_read(struct audio_reader *ar, float *out, int64_t stride, int64_t n);
/* Seek to frame (files only); dies when not seekable. */
void audio_seek(struct audio_reader *ar, int64_t frame);
void audio_close(struct audio_reader *ar);
/* Every remaining frame as planar float [channels, *frames] (caller
 * frees), in memory proportional to the frames there are, whatever the
 * header claims; dies naming the file when it ends before its declared
 * length, or holds no samples. */
float *audio_read_planar(struct audio_reader *ar, int64_t *frames);
/* The same, NULL with the message in err (nothing allocated) */
float *audio_try_read_planar(struct audio_reader *ar, int64_t *frames, char *err, size_t errlen);
/* Read a whole file as planar float [channels, *frames] (caller frees). */
float *audio_read_all(const char *path, int *sr, int *channels, int64_t *frames);

enum audio_sample {
	AUDIO_PCM16,
	AUDIO_PCM24,
	AUDIO_FLOAT32,
};
/* "16", "24", "32f" (also "32", "f32", "float"); -1 if unknown */
int audio_sample_parse(const char *s, enum audio_sample *out);

struct audio_writer {
	void *sf;
	struct atomic_file af;	/* written to a temporary, renamed on commit */
	int channels;
	float *chunk;
	int64_t chunk_frames;
	int is_float;		/* float samples: no clipping */
	int64_t clipped;	/* samples outside [-1, 1] in an integer format */
	bool to_stdout;		/* "-": a WAV stream on standard output, flushed a write */
	enum audio_sample sample;
};

/* Format from the extension (.wav .flac .aiff/.aif .ogg .au .caf .w64);
 * dies naming the path when unknown or when the format cannot hold the
 * sample type.  "-" is a WAV stream on standard output whose header leaves
 * the length open (as sox writes to a pipe), each write flushed: live
 * output for play -. */
struct audio_writer *audio_open_write(const char *path, int sr, int channels,
				      enum audio_sample sample);
/* planar in[c * stride + i], n frames */
void audio_write(struct audio_writer *aw, const float *in, int64_t stride, int64_t n);
/* Finishes the file and renames it into place (warns about clipping). */
void audio_commit(struct audio_writer *aw);
void audio_abort(struct audio_writer *aw);

#endif
