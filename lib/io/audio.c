/* audio.c: audio files through libsndfile, as planar float [C, N].
 *
 * Reading "-" uses sf_open_fd on stdin, which libsndfile supports for WAV
 * and the other formats it can stream without seeking.  Writers go through
 * a temporary file renamed into place (lib/util.h atomic_*), so a failed
 * or interrupted write never leaves a half-written file at the target. */
#include "audio.h"

#include <errno.h>
#include <math.h>
#include <sndfile.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define CHUNK_FRAMES 16384

/* Standard input held in memory, read by libsndfile through virtual I/O. */
struct memfile {
	unsigned char *data;
	sf_count_t len, pos;
};

static sf_count_t mem_len(void *u) { return ((struct memfile *)u)->len; }
static sf_count_t mem_tell(void *u) { return ((struct memfile *)u)->pos; }

static sf_count_t mem_seek(sf_count_t off, int whence, void *u)
{
	struct memfile *m = u;
	sf_count_t base = whence == SEEK_CUR ? m->pos : whence == SEEK_END ? m->len : 0;
	if (base + off < 0 || base + off > m->len)
		return -1;
	return m->pos = base + off;
}

static sf_count_t mem_read(void *ptr, sf_count_t n, void *u)
{
	struct memfile *m = u;
	if (n > m->len - m->pos)
		n = m->len - m->pos;
	memcpy(ptr, m->data + m->pos, n);
	m->pos += n;
	return n;
}

static sf_count_t mem_write(const void *ptr, sf_count_t n, void *u)
{
	(void)ptr, (void)n, (void)u;
	return 0;
}

/* NULL with the message in err when the header is not usable (sf closed) */
static struct audio_reader *reader_new(SNDFILE *sf, const SF_INFO *info, const char *name,
				       char *err, size_t errlen)
{
	if (info->channels < 1 || info->channels > AUDIO_MAX_CHANNELS || info->samplerate < 1) {
		snprintf(err, errlen, "%s: invalid audio header (%d channels, %d Hz)", name,
			 info->channels, info->samplerate);
		sf_close(sf);
		return NULL;
	}
	struct audio_reader *ar = xcalloc(1, sizeof *ar);
	ar->sf = sf;
	ar->path = xstrdup(name);
	ar->sr = info->samplerate;
	ar->channels = info->channels;
	/* a streamed WAV may carry a placeholder length: -1 means unknown */
	ar->frames = info->frames > 0 && info->frames < SF_COUNT_MAX / 2 ? info->frames : -1;
	ar->chunk_frames = CHUNK_FRAMES;
	ar->chunk = xmalloc(sizeof(float) * CHUNK_FRAMES * info->channels);
	return ar;
}

struct audio_reader *audio_open_read_stdin_prefix(const void *prefix, size_t n)
{
	char err[1024];
	struct audio_reader *ar = audio_try_open_stdin(prefix, n, err, sizeof err);
	if (!ar)
		die("%s", err);
	return ar;
}

struct audio_reader *audio_try_open_stdin(const void *prefix, size_t n, char *err, size_t errlen)
{
	struct memfile *m = xcalloc(1, sizeof *m);
	size_t cap = 1 << 20;
	m->data = xmalloc(cap);
	if (n)
		memcpy(m->data, prefix, n);
	m->len = n;
	for (;;) {
		if ((size_t)m->len == cap)
			m->data = xrealloc(m->data, cap *= 2);
		size_t got = fread(m->data + m->len, 1, cap - m->len, stdin);
		m->len += got;
		if (got == 0) {
			if (ferror(stdin)) {
				snprintf(err, errlen, "<stdin>: %s", strerror(errno));
				goto fail;
			}
			break;
		}
	}
	static SF_VIRTUAL_IO vio = { mem_len, mem_seek, mem_read, mem_write, mem_tell };
	SF_INFO info = { 0 };
	SNDFILE *sf = sf_open_virtual(&vio, SFM_READ, &info, m);
	if (!sf) {
		snprintf(err, errlen, "<stdin>: %s", m->len ? "not an audio file or SNT stream" : "empty input");
		goto fail;
	}
	struct audio_reader *ar = reader_new(sf, &info, "<stdin>", err, errlen);
	if (!ar)
		goto fail;
	ar->mem = m;
	return ar;
fail:
	free(m->data);
	free(m);
	return NULL;
}

struct audio_reader *audio_try_open(const char *path, char *err, size_t errlen)
{
	if (!path || !strcmp(path, "-"))
		return audio_try_open_stdin(NULL, 0, err, errlen);
	SF_INFO info = { 0 };
	SNDFILE *sf = sf_open(path, SFM_READ, &info);
	if (!sf) {
		FILE *fp = fopen(path, "rb");	/* say "No such file" rather than libsndfile's guess */
		if (!fp) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			return NULL;
		}
		fclose(fp);
		snprintf(err, errlen, "%s: cannot read audio: %s", path, sf_strerror(NULL));
		return NULL;
	}
	return reader_new(sf, &info, path, err, errlen);
}

struct audio_reader *audio_open_read(const char *path)
{
	char err[1024];
	struct audio_reader *ar = audio_try_open(path, err, sizeof err);
	if (!ar)
		die("%s", err);
	return ar;
}

/* audio_read, or -1 with the message in err */
static int64_t read_frames(struct audio_reader *ar, float *out, int64_t stride, int64_t n,
			   char *err, size_t errlen)
{
	int C = ar->channels;
	int64_t done = 0;
	while (done < n) {
		int64_t want = n - done < ar->chunk_frames ? n - done : ar->chunk_frames;
		sf_count_t got = sf_readf_float(ar->sf, ar->chunk, want);
		if (got < 0) {
			snprintf(err, errlen, "%s: read error: %s", ar->path, sf_strerror(ar->sf));
			return -1;
		}
		for (int c = 0; c < C; c++) {
			float *dst = out + c * stride + done;
			const float *src = ar->chunk + c;
			for (sf_count_t i = 0; i < got; i++)
				dst[i] = src[i * C];
		}
		done += got;
		if (got < want) {
			if (sf_error(ar->sf)) {
				snprintf(err, errlen, "%s: read error: %s", ar->path, sf_strerror(ar->sf));
				return -1;
			}
			break;
		}
	}
	return done;
}

/* ---- standard input as a stream ---- */

/* Bytes that stdio has read ahead of the caller (glibc's FILE). */
static size_t stdin_buffered(void)
{
	return (size_t)(stdin->_IO_read_end - stdin->_IO_read_ptr);
}

/* Up to n bytes of standard input, at least one unless at the end: what
 * stdio holds, else one read(2) of what has arrived.  -1 on an error. */
static ssize_t stdin_some(void *buf, size_t n)
{
	size_t b = stdin_buffered();
	if (b > 0)
		return (ssize_t)fread(buf, 1, n < b ? n : b, stdin);
	for (;;) {
		ssize_t r = read(STDIN_FILENO, buf, n);
		if (r >= 0 || errno != EINTR)
			return r;
	}
}

int audio_raw_parse(const char *s, enum audio_raw *out)
{
	static const struct {
		const char *name;
		enum audio_raw enc;
	} t[] = { { "raw", AUDIO_RAW_S16 }, { "s16", AUDIO_RAW_S16 }, { "s24", AUDIO_RAW_S24 },
		  { "s32", AUDIO_RAW_S32 }, { "f32", AUDIO_RAW_F32 }, { "f64", AUDIO_RAW_F64 },
		  { "u8", AUDIO_RAW_U8 } };
	for (size_t i = 0; i < sizeof t / sizeof *t; i++)
		if (!strcmp(s, t[i].name)) {
			*out = t[i].enc;
			return 0;
		}
	return -1;
}

static int raw_bytes(enum audio_raw e)
{
	static const int b[] = { 2, 3, 4, 4, 8, 1 };
	return b[e];
}

static uint32_t le32(const unsigned char *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static struct audio_reader *stream_reader(const char *name, int sr, int channels, enum audio_raw enc,
					  int64_t left)
{
	if (channels < 1 || channels > AUDIO_MAX_CHANNELS || sr < 1)
		die("%s: invalid audio header (%d channels, %d Hz)", name, channels, sr);
	struct audio_reader *ar = xcalloc(1, sizeof *ar);
	ar->path = xstrdup(name);
	ar->sr = sr, ar->channels = channels, ar->enc = enc, ar->bytes = raw_bytes(enc);
	ar->left = left;	// a known data size: so many frames, else a stream's -1
	ar->frames = left >= 0 ? left / ((int64_t)ar->bytes * channels) : -1;
	ar->pend = xmalloc((size_t)ar->bytes * channels);
	ar->chunk_frames = CHUNK_FRAMES;
	ar->chunk = xmalloc((size_t)ar->bytes * channels * CHUNK_FRAMES);
	return ar;
}

/* A WAV header from standard input after the n bytes in prefix: the
 * stream reader, or NULL with every byte consumed in *seen (for
 * libsndfile) when it is not a WAV this reader decodes. */
static struct audio_reader *wav_stream(const void *prefix, size_t n, unsigned char **seen,
				       size_t *nseen)
{
	size_t cap = 4096, len = n;
	unsigned char *b = xmalloc(cap);
	memcpy(b, prefix, n);
	*seen = b, *nseen = len;
#define WANT(k)                                                                           	do {                                                                              		while (len < (k)) {                                                       			if (len == cap)                                                   				b = *seen = xrealloc(b, cap *= 2);                        			size_t r = fread(b + len, 1, (k) - len, stdin);                   			len += r, *nseen = len;                                           			if (r == 0)                                                       				return NULL;                                              		}                                                                         	} while (0)
	WANT(12);
	if (memcmp(b, "RIFF", 4) || memcmp(b + 8, "WAVE", 4))
		return NULL;
	size_t at = 12;
	int fmt = -1, channels = 0, bits = 0;
	uint32_t sr = 0;
	for (;;) {	// chunks up to data
		WANT(at + 8);
		uint32_t size = le32(b + at + 4);
		if (!memcmp(b + at, "data", 4)) {
			if (fmt < 0)
				return NULL;
			enum audio_raw enc;
			if (fmt == 3 && bits == 32)
				enc = AUDIO_RAW_F32;
			else if (fmt == 3 && bits == 64)
				enc = AUDIO_RAW_F64;
			else if (fmt == 1 && bits == 8)
				enc = AUDIO_RAW_U8;
			else if (fmt == 1 && bits == 16)
				enc = AUDIO_RAW_S16;
			else if (fmt == 1 && bits == 24)
				enc = AUDIO_RAW_S24;
			else if (fmt == 1 && bits == 32)
				enc = AUDIO_RAW_S32;
			else
				return NULL;
			// a writer that could not seek back leaves 0 or a huge size
			int64_t left = size == 0 || size >= 0x7fff0000u ? -1 : (int64_t)size;
			if (sr < 1 || sr > 768000 || channels < 1 || channels > AUDIO_MAX_CHANNELS)
				return NULL;
			struct audio_reader *ar = stream_reader("<stdin>", (int)sr, channels, enc, left);
			free(b);
			*seen = NULL, *nseen = 0;
			return ar;
		}
		if (size > (1u << 24))	// not a header chunk this reader expects
			return NULL;
		WANT(at + 8 + size + (size & 1));
		if (!memcmp(b + at, "fmt ", 4) && size >= 16) {
			fmt = b[at + 8] | b[at + 9] << 8;
			channels = b[at + 10] | b[at + 11] << 8;
			sr = le32(b + at + 12);
			bits = b[at + 22] | b[at + 23] << 8;
			if (fmt == 0xfffe && size >= 26)	// extensible: the subformat's tag
				fmt = b[at + 32] | b[at + 33] << 8;
		}
		at += 8 + size + (size & 1);
	}
#undef WANT
}

struct audio_reader *audio_open_stream_stdin(const void *prefix, size_t n, int sr, int channels,
					     enum audio_raw enc)
{
	if (sr > 0) {	// raw: the prefix is samples
		struct audio_reader *ar = stream_reader("<stdin>", sr, channels, enc, -1);
		if (n > 0) {	// the caller's bytes: pending, frames decoded from them on read
			free(ar->pend);
			ar->pend = xmalloc(n + (size_t)ar->bytes * channels);
			memcpy(ar->pend, prefix, n);
			ar->npend = (int)n;
		}
		return ar;
	}
	unsigned char *seen;
	size_t nseen;
	struct audio_reader *ar = wav_stream(prefix, n, &seen, &nseen);
	if (ar)
		return ar;
	if (nseen == 0)
		die("<stdin>: empty input (no audio file or SNT records)");
	ar = audio_open_read_stdin_prefix(seen, nseen);
	free(seen);
	return ar;
}

static float decode(const unsigned char *p, enum audio_raw e)
{
	switch (e) {
	case AUDIO_RAW_S16:
		return (int16_t)(p[0] | p[1] << 8) / 32768.0f;
	case AUDIO_RAW_S24:
		return (int32_t)((uint32_t)p[0] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 24) /
		       2147483648.0f;
	case AUDIO_RAW_S32:
		return (float)((int32_t)le32(p) / 2147483648.0);
	case AUDIO_RAW_F32: {
		uint32_t u = le32(p);
		float f;
		memcpy(&f, &u, 4);
		return f;
	}
	case AUDIO_RAW_F64: {
		uint64_t u = le32(p) | (uint64_t)le32(p + 4) << 32;
		double d;
		memcpy(&d, &u, 8);
		return (float)d;
	}
	case AUDIO_RAW_U8:
		return (p[0] - 128) / 128.0f;
	}
	return 0;
}

/* A stream's next frames: up to n, at least one unless at the end. */
static int64_t stream_read(struct audio_reader *ar, float *out, int64_t stride, int64_t n)
{
	int C = ar->channels;
	int64_t frame = (int64_t)ar->bytes * C;
	unsigned char *buf = (unsigned char *)ar->chunk;	// bytes here
	if (n > ar->chunk_frames)
		n = ar->chunk_frames;
	// the pending bytes first, then what has arrived, until a whole frame
	int64_t have = ar->npend;
	if (have)
		memcpy(buf, ar->pend, (size_t)have);
	ar->npend = 0;
	while (have < frame) {
		int64_t want = n * frame - have;
		if (ar->left >= 0 && want > ar->left)
			want = ar->left;
		if (want == 0)
			break;
		ssize_t r = stdin_some(buf + have, (size_t)want);
		if (r < 0)
			die("%s: read error: %s", ar->path, strerror(errno));
		if (r == 0)
			break;
		have += r;
		if (ar->left >= 0)
			ar->left -= r;
	}
	int64_t m = have / frame;
	if (m == 0 && have > 0)
		die("%s: the stream ends inside a frame (%lld of its %lld bytes)", ar->path,
		    (long long)have, (long long)frame);
	if (m == 0 && ar->left > 0)
		die("%s: the stream ends %lld bytes before the end its header declares", ar->path,
		    (long long)ar->left);
	const unsigned char *p = buf;
	for (int64_t i = 0; i < m; i++)
		for (int c = 0; c < C; c++, p += ar->bytes)
			out[c * stride + i] = decode(p, ar->enc);
	ar->npend = (int)(have - m * frame);
	memcpy(ar->pend, buf + m * frame, (size_t)ar->npend);
	ar->got += m;
	return m;
}

int64_t audio_read_some(struct audio_reader *ar, float *out, int64_t stride, int64_t n)
{
	if (!ar->sf)
		return stream_read(ar, out, stride, n);
	return audio_read(ar, out, stride, n);
}

int64_t audio_read(struct audio_reader *ar, float *out, int64_t stride, int64_t n)
{
	char err[1024];
	int64_t done = read_frames(ar, out, stride, n, err, sizeof err);
	if (done < 0)
		die("%s", err);
	return done;
}

void audio_seek(struct audio_reader *ar, int64_t frame)
{
	if (sf_seek(ar->sf, frame, SEEK_SET) < 0)
		die("%s: cannot seek to frame %lld: %s", ar->path, (long long)frame, sf_strerror(ar->sf));
}

void audio_close(struct audio_reader *ar)
{
	if (!ar)
		return;
	if (ar->sf)
		sf_close(ar->sf);
	free(ar->pend);
	if (ar->mem) {
		free(((struct memfile *)ar->mem)->data);
		free(ar->mem);
	}
	free(ar->chunk);
	free(ar->path);
	free(ar);
}

/* the first buffer holds at most this many samples (16 MB): a header's
 * frame count is a claim, and memory follows the data actually read */
#define FIRST_SAMPLES (INT64_C(1) << 22)

float *audio_try_read_planar(struct audio_reader *ar, int64_t *frames, char *err, size_t errlen)
{
	int C = ar->channels;
	int64_t first = FIRST_SAMPLES / C > 4096 ? FIRST_SAMPLES / C : 4096;
	/* planar [C, cap], grown by doubling (up to the declared length) */
	int64_t cap = ar->frames > 0 && ar->frames < first ? ar->frames : first, n = 0;
	float *buf = xmalloc(sizeof(float) * C * cap);
	for (;;) {
		int64_t got = read_frames(ar, buf + n, cap, cap - n, err, errlen);
		if (got < 0)
			goto fail;
		n += got;
		if (n < cap)
			break;
		if (ar->frames > 0 && n == ar->frames) {	/* the declared end: confirm it */
			if (sf_readf_float(ar->sf, ar->chunk, 1) <= 0)
				break;
			snprintf(err, errlen, "%s: more frames than the header declares", ar->path);
			goto fail;
		}
		int64_t ncap = cap * 2;
		if (ar->frames > 0 && ncap > ar->frames)
			ncap = ar->frames;
		float *nbuf = xmalloc(sizeof(float) * C * ncap);
		for (int c = 0; c < C; c++)
			memcpy(nbuf + c * ncap, buf + c * cap, sizeof(float) * n);
		free(buf);
		buf = nbuf;
		cap = ncap;
	}
	if (n < cap) {	/* compact the planes to stride n */
		for (int c = 1; c < C; c++)
			memmove(buf + c * n, buf + c * cap, sizeof(float) * n);
	}
	if (ar->frames > 0 && n < ar->frames) {
		snprintf(err, errlen, "%s: file ends after %lld of %lld frames", ar->path, (long long)n,
			 (long long)ar->frames);
		goto fail;
	}
	if (n == 0) {
		snprintf(err, errlen, "%s: audio file has no samples", ar->path);
		goto fail;
	}
	*frames = n;
	return buf;
fail:
	free(buf);
	return NULL;
}

float *audio_read_planar(struct audio_reader *ar, int64_t *frames)
{
	char err[1024];
	float *buf = audio_try_read_planar(ar, frames, err, sizeof err);
	if (!buf)
		die("%s", err);
	return buf;
}

float *audio_read_all(const char *path, int *sr, int *channels, int64_t *frames)
{
	struct audio_reader *ar = audio_open_read(path);
	float *buf = audio_read_planar(ar, frames);
	*sr = ar->sr;
	*channels = ar->channels;
	audio_close(ar);
	return buf;
}

int audio_sample_parse(const char *s, enum audio_sample *out)
{
	if (!strcmp(s, "16"))
		*out = AUDIO_PCM16;
	else if (!strcmp(s, "24"))
		*out = AUDIO_PCM24;
	else if (!strcmp(s, "32f") || !strcmp(s, "32") || !strcmp(s, "f32") || !strcmp(s, "float"))
		*out = AUDIO_FLOAT32;
	else
		return -1;
	return 0;
}

static int major_format(const char *path)
{
	static const struct {
		const char *ext;
		int format;
	} table[] = {
		{ "wav", SF_FORMAT_WAV }, { "wave", SF_FORMAT_WAV }, { "flac", SF_FORMAT_FLAC },
		{ "aiff", SF_FORMAT_AIFF }, { "aif", SF_FORMAT_AIFF }, { "ogg", SF_FORMAT_OGG },
		{ "au", SF_FORMAT_AU }, { "caf", SF_FORMAT_CAF }, { "w64", SF_FORMAT_W64 },
		{ "rf64", SF_FORMAT_RF64 }, { "mp3", SF_FORMAT_MPEG },
	};
	const char *dot = strrchr(path, '.');
	if (!dot || strchr(dot, '/'))
		return -1;
	for (size_t i = 0; i < sizeof table / sizeof *table; i++)
		if (!strcasecmp(dot + 1, table[i].ext))
			return table[i].format;
	return -1;
}

/* A WAV header of unknown length on standard output (sizes 0xffffffff, as
 * a writer that cannot seek back leaves them; float's fmt chunk carries
 * its cbSize). */
static struct audio_writer *stdout_writer(int sr, int channels, enum audio_sample sample)
{
	struct audio_writer *aw = xcalloc(1, sizeof *aw);
	aw->to_stdout = true, aw->sample = sample, aw->channels = channels;
	aw->is_float = sample == AUDIO_FLOAT32;
	aw->af.path = xstrdup("<stdout>");
	aw->chunk_frames = CHUNK_FRAMES;
	aw->chunk = xmalloc(sizeof(float) * CHUNK_FRAMES * channels);
	int bits = sample == AUDIO_PCM16 ? 16 : sample == AUDIO_PCM24 ? 24 : 32;
	int block = bits / 8 * channels, fmt = aw->is_float ? 18 : 16;
	unsigned char h[64];
	size_t n = 0;
#define PUT(v, k)                                                            \
	do {                                                                 \
		for (int i_ = 0; i_ < (k); i_++)                             \
			h[n++] = (unsigned char)((uint64_t)(v) >> 8 * i_);   \
	} while (0)
	memcpy(h, "RIFF", 4), n = 4;
	PUT(0xffffffffu, 4);
	memcpy(h + n, "WAVEfmt ", 8), n += 8;
	PUT(fmt, 4);
	PUT(aw->is_float ? 3 : 1, 2);
	PUT(channels, 2);
	PUT(sr, 4);
	PUT((uint32_t)sr * block, 4);
	PUT(block, 2);
	PUT(bits, 2);
	if (aw->is_float)
		PUT(0, 2);	// cbSize
	memcpy(h + n, "data", 4), n += 4;
	PUT(0xffffffffu, 4);
#undef PUT
	if (fwrite(h, 1, n, stdout) != n || fflush(stdout))
		die("<stdout>: write error: %s", strerror(errno));
	return aw;
}

/* n frames of the interleaved chunk to standard output. */
static void stdout_write(struct audio_writer *aw, const float *x, int64_t n)
{
	int bytes = aw->sample == AUDIO_PCM16 ? 2 : aw->sample == AUDIO_PCM24 ? 3 : 4;
	size_t len = (size_t)(n * aw->channels);
	unsigned char *b = xmalloc(len * bytes);
	for (size_t i = 0; i < len; i++) {
		float v = x[i];
		uint32_t u;
		if (aw->is_float)
			memcpy(&u, &v, 4);
		else {
			double full = aw->sample == AUDIO_PCM16 ? 32768.0 : 8388608.0;
			double q = nearbyint((double)(v > 1 ? 1 : v < -1 ? -1 : v) * full);
			if (q > full - 1)
				q = full - 1;
			u = (uint32_t)(int32_t)q;
		}
		for (int k = 0; k < bytes; k++)
			b[i * bytes + k] = (unsigned char)(u >> 8 * k);
	}
	if (fwrite(b, bytes, len, stdout) != len || fflush(stdout))
		die("<stdout>: write error: %s", strerror(errno));
	free(b);
}

struct audio_writer *audio_open_write(const char *path, int sr, int channels,
				      enum audio_sample sample)
{
	if (!strcmp(path, "-"))
		return stdout_writer(sr, channels, sample);
	int major = major_format(path);
	if (major < 0)
		die("%s: unknown audio file extension (use .wav, .flac, .aiff, .ogg, .mp3, .au, .caf, .w64, .rf64)", path);
	int sub = sample == AUDIO_PCM16 ? SF_FORMAT_PCM_16 : sample == AUDIO_PCM24 ? SF_FORMAT_PCM_24
									     : SF_FORMAT_FLOAT;
	if (major == SF_FORMAT_OGG)
		sub = SF_FORMAT_VORBIS;
	if (major == SF_FORMAT_MPEG)	// lossy, like Vorbis: -b does not apply
		sub = SF_FORMAT_MPEG_LAYER_III;
	SF_INFO info = { .samplerate = sr, .channels = channels, .format = major | sub };
	if (!sf_format_check(&info))
		die("%s: this file format cannot hold %s samples at %d Hz, %d channels", path,
		    sample == AUDIO_FLOAT32 ? "32-bit float" : sample == AUDIO_PCM24 ? "24-bit" : "16-bit",
		    sr, channels);
	struct audio_writer *aw = xcalloc(1, sizeof *aw);
	atomic_open(&aw->af, path);
	aw->sf = sf_open_fd(fileno(aw->af.fp), SFM_WRITE, &info, 0);
	if (!aw->sf)
		die("%s: cannot write audio: %s", path, sf_strerror(NULL));
	if (sub != SF_FORMAT_FLOAT)	/* clip rather than wrap out-of-range samples */
		sf_command(aw->sf, SFC_SET_CLIPPING, NULL, SF_TRUE);
	aw->channels = channels;
	aw->chunk_frames = CHUNK_FRAMES;
	aw->chunk = xmalloc(sizeof(float) * CHUNK_FRAMES * channels);
	aw->is_float = sub == SF_FORMAT_FLOAT;
	return aw;
}

void audio_write(struct audio_writer *aw, const float *in, int64_t stride, int64_t n)
{
	int C = aw->channels;
	for (int64_t done = 0; done < n;) {
		int64_t m = n - done < aw->chunk_frames ? n - done : aw->chunk_frames;
		for (int c = 0; c < C; c++) {
			const float *src = in + c * stride + done;
			for (int64_t i = 0; i < m; i++) {
				float v = src[i];
				if (!aw->is_float && !(fabsf(v) <= 1.0f))
					aw->clipped++;
				aw->chunk[i * C + c] = v;
			}
		}
		if (aw->to_stdout)
			stdout_write(aw, aw->chunk, m);
		else if (sf_writef_float(aw->sf, aw->chunk, m) != m)
			die("%s: write error: %s", aw->af.path, sf_strerror(aw->sf));
		done += m;
	}
}

void audio_commit(struct audio_writer *aw)
{
	if (aw->clipped)
		warn("%s: %lld samples clipped to [-1, 1]", aw->af.path, (long long)aw->clipped);
	if (aw->to_stdout) {
		free(aw->af.path);
		free(aw->chunk);
		free(aw);
		return;
	}
	sf_write_sync(aw->sf);
	if (sf_close(aw->sf))
		die("%s: write error", aw->af.path);
	atomic_commit(&aw->af);
	free(aw->chunk);
	free(aw);
}

void audio_abort(struct audio_writer *aw)
{
	if (aw->to_stdout) {
		free(aw->af.path);
		free(aw->chunk);
		free(aw);
		return;
	}
	sf_close(aw->sf);
	atomic_abort(&aw->af);
	free(aw->chunk);
	free(aw);
}
