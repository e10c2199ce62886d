/* snt.h: the SNT tensor stream, version 1 (docs/DESIGN.md §2, man 5 snt).
 *
 * netpbm-style streaming API: open a stream, read a header, read (all at
 * once or in chunks) or skip its payload, repeat until snt_read_header()
 * returns 0 at a clean end of stream.  The writer takes a header (usually
 * a copy of an input header with a few keys edited) and then exactly
 * snt_payload_bytes() bytes of payload.
 *
 * Reader functions return 0 / 1 and leave a one-line message naming the
 * stream, record index and byte offset in snt_reader_error() on failure;
 * the _or_die wrappers used by tools print it and exit 1. */
#ifndef SEPNET_SNT_H
#define SEPNET_SNT_H

#include <stdint.h>
#include <stdio.h>
#include <sys/uio.h>

#define SNT_MAGIC "SNT1"
#define SNT_MAX_RANK 8
#define SNT_MAX_HEADER 65536
#define SNT_ALIGN 64
#define SNT_MAX_PAYLOAD ((uint64_t)1 << 40)

enum snt_dtype {
	SNT_F32,
	SNT_F16,
	SNT_BF16,
	SNT_S16,
	SNT_S32,
	SNT_U8,
	SNT_C64,	/* interleaved f32 real, imag */
	SNT_NDTYPES
};

struct snt_kv {
	char *key;
	char *val;
};

struct snt_header {
	enum snt_dtype dtype;
	int rank;
	int64_t shape[SNT_MAX_RANK];
	int nkv;		/* key/value pairs in stream order, dtype and shape included */
	int cap;
	struct snt_kv *kv;
};

size_t snt_dtype_size(enum snt_dtype d);
const char *snt_dtype_name(enum snt_dtype d);
int snt_dtype_parse(const char *s, enum snt_dtype *out);	/* 0 ok, -1 unknown */

/* Header construction and editing.  init gives dtype f32, a scalar shape,
 * and no keys.  set replaces a key's value in place or appends it; setting
 * "dtype" or "shape" parses and updates the typed fields (returns -1 if the
 * value is malformed).  Keys must match [a-z][a-z0-9_]*. */
void snt_header_init(struct snt_header *h);
void snt_header_free(struct snt_header *h);
void snt_header_copy(struct snt_header *dst, const struct snt_header *src);
const char *snt_header_get(const struct snt_header *h, const char *key);
/* FNV-1a over every key and value in order: a fingerprint of the header
 * that does not depend on where the record sits in a stream. */
uint64_t snt_header_hash(const struct snt_header *h);
int snt_header_set(struct snt_header *h, const char *key, const char *val);
void snt_header_setf(struct snt_header *h, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void snt_header_del(struct snt_header *h, const char *key);
void snt_header_set_dtype(struct snt_header *h, enum snt_dtype d);
void snt_header_set_shape(struct snt_header *h, int rank, const int64_t *shape);
int64_t snt_numel(const struct snt_header *h);
uint64_t snt_payload_bytes(const struct snt_header *h);
/* "2,2049,431" into buf; returns buf */
char *snt_shape_string(const struct snt_header *h, char *buf, size_t len);
/* Parse a header text (the H bytes after the length) into h. */
int snt_header_parse(struct snt_header *h, const char *text, size_t len, char *err, size_t errlen);

/* ---- reading ---- */
struct snt_reader {
	FILE *fp;
	char *name;		/* file name or "<stdin>" for messages */
	int64_t record;		/* index of the current record, from 0 */
	uint64_t offset;	/* byte offset of the next read */
	uint64_t record_offset;	/* byte offset where the current record began */
	uint64_t remaining;	/* payload bytes of the current record not yet read */
	int owns_fp;
	unsigned char prefix[8];	/* bytes already taken from fp by a caller's peek */
	int nprefix, prefix_pos;
	char err[512];
};

/* path NULL or "-" reads stdin.  NULL with a message from errno on failure. */
struct snt_reader *snt_reader_open(const char *path);
struct snt_reader *snt_reader_from_fp(FILE *fp, const char *name);
/* The same when the caller already read the first n <= 8 bytes of fp (to
 * tell an SNT stream from an audio file by its magic). */
struct snt_reader *snt_reader_from_fp_prefix(FILE *fp, const char *name,
					     const void *prefix, int n);
void snt_reader_close(struct snt_reader *r);

/* 1: a header was read; 0: clean end of stream; -1: error (r->err).
 * Any unread payload of the previous record is skipped first. */
int snt_read_header(struct snt_reader *r, struct snt_header *h);
/* Read the next len bytes of the current payload (len <= remaining). */
int snt_read_payload_part(struct snt_reader *r, void *buf, uint64_t len);
int snt_read_payload(struct snt_reader *r, const struct snt_header *h, void *buf);
int snt_skip_payload(struct snt_reader *r);

int snt_read_header_or_die(struct snt_reader *r, struct snt_header *h);
void snt_read_payload_or_die(struct snt_reader *r, const struct snt_header *h, void *buf);
void snt_read_payload_part_or_die(struct snt_reader *r, void *buf, uint64_t len);
/* Read a whole payload into a fresh buffer (caller frees). */
void *snt_read_payload_alloc_or_die(struct snt_reader *r, const struct snt_header *h);

/* ---- writing ---- */
struct snt_writer {
	FILE *fp;
	char *name;
	uint64_t remaining;	/* payload bytes the current record still expects */
	int owns_fp;
};

/* path NULL or "-" writes stdout (refusing a terminal). */
struct snt_writer *snt_writer_open(const char *path);
struct snt_writer *snt_writer_from_fp(FILE *fp, const char *name);
/* Flushes and closes; dies on a write error.  Dies if a payload is short. */
void snt_writer_close(struct snt_writer *w);
void snt_write_header(struct snt_writer *w, const struct snt_header *h);
void snt_write_payload(struct snt_writer *w, const void *buf, uint64_t len);
/* The n pieces iov[0 .. n) in order, written from where they are (writev on
 * the stream's descriptor, after flushing it): no copy.  iov is consumed
 * (its entries changed by short writes). */
void snt_write_payloadv(struct snt_writer *w, struct iovec *iov, int n);
/* A payload's pieces gathered for snt_write_payloadv and written
 * SNT_ROWV (IOV_MAX) at a time as they come, each from where it lies
 * until then (rows of a window: no record-sized copy).  Set w, add the
 * pieces in order, flush after the last. */
#define SNT_ROWV 1024
struct snt_rowv {
	struct snt_writer *w;
	int n;
	struct iovec iov[SNT_ROWV];
};
void snt_rowv_add(struct snt_rowv *v, const void *p, size_t bytes);
void snt_rowv_flush(struct snt_rowv *v);
/* snt_rowv_add of n complex floats, in the shape of a take's put
 * (separator_take_rows, stft_stream_take_rows), rowv the struct snt_rowv. */
void snt_rowv_put_c64(void *rowv, const float *values, int64_t n);

/* Little-endian conversions for dtypes wider than a byte are identity on
 * x86-64 and ARM64; the code assumes a little-endian host (checked at
 * compile time in snt.c). */

/* half precision helpers (round to nearest even) */
float snt_f16_to_f32(uint16_t h);
uint16_t snt_f32_to_f16(float f);
float snt_bf16_to_f32(uint16_t h);
uint16_t snt_f32_to_bf16(float f);

#endif
