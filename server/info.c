/* info: see info.h. Each section is one function in the table below; the
 * table decides which sections "default", "all" and "everything" include. */
#include "server/info.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "net/io_thread.h"
#include "net/tls.h"
#include "server/clock.h"
#include "server/cmdstats.h"
#include "server/command.h"
#include "server/defrag_governor.h"
#include "server/maxmemory.h"
#include "server/mem.h"
#include "server/mem_plan.h"
#include "server/server.h"
#include "shards/evict.h"
#include "shards/shard.h"

static void human_bytes(char *out, size_t outlen, double n)
{
    const char *units = "BKMGTP";
    int u = 0;
    while (n >= 1024 && u < 5) {
        n /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(out, outlen, "%.0fB", n);
    else
        snprintf(out, outlen, "%.2f%c", n, units[u]);
}

static uint64_t sum_io(const struct server *srv, size_t offset)
{
    uint64_t total = 0;
    for (int i = 0; i < srv->nio; i++)
        total += atomic_load_explicit((_Atomic uint64_t *)((char *)&srv->io[i]->stats + offset),
                                      memory_order_relaxed);
    return total;
}

static uint64_t sum_shards(const struct server *srv, size_t offset)
{
    uint64_t total = 0;
    for (int i = 0; i < srv->nshards; i++) {
        const struct shard_public_stats *st = shale_shard_stats(srv->shards[i]);
        total +=
            atomic_load_explicit((_Atomic uint64_t *)((char *)st + offset), memory_order_relaxed);
    }
    return total;
}

void shale_info_sample(struct server *srv, struct info_rates *rates)
{
    int64_t now = clock_mono_us();
    uint64_t commands = sum_io(srv, offsetof(struct io_stats, commands));
    if (rates->last_us) {
        int64_t elapsed = now - rates->last_us;
        uint64_t rate =
            elapsed > 0 ? (commands - rates->last_commands) * 1000000 / (uint64_t)elapsed : 0;
        rates->samples[rates->next] = rate;
        rates->next = (rates->next + 1) % INFO_RATE_SAMPLES;
        uint64_t sum = 0;
        for (int i = 0; i < INFO_RATE_SAMPLES; i++)
            sum += rates->samples[i];
        atomic_store_explicit(&rates->ops_per_sec, sum / INFO_RATE_SAMPLES, memory_order_relaxed);
    }
    rates->last_us = now;
    rates->last_commands = commands;
}

void shale_info_sample_memory(struct server *srv, struct info_rates *rates)
{
    shale_mem_stats_refresh();
    struct mem_stats total;
    shale_mem_total_stats(&total);
    uint64_t cells_free = 0;
    for (int i = 0; i < srv->nshards; i++) {
        shale_shard_publish_memory(srv->shards[i]);
        cells_free += atomic_load_explicit(&shale_shard_stats(srv->shards[i])->mem_cells_free,
                                           memory_order_relaxed);
    }
    /* Free cells are left out of allocated, as in each shard's figures. */
    uint64_t allocated = total.allocated > cells_free ? total.allocated - cells_free : 0;
    atomic_store_explicit(&rates->mem_allocated, allocated, memory_order_relaxed);
    atomic_store_explicit(&rates->mem_active, total.active, memory_order_relaxed);
    atomic_store_explicit(&rates->mem_resident, total.resident, memory_order_relaxed);
}

static double ratio(uint64_t num, uint64_t den)
{
    return den ? (double)num / (double)den : 0.0;
}

static void section_server(struct server *srv, struct resp_buf *out)
{
    struct utsname un;
    uname(&un);
    int64_t now = clock_wall_us();
    int64_t uptime = (clock_mono_us() - srv->start_us) / 1000000;
    shale_resp_add_textf(out, "redis_version:%s\r\n", SHALE_REDIS_VERSION);
    shale_resp_add_textf(out,
                         "redis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\n");
    shale_resp_add_textf(out, "redis_mode:standalone\r\n");
    shale_resp_add_textf(out, "shale_version:%s\r\n", SHALE_VERSION);
    shale_resp_add_textf(out, "os:%s %s %s\r\n", un.sysname, un.release, un.machine);
    shale_resp_add_textf(out, "arch_bits:%d\r\n", (int)(sizeof(void *) * 8));
    shale_resp_add_textf(out, "multiplexing_api:epoll\r\natomicvar_api:c11-builtin\r\n");
    shale_resp_add_textf(out, "gcc_version:%d.%d.%d\r\n", __GNUC__, __GNUC_MINOR__,
                         __GNUC_PATCHLEVEL__);
    shale_resp_add_textf(out, "process_id:%d\r\nprocess_supervised:no\r\n", (int)getpid());
    shale_resp_add_textf(out, "run_id:%s\r\n", srv->run_id);
    shale_resp_add_textf(out, "tcp_port:%d\r\n", srv->tcp_port);
    shale_resp_add_textf(out, "server_time_usec:%lld\r\n", (long long)now);
    shale_resp_add_textf(out, "uptime_in_seconds:%lld\r\nuptime_in_days:%lld\r\n",
                         (long long)uptime, (long long)uptime / 86400);
    shale_resp_add_textf(out, "hz:10\r\nconfigured_hz:10\r\n");
    shale_resp_add_textf(out, "lru_clock:%lld\r\n", (long long)((now / 1000000) & 0xffffff));
    shale_resp_add_textf(out, "io_threads_active:1\r\n");
    shale_resp_add_textf(out, "shale_io_threads:%d\r\nshale_shards:%d\r\n", srv->nio, srv->nshards);
}

static void section_clients(struct server *srv, struct resp_buf *out)
{
    shale_resp_add_textf(out, "connected_clients:%llu\r\n",
                         (unsigned long long)atomic_load(&srv->clients.connected));
    shale_resp_add_textf(out, "cluster_connections:0\r\n");
    shale_resp_add_textf(out, "maxclients:%lld\r\n", srv->cfg->maxclients);
    shale_resp_add_textf(
        out, "client_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\n");
    shale_resp_add_textf(
        out, "blocked_clients:0\r\ntracking_clients:0\r\nclients_in_timeout_table:0\r\n");
}

static void section_memory(struct server *srv, struct resp_buf *out)
{
    /* The figures /metrics shows too (shale_info_memory). */
    struct info_memory m;
    shale_info_memory(srv, &m);
    uint64_t used = m.used, active = m.active, resident = m.resident;
    struct mem_plan plan;
    shale_mem_plan_compute(srv->cfg, srv->nio, srv->nshards, &plan);
    char h1[32], h2[32], h3[32], h4[32];
    human_bytes(h4, sizeof(h4), (double)m.maxmemory);
    human_bytes(h1, sizeof(h1), (double)used);
    human_bytes(h2, sizeof(h2), (double)m.rss);
    human_bytes(h3, sizeof(h3), (double)plan.static_bytes);
    shale_resp_add_textf(out, "used_memory:%llu\r\nused_memory_human:%s\r\n",
                         (unsigned long long)used, h1);
    shale_resp_add_textf(out, "used_memory_rss:%llu\r\nused_memory_rss_human:%s\r\n",
                         (unsigned long long)m.rss, h2);
    shale_resp_add_textf(out, "maxmemory:%llu\r\nmaxmemory_human:%s\r\nmaxmemory_policy:%s\r\n",
                         (unsigned long long)m.maxmemory, h4, m.policy_name);
    shale_resp_add_textf(
        out, "allocator_allocated:%llu\r\nallocator_active:%llu\r\nallocator_resident:%llu\r\n",
        (unsigned long long)used, (unsigned long long)active, (unsigned long long)resident);
    shale_resp_add_textf(out, "allocator_frag_ratio:%.2f\r\nallocator_frag_bytes:%lld\r\n",
                         ratio(active, used), (long long)active - (long long)used);
    shale_resp_add_textf(out, "mem_fragmentation_ratio:%.2f\r\n", ratio(m.rss, used));
    shale_resp_add_textf(out, "mem_allocator:%s\r\n", shale_mem_allocator_name());
    shale_defrag_governor_info_memory(srv->defrag, out);
    /* Under libc there are no arenas: the shard lines in "shale" read 0. */
    shale_resp_add_textf(out, "shale_shard_memory:%s\r\n",
                         shale_mem_has_arena_stats() ? "jemalloc-arenas" : "unavailable-libc");
    shale_resp_add_textf(out, "shale_static_bytes:%zu\r\nshale_static_bytes_human:%s\r\n",
                         plan.static_bytes, h3);
    shale_resp_add_textf(out, "shale_conn_slot_bytes:%zu\r\n", plan.conn_slot_bytes);
    shale_resp_add_textf(out, "shale_data_budget:%zu\r\n", plan.data_budget);
    shale_resp_add_textf(out, "shale_nonshard_bytes:%llu\r\n",
                         (unsigned long long)shale_maxmemory_nonshard(srv));
}

static void section_persistence(struct server *srv, struct resp_buf *out)
{
    shale_resp_add_textf(out, "loading:0\r\nasync_loading:0\r\nrdb_changes_since_last_save:0\r\n");
    shale_resp_add_textf(out, "rdb_bgsave_in_progress:0\r\nrdb_last_bgsave_status:ok\r\n");
    shale_resp_add_textf(out, "aof_enabled:0\r\naof_rewrite_in_progress:0\r\n");
}

/* A counter since the last CONFIG RESETSTAT. */
static unsigned long long counter(struct server *srv, enum stat_counter which)
{
    return (unsigned long long)shale_cmdstats_counter(srv, which);
}

static void section_stats(struct server *srv, struct resp_buf *out)
{
    shale_resp_add_textf(out, "total_connections_received:%llu\r\n",
                         counter(srv, STAT_CONNECTIONS_RECEIVED));
    shale_resp_add_textf(out, "total_commands_processed:%llu\r\n",
                         counter(srv, STAT_COMMANDS_PROCESSED));
    shale_resp_add_textf(
        out, "instantaneous_ops_per_sec:%llu\r\n",
        (unsigned long long)atomic_load_explicit(&srv->rates.ops_per_sec, memory_order_relaxed));
    shale_resp_add_textf(out, "total_net_input_bytes:%llu\r\n", counter(srv, STAT_NET_INPUT_BYTES));
    shale_resp_add_textf(out, "total_net_output_bytes:%llu\r\n",
                         counter(srv, STAT_NET_OUTPUT_BYTES));
    shale_resp_add_textf(out, "rejected_connections:%llu\r\n",
                         counter(srv, STAT_REJECTED_CONNECTIONS));
    shale_resp_add_textf(out, "client_query_buffer_limit_disconnections:%llu\r\n",
                         counter(srv, STAT_QBUF_LIMIT_DISCONNECTIONS));
    shale_resp_add_textf(out, "client_output_buffer_limit_disconnections:%llu\r\n",
                         counter(srv, STAT_OBUF_LIMIT_DISCONNECTIONS));
    shale_resp_add_textf(out, "expired_keys:%llu\r\n", counter(srv, STAT_EXPIRED_KEYS));
    uint64_t stale = sum_shards(srv, offsetof(struct shard_public_stats, expire_stale_perc_x10000));
    shale_resp_add_textf(out, "expired_stale_perc:%.2f\r\n", (double)stale / 100.0 / srv->nshards);
    shale_resp_add_textf(out, "expired_time_cap_reached_count:%llu\r\n",
                         counter(srv, STAT_EXPIRED_TIME_CAP_REACHED));
    shale_resp_add_textf(out, "expire_cycle_cpu_milliseconds:%llu\r\n",
                         counter(srv, STAT_EXPIRE_CYCLE_CPU_US) / 1000);
    shale_resp_add_textf(out, "evicted_keys:%llu\r\n", counter(srv, STAT_EVICTED_KEYS));
    shale_resp_add_textf(out, "keyspace_hits:%llu\r\n", counter(srv, STAT_KEYSPACE_HITS));
    shale_resp_add_textf(out, "keyspace_misses:%llu\r\n", counter(srv, STAT_KEYSPACE_MISSES));
    shale_resp_add_textf(out, "pubsub_channels:0\r\npubsub_patterns:0\r\n");
    shale_resp_add_textf(out, "total_error_replies:%llu\r\n", counter(srv, STAT_ERROR_REPLIES));
    shale_defrag_governor_info_stats(srv->defrag, out);
}

static void section_replication(struct server *srv, struct resp_buf *out)
{
    shale_resp_add_textf(out, "role:master\r\nconnected_slaves:0\r\n");
    shale_resp_add_textf(out, "master_replid:%s\r\nmaster_repl_offset:0\r\n", srv->run_id);
}

static void section_cpu(struct server *srv, struct resp_buf *out)
{
    struct rusage self;
    getrusage(RUSAGE_SELF, &self);
    shale_resp_add_textf(out, "used_cpu_sys:%ld.%06ld\r\nused_cpu_user:%ld.%06ld\r\n",
                         (long)self.ru_stime.tv_sec, (long)self.ru_stime.tv_usec,
                         (long)self.ru_utime.tv_sec, (long)self.ru_utime.tv_usec);
}

static void section_modules(struct server *srv, struct resp_buf *out)
{
    /* No modules: the section is there, empty, as in Redis. */
}

static void section_cluster(struct server *srv, struct resp_buf *out)
{
    shale_resp_add_textf(out, "cluster_enabled:0\r\n");
}

static void section_keyspace(struct server *srv, struct resp_buf *out)
{
    for (int db = 0; db < srv->cfg->databases; db++) {
        uint64_t keys = 0, expires = 0, ttl_weight = 0;
        double ttl_weighted = 0;
        for (int s = 0; s < srv->nshards; s++) {
            const struct shard_public_stats *st = shale_shard_stats(srv->shards[s]);
            keys += atomic_load_explicit(&st->keys[db], memory_order_relaxed);
            uint64_t e = atomic_load_explicit(&st->expires[db], memory_order_relaxed);
            uint64_t avg = atomic_load_explicit(&st->avg_ttl[db], memory_order_relaxed);
            expires += e;
            /* Shards weigh by their keys with a TTL; one that has not
             * sampled yet (avg 0) does not pull the mean down. */
            if (avg) {
                ttl_weighted += (double)avg * (double)e;
                ttl_weight += e;
            }
        }
        if (keys)
            shale_resp_add_textf(
                out, "db%d:keys=%llu,expires=%llu,avg_ttl=%llu\r\n", db, (unsigned long long)keys,
                (unsigned long long)expires,
                (unsigned long long)(ttl_weight ? ttl_weighted / (double)ttl_weight : 0));
    }
}

/* TLS counters (net/tls.h); Redis 7.0 has none to match. */
static void tls_lines(struct server *srv, struct resp_buf *out)
{
    const struct tls_stats *st = shale_tls_stats(srv->tls);
#define TLS_LINE(name, kind, help)                                                                 \
    shale_resp_add_textf(                                                                          \
        out, "tls_" #name ":%llu\r\n",                                                             \
        (unsigned long long)atomic_load_explicit(&st->name, memory_order_relaxed));
    TLS_STATS(TLS_LINE)
#undef TLS_LINE
}

static void section_shale(struct server *srv, struct resp_buf *out)
{
    tls_lines(srv, out);
    for (int s = 0; s < srv->nshards; s++) {
        const struct shard_public_stats *st = shale_shard_stats(srv->shards[s]);
        uint64_t keys = 0;
        for (int db = 0; db < srv->cfg->databases; db++)
            keys += atomic_load_explicit(&st->keys[db], memory_order_relaxed);
        uint64_t allocated = atomic_load_explicit(&st->mem_allocated, memory_order_relaxed);
        uint64_t active = atomic_load_explicit(&st->mem_active, memory_order_relaxed);
        shale_resp_add_textf(
            out,
            "shard%d:keys=%llu,commands=%llu,used_memory=%llu,active=%llu,resident=%llu,"
            "frag_ratio=%.2f,frag_bytes=%lld,keyspace_bytes=%llu,maxmemory=%llu,"
            "evicted_keys=%llu,cells_free=%llu\r\n",
            s, (unsigned long long)keys,
            (unsigned long long)atomic_load_explicit(&st->commands, memory_order_relaxed),
            (unsigned long long)allocated, (unsigned long long)active,
            (unsigned long long)atomic_load_explicit(&st->mem_resident, memory_order_relaxed),
            ratio(active, allocated), (long long)active - (long long)allocated,
            (unsigned long long)atomic_load_explicit(&st->mem_keyspace, memory_order_relaxed),
            (unsigned long long)shale_info_shard_maxmemory(srv, s),
            (unsigned long long)atomic_load_explicit(&st->evicted_keys, memory_order_relaxed),
            (unsigned long long)atomic_load_explicit(&st->mem_cells_free, memory_order_relaxed));
    }
    shale_defrag_governor_info_shards(srv->defrag, out);
}

static const struct {
    const char *name;
    const char *title;
    int in_default;
    void (*build)(struct server *srv, struct resp_buf *out);
} sections[] = {
    {"server", "Server", 1, section_server},
    {"clients", "Clients", 1, section_clients},
    {"memory", "Memory", 1, section_memory},
    {"persistence", "Persistence", 1, section_persistence},
    {"stats", "Stats", 1, section_stats},
    {"replication", "Replication", 1, section_replication},
    {"cpu", "CPU", 1, section_cpu},
    {"modules", "Modules", 1, section_modules},
    {"commandstats", "Commandstats", 0, shale_cmdstats_info_commands},
    {"errorstats", "Errorstats", 1, shale_cmdstats_info_errors},
    {"latencystats", "Latencystats", 0, shale_cmdstats_info_latency},
    {"cluster", "Cluster", 1, section_cluster},
    {"keyspace", "Keyspace", 1, section_keyspace},
    {"shale", "Shale", 0, section_shale},
};
#define NSECTIONS (sizeof(sections) / sizeof(sections[0]))

void shale_info_build(struct server *srv, struct resp_buf *out, int nargs, const struct slice *args)
{
    int want[NSECTIONS] = {0};
    for (size_t i = 0; i < NSECTIONS; i++)
        want[i] = nargs == 0 && sections[i].in_default;
    for (int a = 0; a < nargs; a++) {
        int all = slice_eq_nocase(args[a], "all") || slice_eq_nocase(args[a], "everything");
        int dflt = slice_eq_nocase(args[a], "default");
        for (size_t i = 0; i < NSECTIONS; i++)
            if (all || (dflt && sections[i].in_default) ||
                slice_eq_nocase(args[a], sections[i].name))
                want[i] = 1;
    }
    int first = 1;
    for (size_t i = 0; i < NSECTIONS; i++) {
        if (!want[i])
            continue;
        shale_resp_add_textf(out, "%s# %s\r\n", first ? "" : "\r\n", sections[i].title);
        sections[i].build(srv, out);
        first = 0;
    }
}

uint64_t shale_info_io_sum(const struct server *srv, size_t offset)
{
    return sum_io(srv, offset);
}

uint64_t shale_info_shard_sum(const struct server *srv, size_t offset)
{
    return sum_shards(srv, offset);
}

void shale_info_db_keys(const struct server *srv, int db, uint64_t *keys, uint64_t *expires)
{
    *keys = *expires = 0;
    for (int s = 0; s < srv->nshards; s++) {
        const struct shard_public_stats *st = shale_shard_stats(srv->shards[s]);
        *keys += atomic_load_explicit(&st->keys[db], memory_order_relaxed);
        *expires += atomic_load_explicit(&st->expires[db], memory_order_relaxed);
    }
}

void shale_info_memory(struct server *srv, struct info_memory *out)
{
    const struct info_rates *r = &srv->rates;
    out->used = atomic_load_explicit(&r->mem_allocated, memory_order_relaxed);
    out->active = atomic_load_explicit(&r->mem_active, memory_order_relaxed);
    out->resident = atomic_load_explicit(&r->mem_resident, memory_order_relaxed);
    out->rss = shale_mem_rss();
    struct mem_plan plan;
    shale_mem_plan_compute(srv->cfg, srv->nio, srv->nshards, &plan);
    out->static_bytes = plan.static_bytes;
    out->data_budget = plan.data_budget;
    out->maxmemory = (uint64_t)config_live(srv->cfg, maxmemory);
    out->policy_name = shale_evict_policy_name((int)config_live(srv->cfg, maxmemory_policy));
}

uint64_t shale_info_shard_maxmemory(const struct server *srv, int shard)
{
    uint64_t limit = shale_shard_memory_limit(srv->shards[shard]);
    return limit == EVICT_NO_LIMIT ? 0 : limit;
}
