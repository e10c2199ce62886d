/* attention.cu: non-causal multi-head attention on the GPU, the twins of
 * attention_forward and attention_backward (attention.c): flash attention,
 * no T×T matrix in global memory.
 *
 * For one head, Q, K, V are (T, HS) column slices of the fused qkv tensor
 * (B, T, 3A) after RoPE; P = softmax(scale · Q Kᵀ) row by row, scale =
 * 1/sqrt(HS), O = P V, and lse = log Σ_j exp(scale · q·k_j) per query is
 * written for the backward pass as the CPU writes it.
 *
 * Forward, f32 (and tf32): a block of BQ threads owns BQ consecutive
 * queries of one (example, head), one query per thread, with q and the
 * output accumulator o in registers.  It walks the keys in tiles of BK rows:
 * the block loads the K and V tiles into shared memory, each thread scores
 * its query against the tile, and the online softmax (running maximum m and
 * sum l, the accumulator rescaled by exp(m_old − m_new)) folds the tile in.
 *
 * Forward, bf16 (cuda_get_precision() == BACKEND_BF16): the same recurrence
 * on tensor cores (nvcuda::wmma, 16×16×16 bf16 fragments, f32 accumulate).
 * Each warp owns 16 queries, a block of WARPS warps shares tiles of WK keys;
 * Q, K, V are converted to bf16 in shared memory, the head zero-padded to a
 * whole number of fragments (24 → 32; zero columns change no dot product).
 * S = Q Kᵀ goes by wmma into f32 in shared memory, the online softmax runs
 * per row in f32 (two lanes per row), P is rounded to bf16, and O += P V by
 * wmma with O itself, kept in f32 in shared memory and rescaled there by the
 * row's correction, loaded as the accumulator: all elementwise work is on
 * shared memory, never on the fragments' unspecified register layout.
 *
 * Backward, f32 in every precision (FlashAttention-2's recurrence, P rebuilt
 * from lse tile by tile): with D = rowsum(dO ⊙ O), dS = P ⊙ (dO Vᵀ − D),
 *   dQ = scale · dS K   one thread per query walking key tiles,
 *   dK = scale · dSᵀ Q, dV = Pᵀ dO   one thread per key walking query tiles;
 * each thread accumulates its output row in registers, so there are no
 * atomics, and adds it into dqkv at the end.  D is a third, small kernel.
 *
 * Head sizes are template parameters so that the per-thread rows stay in
 * registers; the kernels are built for the head sizes of the published
 * configs and a few more (16, 24, 32, 64), each instantiation costing nvcc
 * time in every build. */
#include <math.h>

#include <cuda_bf16.h>
#include <mma.h>

#include "common.cuh"

#define ATT_BQ 64	/* queries (keys, in dK dV) per block: one thread each */
#define ATT_BK 16	/* rows per shared-memory tile */
#define ATT_WARPS 4	/* warps per block of the bf16 forward, 16 queries each */
#define ATT_WK 64	/* keys per tile of the bf16 forward */

namespace wmma = nvcuda::wmma;

/* ---- kernels ---- */

// out (B, T, A), lse (B, n_heads, T), qkv (B, T, 3A); grid (B · n_heads, ceil(T / BQ)),
// BQ threads, thread i owns query q0 + i
template <int HS>
__global__ static void __launch_bounds__(ATT_BQ)
attention_kernel(float *out, float *lse, const float *qkv, int T, int A, int n_heads)
{
	__shared__ float Ks[ATT_BK][HS], Vs[ATT_BK][HS];
	int b = blockIdx.x / n_heads, h = blockIdx.x % n_heads;
	int i = blockIdx.y * ATT_BQ + threadIdx.x;
	bool active = i < T;	// inactive threads still help load tiles
	const float *base = qkv + (int64_t)b * T * 3 * A + h * HS;
	float scale = 1 / sqrtf((float)HS);

	float q[HS], o[HS];
	for (int c = 0; c < HS; c++) {
		q[c] = active ? base[(int64_t)i * 3 * A + c] : 0;
		o[c] = 0;
	}
	float m = -INFINITY, l = 0;
	for (int k0 = 0; k0 < T; k0 += ATT_BK) {
		__syncthreads();	// the previous tile is no longer read
		for (int e = threadIdx.x; e < ATT_BK * HS; e += ATT_BQ) {
			int j = e / HS, c = e % HS;
			bool in = k0 + j < T;
			const float *row = base + (int64_t)(k0 + j) * 3 * A;
			Ks[j][c] = in ? row[A + c] : 0;
			Vs[j][c] = in ? row[2 * A + c] : 0;
		}
		__syncthreads();
		float s[ATT_BK], tile_max = -INFINITY;
#pragma unroll
		for (int j = 0; j < ATT_BK; j++) {
			float dot = 0;
#pragma unroll
			for (int c = 0; c < HS; c++)
				dot += q[c] * Ks[j][c];
			s[j] = k0 + j < T ? dot * scale : -INFINITY;
			tile_max = fmaxf(tile_max, s[j]);
		}
		// the tile holds at least one key, so m_new is finite
		float m_new = fmaxf(m, tile_max), corr = expf(m - m_new);	// 0 on the first tile
		float sum = 0;
#pragma unroll
		for (int j = 0; j < ATT_BK; j++) {
			s[j] = expf(s[j] - m_new);	// exp(−inf) = 0 past the end
			sum += s[j];
		}
		l = l * corr + sum;
		m = m_new;
#pragma unroll
		for (int c = 0; c < HS; c++) {
			float acc = o[c] * corr;
#pragma unroll
			for (int j = 0; j < ATT_BK; j++)
				acc += s[j] * Vs[j][c];
			o[c] = acc;
		}
	}
	if (!active)
		return;
	float *dst = out + ((int64_t)b * T + i) * A + h * HS;
	for (int c = 0; c < HS; c++)
		dst[c] = o[c] / l;
	lse[((int64_t)b * n_heads + h) * T + i] = m + logf(l);
}

/* Shared memory of the bf16 forward, one block.  The head is padded to HP,
 * a whole number of fragments; rows are padded by 16 bytes so consecutive
 * rows start on different banks (wmma wants ldm a multiple of 16 bytes and
 * each fragment 32-byte aligned: every fragment starts at a row that is a
 * multiple of 16 and a column that is a multiple of 16, so alignas(32) on
 * the arrays suffices).  40 KiB for head size 16, 50 KiB for 24 and 32,
 * 70 KiB for 64: above 48 KiB the launcher opts in. */
template <int HS>
struct att_wmma_smem {
	static constexpr int HP = (HS + 15) / 16 * 16;
	static constexpr int LDH = HP + 8, LDP = ATT_WK + 8;	// bf16 rows
	static constexpr int LDS = ATT_WK + 4, LDO = HP + 4;	// f32 rows
	alignas(32) __nv_bfloat16 K[ATT_WK][LDH];		// the block's key tile
	alignas(32) __nv_bfloat16 V[ATT_WK][LDH];
	alignas(32) __nv_bfloat16 Q[ATT_WARPS][16][LDH];	// each warp's queries
	alignas(32) __nv_bfloat16 P[ATT_WARPS][16][LDP];	// probabilities, rounded
	alignas(32) float S[ATT_WARPS][16][LDS];		// scale · Q Kᵀ, masked
	alignas(32) float O[ATT_WARPS][16][LDO];		// unnormalised output
	float l[ATT_WARPS][16];					// final row sums
};

// out (B, T, A), lse (B, n_heads, T), qkv (B, T, 3A); grid (B · n_heads,
// ceil(T / (16 WARPS))), 32 WARPS threads, warp w owns queries q0 .. q0 + 15, q0 =
// 16 (WARPS blockIdx.y + w); dynamic shared memory att_wmma_smem<HS>
template <int HS>
__global__ static void __launch_bounds__(ATT_WARPS * 32)
attention_wmma_kernel(float *out, float *lse, const float *qkv, int T, int A, int n_heads)
{
	using sm_t = att_wmma_smem<HS>;
	constexpr int HP = sm_t::HP, LDH = sm_t::LDH, LDP = sm_t::LDP, LDS = sm_t::LDS,
		      LDO = sm_t::LDO;
	extern __shared__ __align__(128) unsigned char att_smem[];
	sm_t &sm = *reinterpret_cast<sm_t *>(att_smem);
	int b = blockIdx.x / n_heads, h = blockIdx.x % n_heads;
	int w = threadIdx.x / 32, lane = threadIdx.x % 32;
	int q0 = (blockIdx.y * ATT_WARPS + w) * 16;
	const float *base = qkv + (int64_t)b * T * 3 * A + h * HS;
	float scale = 1 / sqrtf((float)HS);

	// the warp's Q (16, HP) in bf16, zero past T and in the padding; O = 0
	for (int e = lane; e < 16 * HP; e += 32) {
		int r = e / HP, c = e % HP;
		bool in = q0 + r < T && c < HS;
		sm.Q[w][r][c] = __float2bfloat16(in ? base[(int64_t)(q0 + r) * 3 * A + c] : 0);
		sm.O[w][r][c] = 0;
	}
	__syncwarp();
	wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> qf[HP / 16];
#pragma unroll
	for (int kk = 0; kk < HP / 16; kk++)
		wmma::load_matrix_sync(qf[kk], &sm.Q[w][0][kk * 16], LDH);

	// row r of the warp's tile belongs to lanes 2r and 2r + 1, each taking
	// every other column; both keep the row's running m and l
	int r = lane / 2, half = lane % 2;
	float m = -INFINITY, l = 0;
	for (int k0 = 0; k0 < T; k0 += ATT_WK) {
		__syncthreads();	// the previous K, V tiles are no longer read
		for (int e = threadIdx.x; e < ATT_WK * HP; e += ATT_WARPS * 32) {
			int j = e / HP, c = e % HP;
			bool in = k0 + j < T && c < HS;
			const float *row = base + (int64_t)(k0 + j) * 3 * A;
			sm.K[j][c] = __float2bfloat16(in ? row[A + c] : 0);
			sm.V[j][c] = __float2bfloat16(in ? row[2 * A + c] : 0);
		}
		__syncthreads();

		// S (16, WK) = Q Kᵀ; Kᵀ is the K tile read column-major
#pragma unroll
		for (int n = 0; n < ATT_WK / 16; n++) {
			wmma::fragment<wmma::accumulator, 16, 16, 16, float> sf;
			wmma::fill_fragment(sf, 0.0f);
#pragma unroll
			for (int kk = 0; kk < HP / 16; kk++) {
				wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16,
					       wmma::col_major> kf;
				wmma::load_matrix_sync(kf, &sm.K[n * 16][kk * 16], LDH);
				wmma::mma_sync(sf, qf[kk], kf, sf);
			}
			wmma::store_matrix_sync(&sm.S[w][0][n * 16], sf, LDS, wmma::mem_row_major);
		}
		__syncwarp();

		// online softmax of row r; keys past T score −inf
		float *s = sm.S[w][r];
		float tile_max = -INFINITY;
		for (int j = half; j < ATT_WK; j += 2) {
			s[j] = k0 + j < T ? s[j] * scale : -INFINITY;
			tile_max = fmaxf(tile_max, s[j]);
		}
		tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffff, tile_max, 1));
		// the tile holds at least one key, so m_new is finite
		float m_new = fmaxf(m, tile_max), corr = expf(m - m_new);	// 0 on the first tile
		float sum = 0;
		for (int j = half; j < ATT_WK; j += 2) {
			float p = expf(s[j] - m_new);	// exp(−inf) = 0 past the end
			sm.P[w][r][j] = __float2bfloat16(p);
			sum += p;
		}
		sum += __shfl_xor_sync(0xffffffff, sum, 1);
		l = l * corr + sum;
		m = m_new;
		for (int c = half; c < HP; c += 2)
			sm.O[w][r][c] *= corr;
		__syncwarp();

		// O (16, HP) += P V, O loaded as the accumulator and stored back
#pragma unroll
		for (int n = 0; n < HP / 16; n++) {
			wmma::fragment<wmma::accumulator, 16, 16, 16, float> of;
			wmma::load_matrix_sync(of, &sm.O[w][0][n * 16], LDO, wmma::mem_row_major);
#pragma unroll
			for (int kk = 0; kk < ATT_WK / 16; kk++) {
				wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16,
					       wmma::row_major> pf;
				wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16,
					       wmma::row_major> vf;
				wmma::load_matrix_sync(pf, &sm.P[w][0][kk * 16], LDP);
				wmma::load_matrix_sync(vf, &sm.V[kk * 16][n * 16], LDH);
				wmma::mma_sync(of, pf, vf, of);
			}
			__syncwarp();	// every lane has loaded this O tile before any lane stores it
			wmma::store_matrix_sync(&sm.O[w][0][n * 16], of, LDO, wmma::mem_row_major);
		}
		__syncwarp();	// S, P and O are rewritten by the next tile
	}

	if (half == 0) {
		sm.l[w][r] = l;
		if (q0 + r < T)
			lse[((int64_t)b * n_heads + h) * T + q0 + r] = m + logf(l);
	}
	__syncwarp();
	for (int e = lane; e < 16 * HS; e += 32) {
		int rr = e / HS, c = e % HS;
		if (q0 + rr < T)
			out[((int64_t)b * T + q0 + rr) * A + h * HS + c] = sm.O[w][rr][c] / sm.l[w][rr];
	}
}

// D (B, n_heads, T) = Σ_c dout ⊙ out over each head's hs columns; dout, out (B, T, A);
// one thread per (example, head, query)
__global__ static void attention_rowdot_kernel(float *D, const float *dout, const float *out,
					       int B, int T, int A, int n_heads)
{
	int hs = A / n_heads;
	GRID_STRIDE_LOOP(k, (int64_t)B * n_heads * T) {
		int64_t i = k % T, bh = k / T;
		int64_t off = (bh / n_heads * T + i) * A + bh % n_heads * hs;
		float d = 0;
		for (int c = 0; c < hs; c++)
			d += dout[off + c] * out[off + c];
		D[k] = d;
	}
}

/* The backward kernels below share one pattern: thread t owns row t of the
 * block (a query for dQ, a key for dK and dV) and walks the other side in
 * tiles of BK rows.  Its own read-only rows sit in shared memory, padded by
 * one float so that the 32 threads of a warp reading column c of their rows
 * hit 32 banks; registers hold only its accumulators and the tile's BK
 * scores.  The tile's dot products run column by column (c outer), so each
 * own-row element is loaded once per tile and dies at once.  That pass is
 * unrolled by 4 only: fully unrolled, nvcc holds all BK × HS tile values
 * it loaded there in registers for the update pass, and spills. */

// dqkv (B, T, 3A) columns h HS .. += dQ; dout (B, T, A), qkv (B, T, 3A), lse, D
// (B, n_heads, T); grid (B · n_heads, ceil(T / BQ)), BQ threads, thread t owns query
// i = i0 + t and walks key tiles of BK
template <int HS>
__global__ static void __launch_bounds__(ATT_BQ)
attention_dq_kernel(float *dqkv, const float *dout, const float *qkv, const float *lse,
		    const float *D, int T, int A, int n_heads)
{
	__shared__ float Qown[ATT_BQ][HS + 1], dOown[ATT_BQ][HS + 1];
	__shared__ float Ks[ATT_BK][HS], Vs[ATT_BK][HS];
	int b = blockIdx.x / n_heads, h = blockIdx.x % n_heads;
	int t = threadIdx.x, i0 = blockIdx.y * ATT_BQ, i = i0 + t;
	const float *base = qkv + (int64_t)b * T * 3 * A + h * HS;
	const float *dObase = dout + (int64_t)b * T * A + h * HS;
	int64_t row = ((int64_t)b * n_heads + h) * T + i;
	float scale = 1 / sqrtf((float)HS);

	for (int e = t; e < ATT_BQ * HS; e += ATT_BQ) {
		int r = e / HS, c = e % HS;
		bool in = i0 + r < T;
		Qown[r][c] = in ? base[(int64_t)(i0 + r) * 3 * A + c] : 0;
		dOown[r][c] = in ? dObase[(int64_t)(i0 + r) * A + c] : 0;
	}
	float L = i < T ? lse[row] : 0, Di = i < T ? D[row] : 0;
	float dq[HS];
#pragma unroll
	for (int c = 0; c < HS; c++)
		dq[c] = 0;
	for (int k0 = 0; k0 < T; k0 += ATT_BK) {
		__syncthreads();	// the previous tile is no longer read (and Qown is loaded)
		for (int e = t; e < ATT_BK * HS; e += ATT_BQ) {
			int j = e / HS, c = e % HS;
			bool in = k0 + j < T;
			const float *krow = base + (int64_t)(k0 + j) * 3 * A;
			Ks[j][c] = in ? krow[A + c] : 0;
			Vs[j][c] = in ? krow[2 * A + c] : 0;
		}
		__syncthreads();
		// s_j = q·k_j, dp_j = dO·v_j
		float s[ATT_BK], dp[ATT_BK];
#pragma unroll
		for (int j = 0; j < ATT_BK; j++)
			s[j] = dp[j] = 0;
#pragma unroll 4
		for (int c = 0; c < HS; c++) {
			float qc = Qown[t][c], gc = dOown[t][c];
#pragma unroll
			for (int j = 0; j < ATT_BK; j++) {
				s[j] += qc * Ks[j][c];
				dp[j] += gc * Vs[j][c];
			}
		}
		// ds_j = p_j (dp_j − D), p_j = exp(scale s_j − lse); 0 past the end
#pragma unroll
		for (int j = 0; j < ATT_BK; j++) {
			float p = k0 + j < T ? expf(scale * s[j] - L) : 0;
			s[j] = p * (dp[j] - Di);
		}
#pragma unroll
		for (int c = 0; c < HS; c++) {
			float acc = dq[c];
#pragma unroll
			for (int j = 0; j < ATT_BK; j++)
				acc += s[j] * Ks[j][c];
			dq[c] = acc;
		}
	}
	if (i >= T)
		return;
	float *dst = dqkv + ((int64_t)b * T + i) * 3 * A + h * HS;
	for (int c = 0; c < HS; c++)
		dst[c] += scale * dq[c];
}

// dqkv (B, T, 3A) columns A + h HS .. += dK and 2A + h HS .. += dV; dout (B, T, A),
// qkv (B, T, 3A), lse, D (B, n_heads, T); grid (B · n_heads, ceil(T / BQ)), BQ threads,
// thread t owns key j = j0 + t and walks query tiles of BK
template <int HS>
__global__ static void __launch_bounds__(ATT_BQ)
attention_dkv_kernel(float *dqkv, const float *dout, const float *qkv, const float *lse,
		     const float *D, int T, int A, int n_heads)
{
	__shared__ float Kown[ATT_BQ][HS + 1], Vown[ATT_BQ][HS + 1];
	__shared__ float Qs[ATT_BK][HS], dOs[ATT_BK][HS], Ls[ATT_BK], Ds[ATT_BK];
	int b = blockIdx.x / n_heads, h = blockIdx.x % n_heads;
	int t = threadIdx.x, j0 = blockIdx.y * ATT_BQ, j = j0 + t;
	const float *base = qkv + (int64_t)b * T * 3 * A + h * HS;
	const float *dObase = dout + (int64_t)b * T * A + h * HS;
	const float *Lh = lse + ((int64_t)b * n_heads + h) * T;
	const float *Dh = D + ((int64_t)b * n_heads + h) * T;
	float scale = 1 / sqrtf((float)HS);

	for (int e = t; e < ATT_BQ * HS; e += ATT_BQ) {
		int r = e / HS, c = e % HS;
		bool in = j0 + r < T;
		const float *krow = base + (int64_t)(j0 + r) * 3 * A;
		Kown[r][c] = in ? krow[A + c] : 0;
		Vown[r][c] = in ? krow[2 * A + c] : 0;
	}
	float dk[HS], dv[HS];
#pragma unroll
	for (int c = 0; c < HS; c++)
		dk[c] = dv[c] = 0;
	for (int q0 = 0; q0 < T; q0 += ATT_BK) {
		__syncthreads();	// the previous tile is no longer read (and Kown is loaded)
		for (int e = t; e < ATT_BK * HS; e += ATT_BQ) {
			int i = e / HS, c = e % HS;
			bool in = q0 + i < T;
			Qs[i][c] = in ? base[(int64_t)(q0 + i) * 3 * A + c] : 0;
			dOs[i][c] = in ? dObase[(int64_t)(q0 + i) * A + c] : 0;
		}
		if (t < ATT_BK) {
			bool in = q0 + t < T;
			Ls[t] = in ? Lh[q0 + t] : 0;
			Ds[t] = in ? Dh[q0 + t] : 0;
		}
		__syncthreads();
		// s_i = q_i·k, dp_i = dO_i·v
		float s[ATT_BK], dp[ATT_BK];
#pragma unroll
		for (int i = 0; i < ATT_BK; i++)
			s[i] = dp[i] = 0;
#pragma unroll 4
		for (int c = 0; c < HS; c++) {
			float kc = Kown[t][c], vc = Vown[t][c];
#pragma unroll
			for (int i = 0; i < ATT_BK; i++) {
				s[i] += Qs[i][c] * kc;
				dp[i] += dOs[i][c] * vc;
			}
		}
		// p_i = exp(scale s_i − lse_i), ds_i = p_i (dp_i − D_i); 0 past the end
#pragma unroll
		for (int i = 0; i < ATT_BK; i++) {
			float p = q0 + i < T ? expf(scale * s[i] - Ls[i]) : 0;
			s[i] = p;
			dp[i] = p * (dp[i] - Ds[i]);
		}
#pragma unroll
		for (int c = 0; c < HS; c++) {
			float accv = dv[c], acck = dk[c];
#pragma unroll
			for (int i = 0; i < ATT_BK; i++) {
				accv += s[i] * dOs[i][c];
				acck += dp[i] * Qs[i][c];
			}
			dv[c] = accv;
			dk[c] = acck;
		}
	}
	if (j >= T)
		return;
	float *dst = dqkv + ((int64_t)b * T + j) * 3 * A + h * HS;
	for (int c = 0; c < HS; c++) {
		dst[A + c] += scale * dk[c];
		dst[2 * A + c] += dv[c];
	}
}

/* ---- launchers ---- */

template <int HS>
static void attention_launch(float *out, float *lse, const float *qkv, int B, int T, int A,
			     int n_heads, cuda_stream_t stream)
{
	dim3 grid(B * n_heads, (T + ATT_BQ - 1) / ATT_BQ);
	attention_kernel<HS><<<grid, ATT_BQ, 0, stream>>>(out, lse, qkv, T, A, n_heads);
	LAUNCH_CHECK();
}

template <int HS>
static void attention_wmma_launch(float *out, float *lse, const float *qkv, int B, int T, int A,
				  int n_heads, cuda_stream_t stream)
{
	static bool opted_in;	// per head size: above 48 KiB needs the opt-in
	size_t smem = sizeof(att_wmma_smem<HS>);
	if (!opted_in) {
		CUDA_CHECK(cudaFuncSetAttribute(attention_wmma_kernel<HS>,
						cudaFuncAttributeMaxDynamicSharedMemorySize,
						(int)smem));
		opted_in = true;
	}
	dim3 grid(B * n_heads, (T + 16 * ATT_WARPS - 1) / (16 * ATT_WARPS));
	attention_wmma_kernel<HS><<<grid, 32 * ATT_WARPS, smem, stream>>>(out, lse, qkv, T, A,
									  n_heads);
	LAUNCH_CHECK();
}

[[noreturn]] static void head_size_die(int hs)
{
	die("attention: head size %d has no CUDA kernel (16, 24, 32, 64); use -d cpu", hs);
}

extern "C" void attention_forward_cuda(float *out, float *lse, const float *qkv, int B, int T,
				       int A, int n_heads)
{
	cudaStream_t stream = cuda_stream();
	if (B == 0 || T == 0)
		return;
	if (cuda_get_precision() == BACKEND_BF16) {
		switch (A / n_heads) {
		case 16: attention_wmma_launch<16>(out, lse, qkv, B, T, A, n_heads, stream); return;
		case 24: attention_wmma_launch<24>(out, lse, qkv, B, T, A, n_heads, stream); return;
		case 32: attention_wmma_launch<32>(out, lse, qkv, B, T, A, n_heads, stream); return;
		case 64: attention_wmma_launch<64>(out, lse, qkv, B, T, A, n_heads, stream); return;
		default: head_size_die(A / n_heads);
		}
	}
	switch (A / n_heads) {
	case 16: attention_launch<16>(out, lse, qkv, B, T, A, n_heads, stream); break;
	case 24: attention_launch<24>(out, lse, qkv, B, T, A, n_heads, stream); break;
	case 32: attention_launch<32>(out, lse, qkv, B, T, A, n_heads, stream); break;
	case 64: attention_launch<64>(out, lse, qkv, B, T, A, n_heads, stream); break;
	default: head_size_die(A / n_heads);
	}
}

static float *rowdot_scratch;	/* D (B, n_heads, T) */
static size_t rowdot_cap;

static float *rowdot_want(size_t n)
{
	if (rowdot_cap < n) {
		CUDA_CHECK(cudaFree(rowdot_scratch));	// waits for work still using it
		CUDA_CHECK(cudaMalloc(&rowdot_scratch, n * sizeof(float)));
		rowdot_cap = n;
	}
	return rowdot_scratch;
}

template <int HS>
static void attention_backward_launch(float *dqkv, const float *dout, const float *qkv,
				      const float *out, const float *lse, int B, int T, int A,
				      int n_heads, cuda_stream_t stream)
{
	int64_t n = (int64_t)B * n_heads * T;
	float *D = rowdot_want(n);
	attention_rowdot_kernel<<<grid_for(n), 256, 0, stream>>>(D, dout, out, B, T, A, n_heads);
	LAUNCH_CHECK();
	dim3 grid(B * n_heads, (T + ATT_BQ - 1) / ATT_BQ);
	attention_dq_kernel<HS><<<grid, ATT_BQ, 0, stream>>>(dqkv, dout, qkv, lse, D, T, A,
							     n_heads);
	LAUNCH_CHECK();
	attention_dkv_kernel<HS><<<grid, ATT_BQ, 0, stream>>>(dqkv, dout, qkv, lse, D, T, A,
							      n_heads);
	LAUNCH_CHECK();
}

extern "C" void attention_backward_cuda(float *dqkv, const float *dout, const float *qkv,
					const float *out, const float *lse, int B, int T, int A,
					int n_heads)
{
	cudaStream_t stream = cuda_stream();
	if (B == 0 || T == 0)
		return;
#define ARGS dqkv, dout, qkv, out, lse, B, T, A, n_heads, stream
	switch (A / n_heads) {
	case 16: attention_backward_launch<16>(ARGS); break;
	case 24: attention_backward_launch<24>(ARGS); break;
	case 32: attention_backward_launch<32>(ARGS); break;
	case 64: attention_backward_launch<64>(ARGS); break;
	default: head_size_die(A / n_heads);
	}
#undef ARGS
}
