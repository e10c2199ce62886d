/* musdb-cat: a MUSDB18-HQ folder as an SNT stream of training segments or
 * whole tracks, or a listing of its tracks (man musdb-cat). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "dataset.h"
#include "shard.h"
#include "util.h"

static const char usage[] =
	"usage: musdb-cat list -r ROOT [--tracks FILE] [-j N] [train|valid|test]\n"
	"       musdb-cat train -r ROOT [-c CONFIG] [-l SAMPLES] [-n COUNT] [--skip N]\n"
	"                 [--shard R/N] [--seed N] [-j N] [--cache] [--remix P] [--no-gain] [--no-swap]\n"
	"                 [--no-flip] [--no-shift] [--tracks FILE] [--full]\n"
	"       musdb-cat valid|test -r ROOT [--mixture] [--stems] [--chunk SECONDS] [--tracks FILE]";
static const char options_text[] =
	"A MUSDB18-HQ folder as SNT records: random training segments, or whole tracks.\n"
	"  -r, --root=ROOT      the dataset (default: $MUSDB_PATH)\n"
	"  -c, --config=CONFIG  segment length and seed of a config (a path, or a shipped\n"
	"                       name: base); without it and -l, 15 s segments\n"
	"  -l, --length=SAMPLES segment length\n"
	"  -n, --count=COUNT    stop after COUNT records (default: endless)\n"
	"      --skip=N         start at record N of the same stream (resuming)\n"
	"      --shard=R/N      only the records R, R+N, R+2N, ... of that stream (default:\n"
	"                       the rank and size of mpirun, mpiexec or srun, else 0/1)\n"
	"      --seed=N         the seed of every random choice (default 0)\n"
	"  -j, --jobs=N         decoding threads (default: the processors, at most 4)\n"
	"      --cache          read every training track into memory first\n"
	"      --remix=P        probability of stems from different tracks (default 0.5)\n"
	"      --no-gain        no random gain per stem (0.25 to 1.25)\n"
	"      --no-swap        no random left/right swap per stem\n"
	"      --no-flip        no random sign flip per stem\n"
	"      --no-shift       segments tile the track instead of starting anywhere\n"
	"      --tracks=FILE    only the tracks named in FILE, one per line\n"
	"      --full           whole tracks instead of segments\n"
	"      --mixture        whole tracks: the mixture record of each track\n"
	"      --stems          whole tracks: the stems record (the default)\n"
	"      --chunk=SECONDS  whole tracks longer than this as chunk records of SECONDS\n"
	"                       each (default 0: one record a track)\n"
	"  -h, --help           this help\n"
	"      --version        the version\n";

/* the default segment: 15 s, xlarge.ini's segment_length, the longest of
 * the shipped configs */
#define MUSDB_CAT_SEGMENT 661500

struct opts {
	const char *command;	/* list, train, valid, test */
	const char *split;	/* list: the split, "all" when none */
	const char *root;
	const char *config;
	const char *tracks;
	bool full, mixture, stems, cache;
	double chunk_s;		/* --chunk: whole tracks in chunk records of so many seconds */
	const char *segment_option;	/* the first option that only segments take */
	const char *shard;	/* --shard R/N */
	struct segment_opts train;
};

enum {
	OPT_SKIP = 256, OPT_SEED, OPT_CACHE, OPT_REMIX, OPT_NO_GAIN, OPT_NO_SWAP,
	OPT_NO_FLIP, OPT_NO_SHIFT, OPT_TRACKS, OPT_FULL, OPT_MIXTURE, OPT_STEMS, OPT_VERSION,
	OPT_CHUNK, OPT_SHARD,
};

static const struct option long_options[] = {
	{ "root", required_argument, NULL, 'r' },
	{ "config", required_argument, NULL, 'c' },
	{ "length", required_argument, NULL, 'l' },
	{ "count", required_argument, NULL, 'n' },
	{ "jobs", required_argument, NULL, 'j' },
	{ "skip", required_argument, NULL, OPT_SKIP },
	{ "shard", required_argument, NULL, OPT_SHARD },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "cache", no_argument, NULL, OPT_CACHE },
	{ "remix", required_argument, NULL, OPT_REMIX },
	{ "no-gain", no_argument, NULL, OPT_NO_GAIN },
	{ "no-swap", no_argument, NULL, OPT_NO_SWAP },
	{ "no-flip", no_argument, NULL, OPT_NO_FLIP },
	{ "no-shift", no_argument, NULL, OPT_NO_SHIFT },
	{ "tracks", required_argument, NULL, OPT_TRACKS },
	{ "full", no_argument, NULL, OPT_FULL },
	{ "mixture", no_argument, NULL, OPT_MIXTURE },
	{ "stems", no_argument, NULL, OPT_STEMS },
	{ "chunk", required_argument, NULL, OPT_CHUNK },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

static int64_t int_option(const char *name, const char *v, int64_t lo, int64_t hi)
{
	int64_t x;
	if (parse_int64(v, &x) || x < lo || x > hi) {
		if (hi > INT32_MAX)
			die_usage("%s: bad value '%s' (an integer >= %lld)", name, v, (long long)lo);
		die_usage("%s: bad value '%s' (an integer from %lld to %lld)", name, v,
			  (long long)lo, (long long)hi);
	}
	return x;
}

/* Training segments: --shard, or the launcher's rank and size. */
static void shard_option(struct opts *o)
{
	struct segment_opts *t = &o->train;
	if (o->shard) {
		if (shard_parse(o->shard, &t->shard, &t->shards))
			die_usage("--shard: '%s' is not R/N with 0 <= R < N", o->shard);
		return;
	}
	char err[256];
	const char *from;
	int found = shard_from_env(&t->shard, &t->shards, &from, err, sizeof err);
	if (found < 0)
		die("%s (or give --shard R/N)", err);
}

static void parse_options(int argc, char **argv, struct opts *o)
{
	struct config cfg;
	const char *length = NULL, *seed = NULL;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	memset(o, 0, sizeof *o);
	segment_opts_defaults(&o->train);
	o->train.jobs = ncpu < 1 ? 1 : ncpu > 4 ? 4 : (int)ncpu;
	o->root = getenv("MUSDB_PATH");
	int c;
	opterr = 0;	/* one line of our own (die_bad_option) */
	while ((c = getopt_long(argc, argv, ":r:c:l:n:j:h", long_options, NULL)) != -1) {
		const char *seg = NULL;	/* set for options of training segments */
		switch (c) {
		case 'r': o->root = optarg; break;
		case 'c': o->config = optarg; seg = "-c"; break;
		case 'l': length = optarg; seg = "-l"; break;
		case 'n': o->train.count = int_option("-n", optarg, 0, INT64_MAX); seg = "-n"; break;
		case 'j': o->train.jobs = (int)int_option("-j", optarg, 1, 256); break;
		case OPT_SKIP: o->train.skip = int_option("--skip", optarg, 0, INT64_MAX / 2); seg = "--skip"; break;
		case OPT_SEED: seed = optarg; seg = "--seed"; break;
		case OPT_SHARD: o->shard = optarg; seg = "--shard"; break;
		case OPT_CACHE: o->cache = true; seg = "--cache"; break;
		case OPT_REMIX:
			if (parse_float(optarg, &o->train.remix) || o->train.remix < 0 || o->train.remix > 1)
				die_usage("--remix: bad probability '%s' (from 0 to 1)", optarg);
			seg = "--remix";
			break;
		case OPT_NO_GAIN: o->train.gain = false; seg = "--no-gain"; break;
		case OPT_NO_SWAP: o->train.swap = false; seg = "--no-swap"; break;
		case OPT_NO_FLIP: o->train.flip = false; seg = "--no-flip"; break;
		case OPT_NO_SHIFT: o->train.shift = false; seg = "--no-shift"; break;
		case OPT_TRACKS: o->tracks = optarg; break;
		case OPT_FULL: o->full = true; break;
		case OPT_MIXTURE: o->mixture = true; break;
		case OPT_STEMS: o->stems = true; break;
		case OPT_CHUNK:
			if (parse_double(optarg, &o->chunk_s) || !(o->chunk_s >= 0 && o->chunk_s <= 1e6))
				die_usage("--chunk: seconds from 0 (whole tracks) to 1e6, not '%s'", optarg);
			break;
		case 'h': print_help(usage, options_text);
		case OPT_VERSION: puts("musdb-cat " SEPNET_VERSION); exit(0);
		default: die_bad_option(c, argv);
		}
		if (seg && !o->segment_option)
			o->segment_option = seg;
	}
	if (optind >= argc)
		die_usage("%s", usage);
	o->command = argv[optind++];
	bool is_list = !strcmp(o->command, "list");
	if (!is_list && strcmp(o->command, "train") && strcmp(o->command, "valid") &&
	    strcmp(o->command, "test"))
		die_usage("unknown command '%s'\n%s", o->command, usage);
	o->split = is_list ? "all" : o->command;
	if (is_list && optind < argc) {
		o->split = argv[optind++];
		if (strcmp(o->split, "train") && strcmp(o->split, "valid") && strcmp(o->split, "test"))
			die_usage("unknown split '%s' (train, valid or test)", o->split);
	}
	if (optind < argc)
		die_usage("unexpected argument '%s'\n%s", argv[optind], usage);
	if (!o->root || !*o->root)
		die_usage("no dataset: give -r ROOT or set MUSDB_PATH");

	if (is_list && (o->full || o->mixture || o->stems))
		die_usage("list takes no --full, --mixture or --stems");
	/* valid and test are whole tracks; --mixture / --stems imply --full */
	o->full = !is_list && (o->full || o->mixture || o->stems || strcmp(o->command, "train"));
	if ((is_list || o->full) && o->segment_option)
		die_usage("%s applies to training segments only (musdb-cat train without --full)",
			  o->segment_option);
	if (!o->mixture)
		o->stems = true;
	if (o->chunk_s > 0 && !o->full)
		die_usage("--chunk applies to whole tracks (valid, test, or train --full)");

	config_defaults(&cfg);
	if (o->config) {
		config_load_or_die(&cfg, o->config);
		if (cfg.sample_rate != DATASET_SR)
			die("%s: sample_rate %d, but MUSDB18-HQ is %d Hz", o->config,
			    cfg.sample_rate, DATASET_SR);
	}
	/* without -c or -l: segments long enough for every shipped config, of
	 * which sepnet-train takes its own segment_length */
	o->train.segment = length ? int_option("-l", length, 1, INT64_MAX / 64)
			   : o->config ? cfg.segment_length : MUSDB_CAT_SEGMENT;
	o->train.seed = seed ? (uint64_t)int_option("--seed", seed, 0, INT64_MAX) : cfg.seed;
	if (!o->full && !is_list)
		shard_option(o);
}

int main(int argc, char **argv)
{
	struct opts o;
	struct dataset ds;
	set_progname(argv[0]);
	parse_options(argc, argv, &o);
	bool is_list = !strcmp(o.command, "list");
	struct snt_writer *w = is_list ? NULL : snt_writer_open(NULL);
	dataset_open(&ds, o.root, o.split, o.tracks, o.full && o.mixture);
	if (is_list)
		dataset_list(&ds, o.train.jobs);
	else if (o.full)
		dataset_write_full(&ds, o.mixture, o.stems, (int64_t)(o.chunk_s * DATASET_SR + 0.5), w);
	else {
		if (o.cache)
			dataset_cache(&ds, o.train.jobs);
		dataset_write_train(&ds, &o.train, w);
	}
	snt_writer_close(w);
	dataset_free(&ds);
	close_stdout();
	return 0;
}
