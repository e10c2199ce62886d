/* gemm.cu: row-major GEMMs with cuBLAS, the twin of blas_gemm
 * (lib/ops/gemm.c), in the precision of cuda_set_precision:
 *   f32   cublasGemmEx, CUBLAS_COMPUTE_32F (exact f32 products)
 *   tf32  CUBLAS_COMPUTE_32F_FAST_TF32 (inputs rounded to 10-bit mantissas)
 *   bf16  CUBLAS_COMPUTE_32F_FAST_16BF: A and B rounded to bf16 (8-bit
 *         mantissas) inside cuBLAS's tensor-core kernels, f32 accumulation
 *         and output; weights and activations stay f32 in memory, so no
 *         conversion pass and no bf16 copy.
 *
 * cuBLAS is column-major: a row-major C (M×N) is the column-major Cᵀ, and
 * Cᵀ = op(B)ᵀ op(A)ᵀ, so the call swaps A and B and M and N and keeps each
 * transpose flag. */
#include <cublas_v2.h>

#include "common.cuh"

/* ---- launchers ---- */

static cublasHandle_t handle;
static enum backend_precision precision = BACKEND_F32;

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

/* The compute type of the precision: cuBLAS rounds the f32 inputs to TF32
 * or bf16 itself, in its tensor-core kernels, and accumulates in f32. */
static cublasComputeType_t compute_type(void)
{
	switch (precision) {
	case BACKEND_TF32: return CUBLAS_COMPUTE_32F_FAST_TF32;
	case BACKEND_BF16: return CUBLAS_COMPUTE_32F_FAST_16BF;
	default: return CUBLAS_COMPUTE_32F;
	}
}

extern "C" void blas_gemm_cuda(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
			       const float *A, int lda, const float *B, int ldb, float beta,
			       float *C, int ldc)
{
	cudaStream_t stream = cuda_stream();
	if (M == 0 || N == 0)
		return;
	cublasHandle_t h = gemm_handle(stream);
	cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
	cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
	CUBLAS_CHECK(cublasGemmEx(h, op_b, op_a, N, M, K, &alpha, B, CUDA_R_32F, ldb, A, CUDA_R_32F,
				  lda, &beta, C, CUDA_R_32F, ldc, compute_type(), CUBLAS_GEMM_DEFAULT));
}
