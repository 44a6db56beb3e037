/* info: the INFO command's text, section by section, with Redis's field
 * names so redis_exporter and dashboards read it unchanged. Built on the
 * calling I/O thread from counters other threads publish (relaxed atomics). */
#ifndef SHALE_INFO_H
#define SHALE_INFO_H

#include "net/resp_write.h"
#include "server/slice.h"

#include <stdatomic.h>
#include <stdint.h>

struct server;

/* instantaneous_ops_per_sec as Redis computes it: the mean of the last 16
 * samples taken every 100 ms. Sampled by the main thread's cron. */
#define INFO_RATE_SAMPLES 16

struct info_rates {
    int64_t last_us;                     /* main thread */
    uint64_t last_commands;              /* main thread */
    uint64_t samples[INFO_RATE_SAMPLES]; /* main thread */
    int next;                            /* main thread */
    _Atomic uint64_t ops_per_sec;        /* read by INFO on any thread */
    /* The allocator's process-wide figures as of the last stats refresh,
     * taken in the same refresh as the per-shard ones so they add up.
     * Written by the main thread, read by INFO on any thread. */
    _Atomic uint64_t mem_allocated;
    _Atomic uint64_t mem_active;
    _Atomic uint64_t mem_resident;
};

/* Main thread, every 100 ms. */
void shale_info_sample(struct server *srv, struct info_rates *rates);

/* Main thread, every 100 ms (and once before serving): refreshes the
 * allocator's stats once (jemalloc `epoch`, a global lock: never from more
 * than this one thread), then publishes the totals and every shard's arena
 * figures. */
void shale_info_sample_memory(struct server *srv, struct info_rates *rates);

/* Appends the sections named in args (none: the default set; "all",
 * "everything", "default" as in Redis) to out. */
void shale_info_build(struct server *srv, struct resp_buf *out, int nargs,
                      const struct slice *args);

/* The figures INFO reports, for other readers (the admin endpoint's
 * /metrics), so both show the same numbers. Any thread. */
struct info_memory {
    uint64_t used;     /* used_memory = allocator_allocated */
    uint64_t active;   /* allocator_active */
    uint64_t resident; /* allocator_resident */
    uint64_t rss;      /* used_memory_rss */
    uint64_t static_bytes;
    uint64_t data_budget;
    uint64_t maxmemory;      /* maxmemory, 0: no limit */
    const char *policy_name; /* maxmemory_policy */
};

/* Sum over I/O threads of the _Atomic uint64_t at offset in struct io_stats. */
uint64_t shale_info_io_sum(const struct server *srv, size_t offset);
/* Sum over shards of the _Atomic uint64_t at offset in struct shard_public_stats. */
uint64_t shale_info_shard_sum(const struct server *srv, size_t offset);
/* dbN:keys=,expires= summed over shards. */
void shale_info_db_keys(const struct server *srv, int db, uint64_t *keys, uint64_t *expires);
void shale_info_memory(struct server *srv, struct info_memory *out);
/* A shard's share of maxmemory as INFO shale shows it (maxmemory=, 0: none). */
uint64_t shale_info_shard_maxmemory(const struct server *srv, int shard);

#endif
