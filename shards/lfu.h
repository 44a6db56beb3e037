/* lfu: Redis's LFU access counter in the 24 bits of a key object's header
 * (shards/object.h), bit for bit as Redis 7.0 keeps it in robj.lru:
 *
 *   bits 8-23  the time of the last decrement, in minutes (unix time / 60,
 *              16 bits, wrapping every ~45 days)
 *   bits 0-7   a logarithmic counter: an access increments it with
 *              probability 1 / ((counter - 5) * lfu-log-factor + 1), so with
 *              the default factor 10 it reaches 255 after about a million
 *              accesses; it loses one per lfu-decay-time minutes idle.
 *
 * New keys start at 5 (LFU_INIT_VAL) so they are not evicted before they
 * had a chance to be used. Pure functions; any thread. */
#ifndef SHALE_LFU_H
#define SHALE_LFU_H

#include <stdint.h>

#define LFU_INIT_VAL 5

/* The header bits of a key created at now_ms. */
uint32_t shale_lfu_init(int64_t now_ms);
/* The counter after decay (Redis's LFUDecrAndReturn); does not store it. */
unsigned shale_lfu_decayed(uint32_t bits, int64_t now_ms, long long decay_time);
/* The header bits after one access (Redis's updateLFU): decay, then a
 * logarithmic increment drawn from *rng, stamped with the current minute. */
uint32_t shale_lfu_touch(uint32_t bits, int64_t now_ms, long long log_factor, long long decay_time,
                         uint64_t *rng);

#endif
