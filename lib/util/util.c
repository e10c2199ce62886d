/* util.c: die/warn, checked allocation, strict number parsing, stdout
 * hygiene and atomic file replacement. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#endif

const char *progname = "sepnet";

void set_progname(const char *argv0)
{
	const char *slash = argv0 ? strrchr(argv0, '/') : NULL;
	if (argv0)
		progname = slash ? slash + 1 : argv0;
}

/* a progress line is on stderr without its newline (progress.h) */
static volatile bool stderr_line_open;

void stderr_line(bool open)
{
	stderr_line_open = open;
}

static void vmessage(const char *fmt, va_list ap)
{
	int saved = errno;
	fflush(stdout);
	if (stderr_line_open) {	// a message gets a line of its own
		fputc('\n', stderr);
		stderr_line_open = false;
	}
	fprintf(stderr, "%s: ", progname);
	vfprintf(stderr, fmt, ap);
	size_t n = strlen(fmt);
	if (n && fmt[n - 1] == ':')
		fprintf(stderr, " %s", strerror(saved));
	fputc('\n', stderr);
}

/* die_redirect's handler, per thread; die_at_exit's hook */
static _Thread_local void (*die_to)(const char *msg, void *arg);
static _Thread_local void *die_to_arg;
static void (*exit_hook)(void *);
static void *exit_hook_arg;

void die_redirect(void (*fn)(const char *msg, void *arg), void *arg)
{
	die_to = fn;
	die_to_arg = arg;
}

void die_at_exit(void (*fn)(void *), void *arg)
{
	exit_hook = fn;
	exit_hook_arg = arg;
}

void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (die_to) {	// the message goes to the handler (a worker's job)
		char msg[1024];
		int saved = errno;
		int n = vsnprintf(msg, sizeof msg, fmt, ap);
		va_end(ap);
		size_t k = strlen(fmt);
		if (n >= 0 && (size_t)n < sizeof msg && k && fmt[k - 1] == ':')
			snprintf(msg + n, sizeof msg - n, " %s", strerror(saved));
		die_to(msg, die_to_arg);
		abort();	// a handler does not return
	}
	if (exit_hook) {	// once: the hook may die itself
		void (*fn)(void *) = exit_hook;
		exit_hook = NULL;
		fn(exit_hook_arg);
	}
	vmessage(fmt, ap);
	va_end(ap);
#if defined(__SANITIZE_ADDRESS__)
	// make check-sanitize: leaks are checked at every exit that ends well;
	// an error exit leaves what it held mid-work (a record half read, a
	// job a worker abandoned), so it skips LeakSanitizer's exit check
	fflush(NULL);
	atomic_cleanup_all();
	_exit(1);
#endif
	exit(1);
}

void die_usage(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmessage(fmt, ap);
	va_end(ap);
	exit(2);
}

void warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmessage(fmt, ap);
	va_end(ap);
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		die("out of memory allocating %zu bytes", n);
	return p;
}

#define HUGE_PAGE ((size_t)2 << 20)

static bool huge_pages = true;

void huge_pages_enable(bool on)
{
	huge_pages = on;
}

void *xmalloc_big(size_t n)
{
	n = n ? n : 1;
	size_t align = huge_pages && n >= 2 * HUGE_PAGE ? HUGE_PAGE : 64;
	void *p = NULL;
	if (posix_memalign(&p, align, n))
		die("out of memory allocating %zu MB", n >> 20);
	// advice only: a kernel without transparent huge pages says EINVAL
	if (align == HUGE_PAGE)
		(void)madvise(p, n / HUGE_PAGE * HUGE_PAGE, MADV_HUGEPAGE);
	return p;
}

#ifdef __SANITIZE_ADDRESS__

/* AddressSanitizer's builds: heap memory, which it guards and tracks */
void *xcalloc_big(size_t n)
{
	void *p = xmalloc_big(n);
	memset(p, 0, n);
	return p;
}

void xfree_big(void *p)
{
	free(p);
}

#else

#define BIG_HEADER ((size_t)4096)	/* the mapping's length, before the memory */

void *xcalloc_big(size_t n)
{
	size_t len = BIG_HEADER + (n ? n : 1);
	char *base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		die("out of memory allocating %zu MB", n >> 20);
	if (huge_pages && n >= 2 * HUGE_PAGE)	// advice only, as in xmalloc_big
		(void)madvise(base, len, MADV_HUGEPAGE);
	memcpy(base, &len, sizeof len);
	return base + BIG_HEADER;
}

void xfree_big(void *p)
{
	if (!p)
		return;
	char *base = (char *)p - BIG_HEADER;
	size_t len;
	memcpy(&len, base, sizeof len);
	munmap(base, len);
}

#endif

#define RESERVE_MORE_MAX ((size_t)256 << 20)	/* bytes reserved beyond a request */

void *xreserve_big(void *p, size_t *cap, size_t n, size_t size)
{
	if (p && *cap >= n)
		return p;
	free(p);
	size_t more = size && n <= SIZE_MAX / 4 / size ? 3 * n : 0;
	if (size && more > RESERVE_MORE_MAX / size)
		more = RESERVE_MORE_MAX / size;
	*cap = n + more;
	return xmalloc_big(*cap * size);
}

void *xcalloc(size_t count, size_t size)
{
	void *p = calloc(count ? count : 1, size ? size : 1);
	if (!p)
		die("out of memory allocating %zu x %zu bytes", count, size);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		die("out of memory allocating %zu bytes", n);
	return q;
}

char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	return memcpy(xmalloc(n), s, n);
}

int parse_int64(const char *s, int64_t *out)
{
	char *end;
	if (!s || !*s)
		return -1;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || end == s)
		return -1;
	*out = v;
	return 0;
}

int parse_int(const char *s, int *out)
{
	int64_t v;
	if (parse_int64(s, &v) || v < INT_MIN || v > INT_MAX)
		return -1;
	*out = (int)v;
	return 0;
}

int parse_double(const char *s, double *out)
{
	char *end;
	if (!s || !*s)
		return -1;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || end == s || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

int parse_float(const char *s, float *out)
{
	double v;
	if (parse_double(s, &v) || fabs(v) > FLT_MAX)
		return -1;
	*out = (float)v;
	return 0;
}

void die_write(const char *what)
{
	if (errno == EPIPE)
		_exit(141);	/* downstream closed: end quietly, like SIGPIPE */
	die("write error on %s:", what);
}

void close_stdout(void)
{
	if (fflush(stdout) == EOF)
		die_write("standard output");
	if (fclose(stdout) == EOF)
		die_write("standard output");
}

int64_t find_nonfinite(const float *x, size_t n)
{
	// blocks of a vectorised test (x - x is 0 for finite x, NaN otherwise,
	// summed in 8 independent lanes), then the index in the failed block
	for (size_t i = 0; i < n; i += 4096) {
		size_t m = n - i < 4096 ? n - i : 4096, j = 0;
		float lane[8] = { 0 }, acc = 0;
		for (; j + 8 <= m; j += 8)
			for (int k = 0; k < 8; k++)
				lane[k] += x[i + j + k] - x[i + j + k];
		for (; j < m; j++)
			acc += x[i + j] - x[i + j];
		for (int k = 0; k < 8; k++)
			acc += lane[k];
		if (acc != 0 || acc != acc)
			for (size_t j = 0; j < m; j++)
				if (!isfinite(x[i + j]))
					return (int64_t)(i + j);
	}
	return -1;
}

void die_bad_option(int c, char *const argv[])
{
	char shortopt[3] = { '-', (char)optopt, 0 };
	// a long option is the argument getopt just passed; a short one, optopt
	const char *last = argv[optind - 1];
	bool is_long = !strncmp(last, "--", 2) || !optopt || optopt > 255;
	const char *opt = is_long ? last : shortopt;
	char name[64];
	snprintf(name, sizeof name, "%.*s", (int)strcspn(opt, "="), opt);
	if (c == ':')
		die_usage("option %s needs a value; see %s -h", name, progname);
	die_usage("unknown option %s; see %s -h", name, progname);
}

void print_help(const char *usage, const char *options)
{
	printf("%s\n\n%s\nThe manual: man %s\n", usage, options, progname);
	close_stdout();
	exit(0);
}

void refuse_tty_stdout(void)
{
	if (isatty(STDOUT_FILENO))
		die("refusing to write binary data to a terminal (redirect or pipe stdout)");
}

void make_dirs(const char *dir)
{
	char *p = xstrdup(dir);
	size_t n = strlen(p);
	while (n > 1 && p[n - 1] == '/')
		p[--n] = 0;
	for (char *s = p + 1;; s++) {
		bool end = !*s;
		if (*s != '/' && !end)
			continue;
		*s = 0;
		struct stat sb;
		if (mkdir(p, 0777) < 0 && errno != EEXIST)
			die("%s:", p);
		if (stat(p, &sb) < 0)
			die("%s:", p);
		if (!S_ISDIR(sb.st_mode))
			die("%s: not a directory", p);
		if (end)
			break;
		*s = '/';
	}
	free(p);
}

void make_parent_dirs(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash || slash == path)
		return;
	char *dir = xstrdup(path);
	dir[slash - path] = 0;
	make_dirs(dir);
	free(dir);
}

/* ---- atomic files ---- */

#define MAX_ATOMIC 64
static struct atomic_file *open_files[MAX_ATOMIC];
static volatile sig_atomic_t handlers_installed;

void atomic_cleanup_all(void)
{
	for (int i = 0; i < MAX_ATOMIC; i++)
		if (open_files[i] && open_files[i]->tmp)
			unlink(open_files[i]->tmp);
}

static void on_fatal_signal(int sig)
{
	atomic_cleanup_all();
	signal(sig, SIG_DFL);
	raise(sig);
}

void atomic_open(struct atomic_file *af, const char *path)
{
	if (!handlers_installed) {
		handlers_installed = 1;
		atexit(atomic_cleanup_all);
		int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGPIPE };
		for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) {
			struct sigaction sa = { 0 }, old;
			sigaction(sigs[i], NULL, &old);
			if (old.sa_handler != SIG_DFL)
				continue;	/* the tool handles it itself */
			sa.sa_handler = on_fatal_signal;
			sigemptyset(&sa.sa_mask);
			sigaction(sigs[i], &sa, NULL);
		}
	}
	size_t n = strlen(path) + 32;
	af->path = xstrdup(path);
	af->tmp = xmalloc(n);
	snprintf(af->tmp, n, "%s.tmp.%ld", path, (long)getpid());
	int fd = open(af->tmp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
	if (fd < 0)
		die("%s:", af->tmp);
	af->fp = fdopen(fd, "wb");
	if (!af->fp)
		die("%s:", af->tmp);
	for (int i = 0; i < MAX_ATOMIC; i++)
		if (!open_files[i]) {
			open_files[i] = af;
			return;
		}
	die("%s: too many files open for atomic replacement", path);
}

static void atomic_forget(struct atomic_file *af)
{
	for (int i = 0; i < MAX_ATOMIC; i++)
		if (open_files[i] == af)
			open_files[i] = NULL;
	free(af->path);
	free(af->tmp);
	af->path = af->tmp = NULL;
	af->fp = NULL;
}

void atomic_commit(struct atomic_file *af)
{
	if (fflush(af->fp) == EOF || fsync(fileno(af->fp)) < 0)
		die("%s:", af->tmp);
	if (fclose(af->fp) == EOF) {
		af->fp = NULL;
		die("%s:", af->tmp);
	}
	af->fp = NULL;
	if (rename(af->tmp, af->path) < 0)
		die("rename %s to %s:", af->tmp, af->path);
	atomic_forget(af);
}

void atomic_abort(struct atomic_file *af)
{
	if (af->fp)
		fclose(af->fp);
	if (af->tmp)
		unlink(af->tmp);
	atomic_forget(af);
}

double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int max_threads(void)
{
#ifdef _OPENMP
	return omp_in_parallel() ? 1 : omp_get_max_threads();
#else
	return 1;
#endif
}
