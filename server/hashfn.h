/* hashfn: the seeded 64-bit hash behind every hash table in shale.
 *
 * Pure functions, no state: any thread may call them. Tables pass a random
 * per-process (or per-table) seed so that a client cannot precompute keys that
 * collide, which would turn O(1) lookups into long probe walks (hash flooding).
 * Not a cryptographic MAC: it is built to be fast on 5-64 byte keys and to
 * leave no seed-independent collisions for an attacker to find. */
#ifndef SHALE_HASHFN_H
#define SHALE_HASHFN_H

#include <stddef.h>
#include <stdint.h>

/* 64-bit hash of len bytes at p (binary safe; len may be 0). Every output bit
 * depends on every input bit and on the seed. */
uint64_t shale_hashfn_bytes(const void *p, size_t len, uint64_t seed);

#endif
