/* shard: a thread that owns a disjoint slice of the keyspace (the slots
 * that map to it) and executes every command on those keys.
 *
 * Requests arrive on one ring per I/O thread and go back on one ring per
 * I/O thread, in arrival order. A shard never blocks on I/O or on another
 * thread's lock; when its rings are empty it spins for `spin-us`, then sleeps
 * in its own event loop (where its timers also run). */
#ifndef SHALE_SHARD_H
#define SHALE_SHARD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

struct ring;
struct waker;
struct config;
struct defrag_timer_shared;

/* Counters the shard publishes for INFO (written by the shard thread with
 * relaxed stores, read by any thread). */
struct shard_public_stats {
    _Atomic uint64_t commands;
    _Atomic uint64_t keyspace_hits;
    _Atomic uint64_t keyspace_misses;
    _Atomic uint64_t expired_keys;
    _Atomic uint64_t expire_time_cap_reached;
    _Atomic uint64_t expire_cpu_us;
    _Atomic uint64_t expire_stale_perc_x10000; /* expired_stale_perc x 100 */
    _Atomic uint64_t *keys;                    /* [databases] */
    _Atomic uint64_t *expires;                 /* [databases] */
    _Atomic uint64_t *avg_ttl;                 /* [databases] ms, see shale_expire_avg_ttl */
    /* The shard's jemalloc arena, published by the main thread's cron
     * (shale_shard_publish_memory) after one stats refresh; 0 under libc.
     * Free cells are space held but unused, as free regions of a jemalloc
     * slab are: active, not allocated, so they count as fragmentation. */
    _Atomic uint64_t mem_allocated; /* small + large allocated, less free cells */
    _Atomic uint64_t mem_active;    /* pactive x page */
    _Atomic uint64_t mem_resident;
    /* Monotonic µs of the shard's last cron (every 100 ms): /healthz. */
    _Atomic int64_t heartbeat_us;
    /* Shard thread, every batch: bytes its keyspace holds, counted at the
     * allocation sites (shale_mem_counted_bytes), and keys evicted. */
    _Atomic uint64_t mem_keyspace;
    _Atomic uint64_t evicted_keys;
    /* Shard thread, every batch: bytes of free cells in its cell pages
     * (shards/cells.h), which mem_allocated leaves out. */
    _Atomic uint64_t mem_cells_free;
};

struct shard;

/* slot_to_shard: the server's slot map (16384 entries, read-only after start). */
struct shard *shale_shard_create(int index, const struct config *cfg, int io_threads,
                                 int64_t spin_us, const uint16_t *slot_to_shard);
void shale_shard_destroy(struct shard *s);
/* Starts the thread; io_wakers[i] wakes I/O thread i. */
void shale_shard_start(struct shard *s, struct waker **io_wakers);
/* Asks the thread to exit and joins it. */
void shale_shard_stop(struct shard *s);

/* Ring an I/O thread pushes requests into (producer: I/O thread io). */
struct ring *shale_shard_inbound(struct shard *s, int io);
/* Ring the shard pushes finished requests into (consumer: I/O thread io). */
struct ring *shale_shard_outbound(struct shard *s, int io);
struct waker *shale_shard_waker(struct shard *s);
const struct shard_public_stats *shale_shard_stats(const struct shard *s);

/* The shard's per-command counters (server/cmdstats.h), for INFO. */
struct cmdstat;
const struct cmdstat *shale_shard_cmdstats(const struct shard *s);
/* The shard's thread (for its CPU clock: busy time in /metrics). */
pthread_t shale_shard_thread(const struct shard *s);

/* The jemalloc arena the shard thread is bound to (0 under libc). */
unsigned shale_shard_arena(const struct shard *s);
/* Main thread, after shale_mem_stats_refresh: reads the shard's arena stats
 * and publishes them in its public stats; also measures what the arena holds
 * beyond the counted keyspace, which eviction adds to its exact count. */
void shale_shard_publish_memory(struct shard *s);
/* Bytes the shard uses as the maxmemory budget sees them, as of the last
 * refresh: its arena's allocated bytes, free cells included (jemalloc), else
 * its keyspace count. */
uint64_t shale_shard_memory_in_use(const struct shard *s);
/* The shard's share of maxmemory (EVICT_NO_LIMIT: none). Set by
 * server/maxmemory.c from the main thread or CONFIG SET; the shard reads it
 * before its next batch. */
void shale_shard_set_memory_limit(struct shard *s, uint64_t limit);
uint64_t shale_shard_memory_limit(const struct shard *s);
/* What the defrag governor and this shard's defrag timer share
 * (shards/defrag_timer.h). */
struct defrag_timer_shared *shale_shard_defrag(struct shard *s);

#endif
