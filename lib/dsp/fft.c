/* fft.c: the FFTW (single precision; double under SEPNET_DOUBLE) backend of fft.h.
 *
 * FFTW's planner is not thread-safe, so plan creation and destruction run
 * under one process-wide lock; execution goes through the new-array API
 * (fftwf_execute_dft_r2c / _c2r), which is thread-safe, so one plan serves
 * every thread.  The new-array API requires arrays with the alignment of
 * those the plan was made with: plans are made on fftwf_malloc arrays and
 * fft_alloc hands out the same.
 *
 * Plans come from measured wisdom compiled in (fft_wisdom.inc, made by
 * `make wisdom`: FFTW_MEASURE on the STFT's sizes, 512 to 4096 in batches
 * of STFT_BLOCK), else FFTW_ESTIMATE.  Either way a plan is the same in
 * every run on a machine: results are bit-identical from run to run
 * (bit-exact --resume, and stft's frames equal to sepnet-fwd FILE's),
 * which planning by FFTW_MEASURE at run time, or with wisdom a first run
 * measured into a cache, would not give: it times candidates and may
 * choose differently each time.  FFTW imports the wisdom only where its
 * own codelets are those it was made with (the same FFTW build and SIMD
 * extensions); elsewhere every plan is FFTW_ESTIMATE's, as before the
 * wisdom.  Measured plans of 4096 in fft_plan_create's layouts run 20-30 %
 * faster than estimated ones here (r2c 72 against 102 µs a block of 16,
 * c2r 72 against 92). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>	/* not <pthread.h>: lib/sched.h would shadow its <sched.h> */

#include <fftw3.h>

#include "fft.h"
#include "real.h"

#ifdef SEPNET_DOUBLE
#define FFTW(name) fftw_##name
#else
#define FFTW(name) fftwf_##name
#endif
#include "util.h"

struct fft_plan {
	int n, batch;
	FFTW(plan) r2c, c2r;
	int wise;	/* FFT_R2C_WISE | FFT_C2R_WISE: planned from the wisdom */
};

static once_flag planner_once = ONCE_FLAG_INIT;
static mtx_t planner_mutex;
static bool wisdom_in;	/* fft_wisdom imported */

#ifndef SEPNET_DOUBLE
#include "fft_wisdom.inc"	/* static const char fft_wisdom[] */
#endif

static void planner_init(void)
{
	if (mtx_init(&planner_mutex, mtx_plain) != thrd_success)
		die("fft: cannot create the planner lock");
#ifndef SEPNET_DOUBLE
	wisdom_in = fft_wisdom[0] && FFTW(import_wisdom_from_string)(fft_wisdom);
#endif
}

/* p's two plans on the arrays re and cx with `flags`, each kept if made
 * (NULL where FFTW_WISDOM_ONLY finds no wisdom). */
static void make_plans(struct fft_plan *p, real *re, real *cx, unsigned flags)
{
	int n = p->n, nc = n / 2 + 1;
	// c2r's input bin-major (stride batch, distance 1): the iSTFT copies a
	// bin's frames from a spectrogram row in one run (fft.h)
	if (!p->r2c)
		p->r2c = FFTW(plan_many_dft_r2c)(1, &n, p->batch, re, NULL, 1, n,
						 (FFTW(complex) *)cx, NULL, 1, nc, flags);
	if (!p->c2r)
		p->c2r = FFTW(plan_many_dft_c2r)(1, &n, p->batch, (FFTW(complex) *)cx, NULL,
						 p->batch, 1, re, NULL, 1, n,
						 flags | FFTW_DESTROY_INPUT);
}

static void planner_lock(void)
{
	call_once(&planner_once, planner_init);
	mtx_lock(&planner_mutex);
}

struct fft_plan *fft_plan_create(int n, int batch)
{
	struct fft_plan *p;
	size_t nc = (size_t)(n / 2 + 1);
	real *re, *cx;

	if (n < 2 || batch < 1)
		die("fft_plan_create: bad size n=%d batch=%d", n, batch);
	p = xcalloc(1, sizeof(*p));
	p->n = n;
	p->batch = batch;
	re = fft_alloc(sizeof(real) * (size_t)n * (size_t)batch);
	cx = fft_alloc(2 * sizeof(real) * nc * (size_t)batch);
	planner_lock();
	if (wisdom_in) {
		make_plans(p, re, cx, FFTW_WISDOM_ONLY | FFTW_MEASURE);
		p->wise = (p->r2c ? FFT_R2C_WISE : 0) | (p->c2r ? FFT_C2R_WISE : 0);
	}
	make_plans(p, re, cx, FFTW_ESTIMATE);	// those the wisdom has not
	mtx_unlock(&planner_mutex);
	fft_free(re);
	fft_free(cx);
	if (!p->r2c || !p->c2r)
		die("fft_plan_create: FFTW could not plan n=%d batch=%d", n, batch);
	return p;
}

void fft_plan_free(struct fft_plan *p)
{
	if (!p)
		return;
	planner_lock();
	FFTW(destroy_plan)(p->r2c);
	FFTW(destroy_plan)(p->c2r);
	mtx_unlock(&planner_mutex);
	free(p);
}

int fft_plan_n(const struct fft_plan *p) { return p->n; }
int fft_plan_batch(const struct fft_plan *p) { return p->batch; }
int fft_plan_wise(const struct fft_plan *p) { return p->wise; }

bool fft_wisdom_in(void)
{
	call_once(&planner_once, planner_init);
	return wisdom_in;
}

char *fft_wisdom_measure(const int *n, int count, int batch)
{
	planner_lock();
	FFTW(forget_wisdom)();
	for (int k = 0; k < count; k++) {
		struct fft_plan p = { .n = n[k], .batch = batch };
		if (n[k] < 2 || batch < 1)
			die("fft_wisdom_measure: bad size n=%d batch=%d", n[k], batch);
		real *re = fft_alloc(sizeof(real) * (size_t)n[k] * batch);
		real *cx = fft_alloc(2 * sizeof(real) * (size_t)(n[k] / 2 + 1) * batch);
		make_plans(&p, re, cx, FFTW_MEASURE);
		if (!p.r2c || !p.c2r)
			die("fft_wisdom_measure: FFTW could not plan n=%d batch=%d", n[k], batch);
		FFTW(destroy_plan)(p.r2c);
		FFTW(destroy_plan)(p.c2r);
		fft_free(re);
		fft_free(cx);
	}
	char *w = FFTW(export_wisdom_to_string)();
	mtx_unlock(&planner_mutex);
	if (!w)
		die("fft_wisdom_measure: FFTW exported no wisdom");
	return w;
}

/* A misaligned array would silently compute garbage with SIMD codelets. */
static void check_aligned(const void *a, const void *b)
{
	if (FFTW(alignment_of)((real *)(uintptr_t)a) || FFTW(alignment_of)((real *)(uintptr_t)b))
		die("fft: array not allocated with fft_alloc");
}

void fft_r2c(const struct fft_plan *p, real *out, const real *in)
{
	check_aligned(out, in);
	/* out-of-place r2c preserves its input; FFTW's prototype lacks const */
	FFTW(execute_dft_r2c)(p->r2c, (real *)(uintptr_t)in, (FFTW(complex) *)out);
}

void fft_c2r(const struct fft_plan *p, real *out, real *in)
{
	check_aligned(out, in);
	FFTW(execute_dft_c2r)(p->c2r, (FFTW(complex) *)in, out);
}

void *fft_alloc(size_t bytes)
{
	void *ptr = FFTW(malloc)(bytes ? bytes : 1);

	if (!ptr)
		die("fft_alloc: out of memory (%zu bytes)", bytes);
	return ptr;
}

void fft_free(void *ptr)
{
	FFTW(free)(ptr);
}
