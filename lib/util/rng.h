/* rng.h: a counter-based random number generator.
 *
 * Every draw is a pure function of three 64-bit numbers: a seed, a stream
 * and a counter.  Nothing is carried from one draw to the next, so a draw
 * can be made in any order, on any thread, or on a GPU, and always gives
 * the same value: musdb-cat derives record i's choices from (seed, i, k),
 * dropout can use (seed, step, element index).
 *
 * The mixer is three rounds of splitmix64's finaliser (Stafford's
 * "variant 13"), keyed so that neighbouring streams and counters give
 * unrelated outputs; it passes the statistical batteries that splitmix64
 * passes and is not cryptographic.
 *
 * The core functions are static inline (and __host__ __device__ under
 * nvcc) so CUDA kernels can draw the same numbers as the C reference.
 * struct rng is a convenience for code that makes a sequence of draws
 * from one stream. */
#ifndef SEPNET_RNG_H
#define SEPNET_RNG_H

#include <stdint.h>

#ifdef __CUDACC__
#define RNG_HD __host__ __device__
#else
#define RNG_HD
#endif

static inline RNG_HD uint64_t rng_mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* 64 random bits for (seed, stream, counter). */
static inline RNG_HD uint64_t rng_u64(uint64_t seed, uint64_t stream, uint64_t counter)
{
	uint64_t z = rng_mix64(seed + 0x9e3779b97f4a7c15ULL);
	z = rng_mix64(z ^ (stream + 0x6a09e667f3bcc909ULL));
	return rng_mix64(z ^ (counter * 0x9e3779b97f4a7c15ULL + 0xbb67ae8584caa73bULL));
}

/* Uniform in [0, 1), 24 bits: every value is an exact float. */
static inline RNG_HD float rng_uniform(uint64_t seed, uint64_t stream, uint64_t counter)
{
	return (float)(rng_u64(seed, stream, counter) >> 40) * (1.0f / 16777216.0f);
}

/* Uniform integer in [0, n) for n >= 1 (Lemire's multiply-shift on the top
 * 32 bits; the bias, at most n / 2^32, is irrelevant for n below millions). */
static inline RNG_HD uint64_t rng_below(uint64_t seed, uint64_t stream, uint64_t counter,
				       uint64_t n)
{
	uint64_t r = rng_u64(seed, stream, counter);
	if (n <= 0xffffffffULL)
		return ((r >> 32) * n) >> 32;
	return r % n;
}

/* A sequence of draws from one stream: the counter advances by one per
 * draw (two for rng_next_normal). */
struct rng {
	uint64_t seed;
	uint64_t stream;
	uint64_t counter;
};

void rng_init(struct rng *r, uint64_t seed, uint64_t stream);
uint64_t rng_next_u64(struct rng *r);
float rng_next_uniform(struct rng *r);			/* [0, 1) */
float rng_next_range(struct rng *r, float lo, float hi);	/* [lo, hi) */
uint64_t rng_next_below(struct rng *r, uint64_t n);	/* [0, n) */
/* Standard normal (Box-Muller on the next two draws). */
float rng_next_normal(struct rng *r);
/* Standard normal for (seed, stream, counter), using counters 2k and 2k+1. */
float rng_normal(uint64_t seed, uint64_t stream, uint64_t counter);

#endif
