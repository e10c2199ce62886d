/* stft: audio files or SNT waveform records -> SNT spectrograms.
 *
 * Each input record f32 [..., C, N] becomes c64 [..., C, F, T] with the
 * keys n_fft, hop, window, center and length added (DESIGN §3); every
 * other key passes through.  Rows are transformed in parallel and written
 * as they finish, so memory stays near one input and one output record. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "snt.h"
#include "stft.h"
#include "util.h"
#include "wavein.h"

struct opts {
	int n_fft, hop;
	char **inputs;
	int ninputs;
};

_Noreturn static void usage(int status)
{
	fprintf(status ? stderr : stdout,
		"usage: %s [-n N_FFT] [-H HOP] [-c CONFIG] [FILE ...]\n", progname);
	exit(status);
}

/* One record: rows of x [R, N] -> spectrogram rows [R, F, T], written in
 * groups of as many rows as there are threads. */
static void stft_record(struct stft **plans, int nplans, struct snt_writer *w,
			struct snt_header *h, const float *x, const char *where)
{
	int64_t N = h->shape[h->rank - 1], R = snt_numel(h) / N;
	int64_t T = stft_frames(plans[0], N), F = stft_bins(plans[0]);
	if (N <= stft_n_fft(plans[0]) / 2)
		die("%s: %lld samples are too few for n_fft %d (reflect padding needs more than %d)",
		    where, (long long)N, stft_n_fft(plans[0]), stft_n_fft(plans[0]) / 2);
	if (h->rank == SNT_MAX_RANK)
		die("%s: rank %d waveform leaves no room for the frequency axis", where, h->rank);
	int64_t shape[SNT_MAX_RANK];
	memcpy(shape, h->shape, sizeof shape);
	shape[h->rank - 1] = F;
	shape[h->rank] = T;
	snt_header_set_dtype(h, SNT_C64);
	snt_header_set_shape(h, h->rank + 1, shape);
	snt_header_setf(h, "n_fft", "%d", stft_n_fft(plans[0]));
	snt_header_setf(h, "hop", "%d", stft_hop(plans[0]));
	snt_header_set(h, "window", "hann");
	snt_header_set(h, "center", "1");
	snt_header_setf(h, "length", "%lld", (long long)N);
	snt_write_header(w, h);

	size_t row_floats = 2 * F * T;
	float *out = xmalloc(sizeof(float) * row_floats * nplans);
	for (int64_t r0 = 0; r0 < R; r0 += nplans) {
		int n = R - r0 < nplans ? (int)(R - r0) : nplans;
		#pragma omp parallel for num_threads(n) schedule(static, 1)
		for (int i = 0; i < n; i++)
			if (stft_forward(plans[i], out + i * row_floats, x + (r0 + i) * N, N))
				die("%s: STFT failed", where);
		snt_write_payload(w, out, sizeof(float) * row_floats * n);
	}
	free(out);
}

static void stft_run(const struct opts *o)
{
	int nplans = max_threads();
	struct stft **plans = xmalloc(nplans * sizeof *plans);
	for (int i = 0; i < nplans; i++)
		plans[i] = stft_create(o->n_fft, o->hop);
	struct wave_input *in = wave_input_open(o->inputs, o->ninputs);
	struct snt_writer *w = snt_writer_open("-");
	struct snt_header h;
	float *x;
	snt_header_init(&h);
	while (wave_input_next(in, &h, &x)) {
		char where[512];
		snprintf(where, sizeof where, "%s: record %lld", wave_input_name(in),
			 (long long)wave_input_record(in));
		stft_record(plans, nplans, w, &h, x, where);
		free(x);
	}
	snt_header_free(&h);
	wave_input_close(in);
	snt_writer_close(w);
	for (int i = 0; i < nplans; i++)
		stft_free(plans[i]);
	free(plans);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "n-fft", required_argument, NULL, 'n' },
		{ "hop", required_argument, NULL, 'H' },
		{ "config", required_argument, NULL, 'c' },
		{ 0 },
	};
	struct opts o = { .n_fft = 4096, .hop = 1024 };
	int set_n = 0, set_hop = 0, c;
	struct config cfg;
	set_progname(argv[0]);
	while ((c = getopt_long(argc, argv, "hn:H:c:", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (parse_int(optarg, &o.n_fft) || o.n_fft < 2 || o.n_fft % 2)
				die_usage("-n: n_fft must be an even integer >= 2, not '%s'", optarg);
			set_n = 1;
			break;
		case 'H':
			if (parse_int(optarg, &o.hop) || o.hop < 1)
				die_usage("-H: hop must be a positive integer, not '%s'", optarg);
			set_hop = 1;
			break;
		case 'c':
			config_load_or_die(&cfg, optarg);
			if (!set_n)
				o.n_fft = cfg.n_fft;
			if (!set_hop)
				o.hop = cfg.hop_length;
			break;
		case 'V':
			printf("stft %s\n", SEPNET_VERSION);
			return 0;
		case 'h':
			usage(0);
		default:
			usage(2);
		}
	}
	if (o.hop > o.n_fft)
		die_usage("hop %d is larger than n_fft %d", o.hop, o.n_fft);
	o.inputs = argv + optind;
	o.ninputs = argc - optind;
	stft_run(&o);
	return 0;
}
