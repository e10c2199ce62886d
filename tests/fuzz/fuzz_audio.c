/* fuzz_audio.c: the audio readers (libsndfile through lib/audio.c) on
 * arbitrary bytes, as a named file and as standard input, then a little of
 * what they read through the channel map and the resampler
 * (lib/resample.c).  The try_ variants report instead of dying, so a
 * refusal is a return with nothing left open, and a leak is a finding. */
#include "fuzz.h"

#include "audio.h"
#include "resample.h"

static void convert(const float *x, int C, int64_t n, int sr)
{
	if (n > 4096)	// a little: the resampler's cost grows with the ratio
		n = 4096;
	float *y = channels_map(x, C, 2, n);
	if (sr != 44100 && sr >= 1000 && sr <= WAVE_MAX_RATE) {
		int64_t m = resample_length(n, sr, 44100);
		if (m > 0)
			free(resample_rows(y, 2, n, sr, 44100, m, "fuzz"));
	}
	free(y);
}

static void read_all(struct audio_reader *ar)
{
	char err[1024];
	int64_t n;
	if (!ar)
		return;
	float *x = audio_try_read_planar(ar, &n, err, sizeof err);
	if (x)
		convert(x, ar->channels, n, ar->sr);
	free(x);
	audio_close(ar);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file(data, size, ".audio");
	char err[1024];
	read_all(audio_try_open(path, err, sizeof err));
	if (!freopen(path, "rb", stdin))
		abort();
	read_all(audio_try_open_stdin(NULL, 0, err, sizeof err));
	return 0;
}
