/* bench-stft: time the library's STFT and iSTFT without pipes or I/O.
 *
 *   bench-stft [-n N_FFT] [-H HOP] [-d SECONDS] [-c CHANNELS] [-r REPEATS]
 *
 * Makes CHANNELS x SECONDS of 44.1 kHz noise, runs stft_forward then
 * stft_inverse on every channel REPEATS times, and prints the best time of
 * each as seconds and as x realtime (seconds of audio per second), plus the
 * round trip and its max reconstruction error.  Threads: OMP_NUM_THREADS. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "stft.h"
#include "util.h"

#define SR 44100

static const char usage[] =
	"usage: bench-stft [-n N_FFT] [-H HOP] [-d SECONDS] [-c CHANNELS] [-r REPEATS]";

struct opts {
	int n_fft, hop, channels, repeats;
	double seconds;
};

static void parse_opts(struct opts *o, int argc, char **argv)
{
	int i;

	*o = (struct opts){ 4096, 1024, 2, 3, 300 };
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int bad = !v;

		if (!strcmp(a, "-h")) {
			puts(usage);
			exit(0);
		} else if (!strcmp(a, "-n") && v)
			bad = parse_int(v, &o->n_fft);
		else if (!strcmp(a, "-H") && v)
			bad = parse_int(v, &o->hop);
		else if (!strcmp(a, "-c") && v)
			bad = parse_int(v, &o->channels) || o->channels < 1;
		else if (!strcmp(a, "-r") && v)
			bad = parse_int(v, &o->repeats) || o->repeats < 1;
		else if (!strcmp(a, "-d") && v)
			bad = parse_double(v, &o->seconds) || !(o->seconds > 0);
		else
			die_usage("%s", usage);
		if (bad)
			die_usage("bad value for %s\n%s", a, usage);
		i++;
	}
}

int main(int argc, char **argv)
{
	struct opts o;
	struct stft *s;
	int64_t n, T, F, i;
	float *x, *X, *y;
	double best_fwd = INFINITY, best_inv = INFINITY, err = 0, audio;
	int c, r, threads = 1;
	uint32_t state = 12345;

	set_progname(argv[0]);
	parse_opts(&o, argc, argv);
	s = stft_create(o.n_fft, o.hop);
	if (!s)
		die("bad n_fft %d / hop %d", o.n_fft, o.hop);
	n = (int64_t)(o.seconds * SR);
	T = stft_frames(s, n);
	F = stft_bins(s);
	x = xmalloc(sizeof(float) * o.channels * n);
	y = xmalloc(sizeof(float) * o.channels * n);
	X = xmalloc(2 * sizeof(float) * o.channels * F * T);
	for (i = 0; i < o.channels * n; i++) {
		state = state * 1664525u + 1013904223u;
		x[i] = (float)((state >> 8) * 0x1p-24 - 0.5);
	}
	/* first touch of the output buffers outside the timed runs */
	memset(X, 0, 2 * sizeof(float) * o.channels * F * T);
	memset(y, 0, sizeof(float) * o.channels * n);
	for (r = 0; r < o.repeats; r++) {
		double t0 = now_seconds(), t1, t2;
		for (c = 0; c < o.channels; c++)
			if (stft_forward(s, X + 2 * c * F * T, x + c * n, n))
				die("stft_forward failed");
		t1 = now_seconds();
		for (c = 0; c < o.channels; c++)
			if (stft_inverse(s, y + c * n, X + 2 * c * F * T, T, n))
				die("stft_inverse failed");
		t2 = now_seconds();
		best_fwd = fmin(best_fwd, t1 - t0);
		best_inv = fmin(best_inv, t2 - t1);
	}
	for (i = 0; i < o.channels * n; i++)
		err = fmax(err, fabs(y[i] - x[i]));
#ifdef _OPENMP
	threads = omp_get_max_threads();
#endif
	audio = o.seconds;
	printf("bench-stft n_fft %d hop %d, %d x %.0f s, %d threads, best of %d\n",
	       o.n_fft, o.hop, o.channels, o.seconds, threads, o.repeats);
	printf("  stft        %8.3f s %9.1f x realtime\n", best_fwd, audio / best_fwd);
	printf("  istft       %8.3f s %9.1f x realtime\n", best_inv, audio / best_inv);
	printf("  round trip  %8.3f s %9.1f x realtime  (max error %.2g)\n",
	       best_fwd + best_inv, audio / (best_fwd + best_inv), err);
	free(x), free(y), free(X);
	stft_free(s);
	return 0;
}
