/* defrag_governor: the control half of active defragmentation (DESIGN §6),
 * on the main thread, from its 100 ms cron right after the allocator's
 * stats refresh. It decides whether to defrag and how hard; the shards'
 * timers and walks (shards/defrag_timer.h, shards/defrag.h) do the work.
 *
 * Each tick:
 *  - turns the server-wide fragmentation into a CPU target exactly as Redis
 *    does (activedefrag, active-defrag-ignore-bytes, -threshold-lower/upper,
 *    -cycle-min/max; the target never drops while a cycle runs);
 *  - splits it among the shards by where the fragmentation is: the target
 *    is a share of all shard time (T% of N shards = N*T shard-%), given to
 *    the shards whose own arena is fragmented (own frag% >= threshold-lower
 *    and own frag bytes >= ignore-bytes / N) in proportion to their
 *    fragmented bytes, each capped at active-defrag-cycle-max of its own
 *    time, what a cap cuts going to the others;
 *  - publishes each share, and each participating arena's per-bin figures
 *    for the hint, through atomics the shard reads;
 *  - notices cycles that started or ended: logs them with the frag before
 *    and after, and purges a finished shard's arena so RSS drops;
 *  - measures the defrag CPU of each shard over the last second.
 * In a DEFRAG=force build the fragmentation is simulated (threshold-upper,
 * weighted by key counts) so cycles run whenever a shard holds keys.
 *
 * Never touches a keyspace; never runs on a shard. */
#ifndef SHALE_DEFRAG_GOVERNOR_H
#define SHALE_DEFRAG_GOVERNOR_H

#include <stdint.h>

struct server;
struct resp_buf;

/* The options the CPU target depends on. */
struct defrag_params {
    int enabled;
    long long threshold_lower, threshold_upper; /* fragmentation % */
    long long cycle_min, cycle_max;             /* CPU % */
    uint64_t ignore_bytes;
};

/* Redis's computeDefragCycles: the CPU % for this fragmentation (active /
 * allocated - 1, in %), given the % already granted to cycles in progress
 * (0: none). 0 means do not start. Pure. */
int shale_defrag_governor_cpu_pct(const struct defrag_params *p, double frag_pct,
                                  uint64_t frag_bytes, int running_pct);

/* Splits pool among n shards in proportion to weights, none above cap;
 * what a cap cuts goes to the uncapped shards with weight. out[i] in the
 * pool's units. Pure. */
void shale_defrag_governor_split(uint64_t pool, const uint64_t *weights, int n, uint32_t cap,
                                 uint32_t *out);

struct defrag_governor;

struct defrag_governor *shale_defrag_governor_create(struct server *srv);
void shale_defrag_governor_destroy(struct defrag_governor *g);
/* Main thread, every 100 ms, after shale_info_sample_memory. */
void shale_defrag_governor_tick(struct defrag_governor *g);

/* What INFO and /metrics report, read in one place so they agree. Any
 * thread (relaxed loads of the atomics the governor and the shards
 * publish). Counters are since start: CONFIG RESETSTAT leaves them. */
struct defrag_figures {
    uint64_t running_pct;     /* active_defrag_running: CPU % granted, 0: idle */
    uint64_t hits, misses;    /* active_defrag_hits, _misses (allocations) */
    uint64_t key_hits;        /* active_defrag_key_hits */
    uint64_t key_misses;      /* active_defrag_key_misses */
    uint64_t total_time_us;   /* total_active_defrag_time, the current period included */
    uint64_t current_time_us; /* current_active_defrag_time */
    uint64_t cycles, scanned; /* cycles completed, entries walked */
    uint64_t cpu_us, run_us;  /* thread CPU and wall time spent in runs */
    uint64_t cpu_pct_x100;    /* measured CPU, % of one CPU x 100, summed over shards */
    uint64_t target_pct_x100; /* granted shares, same units */
};

/* One shard's line of INFO shale (shardN_defrag). */
struct defrag_shard_figures {
    uint64_t running;        /* 1 while a cycle is in progress */
    uint64_t share_pct_x100; /* granted share of the shard's time, % x 100 */
    uint64_t cpu_pct_x100;   /* measured, % of one CPU x 100 */
    uint64_t cpu_us, run_us, runs, cycles;
    uint64_t hits, misses, key_hits, key_misses;
};

void shale_defrag_governor_figures(struct defrag_governor *g, struct defrag_figures *out);
void shale_defrag_governor_shard_figures(struct defrag_governor *g, int shard,
                                         struct defrag_shard_figures *out);

/* INFO lines (any thread), from the figures above: memory
 * (active_defrag_running), stats (Redis's active_defrag_* and the measured
 * CPU), shale (one line per shard). */
void shale_defrag_governor_info_memory(struct defrag_governor *g, struct resp_buf *out);
void shale_defrag_governor_info_stats(struct defrag_governor *g, struct resp_buf *out);
void shale_defrag_governor_info_shards(struct defrag_governor *g, struct resp_buf *out);

#endif
