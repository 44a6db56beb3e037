/* defrag_timer: control input -> paced runs of the walk (see
 * defrag_timer.h). Shard thread only, apart from create/attach/detach/
 * destroy, which run on the main thread while the shard thread is not
 * running. */
#include "shards/defrag_timer.h"

#include <event2/event.h>
#include <sched.h>
#include <time.h>

#include "server/clock.h"
#include "server/config.h"
#include "server/mem.h"
#include "shards/defrag.h"
#include "shards/defrag_pace.h"

struct defrag_timer {
    int shard;                /* read-only after create */
    unsigned arena;           /* read-only after create */
    const struct config *cfg; /* CONFIG_LIVE fields read with config_live */
    struct defrag_walk *walk;
    struct event *event; /* one-shot, re-armed after each run */
    int (*pending)(void *arg);
    void *pending_arg;
    int64_t last_cpu_yield_us; /* when a run last offered its CPU */
    struct defrag_pace pace;
    int running;
    uint64_t end_tick; /* governor tick seen when the last cycle ended */
    /* The hint figures of the pass, copied from the governor's at the start
     * of a cycle (why frozen: server/defrag_hint.c). */
    struct defrag_hint pass_hint;
    struct defrag_timer_shared shared;
};

static int64_t thread_cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Between two units of a run: stop if a request is waiting. On a machine
 * with fewer cores than busy threads the request may not have reached the
 * ring yet because its I/O thread waits for this very CPU: every
 * DEFRAG_CPU_YIELD_US the run also offers the CPU (sched_yield: ~0.3 us
 * when nobody else wants it here) and looks again. */
#define DEFRAG_CPU_YIELD_US 20

static int give_way(void *arg)
{
    struct defrag_timer *t = arg;
    if (t->pending(t->pending_arg))
        return 1;
    int64_t now = clock_mono_us();
    if (now - t->last_cpu_yield_us < DEFRAG_CPU_YIELD_US)
        return 0;
    t->last_cpu_yield_us = now;
    sched_yield();
    return t->pending(t->pending_arg);
}

static void publish_counts(struct defrag_timer *t)
{
    struct defrag_counts c;
    shale_defrag_counts(t->walk, &c);
    struct defrag_timer_shared *sh = &t->shared;
    uint64_t hits0 = atomic_load_explicit(&sh->hits, memory_order_relaxed);
    atomic_fetch_add_explicit(&sh->cycle_hits, c.hits - hits0, memory_order_relaxed);
    atomic_store_explicit(&sh->hits, c.hits, memory_order_relaxed);
    atomic_store_explicit(&sh->misses, c.misses, memory_order_relaxed);
    atomic_store_explicit(&sh->key_hits, c.key_hits, memory_order_relaxed);
    atomic_store_explicit(&sh->key_misses, c.key_misses, memory_order_relaxed);
    atomic_store_explicit(&sh->scanned, c.scanned, memory_order_relaxed);
}

static void arm(struct defrag_timer *t, int64_t delay_us)
{
    struct timeval tv = {(time_t)(delay_us / 1000000), (suseconds_t)(delay_us % 1000000)};
    evtimer_add(t->event, &tv);
}

static void cycle_end(struct defrag_timer *t)
{
    shale_defrag_cycle_end(t->walk);
    t->running = 0;
    t->end_tick = atomic_load_explicit(&t->shared.tick, memory_order_acquire);
    if (t->event)
        evtimer_del(t->event);
    atomic_store_explicit(&t->shared.running, 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&t->shared.cycles_done, 1, memory_order_release);
}

static void cycle_start(struct defrag_timer *t)
{
    int64_t cycle_us = config_live(t->cfg, active_defrag_cycle_us);
    shale_defrag_hint_copy(&t->pass_hint, &t->shared.hint);
    shale_defrag_cycle_start(t->walk, (size_t)config_live(t->cfg, active_defrag_max_scan_fields));
    shale_defrag_pace_start(&t->pace, clock_mono_us(), cycle_us);
    t->running = 1;
    atomic_store_explicit(&t->shared.cycle_hits, 0, memory_order_relaxed);
    atomic_store_explicit(&t->shared.running, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&t->shared.cycles_started, 1, memory_order_release);
    arm(t, 0);
}

/* The share to run at now: the governor's, never above cycle-max. */
static uint32_t current_share(const struct defrag_timer *t, uint32_t *max_share)
{
    uint32_t share = atomic_load_explicit(&t->shared.share, memory_order_relaxed);
    *max_share = (uint32_t)config_live(t->cfg, active_defrag_cycle_max) * 100;
    return share < *max_share ? share : *max_share;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct defrag_timer *t = arg;
    if (!t->running)
        return;
    uint32_t max_share;
    uint32_t share = current_share(t, &max_share);
    if (share == 0) {
        cycle_end(t);
        return;
    }
    int64_t cycle_us = config_live(t->cfg, active_defrag_cycle_us);
    int64_t start = clock_mono_us();
    int64_t budget = shale_defrag_pace_budget(&t->pace, start, share, cycle_us);
    int64_t end = start;
    int yielded = 0;
    if (budget > 0) {
        int64_t cpu0 = thread_cpu_us();
        int may_yield = t->pending && shale_defrag_pace_may_yield(&t->pace, cycle_us);
        t->last_cpu_yield_us = start;
        int done = shale_defrag_cycle_run(t->walk, start + budget, may_yield ? give_way : NULL, t);
        end = clock_mono_us();
        yielded = !done && end < start + budget;
        atomic_fetch_add_explicit(&t->shared.cpu_us, (uint64_t)(thread_cpu_us() - cpu0),
                                  memory_order_relaxed);
        atomic_fetch_add_explicit(&t->shared.wall_us, (uint64_t)(end - start),
                                  memory_order_relaxed);
        atomic_fetch_add_explicit(&t->shared.runs, 1, memory_order_relaxed);
        publish_counts(t);
        if (done) {
            cycle_end(t);
            return;
        }
    }
    arm(t, shale_defrag_pace_next(&t->pace, end, end - start, share, max_share, cycle_us, yielded));
}

struct defrag_timer *shale_defrag_timer_create(int shard, unsigned arena, const struct config *cfg)
{
    struct defrag_timer *t = shale_calloc(1, sizeof(*t));
    t->shard = shard;
    t->arena = arena;
    t->cfg = cfg;
    shale_defrag_hint_init(&t->shared.hint);
    shale_defrag_hint_init(&t->pass_hint);
    return t;
}

void shale_defrag_timer_bind(struct defrag_timer *t, struct keyspace *ks,
                             struct expire_state *expire)
{
    t->walk = shale_defrag_walk_create(ks, expire, &t->pass_hint, t->arena);
}

void shale_defrag_timer_destroy(struct defrag_timer *t)
{
    if (!t)
        return;
    shale_defrag_walk_destroy(t->walk);
    shale_free(t);
}

void shale_defrag_timer_attach(struct defrag_timer *t, struct event_base *base,
                               int (*pending)(void *arg), void *arg)
{
    t->event = evtimer_new(base, on_timer, t);
    t->pending = pending;
    t->pending_arg = arg;
}

void shale_defrag_timer_detach(struct defrag_timer *t)
{
    if (t->event)
        event_free(t->event);
    t->event = NULL;
}

void shale_defrag_timer_cron(struct defrag_timer *t)
{
    uint64_t tick = atomic_load_explicit(&t->shared.tick, memory_order_acquire);
    uint32_t max_share;
    uint32_t share = current_share(t, &max_share);
    if (t->running) {
        if (share == 0)
            cycle_end(t);
        else if (!evtimer_pending(t->event, NULL))
            arm(t, 0);
        return;
    }
    /* A new cycle only on a share granted from stats taken after the last
     * cycle ended, so a finished pass is judged by what it achieved. */
    if (share > 0 && tick != t->end_tick)
        cycle_start(t);
}

struct defrag_timer_shared *shale_defrag_timer_shared(struct defrag_timer *t)
{
    return &t->shared;
}
