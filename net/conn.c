/* conn: a client connection's read and write paths (see conn.h).
 * I/O thread only.
 *
 * Read: borrow a buffer, read, parse as many commands as are complete, and
 * hand each to the router; argv stays in the buffer, which the requests pin.
 * Write: replies are released strictly in request order with one writev of
 * every consecutive finished reply; a reply that cannot be written yet arms
 * EV_WRITE. Backpressure: past client-max-inflight requests (or when the
 * thread runs out of request slots) the connection stops being read.
 * Transport: a TLS connection (c->tls) reads and writes the same buffers
 * through net/tls.c, which returns what read(2)/writev(2) would; the rest
 * of the path does not know the difference. */
#include "net/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "net/access.h"
#include "net/accounting.h"
#include "net/cmd_client.h"
#include "net/conn_limits.h"
#include "net/io_thread.h"
#include "net/multi.h"
#include "net/router.h"
#include "net/tls.h"
#include "server/clock.h"
#include "server/log.h"
#include "server/mem.h"
#include "server/server.h"
#include "server/status.h"

#define WRITE_IOV_MAX 64

static void on_readable(evutil_socket_t fd, short what, void *arg);
static void on_writable(evutil_socket_t fd, short what, void *arg);
static void on_tls_readable(evutil_socket_t fd, short what, void *arg);
static void on_tls_writable(evutil_socket_t fd, short what, void *arg);

static void format_addr(const struct sockaddr_storage *ss, char *out, size_t outlen)
{
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        port = ntohs(in->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        port = ntohs(in6->sin6_port);
    }
    /* Redis's anetFormatAddr: an IPv6 address in brackets. */
    snprintf(out, outlen, ss->ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", host, port);
}

void shale_conn_open(struct io_thread *t, struct conn *c, int fd, int tls)
{
    const struct config *cfg = t->srv->cfg;
    memset(c, 0, sizeof(*c));
    c->t = t;
    c->fd = fd;
    c->proto = 2;
    struct resp_limits limits = {
        .max_bulk_len = config_live(cfg, proto_max_bulk_len),
        .max_multibulk_len = config_live(cfg, proto_max_multibulk_len),
        .max_inline_len = 64 * 1024,
    };
    shale_resp_parser_init(&c->parser, &limits);
    const char *password = config_live(cfg, requirepass);
    shale_conn_set_authenticated(c, !password || !*password);

    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct client_info *ci = &c->info;
    ci->id = atomic_fetch_add(&t->srv->clients.next_id, 1);
    ci->fd = fd;
    ci->io_thread = t->index;
    ci->created_ms = clock_wall_ms();
    atomic_store_explicit(&ci->last_ms, ci->created_ms, memory_order_relaxed);
    atomic_store_explicit(&ci->last_cmd, -1, memory_order_relaxed);
    atomic_store_explicit(&ci->multi, -1, memory_order_relaxed);
    atomic_store_explicit(&ci->proto, 2, memory_order_relaxed);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
        format_addr(&ss, ci->addr, sizeof(ci->addr));
        if (shale_access_is_loopback((const struct sockaddr *)&ss))
            c->flags |= CONN_LOCAL;
    }
    sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        format_addr(&ss, ci->laddr, sizeof(ci->laddr));
    shale_clients_add(&t->srv->clients, ci);

    /* The slot embeds struct event from the headers we were built with;
     * the library we run with must agree on its size. */
    if (event_get_struct_event_size() > sizeof(struct event))
        abort();
    c->read_event = &c->read_ev;
    c->write_event = &c->write_ev;
    event_assign(c->read_event, t->base, fd, EV_READ | EV_PERSIST,
                 tls ? on_tls_readable : on_readable, c);
    event_assign(c->write_event, t->base, fd, EV_WRITE | EV_PERSIST,
                 tls ? on_tls_writable : on_writable, c);
    event_add(c->read_event, NULL);

    c->prev_active = NULL;
    c->next_active = t->active;
    if (t->active)
        t->active->prev_active = c;
    t->active = c;
    if (tls && !(c->tls = shale_tls_conn_create(t->srv->tls, fd, ci->addr)))
        shale_conn_close(c);
}

void shale_conn_set_authenticated(struct conn *c, int yes)
{
    if (yes)
        c->flags |= CONN_AUTHENTICATED;
    else
        c->flags &= ~(uint32_t)CONN_AUTHENTICATED;
    shale_resp_parser_set_unauthenticated(&c->parser, !yes);
}

/* Gives the slot back once no shard holds a request of this connection. */
static void release_slot_if_done(struct conn *c)
{
    /* Still linked on the thread's dirty or resume list: released from there. */
    if (!(c->flags & CONN_CLOSED) || c->head || (c->flags & (CONN_DIRTY | CONN_ON_RESUME)))
        return;
    struct io_thread *t = c->t;
    shale_resp_parser_deinit(&c->parser);
    c->flags = 0;
    c->next_active = t->free_conns;
    t->free_conns = c;
}

/* Unlinks and frees the head request (its reply has been written). */
static void pop_head(struct conn *c)
{
    struct request *r = c->head;
    c->argv_bytes -= r->argv_bytes;
    c->head = r->next;
    if (!c->head)
        c->tail = NULL;
    c->inflight--;
    atomic_store_explicit(&c->info.inflight, c->inflight, memory_order_relaxed);
    shale_io_request_put(c->t, r);
}

/* An idle connection gives its read buffer back. */
static void maybe_release_rbuf(struct conn *c)
{
    struct iobuf *b = c->rbuf;
    if (b && c->rpos == b->len && b->refs == 1) {
        shale_iobuf_put(&c->t->bufs, b);
        c->rbuf = NULL;
        c->rpos = 0;
    }
}

/* A closed connection leaves the resume list at once: when every request of
 * a paused reader was already done (closed by the output limit from the
 * cron), no completion would ever walk that list again, and the slot and
 * its parser arrays were never given back. */
static void leave_resume_list(struct conn *c)
{
    if (!(c->flags & CONN_ON_RESUME))
        return;
    for (struct conn **link = &c->t->resume; *link; link = &(*link)->next_resume)
        if (*link == c) {
            *link = c->next_resume;
            break;
        }
    c->flags &= ~(uint32_t)CONN_ON_RESUME;
}

void shale_conn_close(struct conn *c)
{
    if (c->flags & CONN_CLOSED)
        return;
    struct io_thread *t = c->t;
    c->flags |= CONN_CLOSED;
    event_del(c->read_event);
    event_del(c->write_event);
    c->read_event = c->write_event = NULL;
    shale_tls_conn_destroy(c->tls);
    c->tls = NULL;
    close(c->fd);
    c->fd = -1;
    shale_clients_remove(&t->srv->clients, &c->info);
    shale_multi_reset(c);
    atomic_fetch_sub(&t->srv->clients.connected, 1);
    if (c->prev_active)
        c->prev_active->next_active = c->next_active;
    else
        t->active = c->next_active;
    if (c->next_active)
        c->next_active->prev_active = c->prev_active;
    c->next_active = c->prev_active = NULL;
    if (c->rbuf) {
        shale_iobuf_put(&t->bufs, c->rbuf);
        c->rbuf = NULL;
    }
    leave_resume_list(c);
    /* Finished replies go now; requests still on a shard come back later
     * and are dropped then (see shale_conn_flush). */
    shale_conn_flush(c);
}

void shale_conn_mark_dirty(struct conn *c)
{
    if (c->flags & CONN_DIRTY)
        return;
    c->flags |= CONN_DIRTY;
    c->next_dirty = c->t->dirty;
    c->t->dirty = c;
}

static void pause_reading(struct conn *c)
{
    if (c->flags & CONN_READ_PAUSED)
        return;
    c->flags |= CONN_READ_PAUSED;
    event_del(c->read_event);
    if (!(c->flags & CONN_ON_RESUME)) {
        c->flags |= CONN_ON_RESUME;
        c->next_resume = c->t->resume;
        c->t->resume = c;
    }
}

/* Drops finished requests of a closed connection, in any order. */
static void drop_finished(struct conn *c)
{
    struct request **link = &c->head, *last = NULL;
    while (*link) {
        struct request *r = *link;
        if (r->state == REQUEST_DONE) {
            *link = r->next;
            c->inflight--;
            c->argv_bytes -= r->argv_bytes;
            shale_io_request_put(c->t, r);
        } else {
            last = r;
            link = &r->next;
        }
    }
    c->tail = last;
    release_slot_if_done(c);
}

static void arm_write(struct conn *c, int on)
{
    if (on && !(c->flags & CONN_WRITE_ARMED)) {
        event_add(c->write_event, NULL);
        c->flags |= CONN_WRITE_ARMED;
    } else if (!on && (c->flags & CONN_WRITE_ARMED)) {
        event_del(c->write_event);
        c->flags &= ~(uint32_t)CONN_WRITE_ARMED;
    }
}

/* The client is not reading as fast as replies come: wait for the socket
 * (writable: EV_WRITE; TLS may wait to read instead), unless it went past
 * client-output-buffer-limit. */
static void write_blocked(struct conn *c, int writable)
{
    arm_write(c, writable);
    if (shale_conn_limits_output_exceeded(c, clock_wall_ms()))
        shale_conn_close(c);
    else
        shale_client_publish(c);
}

void shale_conn_flush(struct conn *c)
{
    if (c->flags & CONN_CLOSED) {
        drop_finished(c);
        return;
    }
    while (c->head && c->head->state == REQUEST_DONE) {
        struct iovec iov[WRITE_IOV_MAX];
        int n = 0;
        size_t skip = c->wpos;
        for (struct request *r = c->head; r && r->state == REQUEST_DONE && n < WRITE_IOV_MAX;
             r = r->next) {
            iov[n].iov_base = r->reply.data + skip;
            iov[n].iov_len = r->reply.len - skip;
            skip = 0;
            n++;
        }
        ssize_t w = c->tls ? shale_tls_writev(c->tls, iov, n) : writev(c->fd, iov, n);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                /* An SSL_write waiting to read is retried by the read event. */
                write_blocked(c, !(c->tls && shale_tls_write_wants_read(c->tls)));
                return;
            }
            if (errno == EINTR)
                continue;
            shale_conn_close(c);
            return;
        }
        atomic_fetch_add_explicit(&c->t->stats.net_output, (uint64_t)w, memory_order_relaxed);
        size_t written = (size_t)w;
        while (c->head && c->head->state == REQUEST_DONE) {
            size_t rest = c->head->reply.len - c->wpos;
            if (written < rest) {
                c->wpos += written;
                if (c->tls)
                    break; /* SSL_write stops after each record: write on */
                write_blocked(c, 1);
                return;
            }
            written -= rest;
            c->wpos = 0;
            pop_head(c);
        }
    }
    arm_write(c, c->tls && shale_tls_read_wants_write(c->tls));
    maybe_release_rbuf(c);
    if (!c->head && (c->flags & CONN_CLOSE_AFTER_REPLY))
        shale_conn_close(c);
    else
        shale_client_publish(c);
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
    shale_conn_flush(arg);
}

/* Appends a finished request whose reply is an error. */
static void reply_error_now(struct conn *c, const char *msg)
{
    struct request *r = shale_io_request_get(c->t);
    r->conn = c;
    r->proto = c->proto;
    shale_resp_buf_init(&r->reply, c->proto);
    shale_resp_add_error(&r->reply, msg);
    shale_accounting_reply(r);
    r->state = REQUEST_DONE;
    if (c->tail)
        c->tail->next = r;
    else
        c->head = r;
    c->tail = r;
    c->inflight++;
    shale_conn_mark_dirty(c);
}

static int can_take_request(struct conn *c)
{
    struct io_thread *t = c->t;
    /* A command split over every shard takes one slot per shard plus its
     * own; beyond that, 2 x shards + 2 stay free for the later rounds of
     * the one command of this thread that may be running in rounds
     * (net/txn.h: MSETNX takes up to 2 x shards parts, EXEC one command's
     * worth at a time), which allocate after their admission. */
    uint32_t n = (uint32_t)t->srv->nshards;
    return c->inflight < (uint32_t)config_live(t->srv->cfg, client_max_inflight) &&
           t->requests_free > (n + 1) + (2 * n + 2);
}

static void protocol_error(struct conn *c)
{
    char msg[128];
    snprintf(msg, sizeof(msg), "ERR %s", shale_resp_parser_error(&c->parser));
    shale_log(LOG_VERBOSE, "client id=%llu addr=%s: %s", (unsigned long long)c->info.id,
              c->info.addr, msg + 4);
    reply_error_now(c, msg);
    c->flags |= CONN_CLOSE_AFTER_REPLY;
    c->rpos = c->rbuf->len; /* the rest of the input is not looked at */
}

void shale_conn_process_input(struct conn *c)
{
    struct io_thread *t = c->t;
    int64_t read_us = t->clock_us = clock_mono_us(); /* latency start of what is parsed now */
    while (c->rbuf && c->rpos < c->rbuf->len &&
           !(c->flags & (CONN_CLOSED | CONN_CLOSE_AFTER_REPLY))) {
        if (!can_take_request(c)) {
            pause_reading(c);
            return;
        }
        struct iobuf *b = c->rbuf;
        size_t consumed;
        int argc;
        struct slice *argv;
        int rc = shale_resp_parse(&c->parser, b->data + c->rpos, b->len - c->rpos, &consumed, &argc,
                                  &argv);
        if (rc == SHALE_AGAIN)
            break;
        if (rc != SHALE_OK) {
            protocol_error(c);
            break;
        }
        c->rpos += consumed;
        if (argc == 0)
            continue;
        struct request *r = shale_io_request_get(t);
        r->conn = c;
        r->start_us = read_us;
        r->db = c->db;
        r->proto = c->proto;
        r->argc = argc;
        if (argc > REQUEST_INLINE_ARGS) {
            r->argv = shale_malloc(sizeof(struct slice) * (size_t)argc);
            r->argv_heap = 1;
        }
        memcpy(r->argv, argv, sizeof(struct slice) * (size_t)argc);
        for (int i = 0; i < argc; i++)
            r->argv_bytes += argv[i].len;
        r->buf = b;
        b->refs++;
        shale_resp_buf_init(&r->reply, c->proto);
        if (c->tail)
            c->tail->next = r;
        else
            c->head = r;
        c->tail = r;
        c->inflight++;
        c->argv_bytes += r->argv_bytes;
        if (c->flags & (CONN_REPLY_OFF | CONN_REPLY_SKIP))
            r->silent = 1;
        shale_router_dispatch(t, c, r);
        if (c->flags & (CONN_REPLY_SKIP | CONN_REPLY_SKIP_NEXT))
            shale_client_reply_skip_done(c);
    }
    atomic_store_explicit(&c->info.inflight, c->inflight, memory_order_relaxed);
    maybe_release_rbuf(c);
    if (!(c->flags & CONN_CLOSED))
        shale_client_publish(c);
}

/* Makes room in the read buffer: compacts it, or moves the unparsed tail to
 * a new buffer when requests still point into the old one or the command
 * being parsed needs more than it can hold. Returns -1 when the client went
 * past client-query-buffer-limit. */
static int prepare_read_buffer(struct conn *c)
{
    struct io_thread *t = c->t;
    if (!c->rbuf) {
        c->rbuf = shale_iobuf_get(&t->bufs, IOBUF_SIZE);
        c->rpos = 0;
        return 0;
    }
    struct iobuf *b = c->rbuf;
    size_t unparsed = b->len - c->rpos;
    size_t needed = shale_resp_parser_needed(&c->parser);
    if (needed < unparsed + 1)
        needed = unparsed + 1;
    if (needed > (size_t)config_live(t->srv->cfg, client_query_buffer_limit)) {
        shale_log(LOG_WARNING,
                  "Closing client that reached max query buffer length: id=%llu addr=%s",
                  (unsigned long long)c->info.id, c->info.addr);
        atomic_fetch_add_explicit(&t->stats.qbuf_limit_closed, 1, memory_order_relaxed);
        return -1;
    }
    if (c->rpos + needed <= b->cap && b->len < b->cap)
        return 0; /* room at the end */
    if (b->refs == 1 && needed <= b->cap) {
        memmove(b->data, b->data + c->rpos, unparsed);
        b->len = unparsed;
        c->rpos = 0;
        return 0;
    }
    /* A large argument gets a buffer sized for it at once. Input whose size
     * the parser cannot know yet (a long line) doubles, up to the limit:
     * growing by what one read brings made a 64 KB line cost O(n^2) copying. */
    size_t cap = needed > IOBUF_SIZE ? needed : IOBUF_SIZE;
    size_t limit = (size_t)config_live(t->srv->cfg, client_query_buffer_limit);
    if (cap < 2 * unparsed)
        cap = 2 * unparsed < limit ? 2 * unparsed : limit; /* >= needed, checked above */
    struct iobuf *nb = shale_iobuf_get(&t->bufs, cap);
    memcpy(nb->data, b->data + c->rpos, unparsed);
    nb->len = unparsed;
    shale_iobuf_put(&t->bufs, b);
    c->rbuf = nb;
    c->rpos = 0;
    return 0;
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    if (atomic_load_explicit(&c->info.kill, memory_order_relaxed)) {
        shale_conn_close(c); /* CLIENT KILL from another thread */
        return;
    }
    if (prepare_read_buffer(c) < 0) {
        shale_conn_close(c);
        return;
    }
    struct iobuf *b = c->rbuf;
    char *at = b->data + b->len;
    ssize_t n =
        c->tls ? shale_tls_read(c->tls, at, b->cap - b->len) : read(fd, at, b->cap - b->len);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            if (c->tls && shale_tls_read_wants_write(c->tls))
                arm_write(c, 1);
            maybe_release_rbuf(c);
            return;
        }
        shale_conn_close(c);
        return;
    }
    if (!(c->flags & CONN_INPUT_SEEN)) {
        c->flags |= CONN_INPUT_SEEN;
        if (!c->tls && shale_tls_is_client_hello(at, (size_t)n)) {
            shale_tls_refuse_on_plain_port(c->t->srv->tls, c->info.addr);
            shale_conn_close(c);
            return;
        }
    }
    b->len += (size_t)n;
    atomic_fetch_add_explicit(&c->t->stats.net_input, (uint64_t)n, memory_order_relaxed);
    atomic_store_explicit(&c->info.last_ms, clock_wall_ms(), memory_order_relaxed);
    shale_conn_process_input(c);
    /* OpenSSL may hold more (decrypted or read ahead) than fitted: epoll
     * will not report it, so come back on the next loop turn. */
    if (c->tls && !(c->flags & (CONN_READ_PAUSED | CONN_CLOSED | CONN_CLOSE_AFTER_REPLY)) &&
        shale_tls_has_pending(c->tls))
        event_active(c->read_event, EV_READ, 0);
}

/* ---- TLS transport: the handshake, and retries across directions ---- */

static void tls_handshake(struct conn *c)
{
    switch (shale_tls_handshake(c->tls)) {
    case TLS_WANT_READ:
        arm_write(c, 0);
        return;
    case TLS_WANT_WRITE:
        arm_write(c, 1);
        return;
    case TLS_FAILED:
        shale_conn_close(c);
        return;
    case TLS_DONE:
        arm_write(c, 0);
        on_readable(c->fd, EV_READ, c); /* the first command may be buffered already */
        return;
    }
}

/* An SSL_write may wait for the socket to be readable and an SSL_read for
 * it to be writable, so each event retries the direction that waits on it. */
static void on_tls_readable(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    if (!shale_tls_established(c->tls)) {
        tls_handshake(c);
        return;
    }
    if (shale_tls_write_wants_read(c->tls)) {
        shale_conn_flush(c);
        if (c->flags & CONN_CLOSED)
            return;
    }
    on_readable(fd, what, c);
}

static void on_tls_writable(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    if (!shale_tls_established(c->tls)) {
        tls_handshake(c);
        return;
    }
    if (shale_tls_read_wants_write(c->tls) && !(c->flags & CONN_READ_PAUSED)) {
        on_readable(fd, EV_READ, c);
        if (c->flags & CONN_CLOSED)
            return;
    }
    shale_conn_flush(c);
}

void shale_conn_expire_handshakes(struct io_thread *t)
{
    int64_t now_ms = clock_mono_us() / 1000;
    for (struct conn *c = t->active, *next; c; c = next) {
        next = c->next_active;
        if (c->tls && shale_tls_handshake_expired(c->tls, now_ms))
            shale_conn_close(c);
    }
}

/* Called by the thread after requests were freed: paused readers whose
 * reason to pause is gone start reading again. */
int shale_conn_try_resume(struct conn *c)
{
    if (c->flags & CONN_CLOSED)
        return 1;
    if (!can_take_request(c))
        return 0;
    c->flags &= ~(uint32_t)CONN_READ_PAUSED;
    if (!(c->flags & CONN_NO_READ)) /* draining: run what was read, read nothing new */
        event_add(c->read_event, NULL);
    shale_conn_process_input(c);
    if (c->tls && !(c->flags & (CONN_READ_PAUSED | CONN_CLOSED)) && shale_tls_has_pending(c->tls))
        event_active(c->read_event, EV_READ, 0); /* epoll will not report it */
    return !(c->flags & CONN_READ_PAUSED);
}
