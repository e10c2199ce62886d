/* backend.h: the compute backends behind one table of function pointers
 * (docs/DESIGN.md §7, ggml style).
 *
 * The model (lib/model/), the loss, the trainer and the stft/istft tools
 * call every op through a struct backend chosen at run time with
 * -d cpu|cuda.  Every pointer an op takes is memory of that backend: host
 * memory for "cpu", device memory for "cuda", moved with upload/download.
 *
 * The ops are listed once, in BACKEND_OPS: a name, and the signature of the
 * CPU function of that name in lib/ops/ (ops.h), which is the cpu table's
 * entry; the cuda table's entry is the launcher NAME_cuda in cuda/ with the
 * same signature (declared from this list in cuda/sepnet_cuda.h), which
 * enqueues on the backend's stream.  Backward ops ADD into their gradients.
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
#include "real.h"

/* How GEMMs round their inputs: f32 exactly, TF32 tensor cores ([hardware]
 * tf32), or bf16 inputs with f32 accumulation ([train] use_amp).  The CPU
 * has no TF32 (f32 instead) and computes bf16 where the processor has
 * AVX512-BF16 or AMX (lib/ops/gemm_bf16.c), f32 elsewhere. */
enum backend_precision {
	BACKEND_F32,
	BACKEND_TF32,
	BACKEND_BF16,
};

/* Bytes of a communicator's id (comm_id; NCCL_UNIQUE_ID_BYTES). */
#define BACKEND_COMM_ID_BYTES 128

/* STFT plans of one backend for one (n_fft, hop). */
struct backend_stft;

/* X(return type, name, (parameters)) for every op; shapes and semantics
 * are in ops.h (and chunk.h for the two chunk ops). */
#define BACKEND_OPS(X)                                                                      \
	X(void, blas_gemm, (bool trans_a, bool trans_b, int M, int N, int K, real alpha,     \
			    const real *A, int lda, const real *B, int ldb, real beta, real *C, \
			    int ldc))                                                        \
	X(void, linear_forward, (real *out, const real *inp, const real *weight,            \
				 const real *bias, int N, int in_dim, int out_dim))          \
	X(void, linear_backward, (real *dinp, real *dweight, real *dbias, const real *dout,  \
				  const real *inp, const real *weight, int N, int in_dim,    \
				  int out_dim))                                              \
	X(void, linear_gelu_forward, (real *out, const real *inp, const real *weight,       \
				      const real *bias, int N, int in_dim, int out_dim))     \
	X(void, rmsnorm_forward, (real *out, real *rstd, const real *inp, const real *weight, \
				  int N, int C, float eps))                                  \
	X(void, rmsnorm_backward, (real *dinp, real *dweight, const real *dout,              \
				   const real *inp, const real *weight, const real *rstd, int N, \
				   int C))                                                   \
	X(void, gelu_forward, (real *out, const real *inp, size_t n))                        \
	X(void, gelu_backward, (real *dinp, const real *dout, const real *inp, size_t n))    \
	X(void, tanh_forward, (real *out, const real *inp, size_t n))                        \
	X(void, tanh_backward, (real *dinp, const real *dout, const real *out, size_t n))    \
	X(void, glu_forward, (real *out, const real *inp, int N, int w))                     \
	X(void, glu_backward, (real *dinp, const real *dout, const real *inp, int N, int w)) \
	X(void, head_gate_forward, (real *out, const real *att, const real *gate, int N,    \
				    int A, int n_heads))                                     \
	X(void, head_gate_backward, (real *datt, real *dgate, const real *dout,             \
				     const real *att, const real *gate, int N, int A,         \
				     int n_heads))                                           \
	X(void, axis_swap, (real *out, const real *inp, int B, int X, int Y, int D))         \
	X(void, rope_forward, (real *qkv, const real *cos_sin, int B, int T, int A,         \
			       int n_heads))                                                 \
	X(void, rope_backward, (real *dqkv, const real *cos_sin, int B, int T, int A,       \
				int n_heads))                                                \
	X(void, attention_forward, (real *out, real *lse, const real *qkv, int B, int T,    \
				    int A, int n_heads))                                     \
	X(void, attention_backward, (real *dqkv, const real *dout, const real *qkv,         \
				     const real *out, const real *lse, int B, int T, int A,   \
				     int n_heads))                                           \
	X(void, residual_forward, (real *out, const real *inp, const real *branch, size_t n, \
				   float p, uint64_t seed, uint64_t stream, uint64_t first)) \
	X(void, residual_backward, (real *dbranch, const real *dout, size_t n, float p,      \
				    uint64_t seed, uint64_t stream, uint64_t first))         \
	X(void, features_forward, (real *feat, real *sigma, const real *x, int B, int C,    \
				   int F, int T, int64_t xT))                                \
	X(void, mask_forward, (real *yspec, const real *mask, const real *x, int B, int S,  \
			       int C, int F, int T))                                         \
	X(void, mask_backward, (real *dmask, const real *dyspec, const real *x, int B, int S, \
				int C, int F, int T))                                        \
	X(void, mask_accumulate, (real *out, const real *mask, const real *bias,            \
				  const real *x, const struct chunk_plan *p, int64_t s,      \
				  int C, int F, int64_t xT))                                 \
	X(void, band_features, (real *feat, const real *x, const int *bands, int n_bands,   \
				int B, int C, int F, int T))                                 \
	X(void, band_mask_forward, (real *yspec, const real *mask, const real *x,           \
				    const int *bands, int n_bands, int B, int S, int C,      \
				    int F, int T))                                           \
	X(void, band_mask_backward, (real *dmask, const real *dyspec, const real *x,        \
				     const int *bands, int n_bands, int B, int S, int C,     \
				     int F, int T))                                          \
	X(void, loss_time_terms, (double *sisdr, double *l1, real *dx, const real *x,        \
				  const real *y, int BS, int64_t len, double c_sisdr,        \
				  double c_l1))                                              \
	X(void, loss_spectral_terms, (double *spec_l1, real *dyhat, const real *yhat,        \
				      const real *yt, int64_t rows, int64_t bins,            \
				      double c_spec))                                        \
	X(void, adamw_update, (real *params, const real *grads, real *m, real *v, size_t n, \
			       float lr, float beta1, float beta2, float eps,               \
			       float weight_decay, int64_t t))                               \
	X(void, ema_update, (real *ema, const real *params, size_t n, float decay))          \
	X(double, sumsq, (const real *x, size_t n))                                          \
	X(void, tensor_scale, (real *x, size_t n, float s))                                  \
	X(void, tensor_broadcast, (real *out, const real *vec, int rows, int width,         \
				   bool by_row))                                             \
	X(void, tensor_sum_rows, (real *acc, const real *x, int rows, int width,            \
				  bool by_row))                                              \
	X(void, stem_mix, (real *mix, const real *stems, int B, int S, int C, int64_t n))    \
	X(void, wiener_em, (real *y, const real *x, int S, int C, int F, int64_t stride,    \
			    int64_t n, int iterations))                                      \
	X(void, chunk_gather, (real *seg, const real *in, const struct chunk_plan *p,        \
			       int64_t s, int64_t rows, int64_t width))                      \
	X(void, chunk_accumulate, (real *out, const real *seg, const struct chunk_plan *p,   \
				   int64_t s, int64_t rows, int64_t width))

struct backend {
	const char *name;	/* "cpu" or "cuda" */
	bool host;		/* its memory is host memory: upload/download may be skipped */

	/* ---- memory; alloc'd memory is zeroed, dies when out of it ---- */
	void *(*alloc)(size_t bytes);
	void (*free)(void *p);
	void (*upload)(void *dst, const void *src, size_t bytes);	/* host → backend */
	void (*download)(void *dst, const void *src, size_t bytes);	/* backend → host, waits */
	void (*zero)(void *p, size_t bytes);
	void (*set_precision)(enum backend_precision p);
	/* Memory whose contents will not change until thawed (an inference
	 * model's weights): the backend may keep copies derived from it (cpu:
	 * bf16-rounded weights, gemm_bf16_freeze).  NULL where it keeps none. */
	void (*freeze)(const void *p, size_t bytes);
	void (*thaw)(const void *p);

	/* ---- overlap of I/O and compute (sepnet-fwd, sepnet-train) ---- */
	/* Host memory that copies to and from the backend fastest: page-locked
	 * for cuda (cudaMallocHost), plain for cpu.  Not zeroed. */
	void *(*host_alloc)(size_t bytes);
	void (*host_free)(void *p);
	/* Copy host → backend on a second stream, overlapping the ops already
	 * enqueued; ops enqueued after upload_fence() wait for every such copy.
	 * src must stay unchanged until the fence's work has run (sync). */
	void (*upload_async)(void *dst, const void *src, size_t bytes);
	void (*upload_fence)(void);
	/* Wait until everything enqueued so far has finished. */
	void (*sync)(void);
	/* Device memory in use, bytes (cuda: every process's on the device); 0
	 * for the host. */
	size_t (*device_memory)(void);

	/* ---- STFT plans (stft.h semantics, many rows at once) ----
	 * out (rows, F, T) complex from x (rows, n); y (rows, n) from in (rows,
	 * F, T), length n; din (rows, F, T) += the inverse's adjoint applied to
	 * dy (rows, n).  Each returns -1 where stft.h's would refuse. */
	struct backend_stft *(*stft_create)(int n_fft, int hop);
	void (*stft_free)(struct backend_stft *s);
	int (*stft_forward)(struct backend_stft *s, real *out, const real *x, int64_t rows,
			    int64_t n);
	int (*stft_inverse)(struct backend_stft *s, real *y, const real *in, int64_t rows,
			    int64_t T, int64_t n);
	int (*stft_inverse_backward)(struct backend_stft *s, real *din, const real *dy,
				     int64_t rows, int64_t T, int64_t n);

	/* ---- sums over the processes of data-parallel training (lib/train/dist.h) ----
	 * NULL where the backend has none (cpu: the trainer sums host memory
	 * over MPI).  cuda: NCCL, loaded when first asked for.  comm_id: a new
	 * communicator's id (rank 0, which sends it to the others); -1 with the
	 * reason when NCCL cannot be used.  comm_init: join it as rank of ranks
	 * (every rank at once; dies on failure).  comm_allreduce: p (n floats)
	 * ← its sum over the ranks, in place, after the ops enqueued so far;
	 * comm_wait: ops enqueued after it see every such sum. */
	int (*comm_id)(void *id, char *why, size_t whylen);
	void (*comm_init)(const void *id, int rank, int ranks);
	void (*comm_allreduce)(real *p, size_t n);
	void (*comm_wait)(void);
	void (*comm_free)(void);

	/* ---- the ops ---- */
#define BACKEND_OP_MEMBER(ret, name, params) ret(*name) params;
	BACKEND_OPS(BACKEND_OP_MEMBER)
#undef BACKEND_OP_MEMBER
};

extern const struct backend backend_cpu;

/* A buffer of backend memory that grows to the largest size asked for
 * (its contents are not kept when it grows). */
struct backend_buffer {
	real *p;
	size_t cap;	/* floats */
};
real *backend_buffer_want(const struct backend *be, struct backend_buffer *b, size_t floats);
/* The same, its first floats zero: zeroed when kept, as alloc'd when made
 * (not zeroed twice: on the cpu, a fresh buffer's pages stay untouched
 * until used). */
real *backend_buffer_want_zero(const struct backend *be, struct backend_buffer *b, size_t floats);
void backend_buffer_free(const struct backend *be, struct backend_buffer *b);

/* The backend named name ("cpu", "cuda"), or the default for NULL.  Dies
 * (exit 1) when cuda is asked for in a build without CUDA or on a machine
 * without a device; a name that is neither is a usage error (exit 2). */
const struct backend *backend_get(const char *name);

/* Whether this binary was built with CUDA and a device is present. */
bool backend_cuda_available(void);

#endif
