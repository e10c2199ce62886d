/* shard.c: the launcher's rank and world size (see shard.h). */
#include "shard.h"

#include <stdio.h>
#include <stdlib.h>

#include "util.h"

static const struct {
	const char *rank, *size;
} launchers[] = {
	{ "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE" },	/* Open MPI's mpirun */
	{ "PMI_RANK", "PMI_SIZE" },	/* MPICH's and Intel MPI's mpiexec (Hydra) */
	{ "SLURM_PROCID", "SLURM_STEP_NUM_TASKS" },	/* srun: the step's tasks */
	{ "SLURM_PROCID", "SLURM_NTASKS" },
};

int shard_from_env(int *rank, int *size, const char **from, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof launchers / sizeof *launchers; i++) {
		const char *r = getenv(launchers[i].rank), *n = getenv(launchers[i].size);
		if (!r || !n)
			continue;
		if (parse_int(r, rank) || parse_int(n, size) || *size < 1 || *rank < 0 ||
		    *rank >= *size) {
			snprintf(err, errlen, "the launcher's %s=%s and %s=%s are not a rank and a "
				 "world size", launchers[i].rank, r, launchers[i].size, n);
			return -1;
		}
		*from = launchers[i].size;
		return 1;
	}
	return 0;
}

int shard_parse(const char *s, int *rank, int *size)
{
	int r, n, used = 0;
	if (sscanf(s, "%d/%d%n", &r, &n, &used) != 2 || s[used] || n < 1 || r < 0 || r >= n)
		return -1;
	*rank = r;
	*size = n;
	return 0;
}
