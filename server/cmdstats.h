/* cmdstats: the counters behind INFO commandstats, errorstats and stats,
 * and CONFIG RESETSTAT.
 *
 * Every counter has exactly one writer, the thread that owns it: a shard
 * counts the commands it runs (calls, time, failures) in its own table, an
 * I/O thread counts what it runs itself (keyless commands, rejections, the
 * call of a command split across shards) and the error replies it sends.
 * A writer bumps with a relaxed load + store (no locked instruction); INFO
 * reads every thread's counters with relaxed loads and adds them up.
 *
 * Reset never writes a counter (that would make two writers). CONFIG
 * RESETSTAT stores a baseline, the current sums, with release stores; INFO
 * loads the baseline with acquire and reports counter - baseline. Because
 * the baseline was read from the counters before it was published, a later
 * read of a counter is never below it: the difference cannot go negative.
 *
 * Error prefixes ("ERR", "WRONGTYPE" ...) get a small index in one registry
 * shared by all I/O threads; a new prefix is added under the registry's
 * lock, which is taken only the first time the process sees that prefix. */
#ifndef SHALE_CMDSTATS_H
#define SHALE_CMDSTATS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct resp_buf;
struct server;

/* Latency histogram (INFO latencystats): log-linear buckets of ns, 8 per
 * power of two (12.5% wide), exact below 8 ns, everything from 2^37 ns (137
 * s) up in the last. Redis's HdrHistogram keeps 2 significant digits; this
 * keeps one in eight, at 2.2 KB per command per thread, allocated the first
 * time that thread runs the command. */
#define CMDSTATS_HIST_EXP     36
#define CMDSTATS_HIST_BUCKETS ((CMDSTATS_HIST_EXP - 1) * 8)

/* One command's counters in one thread's table. */
struct cmdstat {
    _Atomic uint64_t calls;    /* ran to the end */
    _Atomic uint64_t ns;       /* time spent in the command's handler */
    _Atomic uint64_t rejected; /* refused before running (arity, NOAUTH) */
    _Atomic uint64_t failed;   /* ran and replied an error */
    /* [CMDSTATS_HIST_BUCKETS] or NULL; published with release. */
    _Atomic uint64_t *_Atomic hist;
};

/* Adds to a counter that only the calling thread writes. */
static inline void cmdstats_bump(_Atomic uint64_t *c, uint64_t by)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + by,
                          memory_order_relaxed);
}

static inline int cmdstats_hist_bucket(uint64_t ns)
{
    if (ns < 8)
        return (int)ns;
    int e = 63 - __builtin_clzll(ns);
    if (e > CMDSTATS_HIST_EXP)
        return CMDSTATS_HIST_BUCKETS - 1;
    return (e - 2) * 8 + (int)((ns >> (e - 3)) & 7);
}

/* Owner thread: the histogram of row, allocated on first use. */
_Atomic uint64_t *shale_cmdstats_hist_create(struct cmdstat *row);

/* Owner thread: one more call of ns in row's histogram. */
static inline void cmdstats_hist_add(struct cmdstat *row, uint64_t ns)
{
    _Atomic uint64_t *h = atomic_load_explicit(&row->hist, memory_order_relaxed);
    if (__builtin_expect(!h, 0))
        h = shale_cmdstats_hist_create(row);
    cmdstats_bump(&h[cmdstats_hist_bucket(ns)], 1);
}

/* Distinct error prefixes tracked (Redis tracks 128 too); a reply with a
 * new prefix beyond that still counts in total_error_replies. */
#define CMDSTATS_ERRORS    128
#define CMDSTATS_ERROR_LEN 32 /* Redis looks for the prefix's end in 32 bytes */

/* One I/O thread's error replies (written by that thread only). */
struct errorstats {
    _Atomic uint64_t total; /* total_error_replies */
    _Atomic uint64_t count[CMDSTATS_ERRORS];
};

/* INFO stats fields that CONFIG RESETSTAT sets back to zero. */
enum stat_counter {
    STAT_CONNECTIONS_RECEIVED,
    STAT_COMMANDS_PROCESSED,
    STAT_NET_INPUT_BYTES,
    STAT_NET_OUTPUT_BYTES,
    STAT_REJECTED_CONNECTIONS,
    STAT_QBUF_LIMIT_DISCONNECTIONS,
    STAT_OBUF_LIMIT_DISCONNECTIONS,
    STAT_EXPIRED_KEYS,
    STAT_EXPIRED_TIME_CAP_REACHED,
    STAT_EXPIRE_CYCLE_CPU_US,
    STAT_EVICTED_KEYS,
    STAT_KEYSPACE_HITS,
    STAT_KEYSPACE_MISSES,
    STAT_ERROR_REPLIES,
    STAT_COUNTERS
};

/* The server-wide part: error prefix registry and reset baselines. */
struct cmdstats {
    pthread_mutex_t names_lock; /* serialises adding a prefix */
    char names[CMDSTATS_ERRORS][CMDSTATS_ERROR_LEN];
    _Atomic int nnames; /* names below this are immutable (release/acquire) */
    _Atomic uint64_t base[STAT_COUNTERS];
    struct cmdstat *cmd_base; /* [command count] */
    _Atomic uint64_t err_base[CMDSTATS_ERRORS];
};

struct cmdstats *shale_cmdstats_create(void);
void shale_cmdstats_destroy(struct cmdstats *st);

/* A table of per-command counters for one thread, zeroed. */
struct cmdstat *shale_cmdstats_table_create(void);
void shale_cmdstats_table_destroy(struct cmdstat *table);

/* Shard thread, after running a command's handler for ns nanoseconds. A
 * part of a split command adds only its time: the I/O thread counts the
 * call (and its latency) once, when the parts are merged. */
static inline void cmdstats_shard_ran(struct cmdstat *row, int is_part, int failed, int64_t ns,
                                      int latency_tracking)
{
    cmdstats_bump(&row->ns, (uint64_t)ns);
    if (!is_part) {
        cmdstats_bump(&row->calls, 1);
        if (failed)
            cmdstats_bump(&row->failed, 1);
        if (latency_tracking)
            cmdstats_hist_add(row, (uint64_t)ns);
    }
}

/* I/O thread: counts an error reply about to be sent (data starts with '-'). */
void shale_cmdstats_error_reply(struct cmdstats *st, struct errorstats *es, const char *data,
                                size_t len);

/* The value of an INFO stats counter since the last reset. */
uint64_t shale_cmdstats_counter(struct server *srv, enum stat_counter which);

/* CONFIG RESETSTAT. Any I/O thread. */
void shale_cmdstats_reset(struct server *srv);
/* Calls of command `index` since start (CONFIG RESETSTAT does not reset it:
 * a Prometheus counter). */
uint64_t shale_cmdstats_calls(struct server *srv, int index);

/* INFO sections "commandstats", "errorstats" and "latencystats" (lines only). */
void shale_cmdstats_info_commands(struct server *srv, struct resp_buf *out);
void shale_cmdstats_info_errors(struct server *srv, struct resp_buf *out);
void shale_cmdstats_info_latency(struct server *srv, struct resp_buf *out);

#endif
