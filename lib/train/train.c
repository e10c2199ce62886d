/* train.c: the trainer: steps, epochs and training checkpoints (see train.h). */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "rng.h"
#include "safetensors.h"
#include "shard.h"
#include "train_impl.h"
#include "util.h"

/* checkpoint.c's "format" value: a training checkpoint is a sepnet
 * checkpoint with more tensors and metadata */
#define CHECKPOINT_FORMAT "sepnet"
/* the rng stream of the segment windows taken from longer records */
#define SEGMENT_WINDOW_STREAM 0x77696e646f77ULL

int train_check_record(const struct snt_header *h, const struct config *cfg, int64_t length,
		       char *err, size_t errlen)
{
	char want[CONFIG_MAX_SOURCES * (CONFIG_NAME_LEN + 1)] = "";
	for (int s = 0; s < cfg->n_sources; s++) {
		if (s)
			strcat(want, ",");
		strcat(want, cfg->sources[s]);
	}
	const char *sources = snt_header_get(h, "sources"), *sr = snt_header_get(h, "sr");
	int rate;
	if (h->dtype != SNT_F32 || h->rank != 3) {
		snprintf(err, errlen, "expected stems f32 [S, C, N], got %s of rank %d",
			 snt_dtype_name(h->dtype), h->rank);
		return -1;
	}
	if (!sources || strcmp(sources, want) != 0) {
		snprintf(err, errlen, "sources=%s, the model's sources are %s",
			 sources ? sources : "(none)", want);
		return -1;
	}
	if (h->shape[0] != cfg->n_sources) {
		snprintf(err, errlen, "%" PRId64 " stems, sources= names %d", h->shape[0],
			 cfg->n_sources);
		return -1;
	}
	if (h->shape[1] != cfg->channels) {
		snprintf(err, errlen, "%" PRId64 " channels, the model takes %d", h->shape[1],
			 cfg->channels);
		return -1;
	}
	if (!sr || parse_int(sr, &rate) || rate != cfg->sample_rate) {
		snprintf(err, errlen, "sr=%s, the model's sample_rate is %d", sr ? sr : "(none)",
			 cfg->sample_rate);
		return -1;
	}
	if (length > 0 && h->shape[2] != length) {
		snprintf(err, errlen, "%" PRId64 " samples, the config's segment_length is %" PRId64,
			 h->shape[2], length);
		return -1;
	}
	return 0;
}

/* n floats of be's memory holding host (on a host backend: host itself). */
static real *backend_copy(const struct backend *be, real *host, size_t n)
{
	if (be->host)
		return host;
	real *d = be->alloc(n * sizeof(real));
	be->upload(d, host, n * sizeof(real));
	return d;
}

struct trainer *trainer_create_on(const struct config *cfg, int64_t epoch_size,
				  const struct backend *be)
{
	struct trainer *t = xcalloc(1, sizeof *t);
	t->cfg = *cfg;
	t->be = be;
	t->epoch_size = epoch_size;
	t->rank = dist_rank();
	t->ranks = dist_size();
	if (cfg->batch_size % t->ranks)
		die("batch_size %d is not a multiple of the %d ranks: each rank takes batch_size / "
		    "ranks examples of every micro-batch (batch_size stays the global batch)",
		    cfg->batch_size, t->ranks);
	t->batch = cfg->batch_size / t->ranks;
	struct model *m = t->m = model_create(cfg, be, t->batch, model_segment_frames(cfg), true);
	// this rank's examples are r, r + N, ... of each micro-batch: their
	// dropout masks are those examples' in one process
	m->example0 = (uint64_t)t->rank;
	m->example_stride = (uint64_t)t->ranks;
	model_init(m, cfg->seed);
	t->dg = dist_grads_create(be, m->grads, m->n_params);
	t->lw = loss_work_create(be, cfg);
	adamw_init(&t->opt, m->n_params, cfg->weight_decay);
	t->dev_m = backend_copy(be, t->opt.m, m->n_params);
	t->dev_v = backend_copy(be, t->opt.v, m->n_params);
	if (cfg->ema_decay > 0) {
		t->ema = xmalloc(m->n_params * sizeof(real));
		memcpy(t->ema, m->params, m->n_params * sizeof(real));
		t->dev_ema = backend_copy(be, t->ema, m->n_params);
	}
	if (!be->host)
		t->dev_stems = be->alloc((size_t)t->batch * m->S * m->C * cfg->segment_length *
					 sizeof(real));
	sched_init(&t->sched, cfg);
	snt_header_init(&t->h);
	return t;
}

struct trainer *trainer_create(const struct config *cfg, int64_t epoch_size)
{
	return trainer_create_on(cfg, epoch_size, &backend_cpu);
}

struct model *trainer_model(struct trainer *t)
{
	return t->m;
}

void trainer_free(struct trainer *t)
{
	if (!t)
		return;
	const struct backend *be = t->be;
	prefetch_free(t->pf);
	dist_grads_free(t->dg);
	if (t->stems)
		be->host_free(t->stems);
	if (!be->host) {
		be->free(t->dev_m);
		be->free(t->dev_v);
		if (t->dev_ema)
			be->free(t->dev_ema);
		be->free(t->dev_stems);
	}
	loss_work_free(t->lw);
	model_free(t->m);
	adamw_free(&t->opt);
	free(t->ema);
	free(t->window);
	snt_header_free(&t->h);
	free(t);
}

/* 1, or -1 with the message in err when x holds a NaN or infinity */
static int finite_record(const struct snt_reader *r, const float *x, size_t n, char *err,
			 size_t errlen)
{
	int64_t bad = find_nonfinite(x, n);
	if (bad < 0)
		return 1;
	snprintf(err, errlen, "%s: record %" PRId64 ": NaN or infinity at value %" PRId64
		 " (training records must be finite)", r->name, r->record, bad);
	return -1;
}

/* Whether the record whose header t->h holds is this rank's: 1 yes, 0 no
 * (another rank's, of a stream without shard= keys), -1 with the message
 * in err when its shard= key names another rank or world. */
static int own_record(struct trainer *t, char *err, size_t errlen)
{
	const struct snt_reader *r = t->r;
	const char *key = snt_header_get(&t->h, "shard");
	int rank, ranks;
	if (!key)	// every rank reads the one stream and takes its share
		return t->ranks == 1 || t->stream_pos++ % t->ranks == t->rank;
	if (shard_parse(key, &rank, &ranks)) {
		snprintf(err, errlen, "%s: record %" PRId64 ": malformed shard=%s (R/N)", r->name,
			 r->record, key);
		return -1;
	}
	if (ranks == t->ranks && rank == t->rank)
		return 1;
	if (t->ranks == 1)
		snprintf(err, errlen, "%s: record %" PRId64 ": shard=%s, a shard of a %d-rank run, but "
			 "sepnet-train runs as one process: start it with mpirun -np %d, or give "
			 "it musdb-cat's records without --shard", r->name, r->record, key, ranks, ranks);
	else
		snprintf(err, errlen, "%s: record %" PRId64 ": shard=%s, but this is rank %d of %d: "
			 "musdb-cat's --shard (or its launcher's rank) must be sepnet-train's",
			 r->name, r->record, key, t->rank, t->ranks);
	return -1;
}

/* The next record of t->r that is this rank's into dst (S, C, N): 1; 0 at
 * a clean end of stream; -1 with the message in err (prefetch_read_fn). */
static int read_record(void *ctx, float *dst, char *err, size_t errlen)
{
	struct trainer *t = ctx;
	struct snt_reader *r = t->r;
	for (;;) {
		int rc = snt_read_header(r, &t->h);
		if (rc <= 0) {
			if (rc < 0)
				snprintf(err, errlen, "%s", r->err);
			return rc;
		}
		int own = own_record(t, err, errlen);
		if (own < 0)
			return -1;
		if (own)
			break;
		if (snt_skip_payload(r)) {
			snprintf(err, errlen, "%s", r->err);
			return -1;
		}
	}
	if (t->epoch_size == 0) {	/* the config's 0: as many segments as the tracks hold */
		const char *v = snt_header_get(&t->h, "epoch_size");
		if (!v || parse_int64(v, &t->epoch_size) || t->epoch_size < 1) {
			snprintf(err, errlen, "%s: record %" PRId64 ": the config's epoch_size is 0 (as "
				 "many segments as the training tracks hold) and the record has no "
				 "epoch_size key (musdb-cat train writes one): give --epoch-size N",
				 r->name, r->record);
			return -1;
		}
		// musdb-cat counted segments of the record's length; this run
		// takes windows of segment_length out of them (below)
		int64_t N = t->h.rank == 3 ? t->h.shape[2] : 0, L = t->cfg.segment_length;
		if (N > L && t->epoch_size <= INT64_MAX / N)
			t->epoch_size = t->epoch_size * N / L;
	}
	char why[512];
	int64_t L = t->cfg.segment_length;
	if (train_check_record(&t->h, &t->cfg, 0, why, sizeof why)) {
		snprintf(err, errlen, "%s: record %" PRId64 ": %s", r->name, r->record, why);
		return -1;
	}
	int64_t N = t->h.shape[2];
	if (N < L) {
		snprintf(err, errlen, "%s: record %" PRId64 ": %" PRId64 " samples, shorter than the "
			 "config's segment_length %" PRId64 " (musdb-cat train -c CONFIG makes "
			 "segments of that length)", r->name, r->record, N, L);
		return -1;
	}
	if (N == L) {
		if (snt_read_payload(r, &t->h, dst)) {
			snprintf(err, errlen, "%s", r->err);
			return -1;
		}
		return finite_record(r, dst, (size_t)t->h.shape[0] * t->h.shape[1] * N, err, errlen);
	}
	// a longer record: the window of segment_length samples at an offset
	// drawn from the record's header and the config's seed, so the same
	// record gives the same window in any run, resumed or not
	int64_t rows = t->h.shape[0] * t->h.shape[1];
	if ((size_t)(rows * N) > t->window_cap) {
		free(t->window);
		t->window_cap = (size_t)(rows * N);
		t->window = xmalloc(t->window_cap * sizeof(float));
	}
	if (snt_read_payload(r, &t->h, t->window)) {
		snprintf(err, errlen, "%s", r->err);
		return -1;
	}
	if (finite_record(r, t->window, (size_t)(rows * N), err, errlen) < 0)
		return -1;
	int64_t off = (int64_t)rng_below(t->cfg.seed, SEGMENT_WINDOW_STREAM,
					 snt_header_hash(&t->h), (uint64_t)(N - L + 1));
	for (int64_t i = 0; i < rows; i++)
		memcpy(dst + i * L, t->window + i * N + off, L * sizeof(float));
	return 1;
}

void trainer_prefetch(struct trainer *t, struct snt_reader *r)
{
	size_t rec = (size_t)t->m->S * t->m->C * t->cfg.segment_length;
	t->r = r;
	t->pf = prefetch_start(t->be, t->batch, rec, read_record, t);
}

/* The next micro-batch (B, S, C, N) from r, or NULL at the end of the
 * records; dies on a bad record.  Give it back with release_batch. */
static float *next_batch(struct trainer *t, struct snt_reader *r)
{
	if (t->pf) {
		if (r != t->r)
			die("trainer_step: the reader is not the one trainer_prefetch was given");
		const char *err;
		float *b = prefetch_next(t->pf, &err, NULL);
		if (!b && *err)
			die("%s", err);
		return b;
	}
	size_t rec = (size_t)t->m->S * t->m->C * t->cfg.segment_length;
	char err[1024];
	t->r = r;
	if (!t->stems)	// (with prefetch, the thread's slots hold the batches)
		t->stems = t->be->host_alloc(t->batch * rec * sizeof(float));
	for (int b = 0; b < t->batch; b++) {
		int rc = read_record(t, t->stems + b * rec, err, sizeof err);
		if (rc < 0)
			die("%s", err);
		if (rc == 0)
			return NULL;
	}
	return t->stems;
}

static void release_batch(struct trainer *t)
{
	if (t->pf)
		prefetch_release(t->pf);
}

static void add_stats(struct loss_stats *sum, const struct loss_stats *st, double w, int S)
{
	sum->loss += w * st->loss;
	sum->sisdr += w * st->sisdr;
	sum->l1 += w * st->l1;
	sum->spectral += w * st->spectral;
	for (int s = 0; s < S; s++)
		sum->sisdr_source[s] += w * st->sisdr_source[s];
}

static void grads_ready(void *ctx, size_t from)
{
	dist_grads_ready(ctx, from);
}

double trainer_micro(struct trainer *t, const float *stems, uint64_t micro, bool last,
		     struct loss_stats *ls)
{
	const struct config *c = &t->cfg;
	const struct backend *be = t->be;
	struct model *m = t->m;
	int B = t->batch;
	int64_t n = c->segment_length;
	const real *dev = stems;
	if (!be->host) {	// the copy overlaps the work still running
		be->upload_async(t->dev_stems, stems, (size_t)B * m->S * m->C * n * sizeof(real));
		be->upload_fence();
		dev = t->dev_stems;
	}
	m->step = micro;	// dropout masks of this micro-batch
	if (loss_targets(t->lw, m->x, dev, B, m->S, m->C, m->F, n))
		die("sepnet-train: %lld samples are too few for n_fft %d", (long long)n, c->n_fft);
	model_forward(m, B, model_segment_frames(c));
	double loss = loss_compute(t->lw, m->dyspec, m->yspec, ls);
	if (isfinite(loss)) {
		// the step's gradients are final as the last backward makes them:
		// their sums over the ranks start at once
		if (last && t->dg) {
			m->grads_ready = grads_ready;
			m->grads_ready_ctx = t->dg;
		}
		model_backward(m);
		m->grads_ready = NULL;
	}
	return loss;
}

void trainer_sum_grads(struct trainer *t)
{
	dist_grads_finish(t->dg);
}

double trainer_update(struct trainer *t, float lr)
{
	const struct config *c = &t->cfg;
	const struct backend *be = t->be;
	struct model *m = t->m;
	size_t n = m->n_params;
	// each micro-batch's loss is a mean over a rank's examples: the step's
	// gradient, summed over the ranks, is the mean over micro-batches and ranks
	if (c->gradient_accum * t->ranks > 1)
		be->tensor_scale(m->grads, n, 1.0f / (c->gradient_accum * t->ranks));
	double norm = sqrt(be->sumsq(m->grads, n));
	if (!isfinite(norm))
		return norm;
	if (c->grad_clip > 0 && norm > c->grad_clip)
		be->tensor_scale(m->grads, n, (float)(c->grad_clip / (norm + 1e-6)));
	t->opt.t++;
	be->adamw_update(m->w, m->grads, t->dev_m, t->dev_v, n, lr, t->opt.beta1, t->opt.beta2, t->opt.eps,
		  t->opt.weight_decay, t->opt.t);
	if (t->dev_ema)
		be->ema_update(t->dev_ema, m->w, n, c->ema_decay);
	t->host_stale = !be->host;
	return norm;
}

/* Whether every rank has its share of the next micro-batch (the stream of
 * one may end first). */
static bool all_have(const struct trainer *t, bool have)
{
	if (t->ranks == 1)
		return have;
	double n = have;
	dist_sum(&n, 1);
	return n == t->ranks;
}

/* The step's statistics and whether its losses were finite, summed over
 * the ranks: every rank takes the same decisions from them. */
static bool reduce_step(struct trainer *t, struct train_step_stats *st, bool finite)
{
	if (t->ranks == 1)
		return finite;
	struct loss_stats *ls = &st->loss;
	int S = t->m->S;
	double v[4 + CONFIG_MAX_SOURCES + 1] = { ls->loss, ls->sisdr, ls->l1, ls->spectral };
	for (int s = 0; s < S; s++)
		v[4 + s] = ls->sisdr_source[s];
	v[4 + S] = !finite;
	dist_sum(v, 5 + S);
	ls->loss = v[0] / t->ranks;
	ls->sisdr = v[1] / t->ranks;
	ls->l1 = v[2] / t->ranks;
	ls->spectral = v[3] / t->ranks;
	for (int s = 0; s < S; s++)
		ls->sisdr_source[s] = v[4 + s] / t->ranks;
	return v[4 + S] == 0;
}

enum train_step_result trainer_step(struct trainer *t, struct snt_reader *r,
				    struct train_step_stats *st)
{
	const struct config *c = &t->cfg;
	int B = c->batch_size, accum = c->gradient_accum;
	bool finite = true;

	*st = (struct train_step_stats){ .lr = sched_lr(&t->sched, t->step) };
	model_zero_grad(t->m);
	for (int k = 0; k < accum; k++) {
		const float *stems = next_batch(t, r);
		if (!all_have(t, stems)) {
			if (stems)
				release_batch(t);
			return TRAIN_STEP_END;
		}
		if (finite) {	// else the step is lost anyway: only read its records
			struct loss_stats ls;
			double loss = trainer_micro(t, stems, (uint64_t)(t->micro + k), k == accum - 1,
						    &ls);
			add_stats(&st->loss, &ls, 1.0 / accum, t->m->S);
			finite = isfinite(loss);
		}
		release_batch(t);
	}
	trainer_sum_grads(t);	// on every rank, whatever its losses
	finite = reduce_step(t, st, finite);
	t->micro += accum;
	t->records += (int64_t)B * accum;
	t->epoch_records += (int64_t)B * accum;

	st->grad_norm = finite ? trainer_update(t, (float)st->lr) : NAN;
	if (!isfinite(st->grad_norm)) {
		t->bad_in_row++;
		t->bad_total++;
		return TRAIN_STEP_BAD;
	}
	t->bad_in_row = 0;
	t->step++;
	t->epoch_loss_sum += st->loss.loss;
	t->epoch_loss_n++;
	return TRAIN_STEP_OK;
}

bool trainer_epoch_done(const struct trainer *t)
{
	return t->epoch_records >= t->epoch_size;
}

double trainer_end_epoch(struct trainer *t)
{
	double mean = t->epoch_loss_n ? t->epoch_loss_sum / t->epoch_loss_n : NAN;
	t->epoch++;
	t->epoch_records = 0;
	t->epoch_loss_sum = 0;
	t->epoch_loss_n = 0;
	return mean;
}

/* Bring the host copies of the weights, moments and EMA up to date. */
static void sync_host(struct trainer *t)
{
	if (!t->host_stale)
		return;
	const struct backend *be = t->be;
	size_t bytes = t->m->n_params * sizeof(real);
	model_download(t->m);
	be->download(t->opt.m, t->dev_m, bytes);
	be->download(t->opt.v, t->dev_v, bytes);
	if (t->ema)
		be->download(t->ema, t->dev_ema, bytes);
	t->host_stale = false;
}

/* The host state → the backend (after a load). */
static void sync_backend(struct trainer *t)
{
	const struct backend *be = t->be;
	size_t bytes = t->m->n_params * sizeof(real);
	model_upload(t->m);
	if (be->host)
		return;
	be->upload(t->dev_m, t->opt.m, bytes);
	be->upload(t->dev_v, t->opt.v, bytes);
	if (t->ema)
		be->upload(t->dev_ema, t->ema, bytes);
}

const real *trainer_eval_weights(struct trainer *t)
{
	sync_host(t);
	return t->ema ? t->ema : t->m->params;
}

real *trainer_eval_weights_backend(struct trainer *t)
{
	return t->dev_ema;
}

/* ---- training checkpoints ---- */

/* Name of the first non-finite value among the views over base, or NULL. */
static const char *first_non_finite(const struct model *m, const float *base)
{
	for (int k = 0; k < m->n_tensors; k++) {
		const struct safetensors_view *v = &m->tensors[k];
		int64_t n = safetensors_view_numel(v);
		for (int64_t i = 0; i < n; i++)
			if (!isfinite(base[v->offset + i]))
				return v->name;
	}
	return NULL;
}

void trainer_save(struct trainer *t, const char *path)
{
	sync_host(t);
	const struct model *m = t->m;
	const char *bad = first_non_finite(m, m->params);
	if (!bad && t->ema)
		bad = first_non_finite(m, t->ema);
	if (bad)
		die("%s: not written: tensor %s holds NaN or Inf", path, bad);

	struct safetensors_writer *w = safetensors_writer_create();
	char *config = config_to_string(&t->cfg), buf[256];
	safetensors_writer_set_meta(w, "format", CHECKPOINT_FORMAT);
	safetensors_writer_set_meta(w, "config", config);
	snprintf(buf, sizeof buf, "%zu", m->n_params);
	safetensors_writer_set_meta(w, "n_params", buf);
#define META_INT(key, val) \
	(snprintf(buf, sizeof buf, "%" PRId64, (int64_t)(val)), safetensors_writer_set_meta(w, key, buf))
	META_INT("step", t->step);
	META_INT("epoch", t->epoch);
	META_INT("records", t->records);
	META_INT("epoch_records", t->epoch_records);
	META_INT("bad_in_row", t->bad_in_row);
	META_INT("bad_total", t->bad_total);
#undef META_INT
	// the dropout RNG: seed and counter (lib/rng.h draws are pure functions of them)
	snprintf(buf, sizeof buf, "%" PRIu64 " %" PRId64, t->cfg.seed, t->micro);
	safetensors_writer_set_meta(w, "rng", buf);
	sched_format(&t->sched, buf, sizeof buf);
	safetensors_writer_set_meta(w, "scheduler", buf);
	snprintf(buf, sizeof buf, "%a %" PRId64, t->epoch_loss_sum, t->epoch_loss_n);
	safetensors_writer_set_meta(w, "epoch_loss", buf);

	safetensors_writer_add_views(w, NULL, m->tensors, m->n_tensors, m->params, SAFETENSORS_F32);
	safetensors_writer_add_views(w, "opt.m.", m->tensors, m->n_tensors, t->opt.m, SAFETENSORS_F32);
	safetensors_writer_add_views(w, "opt.v.", m->tensors, m->n_tensors, t->opt.v, SAFETENSORS_F32);
	if (t->ema)
		safetensors_writer_add_views(w, "ema.", m->tensors, m->n_tensors, t->ema, SAFETENSORS_F32);
	safetensors_writer_write_or_die(w, path);
	safetensors_writer_free(w);
	free(config);
}

/* Parse metadata key as whitespace-separated fields with sscanf's fmt;
 * want is the number of fields.  0 ok, -1 with a message. */
static int meta_scan(const struct safetensors_file *f, const char *key, int want, char *err,
		     size_t errlen, const char *fmt, ...)
{
	const char *v = safetensors_meta_get(f, key);
	int got = -1;
	if (v) {
		va_list ap;
		va_start(ap, fmt);
		got = vsscanf(v, fmt, ap);
		va_end(ap);
	}
	if (got != want) {
		snprintf(err, errlen, "%s: %s metadata '%s' (not a training checkpoint from sepnet-train?)",
			 f->path, v ? "malformed" : "no", key);
		return -1;
	}
	return 0;
}

static int load_state(struct trainer *t, const struct safetensors_file *f, char *err, size_t errlen)
{
	int64_t bad_in_row;
	uint64_t seed;
	if (meta_scan(f, "step", 1, err, errlen, "%" SCNd64, &t->step) ||
	    meta_scan(f, "epoch", 1, err, errlen, "%" SCNd64, &t->epoch) ||
	    meta_scan(f, "records", 1, err, errlen, "%" SCNd64, &t->records) ||
	    meta_scan(f, "epoch_records", 1, err, errlen, "%" SCNd64, &t->epoch_records) ||
	    meta_scan(f, "bad_in_row", 1, err, errlen, "%" SCNd64, &bad_in_row) ||
	    meta_scan(f, "bad_total", 1, err, errlen, "%" SCNd64, &t->bad_total) ||
	    meta_scan(f, "rng", 2, err, errlen, "%" SCNu64 " %" SCNd64, &seed, &t->micro) ||
	    meta_scan(f, "epoch_loss", 2, err, errlen, "%la %" SCNd64, &t->epoch_loss_sum,
		      &t->epoch_loss_n))
		return -1;
	if (sched_parse(&t->sched, safetensors_meta_get(f, "scheduler") ?
			safetensors_meta_get(f, "scheduler") : "")) {
		snprintf(err, errlen, "%s: malformed or no scheduler metadata", f->path);
		return -1;
	}
	t->bad_in_row = (int)bad_in_row;
	t->opt.t = t->step;
	// the RNG continues where it was, whatever seed a changed config names
	t->cfg.seed = t->m->cfg.seed = seed;
	return 0;
}

int trainer_load(struct trainer *t, const char *path, char *err, size_t errlen)
{
	struct model *m = t->m;
	struct config cfg;
	if (checkpoint_read_config(path, &cfg, err, errlen))
		return -1;
	const char *diff = config_model_diff(&cfg, &m->cfg);
	if (diff) {
		snprintf(err, errlen, "%s: config key %s differs from the model's", path, diff);
		return -1;
	}
	struct safetensors_file f;
	if (safetensors_open(&f, path, err, errlen))
		return -1;
	static const char *const prefixes[] = { "", "opt.m.", "opt.v.", "ema." };
	int rc = -1;
	if (safetensors_check_names(&f, prefixes, 4, m->tensors, m->n_tensors, err, errlen) ||
	    safetensors_read_views(&f, NULL, m->tensors, m->n_tensors, m->params, NULL, err, errlen) ||
	    safetensors_read_views(&f, "opt.m.", m->tensors, m->n_tensors, t->opt.m, NULL, err, errlen) ||
	    safetensors_read_views(&f, "opt.v.", m->tensors, m->n_tensors, t->opt.v, NULL, err, errlen) ||
	    load_state(t, &f, err, errlen))
		goto out;
	if (t->ema) {
		char name[256];
		snprintf(name, sizeof name, "ema.%s", m->tensors[0].name);
		if (safetensors_find(&f, name)) {
			if (safetensors_read_views(&f, "ema.", m->tensors, m->n_tensors, t->ema, NULL,
						   err, errlen))
				goto out;
		} else {
			warn("%s: no EMA weights (ema_decay was 0): the EMA starts from the weights", path);
			memcpy(t->ema, m->params, m->n_params * sizeof(float));
		}
	}
	sync_backend(t);
	rc = 0;
out:
	safetensors_close(&f);
	return rc;
}

int64_t trainer_checkpoint_records(const char *path, char *err, size_t errlen)
{
	struct safetensors_file f;
	int64_t records;
	if (safetensors_open(&f, path, err, errlen))
		return -1;
	int rc = meta_scan(&f, "records", 1, err, errlen, "%" SCNd64, &records);
	safetensors_close(&f);
	return rc ? -1 : records;
}
