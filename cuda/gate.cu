/* gate.cu: tanh, GLU and per-head attention gates on the GPU, the twins
 * of lib/ops/gate.c; one thread per element (per (row, head) for the
 * gate's gradient). */
#include "common.cuh"

/* ---- kernels ---- */

__device__ static float sigmoidf(float x)
{
	return 1 / (1 + expf(-x));
}

__global__ static void tanh_kernel(float *out, const float *inp, int64_t n)
{
	GRID_STRIDE_LOOP(k, n)
		out[k] = tanhf(inp[k]);
}

// dinp += dout (1 − y²) with y = out
__global__ static void tanh_backward_kernel(float *dinp, const float *dout, const float *out,
					    int64_t n)
{
	GRID_STRIDE_LOOP(k, n)
		dinp[k] += dout[k] * (1 - out[k] * out[k]);
}

// out (N, w) = a σ(g) of inp (N, 2w) = [a | g]
__global__ static void glu_kernel(float *out, const float *inp, int N, int w)
{
	GRID_STRIDE_LOOP(k, (int64_t)N * w) {
		int64_t n = k / w, i = k % w;
		const float *a = inp + n * 2 * w;
		out[k] = a[i] * sigmoidf(a[w + i]);
	}
}

// da += dy σ(g), dg += dy a σ(g)(1 − σ(g))
__global__ static void glu_backward_kernel(float *dinp, const float *dout, const float *inp, int N,
					   int w)
{
	GRID_STRIDE_LOOP(k, (int64_t)N * w) {
		int64_t n = k / w, i = k % w;
		const float *a = inp + n * 2 * w;
		float *da = dinp + n * 2 * w;
		float s = sigmoidf(a[w + i]);
		da[i] += dout[k] * s;
		da[w + i] += dout[k] * a[i] * s * (1 - s);
	}
}

// out (N, A) = att with head k's columns times σ(gate[n, k])
__global__ static void head_gate_kernel(float *out, const float *att, const float *gate, int N,
					int A, int n_heads)
{
	int hs = A / n_heads;
	GRID_STRIDE_LOOP(k, (int64_t)N * A) {
		int64_t n = k / A;
		int h = (int)(k % A) / hs;
		out[k] = att[k] * sigmoidf(gate[n * n_heads + h]);
	}
}

// datt += dy σ(g) per element; dgate[n, h] += σ(1 − σ) Σ_i dy_i att_i, one
// thread per (n, h) summing its hs columns in order
__global__ static void head_gate_backward_kernel(float *datt, float *dgate, const float *dout,
						 const float *att, const float *gate, int N, int A,
						 int n_heads)
{
	int hs = A / n_heads;
	GRID_STRIDE_LOOP(k, (int64_t)N * n_heads) {
		int64_t n = k / n_heads;
		int h = (int)(k % n_heads);
		float s = sigmoidf(gate[k]), dot = 0;
		int64_t o = n * A + (int64_t)h * hs;
		for (int i = 0; i < hs; i++) {
			datt[o + i] += dout[o + i] * s;
			dot += dout[o + i] * att[o + i];
		}
		dgate[k] += s * (1 - s) * dot;
	}
}

/* ---- launchers ---- */

extern "C" void tanh_forward_cuda(float *out, const float *inp, size_t n)
{
	tanh_kernel<<<grid_for((int64_t)n), 256, 0, cuda_stream()>>>(out, inp, (int64_t)n);
	LAUNCH_CHECK();
}

extern "C" void tanh_backward_cuda(float *dinp, const float *dout, const float *out, size_t n)
{
	tanh_backward_kernel<<<grid_for((int64_t)n), 256, 0, cuda_stream()>>>(dinp, dout, out,
										(int64_t)n);
	LAUNCH_CHECK();
}

extern "C" void glu_forward_cuda(float *out, const float *inp, int N, int w)
{
	glu_kernel<<<grid_for((int64_t)N * w), 256, 0, cuda_stream()>>>(out, inp, N, w);
	LAUNCH_CHECK();
}

extern "C" void glu_backward_cuda(float *dinp, const float *dout, const float *inp, int N, int w)
{
	glu_backward_kernel<<<grid_for((int64_t)N * w), 256, 0, cuda_stream()>>>(dinp, dout, inp, N,
										  w);
	LAUNCH_CHECK();
}

extern "C" void head_gate_forward_cuda(float *out, const float *att, const float *gate, int N,
				       int A, int n_heads)
{
	head_gate_kernel<<<grid_for((int64_t)N * A), 256, 0, cuda_stream()>>>(out, att, gate, N, A,
										n_heads);
	LAUNCH_CHECK();
}

extern "C" void head_gate_backward_cuda(float *datt, float *dgate, const float *dout,
					const float *att, const float *gate, int N, int A,
					int n_heads)
{
	head_gate_backward_kernel<<<grid_for((int64_t)N * n_heads), 256, 0, cuda_stream()>>>(
		datt, dgate, dout, att, gate, N, A, n_heads);
	LAUNCH_CHECK();
}
