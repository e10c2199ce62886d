/* datafile.c: see datafile.h. */
#include "datafile.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

/* a file, not a folder: `-m demo` beside make demo's demo/ folder */
static int is_file(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0 && !S_ISDIR(sb.st_mode);
}

/* The folder of the running program, from /proc/self/exe ("" when unknown). */
static void program_dir(char *dir, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", dir, len - 1);
	dir[n > 0 ? n : 0] = 0;
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = 0;
	else
		dir[0] = 0;
}

/* the paths handed out, kept (reachable, not leaked) until exit */
static char *resolved[16];
static int nresolved;

static const char *keep(char *path)
{
	if (nresolved == 16)	// a tool resolves one or two names: never
		die("datafile_resolve: too many names");
	return resolved[nresolved++] = path;
}

const char *datafile_resolve(const char *arg, const char *kind, const char *suffix)
{
	size_t n = strlen(arg), ns = strlen(suffix);
	if (!*arg || strchr(arg, '/') || (n > ns && !strcmp(arg + n - ns, suffix)) || is_file(arg))
		return arg;
	char exe[PATH_MAX], tried[4][PATH_MAX + 64];
	const char *env = getenv("SEPNET_DATA");
	int ntried = 0;
	program_dir(exe, sizeof exe);
	if (env && *env)
		snprintf(tried[ntried++], sizeof tried[0], "%s/%s", env, kind);
	if (*exe) {
		snprintf(tried[ntried++], sizeof tried[0], "%s/../share/sepnet/%s", exe, kind);
		snprintf(tried[ntried++], sizeof tried[0], "%s/../%s", exe, kind);
	}
#ifdef SEPNET_SOURCE_DIR	// the tree the program was built in (a BINDIR elsewhere)
	snprintf(tried[ntried++], sizeof tried[0], "%s/%s", SEPNET_SOURCE_DIR, kind);
#endif
	for (int i = 0; i < ntried; i++) {
		char *path = xmalloc(strlen(tried[i]) + n + ns + 2);
		sprintf(path, "%s/%s%s", tried[i], arg, suffix);
		if (is_file(path)) {
			char *real = realpath(path, NULL);
			if (real) {
				free(path);
				return keep(real);
			}
			return keep(path);
		}
		free(path);
	}
	char list[4 * (PATH_MAX + 70)] = "";
	for (int i = 0; i < ntried; i++) {
		char *r = realpath(tried[i], NULL);
		snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
			 r ? r : tried[i]);
		free(r);
	}
	die("%s: no such file, and no %s%s in %s (give a path, or set SEPNET_DATA)", arg, arg,
	    suffix, *list ? list : "the installed folders");
}
