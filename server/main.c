/* main: the composition root. argv -> config -> set-up in dependency order
 * (allocator hooks, log, command table, shards, I/O threads, listeners,
 * admin endpoint) -> run the main loop until a shutdown has drained
 * (server/lifecycle.c) -> teardown in reverse. The main thread owns the
 * listeners and signals; it never touches a keyspace or a connection's
 * buffers. */
#include <event2/event.h>
#include <event2/thread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/acceptor.h"
#include "net/io_thread.h"
#include "net/tls.h"
#include "server/admin.h"
#include "server/cgroup.h"
#include "server/clock.h"
#include "server/cmdstats.h"
#include "server/command.h"
#include "server/config.h"
#include "server/cpus.h"
#include "server/defrag_governor.h"
#include "server/lifecycle.h"
#include "server/log.h"
#include "server/maxmemory.h"
#include "server/mem.h"
#include "server/mem_plan.h"
#include "server/server.h"
#include "shards/shard.h"

/* Defaults from the CPU count: half the CPUs read sockets, half own data.
 * With 2 CPUs that is one of each; see docs/benchmarks.md for why. */
static void derive_thread_counts(const struct config *cfg, int cpus, int *nio, int *nshards)
{
    int half = cpus / 2 > 0 ? cpus / 2 : 1;
    *nio = cfg->io_threads > 0 ? (int)cfg->io_threads : half;
    *nshards = cfg->shards > 0 ? (int)cfg->shards : (cpus - half > 0 ? cpus - half : 1);
}

/* Polling before sleeping saves a wake-up only when the poller does not take
 * the CPU from the thread it waits for: spin only with a CPU to spare. */
static long long derive_spin_us(const struct config *cfg, int cpus, int nio, int nshards)
{
    if (cfg->spin_us >= 0)
        return cfg->spin_us;
    return cpus > nio + nshards ? 20 : 0;
}

static void make_run_id(char *out)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t x = (uint64_t)clock_wall_us() ^ ((uint64_t)getpid() << 32);
    for (int i = 0; i < 40; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out[i] = hex[x & 15];
    }
    out[40] = '\0';
}

/* SIGHUP: reopen the log file (after logrotate moved it) and reload the
 * TLS certificates; existing connections keep theirs. */
static void on_sighup(evutil_socket_t sig, short what, void *arg)
{
    struct server *srv = arg;
    shale_log(LOG_NOTICE, "Received SIGHUP, reopening the log file");
    shale_log_reopen();
    shale_log(LOG_NOTICE, "Log file reopened");
    shale_tls_reload_on_signal(srv->tls, srv->cfg);
}

/* The main thread's cron: statistics roll-up. The allocator's stats are
 * refreshed here and nowhere else (one thread, every 100 ms: DESIGN §10). */
static void on_cron(evutil_socket_t fd, short what, void *arg)
{
    struct server *srv = arg;
    shale_info_sample(srv, &srv->rates);
    shale_info_sample_memory(srv, &srv->rates);
    shale_maxmemory_update(srv);
    shale_defrag_governor_tick(srv->defrag);
}

/* CONFIG SET side effects that are not a plain re-read of the field; -1
 * with a reason in err makes CONFIG SET restore the old values and fail. */
static int on_config_changed(void *ctx, const char *name, char *err, size_t errlen)
{
    struct server *srv = ctx;
    struct config *cfg = srv->cfg;
    if (!strcmp(name, "loglevel"))
        shale_log_set_level((int)config_live(cfg, loglevel));
    else if (!strcmp(name, "log-format"))
        shale_log_set_format((int)config_live(cfg, log_format));
    else if (!strcmp(name, "maxmemory"))
        shale_maxmemory_changed(srv);
    else if (shale_tls_option_reloads(name))
        return shale_tls_reload(srv->tls, err, errlen);
    return 0;
}

static int load_config(struct config *cfg, int argc, char **argv)
{
    char err[512];
    int first_opt = 1;
    if (argc > 1 && strncmp(argv[1], "--", 2) != 0) {
        if (shale_config_load_file(cfg, argv[1], err, sizeof(err)) < 0) {
            fprintf(stderr, "*** FATAL CONFIG FILE ERROR ***\n%s\n", err);
            return -1;
        }
        first_opt = 2;
    }
    if (shale_config_load_args(cfg, argc - first_opt, argv + first_opt, err, sizeof(err)) < 0) {
        fprintf(stderr, "*** FATAL CONFIG ERROR ***\n%s\n", err);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "-v") || !strcmp(argv[1], "--version"))) {
        printf("shale-server v=%s (redis-compatible %s) malloc=%s\n", SHALE_VERSION,
               SHALE_REDIS_VERSION, shale_mem_allocator_name());
        return 0;
    }
    shale_mem_setup();
    evthread_use_pthreads();
    signal(SIGPIPE, SIG_IGN);

    struct config cfg;
    shale_config_init(&cfg);
    if (load_config(&cfg, argc, argv) < 0)
        return 1;
    shale_log_setup((int)cfg.loglevel, cfg.logfile);
    shale_log_set_format((int)cfg.log_format);
    cfg.changed = on_config_changed;
    shale_command_setup();
    char err[512];
    if (shale_command_apply_renames(cfg.renames, err, sizeof(err)) < 0) {
        fprintf(stderr, "*** FATAL CONFIG FILE ERROR ***\n%s\n", err);
        return 1;
    }

    struct server *srv = shale_calloc(1, sizeof(*srv));
    srv->cfg = &cfg;
    cfg.changed_ctx = srv;
    srv->start_us = clock_mono_us();
    srv->tcp_port = (int)cfg.port;
    make_run_id(srv->run_id);
    shale_clients_init(&srv->clients);
    srv->stats = shale_cmdstats_create();
    struct cpus_info cpus;
    shale_cpus_probe(&cpus);
    derive_thread_counts(&cfg, cpus.usable, &srv->nio, &srv->nshards);
    /* The request pool keeps 3 x shards + 3 slots back (net/conn.c). */
    if (cfg.io_thread_requests <= 3LL * srv->nshards + 3) {
        fprintf(stderr,
                "*** FATAL CONFIG ERROR ***\nio-thread-requests %lld is too small for %d "
                "shards: it must be more than %d\n",
                cfg.io_thread_requests, srv->nshards, 3 * srv->nshards + 3);
        return 1;
    }
    srv->spin_us = derive_spin_us(&cfg, cpus.usable, srv->nio, srv->nshards);
    struct mem_plan plan;
    shale_mem_plan_compute(&cfg, srv->nio, srv->nshards, &plan);
    shale_maxmemory_setup(&cfg, plan.static_bytes, "");
    shale_mem_plan_compute(&cfg, srv->nio, srv->nshards, &plan); /* data budget */
    /* Contiguous slot ranges per shard, as a cluster would split them. */
    for (unsigned slot = 0; slot < 16384; slot++)
        srv->slot_to_shard[slot] = (uint16_t)(slot * (unsigned)srv->nshards / 16384);

    srv->shards = shale_calloc((size_t)srv->nshards, sizeof(*srv->shards));
    for (int s = 0; s < srv->nshards; s++)
        srv->shards[s] = shale_shard_create(s, &cfg, srv->nio, srv->spin_us, srv->slot_to_shard);
    srv->defrag = shale_defrag_governor_create(srv);
    srv->io = shale_calloc((size_t)srv->nio, sizeof(*srv->io));
    struct waker **io_wakers = shale_calloc((size_t)srv->nio, sizeof(*io_wakers));
    for (int i = 0; i < srv->nio; i++) {
        srv->io[i] = shale_io_thread_create(i, srv);
        io_wakers[i] = &srv->io[i]->waker;
    }

    srv->tls = shale_tls_setup(&cfg);
    if (!srv->tls)
        return 1;
    struct event_base *base = event_base_new();
    struct acceptor *acceptor = shale_acceptor_create(srv, base);
    if (!acceptor)
        return 1;
    srv->life = shale_lifecycle_create(srv, base, acceptor); /* owns the acceptor now */
    struct admin *admin = shale_admin_create(srv, base);
    if (!admin)
        return 1;
    struct event *sighup = evsignal_new(base, SIGHUP, on_sighup, srv);
    event_add(sighup, NULL);
    for (int s = 0; s < srv->nshards; s++)
        shale_shard_start(srv->shards[s], io_wakers);
    for (int i = 0; i < srv->nio; i++)
        shale_io_thread_start(srv->io[i]);
    struct event *cron = event_new(base, -1, EV_PERSIST, on_cron, srv);
    struct timeval every_100ms = {0, 100000};
    event_add(cron, &every_100ms);
    shale_info_sample_memory(srv, &srv->rates); /* INFO before the first tick */
    shale_maxmemory_update(srv);

    shale_log(LOG_NOTICE, "shale %s (redis %s compatible), pid %d, malloc %s", SHALE_VERSION,
              SHALE_REDIS_VERSION, (int)getpid(), shale_mem_allocator_name());
    shale_log(LOG_NOTICE,
              "Threads: %d I/O (%s), %d shards (%s), spin %lld us; %d usable CPUs: affinity %d, %s",
              srv->nio, cfg.io_threads > 0 ? "io-threads" : "derived", srv->nshards,
              cfg.shards > 0 ? "shards" : "derived", (long long)srv->spin_us, cpus.usable,
              cpus.affinity, cpus.source);
    shale_log(LOG_NOTICE,
              "Memory plan: static %zu bytes = %d I/O thread(s) x %zu (%lld request slots %zu, "
              "%lld connection slots %zu, %lld x 16KB read buffers %zu, inbox ring %zu) + "
              "%d shard(s) x %zu (rings); maxmemory %lld, data budget %zu bytes (0: unlimited)",
              plan.static_bytes, srv->nio, plan.per_io, cfg.io_thread_requests, plan.request_bytes,
              cfg.maxclients, plan.conn_bytes, cfg.io_buffers, plan.iobuf_bytes, plan.io_ring_bytes,
              srv->nshards, plan.per_shard, cfg.maxmemory, plan.data_budget);
    if (cfg.port)
        shale_log(LOG_NOTICE, "Ready to accept connections tcp on port %lld", cfg.port);
    if (cfg.tls_port)
        shale_log(LOG_NOTICE, "Ready to accept connections tls on port %lld", cfg.tls_port);
    shale_lifecycle_ready(srv->life);

    event_base_dispatch(base); /* until a shutdown has drained (server/lifecycle.c) */

    shale_admin_destroy(admin);
    if (shale_lifecycle_must_exit_now(srv->life)) {
        shale_log(LOG_WARNING, "A shard is still running a command: exiting without teardown");
        shale_log_teardown();
        _exit(0);
    }
    for (int i = 0; i < srv->nio; i++)
        shale_io_thread_stop(srv->io[i]);
    for (int s = 0; s < srv->nshards; s++)
        shale_shard_stop(srv->shards[s]);
    shale_log(LOG_NOTICE, "Served %llu commands on %llu connections",
              (unsigned long long)shale_info_io_sum(srv, offsetof(struct io_stats, commands)),
              (unsigned long long)atomic_load(&srv->clients.total_received));
    shale_lifecycle_destroy(srv->life);
    for (int i = 0; i < srv->nio; i++)
        shale_io_thread_destroy(srv->io[i]);
    for (int s = 0; s < srv->nshards; s++)
        shale_shard_destroy(srv->shards[s]);
    shale_defrag_governor_destroy(srv->defrag);
    event_free(cron);
    event_free(sighup);
    event_base_free(base);
    shale_tls_teardown(srv->tls);
    shale_free(io_wakers);
    shale_free(srv->io);
    shale_free(srv->shards);
    shale_clients_deinit(&srv->clients);
    shale_cmdstats_destroy(srv->stats);
    shale_free(srv);
    shale_log(LOG_NOTICE, "shale is now ready to exit, bye bye...");
    shale_log_teardown();
    shale_config_deinit(&cfg);
    return 0;
}
