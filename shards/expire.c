/* expire: the active expiry cycle (API in expire.h). Shard thread only; it
 * runs from the shard's timer between batches of client requests, so a call
 * keeps to its budget: it never allocates, never blocks, and reads the clock
 * after every batch of at most ~64 keys (a few to ~25 us of work).
 *
 * No expires index. Redis keeps a second dict of the keys that have a TTL
 * and samples it; shale walks the main table with its resumable scan cursor
 * instead. Per-key memory is a headline number: a second index would cost
 * what the table costs per entry, 12.6 bytes per key with a TTL (measured at
 * 1M keys) -- +21% on a key with a TTL and a 16-byte value, which takes 60.6
 * bytes today -- plus a second insert or remove on every SET EX, EXPIRE,
 * PERSIST, DEL and overwrite. The price: the cycle also visits keys without
 * a TTL. Measured (2-core Debian 12 VM, jemalloc, keys "key:N" with 16-byte
 * values, no resize pending, best of 7; medians run up to 40% higher on the
 * shared machine): 12 ns per visited key at 100k keys, 25 ns at 1M, 29 ns at
 * 4M. The objects are random memory accesses, so a batch prefetches all of
 * them before reading any expire field; without that, 35-50 ns at 1M.
 * Deleting an expired key, its share of the scan included, costs 170-320 ns
 * at 1M keys: expiring a bulk load of 1M keys is ~0.3 s of shard CPU.
 *
 * How much to do. Like Redis's slow cycle: per database, rounds of 20 keys
 * with a TTL (or 1024 keys of any kind, when few have one); another round
 * follows while more than 10% of the keys with a TTL in a round had expired,
 * so expired keys stay below ~10% of the keys with a TTL while the budget
 * allows, and a clean database costs one round per call. On top of that the
 * walk is paced: every key of a database with TTLs is looked at at least once
 * a minute (1M keys: ~0.5 ms of CPU per second), a bound Redis's random
 * sampling does not give. A call that runs out of budget returns 1 so the
 * caller comes back soon instead of at the next regular tick.
 *
 * Visiting order. A pass splits hash space into 2^k slices of 64-128 keys and
 * visits them in bit-reversed order (0, 1/2, 1/4, 3/4, ...), not in rising
 * hash order. Deleting in hash order leaves the surviving keys bunched in the
 * top of hash space; a shrink sizes the new array by count, so they overflow
 * their buckets into long linear-probe clusters that every later remove
 * walks: a hash-order sweep deleting 200k expired keys took 4.8 s (24 us per
 * key; 75 us per key at 1M), the bit-reversed one 34 ms. (A client's SCAN +
 * DEL is also a hash-order delete: table.c's problem, reported.) The jump
 * per slice costs at most ~10% per visited key. A key's slice may share a
 * bucket with the next slice, so a few live keys are looked at twice per
 * pass; a batch never crosses a slice, so it never holds a key twice. */
#include "shards/expire.h"

#include "server/clock.h"
#include "server/mem.h"
#include "shards/keyspace.h"
#include "shards/object.h"
#include "shards/table.h"

/* A round samples this many keys with a TTL (Redis's
 * ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP) ... */
#define EXPIRE_ROUND_TTL_KEYS 20
/* ... or stops after visiting this many keys, whatever their TTL, so a table
 * where few keys have a TTL costs little per call. */
#define EXPIRE_ROUND_MAX_SCAN 1024
/* Another round follows while more than this percentage of the keys with a
 * TTL sampled in a round were expired (Redis's
 * ACTIVE_EXPIRE_CYCLE_ACCEPTABLE_STALE at the default effort). */
#define EXPIRE_ACCEPTABLE_STALE 10
/* Pace floor: a database with keys with a TTL is walked completely at least
 * once per this many ms, stale or not (budget permitting). */
#define EXPIRE_PASS_MS 60000
/* Keys collected (and prefetched) before they are examined ... */
#define EXPIRE_BATCH 64
/* ... in a buffer with room for the scan step that crosses EXPIRE_BATCH. */
#define EXPIRE_BATCH_CAP 256
/* A pass visits hash space in 2^k slices of 64 to 128 keys (at its start), in
 * bit-reversed order (see the top of the file), k <= EXPIRE_SLICE_BITS_MAX. */
#define EXPIRE_SLICE_KEYS     64
#define EXPIRE_SLICE_BITS_MAX 24
#define EXPIRE_POS_BITS       SHALE_TABLE_CURSOR_BITS
#define EXPIRE_POS_END        ((uint64_t)1 << EXPIRE_POS_BITS)

struct expire_db {
    uint64_t cursor;       /* table position inside the current slice */
    uint32_t slice;        /* slices finished in this pass */
    uint8_t slice_bits;    /* this pass has 2^slice_bits slices */
    uint8_t in_pass;       /* 0: the next visit starts a pass */
    int64_t pass_start_ms; /* now_ms when the pass started */
    int64_t avg_ttl_ms;    /* INFO keyspace avg_ttl: running average of sampled TTLs */
};

struct expire_state {
    int ndb;
    int next_db; /* where the next call starts */
    struct expire_stats stats;
    struct expire_db *dbs; /* [ndb] */
};

/* Key objects of a few scan steps. The scan callback must not delete, so
 * deleting waits until the batch is examined. */
struct expire_batch {
    size_t n;
    int overflow; /* a step had more entries than the room left */
    struct kobj *objs[EXPIRE_BATCH_CAP];
};

/* What a round found. */
struct expire_round {
    uint64_t scanned;
    uint64_t sampled;
    uint64_t expired;
    uint64_t ttl_sum_ms; /* remaining TTL of the sampled keys still alive */
    uint64_t ttl_alive;
};

/* What one call found, for the stale estimate. */
struct expire_tally {
    uint64_t sampled;
    uint64_t expired;
};

struct expire_state *shale_expire_create(int databases)
{
    struct expire_state *st = shale_calloc(1, sizeof(*st));
    st->ndb = databases;
    st->dbs = shale_calloc((size_t)databases, sizeof(*st->dbs));
    return st;
}

void shale_expire_destroy(struct expire_state *st)
{
    if (!st)
        return;
    shale_free(st->dbs);
    shale_free(st);
}

void shale_expire_stats(const struct expire_state *st, struct expire_stats *out)
{
    *out = st->stats;
}

int64_t shale_expire_avg_ttl(const struct expire_state *st, int db)
{
    return db < st->ndb ? st->dbs[db].avg_ttl_ms : 0;
}

void shale_expire_defrag(struct expire_state *st, void *(*move)(void *ptr, void *ctx), void *ctx)
{
    struct expire_db *dbs = move(st->dbs, ctx);
    if (dbs)
        st->dbs = dbs;
}

static uint32_t reverse_bits(uint32_t x, unsigned bits)
{
    if (bits == 0)
        return 0;
    x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
    x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
    x = ((x >> 4) & 0x0f0f0f0fu) | ((x & 0x0f0f0f0fu) << 4);
    x = __builtin_bswap32(x);
    return x >> (32 - bits);
}

/* Start of the current slice, and its end (EXPIRE_POS_END for the last). */
static uint64_t slice_start(const struct expire_db *d)
{
    uint64_t s = reverse_bits(d->slice, d->slice_bits);
    return s << (EXPIRE_POS_BITS - d->slice_bits);
}

static uint64_t slice_end(const struct expire_db *d)
{
    return slice_start(d) + (EXPIRE_POS_END >> d->slice_bits);
}

static void pass_begin(struct expire_db *d, uint64_t keys, int64_t now_ms)
{
    unsigned bits = 0;
    while (bits < EXPIRE_SLICE_BITS_MAX && (keys >> (bits + 1)) >= EXPIRE_SLICE_KEYS)
        bits++;
    d->slice_bits = (uint8_t)bits;
    d->slice = 0;
    d->cursor = slice_start(d);
    d->in_pass = 1;
    d->pass_start_ms = now_ms;
}

static void collect(void *ctx, struct table_slot *entry_ref)
{
    struct expire_batch *b = ctx;
    if (b->n == EXPIRE_BATCH_CAP) {
        b->overflow = 1;
        return;
    }
    /* The object is a random memory access: start all of a batch's loads
     * before reading the first, instead of paying one miss after another. */
#ifndef EXPIRE_NO_PREFETCH
    __builtin_prefetch(keyspace_obj(entry_ref));
#endif
    b->objs[b->n++] = keyspace_obj(entry_ref);
}

/* Behind the pace floor: the pass has not covered the share of hash space
 * that the time since its start asks for. */
static int behind_pace(const struct expire_db *d, int64_t now_ms)
{
    int64_t elapsed = now_ms - d->pass_start_ms;
    if (elapsed <= 0)
        return 0;
    if (elapsed >= EXPIRE_PASS_MS)
        return 1;
    return (double)d->slice < (double)elapsed / EXPIRE_PASS_MS * (double)(1u << d->slice_bits);
}

/* Scans a batch of keys of db from its position (never past the current
 * slice, so a batch holds no key twice) and deletes the expired ones.
 * Returns 1 when this completed the pass. */
static int expire_batch(struct keyspace *ks, int db, struct expire_db *d, int64_t now_ms,
                        struct expire_round *r)
{
    struct expire_batch b;
    uint64_t end = slice_end(d);
    uint64_t step = d->cursor, next = d->cursor;

    b.n = 0;
    b.overflow = 0;
    do {
        step = next;
        next = shale_keyspace_scan(ks, db, step, collect, &b);
    } while (next != 0 && next < end && b.n < EXPIRE_BATCH && !b.overflow);

    uint64_t deleted = 0;
    for (size_t i = 0; i < b.n; i++) {
        int64_t when = shale_kobj_expire(b.objs[i]);
        if (when == KOBJ_NO_EXPIRE)
            continue;
        r->sampled++;
        if (when <= now_ms) {
            deleted += (uint64_t)shale_keyspace_expire_key(ks, db, shale_kobj_key(b.objs[i]));
        } else {
            r->ttl_sum_ms += (uint64_t)(when - now_ms);
            r->ttl_alive++;
        }
    }
    r->scanned += b.n;
    r->expired += deleted;

    if (b.overflow && deleted) {
        /* A step with more keys than the buffer (hundreds in one bucket's
         * range; never seen with a sound hash) is scanned again now that it
         * is smaller. If nothing was deleted, its rest waits for the next
         * pass rather than loop here. */
        d->cursor = step;
    } else if (next == 0 || next >= end) {
        if (++d->slice == (uint32_t)1 << d->slice_bits) {
            d->in_pass = 0;
            return 1;
        }
        d->cursor = slice_start(d);
    } else {
        d->cursor = next;
    }
    return 0;
}

/* Walks db in rounds until a round finds it clean enough (and the pass is
 * not behind its pace), the pass completes or the deadline passes. Returns 1
 * on the deadline. */
static int expire_db(struct expire_state *st, struct keyspace *ks, int db, int64_t now_ms,
                     int64_t deadline_us, struct expire_tally *tally)
{
    struct expire_db *d = &st->dbs[db];
    struct expire_stats *s = &st->stats;

    if (!d->in_pass)
        pass_begin(d, shale_keyspace_keys(ks, db), now_ms);
    for (;;) {
        struct expire_round r = {0, 0, 0, 0, 0};
        int pass_done = 0, out_of_time = 0;
        while (!pass_done && !out_of_time && r.sampled < EXPIRE_ROUND_TTL_KEYS &&
               r.scanned < EXPIRE_ROUND_MAX_SCAN) {
            pass_done = expire_batch(ks, db, d, now_ms, &r);
            out_of_time = clock_mono_us() >= deadline_us;
        }
        if (r.ttl_alive) {
            /* Redis's estimate: each round moves the average 1/50 of the
             * way toward the round's mean. */
            int64_t mean = (int64_t)(r.ttl_sum_ms / r.ttl_alive);
            d->avg_ttl_ms = d->avg_ttl_ms ? d->avg_ttl_ms / 50 * 49 + mean / 50 : mean;
        }
        s->scanned += r.scanned;
        s->sampled += r.sampled;
        s->expired += r.expired;
        s->passes += (uint64_t)pass_done;
        tally->sampled += r.sampled;
        tally->expired += r.expired;
        if (out_of_time)
            return 1;
        /* At most one pass per call: what is left expired after now_ms. */
        if (pass_done)
            return 0;
        int stale = r.sampled && r.expired * 100 > r.sampled * EXPIRE_ACCEPTABLE_STALE;
        if (!stale && !behind_pace(d, now_ms))
            return 0;
    }
}

int shale_expire_cycle(struct expire_state *st, struct keyspace *ks, int64_t now_ms,
                       int64_t budget_us)
{
    int64_t start_us = clock_mono_us();
    int ndb = shale_keyspace_databases(ks);
    struct expire_tally tally = {0, 0};
    int capped = 0;
    int64_t deadline_us = budget_us < INT64_MAX - start_us ? start_us + budget_us : INT64_MAX;

    if (ndb > st->ndb)
        ndb = st->ndb;
    for (int k = 0; k < ndb && !capped; k++) {
        int db = (st->next_db + k) % ndb;
        if (shale_keyspace_expires(ks, db) == 0) {
            st->dbs[db].in_pass = 0; /* nothing to find; start afresh later */
            st->dbs[db].avg_ttl_ms = 0;
            continue;
        }
        if (expire_db(st, ks, db, now_ms, deadline_us, &tally)) {
            capped = 1;
            /* Like Redis, the next call starts with the following database
             * so one flooded database cannot starve the others; this one
             * keeps its cursor and resumes when its turn comes. */
            st->next_db = (db + 1) % ndb;
        }
    }

    struct expire_stats *s = &st->stats;
    double current = tally.sampled ? (double)tally.expired / (double)tally.sampled : 0.0;
    s->stale_perc = current * 0.05 + s->stale_perc * 0.95;
    s->cycles++;
    s->time_cap_reached += (uint64_t)capped;
    s->cpu_us += (uint64_t)(clock_mono_us() - start_us);
    return capped;
}
