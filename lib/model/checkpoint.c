/* checkpoint.c: safetensors checkpoints of the model (see checkpoint.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "safetensors.h"
#include "util.h"

#define CHECKPOINT_FORMAT "sepnet"

static void save(const char *path, const struct model *m, const real *weights,
		 enum safetensors_dtype store, const float *adam_m, const float *adam_v, const struct checkpoint_kv *extra,
		 int n_extra)
{
	struct safetensors_writer *w = safetensors_writer_create();
	char *config = config_to_string(&m->cfg), count[32];
	snprintf(count, sizeof count, "%zu", m->n_params);
	safetensors_writer_set_meta(w, "format", CHECKPOINT_FORMAT);
	safetensors_writer_set_meta(w, "config", config);
	safetensors_writer_set_meta(w, "n_params", count);
	for (int i = 0; i < n_extra; i++)
		safetensors_writer_set_meta(w, extra[i].key, extra[i].value);
	safetensors_writer_add_views(w, NULL, m->tensors, m->n_tensors, weights, store);
	if (adam_m && adam_v) {
		safetensors_writer_add_views(w, "opt.m.", m->tensors, m->n_tensors, adam_m, SAFETENSORS_F32);
		safetensors_writer_add_views(w, "opt.v.", m->tensors, m->n_tensors, adam_v, SAFETENSORS_F32);
	}
	safetensors_writer_write_or_die(w, path);
	safetensors_writer_free(w);
	free(config);
}

void checkpoint_save(const char *path, const struct model *m, const float *adam_m,
		     const float *adam_v, const struct checkpoint_kv *extra, int n_extra)
{
	save(path, m, m->params, SAFETENSORS_F32, adam_m, adam_v, extra, n_extra);
}

void checkpoint_save_weights(const char *path, const struct model *m, const real *weights,
			     const struct checkpoint_kv *extra, int n_extra)
{
	save(path, m, weights, SAFETENSORS_F32, NULL, NULL, extra, n_extra);
}

void checkpoint_export(const char *path, const struct model *m, enum safetensors_dtype store)
{
	if (store != SAFETENSORS_F32 && store != SAFETENSORS_F16 && store != SAFETENSORS_BF16)
		die("%s: parameters are stored as F32, F16 or BF16, not %s", path,
		    safetensors_dtype_name(store));
	save(path, m, m->params, store, NULL, NULL, NULL, 0);
}

int checkpoint_param_dtype(const char *path, const char **name, char *err, size_t errlen)
{
	struct safetensors_file f;
	if (safetensors_open(&f, path, err, errlen))
		return -1;
	int first = -1;
	*name = NULL;
	for (int i = 0; i < f.n_tensors; i++) {
		const struct safetensors_tensor *t = &f.tensors[i];
		if (!strncmp(t->name, "opt.", 4))
			continue;
		if (first < 0)
			first = (int)t->dtype;
		else if (first != (int)t->dtype)
			*name = "mixed";
	}
	if (first < 0) {
		snprintf(err, errlen, "%s: no parameters", path);
		safetensors_close(&f);
		return -1;
	}
	if (!*name)
		*name = safetensors_dtype_name((enum safetensors_dtype)first);
	safetensors_close(&f);
	return 0;
}

static int config_from_file(const struct safetensors_file *f, struct config *cfg, char *err,
			    size_t errlen)
{
	const char *text = safetensors_meta_get(f, "config");
	if (!text) {
		snprintf(err, errlen, "%s: not a sepnet checkpoint (no config in the metadata)", f->path);
		return -1;
	}
	config_defaults(cfg);
	char name[512];
	snprintf(name, sizeof name, "%s: config", f->path);
	return config_parse_string(cfg, text, name, err, errlen);
}

/* The config's parameter count against the model tensors the file holds
 * (not the moments or EMA), before anything is sized from the config: a
 * small file cannot make a tool allocate a large model. */
static int check_param_count(const struct safetensors_file *f, const struct config *cfg,
			     char *err, size_t errlen)
{
	int64_t held = 0;
	for (int i = 0; i < f->n_tensors; i++) {
		const char *n = f->tensors[i].name;
		if (strncmp(n, "opt.", 4) && strncmp(n, "ema.", 4))
			held += f->tensors[i].numel;
	}
	int64_t want = config_param_count(cfg);
	if (held != want) {
		snprintf(err, errlen, "%s: its config makes a model of %lld parameters, its tensors "
			 "hold %lld", f->path, (long long)want, (long long)held);
		return -1;
	}
	return 0;
}

int checkpoint_read_config(const char *path, struct config *cfg, char *err, size_t errlen)
{
	struct safetensors_file f;
	if (safetensors_open(&f, path, err, errlen))
		return -1;
	int rc = config_from_file(&f, cfg, err, errlen);
	if (!rc)
		rc = check_param_count(&f, cfg, err, errlen);
	safetensors_close(&f);
	return rc;
}

/* The model's weights as they lie in f's mapping, for the model to read
 * in place: every model tensor F32 (little-endian, as the host), in the
 * model's order one after the other as in its flat buffer, the first
 * float-aligned; NULL otherwise (a file sepnet did not write, F16 or BF16
 * storage) */
static const real *weights_in_place(const struct safetensors_file *f, const struct model *m)
{
#ifdef SEPNET_DOUBLE
	(void)f, (void)m;
	return NULL;	// the gradient checks' doubles are not the file's floats
#else
	if (!f->mapped || m->n_tensors == 0)
		return NULL;
	const char *base = NULL;
	for (int i = 0; i < m->n_tensors; i++) {
		const struct safetensors_view *v = &m->tensors[i];
		const struct safetensors_tensor *t = safetensors_find(f, v->name);
		if (!t || t->dtype != SAFETENSORS_F32 || t->numel != safetensors_view_numel(v))
			return NULL;
		if (i == 0)
			base = (const char *)t->data - v->offset * sizeof(float);
		if ((const char *)t->data != base + v->offset * sizeof(float))
			return NULL;
	}
	if ((uintptr_t)base % _Alignof(float))
		return NULL;
	return (const real *)base;
#endif
}

/* checkpoint_load; with `in_place`, the weights are read where the file's
 * mapping holds them when they lie there as the model's buffer would
 * (m->w points there, the file stays open with the model). */
static int load(struct model *m, const char *path, float *adam_m, float *adam_v, bool in_place,
		char *err, size_t errlen)
{
	struct safetensors_file *f = xcalloc(1, sizeof *f);
	struct config cfg;
	if (safetensors_open(f, path, err, errlen)) {
		free(f);
		return -1;
	}
	int rc = -1;
	if (config_from_file(f, &cfg, err, errlen))
		goto out;
	const char *diff = config_model_diff(&cfg, &m->cfg);
	if (diff) {
		snprintf(err, errlen, "%s: config key %s differs from the model's", path, diff);
		goto out;
	}
	/* a training checkpoint also holds the moments and, with EMA on, the
	 * averaged weights (sepnet-train's last.safetensors): the model is the
	 * raw weights; best.safetensors holds the EMA ones as its model */
	static const char *const prefixes[] = { "", "opt.m.", "opt.v.", "ema." };
	if (safetensors_check_names(f, prefixes, 4, m->tensors, m->n_tensors, err, errlen))
		goto out;
	const real *mapped = in_place ? weights_in_place(f, m) : NULL;
	const real *w = mapped;
	if (!mapped) {
		if (safetensors_read_views(f, NULL, m->tensors, m->n_tensors, m->params, NULL, err,
					   errlen))
			goto out;
		w = m->params;
	}
	int64_t bad = find_nonfinite(w, m->n_params);
	if (bad >= 0) {	// the view that holds it, for the message
		int i = 0;
		while (i + 1 < m->n_tensors && (int64_t)m->tensors[i + 1].offset <= bad)
			i++;
		snprintf(err, errlen, "%s: tensor %s holds NaN or infinity", path, m->tensors[i].name);
		goto out;
	}
	if (adam_m && adam_v &&
	    (safetensors_read_views(f, "opt.m.", m->tensors, m->n_tensors, adam_m, NULL, err, errlen) ||
	     safetensors_read_views(f, "opt.v.", m->tensors, m->n_tensors, adam_v, NULL, err, errlen)))
		goto out;
	if (mapped) {
		m->weights_file = f;
		model_use_weights(m, (real *)mapped);	// read only: the mapping is PROT_READ
		return 0;
	}
	model_upload(m);
	rc = 0;
out:
	safetensors_close(f);
	free(f);
	return rc;
}

int checkpoint_load(struct model *m, const char *path, float *adam_m, float *adam_v,
		    char *err, size_t errlen)
{
	return load(m, path, adam_m, adam_v, false, err, errlen);
}

static struct model *open_model(const char *path, const struct backend *be, int max_batch,
				int max_frames, bool training, bool in_place)
{
	struct config cfg;
	char err[1024];
	if (checkpoint_read_config(path, &cfg, err, sizeof err))
		die("%s", err);
	if (max_frames <= 0)
		max_frames = model_segment_frames(&cfg);
	struct model *m = model_create(&cfg, be, max_batch, max_frames, training);
	if (load(m, path, NULL, NULL, in_place, err, sizeof err))
		die("%s", err);
	return m;
}

struct model *checkpoint_open_model(const char *path, const struct backend *be, int max_batch,
				    int max_frames, bool training)
{
	return open_model(path, be, max_batch, max_frames, training, false);
}

struct model *checkpoint_map_model(const char *path, const struct backend *be, int max_batch)
{
	return open_model(path, be, max_batch, 0, false, be->host);
}
