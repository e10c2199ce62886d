/* dataset.h: MUSDB18-HQ folders as SNT streams (docs/DESIGN.md §6, man musdb-cat).
 *
 * A dataset is ROOT/{train,test}/<Artist - Title>/{mixture,drums,bass,
 * other,vocals}.wav at 44.1 kHz stereo.  dataset_open() lists one split's
 * tracks and checks every file it will read; the writers then emit
 *   - random augmented training segments (augment.c), on worker threads,
 *     in the same order and with the same bytes whatever the thread count;
 *   - whole tracks, stems and/or mixture (dataset.c);
 *   - a text listing with duration, peak and RMS per stem (dataset.c).
 * Everything that goes wrong dies with a message naming the file. */
#ifndef SEPNET_DATASET_H
#define SEPNET_DATASET_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "snt.h"

#define DATASET_NSTEMS 4
#define DATASET_SR 44100
#define DATASET_CHANNELS 2
#define DATASET_NVALID 14
#define DATASET_SOURCES "drums,bass,other,vocals"

/* drums, bass, other, vocals: the order of the leading axis of records */
extern const char *const dataset_stem_names[DATASET_NSTEMS];
/* the official validation tracks of MUSDB18 (musdb's mus.yaml) */
extern const char *const dataset_valid_names[DATASET_NVALID];

struct track {
	char *name;		/* "Artist - Title" */
	char *dir;		/* ROOT/train/Artist - Title */
	const char *split;	/* "train", "valid" or "test", from its folder and name */
	int64_t frames;		/* common length: the shortest of the files read */
	float *cache;		/* planar [4, 2, frames] when cached, else NULL */
};

struct dataset {
	char *root;
	int ntracks;
	struct track *tracks;
};

bool dataset_is_valid_name(const char *name);

/* Lists split ("train" = train/ minus the validation tracks, "valid",
 * "test", "all" = those three in turn) or, when tracks_file is not NULL, the tracks named in it (one
 * "Artist - Title" or "train/Artist - Title" per line; blank lines and
 * lines starting with '#' are skipped).  Checks that the four stems (and
 * mixture.wav when with_mixture) exist and are 44.1 kHz stereo audio; files
 * of different lengths get a warning and the track is cut to the shortest.
 * Dies naming the file or folder on any error, and when the split is
 * empty. */
void dataset_open(struct dataset *ds, const char *root, const char *split,
		  const char *tracks_file, bool with_mixture);
void dataset_free(struct dataset *ds);

/* Reads every track's stems into memory (planar float, 32 bytes per frame)
 * on `jobs` threads. */
void dataset_cache(struct dataset *ds, int jobs);

/* Reads frames [offset, offset + n) of file `stem` of track t (0 to 3 in
 * dataset_stem_names order, DATASET_NSTEMS for mixture.wav) into planar
 * out[c * stride + i]; frames past the track's end are zero.  From the
 * cache when there is one (stems only), else by seeking in the file. */
void dataset_read_segment(const struct track *t, int stem, int64_t offset, int64_t n,
			  float *out, int64_t stride);

/* Whole tracks: per track, a mixture record f32 [2, N] (name=mixture) when
 * mixture, then a stems record f32 [4, 2, N] (sources=) when stems; each
 * as chunk records of `chunk` frames (io/chunked.h) when the track is
 * longer (0: whole records), read a chunk at a time. */
void dataset_write_full(const struct dataset *ds, bool mixture, bool stems, int64_t chunk,
			struct snt_writer *w);

/* One line per track on stdout: split, name, seconds, then peak and RMS
 * (dBFS, over both channels) of drums, bass, other, vocals; tab-separated.
 * Tracks are read on `jobs` threads and printed in order. */
void dataset_list(const struct dataset *ds, int jobs);

/* ---- training segments (augment.c) ---- */
struct segment_opts {
	int64_t segment;	/* samples per record */
	uint64_t seed;
	int64_t count;		/* records to write; < 0: endless */
	int64_t skip;		/* first record index (resume) */
	int shard, shards;	/* write only the records whose index is shard mod shards */
	int jobs;		/* worker threads */
	float remix;		/* probability that a record mixes stems of random tracks */
	bool gain;		/* gain per stem, uniform in [0.25, 1.25] */
	bool swap;		/* swap left and right per stem, probability 1/2 */
	bool flip;		/* negate a stem, probability 1/2 */
	bool shift;		/* any offset; off: offsets on the grid k * segment */
};

void segment_opts_defaults(struct segment_opts *o);
/* Writes records f32 [4, 2, segment] with dtype, shape, sources, sr, track,
 * offset (then gain, swap, flip when those augmentations are on), and
 * shard=R/N when sharded: of the records skip .. skip+count-1 of the one
 * sequence, those whose index is R mod N, in order. */
void dataset_write_train(const struct dataset *ds, const struct segment_opts *o,
			 struct snt_writer *w);

#endif
