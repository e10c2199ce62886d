/* wavein.c: see wavein.h. */
#include "wavein.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "audio.h"
#include "resample.h"
#include "util.h"

struct wave_input {
	char *const *names;
	int n, next;		/* names[next] is opened when cur runs dry */
	const char *cur_name;
	struct snt_reader *snt;	/* the open SNT stream, if any */
	int64_t record;		/* records emitted from cur_name */
	int sr, channels;	/* wave_input_conform's, 0: as they are */
};

/* The name of the folder holding path (the working folder's for a bare name). */
static char *folder_name(const char *path)
{
	char *dir = xstrdup(path), *slash = strrchr(dir, '/');
	if (slash)
		slash == dir ? (void)(slash[1] = 0) : (void)(*slash = 0);
	char *real = realpath(slash ? dir : ".", NULL);
	const char *from = real ? real : dir;
	const char *last = strrchr(from, '/');
	char *name = xstrdup(last && last[1] ? last + 1 : from);
	free(real);
	free(dir);
	return name;
}

struct wave_input *wave_input_open(char *const *names, int n)
{
	static char *const stdin_name[] = { "-" };
	struct wave_input *in = xcalloc(1, sizeof *in);
	in->names = n ? names : stdin_name;
	in->n = n ? n : 1;
	return in;
}

/* the file name without folder and extension */
static char *base_name(const char *path)
{
	const char *base = strrchr(path, '/');
	char *t = xstrdup(base ? base + 1 : path);
	char *dot = strrchr(t, '.');
	if (dot && dot != t)
		*dot = 0;
	return t;
}

char *wave_track_name(char *const *names, int n, int i)
{
	char *b = base_name(names[i]);
	bool shared = !strcmp(b, "mixture");
	for (int j = 0; j < n && !shared; j++) {
		char *o = j == i ? NULL : base_name(names[j]);
		shared = o && !strcmp(o, b);
		free(o);
	}
	if (!shared || !strcmp(names[i], "-"))
		return b;
	free(b);
	return folder_name(names[i]);
}

static int read_audio(struct wave_input *in, struct audio_reader *ar, struct snt_header *h, float **data)
{
	int C = ar->channels;
	int64_t n;
	float *buf = audio_read_planar(ar, &n);
	snt_header_free(h);
	snt_header_set_dtype(h, SNT_F32);
	snt_header_set_shape(h, 2, (int64_t[]){ C, n });
	snt_header_setf(h, "sr", "%d", ar->sr);
	if (strcmp(in->cur_name, "-")) {
		char *t = wave_track_name(in->names, in->n, in->next - 1);
		if (snt_header_set(h, "track", t))
			warn("%s: file name not usable as a track name", in->cur_name);
		free(t);
		snt_header_set(h, "file", in->cur_name);	// for -o's %d and %b
	}
	*data = buf;
	return 1;
}

/* Convert a payload of n elements in place-independent fashion to f32. */
static float *to_f32(struct snt_reader *r, const struct snt_header *h)
{
	int64_t n = snt_numel(h);
	float *out = xmalloc(sizeof(float) * (n ? n : 1));
	if (h->dtype == SNT_F32) {
		snt_read_payload_or_die(r, h, out);
		return out;
	}
	void *raw = snt_read_payload_alloc_or_die(r, h);
	for (int64_t i = 0; i < n; i++) {
		switch (h->dtype) {
		case SNT_S16: out[i] = ((int16_t *)raw)[i] / 32768.0f; break;
		case SNT_F16: out[i] = snt_f16_to_f32(((uint16_t *)raw)[i]); break;
		case SNT_BF16: out[i] = snt_bf16_to_f32(((uint16_t *)raw)[i]); break;
		default: break;
		}
	}
	free(raw);
	return out;
}

void wave_input_conform(struct wave_input *in, int sr, int channels)
{
	in->sr = sr, in->channels = channels;
}

static int next_record(struct wave_input *in, struct snt_header *h, float **data);

int wave_input_next(struct wave_input *in, struct snt_header *h, float **data)
{
	if (!next_record(in, h, data))
		return 0;
	char where[512];
	if (in->snt)
		snprintf(where, sizeof where, "%s: record %lld", in->snt->name, (long long)in->record);
	else
		snprintf(where, sizeof where, "%s", in->cur_name);
	wave_rate(h, where);	// a malformed sr= is an error here, not downstream
	int64_t bad = find_nonfinite(*data, (size_t)snt_numel(h));
	if (bad >= 0) {
		if (in->snt)
			die("%s: record %lld: NaN or infinity at sample %lld (the input must be finite)",
			    in->snt->name, (long long)in->record, (long long)bad);
		die("%s: NaN or infinity at sample %lld (the input must be finite)", in->cur_name,
		    (long long)bad);
	}
	if (in->sr && snt_header_get(h, "chunk") && wave_rate(h, where) &&
	    wave_rate(h, where) != in->sr)	// a chunk resampled alone would click at its ends
		die("%s: a chunk of a track at %d Hz, and %d Hz is wanted: resample whole records "
		    "(or the audio file)", where, wave_rate(h, where), in->sr);
	if (in->sr || in->channels)
		wave_conform(h, data, in->sr, in->channels, where);
	return 1;
}

static int next_record(struct wave_input *in, struct snt_header *h, float **data)
{
	for (;;) {
		if (in->snt) {
			if (snt_read_header_or_die(in->snt, h)) {
				in->record = in->snt->record;
				if (h->dtype != SNT_F32 && h->dtype != SNT_S16 && h->dtype != SNT_F16 &&
				    h->dtype != SNT_BF16)
					die("%s: record %lld at byte %llu: expected a waveform (f32), got %s",
					    in->snt->name, (long long)in->record,
					    (unsigned long long)in->snt->record_offset, snt_dtype_name(h->dtype));
				if (h->rank < 1)
					die("%s: record %lld at byte %llu: expected a waveform [..., C, N], got a scalar",
					    in->snt->name, (long long)in->record,
					    (unsigned long long)in->snt->record_offset);
				*data = to_f32(in->snt, h);
				snt_header_set_dtype(h, SNT_F32);
				return 1;
			}
			snt_reader_close(in->snt);
			in->snt = NULL;
		}
		if (in->next == in->n)
			return 0;
		in->cur_name = in->names[in->next++];
		in->record = 0;
		int is_stdin = !strcmp(in->cur_name, "-");
		FILE *fp = is_stdin ? stdin : fopen(in->cur_name, "rb");
		if (!fp)
			die("%s:", in->cur_name);
		unsigned char magic[4];
		size_t got = fread(magic, 1, 4, fp);
		if (got == 4 && !memcmp(magic, SNT_MAGIC, 4)) {
			in->snt = snt_reader_from_fp_prefix(fp, is_stdin ? "<stdin>" : in->cur_name, magic, 4);
			in->snt->owns_fp = !is_stdin;
			continue;
		}
		struct audio_reader *ar;
		if (is_stdin) {
			if (got == 0)
				die("<stdin>: empty input (no audio file or SNT records)");
			ar = audio_open_read_stdin_prefix(magic, got);
		} else {
			fclose(fp);
			ar = audio_open_read(in->cur_name);
		}
		int rc = read_audio(in, ar, h, data);
		audio_close(ar);
		return rc;
	}
}

const char *wave_input_name(const struct wave_input *in)
{
	return in->snt ? in->snt->name : in->cur_name;
}

int64_t wave_input_record(const struct wave_input *in) { return in->record; }

void wave_input_close(struct wave_input *in)
{
	if (!in)
		return;
	snt_reader_close(in->snt);
	free(in);
}

bool wave_is_audio_file(const char *name)
{
	unsigned char magic[4] = { 0 };
	FILE *fp = strcmp(name, "-") ? fopen(name, "rb") : NULL;
	if (!fp)
		return false;
	size_t got = fread(magic, 1, 4, fp);
	fclose(fp);
	return !(got == 4 && !memcmp(magic, SNT_MAGIC, 4));
}

double wave_inputs_seconds(char *const *names, int n)
{
	double total = 0;
	for (int i = 0; i < n; i++) {
		if (!wave_is_audio_file(names[i]))
			return 0;
		struct audio_reader *ar = audio_open_read(names[i]);
		double s = ar->frames > 0 ? (double)ar->frames / ar->sr : 0;
		audio_close(ar);
		if (s <= 0)
			return 0;
		total += s;
	}
	return total;
}

/* ---- an audio file in blocks ---- */

#define WAVE_BLOCK 65536	/* frames read at a time, */
#define WAVE_BLOCK_SAMPLES (1 << 20)	/* and at most so many samples (a header may claim 1024 channels) */

struct wave_stream {
	struct audio_reader *ar;
	char *where;
	int C, sr;		/* out */
	int64_t N;		/* samples out in all, -1: open */
	int64_t block;		/* frames read at a time */
	int64_t read;		/* frames read */
	struct resampler *rs;
	float *buf, *mapped;	/* (C_in, block) read, (C, n) mapped */
};

struct wave_stream *wave_stream_open(struct audio_reader *ar, int sr, int channels,
				     const char *where)
{
	struct wave_stream *ws = xcalloc(1, sizeof *ws);
	ws->ar = ar;
	ws->where = xstrdup(where);
	ws->C = channels > 0 ? channels : ar->channels;
	ws->sr = sr > 0 ? sr : ar->sr;
	if (ar->frames == 0)
		die("%s: audio file has no samples", where);
	ws->N = ar->frames < 0 ? -1 : ws->sr != ar->sr ? resample_length(ar->frames, ar->sr, ws->sr)
						       : ar->frames;
	if (ar->channels > 2 && ws->C == 2)
		warn("%s: %d channels downmixed to stereo%s", where, ar->channels,
		     ar->channels == 6 ? " (5.1: ITU-R BS.775, LFE dropped)"
				       : " (odd/even channels to left/right)");
	if (ws->sr != ar->sr)
		ws->rs = resampler_create(ws->C, ar->sr, ws->sr, where);
	ws->block = WAVE_BLOCK_SAMPLES / ar->channels < WAVE_BLOCK ? WAVE_BLOCK_SAMPLES / ar->channels
								   : WAVE_BLOCK;
	ws->buf = xmalloc(sizeof(float) * ar->channels * ws->block);
	return ws;
}

int64_t wave_stream_length(const struct wave_stream *ws) { return ws->N; }
int wave_stream_channels(const struct wave_stream *ws) { return ws->C; }

int64_t wave_stream_read(struct wave_stream *ws, const float **x, bool *end)
{
	struct audio_reader *ar = ws->ar;
	int C_in = ar->channels;
	int64_t B = ws->block, got = audio_read_some(ar, ws->buf, B, B);
	ws->read += got;
	*end = got == 0;
	if (*end && ws->read == 0)
		die("%s: audio file has no samples", ws->where);
	if (ar->frames >= 0 && ws->read > ar->frames)
		die("%s: more frames than the header declares", ws->where);
	if (*end && ar->frames >= 0 && ws->read < ar->frames)
		die("%s: file ends after %lld of %lld frames", ws->where, (long long)ws->read,
		    (long long)ar->frames);
	for (int c = 0; c < C_in; c++) {
		int64_t bad = find_nonfinite(ws->buf + c * B, (size_t)got);
		if (bad >= 0)
			die("%s: NaN or infinity at sample %lld of channel %d (the input must be finite)",
			    ws->where, (long long)(ws->read - got + bad), c + 1);
	}
	for (int c = 1; c < C_in; c++)	// rows of got samples
		memmove(ws->buf + c * got, ws->buf + c * B, sizeof(float) * (size_t)got);
	// the channels, then the rate (wave_conform's order)
	const float *y = ws->buf;
	free(ws->mapped);
	ws->mapped = NULL;
	if (C_in != ws->C)
		y = ws->mapped = channels_map(ws->buf, C_in, ws->C, got);
	int64_t n = got;
	if (ws->rs)
		n = resampler_push(ws->rs, y, got, got, *end, &y);
	*x = y;
	return n;
}

void wave_stream_close(struct wave_stream *ws)
{
	if (!ws)
		return;
	resampler_free(ws->rs);
	free(ws->buf);
	free(ws->mapped);
	free(ws->where);
	free(ws);
}
