/* check-train: sepnet-train's step on the cuda backend against the cpu
 * backend, a short training run, and the training benchmark of
 * tests/gpu/check.sh (issue 8).
 *
 *   check-train [--batch B] CONFIG [SEED]
 *       one optimizer step (gradient_accum micro-batches, dropout on) from
 *       the same random weights and the same stems, through the trainer's
 *       step (lib/train.h: the one model path) on both backends: each micro-batch's loss, every parameter
 *       tensor's gradient (relative L2 error, worst tensors printed), the
 *       gradient norm and the first moments after AdamW; exit 1 above the
 *       tolerance of the config's precision (below)
 *   check-train --learn STEPS CONFIG
 *       STEPS steps on cuda, each on fresh stems; prints the loss of the
 *       first and last five steps; exit 1 unless it fell
 *   check-train --self ...
 *       any of these with the cpu backend standing in for cuda: a dry run
 *       of the tool itself on a machine without a GPU (make test)
 *   check-train --comm STEPS CONFIG
 *       STEPS steps on cuda twice, the second with its gradients summed by
 *       NCCL as a data-parallel rank's are (lib/train/dist.h), alone in its
 *       world; the weights must be the same bits (skipped on the cpu,
 *       which has no sums of its own)
 *   check-train --bench STEPS CONFIG
 *       examples per second over STEPS steps (after two warm-up steps) on
 *       one batch of stems held on the device, and the device memory the
 *       trainer holds at its peak: key=value lines
 *
 * The stems are synthetic and separable: drums are decaying noise bursts,
 * bass a low sine, other three mid-range sines, vocals a harmonic tone,
 * each with a random level, frequency and phase per example; the mixture's
 * spectrum tells the sources apart, so a model can learn masks in a few
 * dozen steps.
 *
 * Tolerances, relative L2 error per gradient tensor after a whole forward
 * and backward pass: f32 1e-3 (reordered sums, cuFFT against FFTW: about
 * 1e-5 in the large tensors, more in those whose gradient is small, such
 * as the first layers' when dropout hits), tf32 5e-2 (10-bit mantissas in
 * every GEMM, forward and backward), bf16 1.5e-1 (8-bit mantissas, through
 * every layer twice).  The ops themselves are checked tightly, one by one,
 * by check-ops. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "config.h"
#include "train_impl.h"
#include "model.h"
#include "rng.h"
#include "util.h"

static bool self;	/* --self: the cpu backend stands in for cuda (a dry run) */

static const struct backend *the_gpu(void)
{
	return self ? &backend_cpu : backend_get("cuda");	// dies saying why without a GPU
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* stems (B, S, C, n): batch `batch` of the synthetic sources above */
static void make_stems(float *stems, int B, int S, int C, int64_t n, int sr, uint64_t batch)
{
	#pragma omp parallel for collapse(2)
	for (int b = 0; b < B; b++)
		for (int s = 0; s < S; s++) {
			uint64_t stream = (batch * 64 + (uint64_t)b) * 8 + (uint64_t)s;
			double level = 0.1 + 0.4 * rng_uniform(1, stream, 0);
			double f = 0, phase = 2 * M_PI * rng_uniform(1, stream, 1);
			switch (s % 4) {
			case 0: f = 2 + 3 * rng_uniform(1, stream, 2); break;		/* bursts per second */
			case 1: f = 40 + 80 * rng_uniform(1, stream, 2); break;		/* bass */
			case 2: f = 300 + 1700 * rng_uniform(1, stream, 2); break;	/* other */
			case 3: f = 150 + 250 * rng_uniform(1, stream, 2); break;	/* vocals' f0 */
			}
			for (int c = 0; c < C; c++) {
				float *y = stems + (((size_t)b * S + s) * C + c) * n;
				for (int64_t i = 0; i < n; i++) {
					double t = (double)i / sr, v;
					switch (s % 4) {
					case 0: {
						double since = fmod(t + phase, 1 / f);
						v = (2 * rng_uniform(2, stream, (uint64_t)i) - 1) * exp(-30 * since);
						break;
					}
					case 1:
						v = sin(2 * M_PI * f * t + phase);
						break;
					case 2:
						v = (sin(2 * M_PI * f * t + phase) + sin(2 * M_PI * 1.5 * f * t) +
						     sin(2 * M_PI * 2.25 * f * t + 2 * phase)) / 3;
						break;
					default:
						v = 0;
						for (int h = 1; h <= 5; h++)
							v += sin(2 * M_PI * h * f * t + h * phase) / h;
						v /= 2;
					}
					y[i] = (float)(level * v * (c ? 0.9 : 1.0));
				}
			}
		}
}

static void load_config(struct config *c, const char *path, int batch)
{
	config_load_or_die(c, path);
	if (batch > 0)
		c->batch_size = batch;
}

/* A trainer of c on be with random weights (the transformer's W_out and
 * b_out too, zero and constant at init, so every path of the network
 * carries gradient; the band-split model's init is random throughout). */
static struct trainer *random_trainer(const struct config *c, const struct backend *be,
				      uint64_t seed)
{
	struct trainer *t = trainer_create_on(c, 0, be);
	struct model *m = trainer_model(t);
	for (int k = 0; k < m->n_tensors; k++)
		if (!strcmp(m->tensors[k].name, "out.weight"))
			for (size_t i = m->tensors[k].offset; i < m->n_params; i++)
				m->params[i] = 0.02f * (2 * rng_uniform(seed, 99, i) - 1) +
					       (float)(i % 4 == 0) * 0.25f;
	model_upload(m);
	return t;
}

static double rel_error(const float *a, const float *b, size_t n, size_t *nans)
{
	double num = 0, den = 0;
	for (size_t i = 0; i < n; i++) {
		if (!isfinite(a[i])) {
			(*nans)++;
			continue;
		}
		double d = (double)a[i] - b[i];
		num += d * d;
		den += (double)b[i] * b[i];
	}
	return sqrt(num / (den > 0 ? den : 1));
}

/* Per-tensor comparison of got against ref; prints the worst three; the
 * worst error (infinite when anything is NaN). */
static double compare_tensors(const char *what, const struct model *m, const float *got,
			      const float *ref)
{
	double worst[3] = { -1, -1, -1 };
	const char *name[3] = { "", "", "" };
	size_t nans = 0;
	for (int k = 0; k < m->n_tensors; k++) {
		const struct safetensors_view *v = &m->tensors[k];
		double e = rel_error(got + v->offset, ref + v->offset, safetensors_view_numel(v), &nans);
		for (int j = 0; j < 3; j++)
			if (e > worst[j]) {
				for (int i = 2; i > j; i--)
					worst[i] = worst[i - 1], name[i] = name[i - 1];
				worst[j] = e, name[j] = v->name;
				break;
			}
	}
	printf("  %-16s worst %.3g %s, %.3g %s, %.3g %s%s\n", what, worst[0], name[0], worst[1],
	       name[1], worst[2], name[2], nans ? " (NaN/Inf!)" : "");
	return nans ? INFINITY : worst[0];
}

static int check_step(const char *path, int batch, uint64_t seed)
{
	const struct backend *gpu = the_gpu(), *cpu = &backend_cpu;
	struct config c;
	load_config(&c, path, batch);
	double tol = c.use_amp ? 1.5e-1 : c.tf32 ? 5e-2 : 1e-3;
	const char *prec = c.use_amp ? "bf16" : c.tf32 ? "tf32" : "f32";
	struct trainer *tg = random_trainer(&c, gpu, seed), *tc = random_trainer(&c, cpu, seed);
	struct model *m = tc->m;
	int B = c.batch_size, accum = c.gradient_accum;
	int64_t n = c.segment_length;
	printf("check-train %s (%s, batch %d × %d, %zu parameters): cuda against cpu, tolerance %g\n",
	       path, prec, B, accum, m->n_params, tol);
	size_t rec = (size_t)B * m->S * m->C * n, bytes = m->n_params * sizeof(float);
	float *stems = gpu->host_alloc(rec * sizeof(float));
	model_zero_grad(tg->m);
	model_zero_grad(tc->m);
	int failed = 0;
	for (int k = 0; k < accum; k++) {
		make_stems(stems, B, m->S, m->C, n, c.sample_rate, (uint64_t)k);
		struct loss_stats lg, lc;
		double a = trainer_micro(tg, stems, (uint64_t)k, false, &lg);
		double b = trainer_micro(tc, stems, (uint64_t)k, false, &lc);
		double e = fabs(a - b) / (fabs(b) > 1 ? fabs(b) : 1);
		printf("  micro-batch %d   loss cuda %.7g cpu %.7g (relative %.3g), SI-SDR %.4f / %.4f dB\n",
		       k, a, b, e, lg.sisdr, lc.sisdr);
		failed |= !(e <= tol);
	}
	float *g = xmalloc(bytes);
	gpu->download(g, tg->m->grads, bytes);
	failed |= !(compare_tensors("gradients", m, g, tc->m->grads) <= tol);
	double ng = trainer_update(tg, c.learning_rate);
	double nc = trainer_update(tc, c.learning_rate);
	printf("  gradient norm    cuda %.7g cpu %.7g\n", ng, nc);
	failed |= !(fabs(ng - nc) <= tol * nc);
	gpu->download(g, tg->dev_m, bytes);
	failed |= !(compare_tensors("first moments", m, g, tc->dev_m) <= tol);
	printf("  %s\n", failed ? "FAIL" : "ok");
	gpu->host_free(stems);
	free(g);
	trainer_free(tg);
	trainer_free(tc);
	return failed;
}

static int learn(int steps, const char *path)
{
	const struct backend *gpu = the_gpu();
	struct config c;
	load_config(&c, path, 0);
	struct trainer *t = trainer_create_on(&c, 0, gpu);
	struct model *m = trainer_model(t);
	size_t rec = (size_t)c.batch_size * m->S * m->C * c.segment_length;
	float *stems = gpu->host_alloc(rec * sizeof(float));
	double first = 0, last = 0;
	int k5 = steps < 10 ? steps / 2 : 5;
	for (int s = 0; s < steps; s++) {
		model_zero_grad(m);
		double loss = 0;
		for (int k = 0; k < c.gradient_accum; k++) {
			make_stems(stems, c.batch_size, m->S, m->C, c.segment_length, c.sample_rate,
				   (uint64_t)(s * c.gradient_accum + k) + 1000);
			loss += trainer_micro(t, stems, (uint64_t)(s * c.gradient_accum + k), false, NULL) /
				c.gradient_accum;
		}
		trainer_update(t, c.learning_rate);
		if (s < k5)
			first += loss / k5;
		if (s >= steps - k5)
			last += loss / k5;
		if (s < k5 || s >= steps - k5)
			printf("  step %3d loss %.5f\n", s + 1, loss);
	}
	bool fell = isfinite(last) && last < first - 0.05 * fabs(first);
	printf("check-train --learn %s: mean loss of the first %d steps %.5f, of the last %d %.5f: %s\n",
	       path, k5, first, k5, last, fell ? "ok" : "FAIL (did not fall)");
	gpu->host_free(stems);
	trainer_free(t);
	return !fell;
}

static int bench(int steps, const char *path)
{
	const struct backend *gpu = the_gpu();
	struct config c;
	load_config(&c, path, 0);
	size_t before = gpu->device_memory();
	struct trainer *t = trainer_create_on(&c, 0, gpu);
	struct model *m = trainer_model(t);
	size_t rec = (size_t)c.batch_size * m->S * m->C * c.segment_length;
	float *stems = gpu->host_alloc(rec * sizeof(float));
	make_stems(stems, c.batch_size, m->S, m->C, c.segment_length, c.sample_rate, 7);
	double t0 = 0, loss = 0;
	for (int s = -2; s < steps; s++) {
		if (s == 0) {
			gpu->sync();
			t0 = now();
		}
		model_zero_grad(m);
		for (int k = 0; k < c.gradient_accum; k++)	// a copy a micro-batch, as sepnet-train's
			loss = trainer_micro(t, stems, (uint64_t)(s + 2), false, NULL);
		trainer_update(t, c.learning_rate);
	}
	gpu->sync();
	double secs = now() - t0;
	printf("examples_per_s=%.3f\n", (double)steps * c.batch_size * c.gradient_accum / secs);
	printf("step_s=%.4f\n", secs / steps);
	if (!self)
		printf("peak_mem_gib=%.3f\n", (double)(gpu->device_memory() - before) / (1 << 30));
	printf("loss_last=%.6g\n", loss);
	gpu->host_free(stems);
	trainer_free(t);
	return isfinite(loss) ? 0 : 1;
}

/* STEPS steps of CONFIG on the GPU twice from the same weights on the same
 * stems, the second trainer's gradients going through the backend's own
 * sums (NCCL) as a data-parallel rank's do, alone in its world: the
 * weights must come out the same bits (a sum over one rank is the
 * gradient), and nothing may fail on the way (NCCL loaded, the
 * communicator made, every bucket's sum ordered after its backward). */
static int comm(int steps, const char *path)
{
	const struct backend *gpu = the_gpu();
	struct config c;
	load_config(&c, path, 0);
	struct trainer *t[2];
	char why[256];
	for (int i = 0; i < 2; i++)
		t[i] = trainer_create_on(&c, 0, gpu);
	struct model *m = trainer_model(t[1]);
	t[1]->dg = dist_grads_alone(gpu, m->grads, m->n_params, why, sizeof why);
	if (!t[1]->dg) {
		printf("check-train --comm %s: skipped: %s\n", path, why);
		trainer_free(t[0]);
		trainer_free(t[1]);
		return self ? 0 : 1;	// on a GPU, NCCL must be there
	}
	size_t rec = (size_t)c.batch_size * m->S * m->C * c.segment_length;
	float *stems = gpu->host_alloc(rec * sizeof(float));
	double loss[2] = { 0 };
	for (int s = 0; s < steps; s++) {
		for (int i = 0; i < 2; i++) {
			model_zero_grad(trainer_model(t[i]));
			for (int k = 0; k < c.gradient_accum; k++) {
				uint64_t micro = (uint64_t)(s * c.gradient_accum + k);
				make_stems(stems, c.batch_size, m->S, m->C, c.segment_length,
					   c.sample_rate, micro + 1000);
				loss[i] = trainer_micro(t[i], stems, micro, k == c.gradient_accum - 1, NULL);
			}
			trainer_sum_grads(t[i]);
			trainer_update(t[i], c.learning_rate);
		}
	}
	const real *w0 = trainer_eval_weights(t[0]), *w1 = trainer_eval_weights(t[1]);
	size_t differ = 0;
	for (size_t i = 0; i < m->n_params; i++)
		differ += memcmp(&w0[i], &w1[i], sizeof *w0) != 0;
	printf("check-train --comm %s: %d steps, last loss %.6f and %.6f, %zu of %zu weights differ: %s\n",
	       path, steps, loss[0], loss[1], differ, m->n_params, differ ? "FAIL" : "ok");
	gpu->host_free(stems);
	trainer_free(t[0]);
	trainer_free(t[1]);
	return differ != 0;
}

static int positive(const char *s)
{
	int v;
	if (parse_int(s, &v) || v < 1)
		die_usage("'%s': a positive integer", s);
	return v;
}

int main(int argc, char **argv)
{
	set_progname(argv[0]);
	if (argc > 1 && !strcmp(argv[1], "--self")) {
		self = true;
		argv++, argc--;
	}
	if (argc == 4 && !strcmp(argv[1], "--learn"))
		return learn(positive(argv[2]), argv[3]);
	if (argc == 4 && !strcmp(argv[1], "--bench"))
		return bench(positive(argv[2]), argv[3]);
	if (argc == 4 && !strcmp(argv[1], "--comm"))
		return comm(positive(argv[2]), argv[3]);
	int batch = 0, i = 1;
	if (argc > 2 && !strcmp(argv[1], "--batch")) {
		batch = positive(argv[2]);
		i = 3;
	}
	if (argc - i < 1 || argc - i > 2)
		die_usage("usage: check-train [--self] [--batch B] CONFIG [SEED] | "
			  "[--self] --learn STEPS CONFIG | [--self] --bench STEPS CONFIG | "
			  "[--self] --comm STEPS CONFIG");
	return check_step(argv[i], batch, argc - i == 2 ? (uint64_t)positive(argv[i + 1]) : 7);
}
