/* linear.cu: nn.Linear forward (plain, and fused with GELU at inference) and
 * backward on the GPU, the twins of lib/ops/linear.c: cuBLAS GEMMs
 * (gemm.cu) and the bias kernels of tensor.cu and gelu.cu. */
#include "common.cuh"

/* ---- launchers ---- */

extern "C" void linear_forward_cuda(float *out, const float *inp, const float *weight,
				    const float *bias, int N, int in_dim, int out_dim)
{
	cudaStream_t stream = cuda_stream();
	// out (N, out_dim) = inp (N, in_dim) · weightᵀ + bias, bias first as on the CPU
	if (bias)
		tensor_broadcast_cuda(out, bias, N, out_dim, false);
	blas_gemm_cuda(false, true, N, out_dim, in_dim, 1, inp, in_dim, weight, in_dim,
		       bias ? 1.0f : 0.0f, out, out_dim);
}

extern "C" void linear_gelu_forward_cuda(float *out, const float *inp, const float *weight,
					 const float *bias, int N, int in_dim, int out_dim)
{
	cudaStream_t stream = cuda_stream();
	// the bias is added in the fused kernel, after the product
	blas_gemm_cuda(false, true, N, out_dim, in_dim, 1, inp, in_dim, weight, in_dim, 0, out,
		       out_dim);
	bias_gelu_forward_cuda(out, bias, N, out_dim);
}

extern "C" void linear_backward_cuda(float *dinp, float *dweight, float *dbias, const float *dout,
				     const float *inp, const float *weight, int N, int in_dim,
				     int out_dim)
{
	cudaStream_t stream = cuda_stream();
	// dinp (N, in_dim) += dout (N, out_dim) · weight (out_dim, in_dim);
	// dweight += doutᵀ · inp (N, in_dim); dbias (out_dim) += column sums of dout
	if (dinp)
		blas_gemm_cuda(false, false, N, in_dim, out_dim, 1, dout, out_dim, weight, in_dim, 1,
			       dinp, in_dim);
	blas_gemm_cuda(true, false, out_dim, in_dim, N, 1, dout, out_dim, inp, in_dim, 1, dweight,
		       in_dim);
	if (dbias)
		tensor_sum_rows_cuda(dbias, dout, N, out_dim, false);
}
