/* op_cases.h: the table of op cases (ggml's test-backend-ops): one row per
 * {op, shapes, precision, tolerance, why}, and for each op a case function
 * that runs it on any backend.  Two harnesses run the table:
 *
 *   tests/unit/test_gradcheck.c   in double precision on the cpu backend:
 *                                 every case with a backward against central
 *                                 finite differences (docs/DESIGN.md §10)
 *   tests/tools/check-ops.c       in f32: every case on cuda against cpu
 *                                 (--self: cpu against itself), outputs and
 *                                 gradients, to the row's tolerance
 *
 * A case function is called in three modes.  OP_SETUP fills the sizes of
 * its inputs and outputs (elements) and their flags; the harness then
 * allocates them on the backend, inputs uniform in ±in_scale.  OP_FORWARD
 * writes every output from the inputs (an op that works in place copies its
 * input to the output first).  OP_BACKWARD adds ∂(Σ_j dout_j · out_j)/∂in_i
 * into din_i for every input with in_grad (the harness starts din at
 * random values, so an op that overwrites instead of adding shows), using
 * the forward's outputs where the op keeps state in them (rstd, lse).
 * out_loss false marks such state: it is compared, not differentiated.
 * uniform_dout: the op takes one weight per output tensor (the loss
 * terms), so the harness makes each dout tensor constant.  init: OP_INIT
 * runs once after the random fill, to shape the inputs (an estimate near
 * its target).
 *
 * Adding an op: its case function here and its rows in op_cases[]
 * (docs/DESIGN.md §7). */
#ifndef SEPNET_OP_CASES_H
#define SEPNET_OP_CASES_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "ops.h"
#include "rng.h"
#include "util.h"

#define OP_MAX_TENSORS 4

enum op_mode { OP_SETUP, OP_INIT, OP_FORWARD, OP_BACKWARD };

struct op_io {
	int n_in, n_out;
	size_t in_n[OP_MAX_TENSORS], out_n[OP_MAX_TENSORS];	/* elements */
	float in_scale[OP_MAX_TENSORS];	/* inputs uniform in ±in_scale (0: 1) */
	bool in_grad[OP_MAX_TENSORS];	/* OP_BACKWARD adds into din[i] */
	bool out_loss[OP_MAX_TENSORS];	/* out[j] is an output, not kept state */
	bool uniform_dout;
	bool has_backward;
	bool init;		/* OP_INIT rewrites the random inputs once */
	real *in[OP_MAX_TENSORS], *out[OP_MAX_TENSORS];	/* backend memory */
	real *dout[OP_MAX_TENSORS], *din[OP_MAX_TENSORS];
};

typedef void op_case_fn(const struct backend *be, const int *d, struct op_io *io,
			enum op_mode mode);

struct op_case {
	const char *name;	/* printed with its shape */
	op_case_fn *run;
	int d[8];		/* sizes, named in the case function */
	enum backend_precision prec;
	double tol;		/* cuda against cpu: relative L2 error */
	const char *why;	/* the tolerance's reason */
};

/* ---- helpers over any backend (small tensors: through the host) ---- */

static void op_copy(const struct backend *be, real *dst, const real *src, size_t n)
{
	real *h = xmalloc(n * sizeof(real));
	be->download(h, src, n * sizeof(real));
	be->upload(dst, h, n * sizeof(real));
	free(h);
}

/* dst += src, with the table's own plain residual sum */
static void op_add(const struct backend *be, real *dst, const real *src, size_t n)
{
	be->residual_forward(dst, dst, src, n, 0, 0, 0, 0);
}

static real op_value(const struct backend *be, const real *x)
{
	real v;
	be->download(&v, x, sizeof v);
	return v;
}

static void op_inputs(struct op_io *io, int n, const size_t *sizes, const bool *grad)
{
	io->n_in = n;
	for (int i = 0; i < n; i++)
		io->in_n[i] = sizes[i], io->in_grad[i] = grad[i];
}

static void op_outputs(struct op_io *io, int n, const size_t *sizes, const bool *loss)
{
	io->n_out = n;
	for (int j = 0; j < n; j++)
		io->out_n[j] = sizes[j], io->out_loss[j] = loss[j];
}

/* ---- the cases ---- */

/* d: N, in, out, bias (0/1) */
static void case_linear(const struct backend *be, const int *d, struct op_io *io,
			enum op_mode mode)
{
	int N = d[0], in = d[1], out = d[2], bias = d[3];
	if (mode == OP_SETUP) {
		op_inputs(io, 2 + bias, (size_t[]){ (size_t)N * in, (size_t)out * in, out },
			  (bool[]){ true, true, true });
		io->in_scale[1] = 0.2f;
		op_outputs(io, 1, (size_t[]){ (size_t)N * out }, (bool[]){ true });
		io->has_backward = true;
	} else if (mode == OP_FORWARD) {
		be->linear_forward(io->out[0], io->in[0], io->in[1], bias ? io->in[2] : NULL, N, in,
				   out);
	} else {
		be->linear_backward(io->din[0], io->din[1], bias ? io->din[2] : NULL, io->dout[0],
				    io->in[0], io->in[1], N, in, out);
	}
}

/* d: N, in, out (forward only: the pre-activation is not kept) */
static void case_linear_gelu(const struct backend *be, const int *d, struct op_io *io,
			     enum op_mode mode)
{
	int N = d[0], in = d[1], out = d[2];
	if (mode == OP_SETUP) {
		op_inputs(io, 3, (size_t[]){ (size_t)N * in, (size_t)out * in, out },
			  (bool[]){ false, false, false });
		io->in_scale[1] = 0.2f;
		op_outputs(io, 1, (size_t[]){ (size_t)N * out }, (bool[]){ true });
	} else if (mode == OP_FORWARD) {
		be->linear_gelu_forward(io->out[0], io->in[0], io->in[1], io->in[2], N, in, out);
	}
}

/* d: M, N, K, trans_a, trans_b; C = 0.7 op(A) op(B) + 0.3 C, padded strides */
static void case_gemm(const struct backend *be, const int *d, struct op_io *io,
		      enum op_mode mode)
{
	int M = d[0], N = d[1], K = d[2], ta = d[3], tb = d[4];
	int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5, ldc = N + 2;
	size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * ldc;
	if (mode == OP_SETUP) {
		op_inputs(io, 3, (size_t[]){ na, nb, nc }, (bool[]){ false, false, false });
		op_outputs(io, 1, (size_t[]){ nc }, (bool[]){ true });
	} else if (mode == OP_FORWARD) {
		op_copy(be, io->out[0], io->in[2], nc);
		be->blas_gemm(ta, tb, M, N, K, 0.7f, io->in[0], lda, io->in[1], ldb, 0.3f, io->out[0],
			      ldc);
	}
}

/* d: N, C, eps (0: RMSNORM_EPS, 1: RMSNORM_EPS_NORMALIZE) */
static void case_rmsnorm(const struct backend *be, const int *d, struct op_io *io,
			 enum op_mode mode)
{
	int N = d[0], C = d[1];
	float eps = d[2] ? RMSNORM_EPS_NORMALIZE : RMSNORM_EPS;
	if (mode == OP_SETUP) {
		op_inputs(io, 2, (size_t[]){ (size_t)N * C, C }, (bool[]){ true, true });
		io->in_scale[0] = 3;
		op_outputs(io, 2, (size_t[]){ (size_t)N * C, N }, (bool[]){ true, false });
		io->has_backward = true;
	} else if (mode == OP_FORWARD) {
		be->rmsnorm_forward(io->out[0], io->out[1], io->in[0], io->in[1], N, C, eps);
	} else {
		be->rmsnorm_backward(io->din[0], io->din[1], io->dout[0], io->in[0], io->in[1],
				     io->out[1], N, C);
	}
}

/* d: n */
static void case_gelu(const struct backend *be, const int *d, struct op_io *io,
		      enum op_mode mode)
{
	size_t n = d[0];
	if (mode == OP_SETUP) {
		op_inputs(io, 1, (size_t[]){ n }, (bool[]){ true });
		io->in_scale[0] = 4;	// both tails
		op_outputs(io, 1, (size_t[]){ n }, (bool[]){ true });
		io->has_backward = true;
	} else if (mode == OP_FORWARD) {
		be->gelu_forward(io->out[0], io->in[0], n);
	} else {
		be->gelu_backward(io->din[0], io->dout[0], io->in[0], n);
	}
}

/* d: n */
static void case_tanh(const struct backend *be, const int *d, struct op_io *io, enum op_mode mode)
{
	size_t n = d[0];
	if (mode == OP_SETUP) {
		op_inputs(io, 1, (size_t[]){ n }, (bool[]){ true });
		io->in_scale[0] = 3;
		op_outputs(io, 1, (size_t[]){ n }, (bool[]){ true });
		io->has_backward = true;
	} else if (mode == OP_FORWARD) {
		be->tanh_forward(io->out[0], io->in[0], n);
	} else {
		be->tanh_backward(io->din[0], io->dout[0], io->out[0], n);
	}
}

/* d: N, w */
static void case_glu(const struct backend *be, const int *d, struct op_io *io, enum op_mode mode)
{
	int N = d[0], w = d[1];
	if (mode == OP_SETUP) {
		op_inputs(io, 1, (size_t[]){ (size_t)N * 2 * w }, (bool[]){ true });
		io->in_scale[0] = 3;
		op_outputs(io, 1, (size_t[]){ (size_t)N * w }, (bool[]){ true });
		io->has_backward = true;
	} else if (mode == OP_FORWARD) {
		be->glu_forward(io->out[0], io->in[0], N, w);
	} else {
		be->glu_backward(io->din[0], io->dout[0], io->in[0], N, w);
	}
}

/* d: N, A, heads */
static void case_head_gate(const struct backend *be, const int *d, struct op_io *io,
			   enum op_mode mode)
{
	int N = d[0], A = d[1], h = d[2];
	if (mode == OP_SETUP) {
		op_inputs(io, 2, (size_t[]){ (size_t)N * A, (size_t)N * h }, (bool[]){ true, true });
		io->in_scale[1] = 3;
		op_outputs(io, 1, (size_t[]){ (size_t)N * A }, (bool[]){ true });
		io->has_backward = true;
	} else if (mode == OP_FORWARD) {
		be->head_gate_forward(io->out[0], io->in[0], io->in[1], N, A, h);
	} else {
		be->head_gate_backward(io->din[0], io->din[1], io->dout[0], io->in[0], io->in[1], N, A,
				       h);
	}
}

/* d: B, X, Y, D; the backward is the swap back */
static void case_axis_swap(const struct backend *be, const int *d, struct op_io *io,
			   enum op_mode mode)
{
	int B = d[0], X = d[1], Y = d[2], D = d[3];
	size_t n = (size_t)B * X * Y * D;
	if (mode == OP_SETUP) {
		op_inputs(io, 1, (size_t[]){ n }, (bool[]){ true });
		op_outputs(io, 1, (size_t[]){ n }, (bool[]){ true });
		io->has_backward = true;
	} else if (mode == OP_FORWARD) {
		be->axis_swap(io->out[0], io->in[0], B, X, Y, D);
	} else {
		real *g = be->alloc(n * sizeof(real));
		be->axis_swap(g, io->dout[0], B, Y, X, D);
		op_add(be, io->din[0], g, n);
		be->free(g);
	}
}

/* A split of F = 33 bins into bands of widths 2, 2, 4, 8, 17 (backend memory). */
#define OP_N_BANDS 5
static int *op_bands(const struct backend *be)
{
	static const int bands[OP_N_BANDS + 1] = { 0, 2, 4, 8, 16, 33 };
	int *b = be->alloc(sizeof bands);
	be->upload(b, bands, sizeof bands);
	return b;
}

/* d: B, C, F (33), T (forward only: the input is data) */
static void case_band_features(const struct backend *be, const int *d, struct op_io *io,
			       enum op_mode mode)
{
	int B = d[0], C = d[1], F = d[2], T = d[3];
	size_t n = (size_t)B * C * F * T * 2;
	if (mode == OP_SETUP) {
		op_inputs(io, 1, (size_t[]){ n }, (bool[]){ false });
		op_outputs(io, 1, (size_t[]){ n }, (bool[]){ true });
	} else if (mode == OP_FORWARD) {
		int *bands = op_bands(be);
		be->band_features(io->out[0], io->in[0], bands, OP_N_BANDS, B, C, F, T);
		be->free(bands);
	}
}

/* d: B, S, C, F (33), T; the gradient with respect to the mask */
static void case_band_mask(const struct backend *be, const int *d, struct op_io *io,
			   enum op_mode mode)
{
	int B = d[0], S = d[1], C = d[2], F = d[3], T = d[4];
	size_t nx = (size_t)B * C * F * T * 2, nm = (size_t)B * S * 2 * C * F * T;
	if (mode == OP_SETUP) {
		op_inputs(io, 2, (size_t[]){ nm, nx }, (bool[]){ true, false });
		io->in_scale[1] = 4;
		op_outputs(io, 1, (size_t[]){ nm }, (bool[]){ true });
		io->has_backward = true;
		return;
	}
	int *bands = op_bands(be);
	if (mode == OP_FORWARD) {
		be->band_mask_forward(io->out[0], io->in[0], io->in[1], bands, OP_N_BANDS, B, S, C, F, T);
	} else {
		real *g = be->alloc(nm * sizeof(real));	// band_mask_backward overwrites
		be->band_mask_backward(g, io->dout[0], io->in[1], bands, OP_N_BANDS, B, S, C, F, T);
		op_add(be, io->din[0], g, nm);
		be->free(g);
	}
	be->free(bands);
}

/* The rotary table of (T, head) into x, backend memory. */
static void op_rope_table(const struct backend *be, real *x, int T, int hs)
{
	real *h = xmalloc((size_t)T * hs * sizeof(real));
	rope_table(h, T, hs);
	be->upload(x, h, (size_t)T * hs * sizeof(real));
	free(h);
}

/* d: B, T, A, n_heads; in place on a copy of qkv */
static void case_rope(const struct backend *be, const int *d, struct op_io *io,
		      enum op_mode mode)
{
	int B = d[0], T = d[1], A = d[2], h = d[3];
	size_t n = (size_t)B * T * 3 * A;
	if (mode == OP_SETUP) {
		op_inputs(io, 2, (size_t[]){ n, (size_t)T * (A / h) }, (bool[]){ true, false });
		io->in_scale[0] = 2;
		op_outputs(io, 1, (size_t[]){ n }, (bool[]){ true });
		io->has_backward = true;
	} else if (mode == OP_FORWARD) {
		op_rope_table(be, io->in[1], T, A / h);
		op_copy(be, io->out[0], io->in[0], n);
		be->rope_forward(io->out[0], io->in[1], B, T, A, h);
	} else {
		real *g = be->alloc(n * sizeof(real));
		op_copy(be, g, io->dout[0], n);
		be->rope_backward(g, io->in[1], B, T, A, h);	// turns it back in place
		op_add(be, io->din[0], g, n);
		be->free(g);
	}
}

/* d: B, T, A, n_heads */
static void case_attention(const struct backend *be, const int *d, struct op_io *io,
			   enum op_mode mode)
{
	int B = d[0], T = d[1], A = d[2], h = d[3];
	if (mode == OP_SETUP) {
		op_inputs(io, 1, (size_t[]){ (size_t)B * T * 3 * A }, (bool[]){ true });
		io->in_scale[0] = 2;
		op_outputs(io, 2, (size_t[]){ (size_t)B * T * A, (size_t)B * h * T },
			   (bool[]){ true, false });
		io->has_backward = true;
	} else if (mode == OP_FORWARD) {
		be->attention_forward(io->out[0], io->out[1], io->in[0], B, T, A, h);
	} else {
		be->attention_backward(io->din[0], io->dout[0], io->in[0], io->out[0], io->out[1], B,
				       T, A, h);
	}
}

/* d: n, dropout p in thousandths; a stream as the model makes them, and
 * the elements placed as a second rank's of a larger batch */
static void case_residual(const struct backend *be, const int *d, struct op_io *io,
			  enum op_mode mode)
{
	size_t n = d[0];
	float p = d[1] / 1000.0f;
	uint64_t seed = 20240229, stream = ((uint64_t)123457 << 16) | (3 << 1) | 1, first = 3 * n;
	if (mode == OP_SETUP) {
		op_inputs(io, 2, (size_t[]){ n, n }, (bool[]){ true, true });
		op_outputs(io, 1, (size_t[]){ n }, (bool[]){ true });
		io->has_backward = true;
	} else if (mode == OP_FORWARD) {
		be->residual_forward(io->out[0], io->in[0], io->in[1], n, p, seed, stream, first);
	} else {
		op_add(be, io->din[0], io->dout[0], n);	// the residual path
		be->residual_backward(io->din[1], io->dout[0], n, p, seed, stream, first);
	}
}

/* d: B, C, F, T (forward only: the input is data) */
static void case_features(const struct backend *be, const int *d, struct op_io *io,
			  enum op_mode mode)
{
	int B = d[0], C = d[1], F = d[2], T = d[3];
	int64_t xT = T + d[4];	// x's rows d[4] frames longer than read (a window's)
	size_t n = (size_t)B * C * F * T * 2, nx = (size_t)B * C * F * xT * 2;
	if (mode == OP_SETUP) {
		op_inputs(io, 1, (size_t[]){ nx }, (bool[]){ false });
		io->in_scale[0] = 4;
		op_outputs(io, 2, (size_t[]){ n, B }, (bool[]){ true, true });
	} else if (mode == OP_FORWARD) {
		be->features_forward(io->out[0], io->out[1], io->in[0], B, C, F, T, xT);
	}
}

/* d: B, S, C, F, T; the gradient with respect to the mask */
static void case_mask(const struct backend *be, const int *d, struct op_io *io, enum op_mode mode)
{
	int B = d[0], S = d[1], C = d[2], F = d[3], T = d[4];
	size_t nx = (size_t)B * C * F * T * 2, nm = (size_t)B * S * 2 * C * F * T;
	if (mode == OP_SETUP) {
		op_inputs(io, 2, (size_t[]){ nm, nx }, (bool[]){ true, false });
		io->in_scale[1] = 4;
		op_outputs(io, 1, (size_t[]){ nm }, (bool[]){ true });
		io->has_backward = true;
	} else if (mode == OP_FORWARD) {
		be->mask_forward(io->out[0], io->in[0], io->in[1], B, S, C, F, T);
	} else {
		real *g = be->alloc(nm * sizeof(real));	// mask_backward overwrites
		be->mask_backward(g, io->dout[0], io->in[1], B, S, C, F, T);
		op_add(be, io->din[0], g, nm);
		be->free(g);
	}
}

/* a + w · b (n), a new backend buffer */
static real *op_axpy(const struct backend *be, const real *a, const real *b, double w, size_t n)
{
	real *ha = xmalloc(n * sizeof(real)), *hb = xmalloc(n * sizeof(real));
	be->download(ha, a, n * sizeof(real));
	be->download(hb, b, n * sizeof(real));
	for (size_t i = 0; i < n; i++)
		ha[i] = (real)(ha[i] + w * hb[i]);
	real *x = be->alloc(n * sizeof(real));
	be->upload(x, ha, n * sizeof(real));
	free(ha), free(hb);
	return x;
}

/* host doubles (n) into x, backend memory */
static void op_upload_doubles(const struct backend *be, real *x, const double *v, size_t n)
{
	real *h = xmalloc(n * sizeof(real));
	for (size_t i = 0; i < n; i++)
		h[i] = (real)v[i];
	be->upload(x, h, n * sizeof(real));
	free(h);
}

/* d: BS, len: SI-SDR and L1 of BS estimates x = in0 (made noise + 0.8 y)
 * near their targets y = in1 (about +8 dB, so no sum cancels); outputs sisdr (BS) and
 * Σ|x − y| (BS); the gradient with the weights c_sisdr, c_l1 = dout */
static void case_loss_time(const struct backend *be, const int *d, struct op_io *io,
			   enum op_mode mode)
{
	int BS = d[0];
	int64_t len = d[1];
	size_t n = (size_t)BS * len;
	if (mode == OP_SETUP) {
		op_inputs(io, 2, (size_t[]){ n, n }, (bool[]){ true, false });
		io->in_scale[0] = 0.2f, io->in_scale[1] = 0.5f;
		op_outputs(io, 2, (size_t[]){ BS, BS }, (bool[]){ true, true });
		io->uniform_dout = io->has_backward = io->init = true;
		return;
	}
	if (mode == OP_INIT) {	// x = noise + 0.8 y
		real *x = op_axpy(be, io->in[0], io->in[1], 0.8, n);
		op_copy(be, io->in[0], x, n);
		be->free(x);
		return;
	}
	double *sisdr = xmalloc(BS * sizeof(double)), *l1 = xmalloc(BS * sizeof(double));
	if (mode == OP_FORWARD) {
		be->loss_time_terms(sisdr, l1, NULL, io->in[0], io->in[1], BS, len, 0, 0);
		op_upload_doubles(be, io->out[0], sisdr, BS);
		op_upload_doubles(be, io->out[1], l1, BS);
	} else {
		real *g = be->alloc(n * sizeof(real));	// dx is overwritten
		be->loss_time_terms(sisdr, l1, g, io->in[0], io->in[1], BS, len,
				    op_value(be, io->dout[0]), op_value(be, io->dout[1]));
		op_add(be, io->din[0], g, n);
		be->free(g);
	}
	free(sisdr), free(l1);
}

/* d: rows, bins: Σ | |Ŷ| − |Y| | per row of estimates in0 against targets
 * Y = f · Ŷ with f in 0.5..0.9 or 1.1..1.5 per bin, so no difference is near
 * 0 and a magnitude an ulp apart cannot flip a sign */
static void case_loss_spectral(const struct backend *be, const int *d, struct op_io *io,
			       enum op_mode mode)
{
	int64_t rows = d[0], bins = d[1];
	size_t n = (size_t)rows * bins * 2;
	if (mode == OP_SETUP) {
		op_inputs(io, 2, (size_t[]){ n, n }, (bool[]){ true, false });
		op_outputs(io, 1, (size_t[]){ rows }, (bool[]){ true });
		io->uniform_dout = io->has_backward = io->init = true;
		return;
	}
	if (mode == OP_INIT) {	// in1 = f · in0, f from in1's random values
		real *h = xmalloc(n * sizeof(real)), *u = xmalloc(n * sizeof(real));
		be->download(h, io->in[0], n * sizeof(real));
		be->download(u, io->in[1], n * sizeof(real));
		for (size_t b = 0; b < n / 2; b++) {
			double f = u[2 * b] < 0 ? 0.9 + 0.4 * u[2 * b] : 1.1 + 0.4 * u[2 * b];
			u[2 * b] = (real)(f * h[2 * b]), u[2 * b + 1] = (real)(f * h[2 * b + 1]);
		}
		be->upload(io->in[1], u, n * sizeof(real));
		free(h), free(u);
		return;
	}
	double *spec = xmalloc(rows * sizeof(double));
	if (mode == OP_FORWARD) {
		be->loss_spectral_terms(spec, NULL, io->in[0], io->in[1], rows, bins, 0);
		op_upload_doubles(be, io->out[0], spec, rows);
	} else {	// adds into dyhat itself
		be->loss_spectral_terms(spec, io->din[0], io->in[0], io->in[1], rows, bins,
					op_value(be, io->dout[0]));
	}
	free(spec);
}

/* d: rows, width, by_row */
static void case_broadcast(const struct backend *be, const int *d, struct op_io *io,
			   enum op_mode mode)
{
	int rows = d[0], width = d[1], by_row = d[2];
	if (mode == OP_SETUP) {
		op_inputs(io, 1, (size_t[]){ by_row ? rows : width }, (bool[]){ false });
		op_outputs(io, 1, (size_t[]){ (size_t)rows * width }, (bool[]){ true });
	} else if (mode == OP_FORWARD) {
		be->tensor_broadcast(io->out[0], io->in[0], rows, width, by_row);
	}
}

/* d: rows, width, by_row: acc += the sums */
static void case_sum_rows(const struct backend *be, const int *d, struct op_io *io,
			  enum op_mode mode)
{
	int rows = d[0], width = d[1], by_row = d[2];
	size_t na = by_row ? rows : width;
	if (mode == OP_SETUP) {
		op_inputs(io, 2, (size_t[]){ (size_t)rows * width, na }, (bool[]){ false, false });
		io->in_scale[1] = 10;
		op_outputs(io, 1, (size_t[]){ na }, (bool[]){ true });
	} else if (mode == OP_FORWARD) {
		op_copy(be, io->out[0], io->in[1], na);
		be->tensor_sum_rows(io->out[0], io->in[0], rows, width, by_row);
	}
}

/* d: n */
static void case_scale(const struct backend *be, const int *d, struct op_io *io,
		       enum op_mode mode)
{
	size_t n = d[0];
	if (mode == OP_SETUP) {
		op_inputs(io, 1, (size_t[]){ n }, (bool[]){ false });
		op_outputs(io, 1, (size_t[]){ n }, (bool[]){ true });
	} else if (mode == OP_FORWARD) {
		op_copy(be, io->out[0], io->in[0], n);
		be->tensor_scale(io->out[0], n, 0.37f);
	}
}

/* d: B, S, C, n */
static void case_stem_mix(const struct backend *be, const int *d, struct op_io *io,
			  enum op_mode mode)
{
	int B = d[0], S = d[1], C = d[2];
	int64_t n = d[3];
	if (mode == OP_SETUP) {
		op_inputs(io, 1, (size_t[]){ (size_t)B * S * C * n }, (bool[]){ false });
		op_outputs(io, 1, (size_t[]){ (size_t)B * C * n }, (bool[]){ true });
	} else if (mode == OP_FORWARD) {
		be->stem_mix(io->out[0], io->in[0], B, S, C, n);
	}
}

/* d: n, steps: AdamW steps t = 1.. from zero moments with weight decay, the
 * same gradient each step; outputs the parameters and both moments */
static void case_adamw(const struct backend *be, const int *d, struct op_io *io,
		       enum op_mode mode)
{
	size_t n = d[0];
	if (mode == OP_SETUP) {
		op_inputs(io, 2, (size_t[]){ n, n }, (bool[]){ false, false });
		op_outputs(io, 3, (size_t[]){ n, n, n }, (bool[]){ true, true, true });
	} else if (mode == OP_FORWARD) {
		op_copy(be, io->out[0], io->in[0], n);
		be->zero(io->out[1], n * sizeof(real));
		be->zero(io->out[2], n * sizeof(real));
		for (int64_t t = 1; t <= d[1]; t++)	// lr 0.05 moves the weights by 5 %
			be->adamw_update(io->out[0], io->in[1], io->out[1], io->out[2], n, 0.05f, 0.9f,
					 0.999f, 1e-8f, 0.1f, t);
	}
}

/* d: n, decay in thousandths */
static void case_ema(const struct backend *be, const int *d, struct op_io *io, enum op_mode mode)
{
	size_t n = d[0];
	if (mode == OP_SETUP) {
		op_inputs(io, 2, (size_t[]){ n, n }, (bool[]){ false, false });
		op_outputs(io, 1, (size_t[]){ n }, (bool[]){ true });
	} else if (mode == OP_FORWARD) {
		op_copy(be, io->out[0], io->in[1], n);
		be->ema_update(io->out[0], io->in[0], n, d[1] / 1000.0f);
	}
}

/* d: T, L, rows: every segment gathered and cross-faded back (the identity) */
static void case_chunk(const struct backend *be, const int *d, struct op_io *io,
		       enum op_mode mode)
{
	int64_t T = d[0], rows = d[2];
	struct chunk_plan *plan = chunk_plan_create(T, d[1], 0.25);
	size_t n = (size_t)rows * T * 2, ns = (size_t)rows * plan->L * 2;
	if (mode == OP_SETUP) {
		op_inputs(io, 1, (size_t[]){ n }, (bool[]){ false });
		op_outputs(io, 1, (size_t[]){ n }, (bool[]){ true });
	} else if (mode == OP_FORWARD) {
		real *seg = be->alloc(ns * sizeof(real));
		be->zero(io->out[0], n * sizeof(real));
		for (int64_t s = 0; s < plan->n; s++) {
			be->chunk_gather(seg, io->in[0], plan, s, rows, 2);
			be->chunk_accumulate(io->out[0], seg, plan, s, rows, 2);
		}
		be->free(seg);
	}
	chunk_plan_free(plan);
}

/* d: S, C, F, T, L, bias, pad: each stem's rows of one segment's masks
 * (S·2·C·F, L), with their bias or without, and mixture (C, F, L + pad)
 * (its first L frames) added into a window of T frames at each segment of
 * a plan (25 % overlap), from a window that holds values already */
static void case_mask_accumulate(const struct backend *be, const int *d, struct op_io *io,
				 enum op_mode mode)
{
	int S = d[0], C = d[1], F = d[2];
	int64_t T = d[3];
	struct chunk_plan *plan = chunk_plan_create(T, d[4], 0.25);
	int64_t xT = plan->L + d[6];
	size_t nm = (size_t)S * 2 * C * F * plan->L, nx = (size_t)C * F * xT * 2;
	size_t nw = (size_t)S * C * F * T * 2, nb = (size_t)S * 2 * C * F;
	if (mode == OP_SETUP) {
		op_inputs(io, 4, (size_t[]){ nm, nx, nw, nb }, (bool[]){ false, false, false, false });
		op_outputs(io, 1, (size_t[]){ nw }, (bool[]){ true });
	} else if (mode == OP_FORWARD) {
		op_copy(be, io->out[0], io->in[2], nw);
		for (int64_t s = 0; s < plan->n; s++)
			for (int k = 0; k < S; k++)	// with the bias (d[5]) or without
				be->mask_accumulate(io->out[0] + (size_t)k * C * F * T * 2,
						    io->in[0] + (size_t)k * 2 * C * F * plan->L,
						    d[5] ? io->in[3] + (size_t)k * 2 * C * F : NULL,
						    io->in[1], plan, s, C, F, xT);
	}
	chunk_plan_free(plan);
}

/* d: S, C, F, T, iterations: the Wiener filter's EM on frames [3, T − 5) of
 * rows T long (a block inside a window); the stems, refined in place, out */
static void case_wiener(const struct backend *be, const int *d, struct op_io *io,
			enum op_mode mode)
{
	int S = d[0], C = d[1], F = d[2], T = d[3];
	size_t nx = (size_t)C * F * T * 2, ny = (size_t)S * nx;
	if (mode == OP_SETUP) {
		op_inputs(io, 2, (size_t[]){ nx, ny }, (bool[]){ false, false });
		io->in_scale[0] = 40;	// a loud mixture: the filter's scale is not 1
		op_outputs(io, 1, (size_t[]){ ny }, (bool[]){ true });
	} else if (mode == OP_FORWARD) {
		op_copy(be, io->out[0], io->in[1], ny);
		be->wiener_em(io->out[0] + 3 * 2, io->in[0] + 3 * 2, S, C, F, T, T - 8, d[4]);
	}
}

/* ---- the table ---- */

#define F32 BACKEND_F32
#define TF32 BACKEND_TF32
#define BF16 BACKEND_BF16
#define TOL_GEMM_F32 "f32 sums reordered by cuBLAS"
#define TOL_TF32 "10-bit mantissas on K-long dot products"
#define TOL_BF16 "8-bit mantissas, f32 accumulation"
#define TOL_ELEMENT "per element a few roundings (erff, expf, sqrtf within 2 ulps, fma)"

static const struct op_case op_cases[] = {
	{ "linear", case_linear, { 100, 48, 72, 1 }, F32, 1e-5, TOL_GEMM_F32 },
	{ "linear", case_linear, { 100, 48, 72, 0 }, F32, 1e-5, "no bias: the projections" },
	{ "linear", case_linear, { 100, 48, 72, 1 }, TF32, 2e-3, TOL_TF32 },
	{ "linear", case_linear, { 100, 48, 72, 1 }, BF16, 2e-2, TOL_BF16 },
	{ "linear_gelu", case_linear_gelu, { 100, 48, 72 }, F32, 1e-5, TOL_GEMM_F32 },
	{ "linear_gelu", case_linear_gelu, { 100, 48, 72 }, BF16, 2e-2, TOL_BF16 },
	{ "gemm", case_gemm, { 67, 45, 130, 0, 0 }, F32, 1e-5, TOL_GEMM_F32 },
	{ "gemm", case_gemm, { 67, 45, 130, 1, 0 }, F32, 1e-5, TOL_GEMM_F32 },
	{ "gemm", case_gemm, { 67, 45, 130, 0, 1 }, TF32, 2e-3, TOL_TF32 },
	{ "gemm", case_gemm, { 67, 45, 130, 1, 1 }, BF16, 2e-2, TOL_BF16 },
	{ "rmsnorm", case_rmsnorm, { 77, 192 }, F32, 1e-5,
	  "a dot product per row, a sum over 77 rows per weight, reordered" },
	{ "rmsnorm", case_rmsnorm, { 77, 50 }, F32, 1e-5, "a width no multiple of a warp" },
	{ "rmsnorm", case_rmsnorm, { 77, 50, 1 }, F32, 1e-5, "the band-split model's eps" },
	{ "gelu", case_gelu, { 10007 }, F32, 1e-6, TOL_ELEMENT },
	{ "tanh", case_tanh, { 10007 }, F32, 1e-6, TOL_ELEMENT },
	{ "glu", case_glu, { 77, 130 }, F32, 1e-6, TOL_ELEMENT },
	{ "head_gate", case_head_gate, { 77, 48, 3 }, F32, 1e-6, "a sigmoid and a product" },
	{ "axis_swap", case_axis_swap, { 2, 13, 7, 24 }, F32, 0, "copies" },
	{ "band_features", case_band_features, { 2, 2, 33, 50 }, F32, 0, "copies" },
	{ "band_mask", case_band_mask, { 2, 4, 2, 33, 50 }, F32, 1e-6,
	  "complex products, sums of two" },
	{ "rope", case_rope, { 2, 100, 48, 2 }, F32, 1e-6, "products and sums of two" },
	{ "rope", case_rope, { 2, 100, 192, 8 }, F32, 1e-6, "products and sums of two" },
	{ "attention", case_attention, { 2, 77, 48, 2 }, F32, 1e-5,
	  "online softmax and sums in another order; T no multiple of a tile" },
	{ "attention", case_attention, { 2, 77, 32, 2 }, F32, 1e-5, "head 16" },
	{ "attention", case_attention, { 2, 100, 192, 8 }, F32, 1e-5, "head 24" },
	{ "attention", case_attention, { 2, 77, 64, 2 }, F32, 1e-5, "head 32" },
	{ "attention", case_attention, { 2, 77, 128, 2 }, F32, 1e-5, "head 64" },
	{ "attention", case_attention, { 2, 100, 128, 2 }, BF16, 2e-2,
	  "tensor cores round Q, K, V and P to bf16 (the backward stays f32)" },
	{ "residual", case_residual, { 10007, 0 }, F32, 1e-6, "an add" },
	{ "residual", case_residual, { 10007, 100 }, F32, 1e-6,
	  "masks from rng.h on both sides: one element dropped differently is 1e-2" },
	{ "features", case_features, { 2, 2, 33, 50, 0 }, F32, 1e-6, "σ's sum in double, a multiply" },
	{ "features", case_features, { 1, 2, 33, 50, 23 }, F32, 1e-6,
	  "x's rows 23 frames longer (a window's, read in place)" },
	{ "mask", case_mask, { 2, 4, 2, 33, 50 }, F32, 1e-6, "complex products, sums of two" },
	{ "loss_time", case_loss_time, { 8, 2206 }, F32, 1e-5,
	  "sums in double in another order, stored in f32; dx through a few double operations" },
	{ "loss_spectral", case_loss_spectral, { 16, 1650 }, F32, 1e-6,
	  "f32 magnitudes (sqrtf, fma), differences summed in double" },
	{ "broadcast", case_broadcast, { 37, 53, 0 }, F32, 0, "copies" },
	{ "broadcast", case_broadcast, { 37, 53, 1 }, F32, 0, "copies" },
	{ "sum_rows", case_sum_rows, { 1003, 77, 0 }, F32, 1e-5, "f32 column sums reordered" },
	{ "sum_rows", case_sum_rows, { 77, 1003, 1 }, F32, 1e-5, "f32 row sums reordered" },
	{ "scale", case_scale, { 77231 }, F32, 0, "one multiply" },
	{ "stem_mix", case_stem_mix, { 2, 4, 2, 1103 }, F32, 0, "sources added in order from 0" },
	{ "adamw", case_adamw, { 10007, 3 }, F32, 1e-6, "a sqrtf, a division, fma contractions" },
	{ "ema", case_ema, { 10007, 500 }, F32, 1e-6, "a multiply and two adds" },
	{ "ema", case_ema, { 10007, 999 }, F32, 1e-6, "a skipped update is 1e-3" },
	{ "wiener", case_wiener, { 4, 2, 33, 50, 2 }, F32, 1e-5,
	  "double inside; cuda keeps the stems in f32 between iterations" },
	{ "wiener", case_wiener, { 2, 1, 33, 50, 1 }, F32, 1e-6, "mono: 1 / (M + eps)" },
	{ "chunk", case_chunk, { 100, 30, 7 }, F32, 1e-7, "weights summing to 1 in f32" },
	{ "mask_accumulate", case_mask_accumulate, { 4, 2, 33, 100, 30, 1, 0 }, F32, 1e-6,
	  "a sum, a complex product and a weighted sum per value" },
	{ "mask_accumulate", case_mask_accumulate, { 4, 2, 33, 100, 30, 0, 0 }, F32, 1e-6,
	  "no bias: the masks as they are" },
	{ "mask_accumulate", case_mask_accumulate, { 4, 2, 33, 100, 30, 1, 17 }, F32, 1e-6,
	  "the mixture's rows 17 frames longer (a window's, read in place)" },
};

#define N_OP_CASES (sizeof op_cases / sizeof *op_cases)

#undef F32
#undef TF32
#undef BF16

/* ---- running a case ---- */

/* n values of x (backend memory) uniform in ±scale from (seed, stream). */
static void op_fill(const struct backend *be, real *x, size_t n, double scale, uint64_t seed,
		    uint64_t stream, bool uniform)
{
	real *h = xmalloc(n * sizeof(real));
	for (size_t i = 0; i < n; i++)
		h[i] = (real)(scale * (2 * rng_uniform(seed, stream, uniform ? 0 : i) - 1));
	be->upload(x, h, n * sizeof(real));
	free(h);
}

/* The case's tensors on be: inputs, the gradient weights dout and the
 * gradients' starting values (din_start: 0 for the exact sums of the
 * gradient check, random to catch an op that overwrites) all drawn from
 * seed, so two backends given the same seed hold the same values; the
 * outputs filled with out_fill (NaN shows an element an op skips). */
static void op_case_setup(const struct backend *be, const struct op_case *c, struct op_io *io,
			  uint64_t seed, double din_start, real out_fill)
{
	memset(io, 0, sizeof *io);
	c->run(be, c->d, io, OP_SETUP);
	for (int i = 0; i < io->n_in; i++) {
		io->in[i] = be->alloc(io->in_n[i] * sizeof(real));
		op_fill(be, io->in[i], io->in_n[i], io->in_scale[i] ? io->in_scale[i] : 1, seed, i,
			false);
		io->din[i] = be->alloc(io->in_n[i] * sizeof(real));
		op_fill(be, io->din[i], io->in_n[i], din_start, seed, 100 + i, false);
	}
	if (io->init)
		c->run(be, c->d, io, OP_INIT);
	for (int j = 0; j < io->n_out; j++) {
		size_t n = io->out_n[j];
		io->out[j] = be->alloc(n * sizeof(real));
		real *h = xmalloc(n * sizeof(real));
		for (size_t k = 0; k < n; k++)
			h[k] = out_fill;
		be->upload(io->out[j], h, n * sizeof(real));
		free(h);
		io->dout[j] = be->alloc(n * sizeof(real));
		op_fill(be, io->dout[j], n, 1, seed, 200 + j, io->uniform_dout);
	}
}

static void op_case_free(const struct backend *be, struct op_io *io)
{
	for (int i = 0; i < io->n_in; i++)
		be->free(io->in[i]), be->free(io->din[i]);
	for (int j = 0; j < io->n_out; j++)
		be->free(io->out[j]), be->free(io->dout[j]);
}

/* "linear 100x48x72x1", the case's name and sizes */
static void op_case_label(const struct op_case *c, char *buf, size_t len)
{
	int last = 0, k = snprintf(buf, len, "%s ", c->name);
	for (int i = 0; i < 6; i++)
		last = c->d[i] ? i : last;
	for (int i = 0; i <= last && k < (int)len; i++)
		k += snprintf(buf + k, len - k, i ? "x%d" : "%d", c->d[i]);
}

#endif
