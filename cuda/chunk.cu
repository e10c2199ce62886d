/* chunk.cu: chunked inference's gather and cross-fade on the GPU, the twins
 * of chunk_gather and chunk_accumulate (lib/dsp/chunk.c) and of the
 * separator's mask_accumulate (lib/ops/mask.c); the plan stays
 * on the host and each segment's weights are uploaded per call. */
#include "common.cuh"

/* ---- kernels ---- */

// seg (rows, L, width) = in (rows, T, width) at frames start .. start + L;
// one thread per float of seg
__global__ static void chunk_gather_kernel(float *seg, const float *in, int64_t T, int64_t L,
					   int64_t start, int64_t rows, int64_t width)
{
	GRID_STRIDE_LOOP(k, rows * L * width) {
		int64_t r = k / (L * width), e = k % (L * width);
		seg[k] = in[(r * T + start) * width + e];
	}
}

// out (rows, T, width) += weight[i] · seg (rows, L, width) at frame start + i;
// one thread per float of seg (each writes a distinct element of out)
__global__ static void chunk_accumulate_kernel(float *out, const float *seg, const float *weight,
					       int64_t T, int64_t L, int64_t start, int64_t rows,
					       int64_t width)
{
	GRID_STRIDE_LOOP(k, rows * L * width) {
		int64_t r = k / (L * width), e = k % (L * width), i = e / width;
		float *o = out + (r * T + start) * width + e;
		*o += weight[i] * seg[k];
	}
}

// out (CF, T) complex += weight[i] · (m_re + i m_im) · x at frame start + i:
// mask (2·CF, L) one stem's rows, cf real and CF + cf imaginary, plus bias
// (2·CF) when given, x (CF, xT) complex, its first L frames; mask_kernel's product then
// chunk_accumulate_kernel's sum, one thread per complex value of the segment
__global__ static void mask_accumulate_kernel(float2 *out, const float *mask, const float *bias,
					      const float2 *x, const float *weight, int64_t T,
					      int64_t L, int64_t start, int64_t CF, int64_t xT)
{
	GRID_STRIDE_LOOP(k, CF * L) {
		int64_t cf = k / L, i = k % L;
		float mr = mask[cf * L + i], mi = mask[(CF + cf) * L + i];
		if (bias) {	// the head's bias, left out of the mask (transformer.c)
			mr = __fadd_rn(bias[cf], mr);
			mi = __fadd_rn(bias[CF + cf], mi);
		}
		float2 v = x[cf * xT + i];
		float yr = __fsub_rn(__fmul_rn(mr, v.x), __fmul_rn(mi, v.y));
		float yi = __fadd_rn(__fmul_rn(mr, v.y), __fmul_rn(mi, v.x));
		float2 *o = out + cf * T + start + i;
		o->x += weight[i] * yr;
		o->y += weight[i] * yi;
	}
}

/* ---- launchers ---- */

static void chunk_gather_rows_cuda(float *seg, const float *in, int64_t T, int64_t L,
				  int64_t start, int64_t rows, int64_t width)
{
	cudaStream_t stream = cuda_stream();
	chunk_gather_kernel<<<grid_for(rows * L * width), 256, 0, stream>>>(seg, in, T, L, start,
									     rows, width);
	LAUNCH_CHECK();
}

static void chunk_accumulate_rows_cuda(float *out, const float *seg, const float *weight,
				      int64_t T, int64_t L, int64_t start, int64_t rows,
				      int64_t width)
{
	cudaStream_t stream = cuda_stream();
	chunk_accumulate_kernel<<<grid_for(rows * L * width), 256, 0, stream>>>(
		out, seg, weight, T, L, start, rows, width);
	LAUNCH_CHECK();
}

/* The cross-fade weights of one segment, uploaded per call into a buffer
 * that later uploads reuse in stream order. */
static float *chunk_weights;
static int64_t chunk_weights_cap;

extern "C" void chunk_gather_cuda(float *seg, const float *in, const struct chunk_plan *p,
				  int64_t s, int64_t rows, int64_t width)
{
	chunk_gather_rows_cuda(seg, in, p->T, p->L, p->start[s], rows, width);
}

/* Segment s's weights on the device. */
static const float *upload_weights(const struct chunk_plan *p, int64_t s)
{
	if (chunk_weights_cap < p->L) {
		CUDA_CHECK(cudaFree(chunk_weights));	// waits for work still using it
		CUDA_CHECK(cudaMalloc(&chunk_weights, p->L * sizeof(float)));
		chunk_weights_cap = p->L;
	}
	CUDA_CHECK(cudaMemcpyAsync(chunk_weights, p->weight + s * p->L, p->L * sizeof(float),
				   cudaMemcpyHostToDevice, cuda_stream()));
	return chunk_weights;
}

extern "C" void chunk_accumulate_cuda(float *out, const float *seg, const struct chunk_plan *p,
				      int64_t s, int64_t rows, int64_t width)
{
	const float *w = upload_weights(p, s);
	chunk_accumulate_rows_cuda(out, seg, w, p->T, p->L, p->start[s], rows, width);
}

extern "C" void mask_accumulate_cuda(float *out, const float *mask, const float *bias,
				     const float *x, const struct chunk_plan *p, int64_t s, int C,
				     int F, int64_t xT)
{
	const float *w = upload_weights(p, s);
	int64_t CF = (int64_t)C * F;
	mask_accumulate_kernel<<<grid_for(CF * p->L), 256, 0, cuda_stream()>>>(
		reinterpret_cast<float2 *>(out), mask, bias, reinterpret_cast<const float2 *>(x), w,
		p->T, p->L, p->start[s], CF, xT);
	LAUNCH_CHECK();
}
