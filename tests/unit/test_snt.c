/* test_snt.c: the SNT stream reader and writer (docs/DESIGN.md §2): round trips of
 * every dtype and rank, header editing, half-precision conversions, and
 * every malformed input the reader must reject with record and offset. */
#include <stdlib.h>
#include <string.h>

#include "chunked.h"
#include "snt.h"
#include "test.h"
#include "util.h"

/* Write records into a memory stream, hand back the bytes. */
static char *write_stream(size_t *len, void (*fill)(struct snt_writer *))
{
	char *buf = NULL;
	FILE *fp = open_memstream(&buf, len);
	struct snt_writer *w = snt_writer_from_fp(fp, "mem");
	fill(w);
	snt_writer_close(w);
	fclose(fp);
	return buf;
}

static struct snt_reader *reader_on(const void *buf, size_t len)
{
	FILE *fp = fmemopen((void *)buf, len, "rb");
	struct snt_reader *r = snt_reader_from_fp(fp, "mem");
	r->owns_fp = 1;
	return r;
}

static void fill_all_dtypes(struct snt_writer *w)
{
	for (int d = 0; d < SNT_NDTYPES; d++)
		for (int rank = 0; rank <= SNT_MAX_RANK; rank++) {
			struct snt_header h;
			int64_t shape[SNT_MAX_RANK];
			snt_header_init(&h);
			snt_header_set_dtype(&h, d);
			for (int i = 0; i < rank; i++)
				shape[i] = 1 + (i + d) % 3;
			snt_header_set_shape(&h, rank, shape);
			snt_header_setf(&h, "name", "d%d_r%d", d, rank);
			snt_header_set(&h, "zz_unknown", "kept as is = with spaces");
			uint64_t n = snt_payload_bytes(&h);
			unsigned char *p = xmalloc(n);
			for (uint64_t i = 0; i < n; i++)
				p[i] = (unsigned char)(i * 7 + d + rank);
			snt_write_header(w, &h);
			snt_write_payload(w, p, n / 2);	/* payloads may arrive in parts */
			snt_write_payload(w, p + n / 2, n - n / 2);
			free(p);
			snt_header_free(&h);
		}
}

static void test_roundtrip_every_dtype_and_rank(void)
{
	size_t len;
	char *buf = write_stream(&len, fill_all_dtypes);
	struct snt_reader *r = reader_on(buf, len);
	struct snt_header h;
	snt_header_init(&h);
	int count = 0;
	for (int d = 0; d < SNT_NDTYPES; d++)
		for (int rank = 0; rank <= SNT_MAX_RANK; rank++) {
			int rc = snt_read_header(r, &h);
			CHECK(rc == 1, "record %d: rc %d: %s", count, rc, r->err);
			if (rc != 1)
				return;
			CHECK(h.dtype == (enum snt_dtype)d && h.rank == rank, "dtype %d rank %d", h.dtype, h.rank);
			char name[32];
			snprintf(name, sizeof name, "d%d_r%d", d, rank);
			CHECK(!strcmp(snt_header_get(&h, "name"), name), "name %s", snt_header_get(&h, "name"));
			CHECK(!strcmp(snt_header_get(&h, "zz_unknown"), "kept as is = with spaces"), "unknown key");
			CHECK(!strcmp(h.kv[0].key, "dtype") && !strcmp(h.kv[1].key, "shape"), "key order");
			uint64_t n = snt_payload_bytes(&h);
			unsigned char *p = xmalloc(n);
			CHECK(snt_read_payload(r, &h, p) == 0, "%s", r->err);
			int same = 1;
			for (uint64_t i = 0; i < n; i++)
				same &= p[i] == (unsigned char)(i * 7 + d + rank);
			CHECK(same, "payload of dtype %d rank %d differs", d, rank);
			free(p);
			count++;
		}
	CHECK(snt_read_header(r, &h) == 0, "clean end of stream expected");
	snt_header_free(&h);
	snt_reader_close(r);
	free(buf);
}

static void test_header_editing(void)
{
	struct snt_header h, g;
	snt_header_init(&h);
	snt_header_init(&g);
	CHECK(snt_header_set(&h, "sr", "44100") == 0, "set");
	CHECK(snt_header_set(&h, "Bad", "x") == -1, "uppercase key refused");
	CHECK(snt_header_set(&h, "9a", "x") == -1, "leading digit refused");
	CHECK(snt_header_set(&h, "a", "x\ny") == -1, "newline in value refused");
	CHECK(snt_header_set(&h, "shape", "2,0") == -1, "zero dimension refused");
	CHECK(snt_header_set(&h, "shape", "1,2,3,4,5,6,7,8,9") == -1, "rank 9 refused");
	CHECK(snt_header_set(&h, "dtype", "f64") == -1, "unknown dtype refused");
	snt_header_set(&h, "track", "A");
	snt_header_set(&h, "sr", "48000");	/* replaced in place */
	CHECK(h.nkv == 2 && !strcmp(h.kv[0].key, "sr") && !strcmp(h.kv[0].val, "48000"), "in place");
	snt_header_copy(&g, &h);
	snt_header_del(&g, "sr");
	CHECK(g.nkv == 1 && !snt_header_get(&g, "sr") && snt_header_get(&h, "sr"), "copy is deep");
	int64_t shape[] = { 2, 3 };
	snt_header_set_shape(&h, 2, shape);
	CHECK(snt_numel(&h) == 6 && !strcmp(snt_header_get(&h, "shape"), "2,3"), "shape");
	snt_header_free(&h);
	snt_header_free(&g);
}

static void test_half_precision(void)
{
	float values[] = { 0.0f, -0.0f, 1.0f, -2.5f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f,
			   3.14159265f, 1e-3f };
	for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
		float v = values[i];
		float h = snt_f16_to_f32(snt_f32_to_f16(v));
		CHECK(fabsf(h - v) <= fabsf(v) * 0x1p-11f, "f16 %g -> %g", v, h);
		float b = snt_bf16_to_f32(snt_f32_to_bf16(v));
		CHECK(fabsf(b - v) <= fabsf(v) * 0x1p-8f, "bf16 %g -> %g", v, b);
	}
	CHECK(snt_f32_to_f16(65520.0f) == 0x7c00, "overflow to inf");
	CHECK(snt_f32_to_f16(1.0f + 0x1p-11f) == 0x3c00, "ties to even (down)");
	CHECK(snt_f32_to_f16(1.0f + 3 * 0x1p-11f) == 0x3c02, "ties to even (up)");
	CHECK(isnan(snt_f16_to_f32(snt_f32_to_f16(NAN))), "nan stays nan");
	CHECK(isnan(snt_bf16_to_f32(snt_f32_to_bf16(NAN))), "bf16 nan stays nan");
	/* every f16 value converts to f32 and back unchanged */
	int same = 1;
	for (uint32_t x = 0; x < 0x10000; x++)
		if ((x & 0x7c00) != 0x7c00 || !(x & 0x3ff))
			same &= snt_f32_to_f16(snt_f16_to_f32(x)) == x;
	CHECK(same, "f16 -> f32 -> f16 identity");
}

/* A raw record: magic, header text padded to 64, payload bytes. */
static size_t raw_record(char *out, const char *magic, const char *text, size_t payload)
{
	size_t hl = strlen(text);
	while ((8 + hl) % 64)
		hl++;
	memcpy(out, magic, 4);
	out[4] = hl & 255, out[5] = hl >> 8 & 255, out[6] = hl >> 16 & 255, out[7] = hl >> 24 & 255;
	memset(out + 8, '\n', hl);
	memcpy(out + 8, text, strlen(text));
	memset(out + 8 + hl, 0, payload);
	return 8 + hl + payload;
}

/* Expect the second record to fail with a message containing want. */
static void expect_error(const char *label, const char *stream, size_t len, const char *want)
{
	struct snt_reader *r = reader_on(stream, len);
	struct snt_header h;
	snt_header_init(&h);
	int rc;
	while ((rc = snt_read_header(r, &h)) == 1)
		if ((rc = snt_skip_payload(r)) < 0)
			break;
	CHECK(rc < 0, "%s: accepted", label);
	CHECK(strstr(r->err, want) != NULL, "%s: message '%s' lacks '%s'", label, r->err, want);
	CHECK(strstr(r->err, "mem: record 1 at byte") != NULL, "%s: message '%s' names no record/offset",
	      label, r->err);
	snt_header_free(&h);
	snt_reader_close(r);
}

static void test_malformed(void)
{
	static char buf[8192];
	size_t good = raw_record(buf, "SNT1", "dtype=f32\nshape=2\n", 8), n;
	struct {
		const char *label, *magic, *text;
		size_t payload, cut;
		const char *want;
	} cases[] = {
		{ "wrong magic", "SNT2", "dtype=f32\nshape=2\n", 8, 0, "bad magic" },
		{ "no dtype", "SNT1", "shape=2\n", 8, 0, "no dtype" },
		{ "no shape", "SNT1", "dtype=f32\n", 8, 0, "no shape" },
		{ "bad dtype", "SNT1", "dtype=f64\nshape=2\n", 8, 0, "malformed dtype" },
		{ "bad shape", "SNT1", "dtype=f32\nshape=2,x\n", 8, 0, "malformed shape" },
		{ "zero dim", "SNT1", "dtype=f32\nshape=0\n", 0, 0, "malformed shape" },
		{ "duplicate", "SNT1", "dtype=f32\nshape=2\nsr=1\nsr=2\n", 8, 0, "duplicate" },
		{ "bad key", "SNT1", "dtype=f32\nshape=2\nSR=1\n", 8, 0, "invalid header key" },
		{ "no equals", "SNT1", "dtype=f32\nshape=2\njunk\n", 8, 0, "without '='" },
		{ "huge", "SNT1", "dtype=c64\nshape=1099511627776,2\n", 0, 0, "2^40" },
		{ "truncated payload", "SNT1", "dtype=f32\nshape=4\n", 16, 5, "inside the payload" },
		{ "truncated header", "SNT1", "dtype=f32\nshape=4\n", 16, 40, "inside a record header" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		n = good + raw_record(buf + good, cases[i].magic, cases[i].text, cases[i].payload);
		expect_error(cases[i].label, buf, n - cases[i].cut, cases[i].want);
	}
	/* header length beyond the limit, and one that does not pad to 64 */
	n = good + raw_record(buf + good, "SNT1", "dtype=f32\nshape=2\n", 8);
	buf[good + 4] = 0, buf[good + 5] = 0, buf[good + 6] = 2;	/* 131072 */
	expect_error("over-long header", buf, n, "exceeds");
	n = good + raw_record(buf + good, "SNT1", "dtype=f32\nshape=2\n", 8);
	buf[good + 4] = 57;
	expect_error("unaligned header", buf, n, "multiple of 64");
	/* a stream cut inside the 8-byte preamble */
	n = good + raw_record(buf + good, "SNT1", "dtype=f32\nshape=2\n", 8);
	expect_error("cut preamble", buf, good + 3, "inside a record header");
}

static void test_empty_stream_is_clean_end(void)
{
	struct snt_reader *r = reader_on("", 0);
	struct snt_header h;
	snt_header_init(&h);
	CHECK(snt_read_header(r, &h) == 0, "empty stream: no records, no error");
	snt_reader_close(r);
}

static void test_prefix_reader(void)
{
	static char buf[256];
	size_t n = raw_record(buf, "SNT1", "dtype=u8\nshape=3\nsr=8000\n", 3);
	buf[n - 1] = 42;
	struct snt_reader *r = reader_on(buf + 4, n - 4);	/* caller peeked 4 bytes */
	struct snt_reader *p = snt_reader_from_fp_prefix(r->fp, "mem", buf, 4);
	struct snt_header h;
	unsigned char out[3];
	snt_header_init(&h);
	CHECK(snt_read_header(p, &h) == 1, "%s", p->err);
	CHECK(!strcmp(snt_header_get(&h, "sr"), "8000"), "sr");
	CHECK(snt_read_payload(p, &h, out) == 0 && out[2] == 42, "payload");
	CHECK(p->offset == n, "offset %llu", (unsigned long long)p->offset);
	snt_header_free(&h);
	snt_reader_close(p);
	snt_reader_close(r);
}

/* a header of shape [2, n] with the given extra keys ("k=v k=v") */
static void chunk_header(struct snt_header *h, int64_t n, const char *keys)
{
	snt_header_free(h);
	snt_header_init(h);
	snt_header_set_dtype(h, SNT_F32);
	snt_header_set_shape(h, 2, (int64_t[]){ 2, n });
	char *copy = xstrdup(keys), *save = NULL;
	for (char *kv = strtok_r(copy, " ", &save); kv; kv = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(kv, '=');
		*eq = 0;
		if (!strcmp(kv, "rows"))	// the leading axis, not a key
			snt_header_set_shape(h, 2, (int64_t[]){ strtoll(eq + 1, NULL, 10), n });
		else
			snt_header_set(h, kv, eq + 1);
	}
	free(copy);
}

/* The order of chunk records: accepted in order, each fault named. */
static void test_chunk_seq(void)
{
	static const struct {
		const char *records[4];	/* "n|keys" */
		int bad;		/* the record refused (1-based), or -1 at the end, 0 none */
		const char *why;	/* in the message */
	} cases[] = {
		{ { "5|track=a", "3|track=b chunk=0 offset=0 total=7", "4|track=b chunk=1 offset=3 last=1" }, 0, "" },
		{ { "3|track=b chunk=0 offset=0", "4|track=b chunk=1 offset=3 last=1", "2|track=c" }, 0, "" },
		{ { "3|track=b chunk=0 offset=0", "4|track=b chunk=2 offset=3 last=1" }, 2, "expected chunk=1" },
		{ { "3|track=b chunk=0 offset=0", "4|track=b chunk=1 offset=2 last=1" }, 2, "offset=3" },
		{ { "3|track=b chunk=0 offset=0", "4|track=c chunk=1 offset=3 last=1" }, 2, "before its last" },
		{ { "3|track=b chunk=0 offset=0", "5|track=c" }, 2, "before its last" },
		{ { "3|track=b chunk=1 offset=3" }, 1, "starts at chunk=1" },
		{ { "3|track=b chunk=0 offset=0", "4|track=b chunk=1 offset=3" }, -1, "stream ends inside track 'b'" },
		{ { "3|track=b chunk=0 offset=0 total=9", "4|track=b chunk=1 offset=3 total=8" }, 2, "earlier chunk said 9" },
		{ { "3|track=b chunk=0 offset=0 total=6", "4|track=b chunk=1 offset=3 last=1" }, 2, "past total=6" },
		{ { "3|track=b chunk=0 offset=0 total=6 last=1" }, 1, "last chunk ends at 3" },
		{ { "3|track=b chunk=0" }, 1, "without offset=" },
		{ { "3|track=b chunk=x offset=0" }, 1, "malformed chunk=x" },
		{ { "3|track=b chunk=0 offset=0", "4|track=b chunk=1 offset=3 last=1 rows=1" }, 2,
		  "only the last axis may differ" },
	};
	struct snt_header h;
	snt_header_init(&h);
	for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
		struct chunk_seq q = { 0 };
		struct chunk_pos pos;
		char err[512] = "";
		int bad = 0;
		for (int i = 0; i < 4 && cases[k].records[i] && !bad; i++) {
			const char *rec = cases[k].records[i];
			int64_t n = strtoll(rec, NULL, 10);
			chunk_header(&h, n, strchr(rec, '|') + 1);
			if (chunk_seq_next(&q, &h, n, &pos, err, sizeof err))
				bad = i + 1;
		}
		if (!bad && chunk_seq_end(&q, err, sizeof err))
			bad = -1;
		CHECK(bad == cases[k].bad && strstr(err, cases[k].why), "case %zu: refused %d (%s)", k,
		      bad, err);
		chunk_seq_free(&q);
	}
	// a whole record's position; set and get again
	chunk_header(&h, 5, "track=a");
	struct chunk_pos pos, back;
	char err[512];
	CHECK(!chunk_pos_get(&h, &pos, err, sizeof err) && !pos.chunked && pos.total == 5 && pos.last,
	      "whole record");
	pos = (struct chunk_pos){ .chunked = true, .index = 2, .offset = 10, .total = 15, .last = true };
	chunk_pos_set(&h, &pos);
	CHECK(!chunk_pos_get(&h, &back, err, sizeof err) && back.chunked && back.index == 2 &&
	      back.offset == 10 && back.total == 15 && back.last, "set, get: %s", err);
	chunk_pos_set(&h, &(struct chunk_pos){ 0 });
	CHECK(!snt_header_get(&h, "chunk") && !snt_header_get(&h, "offset") &&
	      !snt_header_get(&h, "last") && !snt_header_get(&h, "total"), "keys removed");
	snt_header_free(&h);
}

int main(void)
{
	RUN(test_roundtrip_every_dtype_and_rank);
	RUN(test_header_editing);
	RUN(test_half_precision);
	RUN(test_malformed);
	RUN(test_empty_stream_is_clean_end);
	RUN(test_prefix_reader);
	RUN(test_chunk_seq);
	return test_summary();
}
