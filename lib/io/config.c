/* config.c: the INI configuration of docs/DESIGN.md §9, read with inih.
 *
 * Every key is one row of keys[]: its section, name, type, allowed range
 * and place in struct config.  Parsing, range checks, writing and the
 * [model] comparison are each one loop over that table, so a new key is
 * one new row (plus its default).
 *
 * inih reports line numbers only for syntax errors, so the file is fed to
 * ini_parse_stream through our own line reader, which counts lines; the
 * handler then knows the line of every key, and consistency errors found
 * after parsing (A % h, ...) can name the line of the key at fault.
 *
 * Defaults (config_defaults): the [model] and [train] sizes of small.ini,
 * but everything that changes numerics or needs a GPU is off, so that an
 * omitted key never silently turns on reduced precision:
 *   [model]     arch transformer, n_fft 2048, hop_length 512, n_layers 6, emb_dim 96,
 *               n_heads 6, attention_dim 96, ffn_hidden_dim 384,384,
 *               flash_attention false, dropout 0.1,
 *               sources drums,bass,other,vocals, sample_rate 44100
 *               (channels is always 2; the key is accepted only as 2)
 *               bsroformer only: bands paper, time_depth 1, freq_depth 1,
 *               mask_depth 2
 *   [train]     batch_size 24, segment_length 220500, num_epochs 150,
 *               learning_rate 1e-3, use_amp false, amp_dtype bfloat16,
 *               num_workers 8, gradient_accum 1, weight_decay 0,
 *               grad_clip 5 (0: off), ema_decay 0 (off), epoch_size 0
 *               (as many segments as the tracks hold), seed 0,
 *               max_bad_steps 10 (non-finite steps in a row before giving up)
 *   [loss]      loss_type combined, si_sdr_weight 1, l1_weight 0.1,
 *               spectral_weight 0.1
 *   [scheduler] type reducelronplateau, patience 5, factor 0.5,
 *               min_lr 1e-7, warmup_steps 0
 *   [hardware]  tf32, cudnn_benchmark, fused_optimizer, persistent_workers:
 *               all false
 *
 * Values: integers in decimal; floats as strtod reads them (finite);
 * booleans true/false, yes/no, on/off, 1/0 (any case); lists separated by
 * commas.  Keys start in column 1: inih would read an indented line as the
 * continuation of the previous value. */
#include "config.h"
#include "datafile.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "util.h"

enum key_type {
	KEY_INT,
	KEY_INT64,
	KEY_UINT64,
	KEY_FLOAT,
	KEY_BOOL,
	KEY_STRING,		/* char[CONFIG_NAME_LEN], one of choices */
	KEY_ENUM,		/* int-sized enum: index into choices */
	KEY_FFN_LIST,		/* ffn_hidden_dim / n_ffn */
	KEY_SOURCES,		/* sources / n_sources */
	KEY_BANDS,		/* band_width / n_bands; "paper" is n_bands 0 */
};

enum key_range {
	RANGE_ANY,
	RANGE_POSITIVE,		/* > 0 */
	RANGE_NONNEG,		/* >= 0 */
	RANGE_UNIT_HALFOPEN,	/* [0, 1) */
	RANGE_UNIT_OPEN,	/* (0, 1) */
	RANGE_STEREO,		/* == 2 */
};

struct key {
	const char *section;
	const char *name;
	enum key_type type;
	enum key_range range;
	size_t offset;
	const char *const *choices;	/* KEY_STRING, KEY_ENUM; NULL-terminated */
	bool not_architecture;		/* [model] key a checkpoint need not match */
	double max;			/* the largest value (numbers); 0: no bound but the type's */
};

#define ARCH_NAME(name) #name,
static const char *const archs[] = { CONFIG_ARCHS(ARCH_NAME) NULL };
static const char *const amp_dtypes[] = { "bfloat16", "float16", NULL };
static const char *const scheduler_types[] = { "reducelronplateau", NULL };
/* in enum loss_type order */
static const char *const loss_types[] = { "combined", "l1", "sisdr", NULL };	/* docs/DESIGN.md §4 */

static const char *const sections[] = {
	"model", "train", "loss", "scheduler", "hardware", NULL
};

#define F(field) offsetof(struct config, field)
static const struct key keys[] = {
	{ "model", "arch", KEY_STRING, RANGE_ANY, F(arch), archs, false, 0 },
	{ "model", "n_fft", KEY_INT, RANGE_POSITIVE, F(n_fft), NULL, false, 65536 },
	{ "model", "hop_length", KEY_INT, RANGE_POSITIVE, F(hop_length), NULL, false, 65536 },
	{ "model", "n_layers", KEY_INT, RANGE_POSITIVE, F(n_layers), NULL, false, 256 },
	{ "model", "emb_dim", KEY_INT, RANGE_POSITIVE, F(emb_dim), NULL, false, 16384 },
	{ "model", "n_heads", KEY_INT, RANGE_POSITIVE, F(n_heads), NULL, false, 256 },
	{ "model", "attention_dim", KEY_INT, RANGE_POSITIVE, F(attention_dim), NULL, false, 16384 },
	{ "model", "ffn_hidden_dim", KEY_FFN_LIST, RANGE_POSITIVE, F(ffn_hidden_dim), NULL, false, 65536 },
	/* a kernel choice and a training-only setting: same weights either way */
	{ "model", "flash_attention", KEY_BOOL, RANGE_ANY, F(flash_attention), NULL, true, 0 },
	{ "model", "dropout", KEY_FLOAT, RANGE_UNIT_HALFOPEN, F(dropout), NULL, true, 0 },
	{ "model", "sources", KEY_SOURCES, RANGE_ANY, F(sources), NULL, false, 0 },
	{ "model", "sample_rate", KEY_INT, RANGE_POSITIVE, F(sample_rate), NULL, false, 768000 },
	{ "model", "channels", KEY_INT, RANGE_STEREO, F(channels), NULL, false, 0 },
	{ "model", "bands", KEY_BANDS, RANGE_POSITIVE, F(band_width), NULL, false, 32769 },
	{ "model", "time_depth", KEY_INT, RANGE_POSITIVE, F(time_depth), NULL, false, 64 },
	{ "model", "freq_depth", KEY_INT, RANGE_POSITIVE, F(freq_depth), NULL, false, 64 },
	{ "model", "mask_depth", KEY_INT, RANGE_POSITIVE, F(mask_depth), NULL, false, 16 },

	{ "train", "batch_size", KEY_INT, RANGE_POSITIVE, F(batch_size), NULL, false, 4096 },
	{ "train", "segment_length", KEY_INT64, RANGE_POSITIVE, F(segment_length), NULL, false, 134217728 },
	{ "train", "num_epochs", KEY_INT, RANGE_POSITIVE, F(num_epochs), NULL, false, 1e9 },
	{ "train", "learning_rate", KEY_FLOAT, RANGE_POSITIVE, F(learning_rate), NULL, false, 0 },
	{ "train", "use_amp", KEY_BOOL, RANGE_ANY, F(use_amp), NULL, false, 0 },
	{ "train", "amp_dtype", KEY_STRING, RANGE_ANY, F(amp_dtype), amp_dtypes, false, 0 },
	{ "train", "num_workers", KEY_INT, RANGE_NONNEG, F(num_workers), NULL, false, 1024 },
	{ "train", "gradient_accum", KEY_INT, RANGE_POSITIVE, F(gradient_accum), NULL, false, 65536 },
	{ "train", "weight_decay", KEY_FLOAT, RANGE_NONNEG, F(weight_decay), NULL, false, 0 },
	{ "train", "grad_clip", KEY_FLOAT, RANGE_NONNEG, F(grad_clip), NULL, false, 0 },
	{ "train", "ema_decay", KEY_FLOAT, RANGE_UNIT_HALFOPEN, F(ema_decay), NULL, false, 0 },
	{ "train", "epoch_size", KEY_INT64, RANGE_NONNEG, F(epoch_size), NULL, false, 1099511627776 },
	{ "train", "seed", KEY_UINT64, RANGE_ANY, F(seed), NULL, false, 0 },
	{ "train", "max_bad_steps", KEY_INT, RANGE_NONNEG, F(max_bad_steps), NULL, false, 1e9 },

	{ "loss", "loss_type", KEY_ENUM, RANGE_ANY, F(loss_type), loss_types, false, 0 },
	{ "loss", "si_sdr_weight", KEY_FLOAT, RANGE_NONNEG, F(si_sdr_weight), NULL, false, 0 },
	{ "loss", "l1_weight", KEY_FLOAT, RANGE_NONNEG, F(l1_weight), NULL, false, 0 },
	{ "loss", "spectral_weight", KEY_FLOAT, RANGE_NONNEG, F(spectral_weight), NULL, false, 0 },

	{ "scheduler", "type", KEY_STRING, RANGE_ANY, F(scheduler_type), scheduler_types, false, 0 },
	{ "scheduler", "patience", KEY_INT, RANGE_NONNEG, F(patience), NULL, false, 1e9 },
	{ "scheduler", "factor", KEY_FLOAT, RANGE_UNIT_OPEN, F(factor), NULL, false, 0 },
	{ "scheduler", "min_lr", KEY_FLOAT, RANGE_NONNEG, F(min_lr), NULL, false, 0 },
	{ "scheduler", "warmup_steps", KEY_INT, RANGE_NONNEG, F(warmup_steps), NULL, false, 1e9 },

	{ "hardware", "tf32", KEY_BOOL, RANGE_ANY, F(tf32), NULL, false, 0 },
	{ "hardware", "cudnn_benchmark", KEY_BOOL, RANGE_ANY, F(cudnn_benchmark), NULL, false, 0 },
	{ "hardware", "fused_optimizer", KEY_BOOL, RANGE_ANY, F(fused_optimizer), NULL, false, 0 },
	{ "hardware", "persistent_workers", KEY_BOOL, RANGE_ANY, F(persistent_workers), NULL, false, 0 },
};
#undef F
#define NKEYS ((int)(sizeof keys / sizeof keys[0]))

/* inih's line buffer (ini_max_line): longer lines are refused, not split */
#define LINE_MAX_CHARS 200

static void set_string(char dst[CONFIG_NAME_LEN], const char *src)
{
	memset(dst, 0, CONFIG_NAME_LEN);	/* zeroed tail: configs compare with memcmp */
	strncpy(dst, src, CONFIG_NAME_LEN - 1);
}

void config_defaults(struct config *c)
{
	static const char *const default_sources[] = { "drums", "bass", "other", "vocals" };

	memset(c, 0, sizeof *c);
	c->n_fft = 2048;
	c->hop_length = 512;
	c->n_layers = 6;
	c->emb_dim = 96;
	c->n_heads = 6;
	c->attention_dim = 96;
	c->n_ffn = 2;
	c->ffn_hidden_dim[0] = c->ffn_hidden_dim[1] = 384;
	set_string(c->arch, "transformer");
	c->flash_attention = false;
	c->dropout = 0.1f;
	c->n_sources = 4;
	for (int i = 0; i < 4; i++)
		set_string(c->sources[i], default_sources[i]);
	c->sample_rate = 44100;
	c->channels = 2;
	c->n_bands = 0;
	c->time_depth = c->freq_depth = 1;
	c->mask_depth = 2;

	c->batch_size = 24;
	c->segment_length = 220500;	/* 5 s at 44.1 kHz */
	c->num_epochs = 150;
	c->learning_rate = 1e-3f;
	c->use_amp = false;
	set_string(c->amp_dtype, "bfloat16");
	c->num_workers = 8;
	c->gradient_accum = 1;
	c->weight_decay = 0;
	c->grad_clip = 5;
	c->ema_decay = 0;
	c->epoch_size = 0;
	c->seed = 0;
	c->max_bad_steps = 10;

	c->loss_type = LOSS_COMBINED;
	c->si_sdr_weight = 1;
	c->l1_weight = 0.1f;
	c->spectral_weight = 0.1f;

	set_string(c->scheduler_type, "reducelronplateau");
	c->patience = 5;
	c->factor = 0.5f;
	c->min_lr = 1e-7f;
	c->warmup_steps = 0;

	c->tf32 = c->cudnn_benchmark = c->fused_optimizer = c->persistent_workers = false;
}

int config_freq_bins(const struct config *c)
{
	return c->n_fft / 2 + 1;
}

/* ---- messages ---- */

/* "NAME:LINE: why" (or "NAME: why" when line is 0) into err. */
static void vset_error(char *err, size_t errlen, const char *name, int line,
		       const char *fmt, va_list ap)
{
	if (!err || !errlen)
		return;
	int n = line > 0 ? snprintf(err, errlen, "%s:%d: ", name, line)
			 : snprintf(err, errlen, "%s: ", name);
	if (n >= 0 && (size_t)n < errlen)
		vsnprintf(err + n, errlen - n, fmt, ap);
}

static void set_error(char *err, size_t errlen, const char *name, int line,
		      const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vset_error(err, errlen, name, line, fmt, ap);
	va_end(ap);
}

/* ---- the table ---- */

static void *field(struct config *c, const struct key *k)
{
	return (char *)c + k->offset;
}

static const void *cfield(const struct config *c, const struct key *k)
{
	return (const char *)c + k->offset;
}

static bool known_section(const char *s)
{
	for (int i = 0; sections[i]; i++)
		if (!strcmp(sections[i], s))
			return true;
	return false;
}

static int key_find(const char *section, const char *name)
{
	for (int i = 0; i < NKEYS; i++)
		if (!strcmp(keys[i].section, section) && !strcmp(keys[i].name, name))
			return i;
	return -1;
}

/* v against the key's range and its largest value (buf for the message) */
static const char *range_violation(const struct key *k, double v, char *buf, size_t buflen)
{
	if (!isfinite(v) && k->range != RANGE_ANY)
		return "must be a finite number";
	if (k->max > 0 && v > k->max) {
		snprintf(buf, buflen, v == floor(v) && v < 1e30 ? "%.0f is over the limit of %.15g"
			 : "%.9g is over the limit of %.15g", v, k->max);
		return buf;
	}
	/* written so that NaN fails every bounded range */
	switch (k->range) {
	case RANGE_ANY:
		return NULL;
	case RANGE_POSITIVE:
		return v > 0 ? NULL : "must be positive";
	case RANGE_NONNEG:
		return v >= 0 ? NULL : "must not be negative";
	case RANGE_UNIT_HALFOPEN:
		return v >= 0 && v < 1 ? NULL : "must be in [0, 1)";
	case RANGE_UNIT_OPEN:
		return v > 0 && v < 1 ? NULL : "must be in (0, 1)";
	case RANGE_STEREO:
		return v == 2 ? NULL : "must be 2 (sepnet models are stereo)";
	}
	return NULL;
}

static bool valid_source_name(const char *s)
{
	if (!*s || strlen(s) >= CONFIG_NAME_LEN)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("_-.", *s))
			return false;
	return true;
}

/* Checks one key's value against its range; NULL when fine, else why
 * (in buf when the reason needs the value). */
static const char *key_check(const struct config *c, const struct key *k,
			     char *buf, size_t buflen)
{
	const void *p = cfield(c, k);
	const char *why = NULL;

	switch (k->type) {
	case KEY_INT:
		return range_violation(k, *(const int *)p, buf, buflen);
	case KEY_INT64:
		return range_violation(k, (double)*(const int64_t *)p, buf, buflen);
	case KEY_FLOAT:
		return range_violation(k, *(const float *)p, buf, buflen);
	case KEY_UINT64:
	case KEY_BOOL:
		return NULL;
	case KEY_ENUM:
		for (int i = 0; k->choices[i]; i++)
			if (*(const enum loss_type *)p == (enum loss_type)i)
				return NULL;
		return "not one of the allowed values";
	case KEY_STRING:
		for (int i = 0; k->choices[i]; i++)
			if (!strcmp(k->choices[i], p))
				return NULL;
		return "not one of the allowed values";
	case KEY_FFN_LIST:
		if (c->n_ffn < 1 || c->n_ffn > CONFIG_MAX_FFN) {
			snprintf(buf, buflen, "needs 1 to %d entries", CONFIG_MAX_FFN);
			return buf;
		}
		for (int i = 0; i < c->n_ffn && !why; i++)
			why = range_violation(k, c->ffn_hidden_dim[i], buf, buflen);
		return why;
	case KEY_BANDS:
		if (c->n_bands == 1 || c->n_bands > CONFIG_MAX_BANDS) {
			snprintf(buf, buflen, "needs 2 to %d widths, or paper", CONFIG_MAX_BANDS);
			return buf;
		}
		for (int i = 0; i < c->n_bands && !why; i++)
			why = range_violation(k, c->band_width[i], buf, buflen);
		return why;
	case KEY_SOURCES:
		if (c->n_sources < 1 || c->n_sources > CONFIG_MAX_SOURCES) {
			snprintf(buf, buflen, "needs 1 to %d names", CONFIG_MAX_SOURCES);
			return buf;
		}
		for (int i = 0; i < c->n_sources; i++) {
			if (!valid_source_name(c->sources[i])) {
				snprintf(buf, buflen, "bad name '%s' (letters, digits, _-. only, "
					 "at most %d)", c->sources[i], CONFIG_NAME_LEN - 1);
				return buf;
			}
			for (int j = 0; j < i; j++)
				if (!strcmp(c->sources[i], c->sources[j])) {
					snprintf(buf, buflen, "'%s' named twice", c->sources[i]);
					return buf;
				}
		}
		return NULL;
	}
	return NULL;
}

/* ---- parsing values ---- */

static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };
	for (int i = 0; i < 4; i++) {
		if (!strcasecmp(s, yes[i]))
			return *out = true, 0;
		if (!strcasecmp(s, no[i]))
			return *out = false, 0;
	}
	return -1;
}

static int parse_uint64(const char *s, uint64_t *out)
{
	char *end;
	if (!isdigit((unsigned char)*s))	/* strtoull takes "-1" as 2^64-1 */
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

/* Splits a comma list into at most max trimmed items of buf; returns the
 * count, or -1 with why set. */
static int split_list(char *buf, char **items, int max, const char **why)
{
	int n = 0;
	for (char *s = buf;; s++) {
		char *comma = strchr(s, ',');
		if (comma)
			*comma = '\0';
		while (isspace((unsigned char)*s))
			s++;
		char *e = s + strlen(s);
		while (e > s && isspace((unsigned char)e[-1]))
			*--e = '\0';
		if (!*s) {
			*why = n == 0 && !comma ? "empty list" : "empty item in list";
			return -1;
		}
		if (n == max) {
			*why = "too many items";
			return -1;
		}
		items[n++] = s;
		if (!comma)
			return n;
		s = comma;
	}
}

/* Stores value into key k of c; NULL when fine, else why (maybe in buf). */
static const char *key_set(struct config *c, const struct key *k, const char *value,
			   char *buf, size_t buflen)
{
	void *p = field(c, k);
	char list[LINE_MAX_CHARS];
	char *items[CONFIG_MAX_BANDS];
	const char *why = NULL;
	int n;

	if (!*value)
		return k->type == KEY_FFN_LIST || k->type == KEY_SOURCES || k->type == KEY_BANDS
			       ? "empty list" : "empty value";
	switch (k->type) {
	case KEY_INT:
		if (parse_int(value, p))
			why = "malformed integer";
		break;
	case KEY_INT64:
		if (parse_int64(value, p))
			why = "malformed integer";
		break;
	case KEY_UINT64:
		if (parse_uint64(value, p))
			why = "malformed unsigned integer";
		break;
	case KEY_FLOAT:
		if (parse_float(value, p))
			why = "malformed number";
		break;
	case KEY_BOOL:
		if (parse_bool(value, p))
			why = "malformed boolean (true/false, yes/no, on/off, 1/0)";
		break;
	case KEY_STRING:
	case KEY_ENUM:
		for (n = 0; k->choices[n]; n++)
			if (!strcmp(k->choices[n], value))
				break;
		if (!k->choices[n]) {
			int len = snprintf(buf, buflen, "'%s' is not one of", value);
			for (int i = 0; k->choices[i] && len >= 0 && (size_t)len < buflen; i++)
				len += snprintf(buf + len, buflen - len, " %s", k->choices[i]);
			return buf;
		}
		if (k->type == KEY_STRING)
			set_string(p, value);
		else
			*(enum loss_type *)p = (enum loss_type)n;
		return NULL;
	case KEY_FFN_LIST:
		snprintf(list, sizeof list, "%s", value);
		if ((n = split_list(list, items, CONFIG_MAX_FFN, &why)) < 0)
			break;
		memset(c->ffn_hidden_dim, 0, sizeof c->ffn_hidden_dim);
		c->n_ffn = n;
		for (int i = 0; i < n && !why; i++)
			if (parse_int(items[i], &c->ffn_hidden_dim[i]))
				why = "malformed integer in list";
		break;
	case KEY_BANDS:
		memset(c->band_width, 0, sizeof c->band_width);
		c->n_bands = 0;
		if (!strcmp(value, "paper"))
			break;
		snprintf(list, sizeof list, "%s", value);
		if ((n = split_list(list, items, CONFIG_MAX_BANDS, &why)) < 0)
			break;
		c->n_bands = n;
		for (int i = 0; i < n && !why; i++)
			if (parse_int(items[i], &c->band_width[i]))
				why = "malformed integer in list";
		break;
	case KEY_SOURCES:
		snprintf(list, sizeof list, "%s", value);
		if ((n = split_list(list, items, CONFIG_MAX_SOURCES, &why)) < 0)
			break;
		memset(c->sources, 0, sizeof c->sources);
		c->n_sources = n;
		for (int i = 0; i < n; i++) {
			if (strlen(items[i]) >= CONFIG_NAME_LEN) {
				snprintf(buf, buflen, "name '%s' longer than %d characters",
					 items[i], CONFIG_NAME_LEN - 1);
				return buf;
			}
			set_string(c->sources[i], items[i]);
		}
		break;
	}
	if (why) {
		snprintf(buf, buflen, "%s '%s'", why, value);
		return buf;
	}
	return key_check(c, k, buf, buflen);
}

/* ---- the inih handler and line reader ---- */

struct parser {
	struct config *c;
	const char *name;		/* file name for messages */
	FILE *fp;			/* source: a file ... */
	const char *text;		/* ... or text in memory */
	int line;			/* line last handed to inih */
	bool indented;			/* that line starts with white space */
	int key_line[NKEYS];		/* where each key was set; 0: default */
	int error_line;			/* first error; 0: none */
	char *err;
	size_t errlen;
};

static void parser_fail(struct parser *p, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void parser_fail(struct parser *p, int line, const char *fmt, ...)
{
	if (p->error_line)
		return;			/* keep the first */
	va_list ap;
	va_start(ap, fmt);
	vset_error(p->err, p->errlen, p->name, line, fmt, ap);
	va_end(ap);
	p->error_line = line;
}

/* A "[name]" line: refuse an unknown section even when it holds no key
 * (the handler sees only keys).  Mirrors inih: the name runs to the first ']'. */
static void check_section_line(struct parser *p, const char *line)
{
	while (isspace((unsigned char)*line))
		line++;
	if (*line != '[')
		return;
	const char *end = strchr(line, ']');
	if (!end)
		return;			/* inih reports the syntax error */
	char section[LINE_MAX_CHARS];
	snprintf(section, sizeof section, "%.*s", (int)(end - line - 1), line + 1);
	if (!known_section(section))
		parser_fail(p, p->line, "[%s]: unknown section (known: model, train, loss, "
			    "scheduler, hardware)", section);
}

/* fgets for inih that counts lines and refuses over-long ones. */
static char *read_line(char *buf, int size, void *stream)
{
	struct parser *p = stream;
	int n = 0;
	bool more;

	if (p->error_line)
		return NULL;		/* stop at the first error */
	if (p->fp) {
		if (!fgets(buf, size, p->fp))
			return NULL;
		n = strlen(buf);
		int next = getc(p->fp);
		more = next != EOF;
		ungetc(next, p->fp);
	} else {
		if (!*p->text)
			return NULL;
		while (n < size - 1 && p->text[n] && (n == 0 || p->text[n - 1] != '\n'))
			n++;
		memcpy(buf, p->text, n);
		buf[n] = '\0';
		p->text += n;
		more = *p->text != '\0';
	}
	p->line++;
	if (n == size - 1 && buf[n - 1] != '\n' && more) {
		parser_fail(p, p->line, "line longer than %d characters", size - 3);
		return NULL;
	}
	p->indented = buf[0] == ' ' || buf[0] == '\t';
	check_section_line(p, buf);	/* the handler sees only keys */
	return buf;
}

static int handle_key(void *user, const char *section, const char *name, const char *value)
{
	struct parser *p = user;
	char why[160];

	if (p->error_line)
		return 0;
	if (p->indented) {
		parser_fail(p, p->line, "indented line: keys must start in column 1");
		return 0;
	}
	if (!*section) {
		parser_fail(p, p->line, "%s: key outside any [section]", name);
		return 0;
	}
	int i = key_find(section, name);
	if (i < 0) {
		parser_fail(p, p->line, "[%s] %s: unknown key", section, name);
		return 0;
	}
	if (p->key_line[i]) {
		parser_fail(p, p->line, "[%s] %s: duplicate key (first set on line %d)",
			    section, name, p->key_line[i]);
		return 0;
	}
	p->key_line[i] = p->line;
	const char *bad = key_set(p->c, &keys[i], value, why, sizeof why);
	if (bad) {
		parser_fail(p, p->line, "[%s] %s: %s", section, name, bad);
		return 0;
	}
	return 1;
}

/* ---- validation ---- */

/* The line where the file set [model] key; 0 when it did not. */
static int model_line(const int *key_line, const char *key)
{
	return key_line ? key_line[key_find("model", key)] : 0;
}

/* The key a consistency error names: a, unless only b was in the file. */
static const char *blame(const int *key_line, const char *a, const char *b)
{
	return !model_line(key_line, a) && model_line(key_line, b) ? b : a;
}

static int validate(const struct config *c, const char *name, const int *key_line,
		    char *err, size_t errlen)
{
	char buf[160];
	const char *k;

	for (int i = 0; i < NKEYS; i++) {
		const char *why = key_check(c, &keys[i], buf, sizeof buf);
		if (why) {
			set_error(err, errlen, name, key_line ? key_line[i] : 0, "[%s] %s: %s",
				  keys[i].section, keys[i].name, why);
			return -1;
		}
	}
	if (c->n_fft % 2) {
		set_error(err, errlen, name, model_line(key_line, "n_fft"),
			  "[model] n_fft: %d is odd (the STFT needs an even n_fft)", c->n_fft);
		return -1;
	}
	if (c->hop_length > c->n_fft) {
		k = blame(key_line, "hop_length", "n_fft");
		set_error(err, errlen, name, model_line(key_line, k),
			  "[model] %s: hop_length %d exceeds n_fft %d (frames would leave gaps)",
			  k, c->hop_length, c->n_fft);
		return -1;
	}
	if (c->attention_dim % c->n_heads) {
		k = blame(key_line, "n_heads", "attention_dim");
		set_error(err, errlen, name, model_line(key_line, k),
			  "[model] %s: attention_dim %d is not divisible by n_heads %d",
			  k, c->attention_dim, c->n_heads);
		return -1;
	}
	if (!strcmp(c->arch, "bsroformer")) {
		int F = config_freq_bins(c), sum = 0;
		for (int i = 0; i < c->n_bands; i++)
			sum += c->band_width[i];
		if (c->n_bands && sum != F) {
			set_error(err, errlen, name, model_line(key_line, "bands"),
				  "[model] bands: the widths add up to %d bins, but n_fft %d has %d "
				  "(or write bands = paper)", sum, c->n_fft, F);
			return -1;
		}
		if (c->n_ffn != 1) {
			set_error(err, errlen, name, model_line(key_line, "ffn_hidden_dim"),
				  "[model] ffn_hidden_dim: the bsroformer's feed-forward has one hidden "
				  "layer; give one width (4 x emb_dim in the paper)");
			return -1;
		}
		int starts[CONFIG_MAX_BANDS + 1];
		if (config_bands(c, starts) < 2) {
			set_error(err, errlen, name, model_line(key_line, "n_fft"),
				  "[model] n_fft: %d leaves fewer than 2 bands of the paper's split "
				  "(give bands = widths)", c->n_fft);
			return -1;
		}
	}
	// sizes that each key allows but not together: the parameters of the
	// model, and the samples of one micro-batch (every key is bounded
	// above, so the products fit in int64)
	int64_t params = config_param_count(c);
	if (params > CONFIG_MAX_PARAMS) {
		set_error(err, errlen, name, 0, "[model] a model of %lld parameters is over the limit "
			  "of %lld (make emb_dim, attention_dim, ffn_hidden_dim, n_layers or n_fft smaller)",
			  (long long)params, (long long)CONFIG_MAX_PARAMS);
		return -1;
	}
	if ((int64_t)c->batch_size * c->segment_length > CONFIG_MAX_BATCH_SAMPLES) {
		set_error(err, errlen, name, 0, "[train] batch_size %d x segment_length %lld is over "
			  "the limit of %lld samples a micro-batch", c->batch_size,
			  (long long)c->segment_length, (long long)CONFIG_MAX_BATCH_SAMPLES);
		return -1;
	}
	if ((c->attention_dim / c->n_heads) % 2) {
		k = blame(key_line, "n_heads", "attention_dim");
		set_error(err, errlen, name, model_line(key_line, k),
			  "[model] %s: head size attention_dim/n_heads = %d/%d = %d is odd "
			  "(rotary embeddings rotate pairs)", k, c->attention_dim, c->n_heads,
			  c->attention_dim / c->n_heads);
		return -1;
	}
	return 0;
}

/* BS-RoFormer's band widths for 1025 bins: the split of Lu et al. (2023),
 * DEFAULT_FREQS_PER_BANDS of the bs-roformer package */
static const int paper_bands[][2] = {	/* { count, width } */
	{ 24, 2 }, { 12, 4 }, { 8, 12 }, { 8, 24 }, { 8, 48 }, { 1, 128 }, { 1, 129 },
};

int config_bands(const struct config *c, int starts[CONFIG_MAX_BANDS + 1])
{
	int F = config_freq_bins(c), n = 0;
	starts[0] = 0;
	if (c->n_bands) {
		for (int i = 0; i < c->n_bands; i++, n++)
			starts[n + 1] = starts[n] + c->band_width[i];
		return n;
	}
	int edge = 0;
	for (size_t g = 0; g < sizeof paper_bands / sizeof *paper_bands; g++)
		for (int i = 0; i < paper_bands[g][0]; i++) {
			edge += paper_bands[g][1];
			int e = (int)floor((double)edge * F / 1025 + 0.5);
			if (e > starts[n])
				starts[++n] = e;
		}
	return n;
}

/* The linear layers' sizes of the tensors of one transformer block (lib/model/block.h). */
static int64_t block_param_count(const struct config *c, bool bsroformer)
{
	int64_t d = c->emb_dim, A = c->attention_dim;
	int64_t block = d + 3 * A * d + d * A + d;	// attn_norm, wq wk wv, wo, ffn_norm
	block += bsroformer ? c->n_heads * d + c->n_heads : d;	// gates or wo's bias
	int64_t width = d;
	for (int i = 0; i < c->n_ffn; i++) {
		block += width * c->ffn_hidden_dim[i] + c->ffn_hidden_dim[i];
		width = c->ffn_hidden_dim[i];
	}
	return block + width * d + d;
}

int64_t config_param_count(const struct config *c)
{
	int64_t d = c->emb_dim, F = c->n_fft / 2 + 1;
	int64_t din = 2 * (int64_t)c->channels * F, dout = (int64_t)c->n_sources * din;
	if (strcmp(c->arch, "bsroformer"))
		return din * d + d + c->n_layers * block_param_count(c, false) + d + dout * d + dout;
	// band split: per band RMSNorm(2Cw) and Linear(2Cw, d); mask heads: per
	// stem and band Linear(d, 4d), (mask_depth - 2) × Linear(4d, 4d),
	// Linear(4d, 2·2Cw)
	int starts[CONFIG_MAX_BANDS + 1], nb = config_bands(c, starts);
	int64_t hid = 4 * d, layers = (int64_t)c->time_depth + c->freq_depth;
	int64_t mlp = c->mask_depth == 1 ? 0
		: d * hid + hid + (c->mask_depth - 2) * (hid * hid + hid);
	int64_t in = c->mask_depth == 1 ? d : hid;
	int64_t n = c->n_layers * layers * block_param_count(c, true) + d;
	n += din + nb * d + din * d;	// norms, biases, weights of the band split
	n += c->n_sources * (nb * mlp + in * 2 * din + 2 * din);
	return n;
}

int config_validate(const struct config *c, const char *name, char *err, size_t errlen)
{
	return validate(c, name, NULL, err, errlen);
}

/* ---- loading ---- */

static int parse(struct parser *p)
{
	int rc = ini_parse_stream(read_line, p, handle_key, p);
	if (rc > 0 && (!p->error_line || rc < p->error_line)) {
		p->error_line = 0;
		parser_fail(p, rc, "syntax error (expected [section] or key = value)");
	} else if (rc < 0 && !p->error_line) {
		parser_fail(p, 0, "out of memory reading the configuration");
	}
	if (p->error_line)
		return -1;
	return validate(p->c, p->name, p->key_line, p->err, p->errlen);
}

int config_load(struct config *c, const char *path, char *err, size_t errlen)
{
	struct parser p = { .c = c, .name = path, .err = err, .errlen = errlen };

	if (!(p.fp = fopen(path, "r"))) {
		set_error(err, errlen, path, 0, "%s", strerror(errno));
		return -1;
	}
	int rc = parse(&p);
	if (ferror(p.fp)) {
		set_error(err, errlen, path, 0, "read error: %s", strerror(errno));
		rc = -1;
	}
	fclose(p.fp);
	return rc;
}

int config_parse_string(struct config *c, const char *text, const char *name,
			char *err, size_t errlen)
{
	struct parser p = { .c = c, .name = name, .text = text ? text : "",
			    .err = err, .errlen = errlen };
	return parse(&p);
}

/* Starts from the defaults: a tool's -c FILE gives the whole configuration. */
void config_load_or_die(struct config *c, const char *path)
{
	char err[512];

	path = datafile_resolve(path, "configs", ".ini");	// -c base: configs/base.ini
	config_defaults(c);
	if (config_load(c, path, err, sizeof err))
		die("%s", err);
}

/* ---- writing ---- */

/* The shortest %g form that parse_float reads back as v: "0.15", not
 * "0.150000006"; 9 significant digits always suffice for a float. */
static void write_float(float v, FILE *fp)
{
	char buf[32];
	float back;

	for (int digits = 6; digits < 9; digits++) {
		snprintf(buf, sizeof buf, "%.*g", digits, v);
		if (!parse_float(buf, &back) && back == v) {
			fputs(buf, fp);
			return;
		}
	}
	fprintf(fp, "%.9g", v);
}

static void key_write(const struct config *c, const struct key *k, FILE *fp)
{
	const void *p = cfield(c, k);

	fprintf(fp, "%s = ", k->name);
	switch (k->type) {
	case KEY_INT:
		fprintf(fp, "%d", *(const int *)p);
		break;
	case KEY_INT64:
		fprintf(fp, "%" PRId64, *(const int64_t *)p);
		break;
	case KEY_UINT64:
		fprintf(fp, "%" PRIu64, *(const uint64_t *)p);
		break;
	case KEY_FLOAT:
		write_float(*(const float *)p, fp);
		break;
	case KEY_BOOL:
		fputs(*(const bool *)p ? "true" : "false", fp);
		break;
	case KEY_STRING:
		fputs(p, fp);
		break;
	case KEY_ENUM:
		fputs(k->choices[*(const enum loss_type *)p], fp);
		break;
	case KEY_FFN_LIST:
		for (int i = 0; i < c->n_ffn; i++)
			fprintf(fp, "%s%d", i ? "," : "", c->ffn_hidden_dim[i]);
		break;
	case KEY_SOURCES:
		for (int i = 0; i < c->n_sources; i++)
			fprintf(fp, "%s%s", i ? "," : "", c->sources[i]);
		break;
	case KEY_BANDS:
		if (!c->n_bands)
			fputs("paper", fp);
		for (int i = 0; i < c->n_bands; i++)
			fprintf(fp, "%s%d", i ? "," : "", c->band_width[i]);
		break;
	}
	fputc('\n', fp);
}

void config_write(const struct config *c, FILE *fp)
{
	for (int s = 0; sections[s]; s++) {
		fprintf(fp, "%s[%s]\n", s ? "\n" : "", sections[s]);
		for (int i = 0; i < NKEYS; i++)
			if (!strcmp(keys[i].section, sections[s]))
				key_write(c, &keys[i], fp);
	}
}

char *config_to_string(const struct config *c)
{
	char *text = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);

	if (!fp)
		die("open_memstream:");
	config_write(c, fp);
	if (fclose(fp))
		die("writing the configuration to memory:");
	return text;
}

/* ---- comparing ---- */

static bool key_equal(const struct config *a, const struct config *b, const struct key *k)
{
	const void *pa = cfield(a, k), *pb = cfield(b, k);

	switch (k->type) {
	case KEY_INT:
		return *(const int *)pa == *(const int *)pb;
	case KEY_INT64:
		return *(const int64_t *)pa == *(const int64_t *)pb;
	case KEY_UINT64:
		return *(const uint64_t *)pa == *(const uint64_t *)pb;
	case KEY_FLOAT:
		return *(const float *)pa == *(const float *)pb;
	case KEY_BOOL:
		return *(const bool *)pa == *(const bool *)pb;
	case KEY_STRING:
		return !strcmp(pa, pb);
	case KEY_ENUM:
		return *(const enum loss_type *)pa == *(const enum loss_type *)pb;
	case KEY_FFN_LIST:
		if (a->n_ffn != b->n_ffn)
			return false;
		for (int i = 0; i < a->n_ffn; i++)
			if (a->ffn_hidden_dim[i] != b->ffn_hidden_dim[i])
				return false;
		return true;
	case KEY_BANDS:
		if (a->n_bands != b->n_bands)
			return false;
		for (int i = 0; i < a->n_bands; i++)
			if (a->band_width[i] != b->band_width[i])
				return false;
		return true;
	case KEY_SOURCES:
		if (a->n_sources != b->n_sources)
			return false;
		for (int i = 0; i < a->n_sources; i++)
			if (strcmp(a->sources[i], b->sources[i]))
				return false;
		return true;
	}
	return false;
}

/* Compares what fixes the weights and their meaning; flash_attention (a
 * kernel choice) and dropout (training only) may differ. */
const char *config_model_diff(const struct config *a, const struct config *b)
{
	for (int i = 0; i < NKEYS; i++)
		if (!strcmp(keys[i].section, "model") && !keys[i].not_architecture &&
		    !key_equal(a, b, &keys[i]))
			return keys[i].name;
	return NULL;
}
