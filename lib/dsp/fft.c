/* fft.c: the FFTW (single precision; double under SEPNET_DOUBLE) backend of fft.h.
 *
 * FFTW's planner is not thread-safe, so plan creation and destruction run
 * under one process-wide lock; execution goes through the new-array API
 * (fftwf_execute_dft_r2c / _c2r), which is thread-safe, so one plan serves
 * every thread.  The new-array API requires arrays with the alignment of
 * those the plan was made with: plans are made on fftwf_malloc arrays and
 * fft_alloc hands out the same.
 *
 * Plans use FFTW_ESTIMATE: the planner then picks the same algorithm in
 * every run, so results are bit-identical from run to run (FFTW_MEASURE
 * times candidates and may choose differently each time, which would break
 * bit-exact --resume), planning is instant, and for the sizes we use
 * (512-4096, batched) it runs within a few percent of a measured plan. */
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
};

static once_flag planner_once = ONCE_FLAG_INIT;
static mtx_t planner_mutex;

static void planner_init(void)
{
	if (mtx_init(&planner_mutex, mtx_plain) != thrd_success)
		die("fft: cannot create the planner lock");
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
	// c2r's input bin-major (stride batch, distance 1): the iSTFT copies a
	// bin's frames from a spectrogram row in one run (fft.h)
	p->r2c = FFTW(plan_many_dft_r2c)(1, &n, batch, re, NULL, 1, n,
	                                 (FFTW(complex) *)cx, NULL, 1, (int)nc,
	                                 FFTW_ESTIMATE);
	p->c2r = FFTW(plan_many_dft_c2r)(1, &n, batch, (FFTW(complex) *)cx, NULL,
	                                 batch, 1, re, NULL, 1, n,
	                                 FFTW_ESTIMATE | FFTW_DESTROY_INPUT);
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
