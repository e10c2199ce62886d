/* rope.c: rotary position embedding forward and backward on the CPU (see
 * ops.h). */
#include <math.h>
#include <tgmath.h>

#include "ops.h"

void rope_table(real *cos_sin, int T, int head_size)
{
	// cos_sin is (T, head_size/2, 2); angles in double so that long inputs
	// (t up to thousands) keep their phase exact to float rounding
	int half = head_size / 2;
	for (int t = 0; t < T; t++)
		for (int i = 0; i < half; i++) {
			double theta = (double)t * pow(10000.0, -2.0 * i / head_size);
			cos_sin[((size_t)t * half + i) * 2] = (real)cos(theta);
			cos_sin[((size_t)t * half + i) * 2 + 1] = (real)sin(theta);
		}
}

/* Turn the q and k pairs of every head by sign · angle. */
static void rope_rotate(real *qkv, const real *cos_sin, int B, int T, int A, int n_heads,
			real sign)
{
	// qkv is (B, T, 3A); q at columns [0, A), k at [A, 2A)
	int hs = A / n_heads, half = hs / 2;
	#pragma omp parallel for if ((size_t)B * T * A > PARALLEL_MIN_CHEAP)
	for (int bt = 0; bt < B * T; bt++) {
		const real *cs = cos_sin + (size_t)(bt % T) * half * 2;
		real *row = qkv + (size_t)bt * 3 * A;
		for (int part = 0; part < 2; part++)
			for (int h = 0; h < n_heads; h++) {
				real *x = row + part * A + h * hs;
				for (int i = 0; i < half; i++) {
					real c = cs[2 * i], s = sign * cs[2 * i + 1];
					real a = x[2 * i], b = x[2 * i + 1];
					x[2 * i] = a * c - b * s;
					x[2 * i + 1] = a * s + b * c;
				}
			}
	}
}

void rope_forward(real *qkv, const real *cos_sin, int B, int T, int A, int n_heads)
{
	rope_rotate(qkv, cos_sin, B, T, A, n_heads, 1);
}

void rope_backward(real *dqkv, const real *cos_sin, int B, int T, int A, int n_heads)
{
	// a rotation's adjoint is the rotation by the opposite angle
	rope_rotate(dqkv, cos_sin, B, T, A, n_heads, -1);
}
