/* rng: splitmix64, a tiny PRNG for sampling (random entries, eviction
 * candidates). Any state value, including 0, is a fine seed. Header-only,
 * the state belongs to the caller's thread. */
#ifndef SHALE_RNG_H
#define SHALE_RNG_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, bound) without modulo bias worth noting (Lemire's method). */
static inline size_t rng_below(uint64_t *state, size_t bound)
{
    return (size_t)(((unsigned __int128)rng_next(state) * bound) >> 64);
}

#endif
