/* util.h: error reporting and checked allocation shared by every tool.
 *
 * Diagnostics follow sbase: "progname: message" on stderr; a format that
 * ends in ':' gets ": strerror(errno)" appended.  die() exits 1. */
#ifndef SEPNET_UTIL_H
#define SEPNET_UTIL_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define SEPNET_VERSION "0.1.0"

extern const char *progname;

void set_progname(const char *argv0);
_Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* die() in this thread calls fn(msg, arg) instead of exiting; fn must not
 * return (a worker's job ends its thread: worker.h).  NULL: die exits. */
void die_redirect(void (*fn)(const char *msg, void *arg), void *arg);
/* die() calls fn(arg) once before it reports and exits (a tool that writes
 * in a thread lets the record being written finish first). */
void die_at_exit(void (*fn)(void *), void *arg);
void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* usage errors: message, then exit 2 */
_Noreturn void die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* n bytes, 64-byte aligned; from 4 MiB up on 2 MiB transparent huge pages
 * where the kernel gives them (madvise MADV_HUGEPAGE): a model's arena or
 * a track's spectrogram is touched in 512x fewer page faults.  free() it. */
void *xmalloc_big(size_t n);
/* n bytes of zeros, 64-byte aligned (page aligned), straight from the
 * kernel (an anonymous mapping, huge pages as xmalloc_big's): pages read as
 * zero until written and are touched only where written, so nothing is
 * zeroed twice and the first touches, which cost 10-70x a reuse on a VM,
 * happen where the memory is first used (in parallel loops, most of it),
 * not in one serial memset.  Free with xfree_big.  (AddressSanitizer's
 * builds: xmalloc_big and memset, which it guards.) */
void *xcalloc_big(size_t n);
void xfree_big(void *p);
/* Huge pages for xmalloc_big from now on, or not (default on).  Measured
 * on 2 cores: separation's 0.5 GB 10-20 % faster with them, training's
 * 4 GB 5-15 % slower (the kernel compacts and collapses gigabytes into
 * huge pages beside the work), so sepnet-train turns them off. */
void huge_pages_enable(bool on);
/* A grow-only buffer of at least n elements of size bytes, its contents
 * not kept (to be overwritten): p itself while *cap ≥ n, else p freed and
 * a fresh xmalloc_big; *cap counts elements.  A fresh one reserves 4× n
 * (at most 256 MiB more) in address space only: pages are touched as they
 * are written, and a stream's records vary (sepnet-fwd's stems records of
 * 10 s chunks are 323 or 646 frames), so a later, larger one rarely makes
 * a second buffer, whose pages are all touched fresh (about 15× the cost
 * of a reuse on a VM). */
void *xreserve_big(void *p, size_t *cap, size_t n, size_t size);

/* Parse a whole string as a number; 0 on success, -1 when malformed or out
 * of range.  No partial parses: "12x" is malformed. */
int parse_int64(const char *s, int64_t *out);
int parse_int(const char *s, int *out);
int parse_float(const char *s, float *out);
int parse_double(const char *s, double *out);

/* Exit quietly when a write failed because the reader went away (EPIPE),
 * otherwise die naming what was written.  Called after a failed fwrite. */
_Noreturn void die_write(const char *what);

/* Flush and close stdout, dying on error (a full disk is not silent). */
void close_stdout(void);

/* The index of the first NaN or infinity of x[0 .. n), or -1: input data
 * is checked on read, so a bad value is refused where it enters. */
int64_t find_nonfinite(const float *x, size_t n);

/* A line without its newline is on stderr (open) or not: a message of
 * die() or warn() then starts a line of its own (progress.h). */
void stderr_line(bool open);

/* getopt_long's answer to a bad option (optstring starting with ':' and
 * opterr 0): one line, "unknown option -x; see TOOL -h" or "option -n
 * needs a value; see TOOL -h", exit 2. */
_Noreturn void die_bad_option(int c, char *const argv[]);

/* -h: the usage lines, a blank line, one line per option (GNU style),
 * then where the manual is; on stdout, exit 0. */
_Noreturn void print_help(const char *usage, const char *options);

/* Refuse to write binary data to a terminal (exit 1 with a message). */
void refuse_tty_stdout(void);

/* mkdir -p: create dir and its missing parents; dies naming the first
 * one that cannot be made (or that exists and is not a directory). */
void make_dirs(const char *dir);
/* make_dirs of the directory part of path (nothing for a bare name). */
void make_parent_dirs(const char *path);

/* Atomic output: data is written to "PATH.tmp.PID", fsync'd and renamed over
 * PATH on commit; abort (or exit before commit) removes the temporary. */
struct atomic_file {
	char *path;
	char *tmp;
	FILE *fp;
};
void atomic_open(struct atomic_file *af, const char *path);
void atomic_commit(struct atomic_file *af);
void atomic_abort(struct atomic_file *af);
/* Remove every temporary still open; installed with atexit by atomic_open. */
void atomic_cleanup_all(void);

/* Threads a parallel loop may use here: OpenMP's maximum (OMP_NUM_THREADS,
 * else every core); 1 inside a parallel region (a nested call runs serial)
 * or in a build without OpenMP.  The project's one thread count. */
int max_threads(void);

/* Seconds since an arbitrary fixed point (CLOCK_MONOTONIC). */
double now_seconds(void);

#endif
