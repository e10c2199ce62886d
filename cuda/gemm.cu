/* gemm.cu: row-major GEMMs with cuBLAS, the twins of blas_gemm and
 * linear_forward and linear_backward (layers.c), in the precision of
 * cuda_set_precision:
 *   f32   cublasGemmEx, CUBLAS_COMPUTE_32F (exact f32 products)
 *   tf32  CUBLAS_COMPUTE_32F_FAST_TF32 (inputs rounded to 10-bit mantissas)
 *   bf16  A and B converted to bf16 (8-bit mantissas), f32 accumulation and
 *         output; the weights stay f32 and are converted per call.
 *
 * cuBLAS is column-major: a row-major C (M×N) is the column-major Cᵀ, and
 * Cᵀ = op(B)ᵀ op(A)ᵀ, so the call swaps A and B and M and N and keeps each
 * transpose flag. */
#include <cublas_v2.h>
#include <cuda_bf16.h>

#include "common.cuh"

static cublasHandle_t handle;
static enum backend_precision precision = BACKEND_F32;
static __nv_bfloat16 *bf16_scratch;	/* A then B, converted */
static size_t bf16_cap;

extern "C" void cuda_set_precision(enum backend_precision p)
{
	precision = p;
}

extern "C" enum backend_precision cuda_get_precision(void)
{
	return precision;
}

static cublasHandle_t gemm_handle(cuda_stream_t stream)
{
	if (!handle)
		CUBLAS_CHECK(cublasCreate(&handle));
	CUBLAS_CHECK(cublasSetStream(handle, stream));
	return handle;
}

// out[i] = bf16(in[i]) (round to nearest even); one thread per element
__global__ static void to_bf16_kernel(__nv_bfloat16 *out, const float *in, int64_t n)
{
	GRID_STRIDE_LOOP(i, n)
		out[i] = __float2bfloat16(in[i]);
}

/* Floats a row-major matrix of `rows` rows of `cols` with stride ld spans. */
static int64_t span(int rows, int cols, int ld)
{
	return rows == 0 ? 0 : (int64_t)(rows - 1) * ld + cols;
}

extern "C" void blas_gemm_cuda(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
			       const float *A, int lda, const float *B, int ldb, float beta,
			       float *C, int ldc, cuda_stream_t stream)
{
	if (M == 0 || N == 0)
		return;
	cublasHandle_t h = gemm_handle(stream);
	cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
	cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
	if (precision != BACKEND_BF16) {
		cublasComputeType_t ct = precision == BACKEND_TF32 ? CUBLAS_COMPUTE_32F_FAST_TF32
								   : CUBLAS_COMPUTE_32F;
		CUBLAS_CHECK(cublasGemmEx(h, op_b, op_a, N, M, K, &alpha, B, CUDA_R_32F, ldb, A,
					  CUDA_R_32F, lda, &beta, C, CUDA_R_32F, ldc, ct,
					  CUBLAS_GEMM_DEFAULT));
		return;
	}
	// A is (trans_a ? K : M) rows of stride lda, B is (trans_b ? N : K) rows of ldb
	int64_t na = span(trans_a ? K : M, trans_a ? M : K, lda);
	int64_t nb = span(trans_b ? N : K, trans_b ? K : N, ldb);
	na = (na + 127) / 128 * 128;	// B's copy starts 256-byte aligned, as cudaMalloc's
	if (bf16_cap < (size_t)(na + nb)) {
		CUDA_CHECK(cudaFree(bf16_scratch));	// waits for work still using it
		CUDA_CHECK(cudaMalloc(&bf16_scratch, (na + nb) * sizeof(__nv_bfloat16)));
		bf16_cap = na + nb;
	}
	__nv_bfloat16 *a16 = bf16_scratch, *b16 = bf16_scratch + na;
	to_bf16_kernel<<<grid_for(na), 256, 0, stream>>>(a16, A, na);
	LAUNCH_CHECK();
	to_bf16_kernel<<<grid_for(nb), 256, 0, stream>>>(b16, B, nb);
	LAUNCH_CHECK();
	CUBLAS_CHECK(cublasGemmEx(h, op_b, op_a, N, M, K, &alpha, b16, CUDA_R_16BF, ldb, a16,
				  CUDA_R_16BF, lda, &beta, C, CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F,
				  CUBLAS_GEMM_DEFAULT));
}

extern "C" void linear_forward_cuda(float *out, const float *inp, const float *weight,
				    const float *bias, int N, int in_dim, int out_dim,
				    cuda_stream_t stream)
{
	// out (N, out_dim) = inp (N, in_dim) · weightᵀ + bias, bias first as on the CPU
	if (bias)
		broadcast_cuda(out, bias, N, out_dim, false, stream);
	blas_gemm_cuda(false, true, N, out_dim, in_dim, 1, inp, in_dim, weight, in_dim,
		       bias ? 1.0f : 0.0f, out, out_dim, stream);
}

extern "C" void linear_gelu_forward_cuda(float *out, const float *inp, const float *weight,
					 const float *bias, int N, int in_dim, int out_dim,
					 cuda_stream_t stream)
{
	// the bias is added in the fused kernel, after the product
	blas_gemm_cuda(false, true, N, out_dim, in_dim, 1, inp, in_dim, weight, in_dim, 0, out,
		       out_dim, stream);
	bias_gelu_forward_cuda(out, bias, N, out_dim, stream);
}

extern "C" void linear_backward_cuda(float *dinp, float *dweight, float *dbias, const float *dout,
				     const float *inp, const float *weight, int N, int in_dim,
				     int out_dim, cuda_stream_t stream)
{
	// dinp (N, in_dim) += dout (N, out_dim) · weight (out_dim, in_dim);
	// dweight += doutᵀ · inp (N, in_dim); dbias (out_dim) += column sums of dout
	if (dinp)
		blas_gemm_cuda(false, false, N, in_dim, out_dim, 1, dout, out_dim, weight, in_dim, 1,
			       dinp, in_dim, stream);
	blas_gemm_cuda(true, false, out_dim, in_dim, N, 1, dout, out_dim, inp, in_dim, 1, dweight,
		       in_dim, stream);
	if (dbias)
		sum_rows_cuda(dbias, dout, N, out_dim, false, stream);
}
