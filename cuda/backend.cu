/* backend.cu: backend_cuda, the table of backend.h over the launchers of
 * cuda/ on one stream of the current device, and that device's discovery.
 *
 * Every op is enqueued on the stream; upload and download are ordered on
 * it too (pageable host memory: the copies are staged by the driver), and
 * download waits for the stream, so it is the only synchronisation besides
 * sync and the ops that return host values (sumsq, the loss terms).
 * upload_async copies from pinned memory on a second stream, and
 * upload_fence makes the compute stream wait for those copies (an event),
 * so the next record's copy overlaps the current record's compute. */
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

extern "C" size_t cuda_mem_used(void)
{
	size_t free_bytes, total;
	CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total));
	return total - free_bytes;
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
	// Zeroed before it returns, on no stream of ours: a memset queued on the
	// compute stream would run after the work already queued there, so it
	// could wipe what upload_async wrote meanwhile on the copy stream (a
	// record staged ahead while the current one computes).  The legacy
	// default stream does not wait for our non-blocking streams.
	void *p = NULL;
	CUDA_CHECK(cudaMalloc(&p, bytes ? bytes : 1));
	CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, 0));
	CUDA_CHECK(cudaStreamSynchronize(0));
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

/* ---- overlap: pinned host memory, a copy stream ---- */

static cudaStream_t copy_stream;
static cudaEvent_t copied;

static void *cuda_host_alloc(size_t bytes)
{
	void *p = NULL;
	CUDA_CHECK(cudaMallocHost(&p, bytes ? bytes : 1));
	return p;
}

static void cuda_host_free(void *p)
{
	if (p)
		CUDA_CHECK(cudaFreeHost(p));	// waits for the copies still reading it
}

static void cuda_upload_async(void *dst, const void *src, size_t bytes)
{
	if (!copy_stream) {
		CUDA_CHECK(cudaStreamCreateWithFlags(&copy_stream, cudaStreamNonBlocking));
		CUDA_CHECK(cudaEventCreateWithFlags(&copied, cudaEventDisableTiming));
	}
	CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, copy_stream));
}

static void cuda_upload_fence(void)
{
	if (!copy_stream)
		return;
	CUDA_CHECK(cudaEventRecord(copied, copy_stream));
	CUDA_CHECK(cudaStreamWaitEvent(cuda_stream(), copied, 0));
}

static void cuda_sync(void)
{
	CUDA_CHECK(cudaStreamSynchronize(cuda_stream()));
	if (copy_stream)
		CUDA_CHECK(cudaStreamSynchronize(copy_stream));
}

/* ---- training ops on the stream ---- */

static void op_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
			       const float *inp, const float *weight, int N, int in_dim, int out_dim)
{
	linear_backward_cuda(dinp, dweight, dbias, dout, inp, weight, N, in_dim, out_dim,
			     cuda_stream());
}

static void op_rmsnorm_backward(float *dinp, float *dweight, const float *dout, const float *inp,
				const float *weight, const float *rstd, int N, int C)
{
	rmsnorm_backward_cuda(dinp, dweight, dout, inp, weight, rstd, N, C, cuda_stream());
}

static void op_gelu_forward(float *out, const float *inp, size_t n)
{
	gelu_forward_cuda(out, inp, n, cuda_stream());
}

static void op_gelu_backward(float *dinp, const float *dout, const float *inp, size_t n)
{
	gelu_backward_cuda(dinp, dout, inp, n, cuda_stream());
}

static void op_rope_backward(float *dqkv, const float *cos_sin, int B, int T, int A, int n_heads)
{
	rope_backward_cuda(dqkv, cos_sin, B, T, A, n_heads, cuda_stream());
}

static void op_attention_backward(float *dqkv, const float *dout, const float *qkv,
				  const float *out, const float *lse, int B, int T, int A,
				  int n_heads)
{
	attention_backward_cuda(dqkv, dout, qkv, out, lse, B, T, A, n_heads, cuda_stream());
}

static void op_residual_forward(float *out, const float *inp, const float *branch, size_t n,
				float p, uint64_t seed, uint64_t rng_stream)
{
	if (p == 0)	// inference: the plain sum, without the mask's hash
		residual_forward_cuda(out, inp, branch, n, cuda_stream());
	else
		residual_dropout_forward_cuda(out, inp, branch, n, p, seed, rng_stream,
					      cuda_stream());
}

static void op_residual_backward(float *dbranch, const float *dout, size_t n, float p,
				 uint64_t seed, uint64_t rng_stream)
{
	residual_backward_cuda(dbranch, dout, n, p, seed, rng_stream, cuda_stream());
}

static void op_mask_backward(float *dmask, const float *dyspec, const float *x, int B, int S,
			     int C, int F, int T)
{
	mask_backward_cuda(dmask, dyspec, x, B, S, C, F, T, cuda_stream());
}

static void op_sum_rows(float *acc, const float *x, int rows, int width, bool by_row)
{
	sum_rows_cuda(acc, x, rows, width, by_row, cuda_stream());
}

static void op_stem_mix(float *mix, const float *stems, int B, int S, int C, int64_t n)
{
	stem_mix_cuda(mix, stems, B, S, C, n, cuda_stream());
}

static void op_scale(float *x, size_t n, float s)
{
	scale_cuda(x, n, s, cuda_stream());
}

static double op_sumsq(const float *x, size_t n)
{
	return sumsq_cuda(x, n, cuda_stream());
}

static void op_adamw(float *params, const float *grads, float *m, float *v, size_t n, float lr,
		     float beta1, float beta2, float eps, float weight_decay, int64_t t)
{
	adamw_update_cuda(params, grads, m, v, n, lr, beta1, beta2, eps, weight_decay, t,
			  cuda_stream());
}

static void op_ema_update(float *ema, const float *params, size_t n, float decay)
{
	ema_update_cuda(ema, params, n, decay, cuda_stream());
}

static void op_loss_time(double *sisdr, double *l1, float *dx, const float *x, const float *y,
			 int BS, int64_t len, double c_sisdr, double c_l1)
{
	loss_time_terms_cuda(sisdr, l1, dx, x, y, BS, len, c_sisdr, c_l1, cuda_stream());
}

static void op_loss_spectral(double *spec_l1, float *dyhat, const float *yhat, const float *yt,
			     int64_t rows, int64_t bins, double c_spec)
{
	loss_spectral_terms_cuda(spec_l1, dyhat, yhat, yt, rows, bins, c_spec, cuda_stream());
}

static int op_stft_inverse_backward(struct backend_stft *s, float *din, const float *dy,
				    int64_t rows, int64_t T, int64_t n)
{
	return stft_inverse_backward_cuda(s, din, dy, rows, T, n, cuda_stream());
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
	b.host_alloc = cuda_host_alloc;
	b.host_free = cuda_host_free;
	b.upload_async = cuda_upload_async;
	b.upload_fence = cuda_upload_fence;
	b.sync = cuda_sync;
	b.device_memory = cuda_mem_used;
	b.linear_backward = op_linear_backward;
	b.rmsnorm_backward = op_rmsnorm_backward;
	b.gelu_forward = op_gelu_forward;
	b.gelu_backward = op_gelu_backward;
	b.rope_backward = op_rope_backward;
	b.attention_backward = op_attention_backward;
	b.residual_backward = op_residual_backward;
	b.mask_backward = op_mask_backward;
	b.sum_rows = op_sum_rows;
	b.stem_mix = op_stem_mix;
	b.scale = op_scale;
	b.sumsq = op_sumsq;
	b.adamw = op_adamw;
	b.ema_update = op_ema_update;
	b.loss_time = op_loss_time;
	b.loss_spectral = op_loss_spectral;
	b.stft_inverse_backward = op_stft_inverse_backward;
	return b;
}

extern "C" const struct backend backend_cuda = make_backend_cuda();

/* The plugin's entry (lib/backend.c dlopens sepnet-cuda.so): the backend,
 * or NULL with the reason in why when no device can be used. */
extern "C" const struct backend *sepnet_cuda_open(char *why, size_t len)
{
	if (cuda_device_count() > 0)
		return &backend_cuda;
	snprintf(why, len, "%s", cuda_device_error());
	return NULL;
}
