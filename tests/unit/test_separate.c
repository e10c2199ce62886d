/* test_separate.c: chunked inference (lib/model/separate.h) on the cpu backend:
 * the selected stems of separator_spectrogram against every stem of
 * separator_run, and separator_waveform against stft → separator_run →
 * istft.  Same functions in the same order, so the results must be equal
 * bit for bit; a difference means a record mode lost or reordered a step. */
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "chunk.h"
#include "config.h"
#include "model.h"
#include "ops.h"
#include "rng.h"
#include "separate.h"
#include "stft.h"
#include "test.h"
#include "util.h"

/* tiny.ini with 20-frame segments (so a few seconds make many) and every
 * weight random, W_out and the biases included: the head then depends on
 * the whole body, unlike a fresh model's constant mask. */
static struct model *random_model(int batch)
{
	struct config c;
	config_load_or_die(&c, "configs/tiny.ini");
	c.segment_length = 19 * c.hop_length;
	struct model *m = model_create(&c, &backend_cpu, batch, model_segment_frames(&c), false);
	model_init(m, 3);
	for (size_t i = 0; i < m->n_params; i++)
		m->params[i] += 0.05f * rng_normal(4, 5, i);
	return m;
}

/* out (S, C, F, T) complex: every stem of x (C, F, T) */
static void model_separate(struct model *m, float *out, const float *x, int64_t T, double overlap)
{
	struct separator *sp = separator_create(m);
	memset(out, 0, (size_t)m->S * m->C * m->F * T * 2 * sizeof(float));
	separator_run(sp, out, x, T, overlap);
	separator_free(sp);
}

static float *random_signal(size_t n, uint64_t seed)
{
	float *x = xmalloc(n * sizeof(float));
	for (size_t i = 0; i < n; i++)
		x[i] = rng_uniform(seed, 1, i) - 0.5f;
	return x;
}

static void test_spectrogram_equals_model_separate(void)
{
	for (int batch = 1; batch <= 3; batch += 2) {
		struct model *m = random_model(batch);
		int64_t T = 97;	// 6 segments of 20 frames, the last moved back
		size_t stem = (size_t)m->C * m->F * T * 2;
		float *x = random_signal(stem, 7);
		float *ref = xmalloc(m->S * stem * sizeof(float));
		float *out = xmalloc(m->S * stem * sizeof(float));
		model_separate(m, ref, x, T, 0.25);
		struct separator *sp = separator_create(m);
		int idx[] = { 3, 0 };
		separator_spectrogram(sp, out, x, T, 0.25, idx, 2);
		CHECK(!memcmp(out, ref + 3 * stem, stem * sizeof(float)), "batch %d: vocals differ", batch);
		CHECK(!memcmp(out + stem, ref, stem * sizeof(float)), "batch %d: drums differ", batch);
		// a short record (one segment of fewer frames) after a long one
		separator_spectrogram(sp, out, x, 9, 0.25, idx, 1);
		model_separate(m, ref, x, 9, 0.25);
		CHECK(!memcmp(out, ref + 3 * (stem / T * 9), stem / T * 9 * sizeof(float)),
		      "batch %d: short record differs", batch);
		separator_free(sp);
		free(x);
		free(ref);
		free(out);
		model_free(m);
	}
}

static void test_waveform_equals_stft_separate_istft(void)
{
	struct model *m = random_model(2);
	int64_t N = 5000, T = 1 + N / m->cfg.hop_length;
	size_t wave = (size_t)m->C * N, stem = (size_t)m->C * m->F * T * 2;
	float *x = random_signal(wave, 9);
	float *spec = xmalloc(stem * sizeof(float));
	float *stems = xmalloc(m->S * stem * sizeof(float));
	float *ref = xmalloc(m->S * wave * sizeof(float));
	struct stft *st = stft_create(m->cfg.n_fft, m->cfg.hop_length);
	for (int c = 0; c < m->C; c++)
		CHECK(!stft_forward(st, spec + c * stem / m->C, x + c * N, N), "stft");
	model_separate(m, stems, spec, T, 0.5);
	for (int r = 0; r < m->S * m->C; r++)
		CHECK(!stft_inverse(st, ref + r * N, stems + r * stem / m->C, T, N), "istft");

	struct separator *sp = separator_create(m);
	float *y = xmalloc(m->S * wave * sizeof(float));
	int idx[] = { 0, 1, 2, 3 };
	separator_waveform(sp, y, x, N, 0.5, idx, 4);
	CHECK(!memcmp(y, ref, m->S * wave * sizeof(float)), "waveform stems differ");
	// separator_istft: the stems' spectrograms back to the same waveforms
	CHECK(!separator_istft(sp, y, stems, m->S * m->C, T, N), "separator_istft refused");
	CHECK(!memcmp(y, ref, m->S * wave * sizeof(float)), "separator_istft differs");
	separator_free(sp);
	stft_free(st);
	free(x);
	free(spec);
	free(stems);
	free(ref);
	free(y);
	model_free(m);
}

/* out (S, C, F, T) complex: x separated as chunk.h defines it, segment by
 * segment with the plan's normalised weights: the reference of the
 * streaming separator. */
/* The largest |got − ref| over the stems taken: got (n_out, stem) against
 * ref's stems idx (S, stem). */
static double stems_error(const float *got, const float *ref, const int *idx, int n_out,
			  size_t stem)
{
	double worst = 0;
	for (int j = 0; j < n_out; j++)
		for (size_t i = 0; i < stem; i++)
			worst = fmax(worst, fabs(got[j * stem + i] - ref[idx[j] * stem + i]));
	return worst;
}

/* n frames of each of rows rows (complex): dst's from frame d0 (rows dT
 * long) = src's from frame s0 (rows sT long). */
static void copy_frames(float *dst, int64_t dT, int64_t d0, const float *src, int64_t sT,
			int64_t s0, int64_t n, int64_t rows)
{
	for (int64_t r = 0; r < rows; r++)
		memcpy(dst + (r * dT + d0) * 2, src + (r * sT + s0) * 2, (size_t)n * 2 * sizeof(float));
}

static void plan_separate(struct model *m, float *out, const float *x, int64_t T, double overlap)
{
	struct chunk_plan *p = chunk_plan_create(T, m->max_frames, overlap);
	int64_t rows = (int64_t)m->C * m->F;
	memset(out, 0, (size_t)m->S * rows * T * 2 * sizeof(float));
	for (int64_t s = 0; s < p->n; s++) {
		chunk_gather(m->x, x, p, s, rows, 2);
		model_forward(m, 1, (int)p->L);
		chunk_accumulate(out, m->yspec, p, s, m->S * rows, 2);
	}
	chunk_plan_free(p);
}

/* A track of T frames of random input x, the plan's stems of it (ref),
 * and room for the stems taken (got), a take (part) and a piece (px). */
struct track {
	float *x, *ref, *got, *part, *px;
	size_t stem;		/* floats of a stem, or of x */
};

static struct track track_make(struct model *m, int64_t T, double overlap, uint64_t seed)
{
	struct track t = { .stem = (size_t)m->C * m->F * T * 2 };
	t.x = random_signal(t.stem, seed);
	t.ref = xmalloc(4 * t.stem * sizeof(float));
	t.got = xmalloc(4 * t.stem * sizeof(float));
	t.part = xmalloc(4 * t.stem * sizeof(float));
	t.px = xmalloc(t.stem * sizeof(float));
	plan_separate(m, t.ref, t.x, T, overlap);
	return t;
}

static void track_free(struct track *t)
{
	free(t->x), free(t->ref), free(t->got), free(t->part), free(t->px);
}

/* A track pushed in pieces, every final frame taken after each push, the
 * total known from the start or only at the last push, every stem kept or
 * some in another order: the stems of chunk.h's plan whatever the pieces,
 * to the model's rounding when the total is known (the same weights, added
 * in the same order), to float rounding when not (a take divides by the
 * sum). */
static void test_stream_equals_plan(void)
{
	struct model *m = random_model(2);
	int64_t rows = (int64_t)m->C * m->F;
	static const int every[] = { 0, 1, 2, 3 }, some[] = { 3, 0 };
	static const double overlaps[] = { 0, 0.25, 0.6 };
	static const int64_t lengths[] = { 97, 15, 41 }, pieces[] = { 1, 7, 23, 200 };
	struct separator *sp = separator_create(m);
	for (int o = 0; o < 3; o++)
		for (int l = 0; l < 3; l++) {
			int64_t T = lengths[l];
			struct track t = track_make(m, T, overlaps[o], 17 + l);
			float *x = t.x, *ref = t.ref, *got = t.got, *part = t.part, *px = t.px;
			size_t stem = t.stem;
			for (int k = 0; k < 4; k++)
				for (int known = 0; known < 2; known++) {
					// every stem, or some in another order
					const int *idx = k & 1 ? some : every;
					int n_out = k & 1 ? 2 : 4;
					separator_begin(sp, overlaps[o], known ? T : -1, idx, n_out);
					int64_t pushed = 0, taken = 0;
					while (pushed < T) {
						int64_t n = T - pushed < pieces[k] ? T - pushed : pieces[k];
						copy_frames(px, n, 0, x, T, pushed, n, rows);
						pushed += n;
						separator_push(sp, px, n, pushed == T);
						int64_t ready = separator_ready(sp);
						// the total open: final as soon as no segment to
						// come can reach it, a segment behind the newest
						int64_t lag = pushed - m->max_frames;
						CHECK(known || pushed == T || taken + ready == (lag > 0 ? lag : 0),
						      "overlap %g pieces %lld: %lld pushed, %lld final",
						      overlaps[o], (long long)pieces[k], (long long)pushed,
						      (long long)(taken + ready));
						separator_take(sp, part, ready);
						copy_frames(got, T, taken, part, ready, 0, ready, n_out * rows);
						taken += ready;
					}
					CHECK(taken == T, "overlap %g T %lld pieces %lld: %lld frames taken",
					      overlaps[o], (long long)T, (long long)pieces[k], (long long)taken);
					double worst = stems_error(got, ref, idx, n_out, stem);
					// known: the plan's weights in its order, but the
					// separator runs segments in batches of up to 2 and
					// the plan one at a time: OpenBLAS picks its kernels
					// by the GEMM's size (AVX-512's small-matrix ones
					// round differently), so a batch is not always the
					// bits of its examples run alone
					CHECK(known ? worst < 1e-6 : worst < 1e-5,
					      "overlap %g T %lld pieces %lld total %s: error %.3g",
					      overlaps[o], (long long)T, (long long)pieces[k],
					      known ? "known" : "unknown", worst);
				}
			track_free(&t);
		}
	separator_free(sp);
	model_free(m);
}

/* A track in chunks, each pushed separator_wants frames at a time from
 * the chunk in place (separator_push_part), every final frame taken after
 * each push, as sepnet-fwd pushes on the cpu: the plan's stems, the
 * stems' window no bigger than a batch of segments and the input's than
 * L − 1 frames and a batch's hops (with the total known; open, they grow
 * in steps as a live stream's do). */
static void test_stream_wants(void)
{
	struct model *m = random_model(2);
	int64_t rows = (int64_t)m->C * m->F, L = m->max_frames;
	static const int every[] = { 0, 1, 2, 3 };
	static const double overlaps[] = { 0, 0.25, 0.6 };
	static const int64_t lengths[] = { 97, 15, 41, 19 }, chunks[] = { 1, 7, 23, 200 };
	struct separator *sp = separator_create(m);
	for (int o = 0; o < 3; o++)
		for (int l = 0; l < 4; l++) {
			int64_t T = lengths[l], hop = chunk_hop(L, overlaps[o]);
			struct track t = track_make(m, T, overlaps[o], 41 + l);
			float *x = t.x, *ref = t.ref, *got = t.got, *part = t.part, *px = t.px;
			size_t stem = t.stem;
			for (int k = 0; k < 4; k++)
				for (int known = 0; known < 2; known++) {
					separator_begin(sp, overlaps[o], known ? T : -1, every, 4);
					int64_t pushed = 0, taken = 0, pushes = 0, most = 0, most_x = 0;
					while (pushed < T) {	// a chunk of up to chunks[k] frames
						int64_t c = T - pushed < chunks[k] ? T - pushed : chunks[k];
						copy_frames(px, c, 0, x, T, pushed, c, rows);
						for (int64_t t = 0; t < c;) {
							int64_t n = separator_wants(sp);
							CHECK(n >= 1, "wants %lld", (long long)n);
							if (n > c - t)
								n = c - t;
							separator_push_part(sp, px, c, t, n, pushed + t + n == T);
							t += n, pushes++;
							int64_t ready = separator_ready(sp), wx, wy;
							separator_take(sp, part, ready);
							copy_frames(got, T, taken, part, ready, 0, ready, 4 * rows);
							taken += ready;
							separator_window(sp, &wx, &wy);
							most = wy > most ? wy : most;
							most_x = wx > most_x ? wx : most_x;
						}
						pushed += c;
					}
					CHECK(taken == T, "T %lld chunks %lld: %lld frames taken", (long long)T,
					      (long long)chunks[k], (long long)taken);
					CHECK(!known || most <= L + hop,
					      "overlap %g T %lld chunks %lld: the stems' window held %lld frames, "
					      "a batch of 2 segments is %lld",
					      overlaps[o], (long long)T, (long long)chunks[k], (long long)most,
					      (long long)(L + hop));
					CHECK(!known || most_x <= L - 1 + 2 * hop,
					      "overlap %g T %lld chunks %lld: the input's window held %lld frames, "
					      "L - 1 and 2 hops are %lld",
					      overlaps[o], (long long)T, (long long)chunks[k], (long long)most_x,
					      (long long)(L - 1 + 2 * hop));
					double worst = stems_error(got, ref, every, 4, stem);
					CHECK(known ? worst < 1e-6 : worst < 1e-5,
					      "overlap %g T %lld chunks %lld total %s: error %.3g (%lld pushes)",
					      overlaps[o], (long long)T, (long long)chunks[k],
					      known ? "known" : "unknown", worst, (long long)pushes);
				}
			track_free(&t);
		}
	separator_free(sp);
	model_free(m);
}

/* With the Wiener post-filter: the plan's stems refined block by block
 * (blocks of W frames from the track's first), whatever the pieces pushed,
 * the total known or not, every stem taken or some; a frame is handed out
 * only once its block is refined. */
static void test_stream_wiener_equals_blocks(void)
{
	struct model *m = random_model(2);
	int64_t rows = (int64_t)m->C * m->F, T = 97, W = 30;
	static const int every[] = { 0, 1, 2, 3 }, some[] = { 3, 0 };
	static const int64_t pieces[] = { 1, 7, 23, 200 };
	size_t stem = (size_t)rows * T * 2;
	float *x = random_signal(stem, 29), *ref = xmalloc(4 * stem * sizeof(float));
	float *got = xmalloc(4 * stem * sizeof(float)), *part = xmalloc(4 * stem * sizeof(float));
	float *px = xmalloc(stem * sizeof(float));
	plan_separate(m, ref, x, T, 0.25);
	double top = 0;
	for (int64_t t0 = 0; t0 < T; t0 += W)
		wiener_em(ref + t0 * 2, x + t0 * 2, m->S, m->C, m->F, T, T - t0 < W ? T - t0 : W, 2);
	for (size_t i = 0; i < 4 * stem; i++)
		top = fmax(top, fabs(ref[i]));
	struct separator *sp = separator_create(m);
	separator_wiener(sp, 2, W);
	for (int k = 0; k < 4; k++)
		for (int known = 0; known < 2; known++) {
			const int *idx = k & 1 ? some : every;
			int n_out = k & 1 ? 2 : 4;
			separator_begin(sp, 0.25, known ? T : -1, idx, n_out);
			int64_t pushed = 0, taken = 0;
			bool whole_blocks = true;
			while (pushed < T) {
				int64_t n = T - pushed < pieces[k] ? T - pushed : pieces[k];
				copy_frames(px, n, 0, x, T, pushed, n, rows);
				pushed += n;
				separator_push(sp, px, n, pushed == T);
				int64_t ready = separator_ready(sp);
				whole_blocks &= pushed == T || (taken + ready) % W == 0;
				separator_take(sp, part, ready);
				copy_frames(got, T, taken, part, ready, 0, ready, n_out * rows);
				taken += ready;
			}
			CHECK(whole_blocks, "pieces %lld: a block handed out before it was whole",
			      (long long)pieces[k]);
			CHECK(taken == T, "pieces %lld: %lld frames taken", (long long)pieces[k],
			      (long long)taken);
			double worst = stems_error(got, ref, idx, n_out, stem);
			// the stems before the filter differ by float rounding (see
			// test_stream_equals_plan), which its divisions may grow
			CHECK(worst < 1e-5 * top, "pieces %lld total %s: error %.3g of %.3g",
			      (long long)pieces[k], known ? "known" : "unknown", worst, top);
		}
	// a record in one piece (sepnet-fwd's whole records): the same blocks
	for (int k = 0; k < 2; k++) {
		const int *idx = k ? some : every;
		int n_out = k ? 2 : 4;
		separator_spectrogram(sp, got, x, T, 0.25, idx, n_out);
		double worst = stems_error(got, ref, idx, n_out, stem);
		CHECK(worst < 1e-5 * top, "a whole record, %d stems: error %.3g of %.3g", n_out,
		      worst, top);
	}
	// the filter changes the stems: the check above is not of a no-op
	float *plain = xmalloc(4 * stem * sizeof(float));
	plan_separate(m, plain, x, T, 0.25);
	double moved = 0;
	for (size_t i = 0; i < 4 * stem; i++)
		moved = fmax(moved, fabs(plain[i] - ref[i]));
	CHECK(moved > 1e-2 * top, "the filter moved the stems by %.3g of %.3g", moved, top);
	free(plain);
	free(x), free(ref), free(got), free(part), free(px);
	separator_free(sp);
	model_free(m);
}

/* features_forward and mask_accumulate reading x's rows in place, xT
 * frames apart (a segment in the separator's window): the bits of the
 * packed rows, σ's sum included. */
static void test_ops_in_place(void)
{
	int C = 2, F = 33;
	int64_t T = 50, xT = 77, at = 11, CF = (int64_t)C * F;
	float *win = random_signal((size_t)CF * xT * 2, 61), *x = xmalloc(CF * T * 2 * sizeof(float));
	for (int64_t r = 0; r < CF; r++)
		memcpy(x + r * T * 2, win + (r * xT + at) * 2, (size_t)T * 2 * sizeof(float));
	float *fa = xmalloc(CF * T * 2 * sizeof(float)), *fb = xmalloc(CF * T * 2 * sizeof(float));
	float sa, sb;
	features_forward(fa, &sa, x, 1, C, F, (int)T, T);
	features_forward(fb, &sb, win + at * 2, 1, C, F, (int)T, xT);
	CHECK(sa == sb && !memcmp(fa, fb, CF * T * 2 * sizeof(float)),
	      "features in place: sigma %.9g against %.9g", sb, sa);
	struct chunk_plan *plan = chunk_plan_create(3 * T, T, 0.25);
	float *mask = random_signal(2 * CF * T, 62), *bias = random_signal(2 * CF, 63);
	float *oa = random_signal(CF * 3 * T * 2, 64), *ob = xmalloc(CF * 3 * T * 2 * sizeof(float));
	memcpy(ob, oa, CF * 3 * T * 2 * sizeof(float));
	for (int64_t k = 0; k < plan->n; k++) {
		mask_accumulate(oa, mask, bias, x, plan, k, C, F, T);
		mask_accumulate(ob, mask, bias, win + at * 2, plan, k, C, F, xT);
	}
	CHECK(!memcmp(oa, ob, CF * 3 * T * 2 * sizeof(float)), "mask_accumulate in place");
	chunk_plan_free(plan);
	free(win), free(x), free(fa), free(fb), free(mask), free(bias), free(oa), free(ob);
}

/* The table's stft ops on many rows equal stft.h row by row. */
static void test_backend_stft_rows(void)
{
	int64_t rows = 5, n = 3001;
	struct stft *st = stft_create(256, 64);
	struct backend_stft *bs = backend_cpu.stft_create(256, 64);
	int64_t T = stft_frames(st, n);
	size_t row = 2 * (size_t)stft_bins(st) * T;
	float *x = random_signal(rows * n, 13), *a = xmalloc(rows * row * sizeof(float));
	float *b = xmalloc(rows * row * sizeof(float)), *y = xmalloc(rows * n * sizeof(float));
	CHECK(!backend_cpu.stft_forward(bs, a, x, rows, n), "stft_forward");
	for (int64_t r = 0; r < rows; r++)
		stft_forward(st, b + r * row, x + r * n, n);
	CHECK(!memcmp(a, b, rows * row * sizeof(float)), "rows differ from stft_forward");
	CHECK(!backend_cpu.stft_inverse(bs, y, a, rows, T, n), "stft_inverse");
	double worst = 0;
	for (int64_t i = 0; i < rows * n; i++)
		worst = fmax(worst, fabs(y[i] - x[i]));
	CHECK(worst < 1e-5, "round trip error %.3g", worst);	// f32 FFT rounding
	CHECK(backend_cpu.stft_inverse(bs, y, a, rows, T, n + 200) == -1, "too long accepted");
	backend_cpu.stft_free(bs);
	stft_free(st);
	free(x), free(a), free(b), free(y);
}

int main(void)
{
	RUN(test_spectrogram_equals_model_separate);
	RUN(test_stream_equals_plan);
	RUN(test_stream_wants);
	RUN(test_stream_wiener_equals_blocks);
	RUN(test_waveform_equals_stft_separate_istft);
	RUN(test_backend_stft_rows);
	RUN(test_ops_in_place);
	return test_summary();
}
