/* snt-info: one line per record of SNT streams, the soxi/ffprobe of the
 * format.  Payloads are skipped (or scanned in bounded chunks for --stats),
 * so any stream length works in constant memory. */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "snt.h"
#include "util.h"

struct opts {
	int stats;
	char **inputs;
	int ninputs;
};

/* Running statistics over a payload's scalars (c64: real and imaginary
 * parts both count as values). */
struct stats {
	double min, max, sumsq;
	int64_t n, nan, inf;
};

static const char usage_text[] = "usage: snt-info [--stats] [FILE ...]";
static const char options_text[] =
	"One line per record of SNT streams (stdin without FILE): index, name, dtype, shape,\n"
	"keys, payload bytes.\n"
	"      --stats          add min, max, RMS and the NaN and Inf counts of each payload\n"
	"  -h, --help           this help\n"
	"      --version        the version\n";

_Noreturn static void usage(int status)
{
	if (status == 0)
		print_help(usage_text, options_text);
	fprintf(stderr, "%s\n", usage_text);
	exit(status);
}

static void stats_add(struct stats *st, double v)
{
	if (isnan(v)) {
		st->nan++;
		return;
	}
	if (isinf(v)) {
		st->inf++;
		return;
	}
	if (!st->n || v < st->min)
		st->min = v;
	if (!st->n || v > st->max)
		st->max = v;
	st->sumsq += v * v;
	st->n++;
}

static double element(const void *buf, enum snt_dtype d, size_t i)
{
	switch (d) {
	case SNT_F32:
	case SNT_C64: return ((const float *)buf)[i];
	case SNT_F16: return snt_f16_to_f32(((const uint16_t *)buf)[i]);
	case SNT_BF16: return snt_bf16_to_f32(((const uint16_t *)buf)[i]);
	case SNT_S16: return ((const int16_t *)buf)[i];
	case SNT_S32: return ((const int32_t *)buf)[i];
	case SNT_U8: return ((const uint8_t *)buf)[i];
	default: return NAN;
	}
}

static void scan_payload(struct snt_reader *r, const struct snt_header *h, struct stats *st)
{
	static char buf[1 << 20];
	size_t scalar = h->dtype == SNT_C64 ? 4 : snt_dtype_size(h->dtype);
	while (r->remaining) {
		uint64_t n = r->remaining < sizeof buf ? r->remaining : sizeof buf;
		snt_read_payload_part_or_die(r, buf, n);
		for (size_t i = 0; i < n / scalar; i++)
			stats_add(st, element(buf, h->dtype, i));
	}
}

static void print_record(const struct snt_reader *r, const struct snt_header *h, const struct stats *st)
{
	char shape[256];
	const char *name = snt_header_get(h, "name");
	printf("%" PRId64 "\t%s\t%s\t[%s]\t", r->record, name ? name : "-", snt_dtype_name(h->dtype),
	       snt_shape_string(h, shape, sizeof shape));
	int first = 1;
	for (int i = 0; i < h->nkv; i++) {
		const char *k = h->kv[i].key;
		if (!strcmp(k, "dtype") || !strcmp(k, "shape") || !strcmp(k, "name"))
			continue;
		printf("%s%s=%s", first ? "" : " ", k, h->kv[i].val);
		first = 0;
	}
	printf("%s\t%" PRIu64 " bytes", first ? "-" : "", snt_payload_bytes(h));
	if (st) {
		if (st->n)
			printf("\tmin=%.6g max=%.6g rms=%.6g", st->min, st->max, sqrt(st->sumsq / st->n));
		else
			printf("\tmin=- max=- rms=-");
		printf(" nan=%" PRId64 " inf=%" PRId64, st->nan, st->inf);
	}
	putchar('\n');
}

static void info_run(const struct opts *o)
{
	char *const stdin_name[] = { "-" };
	char *const *names = o->ninputs ? o->inputs : stdin_name;
	int n = o->ninputs ? o->ninputs : 1;
	struct snt_header h;
	snt_header_init(&h);
	for (int k = 0; k < n; k++) {
		struct snt_reader *r = snt_reader_open(names[k]);
		if (!r)
			die("%s:", names[k]);
		int got = 0;
		while (snt_read_header_or_die(r, &h)) {
			struct stats st = { 0 };
			got = 1;
			if (o->stats)
				scan_payload(r, &h, &st);
			else if (snt_skip_payload(r))
				die("%s", r->err);
			print_record(r, &h, o->stats ? &st : NULL);
			if (ferror(stdout))
				die_write("standard output");
		}
		if (!got)
			die("%s: empty stream (no records)", r->name);
		snt_reader_close(r);
	}
	snt_header_free(&h);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "stats", no_argument, NULL, 's' },
		{ 0 },
	};
	struct opts o = { 0 };
	int c;
	set_progname(argv[0]);
	opterr = 0;	/* one line of our own (die_bad_option) */
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			o.stats = 1;
			break;
		case 'V':
			printf("snt-info %s\n", SEPNET_VERSION);
			return 0;
		case 'h':
			usage(0);
		default:
			die_bad_option(c, argv);
		}
	}
	o.inputs = argv + optind;
	o.ninputs = argc - optind;
	info_run(&o);
	close_stdout();
	return 0;
}
