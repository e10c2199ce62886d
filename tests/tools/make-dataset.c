/* make-dataset: write a MUSDB18-HQ-layout dataset of synthetic songs.
 *
 *   make-dataset [--seed N] [--train N] [--test N] [--seconds S] [--valid-names K]
 *                [--render [--soundfont FILE]... [-j N]] ROOT
 *
 * --render composes songs and plays them with sampled instruments
 * (lib/data/render.h, FluidSynth); without it, the songs below.
 * ROOT/{train,test}/<Artist - Title>/{mixture,drums,bass,other,vocals}.wav,
 * 44.1 kHz stereo 16-bit PCM like MUSDB18-HQ.  Each song has a random tempo,
 * key, chord progression and stem levels:
 *   drums   kick (a falling sine thump), snare (noise burst and tone) and
 *           hi-hats (differentiated noise) on a beat grid, each panned;
 *   bass    harmonic notes on the chord roots and fifths, eighth notes;
 *   other   sustained chords of saw-like tones, detuned between channels;
 *   vocals  a monophonic melody on the scale with glides, vibrato and a
 *           vowel-formant spectral envelope, silent every third bar.
 * Stems are quantised to 16 bits first and the mixture is the sum of the
 * quantised stems, so the files' stems add up to the mixture exactly; peak
 * levels keep the sum below full scale.  Song durations are drawn in
 * [SECONDS, 1.25 SECONDS].  --valid-names K names the first K training songs
 * after the official MUSDB18 validation tracks.  The same seed writes the
 * same bytes. */
#include <errno.h>
#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "dataset.h"
#include "render.h"
#include "rng.h"
#include "util.h"

#define SR 44100
#define NSTEMS 4
#define TWO_PI 6.283185307179586

static const char usage[] =
	"usage: make-dataset [--seed N] [--train N] [--test N] [--seconds S] [--valid-names K]\n"
	"                    [--render [--soundfont FILE]... [-j N]] ROOT";
static const char options_text[] =
	"Synthetic songs in the MUSDB18-HQ layout: ROOT/{train,test}/SONG/{mixture,drums,bass,\n"
	"other,vocals}.wav, 44.1 kHz stereo 16-bit; the same seed writes the same bytes.\n"
	"      --seed=N         the random seed (default 0)\n"
	"      --train=N        songs in train (default 3)\n"
	"      --test=N         songs in test (default 2)\n"
	"      --seconds=S      durations between S and 1.25 S (default 5)\n"
	"      --valid-names=K  name the first K train songs after MUSDB's validation tracks\n"
	"      --render         composed songs played by sampled instruments (FluidSynth) from\n"
	"                       SoundFonts, with reverb, EQ, compression and mixing levels\n"
	"      --soundfont=FILE a SoundFont (.sf2, .sf3) to draw each stem's instruments from;\n"
	"                       repeat for more (default: the installed training set, every\n"
	"                       one of make deps but TimGM6mb, held out for evaluation)\n"
	"  -j, --jobs=N         songs rendered at once (default: the cores)\n"
	"  -h, --help           this help\n";

struct song {
	int64_t n;		/* frames */
	double beat;		/* seconds per beat */
	int root;		/* MIDI note of the key's tonic, bass register */
	int minor;
	const int *progression;	/* scale degrees (0-based), one chord per bar */
	float *stem[NSTEMS];	/* planar [2, n] each */
};

static const int major_scale[7] = { 0, 2, 4, 5, 7, 9, 11 };
static const int minor_scale[7] = { 0, 2, 3, 5, 7, 8, 10 };
static const int progressions[4][4] = {
	{ 0, 4, 5, 3 },		/* I V vi IV */
	{ 5, 3, 0, 4 },		/* vi IV I V */
	{ 0, 3, 4, 3 },		/* I IV V IV */
	{ 0, 5, 2, 6 },		/* i VI III VII in minor */
};

static double midi_hz(double note)
{
	return 440.0 * pow(2.0, (note - 69.0) / 12.0);
}

/* Semitone offset of scale degree d (any integer) from the tonic. */
static int degree_semitones(const struct song *s, int d)
{
	const int *scale = s->minor ? minor_scale : major_scale;
	int oct = d >= 0 ? d / 7 : -((-d + 6) / 7);
	return 12 * oct + scale[d - 7 * oct];
}

/* chord tone k (0 root, 1 third, 2 fifth) of the chord at time t */
static int chord_note(const struct song *s, double t, int k)
{
	int bar = (int)(t / (4 * s->beat));
	int deg = s->progression[bar % 4];
	return s->root + degree_semitones(s, deg + 2 * k);
}

/* Add a mono signal to both channels of a planar stem with pan in [-1, 1]
 * (constant power). */
static void add_panned(float *stem, int64_t n, int64_t i, float x, float pan)
{
	float a = (float)((pan + 1.0) * M_PI / 4.0);
	stem[i] += x * cosf(a);
	stem[n + i] += x * sinf(a);
}

static void render_drums(struct song *s, struct rng *r)
{
	float *d = s->stem[0];
	double eighth = s->beat / 2;
	float hat_pan = rng_next_range(r, -0.8f, 0.8f);
	float snare_pan = rng_next_range(r, -0.3f, 0.3f);
	int64_t nsteps = (int64_t)(s->n / (eighth * SR)) + 1;
	for (int64_t k = 0; k < nsteps; k++) {
		int64_t start = (int64_t)(k * eighth * SR);
		int pos = (int)(k % 8);	/* eighth within the bar */
		int kick = pos == 0 || pos == 4 || (pos == 7 && rng_next_uniform(r) < 0.3f);
		int snare = pos == 2 || pos == 6;
		float vel = rng_next_range(r, 0.7f, 1.0f);
		int64_t len = (int64_t)(0.4 * SR);
		double phase = 0;
		for (int64_t i = 0; i < len && start + i < s->n; i++) {
			double t = (double)i / SR;
			float x = 0;
			if (kick) {
				phase += TWO_PI * (50.0 + 90.0 * exp(-t / 0.03)) / SR;
				x += (float)(sin(phase) * exp(-t / 0.15));
			}
			float noise = rng_next_range(r, -1.0f, 1.0f);
			if (snare)
				x += (float)((0.6 * noise + 0.4 * sin(TWO_PI * 185.0 * t)) * exp(-t / 0.08));
			add_panned(d, s->n, start + i, vel * x, snare ? snare_pan : 0.0f);
			if (i < (int64_t)(0.06 * SR)) {	/* hi-hat: high-passed noise */
				float hp = noise - rng_next_range(r, -1.0f, 1.0f);
				add_panned(d, s->n, start + i, 0.25f * vel * hp * (float)exp(-t / 0.02), hat_pan);
			}
		}
	}
}

/* One harmonic note from start for len frames: nh harmonics with amplitude
 * 1/k, attack and exponential decay, per-channel detune in cents. */
static void add_note(float *stem, int64_t n, int64_t start, int64_t len, double hz, int nh,
		     double attack, double decay, float amp, float pan, double detune)
{
	for (int c = 0; c < 2; c++) {
		double f = hz * pow(2.0, (c ? -detune : detune) / 1200.0);
		float g = amp * (float)(c ? sin((pan + 1.0) * M_PI / 4) : cos((pan + 1.0) * M_PI / 4));
		for (int64_t i = 0; i < len && start + i < n; i++) {
			double t = (double)i / SR;
			double env = (t < attack ? t / attack : 1.0) * exp(-t / decay);
			double rel = len - i < 256 ? (len - i) / 256.0 : 1.0;	/* no clicks */
			/* sin(k w) by the recurrence sin(k w) = 2 cos(w) sin((k-1) w) - sin((k-2) w) */
			double w = TWO_PI * f * t, c2 = 2 * cos(w), prev = 0, cur = sin(w), x = 0;
			for (int k = 1; k <= nh && k * f < SR / 2.2; k++) {
				x += cur / k;
				double next = c2 * cur - prev;
				prev = cur;
				cur = next;
			}
			stem[c * n + start + i] += g * (float)(env * rel * x);
		}
	}
}

static void render_bass(struct song *s, struct rng *r)
{
	double eighth = s->beat / 2;
	float pan = rng_next_range(r, -0.2f, 0.2f);
	for (double t = 0; t * SR < s->n; t += eighth) {
		int k = (int)lround(t / eighth) % 8 == 6 ? 2 : 0;	/* fifth on the 7th eighth */
		double hz = midi_hz(chord_note(s, t, k));
		add_note(s->stem[1], s->n, (int64_t)(t * SR), (int64_t)(eighth * SR), hz, 6,
			 0.005, 0.25, rng_next_range(r, 0.8f, 1.0f), pan, 0.0);
	}
}

static void render_other(struct song *s, struct rng *r)
{
	double bar = 4 * s->beat;
	float pan = rng_next_range(r, -0.5f, 0.5f);
	double detune = rng_next_range(r, 3.0f, 8.0f);
	for (double t = 0; t * SR < s->n; t += bar)
		for (int k = 0; k < 3; k++)
			add_note(s->stem[2], s->n, (int64_t)(t * SR), (int64_t)(bar * SR),
				 midi_hz(chord_note(s, t, k) + 12), 8, 0.08, 3.0, 0.5f, pan, detune);
}

/* Vowel formants (Hz) and bandwidths: a, e, i, o, u. */
static const double formants[5][3] = {
	{ 800, 1150, 2900 }, { 400, 1600, 2700 }, { 300, 2200, 3000 },
	{ 450, 800, 2830 }, { 325, 700, 2530 },
};

static void render_vocals(struct song *s, struct rng *r)
{
	float *v = s->stem[3];
	float pan = rng_next_range(r, -0.3f, 0.3f);
	double vib_rate = rng_next_range(r, 4.5f, 6.5f);
	double t = 0, phase[40] = { 0 }, amp[40];
	int deg = 7 + 2 * (int)rng_next_below(r, 3);	/* start on a chord tone */
	while (t * SR < s->n) {
		double dur = s->beat * (1 + (int)rng_next_below(r, 2));
		int bar = (int)(t / (4 * s->beat));
		int64_t start = (int64_t)(t * SR), len = (int64_t)(dur * SR);
		t += dur;
		if (bar % 3 == 2)	/* a silent gap between phrases */
			continue;
		int step = (int)rng_next_below(r, 5) - 2;
		deg = deg + step < 5 ? 5 : deg + step > 13 ? 13 : deg + step;
		double note = s->root + 12 + degree_semitones(s, deg);
		const double *fm = formants[rng_next_below(r, 5)];
		for (int64_t i = 0; i < len && start + i < s->n; i++) {
			double u = (double)i / SR;
			double f0 = midi_hz(note + 0.3 * sin(TWO_PI * vib_rate * u) * fmin(1.0, u / 0.2));
			double env = fmin(1.0, u / 0.03) * fmin(1.0, (len - i) / (0.05 * SR));
			if (i % 64 == 0)	/* the spectral envelope moves slowly */
				for (int k = 1; k <= 40; k++) {
					amp[k - 1] = 0.02;
					for (int j = 0; j < 3; j++) {
						double dz = (k * f0 - fm[j]) / (80.0 + 0.06 * fm[j]);
						amp[k - 1] += exp(-dz * dz) / (j + 1);
					}
				}
			double x = 0;
			for (int k = 1; k <= 40 && k * f0 < SR / 2.2; k++) {
				phase[k - 1] += TWO_PI * k * f0 / SR;
				x += amp[k - 1] * sin(phase[k - 1]);
			}
			add_panned(v, s->n, start + i, (float)(env * x), pan);
		}
	}
}

/* Scale a stem so its peak is `peak` and quantise it to 16 bits. */
static void quantise(const float *x, int64_t n, float peak, short *out)
{
	float m = 0;
	for (int64_t i = 0; i < 2 * n; i++)
		m = fmaxf(m, fabsf(x[i]));
	float g = m > 0 ? peak / m : 0;
	for (int64_t i = 0; i < n; i++)
		for (int c = 0; c < 2; c++)
			out[2 * i + c] = (short)lrintf(x[c * n + i] * g * 32768.0f);
}

static void write_wav(const char *path, const short *frames, int64_t n)
{
	SF_INFO info = { .samplerate = SR, .channels = 2,
			 .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16 };
	SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
	if (!sf)
		die("%s: %s", path, sf_strerror(NULL));
	if (sf_writef_short(sf, frames, n) != n)
		die("%s: %s", path, sf_strerror(sf));
	if (sf_close(sf))
		die("%s: cannot close", path);
}

static void make_dir(const char *path)
{
	if (mkdir(path, 0777) && errno != EEXIST)
		die("%s:", path);
}

static void make_song(const char *dir, uint64_t seed, uint64_t index, double seconds)
{
	static const float peak_lo[NSTEMS] = { 0.15f, 0.12f, 0.08f, 0.12f };
	static const float peak_hi[NSTEMS] = { 0.24f, 0.22f, 0.18f, 0.22f };
	struct rng r;
	rng_init(&r, seed, index);
	struct song s = { 0 };
	s.n = (int64_t)(seconds * SR * rng_next_range(&r, 1.0f, 1.25f));
	s.beat = 60.0 / rng_next_range(&r, 80.0f, 150.0f);
	s.root = 40 + (int)rng_next_below(&r, 12);
	int p = (int)rng_next_below(&r, 4);
	s.minor = p == 3;
	s.progression = progressions[p];
	for (int k = 0; k < NSTEMS; k++)
		s.stem[k] = xcalloc(2 * s.n, sizeof(float));
	render_drums(&s, &r);
	render_bass(&s, &r);
	render_other(&s, &r);
	render_vocals(&s, &r);

	short *q = xmalloc(sizeof(short) * 2 * s.n);
	int32_t *mix = xcalloc(2 * s.n, sizeof(int32_t));
	char path[4096 + 32];	/* dir is at most 4095 bytes */
	make_dir(dir);
	for (int k = 0; k < NSTEMS; k++) {
		quantise(s.stem[k], s.n, rng_next_range(&r, peak_lo[k], peak_hi[k]), q);
		for (int64_t i = 0; i < 2 * s.n; i++)
			mix[i] += q[i];
		snprintf(path, sizeof path, "%s/%s.wav", dir, dataset_stem_names[k]);
		write_wav(path, q, s.n);
		free(s.stem[k]);
	}
	for (int64_t i = 0; i < 2 * s.n; i++)	/* peaks sum to < 0.9: no clipping */
		q[i] = (short)mix[i];
	snprintf(path, sizeof path, "%s/mixture.wav", dir);
	write_wav(path, q, s.n);
	free(mix);
	free(q);
}

/* --render: stems already at their levels, quantised to 16 bits as they
 * are (scaled down together in the rare case a stem or the mixture would
 * clip) and the mixture their sum. */
static void write_rendered(const char *dir, float *stem[NSTEMS], int64_t n)
{
	short *q = xmalloc(sizeof(short) * 2 * n * (NSTEMS + 1));
	for (double g = 32768;; g *= 0.97) {
		int32_t worst = 0;
		for (int64_t i = 0; i < n; i++)
			for (int c = 0; c < 2; c++) {
				int32_t sum = 0;
				for (int k = 0; k < NSTEMS; k++) {
					long v = lrint(stem[k][c * n + i] * g);
					q[2 * n * k + 2 * i + c] = (short)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
					worst = labs(v) > worst ? (int32_t)labs(v) : worst;
					sum += q[2 * n * k + 2 * i + c];
				}
				q[2 * n * NSTEMS + 2 * i + c] = (short)(sum > 32767 ? 32767 : sum < -32768 ? -32768 : sum);
				worst = abs(sum) > worst ? abs(sum) : worst;
			}
		if (worst <= 32767)
			break;
	}
	char path[4096 + 32];
	make_dir(dir);
	for (int k = 0; k <= NSTEMS; k++) {
		snprintf(path, sizeof path, "%s/%s.wav", dir, k < NSTEMS ? dataset_stem_names[k] : "mixture");
		write_wav(path, q + 2 * n * k, n);
	}
	free(q);
}

/* The installed SoundFonts of make deps that --render draws from by
 * default: every one but TimGM6mb, which is held out for evaluation. */
static const char *const training_sfonts[] = {
	"/usr/share/sounds/sf2/FluidR3_GM.sf2",
	"/usr/share/sounds/sf3/MuseScore_General.sf3",
	"/usr/share/sounds/sf2/sf_GMbank.sf2",
	"/usr/share/sounds/sf2/Black_Pearl_4_LV2.sf2",
	"/usr/share/sounds/sf2/Red_Zeppelin_4_LV2.sf2",
};

static const char *const words[] = {
	"Amber", "Paper", "Velvet", "Iron", "Hollow", "Silver", "Quiet", "Neon",
	"Harbor", "Engine", "Garden", "Signal", "River", "Lantern", "Orbit", "Meadow",
};

static void song_name(char *buf, size_t len, uint64_t seed, int index, bool rendered)
{
	uint64_t h = rng_u64(seed, 1u << 20, (uint64_t)index);
	snprintf(buf, len, "%s %02d - %s %s", rendered ? "Rendered" : "Synth", index, words[h % 16],
		 words[(h >> 8) % 16]);
}

/* Song i's folder: ROOT/{train,test}/NAME. */
static void song_dir(char *dir, size_t len, const char *root, uint64_t seed, int i, int ntrain,
		     int nvalid, bool rendered)
{
	char name[256];
	if (i < nvalid)
		snprintf(name, sizeof name, "%s", dataset_valid_names[i]);
	else
		song_name(name, sizeof name, seed, i, rendered);
	snprintf(dir, len, "%s/%s/%s", root, i < ntrain ? "train" : "test", name);
}

/* --render: the songs on `jobs` threads, a renderer (its SoundFonts
 * loaded) each; a line per song on stdout, in order.  The first renderer
 * is made here, before the threads, so that a SoundFont's error is said
 * once; the other threads load theirs at once after it. */
static void render_songs(const char *root, uint64_t seed, int ntrain, int ntest, int nvalid,
			 double seconds, const char *const *sfonts, int nsf, int jobs)
{
	int n = ntrain + ntest;
	char **lines = xcalloc((size_t)(n ? n : 1), sizeof *lines);
	struct renderer *first = renderer_create(sfonts, nsf);
	#pragma omp parallel num_threads(jobs)
	{
		int thread = 0;
#ifdef _OPENMP
		thread = omp_get_thread_num();
#endif
		struct renderer *r = thread == 0 ? first : renderer_create(sfonts, nsf);
		#pragma omp for schedule(dynamic)
		for (int i = 0; i < n; i++) {
			char dir[4096], line[2048];
			float *stems[NSTEMS];
			int64_t frames;
			struct render_info info;
			song_dir(dir, sizeof dir, root, seed, i, ntrain, nvalid, true);
			render_song(r, seed, (uint64_t)i, seconds, stems, &frames, &info);
			write_rendered(dir, stems, frames);
			static const char *const keys[12] = { "C", "C#", "D", "Eb", "E", "F", "F#", "G",
							      "Ab", "A", "Bb", "B" };
			int k = snprintf(line, sizeof line, "%s: %.1f s, %s, %.0f bpm, %s %s, %d/4, %d bars in %d "
					 "sections", strrchr(dir, '/') + 1, (double)frames / SR, info.style,
					 info.bpm, keys[info.key], info.minor ? "minor" : "major", info.beats,
					 info.bars, info.sections);
			for (int s = 0; s < NSTEMS && k < (int)sizeof line; s++) {
				const char *sf = strrchr(info.sfont[s], '/');
				k += snprintf(line + k, sizeof line - (size_t)k, "; %s: %s (%s)",
					      dataset_stem_names[s], info.program[s], sf ? sf + 1 : info.sfont[s]);
			}
			lines[i] = xstrdup(line);
			for (int s = 0; s < NSTEMS; s++)
				free(stems[s]);
		}
		renderer_free(r);
	}
	for (int i = 0; i < n; i++) {
		printf("%s\n", lines[i]);
		free(lines[i]);
	}
	free(lines);
}

int main(int argc, char **argv)
{
	set_progname(argv[0]);
	int64_t seed = 0;
	int ntrain = 3, ntest = 2, nvalid = 0;
	double seconds = 5;
	const char *root = NULL;
	bool render = false;
	const char **sfonts = xcalloc((size_t)argc, sizeof *sfonts);
	int nsf = 0, jobs = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int bad = 0;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			print_help(usage, options_text);
		} else if (!strcmp(a, "--seed"))
			bad = parse_int64(v, &seed), i++;
		else if (!strcmp(a, "--train"))
			bad = parse_int(v, &ntrain) || ntrain < 0, i++;
		else if (!strcmp(a, "--test"))
			bad = parse_int(v, &ntest) || ntest < 0, i++;
		else if (!strcmp(a, "--seconds"))
			bad = parse_double(v, &seconds) || seconds <= 0, i++;
		else if (!strcmp(a, "--valid-names"))
			bad = parse_int(v, &nvalid) || nvalid < 0 || nvalid > DATASET_NVALID, i++;
		else if (!strcmp(a, "--render"))
			render = true;
		else if (!strcmp(a, "--soundfont"))
			bad = !v, sfonts[nsf++] = v, i++;
		else if (!strcmp(a, "-j") || !strcmp(a, "--jobs"))
			bad = parse_int(v, &jobs) || jobs < 1, i++;
		else if (a[0] == '-' || root)
			die_usage("%s\n%s", a[0] == '-' ? "unknown option" : "one ROOT only", usage);
		else
			root = a;
		if (bad)
			die_usage("bad value for %s: %s\n%s", a, v ? v : "(missing)", usage);
	}
	if (!root)
		die_usage("%s", usage);
	if (nvalid > ntrain)
		die_usage("--valid-names %d exceeds --train %d", nvalid, ntrain);
	if ((nsf || jobs) && !render)
		die_usage("--soundfont and -j are for --render");
	if (render && !nsf) {	// the training set that make deps installs
		for (size_t k = 0; k < sizeof training_sfonts / sizeof *training_sfonts; k++)
			if (!access(training_sfonts[k], R_OK))
				sfonts[nsf++] = training_sfonts[k];
		if (!nsf)
			die("--render: none of the training SoundFonts is installed (%s, …): run make "
			    "deps as root, or name one with --soundfont", training_sfonts[0]);
	}
	for (int k = 0; k < nsf; k++)
		if (access(sfonts[k], R_OK))
			die("%s:", sfonts[k]);
	if (!jobs) {
		long cores = sysconf(_SC_NPROCESSORS_ONLN);
		jobs = cores > 0 ? (int)cores : 1;
	}

	char dir[4096];
	make_dir(root);
	for (int split = 0; split < 2; split++) {
		snprintf(dir, sizeof dir, "%s/%s", root, split ? "test" : "train");
		make_dir(dir);
	}
	if (render) {
		render_songs(root, (uint64_t)seed, ntrain, ntest, nvalid, seconds, sfonts, nsf, jobs);
	} else {
		for (int i = 0; i < ntrain + ntest; i++) {
			song_dir(dir, sizeof dir, root, (uint64_t)seed, i, ntrain, nvalid, false);
			make_song(dir, (uint64_t)seed, (uint64_t)i, seconds);
		}
	}
	free(sfonts);
	close_stdout();
	return 0;
}
