/* fuzz_commands: libFuzzer target for the whole request path: RESP parse
 * (net/conn.c), routing, splitting and merging (net/router.c), keyless
 * commands on the I/O thread (net/cmd_conn.c) and execution on shards
 * (each command's shard_proc on an exec_ctx, as shards/shard.c runs it).
 *
 * Everything runs in this one thread: a real I/O thread object with its
 * request pool, rings and one connection on a socketpair, and three shards
 * whose rings are drained here (no thread is started). The driver turns the
 * same wheels as the I/O thread's loop (read, publish to shards, execute,
 * take back, write, resume paused readers), with the order in which shards
 * run and how much each runs per turn drawn from the input, so replies come
 * back out of order across shards and must be put back in order.
 *
 * The input is a program of operations, encoded as RESP commands:
 *  - model ops on a fixed set of tracked string keys (SET GET DEL EXISTS
 *    MSET MGET APPEND GETDEL), whose replies are checked against a model of
 *    each database;
 *  - chaos ops: any row of the command table with arguments from a small
 *    vocabulary or raw input bytes, keys drawn from a separate set; their
 *    replies are only checked for being well-formed, but the ones that
 *    change what the model depends on (SELECT, RESET, FLUSHDB, FLUSHALL,
 *    QUIT) are followed;
 *  - checks: EXISTS over every chaos key, KEYS p:* (DEBUG POPULATE's keys),
 *    then DBSIZE, which must equal the model's count plus those two.
 * Invariants: exactly one well-formed reply per request, in order, nothing
 * after the last one; the model holds; after the connection closes every
 * request slot and read buffer is back in its pool.
 *
 * Arguments that only make a command slow or big (DEBUG SLEEP, DEBUG
 * POPULATE's count and size, HRANDFIELD's count, SETRANGE's offset) are
 * clamped when the program is built: this target looks for wrong answers
 * and memory errors, not for capacity. CONFIG SET is left to fuzz_config. */
#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/conn.h"
#include "net/io_thread.h"
#include "net/router.h"
#include "net/tls.h"
#include "server/cmdstats.h"
#include "server/command.h"
#include "server/config.h"
#include "server/defrag_governor.h"
#include "server/log.h"
#include "server/mem.h"
#include "server/ring.h"
#include "server/server.h"
#include "shards/exec.h"
#include "shards/keyspace.h"
#include "shards/shard.h"
#include "shards/watch.h"
#include "tests/fuzz/harness.h"

#define NSHARDS      3
#define NDB          4
#define NTRACKED     6
#define NCHAOS       8
#define MAX_OPS      96
#define MAX_ARGS     12
#define FIXED_NOW_MS 1700000000000LL
#define MAX_TURNS    200000

static const char *const tracked[NTRACKED] = {"m:0", "m:1", "m:2", "{x}m:3", "{x}m:4", "{y}m:5"};
static const char *const chaos[NCHAOS] = {"c:0",    "c:1",    "c:2",    "c:3",
                                          "{x}c:4", "{x}c:5", "{y}c:6", "{m}c:7"};
static const char *const vocab[] = {"0",
                                    "1",
                                    "-1",
                                    "2",
                                    "10",
                                    "100",
                                    "3",
                                    "EX",
                                    "PX",
                                    "NX",
                                    "XX",
                                    "GT",
                                    "LT",
                                    "KEEPTTL",
                                    "GET",
                                    "EXAT",
                                    "PXAT",
                                    "PERSIST",
                                    "*",
                                    "c*",
                                    "[a-z]*",
                                    "MATCH",
                                    "COUNT",
                                    "TYPE",
                                    "string",
                                    "hash",
                                    "WITHVALUES",
                                    "f",
                                    "g",
                                    "1.5",
                                    "-0.5",
                                    "inf",
                                    "nan",
                                    "9223372036854775807",
                                    "-9223372036854775808",
                                    "1e308",
                                    "",
                                    "NOVALUES",
                                    "ASYNC",
                                    "SYNC",
                                    "ID",
                                    "p"};
#define NVOCAB (sizeof(vocab) / sizeof(vocab[0]))

enum op_kind {
    OP_CHAOS,
    OP_SET,
    OP_GET,
    OP_DEL,
    OP_EXISTS,
    OP_MSET,
    OP_MGET,
    OP_APPEND,
    OP_GETDEL,
    OP_CHECK_CHAOS, /* EXISTS c:* */
    OP_CHECK_POP,   /* KEYS p:* */
    OP_CHECK_DBSIZE,
    OP_KINDS
};

struct op {
    enum op_kind kind;
    const struct command *cmd; /* OP_CHAOS: the row used, NULL for an unknown name */
    int nkeys;
    int key[MAX_ARGS];            /* tracked key indexes */
    const uint8_t *val[MAX_ARGS]; /* values, pointing into the fuzz input */
    size_t vlen[MAX_ARGS];
    long long select_db;    /* OP_CHAOS SELECT: the db asked for */
    size_t req_at, req_len; /* the request's bytes in the stream (for FUZZ_TRACE) */
};

struct model_value {
    int present;
    char *data;
    size_t len;
};

static struct {
    int ready;
    struct config cfg;
    struct server srv;
    struct io_thread *t;
    struct exec_ctx exec[NSHARDS];
    struct model_value model[NDB][NTRACKED];
    struct op ops[MAX_OPS];
    int nops;
    char *out; /* the request stream */
    size_t out_len, out_cap;
    char *in; /* the reply stream */
    size_t in_len, in_cap;
} fx;

/* ---- building the request stream -------------------------------------- */

static void out_put(const void *p, size_t n)
{
    if (fx.out_len + n > fx.out_cap) {
        fx.out_cap = (fx.out_len + n) * 2 + 1024;
        fx.out = shale_realloc(fx.out, fx.out_cap);
    }
    memcpy(fx.out + fx.out_len, p, n);
    fx.out_len += n;
}

static void out_fmt(const char *prefix, size_t n)
{
    char hdr[32];
    int w = snprintf(hdr, sizeof(hdr), "%s%zu\r\n", prefix, n);
    out_put(hdr, (size_t)w);
}

struct args {
    int argc;
    const char *ptr[MAX_ARGS];
    size_t len[MAX_ARGS];
    char scratch[MAX_ARGS][24];
};

static void arg_add(struct args *a, const void *p, size_t n)
{
    a->ptr[a->argc] = p;
    a->len[a->argc++] = n;
}

static void arg_str(struct args *a, const char *s)
{
    arg_add(a, s, strlen(s));
}

static void emit(const struct args *a)
{
    out_fmt("*", (size_t)a->argc);
    for (int i = 0; i < a->argc; i++) {
        out_fmt("$", a->len[i]);
        out_put(a->ptr[i], a->len[i]);
        out_put("\r\n", 2);
    }
}

/* A value of up to 24 bytes taken from the input. */
static const uint8_t *take_value(struct fuzz_input *in, size_t *len)
{
    return shale_fuzz_bytes(in, shale_fuzz_below(in, 25), len);
}

static void build_model_op(struct fuzz_input *in, struct op *op)
{
    struct args a = {0};
    int n;
    switch (op->kind) {
    case OP_SET:
    case OP_APPEND:
        arg_str(&a, op->kind == OP_SET ? "SET" : "APPEND");
        op->nkeys = 1;
        op->key[0] = (int)shale_fuzz_below(in, NTRACKED);
        op->val[0] = take_value(in, &op->vlen[0]);
        arg_str(&a, tracked[op->key[0]]);
        arg_add(&a, op->val[0], op->vlen[0]);
        break;
    case OP_GET:
    case OP_GETDEL:
        arg_str(&a, op->kind == OP_GET ? "GET" : "GETDEL");
        op->nkeys = 1;
        op->key[0] = (int)shale_fuzz_below(in, NTRACKED);
        arg_str(&a, tracked[op->key[0]]);
        break;
    case OP_DEL:
    case OP_EXISTS:
    case OP_MGET:
        arg_str(&a, op->kind == OP_DEL ? "DEL" : op->kind == OP_EXISTS ? "EXISTS" : "MGET");
        n = 1 + (int)shale_fuzz_below(in, 6);
        for (int i = 0; i < n; i++) {
            op->key[op->nkeys++] = (int)shale_fuzz_below(in, NTRACKED);
            arg_str(&a, tracked[op->key[i]]);
        }
        break;
    case OP_MSET:
        arg_str(&a, "MSET");
        n = 1 + (int)shale_fuzz_below(in, 5);
        for (int i = 0; i < n; i++) {
            op->key[op->nkeys] = (int)shale_fuzz_below(in, NTRACKED);
            op->val[op->nkeys] = take_value(in, &op->vlen[op->nkeys]);
            arg_str(&a, tracked[op->key[op->nkeys]]);
            arg_add(&a, op->val[op->nkeys], op->vlen[op->nkeys]);
            op->nkeys++;
        }
        break;
    default:
        break;
    }
    emit(&a);
}

static void build_check(struct op *first)
{
    struct args a = {0};
    arg_str(&a, "EXISTS");
    for (int i = 0; i < NCHAOS; i++)
        arg_str(&a, chaos[i]);
    first[0].kind = OP_CHECK_CHAOS;
    first[0].req_at = fx.out_len;
    emit(&a);
    a.argc = 0;
    arg_str(&a, "KEYS");
    arg_str(&a, "p:*");
    first[1].kind = OP_CHECK_POP;
    first[1].req_at = fx.out_len;
    emit(&a);
    a.argc = 0;
    arg_str(&a, "DBSIZE");
    first[2].kind = OP_CHECK_DBSIZE;
    first[2].req_at = fx.out_len;
    emit(&a);
}

static int is_key_position(const struct command *cmd, int i, int argc)
{
    if (cmd->first_key <= 0 || i < cmd->first_key)
        return 0;
    int last = cmd->last_key < 0 ? argc + cmd->last_key : cmd->last_key;
    return i <= last && (i - cmd->first_key) % (cmd->key_step ? cmd->key_step : 1) == 0;
}

/* Replaces a numeric argument by itself clamped to [lo, hi]. */
static void clamp_arg(struct args *a, int i, long long lo, long long hi)
{
    if (i >= a->argc || a->len[i] == 0 || a->len[i] > 20)
        return;
    char tmp[24];
    memcpy(tmp, a->ptr[i], a->len[i]);
    tmp[a->len[i]] = '\0';
    char *end;
    errno = 0;
    long long v = strtoll(tmp, &end, 10);
    if (*end || errno)
        return;
    v = v < lo ? lo : v > hi ? hi : v;
    snprintf(a->scratch[i], sizeof(a->scratch[i]), "%lld", v);
    a->ptr[i] = a->scratch[i];
    a->len[i] = strlen(a->scratch[i]);
}

/* Whether DEBUG SLEEP's argument would make it sleep at all. */
static int wants_sleep(const struct args *a, int i)
{
    char tmp[32] = "";
    memcpy(tmp, a->ptr[i], a->len[i] < 31 ? a->len[i] : 31);
    return strtod(tmp, NULL) > 0;
}

/* Not fuzzed here: SHUTDOWN ends the process, MULTI queues and CLIENT
 * REPLY silences the checks' replies (the model expects one reply per
 * check); tests/integration/test_shutdown.c, test_multi.c and
 * test_clients.c cover them. */
static int fuzzed_here(const struct command *cmd)
{
    return strcmp(cmd->name, "shutdown") && strcmp(cmd->name, "multi") &&
           strcmp(cmd->name, "client|reply");
}

static void build_chaos(struct fuzz_input *in, struct op *op)
{
    struct args a = {0};
    int rows = shale_command_count();
    int pick = (int)shale_fuzz_below(in, (uint32_t)rows + 1);
    const struct command *cmd = pick < rows ? shale_command_at(pick) : NULL;
    if (cmd && !fuzzed_here(cmd))
        cmd = shale_command_lookup((struct slice){"ping", 4});
    op->cmd = cmd;
    if (!cmd) { /* a name no command has */
        size_t n;
        const uint8_t *name = shale_fuzz_bytes(in, shale_fuzz_below(in, 8), &n);
        char buf[16] = "zz";
        memcpy(buf + 2, name, n);
        arg_add(&a, a.scratch[0], n + 2);
        memcpy(a.scratch[0], buf, n + 2);
    } else {
        const char *bar = strchr(cmd->name, '|');
        if (bar) {
            arg_add(&a, cmd->name, (size_t)(bar - cmd->name));
            arg_str(&a, bar + 1);
        } else {
            arg_str(&a, cmd->name);
        }
        if (!strcmp(cmd->name, "config|set"))
            a.ptr[1] = "get"; /* fuzz_config's job; a changed config would outlive this run */
    }
    int want = cmd && cmd->arity > 0 ? cmd->arity : 1 + (int)shale_fuzz_below(in, 5);
    if (cmd && cmd->arity < 0)
        want = -cmd->arity + (int)shale_fuzz_below(in, 4);
    if (shale_fuzz_below(in, 8) == 0)
        want = (int)shale_fuzz_below(in, MAX_ARGS); /* wrong arity now and then */
    if (want > MAX_ARGS)
        want = MAX_ARGS;
    while (a.argc < want) {
        int i = a.argc;
        if (cmd && is_key_position(cmd, i, want)) {
            arg_str(&a, chaos[shale_fuzz_below(in, NCHAOS)]);
        } else if (shale_fuzz_u8(in) & 1) {
            arg_str(&a, vocab[shale_fuzz_below(in, NVOCAB)]);
        } else {
            size_t n;
            const uint8_t *p = shale_fuzz_bytes(in, shale_fuzz_below(in, 12), &n);
            arg_add(&a, p, n);
        }
    }
    if (cmd && !strcmp(cmd->name, "debug|sleep") && a.argc >= 3 && wants_sleep(&a, 2)) {
        a.ptr[2] = "0"; /* values that would not sleep (negative, nan) stay */
        a.len[2] = 1;
    }
    if (cmd && !strcmp(cmd->name, "debug|populate")) {
        clamp_arg(&a, 2, -1, 64);
        if (a.argc == 3)
            arg_str(&a, "p"); /* its keys must be the ones KEYS p:* counts */
        if (a.argc >= 4) {
            a.ptr[3] = "p";
            a.len[3] = 1;
        }
        clamp_arg(&a, 4, -1, 64);
    }
    if (cmd && !strcmp(cmd->name, "hrandfield"))
        clamp_arg(&a, 2, -64, 64);
    if (cmd && !strcmp(cmd->name, "setrange"))
        clamp_arg(&a, 2, -1, 4096);
    if (cmd && !strcmp(cmd->name, "select") && a.argc >= 2) {
        char tmp[24] = "";
        memcpy(tmp, a.ptr[1], a.len[1] < 23 ? a.len[1] : 23);
        op->select_db = strtoll(tmp, NULL, 10);
    }
    emit(&a);
}

static void build_program(struct fuzz_input *in)
{
    fx.nops = 0;
    fx.out_len = 0;
    while (!shale_fuzz_done(in) && fx.nops < MAX_OPS - 6) {
        struct op *op = &fx.ops[fx.nops];
        memset(op, 0, sizeof(*op));
        uint8_t k = shale_fuzz_u8(in);
        op->req_at = fx.out_len;
        if (k < 96) {
            op->kind = OP_CHAOS;
            build_chaos(in, op);
            fx.nops++;
        } else if (k < 112) {
            memset(op + 1, 0, 2 * sizeof(*op));
            build_check(op);
            fx.nops += 3;
        } else {
            op->kind = (enum op_kind)(OP_SET + k % (OP_GETDEL - OP_SET + 1));
            build_model_op(in, op);
            fx.nops++;
        }
    }
    struct op *tail = &fx.ops[fx.nops];
    memset(tail, 0, 3 * sizeof(*tail));
    build_check(tail);
    fx.nops += 3;
}

/* ---- the in-process server -------------------------------------------- */

static void setup_once(void)
{
    shale_mem_setup();
    signal(SIGPIPE, SIG_IGN);
    shale_log_setup(LOG_WARNING, "");
    shale_command_setup();
    shale_config_init(&fx.cfg);
    fx.cfg.io_threads = 1;
    fx.cfg.shards = NSHARDS;
    fx.cfg.io_thread_requests = 64;
    fx.cfg.maxclients = 2;
    fx.cfg.io_buffers = 2;
    fx.cfg.databases = NDB;
    fx.cfg.proto_max_bulk_len = 1024 * 1024;
    fx.cfg.enable_debug_command = 1; /* "yes": DEBUG runs */
    struct server *srv = &fx.srv;
    srv->cfg = &fx.cfg;
    srv->nio = 1;
    srv->nshards = NSHARDS;
    shale_clients_init(&srv->clients);
    srv->stats = shale_cmdstats_create();
    for (unsigned slot = 0; slot < 16384; slot++)
        srv->slot_to_shard[slot] = (uint16_t)(slot * NSHARDS / 16384);
    srv->shards = shale_calloc(NSHARDS, sizeof(*srv->shards));
    for (int s = 0; s < NSHARDS; s++)
        srv->shards[s] = shale_shard_create(s, &fx.cfg, 1, 0, srv->slot_to_shard);
    srv->defrag = shale_defrag_governor_create(srv); /* INFO reads its figures */
    srv->tls = shale_tls_setup(&fx.cfg);             /* ... and its counters (TLS off) */
    srv->io = shale_calloc(1, sizeof(*srv->io));
    fx.t = srv->io[0] = shale_io_thread_create(0, srv);
    fx.t->base = event_base_new();
    fx.ready = 1;
}

static void exec_setup(uint64_t seed)
{
    for (int s = 0; s < NSHARDS; s++) {
        struct exec_ctx *x = &fx.exec[s];
        memset(x, 0, sizeof(*x));
        x->ks = shale_keyspace_create(NDB, seed * 31 + (uint64_t)s);
        x->now_ms = FIXED_NOW_MS;
        x->rng = seed | 1;
        x->hash.max_compact_entries = (size_t)fx.cfg.hash_max_listpack_entries;
        x->hash.max_compact_value = (size_t)fx.cfg.hash_max_listpack_value;
        x->hash.seed = seed ^ 0x5bd1e995;
        x->shard = s;
        x->slot_to_shard = fx.srv.slot_to_shard;
    }
}

static void exec_teardown(void)
{
    for (int s = 0; s < NSHARDS; s++) {
        shale_watch_registry_deinit(&fx.exec[s].watch);
        shale_keyspace_destroy(fx.exec[s].ks);
    }
}

/* What io_thread.c's loop does in one turn, with the shards run here. The
 * schedule decides which shards run and how many requests each takes. */
static void turn(struct fuzz_input *sched)
{
    struct io_thread *t = fx.t;
    event_base_loop(t->base, EVLOOP_NONBLOCK);
    for (int s = 0; s < NSHARDS; s++) {
        ring_publish(t->to_shard[s]);
        t->shard_wake_pending[s] = 0;
    }
    uint8_t plan = shale_fuzz_u8(sched);
    for (int k = 0; k < NSHARDS; k++) {
        int s = (k + plan) % NSHARDS;
        unsigned budget = plan & 0x80 ? 64 : 1 + ((plan >> (2 * k)) & 3);
        struct ring *in = shale_shard_inbound(fx.srv.shards[s], 0);
        struct ring *out = shale_shard_outbound(fx.srv.shards[s], 0);
        struct request *r;
        while (budget-- && (r = ring_pop(in)) != NULL) {
            /* As shards/shard.c's run_message; with one I/O thread a hold
             * changes nothing about which ring is served. */
            if (r->kind == REQUEST_RELEASE)
                continue; /* not sent back */
            if (r->kind == REQUEST_COMMAND) {
                r->cmd->shard_proc(&fx.exec[s], r);
                shale_watch_after_write(&fx.exec[s], r);
            }
            FUZZ_CHECK(ring_stage(out, r), "reply ring full");
        }
        ring_publish(out);
    }
    for (int s = 0; s < NSHARDS; s++) {
        struct request *r;
        while ((r = ring_pop(t->from_shard[s])) != NULL)
            shale_router_complete(t, r);
    }
    while (t->dirty) {
        struct conn *c = t->dirty;
        t->dirty = c->next_dirty;
        c->flags &= ~(uint32_t)CONN_DIRTY;
        shale_conn_flush(c);
    }
    /* As io_main: paused readers are looked at every turn. */
    struct conn **link = &t->resume;
    while (*link) {
        struct conn *c = *link;
        if (shale_conn_try_resume(c)) {
            *link = c->next_resume;
            c->flags &= ~(uint32_t)CONN_ON_RESUME;
            if (c->flags & CONN_CLOSED)
                shale_conn_flush(c);
        } else {
            link = &c->next_resume;
        }
    }
    while (t->dirty) {
        struct conn *c = t->dirty;
        t->dirty = c->next_dirty;
        c->flags &= ~(uint32_t)CONN_DIRTY;
        shale_conn_flush(c);
    }
}

static int read_replies(int fd)
{
    int got = 0;
    for (;;) {
        if (fx.in_cap - fx.in_len < 65536) {
            fx.in_cap = fx.in_cap * 2 + 65536;
            fx.in = shale_realloc(fx.in, fx.in_cap);
        }
        ssize_t n = read(fd, fx.in + fx.in_len, fx.in_cap - fx.in_len);
        if (n <= 0)
            return got;
        fx.in_len += (size_t)n;
        got = 1;
    }
}

static int pending_bytes(int fd)
{
    int n = 0;
    ioctl(fd, FIONREAD, &n);
    return n;
}

/* ---- checking replies against the model ------------------------------- */

/* One reply at *at: returns where it starts and moves *at past it. */
static size_t next_reply(size_t *at, int index)
{
    long len = shale_fuzz_reply_len(fx.in + *at, fx.in_len - *at);
    FUZZ_CHECK(len > 0, "request %d: no complete, well-formed reply (%ld) at byte %zu of %zu",
               index, len, *at, fx.in_len);
    size_t start = *at;
    *at += (size_t)len;
    return start;
}

static long long reply_int(size_t at, int index)
{
    FUZZ_CHECK(fx.in[at] == ':', "request %d: wanted an integer, got '%c'", index, fx.in[at]);
    return strtoll(fx.in + at + 1, NULL, 10);
}

/* Checks a bulk-or-null reply at p against the model; returns bytes used. */
static size_t check_bulk(const char *p, const struct model_value *v, int index)
{
    if (!v->present) {
        FUZZ_CHECK(!strncmp(p, "$-1\r\n", 5) || !strncmp(p, "_\r\n", 3),
                   "request %d: wanted nil, got %.20s", index, p);
        return p[0] == '_' ? 3 : 5;
    }
    char hdr[32];
    int w = snprintf(hdr, sizeof(hdr), "$%zu\r\n", v->len);
    FUZZ_CHECK(!strncmp(p, hdr, (size_t)w) && !memcmp(p + w, v->data, v->len),
               "request %d: value differs from the model (wanted %zu bytes)", index, v->len);
    return (size_t)w + v->len + 2;
}

static void model_set(struct model_value *v, const uint8_t *data, size_t len, int append)
{
    size_t old = append && v->present ? v->len : 0;
    v->data = shale_realloc(v->data, old + len + 1);
    if (len)
        memcpy(v->data + old, data, len);
    v->len = old + len;
    v->present = 1;
}

static void model_clear(int db)
{
    for (int d = 0; d < NDB; d++)
        if (db < 0 || d == db)
            for (int i = 0; i < NTRACKED; i++)
                fx.model[d][i].present = 0;
}

static int model_count(int db)
{
    int n = 0;
    for (int i = 0; i < NTRACKED; i++)
        n += fx.model[db][i].present;
    return n;
}

static int is_status(size_t at, const char *s)
{
    size_t n = strlen(s);
    return fx.in[at] == '+' && fx.in_len - at >= n + 3 && !memcmp(fx.in + at + 1, s, n) &&
           fx.in[at + 1 + n] == '\r';
}

static void print_escaped(const char *p, size_t n)
{
    for (size_t i = 0; i < n && i < 300; i++)
        fprintf(stderr, p[i] >= 32 && p[i] < 127 ? "%c" : "\\x%02x", (unsigned char)p[i]);
}

/* FUZZ_TRACE=1: each request and its reply, to read a failing input. */
static void trace_op(int i, const struct op *op, size_t reply_at, size_t reply_len)
{
    size_t end = i + 1 < fx.nops ? fx.ops[i + 1].req_at : fx.out_len;
    if (end < op->req_at)
        end = op->req_at;
    fprintf(stderr, "%3d kind %d: ", i, op->kind);
    print_escaped(fx.out + op->req_at, end - op->req_at);
    fprintf(stderr, "\n     -> ");
    print_escaped(fx.in + reply_at, reply_len);
    fprintf(stderr, "\n");
}

static void verify(void)
{
    int trace = getenv("FUZZ_TRACE") != NULL;
    size_t at = 0;
    int db = 0, expected = fx.nops;
    long long chaos_keys = 0, pop_keys = 0;
    for (int i = 0; i < fx.nops; i++) {
        if (i >= expected)
            break;
        size_t r = next_reply(&at, i);
        struct op *op = &fx.ops[i];
        if (trace)
            trace_op(i, op, r, at - r);
        struct model_value *m = fx.model[db];
        switch (op->kind) {
        case OP_CHAOS: {
            const char *name = op->cmd ? op->cmd->name : "";
            if (!strcmp(name, "select") && is_status(r, "OK"))
                db = (int)op->select_db;
            else if (!strcmp(name, "reset") && is_status(r, "RESET"))
                db = 0;
            else if (!strcmp(name, "flushdb") && is_status(r, "OK"))
                model_clear(db);
            else if (!strcmp(name, "flushall") && is_status(r, "OK"))
                model_clear(-1);
            else if (!strcmp(name, "quit") && is_status(r, "OK"))
                expected = i + 1; /* nothing is answered after QUIT */
            FUZZ_CHECK(db >= 0 && db < NDB, "SELECT %d answered OK", db);
            break;
        }
        case OP_SET:
        case OP_MSET:
            FUZZ_CHECK(is_status(r, "OK"), "request %d: SET/MSET not OK: %.40s", i, fx.in + r);
            for (int k = 0; k < op->nkeys; k++)
                model_set(&m[op->key[k]], op->val[k], op->vlen[k], 0);
            break;
        case OP_APPEND:
            model_set(&m[op->key[0]], op->val[0], op->vlen[0], 1);
            FUZZ_CHECK(reply_int(r, i) == (long long)m[op->key[0]].len,
                       "request %d: APPEND length %lld, model %zu", i, reply_int(r, i),
                       m[op->key[0]].len);
            break;
        case OP_GET:
        case OP_GETDEL:
            check_bulk(fx.in + r, &m[op->key[0]], i);
            if (op->kind == OP_GETDEL)
                m[op->key[0]].present = 0;
            break;
        case OP_DEL:
        case OP_EXISTS: {
            long long want = 0;
            for (int k = 0; k < op->nkeys; k++) {
                want += m[op->key[k]].present;
                if (op->kind == OP_DEL)
                    m[op->key[k]].present = 0;
            }
            FUZZ_CHECK(reply_int(r, i) == want, "request %d: %s answered %lld, model %lld", i,
                       op->kind == OP_DEL ? "DEL" : "EXISTS", reply_int(r, i), want);
            break;
        }
        case OP_MGET: {
            FUZZ_CHECK(!strncmp(fx.in + r, "*", 1), "request %d: MGET not an array", i);
            char hdr[16];
            int w = snprintf(hdr, sizeof(hdr), "*%d\r\n", op->nkeys);
            FUZZ_CHECK(!strncmp(fx.in + r, hdr, (size_t)w), "request %d: MGET count", i);
            size_t p = r + (size_t)w;
            for (int k = 0; k < op->nkeys; k++)
                p += check_bulk(fx.in + p, &m[op->key[k]], i);
            FUZZ_CHECK(p == at, "request %d: MGET reply has extra bytes", i);
            break;
        }
        case OP_CHECK_CHAOS:
            chaos_keys = reply_int(r, i);
            break;
        case OP_CHECK_POP:
            FUZZ_CHECK(fx.in[r] == '*', "request %d: KEYS not an array", i);
            pop_keys = strtoll(fx.in + r + 1, NULL, 10);
            break;
        case OP_CHECK_DBSIZE:
            FUZZ_CHECK(reply_int(r, i) == model_count(db) + chaos_keys + pop_keys,
                       "request %d: DBSIZE %lld in db %d, model %d + chaos keys %lld + DEBUG "
                       "POPULATE keys %lld",
                       i, reply_int(r, i), db, model_count(db), chaos_keys, pop_keys);
            break;
        default:
            break;
        }
    }
    FUZZ_CHECK(at == fx.in_len, "%zu bytes after the last expected reply", fx.in_len - at);
}

/* ---- one run ---------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fx.ready)
        setup_once();
    if (size < 4)
        return 0;
    struct io_thread *t = fx.t;
    /* The schedule comes from the first bytes, the program from the rest. */
    struct fuzz_input sched = {data, 4, 0};
    struct fuzz_input prog = {data + 4, size - 4, 0};
    fx.cfg.client_max_inflight = 1 + data[0] % 48;
    /* Split commands sequenced (the server's mode with one I/O thread) or
     * in held batches (its mode with several): both paths are fuzzed. */
    t->txn.sequenced = (data[0] / 48) & 1;
    exec_setup(data[1] | (uint64_t)data[2] << 8);
    model_clear(-1);
    build_program(&prog);

    int sv[2];
    FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0, "socketpair");
    struct conn *c = t->free_conns;
    FUZZ_CHECK(c != NULL, "no free connection slot");
    t->free_conns = c->next_active;
    atomic_fetch_add(&fx.srv.clients.connected, 1);
    shale_conn_open(t, c, sv[0], 0);

    size_t sent = 0;
    fx.in_len = 0;
    int idle = 0, turns = 0;
    while (idle < 3) {
        FUZZ_CHECK(++turns < MAX_TURNS, "no progress after %d turns (sent %zu of %zu bytes)", turns,
                   sent, fx.out_len);
        if (sent < fx.out_len) {
            ssize_t n = write(sv[1], fx.out + sent, fx.out_len - sent);
            if (n > 0)
                sent += (size_t)n;
            else if (n < 0 && errno != EAGAIN)
                sent = fx.out_len; /* the server closed (QUIT): the rest is never read */
        }
        /* Replay the schedule bytes over and over. */
        if (shale_fuzz_done(&sched))
            sched.pos = 0;
        turn(&sched);
        int got = read_replies(sv[1]);
        int busy = got || sent < fx.out_len || t->requests_free < fx.cfg.io_thread_requests ||
                   ((c->flags & CONN_CLOSED) == 0 && pending_bytes(sv[0]) > 0);
        idle = busy ? 0 : idle + 1;
    }
    verify();

    /* The client goes away: everything must come back to the pools. The
     * UNWATCH messages a close sends are answered after the connection is
     * gone, so the turns go on while request slots are out. */
    close(sv[1]);
    for (int i = 0; i < 100 && (t->active || t->requests_free < fx.cfg.io_thread_requests); i++)
        turn(&sched);
    FUZZ_CHECK(t->active == NULL, "connection still open after the client closed");
    FUZZ_CHECK(t->requests_free == (uint32_t)fx.cfg.io_thread_requests, "%u request slots lost",
               (uint32_t)fx.cfg.io_thread_requests - t->requests_free);
    FUZZ_CHECK(t->bufs.available == t->bufs.count && t->bufs.heap_bytes == 0,
               "read buffers not returned: %zu of %zu pooled, %zu heap bytes", t->bufs.available,
               t->bufs.count, t->bufs.heap_bytes);
    exec_teardown();
    return 0;
}
