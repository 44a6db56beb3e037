/* lfu: see lfu.h. The arithmetic follows Redis 7.0 evict.c
 * (LFUGetTimeInMinutes, LFUTimeElapsed, LFULogIncr, LFUDecrAndReturn) so
 * OBJECT FREQ answers the same numbers for the same access pattern. */
#include "shards/lfu.h"

#include "server/rng.h"

#define LFU_MINUTES_MASK 65535u
#define LFU_COUNTER_MAX  255u

static unsigned minutes_now(int64_t now_ms)
{
    return (unsigned)((now_ms / 1000 / 60) & LFU_MINUTES_MASK);
}

/* Minutes since ldt, assuming at most one wrap of the 16-bit clock. */
static unsigned minutes_since(unsigned ldt, int64_t now_ms)
{
    unsigned now = minutes_now(now_ms);
    return now >= ldt ? now - ldt : LFU_MINUTES_MASK - ldt + now;
}

uint32_t shale_lfu_init(int64_t now_ms)
{
    return (uint32_t)minutes_now(now_ms) << 8 | LFU_INIT_VAL;
}

unsigned shale_lfu_decayed(uint32_t bits, int64_t now_ms, long long decay_time)
{
    unsigned ldt = bits >> 8 & LFU_MINUTES_MASK;
    unsigned counter = bits & LFU_COUNTER_MAX;
    unsigned long long periods =
        decay_time > 0 ? minutes_since(ldt, now_ms) / (unsigned long long)decay_time : 0;
    if (periods)
        counter = periods > counter ? 0 : counter - (unsigned)periods;
    return counter;
}

uint32_t shale_lfu_touch(uint32_t bits, int64_t now_ms, long long log_factor, long long decay_time,
                         uint64_t *rng)
{
    unsigned counter = shale_lfu_decayed(bits, now_ms, decay_time);
    if (counter < LFU_COUNTER_MAX) {
        /* r in [0, 1) against p = 1 / (baseval * factor + 1). */
        double r = (double)(rng_next(rng) >> 11) * (1.0 / 9007199254740992.0);
        double base = counter > LFU_INIT_VAL ? (double)(counter - LFU_INIT_VAL) : 0.0;
        double p = 1.0 / (base * (double)log_factor + 1.0);
        if (r < p)
            counter++;
    }
    return (uint32_t)minutes_now(now_ms) << 8 | counter;
}
