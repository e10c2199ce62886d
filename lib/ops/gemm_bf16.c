/* gemm_bf16.c: the CPU's mixed-precision GEMM ([train] use_amp on a
 * processor with AVX512-BF16 or AMX): inputs rounded to bf16 (to nearest,
 * ties to even, as cuBLAS's CUBLAS_COMPUTE_32F_FAST_16BF does on the GPU),
 * products accumulated in f32, through oneDNN's matmul primitive.
 *
 * Debian's OpenBLAS 0.3.21 has no cblas_sbgemm, so oneDNN (libdnnl) it is;
 * its bf16 kernels ran at 1.85-1.95x OpenBLAS's sgemm on 2 cores with
 * AVX512-BF16 (tests/tools/gemm-peak measures both, 2048³).
 *
 * The operands are rounded into compact bf16 copies (the rounding is a
 * pass over A and B, in parallel), C stays f32 at its own stride; an
 * operand in memory frozen by gemm_bf16_freeze (sepnet-fwd's weights) is
 * read at its own stride from a bf16 mirror of that memory, rounded once
 * at the first GEMM that reads it (16M weights of base.ini a segment were
 * rounded again at every call: 3/5 of the rounding).  A
 * primitive is made once per shape (oneDNN JIT-compiles its kernels) and
 * kept in a small cache; the model's shapes are few and fixed, so after
 * the first pass no call compiles anything.  bias and GELU (gelu_erf) are
 * the primitive's epilogue: linear_forward and linear_gelu_forward run as
 * one pass over their output.  oneDNN threads with OpenMP: the same pool
 * as everything else here. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>

#include "ops.h"
#include "util.h"

#ifdef SEPNET_DOUBLE

/* the gradient check's build computes in double: never bf16 */
bool gemm_bf16_available(void) { return false; }
void gemm_set_bf16(bool on) { (void)on; }
bool gemm_bf16_active(void) { return false; }
void gemm_bf16(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
	       int lda, const float *B, int ldb, float beta, float *C, int ldc, const float *bias,
	       bool gelu)
{
	(void)trans_a, (void)trans_b, (void)M, (void)N, (void)K, (void)alpha, (void)A, (void)lda;
	(void)B, (void)ldb, (void)beta, (void)C, (void)ldc, (void)bias, (void)gelu;
	die("gemm_bf16: not in a double build");
}
void gemm_bf16_freeze(const float *p, size_t n) { (void)p, (void)n; }
void gemm_bf16_thaw(const float *p) { (void)p; }
void gemm_set_f32_onednn(bool on) { (void)on; }
bool gemm_f32_fused(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
		    int lda, const float *B, int ldb, float beta, float *C, int ldc, const float *bias,
		    bool gelu)
{
	(void)trans_a, (void)trans_b, (void)M, (void)N, (void)K, (void)alpha, (void)A, (void)lda;
	(void)B, (void)ldb, (void)beta, (void)C, (void)ldc, (void)bias, (void)gelu;
	return false;
}

#else

#include <oneapi/dnnl/dnnl.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define CHECK(call)                                                                       \
	do {                                                                              \
		dnnl_status_t st_ = (call);                                               \
		if (st_ != dnnl_success)                                                  \
			die("oneDNN: %s failed (status %d)", #call, (int)st_);            \
	} while (0)

/* Primitives kept: every GEMM shape of a model's forward and backward
 * (a dozen for the transformer; bs-small's bands, f32 training, 60) with
 * room to spare; past it the oldest is replaced. */
#define CACHE_SLOTS 256

struct key {
	int M, N, K, lda, ldb, ldc;	/* lda, ldb: the operands' as oneDNN reads them */
	bool f32;			/* f32 operands as they are (gemm_f32_fused), else bf16 */
	bool trans_a, trans_b, bias, gelu;
	float alpha, beta;
};

/* Memory frozen by gemm_bf16_freeze (a model's weights at inference) and
 * its bf16 mirror, element for element, rounded at the first GEMM that
 * reads it: a weight is rounded once, not at every call. */
#define FROZEN_SLOTS 8
#define MIRROR_ROW 65536
struct frozen {
	const float *p;
	size_t n;
	uint16_t *mirror;	/* NULL until a GEMM reads p */
};

struct slot {
	struct key key;
	dnnl_primitive_t prim;
};

static struct {
	dnnl_engine_t engine;
	dnnl_stream_t stream;
	bool engine_ok;		/* oneDNN's CPU engine and stream made */
	bool available;		/* and the processor has bf16 */
	struct slot cache[CACHE_SLOTS];
	int n_cached, next;
	uint16_t *a, *b;	/* the rounded operands */
	size_t a_cap, b_cap;
	struct frozen frozen[FROZEN_SLOTS];
	mtx_t lock;
} g;

static once_flag init_once = ONCE_FLAG_INIT;
static atomic_bool bf16_on, f32_off;

static void init(void)
{
	if (dnnl_engine_create(&g.engine, dnnl_cpu, 0) != dnnl_success)
		return;	// no bf16, and f32 stays OpenBLAS's
	CHECK(dnnl_stream_create(&g.stream, g.engine, dnnl_stream_default_flags));
	if (mtx_init(&g.lock, mtx_plain) != thrd_success)
		die("gemm_bf16: mtx_init failed");
	g.engine_ok = true;
	// oneDNN's effective ISA honours DNNL_MAX_CPU_ISA: DNNL_MAX_CPU_ISA=AVX512_CORE
	// in the environment turns bf16 off as on a processor without it
	dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
	g.available = ((unsigned)isa & (unsigned)dnnl_cpu_isa_avx512_core_bf16) ==
		      (unsigned)dnnl_cpu_isa_avx512_core_bf16;
}

bool gemm_bf16_available(void)
{
	call_once(&init_once, init);
	return g.available;
}

void gemm_set_f32_onednn(bool on)
{
	atomic_store(&f32_off, !on);
}

void gemm_set_bf16(bool on)
{
	atomic_store(&bf16_on, on && gemm_bf16_available());
}

/* on, and not inside an OpenMP region (attention's tiles stay f32) */
bool gemm_bf16_active(void)
{
#ifdef _OPENMP
	if (omp_in_parallel())
		return false;
#endif
	return atomic_load_explicit(&bf16_on, memory_order_relaxed);
}

/* dst (rows, cols) compact = src (rows, cols) at stride ld, rounded */
static void round_rows(uint16_t *dst, const float *src, int rows, int cols, int ld)
{
	#pragma omp parallel for schedule(static) if ((size_t)rows * cols > PARALLEL_MIN_CHEAP / 4)
	for (int r = 0; r < rows; r++) {
		const float *s = src + (size_t)r * ld;
		uint16_t *d = dst + (size_t)r * cols;
		#pragma omp simd
		for (int c = 0; c < cols; c++)
			d[c] = f32_to_bf16(s[c]);
	}
}

static uint16_t *want(uint16_t **p, size_t *cap, size_t n)
{
	if (n > *cap) {
		free(*p);
		*p = xmalloc(n * sizeof **p);
		*cap = n;
	}
	return *p;
}

/* logical (rows, cols) compact, or its transpose stored compact */
static void md(dnnl_memory_desc_t *d, int rows, int cols, bool trans, dnnl_data_type_t dt,
	       int ld)
{
	dnnl_dims_t dims = { rows, cols };
	dnnl_dims_t strides = { trans ? 1 : ld, trans ? ld : 1 };
	CHECK(dnnl_memory_desc_init_by_strides(d, 2, dims, dt, strides));
}

static dnnl_primitive_t make(const struct key *k)
{
	dnnl_memory_desc_t a, b, c, bias;
	dnnl_data_type_t in = k->f32 ? dnnl_f32 : dnnl_bf16;
	md(&a, k->M, k->K, k->trans_a, in, k->lda);
	md(&b, k->K, k->N, k->trans_b, in, k->ldb);
	md(&c, k->M, k->N, false, dnnl_f32, k->ldc);
	if (k->bias)
		md(&bias, 1, k->N, false, dnnl_f32, k->N);
	dnnl_matmul_desc_t desc;
	CHECK(dnnl_matmul_desc_init(&desc, &a, &b, k->bias ? &bias : NULL, &c));

	dnnl_primitive_attr_t attr;
	dnnl_post_ops_t po;
	CHECK(dnnl_primitive_attr_create(&attr));
	CHECK(dnnl_post_ops_create(&po));
	if (k->alpha != 1)
		CHECK(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &k->alpha));
	if (k->beta != 0)
		CHECK(dnnl_post_ops_append_sum(po, k->beta));
	if (k->gelu)
		CHECK(dnnl_post_ops_append_eltwise(po, 1, dnnl_eltwise_gelu_erf, 0, 0));
	CHECK(dnnl_primitive_attr_set_post_ops(attr, po));

	dnnl_primitive_desc_t pd;
	CHECK(dnnl_primitive_desc_create(&pd, &desc, attr, g.engine, NULL));
	// oneDNN falls back to its reference kernel, 1000x slower, for what its
	// JIT kernels do not cover (a bias along C's rows did): a bug here
	const char *impl = NULL;
	CHECK(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl));
	if (impl && !strncmp(impl, "ref", 3) && k->f32) {	// OpenBLAS's then
		dnnl_primitive_desc_destroy(pd);
		dnnl_post_ops_destroy(po);
		dnnl_primitive_attr_destroy(attr);
		return NULL;
	}
	if (impl && !strncmp(impl, "ref", 3))
		die("gemm_bf16: oneDNN chose its reference kernel (%s) for %dx%dx%d%s%s%s", impl,
		    k->M, k->N, k->K, k->trans_a ? " A^T" : "", k->trans_b ? " B^T" : "",
		    k->bias ? " +bias" : "");
	dnnl_primitive_t p;
	CHECK(dnnl_primitive_create(&p, pd));
	dnnl_primitive_desc_destroy(pd);
	dnnl_post_ops_destroy(po);
	dnnl_primitive_attr_destroy(attr);
	return p;
}

static dnnl_primitive_t lookup(const struct key *k)
{
	for (int i = 0; i < g.n_cached; i++)
		if (!memcmp(&g.cache[i].key, k, sizeof *k))
			return g.cache[i].prim;
	struct slot *s = &g.cache[g.next];
	if (g.n_cached < CACHE_SLOTS)
		g.n_cached++;
	else if (s->prim)	// NULL: a shape oneDNN had no kernel for
		dnnl_primitive_destroy(s->prim);
	g.next = (g.next + 1) % CACHE_SLOTS;
	s->key = *k;
	s->prim = make(k);
	return s->prim;
}

static dnnl_memory_t memory(int rows, int cols, bool trans, dnnl_data_type_t dt, int ld,
			    const void *p)
{
	dnnl_memory_desc_t d;
	md(&d, rows, cols, trans, dt, ld);
	dnnl_memory_t m;
	CHECK(dnnl_memory_create(&m, &d, g.engine, (void *)p));
	return m;
}

static struct key key_of(bool f32, bool trans_a, bool trans_b, int M, int N, int K, float alpha,
			 int lda, int ldb, float beta, int ldc, const float *bias, bool gelu)
{
	struct key k;
	memset(&k, 0, sizeof k);	// the padding too: keys are compared with memcmp
	k.M = M, k.N = N, k.K = K, k.lda = lda, k.ldb = ldb, k.ldc = ldc, k.f32 = f32;
	k.trans_a = trans_a, k.trans_b = trans_b, k.bias = bias != NULL, k.gelu = gelu;
	k.alpha = alpha, k.beta = beta;
	return k;
}

/* C = the primitive p made for k on operands a and b (bf16 or f32 as k
 * says); false when there is none (p NULL: oneDNN had only its reference
 * kernel for an f32 k). */
static bool execute(dnnl_primitive_t p, const struct key *k, const void *a, const void *b,
		    float *C, const float *bias)
{
	if (!p)
		return false;
	dnnl_data_type_t in = k->f32 ? dnnl_f32 : dnnl_bf16;
	dnnl_memory_t ma = memory(k->M, k->K, k->trans_a, in, k->lda, a);
	dnnl_memory_t mb = memory(k->K, k->N, k->trans_b, in, k->ldb, b);
	dnnl_memory_t mc = memory(k->M, k->N, false, dnnl_f32, k->ldc, C);
	dnnl_memory_t mbias = bias ? memory(1, k->N, false, dnnl_f32, k->N, bias) : NULL;
	dnnl_exec_arg_t args[4] = {
		{ DNNL_ARG_SRC, ma }, { DNNL_ARG_WEIGHTS, mb }, { DNNL_ARG_DST, mc },
		{ DNNL_ARG_BIAS, mbias },
	};
	CHECK(dnnl_primitive_execute(p, g.stream, bias ? 4 : 3, args));
	CHECK(dnnl_stream_wait(g.stream));
	dnnl_memory_destroy(ma);
	dnnl_memory_destroy(mb);
	dnnl_memory_destroy(mc);
	if (mbias)
		dnnl_memory_destroy(mbias);
	return true;
}

void gemm_bf16_freeze(const float *p, size_t n)
{
	if (!gemm_bf16_available() || !p || !n)
		return;
	mtx_lock(&g.lock);
	struct frozen *f = NULL;
	for (int i = 0; i < FROZEN_SLOTS && !f; i++)
		if (!g.frozen[i].p)
			f = &g.frozen[i];
	if (f)	// else (more models than slots) this one's weights round per call
		*f = (struct frozen){ .p = p, .n = n };
	mtx_unlock(&g.lock);
}

void gemm_bf16_thaw(const float *p)
{
	if (!gemm_bf16_available() || !p)
		return;
	mtx_lock(&g.lock);
	for (int i = 0; i < FROZEN_SLOTS; i++)
		if (g.frozen[i].p == p) {
			free(g.frozen[i].mirror);
			g.frozen[i] = (struct frozen){ 0 };
		}
	mtx_unlock(&g.lock);
}

/* The bf16 mirror of an operand of rows × cols at stride ld that lies in
 * frozen memory, or NULL. */
static const uint16_t *frozen_mirror(const float *x, int rows, int cols, int ld)
{
	if (rows <= 0 || cols <= 0)
		return NULL;
	size_t extent = (size_t)(rows - 1) * ld + cols;
	for (int i = 0; i < FROZEN_SLOTS; i++) {
		struct frozen *f = &g.frozen[i];
		if (!f->p || x < f->p || x >= f->p + f->n || (size_t)(x - f->p) + extent > f->n)
			continue;
		if (!f->mirror) {
			f->mirror = xmalloc(f->n * sizeof *f->mirror);
			// as rows of MIRROR_ROW (in parallel), then the rest
			size_t rows = f->n / MIRROR_ROW, tail = rows * MIRROR_ROW;
			round_rows(f->mirror, f->p, (int)rows, MIRROR_ROW, MIRROR_ROW);
			round_rows(f->mirror + tail, f->p + tail, 1, (int)(f->n - tail), 0);
		}
		return f->mirror + (x - f->p);
	}
	return NULL;
}

void gemm_bf16(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
	       int lda, const float *B, int ldb, float beta, float *C, int ldc, const float *bias,
	       bool gelu)
{
	if (!gemm_bf16_available())
		die("gemm_bf16: this processor has no bf16 (AVX512-BF16 or AMX)");
	if (M == 0 || N == 0)
		return;
	mtx_lock(&g.lock);
	// stored shapes: A is (M, K) or, transposed, (K, M); B (K, N) or (N, K);
	// an operand in frozen memory is read from its mirror at its own
	// stride, any other is rounded into a compact copy
	int a_rows = trans_a ? K : M, a_cols = trans_a ? M : K;
	int b_rows = trans_b ? N : K, b_cols = trans_b ? K : N;
	const uint16_t *a = frozen_mirror(A, a_rows, a_cols, lda);
	const uint16_t *b = frozen_mirror(B, b_rows, b_cols, ldb);
	if (!a) {
		uint16_t *c = want(&g.a, &g.a_cap, (size_t)M * K);
		round_rows(c, A, a_rows, a_cols, lda);
		a = c, lda = a_cols;
	}
	if (!b) {
		uint16_t *c = want(&g.b, &g.b_cap, (size_t)K * N);
		round_rows(c, B, b_rows, b_cols, ldb);
		b = c, ldb = b_cols;
	}
	struct key k = key_of(false, trans_a, trans_b, M, N, K, alpha, lda, ldb, beta, ldc, bias, gelu);
	if (!execute(lookup(&k), &k, a, b, C, bias))
		die("gemm_bf16: no oneDNN kernel for %dx%dx%d", M, N, K);	// make() died first
	mtx_unlock(&g.lock);
}

bool gemm_f32_fused(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
		    int lda, const float *B, int ldb, float beta, float *C, int ldc, const float *bias,
		    bool gelu)
{
	call_once(&init_once, init);
	if (!g.engine_ok || atomic_load_explicit(&f32_off, memory_order_relaxed))
		return false;
#ifdef _OPENMP
	if (omp_in_parallel())	// one thread's GEMM: OpenBLAS's, serial
		return false;
#endif
	if (M == 0 || N == 0)
		return true;
	if (K <= 0)	// C = beta · C: OpenBLAS's
		return false;
	mtx_lock(&g.lock);
	struct key k = key_of(true, trans_a, trans_b, M, N, K, alpha, lda, ldb, beta, ldc, bias, gelu);
	bool done = execute(lookup(&k), &k, A, B, C, bias);
	mtx_unlock(&g.lock);
	return done;
}

#endif
