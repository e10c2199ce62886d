/* augment.c: the training stream of musdb-cat: random segments of random
 * tracks, augmented, written in record order by a pool of worker threads.
 *
 * Determinism: every choice for record i is a pure function of (seed, i)
 * through the counter-based generator of rng.h (stream i, fixed counter
 * slots below), so a record does not depend on which thread made it, on
 * -j, or on the records before it; --skip N starts at record N and gives
 * exactly the tail of an unskipped run. */
#include <string.h>

#include "dataset.h"
#include "rng.h"
#include "util.h"
#include "worker.h"

#define SILENCE_RMS 1e-4	/* -80 dBFS: below this in every stem a draw is silent */
#define MAX_DRAWS 100		/* draws per record before giving up on silence */
#define PLAN_BYTES 128		/* a slot is the plan, then the payload [4, 2, L] */

/* Counter slots of record i's stream.  Track and offset choices move by
 * DRAW_STRIDE per redraw after a silent segment; the rest never change.
 * Changing any of this changes every seed's stream, which training runs
 * rely on when they resume with --skip. */
enum {
	SLOT_REMIX = 0,
	SLOT_TRACK = 1,		/* + stem when remixed */
	SLOT_OFFSET = 5,	/* + stem when remixed */
	DRAW_STRIDE = 16,
	SLOT_GAIN = DRAW_STRIDE * MAX_DRAWS,	/* + stem */
	SLOT_SWAP = SLOT_GAIN + 4,	/* + stem */
	SLOT_FLIP = SLOT_GAIN + 8,	/* + stem */
};

/* What record i is made of; kept in its slot for the header. */
struct plan {
	bool remixed;
	int track[DATASET_NSTEMS];
	int64_t offset[DATASET_NSTEMS];
	float gain[DATASET_NSTEMS];	/* 1 when gain is off */
	bool swap[DATASET_NSTEMS];
	bool flip[DATASET_NSTEMS];
};

struct train {
	const struct dataset *ds;
	const struct segment_opts *o;
	struct snt_writer *w;
	int64_t epoch_size;	/* segments the tracks hold: the trainer's default epoch */
	int64_t first;		/* the index of the first record written */
};

/* The sequence's index of the j-th record this process writes. */
static uint64_t record_index(const struct train *tr, int64_t j)
{
	return (uint64_t)(tr->first + j * tr->o->shards);
}

void segment_opts_defaults(struct segment_opts *o)
{
	*o = (struct segment_opts){
		.segment = 0, .seed = 0, .count = -1, .skip = 0, .shard = 0, .shards = 1, .jobs = 2,
		.remix = 0.5f, .gain = true, .swap = true, .flip = true, .shift = true,
	};
}

/* Offset of a segment in a track of `frames`: anywhere with shift, on the
 * grid of whole segments without; 0 when the track is shorter (the rest of
 * the segment is zero). */
static int64_t draw_offset(const struct segment_opts *o, int64_t frames, uint64_t index,
			   uint64_t counter)
{
	if (frames <= o->segment)
		return 0;
	if (o->shift)
		return (int64_t)rng_below(o->seed, index, counter, (uint64_t)(frames - o->segment + 1));
	return o->segment * (int64_t)rng_below(o->seed, index, counter, (uint64_t)(frames / o->segment));
}

static void draw_sources(const struct train *tr, uint64_t index, int draw, struct plan *p)
{
	const struct segment_opts *o = tr->o;
	uint64_t seed = o->seed, base = (uint64_t)draw * DRAW_STRIDE;
	int n = tr->ds->ntracks;
	p->remixed = o->remix > 0 && rng_uniform(seed, index, base + SLOT_REMIX) < o->remix;
	for (int s = 0; s < DATASET_NSTEMS; s++) {
		int k = p->remixed ? s : 0;	/* one choice for all stems unless remixed */
		p->track[s] = (int)rng_below(seed, index, base + SLOT_TRACK + k, (uint64_t)n);
		p->offset[s] = draw_offset(o, tr->ds->tracks[p->track[s]].frames, index,
					   base + SLOT_OFFSET + k);
	}
}

static void draw_augmentations(const struct segment_opts *o, uint64_t index, struct plan *p)
{
	for (int s = 0; s < DATASET_NSTEMS; s++) {
		p->gain[s] = o->gain ? 0.25f + rng_uniform(o->seed, index, SLOT_GAIN + s) : 1.0f;
		p->swap[s] = o->swap && rng_uniform(o->seed, index, SLOT_SWAP + s) < 0.5f;
		p->flip[s] = o->flip && rng_uniform(o->seed, index, SLOT_FLIP + s) < 0.5f;
	}
}

/* Whether the RMS of x[0..n) is below SILENCE_RMS.  Blocks of 8 float
 * partial sums (vectorised) added into a double; stops as soon as the sum
 * crosses the threshold, which music does within its first block. */
static bool is_silent(const float *x, int64_t n)
{
	double sum2 = 0, limit = SILENCE_RMS * SILENCE_RMS * (double)n;
	for (int64_t i = 0; i < n && sum2 < limit; i += 4096) {
		int64_t m = n - i < 4096 ? n - i : 4096, j = 0;
		float part[8] = { 0 };
		for (; j + 8 <= m; j += 8)
			for (int k = 0; k < 8; k++)
				part[k] += x[i + j + k] * x[i + j + k];
		for (; j < m; j++)
			part[0] += x[i + j] * x[i + j];
		for (int k = 0; k < 8; k++)
			sum2 += part[k];
	}
	return sum2 < limit;
}

/* Scale stem x ([2, L]) by g and exchange its channels when swap. */
static void apply(float *x, int64_t L, float g, bool swap)
{
	float *l = x, *r = x + L;
	if (swap) {
		for (int64_t i = 0; i < L; i++) {
			float t = l[i];
			l[i] = g * r[i];
			r[i] = g * t;
		}
	} else if (g != 1.0f) {
		for (int64_t i = 0; i < 2 * L; i++)
			x[i] *= g;
	}
}

static void make_record(void *ctx, int64_t j, void *slot)
{
	const struct train *tr = ctx;
	uint64_t index = record_index(tr, j);
	const struct segment_opts *o = tr->o;
	struct plan *p = slot;
	float *x = (float *)((char *)slot + PLAN_BYTES);	/* [4, 2, L] */
	int64_t L = o->segment, stem = DATASET_CHANNELS * L;
	int draw = 0;
	for (;; draw++) {
		if (draw == MAX_DRAWS)
			die("record %lld: every stem silent in %d random segments; "
			    "are the tracks silent?", (long long)index, MAX_DRAWS);
		draw_sources(tr, index, draw, p);
		bool silent = true;
		for (int s = 0; s < DATASET_NSTEMS; s++) {
			dataset_read_segment(&tr->ds->tracks[p->track[s]], s, p->offset[s], L,
					     x + s * stem, L);
			silent = silent && is_silent(x + s * stem, stem);	/* one loud stem will do */
		}
		if (!silent)
			break;
	}
	draw_augmentations(o, index, p);
	for (int s = 0; s < DATASET_NSTEMS; s++)
		apply(x + s * stem, L, p->flip[s] ? -p->gain[s] : p->gain[s], p->swap[s]);
}

/* "a|b|c|d" style lists into buf */
static void join(char *buf, size_t len, const char *sep, const char *const v[DATASET_NSTEMS])
{
	size_t n = 0;
	buf[0] = 0;
	for (int s = 0; s < DATASET_NSTEMS && n < len; s++)
		n += snprintf(buf + n, len - n, "%s%s", s ? sep : "", v[s]);
}

static void write_record(void *ctx, int64_t index, void *slot)
{
	(void)index;
	const struct train *tr = ctx;
	const struct segment_opts *o = tr->o;
	const struct plan *p = slot;
	const struct track *tracks = tr->ds->tracks;
	int64_t shape[3] = { DATASET_NSTEMS, DATASET_CHANNELS, o->segment };
	struct snt_header h;
	char buf[4096], num[DATASET_NSTEMS][32];
	const char *v[DATASET_NSTEMS];

	snt_header_init(&h);
	snt_header_set_dtype(&h, SNT_F32);
	snt_header_set_shape(&h, 3, shape);
	snt_header_set(&h, "sources", DATASET_SOURCES);
	snt_header_setf(&h, "sr", "%d", DATASET_SR);
	for (int s = 0; s < DATASET_NSTEMS; s++)
		v[s] = tracks[p->track[s]].name;
	if (p->remixed) {
		join(buf, sizeof buf, "|", v);
		snt_header_set(&h, "track", buf);
	} else
		snt_header_set(&h, "track", v[0]);
	for (int s = 0; s < DATASET_NSTEMS; s++) {
		snprintf(num[s], sizeof num[s], "%lld", (long long)p->offset[s]);
		v[s] = num[s];
	}
	if (p->remixed) {
		join(buf, sizeof buf, ",", v);
		snt_header_set(&h, "offset", buf);
	} else
		snt_header_set(&h, "offset", v[0]);
	if (o->gain) {
		for (int s = 0; s < DATASET_NSTEMS; s++)
			snprintf(num[s], sizeof num[s], "%.6g", p->gain[s]);
		join(buf, sizeof buf, ",", v);
		snt_header_set(&h, "gain", buf);
	}
	if (o->swap) {
		for (int s = 0; s < DATASET_NSTEMS; s++)
			v[s] = p->swap[s] ? "1" : "0";
		join(buf, sizeof buf, ",", v);
		snt_header_set(&h, "swap", buf);
	}
	if (o->flip) {
		for (int s = 0; s < DATASET_NSTEMS; s++)
			v[s] = p->flip[s] ? "1" : "0";
		join(buf, sizeof buf, ",", v);
		snt_header_set(&h, "flip", buf);
	}
	snt_header_setf(&h, "epoch_size", "%lld", (long long)tr->epoch_size);
	if (o->shards > 1)
		snt_header_setf(&h, "shard", "%d/%d", o->shard, o->shards);
	snt_write_header(tr->w, &h);
	snt_header_free(&h);
	snt_write_payload(tr->w, (const char *)slot + PLAN_BYTES,
			  sizeof(float) * DATASET_NSTEMS * DATASET_CHANNELS * o->segment);
}

void dataset_write_train(const struct dataset *ds, const struct segment_opts *o,
			 struct snt_writer *w)
{
	_Static_assert(sizeof(struct plan) <= PLAN_BYTES, "the plan fits before the payload");
	if (o->segment < 1)
		die("segment length %lld: must be at least 1 sample", (long long)o->segment);
	// this shard's records: the first index >= skip that is shard mod
	// shards, then every shards-th; as many as the range holds
	int64_t lag = ((o->shard - o->skip) % o->shards + o->shards) % o->shards;
	struct train tr = { ds, o, w, 0, o->skip + lag };
	int64_t count = o->count < 0 ? -1 :
			o->count <= lag ? 0 : (o->count - lag + o->shards - 1) / o->shards;
	for (int i = 0; i < ds->ntracks; i++)	/* a short track still gives one segment */
		tr.epoch_size += ds->tracks[i].frames > o->segment ? ds->tracks[i].frames / o->segment : 1;
	size_t bytes = PLAN_BYTES + sizeof(float) * DATASET_NSTEMS * DATASET_CHANNELS * o->segment;
	ordered_map(0, count, o->jobs, bytes, make_record, write_record, &tr);
}
