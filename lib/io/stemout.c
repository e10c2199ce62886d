/* stemout.c: see stemout.h. */
#include "stemout.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "resample.h"
#include "util.h"

struct stem_writer {
	char *pattern;
	enum audio_sample sample;
	int sample_set, sr;
	char **written;		/* every path reserved or written so far */
	int64_t *owner;		/* the record index each belongs to */
	char **what;		/* "FILE: record N" of its record, for messages */
	int nwritten;
};

/* %d and %b of a record from the file= key: the folder holding the
 * file and the file name without extension (else the track). */
struct names {
	const char *source, *track;
	char *dir, *base;
};

static void names_of_file(struct names *nm, const char *file, const char *track)
{
	if (!file) {
		nm->dir = xstrdup(track), nm->base = xstrdup(track);
		return;
	}
	const char *slash = strrchr(file, '/');
	nm->base = xstrdup(slash ? slash + 1 : file);
	char *dot = strrchr(nm->base, '.');
	if (dot && dot != nm->base)
		*dot = 0;
	char *dir = xstrdup(file);
	char *s = strrchr(dir, '/');
	if (s)
		s == dir ? (void)(s[1] = 0) : (void)(*s = 0);
	char *real = realpath(s ? dir : ".", NULL);
	const char *from = real ? real : dir, *last = strrchr(from, '/');
	nm->dir = xstrdup(last && last[1] ? last + 1 : from);
	free(real);
	free(dir);
}

/* Expand the pattern; NULL names only while validating it. */
static char *expand(const char *pattern, const struct names *nm, int64_t index)
{
	size_t cap = strlen(pattern) + 256, n = 0;
	char *out = xmalloc(cap);
	for (const char *p = pattern; *p; p++) {
		char num[32];
		const char *add = NULL;
		if (*p == '%' && p[1]) {
			switch (*++p) {
			case 's': add = nm ? nm->source : ""; break;
			case 't': add = nm ? nm->track : ""; break;
			case 'd': add = nm ? nm->dir : ""; break;
			case 'b': add = nm ? nm->base : ""; break;
			case 'i': snprintf(num, sizeof num, "%lld", (long long)index); add = num; break;
			case '%': add = "%"; break;
			default: die_usage("-o: unknown conversion %%%c in '%s' (use %%s, %%t, %%d, %%b, %%i, %%%%)", *p, pattern);
			}
		}
		size_t len = add ? strlen(add) : 1;
		while (n + len + 1 > cap)
			out = xrealloc(out, cap *= 2);
		if (add)
			memcpy(out + n, add, len);
		else
			out[n] = *p;
		n += len;
	}
	out[n] = 0;
	return out;
}

struct stem_writer *stem_writer_create(const char *pattern, enum audio_sample sample,
				       int sample_set, int sr)
{
	free(expand(pattern, NULL, 0));	/* usage errors before any work */
	struct stem_writer *sw = xcalloc(1, sizeof *sw);
	sw->pattern = xstrdup(pattern);
	sw->sample = sample, sw->sample_set = sample_set, sw->sr = sr;
	return sw;
}

void stem_writer_free(struct stem_writer *sw)
{
	if (!sw)
		return;
	for (int i = 0; i < sw->nwritten; i++) {
		free(sw->written[i]);
		free(sw->what[i]);
	}
	free(sw->written);
	free(sw->what);
	free(sw->owner);
	free(sw->pattern);
	free(sw);
}

/* The name of source s of a record with S sources. */
static char *source_name(const struct snt_header *h, int s, int S, const char *where)
{
	const char *list = snt_header_get(h, "sources");
	if (list) {
		const char *p = list;
		for (int i = 0; i < s && p; i++)
			if ((p = strchr(p, ',')))
				p++;
		if (!p || !*p)
			die("%s: sources=%s names fewer than %d sources", where, list, S);
		size_t len = strcspn(p, ",");
		char *name = xmalloc(len + 1);
		memcpy(name, p, len);
		name[len] = 0;
		return name;
	}
	const char *name = snt_header_get(h, "name");
	char buf[64];
	if (S == 1)
		return xstrdup(name ? name : "out");
	snprintf(buf, sizeof buf, "%s%d", name ? name : "out", s);
	return xstrdup(buf);
}

/* path for record index: an error when another record or source has it */
static void claim_path(struct stem_writer *sw, const char *path, int64_t index, const char *where)
{
	for (int i = 0; i < sw->nwritten; i++)
		if (!strcmp(sw->written[i], path)) {
			if (sw->owner[i] == index)	// reserved for this record
				return;
			die("%s: -o %s: %s is also the output of %s (make the names differ "
			    "with %%t, %%d, %%b or %%i)", where, sw->pattern, path, sw->what[i]);
		}
	sw->written = xrealloc(sw->written, (sw->nwritten + 1) * sizeof *sw->written);
	sw->owner = xrealloc(sw->owner, (sw->nwritten + 1) * sizeof *sw->owner);
	sw->what = xrealloc(sw->what, (sw->nwritten + 1) * sizeof *sw->what);
	sw->owner[sw->nwritten] = index;
	sw->what[sw->nwritten] = xstrdup(where);
	sw->written[sw->nwritten++] = xstrdup(path);
}

/* The paths of record h's sources, claimed for index. */
static char **record_paths(struct stem_writer *sw, const struct snt_header *h, int S,
			   int64_t index, const char *where)
{
	const char *track = snt_header_get(h, "track");
	char num[32];
	if (!track) {
		snprintf(num, sizeof num, "%lld", (long long)index);
		track = num;
	}
	if (S > 1 && !strcmp(sw->pattern, "-"))
		die("%s: -o - streams one stem to standard output, not %d: name it with -s", where, S);
	if (S > 1 && !strstr(sw->pattern, "%s"))
		die("%s: %d sources but -o %s has no %%s", where, S, sw->pattern);
	struct names nm = { .track = track };
	names_of_file(&nm, snt_header_get(h, "file"), track);
	char **paths = xcalloc((size_t)S, sizeof *paths);
	for (int s = 0; s < S; s++) {
		char *name = source_name(h, s, S, where);
		nm.source = name;
		paths[s] = expand(sw->pattern, &nm, index);
		claim_path(sw, paths[s], index, where);
		free(name);
	}
	free(nm.dir);
	free(nm.base);
	return paths;
}

void stem_writer_reserve(struct stem_writer *sw, const struct snt_header *h, int S, int64_t index,
			 const char *where)
{
	char **paths = record_paths(sw, h, S, index, where);
	for (int s = 0; s < S; s++)
		free(paths[s]);
	free(paths);
}

struct stem_stream {
	int S, C;
	struct audio_writer **aw;	/* one file a source */
	struct restore_stream *rs;	/* to the files' rate and length */
};

/* The files of record h (f32 [C, n] or [S, C, n] at sr), open for writing. */
static struct stem_stream *open_files(struct stem_writer *sw, const struct snt_header *h, int sr,
				      int64_t index, const char *where)
{
	struct stem_stream *st = xcalloc(1, sizeof *st);
	st->S = h->rank == 3 ? (int)h->shape[0] : 1;
	st->C = (int)h->shape[h->rank - 2];
	st->aw = xcalloc((size_t)st->S, sizeof *st->aw);
	char **paths = record_paths(sw, h, st->S, index, where);
	for (int s = 0; s < st->S; s++) {
		char *path = paths[s];
		make_parent_dirs(path);
		enum audio_sample sample = sw->sample;
		if (!sw->sample_set) {	/* lossless by default: float where the format has it */
			const char *dot = strrchr(path, '.');
			sample = dot && !strcasecmp(dot, ".flac") ? AUDIO_PCM24 : AUDIO_FLOAT32;
		}
		st->aw[s] = audio_open_write(path, sr, st->C, sample);
		free(path);
	}
	free(paths);
	return st;
}

void stem_stream_write(struct stem_stream *st, const float *y, int64_t n)
{
	const float *z;
	int64_t m = restore_stream_push(st->rs, y, n, false, &z);
	for (int s = 0; s < st->S && m > 0; s++)
		audio_write(st->aw[s], z + (int64_t)s * st->C * m, m, m);
}

void stem_stream_commit(struct stem_stream *st)
{
	const float *z;	// the converter's rest, then the input's length
	int64_t m = restore_stream_push(st->rs, NULL, 0, true, &z);
	for (int s = 0; s < st->S; s++) {
		if (m > 0)
			audio_write(st->aw[s], z + (int64_t)s * st->C * m, m, m);
		audio_commit(st->aw[s]);
	}
	restore_stream_free(st->rs);
	free(st->aw);
	free(st);
}

/* The record's rate: sr=, which -o needs. */
static int record_rate(const struct snt_header *h, const char *where)
{
	int sr;
	const char *v = snt_header_get(h, "sr");
	if (!v)
		die("%s: no sr key: give the sample rate with -r", where);
	if (parse_int(v, &sr) || sr < 1)
		die("%s: malformed sr=%s", where, v);
	return sr;
}

static void check_waveform(const struct snt_header *h, const char *where)
{
	if (h->dtype != SNT_F32 || (h->rank != 2 && h->rank != 3))
		die("%s: -o writes f32 [C, N] or [S, C, N] records, not %s of rank %d", where,
		    snt_dtype_name(h->dtype), h->rank);
}

struct stem_stream *stem_writer_open_track(struct stem_writer *sw, const struct snt_header *h,
					   int64_t index, const char *where)
{
	check_waveform(h, where);
	// at the input's rate and length (orig_sr, orig_length), or -r's, as
	// stem_writer_write
	// a record without sr is taken to be at the writer's rate
	int sr = !snt_header_get(h, "sr") && sw->sr ? sw->sr : record_rate(h, where);
	int orig = wave_rate_key(h, "orig_sr", where);
	int out = sw->sr ? sw->sr : orig ? orig : sr;
	int64_t length = -1;
	const char *ol = snt_header_get(h, "orig_length");
	if (orig && ol) {
		if (parse_int64(ol, &length) || length < 1)
			die("%s: malformed orig_length=%s", where, ol);
		if (out != orig)
			length = resample_length(length, orig, out);
	}
	struct stem_stream *st = open_files(sw, h, out, index, where);
	st->rs = restore_stream_create((int64_t)st->S * st->C, sr, out, length, where);
	return st;
}

void stem_writer_write(struct stem_writer *sw, const struct snt_header *h, const float *y,
		       int64_t index, const char *where)
{
	struct stem_stream *st = stem_writer_open_track(sw, h, index, where);
	stem_stream_write(st, y, h->shape[h->rank - 1]);
	stem_stream_commit(st);
}
