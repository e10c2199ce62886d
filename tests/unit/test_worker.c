/* test_worker.c: the one thread helper (lib/util/worker.h): jobs in order,
 * a job's die() kept for the caller, die_at_exit before an exit, a blocked
 * read cancelled, ordered_map in order. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"
#include "util.h"
#include "worker.h"

static void append(void *arg)
{
	int *log = arg;
	log[1 + log[0]] = log[0] + 1;
	log[0]++;
}

static void test_jobs_in_order(void)
{
	int log[9] = { 0 };
	struct worker *w = worker_create();
	for (int i = 0; i < 8; i++)
		worker_run(w, append, log);
	CHECK(worker_wait(w) == NULL, "a job that returned has no message");
	CHECK(log[0] == 8, "%d jobs ran", log[0]);
	for (int i = 0; i < 8; i++)
		CHECK(log[1 + i] == i + 1, "job %d wrote %d", i, log[1 + i]);
	worker_free(w);
}

static void dies(void *arg)
{
	die("record %d: %s", *(int *)arg, "broken");
}

static void test_die_in_a_job(void)
{
	int k = 7;
	struct worker *w = worker_create();
	worker_run(w, dies, &k);
	const char *msg = worker_wait(w);
	CHECK(msg && !strcmp(msg, "record 7: broken"), "message '%s'", msg ? msg : "(none)");
	CHECK(worker_wait(w) == msg, "the message stays");
	worker_free(w);	// the thread is gone: nothing to wait for
}

/* a child's exit status and its stderr */
static int in_child(void (*fn)(void), char *err, size_t len)
{
	int fd[2];
	if (pipe(fd))
		abort();
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fd[1], 2);
		close(fd[0]);
		set_progname("test_worker");
		fn();
		exit(0);
	}
	close(fd[1]);
	size_t got = 0;
	ssize_t n;
	while (got < len - 1 && (n = read(fd[0], err + got, len - 1 - got)) > 0)
		got += (size_t)n;
	err[got] = 0;
	close(fd[0]);
	int status;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void run_after_death(void)
{
	int k = 3;
	struct worker *w = worker_create();
	worker_run(w, dies, &k);
	worker_run(w, append, NULL);	// dies here, with the job's message
}

static void say_first(void *arg)
{
	fprintf(stderr, "%s\n", (const char *)arg);
}

static void hook_then_die(void)
{
	die_at_exit(say_first, "hook");
	die("the error");
}

static void test_errors_reach_the_caller(void)
{
	char err[512];
	int rc = in_child(run_after_death, err, sizeof err);
	CHECK(rc == 1, "exit %d", rc);
	CHECK(!strcmp(err, "test_worker: record 3: broken\n"), "stderr '%s'", err);
	rc = in_child(hook_then_die, err, sizeof err);
	CHECK(rc == 1, "exit %d", rc);
	CHECK(!strcmp(err, "hook\ntest_worker: the error\n"), "stderr '%s'", err);
}

#if !defined(__SANITIZE_ADDRESS__)
static void blocked_read(void *arg)
{
	char c;
	worker_cancel_point(1);
	ssize_t n = read(*(int *)arg, &c, 1);
	worker_cancel_point(0);
	(void)n;
}

static void test_cancel_a_blocked_read(void)
{
	int fd[2];
	CHECK(pipe(fd) == 0, "pipe");
	struct worker *w = worker_create();
	worker_run(w, blocked_read, &fd[0]);
	usleep(10000);
	worker_cancel(w);	// returns: the read was cancelled
	close(fd[0]);
	close(fd[1]);
}
#endif

static void square(void *ctx, int64_t i, void *slot)
{
	(void)ctx;
	*(int64_t *)slot = i * i;
}

static void collect(void *ctx, int64_t i, void *slot)
{
	int64_t *out = ctx;
	out[i - 5] = *(int64_t *)slot;
}

static void test_ordered_map(void)
{
	int64_t out[100] = { 0 };
	ordered_map(5, 100, 3, sizeof(int64_t), square, collect, out);
	int bad = 0;
	for (int i = 0; i < 100; i++)
		bad += out[i] != (int64_t)(i + 5) * (i + 5);
	CHECK(bad == 0, "%d results out of place", bad);
}

int main(void)
{
	RUN(test_jobs_in_order);
	RUN(test_die_in_a_job);
	RUN(test_errors_reach_the_caller);
#if !defined(__SANITIZE_ADDRESS__)	/* the plain build only: */
	// ASan cannot follow glibc's unwinding of a cancelled thread (it
	// reports a stack-buffer-underflow in its own sigaltstack call):
	// the cancellation is checked in the plain build only
	RUN(test_cancel_a_blocked_read);
#endif
	RUN(test_ordered_map);
	return test_summary();
}
