/* test_devtrain.c: the training step through the backend table
 * (lib/devtrain.h) on the cpu backend against the model.c path of
 * sepnet-train: the same loss, gradients and AdamW step to float rounding,
 * with dropout, gradient accumulation, clipping and EMA on.  On a GPU,
 * tests/tools/check-train runs the same comparison with the cuda backend;
 * here it shows that devtrain restates model_forward, loss_compute and
 * model_backward faithfully, so that the GPU check compares kernels, not
 * plumbing. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "devtrain.h"
#include "ema.h"
#include "loss.h"
#include "model.h"
#include "optim.h"
#include "rng.h"
#include "test.h"
#include "util.h"

static struct config test_config(enum loss_type type)
{
	struct config c;
	config_defaults(&c);
	c.n_fft = 256, c.hop_length = 64;
	c.n_layers = 2, c.emb_dim = 32, c.n_heads = 2, c.attention_dim = 32;
	c.n_ffn = 2, c.ffn_hidden_dim[0] = 48, c.ffn_hidden_dim[1] = 40;
	c.dropout = 0.1f;
	c.segment_length = 3000;
	c.batch_size = 2, c.gradient_accum = 2;
	c.ema_decay = 0.9f;
	c.grad_clip = 0.5f;	// low enough to clip
	c.weight_decay = 0.01f;
	c.loss_type = type;
	c.seed = 11;
	char err[256];
	if (config_validate(&c, "test", err, sizeof err))
		die("%s", err);
	return c;
}

/* ‖a − b‖ / ‖b‖ over n, NaN counted as a failure by the caller's < test */
static double rel_error(const float *a, const float *b, size_t n)
{
	double num = 0, den = 0;
	for (size_t i = 0; i < n; i++) {
		double d = (double)a[i] - b[i];
		num += d * d;
		den += (double)b[i] * b[i];
	}
	return sqrt(num / (den > 0 ? den : 1));
}

/* The worst per-tensor relative error of a against b (m's layout). */
static double worst_tensor(const struct model *m, const float *a, const float *b,
			   const char **name)
{
	double worst = 0;
	for (int k = 0; k < m->n_tensors; k++) {
		const struct safetensors_view *v = &m->tensors[k];
		size_t n = safetensors_view_numel(v);
		double e = rel_error(a + v->offset, b + v->offset, n);
		if (!(e <= worst)) {
			worst = e;
			*name = v->name;
		}
	}
	return worst;
}

static void check_step(enum loss_type type, const char *label)
{
	struct config c = test_config(type);
	int B = c.batch_size, T = model_segment_frames(&c), accum = c.gradient_accum;
	int64_t n = c.segment_length;
	struct model *m = model_create(&c, B, T, true);
	model_init(m, c.seed);
	// make W_out and b_out random too, so every path of the head matters
	for (size_t i = m->p.out_w - m->params; i < m->n_params; i++)
		m->params[i] = 0.05f * (2 * rng_uniform(5, 1, i) - 1) + (float)(i % 3 == 0) * 0.25f;
	struct devtrain *dt = devtrain_create(m, &backend_cpu, true);

	size_t rec = (size_t)B * m->S * m->C * n;
	float *stems[2], *x = xmalloc((size_t)B * m->C * m->F * T * 2 * sizeof(float));
	for (int k = 0; k < accum; k++) {
		stems[k] = xmalloc(rec * sizeof(float));
		for (size_t i = 0; i < rec; i++)
			stems[k][i] = 0.3f * (2 * rng_uniform(9, (uint64_t)k, i) - 1) *
				      (float)(1 + (i / n) % 4);
	}

	// the model.c path, as trainer_step runs it
	struct loss_stats ref_ls[2], dev_ls[2];
	model_zero_grad(m);
	devtrain_zero_grad(dt);
	for (int k = 0; k < accum; k++) {
		m->step = (uint64_t)k;
		model_mixture_spectrogram(m, x, stems[k], B, n);
		model_forward(m, x, B, T);
		model_waveforms(m, n);
		loss_compute(m, stems[k], n, true, &ref_ls[k]);
		model_backward(m);
		devtrain_stage(dt, stems[k]);
		devtrain_micro(dt, (uint64_t)k, &dev_ls[k]);
	}
	for (int k = 0; k < accum; k++) {
		CHECK_NEAR(dev_ls[k].loss, ref_ls[k].loss, 1e-5 * (1 + fabs(ref_ls[k].loss)));
		CHECK_NEAR(dev_ls[k].sisdr, ref_ls[k].sisdr, 1e-4);
		CHECK_NEAR(dev_ls[k].spectral, ref_ls[k].spectral, 1e-5 * ref_ls[k].spectral);
	}
	float *got = xmalloc(m->n_params * sizeof(float));
	devtrain_download_grads(dt, got);
	const char *name = "";
	// the two paths differ only in their STFT (stft.c against layers.h's
	// spectral, both FFTW in f32, and the mixture's spectrogram as the sum of
	// the stems'): a few ulps, grown through the network to about 1e-5 in the
	// smallest gradients; a wrong op or dropout mask gives 1e-2 and more
	double e = worst_tensor(m, got, m->grads, &name);
	CHECK(e < 1e-4, "%s: gradients: worst tensor %s, relative error %.3g", label, name, e);

	// the update: mean over micro-batches, clipping, AdamW, EMA
	struct adamw opt;
	adamw_init(&opt, m->n_params, c.weight_decay);
	float *ema = xmalloc(m->n_params * sizeof(float));
	memcpy(ema, m->params, m->n_params * sizeof(float));
	for (size_t i = 0; i < m->n_params; i++)
		m->grads[i] /= accum;
	double ref_norm = grad_clip_norm(m->grads, m->n_params, c.grad_clip);
	adamw_step(&opt, m->params, m->grads, 1e-3f);
	ema_update(ema, m->params, m->n_params, c.ema_decay);
	double norm = devtrain_step(dt, accum, 1e-3f, 1);
	CHECK(ref_norm > c.grad_clip, "%s: the norm %g is clipped", label, ref_norm);
	CHECK_NEAR(norm, ref_norm, 1e-5 * ref_norm);
	float *params = xmalloc(m->n_params * sizeof(float)), *dema = xmalloc(m->n_params * sizeof(float));
	float *mom1 = xmalloc(m->n_params * sizeof(float)), *mom2 = xmalloc(m->n_params * sizeof(float));
	devtrain_download(dt, params, mom1, mom2, dema);
	// Adam's first step moves each weight by about lr · sign(g): where g is
	// a rounding error away from 0 the two paths may step opposite ways
	e = worst_tensor(m, params, m->params, &name);
	CHECK(e < 1e-3, "%s: weights after AdamW: worst %s, %.3g", label, name, e);
	e = worst_tensor(m, mom1, opt.m, &name);
	CHECK(e < 1e-4, "%s: first moments: worst %s, %.3g", label, name, e);
	e = worst_tensor(m, dema, ema, &name);
	CHECK(e < 1e-4, "%s: EMA: worst %s, %.3g", label, name, e);

	// a non-finite loss adds no gradient
	devtrain_zero_grad(dt);
	stems[0][17] = NAN;
	devtrain_stage(dt, stems[0]);
	CHECK(isnan(devtrain_micro(dt, 9, NULL)), "%s: NaN input gives a NaN loss", label);
	devtrain_download_grads(dt, got);
	double ss = 0;
	for (size_t i = 0; i < m->n_params; i++)
		ss += (double)got[i] * got[i];
	CHECK(ss == 0, "%s: no gradient from a NaN loss (%g)", label, ss);

	free(got), free(params), free(dema), free(mom1), free(mom2), free(ema), free(x);
	for (int k = 0; k < accum; k++)
		free(stems[k]);
	adamw_free(&opt);
	devtrain_free(dt);
	model_free(m);
}

static void test_combined_loss(void)
{
	check_step(LOSS_COMBINED, "combined");
}

static void test_sisdr_loss(void)
{
	check_step(LOSS_SISDR, "sisdr");
}

int main(void)
{
	RUN(test_combined_loss);
	RUN(test_sisdr_loss);
	return test_summary();
}
