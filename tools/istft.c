/* istft: SNT spectrograms -> SNT waveforms, or audio files with -o.
 *
 * c64 [..., C, F, T] with n_fft and hop (from stft) becomes f32 [..., C, N]
 * with N from the `length` key (or (T-1)*hop without one), like
 * torch.istft(center=True, length=N).  The keys only a spectrogram has
 * (n_fft, hop, window, center) are dropped; every other key passes through.
 * With -o PATTERN each record is written as audio files instead (see
 * lib/stemout.h).  Rows are inverted on the backend of -d (lib/backend.h):
 * on the CPU a group of one row per thread at a time, on a GPU a whole
 * record. */
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "audio.h"
#include "backend.h"
#include "chunked.h"
#include "progress.h"
#include "resample.h"
#include "snt.h"
#include "stemout.h"
#include "stftstream.h"
#include "util.h"

struct opts {
	const char *pattern;	/* -o: audio files instead of a stream */
	enum audio_sample sample;
	int sample_set;
	int sr;			/* -r: overrides or supplies the sr key */
	const char *device;
	bool quiet;		/* -q: no progress line */
	char **inputs;
	int ninputs;
};

static const char usage_text[] =
	"usage: istft [-o PATTERN [-b 16|24|32f] [-r RATE]] [-d cpu|cuda] [-q] [FILE ...]";
static const char options_text[] =
	"SNT spectrograms (stdin without FILE) to SNT waveforms, or audio files with -o.\n"
	"  -o, --output=PATTERN audio files named by PATTERN: %s source, %t track, %d the\n"
	"                       input's folder, %b its name, %i record index, %% a percent\n"
	"  -b, --bits=16|24|32f sample format of -o files (default 32f; FLAC 24)\n"
	"  -r, --rate=RATE      -o files resampled to RATE Hz (default: the input's rate)\n"
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

/* The backend's plans for one (n_fft, hop), rebuilt when a record differs,
 * and its buffers. */
struct plans {
	const struct backend *be;
	int n_fft, hop;
	struct backend_stft *s;
	struct backend_buffer spec, y;
};

static void plans_use(struct plans *p, int n_fft, int hop)
{
	if (p->s && p->n_fft == n_fft && p->hop == hop)
		return;
	if (p->s)
		p->be->stft_free(p->s);
	p->s = p->be->stft_create(n_fft, hop);
	p->n_fft = n_fft, p->hop = hop;
}

static int key_int(const struct snt_header *h, const char *key, const char *where)
{
	const char *v = snt_header_get(h, key);
	int x;
	if (!v)
		die("%s: no %s key (is this the output of stft?)", where, key);
	if (parse_int(v, &x) || x < 1)
		die("%s: malformed %s=%s", where, key, v);
	return x;
}

/* A chunked track being inverted (lib/io/chunked.h) as its chunks come
 * (backend/stftstream.h), its samples written as they are made. */
struct track_inv {
	struct istft_stream *is;
	int n_fft, hop;		/* its first chunk's */
	/* stream records back at orig_sr and orig_length (files: stem_stream's) */
	struct restore_stream *rs;
	int orig;		/* its rate */
	int64_t M;		/* its samples, -1: the converter's */
	int64_t written;	/* samples written at orig */
	float *block;		/* a block of a chunk's rows, on their way into the stream */
	size_t block_cap;
	float *y;		/* a chunk's samples (R, m), for the converter or the files */
	size_t y_cap;
	int64_t index;		/* output chunks */
	struct stem_stream *st;	/* -o: the track's files */
};

/* o: the waveform record of m samples a spectrogram chunk h makes, chunk
 * index of the track's output at sample offset of total (-1: open). */
static void record_header(struct snt_header *o, const struct snt_header *h, int64_t m,
			  int64_t index, int64_t offset, int64_t total, bool last)
{
	snt_header_free(o);
	snt_header_init(o);
	snt_header_copy(o, h);
	int64_t shape[SNT_MAX_RANK];
	memcpy(shape, h->shape, sizeof shape);
	shape[h->rank - 2] = m;
	snt_header_set_dtype(o, SNT_F32);
	snt_header_set_shape(o, h->rank - 1, shape);
	static const char *const keys[] = { "n_fft", "hop", "window", "center", "length" };
	for (int k = 0; k < 5; k++)
		snt_header_del(o, keys[k]);
	if (total >= 0)
		snt_header_setf(o, "length", "%lld", (long long)total);
	chunk_pos_set(o, &(struct chunk_pos){ .chunked = true, .index = index, .offset = offset,
					      .total = total, .last = last });
}

static void istft_chunk(struct track_inv *tr, struct plans *p, struct snt_reader *r,
			struct snt_header *h, const struct chunk_pos *pos, struct snt_writer *w,
			struct stem_writer *sw, int64_t index, const char *where)
{
	int n_fft = p->n_fft, hop = p->hop;
	int64_t F = h->shape[h->rank - 2], n = h->shape[h->rank - 1], R = snt_numel(h) / (F * n);
	int64_t t1 = pos->offset + n, N = -1;	// the track's frames so far, its samples
	if (snt_header_get(h, "length")) {
		N = key_int(h, "length", where);
		if (pos->total >= 0 && 1 + N / hop != pos->total)
			die("%s: length=%lld needs %lld frames, total=%lld", where, (long long)N,
			    (long long)(1 + N / hop), (long long)pos->total);
	} else if (pos->last)
		N = (t1 - 1) * hop;
	if (pos->last && (1 + N / hop != t1 || N <= n_fft / 2))
		die("%s: the track's %lld frames do not make length=%lld (n_fft %d, hop %d)", where,
		    (long long)t1, (long long)N, n_fft, hop);
	if (pos->index == 0) {
		istft_stream_free(tr->is);
		restore_stream_free(tr->rs);
		free(tr->block);
		free(tr->y);
		*tr = (struct track_inv){ .is = istft_stream_create(p->be, n_fft, hop, R),
					  .n_fft = n_fft, .hop = hop, .M = -1 };
		istft_stream_begin(tr->is, N);
		// audio that stft resampled goes back to the input's rate and
		// length, as a whole record does (the files: stem_stream's)
		int sr = wave_rate(h, where), orig = wave_rate_key(h, "orig_sr", where);
		if (w && sr && orig && orig != sr) {
			tr->orig = orig;
			const char *ol = snt_header_get(h, "orig_length");
			if (ol && (parse_int64(ol, &tr->M) || tr->M < 1))
				die("%s: malformed orig_length=%s", where, ol);
			if (tr->M < 0 && N >= 0)
				tr->M = resample_length(N, sr, orig);
			tr->rs = restore_stream_create(R, sr, orig, tr->M, where);
		}
	} else if (n_fft != tr->n_fft || hop != tr->hop)
		die("%s: n_fft=%d hop=%d, the track's first chunk had n_fft=%d hop=%d", where, n_fft,
		    hop, tr->n_fft, tr->hop);
	// the payload straight into the stream's frames, a group of signals (a
	// stem's channel: F rows each) at a time, one per thread on the CPU (the
	// backend inverts a row per thread) and all on a GPU (one upload),
	// through a block of rows of about 1 MiB (checked there, in cache): no
	// record-sized buffer, whose fresh pages cost more than the copy, and
	// each group inverted as it comes
	int64_t stride, per = n > 0 ? (1 << 20) / (2 * n * (int64_t)sizeof(float)) : F;
	per = per < 1 ? 1 : per > F ? F : per;
	tr->block = xreserve_big(tr->block, &tr->block_cap, (size_t)(per * 2 * n), sizeof(float));
	if (N >= 0)	// a stream of open length says it on its last chunk
		istft_stream_length(tr->is, N);
	int64_t done = istft_stream_samples(tr->is), m = -1;
	// straight out as each group's samples are made, or gathered (R, m)
	// for the rate converter or the files
	bool direct = w && !tr->rs;
	struct snt_header o;
	snt_header_init(&o);
	int64_t group = p->be->host ? max_threads() : R;
	for (int64_t sig = 0; sig < R; sig += group) {
		int64_t nr = R - sig < group ? R - sig : group;
		float *at = istft_stream_place_rows(tr->is, n, sig, nr, &stride);
		for (int64_t q0 = 0; n > 0 && q0 < nr * F; q0 += per) {
			int64_t k = nr * F - q0 < per ? nr * F - q0 : per;
			snt_read_payload_part_or_die(r, tr->block, sizeof(float) * (uint64_t)(k * 2 * n));
			int64_t bad = find_nonfinite(tr->block, (size_t)(k * 2 * n));
			if (bad >= 0)
				die("%s: NaN or infinity at value %lld (the input must be finite)", where,
				    (long long)((sig * F + q0) * 2 * n + bad));
			for (int64_t q = 0; q < k; q++)
				memcpy(at + (q0 + q) * 2 * stride, tr->block + q * 2 * n,
				       sizeof(float) * 2 * (size_t)n);
		}
		const float *ys;
		int64_t ms = istft_stream_push_rows(tr->is, pos->last, &ys);
		if (ms < 0 || (m >= 0 && ms != m))
			die("%s: inverse STFT failed", where);
		m = ms;
		if (!direct) {
			if (sig == 0)
				tr->y = xreserve_big(tr->y, &tr->y_cap, (size_t)(R * m > 0 ? R * m : 1),
						     sizeof(float));
			memcpy(tr->y + sig * m, ys, sizeof(float) * (size_t)(nr * m));
			continue;
		}
		if (sig == 0 && (m > 0 || pos->last)) {	// the record's header, its length known now
			record_header(&o, h, m, tr->index++, done, N, pos->last);
			snt_write_header(w, &o);
		}
		if (m > 0)
			snt_write_payload(w, ys, sizeof(float) * nr * m);
	}
	if (!direct) {
		const float *y = tr->y;
		int64_t offset = done, total = N;	// of the samples written
		if (tr->rs) {	// at orig: the converter's samples, M of them in all
			offset = tr->written, total = tr->M;
			m = restore_stream_push(tr->rs, y, m, pos->last, &y);
			tr->written += m;
			if (pos->last)
				total = tr->written;	// the converter's count when no length was given
		}
		if (w && (m > 0 || pos->last)) {
			record_header(&o, h, m, tr->index++, offset, total, pos->last);
			snt_header_setf(&o, "sr", "%d", tr->orig);
			snt_header_del(&o, "orig_sr");
			snt_header_del(&o, "orig_length");
			snt_write_header(w, &o);
			snt_write_payload(w, y, sizeof(float) * R * m);
		} else if (!w && (m > 0 || pos->last)) {
			record_header(&o, h, m, 0, 0, total, false);
			chunk_pos_set(&o, &(struct chunk_pos){ 0 });
			if (!tr->st)
				tr->st = stem_writer_open_track(sw, &o, index, where);
			stem_stream_write(tr->st, y, m);
		}
	}
	snt_header_free(&o);
	if (pos->last) {
		if (tr->st)
			stem_stream_commit(tr->st);
		istft_stream_free(tr->is);
		restore_stream_free(tr->rs);
		free(tr->block);
		free(tr->y);
		*tr = (struct track_inv){ 0 };
	}
}

static void istft_run(const struct opts *o)
{
	struct plans plans = { .be = backend_get(o->device) };
	const struct backend *be = plans.be;
	struct snt_writer *w = o->pattern ? NULL : snt_writer_open("-");
	struct stem_writer *sw = o->pattern ? stem_writer_create(o->pattern, o->sample, o->sample_set, o->sr)
					    : NULL;
	struct snt_header h;
	int64_t index = 0;
	struct chunk_seq seq = { 0 };
	struct track_inv tr = { 0 };
	struct progress progress;
	double done_s = 0;	/* seconds of audio made */
	progress_init(&progress, o->quiet, 0, 1);
	snt_header_init(&h);
	char *const stdin_name[] = { "-" };
	char *const *names = o->ninputs ? o->inputs : stdin_name;
	int nnames = o->ninputs ? o->ninputs : 1;
	for (int k = 0; k < nnames; k++) {
		struct snt_reader *r = snt_reader_open(names[k]);
		if (!r)
			die("%s:", names[k]);
		int got = 0;
		while (snt_read_header_or_die(r, &h)) {
			char where[512];
			got = 1;
			snprintf(where, sizeof where, "%s: record %lld", r->name, (long long)r->record);
			if (h.dtype != SNT_C64 || h.rank < 2)
				die("%s: expected a spectrogram c64 [..., C, F, T], got %s of rank %d", where,
				    snt_dtype_name(h.dtype), h.rank);
			int n_fft = key_int(&h, "n_fft", where), hop = key_int(&h, "hop", where);
			int rate = wave_rate(&h, where);	// a malformed sr= is an error here
			const char *win = snt_header_get(&h, "window"), *center = snt_header_get(&h, "center");
			if ((win && strcmp(win, "hann")) || (center && strcmp(center, "1")))
				die("%s: only window=hann center=1 spectrograms can be inverted", where);
			int64_t F = h.shape[h.rank - 2], T = h.shape[h.rank - 1];
			if (F != n_fft / 2 + 1)
				die("%s: %lld frequency bins do not match n_fft=%d", where, (long long)F, n_fft);
			if (hop > n_fft || n_fft % 2)
				die("%s: invalid n_fft=%d hop=%d", where, n_fft, hop);
			struct chunk_pos pos;
			char cerr[512];
			if (chunk_seq_next(&seq, &h, T, &pos, cerr, sizeof cerr))
				die("%s: %s", where, cerr);
			if (pos.chunked) {
				plans_use(&plans, n_fft, hop);
				istft_chunk(&tr, &plans, r, &h, &pos, w, sw, index, where);
				index += pos.last;
				continue;
			}
			int64_t N = (T - 1) * hop;
			if (snt_header_get(&h, "length")) {
				N = key_int(&h, "length", where);
				if (1 + N / hop != T)
					die("%s: length=%lld needs %lld frames, the record has %lld", where,
					    (long long)N, (long long)(1 + N / hop), (long long)T);
			}
			if (N <= n_fft / 2)
				die("%s: length %lld is too short for n_fft %d", where, (long long)N, n_fft);
			plans_use(&plans, n_fft, hop);

			struct snt_header h_in;	/* the input's shape for the payload read */
			snt_header_init(&h_in);
			snt_header_copy(&h_in, &h);
			int64_t R = snt_numel(&h) / (F * T), shape[SNT_MAX_RANK];
			memcpy(shape, h.shape, sizeof shape);
			shape[h.rank - 2] = N;
			snt_header_set_dtype(&h, SNT_F32);
			snt_header_set_shape(&h, h.rank - 1, shape);
			snt_header_del(&h, "n_fft");
			snt_header_del(&h, "hop");
			snt_header_del(&h, "window");
			snt_header_del(&h, "center");
			snt_header_setf(&h, "length", "%lld", (long long)N);

			/* the whole input record is read before anything is written,
			 * so a truncated record leaves no partial output */
			int64_t P = be->host ? max_threads() : R;	/* rows per call */
			double record_s = rate ? (double)N / rate : 0;	// every row spans N samples
			// audio that stft resampled goes back to the input's rate
			// and length: a whole record first, then the stream
			bool restore = snt_header_get(&h, "orig_sr") != NULL;
			bool rows_out = w && !restore;	/* written as they are made */
			float *spec = snt_read_payload_alloc_or_die(r, &h_in);
			int64_t bad = find_nonfinite(spec, (size_t)snt_numel(&h_in) * 2);
			if (bad >= 0)
				die("%s: NaN or infinity at value %lld (the input must be finite)", where,
				    (long long)bad);
			float *y = xmalloc(sizeof(float) * N * (rows_out && P < R ? P : R));
			if (rows_out)
				snt_write_header(w, &h);
			for (int64_t r0 = 0; r0 < R; r0 += P) {
				int64_t n = R - r0 < P ? R - r0 : P;
				const float *src = spec + r0 * 2 * F * T;
				float *out = rows_out ? y : y + r0 * N, *dst = out;
				if (!be->host) {	// device memory in and out
					float *d = backend_buffer_want(be, &plans.spec, n * 2 * F * T);
					be->upload(d, src, sizeof(float) * n * 2 * F * T);
					src = d;
					dst = backend_buffer_want(be, &plans.y, n * N);
				}
				if (be->stft_inverse(plans.s, dst, src, n, T, N))
					die("%s: inverse STFT failed", where);
				if (!be->host)
					be->download(out, dst, sizeof(float) * N * n);
				if (rows_out)
					snt_write_payload(w, y, sizeof(float) * N * n);
				progress_draw(&progress, done_s + record_s * (r0 + n) / R);
			}
			done_s += record_s;
			if (!w)
				stem_writer_write(sw, &h, y, index, where);
			else if (restore) {
				float *owned;
				const float *out = wave_restore(&h, y, 0, &owned, where);
				snt_header_setf(&h, "length", "%lld", (long long)h.shape[h.rank - 1]);
				snt_write_header(w, &h);
				snt_write_payload(w, out, sizeof(float) * snt_numel(&h));
				free(owned);
			}
			free(spec);
			free(y);
			snt_header_free(&h_in);
			index++;
		}
		if (!got)
			die("%s: empty stream (no records: did the command before it in the pipe fail?)", r->name);
		char cerr[512];
		if (chunk_seq_end(&seq, cerr, sizeof cerr))
			die("%s: after record %lld: %s", r->name, (long long)r->record - 1, cerr);
		snt_reader_close(r);
	}
	snt_header_free(&h);
	chunk_seq_free(&seq);
	progress_finish(&progress, done_s);
	stem_writer_free(sw);
	if (w)
		snt_writer_close(w);
	if (plans.s)
		be->stft_free(plans.s);
	backend_buffer_free(be, &plans.spec);
	backend_buffer_free(be, &plans.y);
}

/* The command line into o (usage errors exit 2). */
static void parse_options(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "output", required_argument, NULL, 'o' },
		{ "bits", required_argument, NULL, 'b' },
		{ "rate", required_argument, NULL, 'r' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "device", required_argument, NULL, 'd' },
		{ 0 },
	};
	int c;
	opterr = 0;	/* one line of our own (die_bad_option) */
	while ((c = getopt_long(argc, argv, ":ho:b:r:d:q", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			o->pattern = optarg;
			break;
		case 'b':
			if (audio_sample_parse(optarg, &o->sample))
				die_usage("-b: sample format must be 16, 24 or 32f, not '%s'", optarg);
			o->sample_set = 1;
			break;
		case 'r':
			if (parse_int(optarg, &o->sr) || o->sr < 1)
				die_usage("-r: sample rate must be a positive integer, not '%s'", optarg);
			break;
		case 'd':
			o->device = optarg;
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'V':
			printf("istft %s\n", SEPNET_VERSION);
			exit(0);
		case 'h':
			usage(0);
		default:
			die_bad_option(c, argv);
		}
	}
	if (!o->pattern && (o->sample_set || o->sr))
		die_usage("-b and -r apply to audio files: give -o PATTERN too");
	o->inputs = argv + optind;
	o->ninputs = argc - optind;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	set_progname(argv[0]);
	parse_options(argc, argv, &o);
	istft_run(&o);
	if (o.pattern)
		close_stdout();
	return 0;
}
