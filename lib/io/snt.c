/* snt.c: reader and writer of the SNT tensor stream (docs/DESIGN.md §2).
 *
 * The reader never seeks, so pipes and files behave the same; it tracks
 * the record index and byte offset so every error can name both. */
#include "snt.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "sepnet assumes a little-endian host"
#endif

static const struct {
	const char *name;
	size_t size;
} dtypes[SNT_NDTYPES] = {
	[SNT_F32] = { "f32", 4 },
	[SNT_F16] = { "f16", 2 },
	[SNT_BF16] = { "bf16", 2 },
	[SNT_S16] = { "s16", 2 },
	[SNT_S32] = { "s32", 4 },
	[SNT_U8] = { "u8", 1 },
	[SNT_C64] = { "c64", 8 },
};

size_t snt_dtype_size(enum snt_dtype d) { return dtypes[d].size; }
const char *snt_dtype_name(enum snt_dtype d) { return dtypes[d].name; }

int snt_dtype_parse(const char *s, enum snt_dtype *out)
{
	for (int i = 0; i < SNT_NDTYPES; i++)
		if (!strcmp(s, dtypes[i].name)) {
			*out = i;
			return 0;
		}
	return -1;
}

/* ---- header ---- */

void snt_header_init(struct snt_header *h)
{
	memset(h, 0, sizeof *h);
	h->dtype = SNT_F32;
}

void snt_header_free(struct snt_header *h)
{
	for (int i = 0; i < h->nkv; i++) {
		free(h->kv[i].key);
		free(h->kv[i].val);
	}
	free(h->kv);
	snt_header_init(h);
}

void snt_header_copy(struct snt_header *dst, const struct snt_header *src)
{
	if (dst == src)
		return;
	snt_header_free(dst);
	dst->dtype = src->dtype;
	dst->rank = src->rank;
	memcpy(dst->shape, src->shape, sizeof dst->shape);
	dst->cap = dst->nkv = src->nkv;
	dst->kv = xcalloc(src->nkv, sizeof *dst->kv);
	for (int i = 0; i < src->nkv; i++) {
		dst->kv[i].key = xstrdup(src->kv[i].key);
		dst->kv[i].val = xstrdup(src->kv[i].val);
	}
}

static int find_key(const struct snt_header *h, const char *key)
{
	for (int i = 0; i < h->nkv; i++)
		if (!strcmp(h->kv[i].key, key))
			return i;
	return -1;
}

const char *snt_header_get(const struct snt_header *h, const char *key)
{
	int i = find_key(h, key);
	return i < 0 ? NULL : h->kv[i].val;
}

static int valid_key(const char *k)
{
	if (!*k || !islower((unsigned char)*k))
		return 0;
	for (k++; *k; k++)
		if (!islower((unsigned char)*k) && !isdigit((unsigned char)*k) && *k != '_')
			return 0;
	return 1;
}

static int valid_value(const char *v)
{
	for (; *v; v++)
		if ((unsigned char)*v < 0x20 || *v == 0x7f)
			return 0;
	return 1;
}

static int parse_shape(const char *s, int *rank, int64_t *shape)
{
	int r = 0;
	if (!*s) {
		*rank = 0;
		return 0;
	}
	for (;;) {
		if (r == SNT_MAX_RANK || !isdigit((unsigned char)*s))
			return -1;
		char *end;
		errno = 0;
		unsigned long long v = strtoull(s, &end, 10);
		if (errno || v == 0 || v > ((uint64_t)1 << 40))
			return -1;
		shape[r++] = (int64_t)v;
		if (!*end)
			break;
		if (*end != ',')
			return -1;
		s = end + 1;
	}
	*rank = r;
	return 0;
}

/* Store key=val without interpreting it. */
static void set_raw(struct snt_header *h, const char *key, const char *val)
{
	int i = find_key(h, key);
	if (i >= 0) {
		free(h->kv[i].val);
		h->kv[i].val = xstrdup(val);
		return;
	}
	if (h->nkv == h->cap) {
		h->cap = h->cap ? 2 * h->cap : 8;
		h->kv = xrealloc(h->kv, h->cap * sizeof *h->kv);
	}
	h->kv[h->nkv].key = xstrdup(key);
	h->kv[h->nkv].val = xstrdup(val);
	h->nkv++;
}

int snt_header_set(struct snt_header *h, const char *key, const char *val)
{
	if (!valid_key(key) || !valid_value(val))
		return -1;
	if (!strcmp(key, "dtype")) {
		enum snt_dtype d;
		if (snt_dtype_parse(val, &d))
			return -1;
		h->dtype = d;
	} else if (!strcmp(key, "shape")) {
		int rank;
		int64_t shape[SNT_MAX_RANK];
		if (parse_shape(val, &rank, shape))
			return -1;
		h->rank = rank;
		memcpy(h->shape, shape, sizeof shape);
	}
	set_raw(h, key, val);
	return 0;
}

void snt_header_setf(struct snt_header *h, const char *key, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (snt_header_set(h, key, buf))
		die("invalid stream header entry %s=%s", key, buf);
}

void snt_header_del(struct snt_header *h, const char *key)
{
	int i = find_key(h, key);
	if (i < 0)
		return;
	free(h->kv[i].key);
	free(h->kv[i].val);
	memmove(h->kv + i, h->kv + i + 1, (h->nkv - i - 1) * sizeof *h->kv);
	h->nkv--;
}

void snt_header_set_dtype(struct snt_header *h, enum snt_dtype d)
{
	h->dtype = d;
	set_raw(h, "dtype", dtypes[d].name);
}

char *snt_shape_string(const struct snt_header *h, char *buf, size_t len)
{
	size_t n = 0;
	buf[0] = 0;
	for (int i = 0; i < h->rank && n < len; i++)
		n += snprintf(buf + n, len - n, "%s%" PRId64, i ? "," : "", h->shape[i]);
	return buf;
}

void snt_header_set_shape(struct snt_header *h, int rank, const int64_t *shape)
{
	char buf[256];
	if (rank < 0 || rank > SNT_MAX_RANK)
		die("tensor rank %d out of range", rank);
	h->rank = rank;
	for (int i = 0; i < rank; i++)
		h->shape[i] = shape[i];
	set_raw(h, "shape", snt_shape_string(h, buf, sizeof buf));
}

int64_t snt_numel(const struct snt_header *h)
{
	int64_t n = 1;
	for (int i = 0; i < h->rank; i++)
		n *= h->shape[i];
	return n;
}

/* Payload size, or UINT64_MAX when it exceeds SNT_MAX_PAYLOAD. */
uint64_t snt_payload_bytes(const struct snt_header *h)
{
	uint64_t n = dtypes[h->dtype].size;
	for (int i = 0; i < h->rank; i++) {
		if ((uint64_t)h->shape[i] > SNT_MAX_PAYLOAD / n)
			return UINT64_MAX;
		n *= (uint64_t)h->shape[i];
	}
	return n > SNT_MAX_PAYLOAD ? UINT64_MAX : n;
}

int snt_header_parse(struct snt_header *h, const char *text, size_t len, char *err, size_t errlen)
{
	snt_header_free(h);
	int have_dtype = 0, have_shape = 0;
	size_t pos = 0;
	while (pos < len) {
		if (text[pos] == '\n') {	/* padding: only newlines may follow */
			for (; pos < len; pos++)
				if (text[pos] != '\n') {
					snprintf(err, errlen, "text after header padding");
					return -1;
				}
			break;
		}
		const char *nl = memchr(text + pos, '\n', len - pos);
		if (!nl) {
			snprintf(err, errlen, "unterminated header line");
			return -1;
		}
		size_t ll = nl - (text + pos);
		char *line = xmalloc(ll + 1);
		memcpy(line, text + pos, ll);
		line[ll] = 0;
		pos += ll + 1;
		if (memchr(text + pos - ll - 1, 0, ll)) {
			snprintf(err, errlen, "NUL byte in header");
			free(line);
			return -1;
		}
		char *eq = strchr(line, '=');
		if (!eq) {
			snprintf(err, errlen, "header line without '=': \"%.40s\"", line);
			free(line);
			return -1;
		}
		*eq = 0;
		const char *key = line, *val = eq + 1;
		int bad = 0;
		if (!valid_key(key)) {
			snprintf(err, errlen, "invalid header key \"%.40s\"", key);
			bad = 1;
		} else if (find_key(h, key) >= 0) {
			snprintf(err, errlen, "duplicate header key \"%s\"", key);
			bad = 1;
		} else if (!valid_value(val)) {
			snprintf(err, errlen, "control character in the value of \"%s\"", key);
			bad = 1;
		} else if (snt_header_set(h, key, val)) {
			snprintf(err, errlen, "malformed %s \"%.40s\"", key, val);
			bad = 1;
		}
		have_dtype |= !strcmp(key, "dtype");
		have_shape |= !strcmp(key, "shape");
		free(line);
		if (bad)
			return -1;
	}
	if (!have_dtype || !have_shape) {
		snprintf(err, errlen, "header has no %s", have_dtype ? "shape" : "dtype");
		return -1;
	}
	if (snt_payload_bytes(h) == UINT64_MAX) {
		snprintf(err, errlen, "payload larger than 2^40 bytes");
		return -1;
	}
	return 0;
}

/* ---- reader ---- */

/* Records are megabytes: a 1 MiB pipe buffer (Linux's default is 64 KiB)
 * halves the context switches between the tools of a pipeline.  Failure
 * (not a pipe, or over the system limit) changes nothing. */
static void widen_pipe(FILE *fp)
{
#ifdef F_SETPIPE_SZ
	fcntl(fileno(fp), F_SETPIPE_SZ, 1 << 20);
#else
	(void)fp;
#endif
}

struct snt_reader *snt_reader_from_fp(FILE *fp, const char *name)
{
	widen_pipe(fp);
	struct snt_reader *r = xcalloc(1, sizeof *r);
	r->fp = fp;
	r->name = xstrdup(name);
	r->record = -1;
	return r;
}

struct snt_reader *snt_reader_from_fp_prefix(FILE *fp, const char *name,
					     const void *prefix, int n)
{
	struct snt_reader *r = snt_reader_from_fp(fp, name);
	if (n < 0 || n > (int)sizeof r->prefix)
		die("snt_reader_from_fp_prefix: prefix of %d bytes", n);
	memcpy(r->prefix, prefix, n);
	r->nprefix = n;
	return r;
}

struct snt_reader *snt_reader_open(const char *path)
{
	if (!path || !strcmp(path, "-"))
		return snt_reader_from_fp(stdin, "<stdin>");
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return NULL;
	struct snt_reader *r = snt_reader_from_fp(fp, path);
	r->owns_fp = 1;
	return r;
}

void snt_reader_close(struct snt_reader *r)
{
	if (!r)
		return;
	if (r->owns_fp)
		fclose(r->fp);
	free(r->name);
	free(r);
}

static int reader_error(struct snt_reader *r, uint64_t at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int reader_error(struct snt_reader *r, uint64_t at, const char *fmt, ...)
{
	char msg[300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(r->err, sizeof r->err, "%s: record %" PRId64 " at byte %" PRIu64 ": %s",
		 r->name, r->record < 0 ? 0 : r->record, at, msg);
	return -1;
}

/* Read exactly len bytes; returns bytes read (short only at EOF/error). */
static size_t read_full(struct snt_reader *r, void *buf, size_t len)
{
	size_t got = 0;
	for (; got < len && r->prefix_pos < r->nprefix; got++)
		((unsigned char *)buf)[got] = r->prefix[r->prefix_pos++];
	if (got < len)
		got += fread((char *)buf + got, 1, len - got, r->fp);
	r->offset += got;
	return got;
}

/* The stream ended (or failed) with r->remaining payload bytes unread. */
static int payload_short(struct snt_reader *r)
{
	if (ferror(r->fp))
		return reader_error(r, r->offset, "read error: %s", strerror(errno));
	return reader_error(r, r->offset, "stream ends inside the payload (%" PRIu64 " bytes missing)",
			    r->remaining);
}

int snt_skip_payload(struct snt_reader *r)
{
	char buf[65536];
	while (r->remaining) {
		size_t want = r->remaining < sizeof buf ? r->remaining : sizeof buf;
		size_t got = read_full(r, buf, want);
		r->remaining -= got;
		if (got < want)
			return payload_short(r);
	}
	return 0;
}

int snt_read_header(struct snt_reader *r, struct snt_header *h)
{
	if (r->remaining && snt_skip_payload(r))
		return -1;
	unsigned char pre[8];
	r->record++;
	r->record_offset = r->offset;
	size_t got = read_full(r, pre, 8);
	if (got == 0 && !ferror(r->fp))
		return 0;	/* clean end of stream */
	if (got < 8)
		return ferror(r->fp) ? reader_error(r, r->offset, "read error: %s", strerror(errno))
				     : reader_error(r, r->record_offset, "stream ends inside a record header");
	if (memcmp(pre, SNT_MAGIC, 4))
		return reader_error(r, r->record_offset, "bad magic (not an SNT stream)");
	uint32_t hl = pre[4] | pre[5] << 8 | pre[6] << 16 | (uint32_t)pre[7] << 24;
	if (hl > SNT_MAX_HEADER)
		return reader_error(r, r->record_offset, "header length %" PRIu32 " exceeds %d", hl, SNT_MAX_HEADER);
	if ((8 + hl) % SNT_ALIGN)
		return reader_error(r, r->record_offset, "header length %" PRIu32 " does not pad the record header to a multiple of %d bytes", hl, SNT_ALIGN);
	char *text = xmalloc(hl + 1);
	got = read_full(r, text, hl);
	if (got < hl) {
		free(text);
		return reader_error(r, r->record_offset, "stream ends inside a record header");
	}
	char msg[200];
	int rc = snt_header_parse(h, text, hl, msg, sizeof msg);
	free(text);
	if (rc)
		return reader_error(r, r->record_offset, "%s", msg);
	r->remaining = snt_payload_bytes(h);
	return 1;
}

int snt_read_payload_part(struct snt_reader *r, void *buf, uint64_t len)
{
	if (len > r->remaining)
		return reader_error(r, r->offset, "read of %" PRIu64 " bytes past the payload end", len);
	uint64_t got = read_full(r, buf, len);
	r->remaining -= got;
	return got < len ? payload_short(r) : 0;
}

int snt_read_payload(struct snt_reader *r, const struct snt_header *h, void *buf)
{
	uint64_t n = snt_payload_bytes(h);
	if (n != r->remaining)
		return reader_error(r, r->offset, "payload of %" PRIu64 " bytes already partly read", n);
	return snt_read_payload_part(r, buf, n);
}

int snt_read_header_or_die(struct snt_reader *r, struct snt_header *h)
{
	int rc = snt_read_header(r, h);
	if (rc < 0)
		die("%s", r->err);
	return rc;
}

void snt_read_payload_or_die(struct snt_reader *r, const struct snt_header *h, void *buf)
{
	if (snt_read_payload(r, h, buf))
		die("%s", r->err);
}

void snt_read_payload_part_or_die(struct snt_reader *r, void *buf, uint64_t len)
{
	if (snt_read_payload_part(r, buf, len))
		die("%s", r->err);
}

void *snt_read_payload_alloc_or_die(struct snt_reader *r, const struct snt_header *h)
{
	void *buf = xmalloc_big(snt_payload_bytes(h));
	snt_read_payload_or_die(r, h, buf);
	return buf;
}

/* ---- writer ---- */

struct snt_writer *snt_writer_from_fp(FILE *fp, const char *name)
{
	widen_pipe(fp);
	struct snt_writer *w = xcalloc(1, sizeof *w);
	w->fp = fp;
	w->name = xstrdup(name);
	return w;
}

struct snt_writer *snt_writer_open(const char *path)
{
	if (!path || !strcmp(path, "-")) {
		refuse_tty_stdout();
		return snt_writer_from_fp(stdout, "standard output");
	}
	FILE *fp = fopen(path, "wb");
	if (!fp)
		die("%s:", path);
	struct snt_writer *w = snt_writer_from_fp(fp, path);
	w->owns_fp = 1;
	return w;
}

void snt_writer_close(struct snt_writer *w)
{
	if (!w)
		return;
	if (w->remaining)
		die("%s: record payload short by %" PRIu64 " bytes", w->name, w->remaining);
	if (fflush(w->fp) == EOF)
		die_write(w->name);
	if (w->owns_fp && fclose(w->fp) == EOF)
		die_write(w->name);
	free(w->name);
	free(w);
}

static void write_all(struct snt_writer *w, const void *buf, size_t len)
{
	if (len && fwrite(buf, 1, len, w->fp) != len)
		die_write(w->name);
}

void snt_write_header(struct snt_writer *w, const struct snt_header *h)
{
	if (w->remaining)
		die("%s: new record before the previous payload was complete", w->name);
	if (snt_payload_bytes(h) == UINT64_MAX)
		die("%s: record payload larger than 2^40 bytes", w->name);
	/* dtype and shape come from the typed fields, first when absent */
	char shape[256];
	snt_shape_string(h, shape, sizeof shape);
	size_t cap = 256, len = 0;
	char *text = xmalloc(cap);
	for (int i = -2; i < h->nkv; i++) {
		const char *k, *v;
		if (i == -2) {
			if (find_key(h, "dtype") >= 0)
				continue;
			k = "dtype", v = dtypes[h->dtype].name;
		} else if (i == -1) {
			if (find_key(h, "shape") >= 0)
				continue;
			k = "shape", v = shape;
		} else {
			k = h->kv[i].key, v = h->kv[i].val;
			if (!strcmp(k, "dtype"))
				v = dtypes[h->dtype].name;
			else if (!strcmp(k, "shape"))
				v = shape;
		}
		size_t need = strlen(k) + strlen(v) + 2;
		while (len + need + SNT_ALIGN + 1 > cap)
			text = xrealloc(text, cap *= 2);
		len += sprintf(text + len, "%s=%s\n", k, v);
	}
	while ((8 + len) % SNT_ALIGN)
		text[len++] = '\n';
	if (len > SNT_MAX_HEADER)
		die("%s: record header longer than %d bytes", w->name, SNT_MAX_HEADER);
	unsigned char pre[8] = { 'S', 'N', 'T', '1', len & 255, len >> 8 & 255, len >> 16 & 255, len >> 24 & 255 };
	write_all(w, pre, 8);
	write_all(w, text, len);
	free(text);
	w->remaining = snt_payload_bytes(h);
}

void snt_write_payload(struct snt_writer *w, const void *buf, uint64_t len)
{
	if (len > w->remaining)
		die("%s: %" PRIu64 " payload bytes written past the record end", w->name, len - w->remaining);
	write_all(w, buf, len);
	w->remaining -= len;
}

void snt_write_payloadv(struct snt_writer *w, struct iovec *iov, int n)
{
	uint64_t len = 0;
	for (int i = 0; i < n; i++)
		len += iov[i].iov_len;
	if (len > w->remaining)
		die("%s: %" PRIu64 " payload bytes written past the record end", w->name, len - w->remaining);
	// the stream's buffer first, then the pieces straight from the
	// caller's memory to the descriptor
	if (fflush(w->fp) == EOF)
		die_write(w->name);
	int fd = fileno(w->fp);
	while (n > 0) {
		ssize_t got = writev(fd, iov, n < IOV_MAX ? n : IOV_MAX);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {	// nothing written of a nonempty piece: an error
			if (got == 0)
				errno = EIO;
			die_write(w->name);
		}
		for (; n > 0 && (size_t)got >= iov->iov_len; iov++, n--)	// written whole
			got -= (ssize_t)iov->iov_len;
		if (n > 0) {	// a short write: the rest of this piece next
			iov->iov_base = (char *)iov->iov_base + got;
			iov->iov_len -= (size_t)got;
		}
	}
	w->remaining -= len;
}

void snt_rowv_add(struct snt_rowv *v, const void *p, size_t bytes)
{
	if (v->n == SNT_ROWV)
		snt_rowv_flush(v);
	v->iov[v->n++] = (struct iovec){ (void *)(uintptr_t)p, bytes };
}

void snt_rowv_put_c64(void *rowv, const float *values, int64_t n)
{
	snt_rowv_add(rowv, values, (size_t)n * 2 * sizeof(float));
}

void snt_rowv_flush(struct snt_rowv *v)
{
	snt_write_payloadv(v->w, v->iov, v->n);
	v->n = 0;
}

/* ---- half precision ---- */

float snt_f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = h >> 10 & 0x1f, man = h & 0x3ff, bits;
	if (exp == 0x1f)
		bits = sign | 0x7f800000 | man << 13;		/* inf, nan */
	else if (exp)
		bits = sign | (exp + 112) << 23 | man << 13;	/* normal */
	else if (man) {						/* subnormal */
		int e = -1;
		do {
			e++;
			man <<= 1;
		} while (!(man & 0x400));
		bits = sign | (uint32_t)(112 - e) << 23 | (man & 0x3ff) << 13;
	} else
		bits = sign;
	float f;
	memcpy(&f, &bits, 4);
	return f;
}

uint16_t snt_f32_to_f16(float f)
{
	uint32_t x;
	memcpy(&x, &f, 4);
	uint32_t sign = x >> 16 & 0x8000;
	int32_t exp = (x >> 23 & 0xff) - 127 + 15;
	uint32_t man = x & 0x7fffff;
	if ((x & 0x7fffffff) > 0x7f800000)
		return sign | 0x7e00;				/* nan */
	if (exp >= 0x1f)
		return sign | 0x7c00;				/* overflow to inf */
	if (exp <= 0) {						/* subnormal or zero */
		if (exp < -10)
			return sign;
		man |= 0x800000;
		int shift = 14 - exp;
		uint32_t half = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
		if (rem > mid || (rem == mid && (half & 1)))
			half++;
		return sign | half;
	}
	uint32_t half = sign | exp << 10 | man >> 13, rem = man & 0x1fff;
	if (rem > 0x1000 || (rem == 0x1000 && (half & 1)))
		half++;						/* may carry into inf: correct */
	return half;
}

float snt_bf16_to_f32(uint16_t h)
{
	uint32_t bits = (uint32_t)h << 16;
	float f;
	memcpy(&f, &bits, 4);
	return f;
}

uint16_t snt_f32_to_bf16(float f)
{
	uint32_t x;
	memcpy(&x, &f, 4);
	if ((x & 0x7fffffff) > 0x7f800000)
		return (x >> 16) | 0x40;			/* keep nan a nan */
	x += 0x7fff + (x >> 16 & 1);				/* round to nearest even */
	return x >> 16;
}

uint64_t snt_header_hash(const struct snt_header *h)
{
	uint64_t x = 0xcbf29ce484222325ULL;
	for (int i = 0; i < h->nkv; i++)
		for (int part = 0; part < 2; part++) {
			const char *p = part ? h->kv[i].val : h->kv[i].key;
			for (; *p; p++)
				x = (x ^ (unsigned char)*p) * 0x100000001b3ULL;
			x = (x ^ (part ? '\n' : '=')) * 0x100000001b3ULL;
		}
	return x;
}
