/* model.c: the parts of a model that every architecture shares (model.h):
 * the parameter table and its buffers on the backend, host copies, and the
 * dispatch to the architecture's forward and backward. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "util.h"

#define ARCH_DECLARE(name) extern const struct arch arch_##name;
CONFIG_ARCHS(ARCH_DECLARE)
#define ARCH_ENTRY(name) &arch_##name,
static const struct arch *const archs[] = { CONFIG_ARCHS(ARCH_ENTRY) };

const struct arch *arch_find(const char *name)
{
	for (size_t i = 0; i < sizeof archs / sizeof *archs; i++)
		if (!strcmp(archs[i]->name, name))
			return archs[i];
	return NULL;
}

void model_tensor_add(struct model *m, int ndim, int64_t d0, int64_t d1, const char *fmt, ...)
{
	char name[128];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(name, sizeof name, fmt, ap);
	va_end(ap);
	m->tensors = xrealloc(m->tensors, (m->n_tensors + 1) * sizeof *m->tensors);
	struct safetensors_view *v = &m->tensors[m->n_tensors++];
	memset(v, 0, sizeof *v);
	v->name = xstrdup(name);
	v->ndim = ndim;
	v->shape[0] = d0;
	v->shape[1] = d1;
	v->offset = m->n_params;
	m->n_params += ndim == 1 ? (size_t)d0 : (size_t)d0 * d1;
}

size_t model_tensor_offset(const struct model *m, const char *name)
{
	for (int k = 0; k < m->n_tensors; k++)
		if (!strcmp(m->tensors[k].name, name))
			return m->tensors[k].offset;
	die("model: no tensor %s", name);
}

struct model *model_create(const struct config *cfg, const struct backend *be, int max_batch,
			   int max_frames, bool training)
{
	if (max_batch < 1 || max_frames < 1)
		die("model_create: batch %d and frames %d must be positive", max_batch, max_frames);
	const struct arch *arch = arch_find(cfg->arch);
	if (!arch)
		die("model_create: no architecture '%s'", cfg->arch);
	struct model *m = xcalloc(1, sizeof *m);
	m->cfg = *cfg;
	m->be = be;
	m->arch = arch;
	m->C = cfg->channels;
	m->F = cfg->n_fft / 2 + 1;
	m->S = cfg->n_sources;
	m->Din = 2 * m->C * m->F;
	m->Dout = m->S * 2 * m->C * m->F;
	m->max_batch = max_batch;
	m->max_frames = max_frames;
	m->training = training;
	m->dropout_active = training;
	m->example_stride = 1;
	be->set_precision(cfg->use_amp ? BACKEND_BF16 : cfg->tf32 ? BACKEND_TF32 : BACKEND_F32);

	arch->tensors(m);
	size_t bytes = m->n_params * sizeof(real);
	m->own_w = be->alloc(bytes);
	m->w = m->own_w;
	m->params = be->host ? m->own_w : xcalloc(m->n_params, sizeof(real));
	if (training) {
		m->grads = be->alloc(bytes);
		be->zero(m->grads, bytes);	// touched now, as the arena (arena_alloc)
	}
	m->arch_state = arch->create(m);
	return m;
}

static void thaw(struct model *m)
{
	if (m->frozen && m->be->thaw)
		m->be->thaw(m->frozen);
	m->frozen = NULL;
}

/* weights read in place from a checkpoint's mapping: closed, and (repoint)
 * m's own weights read again */
static void unmap(struct model *m, bool repoint)
{
	if (!m->weights_file)
		return;
	if (repoint && m->w != m->own_w)
		model_use_weights(m, NULL);
	safetensors_close(m->weights_file);
	free(m->weights_file);
	m->weights_file = NULL;
}

void model_freeze(struct model *m)
{
	if (m->frozen || !m->be->freeze)
		return;
	m->be->freeze(m->w, m->n_params * sizeof(real));
	m->frozen = m->w;
}

void model_free(struct model *m)
{
	if (!m)
		return;
	thaw(m);
	m->arch->free(m, m->arch_state);
	for (int i = 0; i < m->n_tensors; i++)
		free((char *)m->tensors[i].name);
	free(m->tensors);
	if (m->params != m->own_w)
		free(m->params);
	m->be->free(m->own_w);
	unmap(m, false);	// the architecture's state is gone
	if (m->grads)
		m->be->free(m->grads);
	free(m);
}

void model_init(struct model *m, uint64_t seed)
{
	m->arch->init(m, seed);
	model_upload(m);
}

void model_upload(struct model *m)
{
	thaw(m);
	unmap(m, true);	// params are written: they are the weights again
	if (m->params != m->own_w)
		m->be->upload(m->own_w, m->params, m->n_params * sizeof(real));
}

void model_download(struct model *m)
{
	if (m->params != m->own_w)
		m->be->download(m->params, m->own_w, m->n_params * sizeof(real));
}

void model_use_weights(struct model *m, real *w)
{
	m->w = w ? w : m->own_w;
	m->arch->point(m, m->arch_state);
}

void model_forward(struct model *m, int B, int T)
{
	if (B < 1 || B > m->max_batch || T < 1 || T > m->max_frames)
		die("model_forward: batch %d × %d frames exceeds the model's %d × %d", B, T,
		    m->max_batch, m->max_frames);
	m->B = B;
	m->T = T;
	m->arch->forward(m, m->arch_state, B, T);
}

void model_backward(struct model *m)
{
	if (!m->training)
		die("model_backward: the model was created for inference");
	m->arch->backward(m, m->arch_state);
}

void model_grads_ready(struct model *m, const real *g)
{
	if (m->grads_ready)
		m->grads_ready(m->grads_ready_ctx, (size_t)(g - m->grads));
}

void model_zero_grad(struct model *m)
{
	if (m->grads)
		m->be->zero(m->grads, m->n_params * sizeof(real));
}

int model_segment_frames(const struct config *cfg)
{
	return (int)(1 + cfg->segment_length / cfg->hop_length);
}
