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
#include "server/command.h"
#include "server/config.h"
#include "server/log.h"
#include "server/mem.h"
#include "server/ring.h"
#include "server/waker.h"
#include "shards/defrag_timer.h"
#include "shards/exec.h"
#include "shards/expire.h"

/* Requests taken from one ring before looking at the next, so a flood from
 * one I/O thread cannot starve the others. */
#define BATCH_PER_RING 256
/* Requests whose keys are prefetched together before any of them runs. */
#define PREFETCH_BATCH 16

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

    /* Shard thread only. */
    pthread_t thread;
    struct event_base *base;
    struct event *wake_event;
    struct event *cron_event;
    struct event *expire_event; /* one-shot: expiry has more work */
    struct expire_state *expire;
    struct defrag_timer *defrag;
    struct exec_ctx exec;
    _Atomic int stopping;
    struct shard_public_stats pub;
};

/* Copies the options CONFIG SET may change into the shard's own state; a
 * change takes effect within one cron tick. */
static void apply_live_config(struct shard *s)
{
    s->exec.hash.max_compact_entries = (size_t)config_live(s->cfg, hash_max_listpack_entries);
    s->exec.hash.max_compact_value = (size_t)config_live(s->cfg, hash_max_listpack_value);
}

struct shard *shale_shard_create(int index, const struct config *cfg, int io_threads,
                                 int64_t spin_us, const uint16_t *slot_to_shard)
{
    struct shard *s = shale_calloc_aligned(_Alignof(struct shard), sizeof(*s));
    s->index = index;
    s->nio = io_threads;
    s->cfg = cfg;
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
    s->exec.ks = shale_keyspace_create(s->databases, 0x9e3779b97f4a7c15ULL * (uint64_t)(index + 1) ^
                                                         (uint64_t)clock_mono_us());
    s->exec.shard = index;
    s->exec.slot_to_shard = slot_to_shard;
    s->exec.rng = 0x2545f4914f6cdd1dULL ^ (uint64_t)(index + 1);
    apply_live_config(s);
    s->exec.hash.seed = 0xc2b2ae3d27d4eb4fULL * (uint64_t)(index + 1) ^ (uint64_t)clock_mono_us();
    s->expire = shale_expire_create(s->databases);
    s->defrag = shale_defrag_timer_create(index, s->arena, cfg, s->exec.ks, s->expire);
    s->pub.keys = shale_calloc((size_t)s->databases, sizeof(*s->pub.keys));
    s->pub.expires = shale_calloc((size_t)s->databases, sizeof(*s->pub.expires));
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
    shale_defrag_timer_destroy(s->defrag);
    shale_keyspace_destroy(s->exec.ks);
    shale_expire_destroy(s->expire);
    shale_waker_deinit(&s->waker);
    shale_free(s->inbound);
    shale_free(s->outbound);
    shale_free(s->wake_pending);
    shale_free((void *)s->pub.keys);
    shale_free((void *)s->pub.expires);
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
    atomic_store_explicit(&s->pub.mem_allocated, st.allocated, memory_order_relaxed);
    atomic_store_explicit(&s->pub.mem_active, st.active, memory_order_relaxed);
    atomic_store_explicit(&s->pub.mem_resident, st.resident, memory_order_relaxed);
}

static void publish_stats(struct shard *s)
{
    struct keyspace *ks = s->exec.ks;
    for (int db = 0; db < s->databases; db++) {
        atomic_store_explicit(&s->pub.keys[db], shale_keyspace_keys(ks, db), memory_order_relaxed);
        atomic_store_explicit(&s->pub.expires[db], shale_keyspace_expires(ks, db),
                              memory_order_relaxed);
    }
    atomic_store_explicit(&s->pub.keyspace_hits, s->exec.stats.keyspace_hits, memory_order_relaxed);
    atomic_store_explicit(&s->pub.keyspace_misses, s->exec.stats.keyspace_misses,
                          memory_order_relaxed);
    atomic_store_explicit(&s->pub.expired_keys, shale_keyspace_expired(ks), memory_order_relaxed);
    struct expire_stats es;
    shale_expire_stats(s->expire, &es);
    atomic_store_explicit(&s->pub.expire_time_cap_reached, es.time_cap_reached,
                          memory_order_relaxed);
    atomic_store_explicit(&s->pub.expire_cpu_us, es.cpu_us, memory_order_relaxed);
    atomic_store_explicit(&s->pub.expire_stale_perc_x10000, (uint64_t)(es.stale_perc * 10000),
                          memory_order_relaxed);
}

static void prefetch_key(struct exec_ctx *x, const struct request *r)
{
    int first = r->cmd->first_key;
    if (first > 0 && first < r->argc)
        shale_keyspace_prefetch(x->ks, r->db, r->argv[first]);
}

/* Executes what is waiting on every inbound ring; returns how many ran. */
static unsigned drain(struct shard *s)
{
    unsigned total = 0;
    s->exec.now_ms = clock_wall_ms();
    for (int io = 0; io < s->nio; io++) {
        struct ring *in = s->inbound[io], *out = s->outbound[io];
        unsigned n = 0;
        while (n < BATCH_PER_RING) {
            struct request *batch[PREFETCH_BATCH];
            unsigned k = 0;
            while (k < PREFETCH_BATCH && (batch[k] = ring_pop(in)) != NULL)
                k++;
            if (!k)
                break;
            /* Start every key's bucket load before the first lookup, so the
             * cache misses of a batch overlap instead of queueing. */
            for (unsigned i = 0; i < k; i++)
                prefetch_key(&s->exec, batch[i]);
            for (unsigned i = 0; i < k; i++) {
                /* The I/O thread marks it done when it takes it back: until
                 * then the request is the shard's, state included. */
                batch[i]->cmd->shard_proc(&s->exec, batch[i]);
                if (!ring_stage(out, batch[i])) {
                    shale_log(LOG_WARNING, "shard %d: reply ring to I/O thread %d is full",
                              s->index, io);
                    abort();
                }
            }
            n += k;
        }
        if (n && ring_publish(out))
            s->wake_pending[io] = 1;
        total += n;
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

static void on_cron(evutil_socket_t fd, short what, void *arg)
{
    struct shard *s = arg;
    apply_live_config(s);
    shale_keyspace_rehash(s->exec.ks, CRON_REHASH_US);
    if (!evtimer_pending(s->expire_event, NULL))
        run_expire(s);
    shale_defrag_timer_cron(s->defrag);
}

static void *shard_main(void *arg)
{
    struct shard *s = arg;
    char name[16];
    snprintf(name, sizeof(name), "shard-%d", s->index);
    pthread_setname_np(pthread_self(), name);
    /* Everything this thread allocates from here on (keys, values, table
     * growth) lands in the shard's own arena, so its memory is measured per
     * shard. The keyspace's first table was allocated at create time on the
     * main thread and stays counted there. */
    if (shale_mem_arena_bind(s->arena) != 0) {
        shale_log(LOG_WARNING, "shard %d: cannot bind to jemalloc arena %u", s->index, s->arena);
        abort();
    }
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
    shale_defrag_timer_detach(s->defrag);
    event_free(s->wake_event);
    event_base_free(s->base);
}
