/* chunked.h: a track as consecutive chunk records (docs/DESIGN.md §2).
 *
 * A long track may travel as several records, one after the other, with
 * the same `track` key and these keys:
 *   chunk=I   its index in the track: 0, 1, 2, ...
 *   offset=O  its first sample (a waveform) or frame (a spectrogram): the
 *             position of its last axis in the whole track
 *   total=N   the whole track's extent along that axis, where known
 *             (optional; the same on every chunk that has it)
 *   last=1    on the final chunk only
 * The chunks of a track are contiguous (each offset is the one before plus
 * its extent), so joining their payloads along the last axis gives the
 * whole-track record.  A record without chunk= is a whole track, as
 * before; such a record may carry offset= of its own (musdb-cat's training
 * segments do) without being a chunk. */
#ifndef SEPNET_CHUNKED_H
#define SEPNET_CHUNKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snt.h"

struct chunk_pos {
	bool chunked;		/* the record has chunk= */
	int64_t index, offset;	/* 0, 0 for a whole record */
	int64_t total;		/* the track's extent; -1 when unknown */
	bool last;		/* the final chunk, or a whole record */
};

/* The chunk keys of h (a whole record when it has no chunk=, with total
 * its extent along the last axis).  0, or -1 with the reason in err. */
int chunk_pos_get(const struct snt_header *h, struct chunk_pos *c, char *err, size_t errlen);
/* Set c's keys in h (chunk, offset, total where known, last), or remove
 * them for a whole record (c->chunked false). */
void chunk_pos_set(struct snt_header *h, const struct chunk_pos *c);

/* A reader's check of the order: each chunked track's records in a row,
 * numbered from 0, contiguous, one total, ending with last=1. */
struct chunk_seq {
	bool open;		/* inside a chunked track */
	char *track;		/* its track key */
	int64_t next_index, next_offset, total;
	int rank;		/* its first chunk's rank and shape but the last axis */
	int64_t lead[SNT_MAX_RANK];
	enum snt_dtype dtype;
};

/* h, of `extent` along its last axis, is the next record: 0 with its
 * position in c, or -1 with the reason in err (a chunk out of order, of
 * another dtype or shape but the last axis than the track's first, or a
 * new track before the last one's last chunk). */
int chunk_seq_next(struct chunk_seq *q, const struct snt_header *h, int64_t extent,
		   struct chunk_pos *c, char *err, size_t errlen);
/* The stream ended: -1 with the reason when a chunked track is unfinished
 * (a truncated stream). */
int chunk_seq_end(struct chunk_seq *q, char *err, size_t errlen);
void chunk_seq_free(struct chunk_seq *q);

#endif
