/* sepnet-train: train a separation model on SNT stems records.
 *
 *   musdb-cat train -r ROOT -c CONFIG | sepnet-train -c CONFIG -o DIR [--valid FILE]
 *
 * Options into struct train_opts, then lib/train_run.c's train_run does
 * everything: steps, epochs, validation, checkpoints and metrics in DIR. */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "train.h"
#include "util.h"

static const char usage_text[] =
	"usage: sepnet-train -c CONFIG -o DIR [--valid FILE] [--steps N] [--epoch-size N]\n"
	"                    [--save-every N] [--log-every N] [-d cpu|cuda] [-q] [FILE]\n"
	"       sepnet-train --resume -o DIR [-c CONFIG] [options] [FILE]\n"
	"       sepnet-train --records -o DIR";
static const char options_text[] =
	"Train a separation model on stems records (musdb-cat train; stdin without FILE).\n"
	"  -c, --config=CONFIG  the model and training config (a path, or a shipped name: base)\n"
	"  -o, --output=DIR     the run's folder, made with its parents: checkpoints, metrics\n"
	"      --valid=FILE     validate on FILE's stems records after every epoch\n"
	"      --steps=N        stop at step N (wins over num_epochs)\n"
	"      --epoch-size=N   records per epoch (default: the config's, else musdb-cat's)\n"
	"      --save-every=N   also write last.safetensors every N steps\n"
	"      --log-every=N    a metrics line every N steps (default 1)\n"
	"  -d, --device=DEV     cpu or cuda (default: cuda when built with it and a GPU is here)\n"
	"  -q, --quiet          no progress and no summaries\n"
	"      --resume         continue the run in DIR, bit-exactly\n"
	"      --records        print the records the run in DIR has used (musdb-cat --skip)\n"
	"  -h, --help           this help\n"
	"      --version        the version\n";

_Noreturn static void usage(int status)
{
	if (status == 0)
		print_help(usage_text, options_text);
	fprintf(stderr, "%s\n", usage_text);
	exit(status);
}

static int64_t positive(const char *opt, const char *arg, int64_t min)
{
	int64_t v;
	if (parse_int64(arg, &v) || v < min)
		die_usage("%s: an integer >= %" PRId64 ", not '%s'", opt, min, arg);
	return v;
}

/* For musdb-cat --skip: the records the run in dir has consumed. */
static void print_records(const char *dir)
{
	char path[4096], err[1024];
	snprintf(path, sizeof path, "%s/last.safetensors", dir);
	int64_t records = trainer_checkpoint_records(path, err, sizeof err);
	if (records < 0)
		die("%s", err);
	printf("%" PRId64 "\n", records);
	close_stdout();
}

/* The command line into o; *records: --records (usage errors exit 2). */
static void parse_options(int argc, char **argv, struct train_opts *o, bool *records)
{
	enum { OPT_VALID = 256, OPT_RESUME, OPT_STEPS, OPT_EPOCH_SIZE, OPT_SAVE_EVERY,
	       OPT_LOG_EVERY, OPT_RECORDS, OPT_VERSION };
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "config", required_argument, NULL, 'c' },
		{ "output", required_argument, NULL, 'o' },
		{ "device", required_argument, NULL, 'd' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "valid", required_argument, NULL, OPT_VALID },
		{ "resume", no_argument, NULL, OPT_RESUME },
		{ "steps", required_argument, NULL, OPT_STEPS },
		{ "epoch-size", required_argument, NULL, OPT_EPOCH_SIZE },
		{ "save-every", required_argument, NULL, OPT_SAVE_EVERY },
		{ "log-every", required_argument, NULL, OPT_LOG_EVERY },
		{ "records", no_argument, NULL, OPT_RECORDS },
		{ 0 },
	};
	const char *device = NULL;
	int c;
	opterr = 0;	/* one line of our own (die_bad_option) */
	while ((c = getopt_long(argc, argv, ":hc:o:d:q", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': o->config_path = optarg; break;
		case 'o': o->outdir = optarg; break;
		case 'd': device = optarg; break;
		case 'q': o->quiet = true; break;
		case OPT_VALID: o->valid = optarg; break;
		case OPT_RESUME: o->resume = true; break;
		case OPT_STEPS: o->max_steps = positive("--steps", optarg, 1); break;
		case OPT_EPOCH_SIZE: o->epoch_size = positive("--epoch-size", optarg, 1); break;
		case OPT_SAVE_EVERY: o->save_every = positive("--save-every", optarg, 1); break;
		case OPT_LOG_EVERY: o->log_every = positive("--log-every", optarg, 1); break;
		case OPT_RECORDS: *records = true; break;
		case OPT_VERSION:
			printf("sepnet-train %s (data-parallel: %s)\n", SEPNET_VERSION,
			       dist_library() ? dist_library() : "no, built without MPI");
			exit(0);
		case 'h':
			usage(0);
		default:
			die_bad_option(c, argv);
		}
	}
	if (argc - optind > 1)
		die_usage("one input at most: training records come from a file or stdin");
	o->input = optind < argc ? argv[optind] : NULL;
	if (!o->outdir)
		die_usage("no output directory: -o DIR");
	if (device && strcmp(device, "cpu") && strcmp(device, "cuda"))
		die_usage("-d %s: the devices are cpu and cuda", device);
	o->device = device;
	if (*records && (o->config_path || o->resume || o->input))
		die_usage("--records takes -o DIR only");
	if (!*records && !o->config_path && !o->resume)
		die_usage("no config: -c CONFIG");
}

int main(int argc, char **argv)
{
	struct train_opts o = { .log_every = 1 };
	bool records = false;
	set_progname(argv[0]);
	huge_pages_enable(false);	// util.h: training loses with them
	parse_options(argc, argv, &o, &records);
	if (records) {
		print_records(o.outdir);
	} else {
		dist_init(&argc, &argv);	// a rank of mpirun's, mpiexec's or srun's launch
		train_run(&o);
	}
	return 0;
}
