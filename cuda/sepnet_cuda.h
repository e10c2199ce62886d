/* sepnet_cuda.h: the C interface of cuda/ (docs/DESIGN.md §7).
 *
 * Launchers have the name of their CPU twin in lib/ops/ with _cuda
 * appended and its signature; every pointer is device memory.  They only
 * enqueue work, on cuda_stream(): errors of the launch itself are checked
 * at once (file and line named), errors of the kernel surface at the next
 * synchronisation.  backend_cuda (backend.h) points at them directly.
 *
 * C-compatible, without the CUDA headers: struct CUstream_st * is what
 * cudaStream_t names. */
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

/* The op launchers, one per BACKEND_OPS entry (backend.h): NAME_cuda with
 * the CPU function's signature, in the .cu file of the op's name; they
 * enqueue on cuda_stream(). */
#define CUDA_OP_DECLARE(ret, name, params) ret name##_cuda params;
BACKEND_OPS(CUDA_OP_DECLARE)
#undef CUDA_OP_DECLARE

/* The precision cuda_set_precision set (attention picks its kernel by it). */
enum backend_precision cuda_get_precision(void);

/* Launchers the op files share: out (N, width) = GELU(out + bias) (gelu.cu,
 * the epilogue of linear_gelu_forward), out = inp + branch (residual.cu). */
void bias_gelu_forward_cuda(float *out, const float *bias, int N, int width);
void residual_add_cuda(float *out, const float *inp, const float *branch, size_t n);

/* comm.cu: NCCL, the backend's comm_* members */
int cuda_comm_id(void *id, char *why, size_t whylen);
void cuda_comm_init(const void *id, int rank, int ranks);
void cuda_comm_allreduce(float *p, size_t n);
void cuda_comm_wait(void);
void cuda_comm_free(void);

/* stft.cu: batched cuFFT plans, the backend's STFT members */
struct backend_stft *stft_create_cuda(int n_fft, int hop);
void stft_free_cuda(struct backend_stft *s);
int stft_forward_cuda(struct backend_stft *s, float *out, const float *x, int64_t rows, int64_t n);
int stft_inverse_cuda(struct backend_stft *s, float *y, const float *in, int64_t rows, int64_t T,
		      int64_t n);
int stft_inverse_backward_cuda(struct backend_stft *s, float *din, const float *dy, int64_t rows,
			       int64_t T, int64_t n);

#ifdef __cplusplus
}
#endif

#endif
