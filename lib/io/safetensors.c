/* safetensors.c: strict safetensors reader and atomic writer (see the header).
 *
 * The reader maps the file (or reads it, when it is a pipe), parses the JSON
 * header with cJSON and checks it as the reference Rust implementation does
 * before exposing anything.  The writer builds the header with cJSON, pads it
 * with spaces to a multiple of 8 bytes, and streams the tensors after it,
 * converting f32 to F16/BF16 on the way (snt.h converters). */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snt.h"
#include "util.h"

static const struct {
	const char *name;
	size_t size;
} dtypes[SAFETENSORS_NDTYPES] = {
	[SAFETENSORS_F32] = { "F32", 4 },
	[SAFETENSORS_F16] = { "F16", 2 },
	[SAFETENSORS_BF16] = { "BF16", 2 },
	[SAFETENSORS_F64] = { "F64", 8 },
	[SAFETENSORS_BOOL] = { "BOOL", 1 },
	[SAFETENSORS_U8] = { "U8", 1 },
	[SAFETENSORS_I8] = { "I8", 1 },
	[SAFETENSORS_I16] = { "I16", 2 },
	[SAFETENSORS_U16] = { "U16", 2 },
	[SAFETENSORS_I32] = { "I32", 4 },
	[SAFETENSORS_U32] = { "U32", 4 },
	[SAFETENSORS_I64] = { "I64", 8 },
	[SAFETENSORS_U64] = { "U64", 8 },
	[SAFETENSORS_F8_E5M2] = { "F8_E5M2", 1 },
	[SAFETENSORS_F8_E4M3] = { "F8_E4M3", 1 },
};

size_t safetensors_dtype_size(enum safetensors_dtype d)
{
	return dtypes[d].size;
}

const char *safetensors_dtype_name(enum safetensors_dtype d)
{
	return dtypes[d].name;
}

int safetensors_dtype_parse(const char *s, enum safetensors_dtype *out)
{
	for (int d = 0; d < SAFETENSORS_NDTYPES; d++)
		if (!strcmp(s, dtypes[d].name)) {
			*out = (enum safetensors_dtype)d;
			return 0;
		}
	return -1;
}

int64_t safetensors_view_numel(const struct safetensors_view *v)
{
	int64_t n = 1;
	for (int i = 0; i < v->ndim; i++)
		n *= v->shape[i];
	return n;
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (err && errlen)
		vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* "[2,3]" into buf */
static const char *shape_str(char *buf, size_t len, int ndim, const int64_t *shape)
{
	size_t at = (size_t)snprintf(buf, len, "[");
	for (int i = 0; i < ndim && at < len; i++)
		at += (size_t)snprintf(buf + at, len - at, "%s%lld", i ? "," : "", (long long)shape[i]);
	if (at < len)
		snprintf(buf + at, len - at, "]");
	return buf;
}

/* ---- reading ---- */

/* The whole file in memory: mapped when it is a regular file, read when it
 * is a pipe. */
static int load_file(struct safetensors_file *f, char *err, size_t errlen)
{
	int fd = open(f->path, O_RDONLY);
	if (fd < 0)
		return fail(err, errlen, "%s: %s", f->path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return fail(err, errlen, "%s: %s", f->path, strerror(e));
	}
	if (S_ISREG(st.st_mode) && st.st_size > 0) {
		void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		int e = errno;
		close(fd);
		if (p == MAP_FAILED)
			return fail(err, errlen, "%s: mmap: %s", f->path, strerror(e));
		f->map = p;
		f->map_size = (size_t)st.st_size;
		f->mapped = 1;
		return 0;
	}
	size_t cap = 1 << 16, len = 0;
	char *buf = xmalloc(cap);
	for (;;) {
		if (len == cap)
			buf = xrealloc(buf, cap *= 2);
		ssize_t r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			free(buf);
			close(fd);
			return fail(err, errlen, "%s: %s", f->path, strerror(e));
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	f->map = buf;
	f->map_size = len;
	return 0;
}

/* A light check (lead bytes and continuations), enough to refuse binary junk. */
static int utf8_valid(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned c = s[i];
		size_t k = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : 9;
		if (k == 9 || (k == 1 && c < 0xc2) || c > 0xf4 || i + k >= n)
			return 0;
		for (size_t j = 1; j <= k; j++)
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
		i += k + 1;
	}
	return 1;
}

/* A JSON number that is a whole number in [0, 2^53]. */
static int json_count(const cJSON *j, int64_t *out)
{
	if (!cJSON_IsNumber(j))
		return -1;
	double v = j->valuedouble;
	if (!(v >= 0 && v <= 9007199254740992.0) || v != (double)(int64_t)v)
		return -1;
	*out = (int64_t)v;
	return 0;
}

struct entry_offsets {
	int64_t begin, end;	/* relative to the byte buffer */
	int index;		/* the tensor's place in header order */
};

/* One header entry into t; begin/end are relative to the byte buffer. */
static int parse_tensor(const struct safetensors_file *f, const cJSON *j,
			struct safetensors_tensor *t, struct entry_offsets *off, int64_t buffer_size,
			char *err, size_t errlen)
{
	const char *path = f->path, *name = t->name;
	if (!cJSON_IsObject(j))
		return fail(err, errlen, "%s: tensor %s: header entry is not an object", path, name);
	const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(j, "dtype");
	const cJSON *shape = cJSON_GetObjectItemCaseSensitive(j, "shape");
	const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(j, "data_offsets");
	if (!cJSON_IsString(dtype))
		return fail(err, errlen, "%s: tensor %s: missing or malformed dtype", path, name);
	if (safetensors_dtype_parse(dtype->valuestring, &t->dtype) < 0)
		return fail(err, errlen, "%s: tensor %s: unknown dtype \"%s\"", path, name, dtype->valuestring);
	if (!cJSON_IsArray(shape))
		return fail(err, errlen, "%s: tensor %s: missing or malformed shape", path, name);
	int ndim = cJSON_GetArraySize(shape);
	if (ndim > SAFETENSORS_MAX_DIMS)
		return fail(err, errlen, "%s: tensor %s: %d dimensions, at most %d supported", path, name,
			    ndim, SAFETENSORS_MAX_DIMS);
	t->ndim = ndim;
	for (int i = 0; i < ndim; i++)
		if (json_count(cJSON_GetArrayItem(shape, i), &t->shape[i]) < 0)
			return fail(err, errlen, "%s: tensor %s: shape entry %d is not a count", path, name, i);
	/* numel ≤ 2^60 keeps numel × dtype size inside uint64_t */
	uint64_t numel = 1, limit = (uint64_t)1 << 60;
	int zero = 0, too_big = 0;
	for (int i = 0; i < ndim; i++)
		zero |= t->shape[i] == 0;
	for (int i = 0; i < ndim && !zero && !too_big; i++) {
		too_big = numel > limit / (uint64_t)t->shape[i];
		numel *= (uint64_t)t->shape[i];
	}
	numel = zero ? 0 : numel;
	if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2 ||
	    json_count(cJSON_GetArrayItem(offsets, 0), &off->begin) < 0 ||
	    json_count(cJSON_GetArrayItem(offsets, 1), &off->end) < 0)
		return fail(err, errlen, "%s: tensor %s: data_offsets is not two counts [begin, end]", path, name);
	if (off->begin > off->end || off->end > buffer_size)
		return fail(err, errlen, "%s: tensor %s: data_offsets [%lld, %lld] outside the %lld-byte buffer",
			    path, name, (long long)off->begin, (long long)off->end, (long long)buffer_size);
	char sb[256];
	shape_str(sb, sizeof sb, ndim, t->shape);
	if (too_big)
		return fail(err, errlen, "%s: tensor %s: shape %s has over 2^60 elements", path, name, sb);
	uint64_t need = numel * dtypes[t->dtype].size;
	if (need != (uint64_t)(off->end - off->begin))
		return fail(err, errlen, "%s: tensor %s: shape %s of %s is %llu bytes, data_offsets span %lld",
			    path, name, sb, dtypes[t->dtype].name, (unsigned long long)need,
			    (long long)(off->end - off->begin));
	t->numel = (int64_t)numel;
	t->nbytes = (size_t)(off->end - off->begin);
	return 0;
}

static int parse_metadata(struct safetensors_file *f, const cJSON *j, char *err, size_t errlen)
{
	if (!cJSON_IsObject(j))
		return fail(err, errlen, "%s: __metadata__ is not an object", f->path);
	int n = cJSON_GetArraySize(j);
	f->meta = xcalloc((size_t)n + 1, sizeof *f->meta);
	for (const cJSON *kv = j->child; kv; kv = kv->next) {
		if (!cJSON_IsString(kv))
			return fail(err, errlen, "%s: __metadata__ key %s: value is not a string",
				    f->path, kv->string);
		for (int i = 0; i < f->n_meta; i++)
			if (!strcmp(f->meta[i].key, kv->string))
				return fail(err, errlen, "%s: __metadata__ key %s appears twice",
					    f->path, kv->string);
		f->meta[f->n_meta].key = xstrdup(kv->string);
		f->meta[f->n_meta].value = xstrdup(kv->valuestring);
		f->n_meta++;
	}
	return 0;
}

static int cmp_offsets(const void *a, const void *b)
{
	const struct entry_offsets *x = a, *y = b;
	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return x->index - y->index;
}

/* Reorder the tensors by data offset, which must tile [0, buffer_size), and
 * point each at its bytes; by_name follows the tensors to their new places. */
static int check_layout(struct safetensors_file *f, struct entry_offsets *off, int64_t buffer_size,
			const unsigned char *buffer, char *err, size_t errlen)
{
	int n = f->n_tensors, rc = 0;
	if (n > 1)	// off may be NULL for a file of no tensors
		qsort(off, (size_t)n, sizeof *off, cmp_offsets);
	struct safetensors_tensor *sorted = xmalloc(((size_t)n + 1) * sizeof *sorted);
	int *moved_to = xmalloc(((size_t)n + 1) * sizeof *moved_to);
	int64_t at = 0;
	for (int k = 0; k < n; k++) {
		const struct entry_offsets *o = &off[k];
		const char *name = f->tensors[o->index].name;
		if (!rc && o->begin < at)
			rc = fail(err, errlen, "%s: tensor %s: data_offsets [%lld, %lld] overlap tensor %s",
				  f->path, name, (long long)o->begin, (long long)o->end,
				  f->tensors[off[k - 1].index].name);
		if (!rc && o->begin > at)
			rc = fail(err, errlen, "%s: tensor %s: %lld unused bytes before its data_offsets [%lld, %lld]",
				  f->path, name, (long long)(o->begin - at), (long long)o->begin,
				  (long long)o->end);
		at = o->end;
		sorted[k] = f->tensors[o->index];
		sorted[k].data = buffer + o->begin;
		moved_to[o->index] = k;
	}
	if (!rc && at != buffer_size)
		rc = fail(err, errlen, "%s: %lld bytes after the last tensor's data", f->path,
			  (long long)(buffer_size - at));
	for (int k = 0; k < n; k++)
		f->by_name[k] = moved_to[f->by_name[k]];
	free(f->tensors);
	f->tensors = sorted;
	free(moved_to);
	return rc;
}

struct name_index {
	const char *name;
	int index;
};

static int cmp_names(const void *a, const void *b)
{
	return strcmp(((const struct name_index *)a)->name, ((const struct name_index *)b)->name);
}

/* by_name: tensor indices in name order, for safetensors_find's bisection. */
static int index_names(struct safetensors_file *f, char *err, size_t errlen)
{
	int n = f->n_tensors, rc = 0;
	struct name_index *ni = xmalloc(((size_t)n + 1) * sizeof *ni);
	for (int i = 0; i < n; i++)
		ni[i] = (struct name_index){ f->tensors[i].name, i };
	qsort(ni, (size_t)n, sizeof *ni, cmp_names);
	f->by_name = xmalloc(((size_t)n + 1) * sizeof *f->by_name);
	for (int i = 0; i < n; i++) {
		f->by_name[i] = ni[i].index;
		if (!rc && i && !strcmp(ni[i].name, ni[i - 1].name))
			rc = fail(err, errlen, "%s: tensor %s appears twice in the header", f->path, ni[i].name);
	}
	free(ni);
	return rc;
}

static int parse_header(struct safetensors_file *f, char *err, size_t errlen)
{
	const unsigned char *p = f->map;
	if (f->map_size < 8)
		return fail(err, errlen, "%s: truncated: %zu bytes, not even the header length",
			    f->path, f->map_size);
	uint64_t n = 0;
	for (int i = 7; i >= 0; i--)
		n = n << 8 | p[i];
	if (n > SAFETENSORS_MAX_HEADER)
		return fail(err, errlen, "%s: header length %llu is too large (the limit is %d)", f->path,
			    (unsigned long long)n, SAFETENSORS_MAX_HEADER);
	if (n > f->map_size - 8)
		return fail(err, errlen, "%s: truncated: header length %llu but only %zu bytes follow",
			    f->path, (unsigned long long)n, f->map_size - 8);
	const char *text = (const char *)p + 8;
	if (n < 2)
		return fail(err, errlen, "%s: header of %llu bytes is too short", f->path, (unsigned long long)n);
	if (text[0] != '{')
		return fail(err, errlen, "%s: header does not start with '{'", f->path);
	if (!utf8_valid((const unsigned char *)text, (size_t)n) || memchr(text, 0, (size_t)n))
		return fail(err, errlen, "%s: header is not valid UTF-8 text", f->path);
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(text, (size_t)n, &end, 0);
	if (!root) {
		end = cJSON_GetErrorPtr();
		return fail(err, errlen, "%s: header is not valid JSON (at byte %lld of %llu)", f->path,
			    end ? (long long)(end - text) + 8 : -1LL, (unsigned long long)n + 8);
	}
	while (end < text + n && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
		end++;
	int64_t buffer_size = (int64_t)(f->map_size - 8 - n);
	int rc = 0;
	if (end != text + n || !cJSON_IsObject(root))
		rc = fail(err, errlen, "%s: header is not one JSON object", f->path);
	int count = rc ? 0 : cJSON_GetArraySize(root);
	f->tensors = xcalloc((size_t)count + 1, sizeof *f->tensors);
	struct entry_offsets *off = xcalloc((size_t)count + 1, sizeof *off);
	int seen_meta = 0;
	for (const cJSON *j = rc ? NULL : root->child; j && !rc; j = j->next) {
		if (!strcmp(j->string, "__metadata__")) {
			rc = seen_meta++ ? fail(err, errlen, "%s: __metadata__ appears twice", f->path)
					 : parse_metadata(f, j, err, errlen);
			continue;
		}
		struct safetensors_tensor *t = &f->tensors[f->n_tensors];
		t->name = xstrdup(j->string);
		f->n_tensors++;
		off[f->n_tensors - 1].index = f->n_tensors - 1;
		rc = parse_tensor(f, j, t, &off[f->n_tensors - 1], buffer_size, err, errlen);
	}
	cJSON_Delete(root);
	if (!rc)
		rc = index_names(f, err, errlen);
	if (!rc)
		rc = check_layout(f, off, buffer_size, p + 8 + n, err, errlen);
	free(off);
	return rc;
}

int safetensors_open(struct safetensors_file *f, const char *path, char *err, size_t errlen)
{
	memset(f, 0, sizeof *f);
	f->path = xstrdup(path);
	if (load_file(f, err, errlen) < 0 || parse_header(f, err, errlen) < 0) {
		safetensors_close(f);
		return -1;
	}
	return 0;
}

void safetensors_open_or_die(struct safetensors_file *f, const char *path)
{
	char err[1024];
	if (safetensors_open(f, path, err, sizeof err) < 0)
		die("%s", err);
}

void safetensors_close(struct safetensors_file *f)
{
	for (int i = 0; i < f->n_tensors; i++)
		free(f->tensors[i].name);
	for (int i = 0; i < f->n_meta; i++) {
		free(f->meta[i].key);
		free(f->meta[i].value);
	}
	if (f->mapped)
		munmap(f->map, f->map_size);
	else
		free(f->map);
	free(f->tensors);
	free(f->meta);
	free(f->by_name);
	free(f->path);
	memset(f, 0, sizeof *f);
}

const struct safetensors_tensor *safetensors_find(const struct safetensors_file *f, const char *name)
{
	int lo = 0, hi = f->n_tensors - 1;
	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2, i = f->by_name[mid];
		int c = strcmp(name, f->tensors[i].name);
		if (!c)
			return &f->tensors[i];
		if (c < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return NULL;
}

const char *safetensors_meta_get(const struct safetensors_file *f, const char *key)
{
	for (int i = 0; i < f->n_meta; i++)
		if (!strcmp(f->meta[i].key, key))
			return f->meta[i].value;
	return NULL;
}

/* The data may sit at any byte offset: copy element by element. */
static int tensor_to_f32(const struct safetensors_file *f, const struct safetensors_tensor *t,
			 float *out, char *err, size_t errlen)
{
	const unsigned char *src = t->data;
	uint16_t h;
	switch (t->dtype) {
	case SAFETENSORS_F32:
		memcpy(out, src, t->nbytes);
		return 0;
	case SAFETENSORS_F16:
		for (int64_t i = 0; i < t->numel; i++) {
			memcpy(&h, src + 2 * i, 2);
			out[i] = snt_f16_to_f32(h);
		}
		return 0;
	case SAFETENSORS_BF16:
		for (int64_t i = 0; i < t->numel; i++) {
			memcpy(&h, src + 2 * i, 2);
			out[i] = snt_bf16_to_f32(h);
		}
		return 0;
	default:
		return fail(err, errlen, "%s: tensor %s has dtype %s, expected F32, F16 or BF16",
			    f->path, t->name, dtypes[t->dtype].name);
	}
}

int safetensors_read_f32(const struct safetensors_file *f, const char *name, float *out,
			 int64_t numel, enum safetensors_dtype *read_as, char *err, size_t errlen)
{
	const struct safetensors_tensor *t = safetensors_find(f, name);
	if (!t)
		return fail(err, errlen, "%s: missing tensor %s", f->path, name);
	if (t->numel != numel)
		return fail(err, errlen, "%s: tensor %s has %lld elements, expected %lld", f->path,
			    name, (long long)t->numel, (long long)numel);
	if (tensor_to_f32(f, t, out, err, errlen) < 0)
		return -1;
	if (read_as)
		*read_as = t->dtype;
	return 0;
}

static char *prefixed(const char *prefix, const char *name)
{
	size_t a = prefix ? strlen(prefix) : 0, b = strlen(name);
	char *s = xmalloc(a + b + 1);
	if (a)
		memcpy(s, prefix, a);
	memcpy(s + a, name, b + 1);
	return s;
}

int safetensors_read_views(const struct safetensors_file *f, const char *prefix,
			   const struct safetensors_view *views, int n_views, float *base,
			   enum safetensors_dtype *read_as, char *err, size_t errlen)
{
	for (int v = 0; v < n_views; v++) {
		char *name = prefixed(prefix, views[v].name), got[256], want[256];
		const struct safetensors_tensor *t = safetensors_find(f, name);
		int rc = 0;
		if (!t)
			rc = fail(err, errlen, "%s: missing tensor %s", f->path, name);
		else if (t->ndim != views[v].ndim ||
			 memcmp(t->shape, views[v].shape, (size_t)t->ndim * sizeof *t->shape))
			rc = fail(err, errlen, "%s: tensor %s has shape %s, expected %s", f->path, name,
				  shape_str(got, sizeof got, t->ndim, t->shape),
				  shape_str(want, sizeof want, views[v].ndim, views[v].shape));
		else
			rc = tensor_to_f32(f, t, base + views[v].offset, err, errlen);
		free(name);
		if (rc < 0)
			return -1;
		if (read_as && v == 0)
			*read_as = t->dtype;
	}
	return 0;
}

void safetensors_read_views_or_die(const struct safetensors_file *f, const char *prefix,
				   const struct safetensors_view *views, int n_views, float *base,
				   enum safetensors_dtype *read_as)
{
	char err[1024];
	if (safetensors_read_views(f, prefix, views, n_views, base, read_as, err, sizeof err) < 0)
		die("%s", err);
}

int safetensors_check_names(const struct safetensors_file *f, const char *const *prefixes,
			    int n_prefixes, const struct safetensors_view *views, int n_views,
			    char *err, size_t errlen)
{
	for (int i = 0; i < f->n_tensors; i++) {
		const char *name = f->tensors[i].name;
		int known = 0;
		for (int p = 0; p < n_prefixes && !known; p++) {
			size_t len = prefixes[p] ? strlen(prefixes[p]) : 0;
			if (len && strncmp(name, prefixes[p], len))
				continue;
			for (int v = 0; v < n_views && !known; v++)
				known = !strcmp(name + len, views[v].name);
		}
		if (!known)
			return fail(err, errlen, "%s: unexpected tensor %s", f->path, name);
	}
	return 0;
}

/* ---- writing ---- */

struct writer_tensor {
	char *name;
	enum safetensors_dtype store;	/* dtype in the file */
	int from_f32;			/* data is f32, converted to store */
	int ndim;
	int64_t shape[SAFETENSORS_MAX_DIMS];
	const void *data;
	uint64_t nbytes;		/* in the file */
};

struct safetensors_writer {
	int n, cap;
	struct writer_tensor *t;
	int n_meta, cap_meta;
	struct safetensors_meta *meta;
	char *error;			/* the first mistake made while adding */
};

struct safetensors_writer *safetensors_writer_create(void)
{
	return xcalloc(1, sizeof(struct safetensors_writer));
}

void safetensors_writer_free(struct safetensors_writer *w)
{
	if (!w)
		return;
	for (int i = 0; i < w->n; i++)
		free(w->t[i].name);
	for (int i = 0; i < w->n_meta; i++) {
		free(w->meta[i].key);
		free(w->meta[i].value);
	}
	free(w->t);
	free(w->meta);
	free(w->error);
	free(w);
}

static void writer_error(struct safetensors_writer *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void writer_error(struct safetensors_writer *w, const char *fmt, ...)
{
	if (w->error)
		return;
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	w->error = xstrdup(buf);
}

static void writer_push(struct safetensors_writer *w, char *name, enum safetensors_dtype store,
			int from_f32, int ndim, const int64_t *shape, const void *data)
{
	if (w->n == w->cap)
		w->t = xrealloc(w->t, (size_t)(w->cap = w->cap ? 2 * w->cap : 64) * sizeof *w->t);
	struct writer_tensor *t = &w->t[w->n++];
	memset(t, 0, sizeof *t);
	t->name = name;
	t->store = store;
	t->from_f32 = from_f32;
	t->data = data;
	if (!*name || !strcmp(name, "__metadata__"))
		writer_error(w, "tensor name \"%s\" is reserved", name);
	if (ndim < 0 || ndim > SAFETENSORS_MAX_DIMS) {
		writer_error(w, "tensor %s: %d dimensions, at most %d supported", name, ndim,
			     SAFETENSORS_MAX_DIMS);
		return;
	}
	t->ndim = ndim;
	uint64_t nbytes = dtypes[store].size;
	for (int i = 0; i < ndim; i++) {
		t->shape[i] = shape[i];
		if (shape[i] < 0 || (shape[i] && nbytes > ((uint64_t)1 << 53) / (uint64_t)shape[i]))
			writer_error(w, "tensor %s: dimension %d is %lld", name, i, (long long)shape[i]);
		else
			nbytes *= (uint64_t)shape[i];
	}
	t->nbytes = nbytes;
	if (nbytes && !data)
		writer_error(w, "tensor %s: no data", name);
}

void safetensors_writer_add(struct safetensors_writer *w, const char *name,
			    enum safetensors_dtype dtype, int ndim, const int64_t *shape,
			    const void *data)
{
	writer_push(w, xstrdup(name), dtype, 0, ndim, shape, data);
}

void safetensors_writer_add_f32(struct safetensors_writer *w, const char *name,
				enum safetensors_dtype store, int ndim, const int64_t *shape,
				const float *data)
{
	if (store != SAFETENSORS_F32 && store != SAFETENSORS_F16 && store != SAFETENSORS_BF16)
		writer_error(w, "tensor %s: f32 data cannot be stored as %s", name, dtypes[store].name);
	writer_push(w, xstrdup(name), store, 1, ndim, shape, data);
}

void safetensors_writer_add_views(struct safetensors_writer *w, const char *prefix,
				  const struct safetensors_view *views, int n_views,
				  const float *base, enum safetensors_dtype store)
{
	for (int v = 0; v < n_views; v++) {
		char *name = prefixed(prefix, views[v].name);
		safetensors_writer_add_f32(w, name, store, views[v].ndim, views[v].shape,
					   base + views[v].offset);
		free(name);
	}
}

void safetensors_writer_set_meta(struct safetensors_writer *w, const char *key, const char *value)
{
	for (int i = 0; i < w->n_meta; i++)
		if (!strcmp(w->meta[i].key, key)) {
			free(w->meta[i].value);
			w->meta[i].value = xstrdup(value);
			return;
		}
	if (w->n_meta == w->cap_meta)
		w->meta = xrealloc(w->meta, (size_t)(w->cap_meta = w->cap_meta ? 2 * w->cap_meta : 16) *
					    sizeof *w->meta);
	w->meta[w->n_meta].key = xstrdup(key);
	w->meta[w->n_meta].value = xstrdup(value);
	w->n_meta++;
}

static int cmp_strings(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static cJSON *json_checked(cJSON *j)
{
	if (!j)
		die("safetensors: out of memory building the header");
	return j;
}

/* The JSON header, padded with spaces so that 8 + length is a multiple of 8. */
static char *writer_header(const struct safetensors_writer *w, size_t *len)
{
	cJSON *root = json_checked(cJSON_CreateObject());
	if (w->n_meta) {
		cJSON *meta = json_checked(cJSON_AddObjectToObject(root, "__metadata__"));
		for (int i = 0; i < w->n_meta; i++)
			json_checked(cJSON_AddStringToObject(meta, w->meta[i].key, w->meta[i].value));
	}
	uint64_t at = 0;
	for (int i = 0; i < w->n; i++) {
		const struct writer_tensor *t = &w->t[i];
		cJSON *j = json_checked(cJSON_AddObjectToObject(root, t->name));
		json_checked(cJSON_AddStringToObject(j, "dtype", dtypes[t->store].name));
		cJSON *shape = json_checked(cJSON_AddArrayToObject(j, "shape"));
		for (int d = 0; d < t->ndim; d++)
			cJSON_AddItemToArray(shape, json_checked(cJSON_CreateNumber((double)t->shape[d])));
		cJSON *off = json_checked(cJSON_AddArrayToObject(j, "data_offsets"));
		cJSON_AddItemToArray(off, json_checked(cJSON_CreateNumber((double)at)));
		cJSON_AddItemToArray(off, json_checked(cJSON_CreateNumber((double)(at + t->nbytes))));
		at += t->nbytes;
	}
	char *text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (!text)
		die("safetensors: out of memory printing the header");
	size_t n = strlen(text), padded = (n + 7) / 8 * 8;
	char *out = xmalloc(padded + 1);
	memcpy(out, text, n);
	cJSON_free(text);
	memset(out + n, ' ', padded - n);
	out[padded] = 0;
	*len = padded;
	return out;
}

static void write_bytes(struct atomic_file *af, const void *p, size_t n)
{
	if (n && fwrite(p, 1, n, af->fp) != n)
		die("%s:", af->tmp);
}

static void write_tensor(struct atomic_file *af, const struct writer_tensor *t)
{
	if (!t->from_f32 || t->store == SAFETENSORS_F32) {
		write_bytes(af, t->data, t->nbytes);
		return;
	}
	enum { CHUNK = 4096 };
	uint16_t buf[CHUNK];
	const float *x = t->data;
	size_t n = t->nbytes / 2;
	for (size_t i = 0; i < n; i += CHUNK) {
		size_t m = n - i < CHUNK ? n - i : CHUNK;
		for (size_t k = 0; k < m; k++)
			buf[k] = t->store == SAFETENSORS_F16 ? snt_f32_to_f16(x[i + k])
							     : snt_f32_to_bf16(x[i + k]);
		write_bytes(af, buf, m * 2);
	}
}

int safetensors_writer_write(struct safetensors_writer *w, const char *path, char *err, size_t errlen)
{
	if (w->error)
		return fail(err, errlen, "%s: %s", path, w->error);
	char **names = xmalloc(((size_t)w->n + 1) * sizeof *names);
	for (int i = 0; i < w->n; i++)
		names[i] = w->t[i].name;
	qsort(names, (size_t)w->n, sizeof *names, cmp_strings);
	int rc = 0;
	for (int i = 1; i < w->n && !rc; i++)
		if (!strcmp(names[i], names[i - 1]))
			rc = fail(err, errlen, "%s: tensor %s added twice", path, names[i]);
	free(names);
	if (rc)
		return rc;

	size_t hlen;
	char *header = writer_header(w, &hlen);
	unsigned char len8[8];
	for (int i = 0; i < 8; i++)
		len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
	struct atomic_file af;
	atomic_open(&af, path);
	write_bytes(&af, len8, 8);
	write_bytes(&af, header, hlen);
	free(header);
	for (int i = 0; i < w->n; i++)
		write_tensor(&af, &w->t[i]);
	atomic_commit(&af);
	return 0;
}

void safetensors_writer_write_or_die(struct safetensors_writer *w, const char *path)
{
	char err[1024];
	if (safetensors_writer_write(w, path, err, sizeof err) < 0)
		die("%s", err);
}
