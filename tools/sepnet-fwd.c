/* sepnet-fwd: mixture spectrograms -> separated stem spectrograms.
 *
 * Each input record c64 [C, F, T] (from stft) becomes c64 [S, C, F, T]
 * with sources= naming the leading axis; every other key passes through, so
 * istft finds length, sr and track.  Long inputs run in cross-faded
 * segments of the model's training length (model_separate).  Also writes a
 * freshly initialised model (--init) and describes one (--info). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "config.h"
#include "model.h"
#include "snt.h"
#include "util.h"

struct opts {
	const char *model, *config, *output, *stems, *device;
	double overlap;
	int batch;
	bool info, init;
	uint64_t seed;
	bool seed_set;
	char **inputs;
	int ninputs;
};

_Noreturn static void usage(int status)
{
	fprintf(status ? stderr : stdout,
		"usage: %s -m MODEL [-s STEMS] [--overlap F] [--batch N] [-d cpu] [FILE ...]\n"
		"       %s --info -m MODEL\n"
		"       %s --init -c CONFIG -o MODEL [--seed N]\n",
		progname, progname, progname);
	exit(status);
}

/* Indices into the model's sources of the stems named in list, in order. */
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
		if (s == cfg->n_sources)
			die_usage("-s: the model has no stem '%s'", tok);
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
static void check_key(const struct snt_header *h, const char *key, int want, const char *where)
{
	const char *v = snt_header_get(h, key);
	int got;
	if (!v)
		die("%s: no %s key (a spectrogram from stft is expected)", where, key);
	if (parse_int(v, &got) || got != want)
		die("%s: %s=%s, but the model was trained with %s=%d", where, key, v, key, want);
}

static void separate_record(struct model *m, struct snt_writer *w, struct snt_header *h,
			    float *x, const int *idx, int n_out, double overlap, const char *where)
{
	const struct config *c = &m->cfg;
	if (h->dtype != SNT_C64 || h->rank != 3)
		die("%s: expected a c64 [C, F, T] spectrogram, got %s of rank %d", where,
		    snt_dtype_name(h->dtype), h->rank);
	if (h->shape[0] != m->C)
		die("%s: %lld channels, the model needs %d", where, (long long)h->shape[0], m->C);
	check_key(h, "n_fft", c->n_fft, where);
	check_key(h, "hop", c->hop_length, where);
	if (snt_header_get(h, "sr"))
		check_key(h, "sr", c->sample_rate, where);
	if (h->shape[1] != m->F)
		die("%s: %lld frequency bins, n_fft %d makes %d", where, (long long)h->shape[1],
		    c->n_fft, m->F);
	int64_t T = h->shape[2], rows = (int64_t)m->C * m->F * T * 2;
	float *out = xmalloc((size_t)m->S * rows * sizeof(float));
	model_separate(m, out, x, T, overlap);

	char names[CONFIG_MAX_SOURCES * (CONFIG_NAME_LEN + 1)] = "";
	for (int i = 0; i < n_out; i++) {
		if (i)
			strcat(names, ",");
		strcat(names, c->sources[idx[i]]);
	}
	int64_t shape[4] = { n_out, m->C, m->F, T };
	snt_header_set_shape(h, 4, shape);
	snt_header_set(h, "sources", names);
	snt_write_header(w, h);
	for (int i = 0; i < n_out; i++)
		snt_write_payload(w, out + (size_t)idx[i] * rows, rows * sizeof(float));
	free(out);
}

static void fwd_run(const struct opts *o)
{
	struct model *m = checkpoint_open_model(o->model, o->batch, 0, false);
	int idx[CONFIG_MAX_SOURCES];
	int n_out = select_stems(&m->cfg, o->stems, idx);
	struct snt_writer *w = snt_writer_open("-");
	struct snt_header h;
	snt_header_init(&h);
	int nin = o->ninputs ? o->ninputs : 1;
	for (int i = 0; i < nin; i++) {
		struct snt_reader *r = snt_reader_open(o->ninputs ? o->inputs[i] : "-");
		if (!r)
			die("%s:", o->ninputs ? o->inputs[i] : "<stdin>");
		while (snt_read_header_or_die(r, &h)) {
			char where[512];
			snprintf(where, sizeof where, "%s: record %lld", r->name, (long long)r->record);
			float *x = snt_read_payload_alloc_or_die(r, &h);
			separate_record(m, w, &h, x, idx, n_out, o->overlap, where);
			free(x);
		}
		snt_reader_close(r);
	}
	snt_header_free(&h);
	snt_writer_close(w);
	model_free(m);
}

static void fwd_info(const struct opts *o)
{
	struct model *m = checkpoint_open_model(o->model, 1, 1, false);
	printf("parameters %zu\n", m->n_params);
	config_write(&m->cfg, stdout);
	model_free(m);
	close_stdout();
}

static void fwd_init(const struct opts *o)
{
	struct config cfg;
	config_load_or_die(&cfg, o->config);
	struct model *m = model_create(&cfg, 1, 1, false);
	model_init(m, o->seed_set ? o->seed : cfg.seed);
	checkpoint_save(o->output, m, NULL, NULL, NULL, 0);
	model_free(m);
}

int main(int argc, char **argv)
{
	enum { OPT_OVERLAP = 256, OPT_BATCH, OPT_INFO, OPT_INIT, OPT_SEED, OPT_VERSION };
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "model", required_argument, NULL, 'm' },
		{ "stems", required_argument, NULL, 's' },
		{ "device", required_argument, NULL, 'd' },
		{ "overlap", required_argument, NULL, OPT_OVERLAP },
		{ "batch", required_argument, NULL, OPT_BATCH },
		{ "info", no_argument, NULL, OPT_INFO },
		{ "init", no_argument, NULL, OPT_INIT },
		{ "config", required_argument, NULL, 'c' },
		{ "output", required_argument, NULL, 'o' },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ 0 },
	};
	struct opts o = { .overlap = 0.25, .batch = 1, .device = "cpu" };
	int c;
	int64_t seed;
	set_progname(argv[0]);
	while ((c = getopt_long(argc, argv, "hm:s:d:c:o:", longopts, NULL)) != -1) {
		switch (c) {
		case 'm': o.model = optarg; break;
		case 's': o.stems = optarg; break;
		case 'd': o.device = optarg; break;
		case 'c': o.config = optarg; break;
		case 'o': o.output = optarg; break;
		case OPT_INFO: o.info = true; break;
		case OPT_INIT: o.init = true; break;
		case OPT_OVERLAP:
			if (parse_double(optarg, &o.overlap) || !(o.overlap >= 0 && o.overlap < 1))
				die_usage("--overlap: a fraction in [0, 1), not '%s'", optarg);
			break;
		case OPT_BATCH:
			if (parse_int(optarg, &o.batch) || o.batch < 1)
				die_usage("--batch: a positive integer, not '%s'", optarg);
			break;
		case OPT_SEED:
			if (parse_int64(optarg, &seed) || seed < 0)
				die_usage("--seed: a non-negative integer, not '%s'", optarg);
			o.seed = (uint64_t)seed;
			o.seed_set = true;
			break;
		case OPT_VERSION:
			printf("sepnet-fwd %s\n", SEPNET_VERSION);
			return 0;
		case 'h':
			usage(0);
		default:
			usage(2);
		}
	}
	o.inputs = argv + optind;
	o.ninputs = argc - optind;
	if (strcmp(o.device, "cpu") != 0)
		die_usage("-d %s: this build runs on the cpu only", o.device);
	if (o.info && o.init)
		die_usage("--info and --init exclude each other");
	if (o.init) {
		if (!o.config || !o.output || o.model || o.ninputs)
			die_usage("--init takes -c CONFIG -o MODEL and nothing else");
		fwd_init(&o);
		return 0;
	}
	if (!o.model)
		die_usage("no model: -m MODEL");
	if (o.info) {
		if (o.ninputs)
			die_usage("--info reads no input");
		fwd_info(&o);
		return 0;
	}
	refuse_tty_stdout();
	fwd_run(&o);
	return 0;
}
