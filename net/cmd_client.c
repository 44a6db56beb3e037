/* cmd_client: see cmd_client.h. Replies and errors are Redis 7.0's.
 *
 * CLIENT LIST may describe a connection of another I/O thread, so it reads
 * only what client_info publishes (immutable fields, relaxed atomics, the
 * name under the registry lock). CLIENT KILL decides under the registry
 * lock which clients match, so its count is exact, flags them, and wakes
 * their threads; each thread closes its own flagged connections at the top
 * of its next loop turn (or on the connection's next read, whichever comes
 * first). A flagged client is already gone for CLIENT LIST and KILL. */
#include "net/cmd_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/conn.h"
#include "net/io_thread.h"
#include "net/request.h"
#include "server/clock.h"
#include "server/command.h"
#include "server/mem.h"
#include "server/server.h"
#include "server/strconv.h"

enum client_list_flag {
    CLIENT_LIST_CLOSE_AFTER_REPLY = 1 << 0, /* flags=c */
    CLIENT_LIST_NO_EVICT = 1 << 1,          /* flags=e */
    CLIENT_LIST_READING = 1 << 2,           /* events=r */
    CLIENT_LIST_WRITING = 1 << 3,           /* events=w */
};

#define STORE(field, v) atomic_store_explicit(&(field), (v), memory_order_relaxed)
#define LOAD(field)     atomic_load_explicit(&(field), memory_order_relaxed)

void shale_client_publish(struct conn *c)
{
    struct client_info *ci = &c->info;
    const struct iobuf *b = c->rbuf;
    uint32_t flags = 0;
    if (c->flags & CONN_CLOSE_AFTER_REPLY)
        flags |= CLIENT_LIST_CLOSE_AFTER_REPLY;
    if (c->flags & CONN_NO_EVICT)
        flags |= CLIENT_LIST_NO_EVICT;
    if (!(c->flags & (CONN_READ_PAUSED | CONN_CLOSED)))
        flags |= CLIENT_LIST_READING;
    if (c->flags & CONN_WRITE_ARMED)
        flags |= CLIENT_LIST_WRITING;
    STORE(ci->list_flags, flags);
    STORE(ci->qbuf, b ? b->len - c->rpos : 0);
    STORE(ci->qbuf_free, b ? b->cap - b->len : 0);
    STORE(ci->rbuf_size, b ? b->cap : 0);
    STORE(ci->rbuf_peak, b ? (b->len > LOAD(ci->rbuf_peak) ? b->len : LOAD(ci->rbuf_peak)) : 0);
    /* Arguments are not copied out of the read buffer: argv-mem is the
     * bytes of it that the commands in flight still hold. */
    STORE(ci->argv_mem, c->argv_bytes);
    /* Output waits only while the socket does not take it. */
    uint64_t out = 0, replies = 0;
    if (c->flags & CONN_WRITE_ARMED) {
        size_t skip = c->wpos;
        for (const struct request *r = c->head; r && r->state == REQUEST_DONE; r = r->next) {
            out += r->reply.len - skip;
            skip = 0;
            replies++;
        }
    }
    STORE(ci->out_bytes, out);
    STORE(ci->out_replies, replies);
}

/* ---- CLIENT LIST / INFO ---- */

struct list_ctx {
    struct resp_buf *out;
    int64_t now_ms;
    const long long *ids; /* CLIENT LIST ID ...; NULL: every client */
    int nids;
    int none; /* CLIENT LIST TYPE other than normal: no client matches */
};

static void client_line(struct resp_buf *out, const struct client_info *ci, int64_t now_ms)
{
    char flags[8];
    int nf = 0;
    uint32_t lf = LOAD(ci->list_flags);
    int multi = LOAD(ci->multi);
    if (multi >= 0)
        flags[nf++] = 'x';
    if (lf & CLIENT_LIST_CLOSE_AFTER_REPLY)
        flags[nf++] = 'c';
    if (LOAD(ci->kill))
        flags[nf++] = 'A';
    if (lf & CLIENT_LIST_NO_EVICT)
        flags[nf++] = 'e';
    if (!nf)
        flags[nf++] = 'N';
    flags[nf] = '\0';
    char events[3];
    int ne = 0;
    if (lf & CLIENT_LIST_READING)
        events[ne++] = 'r';
    if (lf & CLIENT_LIST_WRITING)
        events[ne++] = 'w';
    events[ne] = '\0';
    const struct command *last = shale_command_at(LOAD(ci->last_cmd));
    int64_t last_ms = LOAD(ci->last_ms);
    uint64_t rbs = LOAD(ci->rbuf_size), waiting = LOAD(ci->out_bytes);
    uint64_t replies = LOAD(ci->out_replies);
    /* Finished replies waiting for the socket: obl their bytes, oll how
     * many, omem the memory they hold. */
    char line[768];
    int n = snprintf(
        line, sizeof(line),
        "id=%llu addr=%s laddr=%s fd=%d name=%s age=%lld idle=%lld flags=%s db=%d "
        "sub=0 psub=0 ssub=0 multi=%d qbuf=%llu qbuf-free=%llu argv-mem=%llu multi-mem=0 "
        "rbs=%llu rbp=%llu obl=%llu oll=%llu omem=%llu tot-mem=%llu events=%s cmd=%s "
        "user=default redir=-1 resp=%d\n",
        (unsigned long long)ci->id, ci->addr, ci->laddr, ci->fd, ci->name ? ci->name : "",
        (long long)(now_ms - ci->created_ms) / 1000, (long long)(now_ms - last_ms) / 1000, flags,
        LOAD(ci->db), multi, (unsigned long long)LOAD(ci->qbuf),
        (unsigned long long)LOAD(ci->qbuf_free), (unsigned long long)LOAD(ci->argv_mem),
        (unsigned long long)rbs, (unsigned long long)LOAD(ci->rbuf_peak),
        (unsigned long long)waiting, (unsigned long long)replies, (unsigned long long)waiting,
        (unsigned long long)(sizeof(struct conn) + rbs + waiting), events,
        last ? last->name : "NULL", LOAD(ci->proto));
    shale_resp_add_raw(out, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static void list_one(void *arg, struct client_info *ci)
{
    struct list_ctx *ctx = arg;
    if (ctx->none || LOAD(ci->kill))
        return;
    if (ctx->ids) {
        int found = 0;
        for (int i = 0; i < ctx->nids && !found; i++)
            found = (unsigned long long)ctx->ids[i] == (unsigned long long)ci->id;
        if (!found)
            return;
    }
    client_line(ctx->out, ci, ctx->now_ms);
}

static void reply_lines(struct conn *c, struct request *r, struct client_info *only,
                        struct list_ctx *ctx)
{
    struct resp_buf text;
    shale_resp_buf_init(&text, 2);
    ctx->out = &text;
    ctx->now_ms = clock_wall_ms();
    shale_client_publish(c); /* the caller's own line is current */
    shale_clients_foreach(&c->t->srv->clients, only, list_one, ctx);
    shale_resp_add_verbatim(&r->reply, "txt", text.data, text.len);
    shale_resp_buf_release(&text);
}

void shale_cmd_client_info(struct conn *c, struct request *r)
{
    struct list_ctx ctx = {0};
    reply_lines(c, r, &c->info, &ctx);
}

/* Redis's getClientTypeByName: 0 normal, 1 another type, -1 unknown. */
static int client_type(struct slice name)
{
    if (slice_eq_nocase(name, "normal"))
        return 0;
    if (slice_eq_nocase(name, "slave") || slice_eq_nocase(name, "replica") ||
        slice_eq_nocase(name, "pubsub") || slice_eq_nocase(name, "master"))
        return 1;
    return -1;
}

static void unknown_type(struct request *r, struct slice name)
{
    shale_resp_add_errorf(&r->reply, "ERR Unknown client type '%.*s'", (int)name.len, name.ptr);
}

void shale_cmd_client_list(struct conn *c, struct request *r)
{
    struct list_ctx ctx = {0};
    long long *ids = NULL;
    if (r->argc == 4 && slice_eq_nocase(r->argv[2], "type")) {
        int type = client_type(r->argv[3]);
        if (type < 0) {
            unknown_type(r, r->argv[3]);
            return;
        }
        ctx.none = type != 0; /* only normal clients exist */
    } else if (r->argc > 3 && slice_eq_nocase(r->argv[2], "id")) {
        ids = shale_malloc(sizeof(*ids) * (size_t)(r->argc - 3));
        for (int i = 3; i < r->argc; i++) {
            if (!shale_strconv_ll(r->argv[i], &ids[i - 3])) {
                shale_resp_add_error(&r->reply, "ERR Invalid client ID");
                shale_free(ids);
                return;
            }
        }
        ctx.ids = ids;
        ctx.nids = r->argc - 3;
    } else if (r->argc != 2) {
        shale_resp_add_error(&r->reply, "ERR syntax error");
        return;
    }
    reply_lines(c, r, NULL, &ctx);
    shale_free(ids);
}

/* ---- CLIENT KILL ---- */

struct kill_filter {
    struct slice addr, laddr;
    int has_addr, has_laddr;
    long long id;      /* 0: any */
    long long max_age; /* seconds; 0: any */
    int type_none;     /* TYPE other than normal */
    int skipme;
    const struct client_info *me;
    int64_t now_ms;
    int killed;
    int kill_me;
    uint8_t *wake; /* [nio] threads that own a flagged client */
};

static int slice_is(struct slice s, const char *str)
{
    return s.len == strlen(str) && memcmp(s.ptr, str, s.len) == 0;
}

static void kill_one(void *arg, struct client_info *ci)
{
    struct kill_filter *f = arg;
    if (LOAD(ci->kill) || f->type_none)
        return;
    if (f->has_addr && !slice_is(f->addr, ci->addr))
        return;
    if (f->has_laddr && !slice_is(f->laddr, ci->laddr))
        return;
    if (f->id && (unsigned long long)f->id != (unsigned long long)ci->id)
        return;
    if (f->max_age && (f->now_ms - ci->created_ms) / 1000 <= f->max_age)
        return;
    if (ci == f->me) {
        if (f->skipme)
            return;
        f->kill_me = 1;
    } else {
        atomic_store(&ci->kill, 1);
        f->wake[ci->io_thread] = 1;
    }
    f->killed++;
}

/* Parses the filters of the new form; 0 after replying an error. */
static int parse_kill_filters(struct request *r, struct kill_filter *f)
{
    for (int i = 2; i < r->argc; i += 2) {
        struct slice opt = r->argv[i];
        if (i + 1 >= r->argc) {
            shale_resp_add_error(&r->reply, "ERR syntax error");
            return 0;
        }
        struct slice v = r->argv[i + 1];
        if (slice_eq_nocase(opt, "id")) {
            if (!shale_strconv_ll(v, &f->id) || f->id < 1) {
                shale_resp_add_error(&r->reply, "ERR client-id should be greater than 0");
                return 0;
            }
        } else if (slice_eq_nocase(opt, "type")) {
            int type = client_type(v);
            if (type < 0) {
                unknown_type(r, v);
                return 0;
            }
            f->type_none = type != 0;
        } else if (slice_eq_nocase(opt, "addr")) {
            f->addr = v;
            f->has_addr = 1;
        } else if (slice_eq_nocase(opt, "laddr")) {
            f->laddr = v;
            f->has_laddr = 1;
        } else if (slice_eq_nocase(opt, "user")) {
            if (!slice_is(v, "default")) { /* the only user until ACLs exist */
                shale_resp_add_errorf(&r->reply, "ERR No such user '%.*s'", (int)v.len, v.ptr);
                return 0;
            }
        } else if (slice_eq_nocase(opt, "skipme")) {
            if (slice_eq_nocase(v, "yes")) {
                f->skipme = 1;
            } else if (slice_eq_nocase(v, "no")) {
                f->skipme = 0;
            } else {
                shale_resp_add_error(&r->reply, "ERR syntax error");
                return 0;
            }
        } else if (slice_eq_nocase(opt, "maxage")) { /* Redis 7.4 */
            if (!shale_strconv_ll(v, &f->max_age) || f->max_age < 1) {
                shale_resp_add_error(&r->reply, "ERR syntax error");
                return 0;
            }
        } else {
            shale_resp_add_error(&r->reply, "ERR syntax error");
            return 0;
        }
    }
    return 1;
}

void shale_cmd_client_kill(struct conn *c, struct request *r)
{
    struct server *srv = c->t->srv;
    struct kill_filter f = {0};
    f.skipme = 1;
    f.me = &c->info;
    f.now_ms = clock_wall_ms();
    if (r->argc == 3) { /* CLIENT KILL addr:port: may kill the caller itself */
        f.addr = r->argv[2];
        f.has_addr = 1;
        f.skipme = 0;
    } else if (!parse_kill_filters(r, &f)) {
        return;
    }
    f.wake = shale_calloc((size_t)srv->nio, 1);
    shale_clients_foreach(&srv->clients, NULL, kill_one, &f);
    for (int i = 0; i < srv->nio; i++)
        if (f.wake[i]) {
            atomic_store(&srv->io[i]->kill_pending, 1);
            waker_notify(&srv->io[i]->waker);
        }
    shale_free(f.wake);
    if (r->argc == 3) {
        if (f.killed == 0)
            shale_resp_add_error(&r->reply, "ERR No such client");
        else
            shale_resp_add_status(&r->reply, "OK");
    } else {
        shale_resp_add_integer(&r->reply, f.killed);
    }
    if (f.kill_me) {
        c->flags |= CONN_CLOSE_AFTER_REPLY;
        shale_client_publish(c);
    }
}

void shale_client_kill_flagged(struct io_thread *t)
{
    if (!atomic_load_explicit(&t->kill_pending, memory_order_relaxed) ||
        !atomic_exchange(&t->kill_pending, 0))
        return;
    struct conn *c = t->active;
    while (c) {
        struct conn *next = c->next_active;
        if (atomic_load(&c->info.kill))
            shale_conn_close(c);
        c = next;
    }
}

/* ---- CLIENT NO-EVICT, CLIENT REPLY ---- */

void shale_cmd_client_no_evict(struct conn *c, struct request *r)
{
    if (slice_eq_nocase(r->argv[2], "on")) {
        c->flags |= CONN_NO_EVICT;
    } else if (slice_eq_nocase(r->argv[2], "off")) {
        c->flags &= ~(uint32_t)CONN_NO_EVICT;
    } else {
        shale_resp_add_error(&r->reply, "ERR syntax error");
        return;
    }
    shale_client_publish(c);
    shale_resp_add_status(&r->reply, "OK");
}

void shale_cmd_client_reply(struct conn *c, struct request *r)
{
    if (slice_eq_nocase(r->argv[2], "on")) {
        c->flags &= ~(uint32_t)(CONN_REPLY_SKIP | CONN_REPLY_OFF);
        r->silent = 0;
        shale_resp_add_status(&r->reply, "OK");
    } else if (slice_eq_nocase(r->argv[2], "off")) {
        c->flags |= CONN_REPLY_OFF;
        r->silent = 1;
    } else if (slice_eq_nocase(r->argv[2], "skip")) {
        if (!(c->flags & CONN_REPLY_OFF))
            c->flags |= CONN_REPLY_SKIP_NEXT;
        r->silent = 1;
    } else {
        shale_resp_add_error(&r->reply, "ERR syntax error");
    }
}

void shale_client_reply_skip_done(struct conn *c)
{
    c->flags &= ~(uint32_t)CONN_REPLY_SKIP;
    if (c->flags & CONN_REPLY_SKIP_NEXT) {
        c->flags |= CONN_REPLY_SKIP;
        c->flags &= ~(uint32_t)CONN_REPLY_SKIP_NEXT;
    }
}

void shale_client_reset_modes(struct conn *c, struct request *r)
{
    /* Like Redis 7.0's clearClientConnectionState: SKIP of the command
     * being handled stays (a RESET right after CLIENT REPLY SKIP is silent)
     * and so does NO-EVICT. */
    c->flags &= ~(uint32_t)(CONN_REPLY_OFF | CONN_REPLY_SKIP_NEXT);
    r->silent = (c->flags & CONN_REPLY_SKIP) != 0;
    shale_client_publish(c);
}
