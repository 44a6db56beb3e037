/* lifecycle: see lifecycle.h. The shutdown sequence is driven from the main
 * thread's event loop, so the admin endpoint keeps answering (/readyz 503)
 * while connections drain. Never blocks: it polls the I/O threads' drain
 * state on a short timer. */
#include "server/lifecycle.h"

#include <event2/event.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>

#include "net/acceptor.h"
#include "net/drain.h"
#include "server/clock.h"
#include "server/config.h"
#include "server/log.h"
#include "server/mem.h"
#include "server/server.h"

#define HEARTBEAT_MS  250
#define DRAIN_POLL_MS 10

/* `requested` values: 0 none; else REQUESTED | the SHUTDOWN flags. The
 * main thread takes the request by setting STARTED; ABORT only wins the
 * race while STARTED is clear. */
#define REQUESTED (1 << 16)
#define STARTED   (1 << 17)

struct lifecycle {
    struct server *srv;        /* read-only */
    struct event_base *base;   /* main thread */
    struct acceptor *acceptor; /* main thread; NULL once closed */
    struct event *sigterm;     /* main thread */
    struct event *sigint;      /* main thread */
    struct event *request;     /* activated from any thread */
    struct event *heartbeat;   /* main thread, persistent */
    struct event *drain_poll;  /* main thread, while stopping */
    _Atomic int state;         /* enum lifecycle_state; written by main and requesters */
    _Atomic int requested;     /* see REQUESTED/STARTED */
    _Atomic int64_t beat_us;   /* main thread writes, anyone reads */
    int64_t shutdown_start_us; /* main thread */
    int64_t deadline_us;       /* main thread */
    int stuck_requests;        /* main thread: requests on shards at the deadline */
};

static void on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
    struct lifecycle *l = arg;
    atomic_store_explicit(&l->beat_us, clock_mono_us(), memory_order_relaxed);
}

static void stop_loop(struct lifecycle *l)
{
    if (l->drain_poll)
        event_del(l->drain_poll);
    event_base_loopbreak(l->base);
}

/* Every DRAIN_POLL_MS while stopping: done when every I/O thread has
 * drained, or at the deadline. */
static void on_drain_poll(evutil_socket_t fd, short what, void *arg)
{
    struct lifecycle *l = arg;
    struct server *srv = l->srv;
    int drained = 1;
    uint32_t conns = 0, requests = 0;
    for (int i = 0; i < srv->nio; i++) {
        uint32_t c = 0, r = 0;
        if (!shale_drain_status(srv->io[i], &c, &r))
            drained = 0;
        conns += c;
        requests += r;
    }
    int64_t now = clock_mono_us();
    if (drained) {
        shale_log(LOG_NOTICE, "All connections drained in %lld ms",
                  (long long)(now - l->shutdown_start_us) / 1000);
        stop_loop(l);
    } else if (now >= l->deadline_us) {
        shale_log(LOG_WARNING,
                  "Shutdown timeout reached after %lld ms: closing %u connection(s) that still "
                  "wait for replies or for the client to read them (%u request(s) on shards)",
                  (long long)(now - l->shutdown_start_us) / 1000, conns, requests);
        l->stuck_requests = (int)requests;
        stop_loop(l);
    }
}

static void begin_shutdown(struct lifecycle *l, int flags)
{
    struct server *srv = l->srv;
    atomic_store(&l->state, LIFECYCLE_STOPPING);
    long long timeout_s = config_live(srv->cfg, shutdown_timeout);
    l->shutdown_start_us = clock_mono_us();
    l->deadline_us = l->shutdown_start_us + (int64_t)timeout_s * 1000000;
    if (flags & LIFECYCLE_SHUTDOWN_SAVE)
        shale_log(LOG_NOTICE, "SAVE requested: shale keeps no data on disk, nothing to save");
    shale_log(LOG_NOTICE,
              "Shutting down: not ready, listeners closed, draining %llu client(s) "
              "(shutdown-timeout %llds%s)",
              (unsigned long long)atomic_load(&srv->clients.connected), timeout_s,
              (flags & LIFECYCLE_SHUTDOWN_NOW) ? ", NOW: not waiting for slow readers" : "");
    if (l->acceptor) {
        shale_acceptor_destroy(l->acceptor);
        l->acceptor = NULL;
    }
    for (int i = 0; i < srv->nio; i++)
        shale_drain_request(srv->io[i], (flags & LIFECYCLE_SHUTDOWN_NOW) != 0);
    l->drain_poll = event_new(l->base, -1, EV_PERSIST, on_drain_poll, l);
    struct timeval every = {0, DRAIN_POLL_MS * 1000};
    event_add(l->drain_poll, &every);
    on_drain_poll(-1, 0, l);
}

static void on_request(evutil_socket_t fd, short what, void *arg)
{
    struct lifecycle *l = arg;
    int req = atomic_load(&l->requested);
    while ((req & REQUESTED) && !(req & STARTED) &&
           !atomic_compare_exchange_weak(&l->requested, &req, req | STARTED)) {
    }
    if ((req & REQUESTED) && !(req & STARTED))
        begin_shutdown(l, req & ~(REQUESTED | STARTED));
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct lifecycle *l = arg;
    const char *name = sig == SIGTERM ? "SIGTERM" : "SIGINT";
    if (atomic_load(&l->requested) & REQUESTED) {
        shale_log(LOG_WARNING, "Received %s while a shutdown is in progress: ignored", name);
        return;
    }
    shale_log(LOG_WARNING, "Received %s scheduling shutdown...", name);
    shale_lifecycle_request_shutdown(l, 0, NULL);
}

struct lifecycle *shale_lifecycle_create(struct server *srv, struct event_base *base,
                                         struct acceptor *acceptor)
{
    struct lifecycle *l = shale_calloc(1, sizeof(*l));
    l->srv = srv;
    l->base = base;
    l->acceptor = acceptor;
    atomic_store(&l->beat_us, clock_mono_us());
    l->sigterm = evsignal_new(base, SIGTERM, on_signal, l);
    l->sigint = evsignal_new(base, SIGINT, on_signal, l);
    event_add(l->sigterm, NULL);
    event_add(l->sigint, NULL);
    l->request = event_new(base, -1, 0, on_request, l);
    l->heartbeat = event_new(base, -1, EV_PERSIST, on_heartbeat, l);
    struct timeval every = {0, HEARTBEAT_MS * 1000};
    event_add(l->heartbeat, &every);
    return l;
}

void shale_lifecycle_destroy(struct lifecycle *l)
{
    if (!l)
        return;
    if (l->acceptor)
        shale_acceptor_destroy(l->acceptor);
    event_free(l->sigterm);
    event_free(l->sigint);
    event_free(l->request);
    event_free(l->heartbeat);
    if (l->drain_poll)
        event_free(l->drain_poll);
    shale_free(l);
}

void shale_lifecycle_ready(struct lifecycle *l)
{
    int expected = LIFECYCLE_STARTING;
    atomic_compare_exchange_strong(&l->state, &expected, LIFECYCLE_RUNNING);
}

enum lifecycle_state shale_lifecycle_state(const struct lifecycle *l)
{
    return (enum lifecycle_state)atomic_load_explicit(&l->state, memory_order_relaxed);
}

int64_t shale_lifecycle_heartbeat(const struct lifecycle *l)
{
    return atomic_load_explicit(&l->beat_us, memory_order_relaxed);
}

void shale_lifecycle_request_shutdown(struct lifecycle *l, int flags, const char *why)
{
    int none = 0;
    if (!atomic_compare_exchange_strong(&l->requested, &none, REQUESTED | flags))
        return;
    /* Readiness goes false at once, before the main thread gets to it. */
    atomic_store(&l->state, LIFECYCLE_STOPPING);
    if (why)
        shale_log(LOG_WARNING, "%s", why);
    /* Thread-safe: libevent's notification wakes the main loop. */
    event_active(l->request, 0, 0);
}

int shale_lifecycle_abort_shutdown(struct lifecycle *l)
{
    int req = atomic_load(&l->requested);
    while ((req & REQUESTED) && !(req & STARTED)) {
        if (atomic_compare_exchange_weak(&l->requested, &req, 0)) {
            atomic_store(&l->state, LIFECYCLE_RUNNING);
            shale_log(LOG_WARNING, "Shutdown aborted");
            return 0;
        }
    }
    return -1;
}

int shale_lifecycle_must_exit_now(const struct lifecycle *l)
{
    return l->stuck_requests > 0;
}
