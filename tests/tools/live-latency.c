/* live-latency: the measured latency of a live separation.
 *
 *   live-latency RATE SECONDS COMMAND [ARG ...]
 *
 * Runs COMMAND with a pipe on its standard input and output, writes
 * SECONDS of mono f32 noise at RATE into it in 10 ms pieces paced in real
 * time (as a sound card would deliver them), and reads the WAV stream it
 * writes (sepnet-fwd -t f32 -r RATE -c 1 -s STEM -o -).  An output sample
 * k is late by the time it arrived minus the time input sample k was
 * written; prints the largest and the mean lateness of the samples after
 * the first second, and how many samples came out. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int rate, to_child;
static double seconds, start;

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static void *writer(void *arg)
{
	(void)arg;
	int piece = rate / 100;
	int64_t total = (int64_t)(seconds * rate);
	float *x = malloc(sizeof(float) * piece);
	uint64_t s = 1;
	for (int64_t k = 0; k < total; k += piece) {
		double due = start + (double)(k + piece) / rate;	// when a card would have it
		double wait = due - now();
		if (wait > 0) {
			struct timespec t = { (time_t)wait, (long)((wait - (time_t)wait) * 1e9) };
			nanosleep(&t, NULL);
		}
		for (int i = 0; i < piece; i++) {
			s = s * 6364136223846793005ull + 1442695040888963407ull;
			x[i] = (float)((double)(s >> 11) * 0x1p-53 - 0.5) * 0.5f;
		}
		if (write(to_child, x, sizeof(float) * piece) != (ssize_t)(sizeof(float) * piece)) {
			perror("live-latency: write");
			exit(1);
		}
	}
	close(to_child);
	free(x);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: live-latency RATE SECONDS COMMAND [ARG ...]\n");
		return 2;
	}
	rate = atoi(argv[1]);
	seconds = atof(argv[2]);
	int in[2], out[2];
	if (pipe(in) || pipe(out))
		return perror("live-latency: pipe"), 1;
	signal(SIGPIPE, SIG_IGN);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(in[0], 0), dup2(out[1], 1);
		close(in[0]), close(in[1]), close(out[0]), close(out[1]);
		execvp(argv[3], argv + 3);
		perror(argv[3]);
		_exit(127);
	}
	close(in[0]), close(out[1]);
	to_child = in[1];
	start = now();
	pthread_t t;
	pthread_create(&t, NULL, writer, NULL);
	// the WAV header up to "data" and its size, then frames of the fmt's size
	unsigned char buf[65536];
	size_t have = 0, frame = 0;
	int64_t samples = 0;
	double worst = 0, sum = 0;
	int64_t counted = 0;
	for (;;) {
		ssize_t r = read(out[0], buf + have, sizeof buf - have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		double at = now();
		have += (size_t)r;
		if (!frame) {	// the header: fmt's block align, then data's 8 bytes
			unsigned char *d = memmem(buf, have, "data", 4), *f = memmem(buf, have, "fmt ", 4);
			if (!d || !f || (size_t)(d - buf) + 8 > have)
				continue;
			frame = f[20] | f[21] << 8;
			size_t skip = (size_t)(d - buf) + 8;
			memmove(buf, buf + skip, have - skip);
			have -= skip;
		}
		int64_t n = (int64_t)(have / frame);
		for (int64_t k = samples; k < samples + n; k++) {
			double late = at - (start + (double)(k + 1) / rate);
			if (k >= rate) {	// after the first second
				worst = late > worst ? late : worst;
				sum += late, counted++;
			}
		}
		samples += n;
		memmove(buf, buf + n * frame, have - n * frame);
		have -= n * frame;
	}
	pthread_join(t, NULL);
	int status;
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		return fprintf(stderr, "live-latency: %s failed\n", argv[3]), 1;
	printf("latency max %.3f s, mean %.3f s, %lld samples out of %lld\n", worst,
	       counted ? sum / counted : 0, (long long)samples, (long long)(seconds * rate));
	return 0;
}
