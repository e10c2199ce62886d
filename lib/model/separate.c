/* separate.c: chunked inference on top of the model (separate.h): a long
 * spectrogram is cut into the model's segments, each batch of them goes
 * through model_forward, and the stems are cross-faded back (chunk.h). */
#include "separate.h"

#include <stdlib.h>
#include <string.h>

#include "chunk.h"
#include "config.h"
#include "util.h"

struct separator {
	struct model *m;
	const struct backend *be;
	int C, F, S;
	/* one record */
	struct backend_buffer rec_wave, rec_x, rec_out, rec_y;
	struct backend_buffer stage[2];	/* records copied ahead (separator_stage) */
	const real *staged[2];	/* the host array each holds */
	struct backend_stft *stft;
	void (*progress)(void *ctx, int64_t done, int64_t total);
	void *progress_ctx;
	/* the track being separated, separator_begin to its last frame taken */
	int64_t L, hop;		/* segment frames and grid */
	int64_t seg;		/* separator_segment's frames; 0: the model's max_frames */
	int64_t total;		/* its frames, -1 while unknown */
	int64_t R;		/* frames pushed */
	int64_t next;		/* the next segment to run */
	int64_t taken;		/* frames taken */
	int keep[CONFIG_MAX_SOURCES], n_keep;	/* the stems kept (in the window) */
	int take[CONFIG_MAX_SOURCES], n_take;	/* the kept stems taken, in order */
	/* The Wiener post-filter (separator_wiener): every stem is kept, and
	 * final frames are refined in blocks of wiener_frames from the track's
	 * first frame (the last block shorter), before any is taken; frames
	 * before `filtered` are refined. */
	int wiener, wiener_next;	/* EM iterations, 0: off; from the next track */
	int64_t wiener_frames, filtered;
	real *minus_ones;	/* [wiener_frames] −1s */
	/* The total was known before the first segment ran: every segment's
	 * place is known, so its ramps are divided by their sums as it runs
	 * (chunk.h's plan weights) and a take copies.  Otherwise the ramps
	 * are summed in den and a take divides. */
	bool norm;
	/* The windows, interleaved complex on the backend: wx the input (C·F
	 * rows) over frames [w0, w0 + wcap), zero from R on, and wy the kept
	 * stems' weighted sum (n_keep·C·F rows) over frames [y0, y0 + ycap),
	 * zero from y_hi (the end of the segments run so far) on.  wy holds
	 * only the frames not taken that a segment has reached or will reach
	 * in this push: its frames beyond y_hi would be zero, so its size is
	 * a segment's when the caller takes after each (separator_wants), where
	 * wx holds L − 1 frames beyond.  With the Wiener filter, which reads
	 * both at one stride, wy's frames are wx's.  Each is its own buffer
	 * (win_x, win_y) or, for a track pushed in one piece, the caller's
	 * memory (lent). */
	int64_t w0, wcap, y0, ycap, y_hi;
	real *wx, *wy;
	bool wx_lent, wy_lent;
	struct backend_buffer win_x, win_y, tmp;
	double *den;		/* [ycap] per frame of wy the ramps' sum (!norm) */
	real *ones;		/* [ones_cap] 1s */
	int64_t ones_cap;
	real *weight;		/* [max_batch × L] a batch's weights */
	int64_t *start, *ystart;	/* [max_batch] a batch's starts in wx and wy */
	/* With the total open, a segment runs once its frames are here; until
	 * the next one's place is known its stems wait here (n_keep·C·F rows
	 * of L frames), added to the window as far as their weight is known
	 * (frames before min(the next's grid start, R − L)). */
	struct backend_buffer pend;
	int64_t pend_s;		/* the segment waiting, -1: none */
	int64_t pend_done;	/* its frames added */
	real *pend_w;		/* [L] its weights */
};

struct separator *separator_create(struct model *m)
{
	struct separator *sp = xcalloc(1, sizeof *sp);
	sp->m = m;
	sp->be = m->be;
	sp->C = m->C, sp->F = m->F, sp->S = m->S;
	sp->stft = sp->be->stft_create(m->cfg.n_fft, m->cfg.hop_length);
	return sp;
}

void separator_free(struct separator *sp)
{
	if (!sp)
		return;
	const struct backend *be = sp->be;
	backend_buffer_free(be, &sp->stage[0]);
	backend_buffer_free(be, &sp->stage[1]);
	backend_buffer_free(be, &sp->rec_wave);
	backend_buffer_free(be, &sp->rec_x);
	backend_buffer_free(be, &sp->rec_out);
	backend_buffer_free(be, &sp->rec_y);
	backend_buffer_free(be, &sp->win_x);
	backend_buffer_free(be, &sp->win_y);
	backend_buffer_free(be, &sp->tmp);
	backend_buffer_free(be, &sp->pend);
	free(sp->pend_w);
	be->stft_free(sp->stft);
	free(sp->den);
	free(sp->ones);
	free(sp->minus_ones);
	free(sp->weight);
	free(sp->start);
	free(sp->ystart);
	free(sp);
}

/* ---- the streaming core ----
 *
 * Segments lie on a grid of `hop` frames; the last one moves back to end
 * at the track's last frame (chunk.h), so a segment's place is known once
 * frames beyond its end have arrived (it cannot be the last) or the total
 * is.  A segment runs once its frames are here; its kept stems are added
 * into the window with its weight, as far as the weight is known: its
 * ramp down depends on the next segment's place, so with the total open
 * the rest waits (pend) until that is known.  A frame is final once no
 * later segment can cover it.  With the total known from the start the weight is chunk.h's
 * normalised one and a take copies; else it is the unnormalised ramp,
 * summed per frame in den, and a take divides by den, which gives the
 * same cross-fade.  Frames taken leave the window when the next push
 * needs room; a track pushed in one piece is its own window. */

#define NO_SEGMENT (-2)	/* the track has no such segment */
#define NOT_YET (-1)	/* its place is not known yet */

/* The first frame of segment s, NOT_YET or NO_SEGMENT. */
static int64_t seg_start(const struct separator *sp, int64_t s)
{
	int64_t T = sp->total, L = sp->L, h = sp->hop;
	if (T < 0)
		return s * h + L < sp->R ? s * h : NOT_YET;
	if (T <= L)
		return s == 0 ? 0 : NO_SEGMENT;
	int64_t n = (T - L + h - 1) / h + 1;
	return s < n - 1 ? s * h : s == n - 1 ? T - L : NO_SEGMENT;
}

/* Frames of every segment: the model's, or the whole track when shorter. */
static int64_t seg_frames(const struct separator *sp)
{
	return sp->total >= 0 && sp->total < sp->L ? sp->total : sp->L;
}

/* The unnormalised ramp of segment s, at `start` (NOT_YET never), at its
 * frame i. */
static double seg_ramp(const struct separator *sp, int64_t s, int64_t start, int64_t i)
{
	int64_t len = seg_frames(sp), after = seg_start(sp, s + 1);
	int64_t in = s > 0 ? seg_start(sp, s - 1) + len - start : 0;
	int64_t out = after >= 0 ? start + len - after : 0;
	return chunk_ramp(len, in, out, i);
}

/* With the total known: the ramps' sum at frame f, over the segments
 * covering it in their order (as chunk.h's plan sums them). */
static double ramp_sum(const struct separator *sp, int64_t f)
{
	int64_t len = seg_frames(sp);
	double sum = 0;
	for (int64_t s = f >= len ? (f - len) / sp->hop : 0;; s++) {
		int64_t st = seg_start(sp, s);
		if (st == NO_SEGMENT || st > f)
			return sum;
		if (f < st + len)
			sum += seg_ramp(sp, s, st, f - st);
	}
}

/* Frames before this one are final: no segment still to run covers them. */
static int64_t final_frames(const struct separator *sp)
{
	int64_t s = seg_start(sp, sp->next);
	if (sp->total >= 0)
		return s == NO_SEGMENT ? sp->total : s;
	int64_t f = sp->R - sp->L;	// the last segment starts at or after it
	if (sp->next * sp->hop < f)
		f = sp->next * sp->hop;
	return f > 0 ? f : 0;
}

/* A plan over the window for the backend's gather and accumulate: segment
 * k of it is `len` frames at start[k], weighted by weight + k · len. */
static struct chunk_plan window_plan(int64_t T, int64_t len, int64_t n, int64_t *start,
				     real *weight)
{
	return (struct chunk_plan){ .T = T, .L = len, .n = n, .start = start, .weight = weight };
}

/* dst (rows, dT) at frame d0 += src (rows, sT) frames s0 .. s0 + n: added
 * straight from src when it is those frames or host memory (a push's piece
 * of a chunk), else through tmp; dst is zero there when this is a copy. */
static void move_frames(struct separator *sp, real *dst, int64_t dT, int64_t d0, const real *src,
			int64_t sT, int64_t s0, int64_t n, int64_t rows)
{
	const struct backend *be = sp->be;
	if (n <= 0)
		return;
	if (be->host && !(s0 == 0 && sT == n)) {	// chunk_accumulate's sum (1 · x), row by row
		#pragma omp parallel for schedule(static) if (rows * n > (1 << 16))
		for (int64_t r = 0; r < rows; r++) {
			real *o = dst + (r * dT + d0) * 2;
			const real *x = src + (r * sT + s0) * 2;
			for (int64_t i = 0; i < 2 * n; i++)
				o[i] += x[i];
		}
		return;
	}
	struct chunk_plan a = window_plan(dT, n, 1, &d0, sp->ones);
	if (s0 == 0 && sT == n) {
		be->chunk_accumulate(dst, src, &a, 0, rows, 2);
		return;
	}
	real *t = backend_buffer_want(be, &sp->tmp, (size_t)rows * n * 2);
	struct chunk_plan g = window_plan(sT, n, 1, &s0, NULL);
	be->chunk_gather(t, src, &g, 0, rows, 2);
	be->chunk_accumulate(dst, t, &a, 0, rows, 2);
}

/* At least n 1s in ones. */
static void want_ones(struct separator *sp, int64_t n)
{
	if (n <= sp->ones_cap)
		return;
	sp->ones = xrealloc(sp->ones, (size_t)n * sizeof(real));
	for (int64_t i = sp->ones_cap; i < n; i++)
		sp->ones[i] = 1;
	sp->ones_cap = n;
}

/* One window (rows of `old` frames) to cap frames, zero but for the
 * `keep` frames from `shift` moved to its front: in place when the size
 * stays. */
static void window_side(struct separator *sp, struct backend_buffer *own, real **w, bool lent,
			int64_t rows, int64_t old, int64_t cap, int64_t keep, int64_t shift)
{
	const struct backend *be = sp->be;
	size_t floats = (size_t)rows * cap * 2;
	if (lent)
		die("separator: a track pushed whole has no room for more frames");
	if (keep == 0) {
		*w = backend_buffer_want_zero(be, own, floats);
		return;
	}
	if (be->host && cap == old) {	// in place: each row's kept frames to its front
		real *p = *w;
		#pragma omp parallel for schedule(static) if (rows * cap > (1 << 19))
		for (int64_t r = 0; r < rows; r++) {
			real *row = p + r * cap * 2;
			memmove(row, row + shift * 2, (size_t)keep * 2 * sizeof(real));
			memset(row + keep * 2, 0, (size_t)(cap - keep) * 2 * sizeof(real));
		}
		return;
	}
	struct backend_buffer b = { 0 };
	real *p = backend_buffer_want(be, &b, floats);	// fresh: zero
	move_frames(sp, p, cap, 0, *w, old, shift, keep, rows);
	backend_buffer_free(be, own);
	*own = b;
	*w = p;
}

/* The end of the frames wy holds once frames up to `until` are pushed:
 * y_hi, or the end of the last segment that can then run (run_segments'
 * conditions with R = until; the total is set before a last push). */
static int64_t wy_until(struct separator *sp, int64_t until)
{
	int64_t R = sp->R, end = sp->y_hi, len = seg_frames(sp);
	bool norm = sp->next == 0 ? sp->total >= 0 : sp->norm;
	sp->R = until;
	for (int64_t s = sp->next;; s++) {
		int64_t st = seg_start(sp, s), nx = seg_start(sp, s + 1);
		if (st < 0 || st + len > sp->R || (nx == NOT_YET && norm))
			break;
		if (st + len > end)
			end = st + len;
		if (nx == NOT_YET)
			break;	// it waits: no segment after it can run yet
	}
	sp->R = R;
	return end;
}

/* wy (and den) to hold frames from `taken` to y_end: the frames taken
 * leave it, and it grows when that is not enough. */
static void wy_room(struct separator *sp, int64_t y_end, int64_t cap)
{
	int64_t rows = (int64_t)sp->n_keep * sp->C * sp->F, shift = sp->taken - sp->y0;
	int64_t keep = sp->y_hi > sp->taken ? sp->y_hi - sp->taken : 0;
	if (y_end - sp->y0 <= sp->ycap && cap == sp->ycap)
		return;
	window_side(sp, &sp->win_y, &sp->wy, sp->wy_lent, rows, sp->ycap, cap, keep, shift);
	double *den = cap == sp->ycap ? sp->den : xcalloc((size_t)cap, sizeof *den);
	if (keep > 0)
		memmove(den, sp->den + shift, (size_t)keep * sizeof *den);
	memset(den + keep, 0, (size_t)(cap - keep) * sizeof *den);
	if (den != sp->den)
		free(sp->den);
	sp->den = den;
	sp->y0 = sp->taken, sp->ycap = cap;
}

/* Room in the windows for frames up to `until`: frames taken leave them,
 * and they grow when that is not enough. */
static void window_room(struct separator *sp, int64_t until)
{
	int64_t rows = (int64_t)sp->C * sp->F;
	int64_t keep = sp->R - sp->taken, shift = sp->taken - sp->w0;
	if (until - sp->w0 > sp->wcap) {
		int64_t cap = until - sp->taken;
		if (cap < sp->wcap)
			cap = sp->wcap;	// the frames taken make the room
		else if (sp->total < 0)
			cap += cap / 2 + sp->L + sp->hop;	// a live stream: grow in steps
		else if (until < sp->total) {
			// chunks: room for one more of this push's size after what a
			// take of every ready frame leaves: with the total known the
			// segment not run yet starts before R − L + 1, and frames
			// final but not filtered are fewer than a Wiener block.  The
			// window is touched fresh once (first touches cost ~15× a
			// reuse on a VM), so it is no bigger than that.
			int64_t left = sp->L - 1 + (sp->wiener ? sp->wiener_frames : 0);
			if (cap < left + (until - sp->R))
				cap = left + (until - sp->R);
		}
		want_ones(sp, cap);
		window_side(sp, &sp->win_x, &sp->wx, sp->wx_lent, rows, sp->wcap, cap, keep, shift);
		sp->w0 = sp->taken, sp->wcap = cap;
	}
	if (sp->wiener) {	// wiener_em reads wx and wy at one stride: wy's frames are wx's
		sp->y_hi = sp->R;	// its frames from R on are zero, as wx's
		wy_room(sp, until, sp->wcap);
		return;
	}
	int64_t y_end = wy_until(sp, until), cap = y_end - sp->taken;
	if (y_end - sp->y0 <= sp->ycap)
		return;
	if (cap < sp->ycap)
		cap = sp->ycap;	// the frames taken make the room
	else if (sp->total < 0 && sp->ycap > 0)
		cap += cap / 2;	// a live stream: grow in steps
	wy_room(sp, y_end, cap);
}

/* Frames [a, b) of the waiting segment into the window, with its weights
 * (whose ramp down is known once the next segment's place is). */
static void pend_add(struct separator *sp, int64_t a, int64_t b)
{
	const struct backend *be = sp->be;
	int64_t rows = (int64_t)sp->C * sp->F, L = sp->L, st = seg_start(sp, sp->pend_s);
	if (b <= a)
		return;
	int64_t n = b - a, at = st + a - sp->y0;
	for (int64_t i = a; i < b; i++)
		sp->den[st - sp->y0 + i] += sp->pend_w[i];
	real *t = backend_buffer_want(be, &sp->tmp, (size_t)rows * n * 2);
	struct chunk_plan g = window_plan(L, n, 1, &a, NULL),
			  p = window_plan(sp->ycap, n, 1, &at, sp->pend_w + a);
	for (int k = 0; k < sp->n_keep; k++) {
		be->chunk_gather(t, sp->pend.p + (size_t)k * rows * L * 2, &g, 0, rows, 2);
		be->chunk_accumulate(sp->wy + (size_t)k * rows * sp->ycap * 2, t, &p, 0, rows, 2);
	}
	sp->pend_done = b;
}

/* The waiting segment's frames whose weight is known now: all of them
 * once the next segment's place is known (it is then done waiting), else
 * those before the next's grid start and before R − L (where no moved
 * last segment can reach). */
static void pend_settle(struct separator *sp)
{
	if (sp->pend_s < 0)
		return;
	int64_t s = sp->pend_s, st = seg_start(sp, s), L = sp->L, nx = seg_start(sp, s + 1);
	if (nx != NOT_YET) {	// its ramp down is known
		for (int64_t i = sp->pend_done; i < L; i++)
			sp->pend_w[i] = (real)seg_ramp(sp, s, st, i);
		pend_add(sp, sp->pend_done, L);
		sp->pend_s = -1;
		return;
	}
	int64_t safe = (s + 1) * sp->hop < sp->R - L ? (s + 1) * sp->hop : sp->R - L;
	pend_add(sp, sp->pend_done, safe - st < L ? safe - st : L);
}

/* A batch's masks as the model makes them (m->mask_sink): example b's
 * stem into the window with its weights (p), or into pend when it is the
 * batch's waiting segment (the examples from `applied` on). */
struct sink_ctx {
	struct separator *sp;
	const struct chunk_plan *p, *all;
	real *pw;
	int applied;
	size_t seg_in, stem;
	const real *x;		/* the batch's input: example b at x + b · seg_in */
	int64_t xT;		/* its rows' frames apart */
};

static void apply_masks(void *arg, int b, int s, const real *mask, const real *bias)
{
	struct sink_ctx *c = arg;
	struct separator *sp = c->sp;
	const real *x = c->x + b * c->seg_in;
	for (int k = 0; k < sp->n_keep; k++) {
		if (sp->keep[k] != s)
			continue;
		if (b < c->applied)
			sp->be->mask_accumulate(sp->wy + k * c->stem, mask, bias, x, c->p, b, sp->C,
						sp->F, c->xT);
		else
			sp->be->mask_accumulate(c->pw + k * c->seg_in, mask, bias, x, c->all, 0, sp->C,
						sp->F, c->xT);
	}
}

/* Run every segment that can run, max_batch at a time. */
static void run_segments(struct separator *sp)
{
	const struct backend *be = sp->be;
	struct model *m = sp->m;
	int64_t rows = (int64_t)sp->C * sp->F, len = seg_frames(sp);
	size_t seg_in = rows * len * 2, seg_out = sp->S * seg_in, stem = rows * sp->ycap * 2;
	bool dropout = m->dropout_active;
	if (sp->next == 0)
		sp->norm = sp->total >= 0;	// nothing is summed yet
	m->dropout_active = false;
	pend_settle(sp);
	for (;;) {
		int nb = 0;
		bool waits = false;	// the batch's last segment waits for the next's place
		for (int64_t s = sp->next; nb < m->max_batch && !waits; s++, nb++) {
			int64_t st = seg_start(sp, s), nx = seg_start(sp, s + 1);
			if (st < 0 || st + len > sp->R || (nx == NOT_YET && sp->norm))
				break;
			waits = nx == NOT_YET;
			real *w = sp->weight + nb * len;
			for (int64_t i = 0; i < len; i++) {
				double r = waits ? chunk_ramp(len, s > 0 ? seg_start(sp, s - 1) + len - st : 0,
							      0, i)
						 : seg_ramp(sp, s, st, i);
				if (sp->norm)
					r /= ramp_sum(sp, st + i);
				else if (!waits)
					sp->den[st - sp->y0 + i] += r;
				w[i] = (real)r;
			}
			sp->start[nb] = st - sp->w0, sp->ystart[nb] = st - sp->y0;
			if (st + len - sp->y0 > sp->ycap)
				die("separator: segment %lld past wy's %lld frames", (long long)s,
				    (long long)sp->ycap);
			if (st + len > sp->y_hi)
				sp->y_hi = st + len;
		}
		if (nb == 0)
			break;
		struct chunk_plan px = window_plan(sp->wcap, len, nb, sp->start, sp->weight),
				  p = window_plan(sp->ycap, len, nb, sp->ystart, sp->weight);
		// masks the separator applies itself: each kept stem made and added
		// to the window (or, waiting, to pend) in one pass (mask_sink: no
		// yspec, no whole masks; stems not kept never computed)
		bool fused = m->has_mask_sink;
		// one segment (the cpu's batch) read in place from the window by the
		// model and by the masks' pass, else gathered into m->x
		bool view = fused && nb == 1;
		for (int i = 0; i < nb && !view; i++)
			be->chunk_gather(m->x + i * seg_in, sp->wx, &px, i, rows, 2);
		real *pw = NULL;
		struct chunk_plan all = window_plan(len, len, 1, &(int64_t){ 0 }, NULL);
		if (waits) {	// fused: the masks are added into it, so zero
			size_t floats = (size_t)sp->n_keep * seg_in;
			pw = fused ? backend_buffer_want_zero(be, &sp->pend, floats)
				   : backend_buffer_want(be, &sp->pend, floats);
			if (fused) {
				want_ones(sp, len);
				all.weight = sp->ones;
			}
		}
		if (fused) {
			struct sink_ctx ctx = { .sp = sp, .p = &p, .all = &all, .pw = pw,
						.applied = nb - waits, .seg_in = seg_in, .stem = stem,
						.x = view ? sp->wx + sp->start[0] * 2 : m->x,
						.xT = view ? sp->wcap : len };
			for (int s = 0; s < sp->S; s++)
				m->mask_want[s] = false;
			for (int k = 0; k < sp->n_keep; k++)
				m->mask_want[sp->keep[k]] = true;
			m->mask_sink = apply_masks, m->mask_sink_ctx = &ctx;
			m->x_view = view ? ctx.x : NULL, m->x_view_T = ctx.xT;
			model_forward(m, nb, (int)len);
			m->mask_sink = NULL, m->mask_sink_ctx = NULL, m->x_view = NULL;
		} else {
			model_forward(m, nb, (int)len);
			for (int i = 0; i < nb - waits; i++)
				for (int k = 0; k < sp->n_keep; k++)
					be->chunk_accumulate(sp->wy + k * stem,
							     m->yspec + i * seg_out + sp->keep[k] * seg_in,
							     &p, i, rows, 2);
		}
		if (waits) {	// its stems wait, added as far as their weight is known
			int i = nb - 1;
			if (!fused)
				for (int k = 0; k < sp->n_keep; k++)
					be->chunk_gather(pw + k * seg_in,
							 m->yspec + i * seg_out + sp->keep[k] * seg_in,
							 &all, 0, rows, 2);
			sp->pend_w = xrealloc(sp->pend_w, (size_t)len * sizeof(real));
			memcpy(sp->pend_w, sp->weight + i * len, (size_t)len * sizeof(real));
			sp->pend_s = sp->next + i, sp->pend_done = 0;
		}
		sp->next += nb;
		pend_settle(sp);
		if (sp->progress)
			sp->progress(sp->progress_ctx, final_frames(sp), sp->total >= 0 ? sp->total : sp->R);
	}
	m->dropout_active = dropout;
}

void separator_begin(struct separator *sp, double overlap, int64_t total, const int *idx,
		     int n_out)
{
	if (!(overlap >= 0 && overlap < 1))
		die("separator_begin: overlap %g is outside [0, 1)", overlap);
	if (n_out < 1 || n_out > sp->S)
		die("separator_begin: %d stems kept of %d", n_out, sp->S);
	sp->wiener = sp->wiener_next;
	for (int k = 0; k < n_out; k++) {
		if (idx[k] < 0 || idx[k] >= sp->S)
			die("separator_begin: stem %d of %d", idx[k], sp->S);
		sp->keep[k] = idx[k];	// the filter keeps every stem, in the model's order
		sp->take[k] = sp->wiener ? idx[k] : k;
	}
	sp->n_keep = sp->n_take = n_out;
	if (sp->wiener) {
		sp->n_keep = sp->S;
		for (int s = 0; s < sp->S; s++)
			sp->keep[s] = s;
	}
	sp->filtered = 0;
	sp->L = sp->seg ? sp->seg : sp->m->max_frames;
	sp->hop = chunk_hop(sp->L, overlap);
	sp->total = total;
	sp->R = sp->next = sp->taken = sp->w0 = sp->wcap = sp->y0 = sp->ycap = sp->y_hi = 0;
	sp->norm = false;
	sp->pend_s = -1;
	sp->wx = sp->wy = NULL;	// the last track's buffers stay for window_room
	sp->wx_lent = sp->wy_lent = false;
	if (!sp->weight) {
		sp->weight = xmalloc((size_t)sp->m->max_batch * sp->m->max_frames * sizeof(real));
		sp->start = xmalloc((size_t)sp->m->max_batch * sizeof *sp->start);
		sp->ystart = xmalloc((size_t)sp->m->max_batch * sizeof *sp->ystart);
	}
}

void separator_wiener(struct separator *sp, int iterations, int64_t frames)
{
	if (iterations < 0 || (iterations > 0 && frames < 1))
		die("separator_wiener: %d iterations over blocks of %lld frames", iterations,
		    (long long)frames);
	sp->wiener_next = iterations;
	sp->wiener_frames = frames;
	free(sp->minus_ones);
	sp->minus_ones = iterations ? xmalloc((size_t)frames * sizeof(real)) : NULL;
	for (int64_t i = 0; iterations && i < frames; i++)
		sp->minus_ones[i] = -1;
}

void separator_segment(struct separator *sp, int64_t frames)
{
	if (frames < 0 || frames > sp->m->max_frames)
		die("separator_segment: %lld frames, the model takes 1 to %d", (long long)frames,
		    sp->m->max_frames);
	sp->seg = frames;
}

/* The window's frames [a, a + n) of every kept stem divided by their
 * ramps' sum (den, then 1), in place, as a take would divide them: the
 * frames copied out (tmp), subtracted exactly, and added back over den. */
static void normalise_frames(struct separator *sp, int64_t a, int64_t n)
{
	const struct backend *be = sp->be;
	int64_t rows = (int64_t)sp->n_keep * sp->C * sp->F, at = a - sp->y0;
	real *t = backend_buffer_want(be, &sp->tmp, (size_t)rows * n * 2);
	real *inv = xmalloc((size_t)n * sizeof *inv);
	for (int64_t i = 0; i < n; i++) {
		inv[i] = (real)(1 / sp->den[at + i]);
		sp->den[at + i] = 1;
	}
	struct chunk_plan g = window_plan(sp->ycap, n, 1, &at, NULL);
	be->chunk_gather(t, sp->wy, &g, 0, rows, 2);
	g.weight = sp->minus_ones;
	be->chunk_accumulate(sp->wy, t, &g, 0, rows, 2);
	g.weight = inv;
	be->chunk_accumulate(sp->wy, t, &g, 0, rows, 2);
	free(inv);
}

/* The Wiener post-filter over every whole block of final frames, and the
 * last, shorter one once the track's end is final. */
static void wiener_blocks(struct separator *sp)
{
	if (!sp->wiener)
		return;
	int64_t fin = final_frames(sp), W = sp->wiener_frames;
	bool end = sp->total >= 0 && fin == sp->total;
	if (sp->y0 != sp->w0 || sp->ycap != sp->wcap)
		die("separator: the Wiener filter's windows differ (wy %lld + %lld, wx %lld + %lld)",
		    (long long)sp->y0, (long long)sp->ycap, (long long)sp->w0, (long long)sp->wcap);
	while (sp->filtered < fin && (fin - sp->filtered >= W || end)) {
		int64_t n = fin - sp->filtered < W ? fin - sp->filtered : W, at = sp->filtered - sp->w0;
		if (!sp->norm)
			normalise_frames(sp, sp->filtered, n);
		sp->be->wiener_em(sp->wy + at * 2, sp->wx + at * 2, sp->S, sp->C, sp->F, sp->wcap, n,
				  sp->wiener);
		sp->filtered += n;
	}
}

/* Frames x0 .. x0 + n of x (C, F, xT) complex, backend memory. */
static void push_backend(struct separator *sp, const real *x, int64_t xT, int64_t x0, int64_t n,
			 bool last)
{
	int64_t rows = (int64_t)sp->C * sp->F;
	if (sp->total >= 0 && (sp->R + n > sp->total || (last && sp->R + n < sp->total)))
		die("separator_push: %lld frames pushed into a track of %lld",
		    (long long)(sp->R + n), (long long)sp->total);
	if (last)
		sp->total = sp->R + n;
	if (sp->R == 0 && n > 0 && sp->total == n && x0 == 0 && xT == n) {	// the whole track: it is the window
		sp->wx = (real *)x, sp->wx_lent = true;
		if (!sp->wy_lent) {
			size_t floats = (size_t)sp->n_keep * rows * n * 2;
			sp->wy = backend_buffer_want_zero(sp->be, &sp->win_y, floats);
		}
		sp->wcap = sp->ycap = n;
	} else {
		window_room(sp, sp->R + n);
		move_frames(sp, sp->wx, sp->wcap, sp->R - sp->w0, x, xT, x0, n, rows);
	}
	sp->R += n;
	run_segments(sp);
	wiener_blocks(sp);
	if (sp->wx_lent)
		sp->wx = NULL;	// the caller's memory is used up (no segment is left)
}

void separator_window(const struct separator *sp, int64_t *x, int64_t *y)
{
	*x = sp->wcap, *y = sp->ycap;
}

int64_t separator_ready(const struct separator *sp)
{
	return (sp->wiener ? sp->filtered : final_frames(sp)) - sp->taken;
}

/* out (n_take, C, F, n) complex on the backend: the next n final frames of
 * the stems taken; nothing to copy when the window is out itself. */
static void take_backend(struct separator *sp, real *out, int64_t n)
{
	const struct backend *be = sp->be;
	int64_t rows = (int64_t)sp->C * sp->F, f0 = sp->taken - sp->y0;
	size_t stem = (size_t)rows * sp->ycap * 2, part = (size_t)rows * n * 2;
	if (n > separator_ready(sp))
		die("separator_take: %lld frames asked, %lld final", (long long)n,
		    (long long)separator_ready(sp));
	if (n == 0 || out == sp->wy) {
		sp->taken += n;
		return;
	}
	struct chunk_plan g = window_plan(sp->ycap, n, 1, &f0, NULL);
	if (sp->norm) {
		for (int k = 0; k < sp->n_take; k++)
			be->chunk_gather(out + k * part, sp->wy + sp->take[k] * stem, &g, 0, rows, 2);
	} else {
		real *inv = xmalloc((size_t)n * sizeof *inv);
		for (int64_t i = 0; i < n; i++)
			inv[i] = (real)(1 / sp->den[f0 + i]);
		int64_t zero = 0;
		struct chunk_plan a = window_plan(n, n, 1, &zero, inv);
		be->zero(out, sp->n_take * part * sizeof(real));
		real *t = backend_buffer_want(be, &sp->tmp, part);
		for (int k = 0; k < sp->n_take; k++) {
			be->chunk_gather(t, sp->wy + sp->take[k] * stem, &g, 0, rows, 2);
			be->chunk_accumulate(out + k * part, t, &a, 0, rows, 2);
		}
		free(inv);
	}
	sp->taken += n;
}

bool separator_rows_in_place(const struct separator *sp)
{
	// norm is fixed once the first segment runs; before, a take has no frames
	return sp->be->host && (sp->norm || sp->wiener || sp->next == 0);
}

bool separator_take_rows(struct separator *sp, int64_t n,
			 void (*put)(void *ctx, const real *row, int64_t n), void *ctx)
{
	if (!separator_rows_in_place(sp))
		return false;
	if (n > separator_ready(sp))
		die("separator_take_rows: %lld frames asked, %lld final", (long long)n,
		    (long long)separator_ready(sp));
	int64_t rows = (int64_t)sp->C * sp->F, f0 = sp->taken - sp->y0;
	size_t stem = (size_t)rows * sp->ycap * 2;
	for (int k = 0; k < sp->n_take && n > 0; k++)
		for (int64_t r = 0; r < rows; r++)
			put(ctx, sp->wy + sp->take[k] * stem + (r * sp->ycap + f0) * 2, n);
	sp->taken += n;
	return true;
}

/* out (n_out, C, F, T) complex += stems idx of x (C, F, T) complex, both
 * backend memory: the track in one push, out its window. */
static void whole_track(struct separator *sp, real *out, const real *x, int64_t T, double overlap,
			const int *idx, int n_out)
{
	separator_begin(sp, overlap, T, idx, n_out);
	bool same = sp->n_keep == n_out;	// out can be the window: the same stems in order
	for (int k = 0; k < n_out; k++)
		same &= sp->take[k] == k;
	if (same)
		sp->wy = out, sp->wy_lent = true;
	push_backend(sp, x, T, 0, T, true);
	take_backend(sp, out, T);
}

void separator_run(struct separator *sp, real *out, const real *x, int64_t T, double overlap)
{
	int all[CONFIG_MAX_SOURCES] = { 0 };
	for (int s = 0; s < sp->S; s++)
		all[s] = s;
	if (T > 0)
		whole_track(sp, out, x, T, overlap, all, sp->S);
}

void separator_on_progress(struct separator *sp, void (*fn)(void *ctx, int64_t done, int64_t total),
			   void *ctx)
{
	sp->progress = fn;
	sp->progress_ctx = ctx;
}

/* Where a record's host array lives on the backend: the array itself on a
 * host backend (no copy, no second record in memory), else b, uploaded
 * when `upload`. */
static real *on_backend(const struct backend *be, struct backend_buffer *b, const real *host,
			 size_t floats, bool upload)
{
	if (be->host)
		return (real *)host;
	real *d = backend_buffer_want(be, b, floats);
	if (upload)
		be->upload(d, host, floats * sizeof(real));
	return d;
}

void separator_stage(struct separator *sp, int k, const real *x, size_t floats)
{
	const struct backend *be = sp->be;
	sp->staged[k] = x;
	if (be->host)
		return;	// used in place
	real *d = backend_buffer_want(be, &sp->stage[k], floats ? floats : 1);
	be->upload_async(d, x, floats * sizeof(real));
}

void separator_staged(struct separator *sp)
{
	sp->be->upload_fence();
}

/* The backend copy of x when x was staged, else NULL; the stage is used up. */
static const real *staged(struct separator *sp, const real *x)
{
	for (int k = 0; k < 2; k++)
		if (x && sp->staged[k] == x) {
			sp->staged[k] = NULL;
			return sp->be->host ? x : sp->stage[k].p;
		}
	return NULL;
}

void separator_push(struct separator *sp, const real *x, int64_t n, bool last)
{
	separator_push_part(sp, x, n, 0, n, last);
}

void separator_push_part(struct separator *sp, const real *x, int64_t T, int64_t t0, int64_t n,
			 bool last)
{
	if (t0 < 0 || n < 0 || t0 + n > T)
		die("separator_push_part: frames %lld to %lld of %lld", (long long)t0,
		    (long long)(t0 + n), (long long)T);
	const real *dx = staged(sp, x);
	if (!dx)
		dx = on_backend(sp->be, &sp->rec_x, x, (size_t)sp->C * sp->F * T * 2, true);
	push_backend(sp, dx, T, t0, n, last);
}

int64_t separator_wants(const struct separator *sp)
{
	int64_t end = -1, len = seg_frames(sp);
	if (sp->total >= 0) {	// every place known: the next batch's last segment's end
		for (int64_t s = sp->next; s < sp->next + sp->m->max_batch; s++) {
			int64_t st = seg_start(sp, s);
			if (st == NO_SEGMENT)
				break;
			end = st + len;
		}
		if (end < 0)
			end = sp->total;
	} else {	// a segment runs once a frame past its end is here
		end = (sp->next + sp->m->max_batch - 1) * sp->hop + sp->L + 1;
	}
	// a batch's hops at most: the input's window is sized for a push of
	// this one's size (window_room), so a first push of a whole segment
	// would leave it a segment bigger than the pushes after it need
	int64_t n = end > sp->R ? end - sp->R : 1, most = sp->hop * sp->m->max_batch;
	return n < most ? n : most;
}

void separator_take(struct separator *sp, real *out, int64_t n)
{
	const struct backend *be = sp->be;
	size_t floats = (size_t)sp->n_take * sp->C * sp->F * n * 2;
	real *d = on_backend(be, &sp->rec_out, out, floats, false);
	take_backend(sp, d, n);
	if (d != out)
		be->download(out, d, floats * sizeof(real));
}

void separator_spectrogram(struct separator *sp, real *out, const real *x, int64_t T,
			   double overlap, const int *idx, int n_out)
{
	const struct backend *be = sp->be;
	size_t stem = (size_t)sp->C * sp->F * T * 2, n = n_out * stem;
	if (T == 0)
		return;
	const real *dx = staged(sp, x);
	if (!dx)
		dx = on_backend(be, &sp->rec_x, x, stem, true);
	real *dout = on_backend(be, &sp->rec_out, out, n, false);
	be->zero(dout, n * sizeof(real));
	whole_track(sp, dout, dx, T, overlap, idx, n_out);
	if (dout != out)
		be->download(out, dout, n * sizeof(real));
}

void separator_waveform(struct separator *sp, real *y, const real *x, int64_t N,
			double overlap, const int *idx, int n_out)
{
	const struct backend *be = sp->be;
	int64_t T = chunk_segment_frames(N, sp->m->cfg.hop_length);
	size_t stem = (size_t)sp->C * sp->F * T * 2, wave = (size_t)sp->C * N;
	const real *dwave = staged(sp, x);
	if (!dwave)
		dwave = on_backend(be, &sp->rec_wave, x, wave, true);
	real *dx = backend_buffer_want(be, &sp->rec_x, stem);
	if (be->stft_forward(sp->stft, dx, dwave, sp->C, N))
		die("separator_waveform: %lld samples are too few for n_fft %d", (long long)N,
		    sp->m->cfg.n_fft);
	size_t n = n_out * stem;
	real *dout = backend_buffer_want_zero(be, &sp->rec_out, n);
	whole_track(sp, dout, dx, T, overlap, idx, n_out);
	real *dy = on_backend(be, &sp->rec_y, y, n_out * wave, false);
	for (int i = 0; i < n_out; i++)
		if (be->stft_inverse(sp->stft, dy + i * wave, dout + i * stem, sp->C, T, N))
			die("separator_waveform: inverse STFT of %lld samples failed", (long long)N);
	if (dy != y)
		be->download(y, dy, n_out * wave * sizeof(real));
}

int separator_istft(struct separator *sp, real *y, const real *spec, int64_t rows, int64_t T,
		    int64_t N)
{
	const struct backend *be = sp->be;
	size_t in = (size_t)rows * sp->F * T * 2, out = (size_t)rows * N;
	const real *dspec = on_backend(be, &sp->rec_out, spec, in, true);
	real *dy = on_backend(be, &sp->rec_y, y, out, false);
	if (be->stft_inverse(sp->stft, dy, dspec, rows, T, N))
		return -1;
	if (dy != y)
		be->download(y, dy, out * sizeof(real));
	return 0;
}
