/* sepnet_cuda.h: the C interface of cuda/ (DESIGN §7).
 *
 * Launchers have the name of their CPU twin in lib/ with _cuda appended,
 * its arguments in the same order, and a stream last; every pointer is
 * device memory.  They only enqueue work: errors of the launch itself are
 * checked at once (file and line named), errors of the kernel surface at
 * the next synchronisation.  backend_cuda (backend.h) wraps them on one
 * stream of the current device.
 *
 * Included by C (lib/backend.c, tests/gpu/check_ops.c) without the CUDA
 * headers: struct CUstream_st * is what cudaStream_t names. */
#ifndef SEPNET_CUDA_H
#define SEPNET_CUDA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct CUstream_st *cuda_stream_t;

extern const struct backend backend_cuda;

/* Devices present; 0 (never an error) when there is no device or driver. */
int cuda_device_count(void);
/* Why cuda_device_count() is 0, for messages. */
const char *cuda_device_error(void);
/* The stream backend_cuda runs on (created on first use). */
cuda_stream_t cuda_stream(void);
/* GEMM input rounding of blas_gemm_cuda and the linears (backend.h). */
void cuda_set_precision(enum backend_precision p);

/* gemm.cu: row-major C = alpha op(A) op(B) + beta C, as blas_gemm */
void blas_gemm_cuda(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
		    int lda, const float *B, int ldb, float beta, float *C, int ldc,
		    cuda_stream_t stream);
void linear_forward_cuda(float *out, const float *inp, const float *weight, const float *bias,
			 int N, int in_dim, int out_dim, cuda_stream_t stream);
void linear_gelu_forward_cuda(float *out, const float *inp, const float *weight,
			      const float *bias, int N, int in_dim, int out_dim, cuda_stream_t stream);

/* layers.cu */
void broadcast_cuda(float *out, const float *vec, int rows, int width, bool by_row,
		    cuda_stream_t stream);
void features_forward_cuda(float *feat, float *sigma, const float *x, int B, int C, int F, int T,
			   cuda_stream_t stream);
void rmsnorm_forward_cuda(float *out, float *rstd, const float *inp, const float *weight, int N,
			  int C, cuda_stream_t stream);
void bias_gelu_forward_cuda(float *out, const float *bias, int N, int width, cuda_stream_t stream);
void rope_forward_cuda(float *qkv, const float *cos_sin, int B, int T, int A, int n_heads,
		       cuda_stream_t stream);
void residual_forward_cuda(float *out, const float *inp, const float *branch, size_t n,
			   cuda_stream_t stream);
void mask_forward_cuda(float *yspec, const float *mask, const float *x, int B, int S, int C, int F,
		       int T, cuda_stream_t stream);
/* chunk.h's gather and cross-fade; weight is the segment's [L] weights
 * (device memory) */
void chunk_gather_cuda(float *seg, const float *in, int64_t T, int64_t L, int64_t start,
		       int64_t rows, int64_t width, cuda_stream_t stream);
void chunk_accumulate_cuda(float *out, const float *seg, const float *weight, int64_t T,
			   int64_t L, int64_t start, int64_t rows, int64_t width, cuda_stream_t stream);

/* attention.cu: flash attention forward, f32; head sizes 16, 24, 32, 64 */
void attention_forward_cuda(float *out, float *lse, const float *qkv, int B, int T, int A,
			    int n_heads, cuda_stream_t stream);

/* stft.cu: batched cuFFT plans; out (rows, F, T) complex from x (rows, n),
 * y (rows, n) from in (rows, F, T); -1 where stft_forward/stft_inverse would */
struct backend_stft *stft_create_cuda(int n_fft, int hop);
void stft_free_cuda(struct backend_stft *s);
int stft_forward_cuda(struct backend_stft *s, float *out, const float *x, int64_t rows, int64_t n,
		      cuda_stream_t stream);
int stft_inverse_cuda(struct backend_stft *s, float *y, const float *in, int64_t rows, int64_t T,
		      int64_t n, cuda_stream_t stream);

#ifdef __cplusplus
}
#endif

#endif
