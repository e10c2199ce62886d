/* stft: audio files or SNT waveform records -> SNT spectrograms.
 *
 * Each input record f32 [..., C, N] becomes c64 [..., C, F, T] with the
 * keys n_fft, hop, window, center and length added (docs/DESIGN.md §3); every
 * other key passes through.  With -m MODEL or -c CONFIG the STFT is the
 * model's, and audio is first made its rate and channel count
 * (lib/resample.h), the input's rate and length kept in orig_sr and
 * orig_length for istft.  With --chunk SECONDS a longer track becomes
 * chunk records (lib/io/chunked.h) whose frames are exactly the whole
 * track's: each chunk is the STFT of the samples its frames' windows
 * cover.  Rows are transformed on the backend of -d (lib/backend.h): on
 * the CPU in parallel groups of one row per thread, written as they
 * finish, so memory stays near one input and one output record (or
 * chunk); on a GPU a record (or chunk) at a time. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "audio.h"
#include "backend.h"
#include "checkpoint.h"
#include "chunked.h"
#include "config.h"
#include "datafile.h"
#include "progress.h"
#include "resample.h"
#include "snt.h"
#include "stftstream.h"
#include "util.h"
#include "wavein.h"

struct opts {
	int n_fft, hop;
	double chunk_s;		/* --chunk SECONDS (default 10); 0: whole tracks */
	int sr, channels;	/* -m, -c: audio conformed to the model's (0: as it is) */
	const char *device;
	bool quiet;		/* -q: no progress line */
	char **inputs;
	int ninputs;
};

static const char usage_text[] =
	"usage: stft [-m MODEL | -c CONFIG] [-n N_FFT] [-H HOP] [--chunk=seconds] [-d cpu|cuda] [-q]\n"
	"            [FILE ...]";
static const char options_text[] =
	"Audio files or SNT waveform records (stdin without FILE) to SNT spectrograms.\n"
	"  -m, --model=MODEL    the STFT of a checkpoint (a path, or a shipped name: demo);\n"
	"                       audio is resampled and its channels mapped to the model's\n"
	"  -c, --config=CONFIG  the same from a config (a path, or a shipped name: base)\n"
	"  -n, --n-fft=N_FFT    frame length, even (default 4096)\n"
	"  -H, --hop=HOP        hop between frames (default 1024)\n"
	"      --chunk=SECONDS  a track longer than this as chunk records of about SECONDS\n"
	"                       each, the same frames (default 10; 0: one record a track)\n"
	"  -d, --device=DEV     cpu or cuda (default: cuda when built with it and a GPU is here)\n"
	"  -q, --quiet          no progress line (on a terminal, for work of over a second)\n"
	"  -h, --help           this help\n"
	"      --version        the version\n";

_Noreturn static void usage(int status)
{
	if (status == 0)
		print_help(usage_text, options_text);
	fprintf(stderr, "%s\n", usage_text);
	exit(status);
}

/* The transform on a backend, with its buffers for one group of rows. */
struct stft_ctx {
	const struct backend *be;
	struct backend_stft *plan;
	int n_fft, hop, group;	/* rows per call: one per thread on the CPU */
	double chunk_s;		/* --chunk: seconds a record (0: whole tracks) */
	struct backend_buffer x, out;
	struct progress progress;
	double done_s;		/* seconds of audio transformed */
};

/* Frames k0 .. k0 + n of the STFT of samples a .. b of every row of x
 * [R, N], written as one payload [R, F, n].  They are the whole track's
 * frames a/hop + k0 .. when each one's window lies inside [a, b) or meets
 * the track's own ends (stft_chunk picks a and b so). */
static void stft_frames(struct stft_ctx *ctx, struct snt_writer *w, const float *x, int64_t R,
			int64_t N, int64_t a, int64_t b, int64_t k0, int64_t n, double seconds,
			const char *where)
{
	const struct backend *be = ctx->be;
	int64_t len = b - a, T = 1 + len / ctx->hop, F = ctx->n_fft / 2 + 1;
	size_t row_floats = 2 * F * T;
	int64_t group = ctx->group ? ctx->group : R;
	if (group > R)
		group = R;
	float *out = xmalloc(sizeof(float) * row_floats * group);
	float *sub = len == N ? NULL : xmalloc(sizeof(float) * len * group);
	for (int64_t r0 = 0; r0 < R; r0 += group) {
		int64_t rows = R - r0 < group ? R - r0 : group;
		const float *src = x + r0 * N;
		if (sub) {	// the rows' samples a .. b, contiguous
			for (int64_t r = 0; r < rows; r++)
				memcpy(sub + r * len, src + r * N + a, sizeof(float) * len);
			src = sub;
		}
		float *dst = out;
		if (!be->host) {	// device memory in and out
			float *dx = backend_buffer_want(be, &ctx->x, rows * len);
			be->upload(dx, src, sizeof(float) * rows * len);
			src = dx;
			dst = backend_buffer_want(be, &ctx->out, rows * row_floats);
		}
		if (be->stft_forward(ctx->plan, dst, src, rows, len))
			die("%s: STFT failed", where);
		if (!be->host)
			be->download(out, dst, sizeof(float) * row_floats * rows);
		if (k0 != 0 || n != T)	// the frames asked for, bin by bin
			for (int64_t q = 0; q < rows * F; q++)
				memmove(out + q * 2 * n, out + (q * T + k0) * 2, sizeof(float) * 2 * n);
		snt_write_payload(w, out, sizeof(float) * 2 * F * n * rows);
		progress_draw(&ctx->progress, ctx->done_s + seconds * (r0 + rows) / R);
	}
	ctx->done_s += seconds;
	free(out);
	free(sub);
}

/* Chunk records of a track of T frames: Tc frames each (T: one record). */
static int64_t chunk_frames(const struct stft_ctx *ctx, int rate, int64_t T)
{
	int64_t Tc = T;
	if (ctx->chunk_s > 0 && rate) {
		Tc = (int64_t)(ctx->chunk_s * rate / ctx->hop + 0.5);
		if (Tc < 1)
			Tc = 1;
		if (Tc > T)
			Tc = T;
	}
	return Tc;
}

/* The keys a spectrogram carries (istft reads them back). */
static void spectral_keys(const struct stft_ctx *ctx, struct snt_header *h)
{
	snt_header_setf(h, "n_fft", "%d", ctx->n_fft);
	snt_header_setf(h, "hop", "%d", ctx->hop);
	snt_header_set(h, "window", "hann");
	snt_header_set(h, "center", "1");
}

/* The next n final frames of fs as w's payload, written from where the
 * stream holds them: no record-sized copy (13 % of stft's time). */
static void write_frames(struct snt_writer *w, struct stft_stream *fs, int64_t n)
{
	struct snt_rowv v = { .w = w };
	stft_stream_take_rows(fs, n, snt_rowv_put_c64, &v);
	snt_rowv_flush(&v);
}

/* A chunked waveform track being transformed as its chunks come. */
struct track_fwd {
	struct stft_stream *fs;
	int64_t rows, index, offset;	/* output chunks, frames written */
};

/* One chunk of a chunked waveform track (io/chunked.h): its samples pushed
 * into the track's stft_stream, the frames that became final written as
 * the output's next chunk (none yet, or the rest at the last). */
static void stft_chunk(struct stft_ctx *ctx, struct track_fwd *tr, struct snt_writer *w,
		       struct snt_header *h, const float *x, const struct chunk_pos *pos,
		       const char *where)
{
	int64_t n = h->shape[h->rank - 1], R = n ? snt_numel(h) / n : 0, F = ctx->n_fft / 2 + 1;
	if (h->rank == SNT_MAX_RANK)
		die("%s: rank %d waveform leaves no room for the frequency axis", where, h->rank);
	if (pos->index == 0) {
		stft_stream_free(tr->fs);
		*tr = (struct track_fwd){ .fs = stft_stream_create(ctx->be, ctx->n_fft, ctx->hop, R),
					  .rows = R };
		stft_stream_begin(tr->fs);
	}
	if (stft_stream_push(tr->fs, x, n, n, pos->last))
		die("%s: the track's %lld samples are too few for n_fft %d (reflect padding needs "
		    "more than %d)", where, (long long)stft_stream_samples(tr->fs), ctx->n_fft,
		    ctx->n_fft / 2);
	int64_t t = stft_stream_ready(tr->fs);
	int rate = wave_rate(h, where);
	ctx->done_s += rate ? (double)n / rate : 0;
	if (t > 0) {
		int64_t shape[SNT_MAX_RANK];
		memcpy(shape, h->shape, sizeof shape);
		shape[h->rank - 1] = F, shape[h->rank] = t;
		snt_header_set_dtype(h, SNT_C64);
		snt_header_set_shape(h, h->rank + 1, shape);
		spectral_keys(ctx, h);
		if (pos->total >= 0)
			snt_header_setf(h, "length", "%lld", (long long)pos->total);
		else if (pos->last)
			snt_header_setf(h, "length", "%lld", (long long)stft_stream_samples(tr->fs));
		chunk_pos_set(h, &(struct chunk_pos){ .chunked = true, .index = tr->index++,
						      .offset = tr->offset,
						      .total = pos->total >= 0 ? 1 + pos->total / ctx->hop : -1,
						      .last = pos->last });
		snt_write_header(w, h);
		write_frames(w, tr->fs, t);
		tr->offset += t;
	}
	progress_draw(&ctx->progress, ctx->done_s);
	if (pos->last) {
		stft_stream_free(tr->fs);
		*tr = (struct track_fwd){ 0 };
	}
}

/* One record: rows of x [R, N] -> spectrogram rows [R, F, T], as one
 * record or, with --chunk shorter than the track, as chunk records of the
 * track's own frames (lib/io/chunked.h). */
static void stft_record(struct stft_ctx *ctx, struct snt_writer *w, struct snt_header *h,
			const float *x, const char *where)
{
	int64_t N = h->shape[h->rank - 1], R = snt_numel(h) / N;
	// seconds of audio, for the progress line: every row (channel,
	// source) spans the same N samples
	int rate = wave_rate(h, where);
	int64_t hop = ctx->hop, T = 1 + N / hop, F = ctx->n_fft / 2 + 1;
	if (N <= ctx->n_fft / 2)
		die("%s: %lld samples are too few for n_fft %d (reflect padding needs more than %d)",
		    where, (long long)N, ctx->n_fft, ctx->n_fft / 2);
	if (h->rank == SNT_MAX_RANK)
		die("%s: rank %d waveform leaves no room for the frequency axis", where, h->rank);
	int64_t Tc = chunk_frames(ctx, rate, T);	// frames a record
	int64_t shape[SNT_MAX_RANK];
	memcpy(shape, h->shape, sizeof shape);
	int rank = h->rank + 1;
	shape[rank - 2] = F;
	snt_header_set_dtype(h, SNT_C64);
	spectral_keys(ctx, h);
	snt_header_setf(h, "length", "%lld", (long long)N);
	for (int64_t t0 = 0, k = 0; t0 < T; t0 += Tc, k++) {
		int64_t t1 = T - t0 < Tc ? T : t0 + Tc, a, b;
		stft_span(ctx->n_fft, hop, t0, t1, N, &a, &b);	// the samples its frames cover
		shape[rank - 1] = t1 - t0;
		snt_header_set_shape(h, rank, shape);
		if (Tc < T)
			chunk_pos_set(h, &(struct chunk_pos){ .chunked = true, .index = k, .offset = t0,
							      .total = T, .last = t1 == T });
		snt_write_header(w, h);
		double seconds = rate ? (double)(t1 == T ? N - t0 * hop : (t1 - t0) * hop) / rate : 0;
		stft_frames(ctx, w, x, R, N, a, b, t0 - a / hop, t1 - t0, seconds, where);
	}
}

/* An audio file read in blocks (io/wavein's wave_stream) and transformed
 * as they come (stft_stream), written as stft_record writes it whole: in
 * chunk records, or one record when the track is no longer than a chunk.
 * Memory holds a block and a chunk whatever the file's length.  A stream
 * of open length (standard input) gets its total and length on its last
 * chunk.  name: for messages and file=; NULL: standard input (no file or
 * track key). */
static void stft_audio(struct stft_ctx *ctx, struct snt_writer *w, const struct opts *o,
		       struct audio_reader *ar, const char *name, const char *track)
{
	const char *where = name ? name : "<stdin>";
	int rate = o->sr > 0 ? o->sr : ar->sr;
	int64_t N = ar->frames < 0 ? -1 : rate != ar->sr ? resample_length(ar->frames, ar->sr, rate)
							 : ar->frames;
	int64_t T = N < 0 ? -1 : 1 + N / ctx->hop, F = ctx->n_fft / 2 + 1;
	struct wave_stream *ws = wave_stream_open(ar, o->sr, o->channels, where);
	int C = wave_stream_channels(ws);
	if (N >= 0 && N <= ctx->n_fft / 2)
		die("%s: %lld samples are too few for n_fft %d (reflect padding needs more than %d)",
		    where, (long long)N, ctx->n_fft, ctx->n_fft / 2);
	struct snt_header h;	// the keys of wave_input and stft_record, in their order
	snt_header_init(&h);
	snt_header_set_dtype(&h, SNT_C64);
	snt_header_set_shape(&h, 3, (int64_t[]){ C, F, 1 });	// its place; the size per chunk
	snt_header_setf(&h, "sr", "%d", rate);
	if (name) {
		if (snt_header_set(&h, "track", track))
			warn("%s: file name not usable as a track name", name);
		snt_header_set(&h, "file", name);
	}
	if (rate != ar->sr) {
		snt_header_setf(&h, "orig_sr", "%d", ar->sr);
		if (ar->frames >= 0)
			snt_header_setf(&h, "orig_length", "%lld", (long long)ar->frames);
	}
	spectral_keys(ctx, &h);
	if (N >= 0)
		snt_header_setf(&h, "length", "%lld", (long long)N);
	struct stft_stream *fs = stft_stream_create(ctx->be, ctx->n_fft, ctx->hop, C);
	stft_stream_begin(fs);
	// frames a record: a chunk's (rate is known), the whole track's when
	// it is no longer
	int64_t Tc = chunk_frames(ctx, rate, T < 0 ? INT64_MAX : T), t0 = 0, k = 0;
	bool chunked = T < 0 || Tc < T;
	for (bool end = false; !end;) {
		const float *x;
		int64_t n = wave_stream_read(ws, &x, &end);
		if (stft_stream_push(fs, x, n, n, end))
			die("%s: %lld samples are too few for n_fft %d (reflect padding needs more than %d)",
			    where, (long long)stft_stream_samples(fs), ctx->n_fft, ctx->n_fft / 2);
		if (end && T < 0) {	// the stream's length, known now
			N = stft_stream_samples(fs), T = 1 + N / ctx->hop;
			snt_header_setf(&h, "length", "%lld", (long long)N);
		}
		// every whole chunk that is final, and the rest at the end
		for (;;) {
			int64_t ready = stft_stream_ready(fs), left = T < 0 ? -1 : T - t0;
			int64_t want = left >= 0 && left < Tc ? left : Tc;
			if (want <= 0 || ready < want)
				break;
			int64_t t1 = t0 + want;
			snt_header_set_shape(&h, 3, (int64_t[]){ C, F, want });
			if (chunked)
				chunk_pos_set(&h, &(struct chunk_pos){ .chunked = true, .index = k++,
								       .offset = t0, .total = T,
								       .last = t1 == T });
			snt_write_header(w, &h);
			write_frames(w, fs, want);
			ctx->done_s += (double)(t1 == T ? N - t0 * ctx->hop : want * ctx->hop) / rate;
			progress_draw(&ctx->progress, ctx->done_s);
			t0 = t1;
		}
	}
	if (t0 != T)
		die("%s: %lld of %lld frames made (a shorter file than its header says?)", where,
		    (long long)t0, (long long)T);
	stft_stream_free(fs);
	wave_stream_close(ws);
	snt_header_free(&h);
}

/* A named audio file longer than a chunk, streamed (stft_audio); false,
 * with nothing read, when it is one record (read whole). */
static bool stft_stream_file(struct stft_ctx *ctx, struct snt_writer *w, const struct opts *o,
			     const char *name, const char *track)
{
	struct audio_reader *ar = audio_open_read(name);
	int rate = o->sr > 0 ? o->sr : ar->sr;
	int64_t N = ar->frames < 0 ? -1 : rate != ar->sr ? resample_length(ar->frames, ar->sr, rate)
							 : ar->frames;
	if (N < 0 || chunk_frames(ctx, rate, 1 + N / ctx->hop) >= 1 + N / ctx->hop) {
		audio_close(ar);
		return false;
	}
	stft_audio(ctx, w, o, ar, name, track);
	audio_close(ar);
	return true;
}

static void stft_run(const struct opts *o)
{
	const struct backend *be = backend_get(o->device);
	struct stft_ctx ctx = { .be = be, .n_fft = o->n_fft, .hop = o->hop, .chunk_s = o->chunk_s };
	ctx.plan = be->stft_create(o->n_fft, o->hop);
	ctx.group = be->host ? max_threads() : 0;
	progress_init(&ctx.progress, o->quiet, 0, 1);
	if (ctx.progress.on)
		ctx.progress.total = wave_inputs_seconds(o->inputs, o->ninputs);
	struct snt_writer *w = snt_writer_open("-");
	struct snt_header h;
	float *x;
	struct chunk_seq seq = { 0 };	/* chunked waveform tracks in the records */
	struct track_fwd tr = { 0 };
	snt_header_init(&h);
	char *stdin_name = "-";
	int n = o->ninputs ? o->ninputs : 1;
	for (int i = 0; i < n; i++) {
		char *name = o->ninputs ? o->inputs[i] : stdin_name;
		bool audio = wave_is_audio_file(name);	// a named one
		if (!strcmp(name, "-") && o->chunk_s > 0) {	// audio on stdin: as it arrives
			unsigned char magic[4];
			size_t got = fread(magic, 1, 4, stdin);
			if (got > 0 && !(got == 4 && !memcmp(magic, SNT_MAGIC, 4))) {
				struct audio_reader *ar = audio_open_stream_stdin(magic, got, 0, 0, 0);
				stft_audio(&ctx, w, o, ar, NULL, NULL);
				audio_close(ar);
				continue;
			}
			while (got > 0)	// records: glibc takes the bytes back
				ungetc(magic[--got], stdin);
		}
		if (audio && o->chunk_s > 0) {	// a long file in chunks: streamed
			char *track = wave_track_name(o->inputs, o->ninputs, i);
			bool done = stft_stream_file(&ctx, w, o, name, track);
			free(track);
			if (done)
				continue;
		}
		// one input's records, read whole (an audio file's track among
		// every file named)
		struct wave_input *in = wave_input_open(&name, 1);
		wave_input_conform(in, o->sr, o->channels);
		while (wave_input_next(in, &h, &x)) {
			char where[512], err[512];
			snprintf(where, sizeof where, "%s: record %lld", wave_input_name(in),
				 (long long)wave_input_record(in));
			struct chunk_pos pos;
			if (chunk_seq_next(&seq, &h, h.rank ? h.shape[h.rank - 1] : 1, &pos, err,
					   sizeof err))
				die("%s: %s", where, err);
			if (pos.chunked) {	// a chunked waveform track: streamed
				stft_chunk(&ctx, &tr, w, &h, x, &pos, where);
				free(x);
				continue;
			}
			if (audio) {
				char *t = wave_track_name(o->inputs, o->ninputs, i);
				snt_header_set(&h, "track", t);
				free(t);
			}
			stft_record(&ctx, w, &h, x, where);
			free(x);
		}
		char err[512];
		if (chunk_seq_end(&seq, err, sizeof err))
			die("%s: %s", name, err);
		wave_input_close(in);
	}
	chunk_seq_free(&seq);
	stft_stream_free(tr.fs);
	snt_header_free(&h);
	snt_writer_close(w);
	progress_finish(&ctx.progress, ctx.done_s);
	backend_buffer_free(be, &ctx.x);
	backend_buffer_free(be, &ctx.out);
	be->stft_free(ctx.plan);
}

/* The command line into o (usage errors exit 2). */
static void parse_options(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "n-fft", required_argument, NULL, 'n' },
		{ "hop", required_argument, NULL, 'H' },
		{ "config", required_argument, NULL, 'c' },
		{ "model", required_argument, NULL, 'm' },
		{ "device", required_argument, NULL, 'd' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "chunk", required_argument, NULL, 'C' },
		{ 0 },
	};
	int set_n = 0, set_hop = 0, c;
	struct config cfg;
	const char *from = NULL;	/* -c or -m, for the message when both */
	char err[512];
	opterr = 0;	/* one line of our own (die_bad_option) */
	while ((c = getopt_long(argc, argv, ":hn:H:c:m:d:q", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (parse_int(optarg, &o->n_fft) || o->n_fft < 2 || o->n_fft % 2)
				die_usage("-n: n_fft must be an even integer >= 2, not '%s'", optarg);
			set_n = 1;
			break;
		case 'H':
			if (parse_int(optarg, &o->hop) || o->hop < 1)
				die_usage("-H: hop must be a positive integer, not '%s'", optarg);
			set_hop = 1;
			break;
		case 'c':
		case 'm':
			if (from)
				die_usage("%s and -%c: give one model or config", from, c);
			from = c == 'c' ? "-c" : "-m";
			if (c == 'c')
				config_load_or_die(&cfg, optarg);
			else if (checkpoint_read_config(datafile_resolve(optarg, "models", ".safetensors"),
							&cfg, err, sizeof err))
				die("%s", err);
			if (!set_n)
				o->n_fft = cfg.n_fft;
			if (!set_hop)
				o->hop = cfg.hop_length;
			o->sr = cfg.sample_rate, o->channels = cfg.channels;
			break;
		case 'd':
			o->device = optarg;
			break;
		case 'C':
			if (parse_double(optarg, &o->chunk_s) || !(o->chunk_s >= 0 && o->chunk_s <= 1e6))
				die_usage("--chunk: seconds from 0 (whole tracks) to 1e6, not '%s'", optarg);
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'V':
			printf("stft %s\n", SEPNET_VERSION);
			exit(0);
		case 'h':
			usage(0);
		default:
			die_bad_option(c, argv);
		}
	}
	if (o->hop > o->n_fft)
		die_usage("hop %d is larger than n_fft %d", o->hop, o->n_fft);
	o->inputs = argv + optind;
	o->ninputs = argc - optind;
}

int main(int argc, char **argv)
{
	struct opts o = { .n_fft = 4096, .hop = 1024, .chunk_s = 10 };
	set_progname(argv[0]);
	parse_options(argc, argv, &o);
	stft_run(&o);
	return 0;
}
