/* comm.cu: the backend's sums over the ranks of data-parallel training
 * (backend.h comm_*, lib/train/dist.h) with NCCL.  libnccl is loaded with
 * dlopen when a run of several ranks first asks for it, so the plugin
 * loads, and a one-process run works, where NCCL is not installed.
 *
 * A sum runs on a stream of its own: it waits for an event recorded on the
 * compute stream when it was asked for (the bucket's gradients are final
 * there), and comm_wait makes the compute stream wait for the last sum. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include <nccl.h>

#include "common.cuh"
#include "sepnet_cuda.h"

static_assert(NCCL_UNIQUE_ID_BYTES == BACKEND_COMM_ID_BYTES, "backend.h's id size");

static struct {
	void *lib;
	ncclResult_t (*get_unique_id)(ncclUniqueId *);
	ncclResult_t (*comm_init_rank)(ncclComm_t *, int, ncclUniqueId, int);
	ncclResult_t (*all_reduce)(const void *, void *, size_t, ncclDataType_t, ncclRedOp_t,
				   ncclComm_t, cudaStream_t);
	ncclResult_t (*comm_destroy)(ncclComm_t);
	const char *(*error_string)(ncclResult_t);
} nccl;

static ncclComm_t comm;
static cudaStream_t comm_stream;
static cudaEvent_t ready, summed;

#define NCCL_CHECK(call)                                                            \
	do {                                                                        \
		ncclResult_t r_ = (call);                                           \
		if (r_ != ncclSuccess)                                              \
			die("%s: %s (%s:%d)", #call, nccl.error_string(r_), __FILE__, \
			    __LINE__);                                              \
	} while (0)

/* 0 once libnccl's functions are at hand; -1 with why. */
static int load_nccl(char *why, size_t len)
{
	if (nccl.lib)
		return 0;
	void *h = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(why, len, "NCCL: %s", dlerror());
		return -1;
	}
#define SYM(field, name)                                                          \
	if (!(*(void **)&nccl.field = dlsym(h, name))) {                          \
		snprintf(why, len, "NCCL: no %s in libnccl.so.2", name);          \
		dlclose(h);                                                       \
		return -1;                                                        \
	}
	SYM(get_unique_id, "ncclGetUniqueId");
	SYM(comm_init_rank, "ncclCommInitRank");
	SYM(all_reduce, "ncclAllReduce");
	SYM(comm_destroy, "ncclCommDestroy");
	SYM(error_string, "ncclGetErrorString");
#undef SYM
	nccl.lib = h;
	return 0;
}

extern "C" int cuda_comm_id(void *id, char *why, size_t whylen)
{
	if (load_nccl(why, whylen))
		return -1;
	ncclResult_t r = nccl.get_unique_id((ncclUniqueId *)id);
	if (r != ncclSuccess) {
		snprintf(why, whylen, "ncclGetUniqueId: %s", nccl.error_string(r));
		return -1;
	}
	return 0;
}

extern "C" void cuda_comm_init(const void *id, int rank, int ranks)
{
	char why[256];
	if (load_nccl(why, sizeof why))	// rank 0 could: this one must too
		die("%s", why);
	ncclUniqueId uid;
	memcpy(&uid, id, sizeof uid);
	NCCL_CHECK(nccl.comm_init_rank(&comm, ranks, uid, rank));
	CUDA_CHECK(cudaStreamCreateWithFlags(&comm_stream, cudaStreamNonBlocking));
	CUDA_CHECK(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
	CUDA_CHECK(cudaEventCreateWithFlags(&summed, cudaEventDisableTiming));
}

extern "C" void cuda_comm_allreduce(float *p, size_t n)
{
	CUDA_CHECK(cudaEventRecord(ready, cuda_stream()));
	CUDA_CHECK(cudaStreamWaitEvent(comm_stream, ready, 0));
	NCCL_CHECK(nccl.all_reduce(p, p, n, ncclFloat32, ncclSum, comm, comm_stream));
}

extern "C" void cuda_comm_wait(void)
{
	CUDA_CHECK(cudaEventRecord(summed, comm_stream));
	CUDA_CHECK(cudaStreamWaitEvent(cuda_stream(), summed, 0));
}

extern "C" void cuda_comm_free(void)
{
	if (!comm)
		return;
	CUDA_CHECK(cudaStreamSynchronize(comm_stream));
	NCCL_CHECK(nccl.comm_destroy(comm));
	comm = NULL;
	CUDA_CHECK(cudaEventDestroy(ready));
	CUDA_CHECK(cudaEventDestroy(summed));
	CUDA_CHECK(cudaStreamDestroy(comm_stream));
}
