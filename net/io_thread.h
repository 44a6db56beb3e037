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
#include "server/waker.h"

struct server;
struct conn;
struct ring;

/* Counters read by INFO on any thread (relaxed). */
struct io_stats {
    _Atomic uint64_t commands;   /* total_commands_processed */
    _Atomic uint64_t net_input;  /* bytes */
    _Atomic uint64_t net_output; /* bytes */
    _Atomic uint64_t *cmd_calls; /* [command index] */
    _Atomic uint64_t *cmd_usec;  /* [command index] */
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

    struct ring **to_shard;      /* [nshards] producer: this thread */
    struct ring **from_shard;    /* [nshards] consumer: this thread */
    struct waker **shard_wakers; /* [nshards] */
    uint8_t *shard_wake_pending; /* [nshards] */

    struct request *requests; /* the slot pool */
    struct request *free_requests;
    uint32_t requests_free;
    struct conn *conns; /* connection slots */
    struct conn *free_conns;
    struct conn *active; /* connected, a list through conn->next_active */
    struct conn *dirty;  /* have replies to write, list through next_dirty */
    struct conn *resume; /* paused readers to look at again */
    struct iobuf_pool bufs;
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
