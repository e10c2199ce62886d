/* test_config.c: the INI loader of lib/config.c: defaults, the four
 * shipped configs, write/parse round trips, and every kind of error with
 * the file, line and key it must name. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "test.h"

static const char *root(void)
{
	const char *r = getenv("SEPNET_ROOT");
	return r && *r ? r : ".";
}

static int load_file(struct config *c, const char *rel, char *err, size_t errlen)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", root(), rel);
	config_defaults(c);
	return config_load(c, path, err, errlen);
}

static void test_defaults(void)
{
	struct config c;
	char err[256] = "";
	config_defaults(&c);
	CHECK(c.n_fft == 2048 && c.hop_length == 512, "n_fft %d hop %d", c.n_fft, c.hop_length);
	CHECK(c.n_sources == 4 && !strcmp(c.sources[0], "drums") &&
	      !strcmp(c.sources[3], "vocals"), "sources %d", c.n_sources);
	CHECK(c.sample_rate == 44100 && c.channels == 2, "sr %d ch %d", c.sample_rate, c.channels);
	CHECK(c.n_ffn == 2 && c.ffn_hidden_dim[0] == 384, "ffn %d", c.n_ffn);
	CHECK(c.max_bad_steps == 10, "max_bad_steps %d", c.max_bad_steps);
	CHECK(c.loss_type == LOSS_COMBINED, "loss %d", c.loss_type);
	CHECK_NEAR(c.grad_clip, 5, 0);
	CHECK_NEAR(c.l1_weight, 0.1f, 0);
	CHECK_NEAR(c.min_lr, 1e-7f, 0);
	CHECK(!strcmp(c.scheduler_type, "reducelronplateau"), "%s", c.scheduler_type);
	CHECK(!c.use_amp && !c.tf32, "amp and tf32 off by default");
	CHECK(config_freq_bins(&c) == 1025, "bins %d", config_freq_bins(&c));
	CHECK(config_validate(&c, "defaults", err, sizeof err) == 0, "%s", err);
}

static void test_shipped_configs(void)
{
	struct config c;
	char err[256] = "";

	CHECK(load_file(&c, "configs/tiny.ini", err, sizeof err) == 0, "%s", err);
	CHECK(c.n_fft == 512 && c.hop_length == 128 && c.n_layers == 2 && c.emb_dim == 32 &&
	      c.n_heads == 2 && c.attention_dim == 32 && c.ffn_hidden_dim[0] == 64 &&
	      c.segment_length == 44100 && c.batch_size == 4 && !c.use_amp &&
	      c.dropout == 0, "tiny.ini values");

	CHECK(load_file(&c, "configs/small.ini", err, sizeof err) == 0, "%s", err);
	CHECK(c.n_fft == 2048 && c.hop_length == 512 && c.n_layers == 6 && c.n_heads == 6 &&
	      c.attention_dim == 96 && c.n_ffn == 2 && c.ffn_hidden_dim[1] == 384 &&
	      c.batch_size == 24 && c.segment_length == 220500 && c.num_epochs == 150 &&
	      c.use_amp && c.flash_attention && c.tf32 && c.persistent_workers &&
	      c.patience == 5, "small.ini values");
	CHECK_NEAR(c.learning_rate, 0.001f, 0);
	CHECK_NEAR(c.dropout, 0.1f, 0);

	CHECK(load_file(&c, "configs/base.ini", err, sizeof err) == 0, "%s", err);
	CHECK(c.n_fft == 4096 && c.hop_length == 1024 && c.n_layers == 8 && c.emb_dim == 192 &&
	      c.n_heads == 8 && c.ffn_hidden_dim[0] == 768 && c.batch_size == 12 &&
	      c.segment_length == 441000 && c.num_epochs == 300 && c.patience == 8,
	      "base.ini values");
	CHECK_NEAR(c.learning_rate, 0.0005f, 0);

	CHECK(load_file(&c, "configs/xlarge.ini", err, sizeof err) == 0, "%s", err);
	CHECK(c.n_layers == 12 && c.emb_dim == 256 && c.n_heads == 16 && c.attention_dim == 256 &&
	      c.ffn_hidden_dim[0] == 1024 && c.batch_size == 8 && c.segment_length == 661500 &&
	      c.num_epochs == 400 && c.gradient_accum == 2 && c.num_workers == 12 &&
	      c.patience == 10 && c.warmup_steps == 1000 && !strcmp(c.amp_dtype, "bfloat16"),
	      "xlarge.ini values");
	CHECK_NEAR(c.dropout, 0.15f, 0);
	CHECK_NEAR(c.spectral_weight, 0.15f, 0);
	CHECK_NEAR(c.min_lr, 1e-8f, 0);
}

/* write, parse onto fresh defaults, compare the structs and the texts */
static void check_round_trip(const struct config *c, const char *what)
{
	struct config back;
	char err[256] = "";
	char *text = config_to_string(c);

	config_defaults(&back);
	int rc = config_parse_string(&back, text, what, err, sizeof err);
	CHECK(rc == 0, "%s: %s", what, err);
	CHECK(!memcmp(c, &back, sizeof back), "%s: parse(write(c)) != c", what);
	CHECK(config_model_diff(c, &back) == NULL, "%s: model differs", what);
	char *again = config_to_string(&back);
	CHECK(!strcmp(text, again), "%s: second write differs", what);
	free(again);
	free(text);
}

static void test_round_trip(void)
{
	static const char *const files[] = {
		"configs/tiny.ini", "configs/small.ini", "configs/base.ini", "configs/xlarge.ini",
		"configs/bs-tiny.ini", "configs/bs-small.ini", "configs/bs-base.ini",
	};
	struct config c;
	char err[256] = "";

	for (int i = 0; i < 7; i++) {
		CHECK(load_file(&c, files[i], err, sizeof err) == 0, "%s", err);
		check_round_trip(&c, files[i]);
	}
	config_defaults(&c);
	check_round_trip(&c, "defaults");

	/* values with no short decimal form and every list and enum */
	c.learning_rate = 1.0f / 3;
	c.dropout = 0.123456789f;
	c.min_lr = 1.17549435e-38f;	/* smallest normal float */
	c.weight_decay = 3.4e38f;
	c.seed = UINT64_MAX;
	c.segment_length = INT64_C(1) << 27;	/* the limit */
	c.batch_size = 16;
	c.n_ffn = CONFIG_MAX_FFN;
	for (int i = 0; i < CONFIG_MAX_FFN; i++)
		c.ffn_hidden_dim[i] = 100 + i;
	c.n_sources = 2;
	memset(c.sources, 0, sizeof c.sources);
	strcpy(c.sources[0], "speech");
	strcpy(c.sources[1], "music_bed");
	c.loss_type = LOSS_SISDR;
	strcpy(c.amp_dtype, "float16");
	c.use_amp = c.tf32 = true;
	CHECK(config_validate(&c, "edited", err, sizeof err) == 0, "%s", err);
	check_round_trip(&c, "edited");

	/* the shortest decimal form must still be exact: random float bits */
	uint32_t state = 12345;
	int bad = 0;
	for (int i = 0; i < 2000; i++) {
		state = state * 1664525u + 1013904223u;	/* LCG */
		uint32_t bits = state & 0x7fffffffu;	/* positive */
		float v;
		memcpy(&v, &bits, sizeof v);
		if (!isfinite(v) || v == 0)
			continue;
		config_defaults(&c);
		c.weight_decay = v;
		char *text = config_to_string(&c);
		struct config back;
		config_defaults(&back);
		if (config_parse_string(&back, text, "random", err, sizeof err) ||
		    memcmp(&back.weight_decay, &v, sizeof v))
			bad++;
		free(text);
	}
	CHECK(bad == 0, "%d random floats did not round-trip", bad);
}

static void test_overlay_and_forms(void)
{
	struct config c;
	char err[256] = "";

	config_defaults(&c);
	int rc = config_parse_string(&c,
		"# comment\n"
		"[model]\r\n"
		"n_heads = 4   ; inline comment\n"
		"flash_attention = ON\n"
		"ffn_hidden_dim = 128 , 256,512\n"
		"sources = vocals, accompaniment\n"
		"[train]\n"
		"use_amp = no\n"
		"seed = 18446744073709551615\n"
		"[hardware]\n"
		"tf32 = 1\n"
		"[loss]\n"
		"loss_type = l1\n", "mem", err, sizeof err);
	CHECK(rc == 0, "%s", err);
	CHECK(c.n_heads == 4 && c.flash_attention && c.n_ffn == 3 && c.ffn_hidden_dim[2] == 512 &&
	      c.n_sources == 2 && !strcmp(c.sources[1], "accompaniment") && !c.use_amp &&
	      c.seed == UINT64_MAX && c.tf32 && c.loss_type == LOSS_L1, "parsed values");
	CHECK(c.n_fft == 2048 && c.batch_size == 24, "defaults kept under the overlay");
	CHECK(config_parse_string(&c, "", "empty", err, sizeof err) == 0, "%s", err);
}

static bool has(const char *s, const char *part)
{
	return strstr(s, part) != NULL;
}

struct bad {
	const char *text;
	const char *where;	/* "bad.ini:LINE: " */
	const char *key;	/* what names the key or section */
	const char *why;	/* a word of the reason */
};

static void test_errors(void)
{
	static const struct bad cases[] = {
		{ "[model]\nn_fft = 512\n[modle]\nn_fft = 512\n", "bad.ini:3: ", "[modle]", "unknown section" },
		{ "[model]\n[extra]\n[train]\n", "bad.ini:2: ", "[extra]", "unknown section" },
		{ "[model]\nn_fft = 512\nnfft = 512\n", "bad.ini:3: ", "[model] nfft", "unknown key" },
		{ "[train]\nn_fft = 512\n", "bad.ini:2: ", "[train] n_fft", "unknown key" },
		{ "[model]\nn_fft = 512\n\nn_fft = 1024\n", "bad.ini:4: ", "[model] n_fft", "duplicate" },
		{ "[model]\nn_fft = 5l2\n", "bad.ini:2: ", "[model] n_fft", "malformed integer" },
		{ "[model]\nn_fft = 512.0\n", "bad.ini:2: ", "[model] n_fft", "malformed integer" },
		{ "[model]\nn_fft = 99999999999\n", "bad.ini:2: ", "[model] n_fft", "malformed integer" },
		{ "[model]\nn_fft =\n", "bad.ini:2: ", "[model] n_fft", "empty value" },
		{ "\n[train]\nlearning_rate = 1e-3x\n", "bad.ini:3: ", "[train] learning_rate", "malformed number" },
		{ "[train]\nlearning_rate = nan\n", "bad.ini:2: ", "[train] learning_rate", "malformed number" },
		{ "[train]\nlearning_rate = 0\n", "bad.ini:2: ", "[train] learning_rate", "positive" },
		{ "[train]\nbatch_size = -4\n", "bad.ini:2: ", "[train] batch_size", "positive" },
		{ "[train]\nnum_workers = -1\n", "bad.ini:2: ", "[train] num_workers", "negative" },
		{ "[train]\nseed = -1\n", "bad.ini:2: ", "[train] seed", "malformed" },
		{ "[train]\nuse_amp = maybe\n", "bad.ini:2: ", "[train] use_amp", "boolean" },
		{ "[train]\namp_dtype = float8\n", "bad.ini:2: ", "[train] amp_dtype", "bfloat16" },
		{ "[train]\nema_decay = 1\n", "bad.ini:2: ", "[train] ema_decay", "[0, 1)" },
		{ "[model]\ndropout = 1.0\n", "bad.ini:2: ", "[model] dropout", "[0, 1)" },
		{ "[model]\nchannels = 1\n", "bad.ini:2: ", "[model] channels", "2" },
		{ "[scheduler]\nfactor = 1\n", "bad.ini:2: ", "[scheduler] factor", "(0, 1)" },
		{ "[scheduler]\ntype = cosine\n", "bad.ini:2: ", "[scheduler] type", "reducelronplateau" },
		{ "[loss]\nloss_type = mse\n", "bad.ini:2: ", "[loss] loss_type", "combined" },
		{ "[model]\nffn_hidden_dim =\n", "bad.ini:2: ", "[model] ffn_hidden_dim", "empty list" },
		{ "[model]\nffn_hidden_dim = 64,,64\n", "bad.ini:2: ", "[model] ffn_hidden_dim", "empty item" },
		{ "[model]\nffn_hidden_dim = 64,0\n", "bad.ini:2: ", "[model] ffn_hidden_dim", "positive" },
		{ "[model]\nffn_hidden_dim = 1,2,3,4,5,6,7,8,9\n", "bad.ini:2: ", "[model] ffn_hidden_dim", "too many" },
		{ "[model]\nsources =\n", "bad.ini:2: ", "[model] sources", "empty list" },
		{ "[model]\nsources = bass,bass\n", "bad.ini:2: ", "[model] sources", "twice" },
		{ "[model]\nsources = a b\n", "bad.ini:2: ", "[model] sources", "bad name" },
		/* consistency: the line of the key at fault */
		{ "[model]\nattention_dim = 96\nn_heads = 5\n", "bad.ini:3: ", "[model] n_heads", "not divisible" },
		{ "[model]\nattention_dim = 100\n", "bad.ini:2: ", "[model] attention_dim", "not divisible" },
		{ "[model]\nn_heads = 4\nattention_dim = 36\n", "bad.ini:2: ", "[model] n_heads", "odd" },
		{ "[model]\nn_fft = 512\nhop_length = 1024\n", "bad.ini:3: ", "[model] hop_length", "exceeds n_fft" },
		{ "[model]\nn_fft = 256\n", "bad.ini:2: ", "[model] n_fft", "exceeds n_fft" },
		{ "[model]\nn_fft = 511\nhop_length = 128\n", "bad.ini:2: ", "[model] n_fft", "odd" },
		/* syntax */
		{ "n_fft = 512\n", "bad.ini:1: ", "n_fft", "outside" },
		{ "[model]\nn_fft = 512\nhop_length\n", "bad.ini:3: ", "", "syntax error" },
		{ "[model\nn_fft = 512\n", "bad.ini:1: ", "", "syntax error" },
		{ "[model]\nn_fft = 512\n  hop_length = 128\n", "bad.ini:3: ", "", "indented" },
	};
	char err[256];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct config c;
		config_defaults(&c);
		err[0] = '\0';
		int rc = config_parse_string(&c, cases[i].text, "bad.ini", err, sizeof err);
		CHECK(rc == -1, "case %zu returned %d", i, rc);
		CHECK(!strncmp(err, cases[i].where, strlen(cases[i].where)) &&
		      has(err, cases[i].key) && has(err, cases[i].why) && !strchr(err, '\n'),
		      "case %zu: '%s' wants '%s' '%s' '%s'", i, err, cases[i].where,
		      cases[i].key, cases[i].why);
	}
}

static void test_long_line(void)
{
	struct config c;
	char err[256] = "", text[600];

	snprintf(text, sizeof text, "[model]\n; %0400d\nn_fft = 512\n", 0);
	config_defaults(&c);
	CHECK(config_parse_string(&c, text, "long.ini", err, sizeof err) == -1 &&
	      has(err, "long.ini:2: ") && has(err, "longer than"), "%s", err);
}

static void test_fixture_files(void)
{
	static const struct { const char *file, *where, *key; } cases[] = {
		{ "unknown-key.ini", "unknown-key.ini:5: ", "[model] n_head: unknown key" },
		{ "bad-number.ini", "bad-number.ini:4: ", "[model] hop_length: malformed" },
		{ "heads-indivisible.ini", "heads-indivisible.ini:6: ", "[model] n_heads: " },
		{ "odd-head-size.ini", "odd-head-size.ini:5: ", "[model] n_heads: " },
	};
	char path[512], err[512];

	for (int i = 0; i < 4; i++) {
		struct config c;
		snprintf(path, sizeof path, "tests/fixtures/configs/%s", cases[i].file);
		err[0] = '\0';
		CHECK(load_file(&c, path, err, sizeof err) == -1, "%s loaded", cases[i].file);
		CHECK(has(err, cases[i].where) && has(err, cases[i].key), "%s: '%s'",
		      cases[i].file, err);
	}
	struct config c;
	err[0] = '\0';
	CHECK(load_file(&c, "configs/no-such.ini", err, sizeof err) == -1 &&
	      has(err, "configs/no-such.ini: ") && has(err, "No such file"), "%s", err);
}

static void test_validate_struct(void)
{
	struct config c;
	char err[256] = "";

	config_defaults(&c);
	c.n_heads = 5;
	CHECK(config_validate(&c, "edited", err, sizeof err) == -1 &&
	      !strncmp(err, "edited: [model] n_heads: ", 25), "%s", err);
	config_defaults(&c);
	c.factor = 0;
	CHECK(config_validate(&c, "edited", err, sizeof err) == -1 &&
	      has(err, "[scheduler] factor"), "%s", err);
	config_defaults(&c);
	c.n_ffn = 0;
	CHECK(config_validate(&c, "edited", err, sizeof err) == -1 &&
	      has(err, "ffn_hidden_dim"), "%s", err);
}

/* The band-split model's bands: the paper's at 1025 bins are the
 * package's DEFAULT_FREQS_PER_BANDS; scaled, they cover every bin and none
 * is empty; widths round-trip; the parameter count is the model's. */
static void test_bands(void)
{
	static const int paper[] = {	/* lucidrains/BS-RoFormer, bs_roformer.py */
		2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
		4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
		12, 12, 12, 12, 12, 12, 12, 12, 24, 24, 24, 24, 24, 24, 24, 24,
		48, 48, 48, 48, 48, 48, 48, 48, 128, 129,
	};
	struct config c;
	char err[256] = "";
	int starts[CONFIG_MAX_BANDS + 1];

	config_defaults(&c);
	c.n_fft = 2048;
	int n = config_bands(&c, starts);
	CHECK(n == 62, "paper at 1025 bins: %d bands", n);
	for (int j = 0; j < n && j < 62; j++)
		CHECK(starts[j + 1] - starts[j] == paper[j], "band %d: %d bins, not %d", j,
		      starts[j + 1] - starts[j], paper[j]);
	static const int ffts[] = { 256, 512, 1024, 4096, 8192 }, counts[] = { 38, 50, 62, 62, 62 };
	for (int i = 0; i < 5; i++) {
		c.n_fft = ffts[i];
		n = config_bands(&c, starts);
		CHECK(n == counts[i], "n_fft %d: %d bands, not %d", ffts[i], n, counts[i]);
		CHECK(starts[0] == 0 && starts[n] == config_freq_bins(&c), "n_fft %d: bins", ffts[i]);
		for (int j = 0; j < n; j++)
			CHECK(starts[j + 1] > starts[j], "n_fft %d: band %d empty", ffts[i], j);
	}

	CHECK(load_file(&c, "configs/bs-tiny.ini", err, sizeof err) == 0, "%s", err);
	CHECK(!strcmp(c.arch, "bsroformer") && c.n_bands == 12 && c.time_depth == 1 &&
	      c.freq_depth == 1 && c.mask_depth == 2, "bs-tiny.ini values");
	CHECK(config_param_count(&c) == 1348300, "bs-tiny: %lld parameters",
	      (long long)config_param_count(&c));
	c.n_bands = 4;
	memset(c.band_width, 0, sizeof c.band_width);	// as the parser leaves them
	memcpy(c.band_width, (int[]){ 1, 64, 64, 128 }, 4 * sizeof(int));
	c.time_depth = 3, c.freq_depth = 2, c.mask_depth = 1;
	CHECK(config_validate(&c, "widths", err, sizeof err) == 0, "%s", err);
	CHECK(config_bands(&c, starts) == 4 && starts[1] == 1 && starts[4] == 257, "widths");
	check_round_trip(&c, "widths");
	CHECK(config_model_diff(&c, &(struct config){ 0 }) != NULL, "diff");
	struct config d = c;
	d.band_width[3] = 127, d.band_width[2] = 65;
	CHECK(config_model_diff(&c, &d) && !strcmp(config_model_diff(&c, &d), "bands"), "bands diff");
	d = c;
	d.n_bands = 0;
	CHECK(config_model_diff(&c, &d) && !strcmp(config_model_diff(&c, &d), "bands"),
	      "paper vs widths");
	c.band_width[3] = 127;
	CHECK(config_validate(&c, "short", err, sizeof err) == -1 &&
	      strstr(err, "add up to 256 bins, but n_fft 512 has 257"), "%s", err);
}

static void test_model_diff(void)
{
	struct config a, b;

	config_defaults(&a);
	b = a;
	CHECK(config_model_diff(&a, &b) == NULL, "equal configs differ");
	b.dropout = 0.3f;
	b.flash_attention = true;
	b.learning_rate = 1;
	CHECK(config_model_diff(&a, &b) == NULL, "dropout/flash/training keys matter");
	b.n_heads = 4;
	const char *d = config_model_diff(&a, &b);
	CHECK(d && !strcmp(d, "n_heads"), "%s", d ? d : "(null)");
	b = a;
	b.ffn_hidden_dim[1] = 385;
	d = config_model_diff(&a, &b);
	CHECK(d && !strcmp(d, "ffn_hidden_dim"), "%s", d ? d : "(null)");
	b = a;
	strcpy(b.sources[2], "piano");
	d = config_model_diff(&a, &b);
	CHECK(d && !strcmp(d, "sources"), "%s", d ? d : "(null)");
	b = a;
	b.sample_rate = 48000;
	d = config_model_diff(&a, &b);
	CHECK(d && !strcmp(d, "sample_rate"), "%s", d ? d : "(null)");
}

int main(void)
{
	RUN(test_defaults);
	RUN(test_shipped_configs);
	RUN(test_round_trip);
	RUN(test_overlay_and_forms);
	RUN(test_errors);
	RUN(test_long_line);
	RUN(test_fixture_files);
	RUN(test_validate_struct);
	RUN(test_model_diff);
	RUN(test_bands);
	return test_summary();
}
