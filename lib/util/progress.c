/* progress.c: see progress.h. */
#include "progress.h"

#include <stdio.h>
#include <unistd.h>

#include "util.h"

void progress_init(struct progress *p, bool quiet, double total, double delay)
{
	*p = (struct progress){ .on = !quiet && isatty(STDERR_FILENO), .total = total,
				.delay = delay, .start = now_seconds() };
}

static void draw(struct progress *p, double done, bool last)
{
	double wall = now_seconds() - p->start, speed = wall > 0 ? done / wall : 0;
	char of[64] = "", tail[64] = "";
	if (last)
		snprintf(tail, sizeof tail, " in %.1f s", wall);
	else if (p->total > 0 && speed > 0) {
		long left = (long)((p->total - done) / speed + 0.5);
		snprintf(tail, sizeof tail, ", ETA %ld:%02ld:%02ld", left / 3600, left / 60 % 60, left % 60);
	}
	if (p->total > 0 && !last)
		snprintf(of, sizeof of, " of %.1f", p->total);
	fprintf(stderr, "\r%s: %.1f%s s of audio, %.1fx realtime%s\033[K%s", progname, done, of, speed,
		tail, last ? "\n" : "");
	p->drawn = !last;
	stderr_line(p->drawn);
}

void progress_draw(struct progress *p, double done)
{
	double now = now_seconds();
	if (!p->on || now - p->start < p->delay || now - p->last < 0.2)
		return;
	p->last = now;
	draw(p, done, false);
}

void progress_finish(struct progress *p, double done)
{
	if (p->on && (p->drawn || p->delay == 0))
		draw(p, done, true);
	p->on = false;
}

void progress_break(struct progress *p)
{
	if (p->on && p->drawn)
		fputc('\n', stderr);
	p->drawn = false;
	stderr_line(false);
}
