/* io_thread: the I/O thread's pools and loop (see io_thread.h).
 *
 * One turn of the loop: adopt new sockets, take finished requests back from
 * the shards, write every connection that has replies ready, let paused
 * readers resume, then poll the sockets. Requests produced during a turn
 * are pushed to the shard rings at once but each sleeping shard is woken
 * once per turn, not once per request. When there is nothing to do the
 * thread polls its rings for `spin-us` (only while shards owe it replies)
 * and then sleeps in epoll. */
#include "net/io_thread.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/cmd_client.h"
#include "net/conn.h"
#include "net/conn_limits.h"
#include "net/drain.h"
#include "net/router.h"
#include "net/slowlog.h"
#include "server/clock.h"
#include "server/command.h"
#include "server/latency.h"
#include "server/log.h"
#include "server/mem.h"
#include "server/ring.h"
#include "server/server.h"
#include "shards/shard.h"

struct io_thread *shale_io_thread_create(int index, struct server *srv)
{
    const struct config *cfg = srv->cfg;
    struct io_thread *t = shale_calloc_aligned(_Alignof(struct io_thread), sizeof(*t));
    t->index = index;
    t->srv = srv;
    shale_waker_init(&t->waker);
    t->inbox = shale_ring_create((size_t)cfg->maxclients + 1);
    t->stats.cmds = shale_cmdstats_table_create();
    t->stats.latency = shale_latency_create(shale_command_count());

    int ns = srv->nshards;
    shale_txn_setup(&t->txn, ns, srv->nio == 1);
    t->to_shard = shale_calloc((size_t)ns, sizeof(*t->to_shard));
    t->from_shard = shale_calloc((size_t)ns, sizeof(*t->from_shard));
    t->shard_wakers = shale_calloc((size_t)ns, sizeof(*t->shard_wakers));
    t->shard_wake_pending = shale_calloc((size_t)ns, 1);
    for (int s = 0; s < ns; s++) {
        t->to_shard[s] = shale_shard_inbound(srv->shards[s], index);
        t->from_shard[s] = shale_shard_outbound(srv->shards[s], index);
        t->shard_wakers[s] = shale_shard_waker(srv->shards[s]);
    }

    /* Static part: request slots, connection slots and read buffers are all
     * allocated here, once, from config. */
    uint32_t nreq = (uint32_t)cfg->io_thread_requests;
    t->requests = shale_calloc(nreq, sizeof(struct request));
    for (uint32_t i = nreq; i-- > 0;) {
        t->requests[i].next = t->free_requests;
        t->free_requests = &t->requests[i];
    }
    t->requests_free = nreq;
    size_t nconn = (size_t)cfg->maxclients;
    t->conns = shale_calloc(nconn, sizeof(struct conn));
    for (size_t i = nconn; i-- > 0;) {
        t->conns[i].next_active = t->free_conns;
        t->free_conns = &t->conns[i];
    }
    shale_iobuf_pool_init(&t->bufs, (size_t)cfg->io_buffers);
    t->slowlog = shale_slowlog_create();
    return t;
}

void shale_io_thread_destroy(struct io_thread *t)
{
    if (!t)
        return;
    shale_iobuf_pool_deinit(&t->bufs);
    shale_slowlog_destroy(t->slowlog);
    shale_free(t->conns);
    shale_free(t->requests);
    shale_free(t->to_shard);
    shale_free(t->from_shard);
    shale_free(t->shard_wakers);
    shale_free(t->shard_wake_pending);
    shale_cmdstats_table_destroy(t->stats.cmds);
    shale_latency_destroy(t->stats.latency);
    shale_ring_destroy(t->inbox);
    shale_txn_teardown(&t->txn);
    shale_waker_deinit(&t->waker);
    shale_free(t);
}

struct request *shale_io_request_get(struct io_thread *t)
{
    struct request *r = t->free_requests;
    if (!r) {
        shale_log(LOG_WARNING, "I/O thread %d: out of request slots", t->index);
        abort(); /* callers check requests_free first */
    }
    t->free_requests = r->next;
    t->requests_free--;
    memset(r, 0, offsetof(struct request, reply));
    r->argv = r->argv_inline;
    r->conn = NULL;
    r->next = NULL;
    r->buf = NULL;
    r->parent = NULL;
    r->parts = NULL;
    r->parts_pending = 0;
    r->txn = TXN_NONE;
    r->round = 0;
    r->txn_next = NULL;
    r->silent = 0;
    r->state = REQUEST_QUEUED;
    return r;
}

void shale_io_request_put(struct io_thread *t, struct request *r)
{
    if (r->argv_heap)
        shale_free(r->argv);
    r->argv_heap = 0;
    shale_resp_buf_release(&r->reply);
    if (r->buf)
        shale_iobuf_put(&t->bufs, r->buf);
    r->buf = NULL;
    r->state = REQUEST_FREE;
    r->next = t->free_requests;
    t->free_requests = r;
    t->requests_free++;
}

void shale_io_send_to_shard(struct io_thread *t, int shard, struct request *r)
{
    r->shard = (uint16_t)shard;
    r->state = REQUEST_QUEUED;
    if (!ring_stage(t->to_shard[shard], r)) {
        shale_log(LOG_WARNING, "I/O thread %d: ring to shard %d is full", t->index, shard);
        abort(); /* rings hold every slot: cannot happen */
    }
    t->shard_wake_pending[shard] = 1;
}

/* An inbox item is the fd and the TLS flag, never NULL (fd 0 included). */
void shale_io_thread_adopt(struct io_thread *t, int fd, int tls)
{
    if (!ring_push(t->inbox, (void *)((((intptr_t)fd + 1) << 1) | (tls != 0)))) {
        close(fd);
        return;
    }
    waker_notify(&t->waker);
}

/* Publishes what this turn staged for each shard, waking each shard once. */
static void wake_shards(struct io_thread *t)
{
    for (int s = 0; s < t->srv->nshards; s++)
        if (t->shard_wake_pending[s]) {
            t->shard_wake_pending[s] = 0;
            ring_publish(t->to_shard[s]);
            waker_notify(t->shard_wakers[s]);
        }
}

static int adopt_new_connections(struct io_thread *t)
{
    int n = 0;
    void *item;
    while ((item = ring_pop(t->inbox)) != NULL) {
        int fd = (int)(((intptr_t)item >> 1) - 1);
        int tls = (int)((intptr_t)item & 1);
        struct conn *c = t->free_conns;
        if (!c) { /* cannot happen: the acceptor enforces maxclients */
            close(fd);
            atomic_fetch_sub(&t->srv->clients.connected, 1);
            continue;
        }
        t->free_conns = c->next_active;
        shale_conn_open(t, c, fd, tls);
        n++;
    }
    return n;
}

static int take_back_from_shards(struct io_thread *t)
{
    int n = 0;
    for (int s = 0; s < t->srv->nshards; s++) {
        struct request *r;
        while ((r = ring_pop(t->from_shard[s])) != NULL) {
            if (!n)
                t->clock_us = clock_mono_us();
            shale_router_complete(t, r);
            n++;
        }
    }
    return n;
}

static void write_ready_replies(struct io_thread *t)
{
    while (t->dirty) {
        struct conn *c = t->dirty;
        t->dirty = c->next_dirty;
        c->flags &= ~(uint32_t)CONN_DIRTY;
        shale_conn_flush(c);
    }
}

/* 1 when a reader took new commands. Requests are freed by the shards'
 * replies and also by writing the replies of keyless commands, so this runs
 * whenever a reader waits, not only after replies from the shards. */
static int resume_paused_readers(struct io_thread *t)
{
    uint32_t free_before = t->requests_free;
    struct conn **link = &t->resume;
    while (*link) {
        struct conn *c = *link;
        if (shale_conn_try_resume(c)) {
            *link = c->next_resume;
            c->flags &= ~(uint32_t)CONN_ON_RESUME;
            if (c->flags & CONN_CLOSED)
                shale_conn_flush(c); /* gives the slot back */
        } else {
            link = &c->next_resume;
        }
    }
    return t->requests_free < free_before;
}

static int has_incoming(struct io_thread *t)
{
    if (ring_has_items(t->inbox) || atomic_load(&t->kill_pending))
        return 1;
    for (int s = 0; s < t->srv->nshards; s++)
        if (ring_has_items(t->from_shard[s]))
            return 1;
    return 0;
}

static int awaiting_shards(const struct io_thread *t)
{
    return t->requests_free < (uint32_t)t->srv->cfg->io_thread_requests;
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    struct io_thread *t = arg;
    shale_waker_drain(&t->waker);
}

/* Once a second: close clients idle past `timeout`, blocked writers that
 * stayed over the output soft limit (no new reply would check them), and
 * TLS handshakes past tls-handshake-timeout. */
static void on_cron(evutil_socket_t fd, short what, void *arg)
{
    struct io_thread *t = arg;
    shale_slowlog_tidy(t);
    atomic_store_explicit(&t->stats.heartbeat_us, clock_mono_us(), memory_order_relaxed);
    shale_conn_expire_handshakes(t);
    long long timeout = config_live(t->srv->cfg, timeout);
    int64_t now = clock_wall_ms();
    struct conn *c = t->active;
    while (c) {
        struct conn *next = c->next_active;
        int64_t last = atomic_load_explicit(&c->info.last_ms, memory_order_relaxed);
        if (timeout && !c->head && now - last > timeout * 1000) {
            shale_log(LOG_VERBOSE, "Closing idle client id=%llu", (unsigned long long)c->info.id);
            shale_conn_close(c);
        } else if ((c->flags & CONN_WRITE_ARMED) && shale_conn_limits_output_exceeded(c, now)) {
            shale_conn_close(c);
        }
        c = next;
    }
}

static void *io_main(void *arg)
{
    struct io_thread *t = arg;
    char name[16];
    snprintf(name, sizeof(name), "io-%d", t->index);
    pthread_setname_np(pthread_self(), name);
    int64_t spin_us = t->srv->spin_us;
    while (!atomic_load_explicit(&t->stopping, memory_order_relaxed)) {
        shale_client_kill_flagged(t);
        if (atomic_load_explicit(&t->draining, memory_order_relaxed) && !t->drain_event)
            shale_drain_begin(t);
        int busy = adopt_new_connections(t);
        int freed = take_back_from_shards(t);
        busy |= freed;
        write_ready_replies(t);
        /* Not only after shard replies: a reader paused at its in-flight
         * cap may be freed by writes alone (keyless commands, or a slow
         * reader that reads again); gating on `freed` left them paused. */
        if (t->resume && resume_paused_readers(t))
            busy = 1;
        write_ready_replies(t);
        wake_shards(t);
        if (busy) {
            event_base_loop(t->base, EVLOOP_NONBLOCK);
            write_ready_replies(t);
            wake_shards(t);
            continue;
        }
        if (awaiting_shards(t) && spin_us > 0) {
            int64_t until = clock_mono_us() + spin_us;
            int found = 0;
            while (!found && clock_mono_us() < until)
                found = has_incoming(t);
            if (found)
                continue;
        }
        waker_prepare_sleep(&t->waker);
        if (!has_incoming(t) && !atomic_load(&t->stopping))
            event_base_loop(t->base, EVLOOP_ONCE);
        waker_awake(&t->waker);
        write_ready_replies(t);
        wake_shards(t);
    }
    shale_log(LOG_VERBOSE, "I/O thread %d stopped", t->index);
    return NULL;
}

void shale_io_thread_start(struct io_thread *t)
{
    t->base = event_base_new();
    t->wake_event = event_new(t->base, t->waker.efd, EV_READ | EV_PERSIST, on_wake, t);
    event_add(t->wake_event, NULL);
    t->cron_event = event_new(t->base, -1, EV_PERSIST, on_cron, t);
    struct timeval second = {1, 0};
    event_add(t->cron_event, &second);
    if (pthread_create(&t->thread, NULL, io_main, t) != 0) {
        perror("shale: pthread_create(io)");
        abort();
    }
}

/* Stops the loop, closes every connection and waits until the shards have
 * handed back every request (they are still running). */
void shale_io_thread_stop(struct io_thread *t)
{
    atomic_store(&t->stopping, 1);
    atomic_store(&t->waker.sleeping, 1);
    waker_notify(&t->waker);
    pthread_join(t->thread, NULL);
    shale_drain_teardown(t); /* closes what is left without resetting it */
    while (awaiting_shards(t)) {
        if (!take_back_from_shards(t))
            usleep(100);
        write_ready_replies(t);
    }
    event_free(t->cron_event);
    event_free(t->wake_event);
    event_base_free(t->base);
}
