/* pipeline.h: sepnet-fwd's separation pipeline: mixtures in, stems out
 * (docs/DESIGN.md §3).
 *
 * Spectrogram mode: each c64 [C, F, T] record (from stft) becomes c64
 * [S, C, F, T] with sources= naming the leading axis; every other key
 * passes through, so istft finds length, sr and track.  Waveform mode: an
 * audio file or an f32 [C, N] record becomes f32 [S, C, N] (STFT and iSTFT
 * done here), or audio files named by a pattern as istft -o writes them.
 * The mode follows each record's dtype.  Long inputs run in cross-faded
 * segments of the model's training length, on the chosen backend
 * (separate.h).
 *
 * The pipeline reads the next record and writes the last one in worker
 * threads (--prefetch) while it separates; an error in any of them is
 * raised where a sequential program would have met it, after every record
 * before it is written. */
#ifndef SEPNET_PIPELINE_H
#define SEPNET_PIPELINE_H

#include <stdbool.h>

#include "audio.h"
#include "config.h"

struct pipeline_opts {
	const char *model;	/* the checkpoint's path */
	const char *model_arg;	/* -m as given, for messages that name the fix */
	const char *stems;	/* "vocals,drums" (instrumental: all but vocals, summed);
				   NULL: every source in the model's order */
	const char *output;	/* audio files named by this pattern (stemout.h); NULL: an SNT
				   stream on stdout */
	enum audio_sample sample;	/* the files' sample format, when sample_set */
	int sample_set, sr;	/* sr: the files' rate; 0: the input's */
	const char *device;	/* "cpu", "cuda", or NULL for backend.h's default */
	double overlap;		/* of the segments, in [0, 1) */
	int batch;		/* segments per forward pass; 0: 1 on the cpu, 8 on a GPU */
	int prefetch;		/* read and write in threads: 1, 0, or -1 (on for a GPU) */
	int precision;		/* the GEMMs' enum backend_precision; -1: the model's config's */
	bool quiet;		/* no progress line */
	bool raw;		/* -t: standard input is raw PCM of raw_enc, raw_sr, raw_channels */
	enum audio_raw raw_enc;
	int raw_sr, raw_channels;
	double segment_s;	/* --segment: seconds a segment (latency); 0: the model's */
	int wiener;		/* --wiener: EM iterations of the Wiener post-filter; 0: none */
	char **inputs;		/* audio files or SNT streams; none: stdin */
	int ninputs;
};

/* The Wiener post-filter's blocks: Open-Unmix's wiener_win_len, 300
 * frames of its hop 1024 at 44.1 kHz (6.97 s), in frames of the model's
 * hop and rate (1200 for n_fft 1024 / hop 256).  300 frames of hop 256
 * (1.74 s) measured worse: the bundled model on 8 held-out songs, mean
 * SI-SDR 0.03 dB under no filter, against 0.04 dB over it with 1200. */
#define PIPELINE_WIENER_SECONDS (300.0 * 1024 / 44100)
int64_t pipeline_wiener_frames(const struct config *c);

/* --segment's frames for the model of config c (max_frames a segment at
 * most); 0 for segment_s 0 (the model's own).  Dies on a length out of
 * range, naming the bounds. */
int64_t pipeline_segment_frames(const struct config *c, int max_frames, double segment_s);

/* Separate every input.  Dies on errors, naming the file or record. */
void pipeline_run(const struct pipeline_opts *o);

#endif
