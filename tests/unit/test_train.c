/* test_train.c: the trainer (lib/train.h) on a model small enough to step
 * in milliseconds: the EMA update, training-record checks, a resumed run
 * equal bit for bit to a straight one (with dropout, EMA, accumulation and
 * warm-up on, so the RNG counter, moments, EMA and schedule must all be
 * restored), NaN/Inf steps skipped without touching the weights, epochs,
 * the refusal to write a NaN checkpoint, and validation against the
 * training loss. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ops.h"
#include "rng.h"
#include "snt.h"
#include "test.h"
#include "train_impl.h"
#include "util.h"
#include "validate.h"

#define N_SAMPLES 2048

static char tmpdir[64];

static struct config small_config(void)
{
	struct config c;
	config_defaults(&c);
	c.n_fft = 256, c.hop_length = 64;
	c.n_layers = 2, c.emb_dim = 16, c.n_heads = 2, c.attention_dim = 16;
	c.n_ffn = 1, c.ffn_hidden_dim[0] = 32;
	c.dropout = 0.1f;
	c.segment_length = N_SAMPLES;
	c.batch_size = 2, c.gradient_accum = 2;
	c.ema_decay = 0.9f;
	c.warmup_steps = 3;
	c.learning_rate = 3e-3f;
	c.seed = 7;
	char err[256];
	if (config_validate(&c, "test", err, sizeof err))
		die("%s", err);
	return c;
}

static void tmp_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
}

/* A header for stems f32 [4, 2, n] at 44.1 kHz. */
static void stems_header(struct snt_header *h, int64_t n)
{
	int64_t shape[3] = { 4, 2, n };
	snt_header_init(h);
	snt_header_set_shape(h, 3, shape);
	snt_header_set(h, "sources", "drums,bass,other,vocals");
	snt_header_set(h, "sr", "44100");
}

/* n_records records of stems: tones of a random pitch per stem plus noise;
 * bad[i] = 'n' fills record i with NaN, 'i' puts one Inf in it. */
static void write_records(const char *path, int n_records, const char *bad)
{
	struct snt_writer *w = snt_writer_open(path);
	struct snt_header h;
	stems_header(&h, N_SAMPLES);
	size_t n = (size_t)4 * 2 * N_SAMPLES;
	float *x = xmalloc(n * sizeof(float));
	for (int r = 0; r < n_records; r++) {
		struct rng g;
		rng_init(&g, 1234, r);
		for (int s = 0; s < 4; s++) {
			float f = rng_next_range(&g, 0.005f, 0.2f), a = rng_next_range(&g, 0.05f, 0.3f);
			for (int c = 0; c < 2; c++)
				for (int i = 0; i < N_SAMPLES; i++)
					x[((size_t)s * 2 + c) * N_SAMPLES + i] =
						a * sinf(f * i * (1 + s)) + 0.01f * rng_next_normal(&g);
		}
		// finite (NaN or Inf records are refused on read) but so large
		// that the mixture and the loss overflow to Inf and NaN
		if (bad && bad[r] == 'n')
			for (size_t i = 0; i < n; i++)
				x[i] = 3e38f;
		if (bad && bad[r] == 'i')
			x[17] = 3e38f;
		snt_write_header(w, &h);
		snt_write_payload(w, x, n * sizeof(float));
	}
	free(x);
	snt_header_free(&h);
	snt_writer_close(w);
}

static struct snt_reader *open_at(const char *path, int skip)
{
	struct snt_reader *r = snt_reader_open(path);
	struct snt_header h;
	snt_header_init(&h);
	for (int i = 0; i < skip; i++)
		snt_read_header_or_die(r, &h);
	snt_header_free(&h);
	return r;
}

static int run_steps(struct trainer *t, struct snt_reader *r, int n)
{
	struct train_step_stats st;
	int ok = 0;
	for (int i = 0; i < n; i++)
		ok += trainer_step(t, r, &st) == TRAIN_STEP_OK;
	return ok;
}

static bool same_floats(const float *a, const float *b, size_t n)
{
	return memcmp(a, b, n * sizeof(float)) == 0;
}

static void test_ema_update(void)
{
	float ema[4] = { 1, 2, 3, 4 }, p[4] = { 3, 2, 1, 0 };
	ema_update(ema, p, 4, 0.75f);
	CHECK_NEAR(ema[0], 1.5, 1e-7);
	CHECK_NEAR(ema[1], 2.0, 1e-7);
	CHECK_NEAR(ema[2], 2.5, 1e-7);
	CHECK_NEAR(ema[3], 3.0, 1e-7);
	for (int i = 0; i < 200; i++)	// converges to constant weights
		ema_update(ema, p, 4, 0.75f);
	CHECK_NEAR(ema[0], 3.0, 1e-6);
	CHECK_NEAR(ema[3], 0.0, 1e-6);
	ema_update(ema, (float[]){ 9, 9, 9, 9 }, 4, 0);	// decay 0: a copy
	CHECK(ema[0] == 9 && ema[3] == 9, "decay 0 copies, got %g %g", ema[0], ema[3]);
}

static void test_check_record(void)
{
	struct config c = small_config();
	struct snt_header h;
	char err[256];
	stems_header(&h, N_SAMPLES);
	CHECK(train_check_record(&h, &c, N_SAMPLES, err, sizeof err) == 0, "%s", err);
	CHECK(train_check_record(&h, &c, 0, err, sizeof err) == 0, "any length: %s", err);
	CHECK(train_check_record(&h, &c, 4096, err, sizeof err) < 0 &&
	      !strcmp(err, "2048 samples, the config's segment_length is 4096"), "%s", err);
	snt_header_set(&h, "sr", "48000");
	CHECK(train_check_record(&h, &c, 0, err, sizeof err) < 0 &&
	      !strcmp(err, "sr=48000, the model's sample_rate is 44100"), "%s", err);
	snt_header_del(&h, "sr");
	CHECK(train_check_record(&h, &c, 0, err, sizeof err) < 0 &&
	      !strcmp(err, "sr=(none), the model's sample_rate is 44100"), "%s", err);
	snt_header_free(&h);

	stems_header(&h, N_SAMPLES);
	snt_header_set(&h, "sources", "vocals,drums,bass,other");
	CHECK(train_check_record(&h, &c, 0, err, sizeof err) < 0 &&
	      !strcmp(err, "sources=vocals,drums,bass,other, the model's sources are drums,bass,other,vocals"),
	      "%s", err);
	snt_header_free(&h);

	stems_header(&h, N_SAMPLES);
	snt_header_set(&h, "shape", "4,1,2048");
	CHECK(train_check_record(&h, &c, 0, err, sizeof err) < 0 &&
	      !strcmp(err, "1 channels, the model takes 2"), "%s", err);
	snt_header_set(&h, "shape", "2,2048");
	CHECK(train_check_record(&h, &c, 0, err, sizeof err) < 0 &&
	      !strcmp(err, "expected stems f32 [S, C, N], got f32 of rank 2"), "%s", err);
	snt_header_set(&h, "shape", "4,2,2048");
	snt_header_set(&h, "dtype", "s16");
	CHECK(train_check_record(&h, &c, 0, err, sizeof err) < 0 &&
	      !strcmp(err, "expected stems f32 [S, C, N], got s16 of rank 3"), "%s", err);
	snt_header_free(&h);
}

/* 6 steps straight == 3 steps, checkpoint, a new trainer loading it, 3
 * steps on the same records: weights, moments, EMA and counters bit for
 * bit.  And the test can fail: without the RNG counter, or without
 * dropout, the weights differ. */
static void test_resume_is_bit_exact(void)
{
	struct config c = small_config();
	char data[128], ckpt[128], err[512];
	tmp_path(data, sizeof data, "train.snt");
	tmp_path(ckpt, sizeof ckpt, "half.safetensors");
	write_records(data, 24, NULL);
	int per_step = c.batch_size * c.gradient_accum;

	struct trainer *a = trainer_create(&c, 10);
	struct snt_reader *r = open_at(data, 0);
	CHECK(run_steps(a, r, 6) == 6, "six good steps");
	snt_reader_close(r);

	struct trainer *b = trainer_create(&c, 10);
	r = open_at(data, 0);
	run_steps(b, r, 3);
	snt_reader_close(r);
	trainer_save(b, ckpt);
	CHECK(b->records == 3 * per_step, "records %lld", (long long)b->records);
	CHECK(trainer_checkpoint_records(ckpt, err, sizeof err) == b->records, "%s", err);

	struct trainer *resumed = trainer_create(&c, 10);
	CHECK(trainer_load(resumed, ckpt, err, sizeof err) == 0, "%s", err);
	r = open_at(data, (int)resumed->records);
	run_steps(resumed, r, 3);
	snt_reader_close(r);
	size_t n = a->m->n_params;
	CHECK(same_floats(a->m->params, resumed->m->params, n), "weights differ");
	CHECK(same_floats(a->opt.m, resumed->opt.m, n), "first moments differ");
	CHECK(same_floats(a->opt.v, resumed->opt.v, n), "second moments differ");
	CHECK(same_floats(a->ema, resumed->ema, n), "EMA differs");
	CHECK(!same_floats(a->ema, a->m->params, n), "the EMA is not the weights");
	CHECK(a->step == resumed->step && a->epoch == resumed->epoch && a->micro == resumed->micro &&
	      a->epoch_records == resumed->epoch_records && a->opt.t == resumed->opt.t,
	      "counters: step %lld/%lld epoch %lld/%lld", (long long)a->step,
	      (long long)resumed->step, (long long)a->epoch, (long long)resumed->epoch);
	CHECK(a->epoch_loss_sum == resumed->epoch_loss_sum, "epoch loss %.17g vs %.17g",
	      a->epoch_loss_sum, resumed->epoch_loss_sum);

	// the dropout RNG counter matters: restarting it changes the weights
	struct trainer *forgetful = trainer_create(&c, 10);
	trainer_load(forgetful, ckpt, err, sizeof err);
	forgetful->micro = 0;
	r = open_at(data, (int)forgetful->records);
	run_steps(forgetful, r, 3);
	snt_reader_close(r);
	CHECK(!same_floats(a->m->params, forgetful->m->params, n), "dropout masks had no effect");

	trainer_free(a);
	trainer_free(b);
	trainer_free(resumed);
	trainer_free(forgetful);
}

static void test_load_refuses_other_model(void)
{
	struct config c = small_config();
	char ckpt[128], err[512];
	tmp_path(ckpt, sizeof ckpt, "other.safetensors");
	struct trainer *t = trainer_create(&c, 10);
	trainer_save(t, ckpt);
	c.emb_dim = 32, c.attention_dim = 32;
	struct trainer *u = trainer_create(&c, 10);
	CHECK(trainer_load(u, ckpt, err, sizeof err) < 0 && strstr(err, "emb_dim"), "%s", err);
	trainer_free(t);
	trainer_free(u);
}

/* Records 2-3 (step 2) overflow everywhere, record 5 (step 3) in one sample: those
 * steps change nothing and are counted; a good step resets the count. */
static void test_bad_steps_are_skipped(void)
{
	struct config c = small_config();
	c.gradient_accum = 1;
	char data[128];
	tmp_path(data, sizeof data, "bad.snt");
	write_records(data, 10, "..nn.i....");
	struct trainer *t = trainer_create(&c, 1000);
	struct snt_reader *r = open_at(data, 0);
	struct train_step_stats st;
	size_t n = t->m->n_params;
	float *before = xmalloc(n * sizeof(float));

	CHECK(trainer_step(t, r, &st) == TRAIN_STEP_OK, "step 1 ok");
	memcpy(before, t->m->params, n * sizeof(float));
	CHECK(trainer_step(t, r, &st) == TRAIN_STEP_BAD, "NaN step skipped");
	CHECK(isnan(st.loss.loss), "the loss is reported: %g", st.loss.loss);
	CHECK(t->bad_in_row == 1 && t->step == 1, "bad %d step %lld", t->bad_in_row, (long long)t->step);
	CHECK(trainer_step(t, r, &st) == TRAIN_STEP_BAD, "Inf step skipped");
	CHECK(t->bad_in_row == 2 && t->bad_total == 2, "bad %d total %lld", t->bad_in_row,
	      (long long)t->bad_total);
	CHECK(same_floats(before, t->m->params, n), "skipped steps changed the weights");
	CHECK(same_floats(before, t->ema, n) == false, "EMA of step 1 kept");
	CHECK(t->records == 6 && t->opt.t == 1, "records %lld, AdamW t %lld", (long long)t->records,
	      (long long)t->opt.t);
	CHECK(trainer_step(t, r, &st) == TRAIN_STEP_OK, "good step after bad ones");
	CHECK(t->bad_in_row == 0 && t->bad_total == 2 && t->step == 2, "bad %d total %lld",
	      t->bad_in_row, (long long)t->bad_total);
	CHECK(!same_floats(before, t->m->params, n), "the good step moved the weights");
	CHECK(trainer_step(t, r, &st) == TRAIN_STEP_OK, "step 5");
	CHECK(trainer_step(t, r, &st) == TRAIN_STEP_END, "end of the records");
	free(before);
	snt_reader_close(r);
	trainer_free(t);
}

static void test_epochs(void)
{
	struct config c = small_config();
	char data[128];
	tmp_path(data, sizeof data, "epochs.snt");
	write_records(data, 16, NULL);
	struct trainer *t = trainer_create(&c, 5);	// 5 records: 2 steps of 4
	struct snt_reader *r = open_at(data, 0);
	run_steps(t, r, 1);
	CHECK(!trainer_epoch_done(t), "4 of 5 records");
	run_steps(t, r, 1);
	CHECK(trainer_epoch_done(t), "8 of 5 records");
	double mean = trainer_end_epoch(t);
	CHECK(isfinite(mean) && t->epoch == 1 && t->epoch_records == 0 && t->epoch_loss_n == 0,
	      "mean %g epoch %lld", mean, (long long)t->epoch);
	snt_reader_close(r);
	trainer_free(t);
}

/* trainer_save dies rather than write a weight that is NaN. */
static void test_no_nan_checkpoint(void)
{
	struct config c = small_config();
	char ckpt[128];
	tmp_path(ckpt, sizeof ckpt, "nan.safetensors");
	struct trainer *t = trainer_create(&c, 10);
	t->m->params[t->m->n_params / 2] = NAN;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		freopen("/dev/null", "w", stderr);
		trainer_save(t, ckpt);
		_exit(0);
	}
	int status;
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status %d", status);
	CHECK(access(ckpt, F_OK) < 0, "a NaN checkpoint was written");
	trainer_free(t);
}

/* A validation track of one segment is one chunk of separator_run: its
 * figures are the training loss's on that example. */
static void test_validation_is_the_training_loss(void)
{
	struct config c = small_config();
	c.dropout = 0;
	char data[128], valid[128];
	tmp_path(data, sizeof data, "vtrain.snt");
	tmp_path(valid, sizeof valid, "valid.snt");
	write_records(data, 12, NULL);
	write_records(valid, 1, NULL);
	struct trainer *t = trainer_create(&c, 1000);
	struct snt_reader *r = open_at(data, 0);
	run_steps(t, r, 3);	// weights away from the initial equal split
	snt_reader_close(r);

	int T = model_segment_frames(&c);
	struct model *m = t->m;
	struct valid_result v;
	validate_file(m, valid, &v);	// on the training model, its dropout off

	r = open_at(valid, 0);
	struct snt_header h;
	snt_header_init(&h);
	snt_read_header_or_die(r, &h);
	float *stems = snt_read_payload_alloc_or_die(r, &h);
	m->dropout_active = false;
	CHECK(!loss_targets(t->lw, m->x, stems, 1, m->S, m->C, m->F, N_SAMPLES), "loss_targets");
	model_forward(m, 1, T);
	struct loss_stats ls;
	loss_compute(t->lw, NULL, m->yspec, &ls);
	free(stems);

	CHECK(v.n_tracks == 1, "%d tracks", v.n_tracks);
	// the same float values summed in other orders
	CHECK_NEAR(v.stats.loss, ls.loss, 1e-5 * fabs(ls.loss));
	CHECK_NEAR(v.stats.l1, ls.l1, 1e-6 * ls.l1);
	CHECK_NEAR(v.stats.spectral, ls.spectral, 1e-6 * ls.spectral);
	for (int s = 0; s < 4; s++)
		CHECK_NEAR(v.stats.sisdr_source[s], ls.sisdr_source[s], 1e-4);
	CHECK(fabs(ls.sisdr) > 0.1, "a trivial SI-SDR %g", ls.sisdr);
	snt_header_free(&h);
	snt_reader_close(r);
	trainer_free(t);
}

int main(void)
{
	set_progname("test_train");
	snprintf(tmpdir, sizeof tmpdir, "/tmp/test_train.XXXXXX");
	if (!mkdtemp(tmpdir))
		die("mkdtemp:");
	RUN(test_ema_update);
	RUN(test_check_record);
	RUN(test_resume_is_bit_exact);
	RUN(test_load_refuses_other_model);
	RUN(test_bad_steps_are_skipped);
	RUN(test_epochs);
	RUN(test_no_nan_checkpoint);
	RUN(test_validation_is_the_training_loss);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		warn("could not remove %s", tmpdir);
	return test_summary();
}
