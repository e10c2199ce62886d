/* stftstream.c: see stftstream.h. */
#include "stftstream.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

void stft_span(int n_fft, int hop, int64_t t0, int64_t t1, int64_t N, int64_t *a, int64_t *b)
{
	int64_t m = n_fft / (2 * hop) + 1;	// frames whose window reaches before t0·hop − n_fft/2
	*a = t0 > m ? (t0 - m) * hop : 0;
	*b = (t1 - 1) * hop + n_fft / 2;
	if (*b <= *a + n_fft / 2)	// reflect padding needs more
		*b = *a + n_fft / 2 + 1;
	if (N >= 0 && (*b > N || t1 == 1 + N / hop))
		*b = N;
}

/* Rows of the backend's transform: host memory in and out, through
 * device buffers when the backend's memory is not the host's. */
static int on_rows(const struct backend *be, struct backend_buffer *din, struct backend_buffer *dout,
		   const float *in, size_t in_floats, float *out, size_t out_floats,
		   int (*fn)(void *ctx, float *out, const float *in), void *ctx)
{
	if (be->host)
		return fn(ctx, out, in);
	float *di = backend_buffer_want(be, din, in_floats ? in_floats : 1);
	float *dox = backend_buffer_want(be, dout, out_floats ? out_floats : 1);
	be->upload(di, in, in_floats * sizeof(float));
	if (fn(ctx, dox, di))
		return -1;
	be->download(out, dox, out_floats * sizeof(float));
	return 0;
}

/* ---- forward ---- */

struct stft_stream {
	const struct backend *be;
	struct backend_stft *plan;
	int n_fft, hop;
	int64_t rows, F;
	float *buf;		/* (rows, cap): samples a0 .. a0 + n of the track */
	int64_t cap, a0, n;
	int64_t N;		/* samples pushed */
	bool ended;
	int64_t t0;		/* frames taken */
	float *sub, *frames;	/* a take's samples (rows, len) and frames (rows, F, T) */
	size_t sub_cap, frames_cap;
	struct backend_buffer dx, dy;
	int64_t len;		/* the take being made: its samples */
};

struct stft_stream *stft_stream_create(const struct backend *be, int n_fft, int hop, int64_t rows)
{
	struct stft_stream *s = xcalloc(1, sizeof *s);
	s->be = be;
	s->plan = be->stft_create(n_fft, hop);
	s->n_fft = n_fft, s->hop = hop, s->rows = rows, s->F = n_fft / 2 + 1;
	return s;
}

void stft_stream_free(struct stft_stream *s)
{
	if (!s)
		return;
	s->be->stft_free(s->plan);
	backend_buffer_free(s->be, &s->dx);
	backend_buffer_free(s->be, &s->dy);
	free(s->buf);
	free(s->sub);
	free(s->frames);
	free(s);
}

void stft_stream_begin(struct stft_stream *s)
{
	s->a0 = s->n = s->N = s->t0 = 0;
	s->ended = false;
}

int stft_stream_push(struct stft_stream *s, const float *x, int64_t stride, int64_t n, bool last)
{
	if (s->ended)
		die("stft_stream_push: the track has ended");
	int64_t a, b;	// the samples the next take needs start at a
	stft_span(s->n_fft, s->hop, s->t0, s->t0 + 1, -1, &a, &b);
	if (a > s->a0) {	// drop the samples before it
		int64_t drop = a - s->a0 < s->n ? a - s->a0 : s->n;
		for (int64_t r = 0; r < s->rows && drop < s->n; r++)
			memmove(s->buf + r * s->cap, s->buf + r * s->cap + drop,
				sizeof(float) * (size_t)(s->n - drop));
		s->a0 += drop, s->n -= drop;
	}
	if (s->n + n > s->cap) {
		int64_t cap = s->n + n + (s->n + n) / 2;
		float *buf = xmalloc(sizeof(float) * (size_t)(s->rows * cap > 0 ? s->rows * cap : 1));
		for (int64_t r = 0; r < s->rows && s->n; r++)
			memcpy(buf + r * cap, s->buf + r * s->cap, sizeof(float) * (size_t)s->n);
		free(s->buf);
		s->buf = buf, s->cap = cap;
	}
	for (int64_t r = 0; r < s->rows && n; r++)
		memcpy(s->buf + r * s->cap + s->n, x + r * stride, sizeof(float) * (size_t)n);
	s->n += n, s->N += n;
	s->ended = last;
	return last && s->N <= s->n_fft / 2 ? -1 : 0;
}

int64_t stft_stream_ready(const struct stft_stream *s)
{
	int64_t t1;
	if (s->ended)
		t1 = 1 + s->N / s->hop;
	else	// frames t with t·hop + n_fft/2 < N
		t1 = s->N > s->n_fft / 2 ? (s->N - s->n_fft / 2 - 1) / s->hop + 1 : 0;
	return t1 > s->t0 ? t1 - s->t0 : 0;
}

static int forward_rows(void *ctx, float *out, const float *in)
{
	struct stft_stream *s = ctx;
	return s->be->stft_forward(s->plan, out, in, s->rows, s->len);
}

/* The next n final frames into s->frames (rows, F, T) from frame k0. */
static void take_frames(struct stft_stream *s, int64_t n, int64_t *T_, int64_t *k0_)
{
	if (n > stft_stream_ready(s))
		die("stft_stream_take: %lld frames asked, %lld final", (long long)n,
		    (long long)stft_stream_ready(s));
	int64_t t1 = s->t0 + n, a, b;
	stft_span(s->n_fft, s->hop, s->t0, t1, s->ended ? s->N : -1, &a, &b);
	if (a < s->a0 || b > s->a0 + s->n)
		die("stft_stream_take: samples %lld .. %lld are not held (%lld .. %lld)",
		    (long long)a, (long long)b, (long long)s->a0, (long long)(s->a0 + s->n));
	int64_t len = b - a, T = 1 + len / s->hop, k0 = s->t0 - a / s->hop;
	size_t in_floats = (size_t)(s->rows * len), out_floats = (size_t)(s->rows * s->F * T * 2);
	s->sub = xreserve_big(s->sub, &s->sub_cap, in_floats, sizeof(float));
	s->frames = xreserve_big(s->frames, &s->frames_cap, out_floats, sizeof(float));
	for (int64_t r = 0; r < s->rows; r++)
		memcpy(s->sub + r * len, s->buf + r * s->cap + (a - s->a0), sizeof(float) * (size_t)len);
	s->len = len;
	if (on_rows(s->be, &s->dx, &s->dy, s->sub, in_floats, s->frames, out_floats, forward_rows, s))
		die("stft_stream_take: the STFT of %lld samples failed", (long long)len);
	s->t0 = t1;
	*T_ = T, *k0_ = k0;
}

void stft_stream_take(struct stft_stream *s, float *out, int64_t n)
{
	int64_t T, k0;
	if (n <= 0)
		return;
	take_frames(s, n, &T, &k0);
	for (int64_t q = 0; q < s->rows * s->F; q++)	// the frames asked for, bin by bin
		memcpy(out + q * 2 * n, s->frames + (q * T + k0) * 2, sizeof(float) * 2 * (size_t)n);
}

void stft_stream_take_rows(struct stft_stream *s, int64_t n,
			   void (*put)(void *ctx, const float *bin, int64_t n), void *ctx)
{
	int64_t T, k0;
	if (n <= 0)
		return;
	take_frames(s, n, &T, &k0);
	for (int64_t q = 0; q < s->rows * s->F; q++)
		put(ctx, s->frames + (q * T + k0) * 2, n);
}

int64_t stft_stream_samples(const struct stft_stream *s)
{
	return s->N;
}

/* ---- inverse ---- */

struct istft_stream {
	const struct backend *be;
	struct backend_stft *plan;
	int n_fft, hop;
	int64_t rows, F;
	int64_t N;		/* the track's samples, -1 until its end */
	float *keep;		/* (rows, F, nkeep) the frames u0 .. kept */
	float *keep_next;	/* (rows, F, nk): the push's, as its groups make them */
	size_t keep_cap, keep_next_cap;
	int64_t u0, nkeep;
	int64_t t1;		/* frames pushed */
	int64_t done;		/* samples handed out */
	float *sub, *y;		/* a group's frames (nr, F, Ts) and samples (nr, len) */
	size_t sub_cap, y_cap;
	struct backend_buffer dspec, dy;
	int64_t Ts, len;	/* the inverse being made */
	int64_t placed;		/* frames placed for the next push, -1: none */
	int64_t r0, nr;		/* the rows placed: a group of a push (all of them in one) */
};

struct istft_stream *istft_stream_create(const struct backend *be, int n_fft, int hop,
					 int64_t rows)
{
	struct istft_stream *s = xcalloc(1, sizeof *s);
	s->be = be;
	s->plan = be->stft_create(n_fft, hop);
	s->n_fft = n_fft, s->hop = hop, s->rows = rows, s->F = n_fft / 2 + 1;
	s->placed = -1;
	return s;
}

void istft_stream_free(struct istft_stream *s)
{
	if (!s)
		return;
	s->be->stft_free(s->plan);
	backend_buffer_free(s->be, &s->dspec);
	backend_buffer_free(s->be, &s->dy);
	free(s->keep);
	free(s->keep_next);
	free(s->sub);
	free(s->y);
	free(s);
}

void istft_stream_begin(struct istft_stream *s, int64_t N)
{
	s->N = N;
	s->u0 = s->nkeep = s->t1 = s->done = 0;
	s->placed = -1;
	s->r0 = s->nr = 0;
}

void istft_stream_length(struct istft_stream *s, int64_t N)
{
	s->N = N;
}

static int inverse_rows(void *ctx, float *out, const float *in)
{
	struct istft_stream *s = ctx;
	return s->be->stft_inverse(s->plan, out, in, s->nr, s->Ts, s->len);
}

float *istft_stream_place_rows(struct istft_stream *s, int64_t n, int64_t r0, int64_t nr,
			       int64_t *stride)
{
	if (r0 != (s->r0 + s->nr) % s->rows || nr < 1 || r0 + nr > s->rows)
		die("istft_stream_place_rows: rows %lld .. %lld after %lld .. %lld of %lld",
		    (long long)r0, (long long)(r0 + nr), (long long)s->r0,
		    (long long)(s->r0 + s->nr), (long long)s->rows);
	if (r0 > 0 && n != s->Ts - s->nkeep)
		die("istft_stream_place_rows: %lld frames in a push of %lld", (long long)n,
		    (long long)(s->Ts - s->nkeep));
	// the kept frames and the new ones, row by row: (nr, F, Ts)
	int64_t Ts = s->nkeep + n, F = s->F, q0 = r0 * F, Q = nr * F;
	s->sub = xreserve_big(s->sub, &s->sub_cap, (size_t)(2 * Q * Ts), sizeof(float));
	for (int64_t q = 0; s->nkeep && q < Q; q++)
		memcpy(s->sub + q * 2 * Ts, s->keep + (q0 + q) * 2 * s->nkeep,
		       sizeof(float) * 2 * s->nkeep);
	s->placed = n;
	s->r0 = r0, s->nr = nr, s->Ts = Ts;
	*stride = Ts;
	return s->sub + 2 * s->nkeep;
}

float *istft_stream_place(struct istft_stream *s, int64_t n, int64_t *stride)
{
	return istft_stream_place_rows(s, n, 0, s->rows, stride);
}

int64_t istft_stream_push(struct istft_stream *s, const float *spec, int64_t n, bool last,
			  const float **y)
{
	int64_t Ts;
	float *at = istft_stream_place(s, n, &Ts);
	for (int64_t q = 0; q < s->rows * s->F; q++)
		memcpy(at + q * 2 * Ts, spec + q * 2 * n, sizeof(float) * 2 * n);
	return istft_stream_push_placed(s, last, y);
}

int64_t istft_stream_push_rows(struct istft_stream *s, bool last, const float **y)
{
	int n_fft = s->n_fft, hop = s->hop;
	int64_t n = s->placed, R = s->nr, F = s->F, t1 = s->t1 + n, N = s->N;
	if (n < 0)
		die("istft_stream_push_rows: no frames placed");
	s->placed = -1;
	if (last && N < 0)
		N = (t1 - 1) * hop;
	if (last && (1 + N / hop != t1 || N <= n_fft / 2))
		return -1;
	int64_t Ts = s->Ts;
	size_t sub_floats = (size_t)(2 * R * F * Ts);
	// samples before E have every frame that covers them
	int64_t E = last ? N : t1 * hop - n_fft / 2, u = s->u0 * hop, m = 0;
	if (N >= 0 && E > N)
		E = N;
	int64_t len = last ? N - u : E - u;	/* the inverse's length */
	if (E > s->done && len > n_fft / 2) {
		m = E - s->done;
		size_t y_floats = (size_t)(R * len);
		s->y = xreserve_big(s->y, &s->y_cap, y_floats, sizeof(float));
		s->len = len;
		if (on_rows(s->be, &s->dspec, &s->dy, s->sub, sub_floats, s->y, y_floats,
			    inverse_rows, s))
			return -1;
		for (int64_t q = 0; q < R; q++)	// samples done .. E of each row
			memmove(s->y + q * m, s->y + q * len + (s->done - u), sizeof(float) * m);
	}
	*y = s->y;
	bool end = s->r0 + R == s->rows;	// the push's last group
	// keep the frames that cover the samples still to make, and enough of
	// them for the inverse's reflect length: this group's into keep_next
	int64_t done = m ? E : s->done;
	int64_t u0 = done - n_fft / 2 >= 0 ? (done - n_fft / 2) / hop + 1 : 0;
	u0 -= n_fft / (2 * hop) + 1;
	if (u0 < s->u0)
		u0 = s->u0;
	int64_t k0 = u0 - s->u0, nk = last ? 0 : Ts - k0, RF = s->rows * F;
	if (nk) {
		s->keep_next = xreserve_big(s->keep_next, &s->keep_next_cap, (size_t)(2 * RF * nk),
					    sizeof(float));
		for (int64_t q = 0; q < R * F; q++)
			memcpy(s->keep_next + (s->r0 * F + q) * 2 * nk, s->sub + (q * Ts + k0) * 2,
			       sizeof(float) * 2 * nk);
	}
	if (end) {	// the push made: every row's kept frames from keep_next
		float *k = s->keep;
		size_t c = s->keep_cap;
		s->keep = s->keep_next, s->keep_cap = s->keep_next_cap;
		s->keep_next = k, s->keep_next_cap = c;
		s->t1 = t1, s->done = done, s->u0 = u0, s->nkeep = nk;
	}
	return m;
}

int64_t istft_stream_push_placed(struct istft_stream *s, bool last, const float **y)
{
	if (s->placed >= 0 && (s->r0 != 0 || s->nr != s->rows))
		die("istft_stream_push_placed: a group of rows placed (istft_stream_push_rows)");
	return istft_stream_push_rows(s, last, y);
}

int64_t istft_stream_samples(const struct istft_stream *s)
{
	return s->done;
}
