/* metrics: see metrics.h. Families are rows of the tables below; each is
 * read from the same published counters INFO reads (server/info.h
 * accessors, the TLS counters' table in net/tls.h, the defrag governor's
 * figures), so a scrape and INFO agree. Main thread; reads only relaxed
 * atomics and thread CPU clocks. */
#include "server/metrics.h"

#include <event2/buffer.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "net/io_thread.h"
#include "net/tls.h"
#include "server/clock.h"
#include "server/cmdstats.h"
#include "server/command.h"
#include "server/defrag_governor.h"
#include "server/health.h"
#include "server/info.h"
#include "server/latency.h"
#include "server/lifecycle.h"
#include "server/maxmemory.h"
#include "server/mem.h"
#include "server/server.h"
#include "shards/shard.h"

enum source {
    SRC_IO_SUM,    /* _Atomic uint64_t in struct io_stats, summed over I/O threads */
    SRC_SHARD_SUM, /* _Atomic uint64_t in struct shard_public_stats, summed over shards */
    SRC_CLIENTS,   /* _Atomic uint64_t in struct clients */
    SRC_TLS,       /* _Atomic uint64_t in struct tls_stats */
};

struct scalar_row {
    const char *name;
    const char *type;
    const char *help;
    enum source src;
    size_t offset;
    double scale; /* to base units */
};

/* shale_tls_<name>, with _total on counters, for INFO shale's tls_<name>. */
#define TLS_SUFFIX_counter "_total"
#define TLS_SUFFIX_gauge   ""
#define TLS_ROW(field, kind, text)                                                                 \
    {.name = "shale_tls_" #field TLS_SUFFIX_##kind,                                                \
     .type = #kind,                                                                                \
     .help = text " (tls_" #field ")",                                                             \
     .src = SRC_TLS,                                                                               \
     .offset = offsetof(struct tls_stats, field),                                                  \
     .scale = 1},

/* Names follow redis_exporter's (shale_ prefix, _total counters, base units). */
static const struct scalar_row scalar_rows[] = {
    {"shale_connected_clients", "gauge", "Client connections open (connected_clients)", SRC_CLIENTS,
     offsetof(struct clients, connected), 1},
    {"shale_connections_received_total", "counter",
     "Client connections accepted (total_connections_received)", SRC_CLIENTS,
     offsetof(struct clients, total_received), 1},
    {"shale_rejected_connections_total", "counter",
     "Client connections refused: maxclients or protected mode (rejected_connections)", SRC_CLIENTS,
     offsetof(struct clients, rejected), 1},
    {"shale_commands_processed_total", "counter", "Commands run (total_commands_processed)",
     SRC_IO_SUM, offsetof(struct io_stats, commands), 1},
    {"shale_net_input_bytes_total", "counter", "Bytes read from clients (total_net_input_bytes)",
     SRC_IO_SUM, offsetof(struct io_stats, net_input), 1},
    {"shale_net_output_bytes_total", "counter", "Bytes written to clients (total_net_output_bytes)",
     SRC_IO_SUM, offsetof(struct io_stats, net_output), 1},
    {"shale_keyspace_hits_total", "counter", "Key lookups that found the key (keyspace_hits)",
     SRC_SHARD_SUM, offsetof(struct shard_public_stats, keyspace_hits), 1},
    {"shale_keyspace_misses_total", "counter", "Key lookups that did not (keyspace_misses)",
     SRC_SHARD_SUM, offsetof(struct shard_public_stats, keyspace_misses), 1},
    {"shale_expired_keys_total", "counter", "Keys removed because their TTL passed (expired_keys)",
     SRC_SHARD_SUM, offsetof(struct shard_public_stats, expired_keys), 1},
    {"shale_expired_time_cap_reached_total", "counter",
     "Active expiry slices that stopped at their time budget (expired_time_cap_reached_count)",
     SRC_SHARD_SUM, offsetof(struct shard_public_stats, expire_time_cap_reached), 1},
    {"shale_expire_cycle_cpu_seconds_total", "counter",
     "Time spent in active expiry (expire_cycle_cpu_milliseconds)", SRC_SHARD_SUM,
     offsetof(struct shard_public_stats, expire_cpu_us), 1e-6},
    {"shale_evicted_keys_total", "counter", "Keys evicted to stay under maxmemory (evicted_keys)",
     SRC_SHARD_SUM, offsetof(struct shard_public_stats, evicted_keys), 1},
    {"shale_error_replies_total", "counter", "Error replies sent (total_error_replies)", SRC_IO_SUM,
     offsetof(struct io_stats, errors.total), 1},
    {"shale_client_query_buffer_limit_disconnections_total", "counter",
     "Clients closed for exceeding client-query-buffer-limit "
     "(client_query_buffer_limit_disconnections)",
     SRC_IO_SUM, offsetof(struct io_stats, qbuf_limit_closed), 1},
    {"shale_client_output_buffer_limit_disconnections_total", "counter",
     "Clients closed for exceeding client-output-buffer-limit "
     "(client_output_buffer_limit_disconnections)",
     SRC_IO_SUM, offsetof(struct io_stats, obuf_limit_closed), 1},
    TLS_STATS(TLS_ROW)
#undef TLS_ROW
};

struct shard_row {
    const char *name;
    const char *type;
    const char *help;
    size_t offset; /* in struct shard_public_stats */
};

static const struct shard_row shard_rows[] = {
    {"shale_shard_commands_total", "counter", "Commands (or command parts) a shard ran",
     offsetof(struct shard_public_stats, commands)},
    {"shale_shard_keyspace_hits_total", "counter", "keyspace_hits of one shard",
     offsetof(struct shard_public_stats, keyspace_hits)},
    {"shale_shard_keyspace_misses_total", "counter", "keyspace_misses of one shard",
     offsetof(struct shard_public_stats, keyspace_misses)},
    {"shale_shard_expired_keys_total", "counter", "expired_keys of one shard",
     offsetof(struct shard_public_stats, expired_keys)},
    {"shale_shard_memory_used_bytes", "gauge",
     "Bytes allocated in the shard's jemalloc arena (0 under libc)",
     offsetof(struct shard_public_stats, mem_allocated)},
    {"shale_shard_memory_active_bytes", "gauge", "Active pages of the shard's arena",
     offsetof(struct shard_public_stats, mem_active)},
    {"shale_shard_memory_resident_bytes", "gauge", "Resident bytes of the shard's arena",
     offsetof(struct shard_public_stats, mem_resident)},
    {"shale_shard_keyspace_bytes", "gauge",
     "Bytes the shard's keys and values hold, as eviction counts them (keyspace_bytes)",
     offsetof(struct shard_public_stats, mem_keyspace)},
    {"shale_shard_evicted_keys_total", "counter", "evicted_keys of one shard",
     offsetof(struct shard_public_stats, evicted_keys)},
};

/* A figure in a snapshot struct of plain uint64_t (struct defrag_figures,
 * struct defrag_shard_figures), scaled to base units. */
struct figure_row {
    const char *name;
    const char *type;
    const char *help;
    size_t offset;
    double scale;
};

/* The Redis fields keep redis_exporter's names (defrag_hits ...), with
 * _total; shale's own follow INFO's shale_active_defrag_*. */
static const struct figure_row defrag_rows[] = {
    {"shale_active_defrag_running", "gauge",
     "CPU % granted to active defrag while a cycle runs, 0 when idle (active_defrag_running)",
     offsetof(struct defrag_figures, running_pct), 1},
    {"shale_defrag_hits_total", "counter",
     "Allocations moved by active defrag (active_defrag_hits)",
     offsetof(struct defrag_figures, hits), 1},
    {"shale_defrag_misses_total", "counter",
     "Allocations active defrag looked at and left (active_defrag_misses)",
     offsetof(struct defrag_figures, misses), 1},
    {"shale_defrag_key_hits_total", "counter",
     "Keys with an allocation moved by active defrag (active_defrag_key_hits)",
     offsetof(struct defrag_figures, key_hits), 1},
    {"shale_defrag_key_misses_total", "counter",
     "Keys active defrag looked at and left (active_defrag_key_misses)",
     offsetof(struct defrag_figures, key_misses), 1},
    {"shale_active_defrag_time_seconds_total", "counter",
     "Time some shard had a defrag cycle in progress (total_active_defrag_time)",
     offsetof(struct defrag_figures, total_time_us), 1e-6},
    {"shale_active_defrag_current_time_seconds", "gauge",
     "Age of the defrag period in progress, 0 when idle (current_active_defrag_time)",
     offsetof(struct defrag_figures, current_time_us), 1e-6},
    {"shale_active_defrag_cycles_total", "counter",
     "Defrag cycles completed, all shards (shale_active_defrag_cycles)",
     offsetof(struct defrag_figures, cycles), 1},
    {"shale_active_defrag_scanned_total", "counter",
     "Entries the defrag walk visited (shale_active_defrag_scanned)",
     offsetof(struct defrag_figures, scanned), 1},
    {"shale_active_defrag_cpu_seconds_total", "counter",
     "Shard thread CPU time spent in defrag runs (shale_active_defrag_cpu_us)",
     offsetof(struct defrag_figures, cpu_us), 1e-6},
    {"shale_active_defrag_run_seconds_total", "counter",
     "Wall-clock time spent in defrag runs (shale_active_defrag_run_us)",
     offsetof(struct defrag_figures, run_us), 1e-6},
    {"shale_active_defrag_cpu_ratio", "gauge",
     "Defrag CPU over the last second in CPUs, summed over shards "
     "(shale_active_defrag_cpu_pct/100)",
     offsetof(struct defrag_figures, cpu_pct_x100), 1e-4},
    {"shale_active_defrag_target_cpu_ratio", "gauge",
     "Defrag CPU granted in CPUs, summed over shards (shale_active_defrag_target_pct/100)",
     offsetof(struct defrag_figures, target_pct_x100), 1e-4},
};

/* INFO shale's shardN_defrag fields, one family each, labelled by shard. */
static const struct figure_row shard_defrag_rows[] = {
    {"shale_shard_defrag_running", "gauge", "1 while the shard has a defrag cycle in progress",
     offsetof(struct defrag_shard_figures, running), 1},
    {"shale_shard_defrag_target_cpu_ratio", "gauge",
     "Share of the shard's time granted to defrag (share_pct/100)",
     offsetof(struct defrag_shard_figures, share_pct_x100), 1e-4},
    {"shale_shard_defrag_cpu_ratio", "gauge",
     "Share of a CPU the shard spent in defrag over the last second (cpu_pct/100)",
     offsetof(struct defrag_shard_figures, cpu_pct_x100), 1e-4},
    {"shale_shard_defrag_cpu_seconds_total", "counter",
     "Thread CPU time in the shard's defrag runs", offsetof(struct defrag_shard_figures, cpu_us),
     1e-6},
    {"shale_shard_defrag_run_seconds_total", "counter",
     "Wall-clock time in the shard's defrag runs", offsetof(struct defrag_shard_figures, run_us),
     1e-6},
    {"shale_shard_defrag_runs_total", "counter", "Defrag runs (timer slices) of the shard",
     offsetof(struct defrag_shard_figures, runs), 1},
    {"shale_shard_defrag_cycles_total", "counter", "Defrag cycles the shard completed",
     offsetof(struct defrag_shard_figures, cycles), 1},
    {"shale_shard_defrag_hits_total", "counter", "Allocations the shard's defrag moved",
     offsetof(struct defrag_shard_figures, hits), 1},
    {"shale_shard_defrag_misses_total", "counter", "Allocations the shard's defrag left",
     offsetof(struct defrag_shard_figures, misses), 1},
    {"shale_shard_defrag_key_hits_total", "counter",
     "Keys with an allocation the shard's defrag moved",
     offsetof(struct defrag_shard_figures, key_hits), 1},
    {"shale_shard_defrag_key_misses_total", "counter", "Keys the shard's defrag left",
     offsetof(struct defrag_shard_figures, key_misses), 1},
};

#define NROWS(t) (sizeof(t) / sizeof((t)[0]))

static void family(struct evbuffer *out, const char *name, const char *type, const char *help)
{
    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void put_u64(struct evbuffer *out, const char *name, const char *labels, uint64_t v)
{
    evbuffer_add_printf(out, "%s%s %llu\n", name, labels, (unsigned long long)v);
}

static void put_f64(struct evbuffer *out, const char *name, const char *labels, double v)
{
    evbuffer_add_printf(out, "%s%s %.9g\n", name, labels, v);
}

static void put_scaled(struct evbuffer *out, const char *name, const char *labels, uint64_t v,
                       double scale)
{
    if (scale == 1)
        put_u64(out, name, labels, v);
    else
        put_f64(out, name, labels, (double)v * scale);
}

static uint64_t figure(const void *base, size_t offset)
{
    uint64_t v;
    memcpy(&v, (const char *)base + offset, sizeof(v));
    return v;
}

static double ratio(uint64_t num, uint64_t den)
{
    return den ? (double)num / (double)den : 0.0;
}

static uint64_t load(const void *base, size_t offset)
{
    return atomic_load_explicit((_Atomic uint64_t *)((const char *)base + offset),
                                memory_order_relaxed);
}

static double thread_cpu_seconds(pthread_t thread)
{
    clockid_t cid;
    struct timespec ts;
    if (pthread_getcpuclockid(thread, &cid) != 0 || clock_gettime(cid, &ts) != 0)
        return 0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void server_families(struct server *srv, struct evbuffer *out)
{
    char labels[256];
    family(out, "shale_instance_info", "gauge", "Build and identity of this server");
    snprintf(labels, sizeof(labels),
             "{version=\"%s\",redis_version=\"%s\",run_id=\"%s\",mode=\"standalone\"}",
             SHALE_VERSION, SHALE_REDIS_VERSION, srv->run_id);
    put_u64(out, "shale_instance_info", labels, 1);
    family(out, "shale_uptime_in_seconds", "gauge", "Seconds since start (uptime_in_seconds)");
    put_u64(out, "shale_uptime_in_seconds", "",
            (uint64_t)((clock_mono_us() - srv->start_us) / 1000000));
    family(out, "shale_ready", "gauge", "1 while serving; 0 while starting or shutting down");
    put_u64(out, "shale_ready", "", shale_lifecycle_state(srv->life) == LIFECYCLE_RUNNING);
    family(out, "shale_io_threads", "gauge", "I/O threads");
    put_u64(out, "shale_io_threads", "", (uint64_t)srv->nio);
    family(out, "shale_shards", "gauge", "Shard threads");
    put_u64(out, "shale_shards", "", (uint64_t)srv->nshards);
    family(out, "shale_max_clients", "gauge", "maxclients");
    put_u64(out, "shale_max_clients", "", (uint64_t)srv->cfg->maxclients);
    family(out, "shale_instantaneous_ops_per_sec", "gauge",
           "Commands per second over the last 1.6 s (instantaneous_ops_per_sec)");
    put_u64(out, "shale_instantaneous_ops_per_sec", "",
            atomic_load_explicit(&srv->rates.ops_per_sec, memory_order_relaxed));

    for (size_t i = 0; i < NROWS(scalar_rows); i++) {
        const struct scalar_row *row = &scalar_rows[i];
        uint64_t v = 0;
        switch (row->src) {
        case SRC_IO_SUM:
            v = shale_info_io_sum(srv, row->offset);
            break;
        case SRC_SHARD_SUM:
            v = shale_info_shard_sum(srv, row->offset);
            break;
        case SRC_CLIENTS:
            v = load(&srv->clients, row->offset);
            break;
        case SRC_TLS:
            v = load(shale_tls_stats(srv->tls), row->offset);
            break;
        }
        family(out, row->name, row->type, row->help);
        put_scaled(out, row->name, "", v, row->scale);
    }
    uint64_t stale =
        shale_info_shard_sum(srv, offsetof(struct shard_public_stats, expire_stale_perc_x10000));
    family(out, "shale_expired_stale_percentage", "gauge",
           "Estimated share of keys already expired (expired_stale_perc)");
    put_f64(out, "shale_expired_stale_percentage", "", (double)stale / 100.0 / srv->nshards);

    struct rusage self;
    getrusage(RUSAGE_SELF, &self);
    family(out, "shale_cpu_sys_seconds_total", "counter", "System CPU time (used_cpu_sys)");
    put_f64(out, "shale_cpu_sys_seconds_total", "",
            (double)self.ru_stime.tv_sec + (double)self.ru_stime.tv_usec / 1e6);
    family(out, "shale_cpu_user_seconds_total", "counter", "User CPU time (used_cpu_user)");
    put_f64(out, "shale_cpu_user_seconds_total", "",
            (double)self.ru_utime.tv_sec + (double)self.ru_utime.tv_usec / 1e6);
}

static void keyspace_families(struct server *srv, struct evbuffer *out)
{
    char labels[32];
    family(out, "shale_db_keys", "gauge", "Keys per database (dbN:keys)");
    for (int db = 0; db < srv->cfg->databases; db++) {
        uint64_t keys, expires;
        shale_info_db_keys(srv, db, &keys, &expires);
        snprintf(labels, sizeof(labels), "{db=\"db%d\"}", db);
        put_u64(out, "shale_db_keys", labels, keys);
    }
    family(out, "shale_db_keys_expiring", "gauge", "Keys with a TTL per database (dbN:expires)");
    for (int db = 0; db < srv->cfg->databases; db++) {
        uint64_t keys, expires;
        shale_info_db_keys(srv, db, &keys, &expires);
        snprintf(labels, sizeof(labels), "{db=\"db%d\"}", db);
        put_u64(out, "shale_db_keys_expiring", labels, expires);
    }
}

static void memory_families(struct server *srv, struct evbuffer *out)
{
    struct info_memory m;
    shale_info_memory(srv, &m);
    static const struct {
        const char *name, *help;
        size_t offset;
    } bytes[] = {
        {"shale_memory_used_bytes", "used_memory", offsetof(struct info_memory, used)},
        {"shale_memory_used_rss_bytes", "used_memory_rss", offsetof(struct info_memory, rss)},
        {"shale_allocator_allocated_bytes", "allocator_allocated",
         offsetof(struct info_memory, used)},
        {"shale_allocator_active_bytes", "allocator_active", offsetof(struct info_memory, active)},
        {"shale_allocator_resident_bytes", "allocator_resident",
         offsetof(struct info_memory, resident)},
        {"shale_memory_static_plan_bytes",
         "Static part of the memory plan, sized at start-up (shale_static_bytes)",
         offsetof(struct info_memory, static_bytes)},
        {"shale_memory_data_budget_bytes", "Data budget of the memory plan, 0: unlimited",
         offsetof(struct info_memory, data_budget)},
        {"shale_memory_max_bytes", "maxmemory, the cap on used_memory; 0: none",
         offsetof(struct info_memory, maxmemory)},
    };
    for (size_t i = 0; i < NROWS(bytes); i++) {
        family(out, bytes[i].name, "gauge", bytes[i].help);
        put_u64(out, bytes[i].name, "", *(const uint64_t *)((const char *)&m + bytes[i].offset));
    }
    family(out, "shale_allocator_frag_ratio", "gauge", "allocator_frag_ratio");
    put_f64(out, "shale_allocator_frag_ratio", "", ratio(m.active, m.used));
    family(out, "shale_allocator_frag_bytes", "gauge", "allocator_frag_bytes");
    put_f64(out, "shale_allocator_frag_bytes", "", (double)m.active - (double)m.used);
    family(out, "shale_mem_fragmentation_ratio", "gauge", "mem_fragmentation_ratio");
    put_f64(out, "shale_mem_fragmentation_ratio", "", ratio(m.rss, m.used));

    char labels[64];
    family(out, "shale_maxmemory_policy_info", "gauge",
           "1, labelled with the maxmemory policy in force (maxmemory_policy)");
    snprintf(labels, sizeof(labels), "{policy=\"%s\"}", m.policy_name);
    put_u64(out, "shale_maxmemory_policy_info", labels, 1);
    family(out, "shale_memory_nonshard_bytes", "gauge",
           "used_memory outside the shards' arenas, taken off maxmemory before the shards' shares "
           "(shale_nonshard_bytes)");
    put_u64(out, "shale_memory_nonshard_bytes", "", shale_maxmemory_nonshard(srv));
}

static void defrag_families(struct server *srv, struct evbuffer *out)
{
    char labels[64];
    family(out, "shale_active_defrag_mode_info", "gauge",
           "1, labelled with how active defrag moves allocations (shale_defrag_mode)");
    snprintf(labels, sizeof(labels), "{mode=\"%s\"}", shale_mem_defrag_mode());
    put_u64(out, "shale_active_defrag_mode_info", labels, 1);

    struct defrag_figures f;
    shale_defrag_governor_figures(srv->defrag, &f);
    for (size_t i = 0; i < NROWS(defrag_rows); i++) {
        const struct figure_row *row = &defrag_rows[i];
        family(out, row->name, row->type, row->help);
        put_scaled(out, row->name, "", figure(&f, row->offset), row->scale);
    }

    /* One snapshot per shard, so a scrape's families agree with each other. */
    struct defrag_shard_figures shards[srv->nshards];
    for (int s = 0; s < srv->nshards; s++)
        shale_defrag_governor_shard_figures(srv->defrag, s, &shards[s]);
    for (size_t i = 0; i < NROWS(shard_defrag_rows); i++) {
        const struct figure_row *row = &shard_defrag_rows[i];
        family(out, row->name, row->type, row->help);
        for (int s = 0; s < srv->nshards; s++) {
            snprintf(labels, sizeof(labels), "{shard=\"%d\"}", s);
            put_scaled(out, row->name, labels, figure(&shards[s], row->offset), row->scale);
        }
    }
}

static void thread_families(struct server *srv, struct evbuffer *out)
{
    char labels[32];
    for (size_t i = 0; i < NROWS(shard_rows); i++) {
        family(out, shard_rows[i].name, shard_rows[i].type, shard_rows[i].help);
        for (int s = 0; s < srv->nshards; s++) {
            snprintf(labels, sizeof(labels), "{shard=\"%d\"}", s);
            put_u64(out, shard_rows[i].name, labels,
                    load(shale_shard_stats(srv->shards[s]), shard_rows[i].offset));
        }
    }
    family(out, "shale_shard_keys", "gauge", "Keys a shard holds, all databases");
    for (int s = 0; s < srv->nshards; s++) {
        const struct shard_public_stats *st = shale_shard_stats(srv->shards[s]);
        uint64_t keys = 0;
        for (int db = 0; db < srv->cfg->databases; db++)
            keys += atomic_load_explicit(&st->keys[db], memory_order_relaxed);
        snprintf(labels, sizeof(labels), "{shard=\"%d\"}", s);
        put_u64(out, "shale_shard_keys", labels, keys);
    }
    family(out, "shale_shard_memory_max_bytes", "gauge",
           "The shard's share of maxmemory, 0: no limit (INFO shale shardN maxmemory)");
    for (int s = 0; s < srv->nshards; s++) {
        snprintf(labels, sizeof(labels), "{shard=\"%d\"}", s);
        put_u64(out, "shale_shard_memory_max_bytes", labels, shale_info_shard_maxmemory(srv, s));
    }
    family(out, "shale_shard_allocator_frag_ratio", "gauge",
           "Active over allocated bytes of the shard's arena");
    for (int s = 0; s < srv->nshards; s++) {
        const struct shard_public_stats *st = shale_shard_stats(srv->shards[s]);
        snprintf(labels, sizeof(labels), "{shard=\"%d\"}", s);
        put_f64(out, "shale_shard_allocator_frag_ratio", labels,
                ratio(load(st, offsetof(struct shard_public_stats, mem_active)),
                      load(st, offsetof(struct shard_public_stats, mem_allocated))));
    }
    family(out, "shale_shard_busy_seconds_total", "counter",
           "CPU time of a shard thread (spinning included)");
    for (int s = 0; s < srv->nshards; s++) {
        snprintf(labels, sizeof(labels), "{shard=\"%d\"}", s);
        put_f64(out, "shale_shard_busy_seconds_total", labels,
                thread_cpu_seconds(shale_shard_thread(srv->shards[s])));
    }
    family(out, "shale_io_thread_commands_total", "counter", "Commands parsed by an I/O thread");
    for (int i = 0; i < srv->nio; i++) {
        snprintf(labels, sizeof(labels), "{thread=\"%d\"}", i);
        put_u64(out, "shale_io_thread_commands_total", labels,
                load(&srv->io[i]->stats, offsetof(struct io_stats, commands)));
    }
    family(out, "shale_io_thread_busy_seconds_total", "counter",
           "CPU time of an I/O thread (spinning included)");
    for (int i = 0; i < srv->nio; i++) {
        snprintf(labels, sizeof(labels), "{thread=\"%d\"}", i);
        put_f64(out, "shale_io_thread_busy_seconds_total", labels,
                thread_cpu_seconds(srv->io[i]->thread));
    }
}

static void put_heartbeat(void *ctx, const char *thread, int64_t age_us)
{
    char labels[48];
    snprintf(labels, sizeof(labels), "{thread=\"%s\"}", thread);
    put_f64(ctx, "shale_thread_heartbeat_age_seconds", labels, (double)age_us / 1e6);
}

/* Per-command calls and latency histograms; commands never called are left
 * out (there are ~100 rows of 26 lines each). */
static void command_families(struct server *srv, struct evbuffer *out)
{
    int n = shale_command_count();
    char labels[96];
    family(out, "shale_commands_total", "counter", "Calls per command (cmdstat_<cmd>:calls)");
    for (int i = 0; i < n; i++) {
        uint64_t calls = shale_cmdstats_calls(srv, i);
        if (!calls)
            continue;
        snprintf(labels, sizeof(labels), "{cmd=\"%s\"}", shale_command_at(i)->name);
        put_u64(out, "shale_commands_total", labels, calls);
    }
    family(out, "shale_command_duration_seconds", "histogram",
           "Server time per command, from reading the request to its reply being ready");
    for (int i = 0; i < n; i++) {
        uint64_t counts[LATENCY_BUCKETS] = {0}, sum_us = 0;
        for (int t = 0; t < srv->nio; t++)
            shale_latency_add_to(srv->io[t]->stats.latency, i, counts, &sum_us);
        uint64_t total = 0;
        for (int b = 0; b < LATENCY_BUCKETS; b++)
            total += counts[b];
        if (!total)
            continue;
        const char *name = shale_command_at(i)->name;
        uint64_t cumulative = 0;
        for (int b = 0; b < LATENCY_FINITE_BUCKETS; b++) {
            cumulative += counts[b];
            snprintf(labels, sizeof(labels), "{cmd=\"%s\",le=\"%.9g\"}", name,
                     shale_latency_bucket_seconds(b));
            put_u64(out, "shale_command_duration_seconds_bucket", labels, cumulative);
        }
        snprintf(labels, sizeof(labels), "{cmd=\"%s\",le=\"+Inf\"}", name);
        put_u64(out, "shale_command_duration_seconds_bucket", labels, total);
        snprintf(labels, sizeof(labels), "{cmd=\"%s\"}", name);
        put_f64(out, "shale_command_duration_seconds_sum", labels, (double)sum_us / 1e6);
        put_u64(out, "shale_command_duration_seconds_count", labels, total);
    }
}

void shale_metrics_build(struct server *srv, struct evbuffer *out)
{
    server_families(srv, out);
    keyspace_families(srv, out);
    memory_families(srv, out);
    defrag_families(srv, out);
    thread_families(srv, out);
    family(out, "shale_thread_heartbeat_age_seconds", "gauge",
           "Seconds since a thread last turned its loop (/healthz fails past 5)");
    shale_health_foreach(srv, clock_mono_us(), put_heartbeat, out);
    command_families(srv, out);
}
