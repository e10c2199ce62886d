/* backend.c: the CPU backend (lib/ops/'s functions behind the table of
 * backend.h, and the STFT plans of lib/dsp/stft.h) and the choice of
 * backend. */
#include "backend.h"

#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "stft.h"
#include "util.h"
#ifdef SEPNET_CUDA
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <unistd.h>
#endif

/* ---- memory: zeroed host memory, page aligned, touched only as used ---- */

static void *cpu_alloc(size_t bytes)
{
	return xcalloc_big(bytes);
}

static void cpu_free(void *p)
{
	xfree_big(p);
}

static void cpu_copy(void *dst, const void *src, size_t bytes)
{
	memcpy(dst, src, bytes);
}

/* in 2 MiB pieces over the threads: first touches in parallel, and plain
 * stores (glibc's memset of hundreds of megabytes streams around the
 * cache, and faulted 1 GB here in 0.2-0.8 s against 0.09 s this way) */
#define ZERO_PIECE ((size_t)2 << 20)

static void cpu_zero(void *p, size_t bytes)
{
	size_t n = (bytes + ZERO_PIECE - 1) / ZERO_PIECE;
	#pragma omp parallel for schedule(static) if (n > 1)
	for (size_t i = 0; i < n; i++) {
		size_t at = i * ZERO_PIECE;
		memset((char *)p + at, 0, bytes - at < ZERO_PIECE ? bytes - at : ZERO_PIECE);
	}
}

/* frozen weights: bf16 GEMMs round them once (gemm_bf16_freeze) */
static void cpu_freeze(const void *p, size_t bytes)
{
	gemm_bf16_freeze(p, bytes / sizeof(float));
}

static void cpu_thaw(const void *p)
{
	gemm_bf16_thaw(p);
}

/* bf16 where the processor has it (gemm_bf16.c), else f32; TF32 is f32 */
static void cpu_set_precision(enum backend_precision p)
{
	gemm_set_bf16(p == BACKEND_BF16);
}

/* ---- STFT: rows in parallel, one plan per thread (as the stft tool) ---- */

struct backend_stft {
	int n;
	struct stft **plan;	/* [n] */
};

static struct backend_stft *cpu_stft_create(int n_fft, int hop)
{
	struct backend_stft *s = xcalloc(1, sizeof *s);
	s->n = max_threads();
	s->plan = xmalloc(s->n * sizeof *s->plan);
	for (int i = 0; i < s->n; i++)
		if (!(s->plan[i] = stft_create(n_fft, hop)))
			die("stft: invalid n_fft %d and hop %d", n_fft, hop);
	return s;
}

static void cpu_stft_free(struct backend_stft *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->n; i++)
		stft_free(s->plan[i]);
	free(s->plan);
	free(s);
}

static int cpu_stft_forward(struct backend_stft *s, real *out, const real *x, int64_t rows,
			    int64_t n)
{
	// out is (rows, F, T) complex, x is (rows, n); row r on plan r % threads
	struct stft *p0 = s->plan[0];
	size_t row = 2 * (size_t)stft_bins(p0) * stft_frames(p0, n);
	int failed = 0;
	for (int64_t r0 = 0; r0 < rows; r0 += s->n) {
		int k = rows - r0 < s->n ? (int)(rows - r0) : s->n;
		#pragma omp parallel for num_threads(k) schedule(static, 1) reduction(|:failed)
		for (int i = 0; i < k; i++)
			failed |= stft_forward(s->plan[i], out + (r0 + i) * row, x + (r0 + i) * n, n) != 0;
	}
	return failed ? -1 : 0;
}

static int cpu_stft_inverse(struct backend_stft *s, real *y, const real *in, int64_t rows,
			    int64_t T, int64_t n)
{
	// y is (rows, n), in is (rows, F, T) complex
	size_t row = 2 * (size_t)stft_bins(s->plan[0]) * T;
	int failed = 0;
	for (int64_t r0 = 0; r0 < rows; r0 += s->n) {
		int k = rows - r0 < s->n ? (int)(rows - r0) : s->n;
		#pragma omp parallel for num_threads(k) schedule(static, 1) reduction(|:failed)
		for (int i = 0; i < k; i++)
			failed |= stft_inverse(s->plan[i], y + (r0 + i) * n, in + (r0 + i) * row, T, n) != 0;
	}
	return failed ? -1 : 0;
}

/* ---- overlap: nothing to overlap on the host ---- */

static void *cpu_host_alloc(size_t bytes)
{
	return xmalloc_big(bytes);
}

static void cpu_host_free(void *p)
{
	free(p);
}

static void cpu_nothing(void)
{
}

static size_t cpu_device_memory(void)
{
	return 0;
}

static int cpu_stft_inverse_backward(struct backend_stft *s, real *din, const real *dy,
				     int64_t rows, int64_t T, int64_t n)
{
	// din (rows, F, T) complex += adjoint of the iSTFT of dy (rows, n)
	size_t row = 2 * (size_t)stft_bins(s->plan[0]) * T;
	int failed = 0;
	for (int64_t r0 = 0; r0 < rows; r0 += s->n) {
		int k = rows - r0 < s->n ? (int)(rows - r0) : s->n;
		#pragma omp parallel for num_threads(k) schedule(static, 1) reduction(|:failed)
		for (int i = 0; i < k; i++)
			failed |= stft_inverse_adjoint(s->plan[i], din + (r0 + i) * row, dy + (r0 + i) * n,
						       T, n) != 0;
	}
	return failed ? -1 : 0;
}

#define CPU_OP(ret, name, params) .name = name,
const struct backend backend_cpu = {
	.name = "cpu",
	.host = true,
	.alloc = cpu_alloc,
	.free = cpu_free,
	.upload = cpu_copy,
	.download = cpu_copy,
	.zero = cpu_zero,
	.set_precision = cpu_set_precision,
	.freeze = cpu_freeze,
	.thaw = cpu_thaw,
	.host_alloc = cpu_host_alloc,
	.host_free = cpu_host_free,
	.upload_async = cpu_copy,
	.upload_fence = cpu_nothing,
	.sync = cpu_nothing,
	.device_memory = cpu_device_memory,
	.stft_create = cpu_stft_create,
	.stft_free = cpu_stft_free,
	.stft_forward = cpu_stft_forward,
	.stft_inverse = cpu_stft_inverse,
	.stft_inverse_backward = cpu_stft_inverse_backward,
	BACKEND_OPS(CPU_OP)	/* the lib/ops/ functions themselves */
};
#undef CPU_OP

real *backend_buffer_want(const struct backend *be, struct backend_buffer *b, size_t floats)
{
	if (b->cap < floats) {
		be->free(b->p);
		b->p = be->alloc(floats * sizeof(real));
		b->cap = floats;
	}
	return b->p;
}

real *backend_buffer_want_zero(const struct backend *be, struct backend_buffer *b, size_t floats)
{
	if (b->cap < floats)
		return backend_buffer_want(be, b, floats);	// alloc'd memory is zeroed
	be->zero(b->p, floats * sizeof(real));
	return b->p;
}

void backend_buffer_free(const struct backend *be, struct backend_buffer *b)
{
	be->free(b->p);
	b->p = NULL;
	b->cap = 0;
}

/* ---- choice ----
 *
 * The CUDA backend is a plugin, sepnet-cuda.so, loaded on first use, so
 * that a CPU run of a CUDA build does not load cuBLAS and cuFFT (about
 * 200 MB and a tenth of a second per process).  It is looked for in
 * $SEPNET_CUDA_PLUGIN, next to the program, in ../lib/sepnet from it (an
 * installed tree), and in the build's own bin directory.  Without an
 * NVIDIA device node the default is the CPU without loading anything. */

#ifdef SEPNET_CUDA
#ifndef SEPNET_PLUGIN_DIR
#define SEPNET_PLUGIN_DIR "bin"
#endif
#define PLUGIN "sepnet-cuda.so"

static const struct backend *cuda_backend;
static char cuda_why[4096];
static bool cuda_tried;

/* The directory of the running program: its argv[0] when that has a
 * slash (also when started through the dynamic loader, as the GPU bundle
 * does), else /proc/self/exe. */
static void program_dir(char *dir, size_t len)
{
	const char *argv0 = program_invocation_name;
	ssize_t n;
	if (argv0 && strchr(argv0, '/')) {
		snprintf(dir, len, "%s", argv0);
	} else if ((n = readlink("/proc/self/exe", dir, len - 1)) > 0) {
		dir[n] = '\0';
	} else {
		snprintf(dir, len, ".");
		return;
	}
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
}

static void *plugin_open(void)
{
	const char *env = getenv("SEPNET_CUDA_PLUGIN");
	if (env && *env) {
		void *h = dlopen(env, RTLD_NOW | RTLD_LOCAL);
		if (!h)
			snprintf(cuda_why, sizeof cuda_why, "cannot load %s: %s", env, dlerror());
		return h;
	}
	char dir[1024], path[1200];
	program_dir(dir, sizeof dir);
	const char *base[] = { dir, dir, SEPNET_PLUGIN_DIR }, *sub[] = { "", "/../lib/sepnet", "" };
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof path, "%s%s/" PLUGIN, base[i], sub[i]);
		if (access(path, F_OK) != 0)
			continue;
		void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		if (!h)
			snprintf(cuda_why, sizeof cuda_why, "cannot load %s: %s", path, dlerror());
		return h;
	}
	snprintf(cuda_why, sizeof cuda_why, "the CUDA backend " PLUGIN " is not in %s, %s/../lib/sepnet "
		 "or " SEPNET_PLUGIN_DIR " (set SEPNET_CUDA_PLUGIN)", dir, dir);
	return NULL;
}

/* The CUDA backend, or NULL with the reason in cuda_why. */
static const struct backend *cuda_load(void)
{
	if (cuda_tried)
		return cuda_backend;
	cuda_tried = true;
	void *h = plugin_open();
	if (!h)
		return NULL;
	const struct backend *(*open)(char *, size_t);
	*(void **)&open = dlsym(h, "sepnet_cuda_open");
	if (!open) {
		snprintf(cuda_why, sizeof cuda_why, "%s", dlerror());
		return NULL;
	}
	char why[512] = "";
	cuda_backend = open(why, sizeof why);
	if (!cuda_backend)
		snprintf(cuda_why, sizeof cuda_why, "no CUDA device found (%s)", why);
	return cuda_backend;
}

/* Whether this machine can have an NVIDIA GPU at all (its device node). */
static bool nvidia_present(void)
{
	return access("/dev/nvidiactl", F_OK) == 0 || access("/dev/nvidia0", F_OK) == 0;
}
#endif

bool backend_cuda_available(void)
{
#ifdef SEPNET_CUDA
	return nvidia_present() && cuda_load() != NULL;
#else
	return false;
#endif
}

const struct backend *backend_get(const char *name)
{
	if (name && strcmp(name, "cpu") && strcmp(name, "cuda"))
		die_usage("-d %s: the devices are cpu and cuda", name);
	if (name && !strcmp(name, "cpu"))
		return &backend_cpu;
#ifdef SEPNET_CUDA
	if (!name)
		return backend_cuda_available() ? cuda_backend : &backend_cpu;
	if (!cuda_load())
		die("-d cuda: %s", cuda_why);
	return cuda_backend;
#else
	if (name)
		die("-d cuda: this binary was built without CUDA (build with nvcc on the PATH)");
	return &backend_cpu;
#endif
}
