/* test_resample.c: the streaming resampler (io/resample.h) makes, pushed in
 * pieces of any size, the samples resample_rows makes of the whole signal,
 * exactly as many as the rate says. */
#include <stdlib.h>
#include <string.h>

#include "resample.h"
#include "test.h"
#include "util.h"

static float *noise(int64_t n, uint64_t seed)
{
	float *x = xmalloc(sizeof(float) * (size_t)n);
	for (int64_t i = 0; i < n; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		x[i] = (float)((double)(seed >> 11) * 0x1p-53 * 2 - 1) * 0.5f;
	}
	return x;
}

static void test_stream_equals_whole(void)
{
	static const int rates[][2] = { { 44100, 48000 }, { 48000, 44100 }, { 22050, 44100 },
					{ 44100, 8000 } };
	static const int64_t lengths[] = { 1000, 44117 }, pieces[] = { 1, 333, 4096, 1000000 };
	const int64_t R = 2;
	for (int c = 0; c < 4; c++)
		for (int l = 0; l < 2; l++) {
			int in = rates[c][0], out = rates[c][1];
			int64_t N = lengths[l], M = resample_length(N, in, out);
			float *x = noise(R * N, 7 + l), *got = xmalloc(sizeof(float) * R * M);
			float *whole = resample_rows(x, R, N, in, out, M, "test");
			for (int k = 0; k < 4; k++) {
				if (pieces[k] == 1 && N > 5000)
					continue;	// a converter call a sample: slow
				struct resampler *rs = resampler_create(R, in, out, "test");
				int64_t pushed = 0, made = 0;
				bool fits = true;
				while (pushed < N) {
					int64_t n = N - pushed < pieces[k] ? N - pushed : pieces[k];
					const float *y;
					int64_t m = resampler_push(rs, x + pushed, N, n, pushed + n == N, &y);
					pushed += n;
					fits = fits && made + m <= M;
					for (int64_t r = 0; r < R && fits; r++)
						memcpy(got + r * M + made, y + r * m, sizeof(float) * m);
					made += m;
				}
				resampler_free(rs);
				CHECK(made == M, "%d to %d Hz, %lld samples in pieces of %lld: %lld made, "
				      "%lld wanted", in, out, (long long)N, (long long)pieces[k],
				      (long long)made, (long long)M);
				CHECK(fits && !memcmp(got, whole, sizeof(float) * R * M),
				      "%d to %d Hz, %lld samples in pieces of %lld: differ from the whole",
				      in, out, (long long)N, (long long)pieces[k]);
			}
			free(x), free(got), free(whole);
		}
	// the end alone, with nothing pushed before it: an empty signal
	struct resampler *rs = resampler_create(1, 44100, 48000, "test");
	const float *y;
	CHECK(resampler_push(rs, NULL, 0, 0, true, &y) == 0, "an empty signal makes samples");
	resampler_free(rs);
}

int main(void)
{
	RUN(test_stream_equals_whole);
	return test_summary();
}
