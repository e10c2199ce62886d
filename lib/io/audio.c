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
	sf_close(ar->sf);
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

struct audio_writer *audio_open_write(const char *path, int sr, int channels,
				      enum audio_sample sample)
{
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
		if (sf_writef_float(aw->sf, aw->chunk, m) != m)
			die("%s: write error: %s", aw->af.path, sf_strerror(aw->sf));
		done += m;
	}
}

void audio_commit(struct audio_writer *aw)
{
	if (aw->clipped)
		warn("%s: %lld samples clipped to [-1, 1]", aw->af.path, (long long)aw->clipped);
	sf_write_sync(aw->sf);
	if (sf_close(aw->sf))
		die("%s: write error", aw->af.path);
	atomic_commit(&aw->af);
	free(aw->chunk);
	free(aw);
}

void audio_abort(struct audio_writer *aw)
{
	sf_close(aw->sf);
	atomic_abort(&aw->af);
	free(aw->chunk);
	free(aw);
}
