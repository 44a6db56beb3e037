/* drain: see drain.h. Runs on the I/O thread (begin, and a 10 ms timer on
 * its loop) except request/status (main thread) and teardown (main thread,
 * after the loop was joined). The normal loop keeps taking replies back
 * from the shards and writing them; this file only decides when a
 * connection has nothing left and closes it without losing bytes. */
#include "net/drain.h"

#include <errno.h>
#include <event2/event.h>
#include <linux/sockios.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/conn.h"
#include "net/io_thread.h"
#include "server/server.h"

#define DRAIN_TICK_MS 10

enum { DRAIN_GRACEFUL = 1, DRAIN_NOW = 2 }; /* values of io_thread.draining */
/* Input discarded per connection per look (64 x 4 KB). */
#define DISCARD_ROUNDS 64

void shale_drain_request(struct io_thread *t, int now)
{
    atomic_store(&t->draining, now ? DRAIN_NOW : DRAIN_GRACEFUL);
    /* Force the eventfd write, as shale_io_thread_stop does: the thread
     * may be on its way to sleep without having seen the flag. */
    atomic_store(&t->waker.sleeping, 1);
    waker_notify(&t->waker);
}

int shale_drain_status(struct io_thread *t, uint32_t *conns, uint32_t *requests)
{
    *conns = atomic_load_explicit(&t->drain_conns, memory_order_relaxed);
    *requests = atomic_load_explicit(&t->drain_requests, memory_order_relaxed);
    return atomic_load_explicit(&t->drained, memory_order_acquire);
}

/* Reads and drops what the client sent after we stopped reading; 1 when the
 * client has closed its side (or the socket failed). */
static int discard_input(struct conn *c)
{
    char scratch[4096];
    for (int i = 0; i < DISCARD_ROUNDS; i++) {
        ssize_t n = read(c->fd, scratch, sizeof(scratch));
        if (n > 0)
            continue;
        if (n == 0)
            return 1;
        if (errno == EINTR)
            continue;
        return !(errno == EAGAIN || errno == EWOULDBLOCK);
    }
    return 0;
}

/* Bytes the kernel still holds for the client: unsent, or sent and not yet
 * acknowledged (the FIN counts). -1 when it cannot tell. */
static int unacknowledged(const struct conn *c)
{
    int n = 0;
    return ioctl(c->fd, SIOCOUTQ, &n) == 0 ? n : -1;
}

static void step(struct io_thread *t)
{
    int now = atomic_load_explicit(&t->draining, memory_order_relaxed) == DRAIN_NOW;
    uint32_t pending = 0;
    struct conn *c = t->active;
    while (c) {
        struct conn *next = c->next_active;
        if (!(c->flags & CONN_NO_READ)) {
            c->flags |= CONN_NO_READ;
            event_del(c->read_event);
        }
        /* Replies to come, or buffered commands still to run: wait (with
         * NOW, not for a client that is not reading what it has). */
        int working =
            (c->head && !(now && (c->flags & CONN_WRITE_ARMED))) || (c->flags & CONN_ON_RESUME);
        if (working) {
            pending++;
        } else if (now) {
            discard_input(c);
            shale_conn_close(c);
        } else {
            if (!(c->flags & CONN_WR_SHUT)) {
                shutdown(c->fd, SHUT_WR);
                c->flags |= CONN_WR_SHUT;
            }
            if (discard_input(c) || unacknowledged(c) <= 0)
                shale_conn_close(c);
            else
                pending++;
        }
        c = next;
    }
    uint32_t on_shards = (uint32_t)t->srv->cfg->io_thread_requests - t->requests_free;
    atomic_store_explicit(&t->drain_conns, pending, memory_order_relaxed);
    atomic_store_explicit(&t->drain_requests, on_shards, memory_order_relaxed);
    atomic_store_explicit(&t->drained, !t->active && on_shards == 0, memory_order_release);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    step(arg);
}

void shale_drain_begin(struct io_thread *t)
{
    t->drain_event = event_new(t->base, -1, EV_PERSIST, on_tick, t);
    struct timeval every = {0, DRAIN_TICK_MS * 1000};
    event_add(t->drain_event, &every);
    step(t);
}

void shale_drain_teardown(struct io_thread *t)
{
    while (t->active) {
        struct conn *c = t->active;
        discard_input(c);
        shale_conn_close(c);
    }
    if (t->drain_event) {
        event_free(t->drain_event);
        t->drain_event = NULL;
    }
}
