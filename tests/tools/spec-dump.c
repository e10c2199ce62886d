/* spec-dump: one spectrogram of an SNT stream as a gnuplot "binary matrix"
 * of log magnitudes, for `make demo`'s picture (examples/spectrogram-plot).
 *
 *   spec-dump [-p PLANE] [-f MAX_HZ] [FILE]
 *
 * The input holds c64 spectrogram records [C, F, T] or [S, C, F, T] (stft,
 * sepnet-fwd).  Planes are numbered through the stream: record 0's sources
 * first (one plane for a [C, F, T] record), then record 1's, and so on.
 * The chosen plane's channels are averaged in power and written as
 * 10 log10(mean_c |X|^2 + 1e-12) dB (1e-12: -120 dB, below any 16-bit
 * signal, so silence stays finite).
 *
 * gnuplot's binary matrix (`plot FILE binary matrix with image`) is float32:
 * the first row is the column count and the column coordinates (frame
 * centres in seconds: t * hop / sr, from the record's hop and sr keys), then
 * one row per frequency bin: its frequency in kHz and its values.  -f keeps
 * the bins up to MAX_HZ. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "snt.h"
#include "util.h"

static const char usage[] = "usage: spec-dump [-p PLANE] [-f MAX_HZ] [FILE]";

struct opts {
	int64_t plane;
	double max_hz;
	const char *input;
};

static double header_number(const struct snt_header *h, const char *key, const char *input)
{
	const char *v = snt_header_get(h, key);
	double x;
	if (!v || parse_double(v, &x) || !(x > 0))
		die("%s: the spectrogram record has no valid %s key", input, key);
	return x;
}

static void write_floats(const float *x, size_t n)
{
	if (fwrite(x, sizeof *x, n, stdout) != n)
		die_write("stdout");
}

/* Write plane s of record spec (c64 [..., C, F, T], planes of C*F*T). */
static void dump_plane(const struct snt_header *h, const float *spec, int64_t s, const struct opts *o)
{
	int64_t nc = h->shape[h->rank - 3], nf = h->shape[h->rank - 2], nt = h->shape[h->rank - 1];
	double sr = header_number(h, "sr", o->input), hop = header_number(h, "hop", o->input);
	double n_fft = header_number(h, "n_fft", o->input);
	int64_t keep = nf;
	if (o->max_hz > 0)
		keep = (int64_t)fmin((double)nf, floor(o->max_hz * n_fft / sr) + 1);
	float *row = xmalloc((size_t)(nt + 1) * sizeof *row);
	row[0] = (float)nt;
	for (int64_t t = 0; t < nt; t++)
		row[t + 1] = (float)(t * hop / sr);
	write_floats(row, (size_t)nt + 1);
	const float *plane = spec + 2 * s * nc * nf * nt;	/* interleaved re, im */
	for (int64_t f = 0; f < keep; f++) {
		row[0] = (float)(f * sr / n_fft / 1000);
		for (int64_t t = 0; t < nt; t++) {
			double p = 0;
			for (int64_t c = 0; c < nc; c++) {
				const float *z = plane + 2 * ((c * nf + f) * nt + t);
				p += (double)z[0] * z[0] + (double)z[1] * z[1];
			}
			row[t + 1] = (float)(10 * log10(p / nc + 1e-12));
		}
		write_floats(row, (size_t)nt + 1);
	}
	free(row);
}

static void spec_dump(const struct opts *o)
{
	struct snt_reader *r = snt_reader_open(o->input);
	if (!r)
		die("%s:", o->input ? o->input : "<stdin>");
	struct snt_header h;
	snt_header_init(&h);
	int64_t first = 0;	/* number of the current record's first plane */
	while (snt_read_header_or_die(r, &h)) {
		if (h.dtype != SNT_C64 || (h.rank != 3 && h.rank != 4))
			die("%s: record %lld: not a spectrogram (c64 [C, F, T] or [S, C, F, T])",
			    r->name, (long long)r->record);
		int64_t planes = h.rank == 4 ? h.shape[0] : 1;
		if (o->plane < first + planes) {
			float *spec = snt_read_payload_alloc_or_die(r, &h);
			dump_plane(&h, spec, o->plane - first, o);
			free(spec);
			snt_header_free(&h);
			snt_reader_close(r);
			return;
		}
		first += planes;
	}
	die("%s: plane %lld asked for, the stream has %lld", r->name, (long long)o->plane,
	    (long long)first);
}

int main(int argc, char **argv)
{
	struct opts o = { 0, 0, NULL };
	int c;
	set_progname(argv[0]);
	while ((c = getopt(argc, argv, "hp:f:")) != -1) {
		switch (c) {
		case 'h': puts(usage); return 0;
		case 'p':
			if (parse_int64(optarg, &o.plane) || o.plane < 0)
				die_usage("-p: a plane number >= 0, not '%s'", optarg);
			break;
		case 'f':
			if (parse_double(optarg, &o.max_hz) || !(o.max_hz > 0))
				die_usage("-f: a frequency in Hz > 0, not '%s'", optarg);
			break;
		default: die_usage("%s", usage);
		}
	}
	if (argc - optind > 1)
		die_usage("%s", usage);
	o.input = optind < argc ? argv[optind] : NULL;
	refuse_tty_stdout();
	spec_dump(&o);
	close_stdout();
	return 0;
}
