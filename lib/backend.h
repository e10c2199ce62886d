/* backend.h: the compute backends behind one table of function pointers
 * (DESIGN §7, ggml style).
 *
 * Inference (lib/separate.c) and the stft/istft tools call every op through
 * a struct backend chosen at run time with -d cpu|cuda.  Each op has the
 * signature of its CPU twin in lib/ (layers.h, model.h, chunk.h), and every
 * pointer it takes is memory of that backend: host memory for "cpu",
 * device memory (cudaMalloc) for "cuda", moved with upload/download.  The
 * CPU backend is the reference code itself; the CUDA one (cuda/, only in a
 * build with nvcc) runs the same ops as kernels, cuBLAS and cuFFT on one
 * stream, so download is the only synchronisation point.
 *
 * Default: cuda when the binary was built with CUDA and a device is
 * present, else cpu, silently.  Asking for cuda where it cannot run is an
 * error that says why. */
#ifndef SEPNET_BACKEND_H
#define SEPNET_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chunk.h"

/* How GEMMs round their inputs: f32 exactly, TF32 tensor cores ([hardware]
 * tf32), or bf16 inputs with f32 accumulation ([train] use_amp).  The CPU
 * computes in f32 whatever is asked. */
enum backend_precision {
	BACKEND_F32,
	BACKEND_TF32,
	BACKEND_BF16,
};

/* STFT plans of one backend for one (n_fft, hop). */
struct backend_stft;

struct backend {
	const char *name;	/* "cpu" or "cuda" */
	bool host;		/* its memory is host memory: upload/download may be skipped */
	/* memory of this backend; alloc'd memory is zeroed, dies when out of it */
	void *(*alloc)(size_t bytes);
	void (*free)(void *p);
	void (*upload)(void *dst, const void *src, size_t bytes);	/* host → backend */
	void (*download)(void *dst, const void *src, size_t bytes);	/* backend → host, waits */
	void (*zero)(void *p, size_t bytes);
	void (*set_precision)(enum backend_precision p);

	/* C[M,N] = alpha op(A) op(B) + beta C, row-major (blas_gemm) */
	void (*gemm)(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
		     int lda, const float *B, int ldb, float beta, float *C, int ldc);
	/* out (rows, width): out[r][i] = vec[i] (by_row false) or vec[r] (by_row true) */
	void (*broadcast)(float *out, const float *vec, int rows, int width, bool by_row);
	/* model.h: feat (B, 2CF, T), sigma (B) from x (B, C, F, T) complex */
	void (*features_forward)(float *feat, float *sigma, const float *x, int B, int C, int F, int T);
	/* layers.h */
	void (*linear_forward)(float *out, const float *inp, const float *weight, const float *bias,
			       int N, int in_dim, int out_dim);
	/* out = GELU(inp · weightᵀ + bias), the FFN's hidden layers fused */
	void (*linear_gelu_forward)(float *out, const float *inp, const float *weight,
				    const float *bias, int N, int in_dim, int out_dim);
	void (*rmsnorm_forward)(float *out, float *rstd, const float *inp, const float *weight, int N,
				int C);
	void (*rope_forward)(float *qkv, const float *cos_sin, int B, int T, int A, int n_heads);
	void (*attention_forward)(float *out, float *lse, const float *qkv, int B, int T, int A,
				  int n_heads);
	/* out = inp + branch over n (residual_forward without dropout); out may alias inp */
	void (*residual_forward)(float *out, const float *inp, const float *branch, size_t n);
	/* model.h: yspec (B, S, C, F, T) complex = mask (B, S·2·C·F, T) ⊙ x (B, C, F, T) */
	void (*mask_forward)(float *yspec, const float *mask, const float *x, int B, int S, int C,
			     int F, int T);
	/* chunk.h (the plan itself stays on the host) */
	void (*chunk_gather)(float *seg, const float *in, const struct chunk_plan *p, int64_t s,
			     int64_t rows, int64_t width);
	void (*chunk_accumulate)(float *out, const float *seg, const struct chunk_plan *p, int64_t s,
				 int64_t rows, int64_t width);

	/* STFT of rows (stft.h semantics): out (rows, F, T) complex from
	 * x (rows, n); inverse y (rows, n) from in (rows, F, T), length n.
	 * Both return -1 where stft_forward / stft_inverse would. */
	struct backend_stft *(*stft_create)(int n_fft, int hop);
	void (*stft_free)(struct backend_stft *s);
	int (*stft_forward)(struct backend_stft *s, float *out, const float *x, int64_t rows,
			    int64_t n);
	int (*stft_inverse)(struct backend_stft *s, float *y, const float *in, int64_t rows,
			    int64_t T, int64_t n);
};

extern const struct backend backend_cpu;

/* A buffer of backend memory that grows to the largest size asked for
 * (its contents are not kept when it grows). */
struct backend_buffer {
	float *p;
	size_t cap;	/* floats */
};
float *backend_buffer_want(const struct backend *be, struct backend_buffer *b, size_t floats);
void backend_buffer_free(const struct backend *be, struct backend_buffer *b);

/* The backend named name ("cpu", "cuda"), or the default for NULL.  Dies
 * (exit 1) when cuda is asked for in a build without CUDA or on a machine
 * without a device; a name that is neither is a usage error (exit 2). */
const struct backend *backend_get(const char *name);

/* Whether this binary was built with CUDA and a device is present. */
bool backend_cuda_available(void);

#endif
