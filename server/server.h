/* server: the composition of the running process, built by main and handed
 * to every thread. Read-only once the threads have started, except the
 * fields marked atomic. */
#ifndef SHALE_SERVER_H
#define SHALE_SERVER_H

#include <stdatomic.h>
#include <stdint.h>

#include "server/clients.h"
#include "server/config.h"
#include "server/info.h"

#define SHALE_VERSION       "0.1.0"
#define SHALE_REDIS_VERSION "7.0.15" /* the Redis version whose behaviour we match */

struct cmdstats;
struct io_thread;
struct lifecycle;
struct shard;
struct tls;
struct defrag_governor;

struct server {
    struct config *cfg; /* CONFIG_LIVE fields change at run time: config_live() */
    int nio;
    int nshards;
    int64_t spin_us; /* spin-us, or the value derived from the CPU count */
    struct io_thread **io;
    struct shard **shards;
    uint16_t slot_to_shard[16384];
    int64_t start_us;
    char run_id[41];
    int tcp_port;    /* the port actually bound */
    struct tls *tls; /* TLS context and counters (net/tls.h) */
    struct clients clients;
    struct info_rates rates;
    struct cmdstats *stats;               /* INFO counters' reset baselines */
    _Atomic uint64_t slowlog_next_id;     /* SLOWLOG entry ids, server-wide */
    _Atomic uint64_t slowlog_reset_below; /* entries older than this were reset */
    struct lifecycle
        *life; /* run state and shutdown (server/lifecycle.h); set before threads start */
    struct defrag_governor *defrag; /* main thread; INFO reads its atomics */
};

static inline int server_shard_of_slot(const struct server *srv, unsigned slot)
{
    return srv->slot_to_shard[slot];
}

#endif
