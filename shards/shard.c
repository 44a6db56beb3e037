/* shard: the shard thread's loop (see shard.h). Runs on its own thread;
 * everything in struct shard except the rings' far ends and the published
 * stats is private to it. */
#include "shards/shard.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "net/request.h"
#include "server/clock.h"
#include "server/cmdstats.h"
#include "server/command.h"
#include "server/config.h"
#include "server/log.h"
#include "server/mem.h"
#include "server/ring.h"
#include "server/waker.h"
#include "shards/cells.h"
#include "shards/defrag_timer.h"
#include "shards/evict.h"
#include "shards/exec.h"
#include "shards/expire.h"
#include "shards/prefetch.h"

/* Requests taken from one ring before looking at the next, so a flood from
 * one I/O thread cannot starve the others. */
#define BATCH_PER_RING 256

struct shard {
    int index;                /* read-only after create */
    int nio;                  /* read-only after create */
    int databases;            /* read-only after create */
    int64_t spin_us;          /* read-only after create */
    unsigned arena;           /* read-only after create */
    const struct config *cfg; /* CONFIG_LIVE fields re-read by the cron */
    struct ring **inbound;    /* [nio] producer: I/O thread i, consumer: this shard */
    struct ring **outbound;   /* [nio] producer: this shard, consumer: I/O thread i */
    struct waker **io_wakers; /* [nio] read-only after start */
    uint8_t *wake_pending;    /* [nio] shard thread */
    struct waker waker;       /* sleeping flag: this thread; efd: read here */
    int held_by;              /* shard thread: the I/O thread holding us, or -1 */
    int first_ring;           /* shard thread: the ring a drain pass starts with */

    /* Shard thread only. */
    pthread_t thread;
    struct event_base *base;
    struct event *wake_event;
    struct event *cron_event;
    struct event *expire_event; /* one-shot: expiry has more work */
    struct expire_state *expire;
    struct defrag_timer *defrag;
    struct cell_heap *cells; /* the hash entries' cells; main thread at destroy */
    struct exec_ctx exec;
    _Atomic int stopping;
    struct shard_public_stats pub;
    struct cmdstat *cmds; /* written by this thread only; read by INFO */
    int latency_tracking; /* the option, as of the last batch */

    /* maxmemory (shards/evict.h). Written by the main thread (and by the
     * I/O thread running CONFIG SET maxmemory), read here once per batch. */
    _Atomic uint64_t mem_limit;   /* this shard's share; EVICT_NO_LIMIT: none */
    _Atomic int64_t mem_overhead; /* arena bytes beyond the counted keyspace */
    /* Shard thread only: the copies a batch works with. */
    struct evict_state *evict;
    struct evict_config evict_cfg;
    uint64_t limit;
    int64_t overhead;
    struct event *evict_event; /* one-shot: an eviction run has more to do */
};

#define OOM_ERROR "OOM command not allowed when used memory > 'maxmemory'."

/* Copies the options CONFIG SET may change into the shard's own state, at
 * each batch: a command sent after CONFIG SET's reply sees the new value. */
static void apply_live_config(struct shard *s)
{
    s->exec.hash.max_compact_entries = (size_t)config_live(s->cfg, hash_max_listpack_entries);
    s->exec.hash.max_compact_value = (size_t)config_live(s->cfg, hash_max_listpack_value);
    s->latency_tracking = (int)config_live(s->cfg, latency_tracking);
}

/* The memory options and this shard's limit, re-read before every batch so
 * a CONFIG SET of the policy or maxmemory applies to the next command. */
static void load_memory_config(struct shard *s)
{
    struct evict_config *ec = &s->evict_cfg;
    ec->policy = (int)config_live(s->cfg, maxmemory_policy);
    ec->samples = (int)config_live(s->cfg, maxmemory_samples);
    ec->tenacity = (int)config_live(s->cfg, maxmemory_eviction_tenacity);
    ec->lfu_log_factor = config_live(s->cfg, lfu_log_factor);
    ec->lfu_decay_time = config_live(s->cfg, lfu_decay_time);
    s->limit = atomic_load_explicit(&s->mem_limit, memory_order_relaxed);
    s->overhead = atomic_load_explicit(&s->mem_overhead, memory_order_relaxed);
    shale_keyspace_set_lfu(s->exec.ks, shale_evict_policy_is_lfu(ec->policy), ec->lfu_log_factor,
                           ec->lfu_decay_time);
}

struct shard *shale_shard_create(int index, const struct config *cfg, int io_threads,
                                 int64_t spin_us, const uint16_t *slot_to_shard)
{
    struct shard *s = shale_calloc_aligned(_Alignof(struct shard), sizeof(*s));
    s->index = index;
    s->nio = io_threads;
    s->cfg = cfg;
    s->held_by = -1;
    s->databases = (int)cfg->databases;
    s->spin_us = spin_us;
    s->arena = shale_mem_arena_create();
    s->inbound = shale_calloc((size_t)io_threads, sizeof(*s->inbound));
    s->outbound = shale_calloc((size_t)io_threads, sizeof(*s->outbound));
    s->wake_pending = shale_calloc((size_t)io_threads, 1);
    for (int i = 0; i < io_threads; i++) {
        /* Never full: an I/O thread has io_thread_requests slots in total. */
        s->inbound[i] = shale_ring_create((size_t)cfg->io_thread_requests);
        s->outbound[i] = shale_ring_create((size_t)cfg->io_thread_requests);
    }
    shale_waker_init(&s->waker);
    s->exec.shard = index;
    s->exec.slot_to_shard = slot_to_shard;
    s->exec.rng = 0x2545f4914f6cdd1dULL ^ (uint64_t)(index + 1);
    apply_live_config(s);
    s->exec.hash.seed = 0xc2b2ae3d27d4eb4fULL * (uint64_t)(index + 1) ^ (uint64_t)clock_mono_us();
    atomic_store(&s->mem_limit, EVICT_NO_LIMIT);
    s->limit = EVICT_NO_LIMIT;
    s->defrag = shale_defrag_timer_create(index, s->arena, cfg);
    s->cells = shale_cell_heap_create();
    s->pub.keys = shale_calloc((size_t)s->databases, sizeof(*s->pub.keys));
    s->pub.expires = shale_calloc((size_t)s->databases, sizeof(*s->pub.expires));
    s->pub.avg_ttl = shale_calloc((size_t)s->databases, sizeof(*s->pub.avg_ttl));
    s->cmds = shale_cmdstats_table_create();
    return s;
}

void shale_shard_destroy(struct shard *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->nio; i++) {
        shale_ring_destroy(s->inbound[i]);
        shale_ring_destroy(s->outbound[i]);
    }
    shale_watch_registry_deinit(&s->exec.watch);
    shale_defrag_timer_destroy(s->defrag);
    shale_cell_heap_use(s->cells); /* the keyspace frees its cells into it */
    shale_keyspace_destroy(s->exec.ks);
    shale_cell_heap_destroy(s->cells);
    shale_expire_destroy(s->expire);
    shale_evict_destroy(s->evict);
    shale_waker_deinit(&s->waker);
    shale_free(s->inbound);
    shale_free(s->outbound);
    shale_free(s->wake_pending);
    shale_free((void *)s->pub.keys);
    shale_free((void *)s->pub.expires);
    shale_free((void *)s->pub.avg_ttl);
    shale_cmdstats_table_destroy(s->cmds);
    shale_free(s);
}

struct ring *shale_shard_inbound(struct shard *s, int io)
{
    return s->inbound[io];
}

struct ring *shale_shard_outbound(struct shard *s, int io)
{
    return s->outbound[io];
}

struct waker *shale_shard_waker(struct shard *s)
{
    return &s->waker;
}

const struct shard_public_stats *shale_shard_stats(const struct shard *s)
{
    return &s->pub;
}

const struct cmdstat *shale_shard_cmdstats(const struct shard *s)
{
    return s->cmds;
}

pthread_t shale_shard_thread(const struct shard *s)
{
    return s->thread;
}

struct defrag_timer_shared *shale_shard_defrag(struct shard *s)
{
    return shale_defrag_timer_shared(s->defrag);
}

unsigned shale_shard_arena(const struct shard *s)
{
    return s->arena;
}

void shale_shard_publish_memory(struct shard *s)
{
    struct mem_stats st;
    shale_mem_arena_stats(s->arena, &st);
    uint64_t cells_free = atomic_load_explicit(&s->pub.mem_cells_free, memory_order_relaxed);
    uint64_t allocated = st.allocated > cells_free ? st.allocated - cells_free : 0;
    atomic_store_explicit(&s->pub.mem_allocated, allocated, memory_order_relaxed);
    atomic_store_explicit(&s->pub.mem_active, st.active, memory_order_relaxed);
    atomic_store_explicit(&s->pub.mem_resident, st.resident, memory_order_relaxed);
    /* What the arena holds beyond the counted keyspace: replies in flight,
     * thread caches, the shard's own structures. Paired with the count the
     * shard published last (at most one batch old). */
    int64_t overhead = 0;
    if (shale_mem_has_arena_stats())
        overhead = (int64_t)st.allocated -
                   (int64_t)atomic_load_explicit(&s->pub.mem_keyspace, memory_order_relaxed);
    atomic_store_explicit(&s->mem_overhead, overhead, memory_order_relaxed);
}

uint64_t shale_shard_memory_in_use(const struct shard *s)
{
    if (shale_mem_has_arena_stats()) /* free cells are held: they count here */
        return atomic_load_explicit(&s->pub.mem_allocated, memory_order_relaxed) +
               atomic_load_explicit(&s->pub.mem_cells_free, memory_order_relaxed);
    return atomic_load_explicit(&s->pub.mem_keyspace, memory_order_relaxed);
}

void shale_shard_set_memory_limit(struct shard *s, uint64_t limit)
{
    atomic_store_explicit(&s->mem_limit, limit, memory_order_relaxed);
}

uint64_t shale_shard_memory_limit(const struct shard *s)
{
    return atomic_load_explicit(&s->mem_limit, memory_order_relaxed);
}

static void publish_stats(struct shard *s)
{
    struct keyspace *ks = s->exec.ks;
    for (int db = 0; db < s->databases; db++) {
        atomic_store_explicit(&s->pub.keys[db], shale_keyspace_keys(ks, db), memory_order_relaxed);
        atomic_store_explicit(&s->pub.expires[db], shale_keyspace_expires(ks, db),
                              memory_order_relaxed);
        atomic_store_explicit(&s->pub.avg_ttl[db], (uint64_t)shale_expire_avg_ttl(s->expire, db),
                              memory_order_relaxed);
    }
    atomic_store_explicit(&s->pub.keyspace_hits, s->exec.stats.keyspace_hits, memory_order_relaxed);
    atomic_store_explicit(&s->pub.keyspace_misses, s->exec.stats.keyspace_misses,
                          memory_order_relaxed);
    atomic_store_explicit(&s->pub.expired_keys, shale_keyspace_expired(ks), memory_order_relaxed);
    atomic_store_explicit(&s->pub.evicted_keys, shale_evict_evicted(s->evict),
                          memory_order_relaxed);
    long long counted = shale_mem_counted_bytes();
    atomic_store_explicit(&s->pub.mem_keyspace, counted > 0 ? (uint64_t)counted : 0,
                          memory_order_relaxed);
    atomic_store_explicit(&s->pub.mem_cells_free, shale_cell_heap_free_bytes(),
                          memory_order_relaxed);
    struct expire_stats es;
    shale_expire_stats(s->expire, &es);
    atomic_store_explicit(&s->pub.expire_time_cap_reached, es.time_cap_reached,
                          memory_order_relaxed);
    atomic_store_explicit(&s->pub.expire_cpu_us, es.cpu_us, memory_order_relaxed);
    atomic_store_explicit(&s->pub.expire_stale_perc_x10000, (uint64_t)(es.stale_perc * 10000),
                          memory_order_relaxed);
}

static void count_command(struct shard *s, struct request *r, int64_t ns)
{
    r->exec_ns = (uint64_t)ns;
    int failed = r->reply.len && r->reply.data[0] == '-';
    cmdstats_shard_ran(&s->cmds[shale_command_index(r->cmd)], r->part, failed, ns,
                       s->latency_tracking);
}

static void arm_evict(struct shard *s)
{
    if (!evtimer_pending(s->evict_event, NULL)) {
        struct timeval now = {0, 0};
        evtimer_add(s->evict_event, &now);
    }
}

/* Before a command that may grow memory: evict down to the limit (Redis's
 * performEvictions in processCommand). 0 when the command must be refused. */
static int memory_allows_write(struct shard *s)
{
    if (s->limit == EVICT_NO_LIMIT)
        return 1;
    enum evict_result r = shale_evict_perform(s->evict, s->exec.ks, &s->evict_cfg, s->limit,
                                              s->overhead, s->exec.now_ms);
    if (r == EVICT_RUNNING)
        arm_evict(s);
    return r != EVICT_FAIL;
}

static void execute(struct shard *s, struct request *r)
{
    if ((r->cmd->flags & CMD_DENYOOM) && !memory_allows_write(s)) {
        shale_resp_add_error(&r->reply, OOM_ERROR);
        return;
    }
    r->cmd->shard_proc(&s->exec, r);
    shale_watch_after_write(&s->exec, r);
}

/* Runs one message from I/O thread io; returns 0 when nothing goes back.
 * While an I/O thread holds the shard (an atomic cross-shard batch, see
 * net/txn.h) only that thread's ring is served, so no other client sees the
 * batch half done. */
static int run_message(struct shard *s, int io, struct request *r, int64_t *start_ns)
{
    switch (r->kind) {
    case REQUEST_HOLD:
        s->held_by = io;
        return 1; /* the acknowledgement */
    case REQUEST_RELEASE:
        s->held_by = -1;
        return 0;
    default: {
        execute(s, r);
        int64_t end_ns = clock_mono_ns();
        count_command(s, r, end_ns - *start_ns);
        *start_ns = end_ns; /* one clock read per command */
        return 1;
    }
    }
}

/* Runs up to BATCH_PER_RING messages of I/O thread io's ring and stages
 * their replies; stops right after a RELEASE (*released = 1), so that the
 * HOLD an I/O thread sends with it for its next batch is not the next thing
 * served (see drain). Returns how many ran. */
static unsigned serve_ring(struct shard *s, int io, int *released)
{
    struct ring *in = s->inbound[io], *out = s->outbound[io];
    unsigned n = 0;
    *released = 0;
    while (n < BATCH_PER_RING && !*released) {
        struct request *batch[PREFETCH_BATCH];
        unsigned k = 0;
        while (k < PREFETCH_BATCH && (batch[k] = ring_pop(in)) != NULL)
            if (batch[k++]->kind == REQUEST_RELEASE) {
                *released = 1;
                break;
            }
        if (!k)
            break;
        /* Every key's loads start before the first lookup, so the cache
         * misses of a batch overlap instead of queueing. */
        shale_prefetch_batch(s->exec.ks, batch, k);
        int64_t start_ns = clock_mono_ns(); /* each command's end is the next one's start */
        for (unsigned i = 0; i < k; i++) {
            /* The I/O thread marks it done when it takes it back: until
             * then the request is the shard's, state included. */
            if (!run_message(s, io, batch[i], &start_ns))
                continue;
            if (!ring_stage(out, batch[i])) {
                shale_log(LOG_WARNING, "shard %d: reply ring to I/O thread %d is full", s->index,
                          io);
                abort();
            }
        }
        n += k;
    }
    if (n && ring_publish(out))
        s->wake_pending[io] = 1;
    return n;
}

/* Executes what is waiting on the inbound rings it may serve; returns how
 * many ran.
 *
 * The shard is handed over round robin. An I/O thread that releases the
 * shard with more atomic work queued sends its next HOLD right behind the
 * RELEASE, in the same publication; served in ring order, that HOLD would
 * win every time and another I/O thread's HOLD, waiting in its own ring,
 * would never be seen. So after a RELEASE a pass goes on with the rings
 * after the releasing one and the next pass starts there: a waiting HOLD is
 * granted after at most one hold of each other I/O thread. */
static unsigned drain(struct shard *s)
{
    unsigned total = 0;
    s->exec.now_ms = clock_wall_ms();
    apply_live_config(s);
    load_memory_config(s);
    int first = s->first_ring;
    for (int k = 0; k < s->nio; k++) {
        int io = (first + k) % s->nio;
        if (s->held_by >= 0 && io != s->held_by)
            continue;
        int released;
        total += serve_ring(s, io, &released);
        if (released)
            s->first_ring = (io + 1) % s->nio;
    }
    if (total) {
        atomic_fetch_add_explicit(&s->pub.commands, total, memory_order_relaxed);
        publish_stats(s);
        for (int io = 0; io < s->nio; io++)
            if (s->wake_pending[io]) {
                s->wake_pending[io] = 0;
                waker_notify(s->io_wakers[io]);
            }
    }
    return total;
}

static int has_work(struct shard *s)
{
    if (s->held_by >= 0)
        return ring_has_items(s->inbound[s->held_by]);
    for (int io = 0; io < s->nio; io++)
        if (ring_has_items(s->inbound[io]))
            return 1;
    return 0;
}

/* The defrag timer's question between two units of work. */
static int requests_waiting(void *arg)
{
    return has_work(arg);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    struct shard *s = arg;
    shale_waker_drain(&s->waker);
}

/* The shard's own housekeeping timer: short, bounded slices of work that
 * must not wait for a client (finishing a resize of a table nobody writes). */
#define CRON_INTERVAL_MS 100
#define CRON_REHASH_US   500

#define CRON_EXPIRE_US       1000
#define CRON_EXPIRE_AGAIN_US 4000

/* One slice of active expiry; while it reports more work, another slice
 * follows CRON_EXPIRE_AGAIN_US later (1 ms in 4: at most 25% of the shard). */
static void run_expire(struct shard *s)
{
    int more = shale_expire_cycle(s->expire, s->exec.ks, clock_wall_ms(), CRON_EXPIRE_US);
    publish_stats(s);
    if (more && !evtimer_pending(s->expire_event, NULL)) {
        struct timeval again = {0, CRON_EXPIRE_AGAIN_US};
        evtimer_add(s->expire_event, &again);
    }
}

static void on_expire(evutil_socket_t fd, short what, void *arg)
{
    run_expire(arg);
}

/* One time-bounded eviction run (maxmemory-eviction-tenacity); while it
 * leaves work, the next one follows at the next loop turn, between batches
 * of requests (Redis's evictionTimeProc). Catches up after CONFIG SET
 * lowered maxmemory, or after a write that ran out of time. */
static void run_evict(struct shard *s)
{
    load_memory_config(s);
    if (s->limit == EVICT_NO_LIMIT)
        return;
    enum evict_result r = shale_evict_perform(s->evict, s->exec.ks, &s->evict_cfg, s->limit,
                                              s->overhead, clock_wall_ms());
    if (r == EVICT_RUNNING)
        arm_evict(s);
    publish_stats(s);
}

static void on_evict(evutil_socket_t fd, short what, void *arg)
{
    run_evict(arg);
}

static void on_cron(evutil_socket_t fd, short what, void *arg)
{
    struct shard *s = arg;
    atomic_store_explicit(&s->pub.heartbeat_us, clock_mono_us(), memory_order_relaxed);
    shale_keyspace_rehash(s->exec.ks, CRON_REHASH_US);
    if (!evtimer_pending(s->expire_event, NULL))
        run_expire(s);
    if (!evtimer_pending(s->evict_event, NULL))
        run_evict(s);
    shale_defrag_timer_cron(s->defrag);
}

static void *shard_main(void *arg)
{
    struct shard *s = arg;
    char name[16];
    snprintf(name, sizeof(name), "shard-%d", s->index);
    pthread_setname_np(pthread_self(), name);
    /* Everything this thread allocates from here on lands in the shard's
     * own arena, so its memory is measured per shard: the keyspace is
     * created here, after the bind, and its bytes are counted on this
     * thread (shale_mem_counted_bytes). */
    if (shale_mem_arena_bind(s->arena) != 0) {
        shale_log(LOG_WARNING, "shard %d: cannot bind to jemalloc arena %u", s->index, s->arena);
        abort();
    }
    shale_cell_heap_use(s->cells);
    s->exec.ks = shale_keyspace_create(
        s->databases, 0x9e3779b97f4a7c15ULL * (uint64_t)(s->index + 1) ^ (uint64_t)clock_mono_us());
    s->expire = shale_expire_create(s->databases);
    s->evict = shale_evict_create(0xd1b54a32d192ed03ULL * (uint64_t)(s->index + 1));
    shale_defrag_timer_bind(s->defrag, s->exec.ks, s->expire);
    load_memory_config(s);
    publish_stats(s);
    int64_t last_timers = clock_mono_us();
    while (!atomic_load_explicit(&s->stopping, memory_order_relaxed)) {
        if (drain(s)) {
            /* Busy: still let timers run about once a millisecond. */
            int64_t now = clock_mono_us();
            if (now - last_timers >= 1000) {
                event_base_loop(s->base, EVLOOP_NONBLOCK);
                last_timers = now;
            }
            continue;
        }
        int64_t spin_until = clock_mono_us() + s->spin_us;
        int found = 0;
        while (!found && clock_mono_us() < spin_until)
            found = has_work(s);
        if (found)
            continue;
        waker_prepare_sleep(&s->waker);
        if (!has_work(s) && !atomic_load(&s->stopping))
            event_base_loop(s->base, EVLOOP_ONCE);
        waker_awake(&s->waker);
        last_timers = clock_mono_us();
    }
    return NULL;
}

void shale_shard_start(struct shard *s, struct waker **io_wakers)
{
    s->io_wakers = io_wakers;
    /* Precise timers: libevent's default clock (CLOCK_MONOTONIC_COARSE)
     * ticks every 4 ms here, which would stretch every sub-ms defrag gap
     * (and expiry's 4 ms re-run) to the next tick. */
    struct event_config *ecfg = event_config_new();
    event_config_set_flag(ecfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    s->base = event_base_new_with_config(ecfg);
    event_config_free(ecfg);
    s->wake_event = event_new(s->base, s->waker.efd, EV_READ | EV_PERSIST, on_wake, s);
    event_add(s->wake_event, NULL);
    s->cron_event = event_new(s->base, -1, EV_PERSIST, on_cron, s);
    s->expire_event = evtimer_new(s->base, on_expire, s);
    s->evict_event = evtimer_new(s->base, on_evict, s);
    shale_defrag_timer_attach(s->defrag, s->base, requests_waiting, s);
    struct timeval interval = {0, CRON_INTERVAL_MS * 1000};
    event_add(s->cron_event, &interval);
    if (pthread_create(&s->thread, NULL, shard_main, s) != 0) {
        perror("shale: pthread_create(shard)");
        abort();
    }
}

void shale_shard_stop(struct shard *s)
{
    atomic_store(&s->stopping, 1);
    atomic_store(&s->waker.sleeping, 1); /* force the wake-up write */
    waker_notify(&s->waker);
    pthread_join(s->thread, NULL);
    event_free(s->cron_event);
    event_free(s->expire_event);
    event_free(s->evict_event);
    shale_defrag_timer_detach(s->defrag);
    event_free(s->wake_event);
    event_base_free(s->base);
}
