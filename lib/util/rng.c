/* rng.c: sequential draws and normals over the counter-based generator of
 * rng.h. */
#include "rng.h"

#include <math.h>

void rng_init(struct rng *r, uint64_t seed, uint64_t stream)
{
	r->seed = seed;
	r->stream = stream;
	r->counter = 0;
}

uint64_t rng_next_u64(struct rng *r)
{
	return rng_u64(r->seed, r->stream, r->counter++);
}

float rng_next_uniform(struct rng *r)
{
	return rng_uniform(r->seed, r->stream, r->counter++);
}

float rng_next_range(struct rng *r, float lo, float hi)
{
	return lo + (hi - lo) * rng_next_uniform(r);
}

uint64_t rng_next_below(struct rng *r, uint64_t n)
{
	return rng_below(r->seed, r->stream, r->counter++, n);
}

/* Box-Muller on two 53-bit uniforms; u1 in (0, 1] so the log is finite. */
static float normal_from_bits(uint64_t a, uint64_t b)
{
	double u1 = 1.0 - (double)(a >> 11) * 0x1p-53;
	double u2 = (double)(b >> 11) * 0x1p-53;
	return (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
}

float rng_normal(uint64_t seed, uint64_t stream, uint64_t counter)
{
	return normal_from_bits(rng_u64(seed, stream, 2 * counter),
				rng_u64(seed, stream, 2 * counter + 1));
}

float rng_next_normal(struct rng *r)
{
	uint64_t a = rng_next_u64(r);
	return normal_from_bits(a, rng_next_u64(r));
}
