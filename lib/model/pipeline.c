/* pipeline.c: read, separate, write, record by record (pipeline.h). */
#include "pipeline.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "audio.h"
#include "backend.h"
#include "checkpoint.h"
#include "chunked.h"
#include "config.h"
#include "model.h"
#include "progress.h"
#include "resample.h"
#include "separate.h"
#include "snt.h"
#include "stemout.h"
#include "stftstream.h"
#include "util.h"
#include "wavein.h"
#include "worker.h"

/* The extra stem of -s: every source but vocals, summed (karaoke) */
#define INSTRUMENTAL (-1)

/* Indices into the model's sources of the stems named in list, in order;
 * INSTRUMENTAL for "instrumental" (a model with vocals and other sources). */
static int select_stems(const struct config *cfg, const char *list, int *idx)
{
	if (!list) {
		for (int s = 0; s < cfg->n_sources; s++)
			idx[s] = s;
		return cfg->n_sources;
	}
	char *copy = xstrdup(list), *save = NULL;
	int n = 0;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int s = 0;
		while (s < cfg->n_sources && strcmp(cfg->sources[s], tok) != 0)
			s++;
		if (s == cfg->n_sources && !strcmp(tok, "instrumental")) {
			int v = 0;
			while (v < cfg->n_sources && strcmp(cfg->sources[v], "vocals") != 0)
				v++;
			if (v == cfg->n_sources || cfg->n_sources < 2)
				die_usage("-s instrumental: the model has no vocals and other stems to tell apart");
			s = INSTRUMENTAL;
		} else if (s == cfg->n_sources) {
			char names[(CONFIG_MAX_SOURCES + 1) * (CONFIG_NAME_LEN + 2)] = "";
			for (int k = 0; k < cfg->n_sources; k++)
				strcat(strcat(names, k ? "," : ""), cfg->sources[k]);
			die_usage("-s: the model has no stem '%s' (it has %s, and instrumental: "
				  "all but vocals)", tok, names);
		}
		for (int i = 0; i < n; i++)
			if (idx[i] == s)
				die_usage("-s: stem '%s' named twice", tok);
		idx[n++] = s;
	}
	free(copy);
	if (n == 0)
		die_usage("-s: no stem named");
	return n;
}

/* The key must be present and equal to want. */
static void check_key(const struct snt_header *h, const char *key, int want, const char *where,
		      const char *model_arg)
{
	const char *v = snt_header_get(h, key);
	int got;
	if (!v)
		die("%s: no %s key (a spectrogram from stft is expected)", where, key);
	if (parse_int(v, &got) || got != want)
		die("%s: %s=%s, but the model was trained with %s=%d: make the spectrogram with "
		    "stft -m %s (it takes the model's STFT and resamples)", where, key, v, key, want,
		    model_arg);
}

/* A record read: its header and payload, or the end, or an error. */
struct in_slot {
	struct snt_header h;
	float *x;		/* f32 [C, N] or c64 [C, F, T] */
	size_t x_cap;		/* floats of x when it is the backend's host memory */
	bool x_malloced;	/* x came from wave_input_next (an audio file) */
	int status;		/* 1: a record; 0: the end */
	char where[512];
};

/* A record separated, on its way out: the header to write and the stems. */
struct out_slot {
	struct fwd *f;
	struct snt_header h;
	float *y;		/* c64 [n_out, C, F, T] or f32 [n_out, C, N] */
	size_t y_cap, y_floats;
	bool audio;		/* waveforms for -o (else a stream record) */
	bool none;		/* nothing to write (a chunk whose frames are not final yet) */
	int64_t direct;		/* > 0: no y; the write takes these frames from the
				   separator's window, row by row (separator_take_rows) */
	bool queued;		/* the writer's latest job, maybe not done */
	char where[512];
};

/* The buffers of one track streamed into audio files (-o): an audio file
 * (stream_audio) or a chunked spectrogram (separate_chunk). */
struct audio_track {
	struct stft_stream *fs;
	struct istft_stream *is;
	struct stem_stream *st;
	float *frames, *stems;	/* a push's frames, the stems written */
	size_t frames_cap, stems_cap;
};

/* The state of one run: model, backend, I/O threads, outputs. */
struct fwd {
	const struct pipeline_opts *o;
	const struct backend *be;
	struct model *m;
	struct separator *sp;
	int idx[CONFIG_MAX_SOURCES + 1], n_out;	/* the stems written: sources or INSTRUMENTAL */
	bool instrumental;	/* among them: every stem is computed, then summed */
	char sources[(CONFIG_MAX_SOURCES + 1) * (CONFIG_NAME_LEN + 14)];	/* the sources= value */
	struct snt_writer *w;	/* the stream, or */
	struct stem_writer *sw;	/* audio files (-o) */
	int64_t index;		/* records written */
	/* --prefetch: a reader and a writer thread around the computation, two
	 * slots each; without, one slot each and no threads */
	struct worker *rd, *wr;
	int nslots;
	bool stage;		/* the reader copies each record to the device too */
	struct in_slot in[2];
	struct out_slot out[2];
	/* the current input, for the reader */
	struct snt_reader *r;
	struct wave_input *wav;
	int input;		/* its index in o->inputs */
	/* the progress line (a terminal on stderr, no -q) */
	struct progress progress;
	double done_s;		/* seconds of audio separated */
	double record_s;	/* the current record's */
	struct in_slot *reading;
	/* chunked spectrograms: the order of the input's chunks, and the
	 * output's chunks of the track being separated */
	struct chunk_seq seq;
	int64_t out_index, out_offset;
	struct audio_track track;	/* -o: a chunked spectrogram's files */
	struct snt_rowv rows;	/* direct writes: the window's rows, writev's pieces */
};

/* Memory of at least floats from the backend's host allocator (pinned on
 * cuda, so copies to and from the device run at full speed).  On the cpu
 * it is xreserve_big's: 4× reserved, touched as written, so the stems
 * record after a short first one (323 then 646 frames for 10 s chunks of
 * base.ini) fits the first buffer. */
static float *host_want(const struct backend *be, float *p, size_t *cap, size_t floats)
{
	if (be->host)	// host_alloc is xmalloc_big, host_free free
		return xreserve_big(p, cap, floats, sizeof(float));
	if (*cap >= floats)
		return p;
	if (p)
		be->host_free(p);
	*cap = floats;
	return be->host_alloc(floats * sizeof(float));
}

/* ---- reading (in the reader thread with --prefetch) ---- */

/* With --prefetch on a device: start copying the record just read there. */
static void stage(struct fwd *f, struct in_slot *in)
{
	if (f->stage)
		separator_stage(f->sp, (int)(in - f->in), in->x,
				(size_t)snt_numel(&in->h) * (in->h.dtype == SNT_C64 ? 2 : 1));
}

/* A waveform record made the model's rate and channel count (in place of
 * in->x, the backend's host memory). */
static void conform_waveform(struct fwd *f, struct in_slot *in)
{
	const struct config *c = &f->m->cfg;
	size_t n = (size_t)snt_numel(&in->h);
	float *x = xmalloc(sizeof(float) * (n ? n : 1));
	memcpy(x, in->x, sizeof(float) * n);
	wave_conform(&in->h, &x, c->sample_rate, f->m->C, in->where);
	n = (size_t)snt_numel(&in->h);
	in->x = host_want(f->be, in->x, &in->x_cap, n ? n : 1);
	memcpy(in->x, x, sizeof(float) * n);
	free(x);
}

/* A spectrogram [C, F, T] of another channel count mapped to the model's:
 * the mapping is linear, so mapping the spectrogram is mapping the audio. */
static void conform_channels(struct fwd *f, struct in_slot *in)
{
	struct snt_header *h = &in->h;
	int C = (int)h->shape[0];
	int64_t plane = h->shape[1] * h->shape[2] * 2;
	if (C > 2)
		warn("%s: %d channels downmixed to stereo", in->where, C);
	float *y = channels_map(in->x, C, f->m->C, plane);
	in->x = host_want(f->be, in->x, &in->x_cap, (size_t)(f->m->C * plane));
	memcpy(in->x, y, sizeof(float) * f->m->C * plane);
	free(y);
	snt_header_set_shape(h, 3, (int64_t[]){ f->m->C, h->shape[1], h->shape[2] });
}

static void read_body(void *arg)
{
	struct fwd *f = arg;
	struct in_slot *in = f->reading;
	if (in->x_malloced) {
		free(in->x);
		in->x = NULL;
		in->x_malloced = false;
	}
	if (f->wav) {	// an audio file (or waveform records through wavein)
		float *x;
		if (!(in->status = wave_input_next(f->wav, &in->h, &x)))
			return;
		if (in->x && !in->x_malloced)
			f->be->host_free(in->x);
		in->x = x;
		in->x_cap = 0;
		in->x_malloced = true;
		snprintf(in->where, sizeof in->where, "%s", wave_input_name(f->wav));
		if (f->o->ninputs) {	// the track among every file named (%t)
			char *t = wave_track_name(f->o->inputs, f->o->ninputs, f->input);
			snt_header_set(&in->h, "track", t);
			free(t);
		}
		stage(f, in);
		return;
	}
	struct snt_reader *r = f->r;
	if (!(in->status = snt_read_header_or_die(r, &in->h)))
		return;
	snprintf(in->where, sizeof in->where, "%s: record %lld", r->name, (long long)r->record);
	if (in->h.dtype != SNT_C64 && in->h.dtype != SNT_F32)
		die("%s: expected a c64 [C, F, T] spectrogram or an f32 [C, N] waveform, got %s",
		    in->where, snt_dtype_name(in->h.dtype));
	size_t floats = (size_t)snt_numel(&in->h) * (in->h.dtype == SNT_C64 ? 2 : 1);
	in->x = host_want(f->be, in->x, &in->x_cap, floats ? floats : 1);
	snt_read_payload_or_die(r, &in->h, in->x);
	wave_rate(&in->h, in->where);	// a malformed sr= is an error here
	int64_t bad = find_nonfinite(in->x, floats);
	if (bad >= 0)
		die("%s: NaN or infinity at value %lld (the input must be finite)", in->where,
		    (long long)bad);
	if (in->h.dtype == SNT_F32 && in->h.rank == 2)
		conform_waveform(f, in);
	else if (in->h.dtype == SNT_C64 && in->h.rank == 3 && in->h.shape[0] != f->m->C)
		conform_channels(f, in);
	stage(f, in);
}

/* One record into slot `in`, in the reader thread (whose error waits
 * there until the record would have been met: worker.h) or here. */
static void start_read(struct fwd *f, struct in_slot *in)
{
	f->reading = in;
	if (f->rd)
		worker_run(f->rd, read_body, f);
	else
		read_body(f);
}

/* ---- writing (in the writer thread with --prefetch) ---- */

static void write_job(void *arg)
{
	struct out_slot *out = arg;
	struct fwd *f = out->f;
	if (out->audio) {
		stem_writer_write(f->sw, &out->h, out->y, f->index++, out->where);
		return;
	}
	snt_write_header(f->w, &out->h);
	if (out->direct) {
		f->rows.w = f->w;
		if (!separator_take_rows(f->sp, out->direct, snt_rowv_put_c64, &f->rows))
			die("separator_take_rows: the stems are not a copy of the window");
		snt_rowv_flush(&f->rows);
	} else {
		snt_write_payload(f->w, out->y, out->y_floats * sizeof(float));
	}
	f->index++;
}

/* Hand out to the writer (after the record before it is written). */
static void start_write(struct fwd *f, struct out_slot *out)
{
	if (!f->wr) {
		write_job(out);
		return;
	}
	worker_run(f->wr, write_job, out);	// after the job before it is done
	for (int k = 0; k < 2; k++)
		f->out[k].queued = &f->out[k] == out;
}

static void finish_writing(void *arg);

/* ---- separating ---- */

/* out's header: in's keys with the shape, dtype and sources of the stems. */
static void out_header(struct fwd *f, struct out_slot *out, const struct snt_header *h,
		       enum snt_dtype dtype, int rank, const int64_t *shape, int64_t length)
{
	snt_header_free(&out->h);
	snt_header_copy(&out->h, h);
	snt_header_set_dtype(&out->h, dtype);
	snt_header_set_shape(&out->h, rank, shape);
	if (length >= 0)
		snt_header_setf(&out->h, "length", "%lld", (long long)length);
	snt_header_set(&out->h, "sources", f->sources);
}

/* dst (n_out, P) from every stem all (S, P): each output one stem, or the
 * instrumental, the sum of every stem but vocals. */
static void compose_stems(const struct fwd *f, float *dst, const float *all, size_t P)
{
	const struct config *c = &f->m->cfg;
	for (int k = 0; k < f->n_out; k++) {
		float *o = dst + k * P;
		if (f->idx[k] != INSTRUMENTAL) {
			memcpy(o, all + f->idx[k] * P, P * sizeof(float));
			continue;
		}
		memset(o, 0, P * sizeof(float));
		for (int s = 0; s < c->n_sources; s++)
			if (strcmp(c->sources[s], "vocals") != 0)
				for (size_t i = 0; i < P; i++)
					o[i] += all[s * P + i];
	}
}

/* separator_spectrogram or separator_waveform: stems idx of x, length n */
typedef void separate_fn(struct separator *sp, float *out, const float *x, int64_t n,
			 double overlap, const int *idx, int n_out);

/* dst (n_out, P): the stems written, of x, by run; P floats a stem.  With
 * the instrumental among them, every stem is separated, then composed. */
static void stems_of(struct fwd *f, separate_fn *run, float *dst, const float *x, int64_t n,
		     size_t P)
{
	if (!f->instrumental) {
		run(f->sp, dst, x, n, f->o->overlap, f->idx, f->n_out);
		return;
	}
	int every[CONFIG_MAX_SOURCES], S = f->m->cfg.n_sources;
	for (int s = 0; s < S; s++)
		every[s] = s;
	float *all = xmalloc(S * P * sizeof(float));
	run(f->sp, all, x, n, f->o->overlap, every, S);
	compose_stems(f, dst, all, P);
	free(all);
}

/* dst (n_out, C, F, T) complex: the stems written, of the spectrogram x. */
static void stems_spectrogram(struct fwd *f, float *dst, const float *x, int64_t T)
{
	stems_of(f, separator_spectrogram, dst, x, T, (size_t)f->m->C * f->m->F * T * 2);
}

/* dst (n_out, C, N): the stems written, of the waveform x. */
static void stems_waveform(struct fwd *f, float *dst, const float *x, int64_t N)
{
	stems_of(f, separator_waveform, dst, x, N, (size_t)f->m->C * N);
}

/* Stems y (n_out, C, N) f32 in out as a waveform record or audio files. */
static void out_waveforms(struct fwd *f, struct out_slot *out, const struct snt_header *h,
			  int64_t N)
{
	int64_t shape[3] = { f->n_out, f->m->C, N };
	out_header(f, out, h, SNT_F32, 3, shape, N);
	out->audio = f->sw != NULL;
	out->y_floats = (size_t)f->n_out * f->m->C * N;
	if (out->audio)	// the stem writer takes them to the input's rate
		return;
	// a stream: back at the input's rate and length (orig_sr, orig_length)
	float *owned;
	wave_restore(&out->h, out->y, 0, &owned, out->where);
	if (owned) {
		out->y_floats = (size_t)snt_numel(&out->h);
		out->y = host_want(f->be, out->y, &out->y_cap, out->y_floats);
		memcpy(out->y, owned, sizeof(float) * out->y_floats);
		free(owned);
		snt_header_setf(&out->h, "length", "%lld", (long long)out->h.shape[2]);
	}
}

/* A streamed track of `total` frames (-1: open) on the separator, keeping
 * the stems written, or every stem when the instrumental is among them
 * (take_stems composes it). */
static void begin_track(struct fwd *f, int64_t total)
{
	int every[CONFIG_MAX_SOURCES], S = f->m->cfg.n_sources;
	for (int s = 0; s < S; s++)
		every[s] = s;
	if (f->instrumental)
		separator_begin(f->sp, f->o->overlap, total, every, S);
	else
		separator_begin(f->sp, f->o->overlap, total, f->idx, f->n_out);
}

/* dst (n_out, C, F, n) complex: the separator's next n final frames of the
 * stems written. */
static void take_stems(struct fwd *f, float *dst, int64_t n)
{
	size_t P = (size_t)f->m->C * f->m->F * n * 2;
	if (!f->instrumental) {
		separator_take(f->sp, dst, n);
		return;
	}
	float *all = xmalloc(sizeof(float) * f->m->cfg.n_sources * (P ? P : 1));
	separator_take(f->sp, all, n);
	compose_stems(f, dst, all, P);
	free(all);
}

/* The next n frames of the separator's stems through the iSTFT into the
 * files; last: the track's end. */
static void stream_stems(struct fwd *f, struct audio_track *a, int64_t n, bool last,
			 const char *where)
{
	size_t floats = (size_t)f->n_out * f->m->C * f->m->F * n * 2;
	if (n == 0 && !last)
		return;
	if (a->stems_cap < floats)
		a->stems = xrealloc(a->stems, sizeof(float) * (a->stems_cap = floats ? floats : 1));
	take_stems(f, a->stems, n);
	const float *y;
	int64_t k = istft_stream_push(a->is, a->stems, n, last, &y);
	if (k < 0)
		die("%s: inverse STFT failed", where);
	if (k > 0)
		stem_stream_write(a->st, y, k);
}

/* The frames of a chunk (`left` of them still to push) to push next: on
 * a host backend those the separator wants for its next batch of segments
 * (separator_wants), its stems taken after each push, so that the stems'
 * window holds a batch of segments, not the chunk's frames plus a segment
 * (base.ini's four stems: 57 against 113 MB, every page of it touched
 * fresh); on a device, whose copies are of whole records, the chunk. */
static int64_t piece(const struct fwd *f, int64_t left)
{
	int64_t n = f->be->host ? separator_wants(f->sp) : left;
	return n < left ? n : left;
}

/* One chunk of a chunked spectrogram with -o: separated as
 * separate_chunk does, and the stems' samples that became final written to
 * the track's files (stem_stream, back at orig_sr and orig_length), as
 * istft -o would write them. */
static void chunk_to_files(struct fwd *f, struct in_slot *in, struct out_slot *out,
			   const struct chunk_pos *pos)
{
	const struct model *m = f->m;
	const struct config *c = &m->cfg;
	struct audio_track *a = &f->track;
	out->none = true;	// nothing for the writer: the files are written here
	if (pos->index == 0) {
		finish_writing(f);	// the stem writer is the writer thread's until then
		struct snt_header h;
		snt_header_init(&h);
		snt_header_copy(&h, &in->h);
		snt_header_set_dtype(&h, SNT_F32);
		snt_header_set_shape(&h, 3, (int64_t[]){ f->n_out, m->C, 1 });
		static const char *const keys[] = { "n_fft", "hop", "window", "center", "length" };
		for (int k = 0; k < 5; k++)
			snt_header_del(&h, keys[k]);
		chunk_pos_set(&h, &(struct chunk_pos){ 0 });
		snt_header_set(&h, "sources", f->sources);
		const char *len = snt_header_get(&in->h, "length");
		int64_t N = -1;
		if (len && parse_int64(len, &N))
			die("%s: malformed length=%s", in->where, len);
		a->st = stem_writer_open_track(f->sw, &h, f->index, in->where);
		snt_header_free(&h);
		a->is = istft_stream_create(f->be, c->n_fft, c->hop_length, (int64_t)f->n_out * m->C);
		istft_stream_begin(a->is, N);
		begin_track(f, pos->total);
	}
	const char *len = snt_header_get(&in->h, "length");	// on the last chunk, at least
	int64_t N, T = in->h.shape[2];
	if (len && !parse_int64(len, &N))
		istft_stream_length(a->is, N);
	for (int64_t t = 0, n; t < T || T == 0; t += n) {	// a batch of segments at a time
		n = piece(f, T - t);
		bool end = t + n == T;
		separator_push_part(f->sp, in->x, T, t, n, pos->last && end);
		stream_stems(f, a, separator_ready(f->sp), pos->last && end, in->where);
		if (end)
			break;
	}
	if (pos->last) {
		stem_stream_commit(a->st);
		istft_stream_free(a->is);
		a->st = NULL, a->is = NULL;
		f->index++;
	}
}

/* out: the frames of the separator that became final, as the output's
 * next chunk (none when no frame is final yet; every remaining one at the
 * last). */
static void chunk_record(struct fwd *f, struct in_slot *in, struct out_slot *out,
			 const struct chunk_pos *pos, bool last)
{
	const struct model *m = f->m;
	int64_t n = separator_ready(f->sp);
	out->none = n == 0;
	if (out->none)
		return;
	size_t P = (size_t)m->C * m->F * n * 2, stems = (size_t)f->n_out * P;
	// written as it is taken, straight from the separator's window, where
	// the record is written before the next is separated (no writer
	// thread: the cpu's default) and a take is a copy: no record-sized
	// buffer (85 MB for 646 frames of base.ini's 4 stems)
	out->direct = !f->wr && !f->instrumental && separator_rows_in_place(f->sp) ? n : 0;
	if (!out->direct) {
		out->y = host_want(f->be, out->y, &out->y_cap, stems);
		take_stems(f, out->y, n);
	}
	int64_t shape[4] = { f->n_out, m->C, m->F, n };
	out_header(f, out, &in->h, SNT_C64, 4, shape, -1);
	struct chunk_pos o = { .chunked = true, .index = f->out_index++, .offset = f->out_offset,
			       .total = pos->total, .last = last };
	chunk_pos_set(&out->h, &o);
	f->out_offset += n;
	out->audio = false;
	out->y_floats = stems;
}

/* One chunk of a chunked spectrogram: pushed into the track's stream,
 * and the frames that became final written as the output's next chunk
 * (none when no frame is final yet; every remaining one at the last). */
static void separate_chunk(struct fwd *f, struct in_slot *in, struct out_slot *out,
			   const struct chunk_pos *pos)
{
	const struct snt_header *h = &in->h;
	if (f->sw) {
		chunk_to_files(f, in, out, pos);
		return;
	}
	if (pos->index == 0) {
		begin_track(f, pos->total);
		f->out_index = f->out_offset = 0;
	}
	int64_t T = h->shape[2];
	// a chunk in pieces (piece()), each piece's final frames a record of
	// their own, written before the next piece is pushed (with a writer
	// thread, once it has written the records before: the same bytes);
	// the last piece's record is the caller's to write
	for (int64_t t = 0, n; t < T || T == 0; t += n) {
		n = piece(f, T - t);
		bool end = t + n == T;
		separator_push_part(f->sp, in->x, T, t, n, pos->last && end);
		if (end)
			break;
		chunk_record(f, in, out, pos, false);
		if (!out->none) {
			finish_writing(f);
			write_job(out);
		}
	}
	chunk_record(f, in, out, pos, pos->last);
}

static void separate_spectrogram(struct fwd *f, struct in_slot *in, struct out_slot *out)
{
	const struct model *m = f->m;
	const struct config *c = &m->cfg;
	const struct snt_header *h = &in->h;
	const char *where = in->where;
	out->none = false;
	if (h->rank != 3)
		die("%s: expected a c64 [C, F, T] spectrogram, got rank %d", where, h->rank);
	check_key(h, "n_fft", c->n_fft, where, f->o->model_arg);
	check_key(h, "hop", c->hop_length, where, f->o->model_arg);
	if (snt_header_get(h, "sr"))
		check_key(h, "sr", c->sample_rate, where, f->o->model_arg);
	if (h->shape[1] != m->F)
		die("%s: %lld frequency bins, n_fft %d makes %d", where, (long long)h->shape[1],
		    c->n_fft, m->F);
	int64_t T = h->shape[2], N = (T - 1) * c->hop_length;
	struct chunk_pos pos;
	char err[512];
	if (chunk_seq_next(&f->seq, h, T, &pos, err, sizeof err))
		die("%s: %s", where, err);
	const char *len = snt_header_get(h, "length");
	// checked even when only passed on: istft would refuse it later
	int64_t frames = pos.total >= 0 ? pos.total : T;	// the track's
	if (len && (parse_int64(len, &N) || N < 1 ||
		    (pos.total >= 0 && 1 + N / c->hop_length != frames)))
		die("%s: length=%s does not fit %lld frames of hop %d", where, len,
		    (long long)frames, c->hop_length);
	if (pos.chunked) {
		separate_chunk(f, in, out, &pos);
		return;
	}
	size_t stems = (size_t)f->n_out * m->C * m->F * T * 2;
	if (!f->sw) {
		out->y = host_want(f->be, out->y, &out->y_cap, stems ? stems : 1);
		stems_spectrogram(f, out->y, in->x, T);
		int64_t shape[4] = { f->n_out, m->C, m->F, T };
		out_header(f, out, h, SNT_C64, 4, shape, -1);
		out->audio = false;
		out->y_floats = stems;
		return;
	}
	// -o: the stems as audio, as istft -o would write them
	if (N <= c->n_fft / 2)
		die("%s: length %lld is too short for n_fft %d", where, (long long)N, c->n_fft);
	float *spec = xmalloc(stems * sizeof(float));
	stems_spectrogram(f, spec, in->x, T);
	out->y = host_want(f->be, out->y, &out->y_cap, (size_t)f->n_out * m->C * N);
	if (separator_istft(f->sp, out->y, spec, (int64_t)f->n_out * m->C, T, N))
		die("%s: inverse STFT failed", where);
	free(spec);
	out_waveforms(f, out, h, N);
	static const char *const spectral_keys[] = { "n_fft", "hop", "window", "center" };
	for (int k = 0; k < 4; k++)
		snt_header_del(&out->h, spectral_keys[k]);
}

static void separate_waveform(struct fwd *f, struct in_slot *in, struct out_slot *out)
{
	const struct model *m = f->m;
	const struct config *c = &m->cfg;
	const struct snt_header *h = &in->h;
	const char *where = in->where;
	out->none = false;
	if (h->rank != 2)
		die("%s: expected an f32 [C, N] waveform, got rank %d", where, h->rank);
	int64_t N = h->shape[1];
	if (N <= c->n_fft / 2)
		die("%s: %lld samples are too few for n_fft %d (reflect padding needs more than %d)",
		    where, (long long)N, c->n_fft, c->n_fft / 2);
	struct chunk_pos pos;
	char err[512];
	if (chunk_seq_next(&f->seq, h, N, &pos, err, sizeof err))
		die("%s: %s", where, err);
	if (pos.chunked)
		die("%s: sepnet-fwd separates chunked spectrograms (from stft --chunk); a chunked "
		    "waveform must be whole here", where);
	out->y = host_want(f->be, out->y, &out->y_cap, (size_t)f->n_out * m->C * N);
	stems_waveform(f, out->y, in->x, N);
	out_waveforms(f, out, h, N);
}

/* The record's seconds of audio: N samples, or T frames of hop, at sr. */
static double record_seconds(const struct fwd *f, const struct snt_header *h)
{
	const struct config *c = &f->m->cfg;
	const char *v = snt_header_get(h, "sr");
	int sr;
	if (!v || parse_int(v, &sr) || sr < 1)
		sr = c->sample_rate;
	int64_t n = h->dtype == SNT_C64 ? (h->shape[h->rank - 1] - 1) * (int64_t)c->hop_length
					 : h->shape[h->rank - 1];
	return (double)n / sr;
}

/* separator_on_progress: done of total segments of the current record */
static void on_progress(void *ctx, int64_t done, int64_t total)
{
	struct fwd *f = ctx;
	progress_draw(&f->progress, f->done_s + f->record_s * done / (total ? total : 1));
}

/* die_at_exit's hook: an error dies once the records before it are
 * written, as a sequential program would have written them (the exit
 * removes unfinished outputs); the writer's own error comes first. */
static void finish_writing(void *arg)
{
	struct fwd *f = arg;
	const char *msg = f->wr ? worker_wait(f->wr) : NULL;
	if (msg)
		die("%s", msg);
}

/* Every record of the current input (f->r or f->wav): read one ahead,
 * separate, write behind. */
static void fwd_records(struct fwd *f)
{
	int64_t i = 0;
	start_read(f, &f->in[0]);
	for (;; i++) {
		struct in_slot *in = &f->in[i % f->nslots];
		const char *err = f->rd ? worker_wait(f->rd) : NULL;
		if (err)
			die("%s", err);
		if (in->status == 0)
			break;
		if (f->stage)	// this record's copy, before the next one's starts
			separator_staged(f->sp);
		if (f->rd)	// the next record, while this one computes
			start_read(f, &f->in[(i + 1) % f->nslots]);
		// the writer is done with this slot unless its record is the
		// writer's latest job (the record before this one had nothing
		// to write): then wait
		struct out_slot *out = &f->out[i % f->nslots];
		if (out->queued) {
			const char *msg = worker_wait(f->wr);
			if (msg)
				die("%s", msg);
			out->queued = false;
		}
		f->record_s = record_seconds(f, &in->h);
		out->direct = 0;
		if (in->h.dtype == SNT_C64)
			separate_spectrogram(f, in, out);
		else
			separate_waveform(f, in, out);
		f->done_s += f->record_s;
		memcpy(out->where, in->where, sizeof out->where);
		if (!out->none)
			start_write(f, out);
		if (!f->rd)
			start_read(f, in);
	}
	finish_writing(f);
}

/* ---- waveform mode, streamed (-o with an audio file) ---- */

/* An audio file separated as it is read, its stems written as they are
 * made: blocks of samples made the model's channel count and rate
 * (wave_stream), frames once final (stft_stream), segments once they fill
 * (the separator), samples once every frame covering them is in
 * (istft_stream), files as they come (stem_stream, back at the input's
 * rate and length).  Memory holds a block, a segment and the frames about
 * it, whatever the track's length; the files are the whole track's (every
 * stage is its whole twin in pieces, bit for bit). */
static void stream_audio(struct fwd *f, struct audio_reader *ar, const char *name)
{
	struct model *m = f->m;
	const struct config *c = &m->cfg;
	int C = m->C, F = m->F;
	struct wave_stream *ws = wave_stream_open(ar, c->sample_rate, C, name);
	// the track at the model's rate: N samples, T frames (-1: open)
	int64_t N = wave_stream_length(ws), T = N < 0 ? -1 : 1 + N / c->hop_length;
	if (N >= 0 && N <= c->n_fft / 2)
		die("%s: %lld samples are too few for n_fft %d (reflect padding needs more than %d)",
		    name, (long long)N, c->n_fft, c->n_fft / 2);
	struct snt_header h;	// the stems' files, as a whole record would name them
	snt_header_init(&h);
	snt_header_set_dtype(&h, SNT_F32);
	snt_header_set_shape(&h, 3, (int64_t[]){ f->n_out, C, 1 });
	snt_header_setf(&h, "sr", "%d", c->sample_rate);
	if (strcmp(name, "-")) {
		snt_header_set(&h, "file", name);
		if (f->o->ninputs) {
			char *t = wave_track_name(f->o->inputs, f->o->ninputs, f->input);
			snt_header_set(&h, "track", t);
			free(t);
		}
	}
	snt_header_set(&h, "sources", f->sources);
	if (ar->sr != c->sample_rate) {
		snt_header_setf(&h, "orig_sr", "%d", ar->sr);
		if (ar->frames > 0)
			snt_header_setf(&h, "orig_length", "%lld", (long long)ar->frames);
	}
	struct audio_track a = { 0 };
	a.st = stem_writer_open_track(f->sw, &h, f->index, name);
	snt_header_free(&h);
	a.fs = stft_stream_create(f->be, c->n_fft, c->hop_length, C);
	stft_stream_begin(a.fs);
	a.is = istft_stream_create(f->be, c->n_fft, c->hop_length, (int64_t)f->n_out * C);
	istft_stream_begin(a.is, N);
	begin_track(f, T);
	f->record_s = ar->frames > 0 ? (double)ar->frames / ar->sr : 0;
	for (bool end = false; !end;) {
		const float *x;
		int64_t n = wave_stream_read(ws, &x, &end);
		if (end && N < 0)	// its length is known now
			istft_stream_length(a.is, stft_stream_samples(a.fs) + n);
		if (stft_stream_push(a.fs, x, n, n, end))
			die("%s: %lld samples are too few for n_fft %d (reflect padding needs more "
			    "than %d)", name, (long long)stft_stream_samples(a.fs), c->n_fft,
			    c->n_fft / 2);
		int64_t t = stft_stream_ready(a.fs);
		size_t floats = (size_t)(C * F * (t ? t : 1) * 2);
		if (a.frames_cap < floats)
			a.frames = xrealloc(a.frames, sizeof(float) * (a.frames_cap = floats));
		stft_stream_take(a.fs, a.frames, t);
		separator_push(f->sp, a.frames, t, end);
		stream_stems(f, &a, separator_ready(f->sp), end, name);
	}
	stem_stream_commit(a.st);
	wave_stream_close(ws);
	stft_stream_free(a.fs);
	istft_stream_free(a.is);
	free(a.frames), free(a.stems);
	f->index++;
	f->done_s += f->record_s;
}

/* One input: an SNT stream, whose records choose the mode by dtype, or an
 * audio file (waveform mode). */
static void fwd_input(struct fwd *f, char *name)
{
	int is_stdin = !strcmp(name, "-");
	FILE *fp = is_stdin ? stdin : fopen(name, "rb");
	if (!fp)
		die("%s:", name);
	unsigned char magic[4];
	size_t got = fread(magic, 1, 4, fp);
	if (f->o->raw) {	// -t: raw samples, as they arrive
		struct audio_reader *ar = audio_open_stream_stdin(magic, got, f->o->raw_sr,
								  f->o->raw_channels, f->o->raw_enc);
		stream_audio(f, ar, name);
		audio_close(ar);
		return;
	}
	if (got == 4 && !memcmp(magic, SNT_MAGIC, 4)) {
		f->r = snt_reader_from_fp_prefix(fp, is_stdin ? "<stdin>" : name, magic, 4);
		f->r->owns_fp = !is_stdin;
		fwd_records(f);
		char err[512];
		if (chunk_seq_end(&f->seq, err, sizeof err))
			die("%s: after record %lld: %s", f->r->name, (long long)f->r->record - 1, err);
		snt_reader_close(f->r);
		f->r = NULL;
		return;
	}
	if (f->sw) {	// an audio file to audio files: streamed
		struct audio_reader *ar;
		if (is_stdin) {
			if (got == 0)
				die("<stdin>: empty input (no audio file or SNT records)");
			ar = audio_open_stream_stdin(magic, got, 0, 0, 0);	// a WAV as it arrives
		} else {
			fclose(fp);
			ar = audio_open_read(name);
		}
		stream_audio(f, ar, name);
		audio_close(ar);
		return;
	}
	// an audio file: hand the bytes read back (stdin: glibc's ungetc takes
	// them back into the buffer they came from) and read it whole
	if (is_stdin)
		while (got > 0)
			ungetc(magic[--got], stdin);
	else
		fclose(fp);
	f->wav = wave_input_open(&name, 1);
	wave_input_conform(f->wav, f->m->cfg.sample_rate, f->m->C);
	fwd_records(f);
	wave_input_close(f->wav);
	f->wav = NULL;
}

/* -o with audio files named: every output path claimed before the first
 * separation, so that two songs mapped to one file fail before any work
 * (up to the first SNT stream, whose record count is unknown). */
static void reserve_outputs(struct fwd *f)
{
	const struct pipeline_opts *o = f->o;
	for (int i = 0; i < o->ninputs; i++) {
		const char *name = o->inputs[i];
		if (!wave_is_audio_file(name))
			return;	// stdin, a stream, or an error the read will report
		struct snt_header h;
		snt_header_init(&h);
		char *t = wave_track_name(o->inputs, o->ninputs, i);
		snt_header_set(&h, "track", t);
		snt_header_set(&h, "file", name);
		snt_header_set(&h, "sources", f->sources);
		stem_writer_reserve(f->sw, &h, f->n_out, i, name);
		free(t);
		snt_header_free(&h);
	}
}

int64_t pipeline_wiener_frames(const struct config *c)
{
	int64_t frames = llround(PIPELINE_WIENER_SECONDS * c->sample_rate / c->hop_length);
	return frames > 1 ? frames : 1;
}

int64_t pipeline_segment_frames(const struct config *c, int max_frames, double segment_s)
{
	if (segment_s <= 0)
		return 0;
	int64_t frames = llround(segment_s * c->sample_rate / c->hop_length);
	double frame_s = (double)c->hop_length / c->sample_rate;
	if (frames < 2)
		die("--segment %g: at least two frames, %.3f s", segment_s, 2 * frame_s);
	if (frames > max_frames)
		die("--segment %g: the model's segments are %.2f s, the most it takes", segment_s,
		    max_frames * frame_s);
	return frames;
}

void pipeline_run(const struct pipeline_opts *o)
{
	const struct backend *be = backend_get(o->device);
	struct fwd f = { .o = o, .be = be };
	if (o->output)
		f.sw = stem_writer_create(o->output, o->sample, o->sample_set, o->sr);
	if (!o->output || !strcmp(o->output, "-"))
		refuse_tty_stdout();
	int batch = o->batch ? o->batch : be == &backend_cpu ? 1 : 8;
	f.m = checkpoint_map_model(o->model, be, batch);	// the weights in place (cpu)
	model_freeze(f.m);	// loaded: the weights are final
	if (o->precision >= 0)
		be->set_precision((enum backend_precision)o->precision);
	f.n_out = select_stems(&f.m->cfg, o->stems, f.idx);
	for (int i = 0; i < f.n_out; i++) {
		if (i)
			strcat(f.sources, ",");
		f.instrumental |= f.idx[i] == INSTRUMENTAL;
		strcat(f.sources, f.idx[i] == INSTRUMENTAL ? "instrumental" : f.m->cfg.sources[f.idx[i]]);
	}
	f.sp = separator_create(f.m);
	separator_segment(f.sp, pipeline_segment_frames(&f.m->cfg, f.m->max_frames, o->segment_s));
	separator_wiener(f.sp, o->wiener, pipeline_wiener_frames(&f.m->cfg));
	if (!f.sw)
		f.w = snt_writer_open("-");
	bool prefetch = o->prefetch < 0 ? !be->host : o->prefetch;
	f.nslots = prefetch ? 2 : 1;
	if (prefetch) {
		f.rd = worker_create();
		f.wr = worker_create();
		f.stage = true;	// in place on the cpu
	}
	for (int i = 0; i < 2; i++) {
		snt_header_init(&f.in[i].h);
		snt_header_init(&f.out[i].h);
		f.out[i].f = &f;
	}
	die_at_exit(finish_writing, &f);
	if (f.sw)
		reserve_outputs(&f);
	progress_init(&f.progress, o->quiet, 0, 0);
	if (f.progress.on) {
		f.progress.total = wave_inputs_seconds(o->inputs, o->ninputs);
		separator_on_progress(f.sp, on_progress, &f);
	}
	char *stdin_name = "-";
	for (int i = 0; i < (o->ninputs ? o->ninputs : 1); i++) {
		f.input = i;
		fwd_input(&f, o->ninputs ? o->inputs[i] : stdin_name);
	}
	progress_finish(&f.progress, f.done_s);
	die_at_exit(NULL, NULL);
	worker_free(f.rd);
	worker_free(f.wr);
	for (int i = 0; i < 2; i++) {
		snt_header_free(&f.in[i].h);
		snt_header_free(&f.out[i].h);
		if (f.in[i].x_malloced)
			free(f.in[i].x);
		else if (f.in[i].x)
			be->host_free(f.in[i].x);
		if (f.out[i].y)
			be->host_free(f.out[i].y);
	}
	if (f.w)
		snt_writer_close(f.w);
	else
		close_stdout();
	stem_writer_free(f.sw);
	free(f.track.frames), free(f.track.stems);
	chunk_seq_free(&f.seq);
	separator_free(f.sp);
	model_free(f.m);
}

