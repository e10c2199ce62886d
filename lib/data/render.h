/* render.h: songs composed here and played by sampled instruments, the
 * training data of make-dataset --render (docs/DESIGN.md §6).
 *
 * A song has a style (rock, pop, funk, disco, swing, ballad, hip-hop,
 * bossa, waltz, metal, reggae), a tempo, a key, chord progressions per
 * section and a form (intro, verses, choruses, a bridge or a break, an
 * outro) in which stems drop in and out.  Its four stems are played by
 * FluidSynth (its C library) from SoundFonts: drums on a GM kit, bass,
 * "other" (a comping instrument, a pad or strings, a countermelody in
 * choruses) and a lead vocal line on a voice patch (choir, voice oohs,
 * synth voice) with phrasing, rests, scoops, glides and vibrato through
 * pitch bend, and a harmony voice in choruses.  Each stem gets FluidSynth's
 * reverb and chorus, then EQ, compression, level automation and a level of
 * its own; the bus's compressor gain and the final level apply to every
 * stem alike, so the stems still sum to the mixture.  Everything follows
 * from (seed, index): the same song whatever else is rendered, in any
 * order or thread. */
#ifndef SEPNET_RENDER_H
#define SEPNET_RENDER_H

#include <stdint.h>

#define RENDER_STEMS 4	/* drums, bass, other, vocals */
#define RENDER_SR 44100

/* What a song was made of (make-dataset --render prints it, a line a song). */
struct render_info {
	char style[16];
	double bpm;
	int key, minor, beats;	/* tonic (0 = C), mode, beats a bar */
	int bars, sections;
	const char *sfont[RENDER_STEMS];	/* each stem's SoundFont (a path given) */
	char program[RENDER_STEMS][64];	/* each stem's preset names */
};

struct renderer;

/* A renderer over the SoundFonts at these paths (loaded once: one
 * renderer per thread).  Dies naming a file FluidSynth cannot load. */
struct renderer *renderer_create(const char *const *sfonts, int n);
void renderer_free(struct renderer *r);

/* Song `index` of `seed`: stems[k] planar [2, *frames] floats (malloc'd,
 * the caller frees), *frames between seconds and 1.25 seconds at
 * RENDER_SR; info describes it.  Every stem sounds somewhere. */
void render_song(struct renderer *r, uint64_t seed, uint64_t index, double seconds,
		 float *stems[RENDER_STEMS], int64_t *frames, struct render_info *info);

#endif
