/* sisdr: separation quality of an estimate against its reference.
 *
 * SI-SDR (default), uSDR (--usdr) or museval's BSSEval v4 (--bss) per
 * track and source, then the median and mean over tracks, as a table,
 * CSV or JSON on stdout.  The work is metrics_evaluate() in lib/. */
#include <getopt.h>
#include <stdlib.h>

#include "metrics.h"
#include "util.h"

static const char usage_text[] =
	"usage: sisdr [--usdr | --bss [--win SAMPLES] [--hop SAMPLES] [--frames]] [--tracks]\n"
	"             [--csv | --json] REFERENCE ESTIMATE";
static const char options_text[] =
	"A table of the separation quality of ESTIMATE against REFERENCE (audio files or SNT\n"
	"streams of stems), SI-SDR in dB by default.\n"
	"      --usdr           uSDR, the SDR of the MDX challenges, instead\n"
	"      --bss            BSSEval v4 (museval's SDR, ISR, SIR, SAR) instead\n"
	"      --win=SAMPLES    --bss window (default one second at the track's rate)\n"
	"      --hop=SAMPLES    --bss hop (default one second at the track's rate)\n"
	"      --frames         --bss: every window instead of the per-track medians\n"
	"      --tracks         only the aggregate over tracks (median per source)\n"
	"      --csv            comma-separated values, a line per track and source\n"
	"      --json           one JSON object, for scripts\n"
	"  -h, --help           this help\n"
	"      --version        the version\n";

_Noreturn static void usage(void)
{
	print_help(usage_text, options_text);
}

static int64_t parse_samples(const char *opt, const char *s)
{
	int64_t v;
	if (parse_int64(s, &v) || v < 1)
		die_usage("%s: a positive number of samples, not '%s'", opt, s);
	return v;
}

/* The command line into o (usage errors exit 2). */
static void parse_options(int argc, char **argv, struct eval_opts *o)
{
	enum { OPT_USDR = 256, OPT_BSS, OPT_WIN, OPT_HOP, OPT_FRAMES, OPT_TRACKS, OPT_CSV, OPT_JSON, OPT_VERSION };
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "usdr", no_argument, NULL, OPT_USDR },
		{ "bss", no_argument, NULL, OPT_BSS },
		{ "win", required_argument, NULL, OPT_WIN },
		{ "hop", required_argument, NULL, OPT_HOP },
		{ "frames", no_argument, NULL, OPT_FRAMES },
		{ "tracks", no_argument, NULL, OPT_TRACKS },
		{ "csv", no_argument, NULL, OPT_CSV },
		{ "json", no_argument, NULL, OPT_JSON },
		{ 0 },
	};
	int c, nmetric = 0, nformat = 0;
	opterr = 0;	/* one line of our own instead of getopt's and the usage */
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_USDR: o->metric = METRIC_USDR, nmetric++; break;
		case OPT_BSS: o->metric = METRIC_BSS, nmetric++; break;
		case OPT_WIN: o->win = parse_samples("--win", optarg); break;
		case OPT_HOP: o->hop = parse_samples("--hop", optarg); break;
		case OPT_FRAMES: o->frames = 1; break;
		case OPT_TRACKS: o->tracks = 1; break;
		case OPT_CSV: o->format = FORMAT_CSV, nformat++; break;
		case OPT_JSON: o->format = FORMAT_JSON, nformat++; break;
		case OPT_VERSION:
			printf("sisdr %s\n", SEPNET_VERSION);
			exit(0);
		case 'h': usage();
		default: die_bad_option(c, argv);
		}
	}
	if (nmetric > 1)
		die_usage("--usdr and --bss exclude each other");
	if (nformat > 1)
		die_usage("--csv and --json exclude each other");
	if (o->metric != METRIC_BSS && (o->win || o->hop || o->frames))
		die_usage("--win, --hop and --frames need --bss");
	if (o->tracks && o->frames)
		die_usage("--tracks and --frames exclude each other");
	if (argc - optind != 2)
		die_usage("give a reference and an estimate (sisdr -h for the usage)");
}

int main(int argc, char **argv)
{
	struct eval_opts o = { .metric = METRIC_SISDR, .format = FORMAT_TABLE };
	set_progname(argv[0]);
	parse_options(argc, argv, &o);
	metrics_evaluate(argv[optind], argv[optind + 1], &o);
	close_stdout();
	return 0;
}
