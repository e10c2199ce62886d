/* progress.h: one progress line on a terminal for tools that work through
 * audio: seconds of audio done (of the total, when known), speed as a
 * multiple of real time, time left; redrawn in place at most five times a
 * second, and only when standard error is a terminal and not -q.  A line
 * that would appear before `delay` seconds of work never does, so short
 * jobs stay silent (stft and istft: 1 s; sepnet-fwd: 0). */
#ifndef SEPNET_PROGRESS_H
#define SEPNET_PROGRESS_H

#include <stdbool.h>

struct progress {
	bool on, drawn;
	double start, last, delay;	/* now_seconds() */
	double total;			/* seconds of audio in all; 0: unknown */
};

void progress_init(struct progress *p, bool quiet, double total, double delay);
/* done seconds of audio so far */
void progress_draw(struct progress *p, double done);
/* The final line (audio, speed, wall time), when a line was drawn or
 * delay is 0; a newline ends it. */
void progress_finish(struct progress *p, double done);
/* Before an error message: end the line, so the message has its own. */
void progress_break(struct progress *p);

#endif
