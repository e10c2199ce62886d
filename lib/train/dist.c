/* dist.c: data-parallel training over MPI ranks (see dist.h).  Built with
 * MPI when the Makefile found mpicc (SEPNET_MPI); without, a world of one. */
#include "dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef SEPNET_MPI
#include <mpi.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif
#include <sched.h>

#include "backend.h"
#include "shard.h"
#include "util.h"

/* floats per bucket of the gradient sums: 8 MB, as many as 25 MB DDP
 * buckets would start later on the models here (small.ini's gradients
 * are 2 buckets, base.ini's 5) */
#define BUCKET_FLOATS ((size_t)1 << 21)

static struct {
	int rank, size;
	bool mpi;		/* MPI_Init was called */
	bool finalized;
} world = { 0, 1, false, false };

int dist_rank(void)
{
	return world.rank;
}

int dist_size(void)
{
	return world.size;
}

bool dist_writer(void)
{
	return world.rank == 0;
}

#ifdef SEPNET_MPI

_Static_assert(sizeof(real) == sizeof(float), "the gradients are summed as MPI_FLOAT");

/* A rank that ends before dist_finalize ends the job: the others would
 * wait for it in their next sum forever.  (Alone, it just exits.) */
static void abort_world(void)
{
	if (world.mpi && !world.finalized && world.size > 1)
		MPI_Abort(MPI_COMM_WORLD, 1);
}

/* This node's ranks share it: the rank among them picks the GPU (the
 * plugin reads SEPNET_LOCAL_RANK), and without OMP_NUM_THREADS each takes
 * its share of the cores it may run on (mpirun binds a rank to a core when
 * there are enough; mpiexec leaves every rank every core, and ranks that
 * each start a thread per core wait on each other's). */
static void share_node(void)
{
	MPI_Comm node;
	int local, locals;
	MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
	MPI_Comm_rank(node, &local);
	MPI_Comm_size(node, &locals);
	MPI_Comm_free(&node);
	char buf[16];
	snprintf(buf, sizeof buf, "%d", local);
	setenv("SEPNET_LOCAL_RANK", buf, 1);
#ifdef _OPENMP
	cpu_set_t cpus;
	if (!getenv("OMP_NUM_THREADS") && locals > 1 &&
	    sched_getaffinity(0, sizeof cpus, &cpus) == 0) {
		int n = CPU_COUNT(&cpus);
		omp_set_num_threads(n > locals ? n / locals : 1);
	}
#endif
}

const char *dist_library(void)
{
	static char name[MPI_MAX_LIBRARY_VERSION_STRING];
	int len;
	MPI_Get_library_version(name, &len);
	name[strcspn(name, ",\n")] = 0;	// "Open MPI v4.1.4, package: ..."
	return name;
}

void dist_init(int *argc, char ***argv)
{
	char err[256];
	const char *from;
	int rank, size, found = shard_from_env(&rank, &size, &from, err, sizeof err);
	if (found < 0)
		die("%s", err);
	if (!found)
		return;
	int provided;
	// only the main thread calls MPI (the record reader does not)
	if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
		die("MPI_Init failed (launched by %s as rank %d of %d)", from, rank, size);
	world.mpi = true;
	atexit(abort_world);
	MPI_Comm_rank(MPI_COMM_WORLD, &world.rank);
	MPI_Comm_size(MPI_COMM_WORLD, &world.size);
	if (world.rank != rank || world.size != size)
		die("%s says rank %d of %d but MPI says %d of %d: start every rank with the same "
		    "launcher (mpirun, mpiexec or srun)", from, rank, size, world.rank, world.size);
	if (world.size > 1) {
		static char name[128];
		snprintf(name, sizeof name, "%s[rank %d]", progname, world.rank);
		progname = name;
	}
	share_node();
}

void dist_finalize(void)
{
	if (!world.mpi || world.finalized)
		return;
	world.finalized = true;
	MPI_Finalize();
}

void dist_sum(double *x, int n)
{
	if (world.size > 1)
		MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}

bool dist_same(uint64_t h)
{
	if (world.size == 1)
		return true;
	uint64_t v[2] = { h, ~h };	// min(h) and ~max(h)
	MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
	return v[0] == ~v[1];
}

void dist_barrier(void)
{
	if (world.size > 1)
		MPI_Barrier(MPI_COMM_WORLD);
}

#else	/* a build without MPI: a world of one */

const char *dist_library(void)
{
	return NULL;
}

void dist_init(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	char err[256];
	const char *from;
	int rank, size, found = shard_from_env(&rank, &size, &from, err, sizeof err);
	if (found < 0)
		die("%s", err);
	if (found && size > 1)
		die("%s: launched as rank %d of %d, but this sepnet-train was built without MPI "
		    "(NO_MPI, or no mpicc): install Open MPI or MPICH (make deps) and rebuild",
		    from, rank, size);
}

void dist_finalize(void)
{
}

void dist_sum(double *x, int n)
{
	(void)x;
	(void)n;
}

bool dist_same(uint64_t h)
{
	(void)h;
	return true;
}

void dist_barrier(void)
{
}

#endif

/* ---- the gradients ---- */

struct dist_grads {
	const struct backend *be;
	real *grads;		/* be's memory */
	size_t n;
	int buckets;		/* bucket k: grads[lo(k) .. hi(k)), k = 0 the last floats */
	int started;		/* buckets started in this pass, from k = 0 on */
	bool comm;		/* the backend sums (NCCL) */
	real *host;		/* a device backend without comm: the sums go through here */
#ifdef SEPNET_MPI
	MPI_Request *req;	/* per bucket, on host memory */
	MPI_Status *status;	/* (their statuses: MPICH's MPI_STATUSES_IGNORE is a
				   pointer GCC warns about) */
#endif
};

static size_t bucket_lo(const struct dist_grads *g, int k)
{
	size_t back = (size_t)(k + 1) * BUCKET_FLOATS;
	return g->n > back ? g->n - back : 0;
}

static size_t bucket_hi(const struct dist_grads *g, int k)
{
	return g->n - (size_t)k * BUCKET_FLOATS;
}

static struct dist_grads *grads_new(const struct backend *be, real *grads, size_t n)
{
	struct dist_grads *g = xcalloc(1, sizeof *g);
	g->be = be;
	g->grads = grads;
	g->n = n;
	g->buckets = (int)((n + BUCKET_FLOATS - 1) / BUCKET_FLOATS);
#ifdef SEPNET_MPI
	g->req = xcalloc(g->buckets, sizeof *g->req);
	g->status = xcalloc(g->buckets, sizeof *g->status);
#endif
	return g;
}

struct dist_grads *dist_grads_create(const struct backend *be, real *grads, size_t n)
{
	if (!world.mpi)	// (a launch of one rank takes the sums' path: mpirun -np 1 checks it)
		return NULL;
#ifdef SEPNET_MPI
	struct dist_grads *g = grads_new(be, grads, n);
	if (be->comm_init) {
		// rank 0 makes the communicator's id; every rank learns whether it could
		struct {
			int ok;
			char id[BACKEND_COMM_ID_BYTES];
			char why[256];
		} id = { 0 };
		if (world.rank == 0)
			id.ok = be->comm_id(id.id, id.why, sizeof id.why) == 0;
		MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD);
		if (id.ok) {
			be->comm_init(id.id, world.rank, world.size);
			g->comm = true;
		} else if (world.rank == 0)
			warn("%s: the gradients are summed through host memory over MPI (slower)",
			     id.why);
	}
	if (!be->host && !g->comm)
		g->host = xmalloc(n * sizeof(real));
	return g;
#else
	(void)be;
	(void)grads;
	(void)n;
	return NULL;
#endif
}

struct dist_grads *dist_grads_alone(const struct backend *be, real *grads, size_t n, char *why,
				    size_t whylen)
{
	char id[BACKEND_COMM_ID_BYTES];
	if (!be->comm_id) {
		snprintf(why, whylen, "the %s backend has no sums of its own", be->name);
		return NULL;
	}
	if (be->comm_id(id, why, whylen))
		return NULL;
	struct dist_grads *g = grads_new(be, grads, n);
	be->comm_init(id, 0, 1);
	g->comm = true;
	return g;
}

void dist_grads_free(struct dist_grads *g)
{
	if (!g)
		return;
	if (g->comm)
		g->be->comm_free();
#ifdef SEPNET_MPI
	free(g->req);
	free(g->status);
#endif
	free(g->host);
	free(g);
}

static void start_bucket(struct dist_grads *g, int k)
{
	size_t lo = bucket_lo(g, k), hi = bucket_hi(g, k);
	if (g->comm) {
		g->be->comm_allreduce(g->grads + lo, hi - lo);
		return;
	}
#ifdef SEPNET_MPI
	if (g->be->host)
		MPI_Iallreduce(MPI_IN_PLACE, g->grads + lo, (int)(hi - lo), MPI_FLOAT, MPI_SUM,
			       MPI_COMM_WORLD, &g->req[k]);
	// (through host memory: all at once in dist_grads_finish)
#endif
}

void dist_grads_ready(struct dist_grads *g, size_t from)
{
	if (!g)
		return;
	while (g->started < g->buckets && bucket_lo(g, g->started) >= from)
		start_bucket(g, g->started++);
#ifdef SEPNET_MPI
	if (g->be->host && !g->comm && g->started) {	// MPI progresses inside its calls
		int done;
		MPI_Testall(g->started, g->req, &done, g->status);
	}
#endif
}

void dist_grads_finish(struct dist_grads *g)
{
	if (!g)
		return;
	dist_grads_ready(g, 0);
	if (g->comm) {
		g->be->comm_wait();
	} else {
#ifdef SEPNET_MPI
		if (g->be->host) {
			MPI_Waitall(g->buckets, g->req, g->status);
		} else {
			size_t bytes = g->n * sizeof(real);
			g->be->download(g->host, g->grads, bytes);
			for (int k = 0; k < g->buckets; k++) {
				size_t lo = bucket_lo(g, k), hi = bucket_hi(g, k);
				MPI_Allreduce(MPI_IN_PLACE, g->host + lo, (int)(hi - lo), MPI_FLOAT,
					      MPI_SUM, MPI_COMM_WORLD);
			}
			g->be->upload(g->grads, g->host, bytes);
		}
#endif
	}
	g->started = 0;
}
