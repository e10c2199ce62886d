/* attention_bf16.c: attention_forward in mixed precision on a CPU with
 * AVX512-BF16, the twin of the GPU's bf16 forward (cuda/attention.cu):
 * Q, K and V rounded to bf16, S = Q Kᵀ accumulated in f32 and scaled
 * there, the softmax in f32, P rounded to bf16, O = P V accumulated in f32,
 * and lse = log Σ_j exp(s_ij) from the f32 scores as the f32 forward
 * writes it (backward, always f32, rebuilds P from it).
 *
 * One unit of work is a query block of one (example, head), as in the f32
 * forward, so results are the same for any thread count.  A unit rounds
 * its head's keys into pairs along the head (Kt: for each pair of head
 * columns a row over the keys, so 16 keys' scores are one VDPBF16PS per
 * pair of columns) and its values into pairs along the keys (Vp: a row of
 * the head's columns per pair of keys, so a query's output row takes one
 * VDPBF16PS per 16 columns and pair of keys), scores all the keys at once
 * (the block's rows of S fit the core's cache at the model's lengths), and
 * walks four queries at a time through register tiles: the keys' or
 * values' vectors are loaded once for the four.  Query rows past the
 * block, key columns past T and head columns past hs are zeros in the
 * rounded copies and never read back.
 *
 * At base.ini's shapes (T = 431, 8 heads of 24) the f32 forward spent
 * 1.7-1.9 ms a layer and segment here, half of it in OpenBLAS's small
 * GEMMs at K = 24. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "util.h"

#if defined SEPNET_DOUBLE || !defined __x86_64__ || !defined __GNUC__ || __GNUC__ < 10

bool attention_bf16_available(int hs)
{
	(void)hs;
	return false;
}

void attention_forward_bf16(float *out, float *lse, const float *qkv, int B, int T, int A,
			    int n_heads)
{
	(void)out, (void)lse, (void)qkv, (void)B, (void)T, (void)A, (void)n_heads;
	die("attention_forward_bf16: not in this build");
}

#else

#include <immintrin.h>

#define QG 4		/* queries a register tile holds */
#define KB 16		/* keys (f32 lanes) a vector holds */
#define HB_MAX 4	/* vectors of 16 head columns: hs up to 64 */

bool attention_bf16_available(int hs)
{
	__builtin_cpu_init();
	return hs % 2 == 0 && hs <= 16 * HB_MAX && __builtin_cpu_supports("avx512bf16");
}

static inline int att_min_bf16(int a, int b)
{
	return a < b ? a : b;
}

static inline uint32_t pair(float lo, float hi)
{
	return (uint32_t)f32_to_bf16(lo) | (uint32_t)f32_to_bf16(hi) << 16;
}

/* S rows i0 .. i0 + QG (stride Tp) = scale · Qp rows · Kt, every key block */
__attribute__((target("avx512f,avx512bf16")))
static void scores(float *S, const uint32_t *Qp, const uint32_t *Kt, int P, int Tp, int i0,
		   float scale)
{
	const __m512 sc = _mm512_set1_ps(scale);
	for (int j = 0; j < Tp; j += 2 * KB) {
		__m512 a[QG][2];
		#pragma GCC unroll 4
		for (int q = 0; q < QG; q++)
			a[q][0] = a[q][1] = _mm512_setzero_ps();
		for (int p = 0; p < P; p++) {
			__m512bh k0 = (__m512bh)_mm512_loadu_si512(Kt + (size_t)p * Tp + j);
			__m512bh k1 = (__m512bh)_mm512_loadu_si512(Kt + (size_t)p * Tp + j + KB);
			#pragma GCC unroll 4
			for (int q = 0; q < QG; q++) {
				__m512bh qb = (__m512bh)_mm512_set1_epi32((int)Qp[(i0 + q) * P + p]);
				a[q][0] = _mm512_dpbf16_ps(a[q][0], k0, qb);
				a[q][1] = _mm512_dpbf16_ps(a[q][1], k1, qb);
			}
		}
		for (int q = 0; q < QG; q++) {
			float *s = S + (size_t)(i0 + q) * Tp + j;
			_mm512_storeu_ps(s, _mm512_mul_ps(a[q][0], sc));
			_mm512_storeu_ps(s + KB, _mm512_mul_ps(a[q][1], sc));
		}
	}
}

/* out rows i0 .. i0 + QG (stride A, hs columns) = Pp rows · Vp / sum;
 * inlined with HB a constant, so the tile stays in registers */
__attribute__((target("avx512f,avx512bf16"), always_inline))
static inline void values(float *out, int A, int hs, const uint32_t *Pp, const uint32_t *Vp, int Tp2,
		   int HB, int i0, int nq, const float *inv_sum)
{
	__m512 a[QG][HB_MAX];
	for (int q = 0; q < QG; q++)
		for (int c = 0; c < HB_MAX; c++)
			a[q][c] = _mm512_setzero_ps();
	for (int jp = 0; jp < Tp2; jp++) {
		const uint32_t *v = Vp + (size_t)jp * HB * KB;
		__m512bh vb[HB_MAX];
		#pragma GCC unroll 4
		for (int c = 0; c < HB; c++)
			vb[c] = (__m512bh)_mm512_loadu_si512(v + c * KB);
		#pragma GCC unroll 4
		for (int q = 0; q < QG; q++) {
			__m512bh pb = (__m512bh)_mm512_set1_epi32((int)Pp[(size_t)(i0 + q) * Tp2 + jp]);
			#pragma GCC unroll 4
			for (int c = 0; c < HB; c++)
				a[q][c] = _mm512_dpbf16_ps(a[q][c], vb[c], pb);
		}
	}
	for (int q = 0; q < QG && i0 + q < nq; q++) {
		float *o = out + (size_t)(i0 + q) * A;
		__m512 r = _mm512_set1_ps(inv_sum[i0 + q]);
		for (int c = 0; c < HB; c++) {
			int n = hs - c * KB < KB ? hs - c * KB : KB;
			_mm512_mask_storeu_ps(o + c * KB, (__mmask16)((1u << n) - 1),
					      _mm512_mul_ps(a[q][c], r));
		}
	}
}

/* One row of scores to probabilities in place (the first T of them), and
 * its lse; their bf16 pairs into pp (Tp / 2, zeros past T). */
__attribute__((target("avx512f,avx512bf16")))
static float softmax_row(float *s, int T, int Tp, uint32_t *pp, float *inv_sum)
{
	__m512 mv = _mm512_set1_ps(-INFINITY);
	int j = 0;
	for (; j + KB <= T; j += KB)
		mv = _mm512_max_ps(mv, _mm512_loadu_ps(s + j));
	float m = _mm512_reduce_max_ps(mv);
	for (; j < T; j++)
		m = s[j] > m ? s[j] : m;
	#pragma omp simd
	for (j = 0; j < T; j++)
		s[j] = exp_fast(s[j] - m);
	for (j = T; j < Tp; j++)
		s[j] = 0;
	__m512 acc = _mm512_setzero_ps();
	for (j = 0; j < Tp; j += 2 * KB) {	// the sum in 16 lanes, the pairs rounded
		__m512 lo = _mm512_loadu_ps(s + j), hi = _mm512_loadu_ps(s + j + KB);
		acc = _mm512_add_ps(acc, _mm512_add_ps(lo, hi));
		_mm512_storeu_si512(pp + j / 2, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
	}
	float sum = _mm512_reduce_add_ps(acc);
	*inv_sum = 1 / sum;
	return m + logf(sum);
}

__attribute__((target("avx512f,avx512bf16")))
static void values_hb(float *out, int A, int hs, const uint32_t *Pp, const uint32_t *Vp, int Tp2,
		      int HB, int i0, int nq, const float *inv_sum)
{
	switch (HB) {
	case 1: values(out, A, hs, Pp, Vp, Tp2, 1, i0, nq, inv_sum); break;
	case 2: values(out, A, hs, Pp, Vp, Tp2, 2, i0, nq, inv_sum); break;
	case 3: values(out, A, hs, Pp, Vp, Tp2, 3, i0, nq, inv_sum); break;
	default: values(out, A, hs, Pp, Vp, Tp2, 4, i0, nq, inv_sum); break;
	}
}

void attention_forward_bf16(float *out, float *lse, const float *qkv, int B, int T, int A,
			    int n_heads)
{
	int hs = A / n_heads, ld = 3 * A, P = hs / 2, HB = (hs + KB - 1) / KB;
	int Tp = (T + 2 * KB - 1) / (2 * KB) * (2 * KB), Tp2 = Tp / 2;
	int n_qb = (T + ATT_QB - 1) / ATT_QB, QBp = (ATT_QB + QG - 1) / QG * QG;
	float scale = 1 / sqrtf((float)hs);
	#pragma omp parallel
	{
		float *S = xmalloc(sizeof(float) * (size_t)QBp * Tp);
		uint32_t *Pp = xmalloc(sizeof(uint32_t) * (size_t)QBp * Tp2);
		uint32_t *Qp = xmalloc(sizeof(uint32_t) * (size_t)QBp * P);
		uint32_t *Kt = xmalloc(sizeof(uint32_t) * (size_t)P * Tp);
		uint32_t *Vp = xmalloc(sizeof(uint32_t) * (size_t)Tp2 * HB * KB);
		float *inv_sum = xmalloc(sizeof(float) * QBp);
		int have_b = -1, have_h = -1;	// whose keys and values Kt and Vp hold
		#pragma omp for schedule(static)
		for (int unit = 0; unit < B * n_heads * n_qb; unit++) {
			int b = unit / (n_heads * n_qb), h = unit / n_qb % n_heads, qb = unit % n_qb;
			int q0 = qb * ATT_QB, nq = att_min_bf16(ATT_QB, T - q0);
			int nqp = (nq + QG - 1) / QG * QG;	// whole tiles, the rows past nq zero
			const float *base = qkv + (size_t)b * T * ld + h * hs;
			if (b != have_b || h != have_h) {	// this head's keys and values, rounded
				for (int p = 0; p < P; p++) {
					uint32_t *row = Kt + (size_t)p * Tp;
					for (int j = 0; j < T; j++) {
						const float *k = base + (size_t)j * ld + A + 2 * p;
						row[j] = pair(k[0], k[1]);
					}
					memset(row + T, 0, sizeof(uint32_t) * (Tp - T));
				}
				for (int jp = 0; jp < Tp2; jp++) {
					uint32_t *row = Vp + (size_t)jp * HB * KB;
					int j = 2 * jp;
					memset(row, 0, sizeof(uint32_t) * HB * KB);
					if (j >= T)
						continue;
					const float *v0 = base + (size_t)j * ld + 2 * A;
					for (int c = 0; c < hs; c++)
						row[c] = pair(v0[c], j + 1 < T ? v0[ld + c] : 0);
				}
				have_b = b, have_h = h;
			}
			for (int i = 0; i < nqp; i++)
				for (int p = 0; p < P; p++) {
					const float *q = base + (size_t)(q0 + i) * ld + 2 * p;
					Qp[i * P + p] = i < nq ? pair(q[0], q[1]) : 0;
				}
			for (int i = 0; i < nqp; i += QG)
				scores(S, Qp, Kt, P, Tp, i, scale);
			float *L = lse + ((size_t)b * n_heads + h) * T + q0;
			for (int i = 0; i < nqp; i++) {
				if (i < nq)
					L[i] = softmax_row(S + (size_t)i * Tp, T, Tp, Pp + (size_t)i * Tp2,
							   &inv_sum[i]);
				else
					memset(Pp + (size_t)i * Tp2, 0, sizeof(uint32_t) * Tp2);
			}
			float *O = out + ((size_t)b * T + q0) * A + h * hs;
			for (int i = 0; i < nqp; i += QG)
				values_hb(O, A, hs, Pp, Vp, Tp2, HB, i, nq, inv_sum);
		}
		free(S), free(Pp), free(Qp), free(Kt), free(Vp), free(inv_sum);
	}
}

#endif
