/* render.c: songs composed as note events and played by FluidSynth
 * (render.h).  Three parts: the composer (a style, a form, chords, and
 * each stem's events), the player (a FluidSynth synth per renderer that
 * plays one stem at a time from a reset state) and the mixer (EQ,
 * compression, automation and levels per stem; the bus's gain on every
 * stem alike). */
#include "render.h"

#include <fluidsynth.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "util.h"

#define SR RENDER_SR
#define MAX_BARS 512
#define MAX_SECTIONS 24
#define MAX_CHANNELS 3	/* per stem */
#define DRUM_CHANNEL 9

/* ---- events ---- */

enum { EV_OFF, EV_CC, EV_BEND, EV_ON };	/* the order at one instant */

struct event {
	int64_t at;	/* sample */
	int64_t seq;	/* insertion order, for a stable sort */
	int type, chan, a, b;	/* note and velocity, controller and value, bend */
};

struct track {
	struct event *ev;
	size_t n, cap;
};

static void ev_add(struct track *t, int64_t at, int type, int chan, int a, int b)
{
	if (at < 0)
		at = 0;
	if (t->n == t->cap)
		t->ev = xrealloc(t->ev, (t->cap = t->cap ? 2 * t->cap : 1024) * sizeof *t->ev);
	t->ev[t->n] = (struct event){ at, (int64_t)t->n, type, chan, a, b };
	t->n++;
}

static int ev_cmp(const void *pa, const void *pb)
{
	const struct event *a = pa, *b = pb;
	if (a->at != b->at)
		return a->at < b->at ? -1 : 1;
	if (a->type != b->type)
		return a->type - b->type;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static void note(struct track *t, int64_t on, int64_t off, int chan, int key, int vel)
{
	if (key < 0 || key > 127 || off <= on)
		return;
	vel = vel < 1 ? 1 : vel > 127 ? 127 : vel;
	ev_add(t, on, EV_ON, chan, key, vel);
	ev_add(t, off, EV_OFF, chan, key, 0);
}

/* A pitch bend of `semis` (within ±2, the default wheel range). */
static void bend(struct track *t, int64_t at, int chan, double semis)
{
	int v = 8192 + (int)lround(semis / 2 * 8192);
	ev_add(t, at, EV_BEND, chan, v < 0 ? 0 : v > 16383 ? 16383 : v, 0);
}

/* ---- styles ---- */

enum bass_style { B_ROOT8, B_ROOTFIFTH, B_KICK, B_WALK, B_LONG, B_OCTAVE, B_REGGAE };
enum comp_style { C_BLOCK, C_STRUM, C_ARP, C_STAB, C_SUSTAIN, C_POWER, C_SKANK };

/* Drum lines are a bar of 16ths (12 in 3/4): X accent, x hit, o ghost. */
struct style {
	const char *name;
	float bpm_lo, bpm_hi, swing;	/* swing: where an off-beat 8th falls, in beats */
	int beats;
	const char *kick[3], *snare[3], *hat[3], *perc;
	int snare_note, hat_note, perc_note;
	int kits[4];
	enum bass_style bass;
	int bass_prog[4];
	enum comp_style comp;
	int comp_prog[6];
	int pad_prog[4];
	int lead_prog[4];	/* countermelodies and solos */
	bool sevenths;
};

/* Lists shorter than their arrays end at -1. */
static const struct style styles[] = {
	{ "rock", 95, 150, 0.5f, 4,
	  { "x.......x.x.....", "x.....x.x.......", "x.x.....x.x....." },
	  { "....x.......x...", "....x.......x..o", "....x..o....x..." },
	  { "x.x.x.x.x.x.x.x.", "X.x.X.x.X.x.X.x.", "x.x.x.x.x.x.x.xx" }, NULL,
	  38, 42, 0, { 0, 8, 16, -1 }, B_ROOT8, { 33, 34, 33, -1 }, C_STRUM,
	  { 29, 30, 27, 25, 18, -1 }, { 48, 89, 16, -1 }, { 29, 30, 81, -1 }, false },
	{ "pop", 88, 128, 0.5f, 4,
	  { "x.....x...x.....", "x..x..x...x.....", "x.......x..x...." },
	  { "....x.......x...", "....x.......x...", "....x......ox..." },
	  { "xoxoxoxoxoxoxoxo", "x.x.x.x.x.x.x.x.", "x.xxx.xxx.xxx.xx" }, NULL,
	  38, 42, 0, { 0, 24, 8, -1 }, B_KICK, { 33, 38, 39, -1 }, C_BLOCK,
	  { 0, 4, 1, 25, 2, -1 }, { 89, 48, 90, -1 }, { 80, 11, 73, -1 }, false },
	{ "funk", 92, 116, 0.5f, 4,
	  { "x..x..x...x..x..", "x.x...x..x..x...", "x..x...x..x....." },
	  { "....x..o.o..x..o", "o...x.o..o..x.o.", "....x..o....x.o." },
	  { "XxoxXxoxXxoxXxox", "xxxxxxxxxxxxxxxx", "x.x.x.x.x.x.x.x." }, NULL,
	  38, 42, 0, { 0, 8, 24, -1 }, B_KICK, { 36, 37, 33, 38 }, C_STAB,
	  { 28, 27, 7, 4, -1, -1 }, { 61, 62, 48, -1 }, { 61, 65, 56, -1 }, true },
	{ "disco", 112, 128, 0.5f, 4,
	  { "x...x...x...x...", "x...x...x...x...", "x...x...x...x.x." },
	  { "....x.......x...", "....x.......x...", "....x.......x..x" },
	  { "x.x.x.x.x.x.x.x.", "xxxxxxxxxxxxxxxx", "x.x.x.x.x.x.x.x." }, "..x...x...x...x.",
	  39, 42, 46, { 24, 25, 0, -1 }, B_OCTAVE, { 38, 39, 33, -1 }, C_STAB,
	  { 4, 27, 0, 50, -1, -1 }, { 48, 50, 90, -1 }, { 48, 81, 62, -1 }, true },
	{ "swing", 110, 180, 0.66f, 4,
	  { "x...............", "x.......x.......", "x..............." },
	  { "........o.......", "..........o.....", "......o.......o." },
	  { "x...x.x.x...x.x.", "x...x.x.x...x.x.", "x...x.xox...x.x." }, "....x.......x...",
	  38, 51, 44, { 32, 40, 0, -1 }, B_WALK, { 32, 32, 33, -1 }, C_STAB,
	  { 0, 26, 4, 1, -1, -1 }, { 48, 61, -1, -1 }, { 65, 56, 66, 11 }, true },
	{ "ballad", 60, 82, 0.5f, 4,
	  { "x.......x.......", "x.....x.x.......", "x.......x.....x." },
	  { "....x.......x...", "........x.......", "....x.......x..." },
	  { "x.x.x.x.x.x.x.x.", "xoxoxoxoxoxoxoxo", "x.x.x.x.x.x.x.x." }, NULL,
	  37, 42, 0, { 0, 8, 40, -1 }, B_LONG, { 33, 35, 32, -1 }, C_ARP,
	  { 0, 1, 24, 4, 46, -1 }, { 48, 49, 89, -1 }, { 40, 73, 71, -1 }, true },
	{ "hiphop", 80, 96, 0.56f, 4,
	  { "x......x.x......", "x.....x...x..x..", "x..x......x....." },
	  { "........x.......", "........x......o", "........x.......", },
	  { "x.x.x.x.x.x.x.x.", "xxx.xxx.xxx.xxx.", "x.xxx.x.x.xxx.x." }, NULL,
	  39, 42, 0, { 25, 24, 0, -1 }, B_LONG, { 38, 39, 33, -1 }, C_BLOCK,
	  { 4, 5, 0, 11, -1, -1 }, { 89, 88, 90, -1 }, { 81, 80, 11, -1 }, true },
	{ "bossa", 120, 142, 0.5f, 4,
	  { "x..xx..xx..xx..x", "x..x..x.x..x..x.", "x..xx..xx..xx..x" },
	  { "x..x..x...x..x..", "..x..x...x..x...", "x..x..x...x..x.." },
	  { "xxxxxxxxxxxxxxxx", "x.x.x.x.x.x.x.x.", "xoxoxoxoxoxoxoxo" }, NULL,
	  37, 70, 0, { 0, 40, 32, -1 }, B_ROOTFIFTH, { 32, 33, 35, -1 }, C_STAB,
	  { 24, 0, 4, -1, -1, -1 }, { 48, 89, -1, -1 }, { 73, 65, 11, -1 }, true },
	{ "waltz", 90, 150, 0.5f, 3,
	  { "x...........", "x.......x...", "x..........." },
	  { "....x...x...", "....o...x...", "....x...x..." },
	  { "x.x.x.x.x.x.", "x...x...x...", "x.x.x.x.x.x." }, NULL,
	  37, 42, 0, { 0, 40, 32, -1 }, B_ROOTFIFTH, { 32, 33, -1, -1 }, C_BLOCK,
	  { 0, 21, 24, 46, -1, -1 }, { 48, 49, -1, -1 }, { 40, 73, 21, -1 }, false },
	{ "metal", 130, 180, 0.5f, 4,
	  { "xxxxxxxxxxxxxxxx", "x.x.x.x.x.x.x.x.", "xx.xxx.xxx.xxx.x" },
	  { "....x.......x...", "....x.......x...", "........x......." },
	  { "x...x...x...x...", "x.x.x.x.x.x.x.x.", "X...X...X...X..." }, NULL,
	  38, 51, 0, { 16, 0, 8, -1 }, B_ROOT8, { 34, 33, -1, -1 }, C_POWER,
	  { 30, 29, -1, -1, -1, -1 }, { 48, 50, -1, -1 }, { 30, 29, 81, -1 }, false },
	{ "reggae", 66, 84, 0.6f, 4,
	  { "........x.......", "x.......x.......", "........x......." },
	  { "........x.......", "........x.......", "........x.....o." },
	  { "x.x.x.x.x.x.x.x.", "x.xxx.xxx.xxx.xx", "x.x.x.x.x.x.x.x." }, NULL,
	  37, 42, 0, { 0, 8, 24, -1 }, B_REGGAE, { 33, 38, 32, -1 }, C_SKANK,
	  { 16, 27, 17, 4, -1, -1 }, { 16, 48, 89, -1 }, { 56, 65, 16, -1 }, false },
};
#define N_STYLES (int)(sizeof styles / sizeof *styles)

static int pick(struct rng *r, const int *list, int cap)
{
	int n = 0;
	while (n < cap && list[n] >= 0)
		n++;
	return list[rng_next_below(r, (uint64_t)(n ? n : 1))];
}

static const int vocal_progs[] = { 52, 53, 54, 85 };

/* ---- the song ---- */

enum section_kind { INTRO, VERSE, CHORUS, BRIDGE, BREAK, SOLO, OUTRO };

struct section {
	enum section_kind kind;
	int bar0, bars;
	bool on[RENDER_STEMS];
	bool pad, lead, harmony;	/* other's pad and countermelody, a second voice */
	int variant;			/* the drum line's */
	int prog[4];			/* chord degrees, a bar each, repeated */
};

struct song {
	struct rng r;
	const struct style *st;
	double spb;		/* samples a beat */
	int beats, key, minor, bars;
	int64_t frames;
	int nsec;
	struct section sec[MAX_SECTIONS];
	int chord[MAX_BARS];	/* the scale degree of each bar's chord */
	int sec_of[MAX_BARS];
	int comp_prog, pad_prog, lead_prog, bass_prog, kit, voice;
	struct track tr[RENDER_STEMS];
};

static const int major_scale[7] = { 0, 2, 4, 5, 7, 9, 11 };
static const int minor_scale[7] = { 0, 2, 3, 5, 7, 8, 10 };
static const int major_progs[][4] = {
	{ 0, 4, 5, 3 }, { 5, 3, 0, 4 }, { 0, 3, 4, 3 }, { 0, 5, 3, 4 },
	{ 0, 3, 0, 4 }, { 1, 4, 0, 0 }, { 0, 2, 3, 4 }, { 3, 4, 2, 5 },
};
static const int minor_progs[][4] = {
	{ 0, 5, 2, 6 }, { 0, 3, 6, 2 }, { 0, 6, 5, 6 }, { 0, 3, 4, 0 }, { 0, 5, 3, 4 },
};

/* Semitones of scale degree d (any integer) above the tonic. */
static int degree_semis(const struct song *s, int d)
{
	const int *scale = s->minor ? minor_scale : major_scale;
	int oct = d >= 0 ? d / 7 : -((-d + 6) / 7);
	return 12 * oct + scale[d - 7 * oct];
}

/* Chord tone k (0 root, 1 third, 2 fifth, 3 seventh) of degree d, as
 * semitones above the tonic. */
static int chord_semis(const struct song *s, int d, int k)
{
	return degree_semis(s, d + 2 * k);
}

/* Sample of beat position pos (in beats from the song's start), swung:
 * an off-beat 8th falls at the style's swing, 16ths between. */
static int64_t at_beat(const struct song *s, double pos)
{
	double b = floor(pos), f = pos - b, sw = s->st->swing;
	if (sw != 0.5f) {
		if (f < 0.5)
			f = f / 0.5 * sw;
		else
			f = sw + (f - 0.5) / 0.5 * (1 - sw);
	}
	return llround((b + f) * s->spb);
}

/* ± ms of timing jitter, in samples */
static int64_t jitter(struct song *s, double ms)
{
	return (int64_t)lround(rng_next_range(&s->r, (float)-ms, (float)ms) * SR / 1000);
}

static int vel_jitter(struct song *s, int vel, int by)
{
	return vel + (int)rng_next_below(&s->r, (uint64_t)(2 * by + 1)) - by;
}

static void plan_form(struct song *s)
{
	struct rng *r = &s->r;
	static const enum section_kind standard[] = { INTRO, VERSE, CHORUS, VERSE, CHORUS, BRIDGE,
						      CHORUS, OUTRO };
	int bar = 0;
	s->nsec = 0;
	if (s->bars <= 12) {	// a short song: one section where every stem plays
		struct section *c = &s->sec[s->nsec++];
		*c = (struct section){ .kind = VERSE, .bar0 = 0, .bars = s->bars };
		bar = s->bars;
	}
	for (int k = 0; bar < s->bars && s->nsec < MAX_SECTIONS; k++) {
		enum section_kind kind = k < 8 ? standard[k] : k % 2 ? CHORUS : VERSE;
		if (kind == BRIDGE) {
			float u = rng_next_uniform(r);
			kind = u < 0.4f ? BRIDGE : u < 0.7f ? SOLO : BREAK;
		}
		int len = kind == INTRO || kind == OUTRO || kind == BREAK ? 4 : 8;
		if (kind == INTRO && rng_next_uniform(r) < 0.4f)
			len = 2;
		struct section *c = &s->sec[s->nsec++];
		*c = (struct section){ .kind = kind, .bar0 = bar, .bars = len };
		bar += len;
	}
	if (bar > s->bars)
		s->sec[s->nsec - 1].bars -= bar - s->bars;
	// what plays where
	for (int i = 0; i < s->nsec; i++) {
		struct section *c = &s->sec[i];
		bool *on = c->on;
		float p[RENDER_STEMS];
		switch (c->kind) {
		case INTRO: p[0] = 0.5f, p[1] = 0.5f, p[2] = 1, p[3] = 0; break;
		case VERSE: case CHORUS: p[0] = p[1] = p[2] = p[3] = 1; break;
		case BRIDGE: p[0] = 0.6f, p[1] = 0.8f, p[2] = 1, p[3] = 0.7f; break;
		case SOLO: p[0] = p[1] = p[2] = 1, p[3] = 0; break;
		case BREAK: p[0] = 0.4f, p[1] = 0.4f, p[2] = 0.4f, p[3] = 0.3f; break;
		case OUTRO: default: p[0] = 0.7f, p[1] = 0.7f, p[2] = 1, p[3] = 0.3f; break;
		}
		bool any = false;
		for (int k = 0; k < RENDER_STEMS; k++)
			any |= on[k] = rng_next_uniform(r) < p[k];
		if (!any)
			on[2] = true;
		c->pad = c->kind == CHORUS || c->kind == BRIDGE ? rng_next_uniform(r) < 0.8f
							     : rng_next_uniform(r) < 0.35f;
		c->lead = c->kind == SOLO || (c->kind == CHORUS && rng_next_uniform(r) < 0.3f);
		c->harmony = c->kind == CHORUS && rng_next_uniform(r) < 0.6f;
		c->variant = c->kind == CHORUS ? 1 + (int)rng_next_below(r, 2) : 0;
		const int (*progs)[4] = s->minor ? minor_progs : major_progs;
		int np = s->minor ? 5 : 8;
		// a chorus repeats the first chorus's chords, a verse the first verse's
		int same = -1;
		for (int j = 0; j < i; j++)
			if (s->sec[j].kind == c->kind)
				same = j;
		if (same >= 0)
			memcpy(c->prog, s->sec[same].prog, sizeof c->prog);
		else
			memcpy(c->prog, progs[rng_next_below(r, (uint64_t)np)], sizeof c->prog);
		for (int b = 0; b < c->bars; b++) {
			s->chord[c->bar0 + b] = c->prog[b % 4];
			s->sec_of[c->bar0 + b] = i;
		}
	}
	// every stem sounds somewhere: the first section with vocals or drums off
	// gets them back when no section has them
	for (int k = 0; k < RENDER_STEMS; k++) {
		bool any = false;
		for (int i = 0; i < s->nsec; i++)
			any |= s->sec[i].on[k];
		if (!any)
			s->sec[s->nsec > 1 ? 1 : 0].on[k] = true;
	}
}

/* ---- the parts ---- */

static void drum_line(struct song *s, const char *line, int key, int bar, int base_vel)
{
	int steps = (int)strlen(line);
	for (int i = 0; i < steps; i++) {
		int vel = line[i] == 'X' ? base_vel + 20 : line[i] == 'x' ? base_vel :
			  line[i] == 'o' ? base_vel / 2 : 0;
		if (!vel)
			continue;
		double pos = bar * s->beats + i * (double)s->beats / steps;
		int64_t t = at_beat(s, pos) + jitter(s, 4);
		note(&s->tr[0], t, t + SR / 4, DRUM_CHANNEL, key, vel_jitter(s, vel, 8));
	}
}

static void part_drums(struct song *s)
{
	const struct style *st = s->st;
	for (int bar = 0; bar < s->bars; bar++) {
		const struct section *c = &s->sec[s->sec_of[bar]];
		if (!c->on[0])
			continue;
		int v = c->variant, base = c->kind == CHORUS ? 92 : c->kind == VERSE ? 80 : 72;
		bool last = bar == c->bar0 + c->bars - 1, next_on = s->sec_of[bar] + 1 < s->nsec &&
					s->sec[s->sec_of[bar] + 1].on[0];
		if (bar == c->bar0 && c->kind != INTRO)	// a crash on the section's one
			note(&s->tr[0], at_beat(s, bar * s->beats), at_beat(s, bar * s->beats) + SR,
			     DRUM_CHANNEL, rng_next_uniform(&s->r) < 0.5f ? 49 : 57, base + 15);
		drum_line(s, st->kick[v], 36, bar, base);
		drum_line(s, st->hat[v], st->hat_note, bar, base - 15);
		if (st->perc)
			drum_line(s, st->perc, st->perc_note, bar, base - 10);
		if (last && next_on && rng_next_uniform(&s->r) < 0.7f) {	// a fill into the next
			static const int toms[] = { 50, 48, 47, 45, 43, 41 };
			int beats = 1 + (int)rng_next_below(&s->r, 2), n = beats * 4;
			for (int i = 0; i < n; i++) {
				double pos = bar * s->beats + s->beats - beats + i * 0.25;
				int key = rng_next_uniform(&s->r) < 0.4f ? st->snare_note == 37 ? 38 : st->snare_note
									 : toms[i * 6 / n];
				int64_t t = at_beat(s, pos) + jitter(s, 3);
				note(&s->tr[0], t, t + SR / 4, DRUM_CHANNEL, key, base - 10 + 30 * i / n);
			}
			// the snare line up to the fill
			char line[17];
			int steps = (int)strlen(st->snare[v]), keep = steps - beats * steps / s->beats;
			memcpy(line, st->snare[v], (size_t)steps);
			memset(line + keep, '.', (size_t)(steps - keep));
			line[steps] = 0;
			drum_line(s, line, st->snare_note, bar, base);
		} else {
			drum_line(s, st->snare[v], st->snare_note, bar, base);
		}
	}
}

/* A bass note of chord tone semis (above the tonic) in [28, 52]. */
static int bass_key(const struct song *s, int semis)
{
	int k = 28 + ((s->key + semis) % 12 + 12) % 12;
	return k < 33 ? k + 12 : k;
}

static void part_bass(struct song *s)
{
	const struct style *st = s->st;
	struct track *t = &s->tr[1];
	for (int bar = 0; bar < s->bars; bar++) {
		const struct section *c = &s->sec[s->sec_of[bar]];
		if (!c->on[1])
			continue;
		int d = s->chord[bar], root = bass_key(s, chord_semis(s, d, 0));
		int fifth = root + (chord_semis(s, d, 2) - chord_semis(s, d, 0) + 12) % 12;
		int next = bass_key(s, chord_semis(s, s->chord[bar + 1 < s->bars ? bar + 1 : bar], 0));
		double b0 = bar * s->beats;
		int vel = c->kind == CHORUS ? 100 : 88;
		switch (st->bass) {
		case B_ROOT8:
			for (int i = 0; i < 2 * s->beats; i++) {
				int k = i == 2 * s->beats - 1 && rng_next_uniform(&s->r) < 0.3f ? fifth : root;
				int64_t on = at_beat(s, b0 + i * 0.5) + jitter(s, 5);
				note(t, on, at_beat(s, b0 + i * 0.5 + 0.45), 0, k, vel_jitter(s, vel, 8));
			}
			break;
		case B_ROOTFIFTH:
			for (int i = 0; i < s->beats; i++) {
				int k = i % 2 ? fifth : i == 2 ? root + 12 : root;
				int64_t on = at_beat(s, b0 + i) + jitter(s, 6);
				note(t, on, at_beat(s, b0 + i + 0.9), 0, k, vel_jitter(s, vel, 8));
			}
			break;
		case B_KICK: {	// on the kick's steps, octaves now and then
			const char *line = st->kick[c->variant];
			int steps = (int)strlen(line);
			for (int i = 0; i < steps; i++) {
				if (line[i] == '.')
					continue;
				int j = i + 1;
				while (j < steps && line[j] == '.')
					j++;
				int k = rng_next_uniform(&s->r) < 0.2f ? root + 12 : root;
				double pos = b0 + i * (double)s->beats / steps;
				double len = (j - i) * (double)s->beats / steps * 0.85;
				note(t, at_beat(s, pos) + jitter(s, 4), at_beat(s, pos + len), 0, k,
				     vel_jitter(s, vel, 10));
			}
			break;
		}
		case B_WALK: {	// chord tones, then a chromatic step into the next root
			int keys[4] = { root, root + (chord_semis(s, d, 1) - chord_semis(s, d, 0) + 12) % 12,
					fifth, next + (rng_next_uniform(&s->r) < 0.5f ? 1 : -1) };
			for (int i = 0; i < s->beats; i++) {
				int64_t on = at_beat(s, b0 + i) + jitter(s, 6);
				note(t, on, at_beat(s, b0 + i + 0.95), 0, keys[i % 4], vel_jitter(s, vel - 5, 8));
			}
			break;
		}
		case B_LONG:
			note(t, at_beat(s, b0) + jitter(s, 5), at_beat(s, b0 + s->beats * 0.6), 0, root,
			     vel_jitter(s, vel, 6));
			if (rng_next_uniform(&s->r) < 0.6f)
				note(t, at_beat(s, b0 + s->beats * 0.625), at_beat(s, b0 + s->beats * 0.95), 0,
				     rng_next_uniform(&s->r) < 0.5f ? fifth : root, vel_jitter(s, vel - 10, 6));
			break;
		case B_OCTAVE:
			for (int i = 0; i < 2 * s->beats; i++) {
				int64_t on = at_beat(s, b0 + i * 0.5) + jitter(s, 3);
				note(t, on, at_beat(s, b0 + i * 0.5 + 0.4), 0, i % 2 ? root + 12 : root,
				     vel_jitter(s, vel, 6));
			}
			break;
		case B_REGGAE:
			note(t, at_beat(s, b0) + jitter(s, 5), at_beat(s, b0 + 1.4), 0, root,
			     vel_jitter(s, vel, 6));
			note(t, at_beat(s, b0 + 1.5), at_beat(s, b0 + 1.95), 0, fifth, vel_jitter(s, vel - 10, 6));
			note(t, at_beat(s, b0 + 2.5), at_beat(s, b0 + 3.4), 0, root + 12,
			     vel_jitter(s, vel - 5, 6));
			break;
		}
	}
}

/* The chord of degree d voiced near the previous voicing's middle: n keys
 * (3 or 4) in [50, 80]. */
static int voice_chord(const struct song *s, int d, int n, int *keys, int *center)
{
	int best = 0, best_dist = 1 << 30;
	for (int base = 48; base < 72; base++) {	// the lowest note
		int pcs = 0;
		for (int k = 0; k < n; k++)
			pcs += ((s->key + chord_semis(s, d, k)) % 12 + 12) % 12 == base % 12;
		if (!pcs)
			continue;
		// close position upwards from base: chord tones above it, in order
		int ks[4], m = 0;
		for (int key = base; key < base + 12 && m < n; key++)
			for (int k = 0; k < n; k++)
				if (((s->key + chord_semis(s, d, k)) % 12 + 12) % 12 == key % 12)
					ks[m++] = key;
		int mid = (ks[0] + ks[m - 1]) / 2, dist = abs(mid - *center);
		if (m == n && dist < best_dist)
			best_dist = dist, best = base, memcpy(keys, ks, sizeof ks);
	}
	*center = (*center * 3 + (keys[0] + keys[n - 1]) / 2) / 4;
	return best;
}

static void part_other(struct song *s)
{
	const struct style *st = s->st;
	struct track *t = &s->tr[2];
	int center = 62, prev_lead = 72;
	for (int bar = 0; bar < s->bars; bar++) {
		const struct section *c = &s->sec[s->sec_of[bar]];
		if (!c->on[2])
			continue;
		int d = s->chord[bar], n = st->sevenths ? 4 : 3, keys[4];
		voice_chord(s, d, n, keys, &center);
		double b0 = bar * s->beats;
		int vel = c->kind == CHORUS ? 92 : 80;
		switch (st->comp) {
		case C_BLOCK:
			for (int i = 0; i < s->beats; i++)
				for (int k = 0; k < n; k++)
					note(t, at_beat(s, b0 + i) + jitter(s, 8), at_beat(s, b0 + i + 0.8), 0, keys[k],
					     vel_jitter(s, i ? vel - 12 : vel, 6));
			break;
		case C_STRUM:	// 8ths, down strokes louder, strings a few ms apart
			for (int i = 0; i < 2 * s->beats; i++) {
				int64_t on = at_beat(s, b0 + i * 0.5);
				for (int k = 0; k < n; k++) {
					int kk = i % 2 ? n - 1 - k : k;
					note(t, on + k * SR / 250 + jitter(s, 2), at_beat(s, b0 + i * 0.5 + 0.45), 0,
					     keys[kk] - (kk == 0 ? 12 : 0), vel_jitter(s, i % 2 ? vel - 18 : vel, 6));
				}
			}
			break;
		case C_ARP:
			for (int i = 0; i < 2 * s->beats; i++) {
				static const int order[] = { 0, 1, 2, 3, 2, 1 };
				int k = order[i % 6] % n, up = order[i % 6] >= n ? 12 : 0;
				note(t, at_beat(s, b0 + i * 0.5) + jitter(s, 6), at_beat(s, b0 + i * 0.5 + 1.2), 0,
				     keys[k] + up, vel_jitter(s, vel - 8, 8));
			}
			break;
		case C_STAB: {	// short chords off the beat
			static const char *const lines[] = { "..x...x..x....x.", ".x..x..x..x.x...",
							     "..x..x....x..x.." };
			const char *line = lines[c->variant % 3];
			for (int i = 0; i < 16; i++)
				if (line[i] == 'x' && i * s->beats / 16 < s->beats)
					for (int k = 0; k < n; k++)
						note(t, at_beat(s, b0 + i * s->beats / 16.0) + jitter(s, 4),
						     at_beat(s, b0 + i * s->beats / 16.0 + 0.2), 0, keys[k],
						     vel_jitter(s, vel, 8));
			break;
		}
		case C_SUSTAIN:
			for (int k = 0; k < n; k++)
				note(t, at_beat(s, b0) + jitter(s, 10), at_beat(s, b0 + s->beats - 0.05), 0,
				     keys[k], vel_jitter(s, vel - 10, 5));
			break;
		case C_POWER: {	// root, fifth, octave, palm-muted 8ths
			int r = keys[0] - 12 + (((s->key + chord_semis(s, d, 0)) - keys[0]) % 12 + 12) % 12;
			for (int i = 0; i < 2 * s->beats; i++)
				for (int k = 0; k < 3; k++)
					note(t, at_beat(s, b0 + i * 0.5) + jitter(s, 3), at_beat(s, b0 + i * 0.5 + 0.35),
					     0, r + (int[]){ 0, 7, 12 }[k], vel_jitter(s, vel, 6));
			break;
		}
		case C_SKANK:
			for (int i = 0; i < s->beats; i++)
				for (int k = 0; k < n; k++)
					note(t, at_beat(s, b0 + i + 0.5) + jitter(s, 3), at_beat(s, b0 + i + 0.7), 0,
					     keys[k], vel_jitter(s, vel, 6));
			break;
		}
		if (c->pad)	// sustained chords under it
			for (int k = 0; k < n; k++)
				note(t, at_beat(s, b0) + jitter(s, 15), at_beat(s, b0 + s->beats), 1,
				     keys[k] - (k == 0 ? 12 : 0), vel_jitter(s, vel - 25, 5));
		if (c->lead) {	// a countermelody: 8ths and quarters on the scale
			for (double pos = 0; pos < s->beats;) {
				double len = rng_next_uniform(&s->r) < 0.5f ? 0.5 : 1;
				if (rng_next_uniform(&s->r) < 0.8f) {
					int step = (int)rng_next_below(&s->r, 5) - 2;
					prev_lead += step;
					prev_lead = prev_lead < 64 ? 64 : prev_lead > 84 ? 84 : prev_lead;
					// snap to the scale: the nearest scale tone at or below
					int rel = ((prev_lead - s->key) % 12 + 12) % 12, key = prev_lead;
					const int *scale = s->minor ? minor_scale : major_scale;
					for (int drop = 0; drop < 2; drop++) {
						bool in = false;
						for (int q = 0; q < 7; q++)
							in |= scale[q] == (rel - drop + 12) % 12;
						if (in) {
							key = prev_lead - drop;
							break;
						}
					}
					note(t, at_beat(s, b0 + pos) + jitter(s, 8), at_beat(s, b0 + pos + len * 0.9), 2,
					     key, vel_jitter(s, vel, 8));
				}
				pos += len;
			}
		}
	}
}

/* One sung note on chan: scoops, glides from the last note and vibrato by
 * pitch bend every 10 ms, a swell by expression (CC 11). */
static void sing(struct song *s, int chan, int64_t on, int64_t off, int key, int prev_key,
		 int vel, double vib_rate, double vib_depth)
{
	struct track *t = &s->tr[3];
	double start = 0;	// semitones the note starts away from its pitch
	int gap = key - prev_key;
	if (prev_key > 0 && abs(gap) <= 2 && gap && rng_next_uniform(&s->r) < 0.4f)
		start = -gap;	// a glide from the last note
	else if (rng_next_uniform(&s->r) < 0.3f)
		start = -rng_next_range(&s->r, 0.3f, 0.8f);	// a scoop from below
	double glide = rng_next_range(&s->r, 0.04f, 0.09f) * SR;
	double phase = rng_next_range(&s->r, 0, 6.28f);
	note(t, on, off, chan, key, vel);
	int step = SR / 100;
	for (int64_t i = on; i < off; i += step) {
		double u = (double)(i - on), semis = 0;
		if (u < glide)
			semis += start * (1 - u / glide);
		double onset = u / SR - 0.18;	// vibrato grows in after the attack
		if (onset > 0)
			semis += vib_depth * fmin(1, onset / 0.3) * sin(6.283185307 * vib_rate * u / SR + phase);
		bend(t, i, chan, semis);
		double env = fmin(1, u / (0.06 * SR)) * (0.85 + 0.15 * fmin(1, (off - i) / (0.15 * SR)));
		if ((i - on) % (2 * step) == 0)
			ev_add(t, i, EV_CC, chan, 11, (int)(60 + 67 * env));
	}
	bend(t, off, chan, 0);
}

static void part_vocals(struct song *s)
{
	struct rng *r = &s->r;
	int tonic = 55 + ((s->key - 7) % 12 + 12) % 12;	// G3 .. F#4: the melody's degree 0
	if (rng_next_uniform(r) < 0.5f)
		tonic += 5;	// a higher voice
	double vib_rate = rng_next_range(r, 4.8f, 6.2f), vib_depth = rng_next_range(r, 0.15f, 0.45f);
	int deg = 2 + 2 * (int)rng_next_below(r, 2), prev = -1;
	for (int bar = 0; bar < s->bars; bar += 2) {
		const struct section *c = &s->sec[s->sec_of[bar]];
		if (!c->on[3])
			continue;
		// a phrase in most pairs of bars (always in a section's first)
		if (bar != c->bar0 && rng_next_uniform(r) < 0.25f)
			continue;
		double pos = bar * s->beats + (double)rng_next_below(r, 3) * 0.5;
		double end = (bar + 2) * s->beats - rng_next_range(r, 0.5f, 2.0f);
		if (end > (double)s->bars * s->beats)
			end = (double)s->bars * s->beats;
		int vel = c->kind == CHORUS ? 100 : 88;
		while (pos < end - 0.25) {
			static const double durs[] = { 0.5, 0.5, 1, 1, 1, 1.5, 2 };
			double dur = durs[rng_next_below(r, 7)];
			if (pos + dur > end)
				dur = end - pos;
			int b = (int)(pos / s->beats), cd = s->chord[b < s->bars ? b : s->bars - 1];
			double in_bar = pos - b * s->beats;
			if (in_bar == 0 || in_bar == 2) {	// strong beats: the nearest chord tone
				int best = deg, bd = 99;
				for (int k = 0; k < 3; k++)
					for (int o = -14; o <= 14; o += 7) {
						int cand = cd + 2 * k + o;
						if (abs(cand - deg) < bd && cand >= -3 && cand <= 9)
							bd = abs(cand - deg), best = cand;
					}
				deg = best;
			} else {
				int step = (int)rng_next_below(r, 5) - 2;
				if (rng_next_uniform(r) < 0.15f)
					step *= 2;
				deg = deg + step < -3 ? -3 : deg + step > 9 ? 9 : deg + step;
			}
			int key = tonic + degree_semis(s, deg);
			int64_t on = at_beat(s, pos) + jitter(s, 12), off = at_beat(s, pos + dur * 0.95);
			sing(s, 0, on, off, key, prev, vel_jitter(s, vel, 10), vib_rate, vib_depth);
			if (c->harmony)	// a third below, softer
				sing(s, 1, on + jitter(s, 6) + SR / 200, off, tonic + degree_semis(s, deg - 2),
				     prev < 0 ? -1 : prev - 3, vel_jitter(s, vel - 20, 8), vib_rate * 1.07,
				     vib_depth * 0.8);
			prev = key;
			pos += dur;
			if (rng_next_uniform(r) < 0.12f)	// a breath
				pos += 0.5;
		}
		prev = -1;
	}
}

/* ---- the player ---- */

struct sfont {
	const char *path;
	fluid_sfont_t *font;	/* loaded by the renderer's home synth */
	bool gm;	/* has General MIDI banks (melodic presets, kits in bank 128) */
};

/* The SoundFonts are loaded once, by a home synth that never plays; each
 * stem plays on a synth of its own, made for it and given the loaded
 * SoundFonts (fluid_synth_add_sfont), so that nothing of one stem or song
 * (reverb and chorus state, LFO phases) reaches the next: a song's bytes
 * do not depend on what its thread rendered before. */
struct renderer {
	fluid_settings_t *settings;
	fluid_synth_t *home;
	struct sfont *sf;
	int n;
};

struct renderer *renderer_create(const char *const *paths, int n)
{
	struct renderer *r = xcalloc(1, sizeof *r);
	fluid_set_log_function(FLUID_PANIC, NULL, NULL);	// its errors become ours, one line
	fluid_set_log_function(FLUID_ERR, NULL, NULL);
	fluid_set_log_function(FLUID_WARN, NULL, NULL);
	fluid_set_log_function(FLUID_INFO, NULL, NULL);
	fluid_set_log_function(FLUID_DBG, NULL, NULL);
	r->settings = new_fluid_settings();
	if (!r->settings)
		die("fluidsynth: cannot make settings");
	fluid_settings_setnum(r->settings, "synth.sample-rate", SR);
	fluid_settings_setint(r->settings, "synth.polyphony", 256);
	fluid_settings_setint(r->settings, "synth.cpu-cores", 1);
	fluid_settings_setint(r->settings, "synth.lock-memory", 0);
	fluid_settings_setint(r->settings, "synth.threadsafe-api", 0);
	fluid_settings_setint(r->settings, "synth.reverb.active", 1);
	fluid_settings_setint(r->settings, "synth.chorus.active", 1);
	fluid_settings_setnum(r->settings, "synth.gain", 0.5);
	r->home = new_fluid_synth(r->settings);
	if (!r->home)
		die("fluidsynth: cannot make a synthesizer");
	r->sf = xcalloc((size_t)n, sizeof *r->sf);
	r->n = n;
	for (int i = 0; i < n; i++) {
		r->sf[i].path = paths[i];
		// a RIFF sfbk (SF2 and SF3) only: FluidSynth would try other formats
		// through libinstpatch, which prints its own complaints
		unsigned char head[12] = { 0 };
		FILE *fp = fopen(paths[i], "rb");
		if (!fp)
			die("%s:", paths[i]);
		size_t got = fread(head, 1, sizeof head, fp);
		fclose(fp);
		if (got < 12 || memcmp(head, "RIFF", 4) || memcmp(head + 8, "sfbk", 4))
			die("%s: not a SoundFont (.sf2 or .sf3: a RIFF sfbk file, e.g. from "
			    "fluid-soundfont-gm)", paths[i]);
		int id = fluid_synth_sfload(r->home, paths[i], 0);
		if (id == FLUID_FAILED)
			die("%s: FluidSynth cannot load this SoundFont", paths[i]);
		fluid_sfont_t *sf = r->sf[i].font = fluid_synth_get_sfont_by_id(r->home, id);
		r->sf[i].gm = fluid_sfont_get_preset(sf, 0, 0) && fluid_sfont_get_preset(sf, 128, 0) &&
			      fluid_sfont_get_preset(sf, 0, 33);
	}
	bool gm = false;
	for (int i = 0; i < n; i++)
		gm |= r->sf[i].gm;
	if (!gm)
		die("%s%s: no General MIDI SoundFont among them (with piano, bass and a drum kit in "
		    "bank 128)", paths[0], n > 1 ? " …" : "");
	return r;
}

void renderer_free(struct renderer *r)
{
	if (!r)
		return;
	delete_fluid_synth(r->home);
	delete_fluid_settings(r->settings);
	free(r->sf);
	free(r);
}

struct channel {
	bool used;
	int bank, prog;
	int pan, reverb, chorus, volume;
};

/* The preset of (bank, prog) in SoundFont i, or a kit's (a drum-only
 * SoundFont's first preset for a kit asked of it). */
static fluid_preset_t *find_preset(struct renderer *r, int i, int bank, int prog)
{
	fluid_sfont_t *sf = r->sf[i].font;
	if (r->sf[i].gm)
		return fluid_sfont_get_preset(sf, bank, prog);
	if (bank != 128)
		return NULL;
	fluid_sfont_iteration_start(sf);
	return fluid_sfont_iteration_next(sf);
}

/* Play track t on the synth with channels ch from SoundFont sf into out
 * (planar [2, n]); names the presets into name. */
static void play(struct renderer *r, int sf, const struct channel *ch,
		 struct track *t, float *out, int64_t n, char *name, size_t name_len,
		 const double *fx)
{
	fluid_synth_t *syn = new_fluid_synth(r->settings);
	if (!syn)
		die("fluidsynth: cannot make a synthesizer");
	for (int i = 0; i < r->n; i++)
		if (fluid_synth_add_sfont(syn, r->sf[i].font) == FLUID_FAILED)
			die("%s: fluidsynth cannot share it", r->sf[i].path);
	fluid_synth_set_reverb_group_roomsize(syn, -1, fx[0]);
	fluid_synth_set_reverb_group_damp(syn, -1, fx[1]);
	fluid_synth_set_reverb_group_width(syn, -1, fx[2]);
	fluid_synth_set_reverb_group_level(syn, -1, fx[3]);
	fluid_synth_set_chorus_group_nr(syn, -1, 3);
	fluid_synth_set_chorus_group_level(syn, -1, fx[4]);
	fluid_synth_set_chorus_group_speed(syn, -1, fx[5]);
	fluid_synth_set_chorus_group_depth(syn, -1, fx[6]);
	name[0] = 0;
	for (int c = 0; c < 16; c++) {
		if (!ch[c].used)
			continue;
		int bank = ch[c].bank, prog = ch[c].prog, i = sf;
		fluid_preset_t *p = find_preset(r, i, bank, prog);
		if (!p && bank == 128)	// the standard kit
			p = find_preset(r, i, 128, prog = 0);
		if (!p)	// not in this SoundFont: the first that has it
			for (i = 0; i < r->n && !(p = find_preset(r, i, bank, prog)); i++)
				;
		if (!p)
			die("%s: no preset %d:%d in any SoundFont given", r->sf[sf].path, bank, prog);
		fluid_sfont_t *font = fluid_preset_get_sfont(p);
		if (fluid_synth_program_select(syn, c, fluid_sfont_get_id(font), fluid_preset_get_banknum(p),
					       fluid_preset_get_num(p)) != FLUID_OK)
			die("%s: cannot select preset %d:%d", r->sf[i].path, bank, prog);
		size_t k = strlen(name);
		snprintf(name + k, name_len - k, "%s%s", k ? ", " : "", fluid_preset_get_name(p));
		fluid_synth_cc(syn, c, 7, ch[c].volume);
		fluid_synth_cc(syn, c, 10, ch[c].pan);
		fluid_synth_cc(syn, c, 91, ch[c].reverb);
		fluid_synth_cc(syn, c, 93, ch[c].chorus);
		fluid_synth_cc(syn, c, 11, 127);
	}
	qsort(t->ev, t->n, sizeof *t->ev, ev_cmp);
	int64_t pos = 0;
	size_t e = 0;
	while (pos < n) {
		int64_t until = e < t->n && t->ev[e].at < n ? t->ev[e].at : n;
		while (pos < until) {
			int len = until - pos < 4096 ? (int)(until - pos) : 4096;
			if (fluid_synth_write_float(syn, len, out, (int)pos, 1, out + n, (int)pos, 1) != FLUID_OK)
				die("fluidsynth: rendering failed");
			pos += len;
		}
		for (; e < t->n && t->ev[e].at <= pos; e++) {
			const struct event *v = &t->ev[e];
			switch (v->type) {
			case EV_ON: fluid_synth_noteon(syn, v->chan, v->a, v->b); break;
			case EV_OFF: fluid_synth_noteoff(syn, v->chan, v->a); break;
			case EV_CC: fluid_synth_cc(syn, v->chan, v->a, v->b); break;
			case EV_BEND: fluid_synth_pitch_bend(syn, v->chan, v->a); break;
			}
		}
	}
	fluid_synth_system_reset(syn);	// no voice holds a preset of the SoundFonts handed back
	for (int i = 0; i < r->n; i++)
		fluid_synth_remove_sfont(syn, r->sf[i].font);
	delete_fluid_synth(syn);
}

/* ---- the mixer ---- */

struct biquad {
	double b0, b1, b2, a1, a2;
};

/* RBJ's cookbook: 0 low shelf, 1 peak, 2 high shelf at f Hz, gain dB. */
static struct biquad biquad(int type, double f, double gain_db, double q)
{
	double A = pow(10, gain_db / 40), w = 2 * M_PI * f / SR, cw = cos(w), sw = sin(w);
	double b0, b1, b2, a0, a1, a2;
	if (type == 1) {
		double al = sw / (2 * q);
		b0 = 1 + al * A, b1 = -2 * cw, b2 = 1 - al * A;
		a0 = 1 + al / A, a1 = -2 * cw, a2 = 1 - al / A;
	} else {
		double al = sw / 2 * sqrt(2.0), sa = 2 * sqrt(A) * al, sg = type == 0 ? 1 : -1;
		b0 = A * ((A + 1) - sg * (A - 1) * cw + sa);
		b1 = sg * 2 * A * ((A - 1) - sg * (A + 1) * cw);
		b2 = A * ((A + 1) - sg * (A - 1) * cw - sa);
		a0 = (A + 1) + sg * (A - 1) * cw + sa;
		a1 = -sg * 2 * ((A - 1) + sg * (A + 1) * cw);
		a2 = (A + 1) + sg * (A - 1) * cw - sa;
	}
	return (struct biquad){ b0 / a0, b1 / a0, b2 / a0, a1 / a0, a2 / a0 };
}

static void filter(float *x, int64_t n, struct biquad q)
{
	for (int c = 0; c < 2; c++) {
		double z1 = 0, z2 = 0;
		float *p = x + c * n;
		for (int64_t i = 0; i < n; i++) {
			double in = p[i], y = q.b0 * in + z1;
			z1 = q.b1 * in - q.a1 * y + z2;
			z2 = q.b2 * in - q.a2 * y;
			p[i] = (float)y;
		}
	}
}

/* Per sample the gain of a feed-forward compressor (peak detector over
 * both channels, in dB) of threshold thr dB, ratio, attack and release
 * seconds, on x (planar [2, n]). */
static void compressor_gain(const float *x, int64_t n, double thr, double ratio, double attack,
			    double release, float *gain)
{
	double ca = exp(-1 / (attack * SR)), cr = exp(-1 / (release * SR)), env = -120;
	for (int64_t i = 0; i < n; i++) {
		double a = fmax(fabs(x[i]), fabs(x[n + i]));
		double lv = a > 1e-6 ? 20 * log10(a) : -120;
		double k = lv > env ? ca : cr;
		env = k * env + (1 - k) * lv;
		double over = env - thr;
		gain[i] = (float)(over > 0 ? pow(10, -over * (1 - 1 / ratio) / 20) : 1);
	}
}

/* Per sample the gain of a peak limiter that holds x (planar [2, n])
 * under ceiling: the gain each sample needs, ramped down ahead of a peak
 * (about 2 ms) and back up after it (release seconds), never above what a
 * sample needs. */
static void limiter_gain(const float *x, int64_t n, double ceiling, double release, float *gain)
{
	double ka = 1 - exp(-1 / (0.002 * SR)), kr = 1 - exp(-1 / (release * SR)), g = 1;
	for (int64_t i = n - 1; i >= 0; i--) {	// backwards: the attack, ahead of each peak
		double a = fmax(fabs(x[i]), fabs(x[n + i])), need = a > ceiling ? ceiling / a : 1;
		g = fmin(need, g + (1 - g) * ka);
		gain[i] = (float)g;
	}
	g = 1;
	for (int64_t i = 0; i < n; i++) {	// forwards: the release
		g = fmin(gain[i], g + (1 - g) * kr);
		gain[i] = (float)g;
	}
}

static void apply_gain(float *x, int64_t n, const float *gain)
{
	for (int c = 0; c < 2; c++)
		for (int64_t i = 0; i < n; i++)
			x[c * n + i] *= gain[i];
}

/* RMS in dBFS over the 4096-sample windows within 40 dB of the loudest
 * (where the stem plays); -200 for silence. */
static double active_rms_db(const float *x, int64_t n)
{
	int64_t w = 4096, nw = (n + w - 1) / w;
	double *p = xcalloc((size_t)(nw ? nw : 1), sizeof *p), top = 0, sum = 0;
	for (int64_t i = 0; i < n; i++)
		p[i / w] += (double)x[i] * x[i] + (double)x[n + i] * x[n + i];
	for (int64_t k = 0; k < nw; k++)
		top = fmax(top, p[k] /= 2.0 * (k == nw - 1 ? n - k * w : w));
	int64_t m = 0;
	for (int64_t k = 0; k < nw; k++)
		if (p[k] > top * 1e-4)
			sum += p[k], m++;
	free(p);
	return m && sum > 0 ? 10 * log10(sum / m) : -200;
}

/* EQ, maybe compression, then level automation: a smooth random walk of
 * ±2 dB through points 2 to 5 s apart. */
static void mix_stem(struct song *s, float *x, int64_t n, float *gain)
{
	struct rng *r = &s->r;
	filter(x, n, biquad(0, rng_next_range(r, 80, 250), rng_next_range(r, -4, 4), 0.7));
	filter(x, n, biquad(1, exp(rng_next_range(r, logf(300), logf(5000))), rng_next_range(r, -5, 5),
			    rng_next_range(r, 0.7f, 2.0f)));
	filter(x, n, biquad(2, rng_next_range(r, 4000, 10000), rng_next_range(r, -4, 4), 0.7));
	if (rng_next_uniform(r) < 0.6f) {
		double thr = active_rms_db(x, n) + rng_next_range(r, 0, 8);
		compressor_gain(x, n, thr, rng_next_range(r, 2, 5), rng_next_range(r, 0.003f, 0.03f),
				rng_next_range(r, 0.05f, 0.3f), gain);
		apply_gain(x, n, gain);
	}
	double a = rng_next_range(r, -2, 2), b = rng_next_range(r, -2, 2);
	int64_t t0 = 0, t1 = (int64_t)(rng_next_range(r, 2, 5) * SR);
	for (int64_t i = 0; i < n; i++) {
		if (i >= t1) {
			a = b, b = rng_next_range(r, -2, 2);
			t0 = t1, t1 += (int64_t)(rng_next_range(r, 2, 5) * SR);
		}
		double u = (double)(i - t0) / (double)(t1 - t0), db = a + (b - a) * (1 - cos(M_PI * u)) / 2;
		gain[i] = (float)pow(10, db / 20);
	}
	apply_gain(x, n, gain);
}

static void scale(float *x, int64_t n, double g)
{
	for (int64_t i = 0; i < 2 * n; i++)
		x[i] = (float)(x[i] * g);
}

void render_song(struct renderer *r, uint64_t seed, uint64_t index, double seconds,
		 float *stems[RENDER_STEMS], int64_t *frames, struct render_info *info)
{
	struct song *s = xcalloc(1, sizeof *s);
	rng_init(&s->r, seed, 0x52454e44ull + index);	// "REND": not make-dataset's streams
	struct rng *g = &s->r;
	s->st = &styles[rng_next_below(g, N_STYLES)];
	double bpm = rng_next_range(g, s->st->bpm_lo, s->st->bpm_hi);
	s->spb = 60.0 * SR / bpm;
	s->beats = s->st->beats;
	s->key = (int)rng_next_below(g, 12);
	s->minor = s->st != &styles[4] && rng_next_uniform(g) < 0.4f;
	s->frames = (int64_t)(seconds * SR * rng_next_range(g, 1.0f, 1.25f));
	s->bars = (int)ceil(s->frames / (s->beats * s->spb)) + 1;
	if (s->bars > MAX_BARS)
		die("make-dataset: songs of %d bars at most (%.0f s at %.0f bpm asked)", MAX_BARS, seconds,
		    bpm);
	plan_form(s);
	s->kit = pick(g, s->st->kits, 4);
	s->bass_prog = pick(g, s->st->bass_prog, 4);
	s->comp_prog = pick(g, s->st->comp_prog, 6);
	s->pad_prog = pick(g, s->st->pad_prog, 4);
	s->lead_prog = pick(g, s->st->lead_prog, 4);
	s->voice = (int)rng_next_below(g, 4);
	part_drums(s);
	part_bass(s);
	part_other(s);
	part_vocals(s);

	memset(info, 0, sizeof *info);
	snprintf(info->style, sizeof info->style, "%s", s->st->name);
	info->bpm = bpm, info->key = s->key, info->minor = s->minor, info->beats = s->beats;
	info->bars = s->bars, info->sections = s->nsec;
	int64_t n = s->frames;
	float *gain = xmalloc(sizeof(float) * (size_t)n);
	static const float send_lo[] = { 5, 0, 15, 25 }, send_hi[] = { 45, 20, 80, 90 };
	static const float chorus_hi[] = { 1, 25, 60, 40 };
	static const float level_lo[] = { -20, -20, -22, -19 }, level_hi[] = { -14, -13, -15, -13 };
	for (int k = 0; k < RENDER_STEMS; k++) {
		// each stem from a SoundFont of its own; drums may come from a kit-only one
		int sf;
		do
			sf = (int)rng_next_below(g, (uint64_t)r->n);
		while (!r->sf[sf].gm && k != 0);
		struct channel ch[16] = { 0 };
		int progs[MAX_CHANNELS] = { k == 1 ? s->bass_prog : k == 2 ? s->comp_prog
								: vocal_progs[s->voice],
					    k == 2 ? s->pad_prog : 52, s->lead_prog };
		for (int c = 0; c < MAX_CHANNELS && k != 0; c++)
			ch[c] = (struct channel){ true, 0, progs[c], 64, 0, 0, 100 };
		if (k == 0)
			ch[DRUM_CHANNEL] = (struct channel){ true, 128, s->kit, 64, 0, 0, 100 };
		if (k == 1)	// bass: one channel; vocals: the lead and a harmony
			ch[1].used = false;
		if (k == 1 || k == 3)
			ch[2].used = false;
		for (int c = 0; c < 16; c++) {
			if (!ch[c].used)
				continue;
			ch[c].reverb = (int)rng_next_range(g, send_lo[k], send_hi[k]);
			ch[c].chorus = (int)rng_next_range(g, 0, chorus_hi[k]);
			int spread = k == 2 ? 44 : k == 3 && c == 1 ? 24 : 6;
			ch[c].pan = 64 + (int)rng_next_below(g, (uint64_t)(2 * spread + 1)) - spread;
			ch[c].volume = c == 1 && k == 2 ? 80 : 100;
		}
		double fx[7] = { rng_next_range(g, 0.2f, 0.85f), rng_next_range(g, 0.1f, 0.6f),
				 rng_next_range(g, 0.4f, 1.0f), rng_next_range(g, 0.4f, 0.9f),
				 rng_next_range(g, 0.8f, 2.5f), rng_next_range(g, 0.2f, 0.6f),
				 rng_next_range(g, 3, 10) };
		stems[k] = xcalloc((size_t)(2 * n), sizeof(float));
		play(r, sf, ch, &s->tr[k], stems[k], n, info->program[k], sizeof info->program[k], fx);
		info->sfont[k] = r->sf[sf].path;
		mix_stem(s, stems[k], n, gain);
		double lv = active_rms_db(stems[k], n);
		if (lv > -150)
			scale(stems[k], n, pow(10, (rng_next_range(g, level_lo[k], level_hi[k]) - lv) / 20));
		free(s->tr[k].ev);
	}
	// the bus: fades, a glue compressor's gain and the final level, on every
	// stem alike (so they still sum to the mixture)
	float *mix = xcalloc((size_t)(2 * n), sizeof(float));
	for (int k = 0; k < RENDER_STEMS; k++)
		for (int64_t i = 0; i < 2 * n; i++)
			mix[i] += stems[k][i];
	int64_t fade_in = SR / 200, fade_out = n / 10 < 2 * SR ? n / 10 : 2 * SR;
	for (int64_t i = 0; i < n; i++)
		gain[i] = (float)(fmin(1, (double)i / fade_in) * fmin(1, (double)(n - i) / fade_out));
	apply_gain(mix, n, gain);
	for (int k = 0; k < RENDER_STEMS; k++)
		apply_gain(stems[k], n, gain);
	if (rng_next_uniform(g) < 0.5f) {
		compressor_gain(mix, n, active_rms_db(mix, n) + rng_next_range(g, 2, 6),
				rng_next_range(g, 1.5f, 3), rng_next_range(g, 0.01f, 0.03f),
				rng_next_range(g, 0.1f, 0.3f), gain);
		apply_gain(mix, n, gain);
		for (int k = 0; k < RENDER_STEMS; k++)
			apply_gain(stems[k], n, gain);
	}
	float peak = 0;
	for (int64_t i = 0; i < 2 * n; i++)
		peak = fmaxf(peak, fabsf(mix[i]));
	if (rng_next_uniform(g) < 0.75f) {	// mastering: the peaks limited by 2 to 9 dB
		limiter_gain(mix, n, peak * pow(10, -rng_next_range(g, 2, 9) / 20),
			     rng_next_range(g, 0.03f, 0.15f), gain);
		apply_gain(mix, n, gain);
		for (int k = 0; k < RENDER_STEMS; k++)
			apply_gain(stems[k], n, gain);
		peak = 0;
		for (int64_t i = 0; i < 2 * n; i++)
			peak = fmaxf(peak, fabsf(mix[i]));
	}
	double target = pow(10, rng_next_range(g, -3, -0.5f) / 20);
	for (int k = 0; k < RENDER_STEMS; k++)
		scale(stems[k], n, peak > 0 ? target / peak : 1);
	free(mix);
	free(gain);
	*frames = n;
	free(s);
}
