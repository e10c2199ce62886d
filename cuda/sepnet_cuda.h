/* sepnet_cuda.h: the C interface of cuda/ (docs/DESIGN.md §7).
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
/* Device memory in use on the current device, bytes (cudaMemGetInfo:
 * total − free, so other processes' memory counts too). */
size_t cuda_mem_used(void);
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

/* attention.cu: flash attention forward: f32, or tensor-core (WMMA) bf16
 * when the precision is BACKEND_BF16; head sizes 16, 24, 32, 64 */
void attention_forward_cuda(float *out, float *lse, const float *qkv, int B, int T, int A,
			    int n_heads, cuda_stream_t stream);

/* ---- training (issue 8): twins of layers.h, model.h, loss.h, optim.h,
 * ema.h; backward launchers ADD into gradients as their twins do ---- */

/* The precision cuda_set_precision set (attention picks its kernel by it). */
enum backend_precision cuda_get_precision(void);

/* gemm.cu: dinp (N, in) += dout · W, dweight (out, in) += doutᵀ · inp,
 * dbias (out) += Σ_rows dout; dinp and dbias may be NULL */
void linear_backward_cuda(float *dinp, float *dweight, float *dbias, const float *dout,
			  const float *inp, const float *weight, int N, int in_dim, int out_dim,
			  cuda_stream_t stream);

/* layers_bwd.cu */
void rmsnorm_backward_cuda(float *dinp, float *dweight, const float *dout, const float *inp,
			   const float *weight, const float *rstd, int N, int C,
			   cuda_stream_t stream);
void gelu_forward_cuda(float *out, const float *inp, size_t n, cuda_stream_t stream);
void gelu_backward_cuda(float *dinp, const float *dout, const float *inp, size_t n,
			cuda_stream_t stream);
void rope_backward_cuda(float *dqkv, const float *cos_sin, int B, int T, int A, int n_heads,
			cuda_stream_t stream);
/* dropout masks from rng.h's rng_uniform(seed, rng_stream, element) */
void residual_dropout_forward_cuda(float *out, const float *inp, const float *branch, size_t n,
				   float p, uint64_t seed, uint64_t rng_stream,
				   cuda_stream_t stream);
void residual_backward_cuda(float *dbranch, const float *dout, size_t n, float p, uint64_t seed,
			    uint64_t rng_stream, cuda_stream_t stream);
void mask_backward_cuda(float *dmask, const float *dyspec, const float *x, int B, int S, int C,
			int F, int T, cuda_stream_t stream);
void sum_rows_cuda(float *acc, const float *x, int rows, int width, bool by_row,
		   cuda_stream_t stream);
void stem_mix_cuda(float *mix, const float *stems, int B, int S, int C, int64_t n,
		   cuda_stream_t stream);

/* optim.cu */
void scale_cuda(float *x, size_t n, float s, cuda_stream_t stream);
/* Σ x² in double, fixed order for a given n; waits for the stream */
double sumsq_cuda(const float *x, size_t n, cuda_stream_t stream);
void adamw_update_cuda(float *params, const float *grads, float *m, float *v, size_t n,
		       float lr, float beta1, float beta2, float eps, float weight_decay,
		       int64_t t, cuda_stream_t stream);
void ema_update_cuda(float *ema, const float *params, size_t n, float decay,
		     cuda_stream_t stream);

/* loss.cu: sisdr, l1, spec_l1 are host arrays; both wait for the stream */
void loss_time_terms_cuda(double *sisdr, double *l1, float *dx, const float *x, const float *y,
			  int BS, int64_t len, double c_sisdr, double c_l1, cuda_stream_t stream);
void loss_spectral_terms_cuda(double *spec_l1, float *dyhat, const float *yhat, const float *yt,
			      int64_t rows, int64_t bins, double c_spec, cuda_stream_t stream);

/* attention.cu: dqkv (B, T, 3A) += gradient, from the forward's out and lse */
void attention_backward_cuda(float *dqkv, const float *dout, const float *qkv, const float *out,
			     const float *lse, int B, int T, int A, int n_heads,
			     cuda_stream_t stream);

/* stft.cu: din (rows, F, T) complex += adjoint of the iSTFT of dy (rows, n) */
int stft_inverse_backward_cuda(struct backend_stft *s, float *din, const float *dy, int64_t rows,
			       int64_t T, int64_t n, cuda_stream_t stream);

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
