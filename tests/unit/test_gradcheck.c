/* test_gradcheck.c: every backward of the model against central finite
 * differences, in double precision (docs/DESIGN.md §4).
 *
 * The ops, the cpu backend, the STFT, the model and the loss are #included
 * here with SEPNET_DOUBLE defined, so `real` is double and the very code
 * that runs in f32 (the one model path of every backend) is checked where finite differences are exact enough.  Errors are
 * relative to the largest gradient entry of the tensor, so entries near zero
 * are judged on the tensor's scale.  With h = 1e-5 the truncation error is
 * ~h² ≈ 1e-10; the rounding error of a loss of ~10 (SI-SDR in dB) is
 * ~1e-16 · 10 / h ≈ 1e-10 absolute, up to 1e-6 relative for the smallest
 * tensors' gradients (attention projections at init, ~1e-4); the |·| kinks
 * of the L1 terms add rare jumps when a perturbation crosses one.  A wrong
 * gradient is off by O(1), so 1e-5 separates the two cleanly.  Also
 * checks the blocked attention against a naive softmax and the STFT
 * against a direct DFT. */
#define SEPNET_DOUBLE
#include "../../lib/ops/gemm.c"
#include "../../lib/ops/linear.c"
#include "../../lib/ops/rmsnorm.c"
#include "../../lib/ops/gelu.c"
#include "../../lib/ops/rope.c"
#include "../../lib/ops/residual.c"
#include "../../lib/ops/attention.c"
#include "../../lib/ops/mask.c"
#include "../../lib/ops/band.c"
#include "../../lib/ops/gate.c"
#include "../../lib/dsp/fft.c"
#include "../../lib/dsp/stft.c"
#include "../../lib/dsp/chunk.c"
#include "../../lib/ops/adamw.c"
#include "../../lib/ops/ema.c"
#include "../../lib/ops/tensor.c"
#include "../../lib/backend/backend.c"
#include "../../lib/model/model.c"
#include "../../lib/model/block.c"
#include "../../lib/model/transformer.c"
#include "../../lib/model/bsroformer.c"
#include "../../lib/ops/loss_terms.c"
#include "../../lib/train/loss.c"

#include "test.h"
#include "op_cases.h"

#define FD_H 1e-5
#define FD_TOL 1e-5
#define FD_MAX_CHECKS 48

static uint64_t test_seed = 1;

static void fill_random(real *x, size_t n, double scale)
{
	for (size_t i = 0; i < n; i++)
		x[i] = scale * (2.0 * rng_uniform(17, test_seed, i) - 1.0);
	test_seed++;
}

static real *random_buffer(size_t n, double scale)
{
	real *x = xmalloc(n * sizeof(real));
	fill_random(x, n, scale);
	return x;
}

static real *zeros(size_t n)
{
	return xcalloc(n, sizeof(real));
}

static double dot(const real *a, const real *b, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += a[i] * b[i];
	return s;
}

/* Largest error of the analytic gradient g of loss() with respect to x (n),
 * over up to FD_MAX_CHECKS elements spread over the tensor, relative to
 * max |g|. */
static double fd_error(real *x, const real *g, size_t n, double (*loss)(void))
{
	double gmax = 0, worst = 0;
	for (size_t i = 0; i < n; i++)
		gmax = fabs(g[i]) > gmax ? fabs(g[i]) : gmax;
	size_t checks = n < FD_MAX_CHECKS ? n : FD_MAX_CHECKS;
	for (size_t k = 0; k < checks; k++) {
		size_t i = checks == n ? k : (k * 7919 + 13) % n;
		double save = x[i];
		x[i] = save + FD_H;
		double lp = loss();
		x[i] = save - FD_H;
		double lm = loss();
		x[i] = save;
		double err = fabs((lp - lm) / (2 * FD_H) - g[i]) / (gmax > 0 ? gmax : 1e-300);
		worst = err > worst ? err : worst;
	}
	return worst;
}

#define CHECK_GRAD(x, g, n, loss) do {                                           \
	double e_ = fd_error(x, g, n, loss);                                    \
	CHECK(e_ < FD_TOL, "%s: relative error %.3g", #g, e_);                  \
} while (0)

/* ---- every op of the table (op_cases.h) ---- */

static struct { const struct op_case *c; struct op_io io; } oc;

/* Σ_j dout_j · out_j over the outputs that are not kept state */
static double op_loss(void)
{
	struct op_io *io = &oc.io;
	oc.c->run(&backend_cpu, oc.c->d, io, OP_FORWARD);
	double s = 0;
	for (int j = 0; j < io->n_out; j++)
		if (io->out_loss[j])
			s += dot(io->out[j], io->dout[j], io->out_n[j]);
	return s;
}

static void test_op_table(void)
{
	int checked = 0;
	for (size_t k = 0; k < N_OP_CASES; k++) {
		const struct op_case *c = &op_cases[k];
		if (c->prec != BACKEND_F32)	// the cpu computes in f32 (here f64) whatever is asked
			continue;
		oc.c = c;
		struct op_io *io = &oc.io;
		op_case_setup(&backend_cpu, c, io, 1000 + k, 0, 0);
		if (io->has_backward) {
			char label[96];
			op_case_label(c, label, sizeof label);
			c->run(&backend_cpu, c->d, io, OP_FORWARD);	// the state backward reads
			c->run(&backend_cpu, c->d, io, OP_BACKWARD);
			for (int i = 0; i < io->n_in; i++) {
				if (!io->in_grad[i])
					continue;
				double e = fd_error(io->in[i], io->din[i], io->in_n[i], op_loss);
				CHECK(e < FD_TOL, "%s: input %d: relative error %.3g", label, i, e);
				checked++;
			}
		}
		op_case_free(&backend_cpu, io);
	}
	CHECK(checked >= 15, "only %d gradients checked", checked);
}

/* ---- attention ---- */

static struct { int B, T, A, h; real *qkv, *out, *lse, *r; } att;

static double attention_loss(void)
{
	attention_forward(att.out, att.lse, att.qkv, att.B, att.T, att.A, att.h);
	return dot(att.out, att.r, (size_t)att.B * att.T * att.A);
}

/* Largest difference between the blocked forward and a naive softmax. */
static double attention_naive_error(void)
{
	int hs = att.A / att.h, ld = 3 * att.A;
	double worst = 0, *p = xmalloc(att.T * sizeof *p);
	for (int b = 0; b < att.B; b++)
		for (int h = 0; h < att.h; h++)
			for (int i = 0; i < att.T; i++) {
				const real *q = att.qkv + ((size_t)b * att.T + i) * ld + h * hs;
				double mx = -INFINITY, sum = 0;
				for (int j = 0; j < att.T; j++) {
					const real *k = att.qkv + ((size_t)b * att.T + j) * ld + att.A + h * hs;
					p[j] = dot(q, k, hs) / sqrt(hs);
					mx = p[j] > mx ? p[j] : mx;
				}
				for (int j = 0; j < att.T; j++)
					sum += p[j] = exp(p[j] - mx);
				for (int c = 0; c < hs; c++) {
					double o = 0;
					for (int j = 0; j < att.T; j++)
						o += p[j] / sum * att.qkv[((size_t)b * att.T + j) * ld + 2 * att.A + h * hs + c];
					double e = fabs(o - att.out[((size_t)b * att.T + i) * att.A + h * hs + c]);
					worst = e > worst ? e : worst;
				}
				double e = fabs(mx + log(sum) - att.lse[((size_t)b * att.h + h) * att.T + i]);
				worst = e > worst ? e : worst;
			}
	free(p);
	return worst;
}

static void test_attention(void)
{
	// T = 300 spans two key tiles (256) and five query tiles (64)
	att.B = 2, att.T = 300, att.A = 8, att.h = 2;
	size_t n = (size_t)att.B * att.T * 3 * att.A, no = (size_t)att.B * att.T * att.A;
	att.qkv = random_buffer(n, 2);
	att.r = random_buffer(no, 1);
	att.out = zeros(no);
	att.lse = zeros(att.B * att.h * att.T);
	attention_loss();
	double e = attention_naive_error();
	CHECK(e < 1e-12, "blocked attention differs from naive by %.3g", e);
	real *dqkv = zeros(n);
	attention_backward(dqkv, att.r, att.qkv, att.out, att.lse, att.B, att.T, att.A, att.h);
	CHECK_GRAD(att.qkv, dqkv, n, attention_loss);
	free(dqkv), free(att.qkv), free(att.r), free(att.out), free(att.lse);
}

/* ---- STFT, iSTFT ---- */

static struct { struct stft *st; int F; int64_t T, n; real *spec, *y, *r; } spc;

static double istft_loss(void)
{
	if (stft_inverse(spc.st, spc.y, spc.spec, spc.T, spc.n))
		die("stft_inverse refused");
	return dot(spc.y, spc.r, spc.n);
}

static void test_spectral(void)
{
	int n_fft = 16, hop = 4;
	spc.n = 50, spc.F = n_fft / 2 + 1, spc.T = 1 + spc.n / hop;
	spc.st = stft_create(n_fft, hop);
	real *x = random_buffer(spc.n, 1);
	spc.spec = zeros(spc.F * spc.T * 2);
	CHECK(!stft_forward(spc.st, spc.spec, x, spc.n), "stft_forward");
	// a direct DFT of one reflect-padded, windowed frame
	double worst = 0;
	for (int64_t t = 0; t < spc.T; t++)
		for (int f = 0; f < spc.F; f++) {
			double re = 0, im = 0;
			for (int k = 0; k < n_fft; k++) {
				int64_t i = t * hop + k - n_fft / 2;
				i = i < 0 ? -i : i >= spc.n ? 2 * (spc.n - 1) - i : i;
				double w = 0.5 - 0.5 * cos(2 * M_PI * k / n_fft), a = 2 * M_PI * f * k / n_fft;
				re += w * x[i] * cos(a);
				im -= w * x[i] * sin(a);
			}
			worst = fmax(worst, fabs(re - spc.spec[((size_t)f * spc.T + t) * 2]));
			worst = fmax(worst, fabs(im - spc.spec[((size_t)f * spc.T + t) * 2 + 1]));
		}
	CHECK(worst < 1e-12, "STFT differs from a direct DFT by %.3g", worst);
	// perfect reconstruction
	spc.y = zeros(spc.n);
	if (stft_inverse(spc.st, spc.y, spc.spec, spc.T, spc.n))
		die("stft_inverse refused");
	worst = 0;
	for (int64_t i = 0; i < spc.n; i++)
		worst = fmax(worst, fabs(spc.y[i] - x[i]));
	CHECK(worst < 1e-12, "iSTFT(STFT(x)) differs from x by %.3g", worst);
	// the adjoint, on a spectrogram that is not an STFT (imaginary DC parts too)
	fill_random(spc.spec, spc.F * spc.T * 2, 1);
	spc.r = random_buffer(spc.n, 1);
	real *dspec = zeros(spc.F * spc.T * 2);
	CHECK(!stft_inverse_adjoint(spc.st, dspec, spc.r, spc.T, spc.n), "adjoint");
	CHECK_GRAD(spc.spec, dspec, spc.F * spc.T * 2, istft_loss);
	free(x), free(dspec), free(spc.spec), free(spc.y), free(spc.r);
	stft_free(spc.st);
}

/* ---- the loss ---- */

static struct { struct model *m; struct loss_work *lw; real *stems; int B; int64_t n; } mg;

/* loss_targets, forward, loss: the training step without its backward */
static double model_loss(void)
{
	struct model *m = mg.m;
	if (loss_targets(mg.lw, m->x, mg.stems, mg.B, m->S, m->C, m->F, mg.n))
		die("loss_targets refused %lld samples", (long long)mg.n);
	model_forward(m, mg.B, (int)(1 + mg.n / m->cfg.hop_length));
	return loss_compute(mg.lw, NULL, m->yspec, NULL);
}

/* bsroformer: 0 the transformer; 1 the band-split model with two time
 * blocks a layer and mask heads of 3 layers; 2 with two band blocks and
 * heads of one linear layer */
static struct model *gradcheck_model(enum loss_type type, float dropout, int bsroformer)
{
	struct config c;
	config_defaults(&c);
	c.n_fft = 32, c.hop_length = 8, c.n_layers = 2, c.emb_dim = 8, c.n_heads = 2;
	c.attention_dim = 8, c.n_ffn = 2, c.ffn_hidden_dim[0] = 12, c.ffn_hidden_dim[1] = 10;
	c.dropout = dropout, c.loss_type = type;
	c.si_sdr_weight = 1, c.l1_weight = 0.5, c.spectral_weight = 0.3;
	mg.B = 2, mg.n = 100;
	if (bsroformer) {
		// 17 bins in bands of 2, 3, 4, 8; two time blocks, a mask head of 3 layers
		snprintf(c.arch, sizeof c.arch, "bsroformer");
		c.n_ffn = 1;
		c.n_bands = 4;
		memcpy(c.band_width, (int[]){ 2, 3, 4, 8 }, 4 * sizeof(int));
		c.time_depth = 2, c.freq_depth = 1, c.mask_depth = 3;
		if (bsroformer == 2)
			c.time_depth = 1, c.freq_depth = 2, c.mask_depth = 1;
	}
	char err[200];
	if (config_validate(&c, "gradcheck", err, sizeof err))
		die("%s", err);
	struct model *m = model_create(&c, &backend_cpu, mg.B, 1 + mg.n / c.hop_length, true);
	model_init(m, 3);
	if (bsroformer) {	// norms and the gates' biases off their init
		for (int k = 0; k < m->n_tensors; k++)
			if (name_ends(m->tensors[k].name, ".gamma"))
				for (int64_t i = 0; i < (int64_t)safetensors_view_numel(&m->tensors[k]); i++)
					m->params[m->tensors[k].offset + i] += 0.2 * (2 * rng_uniform(3, k, i) - 1);
		m->step = 7;
		return m;
	}
	// move W_out and b_out off their init so every gradient is non-zero
	real *out_b = m->params + model_tensor_offset(m, "out.bias");
	fill_random(m->params + model_tensor_offset(m, "out.weight"), (size_t)m->Dout * c.emb_dim, 0.3);
	for (int i = 0; i < m->Dout; i++)
		out_b[i] += 0.2 * (2.0 * rng_uniform(3, 4, i) - 1);
	m->step = 7;
	return m;
}

/* The whole model, from parameters to loss, every tensor. */
static void model_gradcheck(enum loss_type type, float dropout, int bsroformer)
{
	mg.m = gradcheck_model(type, dropout, bsroformer);
	struct model *m = mg.m;
	mg.lw = loss_work_create(&backend_cpu, &m->cfg);
	mg.stems = random_buffer((size_t)mg.B * m->S * m->C * mg.n, 0.5);
	model_zero_grad(m);
	if (loss_targets(mg.lw, m->x, mg.stems, mg.B, m->S, m->C, m->F, mg.n))
		die("loss_targets refused %lld samples", (long long)mg.n);
	model_forward(m, mg.B, (int)(1 + mg.n / m->cfg.hop_length));
	loss_compute(mg.lw, m->dyspec, m->yspec, NULL);
	model_backward(m);
	for (int k = 0; k < m->n_tensors; k++) {
		const struct safetensors_view *v = &m->tensors[k];
		size_t n = safetensors_view_numel(v);
		double e = fd_error(m->params + v->offset, m->grads + v->offset, n, model_loss);
		CHECK(e < FD_TOL, "loss %d: %s: relative error %.3g", (int)type, v->name, e);
	}
	free(mg.stems);
	loss_work_free(mg.lw);
	model_free(m);
}

static void test_model_combined_dropout(void)
{
	model_gradcheck(LOSS_COMBINED, 0.2f, 0);
}

/* The band-split model (docs/DESIGN.md §4): every tensor, dropout on, in
 * two shapes. */
static void test_bsroformer_combined_dropout(void)
{
	model_gradcheck(LOSS_COMBINED, 0.2f, 1);
	model_gradcheck(LOSS_COMBINED, 0.2f, 2);
}

static void test_model_l1(void)
{
	model_gradcheck(LOSS_L1, 0, 0);
}

static void test_model_sisdr(void)
{
	model_gradcheck(LOSS_SISDR, 0, 0);
}

/* SI-SDR of a scaled copy plus known noise. */
static void test_sisdr_value(void)
{
	real y[4] = { 1, -1, 1, -1 }, x[4] = { 2.1, -1.9, 2.1, -1.9 };
	// α = 8/4 = 2; target 2y, noise ±0.1: 10 log10(16 / 0.04) = 26.02 dB, up
	// to the ε = 1e-8 terms (relative 1e-8 / 0.04 of the noise energy)
	CHECK_NEAR(sisdr_db(x, y, 4), 10 * log10(16.0 / 0.04), 1e-5);
}

int main(void)
{
	// one thread: these are hundreds of tiny passes, where OpenMP's barriers
	// on a loaded machine would cost more than the work
#ifdef _OPENMP
	omp_set_num_threads(1);
#endif
	RUN(test_op_table);
	RUN(test_attention);
	RUN(test_spectral);
	RUN(test_sisdr_value);
	RUN(test_model_combined_dropout);
	RUN(test_model_l1);
	RUN(test_model_sisdr);
	RUN(test_bsroformer_combined_dropout);
	return test_summary();
}
