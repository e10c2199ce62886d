/* test_safetensors.c: safetensors round trips, f16/bf16 rounding, files
 * written by Python (by hand, and by the safetensors package), and every
 * malformed file refused with a message naming the file and the tensor. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <dirent.h>

#include "safetensors.h"
#include "snt.h"
#include "test.h"
#include "util.h"

static char tmpdir[256];
static char err[1024];

static const char *tmp_path(const char *name)
{
	static char buf[8][512];
	static int k;
	k = (k + 1) % 8;
	snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
	return buf[k];
}

static const char *fixture(const char *name)
{
	static char buf[512];
	const char *root = getenv("SEPNET_ROOT");
	snprintf(buf, sizeof buf, "%s/tests/fixtures/safetensors/%s", root ? root : ".", name);
	return buf;
}

static unsigned rng_state = 1;
static float frand(void)
{
	rng_state = rng_state * 1664525u + 1013904223u;
	return (float)(rng_state >> 8) / (float)(1u << 24) * 2 - 1;
}

static uint32_t f32_bits(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	return u;
}

static float bits_f32(uint32_t u)
{
	float f;
	memcpy(&f, &u, 4);
	return f;
}

static void write_bytes_file(const char *path, const void *p, size_t n)
{
	FILE *fp = fopen(path, "wb");
	if (!fp || fwrite(p, 1, n, fp) != n || fclose(fp))
		die("%s:", path);
}

static unsigned char *read_whole(const char *path, size_t *n)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		die("%s:", path);
	fseek(fp, 0, SEEK_END);
	*n = (size_t)ftell(fp);
	rewind(fp);
	unsigned char *p = xmalloc(*n + 1);
	if (fread(p, 1, *n, fp) != *n)
		die("%s: short read", path);
	fclose(fp);
	return p;
}

/* A file with the given header length field, header text and buffer. */
static const char *write_raw_len(const char *name, uint64_t hlen, const char *header,
				 const void *buf, size_t nbuf)
{
	const char *path = tmp_path(name);
	size_t n = strlen(header);
	unsigned char *p = xmalloc(8 + n + nbuf + 1);
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(hlen >> (8 * i));
	memcpy(p + 8, header, n);
	if (nbuf)
		memcpy(p + 8 + n, buf, nbuf);
	write_bytes_file(path, p, 8 + n + nbuf);
	free(p);
	return path;
}

static const char *write_raw(const char *name, const char *header, size_t nbuf)
{
	static unsigned char zeros[256];
	return write_raw_len(name, strlen(header), header, zeros, nbuf);
}

/* open must fail with a message holding the path and each of the words */
static void expect_open_fail(const char *path, const char *word1, const char *word2)
{
	struct safetensors_file f;
	err[0] = 0;
	int rc = safetensors_open(&f, path, err, sizeof err);
	CHECK(rc == -1, "%s opened", path);
	CHECK(strstr(err, path) != NULL, "message does not name the file: %s", err);
	CHECK(!word1 || strstr(err, word1), "message lacks \"%s\": %s", word1, err);
	CHECK(!word2 || strstr(err, word2), "message lacks \"%s\": %s", word2, err);
	CHECK(!strchr(err, '\n'), "message is not one line: %s", err);
	if (rc == 0)
		safetensors_close(&f);
}

static void test_roundtrip_f32(void)
{
	float a[60], s = 3.5f, big[2 * 1 * 3 * 1 * 2 * 1 * 1 * 2];
	for (int i = 0; i < 60; i++)
		a[i] = frand() * 1e3f;
	a[7] = bits_f32(0x7fc12345);	/* a NaN payload survives F32 */
	a[8] = -0.0f;
	a[9] = bits_f32(0x00000001);	/* smallest subnormal */
	for (int i = 0; i < 24; i++)
		big[i] = (float)i;
	int64_t sa[] = { 3, 4, 5 }, sz[] = { 0, 7 }, sb[] = { 2, 1, 3, 1, 2, 1, 1, 2 };
	struct safetensors_writer *w = safetensors_writer_create();
	safetensors_writer_add_f32(w, "blocks.0.attn.wq.weight", SAFETENSORS_F32, 3, sa, a);
	safetensors_writer_add_f32(w, "scalar", SAFETENSORS_F32, 0, NULL, &s);
	safetensors_writer_add_f32(w, "empty", SAFETENSORS_F32, 2, sz, NULL);
	safetensors_writer_add_f32(w, "eight.dims", SAFETENSORS_F32, 8, sb, big);
	safetensors_writer_set_meta(w, "config", "[model]\nn_fft = 4096\t# \"x\" \\ é\n");
	safetensors_writer_set_meta(w, "step", "1");
	safetensors_writer_set_meta(w, "step", "12");	/* replaces */
	const char *path = tmp_path("rt.safetensors");
	CHECK(safetensors_writer_write(w, path, err, sizeof err) == 0, "write: %s", err);
	safetensors_writer_free(w);

	size_t n;
	unsigned char *raw = read_whole(path, &n);
	uint64_t hlen = 0;
	for (int i = 7; i >= 0; i--)
		hlen = hlen << 8 | raw[i];
	CHECK((8 + hlen) % 8 == 0 && raw[8] == '{', "header length %llu, first byte %c",
	      (unsigned long long)hlen, raw[8]);
	CHECK(n == 8 + hlen + (60 + 1 + 24) * 4, "file of %zu bytes", n);
	free(raw);

	struct safetensors_file f;
	CHECK(safetensors_open(&f, path, err, sizeof err) == 0, "open: %s", err);
	CHECK(f.n_tensors == 4, "%d tensors", f.n_tensors);
	const char *order[] = { "blocks.0.attn.wq.weight", "scalar", "empty", "eight.dims" };
	for (int i = 0; i < 4 && i < f.n_tensors; i++)
		CHECK(!strcmp(f.tensors[i].name, order[i]), "tensor %d is %s", i, f.tensors[i].name);
	const struct safetensors_tensor *t = safetensors_find(&f, "blocks.0.attn.wq.weight");
	CHECK(t && t->dtype == SAFETENSORS_F32 && t->ndim == 3 && t->shape[0] == 3 &&
	      t->shape[1] == 4 && t->shape[2] == 5 && t->numel == 60, "wq.weight");
	CHECK(t && !memcmp(t->data, a, sizeof a), "F32 data not bit-exact");
	t = safetensors_find(&f, "scalar");
	CHECK(t && t->ndim == 0 && t->numel == 1 && !memcmp(t->data, &s, 4), "scalar");
	t = safetensors_find(&f, "empty");
	CHECK(t && t->numel == 0 && t->nbytes == 0, "empty");
	t = safetensors_find(&f, "eight.dims");
	CHECK(t && t->ndim == 8 && !memcmp(t->shape, sb, sizeof sb) && !memcmp(t->data, big, sizeof big),
	      "eight dims");
	CHECK(!safetensors_find(&f, "nope") && !safetensors_find(&f, ""), "found a missing tensor");
	const char *cfg = safetensors_meta_get(&f, "config"), *step = safetensors_meta_get(&f, "step");
	CHECK(cfg && !strcmp(cfg, "[model]\nn_fft = 4096\t# \"x\" \\ é\n"), "config %s", cfg);
	CHECK(step && !strcmp(step, "12") && f.n_meta == 2, "step %s, %d keys", step, f.n_meta);
	CHECK(!safetensors_meta_get(&f, "epoch"), "epoch present");
	float back[60];
	enum safetensors_dtype as = SAFETENSORS_U8;
	CHECK(safetensors_read_f32(&f, "blocks.0.attn.wq.weight", back, 60, &as, err, sizeof err) == 0,
	      "%s", err);
	CHECK(as == SAFETENSORS_F32 && !memcmp(back, a, sizeof a), "read_f32 not bit-exact");
	CHECK(safetensors_read_f32(&f, "blocks.0.attn.wq.weight", back, 59, NULL, err, sizeof err) == -1 &&
	      strstr(err, "wq.weight") && strstr(err, "60") && strstr(err, path), "%s", err);
	safetensors_close(&f);

	DIR *d = opendir(tmpdir);
	int leftovers = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		leftovers += strstr(e->d_name, ".tmp.") != NULL;
	closedir(d);
	CHECK(leftovers == 0, "%d temporary files left", leftovers);
}

/* A model's flat buffers with a table of views, as a checkpoint holds them. */
static const struct safetensors_view views[] = {
	{ "in.weight", 2, { 4, 6 }, 0 },
	{ "in.bias", 1, { 4 }, 24 },
	{ "blocks.0.attn_norm.weight", 1, { 4 }, 28 },
	{ "out.weight", 2, { 3, 4 }, 32 },
};
enum { N_VIEWS = 4, N_PARAMS = 44 };

static void test_views_roundtrip(void)
{
	float p[N_PARAMS], m[N_PARAMS], v[N_PARAMS], q[N_PARAMS], mq[N_PARAMS], vq[N_PARAMS];
	for (int i = 0; i < N_PARAMS; i++)
		p[i] = frand(), m[i] = frand() * 1e-3f, v[i] = frand() * frand() * 1e-6f;
	int64_t total = 0;
	for (int i = 0; i < N_VIEWS; i++)
		total += safetensors_view_numel(&views[i]);
	CHECK(total == N_PARAMS, "views hold %lld", (long long)total);
	struct safetensors_writer *w = safetensors_writer_create();
	safetensors_writer_add_views(w, NULL, views, N_VIEWS, p, SAFETENSORS_F32);
	safetensors_writer_add_views(w, "opt.m.", views, N_VIEWS, m, SAFETENSORS_F32);
	safetensors_writer_add_views(w, "opt.v.", views, N_VIEWS, v, SAFETENSORS_F32);
	safetensors_writer_set_meta(w, "n_params", "44");
	const char *path = tmp_path("ckpt.safetensors");
	safetensors_writer_write_or_die(w, path);
	safetensors_writer_free(w);

	struct safetensors_file f;
	safetensors_open_or_die(&f, path);
	CHECK(f.n_tensors == 12 && !strcmp(f.tensors[4].name, "opt.m.in.weight"), "%d tensors",
	      f.n_tensors);
	enum safetensors_dtype as = SAFETENSORS_U8;
	memset(q, 0xff, sizeof q);
	CHECK(safetensors_read_views(&f, "", views, N_VIEWS, q, &as, err, sizeof err) == 0, "%s", err);
	CHECK(safetensors_read_views(&f, "opt.m.", views, N_VIEWS, mq, NULL, err, sizeof err) == 0, "%s", err);
	safetensors_read_views_or_die(&f, "opt.v.", views, N_VIEWS, vq, NULL);
	CHECK(as == SAFETENSORS_F32, "read as %s", safetensors_dtype_name(as));
	CHECK(!memcmp(p, q, sizeof p) && !memcmp(m, mq, sizeof m) && !memcmp(v, vq, sizeof v),
	      "views not bit-exact");
	const char *all[] = { "", "opt.m.", "opt.v." }, *params_only[] = { NULL };
	CHECK(safetensors_check_names(&f, all, 3, views, N_VIEWS, err, sizeof err) == 0, "%s", err);
	CHECK(safetensors_check_names(&f, params_only, 1, views, N_VIEWS, err, sizeof err) == -1 &&
	      strstr(err, "unexpected tensor opt.m.in.weight") && strstr(err, path), "%s", err);
	CHECK(safetensors_check_names(&f, all, 3, views, N_VIEWS - 1, err, sizeof err) == -1 &&
	      strstr(err, "unexpected tensor out.weight"), "%s", err);

	/* a table that does not match the file */
	struct safetensors_view bad[] = { { "in.weight", 2, { 6, 4 }, 0 } };
	CHECK(safetensors_read_views(&f, NULL, bad, 1, q, NULL, err, sizeof err) == -1, "wrong shape read");
	CHECK(strstr(err, path) && strstr(err, "tensor in.weight has shape [4,6], expected [6,4]"), "%s", err);
	struct safetensors_view bad3[] = { { "in.weight", 3, { 4, 6, 1 }, 0 } };
	CHECK(safetensors_read_views(&f, NULL, bad3, 1, q, NULL, err, sizeof err) == -1 &&
	      strstr(err, "has shape [4,6], expected [4,6,1]"), "%s", err);
	struct safetensors_view missing[] = { { "blocks.1.attn_norm.weight", 1, { 4 }, 0 } };
	CHECK(safetensors_read_views(&f, "opt.v.", missing, 1, q, NULL, err, sizeof err) == -1 &&
	      strstr(err, "missing tensor opt.v.blocks.1.attn_norm.weight") && strstr(err, path), "%s", err);
	safetensors_close(&f);

	/* stored as BF16, read back to f32 and reported */
	w = safetensors_writer_create();
	safetensors_writer_add_views(w, NULL, views, N_VIEWS, p, SAFETENSORS_BF16);
	path = tmp_path("ckpt-bf16.safetensors");
	safetensors_writer_write_or_die(w, path);
	safetensors_writer_free(w);
	safetensors_open_or_die(&f, path);
	CHECK(safetensors_read_views(&f, NULL, views, N_VIEWS, q, &as, err, sizeof err) == 0, "%s", err);
	CHECK(as == SAFETENSORS_BF16 && safetensors_find(&f, "in.bias")->nbytes == 8, "read as %s",
	      safetensors_dtype_name(as));
	int bad_round = 0;
	for (int i = 0; i < N_PARAMS; i++)	/* bf16 keeps 8 significant bits: half an ulp is at most 2^-8 relative */
		bad_round += !(fabsf(q[i] - p[i]) <= fabsf(p[i]) * 0x1p-8f);
	CHECK(bad_round == 0, "%d values off by more than half a bf16 ulp", bad_round);
	safetensors_close(&f);
}

/* The compiler's _Float16 conversions (F16C instructions on x86-64-v3) are
 * the reference: every f16 value, and f32 values on a stride through all bit
 * patterns plus the neighbours of every f16 rounding midpoint. */
static void test_f16_conversion(void)
{
#ifdef __FLT16_MAX__
	int bad = 0;
	for (uint32_t h = 0; h < 65536; h++) {
		_Float16 x;
		uint16_t hb = (uint16_t)h;
		memcpy(&x, &hb, 2);
		float want = (float)x, got = snt_f16_to_f32(hb);
		int same = isnan(want) ? isnan(got) : f32_bits(want) == f32_bits(got);
		if (!same && bad++ < 5)
			CHECK(0, "f16 0x%04x: %g, expected %g", h, got, want);
		if (!isnan(want) && snt_f32_to_f16(got) != hb && bad++ < 5)
			CHECK(0, "f16 0x%04x does not round trip", h);
		if (!isnan(want) && (h & 0x7fff) < 0x7c00) {	/* the midpoint above, and its neighbours */
			uint16_t up = (uint16_t)(hb + 1);
			if ((up & 0x7fff) > 0x7c00)
				continue;
			double mid = ((double)snt_f16_to_f32(hb) + (double)snt_f16_to_f32(up)) / 2;
			float m = (float)mid, around[] = { nextafterf(m, -INFINITY), m, nextafterf(m, INFINITY) };
			for (int k = 0; k < 3; k++) {
				uint16_t ref;
				_Float16 r = (_Float16)around[k];
				memcpy(&ref, &r, 2);
				if (snt_f32_to_f16(around[k]) != ref && bad++ < 5)
					CHECK(0, "f32 %.9g: f16 0x%04x, expected 0x%04x", around[k],
					      snt_f32_to_f16(around[k]), ref);
			}
		}
	}
	for (uint64_t u = 0; u < ((uint64_t)1 << 32); u += 997) {
		float f = bits_f32((uint32_t)u);
		_Float16 r = (_Float16)f;
		uint16_t ref, got = snt_f32_to_f16(f);
		memcpy(&ref, &r, 2);
		int same = isnan(f) ? (got & 0x7c00) == 0x7c00 && (got & 0x3ff) && (got & 0x8000) == (ref & 0x8000)
				    : got == ref;
		if (!same && bad++ < 5)
			CHECK(0, "f32 0x%08x: f16 0x%04x, expected 0x%04x", (uint32_t)u, got, ref);
	}
	CHECK(bad == 0, "%d f16 conversions differ from the compiler's", bad);
#else	// (clang 14 on x86-64 has none): the spot checks below still run
	printf("# no _Float16 in this compiler: f16 rounding checked at spot values only\n");
#endif
	/* spot checks that need no compiler support */
	CHECK(snt_f32_to_f16(65504.0f) == 0x7bff && snt_f32_to_f16(65519.99f) == 0x7bff &&
	      snt_f32_to_f16(65520.0f) == 0x7c00 && snt_f32_to_f16(-1e30f) == 0xfc00, "overflow");
	CHECK(snt_f32_to_f16(0x1p-24f) == 0x0001 && snt_f32_to_f16(0x1p-25f) == 0x0000 &&
	      snt_f32_to_f16(0x1.8p-25f) == 0x0001 && snt_f32_to_f16(0x1.8p-24f) == 0x0002, "subnormal ties");
	CHECK(snt_f32_to_f16(1.00048828125f) == 0x3c00 && snt_f32_to_f16(1.00146484375f) == 0x3c02,
	      "normal ties to even");
	uint16_t nan16 = snt_f32_to_f16(NAN);
	CHECK((nan16 & 0x7c00) == 0x7c00 && (nan16 & 0x3ff), "NaN became 0x%04x", nan16);
	CHECK(isnan(snt_f16_to_f32(0x7e00)) && isinf(snt_f16_to_f32(0xfc00)) &&
	      snt_f16_to_f32(0xfc00) < 0 && snt_f16_to_f32(0x0001) == 0x1p-24f &&
	      snt_f16_to_f32(0x03ff) == 0x3ffp-24f && f32_bits(snt_f16_to_f32(0x8000)) == 0x80000000,
	      "f16 specials");
}

static void test_bf16_conversion(void)
{
	CHECK(snt_f32_to_bf16(1.0f) == 0x3f80 && snt_f32_to_bf16(-2.0f) == 0xc000, "exact values");
	CHECK(snt_f32_to_bf16(1.00390625f) == 0x3f80, "tie to even (down)");
	CHECK(snt_f32_to_bf16(1.01171875f) == 0x3f82, "tie to even (up)");
	CHECK(snt_f32_to_bf16(bits_f32(0x3f808001)) == 0x3f81, "above the tie");
	CHECK(snt_f32_to_bf16(bits_f32(0x3f807fff)) == 0x3f80, "below the tie");
	CHECK(snt_f32_to_bf16(3.4028235e38f) == 0x7f80 && snt_f32_to_bf16(-INFINITY) == 0xff80,
	      "overflow to inf");
	uint16_t nan = snt_f32_to_bf16(bits_f32(0x7f800001));	/* a NaN whose payload is in the low bits */
	CHECK((nan & 0x7f80) == 0x7f80 && (nan & 0x7f), "signalling NaN became 0x%04x", nan);
	CHECK(snt_f32_to_bf16(bits_f32(0x00010000)) == 0x0001 && snt_f32_to_bf16(bits_f32(0x00008000)) == 0,
	      "subnormals");
	int bad = 0;
	for (uint32_t h = 0; h < 65536; h++) {
		float f = snt_bf16_to_f32((uint16_t)h);
		bad += f32_bits(f) != h << 16;
		bad += !isnan(f) && snt_f32_to_bf16(f) != h;
	}
	CHECK(bad == 0, "%d bf16 values do not round trip", bad);
}

/* Python wrote the file by hand; numpy and torch rounded conv.x. */
static void test_python_fixture(void)
{
	struct safetensors_file f;
	const char *path = fixture("python.safetensors");
	if (safetensors_open(&f, path, err, sizeof err) < 0) {
		CHECK(0, "%s", err);
		return;
	}
	const char *order[] = { "a.weight", "h", "c", "b", "scalar", "empty", "ids", "conv.x",
				"conv.x_f16", "conv.x_bf16" };
	CHECK(f.n_tensors == 10, "%d tensors", f.n_tensors);
	for (int i = 0; i < 10 && i < f.n_tensors; i++)
		CHECK(!strcmp(f.tensors[i].name, order[i]), "tensor %d is %s", i, f.tensors[i].name);
	float a[6], h[5], c[2], b[3], s, e[1];
	enum safetensors_dtype as;
	CHECK(safetensors_read_f32(&f, "a.weight", a, 6, &as, err, sizeof err) == 0 && as == SAFETENSORS_F32, "%s", err);
	for (int i = 0; i < 6; i++)
		CHECK(a[i] == i * 0.5f - 1, "a[%d] = %g", i, a[i]);
	CHECK(safetensors_read_f32(&f, "h", h, 5, &as, err, sizeof err) == 0 && as == SAFETENSORS_F16, "%s", err);
	CHECK(h[0] == 1 && h[1] == -2 && h[2] == 0.5f && h[3] == 65504 && isinf(h[4]) && h[4] < 0,
	      "h = %g %g %g %g %g", h[0], h[1], h[2], h[3], h[4]);
	CHECK(safetensors_read_f32(&f, "c", c, 2, NULL, err, sizeof err) == 0 && c[0] == 2.5f && c[1] == -7,
	      "unaligned c = %g %g (%s)", c[0], c[1], err);
	CHECK(safetensors_read_f32(&f, "b", b, 3, &as, err, sizeof err) == 0 && as == SAFETENSORS_BF16 &&
	      b[0] == 1 && b[1] == -3.5f && b[2] == 0.15625f, "b = %g %g %g", b[0], b[1], b[2]);
	CHECK(safetensors_read_f32(&f, "scalar", &s, 1, NULL, err, sizeof err) == 0 && s == 3.25f, "scalar %g", s);
	CHECK(safetensors_read_f32(&f, "empty", e, 0, NULL, err, sizeof err) == 0, "%s", err);
	const struct safetensors_tensor *ids = safetensors_find(&f, "ids");
	int64_t idv[2];
	if (ids)
		memcpy(idv, ids->data, sizeof idv);
	CHECK(ids && ids->dtype == SAFETENSORS_I64 && idv[0] == 7 && idv[1] == -1, "ids");
	CHECK(safetensors_read_f32(&f, "ids", e, 2, NULL, err, sizeof err) == -1 && strstr(err, "ids") &&
	      strstr(err, "I64") && strstr(err, path), "%s", err);
	const char *note = safetensors_meta_get(&f, "note"), *cfg = safetensors_meta_get(&f, "config");
	CHECK(note && !strcmp(note, "d\xc3\xa9j\xc3\xa0 vu \xe2\x9c\x93 \"quoted\""), "note %s", note);
	CHECK(cfg && !strcmp(cfg, "[model]\nn_fft = 4096\nhop_length = 1024\n"), "config %s", cfg);

	/* our writer rounds conv.x as numpy (f16) and torch (bf16) did */
	const struct safetensors_tensor *x = safetensors_find(&f, "conv.x");
	int64_t n = x ? x->numel : 0;
	float *xv = xmalloc((size_t)n * sizeof *xv + 1);
	CHECK(n > 100 && safetensors_read_f32(&f, "conv.x", xv, n, NULL, err, sizeof err) == 0, "%s", err);
	struct safetensors_writer *w = safetensors_writer_create();
	safetensors_writer_add_f32(w, "x_f16", SAFETENSORS_F16, 1, &n, xv);
	safetensors_writer_add_f32(w, "x_bf16", SAFETENSORS_BF16, 1, &n, xv);
	const char *ours = tmp_path("conv.safetensors");
	safetensors_writer_write_or_die(w, ours);
	safetensors_writer_free(w);
	struct safetensors_file g;
	safetensors_open_or_die(&g, ours);
	const char *pairs[2][2] = { { "conv.x_f16", "x_f16" }, { "conv.x_bf16", "x_bf16" } };
	for (int k = 0; k < 2; k++) {
		const struct safetensors_tensor *ref = safetensors_find(&f, pairs[k][0]);
		const struct safetensors_tensor *got = safetensors_find(&g, pairs[k][1]);
		int bad = 0;
		for (int64_t i = 0; ref && got && i < n; i++) {
			uint16_t r, o;
			memcpy(&r, (const char *)ref->data + 2 * i, 2);
			memcpy(&o, (const char *)got->data + 2 * i, 2);
			if (isnan(xv[i]) ? (r & 0x7fff) <= (k ? 0x7f80 : 0x7c00) || (o & 0x7fff) <= (k ? 0x7f80 : 0x7c00)
					 : r != o) {
				if (bad++ < 5)
					CHECK(0, "%s: x[%lld] = %.9g: 0x%04x, Python has 0x%04x",
					      pairs[k][0], (long long)i, xv[i], o, r);
			}
		}
		CHECK(ref && got && bad == 0, "%s: %d values differ", pairs[k][0], bad);
	}
	safetensors_close(&g);
	free(xv);
	safetensors_close(&f);
}

/* Written by the safetensors package (safetensors.torch.save_file). */
static void test_hf_fixture(void)
{
	struct safetensors_file f;
	const char *path = fixture("hf.safetensors");
	if (safetensors_open(&f, path, err, sizeof err) < 0) {
		CHECK(0, "%s", err);
		return;
	}
	float w[6], b[2], h[5], br[3];
	enum safetensors_dtype as1, as2;
	CHECK(safetensors_read_f32(&f, "in.weight", w, 6, NULL, err, sizeof err) == 0 &&
	      safetensors_read_f32(&f, "in.bias", b, 2, NULL, err, sizeof err) == 0 &&
	      safetensors_read_f32(&f, "half", h, 5, &as1, err, sizeof err) == 0 &&
	      safetensors_read_f32(&f, "brain", br, 3, &as2, err, sizeof err) == 0, "%s", err);
	for (int i = 0; i < 6; i++)
		CHECK(w[i] == i * 0.5f - 1, "in.weight[%d] = %g", i, w[i]);
	const struct safetensors_tensor *t = safetensors_find(&f, "in.weight");
	CHECK(t && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3, "in.weight shape");
	CHECK(b[0] == 2.5f && b[1] == -7 && as1 == SAFETENSORS_F16 && as2 == SAFETENSORS_BF16 &&
	      h[3] == 65504 && isinf(h[4]) && br[1] == -3.5f, "values");
	const char *step = safetensors_meta_get(&f, "step");
	CHECK(step && !strcmp(step, "3"), "step %s", step);
	safetensors_close(&f);
}

static void test_malformed(void)
{
	/* a valid file to start from: one F32 [2,3] tensor */
	const char *ok = write_raw("ok.safetensors",
		"{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", 24);
	struct safetensors_file f;
	CHECK(safetensors_open(&f, ok, err, sizeof err) == 0, "valid file: %s", err);
	safetensors_close(&f);

	expect_open_fail(tmp_path("absent.safetensors"), "No such file", NULL);
	const char *p = tmp_path("empty.safetensors");
	write_bytes_file(p, "", 0);
	expect_open_fail(p, "truncated", NULL);
	p = tmp_path("short.safetensors");
	write_bytes_file(p, "\x10\0\0", 3);
	expect_open_fail(p, "truncated", NULL);
	expect_open_fail(write_raw_len("hlen.safetensors", 1000, "{}", NULL, 0), "truncated", "1000");
	expect_open_fail(write_raw_len("huge.safetensors", (uint64_t)1 << 62, "{}", NULL, 0), "too large", NULL);
	expect_open_fail(write_raw("json.safetensors", "{\"w\":{\"dtype\":\"F32\",", 0), "JSON", NULL);
	expect_open_fail(write_raw("array.safetensors", "[1,2]", 0), "'{'", NULL);
	expect_open_fail(write_raw("space.safetensors", " {}", 0), "'{'", NULL);
	expect_open_fail(write_raw("trail.safetensors", "{} {}", 0), "JSON", NULL);
	p = tmp_path("nul.safetensors");
	write_bytes_file(p, "\x03\0\0\0\0\0\0\0{}\0", 11);
	expect_open_fail(p, "UTF-8", NULL);
	expect_open_fail(write_raw("utf8.safetensors",
		"{\"w\xff\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "UTF-8", NULL);
	expect_open_fail(write_raw("dtype.safetensors",
		"{\"w.weight\":{\"dtype\":\"F33\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", 24),
		"w.weight", "F33");
	expect_open_fail(write_raw("nodtype.safetensors",
		"{\"w.weight\":{\"shape\":[2,3],\"data_offsets\":[0,24]}}", 24), "w.weight", "dtype");
	expect_open_fail(write_raw("notobj.safetensors", "{\"w.weight\":[1,2]}", 0), "w.weight", NULL);
	expect_open_fail(write_raw("negshape.safetensors",
		"{\"w.weight\":{\"dtype\":\"F32\",\"shape\":[-2,3],\"data_offsets\":[0,24]}}", 24),
		"w.weight", "shape");
	expect_open_fail(write_raw("fracshape.safetensors",
		"{\"w.weight\":{\"dtype\":\"F32\",\"shape\":[1.5,4],\"data_offsets\":[0,24]}}", 24),
		"w.weight", "shape");
	expect_open_fail(write_raw("strshape.safetensors",
		"{\"w.weight\":{\"dtype\":\"F32\",\"shape\":\"2,3\",\"data_offsets\":[0,24]}}", 24),
		"w.weight", "shape");
	expect_open_fail(write_raw("ninedims.safetensors",
		"{\"w.weight\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4),
		"w.weight", "dimensions");
	expect_open_fail(write_raw("size.safetensors",
		"{\"w.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 20),
		"w.weight", "[2,3]");
	expect_open_fail(write_raw("sizeover.safetensors",
		"{\"w.weight\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,16]}}", 16),
		"w.weight", "2^60");
	expect_open_fail(write_raw("range.safetensors",
		"{\"w.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", 20),
		"w.weight", "outside");
	expect_open_fail(write_raw("backwards.safetensors",
		"{\"w.weight\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", 8),
		"w.weight", "data_offsets");
	expect_open_fail(write_raw("offsets3.safetensors",
		"{\"w.weight\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,8]}}", 8),
		"w.weight", "data_offsets");
	expect_open_fail(write_raw("overlap.safetensors",
		"{\"a.weight\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
		"\"b.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12),
		"b.bias", "a.weight");
	expect_open_fail(write_raw("gap.safetensors",
		"{\"a.weight\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
		"\"b.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}", 20),
		"b.bias", "unused");
	expect_open_fail(write_raw("tail.safetensors",
		"{\"a.weight\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12),
		"after the last tensor", NULL);
	expect_open_fail(write_raw("dup.safetensors",
		"{\"a.weight\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
		"\"a.weight\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8),
		"a.weight", "twice");
	expect_open_fail(write_raw("metaval.safetensors",
		"{\"__metadata__\":{\"step\":12},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4),
		"step", "__metadata__");
	expect_open_fail(write_raw("metaobj.safetensors", "{\"__metadata__\":[]}", 0), "__metadata__", NULL);
	expect_open_fail(write_raw("metadup.safetensors",
		"{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"}}", 0), "__metadata__", "twice");

	/* every truncation of a valid file is refused */
	size_t n;
	unsigned char *raw = read_whole(ok, &n);
	int opened = 0;
	const char *cut = tmp_path("cut.safetensors");
	for (size_t k = 0; k < n; k++) {
		write_bytes_file(cut, raw, k);
		if (safetensors_open(&f, cut, err, sizeof err) == 0) {
			opened++;
			safetensors_close(&f);
		} else if (!strstr(err, cut)) {
			CHECK(0, "message without the file name: %s", err);
		}
	}
	CHECK(opened == 0, "%d truncations of %zu opened", opened, n);
	free(raw);

	/* a directory is not a file */
	expect_open_fail(tmpdir, NULL, NULL);
}

static void test_writer_errors(void)
{
	float x[4] = { 1, 2, 3, 4 };
	int64_t s4[] = { 4 }, sneg[] = { -1 };
	const char *path = tmp_path("bad-writer.safetensors");

	struct safetensors_writer *w = safetensors_writer_create();
	safetensors_writer_add_f32(w, "a", SAFETENSORS_F32, 1, s4, x);
	safetensors_writer_add_f32(w, "b", SAFETENSORS_F32, 1, s4, x);
	safetensors_writer_add_f32(w, "a", SAFETENSORS_F16, 1, s4, x);
	CHECK(safetensors_writer_write(w, path, err, sizeof err) == -1 && strstr(err, "tensor a added twice") &&
	      strstr(err, path), "%s", err);
	safetensors_writer_free(w);

	w = safetensors_writer_create();
	safetensors_writer_add_f32(w, "a", SAFETENSORS_I32, 1, s4, x);
	CHECK(safetensors_writer_write(w, path, err, sizeof err) == -1 && strstr(err, "tensor a") &&
	      strstr(err, "I32"), "%s", err);
	safetensors_writer_free(w);

	w = safetensors_writer_create();
	safetensors_writer_add_f32(w, "neg", SAFETENSORS_F32, 1, sneg, x);
	CHECK(safetensors_writer_write(w, path, err, sizeof err) == -1 && strstr(err, "tensor neg"), "%s", err);
	safetensors_writer_free(w);

	w = safetensors_writer_create();
	safetensors_writer_add_f32(w, "deep", SAFETENSORS_F32, 9, s4, x);
	CHECK(safetensors_writer_write(w, path, err, sizeof err) == -1 && strstr(err, "tensor deep"), "%s", err);
	safetensors_writer_free(w);

	w = safetensors_writer_create();
	safetensors_writer_add_f32(w, "__metadata__", SAFETENSORS_F32, 1, s4, x);
	CHECK(safetensors_writer_write(w, path, err, sizeof err) == -1 && strstr(err, "__metadata__"), "%s", err);
	safetensors_writer_free(w);

	struct stat st;
	CHECK(stat(path, &st) < 0, "a refused write left %s", path);

	/* an empty file is valid: "{}" padded */
	w = safetensors_writer_create();
	path = tmp_path("nothing.safetensors");
	CHECK(safetensors_writer_write(w, path, err, sizeof err) == 0, "%s", err);
	safetensors_writer_free(w);
	struct safetensors_file f;
	CHECK(safetensors_open(&f, path, err, sizeof err) == 0 && f.n_tensors == 0 && f.n_meta == 0, "%s", err);
	safetensors_close(&f);
}

/* A file read through a pipe (no mmap) gives the same tensors. */
static void test_read_pipe(void)
{
	float x[5] = { 1, -2, 3, -4, 5 };
	int64_t s5[] = { 5 };
	struct safetensors_writer *w = safetensors_writer_create();
	safetensors_writer_add_f32(w, "x", SAFETENSORS_F16, 1, s5, x);
	const char *path = tmp_path("pipe.safetensors");
	safetensors_writer_write_or_die(w, path);
	safetensors_writer_free(w);
	size_t n;
	unsigned char *raw = read_whole(path, &n);
	int fds[2];
	if (pipe(fds) < 0)
		die("pipe:");
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[0]);
		ssize_t r = write(fds[1], raw, n);
		_exit(r == (ssize_t)n ? 0 : 1);
	}
	close(fds[1]);
	char dev[64];
	snprintf(dev, sizeof dev, "/dev/fd/%d", fds[0]);
	struct safetensors_file f;
	float y[5] = { 0 };
	enum safetensors_dtype as;
	CHECK(safetensors_open(&f, dev, err, sizeof err) == 0 && !f.mapped, "%s", err);
	CHECK(safetensors_read_f32(&f, "x", y, 5, &as, err, sizeof err) == 0 && as == SAFETENSORS_F16 &&
	      !memcmp(x, y, sizeof x), "%s", err);
	safetensors_close(&f);
	close(fds[0]);
	int status;
	waitpid(pid, &status, 0);
	free(raw);
}

static void remove_tmpdir(void)
{
	DIR *d = opendir(tmpdir);
	for (struct dirent *e; d && (e = readdir(d));)
		if (e->d_name[0] != '.')
			unlink(tmp_path(e->d_name));
	if (d)
		closedir(d);
	rmdir(tmpdir);
}

int main(void)
{
	const char *t = getenv("TMPDIR");
	snprintf(tmpdir, sizeof tmpdir, "%s/test_safetensors.XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(tmpdir))
		die("mkdtemp %s:", tmpdir);
	RUN(test_roundtrip_f32);
	RUN(test_views_roundtrip);
	RUN(test_f16_conversion);
	RUN(test_bf16_conversion);
	RUN(test_python_fixture);
	RUN(test_hf_fixture);
	RUN(test_malformed);
	RUN(test_writer_errors);
	RUN(test_read_pipe);
	remove_tmpdir();
	return test_summary();
}
