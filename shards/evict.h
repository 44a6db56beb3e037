/* evict: one shard's side of maxmemory. Applies Redis 7.0's eviction
 * policies to the shard's own keyspace until the shard's used bytes are
 * back under its share of maxmemory.
 *
 * Who calls it: the shard, before running a command that may grow memory
 * (CMD_DENYOOM in the command table), from its 100 ms cron, and from a
 * one-shot timer while a time-bounded run left work to do. The used figure
 * is exact and current: the keyspace's counted bytes on this thread
 * (shale_mem_counted_bytes, server/mem.h) plus the shard's non-keyspace
 * bytes as the main thread last measured them (`overhead`; see
 * docs/architecture.md, "Eviction and accounting").
 *
 * Shard thread only; owns the eviction pool and the evicted-keys count.
 * Never blocks; a run is bounded by maxmemory-eviction-tenacity. */
#ifndef SHALE_EVICT_H
#define SHALE_EVICT_H

#include <stdint.h>

struct keyspace;

/* In the order of MAXMEMORY_POLICY_CHOICES (server/config.h): the option's
 * value is this enum. */
enum evict_policy {
    EVICT_VOLATILE_LRU = 0,
    EVICT_VOLATILE_LFU,
    EVICT_VOLATILE_RANDOM,
    EVICT_VOLATILE_TTL,
    EVICT_ALLKEYS_LRU,
    EVICT_ALLKEYS_LFU,
    EVICT_ALLKEYS_RANDOM,
    EVICT_NOEVICTION,
    EVICT_POLICIES
};

/* The shard's copy of the live options (re-read once per batch). */
struct evict_config {
    int policy;               /* maxmemory-policy */
    int samples;              /* maxmemory-samples (above EVICT_SAMPLES_MAX: as it) */
    int tenacity;             /* maxmemory-eviction-tenacity, 0..100 */
    long long lfu_log_factor; /* lfu-log-factor */
    long long lfu_decay_time; /* lfu-decay-time, minutes */
};

#define EVICT_NO_LIMIT    UINT64_MAX
#define EVICT_SAMPLES_MAX 64

/* Redis's EVICT_OK / EVICT_RUNNING / EVICT_FAIL. A write is refused with
 * -OOM only on EVICT_FAIL: over the limit and nothing left to evict (or
 * noeviction). EVICT_RUNNING: the time budget ran out first; the caller
 * keeps evicting from a timer and lets the write through, as Redis does. */
enum evict_result {
    EVICT_OK = 0,
    EVICT_RUNNING,
    EVICT_FAIL,
};

struct evict_state; /* opaque */

struct evict_state *shale_evict_create(uint64_t seed);
void shale_evict_destroy(struct evict_state *ev);

/* The policy's name as maxmemory-policy spells it. */
const char *shale_evict_policy_name(int policy);
/* True for allkeys-lfu and volatile-lfu: the keyspace keeps LFU counters. */
int shale_evict_policy_is_lfu(int policy);

/* The shard's used bytes as enforcement sees them: this thread's counted
 * keyspace bytes plus overhead (negative overhead counts as 0). */
int64_t shale_evict_used(int64_t overhead);

/* Evicts keys while the used bytes exceed limit (EVICT_NO_LIMIT: never),
 * for at most the tenacity's time budget. */
enum evict_result shale_evict_perform(struct evict_state *ev, struct keyspace *ks,
                                      const struct evict_config *cfg, uint64_t limit,
                                      int64_t overhead, int64_t now_ms);

/* Keys evicted since start (INFO evicted_keys). */
uint64_t shale_evict_evicted(const struct evict_state *ev);

/* Redis's evictionTimeLimitUs: 50 us per step up to tenacity 10 (500 us),
 * then +15% per step, unlimited at 100 (INT64_MAX). */
int64_t shale_evict_time_limit_us(int tenacity);

#endif
