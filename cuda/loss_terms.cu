/* loss_terms.cu: the loss terms of training on the GPU, the twins of
 * loss_time_terms and loss_spectral_terms (lib/ops/loss_terms.c).
 *
 * Sums are deterministic: each pair (or row) is cut into a number of blocks
 * that depends on its length only, each block sums its slice in double with
 * a fixed tree, and a finishing kernel adds the blocks' partial sums in a
 * fixed order; no atomics.  The grid is (blocks, pairs), so even one pair
 * keeps the GPU busy.  SI-SDR takes three passes over the data: Σ xy, Σ y²
 * and Σ |x − y|; then, given α, Σ e² and Σ ey with e = αy − x; then the
 * gradient.  The f32 arithmetic of the spectral term and of the gradients
 * is the CPU's, rounded in the same order (__fmul_rn and __fadd_rn keep
 * nvcc from fusing it into FMAs), so magnitudes and the sign of their
 * difference match the CPU's bit for bit; the double sums differ from the
 * CPU's by their order only. */
#include <math.h>

#include "common.cuh"

#define SISDR_EPS 1e-8
#define MAG_EPS 1e-12f
#define DB (10 / M_LN10)	/* 10 log10 x = DB · ln x */
#define THREADS BLOCK_SUM_THREADS	/* every kernel here runs blocks of 256 */
#define PER_THREAD 8		/* elements a thread sums, before the block count caps */
#define MAX_BLOCKS 2048		/* blocks per pair or row */
#define MAX_GRID_Y 65535	/* CUDA's limit on gridDim.y; kernels stride past it */

/* What the later passes need of one (example, source) pair. */
struct pair_terms {
	double yy, alpha;	/* ‖y‖², ⟨x, y⟩ / (‖y‖² + ε) */
	double cy, ce;		/* ∂SI-SDR/∂x · c_sisdr = cy·y + ce·(αy − x) */
};

/* ---- kernels ---- */

__device__ static double sign_of(double x)
{
	return (x > 0) - (x < 0);
}

// part (BS, blocks, 3): Σ xy, Σ y², Σ |x − y| over the slice of pair bs that
// block blk strides over; x, y (BS, len); grid (blocks, ≤ BS)
__global__ static void time_sums_kernel(double *part, const float *x, const float *y, int BS,
					int64_t len)
{
	__shared__ double sh[THREADS];
	for (int64_t bs = blockIdx.y; bs < BS; bs += gridDim.y) {
		const float *xb = x + bs * len, *yb = y + bs * len;
		double dot = 0, yy = 0, l1 = 0;
		for (int64_t i = (int64_t)blockIdx.x * THREADS + threadIdx.x; i < len;
		     i += (int64_t)gridDim.x * THREADS) {
			double xi = xb[i], yi = yb[i];
			dot += xi * yi;
			yy += yi * yi;
			l1 += fabs(xi - yi);
		}
		dot = block_sum(dot, sh);
		yy = block_sum(yy, sh);
		l1 = block_sum(l1, sh);
		if (threadIdx.x == 0) {
			double *p = part + (bs * gridDim.x + blockIdx.x) * 3;
			p[0] = dot, p[1] = yy, p[2] = l1;
		}
	}
}

// terms[bs].yy, .alpha and l1[bs] from part (BS, blocks, 3), added in a fixed
// order; grid ≤ BS, one block per pair
__global__ static void time_alpha_kernel(struct pair_terms *terms, double *l1,
					 const double *part, int BS, int blocks)
{
	__shared__ double sh[THREADS];
	for (int64_t bs = blockIdx.x; bs < BS; bs += gridDim.x) {
		double dot = 0, yy = 0, sum = 0;
		for (int b = threadIdx.x; b < blocks; b += THREADS) {
			const double *p = part + (bs * blocks + b) * 3;
			dot += p[0], yy += p[1], sum += p[2];
		}
		dot = block_sum(dot, sh);
		yy = block_sum(yy, sh);
		sum = block_sum(sum, sh);
		if (threadIdx.x == 0) {
			terms[bs].yy = yy;
			terms[bs].alpha = dot / (yy + SISDR_EPS);
			l1[bs] = sum;
		}
	}
}

// part (BS, blocks, 2): Σ e², Σ e·y with e = αy − x over the slice of pair bs
// that block blk strides over; grid (blocks, ≤ BS)
__global__ static void time_error_kernel(double *part, const struct pair_terms *terms,
					 const float *x, const float *y, int BS, int64_t len)
{
	__shared__ double sh[THREADS];
	for (int64_t bs = blockIdx.y; bs < BS; bs += gridDim.y) {
		const float *xb = x + bs * len, *yb = y + bs * len;
		double alpha = terms[bs].alpha, ee = 0, ey = 0;
		for (int64_t i = (int64_t)blockIdx.x * THREADS + threadIdx.x; i < len;
		     i += (int64_t)gridDim.x * THREADS) {
			double e = alpha * yb[i] - xb[i];
			ee += e * e;
			ey += e * yb[i];
		}
		ee = block_sum(ee, sh);
		ey = block_sum(ey, sh);
		if (threadIdx.x == 0) {
			double *p = part + (bs * gridDim.x + blockIdx.x) * 2;
			p[0] = ee, p[1] = ey;
		}
	}
}

// sisdr[bs] in dB and the gradient's coefficients terms[bs].cy, .ce (loss_terms.c's
// sisdr_backward, scaled by c_sisdr) from part (BS, blocks, 2); grid ≤ BS
__global__ static void time_sisdr_kernel(struct pair_terms *terms, double *sisdr,
					 const double *part, int BS, int blocks, double c_sisdr)
{
	__shared__ double sh[THREADS];
	for (int64_t bs = blockIdx.x; bs < BS; bs += gridDim.x) {
		double ee = 0, ey = 0;
		for (int b = threadIdx.x; b < blocks; b += THREADS) {
			const double *p = part + (bs * blocks + b) * 2;
			ee += p[0], ey += p[1];
		}
		ee = block_sum(ee, sh);
		ey = block_sum(ey, sh);
		if (threadIdx.x == 0) {
			struct pair_terms *s = &terms[bs];
			double num = s->alpha * s->alpha * s->yy + SISDR_EPS;
			double den = ee + SISDR_EPS, Y = s->yy + SISDR_EPS;
			sisdr[bs] = DB * (log(num) - log(den));
			s->cy = DB * c_sisdr * (2 * s->alpha * s->yy / (Y * num) - 2 * ey / (Y * den));
			s->ce = DB * c_sisdr * 2 / den;
		}
	}
}

// dx (BS, len) = c_sisdr · ∂SI-SDR/∂x + c_l1 · sign(x − y), each term only
// where its weight is nonzero, as loss_time_terms adds them; grid (blocks, ≤ BS)
__global__ static void time_grad_kernel(float *dx, const struct pair_terms *terms,
					const float *x, const float *y, int BS, int64_t len,
					bool with_sisdr, double c_l1)
{
	for (int64_t bs = blockIdx.y; bs < BS; bs += gridDim.y) {
		const float *xb = x + bs * len, *yb = y + bs * len;
		float *d = dx + bs * len;
		double alpha = terms[bs].alpha, cy = terms[bs].cy, ce = terms[bs].ce;
		for (int64_t i = (int64_t)blockIdx.x * THREADS + threadIdx.x; i < len;
		     i += (int64_t)gridDim.x * THREADS) {
			double xi = xb[i], yi = yb[i];
			float g = 0;
			if (with_sisdr)
				g = (float)__dadd_rn(__dmul_rn(cy, yi),
						     __dmul_rn(ce, __dsub_rn(__dmul_rn(alpha, yi), xi)));
			if (c_l1 != 0)
				g = __fadd_rn(g, (float)(c_l1 * sign_of(xi - yi)));
			d[i] = g;
		}
	}
}

// part (rows, blocks): Σ | |Ŷ| − |Y| | over the slice of row r that block blk
// strides over, with dyhat += c_spec · sign(|Ŷ| − |Y|) · Ŷ / |Ŷ| when dyhat
// is non-NULL (each thread owns its bins); yhat, yt, dyhat (rows, bins)
// complex; grid (blocks, ≤ rows)
__global__ static void spectral_kernel(double *part, float2 *dyhat, const float2 *yhat,
				       const float2 *yt, int64_t rows, int64_t bins, float c_spec)
{
	__shared__ double sh[THREADS];
	for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
		double sum = 0;
		for (int64_t k = (int64_t)blockIdx.x * THREADS + threadIdx.x; k < bins;
		     k += (int64_t)gridDim.x * THREADS) {
			int64_t e = r * bins + k;
			float2 a = yhat[e], b = yt[e];
			float mag = sqrtf(__fadd_rn(__fadd_rn(__fmul_rn(a.x, a.x),
							      __fmul_rn(a.y, a.y)), MAG_EPS));
			float mag_t = sqrtf(__fadd_rn(__fadd_rn(__fmul_rn(b.x, b.x),
								__fmul_rn(b.y, b.y)), MAG_EPS));
			float diff = mag - mag_t;
			sum += fabsf(diff);
			if (dyhat) {
				float g = c_spec * (float)((diff > 0) - (diff < 0)) / mag;
				float2 d = dyhat[e];
				d.x = __fadd_rn(d.x, __fmul_rn(g, a.x));
				d.y = __fadd_rn(d.y, __fmul_rn(g, a.y));
				dyhat[e] = d;
			}
		}
		sum = block_sum(sum, sh);
		if (threadIdx.x == 0)
			part[r * gridDim.x + blockIdx.x] = sum;
	}
}

// out[r] = Σ part[r][·] (rows, blocks) in a fixed order; grid ≤ rows
__global__ static void row_sum_kernel(double *out, const double *part, int64_t rows, int blocks)
{
	__shared__ double sh[THREADS];
	for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
		double s = 0;
		for (int b = threadIdx.x; b < blocks; b += THREADS)
			s += part[r * blocks + b];
		s = block_sum(s, sh);
		if (threadIdx.x == 0)
			out[r] = s;
	}
}

/* ---- launchers ---- */

static double *scratch;	/* partial sums, then per-pair terms, then results */
static size_t scratch_cap;	/* doubles */

static double *scratch_want(size_t doubles)
{
	if (scratch_cap < doubles) {
		CUDA_CHECK(cudaFree(scratch));	// waits for work still using it
		CUDA_CHECK(cudaMalloc(&scratch, doubles * sizeof(double)));
		scratch_cap = doubles;
	}
	return scratch;
}

/* Blocks per pair or row of n elements: a function of n alone, so the sums'
 * order, and so their rounding, is the same on every call and device. */
static int blocks_for(int64_t n)
{
	int64_t b = (n + THREADS * PER_THREAD - 1) / (THREADS * PER_THREAD);
	return (int)(b < 1 ? 1 : b > MAX_BLOCKS ? MAX_BLOCKS : b);
}

static unsigned grid_y(int64_t n)
{
	return (unsigned)(n < MAX_GRID_Y ? n : MAX_GRID_Y);
}

extern "C" void loss_time_terms_cuda(double *sisdr, double *l1, float *dx, const float *x,
				     const float *y, int BS, int64_t len, double c_sisdr,
				     double c_l1)
{
	cudaStream_t stream = cuda_stream();
	// sisdr, l1 [BS] host; dx, x, y (BS, len) device
	if (BS <= 0)
		return;
	int blocks = blocks_for(len);
	size_t n_part = (size_t)BS * blocks * 3, n_terms = (size_t)BS * 4;
	static_assert(sizeof(struct pair_terms) == 4 * sizeof(double), "pair_terms is 4 doubles");
	double *part = scratch_want(n_part + n_terms + 2 * (size_t)BS);
	struct pair_terms *terms = (struct pair_terms *)(part + n_part);
	double *res = part + n_part + n_terms;	// sisdr [BS], then l1 [BS]
	dim3 grid(blocks, grid_y(BS));

	time_sums_kernel<<<grid, THREADS, 0, stream>>>(part, x, y, BS, len);
	LAUNCH_CHECK();
	time_alpha_kernel<<<grid_y(BS), THREADS, 0, stream>>>(terms, res + BS, part, BS, blocks);
	LAUNCH_CHECK();
	time_error_kernel<<<grid, THREADS, 0, stream>>>(part, terms, x, y, BS, len);
	LAUNCH_CHECK();
	time_sisdr_kernel<<<grid_y(BS), THREADS, 0, stream>>>(terms, res, part, BS, blocks,
							       c_sisdr);
	LAUNCH_CHECK();
	if (dx) {
		time_grad_kernel<<<grid, THREADS, 0, stream>>>(dx, terms, x, y, BS, len,
								c_sisdr != 0, c_l1);
		LAUNCH_CHECK();
	}
	CUDA_CHECK(cudaMemcpyAsync(sisdr, res, BS * sizeof(double), cudaMemcpyDeviceToHost,
				   stream));
	CUDA_CHECK(cudaMemcpyAsync(l1, res + BS, BS * sizeof(double), cudaMemcpyDeviceToHost,
				   stream));
	CUDA_CHECK(cudaStreamSynchronize(stream));
}

extern "C" void loss_spectral_terms_cuda(double *spec_l1, float *dyhat, const float *yhat,
					 const float *yt, int64_t rows, int64_t bins,
					 double c_spec)
{
	cudaStream_t stream = cuda_stream();
	// spec_l1 [rows] host; dyhat, yhat, yt (rows, bins) complex, device
	if (rows <= 0)
		return;
	int blocks = blocks_for(bins);
	size_t n_part = (size_t)rows * blocks;
	double *part = scratch_want(n_part + rows), *res = part + n_part;
	dim3 grid(blocks, grid_y(rows));

	spectral_kernel<<<grid, THREADS, 0, stream>>>(
		part, c_spec != 0 ? (float2 *)dyhat : NULL, (const float2 *)yhat,
		(const float2 *)yt, rows, bins, (float)c_spec);
	LAUNCH_CHECK();
	row_sum_kernel<<<grid_y(rows), THREADS, 0, stream>>>(res, part, rows, blocks);
	LAUNCH_CHECK();
	CUDA_CHECK(cudaMemcpyAsync(spec_l1, res, rows * sizeof(double), cudaMemcpyDeviceToHost,
				   stream));
	CUDA_CHECK(cudaStreamSynchronize(stream));
}
