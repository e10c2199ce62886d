/* ops.h: the model's ops on the CPU, one file each in lib/ops/ with its
 * forward and backward side by side (docs/DESIGN.md §7).
 * They are the cpu backend's ops (backend.h) and the reference of the CUDA
 * kernels of the same name in cuda/.
 *
 * llm.c style: each layer is a pair name_forward / name_backward with the
 * arguments in the order outputs, inputs, sizes, and a shape comment on each
 * tensor.  Row-major throughout; "N" is the number of rows (batch × frames).
 * Backward functions ADD into every gradient they produce (dinp, dweight,
 * dbias): parameter gradients accumulate over micro-batches, and a residual
 * stream's gradient collects both branches without a copy.  The caller zeroes
 * what must start at zero.
 *
 * The code is written over `real` (real.h), float but in the gradient check.
 * GEMMs go through OpenBLAS (cblas_sgemm / cblas_dgemm), or in bf16 through
 * oneDNN ([train] use_amp, gemm_bf16.c). */
#ifndef SEPNET_OPS_H
#define SEPNET_OPS_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "real.h"

/* Elementwise loops run in parallel only above these sizes (elements): a
 * parallel region costs a barrier, which on a busy machine can cost a
 * scheduler time slice, far more than a few hundred thousand additions. */
#define PARALLEL_MIN_CHEAP (1 << 19)	/* additions, products */
#define PARALLEL_MIN_COSTLY (1 << 15)	/* erf, exp, a hash per element */

/* the polynomial's steps as fused multiply-adds where the processor has
 * them (x86-64-v3, ARM64): half the instructions, one rounding each */
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
#define EXP_FMA(a, b, c) __builtin_fmaf(a, b, c)
#else
#define EXP_FMA(a, b, c) ((a) * (b) + (c))
#endif

/* exp for hot loops (attention's softmax).  x is first clamped to
 * [-104, 104] (beyond, the result is 0 or +inf anyway; NaN gives 0), so
 * no value reaches the integer conversion out of its range.  In
 * f32: exp(x) = 2^k exp(r) with k = round(x / ln 2), r = x − k ln 2
 * (Cody–Waite split), |r| ≤ ln 2 / 2, and a degree-7 Taylor polynomial
 * whose error there is below 5e-9: within float rounding of expf.  k is
 * clamped as an integer (x below about −87.7 gives 0, above 88.7 +inf), so
 * there is no float comparison and loops of it vectorize.  In double (the
 * gradient checks): the C library's exp. */
static inline real exp_fast(real x)
{
#ifdef SEPNET_DOUBLE
	return exp(x);
#else
	// written as selects, which vectorize: NaN fails the first test
	x = x > -104.0f ? x : -104.0f;
	x = x < 104.0f ? x : 104.0f;
	// round to nearest by adding and subtracting 1.5 · 2^23 (no libm call)
	float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
	float r = (x - n * 0.693145751953125f) - n * 1.42860682030941723e-6f;
	float p = 1.0f / 5040;
	p = EXP_FMA(p, r, 1.0f / 720);
	p = EXP_FMA(p, r, 1.0f / 120);
	p = EXP_FMA(p, r, 1.0f / 24);
	p = EXP_FMA(p, r, 1.0f / 6);
	p = EXP_FMA(p, r, 0.5f);
	p = EXP_FMA(p, r, 1.0f);
	p = EXP_FMA(p, r, 1.0f);
	int32_t k = (int32_t)n;
	k = k < -127 ? -127 : k > 128 ? 128 : k;	// 2^-127 → 0.0f, 2^128 → inf
	union { int32_t i; float f; } scale = { .i = (k + 127) << 23 };
	return p * scale.f;
#endif
}

/* C[M,N] = alpha · op(A) op(B) + beta · C, row-major, op = transpose when
 * the flag is set; lda/ldb/ldc are row strides. */
void blas_gemm(bool trans_a, bool trans_b, int M, int N, int K, real alpha, const real *A, int lda,
	       const real *B, int ldb, real beta, real *C, int ldc);

/* Make OpenBLAS single-threaded and stop its thread pool: blas_gemm splits
 * work over OpenMP threads itself (docs/DESIGN.md §7: one pool, no
 * oversubscription).  Done once, before main (gemm.c's constructor); a
 * second call does nothing.  Each slice is an independent sgemm, so
 * results are bit-identical for a given thread count. */
void blas_init_threads(void);

/* Mixed precision (gemm_bf16.c): with gemm_set_bf16(true) on a processor
 * that has bf16 (AVX512-BF16 or AMX, as oneDNN reports it), blas_gemm,
 * linear_forward and linear_gelu_forward round their inputs to bf16 and
 * accumulate in f32, as cuBLAS's FAST_16BF does; GEMMs inside an OpenMP
 * region (attention's tiles) stay f32.  Off, or without bf16: f32.
 * gemm_bf16_active: on, and not called inside an OpenMP region. */
/* f32 to bf16 bits, to nearest with ties to even; a NaN stays a (quiet) NaN */
static inline uint16_t f32_to_bf16(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	uint32_t r = u + 0x7fffu + ((u >> 16) & 1u);
	r = (u & 0x7fffffffu) > 0x7f800000u ? u | 0x400000u : r;
	return (uint16_t)(r >> 16);
}

bool gemm_bf16_available(void);
void gemm_set_bf16(bool on);
bool gemm_bf16_active(void);
/* C = alpha · op(A) op(B) [+ bias per column] + beta · C [then GELU (erf)],
 * inputs rounded to bf16: blas_gemm's arguments, and an epilogue.  bias
 * and gelu go with alpha 1 and beta 0 (linear_forward's case). */
void gemm_bf16(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
	       int lda, const float *B, int ldb, float beta, float *C, int ldc, const float *bias,
	       bool gelu);

/* Memory of n floats whose contents stay as they are until thawed (a
 * model's weights at inference): a bf16 GEMM that reads an operand there
 * rounds the whole of it once, at the first such GEMM, and reads the bf16
 * copy from then on.  Nothing without bf16; more than a few frozen at once
 * round per call as before.  Writing frozen memory before thawing it makes
 * later GEMMs read the old values. */
void gemm_bf16_freeze(const float *p, size_t n);
void gemm_bf16_thaw(const float *p);

/* gemm_bf16's call in f32: C = alpha · op(A) op(B) [+ bias per column] +
 * beta · C [then GELU (erf)] through oneDNN's f32 matmul, the operands as
 * they are.  blas_gemm, linear_forward and linear_gelu_forward use it:
 * at the model's shapes (K 192 to 768) oneDNN's kernels ran up to 30 %
 * faster than OpenBLAS's sgemm here, and the epilogue saves a pass over
 * the output (the bias before, GELU after).  Returns false, having done
 * nothing, inside an OpenMP region (a thread's own GEMM), where oneDNN has
 * no JIT kernel for it, and while turned off by gemm_set_f32_onednn(false)
 * (gemm-peak's OpenBLAS rate): the caller then uses OpenBLAS.  M or N of 0
 * does nothing and returns true. */
void gemm_set_f32_onednn(bool on);
bool gemm_f32_fused(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
		    int lda, const float *B, int ldb, float beta, float *C, int ldc, const float *bias,
		    bool gelu);

/* out = inp · weightᵀ + bias (nn.Linear).  bias may be NULL. */
void linear_forward(real *out, const real *inp, const real *weight, const real *bias,
		    int N, int in_dim, int out_dim);
/* dinp may be NULL (first layer), dbias NULL when there is no bias. */
void linear_backward(real *dinp, real *dweight, real *dbias, const real *dout,
		     const real *inp, const real *weight, int N, int in_dim, int out_dim);
/* out = GELU(inp · weightᵀ + bias): an FFN hidden layer at inference,
 * where the pre-activation is not kept (fused on the GPU). */
void linear_gelu_forward(real *out, const real *inp, const real *weight, const real *bias, int N,
			 int in_dim, int out_dim);

/* out = inp / sqrt(mean(inp²) + eps) ⊙ weight, per row; rstd keeps the
 * reciprocal root for backward.  The transformer's eps is RMSNORM_EPS;
 * RMSNORM_EPS_NORMALIZE makes it PyTorch's F.normalize(x) · sqrt(C) (1e-12
 * on the norm), the band-split model's. */
#define RMSNORM_EPS 1e-6f
#define RMSNORM_EPS_NORMALIZE 1e-24f
void rmsnorm_forward(real *out, real *rstd, const real *inp, const real *weight, int N, int C,
		     float eps);
void rmsnorm_backward(real *dinp, real *dweight, const real *dout, const real *inp,
		      const real *weight, const real *rstd, int N, int C);

/* Exact GELU: 0.5 x (1 + erf(x / sqrt 2)). */
void gelu_forward(real *out, const real *inp, size_t n);
void gelu_backward(real *dinp, const real *dout, const real *inp, size_t n);

/* tanh; backward from the forward's output y: dinp += dout (1 − y²). */
void tanh_forward(real *out, const real *inp, size_t n);
void tanh_backward(real *dinp, const real *dout, const real *out, size_t n);

/* GLU over the last axis: out (N, w) = a ⊙ σ(g) of inp (N, 2w) = [a | g]. */
void glu_forward(real *out, const real *inp, int N, int w);
void glu_backward(real *dinp, const real *dout, const real *inp, int N, int w);

/* Per-head sigmoid gates on attention's output: out (N, A) = att (N, A)
 * with head k's hs = A / n_heads columns times σ(gate[n, k]); gate (N,
 * n_heads) is the gate's pre-activation. */
void head_gate_forward(real *out, const real *att, const real *gate, int N, int A, int n_heads);
void head_gate_backward(real *datt, real *dgate, const real *dout, const real *att,
			const real *gate, int N, int A, int n_heads);

/* out (B, Y, X, D) = inp (B, X, Y, D) with the middle axes swapped: the
 * band-split model's turn between attention over time and over bands.
 * Its own adjoint with X and Y exchanged; it overwrites out. */
void axis_swap(real *out, const real *inp, int B, int X, int Y, int D);

/* Rotary position embedding, in place, on the q and k parts of a fused qkv
 * tensor [B, T, 3A] (q at columns 0..A, k at A..2A).  Row t of each example
 * turns the pair (2i, 2i+1) of every head by t · theta_i: table cos_sin is
 * [T_table, head/2, 2] (cos, sin).  Backward turns the gradient back. */
void rope_table(real *cos_sin, int T, int head_size);
void rope_forward(real *qkv, const real *cos_sin, int B, int T, int A, int n_heads);
void rope_backward(real *dqkv, const real *cos_sin, int B, int T, int A, int n_heads);

/* out = inp + Dropout(branch), elementwise over n.  out may alias inp.  The
 * dropout mask is a pure function of (seed, stream, first + element index),
 * so backward regenerates it instead of storing it; p = 0 is plain
 * addition.  first places the elements in a larger batch (a data-parallel
 * rank's examples in the global batch: lib/train/dist.h). */
void residual_forward(real *out, const real *inp, const real *branch, size_t n, float p,
		      uint64_t seed, uint64_t stream, uint64_t first);
/* dbranch += Dropout(dout) (the same mask); the residual path's gradient is
 * dout itself, which the caller keeps. */
void residual_backward(real *dbranch, const real *dout, size_t n, float p, uint64_t seed,
		       uint64_t stream, uint64_t first);

/* attention's tiles: query rows, key rows (a scores tile is 64 KiB in
 * f32); tests/tools/gemm-peak -m times the same tiles */
#define ATT_QB 64
#define ATT_KB 256

/* attention_forward in mixed precision (attention_bf16.c, the GPU's bf16
 * forward's twin): Q, K, V and P rounded to bf16, products accumulated in
 * f32, the softmax and lse in f32.  attention_forward runs it while
 * gemm_bf16_active() where attention_bf16_available(head size) (AVX512-BF16,
 * an even head of at most 64). */
bool attention_bf16_available(int hs);
void attention_forward_bf16(float *out, float *lse, const float *qkv, int B, int T, int A,
			    int n_heads);

/* Multi-head attention (attention.c), non-causal, on a fused qkv [B, T, 3A]
 * after RoPE: out [B, T, A], lse [B, n_heads, T] (log-sum-exp of each
 * query's scaled scores, kept for backward).  Blocked over keys with an
 * online softmax, so the T×T scores of a head never all exist at once. */
void attention_forward(real *out, real *lse, const real *qkv, int B, int T, int A, int n_heads);
/* dqkv [B, T, 3A] += gradient; dout [B, T, A]. */
void attention_backward(real *dqkv, const real *dout, const real *qkv, const real *out,
			const real *lse, int B, int T, int A, int n_heads);

/* ---- the model's input and output (mask.c) ----
 * feat (B, 2CF, T) = features of x (B, C, F, T) complex divided by sigma (B)
 * = sqrt(mean |x_b|²) + 1e-5; yspec (B, S, C, F, T) complex = mask
 * (B, S·2·C·F, T) ⊙ x; mask_backward overwrites dmask with ∂/∂mask.
 * features_forward's x has rows of xT ≥ T frames (B, C, F, xT), its first T
 * each row's (xT = T: packed; more: a segment in the separator's window,
 * read in place), summed in the order of the packed rows: the same bits. */
void features_forward(real *feat, real *sigma, const real *x, int B, int C, int F, int T,
		      int64_t xT);
void mask_forward(real *yspec, const real *mask, const real *x, int B, int S, int C, int F, int T);
/* The separator's fused step (separate.c): one stem of segment s applied
 * and cross-faded in one pass, no yspec made.  out (C·F rows, p->T
 * frames) complex += weight[s, i] · (M ⊙ X)(cf, i) at frame
 * p->start[s] + i: mask (2·C·F, p->L) one stem's rows of mask_forward's
 * layout (real parts, then imaginary), bias (2·C·F, or NULL) added to its
 * rows first, x (C, F, p->L) complex the segment's, its rows xT ≥ p->L
 * frames apart (features_forward's xT): exactly mask_forward's product of
 * the GEMM's beta-1 sum, added as chunk_accumulate adds it. */
struct chunk_plan;
void mask_accumulate(real *out, const real *mask, const real *bias, const real *x,
		     const struct chunk_plan *p, int64_t s, int C, int F, int64_t xT);
/* The band-split model's ends.  bands (n_bands + 1) holds the first bin of
 * each band and F last (backend memory).  Band-major layout: band j of
 * width w_j = bands[j+1] − bands[j] is a block (B·T, 2C·w_j) at offset
 * B·T·2C·bands[j], row b·T + t, column (f − bands[j])·2C + 2c + p (p: 0
 * real, 1 imaginary), the reference's "b t (f c) ri" split into bands.
 * band_features: feat (band-major) from x (B, C, F, T) complex.
 * band_mask_forward: yspec (B, S, C, F, T) complex = mask_s ⊙ x with
 * mask (S, band-major) complex; band_mask_backward overwrites dmask. */
void band_features(real *feat, const real *x, const int *bands, int n_bands, int B, int C, int F,
		   int T);
void band_mask_forward(real *yspec, const real *mask, const real *x, const int *bands,
		       int n_bands, int B, int S, int C, int F, int T);
void band_mask_backward(real *dmask, const real *dyspec, const real *x, const int *bands,
			int n_bands, int B, int S, int C, int F, int T);
void mask_backward(real *dmask, const real *dyspec, const real *x, int B, int S, int C, int F,
		   int T);

/* ---- the Wiener post-filter (wiener.c) ----
 * y (S, C, F, ·) complex, stems refined in place with `iterations` of the
 * multichannel Wiener filter's EM against the mixture x (C, F, ·) complex:
 * norbert.expectation_maximization (eps WIENER_EPS) on frames [0, n) of
 * rows `stride` frames apart, scaled first by max(1, max |x| / 10) as
 * norbert.wiener does (Open-Unmix's post-filter).  Each bin on its own:
 * v_j = mean_c |y_j|², R_j = Σ_t y_j y_jᴴ / (eps + Σ_t v_j), and per frame
 * y_j = v_j R_j (Σ_k v_k R_k + √eps I)⁻¹ x.  C is 1 or 2. */
#define WIENER_EPS 1e-10
void wiener_em(real *y, const real *x, int S, int C, int F, int64_t stride, int64_t n,
	       int iterations);

/* ---- small tensor ops (tensor.c) ----
 * tensor_broadcast: out (rows, width) = vec (width) in every row (by_row
 * false) or vec[r] along row r (by_row true).  tensor_sum_rows: acc[i] +=
 * Σ_r x[r][i] (by_row false), or acc[r] += Σ_i x[r][i] summed into a real
 * first (by_row true): the bias gradients.  tensor_scale: x (n) *= s.
 * stem_mix: mix (B, C, n) = Σ_s stems (B, S, C, n), s in order from 0. */
void tensor_broadcast(real *out, const real *vec, int rows, int width, bool by_row);
void tensor_sum_rows(real *acc, const real *x, int rows, int width, bool by_row);
void tensor_scale(real *x, size_t n, float s);
void stem_mix(real *mix, const real *stems, int B, int S, int C, int64_t n);

/* ---- the loss's terms (loss_terms.c) ---- */

/* The terms, on the CPU: the cpu backend's loss ops (backend.h):
 *
 * loss_time_terms: for BS (example, source) pairs of len samples, x the
 * estimates and y the targets (BS, len): sisdr[bs] in dB and l1[bs] =
 * Σ |x − y|; with dx non-NULL, dx (BS, len) is overwritten with
 * c_sisdr · ∂SI-SDR/∂x + c_l1 · sign(x − y).
 *
 * loss_spectral_terms: for rows of `bins` complex bins, yhat the estimates
 * and yt the targets' spectrograms: spec_l1[r] = Σ | |Ŷ| − |Y| |; with
 * dyhat non-NULL, dyhat += c_spec · sign(|Ŷ| − |Y|) · Ŷ / |Ŷ|. */
void loss_time_terms(double *sisdr, double *l1, real *dx, const real *x, const real *y, int BS,
		     int64_t len, double c_sisdr, double c_l1);
void loss_spectral_terms(double *spec_l1, real *dyhat, const real *yhat, const real *yt,
			 int64_t rows, int64_t bins, double c_spec);

/* SI-SDR in dB of an estimate against a reference, both (n). */
double sisdr_db(const real *estimate, const real *reference, int64_t n);

/* ---- the optimizer (adamw.c) and the EMA of the weights (ema.c) ----
 * AdamW and global gradient-norm clipping with torch.optim.AdamW and
 * torch.nn.utils.clip_grad_norm_ semantics, each one loop over the flat
 * parameter, gradient and moment buffers. */
struct adamw {
	size_t n;
	real *m, *v;		/* (n) first and second moments, the parameters' layout */
	int64_t t;		/* steps taken */
	float beta1, beta2, eps, weight_decay;
};

/* Zero moments for n parameters; β 0.9 / 0.999, ε 1e-8. */
void adamw_init(struct adamw *opt, size_t n, float weight_decay);
void adamw_free(struct adamw *opt);

/* One step: p ← p − lr·wd·p, then the Adam update with bias correction. */
void adamw_step(struct adamw *opt, real *params, const real *grads, float lr);

/* The update of adamw_step for step t (>= 1) over n, with explicit state:
 * the CPU twin of the backend's adamw op. */
void adamw_update(real *params, const real *grads, real *m, real *v, size_t n, float lr,
		  float beta1, float beta2, float eps, float weight_decay, int64_t t);
/* Σ x² (n) in double, in index order. */
double sumsq(const real *x, size_t n);

/* The global L2 norm of grads (n), in double, in a fixed order.  When
 * max_norm > 0 and the norm exceeds it, grads are scaled by
 * max_norm / (norm + 1e-6) as clip_grad_norm_ does.  Returns the norm
 * before clipping (NaN or Inf when a gradient is: the caller skips the
 * step). */
double grad_clip_norm(real *grads, size_t n, float max_norm);

/* EMA of the weights ([train] ema_decay): after every optimizer step, ema ←
 * decay · ema + (1 − decay) · params, elementwise, starting from a copy of
 * the initial weights (no bias correction, as timm's ModelEmaV2 and
 * Demucs). */
/* ema (n) ← decay · ema + (1 − decay) · params (n) */
void ema_update(real *ema, const real *params, size_t n, float decay);

#endif
