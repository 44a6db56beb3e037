/* io_thread: a thread that owns a set of client connections: it reads and
 * parses their commands, routes them to shards through rings, runs keyless
 * commands itself, and writes replies back in request order.
 *
 * Everything in struct io_thread is owned by its thread unless marked. The
 * struct is visible inside net/ only (conn.c, router.c, cmd_conn.c). */
#ifndef SHALE_IO_THREAD_H
#define SHALE_IO_THREAD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "net/iobuf.h"
#include "net/request.h"
#include "net/txn.h"
#include "server/cmdstats.h"
#include "server/waker.h"

struct server;
struct conn;
struct ring;
struct slowlog;
struct latency;

/* Counters read by INFO on any thread (relaxed). */
struct io_stats {
    _Atomic uint64_t commands;   /* total_commands_processed */
    _Atomic uint64_t net_input;  /* bytes */
    _Atomic uint64_t net_output; /* bytes */
    struct cmdstat *cmds;        /* [command index], see server/cmdstats.h */
    struct errorstats errors;
    /* Monotonic µs of the thread's last cron (every second): /healthz. */
    _Atomic int64_t heartbeat_us;
    /* Per-command reply latency (server/latency.h), single writer. */
    struct latency *latency;
    /* client_query_buffer_limit_disconnections, client_output_buffer_limit_disconnections */
    _Atomic uint64_t qbuf_limit_closed;
    _Atomic uint64_t obuf_limit_closed;
};

struct io_thread {
    int index;          /* read-only after create */
    struct server *srv; /* read-only after create */
    struct waker waker; /* sleeping flag: this thread; efd: read here */
    struct ring *inbox; /* accepted fds; producer: main thread */
    struct io_stats stats;

    pthread_t thread;
    struct event_base *base;
    struct event *wake_event;
    struct event *cron_event;
    _Atomic int stopping;
    _Atomic int kill_pending; /* CLIENT KILL flagged a connection of this thread */

    struct ring **to_shard;      /* [nshards] producer: this thread */
    struct ring **from_shard;    /* [nshards] consumer: this thread */
    struct waker **shard_wakers; /* [nshards] */
    uint8_t *shard_wake_pending; /* [nshards] */

    struct request *requests; /* the slot pool */
    struct request *free_requests;
    uint32_t requests_free;
    struct conn *conns; /* connection slots */
    struct conn *free_conns;
    struct conn *active;     /* connected, a list through conn->next_active */
    struct conn *dirty;      /* have replies to write, list through next_dirty */
    struct conn *resume;     /* paused readers to look at again */
    struct slowlog *slowlog; /* written by this thread, read by SLOWLOG anywhere */
    struct iobuf_pool bufs;
    struct txn_coord txn; /* atomic cross-shard batches */
    /* Monotonic µs read once per batch (parse, take-back from the shards):
     * the latency histograms' clock, so a request costs no clock read. */
    int64_t clock_us;

    /* Shutdown (net/drain.c): `draining` is set by the main thread; the
     * rest is written by this thread and read by the main thread. */
    _Atomic int draining;
    _Atomic int drained;
    _Atomic uint32_t drain_conns;    /* connections not finished yet */
    _Atomic uint32_t drain_requests; /* requests still out on shards */
    struct event *drain_event;       /* periodic look while draining */
};

struct io_thread *shale_io_thread_create(int index, struct server *srv);
void shale_io_thread_destroy(struct io_thread *t);
void shale_io_thread_start(struct io_thread *t);
void shale_io_thread_stop(struct io_thread *t);
/* Main thread: hands over an accepted socket (tls: accepted on tls-port). */
void shale_io_thread_adopt(struct io_thread *t, int fd, int tls);

/* Request slots (I/O thread). */
struct request *shale_io_request_get(struct io_thread *t);
void shale_io_request_put(struct io_thread *t, struct request *r);
/* Queues r for its shard; the wake-up goes out once per loop turn. */
void shale_io_send_to_shard(struct io_thread *t, int shard, struct request *r);

#endif
