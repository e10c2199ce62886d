/* backend.cu: backend_cuda, the table of backend.h over the launchers of
 * cuda/ on one stream of the current device, and that device's discovery.
 *
 * The table points at the launchers of cuda/ themselves (sepnet_cuda.h):
 * every op is enqueued on the stream of cuda_stream(); upload and download are ordered on
 * it too (pageable host memory: the copies are staged by the driver), and
 * download waits for the stream, so it is the only synchronisation besides
 * sync and the ops that return host values (sumsq, the loss terms).
 * upload_async copies from pinned memory on a second stream, and
 * upload_fence makes the compute stream wait for those copies (an event),
 * so the next record's copy overlaps the current record's compute. */
#include <stdlib.h>
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
	b.host_alloc = cuda_host_alloc;
	b.host_free = cuda_host_free;
	b.upload_async = cuda_upload_async;
	b.upload_fence = cuda_upload_fence;
	b.sync = cuda_sync;
	b.device_memory = cuda_mem_used;
	b.stft_create = stft_create_cuda;
	b.stft_free = stft_free_cuda;
	b.stft_forward = stft_forward_cuda;
	b.stft_inverse = stft_inverse_cuda;
	b.stft_inverse_backward = stft_inverse_backward_cuda;
	b.comm_id = cuda_comm_id;
	b.comm_init = cuda_comm_init;
	b.comm_allreduce = cuda_comm_allreduce;
	b.comm_wait = cuda_comm_wait;
	b.comm_free = cuda_comm_free;
#define CUDA_OP(ret, name, params) b.name = name##_cuda;
	BACKEND_OPS(CUDA_OP)	/* the launchers themselves, on cuda_stream() */
#undef CUDA_OP
	return b;
}

extern "C" const struct backend backend_cuda = make_backend_cuda();

/* The plugin's entry (lib/backend/backend.c dlopens sepnet-cuda.so): the backend,
 * or NULL with the reason in why when no device can be used. */
extern "C" const struct backend *sepnet_cuda_open(char *why, size_t len)
{
	int n = cuda_device_count();
	if (n > 0) {
		// a data-parallel rank takes the GPU of its place among its node's
		// ranks (lib/train/dist.c sets SEPNET_LOCAL_RANK)
		const char *local = getenv("SEPNET_LOCAL_RANK");
		if (local)
			CUDA_CHECK(cudaSetDevice(atoi(local) % n));
		return &backend_cuda;
	}
	snprintf(why, len, "%s", cuda_device_error());
	return NULL;
}
