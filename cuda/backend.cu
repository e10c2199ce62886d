/* backend.cu: backend_cuda, the table of backend.h over the launchers of
 * cuda/ on one stream of the current device, and that device's discovery.
 *
 * Every op is enqueued on the stream; upload and download are ordered on
 * it too (pageable host memory: the copies are staged by the driver), and
 * download waits for the stream, so it is the only synchronisation. */
#include <stdio.h>
#include <string.h>

#include "common.cuh"

static cudaStream_t stream;
static char device_error[256];

extern "C" int cuda_device_count(void)
{
	int n = 0;
	cudaError_t err = cudaGetDeviceCount(&n);
	if (err != cudaSuccess) {	// no driver, no device: the CPU will do
		snprintf(device_error, sizeof device_error, "%s", cudaGetErrorString(err));
		cudaGetLastError();	// clear it
		return 0;
	}
	if (n == 0)
		snprintf(device_error, sizeof device_error, "no device");
	return n;
}

extern "C" const char *cuda_device_error(void)
{
	return device_error;
}

extern "C" cuda_stream_t cuda_stream(void)
{
	if (!stream)
		CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
	return stream;
}

/* ---- memory ---- */

static void *cuda_alloc(size_t bytes)
{
	void *p = NULL;
	CUDA_CHECK(cudaMalloc(&p, bytes ? bytes : 1));
	CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, cuda_stream()));
	return p;
}

static void cuda_free(void *p)
{
	CUDA_CHECK(cudaFree(p));	// waits for the work still using p
}

static void cuda_upload(void *dst, const void *src, size_t bytes)
{
	CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, cuda_stream()));
}

static void cuda_download(void *dst, const void *src, size_t bytes)
{
	CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, cuda_stream()));
	CUDA_CHECK(cudaStreamSynchronize(cuda_stream()));
}

static void cuda_zero(void *p, size_t bytes)
{
	CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, cuda_stream()));
}

/* ---- ops on the stream ---- */

static void op_gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
		 int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
	blas_gemm_cuda(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc,
		       cuda_stream());
}

static void op_broadcast(float *out, const float *vec, int rows, int width, bool by_row)
{
	broadcast_cuda(out, vec, rows, width, by_row, cuda_stream());
}

static void op_features_forward(float *feat, float *sigma, const float *x, int B, int C, int F,
			     int T)
{
	features_forward_cuda(feat, sigma, x, B, C, F, T, cuda_stream());
}

static void op_linear_forward(float *out, const float *inp, const float *weight, const float *bias,
			   int N, int in_dim, int out_dim)
{
	linear_forward_cuda(out, inp, weight, bias, N, in_dim, out_dim, cuda_stream());
}

static void op_linear_gelu_forward(float *out, const float *inp, const float *weight,
				const float *bias, int N, int in_dim, int out_dim)
{
	linear_gelu_forward_cuda(out, inp, weight, bias, N, in_dim, out_dim, cuda_stream());
}

static void op_rmsnorm_forward(float *out, float *rstd, const float *inp, const float *weight, int N,
			    int C)
{
	rmsnorm_forward_cuda(out, rstd, inp, weight, N, C, cuda_stream());
}

static void op_rope_forward(float *qkv, const float *cos_sin, int B, int T, int A, int n_heads)
{
	rope_forward_cuda(qkv, cos_sin, B, T, A, n_heads, cuda_stream());
}

static void op_attention_forward(float *out, float *lse, const float *qkv, int B, int T, int A,
			      int n_heads)
{
	attention_forward_cuda(out, lse, qkv, B, T, A, n_heads, cuda_stream());
}

static void op_residual_forward(float *out, const float *inp, const float *branch, size_t n)
{
	residual_forward_cuda(out, inp, branch, n, cuda_stream());
}

static void op_mask_forward(float *yspec, const float *mask, const float *x, int B, int S, int C,
			 int F, int T)
{
	mask_forward_cuda(yspec, mask, x, B, S, C, F, T, cuda_stream());
}

static void op_chunk_gather(float *seg, const float *in, const struct chunk_plan *p, int64_t s,
			 int64_t rows, int64_t width)
{
	chunk_gather_cuda(seg, in, p->T, p->L, p->start[s], rows, width, cuda_stream());
}

/* The cross-fade weights of one segment, uploaded per call into a buffer
 * that later uploads reuse in stream order. */
static float *chunk_weights;
static int64_t chunk_weights_cap;

static void op_chunk_accumulate(float *out, const float *seg, const struct chunk_plan *p, int64_t s,
			     int64_t rows, int64_t width)
{
	if (chunk_weights_cap < p->L) {
		CUDA_CHECK(cudaFree(chunk_weights));
		CUDA_CHECK(cudaMalloc(&chunk_weights, p->L * sizeof(float)));
		chunk_weights_cap = p->L;
	}
	cuda_upload(chunk_weights, p->weight + s * p->L, p->L * sizeof(float));
	chunk_accumulate_cuda(out, seg, chunk_weights, p->T, p->L, p->start[s], rows, width,
			      cuda_stream());
}

static int op_stft_forward(struct backend_stft *s, float *out, const float *x, int64_t rows,
			int64_t n)
{
	return stft_forward_cuda(s, out, x, rows, n, cuda_stream());
}

static int op_stft_inverse(struct backend_stft *s, float *y, const float *in, int64_t rows,
			int64_t T, int64_t n)
{
	return stft_inverse_cuda(s, y, in, rows, T, n, cuda_stream());
}

static struct backend make_backend_cuda(void)
{
	struct backend b;
	memset(&b, 0, sizeof b);
	b.name = "cuda";
	b.host = false;
	b.alloc = cuda_alloc;
	b.free = cuda_free;
	b.upload = cuda_upload;
	b.download = cuda_download;
	b.zero = cuda_zero;
	b.set_precision = cuda_set_precision;
	b.gemm = op_gemm;
	b.broadcast = op_broadcast;
	b.features_forward = op_features_forward;
	b.linear_forward = op_linear_forward;
	b.linear_gelu_forward = op_linear_gelu_forward;
	b.rmsnorm_forward = op_rmsnorm_forward;
	b.rope_forward = op_rope_forward;
	b.attention_forward = op_attention_forward;
	b.residual_forward = op_residual_forward;
	b.mask_forward = op_mask_forward;
	b.chunk_gather = op_chunk_gather;
	b.chunk_accumulate = op_chunk_accumulate;
	b.stft_create = stft_create_cuda;
	b.stft_free = stft_free_cuda;
	b.stft_forward = op_stft_forward;
	b.stft_inverse = op_stft_inverse;
	return b;
}

extern "C" const struct backend backend_cuda = make_backend_cuda();
