/* dataset.c: MUSDB18-HQ track lists, file checks, whole-track records, the
 * listing, and the ordered thread pool shared with augment.c.
 *
 * Tracks are kept sorted by name (byte order, as musdb sorts them), so
 * every run sees the same list whatever order the file system returns. */
#include "dataset.h"

#include <dirent.h>
#include <math.h>
#include <sndfile.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "chunked.h"
#include "util.h"
#include "worker.h"

#define MIXTURE DATASET_NSTEMS	/* file index of mixture.wav after the stems */

const char *const dataset_stem_names[DATASET_NSTEMS] = { "drums", "bass", "other", "vocals" };

static const char *const file_names[DATASET_NSTEMS + 1] = {
	"drums", "bass", "other", "vocals", "mixture",
};

const char *const dataset_valid_names[DATASET_NVALID] = {
	"Actions - One Minute Smile",
	"Clara Berry And Wooldog - Waltz For My Victims",
	"Johnny Lokke - Promises & Lies",
	"Patrick Talbot - A Reason To Leave",
	"Triviul - Angelsaint",
	"Alexander Ross - Goodbye Bolero",
	"Fergessen - Nos Palpitants",
	"Leaf - Summerghost",
	"Skelpolu - Human Mistakes",
	"Young Griffo - Pennies",
	"ANiMAL - Rockshow",
	"James May - On The Line",
	"Meaxic - Take A Step",
	"Traffic Experiment - Sirens",
};

bool dataset_is_valid_name(const char *name)
{
	for (int i = 0; i < DATASET_NVALID; i++)
		if (!strcmp(name, dataset_valid_names[i]))
			return true;
	return false;
}

static char *path_join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *p = xmalloc(n);
	snprintf(p, n, "%s/%s", a, b);
	return p;
}

static char *track_file(const struct track *t, int file)
{
	size_t n = strlen(t->dir) + 16;
	char *p = xmalloc(n);
	snprintf(p, n, "%s/%s.wav", t->dir, file_names[file]);
	return p;
}

static bool is_dir(const char *path)
{
	struct stat st;
	return !stat(path, &st) && S_ISDIR(st.st_mode);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the track folders in dir (hidden entries skipped). */
static char **scan_dir(const char *dir, int *count)
{
	DIR *d = opendir(dir);
	if (!d)
		die("%s:", dir);
	char **names = NULL;
	int n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char *p = path_join(dir, e->d_name);
		bool ok = is_dir(p);
		free(p);
		if (!ok)
			continue;
		if (n == cap)
			names = xrealloc(names, sizeof *names * (cap = cap ? 2 * cap : 64));
		names[n++] = xstrdup(e->d_name);
	}
	closedir(d);
	if (n > 1)	// names is NULL for an empty split: qsort(NULL, 0) is undefined
		qsort(names, n, sizeof *names, cmp_names);
	*count = n;
	return names;
}

static void add_track(struct dataset *ds, const char *subset, const char *name)
{
	ds->tracks = xrealloc(ds->tracks, sizeof *ds->tracks * (ds->ntracks + 1));
	struct track *t = &ds->tracks[ds->ntracks++];
	memset(t, 0, sizeof *t);
	t->name = xstrdup(name);
	char *sub = path_join(ds->root, subset);
	t->dir = path_join(sub, name);
	free(sub);
	t->split = !strcmp(subset, "test") ? "test" : dataset_is_valid_name(name) ? "valid" : "train";
}

/* The tracks of split "train", "valid" or "test" (folder order). */
static void add_split(struct dataset *ds, const char *split)
{
	const char *subset = !strcmp(split, "test") ? "test" : "train";
	char *dir = path_join(ds->root, subset);
	int n;
	char **names = scan_dir(dir, &n);
	for (int i = 0; i < n; i++) {
		bool valid = !strcmp(subset, "train") && dataset_is_valid_name(names[i]);
		if (!strcmp(split, "test") || valid == !strcmp(split, "valid"))
			add_track(ds, subset, names[i]);
		free(names[i]);
	}
	free(names);
	free(dir);
}

static void add_tracks_file(struct dataset *ds, const char *path)
{
	FILE *fp = fopen(path, "r");
	if (!fp)
		die("%s:", path);
	char line[4096];
	for (int lineno = 1; fgets(line, sizeof line, fp); lineno++) {
		line[strcspn(line, "\r\n")] = 0;
		if (!line[0] || line[0] == '#')
			continue;
		const char *subset = NULL, *name = line;
		if (!strncmp(line, "train/", 6))
			subset = "train", name = line + 6;
		else if (!strncmp(line, "test/", 5))
			subset = "test", name = line + 5;
		for (int k = 0; k < 2 && !subset; k++) {
			char *sub = path_join(ds->root, k ? "test" : "train");
			char *p = path_join(sub, name);
			if (is_dir(p))
				subset = k ? "test" : "train";
			free(p);
			free(sub);
		}
		if (!subset)
			die("%s:%d: no track '%s' in %s/train or %s/test", path, lineno, name,
			    ds->root, ds->root);
		add_track(ds, subset, name);
	}
	if (ferror(fp))
		die("%s:", path);
	fclose(fp);
}

/* Checks one file and returns its length in frames. */
static int64_t check_file(const char *path, const char *what)
{
	struct stat st;
	if (stat(path, &st))
		die("%s: missing %s", path, what);
	SF_INFO info = { 0 };
	SNDFILE *sf = sf_open(path, SFM_READ, &info);
	if (!sf)
		die("%s: unreadable audio: %s", path, sf_strerror(NULL));
	sf_close(sf);
	if (info.samplerate != DATASET_SR)
		die("%s: sample rate %d Hz, expected %d", path, info.samplerate, DATASET_SR);
	if (info.channels != DATASET_CHANNELS)
		die("%s: %d channel%s, expected %d (stereo)", path, info.channels,
		    info.channels == 1 ? "" : "s", DATASET_CHANNELS);
	if (info.frames < 1)
		die("%s: no audio frames", path);
	return info.frames;
}

static void check_track(struct track *t, bool with_mixture)
{
	int nfiles = DATASET_NSTEMS + with_mixture, shortest = 0;
	int64_t frames[DATASET_NSTEMS + 1];
	char *paths[DATASET_NSTEMS + 1];
	for (int f = 0; f < nfiles; f++) {
		paths[f] = track_file(t, f);
		frames[f] = check_file(paths[f], f == MIXTURE ? "mixture" : "stem");
		if (frames[f] < frames[shortest])
			shortest = f;
	}
	t->frames = frames[shortest];
	for (int f = 0; f < nfiles; f++) {
		if (frames[f] != t->frames)
			warn("%s: %lld frames, but %s has %lld: cut to the shortest", paths[f],
			     (long long)frames[f], paths[shortest], (long long)t->frames);
	}
	for (int f = 0; f < nfiles; f++)
		free(paths[f]);
}

void dataset_open(struct dataset *ds, const char *root, const char *split,
		  const char *tracks_file, bool with_mixture)
{
	memset(ds, 0, sizeof *ds);
	ds->root = xstrdup(root);
	if (!is_dir(root))
		die("%s: not a folder", root);
	if (tracks_file)
		add_tracks_file(ds, tracks_file);
	else if (!strcmp(split, "all")) {
		add_split(ds, "train");
		add_split(ds, "valid");
		add_split(ds, "test");
	} else
		add_split(ds, split);
	if (!ds->ntracks) {
		if (tracks_file)
			die("%s: no tracks listed", tracks_file);
		const char *subset = !strcmp(split, "test") ? "test" : "train";
		die("%s/%s: no tracks in split %s", root, subset, split);
	}
	for (int i = 0; i < ds->ntracks; i++)
		check_track(&ds->tracks[i], with_mixture);
}

void dataset_free(struct dataset *ds)
{
	for (int i = 0; i < ds->ntracks; i++) {
		free(ds->tracks[i].name);
		free(ds->tracks[i].dir);
		free(ds->tracks[i].cache);
	}
	free(ds->tracks);
	free(ds->root);
	memset(ds, 0, sizeof *ds);
}

/* The hot loop of the training stream: up to n stereo frames of an open
 * file into planar out[c * stride + i].  It does what audio_read() does,
 * specialised: 16-bit PCM (all of MUSDB18-HQ) is read as shorts and
 * converted while deinterleaving, in one pass over an L1-sized chunk, to
 * the values libsndfile's float conversion gives (s / 32768, exact); other
 * encodings go through sf_readf_float.  A third of audio_read's CPU time
 * on 16-bit files. */
static int64_t read_stereo(SNDFILE *sf, bool pcm16, float *out, int64_t stride, int64_t n)
{
	enum { CHUNK = 4096 };
	union { short s[2 * CHUNK]; float f[2 * CHUNK]; } buf;
	float *l = out, *r = out + stride;
	int64_t done = 0;
	while (done < n) {
		sf_count_t want = n - done < CHUNK ? n - done : CHUNK, got;
		if (pcm16) {
			got = sf_readf_short(sf, buf.s, want);
			for (sf_count_t i = 0; i < got; i++) {
				l[done + i] = buf.s[2 * i] * (1.0f / 32768);
				r[done + i] = buf.s[2 * i + 1] * (1.0f / 32768);
			}
		} else {
			got = sf_readf_float(sf, buf.f, want);
			for (sf_count_t i = 0; i < got; i++) {
				l[done + i] = buf.f[2 * i];
				r[done + i] = buf.f[2 * i + 1];
			}
		}
		done += got;
		if (got < want)
			break;
	}
	return done;
}

/* A file that dataset_open() checked, opened again for reading. */
static SNDFILE *open_stereo(const char *path, bool *pcm16)
{
	SF_INFO info = { 0 };
	SNDFILE *sf = sf_open(path, SFM_READ, &info);
	if (!sf)
		die("%s: unreadable audio: %s", path, sf_strerror(NULL));
	if (info.channels != DATASET_CHANNELS)
		die("%s: %d channels, expected %d", path, info.channels, DATASET_CHANNELS);
	*pcm16 = (info.format & SF_FORMAT_SUBMASK) == SF_FORMAT_PCM_16;
	return sf;
}

/* Frames [offset, offset + n) of a file, zero past `frames`. */
static void read_file(const struct track *t, int file, int64_t offset, int64_t n,
		      float *out, int64_t stride)
{
	int64_t have = offset < t->frames ? t->frames - offset : 0;
	if (have > n)
		have = n;
	int64_t got = 0;
	if (have > 0) {
		char *path = track_file(t, file);
		bool pcm16;
		SNDFILE *sf = open_stereo(path, &pcm16);
		if (offset && sf_seek(sf, offset, SEEK_SET) < 0)
			die("%s: cannot seek to frame %lld: %s", path, (long long)offset,
			    sf_strerror(sf));
		got = read_stereo(sf, pcm16, out, stride, have);
		if (got < have)
			die("%s: file ends at frame %lld, before %lld", path,
			    (long long)(offset + got), (long long)(offset + have));
		sf_close(sf);
		free(path);
	}
	for (int c = 0; c < DATASET_CHANNELS; c++)
		memset(out + c * stride + got, 0, sizeof(float) * (n - got));
}

void dataset_read_segment(const struct track *t, int stem, int64_t offset, int64_t n,
			  float *out, int64_t stride)
{
	if (!t->cache || stem == MIXTURE) {
		read_file(t, stem, offset, n, out, stride);
		return;
	}
	int64_t have = offset < t->frames ? t->frames - offset : 0;
	if (have > n)
		have = n;
	for (int c = 0; c < DATASET_CHANNELS; c++) {
		const float *src = t->cache + ((int64_t)stem * DATASET_CHANNELS + c) * t->frames;
		memcpy(out + c * stride, src + offset, sizeof(float) * have);
		memset(out + c * stride + have, 0, sizeof(float) * (n - have));
	}
}

static void cache_track(void *ctx, int64_t index, void *slot)
{
	(void)slot;
	struct track *t = &((struct dataset *)ctx)->tracks[index];
	int64_t plane = DATASET_CHANNELS * t->frames;
	float *buf = xmalloc(sizeof(float) * DATASET_NSTEMS * plane);
	for (int s = 0; s < DATASET_NSTEMS; s++)
		read_file(t, s, 0, t->frames, buf + s * plane, t->frames);
	t->cache = buf;	/* each worker writes a different track */
}

static void no_op(void *ctx, int64_t index, void *slot)
{
	(void)ctx, (void)index, (void)slot;
}

void dataset_cache(struct dataset *ds, int jobs)
{
	ordered_map(0, ds->ntracks, jobs, 1, cache_track, no_op, ds);
}

/* ---- whole tracks ---- */

static void header_start(struct snt_header *h, int rank, const int64_t *shape)
{
	snt_header_init(h);
	snt_header_set_dtype(h, SNT_F32);
	snt_header_set_shape(h, rank, shape);
}

/* A record of a track (the mixture, or the stems) as one record or as
 * chunk records of `chunk` frames (io/chunked.h), read a file's chunk at a
 * time: memory is a chunk of the files, not the track. */
static void write_track_record(const struct track *t, bool stems, int64_t chunk,
			       struct snt_writer *w)
{
	int64_t N = t->frames, step = chunk > 0 && chunk < N ? chunk : N;
	float *buf = xmalloc(sizeof(float) * DATASET_CHANNELS * (step ? step : 1));
	for (int64_t off = 0, k = 0; off < N || (N == 0 && k == 0); off += step, k++) {
		int64_t n = N - off < step ? N - off : step;
		struct snt_header h;
		if (stems) {
			header_start(&h, 3, (int64_t[]){ DATASET_NSTEMS, DATASET_CHANNELS, n });
			snt_header_set(&h, "sources", DATASET_SOURCES);
		} else {
			header_start(&h, 2, (int64_t[]){ DATASET_CHANNELS, n });
			snt_header_set(&h, "name", "mixture");
		}
		snt_header_setf(&h, "sr", "%d", DATASET_SR);
		snt_header_set(&h, "track", t->name);
		snt_header_set(&h, "split", t->split);
		if (step < N)
			chunk_pos_set(&h, &(struct chunk_pos){ .chunked = true, .index = k, .offset = off,
							       .total = N, .last = off + n == N });
		snt_write_header(w, &h);
		snt_header_free(&h);
		for (int s = stems ? 0 : MIXTURE; s < (stems ? DATASET_NSTEMS : MIXTURE + 1); s++) {
			dataset_read_segment(t, s, off, n, buf, n);
			snt_write_payload(w, buf, sizeof(float) * DATASET_CHANNELS * n);
		}
		if (N == 0)
			break;
	}
	free(buf);
}

void dataset_write_full(const struct dataset *ds, bool mixture, bool stems, int64_t chunk,
			struct snt_writer *w)
{
	for (int i = 0; i < ds->ntracks; i++) {
		if (mixture)
			write_track_record(&ds->tracks[i], false, chunk, w);
		if (stems)
			write_track_record(&ds->tracks[i], true, chunk, w);
	}
}

/* ---- listing ---- */

struct track_stats {
	double peak[DATASET_NSTEMS];
	double rms[DATASET_NSTEMS];
};

#define STATS_CHUNK 65536

static void stats_track(void *ctx, int64_t index, void *slot)
{
	const struct track *t = &((const struct dataset *)ctx)->tracks[index];
	struct track_stats *st = slot;
	float *buf = xmalloc(sizeof(float) * DATASET_CHANNELS * STATS_CHUNK);
	for (int s = 0; s < DATASET_NSTEMS; s++) {
		char *path = track_file(t, s);
		bool pcm16;
		SNDFILE *sf = open_stereo(path, &pcm16);
		double peak = 0, sum2 = 0;
		for (int64_t off = 0; off < t->frames; off += STATS_CHUNK) {
			int64_t n = t->frames - off < STATS_CHUNK ? t->frames - off : STATS_CHUNK;
			if (read_stereo(sf, pcm16, buf, n, n) < n)
				die("%s: file ends before frame %lld", path, (long long)(off + n));
			for (int64_t i = 0; i < DATASET_CHANNELS * n; i++) {
				peak = fmax(peak, fabs(buf[i]));
				sum2 += (double)buf[i] * buf[i];
			}
		}
		sf_close(sf);
		free(path);
		st->peak[s] = 20 * log10(peak);
		st->rms[s] = 10 * log10(sum2 / ((double)DATASET_CHANNELS * t->frames));
	}
	free(buf);
}

static void print_stats(void *ctx, int64_t index, void *slot)
{
	const struct track *t = &((const struct dataset *)ctx)->tracks[index];
	const struct track_stats *st = slot;
	printf("%s\t%s\t%.3f", t->split, t->name, (double)t->frames / DATASET_SR);
	for (int s = 0; s < DATASET_NSTEMS; s++)
		printf("\t%.2f\t%.2f", st->peak[s], st->rms[s]);
	putchar('\n');
	if (ferror(stdout))
		die_write("standard output");
}

void dataset_list(const struct dataset *ds, int jobs)
{
	ordered_map(0, ds->ntracks, jobs, sizeof(struct track_stats), stats_track, print_stats,
		    (void *)ds);
}
