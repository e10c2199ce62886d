/* train_run.c: sepnet-train's worker (see train.h): the output directory,
 * the loop over steps and epochs, validation, checkpoints, metrics.jsonl,
 * progress on stderr and SIGINT/SIGTERM. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "dist.h"
#include "train_impl.h"
#include "util.h"
#include "validate.h"

/* seconds between progress lines when stderr is not a terminal, and
 * between redraws when it is */
#define PROGRESS_LINE_INTERVAL 10.0
#define PROGRESS_REDRAW_INTERVAL 0.25

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
	stop_signal = sig;
}

struct run {
	const struct train_opts *o;
	struct trainer *t;
	char *last, *best, *metrics_path, *config_out;
	FILE *metrics;
	int64_t total_steps;	/* for the progress bar and the ETA */
	/* throughput of this invocation, validation and checkpoints excluded */
	double train_time;
	int64_t steps_run, records_run;
	/* progress */
	bool writer;		/* rank 0 (or the only process): files, metrics, progress */
	bool tty, line_open;
	double last_progress;
	int64_t saved_records;	/* t->records at the last write of last.safetensors */
};

static char *path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = xmalloc(n);
	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

/* ---- metrics.jsonl ---- */

static void metrics_write(struct run *run, cJSON *obj)
{
	if (!run->writer) {
		cJSON_Delete(obj);
		return;
	}
	char *text = cJSON_PrintUnformatted(obj);
	if (!text)
		die("metrics: out of memory");
	if (fprintf(run->metrics, "%s\n", text) < 0 || fflush(run->metrics) == EOF)
		die("%s:", run->metrics_path);
	free(text);
	cJSON_Delete(obj);
}

static cJSON *metrics_line(const struct run *run, const char *type)
{
	const struct trainer *t = run->t;
	cJSON *obj = cJSON_CreateObject();
	cJSON_AddStringToObject(obj, "type", type);
	cJSON_AddNumberToObject(obj, "step", (double)t->step);
	cJSON_AddNumberToObject(obj, "epoch", (double)t->epoch);
	cJSON_AddNumberToObject(obj, "records", (double)t->records);
	return obj;
}

static void add_loss(cJSON *obj, const char *prefix, const struct loss_stats *st,
		     const struct config *cfg)
{
	char key[64];
	snprintf(key, sizeof key, "%sloss", prefix);
	cJSON_AddNumberToObject(obj, key, st->loss);
	snprintf(key, sizeof key, "%ssisdr", prefix);
	cJSON_AddNumberToObject(obj, key, st->sisdr);
	for (int s = 0; s < cfg->n_sources; s++) {
		snprintf(key, sizeof key, "%ssisdr_%s", prefix, cfg->sources[s]);
		cJSON_AddNumberToObject(obj, key, st->sisdr_source[s]);
	}
	snprintf(key, sizeof key, "%sl1", prefix);
	cJSON_AddNumberToObject(obj, key, st->l1);
	snprintf(key, sizeof key, "%sspectral", prefix);
	cJSON_AddNumberToObject(obj, key, st->spectral);
}

static double examples_per_s(const struct run *run)
{
	return run->train_time > 0 ? run->records_run / run->train_time : 0;
}

static void metrics_step(struct run *run, const struct train_step_stats *st, bool skipped)
{
	cJSON *obj = metrics_line(run, "step");
	add_loss(obj, "", &st->loss, &run->t->cfg);
	cJSON_AddNumberToObject(obj, "lr", st->lr);
	cJSON_AddNumberToObject(obj, "grad_norm", st->grad_norm);
	cJSON_AddNumberToObject(obj, "examples_per_s", examples_per_s(run));
	if (skipped) {
		cJSON_AddBoolToObject(obj, "skipped", true);
		cJSON_AddNumberToObject(obj, "bad_in_row", run->t->bad_in_row);
	}
	metrics_write(run, obj);
}

/* Keep the lines of a resumed run's log that the checkpoint covers (records
 * <= its records): a run killed after its last checkpoint logged steps that
 * the resumed run takes again. */
static void metrics_trim(const char *path, int64_t records)
{
	FILE *in = fopen(path, "r");
	if (!in) {
		if (errno == ENOENT)
			return;
		die("%s:", path);
	}
	struct atomic_file af;
	atomic_open(&af, path);
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, in) > 0) {
		cJSON *obj = cJSON_Parse(line);
		const cJSON *rec = cJSON_GetObjectItemCaseSensitive(obj, "records");
		if (cJSON_IsNumber(rec) && rec->valuedouble <= (double)records)
			fputs(line, af.fp);
		cJSON_Delete(obj);
	}
	if (ferror(in))
		die("%s:", path);
	free(line);
	fclose(in);
	atomic_commit(&af);
}

/* ---- progress on stderr ---- */

static void format_duration(char *buf, size_t len, double s)
{
	if (!isfinite(s) || s < 0) {
		snprintf(buf, len, "?");
		return;
	}
	long v = lround(s);
	snprintf(buf, len, "%ld:%02ld:%02ld", v / 3600, v / 60 % 60, v % 60);
}

static void progress(struct run *run, const struct train_step_stats *st, bool force)
{
	if (run->o->quiet || !run->writer)
		return;
	double now = now_seconds();
	double interval = run->tty ? PROGRESS_REDRAW_INTERVAL : PROGRESS_LINE_INTERVAL;
	if (!force && now - run->last_progress < interval)
		return;
	run->last_progress = now;
	const struct trainer *t = run->t;
	char eta[32];
	double per_step = run->steps_run ? run->train_time / run->steps_run : NAN;
	format_duration(eta, sizeof eta, (run->total_steps - t->step) * per_step);
	fprintf(stderr, "%s%s: epoch %" PRId64 "/%d step %" PRId64 "/%" PRId64
		" loss %.4f lr %.3g %.1f ex/s ETA %s%s",
		run->tty ? "\r" : "", progname, t->epoch + 1, t->cfg.num_epochs, t->step,
		run->total_steps, st->loss.loss, st->lr, examples_per_s(run), eta,
		run->tty ? "\033[K" : "\n");
	run->line_open = run->tty;
}

/* A message that must not be drawn over by the progress line. */
static void report(struct run *run, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(struct run *run, const char *fmt, ...)
{
	if (run->o->quiet || !run->writer)
		return;
	if (run->line_open)
		fputs("\r\033[K", stderr);
	run->line_open = false;
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: ", progname);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* ---- epochs and checkpoints ---- */

/* FNV-1a over the weights' bytes, 8 at a time. */
static uint64_t weights_hash(const real *w, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	const unsigned char *p = (const unsigned char *)w;
	size_t bytes = n * sizeof *w, i = 0;
	for (; i + 8 <= bytes; i += 8) {
		uint64_t v;
		memcpy(&v, p + i, 8);
		h = (h ^ v) * 0x100000001b3ULL;
	}
	for (; i < bytes; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

static void save_last(struct run *run)
{
	struct trainer *t = run->t;
	if (t->ranks > 1) {	// every rank must hold the same weights: check before writing them
		const real *w = trainer_eval_weights(t);	// (the EMA when on; it follows the weights)
		if (!dist_same(weights_hash(w, t->m->n_params)))
			die("step %" PRId64 ": the ranks' weights differ (a bug: the sums over the "
			    "ranks must give every rank the same bits); %s not written", t->step,
			    run->last);
	}
	if (run->writer)
		trainer_save(t, run->last);
	run->saved_records = t->records;
}

static void save_best(struct run *run, const struct valid_result *v)
{
	char step[32], epoch[32], loss[64], sisdr[64];
	snprintf(step, sizeof step, "%" PRId64, run->t->step);
	snprintf(epoch, sizeof epoch, "%" PRId64, run->t->epoch);
	snprintf(loss, sizeof loss, "%.9g", v->stats.loss);
	snprintf(sisdr, sizeof sisdr, "%.9g", v->stats.sisdr);
	const struct checkpoint_kv extra[] = {
		{ "step", step }, { "epoch", epoch }, { "valid_loss", loss }, { "valid_sisdr", sisdr },
	};
	checkpoint_save_weights(run->best, run->t->m, trainer_eval_weights(run->t), extra, 4);
}

static void end_epoch(struct run *run)
{
	struct trainer *t = run->t;
	double train_loss = trainer_end_epoch(t);
	cJSON *obj = metrics_line(run, "epoch");
	cJSON_AddNumberToObject(obj, "train_loss", train_loss);
	char summary[512];
	int len = snprintf(summary, sizeof summary, "epoch %" PRId64 " (step %" PRId64 "): train loss %.4f",
			   t->epoch, t->step, train_loss);
	if (run->o->valid) {
		struct valid_result v;
		double t0 = now_seconds();
		model_use_weights(t->m, trainer_eval_weights_backend(t));
		validate_file(t->m, run->o->valid, &v);
		model_use_weights(t->m, NULL);
		bool best = sched_epoch_end(&t->sched, v.stats.loss);
		if (best && run->writer)
			save_best(run, &v);
		add_loss(obj, "valid_", &v.stats, &t->cfg);
		cJSON_AddBoolToObject(obj, "best", best);
		cJSON_AddNumberToObject(obj, "valid_seconds", now_seconds() - t0);
		len += snprintf(summary + len, sizeof summary - len,
				", valid loss %.4f SI-SDR %.2f dB (", v.stats.loss, v.stats.sisdr);
		for (int s = 0; s < t->cfg.n_sources && len < (int)sizeof summary; s++)
			len += snprintf(summary + len, sizeof summary - len, "%s%s %.2f", s ? ", " : "",
					t->cfg.sources[s], v.stats.sisdr_source[s]);
		if (len < (int)sizeof summary)
			snprintf(summary + len, sizeof summary - len, ")%s", best ? ", best" : "");
	}
	cJSON_AddNumberToObject(obj, "lr", sched_lr(&t->sched, t->step));
	metrics_write(run, obj);
	save_last(run);
	report(run, "%s", summary);
}

/* ---- setup ---- */

/* Remove the temporary files (lib/util.h atomic_open: NAME.tmp.PID) that
 * a killed run left in dir, when their process is gone. */
static void remove_stale_temporaries(struct run *run, const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		die("%s:", dir);
	struct dirent *e;
	while ((e = readdir(d))) {
		static const char *const ours[] = { "last.safetensors", "best.safetensors",
						    "metrics.jsonl", "config.ini" };
		const char *tmp = strstr(e->d_name, ".tmp.");
		long pid;
		char end;
		if (!tmp || sscanf(tmp + 5, "%ld%c", &pid, &end) != 1 || pid <= 0)
			continue;
		bool alive = kill((pid_t)pid, 0) == 0 || errno == EPERM;
		for (size_t i = 0; i < sizeof ours / sizeof *ours && !alive; i++) {
			size_t len = strlen(ours[i]);
			if ((size_t)(tmp - e->d_name) != len || strncmp(e->d_name, ours[i], len))
				continue;
			char *path = path_join(dir, e->d_name);
			if (unlink(path) < 0)
				die("%s:", path);
			report(run, "removed %s, left by a killed run", path);
			free(path);
		}
	}
	closedir(d);
}

static void write_config(const char *path, const struct config *cfg)
{
	struct atomic_file af;
	atomic_open(&af, path);
	config_write(cfg, af.fp);
	if (ferror(af.fp))
		die("%s:", af.tmp);
	atomic_commit(&af);
}

static void install_signals(void)
{
	struct sigaction sa = { 0 };
	sa.sa_handler = on_stop;
	sa.sa_flags = SA_RESTART;	// finish reading the record; stop after the step
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static int64_t epoch_size_of(const struct config *cfg, const struct train_opts *o)
{
	if (o->epoch_size > 0)
		return o->epoch_size;
	return cfg->epoch_size;	/* 0: the first record's epoch_size key (musdb-cat's) */
}

/* The run's size, once the epoch's is known (maybe only from the first record). */
static void announce(struct run *run)
{
	const struct trainer *t = run->t;
	const struct config *c = &t->cfg;
	int64_t per_step = (int64_t)c->batch_size * c->gradient_accum;
	int64_t steps_per_epoch = (t->epoch_size + per_step - 1) / per_step;
	run->total_steps = (int64_t)c->num_epochs * steps_per_epoch;
	if (run->o->max_steps > 0)
		run->total_steps = run->o->max_steps;
	report(run, "%zu parameters on %s, %" PRId64 " records per epoch (%" PRId64
	       " steps of %" PRId64 "), %d epochs", t->m->n_params, t->be->name, t->epoch_size,
	       steps_per_epoch, per_step, c->num_epochs);
}

/* One trainer per run folder: an exclusive flock on DIR/lock, held until
 * the process ends (the kernel drops it however it ends); the file holds
 * the holder's PID for the message another trainer prints. */
static void lock_run(const char *dir)
{
	char *path = path_join(dir, "lock");
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (fd < 0)
		die("%s:", path);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK)
			die("%s:", path);
		char pid[32] = "";
		ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
		pid[n > 0 ? n : 0] = 0;
		pid[strcspn(pid, "\n")] = 0;
		die("%s: another sepnet-train (pid %s) is training in this folder", dir,
		    *pid ? pid : "unknown");
	}
	char pid[32];
	int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, n, 0) != n)
		die("%s:", path);
	free(path);	// fd stays open: the lock lives as long as the process
}

static void run_open(struct run *run, const struct train_opts *o)
{
	*run = (struct run){ .o = o, .tty = isatty(STDERR_FILENO), .writer = dist_writer() };
	run->last = path_join(o->outdir, "last.safetensors");
	run->best = path_join(o->outdir, "best.safetensors");
	run->metrics_path = path_join(o->outdir, "metrics.jsonl");
	run->config_out = path_join(o->outdir, "config.ini");
	// rank 0 checks the folder and the config first: a mistake is one
	// message, not one per rank (dies end every rank: dist.h)
	if (!run->writer)
		dist_barrier();
	bool have_last = access(run->last, F_OK) == 0;
	if (o->resume && !have_last)
		die("%s: no checkpoint to resume from", run->last);
	if (!o->resume && have_last)
		die("%s: a run is there already: --resume continues it", run->last);
	const struct backend *be = backend_get(o->device);	// before anything is written
	struct config cfg;
	config_load_or_die(&cfg, o->config_path ? o->config_path : run->config_out);
	if (cfg.batch_size % dist_size())
		die("%s: batch_size %d is not a multiple of the %d ranks: each rank takes batch_size / "
		    "ranks examples of every micro-batch (batch_size stays the global batch)",
		    o->config_path ? o->config_path : run->config_out, cfg.batch_size, dist_size());
	int64_t epoch_size = epoch_size_of(&cfg, o);
	if (o->valid && access(o->valid, R_OK) < 0)
		die("%s:", o->valid);
	if (run->writer) {	// the other ranks write nothing
		make_dirs(o->outdir);	// and its missing parents
		lock_run(o->outdir);
		// again, under the lock: another trainer may have started meanwhile
		have_last = access(run->last, F_OK) == 0;
		if (o->resume && !have_last)
			die("%s: no checkpoint to resume from", run->last);
		if (!o->resume && have_last)
			die("%s: a run is there already: --resume continues it", run->last);
		remove_stale_temporaries(run, o->outdir);
		dist_barrier();
	}

	if (o->resume) {	// the checkpoint against its own config, before sizing anything
		struct config saved;
		char err[1024];
		if (checkpoint_read_config(run->last, &saved, err, sizeof err))
			die("%s", err);
	}
	struct trainer *t = run->t = trainer_create_on(&cfg, epoch_size, be);
	if (o->resume) {
		char err[1024];
		if (trainer_load(t, run->last, err, sizeof err))
			die("%s", err);
		if (run->writer)
			metrics_trim(run->metrics_path, t->records);
		report(run, "resuming %s at step %" PRId64 ", epoch %" PRId64 ", record %" PRId64,
		       run->last, t->step, t->epoch, t->records);
	}
	run->saved_records = o->resume ? t->records : -1;
	if (run->writer) {
		write_config(run->config_out, &t->cfg);
		run->metrics = fopen(run->metrics_path, o->resume ? "a" : "w");
		if (!run->metrics)
			die("%s:", run->metrics_path);
	}
	if (t->epoch_size > 0)
		announce(run);
}

static void run_close(struct run *run)
{
	if (run->metrics && fclose(run->metrics) == EOF)
		die("%s:", run->metrics_path);
	trainer_free(run->t);
	free(run->last);
	free(run->best);
	free(run->metrics_path);
	free(run->config_out);
}

/* ---- the loop ---- */

/* A stop signal reached this process, or on a data-parallel run any rank:
 * all stop after the same step. */
static bool stop_requested(const struct trainer *t)
{
	if (t->ranks == 1)
		return stop_signal;
	double n = stop_signal != 0;
	dist_sum(&n, 1);
	return n > 0;
}

void train_run(const struct train_opts *o)
{
	struct run run;
	run_open(&run, o);
	struct trainer *t = run.t;
	struct snt_reader *r = snt_reader_open(o->input);
	if (!r)
		die("%s:", o->input ? o->input : "<stdin>");
	if ((!o->input || !strcmp(o->input, "-")) && isatty(STDIN_FILENO))
		die("no training records: standard input is a terminal (pipe musdb-cat train into it)");
	install_signals();
	trainer_prefetch(t, r);

	const char *why = NULL;
	struct train_step_stats st = { 0 };
	int max_bad = t->cfg.max_bad_steps > 0 ? t->cfg.max_bad_steps : 1;
	for (;;) {
		if (stop_requested(t)) {
			why = "interrupted";
			break;
		}
		// --steps on the command line wins over the config's num_epochs
		// (resuming a finished run with --steps goes on)
		if (o->max_steps == 0 && t->epoch >= t->cfg.num_epochs) {
			why = "num_epochs reached";
			break;
		}
		if (o->max_steps > 0 && t->step >= o->max_steps) {
			why = "--steps reached";
			break;
		}
		double t0 = now_seconds();
		enum train_step_result res = trainer_step(t, r, &st);
		if (res == TRAIN_STEP_END) {
			if (run.steps_run == 0 && t->bad_in_row == 0 && run.records_run == 0)
				die("%s: %" PRId64 " training records, fewer than one step of %d "
				    "(batch_size × gradient_accum)", r->name, r->record,
				    t->cfg.batch_size * t->cfg.gradient_accum);
			why = "end of the training records";
			break;
		}
		if (!run.total_steps)
			announce(&run);
		run.train_time += now_seconds() - t0;
		run.records_run += (int64_t)t->cfg.batch_size * t->cfg.gradient_accum;
		if (res == TRAIN_STEP_BAD) {
			metrics_step(&run, &st, true);
			report(&run, "step %" PRId64 " skipped: loss %g, gradient norm %g (%d in a row)",
			       t->step + 1, st.loss.loss, st.grad_norm, t->bad_in_row);
			if (t->bad_in_row >= max_bad)
				die("%d steps in a row with a NaN or Inf loss or gradient (max_bad_steps %d): "
				    "stopping; %s is the last good checkpoint", t->bad_in_row,
				    t->cfg.max_bad_steps, run.last);
		} else {
			run.steps_run++;
			if (t->step % o->log_every == 0)
				metrics_step(&run, &st, false);
			progress(&run, &st, false);
		}
		if (trainer_epoch_done(t))
			end_epoch(&run);
		else if (o->save_every > 0 && res == TRAIN_STEP_OK && t->step % o->save_every == 0)
			save_last(&run);
	}
	if (run.saved_records != t->records)
		save_last(&run);
	report(&run, "%s at step %" PRId64 " (epoch %" PRId64 ", %" PRId64
	       " records, %.1f examples/s): saved %s", why, t->step, t->epoch, t->records,
	       examples_per_s(&run), run.last);
	run_close(&run);	// stops the reader thread before its reader closes
	snt_reader_close(r);
	dist_finalize();
	if (stop_signal) {
		// die of the signal, as the caller expects of an interrupted program
		signal(stop_signal, SIG_DFL);
		raise(stop_signal);
	}
}
