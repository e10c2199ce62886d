/* shard.h: this process's place among the ranks of a parallel launch
 * (mpirun, mpiexec, srun), read from the launcher's environment, and the
 * "R/N" form of musdb-cat --shard and the records' shard= key. */
#ifndef SEPNET_SHARD_H
#define SEPNET_SHARD_H

#include <stddef.h>

/* The rank and world size a launcher set for this process: Open MPI's
 * OMPI_COMM_WORLD_RANK/SIZE, MPICH and Intel MPI's PMI_RANK/PMI_SIZE, or
 * Slurm's SLURM_PROCID and SLURM_STEP_NUM_TASKS (SLURM_NTASKS outside a
 * step), first found first.  1 with *rank, *size and *from (the size's
 * variable) set; 0 when no launcher's variables are set; -1 with a
 * message in err when they are malformed (a rank outside 0 .. size-1). */
int shard_from_env(int *rank, int *size, const char **from, char *err, size_t errlen);

/* "R/N" with 0 <= R < N: 0 and *rank, *size set, or -1. */
int shard_parse(const char *s, int *rank, int *size);

#endif
