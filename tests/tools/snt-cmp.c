/* snt-cmp: compare two waveform inputs (audio files or SNT streams) record
 * by record and print, per record, the largest absolute difference, the
 * RMS difference and the SNR of A against A - B in dB.  Exit 0 when every
 * record has the same shape and the largest difference is within -t TOL
 * (default: any difference is reported but accepted), 1 otherwise.
 * Used by the tests and `make demo`. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "snt.h"
#include "util.h"
#include "wavein.h"

int main(int argc, char **argv)
{
	double tol = INFINITY;
	int c;
	set_progname(argv[0]);
	while ((c = getopt(argc, argv, "t:")) != -1) {
		if (c != 't' || parse_double(optarg, &tol))
			die_usage("usage: snt-cmp [-t TOL] A B");
	}
	if (argc - optind != 2)
		die_usage("usage: snt-cmp [-t TOL] A B");
	struct wave_input *a = wave_input_open(argv + optind, 1), *b = wave_input_open(argv + optind + 1, 1);
	struct snt_header ha, hb;
	float *xa, *xb;
	int bad = 0;
	snt_header_init(&ha);
	snt_header_init(&hb);
	for (int64_t rec = 0;; rec++) {
		int ga = wave_input_next(a, &ha, &xa), gb = wave_input_next(b, &hb, &xb);
		if (!ga || !gb) {
			if (ga != gb)
				die("record %lld: %s has more records", (long long)rec, argv[optind + !ga]);
			break;
		}
		if (ha.rank != hb.rank || memcmp(ha.shape, hb.shape, ha.rank * sizeof *ha.shape))
			die("record %lld: shapes differ", (long long)rec);
		double maxd = 0, sd = 0, sa = 0;
		for (int64_t i = 0, n = snt_numel(&ha); i < n; i++) {
			double d = (double)xa[i] - xb[i];
			maxd = fmax(maxd, fabs(d));
			sd += d * d;
			sa += (double)xa[i] * xa[i];
		}
		int64_t n = snt_numel(&ha);
		printf("%lld\tmax_abs=%.3g\trms=%.3g\tsnr_db=%.2f\n", (long long)rec, maxd, sqrt(sd / n),
		       10 * log10((sa + 1e-30) / (sd + 1e-30)));
		if (!(maxd <= tol))
			bad = 1;
		free(xa);
		free(xb);
	}
	snt_header_free(&ha);
	snt_header_free(&hb);
	wave_input_close(a);
	wave_input_close(b);
	close_stdout();
	return bad;
}
