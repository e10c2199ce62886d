/* config.h: model and training configuration (docs/DESIGN.md §9), INI via inih.
 *
 * config_defaults() fills every key; config_load() overlays a file and
 * validates.  Errors name file, line and key: "base.ini:12: [model]
 * n_heads: ..." and make the loader return -1 with the message in err. */
#ifndef SEPNET_CONFIG_H
#define SEPNET_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_MAX_FFN 8
/* the largest model (8 GiB of f32 weights) and micro-batch (8 GiB of f32
 * samples a stem and channel) a config may describe; each key has its own
 * limit too (man sepnet-train, CONFIGURATION) */
#define CONFIG_MAX_PARAMS (INT64_C(1) << 31)
#define CONFIG_MAX_BATCH_SAMPLES (INT64_C(1) << 31)
#define CONFIG_MAX_SOURCES 8
#define CONFIG_NAME_LEN 32
#define CONFIG_MAX_BANDS 64

/* The architectures ([model] arch), one X(name) each: lib/model/NAME.c
 * defines arch_NAME (model.h), and the config accepts the name. */
#define CONFIG_ARCHS(X) X(transformer) X(bsroformer)

enum loss_type {
	LOSS_COMBINED,
	LOSS_L1,
	LOSS_SISDR,
};

struct config {
	/* [model] */
	char arch[CONFIG_NAME_LEN];		/* transformer | bsroformer */
	int n_fft;
	int hop_length;
	int n_layers;
	int emb_dim;
	int n_heads;
	int attention_dim;
	int n_ffn;				/* entries in ffn_hidden_dim */
	int ffn_hidden_dim[CONFIG_MAX_FFN];
	bool flash_attention;
	float dropout;
	int n_sources;
	char sources[CONFIG_MAX_SOURCES][CONFIG_NAME_LEN];	/* drums,bass,other,vocals */
	int sample_rate;
	int channels;				/* 2; not a key of the published configs */
	/* bsroformer only (docs/DESIGN.md §4) */
	int n_bands;				/* 0: the paper's bands scaled to n_fft */
	int band_width[CONFIG_MAX_BANDS];	/* bins of each band, low to high */
	int time_depth, freq_depth;		/* blocks along time, along bands, per layer */
	int mask_depth;				/* linear layers of each mask head */

	/* [train] */
	int batch_size;
	int64_t segment_length;			/* samples */
	int num_epochs;
	float learning_rate;
	bool use_amp;
	char amp_dtype[CONFIG_NAME_LEN];	/* bfloat16 | float16 */
	int num_workers;
	int gradient_accum;
	float weight_decay;
	float grad_clip;
	float ema_decay;
	int64_t epoch_size;			/* 0: as many segments as the tracks hold */
	uint64_t seed;
	int max_bad_steps;

	/* [loss] */
	enum loss_type loss_type;
	float si_sdr_weight;
	float l1_weight;
	float spectral_weight;

	/* [scheduler] */
	char scheduler_type[CONFIG_NAME_LEN];	/* reducelronplateau */
	int patience;
	float factor;
	float min_lr;
	int warmup_steps;

	/* [hardware] */
	bool tf32;
	bool cudnn_benchmark;
	bool fused_optimizer;
	bool persistent_workers;
};

void config_defaults(struct config *c);
/* 0 ok; -1 with a one-line message in err ("FILE:LINE: [section] key: why"). */
int config_load(struct config *c, const char *path, char *err, size_t errlen);
/* The same for INI text held in memory (a checkpoint's metadata); name is
 * used in messages. */
int config_parse_string(struct config *c, const char *text, const char *name,
			char *err, size_t errlen);
/* Dies with the message. */
void config_load_or_die(struct config *c, const char *path);
/* Checks consistency (A % h, even head size, hop <= n_fft, ...). */
int config_validate(const struct config *c, const char *name, char *err, size_t errlen);
/* Every key, as INI text that config_parse_string reads back identically. */
void config_write(const struct config *c, FILE *fp);
char *config_to_string(const struct config *c);	/* malloc'd */
/* Field-by-field comparison of the [model] section (what a checkpoint must
 * match); returns NULL when equal or the name of the first differing key. */
const char *config_model_diff(const struct config *a, const struct config *b);

int config_freq_bins(const struct config *c);	/* n_fft / 2 + 1 */
/* The band-split model's bands: starts[0..n] (n + 1 entries: each band's
 * first bin, then F), n returned: the config's widths, or the paper's
 * (BS-RoFormer's 62 bands for 1025 bins) with their edges scaled to F and
 * bands that vanish dropped. */
int config_bands(const struct config *c, int starts[CONFIG_MAX_BANDS + 1]);
/* The model's parameter count (docs/DESIGN.md §4's tensors), from the config alone:
 * checked against a checkpoint's tensors before a model is built. */
int64_t config_param_count(const struct config *c);

#endif
