/* resample.c: see resample.h. */
#include "resample.h"

#include <math.h>
#include <soxr.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int64_t resample_length(int64_t n, int sr_in, int sr_out)
{
	return (int64_t)llround((double)n * sr_out / sr_in);
}

float *resample_rows(const float *x, int64_t R, int64_t n, int sr_in, int sr_out, int64_t n_out,
		     const char *where)
{
	float *y = xcalloc((size_t)(R * n_out > 0 ? R * n_out : 1), sizeof(float));
	soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_S, SOXR_FLOAT32_S);
	soxr_quality_spec_t q = soxr_quality_spec(SOXR_VHQ, 0);
	// rows are independent: one converter each, in parallel
	int failed = 0;
	const char *msg = NULL;
#pragma omp parallel for schedule(dynamic, 1) reduction(|: failed)
	for (int64_t r = 0; r < R; r++) {
		soxr_runtime_spec_t rt = soxr_runtime_spec(1);
		const float *in[1] = { x + r * n };
		float *out[1] = { y + r * n_out };
		size_t odone = 0;
		soxr_error_t err = soxr_oneshot(sr_in, sr_out, 1, (soxr_in_t)in, (size_t)n, NULL,
						(soxr_out_t)out, (size_t)n_out, &odone, &io, &q, &rt);
		if (err) {
			failed |= 1;
#pragma omp critical
			msg = err;
		}
	}
	if (failed)
		die("%s: resampling %d Hz to %d Hz failed (libsoxr: %s)", where, sr_in, sr_out, msg);
	return y;
}

struct resampler {
	int64_t rows;
	int sr_in, sr_out;
	char *where;
	soxr_t *sx;		/* one converter a row */
	int64_t in, out;	/* samples pushed, made */
	float *y;		/* (rows, cap) this push's output */
	int64_t cap;
};

struct resampler *resampler_create(int64_t rows, int sr_in, int sr_out, const char *where)
{
	struct resampler *rs = xcalloc(1, sizeof *rs);
	rs->rows = rows, rs->sr_in = sr_in, rs->sr_out = sr_out;
	rs->where = xstrdup(where);
	rs->sx = xcalloc((size_t)(rows > 0 ? rows : 1), sizeof *rs->sx);
	soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_S, SOXR_FLOAT32_S);
	soxr_quality_spec_t q = soxr_quality_spec(SOXR_VHQ, 0);
	soxr_runtime_spec_t rt = soxr_runtime_spec(1);
	for (int64_t r = 0; r < rows; r++) {
		soxr_error_t err = NULL;
		rs->sx[r] = soxr_create(sr_in, sr_out, 1, &err, &io, &q, &rt);
		if (err)
			die("%s: resampling %d Hz to %d Hz failed (libsoxr: %s)", where, sr_in, sr_out,
			    err);
	}
	return rs;
}

void resampler_free(struct resampler *rs)
{
	if (!rs)
		return;
	for (int64_t r = 0; r < rs->rows; r++)
		soxr_delete(rs->sx[r]);
	free(rs->sx);
	free(rs->y);
	free(rs->where);
	free(rs);
}

/* Row r's converter given n samples (x NULL: the end of its input), its
 * output at y[r · cap + at] on, up to cap; the samples made, -1 on an
 * error (in *err). */
static int64_t convert_row(struct resampler *rs, int64_t r, const float *x, int64_t n, int64_t at,
			   const char **err)
{
	int64_t used = 0, made = 0;
	for (;;) {
		const float *in[1] = { x ? x + used : NULL };
		float *out[1] = { rs->y + r * rs->cap + at + made };
		size_t idone = 0, odone = 0, room = (size_t)(rs->cap - at - made);
		soxr_error_t e = soxr_process(rs->sx[r], x ? (soxr_in_t)in : NULL,
					      (size_t)(n - used), &idone, (soxr_out_t)out, room,
					      &odone);
		if (e) {
			*err = e;
			return -1;
		}
		used += (int64_t)idone, made += (int64_t)odone;
		if (odone < room && used == n)
			return made;	// the input taken, the output not cut short
		if (at + made == rs->cap) {
			if (x && used < n) {	// the output is sized for every sample
				*err = "output larger than its rate allows";
				return -1;
			}
			return made;	// the end's rest, past the length: cut
		}
	}
}

int64_t resampler_push(struct resampler *rs, const float *x, int64_t stride, int64_t n, bool last,
		       const float **y)
{
	// this push's output: at most its share of the rate's samples (the
	// converter lags, never leads), or up to the length at the end
	int64_t total = resample_length(rs->in + n, rs->sr_in, rs->sr_out);
	int64_t cap = total - rs->out + 64;
	if (cap > rs->cap) {
		free(rs->y);
		rs->y = xmalloc(sizeof(float) * (size_t)(rs->rows * cap));
		rs->cap = cap;
	}
	int64_t made = -1;
	const char *err = NULL;
	bool differ = false;
#pragma omp parallel for schedule(dynamic, 1) if (rs->rows > 1 && n > 16384)
	for (int64_t r = 0; r < rs->rows; r++) {
		const char *e = NULL;
		int64_t m = n > 0 ? convert_row(rs, r, x + r * stride, n, 0, &e) : 0;
		if (m >= 0 && last) {	// the converter's rest, then the length exactly
			int64_t rest = convert_row(rs, r, NULL, 0, m, &e);
			m = rest < 0 ? -1 : m + rest;
			if (m >= 0 && rs->out + m > total)
				m = total - rs->out;
			for (int64_t i = m; m >= 0 && rs->out + i < total; i++)
				rs->y[r * rs->cap + i] = 0;
			if (m >= 0)
				m = total - rs->out;
		}
#pragma omp critical
		{
			if (m < 0)
				err = e;
			else if (made < 0)
				made = m;
			else if (m != made)
				differ = true;
		}
	}
	if (err)
		die("%s: resampling %d Hz to %d Hz failed (libsoxr: %s)", rs->where, rs->sr_in,
		    rs->sr_out, err);
	if (differ)
		die("%s: resampling %d Hz to %d Hz: rows of unequal length", rs->where, rs->sr_in,
		    rs->sr_out);
	if (made < 0)
		made = 0;	// no rows
	for (int64_t r = 1; r < rs->rows; r++)	// rows of made samples, one after the other
		memmove(rs->y + r * made, rs->y + r * rs->cap, sizeof(float) * (size_t)made);
	rs->in += n, rs->out += made;
	*y = rs->y;
	return made;
}

struct restore_stream {
	struct resampler *rs;	/* NULL: the rate stays */
	int64_t rows, M, written;
	float *buf;		/* a piece cut or padded */
	size_t cap;
};

struct restore_stream *restore_stream_create(int64_t rows, int sr, int out, int64_t M,
					     const char *where)
{
	struct restore_stream *r = xcalloc(1, sizeof *r);
	r->rows = rows, r->M = M;
	if (sr != out)
		r->rs = resampler_create(rows, sr, out, where);
	return r;
}

int64_t restore_stream_push(struct restore_stream *r, const float *y, int64_t n, bool last,
			    const float **z)
{
	int64_t k = n;
	*z = y;
	if (r->rs)
		k = resampler_push(r->rs, y, n, n, last, z);
	int64_t keep = r->M >= 0 && r->written + k > r->M ? r->M - r->written : k;
	int64_t m = last && r->M >= 0 ? r->M - r->written : keep;	// at the end: M exactly
	if (m != k) {	// rows of m: the samples kept, then zeros
		size_t floats = (size_t)(r->rows * (m > 0 ? m : 1));
		if (r->cap < floats)
			r->buf = xrealloc(r->buf, sizeof(float) * (r->cap = floats));
		memset(r->buf, 0, sizeof(float) * floats);
		for (int64_t q = 0; q < r->rows && keep > 0; q++)
			memcpy(r->buf + q * m, *z + q * k, sizeof(float) * (size_t)keep);
		*z = r->buf;
	}
	r->written += m;
	return m;
}

void restore_stream_free(struct restore_stream *r)
{
	if (!r)
		return;
	resampler_free(r->rs);
	free(r->buf);
	free(r);
}

/* The weight of input channel i in output channel o of c_out (1 or 2) */
static double channel_weight(int o, int i, int c_in, int c_out)
{
	if (c_out == 1)
		return 1.0 / c_in;
	if (c_in == 1)
		return 1;
	if (c_in == 6) {	// 5.1 (L R C LFE Ls Rs): ITU-R BS.775, LFE dropped, normalised
		double k = 1 / (1 + 2 * M_SQRT1_2);
		static const double w[2][6] = {
			{ 1, 0, M_SQRT1_2, 0, M_SQRT1_2, 0 },
			{ 0, 1, M_SQRT1_2, 0, 0, M_SQRT1_2 },
		};
		return k * w[o][i];
	}
	// even channels left, odd right (quad: L R Ls Rs), each side averaged
	int left = (c_in + 1) / 2, right = c_in / 2;
	return i % 2 != o ? 0 : 1.0 / (o ? right : left);
}

float *channels_map(const float *x, int c_in, int c_out, int64_t n)
{
	float *y = xmalloc(sizeof(float) * (size_t)(c_out * n > 0 ? c_out * n : 1));
	if (c_in == c_out) {
		memcpy(y, x, sizeof(float) * (size_t)(c_in * n));
		return y;
	}
	for (int o = 0; o < c_out; o++) {
		float *dst = y + o * n;
		memset(dst, 0, sizeof(float) * n);
		for (int i = 0; i < c_in; i++) {
			float g = (float)channel_weight(o, i, c_in, c_out);
			if (g == 0)
				continue;
			const float *src = x + i * n;
			for (int64_t j = 0; j < n; j++)
				dst[j] += g * src[j];
		}
	}
	return y;
}

int wave_rate_key(const struct snt_header *h, const char *key, const char *where)
{
	const char *v = snt_header_get(h, key);
	int r;
	if (!v)
		return 0;
	if (parse_int(v, &r) || r < 1 || r > WAVE_MAX_RATE)
		die("%s: %s=%s: a sample rate is an integer from 1 to %d Hz", where, key, v,
		    WAVE_MAX_RATE);
	return r;
}

int wave_rate(const struct snt_header *h, const char *where)
{
	return wave_rate_key(h, "sr", where);
}

void wave_conform(struct snt_header *h, float **x, int sr, int channels, const char *where)
{
	if (h->rank != 2)
		return;
	int C = (int)h->shape[0], in_sr = wave_rate_key(h, "sr", where);
	int64_t N = h->shape[1];
	if (!in_sr)
		in_sr = sr;
	bool resample = sr > 0 && in_sr != sr, remap = channels > 0 && C != channels;
	if (!resample && !remap)
		return;
	if (resample && !snt_header_get(h, "orig_sr")) {
		snt_header_setf(h, "orig_sr", "%d", in_sr);
		snt_header_setf(h, "orig_length", "%lld", (long long)N);
	}
	if (remap) {
		if (C > 2 && channels == 2)
			warn("%s: %d channels downmixed to stereo%s", where, C,
			     C == 6 ? " (5.1: ITU-R BS.775, LFE dropped)" : " (odd/even channels to left/right)");
		float *y = channels_map(*x, C, channels, N);
		free(*x);
		*x = y;
		C = channels;
	}
	if (resample) {
		int64_t M = resample_length(N, in_sr, sr);
		if (M < 1)
			die("%s: %lld samples at %d Hz are none at %d Hz", where, (long long)N, in_sr, sr);
		float *y = resample_rows(*x, C, N, in_sr, sr, M, where);
		free(*x);
		*x = y;
		N = M;
	}
	snt_header_set_shape(h, 2, (int64_t[]){ C, N });
	snt_header_setf(h, "sr", "%d", sr > 0 ? sr : in_sr);
}

int wave_output_rate(const struct snt_header *h, int rate)
{
	if (rate > 0)
		return rate;
	int r = wave_rate_key(h, "orig_sr", "record");
	return r ? r : wave_rate_key(h, "sr", "record");
}

const float *wave_restore(struct snt_header *h, const float *y, int rate, float **owned,
			  const char *where)
{
	*owned = NULL;
	int sr = wave_rate_key(h, "sr", where), orig = wave_rate_key(h, "orig_sr", where);
	int64_t N = h->shape[h->rank - 1], R = N ? snt_numel(h) / N : 0, M = N;
	int out = rate > 0 ? rate : orig ? orig : sr;
	const char *ol = snt_header_get(h, "orig_length");
	if (ol && orig && parse_int64(ol, &M))
		die("%s: malformed orig_length=%s", where, ol);
	if (!ol || !orig)
		M = N;
	if (orig)	// the input's length at the input's rate, scaled to out
		M = out == orig ? M : resample_length(M, orig, out);
	else if (sr && out != sr)
		M = resample_length(N, sr, out);
	snt_header_del(h, "orig_sr");
	snt_header_del(h, "orig_length");
	if (out)
		snt_header_setf(h, "sr", "%d", out);
	if (!sr || (out == sr && M == N))
		return y;
	if (M < 1)
		die("%s: %lld samples at %d Hz are none at %d Hz", where, (long long)N, sr, out);
	// the converter's length from N: round(N * out / sr); the input's own
	// length wins (it differs by a sample at most)
	*owned = resample_rows(y, R, N, sr, out, M, where);
	int64_t shape[SNT_MAX_RANK];
	memcpy(shape, h->shape, sizeof shape);
	shape[h->rank - 1] = M;
	snt_header_set_shape(h, h->rank, shape);
	return *owned;
}
