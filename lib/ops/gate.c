/* gate.c: sigmoid gates on the CPU (see ops.h): GLU, the band-split
 * model's mask heads, and per-head gates on attention's output; and tanh,
 * the mask heads' activation. */
#include <math.h>
#include <tgmath.h>

#include "ops.h"

static inline real sigmoid(real x)
{
	return 1 / (1 + exp_fast(-x));
}

/* tanh in selects and exp_fast, which vectorize (glibc's tanhf is a call
 * per element through expm1f: a seventh of the band-split model's step).
 * |x| < 0.4: the odd Taylor series to x^11 (the next term is 2e-8 of
 * tanh there); above, 1 − 2 / (e^{2|x|} + 1), losing at most a bit to the
 * cancellation: within 3e-7 relative everywhere. */
static inline real tanh_fast(real x)
{
#ifdef SEPNET_DOUBLE
	return tanh(x);
#else
	float a = x < 0 ? -x : x, a2 = a * a;
	float p = -1382.0f / 155925;
	p = p * a2 + 62.0f / 2835;
	p = p * a2 - 17.0f / 315;
	p = p * a2 + 2.0f / 15;
	p = p * a2 - 1.0f / 3;
	p = p * a2 * a + a;
	float e = exp_fast(2 * (a < 20 ? a : 20));
	float q = 1 - 2 / (e + 1);
	float t = a < 0.4f ? p : q;
	return x < 0 ? -t : t;
#endif
}

void tanh_forward(real *out, const real *inp, size_t n)
{
	#pragma omp parallel for if (n > PARALLEL_MIN_COSTLY)
	for (size_t i = 0; i < n; i++)
		out[i] = tanh_fast(inp[i]);
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
