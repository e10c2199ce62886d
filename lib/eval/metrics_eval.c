/* metrics_eval.c: the sisdr worker.  Pairs reference and estimate tracks
 * (audio files, SNT streams or MUSDB-style folders), checks that they
 * match, measures every source, and prints the table, CSV or JSON with the
 * per-track values and the aggregate over tracks.
 *
 * Tracks are read one at a time (memory bounded per track); only the
 * results, a few numbers per source, are kept until the end, where the
 * table's columns get their widths and the aggregate is known. */
#include "metrics.h"
#include "ops.h"

#include <dirent.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audio.h"
#include "chunked.h"
#include "snt.h"
#include "util.h"
#include "wavein.h"

/* One track: sources [nsrc][nchan][n], f32. */
struct track {
	char *name;
	int nsrc, nchan, sr;	/* sr 0: unknown */
	int64_t n;
	char **sources;
	float *data;
	int has_track, has_sources;	/* an SNT record's track= and sources= keys */
};

/* The measurement of one source of one track. */
struct result {
	char *track, *source;
	double value[BSS_NMETRICS];	/* SI-SDR or uSDR in [0]; BSSEval: medians over windows */
	int64_t nframes, hop;
	double *frames;			/* [BSS_NMETRICS][nframes] (--frames), or NULL */
};

struct results {
	struct result *r;
	int n, cap;
};

static void track_free(struct track *t)
{
	for (int j = 0; j < t->nsrc; j++)
		free(t->sources[j]);
	free(t->sources);
	free(t->name);
	free(t->data);
	memset(t, 0, sizeof *t);
}

static int nmetrics(const struct eval_opts *o)
{
	return o->metric == METRIC_BSS ? BSS_NMETRICS : 1;
}

static const char *metric_name(const struct eval_opts *o, int m)
{
	if (o->metric == METRIC_BSS)
		return bss_metric_names[m];
	return o->metric == METRIC_USDR ? "uSDR" : "SI-SDR";
}

/* Warnings of one kind: the first is printed as it happens, the others
 * counted and summed up in one line at the end (metrics_evaluate), so a
 * long evaluation does not print one per track. */
enum { WARN_SILENT, WARN_LENGTH, WARN_KINDS };
static int64_t warned[WARN_KINDS];
static const char *const warn_summary[WARN_KINDS] = {
	"silent sources (every BSSEval window undefined)",
	"estimates of another length than their reference (zero-padded or cut)",
};

static bool warn_first(int kind)
{
	return warned[kind]++ == 0;
}

/* ---- measuring ---- */

static int source_silent(const float *x, int64_t len)
{
	for (int64_t i = 0; i < len; i++)
		if (x[i] != 0)
			return 0;
	return 1;
}

static void measure(struct results *res, const struct track *ref, const float *est,
		    const struct eval_opts *o)
{
	int S = ref->nsrc, C = ref->nchan;
	int64_t n = ref->n, len = (int64_t)C * n, nf = 0, hop = 0;
	double *bss = NULL;
	if (o->metric == METRIC_BSS) {
		int64_t rate = ref->sr ? ref->sr : 44100;	/* museval: 1 s windows */
		int64_t win = o->win ? o->win : rate;
		hop = o->hop ? o->hop : rate;
		for (int j = 0; j < S; j++) {
			if (source_silent(ref->data + j * len, len)) {
				if (warn_first(WARN_SILENT))
					warn("%s: reference '%s' is silent: every BSSEval window is undefined (museval refuses the track)",
					     ref->name, ref->sources[j]);
			} else if (source_silent(est + j * len, len) && warn_first(WARN_SILENT))
				warn("%s: estimate '%s' is silent: every BSSEval window is undefined (museval refuses the track)",
				     ref->name, ref->sources[j]);
		}
		nf = bsseval_nframes(n, win, hop);
		bss = xmalloc(BSS_NMETRICS * S * nf * sizeof *bss);
		bsseval_v4(bss, ref->data, est, S, C, n, win, hop, BSSEVAL_FILTER_LEN);
	}
	for (int j = 0; j < S; j++) {
		if (res->n == res->cap) {
			res->cap = res->cap ? 2 * res->cap : 16;
			res->r = xrealloc(res->r, res->cap * sizeof *res->r);
		}
		struct result *r = &res->r[res->n++];
		memset(r, 0, sizeof *r);
		r->track = xstrdup(ref->name);
		r->source = xstrdup(ref->sources[j]);
		if (o->metric == METRIC_SISDR)
			r->value[0] = sisdr_db(est + j * len, ref->data + j * len, len);
		else if (o->metric == METRIC_USDR)
			r->value[0] = metrics_usdr(ref->data + j * len, est + j * len, len);
		else {
			r->nframes = nf;
			r->hop = hop;
			for (int m = 0; m < BSS_NMETRICS; m++)
				r->value[m] = metrics_median_finite(bss + ((int64_t)m * S + j) * nf, nf);
			if (o->frames) {
				r->frames = xmalloc(BSS_NMETRICS * nf * sizeof *r->frames);
				for (int m = 0; m < BSS_NMETRICS; m++)
					memcpy(r->frames + m * nf, bss + ((int64_t)m * S + j) * nf, nf * sizeof *bss);
			}
		}
	}
	free(bss);
}

/* Keep t's sources named names[0..nsrc), in that order; role names t
 * ("reference", "estimate") in the message when one is missing. */
static void pick_sources(struct track *t, char **names, int nsrc, const char *what, const char *role)
{
	int64_t len = (int64_t)t->nchan * t->n;
	float *data = xmalloc((size_t)nsrc * len * sizeof *data);
	char **sources = xcalloc(nsrc, sizeof *sources);
	for (int j = 0; j < nsrc; j++) {
		int k = 0;
		while (k < t->nsrc && strcmp(t->sources[k], names[j]))
			k++;
		if (k == t->nsrc)
			die("%s: no %s of source '%s'", what, role, names[j]);
		memcpy(data + j * len, t->data + k * len, len * sizeof *data);
		sources[j] = xstrdup(names[j]);
	}
	for (int j = 0; j < t->nsrc; j++)
		free(t->sources[j]);
	free(t->sources);
	free(t->data);
	t->sources = sources, t->data = data, t->nsrc = nsrc;
}

/* The estimate's samples in the reference's layout (sources already in
 * the same order), zero-padded or cut to the reference's length. */
static float *conform(const struct track *ref, const struct track *est, const char *what)
{
	if (est->nchan != ref->nchan)
		die("%s: %d channels in the estimate, %d in the reference", what, est->nchan, ref->nchan);
	if (est->sr && ref->sr && est->sr != ref->sr)
		die("%s: sample rate %d in the estimate, %d in the reference", what, est->sr, ref->sr);
	if (est->n != ref->n && warn_first(WARN_LENGTH))
		warn("%s: estimate has %lld samples, reference %lld: %s", what, (long long)est->n,
		     (long long)ref->n, est->n < ref->n ? "zero-padded" : "cut");
	int64_t n = ref->n, keep = est->n < n ? est->n : n;
	float *out = xcalloc((size_t)ref->nsrc * ref->nchan * n, sizeof *out);
	for (int64_t r = 0; r < (int64_t)ref->nsrc * ref->nchan; r++)
		memcpy(out + r * n, est->data + r * est->n, keep * sizeof *out);
	return out;
}

/* ---- SNT streams and audio files ---- */

static char **split_sources(const char *list, int nsrc, const char *what)
{
	char **names = xcalloc(nsrc, sizeof *names);
	char *copy = xstrdup(list), *p = copy;
	int j = 0;
	for (char *tok; (tok = strsep(&p, ",")); j++) {
		if (j == nsrc || !*tok)
			die("%s: sources=%s does not name the %d sources", what, list, nsrc);
		names[j] = xstrdup(tok);
	}
	if (j != nsrc)
		die("%s: sources=%s does not name the %d sources", what, list, nsrc);
	free(copy);
	return names;
}

/* The next record, or a chunked track's chunks (io/chunked.h) joined into
 * one record of the whole track: 0 at the end. */
static int next_whole(struct wave_input *in, struct chunk_seq *q, struct snt_header *h,
		      float **data, char *what, size_t wl)
{
	if (!wave_input_next(in, h, data))
		return 0;
	snprintf(what, wl, "%s: record %lld", wave_input_name(in), (long long)wave_input_record(in));
	int64_t n = h->rank ? h->shape[h->rank - 1] : 1, rows = n ? snt_numel(h) / n : 0;
	struct chunk_pos pos;
	char err[512];
	if (chunk_seq_next(q, h, n, &pos, err, sizeof err))
		die("%s: %s", what, err);
	if (!pos.chunked)
		return 1;
	int64_t len = n, cap = pos.total > n ? pos.total : n;	// samples so far, room
	float *all = xmalloc(sizeof(float) * (size_t)(rows * cap > 0 ? rows * cap : 1));
	for (int64_t r = 0; r < rows; r++)
		memcpy(all + r * cap, *data + r * n, sizeof(float) * (size_t)n);
	free(*data);
	struct snt_header c;
	snt_header_init(&c);
	while (!pos.last) {
		float *d;
		if (!wave_input_next(in, &c, &d)) {
			if (chunk_seq_end(q, err, sizeof err))
				die("%s: %s", wave_input_name(in), err);
			break;
		}
		snprintf(what, wl, "%s: record %lld", wave_input_name(in),
			 (long long)wave_input_record(in));
		int64_t m = c.rank ? c.shape[c.rank - 1] : 1;
		if (chunk_seq_next(q, &c, m, &pos, err, sizeof err))
			die("%s: %s", what, err);
		if (len + m > cap) {	// the total unknown: grow
			int64_t ncap = (len + m) * 2;
			float *g = xmalloc(sizeof(float) * (size_t)(rows * ncap));
			for (int64_t r = 0; r < rows; r++)
				memcpy(g + r * ncap, all + r * cap, sizeof(float) * (size_t)len);
			free(all);
			all = g, cap = ncap;
		}
		for (int64_t r = 0; r < rows; r++)
			memcpy(all + r * cap + len, d + r * m, sizeof(float) * (size_t)m);
		len += m;
		free(d);
	}
	snt_header_free(&c);
	for (int64_t r = 1; r < rows; r++)	// rows of len samples
		memmove(all + r * len, all + r * cap, sizeof(float) * (size_t)len);
	int64_t shape[SNT_MAX_RANK];
	memcpy(shape, h->shape, sizeof shape);
	shape[h->rank - 1] = len;
	snt_header_set_shape(h, h->rank, shape);
	chunk_pos_set(h, &(struct chunk_pos){ 0 });
	*data = all;
	return 1;
}

/* A waveform record (or a chunked track, joined) as a track: [S, C, N]
 * with sources=, [C, N] or [N] one source. */
static int next_record(struct wave_input *in, struct chunk_seq *q, struct track *t)
{
	struct snt_header h;
	float *data;
	char what[4200];
	snt_header_init(&h);
	if (!next_whole(in, q, &h, &data, what, sizeof what)) {
		snt_header_free(&h);
		return 0;
	}
	if (h.rank > 3)
		die("%s: expected [S, C, N], [C, N] or [N], got rank %d", what, h.rank);
	memset(t, 0, sizeof *t);
	t->data = data;
	t->n = h.shape[h.rank - 1];
	t->nchan = h.rank >= 2 ? h.shape[h.rank - 2] : 1;
	t->nsrc = h.rank == 3 ? h.shape[0] : 1;
	const char *sr = snt_header_get(&h, "sr"), *track = snt_header_get(&h, "track");
	const char *sources = snt_header_get(&h, "sources"), *name = snt_header_get(&h, "name");
	if (sr && (parse_int(sr, &t->sr) || t->sr <= 0))
		die("%s: malformed sr=%s", what, sr);
	t->has_sources = sources != NULL;
	t->has_track = track != NULL;
	if (sources)
		t->sources = split_sources(sources, t->nsrc, what);
	else {
		t->sources = xcalloc(t->nsrc, sizeof *t->sources);
		for (int j = 0; j < t->nsrc; j++) {
			char num[32];
			snprintf(num, sizeof num, "%d", j);
			t->sources[j] = xstrdup(h.rank < 3 && (name || track) ? (name ? name : track) : num);
		}
	}
	if (track)
		t->name = xstrdup(track);
	else {
		char num[32];
		snprintf(num, sizeof num, "#%lld", (long long)wave_input_record(in));
		t->name = xstrdup(num);
	}
	snt_header_free(&h);
	return 1;
}

static void eval_streams(struct results *res, char *ref_path, char *est_path, const struct eval_opts *o)
{
	struct wave_input *rin = wave_input_open(&ref_path, 1), *ein = wave_input_open(&est_path, 1);
	struct chunk_seq rq = { 0 }, eq = { 0 };
	struct track ref, est;
	for (int64_t i = 0;; i++) {
		int got_ref = next_record(rin, &rq, &ref), got_est = next_record(ein, &eq, &est);
		if (!got_ref && !got_est)
			break;
		if (!got_ref || !got_est)
			die("%s has %lld records, %s more", got_ref ? est_path : ref_path, (long long)i,
			    got_ref ? ref_path : est_path);
		char what[8400];
		snprintf(what, sizeof what, "%s: record %lld", est_path, (long long)i);
		int named = ref.has_sources && est.has_sources;
		/* stems records only: an audio file's track is its file name */
		if (named && ref.has_track && est.has_track && strcmp(ref.name, est.name))
			die("%s: track '%s', but the reference's record %lld is '%s'", what, est.name,
			    (long long)i, ref.name);
		if (named) {	/* by name: the estimated sources, in the estimate's order */
			pick_sources(&ref, est.sources, est.nsrc, what, "reference");
			pick_sources(&est, ref.sources, ref.nsrc, what, "estimate");
		} else {		/* by position */
			if (est.nsrc != ref.nsrc)
				die("%s: %d sources in the estimate, %d in the reference", what, est.nsrc, ref.nsrc);
		}
		float *e = conform(&ref, &est, what);
		track_free(&est);
		measure(res, &ref, e, o);
		free(e);
		track_free(&ref);
	}
	wave_input_close(rin);
	wave_input_close(ein);
	chunk_seq_free(&rq);
	chunk_seq_free(&eq);
}

/* ---- MUSDB-style folders: REF/<track>/<source>.wav ---- */

static int is_dir(const char *path)
{
	struct stat st;
	return !stat(path, &st) && S_ISDIR(st.st_mode);
}

/* MUSDB's order first, then by name */
static int source_rank(const char *name)
{
	static const char *const order[] = { "drums", "bass", "other", "vocals", "accompaniment" };
	for (int i = 0; i < 5; i++)
		if (!strcmp(name, order[i]))
			return i;
	return 5;
}

static int cmp_source(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;
	int rx = source_rank(x), ry = source_rank(y);
	return rx != ry ? rx - ry : strcmp(x, y);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names in dir (directories, or files ending in .wav without the suffix), sorted. */
static char **list_dir(const char *dir, int want_dirs, int *count)
{
	DIR *d = opendir(dir);
	if (!d)
		die("%s:", dir);
	char **names = NULL;
	int n = 0;
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		char path[8400];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		size_t len = strlen(e->d_name);
		if (want_dirs ? !is_dir(path) : len <= 4 || strcmp(e->d_name + len - 4, ".wav") || is_dir(path))
			continue;
		names = xrealloc(names, (n + 1) * sizeof *names);
		names[n] = xstrdup(e->d_name);
		if (!want_dirs)
			names[n][len - 4] = 0;
		n++;
	}
	closedir(d);
	if (n > 1)	// names is NULL when the folder is empty
		qsort(names, n, sizeof *names, want_dirs ? cmp_name : cmp_source);
	*count = n;
	return names;
}

/* sources named by names[] from dir/<name>.wav as one track */
static void load_folder_track(struct track *t, const char *dir, const char *track, char **names, int nsrc)
{
	memset(t, 0, sizeof *t);
	t->name = xstrdup(track);
	t->nsrc = nsrc;
	t->sources = xcalloc(nsrc, sizeof *t->sources);
	for (int j = 0; j < nsrc; j++) {
		char path[8400];
		int sr, C;
		int64_t n;
		snprintf(path, sizeof path, "%s/%s/%s.wav", dir, track, names[j]);
		if (access(path, R_OK))
			die("%s:", path);
		float *x = audio_read_all(path, &sr, &C, &n);
		int64_t bad = find_nonfinite(x, (size_t)C * n);
		if (bad >= 0)
			die("%s: NaN or infinity at sample %lld (the input must be finite)", path,
			    (long long)bad);
		if (j == 0) {
			t->sr = sr, t->nchan = C, t->n = n;
			t->data = xmalloc((size_t)nsrc * C * n * sizeof *t->data);
		} else if (sr != t->sr || C != t->nchan || n != t->n)
			die("%s: %d Hz, %d channels, %lld samples; %s.wav has %d Hz, %d channels, %lld samples",
			    path, sr, C, (long long)n, names[0], t->sr, t->nchan, (long long)t->n);
		memcpy(t->data + (int64_t)j * C * n, x, (size_t)C * n * sizeof *x);
		t->sources[j] = xstrdup(names[j]);
		free(x);
	}
}

static void eval_folders(struct results *res, const char *ref_dir, const char *est_dir, const struct eval_opts *o)
{
	int ntracks, nsrc;
	char **tracks = list_dir(est_dir, 1, &ntracks);
	if (!ntracks)
		die("%s: no track folders", est_dir);
	for (int i = 0; i < ntracks; i++) {
		char dir[8400];
		snprintf(dir, sizeof dir, "%s/%s", est_dir, tracks[i]);
		char **names = list_dir(dir, 0, &nsrc);
		if (!nsrc)
			die("%s: no .wav estimates", dir);
		snprintf(dir, sizeof dir, "%s/%s", ref_dir, tracks[i]);
		if (!is_dir(dir))
			die("%s: no reference folder for the estimates in %s/%s", dir, est_dir, tracks[i]);
		struct track ref, est;
		load_folder_track(&est, est_dir, tracks[i], names, nsrc);
		load_folder_track(&ref, ref_dir, tracks[i], names, nsrc);
		snprintf(dir, sizeof dir, "%s/%s", est_dir, tracks[i]);
		float *e = conform(&ref, &est, dir);
		track_free(&est);
		measure(res, &ref, e, o);
		free(e);
		track_free(&ref);
		for (int j = 0; j < nsrc; j++)
			free(names[j]);
		free(names);
		free(tracks[i]);
	}
	free(tracks);
}

/* ---- output ---- */

/* Aggregate over tracks, per source name in order of first appearance:
 * agg[s][0][m] median, agg[s][1][m] mean. */
struct aggregate {
	int nsrc;
	char **sources;
	int *ntracks;
	double (*value)[2][BSS_NMETRICS];
};

static void aggregate(struct aggregate *a, const struct results *res, int nm)
{
	memset(a, 0, sizeof *a);
	a->sources = xcalloc(res->n ? res->n : 1, sizeof *a->sources);
	a->ntracks = xcalloc(res->n ? res->n : 1, sizeof *a->ntracks);
	a->value = xcalloc(res->n ? res->n : 1, sizeof *a->value);
	double *v = xmalloc((res->n ? res->n : 1) * sizeof *v);
	for (int i = 0; i < res->n; i++) {
		int s;
		for (s = 0; s < a->nsrc; s++)
			if (!strcmp(a->sources[s], res->r[i].source))
				break;
		if (s < a->nsrc)
			continue;
		a->sources[a->nsrc++] = res->r[i].source;
		for (int m = 0; m < nm; m++) {
			int k = 0;
			for (int i2 = i; i2 < res->n; i2++)
				if (!strcmp(res->r[i2].source, res->r[i].source))
					v[k++] = res->r[i2].value[m];
			a->ntracks[s] = k;
			a->value[s][0][m] = metrics_median_finite(v, k);
			a->value[s][1][m] = metrics_mean_finite(v, k);
		}
	}
	free(v);
}

static void aggregate_free(struct aggregate *a)
{
	free(a->sources);
	free(a->ntracks);
	free(a->value);
}

enum value_style { VALUE_TABLE, VALUE_CSV, VALUE_JSON };

/* A value as text: 3 decimals in the table, 6 in CSV and JSON; NaN and
 * +-inf as nan/inf/-inf, or null in JSON (which has no such numbers). */
static void print_value(double v, enum value_style style)
{
	char buf[64];
	if (isfinite(v))
		snprintf(buf, sizeof buf, style == VALUE_TABLE ? "%.3f" : "%.6f", v);
	else
		snprintf(buf, sizeof buf, "%s", style == VALUE_JSON ? "null" : isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
	printf(style == VALUE_TABLE ? "%8s" : "%s", buf);
}

static int max_width(const struct results *res, int source, int least)
{
	int w = least;
	for (int i = 0; i < res->n; i++) {
		int l = strlen(source ? res->r[i].source : res->r[i].track);
		w = l > w ? l : w;
	}
	return w;
}

static void print_table(const struct results *res, const struct aggregate *a, const struct eval_opts *o)
{
	int nm = nmetrics(o), tw = max_width(res, 0, 18), sw = max_width(res, 1, 6);
	printf("%-*s  %-*s", tw, "track", sw, "source");
	if (o->frames)
		printf("  %6s", "window");
	for (int m = 0; m < nm; m++)
		printf("  %8s", metric_name(o, m));
	printf("\n");
	for (int i = 0; i < (o->tracks ? 0 : res->n); i++) {
		const struct result *r = &res->r[i];
		for (int64_t t = 0; t < (o->frames ? r->nframes : 1); t++) {
			printf("%-*s  %-*s", tw, r->track, sw, r->source);
			if (o->frames)
				printf("  %6lld", (long long)t);
			for (int m = 0; m < nm; m++) {
				printf("  ");
				print_value(o->frames ? r->frames[m * r->nframes + t] : r->value[m], VALUE_TABLE);
			}
			printf("\n");
		}
	}
	for (int k = 0; k < 2; k++)
		for (int s = 0; s < a->nsrc; s++) {
			char label[64];
			snprintf(label, sizeof label, "%s (%d track%s)", k ? "mean" : "median", a->ntracks[s],
				 a->ntracks[s] == 1 ? "" : "s");
			printf("%-*s  %-*s", tw, label, sw, a->sources[s]);
			if (o->frames)
				printf("  %6s", "");
			for (int m = 0; m < nm; m++) {
				printf("  ");
				print_value(a->value[s][k][m], VALUE_TABLE);
			}
			printf("\n");
		}
}

/* CSV field: quoted when it holds a comma, quote or newline */
static void print_csv_field(const char *s)
{
	if (!strpbrk(s, ",\"\n")) {
		printf("%s", s);
		return;
	}
	putchar('"');
	for (; *s; s++) {
		if (*s == '"')
			putchar('"');
		putchar(*s);
	}
	putchar('"');
}

static void print_csv(const struct results *res, const struct aggregate *a, const struct eval_opts *o)
{
	int nm = nmetrics(o);
	printf("track,source%s", o->frames ? ",window,start" : "");
	for (int m = 0; m < nm; m++)
		printf(",%s", metric_name(o, m));
	printf("\n");
	if (o->tracks) {	/* the aggregate: "median" and "mean" rows per source */
		for (int k = 0; k < 2; k++)
			for (int s = 0; s < a->nsrc; s++) {
				printf("%s,", k ? "mean" : "median");
				print_csv_field(a->sources[s]);
				for (int m = 0; m < nm; m++) {
					putchar(',');
					print_value(a->value[s][k][m], VALUE_CSV);
				}
				printf("\n");
			}
		return;
	}
	for (int i = 0; i < res->n; i++) {
		const struct result *r = &res->r[i];
		for (int64_t t = 0; t < (o->frames ? r->nframes : 1); t++) {
			print_csv_field(r->track);
			putchar(',');
			print_csv_field(r->source);
			if (o->frames)
				printf(",%lld,%lld", (long long)t, (long long)(t * r->hop));
			for (int m = 0; m < nm; m++) {
				putchar(',');
				print_value(o->frames ? r->frames[m * r->nframes + t] : r->value[m], VALUE_CSV);
			}
			printf("\n");
		}
	}
}

static void print_json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = *s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void print_json_metrics(const double *v, int64_t stride, const struct eval_opts *o)
{
	for (int m = 0; m < nmetrics(o); m++) {
		printf("%s\"%s\": ", m ? ", " : "", metric_name(o, m));
		print_value(v[m * stride], VALUE_JSON);
	}
}

static void print_json(const struct results *res, const struct aggregate *a, const struct eval_opts *o)
{
	static const char *const kind[] = { "sisdr", "usdr", "bss" };
	printf("{\"metric\": \"%s\", ", kind[o->metric]);
	printf("\"results\": [");
	for (int i = 0; i < res->n; i++) {
		const struct result *r = &res->r[i];
		printf("%s\n  {\"track\": ", i ? "," : "");
		print_json_string(r->track);
		printf(", \"source\": ");
		print_json_string(r->source);
		printf(", ");
		print_json_metrics(r->value, 1, o);
		if (o->metric == METRIC_BSS)
			printf(", \"windows\": %lld", (long long)r->nframes);
		if (r->frames) {
			printf(", \"frames\": [");
			for (int64_t t = 0; t < r->nframes; t++) {
				printf("%s{\"start\": %lld, ", t ? ", " : "", (long long)(t * r->hop));
				print_json_metrics(r->frames + t, r->nframes, o);
				printf("}");
			}
			printf("]");
		}
		printf("}");
	}
	printf("\n], \"aggregate\": [");
	for (int s = 0; s < a->nsrc; s++) {
		printf("%s\n  {\"source\": ", s ? "," : "");
		print_json_string(a->sources[s]);
		printf(", \"tracks\": %d, \"median\": {", a->ntracks[s]);
		print_json_metrics(a->value[s][0], 1, o);
		printf("}, \"mean\": {");
		print_json_metrics(a->value[s][1], 1, o);
		printf("}}");
	}
	printf("\n]}\n");
}

void metrics_evaluate(char *ref, char *est, const struct eval_opts *o)
{
	struct results res = { 0 };
	int rdir = is_dir(ref), edir = is_dir(est);
	if (!strcmp(ref, "-") && !strcmp(est, "-"))
		die("the reference and the estimate cannot both be standard input");
	if (rdir != edir)
		die("%s is a folder but %s is not: give two files or two folders", rdir ? ref : est, rdir ? est : ref);
	if (rdir)
		eval_folders(&res, ref, est, o);
	else
		eval_streams(&res, ref, est, o);
	for (int k = 0; k < WARN_KINDS; k++)
		if (warned[k] > 1)
			warn("%lld %s in all (the first named above)", (long long)warned[k], warn_summary[k]);
	struct aggregate a;
	aggregate(&a, &res, nmetrics(o));
	if (o->format == FORMAT_CSV)
		print_csv(&res, &a, o);
	else if (o->format == FORMAT_JSON)
		print_json(&res, &a, o);
	else
		print_table(&res, &a, o);
	aggregate_free(&a);
	for (int i = 0; i < res.n; i++) {
		free(res.r[i].track);
		free(res.r[i].source);
		free(res.r[i].frames);
	}
	free(res.r);
}
