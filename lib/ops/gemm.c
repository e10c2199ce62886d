/* gemm.c: row-major GEMM (see ops.h): the CPU GEMM of every linear layer
 * and of the model's head.  Outside OpenMP regions through oneDNN's f32
 * matmul (gemm_bf16.c: gemm_f32_fused), or in bf16 there when mixed
 * precision is on; inside them (attention's tiles), and where oneDNN has
 * no JIT kernel, through OpenBLAS, split over OpenMP threads. */
#include <cblas.h>
#include <dlfcn.h>
#include <stdbool.h>
#include <threads.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "ops.h"
#include "util.h"

#ifdef SEPNET_DOUBLE
#define cblas_gemm cblas_dgemm
#else
#define cblas_gemm cblas_sgemm
#endif

static void blas_gemm_serial(bool trans_a, bool trans_b, int M, int N, int K, real alpha,
			     const real *A, int lda, const real *B, int ldb, real beta, real *C,
			     int ldc)
{
	cblas_gemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
		   trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void blas_gemm(bool trans_a, bool trans_b, int M, int N, int K, real alpha, const real *A, int lda,
	       const real *B, int ldb, real beta, real *C, int ldc)
{
	// OpenBLAS runs single-threaded (blas_init_threads) and OpenMP splits the
	// larger of M and N into one slice per thread: one pool of threads for
	// everything, no two pools spinning against each other for the cores.
	// Inside an enclosing parallel region (attention) the call is serial.
	if (M == 0 || N == 0)
		return;
#ifndef SEPNET_DOUBLE
	if (gemm_bf16_active()) {
		gemm_bf16(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, NULL, false);
		return;
	}
	// oneDNN's f32 kernels where a call's overhead (a primitive looked up,
	// memory descriptors made) is small beside the work
	if ((double)M * N * K > 1 << 18 &&
	    gemm_f32_fused(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, NULL, false))
		return;
#endif
	blas_init_threads();	// done before main (blas_pool_off): a check
	int nt = (double)M * N * K > 1 << 18 ? max_threads() : 1;
	if (nt == 1) {
		blas_gemm_serial(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
		return;
	}
	bool split_rows = M >= N;
	int len = split_rows ? M : N;
	#pragma omp parallel num_threads(nt)
	{
#ifdef _OPENMP
		int t = omp_get_thread_num(), n_t = omp_get_num_threads();
#else
		int t = 0, n_t = 1;
#endif
		// slices of a multiple of 16 rows or columns keep the kernels' tiles whole
		int step = ((len + n_t - 1) / n_t + 15) / 16 * 16;
		int i0 = t * step, n = len - i0 < step ? len - i0 : step;
		if (n > 0 && split_rows)
			blas_gemm_serial(trans_a, trans_b, n, N, K, alpha,
					 A + (trans_a ? (size_t)i0 : (size_t)i0 * lda), lda, B, ldb, beta,
					 C + (size_t)i0 * ldc, ldc);
		else if (n > 0)
			blas_gemm_serial(trans_a, trans_b, M, n, K, alpha, A, lda,
					 B + (trans_b ? (size_t)i0 * ldb : (size_t)i0), ldb, beta,
					 C + i0, ldc);
	}
}

/* OpenBLAS's pthread build starts a pool of nproc − 1 threads in its own
 * constructor, and they spin (sched_yield) until OpenBLAS's thread
 * timeout before they sleep (its default, not timed here): in every
 * process that loads it, stft and istft included, which never run a GEMM,
 * on the cores the pipeline's other stages need (13 % of istft's samples,
 * its system time 0.15 → 0.08 s without them).  sepnet calls OpenBLAS single-threaded, so the pool
 * stops before main, once: openblas_set_num_threads on a stopped pool
 * starts it again.  A build without one (serial, OpenMP) has no
 * blas_thread_shutdown_ or a harmless one. */
static once_flag pool_once = ONCE_FLAG_INIT;

static void pool_off(void)
{
	openblas_set_num_threads(1);
	int (*shutdown)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "blas_thread_shutdown_");
	if (shutdown)
		shutdown();
}

void blas_init_threads(void)
{
	call_once(&pool_once, pool_off);
}

__attribute__((constructor)) static void blas_pool_off(void)
{
	blas_init_threads();
}
