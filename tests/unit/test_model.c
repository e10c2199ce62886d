/* test_model.c: the f32 model against the PyTorch twin's golden data
 * (tests/reference/golden-model.py), the untrained model's equal split,
 * checkpoints (round trip, corrupted and mismatched files), AdamW and
 * clipping, and chunked inference.
 *
 * Errors against golden data are measured per tensor as
 * max |ours − torch| / max |torch|, so tiny entries are judged on their
 * tensor's scale (f32 rounding of long sums makes their own relative error
 * meaningless). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "checkpoint.h"
#include "chunk.h"
#include "loss.h"
#include "model.h"
#include "ops.h"
#include "rng.h"
#include "safetensors.h"
#include "separate.h"
#include "util.h"

#include "test.h"

#define GOLDEN_MODEL "tests/golden/model-tiny.safetensors"
#define GOLDEN_IO "tests/golden/model-tiny-io.safetensors"
/* the band-split model against the bs-roformer package (tests/reference/golden-bsroformer.py) */
#define GOLDEN_BS_MODEL "tests/golden/model-bs-tiny.safetensors"
#define GOLDEN_BS_IO "tests/golden/model-bs-tiny-io.safetensors"

static char tmpdir[256];

static double tensor_error(const float *ours, const float *ref, size_t n)
{
	double diff = 0, scale = 0;
	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)ours[i] - ref[i]);
		diff = d > diff || isnan(d) ? d : diff;
		scale = fabs(ref[i]) > scale ? fabs(ref[i]) : scale;
	}
	return scale > 0 ? diff / scale : diff;
}

static float *golden_read(const struct safetensors_file *f, const char *name, size_t *numel)
{
	const struct safetensors_tensor *t = safetensors_find(f, name);
	if (!t)
		die("%s: no tensor %s (run make golden)", f->path, name);
	float *out = xmalloc(t->numel * sizeof(float));
	char err[512];
	if (safetensors_read_f32(f, name, out, t->numel, NULL, err, sizeof err))
		die("%s", err);
	if (numel)
		*numel = t->numel;
	return out;
}

/* The golden batch's sizes, from the tensors' shapes. */
struct golden {
	struct safetensors_file io;
	int B, T;
	int64_t n;
	float *stems, *x;
};

static void golden_open_file(struct golden *g, const char *path)
{
	safetensors_open_or_die(&g->io, path);
	const struct safetensors_tensor *s = safetensors_find(&g->io, "stems");
	const struct safetensors_tensor *x = safetensors_find(&g->io, "x");
	if (!s || !x)
		die("%s: stems or x missing", path);
	g->B = (int)s->shape[0];
	g->n = s->shape[3];
	g->T = (int)x->shape[3];
	g->stems = golden_read(&g->io, "stems", NULL);
	g->x = golden_read(&g->io, "x", NULL);
}

static void golden_open(struct golden *g)
{
	golden_open_file(g, GOLDEN_IO);
}

static void golden_close(struct golden *g)
{
	free(g->stems);
	free(g->x);
	safetensors_close(&g->io);
}

/* Forward, loss, and every gradient against PyTorch. */
static void golden_check(const char *model_path, const char *io_path)
{
	struct golden g;
	golden_open_file(&g, io_path);
	struct model *m = checkpoint_open_model(model_path, &backend_cpu, g.B, g.T, true);
	struct loss_work *lw = loss_work_create(&backend_cpu, &m->cfg);
	size_t n, spec = (size_t)g.B * m->C * m->F * g.T * 2;

	// STFT of the mixture, as the sum of the stems' (FFTW vs PocketFFT, both
	// f32): 1e-5
	CHECK(!loss_targets(lw, m->x, g.stems, g.B, m->S, m->C, m->F, g.n), "loss_targets");
	double e = tensor_error(m->x, g.x, spec);
	CHECK(e < 1e-5, "mixture STFT: relative error %.3g", e);

	// forward from torch's own spectrogram, so only the model is compared;
	// f32 through 2 blocks and sums of up to 1028 terms: 1e-4 (docs/DESIGN.md §10)
	memcpy(m->x, g.x, spec * sizeof(float));
	model_forward(m, g.B, g.T);
	float *ref = golden_read(&g.io, "yspec", &n);
	e = tensor_error(m->yspec, ref, n);
	CHECK(e < 1e-4, "yspec: relative error %.3g", e);
	free(ref);

	// loss and its terms (f64 in the file): relative 1e-5, the loss being a
	// mean of thousands of f32 terms summed in double here, in f32 in torch
	struct loss_stats st;
	model_zero_grad(m);
	double loss = loss_compute(lw, m->dyspec, m->yspec, &st);
	ref = golden_read(&g.io, "ywave", &n);
	e = tensor_error(loss_work_ywave(lw), ref, n);
	CHECK(e < 1e-4, "ywave: relative error %.3g", e);
	free(ref);
	const struct safetensors_tensor *lt = safetensors_find(&g.io, "loss");
	const double *terms = lt ? lt->data : NULL;	// F64 data; unaligned reads are fine on x86-64
	double want[4];
	memcpy(want, terms, sizeof want);
	CHECK(fabs(loss - want[0]) < 1e-5 * fabs(want[0]), "loss %.8g, torch %.8g", loss, want[0]);
	CHECK(fabs(st.sisdr - want[1]) < 1e-4, "SI-SDR %.8g, torch %.8g", st.sisdr, want[1]);
	CHECK(fabs(st.l1 - want[2]) < 1e-5 * want[2], "L1 %.8g, torch %.8g", st.l1, want[2]);
	CHECK(fabs(st.spectral - want[3]) < 1e-5 * want[3], "spectral %.8g, torch %.8g",
	      st.spectral, want[3]);

	// every parameter gradient: 1e-4 of the tensor's largest entry (f32
	// through the whole backward, iSTFT and attention included)
	model_backward(m);
	for (int k = 0; k < m->n_tensors; k++) {
		char name[160];
		snprintf(name, sizeof name, "grad.%s", m->tensors[k].name);
		ref = golden_read(&g.io, name, &n);
		CHECK(n == (size_t)safetensors_view_numel(&m->tensors[k]), "%s: size", name);
		e = tensor_error(m->grads + m->tensors[k].offset, ref, n);
		CHECK(e < 1e-4, "%s: relative error %.3g", name, e);
		free(ref);
	}
	loss_work_free(lw);
	model_free(m);
	golden_close(&g);
}

static void test_golden(void)
{
	golden_check(GOLDEN_MODEL, GOLDEN_IO);
}

/* Mixed precision ([train] use_amp) on a processor with bf16: the forward
 * and every gradient stay within the rounding of bf16 inputs (2^-9
 * relative, grown through 2 blocks) of PyTorch's f32, and differ from f32,
 * which shows the bf16 GEMMs ran. */
static void test_golden_bf16(void)
{
	if (!gemm_bf16_available()) {
		printf("# no bf16 on this processor: skipped\n");
		return;
	}
	struct golden g;
	golden_open(&g);
	struct model *m = checkpoint_open_model(GOLDEN_MODEL, &backend_cpu, g.B, g.T, true);
	backend_cpu.set_precision(BACKEND_BF16);
	struct loss_work *lw = loss_work_create(&backend_cpu, &m->cfg);
	size_t n, spec = (size_t)g.B * m->C * m->F * g.T * 2;
	memcpy(m->x, g.x, spec * sizeof(float));
	model_forward(m, g.B, g.T);
	float *ref = golden_read(&g.io, "yspec", &n);
	double e = tensor_error(m->yspec, ref, n);
	CHECK(e < 2e-2 && e > 1e-5, "yspec: relative error %.3g", e);
	free(ref);
	CHECK(!loss_targets(lw, m->x, g.stems, g.B, m->S, m->C, m->F, g.n), "loss_targets");
	memcpy(m->x, g.x, spec * sizeof(float));
	model_forward(m, g.B, g.T);
	model_zero_grad(m);
	struct loss_stats st;
	loss_compute(lw, m->dyspec, m->yspec, &st);
	model_backward(m);
	double worst = 0;
	for (int k = 0; k < m->n_tensors; k++) {
		char name[160];
		snprintf(name, sizeof name, "grad.%s", m->tensors[k].name);
		ref = golden_read(&g.io, name, &n);
		e = tensor_error(m->grads + m->tensors[k].offset, ref, n);
		worst = e > worst ? e : worst;
		CHECK(e < 2e-2, "%s: relative error %.3g", name, e);
		free(ref);
	}
	printf("# bf16 against torch's f32: yspec and gradients within %.3g\n", worst);
	backend_cpu.set_precision(BACKEND_F32);
	loss_work_free(lw);
	model_free(m);
	golden_close(&g);
}

/* The band-split model against the bs-roformer package's BSRoformer, its
 * tensors under the reference's names (the checkpoint is the reference's
 * state_dict): forward, loss and every gradient. */
static void test_golden_bsroformer(void)
{
	golden_check(GOLDEN_BS_MODEL, GOLDEN_BS_IO);
}

static struct config tiny_config(void)
{
	struct config c;
	config_load_or_die(&c, "configs/tiny.ini");
	return c;
}

/* W_out = 0, b_out = 1/S: every source is exactly X / S. */
static void test_untrained_split(void)
{
	struct golden g;
	golden_open(&g);
	struct config c = tiny_config();
	struct model *m = model_create(&c, &backend_cpu, g.B, g.T, false);
	model_init(m, 42);
	memcpy(m->x, g.x, (size_t)g.B * m->C * m->F * g.T * 2 * sizeof(float));
	model_forward(m, g.B, g.T);
	size_t spec = (size_t)m->C * m->F * g.T * 2;
	double worst = 0;
	for (int b = 0; b < g.B; b++)
		for (int s = 0; s < m->S; s++)
			for (size_t i = 0; i < spec; i++) {
				double want = g.x[b * spec + i] / m->S;
				double d = fabs(m->yspec[((size_t)b * m->S + s) * spec + i] - want);
				worst = d > worst ? d : worst;
			}
	CHECK(worst == 0, "untrained output differs from X/S by %.3g", worst);
	// parameter count of docs/DESIGN.md §4 (tiny ≈ 0.19 M)
	CHECK(m->n_params == 185424, "tiny has %zu parameters", m->n_params);
	model_free(m);
	golden_close(&g);
}

static void tmp_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
}

/* save → load is bit-exact, moments included */
static void test_checkpoint_roundtrip(void)
{
	struct config c = tiny_config();
	struct model *a = model_create(&c, &backend_cpu, 1, 8, false), *b = model_create(&c, &backend_cpu, 1, 8, false);
	model_init(a, 7);
	for (size_t i = 0; i < a->n_params; i++)	// not only init values
		a->params[i] += 1e-3f * (rng_uniform(1, 2, i) - 0.5f);
	float *mo = xmalloc(a->n_params * sizeof(float)), *vo = xmalloc(a->n_params * sizeof(float));
	float *mi = xcalloc(a->n_params, sizeof(float)), *vi = xcalloc(a->n_params, sizeof(float));
	for (size_t i = 0; i < a->n_params; i++) {
		mo[i] = rng_uniform(3, 4, i) - 0.5f;
		vo[i] = rng_uniform(5, 6, i);
	}
	char path[300], err[1024];
	tmp_path(path, sizeof path, "rt.safetensors");
	struct checkpoint_kv extra[] = { { "step", "123" } };
	checkpoint_save(path, a, mo, vo, extra, 1);
	int rc = checkpoint_load(b, path, mi, vi, err, sizeof err);
	CHECK(rc == 0, "load: %s", err);
	CHECK(memcmp(a->params, b->params, a->n_params * sizeof(float)) == 0, "params differ");
	CHECK(memcmp(mo, mi, a->n_params * sizeof(float)) == 0, "opt.m differs");
	CHECK(memcmp(vo, vi, a->n_params * sizeof(float)) == 0, "opt.v differs");
	struct safetensors_file f;
	safetensors_open_or_die(&f, path);
	const char *step = safetensors_meta_get(&f, "step"), *np = safetensors_meta_get(&f, "n_params");
	CHECK(step && strcmp(step, "123") == 0, "step metadata %s", step ? step : "(none)");
	CHECK(np && strtoull(np, NULL, 10) == a->n_params, "n_params metadata %s", np ? np : "(none)");
	safetensors_close(&f);
	// a file without moments cannot fill them
	tmp_path(path, sizeof path, "export.safetensors");
	checkpoint_save(path, a, NULL, NULL, NULL, 0);
	CHECK(checkpoint_load(b, path, NULL, NULL, err, sizeof err) == 0, "%s", err);
	rc = checkpoint_load(b, path, mi, vi, err, sizeof err);
	CHECK(rc == -1 && strstr(err, "missing tensor opt.m.in.weight"), "got %d: %s", rc, err);
	free(mo), free(vo), free(mi), free(vi);
	model_free(a);
	model_free(b);
}

/* m's forward on a fixed random mixture of T frames: its yspec, copied */
static float *forward_of(struct model *m, int T)
{
	size_t in = (size_t)m->C * m->F * T * 2, out = in * m->S;
	for (size_t i = 0; i < in; i++)
		m->x[i] = rng_uniform(9, 10, i) - 0.5f;
	model_forward(m, 1, T);
	float *y = xmalloc(out * sizeof(float));
	memcpy(y, m->yspec, out * sizeof(float));
	return y;
}

/* checkpoint_map_model: an F32 checkpoint's weights read in place in its
 * mapping (a training checkpoint's too: the moments come after), the
 * same forward bit for bit as a copied load; F16 storage copied; a load
 * or model_init afterwards makes the model's own buffer the weights. */
static void test_checkpoint_map(void)
{
	struct config c = tiny_config();
	struct model *a = model_create(&c, &backend_cpu, 1, 8, false);
	model_init(a, 7);
	for (size_t i = 0; i < a->n_params; i++)	// the head too: W_out starts at 0
		a->params[i] += 0.05f * (rng_uniform(1, 2, i) - 0.5f);
	float *mo = xcalloc(a->n_params, sizeof(float)), *vo = xcalloc(a->n_params, sizeof(float));
	char path[300], half[300];
	tmp_path(path, sizeof path, "map.safetensors");
	tmp_path(half, sizeof half, "map-f16.safetensors");
	checkpoint_save(path, a, mo, vo, NULL, 0);
	checkpoint_export(half, a, SAFETENSORS_F16);
	int T = 8;
	float *want = forward_of(a, T);
	size_t out = (size_t)a->S * a->C * a->F * T * 2;

	struct model *m = checkpoint_map_model(path, &backend_cpu, 1);
	CHECK(m->weights_file && m->w != m->own_w, "an F32 checkpoint's weights were copied");
	float *got = forward_of(m, T);
	CHECK(!memcmp(got, want, out * sizeof(float)), "in place: the forward differs");
	free(got);
	// a load into it: its own buffer again, the file closed
	char err[1024];
	CHECK(checkpoint_load(m, path, NULL, NULL, err, sizeof err) == 0, "%s", err);
	CHECK(!m->weights_file && m->w == m->own_w, "loaded, yet still read in place");
	got = forward_of(m, T);
	CHECK(!memcmp(got, want, out * sizeof(float)), "reloaded: the forward differs");
	free(got);
	model_free(m);

	struct model *h = checkpoint_map_model(half, &backend_cpu, 1),
		     *hc = checkpoint_open_model(half, &backend_cpu, 1, 0, false);
	CHECK(!h->weights_file && h->w == h->own_w, "F16 storage read in place");
	float *h1 = forward_of(h, T), *h2 = forward_of(hc, T);
	CHECK(!memcmp(h1, h2, out * sizeof(float)), "F16: mapped and opened differ");
	free(h1), free(h2);
	model_free(h);
	model_free(hc);
	free(want), free(mo), free(vo);
	model_free(a);
}

/* truncated file, other config, missing tensor, wrong shape */
static void test_checkpoint_errors(void)
{
	struct config c = tiny_config();
	struct model *m = model_create(&c, &backend_cpu, 1, 8, false);
	model_init(m, 7);
	char path[300], bad[300], err[1024];
	tmp_path(path, sizeof path, "good.safetensors");
	checkpoint_save(path, m, NULL, NULL, NULL, 0);

	// truncated
	tmp_path(bad, sizeof bad, "truncated.safetensors");
	FILE *in = fopen(path, "rb"), *out = fopen(bad, "wb");
	char buf[4096];
	size_t got = fread(buf, 1, sizeof buf, in);
	fwrite(buf, 1, got, out);
	fclose(in);
	fclose(out);
	int rc = checkpoint_load(m, bad, NULL, NULL, err, sizeof err);
	CHECK(rc == -1 && strstr(err, "truncated.safetensors"), "truncated: %d: %s", rc, err);

	// a model of another size
	struct config other = c;
	other.emb_dim = 48;
	struct model *o = model_create(&other, &backend_cpu, 1, 8, false);
	rc = checkpoint_load(o, path, NULL, NULL, err, sizeof err);
	CHECK(rc == -1 && strstr(err, "emb_dim"), "other config: %d: %s", rc, err);
	model_free(o);

	// a tensor missing, then one of the wrong shape, config unchanged
	char *config = config_to_string(&c);
	struct safetensors_writer *w = safetensors_writer_create();
	safetensors_writer_set_meta(w, "config", config);
	safetensors_writer_add_views(w, NULL, m->tensors + 1, m->n_tensors - 1, m->params,
				     SAFETENSORS_F32);
	tmp_path(bad, sizeof bad, "missing.safetensors");
	safetensors_writer_write_or_die(w, bad);
	safetensors_writer_free(w);
	rc = checkpoint_load(m, bad, NULL, NULL, err, sizeof err);
	CHECK(rc == -1 && strstr(err, "in.weight"), "missing: %d: %s", rc, err);

	struct safetensors_view *views = xmalloc(m->n_tensors * sizeof *views);
	memcpy(views, m->tensors, m->n_tensors * sizeof *views);
	views[1].shape[0] -= 1;		// in.bias one short
	w = safetensors_writer_create();
	safetensors_writer_set_meta(w, "config", config);
	safetensors_writer_add_views(w, NULL, views, m->n_tensors, m->params, SAFETENSORS_F32);
	tmp_path(bad, sizeof bad, "shape.safetensors");
	safetensors_writer_write_or_die(w, bad);
	safetensors_writer_free(w);
	rc = checkpoint_load(m, bad, NULL, NULL, err, sizeof err);
	CHECK(rc == -1 && strstr(err, "in.bias"), "shape: %d: %s", rc, err);
	free(views);
	free(config);
	model_free(m);
}

/* One training pass (forward, loss, backward) on the golden batch with
 * dropout on; returns the loss, gradients in m->grads. */
static double training_pass(struct model *m, const struct golden *g)
{
	struct loss_work *lw = loss_work_create(m->be, &m->cfg);
	model_zero_grad(m);
	if (loss_targets(lw, m->x, g->stems, g->B, m->S, m->C, m->F, g->n))
		die("loss_targets refused %lld samples", (long long)g->n);
	model_forward(m, g->B, g->T);
	double loss = loss_compute(lw, m->dyspec, m->yspec, NULL);
	model_backward(m);
	loss_work_free(lw);
	return loss;
}

/* docs/DESIGN.md §7: bit-identical for the same thread count, equal up to float
 * rounding across thread counts; dropout masks depend on the step only. */
static void test_threads(void)
{
#ifdef _OPENMP
	struct golden g;
	golden_open(&g);
	omp_set_num_threads(2);
	struct config c;
	char err[512];
	if (checkpoint_read_config(GOLDEN_MODEL, &c, err, sizeof err))
		die("%s", err);
	c.dropout = 0.1f;
	struct model *m = model_create(&c, &backend_cpu, g.B, g.T, true);
	if (checkpoint_load(m, GOLDEN_MODEL, NULL, NULL, err, sizeof err))
		die("%s", err);
	m->step = 3;
	size_t bytes = m->n_params * sizeof(float);
	float *first = xmalloc(bytes), *other = xmalloc(bytes);
	double l1 = training_pass(m, &g);
	memcpy(first, m->grads, bytes);
	double l2 = training_pass(m, &g);
	CHECK(l1 == l2 && memcmp(first, m->grads, bytes) == 0, "two runs at 2 threads differ");
	omp_set_num_threads(1);
	double l3 = training_pass(m, &g);
	memcpy(other, m->grads, bytes);
	// summation order of sgemm slices and of nothing else: float rounding
	double e = tensor_error(other, first, m->n_params);
	CHECK(fabs(l3 - l1) < 1e-6 * fabs(l1) && e < 1e-5, "1 vs 2 threads: loss %.9g vs %.9g, "
	      "gradients %.3g", l3, l1, e);
	// another step draws other dropout masks
	omp_set_num_threads(2);
	m->step = 4;
	double l4 = training_pass(m, &g);
	CHECK(l4 != l1, "step 4 has the dropout masks of step 3");
	free(first), free(other);
	model_free(m);
	golden_close(&g);
#endif
}

/* AdamW against a hand-computed step; clipping */
static void test_adamw(void)
{
	float p[3] = { 1, -2, 0.5f }, g[3] = { 0.1f, -0.2f, 0 };
	struct adamw opt;
	adamw_init(&opt, 3, 0.01f);
	adamw_step(&opt, p, g, 0.1f);
	// step 1: m̂ = g, v̂ = g², update = lr g / (|g| + ε) = ±lr; decay p (1 − lr wd)
	CHECK_NEAR(p[0], 1 * (1 - 0.001) - 0.1 * 0.1 / (0.1 + 1e-8), 1e-6);
	CHECK_NEAR(p[1], -2 * (1 - 0.001) + 0.1 * 0.2 / (0.2 + 1e-8), 1e-6);
	CHECK_NEAR(p[2], 0.5 * (1 - 0.001), 1e-7);
	adamw_free(&opt);

	float gr[4] = { 3, 4, 0, 0 };
	double norm = grad_clip_norm(gr, 4, 1);
	CHECK_NEAR(norm, 5, 1e-12);
	CHECK_NEAR(gr[0], 3 / (5 + 1e-6), 1e-6);
	CHECK_NEAR(gr[1], 4 / (5 + 1e-6), 1e-6);
	float small[2] = { 0.3f, 0.4f };
	grad_clip_norm(small, 2, 1);
	CHECK(small[0] == 0.3f && small[1] == 0.4f, "clipped below the limit");
}

/* A few training steps on the golden batch lower the loss. */
static void test_training_steps(void)
{
	struct golden g;
	golden_open(&g);
	struct model *m = checkpoint_open_model(GOLDEN_MODEL, &backend_cpu, g.B, g.T, true);
	struct adamw opt;
	adamw_init(&opt, m->n_params, 0);
	double first = 0, last = 0;
	for (int step = 0; step < 5; step++) {
		last = training_pass(m, &g);
		if (step == 0)
			first = last;
		grad_clip_norm(m->grads, m->n_params, 5);
		adamw_step(&opt, m->params, m->grads, 1e-3f);
	}
	CHECK(last < first, "loss went from %.6g to %.6g", first, last);
	adamw_free(&opt);
	model_free(m);
	golden_close(&g);
}

/* Chunked inference: one segment is the plain forward; long inputs equal
 * each segment's forward inside its interior; a constant-mask model (W_out
 * 0, random b_out) has no seams: the output is M ⊙ X everywhere. */
static void model_separate(struct model *m, float *out, const float *x, int64_t T)
{
	struct separator *sp = separator_create(m);
	memset(out, 0, (size_t)m->S * m->C * m->F * T * 2 * sizeof(float));
	separator_run(sp, out, x, T, 0.25);
	separator_free(sp);
}

/* the model's input of one segment, and its forward */
static void forward(struct model *m, const float *x, int T)
{
	memcpy(m->x, x, (size_t)m->C * m->F * T * 2 * sizeof(float));
	model_forward(m, 1, T);
}

static void test_chunked(void)
{
	struct config c = tiny_config();
	int L = 8, Tlong = 37;
	struct model *m = model_create(&c, &backend_cpu, 2, L, false);
	model_init(m, 11);
	float *out_w = m->params + model_tensor_offset(m, "out.weight");
	float *out_b = m->params + model_tensor_offset(m, "out.bias");
	for (size_t i = 0; i < (size_t)m->Dout * c.emb_dim; i++)
		out_w[i] = 0.02f * (rng_uniform(8, 9, i) - 0.5f);
	size_t rows_in = (size_t)m->C * m->F, rows_out = (size_t)m->S * rows_in;
	float *x = xmalloc(rows_in * Tlong * 2 * sizeof(float));
	for (size_t i = 0; i < rows_in * Tlong * 2; i++)
		x[i] = rng_uniform(10, 11, i) - 0.5f;
	float *out = xmalloc(rows_out * Tlong * 2 * sizeof(float));
	float *seg = xmalloc(rows_in * L * 2 * sizeof(float));

	// T <= L: exactly one forward
	float *xs = xmalloc(rows_in * 5 * 2 * sizeof(float));
	for (size_t r = 0; r < rows_in; r++)
		memcpy(xs + r * 10, x + r * Tlong * 2, 10 * sizeof(float));
	model_separate(m, out, xs, 5);
	forward(m, xs, 5);
	CHECK(memcmp(out, m->yspec, rows_out * 5 * 2 * sizeof(float)) == 0,
	      "single segment differs from the forward");
	free(xs);

	// long input: each segment's interior (weight 1) is that segment's forward
	model_separate(m, out, x, Tlong);
	struct chunk_plan *plan = chunk_plan_create(Tlong, L, 0.25);
	double worst = 0;
	int compared = 0;
	for (int64_t s = 0; s < plan->n; s++) {
		chunk_gather(seg, x, plan, s, rows_in, 2);
		forward(m, seg, L);
		for (int i = 0; i < L; i++) {
			if (chunk_weight(plan, s, i) != 1)
				continue;
			compared++;
			for (size_t r = 0; r < rows_out; r++)
				for (int k = 0; k < 2; k++) {
					double a = out[(r * Tlong + plan->start[s] + i) * 2 + k];
					double b = m->yspec[(r * L + i) * 2 + k];
					worst = fmax(worst, fabs(a - b));
				}
		}
	}
	chunk_plan_free(plan);
	// same arithmetic, batched 2 segments a pass vs 1: float rounding at most
	CHECK(worst < 1e-6 && compared > Tlong / 2, "interior differs by %.3g (%d frames)", worst,
	      compared);

	// constant mask: no seam anywhere
	memset(out_w, 0, (size_t)m->Dout * c.emb_dim * sizeof(float));
	for (int i = 0; i < m->Dout; i++)
		out_b[i] = rng_uniform(12, 13, i) - 0.3f;
	model_separate(m, out, x, Tlong);
	worst = 0;
	for (int s = 0; s < m->S; s++)
		for (size_t cf = 0; cf < rows_in; cf++) {
			float mr = out_b[(2 * s) * rows_in + cf], mi = out_b[(2 * s + 1) * rows_in + cf];
			for (int t = 0; t < Tlong; t++) {
				const float *xx = x + (cf * Tlong + t) * 2;
				const float *y = out + ((s * rows_in + cf) * Tlong + t) * 2;
				worst = fmax(worst, fabs(y[0] - (mr * xx[0] - mi * xx[1])));
				worst = fmax(worst, fabs(y[1] - (mr * xx[1] + mi * xx[0])));
			}
		}
	// cross-fade weights sum to 1 up to float rounding
	CHECK(worst < 1e-6, "constant-mask output has a seam of %.3g", worst);
	free(x), free(out), free(seg);
	model_free(m);
}

int main(void)
{
	strcpy(tmpdir, "/tmp/test_model.XXXXXX");
	if (!mkdtemp(tmpdir))
		die("mkdtemp %s:", tmpdir);
	RUN(test_golden);
	RUN(test_golden_bf16);
	RUN(test_golden_bsroformer);
	RUN(test_untrained_split);
	RUN(test_checkpoint_roundtrip);
	RUN(test_checkpoint_errors);
	RUN(test_checkpoint_map);
	RUN(test_adamw);
	RUN(test_training_steps);
	RUN(test_threads);
	RUN(test_chunked);
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	return test_summary();
}
