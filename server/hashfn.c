/* hashfn: seeded 64-bit hash (see hashfn.h). Pure code; any thread.
 *
 * Shape: wyhash's. Input is consumed 16 bytes at a time by a "folded
 * multiply" (the 128-bit product of two 64-bit words, high half XOR low half),
 * which mixes as well as several rounds of shifts and adds for the price of
 * one multiply. Keys of up to 16 bytes take two reads and two multiplies.
 *
 * One deliberate difference from wyhash: there, one operand of each multiply
 * is input XOR a public constant, so an attacker who writes that constant
 * into the key makes the operand zero, the product zero, and wipes out the
 * seed -- collisions that hold for every seed. Here every multiply has a
 * seed-derived secret on both sides, and the three lanes of the long-input
 * loop use independent secrets so they cannot be made to cancel each other.
 *
 * Words are read in host byte order: hashes are only ever compared within
 * one process, never stored. */
#include "hashfn.h"

#include <string.h>

/* Odd 64-bit constants with balanced bits (wyhash's published primes). */
#define HASHFN_K0 0xa0761d6478bd642fULL
#define HASHFN_K1 0xe7037ed1a0b428dbULL
#define HASHFN_K2 0x8ebc6af09c88c6e3ULL
#define HASHFN_K3 0x589965cc75374cc3ULL

static inline void mul128(uint64_t *lo, uint64_t *hi)
{
    unsigned __int128 r = (unsigned __int128)*lo * *hi;
    *lo = (uint64_t)r;
    *hi = (uint64_t)(r >> 64);
}

static inline uint64_t fold(uint64_t a, uint64_t b)
{
    mul128(&a, &b);
    return a ^ b;
}

static inline uint64_t read8(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t read4(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* 1..3 bytes: first, middle and last byte cover every length exactly. */
static inline uint64_t read_small(const uint8_t *p, size_t len)
{
    return ((uint64_t)p[0] << 16) | ((uint64_t)p[len >> 1] << 8) | p[len - 1];
}

uint64_t shale_hashfn_bytes(const void *ptr, size_t len, uint64_t seed)
{
    const uint8_t *p = ptr;
    uint64_t secret = seed ^ fold(seed ^ HASHFN_K0, HASHFN_K1);
    uint64_t key_a = secret ^ HASHFN_K1;
    uint64_t state = secret;
    uint64_t a, b;

    if (len <= 16) {
        if (len >= 4) {
            /* Two overlapping 4-byte reads from each end: for len 4..16 this
             * covers every byte without branching on the length. */
            size_t mid = (len >> 3) << 2;
            a = (read4(p) << 32) | read4(p + mid);
            b = (read4(p + len - 4) << 32) | read4(p + len - 4 - mid);
        } else if (len > 0) {
            a = read_small(p, len);
            b = 0;
        } else {
            a = b = 0;
        }
    } else {
        size_t left = len;
        if (left > 48) {
            /* Three independent lanes keep three multipliers busy. */
            uint64_t key_b = fold(secret ^ HASHFN_K2, HASHFN_K3);
            uint64_t key_c = fold(secret ^ HASHFN_K3, HASHFN_K2);
            uint64_t lane_b = state, lane_c = state;
            do {
                state = fold(read8(p) ^ key_a, read8(p + 8) ^ state);
                lane_b = fold(read8(p + 16) ^ key_b, read8(p + 24) ^ lane_b);
                lane_c = fold(read8(p + 32) ^ key_c, read8(p + 40) ^ lane_c);
                p += 48;
                left -= 48;
            } while (left > 48);
            state ^= lane_b ^ lane_c;
        }
        while (left > 16) {
            state = fold(read8(p) ^ key_a, read8(p + 8) ^ state);
            p += 16;
            left -= 16;
        }
        /* The last 16 bytes of the input (overlapping what was consumed). */
        a = read8(p + left - 16);
        b = read8(p + left - 8);
    }
    a ^= key_a;
    b ^= state;
    mul128(&a, &b);
    return fold(a ^ HASHFN_K0 ^ len, b ^ HASHFN_K1);
}
