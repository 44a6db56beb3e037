/* latency: per-command reply-latency histograms of one I/O thread.
 *
 * The owning I/O thread is the only writer (relaxed load + store, no atomic
 * read-modify-write on the request path); the main thread sums every
 * thread's histograms when /metrics is scraped. Buckets are log2-spaced in
 * microseconds: bucket b counts latencies <= 2^b µs (1 µs .. ~4.2 s), the
 * last one everything slower (+Inf). */
#ifndef SHALE_LATENCY_H
#define SHALE_LATENCY_H

#include <stdatomic.h>
#include <stdint.h>

#define LATENCY_FINITE_BUCKETS 23 /* le 2^0 .. 2^22 µs */
#define LATENCY_BUCKETS        (LATENCY_FINITE_BUCKETS + 1)

struct latency_cell {
    _Atomic uint64_t count[LATENCY_BUCKETS]; /* not cumulative */
    _Atomic uint64_t sum_us;
};

struct latency {
    int ncmd;
    struct latency_cell *cells; /* [command index] */
};

struct latency *shale_latency_create(int ncmd);
void shale_latency_destroy(struct latency *l);

/* Smallest b with us <= 2^b, or the +Inf bucket. */
static inline int latency_bucket(uint64_t us)
{
    if (us <= 1)
        return 0;
    int b = 64 - __builtin_clzll(us - 1);
    return b < LATENCY_FINITE_BUCKETS ? b : LATENCY_FINITE_BUCKETS;
}

/* Owner thread only. */
static inline void latency_record(struct latency *l, int cmd, uint64_t us)
{
    struct latency_cell *c = &l->cells[cmd];
    _Atomic uint64_t *slot = &c->count[latency_bucket(us)];
    atomic_store_explicit(slot, atomic_load_explicit(slot, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    atomic_store_explicit(&c->sum_us, atomic_load_explicit(&c->sum_us, memory_order_relaxed) + us,
                          memory_order_relaxed);
}

/* Any thread: adds l's figures for cmd into counts[] (per bucket, not
 * cumulative) and *sum_us. */
void shale_latency_add_to(const struct latency *l, int cmd, uint64_t counts[LATENCY_BUCKETS],
                          uint64_t *sum_us);

/* Upper bound of bucket b in seconds (b < LATENCY_FINITE_BUCKETS). */
double shale_latency_bucket_seconds(int b);

#endif
