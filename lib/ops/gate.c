/* gate.c: sigmoid gates on the CPU (see ops.h): GLU, the band-split
 * model's mask heads, and per-head gates on attention's output; and tanh,
 * the mask heads' activation. */
#include <math.h>
#include <tgmath.h>

#include "ops.h"

static inline real sigmoid(real x)
{
	return 1 / (1 + exp(-x));
}

void tanh_forward(real *out, const real *inp, size_t n)
{
	#pragma omp parallel for if (n > PARALLEL_MIN_COSTLY)
	for (size_t i = 0; i < n; i++)
		out[i] = tanh(inp[i]);
}

void tanh_backward(real *dinp, const real *dout, const real *out, size_t n)
{
	#pragma omp parallel for if (n > PARALLEL_MIN_CHEAP)
	for (size_t i = 0; i < n; i++)
		dinp[i] += dout[i] * (1 - out[i] * out[i]);
}

void glu_forward(real *out, const real *inp, int N, int w)
{
	#pragma omp parallel for if ((size_t)N * w > PARALLEL_MIN_COSTLY)
	for (int n = 0; n < N; n++) {
		const real *a = inp + (size_t)n * 2 * w, *g = a + w;
		real *y = out + (size_t)n * w;
		for (int i = 0; i < w; i++)
			y[i] = a[i] * sigmoid(g[i]);
	}
}

void glu_backward(real *dinp, const real *dout, const real *inp, int N, int w)
{
	// y = a σ(g): da += dy σ(g), dg += dy a σ(g) (1 − σ(g))
	#pragma omp parallel for if ((size_t)N * w > PARALLEL_MIN_COSTLY)
	for (int n = 0; n < N; n++) {
		const real *a = inp + (size_t)n * 2 * w, *g = a + w, *dy = dout + (size_t)n * w;
		real *da = dinp + (size_t)n * 2 * w, *dg = da + w;
		for (int i = 0; i < w; i++) {
			real s = sigmoid(g[i]);
			da[i] += dy[i] * s;
			dg[i] += dy[i] * a[i] * s * (1 - s);
		}
	}
}

void head_gate_forward(real *out, const real *att, const real *gate, int N, int A, int n_heads)
{
	int hs = A / n_heads;
	#pragma omp parallel for if ((size_t)N * A > PARALLEL_MIN_CHEAP)
	for (int n = 0; n < N; n++)
		for (int k = 0; k < n_heads; k++) {
			real s = sigmoid(gate[(size_t)n * n_heads + k]);
			const real *x = att + (size_t)n * A + k * hs;
			real *y = out + (size_t)n * A + k * hs;
			for (int i = 0; i < hs; i++)
				y[i] = x[i] * s;
		}
}

void head_gate_backward(real *datt, real *dgate, const real *dout, const real *att,
			const real *gate, int N, int A, int n_heads)
{
	// y = x σ(g): dx += dy σ(g), dg += σ(g)(1 − σ(g)) Σ_i dy_i x_i
	int hs = A / n_heads;
	#pragma omp parallel for if ((size_t)N * A > PARALLEL_MIN_CHEAP)
	for (int n = 0; n < N; n++)
		for (int k = 0; k < n_heads; k++) {
			real s = sigmoid(gate[(size_t)n * n_heads + k]), dot = 0;
			const real *x = att + (size_t)n * A + k * hs, *dy = dout + (size_t)n * A + k * hs;
			real *dx = datt + (size_t)n * A + k * hs;
			for (int i = 0; i < hs; i++) {
				dx[i] += dy[i] * s;
				dot += dy[i] * x[i];
			}
			dgate[(size_t)n * n_heads + k] += s * (1 - s) * dot;
		}
}
