/* defrag_governor: see defrag_governor.h. Main thread only, except the
 * INFO functions, which read the atomics marked for them. */
#include "server/defrag_governor.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "net/resp_write.h"
#include "server/clock.h"
#include "server/config.h"
#include "server/defrag_hint.h"
#include "server/log.h"
#include "server/mem.h"
#include "server/server.h"
#include "shards/defrag_timer.h"
#include "shards/shard.h"

/* Ticks (100 ms) over which the measured defrag CPU is averaged. */
#define GOVERNOR_CPU_WINDOW 10

struct governor_shard {
    /* Main thread. */
    uint32_t share; /* last published */
    uint64_t seen_started, seen_done;
    int purge_deferred; /* the arena keeps its dirty pages while a cycle runs */
    int64_t cycle_start_us;
    double start_frag_pct;
    uint64_t start_frag_bytes;
    uint64_t cpu_hist[GOVERNOR_CPU_WINDOW];
    /* Main thread writes, INFO reads. */
    _Atomic uint32_t share_pub;
    _Atomic uint32_t cpu_pct_x100; /* measured over the window */
};

struct defrag_governor {
    struct server *srv;
    int simulate; /* DEFRAG=force: fragmentation is made up */
    uint64_t tick;
    int64_t time_hist[GOVERNOR_CPU_WINDOW];
    int hist_next, hist_fill;
    struct governor_shard *shards;
    struct mem_bin_stats bins[DEFRAG_HINT_MAX_BINS];
    /* Main thread writes, INFO reads. */
    _Atomic int running_pct;          /* active_defrag_running */
    _Atomic int64_t running_since_us; /* 0: not running */
    _Atomic uint64_t total_time_us;   /* completed running periods */
};

#define INTERPOLATE(x, x1, x2, y1, y2) ((y1) + ((x) - (x1)) * ((y2) - (y1)) / ((x2) - (x1)))

int shale_defrag_governor_cpu_pct(const struct defrag_params *p, double frag_pct,
                                  uint64_t frag_bytes, int running_pct)
{
    if (!p->enabled)
        return 0;
    if (!running_pct && (frag_pct < (double)p->threshold_lower || frag_bytes < p->ignore_bytes))
        return 0;
    double cpu;
    if (p->threshold_upper <= p->threshold_lower)
        cpu = (double)p->cycle_max;
    else
        cpu = INTERPOLATE(frag_pct, (double)p->threshold_lower, (double)p->threshold_upper,
                          (double)p->cycle_min, (double)p->cycle_max);
    int pct = (int)cpu;
    if (pct < p->cycle_min) /* Redis's LIMIT(), order included */
        pct = (int)p->cycle_min;
    else if (pct > p->cycle_max)
        pct = (int)p->cycle_max;
    /* Like Redis: a scan in progress may speed up, never slow down. */
    return pct > running_pct ? pct : running_pct;
}

void shale_defrag_governor_split(uint64_t pool, const uint64_t *weights, int n, uint32_t cap,
                                 uint32_t *out)
{
    uint8_t capped[n > 0 ? n : 1];
    for (int i = 0; i < n; i++) {
        out[i] = 0;
        capped[i] = 0;
    }
    uint64_t left = pool;
    for (int round = 0; round <= n && left > 0; round++) {
        unsigned __int128 total = 0;
        for (int i = 0; i < n; i++)
            if (!capped[i])
                total += weights[i];
        if (total == 0)
            return;
        int newly = 0;
        uint64_t given = 0;
        for (int i = 0; i < n; i++) {
            if (capped[i] || !weights[i])
                continue;
            if ((unsigned __int128)left * weights[i] / total >= cap) {
                out[i] = cap;
                capped[i] = 1;
                given += cap;
                newly = 1;
            }
        }
        if (newly) {
            left = left > given ? left - given : 0;
            continue;
        }
        for (int i = 0; i < n; i++)
            if (!capped[i] && weights[i])
                out[i] = (uint32_t)((unsigned __int128)left * weights[i] / total);
        return;
    }
}

struct defrag_governor *shale_defrag_governor_create(struct server *srv)
{
    struct defrag_governor *g = shale_calloc(1, sizeof(*g));
    g->srv = srv;
    g->simulate = strcmp(shale_mem_defrag_mode(), "force") == 0;
    g->shards = shale_calloc((size_t)srv->nshards, sizeof(*g->shards));
    return g;
}

void shale_defrag_governor_destroy(struct defrag_governor *g)
{
    if (!g)
        return;
    shale_free(g->shards);
    shale_free(g);
}

static struct defrag_timer_shared *shared_of(struct defrag_governor *g, int s)
{
    return shale_shard_defrag(g->srv->shards[s]);
}

static uint64_t shard_keys(struct defrag_governor *g, int s)
{
    const struct shard_public_stats *st = shale_shard_stats(g->srv->shards[s]);
    uint64_t keys = 0;
    for (int db = 0; db < g->srv->cfg->databases; db++)
        keys += atomic_load_explicit(&st->keys[db], memory_order_relaxed);
    return keys;
}

/* A shard arena's fragmentation as of this tick's refresh. */
static void shard_frag(struct defrag_governor *g, int s, double *pct, uint64_t *bytes)
{
    const struct shard_public_stats *st = shale_shard_stats(g->srv->shards[s]);
    uint64_t allocated = atomic_load_explicit(&st->mem_allocated, memory_order_relaxed);
    uint64_t active = atomic_load_explicit(&st->mem_active, memory_order_relaxed);
    *bytes = active > allocated ? active - allocated : 0;
    *pct = allocated ? ((double)active / (double)allocated - 1.0) * 100.0 : 0.0;
}

/* Cycles that began or ended since the last tick: log them; purge after.
 * While a cycle runs the shard's arena defers purging, so the slabs it
 * empties are returned by that one purge rather than by a stream of
 * madvise calls during the cycle (shale_mem_arena_defer_purge says why). */
static void observe_cycles(struct defrag_governor *g, int s, int64_t now)
{
    struct governor_shard *gs = &g->shards[s];
    struct defrag_timer_shared *sh = shared_of(g, s);
    uint64_t started = atomic_load_explicit(&sh->cycles_started, memory_order_acquire);
    uint64_t done = atomic_load_explicit(&sh->cycles_done, memory_order_acquire);
    double pct;
    uint64_t bytes;
    shard_frag(g, s, &pct, &bytes);
    if (started != gs->seen_started) {
        gs->seen_started = started;
        gs->cycle_start_us = now;
        gs->start_frag_pct = pct;
        gs->start_frag_bytes = bytes;
        shale_log(LOG_VERBOSE,
                  "Shard %d: starting active defrag, frag=%.0f%%, frag_bytes=%llu, cpu=%.2f%%%s", s,
                  pct, (unsigned long long)bytes, gs->share / 100.0,
                  g->simulate ? " (DEFRAG=force: fragmentation simulated)" : "");
    }
    if (done != gs->seen_done) {
        gs->seen_done = done;
        int64_t purge_start = clock_mono_us();
        shale_mem_arena_purge(shale_shard_arena(g->srv->shards[s]));
        shale_log(LOG_VERBOSE,
                  "Shard %d: active defrag done in %lldms, reallocated=%llu, frag=%.0f%% -> "
                  "%.0f%%, frag_bytes=%llu -> %llu, arena purged in %lldms",
                  s, (long long)(now - gs->cycle_start_us) / 1000,
                  (unsigned long long)atomic_load_explicit(&sh->cycle_hits, memory_order_relaxed),
                  gs->start_frag_pct, pct, (unsigned long long)gs->start_frag_bytes,
                  (unsigned long long)bytes, (long long)(clock_mono_us() - purge_start) / 1000);
    }
    int cycle_open = started != done;
    if (cycle_open != gs->purge_deferred) {
        shale_mem_arena_defer_purge(shale_shard_arena(g->srv->shards[s]), cycle_open);
        gs->purge_deferred = cycle_open;
    }
}

static void read_params(struct defrag_governor *g, struct defrag_params *p)
{
    const struct config *cfg = g->srv->cfg;
    p->enabled = config_live(cfg, activedefrag) && shale_mem_defrag_supported();
    p->threshold_lower = config_live(cfg, active_defrag_threshold_lower);
    p->threshold_upper = config_live(cfg, active_defrag_threshold_upper);
    p->cycle_min = config_live(cfg, active_defrag_cycle_min);
    p->cycle_max = config_live(cfg, active_defrag_cycle_max);
    p->ignore_bytes = (uint64_t)config_live(cfg, active_defrag_ignore_bytes);
}

/* The server-wide fragmentation and each shard's weight. */
static void assess(struct defrag_governor *g, const struct defrag_params *p, double *frag_pct,
                   uint64_t *frag_bytes, uint64_t *weights)
{
    int n = g->srv->nshards;
    if (g->simulate) {
        int any = 0;
        for (int s = 0; s < n; s++) {
            weights[s] = shard_keys(g, s);
            any |= weights[s] > 0;
        }
        *frag_pct = any ? (double)p->threshold_upper : 0.0;
        *frag_bytes = any ? p->ignore_bytes : 0;
        return;
    }
    const struct info_rates *r = &g->srv->rates;
    uint64_t allocated = atomic_load_explicit(&r->mem_allocated, memory_order_relaxed);
    uint64_t active = atomic_load_explicit(&r->mem_active, memory_order_relaxed);
    *frag_bytes = active > allocated ? active - allocated : 0;
    *frag_pct = allocated ? ((double)active / (double)allocated - 1.0) * 100.0 : 0.0;
    for (int s = 0; s < n; s++) {
        double pct;
        uint64_t bytes;
        shard_frag(g, s, &pct, &bytes);
        int fragmented =
            pct >= (double)p->threshold_lower && bytes >= p->ignore_bytes / (uint64_t)n;
        weights[s] = fragmented ? bytes : 0;
    }
}

/* Measured defrag CPU per shard, over the last GOVERNOR_CPU_WINDOW ticks. */
static void measure_cpu(struct defrag_governor *g, int64_t now)
{
    int n = g->srv->nshards;
    int slot = g->hist_next;
    int oldest = g->hist_fill < GOVERNOR_CPU_WINDOW ? 0 : slot;
    int64_t span = g->hist_fill ? now - g->time_hist[oldest] : 0;
    for (int s = 0; s < n; s++) {
        struct governor_shard *gs = &g->shards[s];
        uint64_t cpu = atomic_load_explicit(&shared_of(g, s)->cpu_us, memory_order_relaxed);
        uint32_t pct = 0;
        if (span > 0)
            pct = (uint32_t)((cpu - gs->cpu_hist[oldest]) * 10000 / (uint64_t)span);
        atomic_store_explicit(&gs->cpu_pct_x100, pct, memory_order_relaxed);
        gs->cpu_hist[slot] = cpu;
    }
    g->time_hist[slot] = now;
    g->hist_next = (slot + 1) % GOVERNOR_CPU_WINDOW;
    if (g->hist_fill < GOVERNOR_CPU_WINDOW)
        g->hist_fill++;
}

void shale_defrag_governor_tick(struct defrag_governor *g)
{
    struct server *srv = g->srv;
    int n = srv->nshards;
    int64_t now = clock_mono_us();
    struct defrag_params p;
    read_params(g, &p);

    int any_running = 0;
    for (int s = 0; s < n; s++) {
        observe_cycles(g, s, now);
        any_running |= atomic_load_explicit(&shared_of(g, s)->running, memory_order_relaxed) != 0;
    }
    double frag_pct;
    uint64_t frag_bytes;
    uint64_t weights[n];
    uint32_t shares[n];
    assess(g, &p, &frag_pct, &frag_bytes, weights);
    int running = atomic_load_explicit(&g->running_pct, memory_order_relaxed);
    int target = shale_defrag_governor_cpu_pct(&p, frag_pct, frag_bytes, any_running ? running : 0);
    uint32_t cap = (uint32_t)p.cycle_max * 100;
    shale_defrag_governor_split((uint64_t)target * 100 * (uint64_t)n, weights, n, cap, shares);

    uint64_t granted = 0;
    for (int s = 0; s < n; s++) {
        struct defrag_timer_shared *sh = shared_of(g, s);
        /* A cycle in progress keeps its share until it ends (Redis: the
         * effort never drops during a scan); disabling stops it. */
        if (p.enabled && atomic_load_explicit(&sh->running, memory_order_relaxed) &&
            g->shards[s].share > shares[s])
            shares[s] = g->shards[s].share < cap ? g->shards[s].share : cap;
        if (shares[s] && !g->simulate) {
            unsigned nb = shale_mem_arena_bin_stats(shale_shard_arena(srv->shards[s]), g->bins,
                                                    DEFRAG_HINT_MAX_BINS);
            shale_defrag_hint_publish(&sh->hint, g->bins, nb);
        }
        g->shards[s].share = shares[s];
        atomic_store_explicit(&sh->share, shares[s], memory_order_relaxed);
        atomic_store_explicit(&g->shards[s].share_pub, shares[s], memory_order_relaxed);
        granted += shares[s];
    }
    g->tick++;
    for (int s = 0; s < n; s++)
        atomic_store_explicit(&shared_of(g, s)->tick, g->tick, memory_order_release);

    int now_running = granted > 0 || any_running ? target : 0;
    atomic_store_explicit(&g->running_pct, now_running, memory_order_relaxed);
    int64_t since = atomic_load_explicit(&g->running_since_us, memory_order_relaxed);
    if (now_running && !since) {
        atomic_store_explicit(&g->running_since_us, now, memory_order_relaxed);
    } else if (!now_running && since) {
        atomic_fetch_add_explicit(&g->total_time_us, (uint64_t)(now - since), memory_order_relaxed);
        atomic_store_explicit(&g->running_since_us, 0, memory_order_relaxed);
    }
    measure_cpu(g, now);
}

/* ---- INFO ------------------------------------------------------------------- */

static uint64_t sum_shared(struct defrag_governor *g, size_t offset)
{
    uint64_t total = 0;
    for (int s = 0; s < g->srv->nshards; s++)
        total += atomic_load_explicit((_Atomic uint64_t *)((char *)shared_of(g, s) + offset),
                                      memory_order_relaxed);
    return total;
}

void shale_defrag_governor_figures(struct defrag_governor *g, struct defrag_figures *out)
{
#define SUM(field) sum_shared(g, offsetof(struct defrag_timer_shared, field))
    memset(out, 0, sizeof(*out));
    out->running_pct = (uint64_t)atomic_load_explicit(&g->running_pct, memory_order_relaxed);
    out->hits = SUM(hits);
    out->misses = SUM(misses);
    out->key_hits = SUM(key_hits);
    out->key_misses = SUM(key_misses);
    int64_t since = atomic_load_explicit(&g->running_since_us, memory_order_relaxed);
    int64_t current = since ? clock_mono_us() - since : 0;
    if (current < 0)
        current = 0;
    out->current_time_us = (uint64_t)current;
    out->total_time_us =
        atomic_load_explicit(&g->total_time_us, memory_order_relaxed) + out->current_time_us;
    out->cycles = SUM(cycles_done);
    out->scanned = SUM(scanned);
    out->cpu_us = SUM(cpu_us);
    out->run_us = SUM(wall_us);
    for (int s = 0; s < g->srv->nshards; s++) {
        out->cpu_pct_x100 += atomic_load_explicit(&g->shards[s].cpu_pct_x100, memory_order_relaxed);
        out->target_pct_x100 += atomic_load_explicit(&g->shards[s].share_pub, memory_order_relaxed);
    }
#undef SUM
}

void shale_defrag_governor_shard_figures(struct defrag_governor *g, int shard,
                                         struct defrag_shard_figures *out)
{
    struct defrag_timer_shared *sh = shared_of(g, shard);
#define LD(field) atomic_load_explicit(&sh->field, memory_order_relaxed)
    out->running = LD(running);
    out->share_pct_x100 = atomic_load_explicit(&g->shards[shard].share_pub, memory_order_relaxed);
    out->cpu_pct_x100 = atomic_load_explicit(&g->shards[shard].cpu_pct_x100, memory_order_relaxed);
    out->cpu_us = LD(cpu_us);
    out->run_us = LD(wall_us);
    out->runs = LD(runs);
    out->cycles = LD(cycles_done);
    out->hits = LD(hits);
    out->misses = LD(misses);
    out->key_hits = LD(key_hits);
    out->key_misses = LD(key_misses);
#undef LD
}

void shale_defrag_governor_info_memory(struct defrag_governor *g, struct resp_buf *out)
{
    shale_resp_add_textf(out, "active_defrag_running:%d\r\n",
                         atomic_load_explicit(&g->running_pct, memory_order_relaxed));
    shale_resp_add_textf(out, "shale_defrag_mode:%s\r\n", shale_mem_defrag_mode());
}

void shale_defrag_governor_info_stats(struct defrag_governor *g, struct resp_buf *out)
{
    struct defrag_figures f;
    shale_defrag_governor_figures(g, &f);
    shale_resp_add_textf(out, "active_defrag_hits:%llu\r\n", (unsigned long long)f.hits);
    shale_resp_add_textf(out, "active_defrag_misses:%llu\r\n", (unsigned long long)f.misses);
    shale_resp_add_textf(out, "active_defrag_key_hits:%llu\r\n", (unsigned long long)f.key_hits);
    shale_resp_add_textf(out, "active_defrag_key_misses:%llu\r\n",
                         (unsigned long long)f.key_misses);
    shale_resp_add_textf(out, "total_active_defrag_time:%llu\r\n",
                         (unsigned long long)f.total_time_us / 1000);
    shale_resp_add_textf(out, "current_active_defrag_time:%llu\r\n",
                         (unsigned long long)f.current_time_us / 1000);
    shale_resp_add_textf(out, "shale_active_defrag_cycles:%llu\r\n", (unsigned long long)f.cycles);
    shale_resp_add_textf(out, "shale_active_defrag_scanned:%llu\r\n",
                         (unsigned long long)f.scanned);
    shale_resp_add_textf(out, "shale_active_defrag_cpu_us:%llu\r\n", (unsigned long long)f.cpu_us);
    shale_resp_add_textf(out, "shale_active_defrag_run_us:%llu\r\n", (unsigned long long)f.run_us);
    /* Both in % of one CPU, summed over the shards. */
    shale_resp_add_textf(out, "shale_active_defrag_cpu_pct:%.2f\r\n", f.cpu_pct_x100 / 100.0);
    shale_resp_add_textf(out, "shale_active_defrag_target_pct:%.2f\r\n", f.target_pct_x100 / 100.0);
}

void shale_defrag_governor_info_shards(struct defrag_governor *g, struct resp_buf *out)
{
    for (int s = 0; s < g->srv->nshards; s++) {
        struct defrag_shard_figures f;
        shale_defrag_governor_shard_figures(g, s, &f);
        shale_resp_add_textf(
            out,
            "shard%d_defrag:running=%llu,share_pct=%.2f,cpu_pct=%.2f,cpu_us=%llu,run_us=%llu,"
            "runs=%llu,cycles=%llu,hits=%llu,misses=%llu,key_hits=%llu,key_misses=%llu\r\n",
            s, (unsigned long long)f.running, f.share_pct_x100 / 100.0, f.cpu_pct_x100 / 100.0,
            (unsigned long long)f.cpu_us, (unsigned long long)f.run_us, (unsigned long long)f.runs,
            (unsigned long long)f.cycles, (unsigned long long)f.hits, (unsigned long long)f.misses,
            (unsigned long long)f.key_hits, (unsigned long long)f.key_misses);
    }
}
