/* colsum.cuh: deterministic column sums in two passes (the bias and norm
 * weight gradients of tensor.cu and rmsnorm.cu): the rows are cut into
 * chunks of consecutive rows, pass 1 sums each chunk's columns in row order
 * into a scratch (chunks, width), pass 2 adds the chunks in order.  Each
 * file that includes it has its own scratch. */
#ifndef SEPNET_COLSUM_CUH
#define SEPNET_COLSUM_CUH

#include <cmath>

#include "common.cuh"

/* Column sums keep their partials under this many floats (16 MiB) unless
 * one row is wider; at that size pass 1 still has millions of threads. */
#define COLSUM_SCRATCH (1 << 22)

// acc (width) += Σ_c partial[c] (n_chunks, width), c in order from 0; one
// thread per column
__global__ static void colsum_finish_kernel(float *acc, const float *partial, int n_chunks,
					    int width)
{
	GRID_STRIDE_LOOP(i, width) {
		float s = acc[i];
		for (int c = 0; c < n_chunks; c++)
			s += partial[(int64_t)c * width + i];
		acc[i] = s;
	}
}

/* Scratch of the column sums' partials, grown on demand. */
static float *colsum_scratch;
static size_t colsum_cap;

/* How the rows are cut into chunks: about √rows chunks balances pass 1's
 * loop (chunk rows) against pass 2's (n_chunks), and bounds the scratch. */
struct colsum_plan {
	int chunk, n_chunks;
	float *partial;		/* (n_chunks, width) */
	dim3 grid;		/* pass 1's: (⌈width/256⌉, n_chunks) */
};

static struct colsum_plan colsum_prepare(int rows, int width)
{
	// rows, width >= 1; n_chunks <= √(2^31) fits gridDim.y (65535)
	int64_t n = (int64_t)ceil(sqrt((double)rows));
	int64_t cap = COLSUM_SCRATCH / width > 1 ? COLSUM_SCRATCH / width : 1;
	if (n > cap)
		n = cap;
	struct colsum_plan p;
	p.chunk = (int)((rows + n - 1) / n);
	p.n_chunks = (int)(((int64_t)rows + p.chunk - 1) / p.chunk);	// no empty chunk
	size_t need = (size_t)p.n_chunks * width;
	if (colsum_cap < need) {
		CUDA_CHECK(cudaFree(colsum_scratch));	// waits for work still using it
		CUDA_CHECK(cudaMalloc(&colsum_scratch, need * sizeof(float)));
		colsum_cap = need;
	}
	p.partial = colsum_scratch;
	p.grid = dim3((unsigned)(((int64_t)width + 255) / 256), p.n_chunks);
	return p;
}

#endif
