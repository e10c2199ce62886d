/* safetensors.h: read and write safetensors files (checkpoints, docs/DESIGN.md §8).
 *
 * The format (https://github.com/huggingface/safetensors):
 *
 *   u64 LE   N = length of the JSON header
 *   N bytes  {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [b, e]},
 *             ..., "__metadata__": {"key": "value", ...}}
 *            padded with spaces (our writer: so that 8 + N is a multiple of 8)
 *   buffer   each tensor's bytes at [b, e) of the buffer, little-endian, C order
 *
 * Reader: the whole header is validated before anything is returned (length,
 * JSON, known dtype, shape × dtype size == e − b, offsets inside the buffer,
 * the tensors tiling the buffer with no overlap and no gap — as the reference
 * Rust reader demands —, no duplicate names, metadata values are strings).
 * Every error is one line naming the file and, where there is one, the
 * tensor or key.  Fallible functions return 0 on success and -1 on error with
 * the message in err[errlen]; the _or_die variants die() with it instead.
 *
 * Writer: collect tensors (pointers, not copies) and metadata, then write the
 * file atomically (temporary name, fsync, rename; lib/util.h atomic_*).  f32
 * data may be stored as F16 or BF16, rounded to nearest even.
 *
 * Checkpoints: parameters live in one flat f32 buffer with a table of named
 * views (llm.c style); safetensors_writer_add_views() and
 * safetensors_read_views() move a whole table, optionally under a name prefix
 * ("opt.m." for AdamW moments), with strict name and shape checks.
 *
 * Assumes a little-endian host (x86-64, aarch64), like the SNT code. */
#ifndef SEPNET_SAFETENSORS_H
#define SEPNET_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define SAFETENSORS_MAX_DIMS 8
/* the reference implementation refuses headers above 100 MB */
#define SAFETENSORS_MAX_HEADER 100000000

/* Every dtype of the format, so a file holding e.g. an I64 buffer still opens;
 * only F32, F16 and BF16 convert to f32. */
enum safetensors_dtype {
	SAFETENSORS_F32,
	SAFETENSORS_F16,
	SAFETENSORS_BF16,
	SAFETENSORS_F64,
	SAFETENSORS_BOOL,
	SAFETENSORS_U8,
	SAFETENSORS_I8,
	SAFETENSORS_I16,
	SAFETENSORS_U16,
	SAFETENSORS_I32,
	SAFETENSORS_U32,
	SAFETENSORS_I64,
	SAFETENSORS_U64,
	SAFETENSORS_F8_E5M2,
	SAFETENSORS_F8_E4M3,
	SAFETENSORS_NDTYPES
};

size_t safetensors_dtype_size(enum safetensors_dtype d);	/* bytes per element */
const char *safetensors_dtype_name(enum safetensors_dtype d);	/* "F32", "BF16", … */
int safetensors_dtype_parse(const char *s, enum safetensors_dtype *out);	/* 0 ok, -1 unknown */

/* A named view into a flat f32 buffer: the tensor occupies
 * base[offset .. offset + prod(shape)).  ndim 0 is a scalar (one element). */
struct safetensors_view {
	const char *name;
	int ndim;
	int64_t shape[SAFETENSORS_MAX_DIMS];
	int64_t offset;		/* in elements (floats), not bytes */
};

int64_t safetensors_view_numel(const struct safetensors_view *v);

/* ---- reading ---- */

struct safetensors_tensor {
	char *name;
	enum safetensors_dtype dtype;
	int ndim;
	int64_t shape[SAFETENSORS_MAX_DIMS];
	int64_t numel;		/* prod(shape); 1 for a scalar */
	const void *data;	/* nbytes bytes inside the file's buffer; NOT aligned */
	size_t nbytes;
};

struct safetensors_meta {
	char *key;
	char *value;
};

struct safetensors_file {
	char *path;
	int n_tensors;
	struct safetensors_tensor *tensors;	/* in file order (by data offset) */
	int n_meta;
	struct safetensors_meta *meta;		/* in header order */
	/* private */
	int *by_name;		/* tensor indices sorted by name, for lookup */
	void *map;		/* the whole file: mmap'd, or read into memory */
	size_t map_size;
	int mapped;
};

/* Open and validate a file; tensor data stays in the mapping until close. */
int safetensors_open(struct safetensors_file *f, const char *path, char *err, size_t errlen);
void safetensors_open_or_die(struct safetensors_file *f, const char *path);
void safetensors_close(struct safetensors_file *f);

/* NULL when absent. */
const struct safetensors_tensor *safetensors_find(const struct safetensors_file *f, const char *name);
const char *safetensors_meta_get(const struct safetensors_file *f, const char *key);

/* Copy tensor `name` into out[0 .. numel) as f32, converting F16/BF16
 * exactly.  numel must equal the tensor's element count.  *read_as (if not
 * NULL) gets the stored dtype.  Errors: missing tensor, dtype not
 * F32/F16/BF16, wrong element count. */
int safetensors_read_f32(const struct safetensors_file *f, const char *name, float *out,
			 int64_t numel, enum safetensors_dtype *read_as, char *err, size_t errlen);

/* Fill every view of a table from the tensors named prefix + view name
 * (prefix may be NULL or "") into base.  Each must exist with exactly the
 * view's shape ("missing tensor X", "tensor X has shape [a,b], expected
 * [c,d]").  *read_as (if not NULL) gets the stored dtype of the first view;
 * mixed dtypes are allowed.  Tensors not in the table are not an error here:
 * see safetensors_check_names(). */
int safetensors_read_views(const struct safetensors_file *f, const char *prefix,
			   const struct safetensors_view *views, int n_views, float *base,
			   enum safetensors_dtype *read_as, char *err, size_t errlen);
void safetensors_read_views_or_die(const struct safetensors_file *f, const char *prefix,
				   const struct safetensors_view *views, int n_views, float *base,
				   enum safetensors_dtype *read_as);

/* Fail on the first tensor of the file whose name is neither
 * prefixes[i] + views[j].name for some i, j ("unexpected tensor X"), e.g.
 * prefixes {"", "opt.m.", "opt.v."} for a training checkpoint. */
int safetensors_check_names(const struct safetensors_file *f, const char *const *prefixes,
			    int n_prefixes, const struct safetensors_view *views, int n_views,
			    char *err, size_t errlen);

/* ---- writing ---- */

struct safetensors_writer;

struct safetensors_writer *safetensors_writer_create(void);
void safetensors_writer_free(struct safetensors_writer *w);

/* Add a tensor whose bytes (dtype `dtype`, C order) are written verbatim.
 * data must stay valid until write; name and shape are copied.  Mistakes
 * (duplicate name, ndim outside 0..8, negative dimension, empty name) are
 * reported by safetensors_writer_write. */
void safetensors_writer_add(struct safetensors_writer *w, const char *name,
			    enum safetensors_dtype dtype, int ndim, const int64_t *shape,
			    const void *data);
/* Add f32 data to be stored as `store` (F32, F16 or BF16; rounded to
 * nearest even, overflow to ±inf, NaN stays NaN). */
void safetensors_writer_add_f32(struct safetensors_writer *w, const char *name,
				enum safetensors_dtype store, int ndim, const int64_t *shape,
				const float *data);
/* Add every view of a table, named prefix + view name (prefix may be NULL). */
void safetensors_writer_add_views(struct safetensors_writer *w, const char *prefix,
				  const struct safetensors_view *views, int n_views,
				  const float *base, enum safetensors_dtype store);
/* Set a __metadata__ entry (copied; a second set of a key replaces it). */
void safetensors_writer_set_meta(struct safetensors_writer *w, const char *key, const char *value);

/* Write everything added, in order, to path atomically.  Errors from the
 * tensors added are returned here (-1, message in err); failing to create,
 * write or rename the file dies (lib/util.h atomic_*). */
int safetensors_writer_write(struct safetensors_writer *w, const char *path, char *err, size_t errlen);
void safetensors_writer_write_or_die(struct safetensors_writer *w, const char *path);

#endif
