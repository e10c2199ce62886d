/* sepnet-fwd: mixtures -> separated stems, as spectrograms or waveforms
 * (the pipeline is lib/model/pipeline.h); also writes a freshly initialised
 * model (--init) and describes one (--info). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "audio.h"
#include "backend.h"
#include "checkpoint.h"
#include "config.h"
#include "datafile.h"
#include "model.h"
#include "pipeline.h"
#include "util.h"

/* the pipeline's options, and the tool's own */
struct opts {
	struct pipeline_opts run;
	const char *config;	/* --init's */
	bool info, init;
	uint64_t seed;
	bool seed_set;
};

static const char usage_text[] =
	"usage: sepnet-fwd -m MODEL [-s STEMS] [-o PATTERN [-b 16|24|32f] [-r RATE]] [--overlap F]\n"
	"                  [--segment S] [--wiener N] [--batch N] [--[no-]prefetch]\n"
	"                  [--precision P] [-d cpu|cuda] [-q] [FILE ...]\n"
	"       sepnet-fwd -m MODEL -t TYPE -r RATE -c CHANNELS -o PATTERN [options]\n"
	"       sepnet-fwd --info -m MODEL [--segment S] [--overlap F] [--wiener N]\n"
	"       sepnet-fwd --init -c CONFIG -o MODEL [--seed N]";
static const char options_text[] =
	"Mixtures (audio files, stft's spectrograms or waveform records; stdin without FILE)\n"
	"to separated stems: an SNT stream, or audio files with -o.\n"
	"  -m, --model=MODEL    a checkpoint (a path, or a shipped name: demo)\n"
	"  -s, --stems=STEMS    only these stems, in this order (vocals,drums); instrumental\n"
	"                       is every stem but vocals, summed\n"
	"  -o, --output=PATTERN audio files named by PATTERN: %s stem, %t track (a mixture.*\n"
	"                       file's folder), %d the input's folder, %b its name, %i index\n"
	"  -b, --bits=16|24|32f sample format of -o files (default 32f; FLAC 24)\n"
	"  -r, --rate=RATE      -o files resampled to RATE Hz (default: the input's rate)\n"
	"      --overlap=F      overlap of the model's segments, in [0, 1) (default 0.25)\n"
	"      --segment=S      segments of S seconds, at most the model's (sets the latency)\n"
	"      --wiener=N       refine the stems with N iterations of the multichannel Wiener\n"
	"                       filter (Open-Unmix's EM, over blocks of 6.97 s; default 0)\n"
	"  -t, --type=TYPE      stdin is raw PCM (as sox -t raw): raw or s16, s24, s32, f32, f64,\n"
	"                       u8, of -r RATE Hz and -c CHANNELS; files come out at RATE\n"
	"      --batch=N        segments per forward pass (default 1 on the cpu, 8 on a GPU)\n"
	"      --[no-]prefetch  read and write in threads beside the computation (GPU default)\n"
	"      --precision=P    GEMM inputs f32, tf32 (GPU) or bf16 (default: the model's\n"
	"                       [train] use_amp: bf16, or [hardware] tf32; bf16 and tf32\n"
	"                       are f32 on a CPU without them)\n"
	"  -d, --device=DEV     cpu or cuda (default: cuda when built with it and a GPU is here)\n"
	"  -q, --quiet          no progress line (drawn only when stderr is a terminal)\n"
	"      --info           print the model's parameter count, storage and config\n"
	"      --init           write a freshly initialised model of CONFIG to -o MODEL\n"
	"  -c, --config=CONFIG  --init's config (a path, or a shipped name: base)\n"
	"      --seed=N         --init's seed (default: the config's)\n"
	"  -h, --help           this help\n"
	"      --version        the version\n";

_Noreturn static void usage(int status)
{
	if (status == 0)
		print_help(usage_text, options_text);
	fprintf(stderr, "%s\n", usage_text);
	exit(status);
}

static void fwd_info(const struct opts *o)
{
	struct model *m = checkpoint_open_model(o->run.model, &backend_cpu, 1, 1, false);
	const char *dtype;
	char err[512];
	if (checkpoint_param_dtype(o->run.model, &dtype, err, sizeof err))
		die("%s", err);
	printf("parameters %zu\n", m->n_params);
	printf("stored %s\n", dtype);
	// a live stream's worst case: a frame is final once no segment still
	// to come can cover it (a segment's frames have all arrived), and the
	// STFT and its inverse each wait n_fft/2 samples (docs/DESIGN.md §2)
	const struct config *c = &m->cfg;
	int64_t L = pipeline_segment_frames(c, model_segment_frames(c), o->run.segment_s);
	if (!L)
		L = model_segment_frames(c);
	double frame = (double)c->hop_length / c->sample_rate;
	int64_t W = pipeline_wiener_frames(c);
	if (o->run.wiener)	// the stems wait for their block of the filter to fill
		printf("latency %.3f s (segment %.3f s, Wiener block %.3f s, n_fft %.3f s; plus a "
		       "segment's compute)\n", (L + W) * frame + (double)c->n_fft / c->sample_rate,
		       L * frame, W * frame, (double)c->n_fft / c->sample_rate);
	else
		printf("latency %.3f s (segment %.3f s, n_fft %.3f s; plus a segment's compute)\n",
		       L * frame + (double)c->n_fft / c->sample_rate, L * frame,
		       (double)c->n_fft / c->sample_rate);
	config_write(&m->cfg, stdout);
	model_free(m);
	close_stdout();
}

static void fwd_init(const struct opts *o)
{
	struct config cfg;
	config_load_or_die(&cfg, o->config);
	struct model *m = model_create(&cfg, &backend_cpu, 1, 1, false);
	model_init(m, o->seed_set ? o->seed : cfg.seed);
	checkpoint_save(o->run.output, m, NULL, NULL, NULL, 0);
	model_free(m);
}

/* The command line into o (usage errors exit 2). */
static void parse_options(int argc, char **argv, struct opts *o)
{
	enum { OPT_OVERLAP = 256, OPT_BATCH, OPT_INFO, OPT_INIT, OPT_SEED, OPT_VERSION,
	       OPT_PREFETCH, OPT_NO_PREFETCH, OPT_SEGMENT, OPT_PRECISION, OPT_WIENER };
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "model", required_argument, NULL, 'm' },
		{ "stems", required_argument, NULL, 's' },
		{ "device", required_argument, NULL, 'd' },
		{ "overlap", required_argument, NULL, OPT_OVERLAP },
		{ "batch", required_argument, NULL, OPT_BATCH },
		{ "prefetch", no_argument, NULL, OPT_PREFETCH },
		{ "no-prefetch", no_argument, NULL, OPT_NO_PREFETCH },
		{ "precision", required_argument, NULL, OPT_PRECISION },
		{ "info", no_argument, NULL, OPT_INFO },
		{ "init", no_argument, NULL, OPT_INIT },
		{ "config", required_argument, NULL, 'c' },
		{ "output", required_argument, NULL, 'o' },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "bits", required_argument, NULL, 'b' },
		{ "rate", required_argument, NULL, 'r' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "type", required_argument, NULL, 't' },
		{ "segment", required_argument, NULL, OPT_SEGMENT },
		{ "wiener", required_argument, NULL, OPT_WIENER },
		{ 0 },
	};
	struct pipeline_opts *r = &o->run;
	int c;
	int64_t seed;
	opterr = 0;	/* one line of our own (die_bad_option) */
	while ((c = getopt_long(argc, argv, ":hm:s:d:c:o:b:r:qt:", longopts, NULL)) != -1) {
		switch (c) {
		case 'm': r->model = optarg; break;
		case 's': r->stems = optarg; break;
		case 'd': r->device = optarg; break;
		case 'c': o->config = optarg; break;
		case 'o': r->output = optarg; break;
		case 'q': r->quiet = true; break;
		case 'b':
			if (audio_sample_parse(optarg, &r->sample))
				die_usage("-b: sample format must be 16, 24 or 32f, not '%s'", optarg);
			r->sample_set = 1;
			break;
		case 'r':
			if (parse_int(optarg, &r->sr) || r->sr < 1)
				die_usage("-r: sample rate must be a positive integer, not '%s'", optarg);
			break;
		case 't':
			if (audio_raw_parse(optarg, &r->raw_enc))
				die_usage("-t: raw input is raw, s16, s24, s32, f32, f64 or u8, not '%s'",
					  optarg);
			r->raw = true;
			break;
		case OPT_SEGMENT:
			if (parse_double(optarg, &r->segment_s) || !(r->segment_s > 0 && r->segment_s < 1e4))
				die_usage("--segment: seconds above 0, not '%s'", optarg);
			break;
		case OPT_WIENER:
			if (parse_int(optarg, &r->wiener) || r->wiener < 0 || r->wiener > 100)
				die_usage("--wiener: iterations from 0 to 100, not '%s'", optarg);
			break;
		case OPT_INFO: o->info = true; break;
		case OPT_PREFETCH: r->prefetch = 1; break;
		case OPT_NO_PREFETCH: r->prefetch = 0; break;
		case OPT_PRECISION:
			r->precision = !strcmp(optarg, "f32") ? BACKEND_F32 :
				       !strcmp(optarg, "tf32") ? BACKEND_TF32 :
				       !strcmp(optarg, "bf16") ? BACKEND_BF16 : -1;
			if (r->precision < 0)
				die_usage("--precision: f32, tf32 or bf16, not '%s'", optarg);
			break;
		case OPT_INIT: o->init = true; break;
		case OPT_OVERLAP:
			if (parse_double(optarg, &r->overlap) || !(r->overlap >= 0 && r->overlap < 1))
				die_usage("--overlap: a fraction in [0, 1), not '%s'", optarg);
			break;
		case OPT_BATCH:
			if (parse_int(optarg, &r->batch) || r->batch < 1)
				die_usage("--batch: a positive integer, not '%s'", optarg);
			break;
		case OPT_SEED:
			if (parse_int64(optarg, &seed) || seed < 0)
				die_usage("--seed: a non-negative integer, not '%s'", optarg);
			o->seed = (uint64_t)seed;
			o->seed_set = true;
			break;
		case OPT_VERSION:
			printf("sepnet-fwd %s\n", SEPNET_VERSION);
			exit(0);
		case 'h':
			usage(0);
		default:
			die_bad_option(c, argv);
		}
	}
	r->inputs = argv + optind;
	r->ninputs = argc - optind;
	if (r->raw) {	// as sox -t raw -r RATE -c CHANNELS: the input's rate and channels
		if (!r->sr || !o->config || parse_int(o->config, &r->raw_channels) ||
		    r->raw_channels < 1 || r->raw_channels > AUDIO_MAX_CHANNELS)
			die_usage("-t: raw input needs -r RATE and -c CHANNELS (1 to %d)",
				  AUDIO_MAX_CHANNELS);
		if (r->ninputs && !(r->ninputs == 1 && !strcmp(r->inputs[0], "-")))
			die_usage("-t: raw input is read from standard input; give no FILE");
		if (!r->output)
			die_usage("-t: raw input is separated into audio: give -o PATTERN (- for "
				  "standard output)");
		r->raw_sr = r->sr, r->sr = 0, o->config = NULL;
	}
	if (r->device && strcmp(r->device, "cpu") && strcmp(r->device, "cuda"))
		die_usage("-d %s: the devices are cpu and cuda", r->device);
	if (!r->output && (r->sample_set || r->sr))
		die_usage("-b and -r apply to audio files: give -o PATTERN too");
	if (o->info && o->init)
		die_usage("--info and --init exclude each other");
	if (o->init && (!o->config || !r->output || r->model || r->ninputs))
		die_usage("--init takes -c CONFIG -o MODEL and nothing else");
	if (!o->init && !r->model)
		die_usage("no model: -m MODEL");
	if (o->info && r->ninputs)
		die_usage("--info reads no input");
}

int main(int argc, char **argv)
{
	struct opts o = { .run = { .overlap = 0.25, .prefetch = -1, .precision = -1 } };
	set_progname(argv[0]);
	parse_options(argc, argv, &o);
	if (o.init) {
		fwd_init(&o);
		return 0;
	}
	o.run.model_arg = o.run.model;
	o.run.model = datafile_resolve(o.run.model, "models", ".safetensors");	// -m demo
	if (o.info)
		fwd_info(&o);
	else
		pipeline_run(&o.run);
	return 0;
}
