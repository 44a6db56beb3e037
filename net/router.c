/* router: see router.h. I/O thread only. */
#include "net/router.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/access.h"
#include "net/accounting.h"
#include "net/conn.h"
#include "net/io_thread.h"
#include "net/multi.h"
#include "net/txn.h"
#include "server/clock.h"
#include "server/command.h"
#include "server/crc16.h"
#include "server/latency.h"
#include "server/mem.h"
#include "server/server.h"
#include "server/strconv.h"
#include "shards/t_scan.h"
#include "shards/table.h"

#define MAX_SHARDS 256

/* start_us is set only for commands that ran (see dispatch). The end is
 * the thread's batch clock: taken when the shards' replies were picked up,
 * or when the batch was parsed for a fast keyless command (well under a
 * microsecond); other keyless commands (INFO, CLIENT LIST) read the clock. */
static void record_latency(struct io_thread *t, const struct request *r)
{
    int64_t end = r->cmd->io_proc && !(r->cmd->flags & CMD_FAST) ? clock_mono_us() : t->clock_us;
    latency_record(t->stats.latency, shale_command_index(r->cmd),
                   end > r->start_us ? (uint64_t)(end - r->start_us) : 0);
}

void shale_router_finish(struct request *r)
{
    r->state = REQUEST_DONE;
    if (r->conn) {
        shale_accounting_reply(r);
        if (r->start_us)
            record_latency(r->conn->t, r);
        shale_conn_mark_dirty(r->conn);
    }
}

static void reply_unknown_command(struct request *r)
{
    char args[160] = "";
    size_t used = 0;
    for (int i = 1; i < r->argc && used < 128; i++) {
        int n = snprintf(args + used, sizeof(args) - used, "'%.*s' ",
                         (int)(r->argv[i].len < 128 - used ? r->argv[i].len : 128 - used),
                         r->argv[i].ptr);
        if (n < 0)
            break;
        used += (size_t)n;
        if (used >= sizeof(args))
            used = sizeof(args) - 1;
    }
    int namelen = r->argv[0].len > 128 ? 128 : (int)r->argv[0].len;
    shale_resp_add_errorf(&r->reply, "ERR unknown command '%.*s', with args beginning with: %s",
                          namelen, r->argv[0].ptr, args);
}

static int arity_ok(const struct command *cmd, int argc)
{
    return cmd->arity > 0 ? argc == cmd->arity : argc >= -cmd->arity;
}

int shale_router_shard_of_key(const struct io_thread *t, struct slice key)
{
    if (t->srv->nshards == 1)
        return 0;
    return server_shard_of_slot(t->srv, shale_crc16_key_slot(key.ptr, key.len));
}

#define shard_of_key shale_router_shard_of_key

struct request *shale_router_new_part(struct io_thread *t, struct request *parent, int shard)
{
    struct request *p = shale_io_request_get(t);
    p->cmd = parent->cmd;
    p->db = parent->db;
    p->proto = parent->proto;
    p->shard = (uint16_t)shard;
    p->part = 1;
    p->parent = parent;
    p->round = parent->round;
    shale_resp_buf_init(&p->reply, parent->proto);
    p->next = parent->parts;
    parent->parts = p;
    parent->parts_pending++;
    return p;
}

#define new_part shale_router_new_part

void shale_router_send_parts(struct io_thread *t, struct request *r)
{
    r->state = REQUEST_QUEUED;
    for (struct request *p = r->parts; p; p = p->next)
        if (p->round == r->round)
            shale_io_send_to_shard(t, p->shard, p);
}

/* A connection with a request waiting for an atomic batch sends its later
 * shard work through the same queue, so it runs in the order it was sent;
 * so does every connection while a command runs in rounds or an EXEC is in
 * the batch (net/txn.h). */
static int must_follow(const struct io_thread *t, const struct request *r)
{
    return r->conn && (r->conn->txn_queued || shale_txn_orders_all(t));
}

static void send_one(struct io_thread *t, int shard, struct request *r)
{
    if (must_follow(t, r)) {
        r->shard = (uint16_t)shard;
        r->txn = TXN_FOLLOW_ONE;
        shale_txn_enqueue(t, r);
        return;
    }
    shale_io_send_to_shard(t, shard, r);
}

void shale_router_submit_parts(struct io_thread *t, struct request *r)
{
    if (must_follow(t, r)) {
        r->txn = TXN_FOLLOW_PARTS;
        shale_txn_enqueue(t, r);
        return;
    }
    shale_router_send_parts(t, r);
}

/* Keys on several shards: the parts run with every one of those shards held. */
static void send_atomic(struct io_thread *t, struct request *r)
{
    r->state = REQUEST_QUEUED;
    r->txn = TXN_ATOMIC;
    shale_txn_enqueue(t, r);
}

static void done(struct io_thread *t, struct request *r);
static void all_parts_back(struct io_thread *t, struct request *r);

void shale_router_run_queued(struct io_thread *t, struct request *r)
{
    enum request_txn how = r->txn;
    if (how != TXN_ATOMIC)
        r->txn = TXN_NONE;
    switch (how) {
    case TXN_FOLLOW_ONE:
        shale_io_send_to_shard(t, r->shard, r);
        break;
    case TXN_FOLLOW_PARTS:
        shale_router_send_parts(t, r);
        break;
    case TXN_ATOMIC:
        if (!r->cmd->coordinate)
            shale_router_send_parts(t, r);
        else if (r->cmd->coordinate(t, r))
            done(t, r); /* answered without a round (a syntax error) */
        break;
    case TXN_NONE:
        break;
    }
}

void shale_txn_mark_shards(struct io_thread *t, const struct request *r, uint8_t *want)
{
    if (r->cmd->flags & CMD_EXEC) {
        shale_multi_mark_shards(t, r, want);
        return;
    }
    if (r->parts) {
        for (const struct request *p = r->parts; p; p = p->next)
            want[p->shard] = 1;
        return;
    }
    const struct command *cmd = r->cmd;
    int last = cmd->last_key < 0 ? r->argc + cmd->last_key : cmd->last_key;
    for (int i = cmd->first_key; i > 0 && i <= last && i < r->argc; i += cmd->key_step)
        want[shard_of_key(t, r->argv[i])] = 1;
}

/* One part per shard holding some of the keys (step 1) or key/value pairs
 * (step 2); a command whose keys all live on one shard is not split.
 *
 * sequenced_parts_are_atomic: with a single I/O thread, a split command
 * needs no HOLD round trips. Every shard then has one inbound ring, fed by
 * this thread alone in one order, and runs it in that order; the parts of
 * one command are staged on all their rings before the next command's. So
 * for any two commands, every shard they share runs them in the same
 * order, and a reader of several shards sees either all of a write or none
 * of it (the order of a sequencer, as in deterministic databases). What
 * still needs holds is what runs in rounds (RENAME, MSETNX, COPY, EXEC);
 * while one does, must_follow queues everything behind it. With several
 * I/O threads a shard interleaves their rings, so splits take the holds. */
static void split_by_key(struct io_thread *t, struct request *r, int step)
{
    uint32_t count[MAX_SHARDS] = {0};
    struct request *part[MAX_SHARDS] = {0};
    int first = r->cmd->first_key, shards_hit = 0, only = 0;
    for (int i = first; i < r->argc; i += step) {
        int s = shard_of_key(t, r->argv[i]);
        if (count[s]++ == 0) {
            shards_hit++;
            only = s;
        }
    }
    if (shards_hit <= 1) {
        send_one(t, only, r);
        return;
    }
    for (int s = 0; s < t->srv->nshards; s++) {
        if (!count[s])
            continue;
        struct request *p = part[s] = new_part(t, r, s);
        int argc = 1 + (int)count[s] * step;
        if (argc > REQUEST_INLINE_ARGS) {
            p->argv = shale_malloc(sizeof(struct slice) * (size_t)argc);
            p->argv_heap = 1;
        }
        p->argv[0] = r->argv[0];
        p->argc = 1;
    }
    for (int i = first; i < r->argc; i += step) {
        struct request *p = part[shard_of_key(t, r->argv[i])];
        for (int k = 0; k < step; k++)
            p->argv[p->argc++] = r->argv[i + k];
    }
    if (r->parent)
        shale_router_send_parts(t, r); /* inside EXEC: the shards are held already */
    else if (t->txn.sequenced)
        shale_router_submit_parts(t, r); /* in sequence: see sequenced_parts_are_atomic */
    else
        send_atomic(t, r);
}

/* Every shard runs the whole command (DBSIZE, FLUSHALL ...). */
static void fan_out(struct io_thread *t, struct request *r)
{
    for (int s = t->srv->nshards - 1; s >= 0; s--) {
        struct request *p = new_part(t, r, s);
        p->argv = r->argv; /* shared, read-only; the parent outlives its parts */
        p->argc = r->argc;
    }
    shale_router_submit_parts(t, r);
}

/* SCAN runs on the shard the cursor names: shard << SHALE_TABLE_CURSOR_BITS
 * | that shard's table cursor. */
static void route_scan(struct io_thread *t, struct request *r)
{
    unsigned long long cursor;
    if (!shale_strconv_cursor(r->argv[1], &cursor) ||
        (cursor >> SHALE_TABLE_CURSOR_BITS) >= (unsigned long long)t->srv->nshards) {
        shale_resp_add_error(&r->reply, "ERR invalid cursor");
        done(t, r);
        return;
    }
    send_one(t, (int)(cursor >> SHALE_TABLE_CURSOR_BITS), r);
}

/* RENAME, COPY, MSETNX: run whole on one shard when their keys share it;
 * otherwise a coordinator runs them in rounds, with the shards held. */
static void route_coordinated(struct io_thread *t, struct request *r)
{
    const struct command *cmd = r->cmd;
    int last = cmd->last_key < 0 ? r->argc + cmd->last_key : cmd->last_key;
    int shard = shard_of_key(t, r->argv[cmd->first_key]);
    for (int i = cmd->first_key + cmd->key_step; i <= last; i += cmd->key_step)
        if (shard_of_key(t, r->argv[i]) != shard) {
            if (!r->parent)
                send_atomic(t, r);
            else if (cmd->coordinate(t, r)) /* inside EXEC: the shards are held */
                done(t, r);
            return;
        }
    send_one(t, shard, r);
}

/* A shard command, checked and counted: to its shard, or split. */
static void route(struct io_thread *t, struct request *r)
{
    const struct command *cmd = r->cmd;
    switch (cmd->split) {
    case SPLIT_KEYS_SUM:
    case SPLIT_KEYS_ARRAY:
        split_by_key(t, r, 1);
        break;
    case SPLIT_PAIRS_OK:
        /* Checked here, not only by the handler: splitting an odd count
         * would read a value past the last argument. */
        if ((r->argc - cmd->first_key) % 2) {
            shale_resp_add_errorf(&r->reply, "ERR wrong number of arguments for '%s' command",
                                  cmd->name);
            shale_router_finish(r);
            return;
        }
        split_by_key(t, r, 2);
        break;
    case FANOUT_RANDOM: /* the part replies are internal: always merged */
        fan_out(t, r);
        break;
    case SPLIT_SCAN_CURSOR:
        route_scan(t, r);
        break;
    case FANOUT_ARRAY:
    case FANOUT_SUM:
    case FANOUT_OK:
        if (t->srv->nshards == 1)
            send_one(t, 0, r);
        else
            fan_out(t, r);
        break;
    case SPLIT_COORDINATED:
        route_coordinated(t, r);
        break;
    case SPLIT_NONE:
        send_one(t, shard_of_key(t, r->argv[cmd->first_key]), r);
        break;
    }
}

/* An error answered before the command ran; inside MULTI it also dooms the
 * transaction (EXECABORT), as in Redis. */
static void reject(struct conn *c, struct request *r)
{
    if (r->cmd)
        shale_accounting_rejected(c->t, r->cmd);
    shale_multi_flag_error(c);
    shale_router_finish(r);
}

void shale_router_dispatch(struct io_thread *t, struct conn *c, struct request *r)
{
    /* Rejected commands stay out of the latency histograms. */
    int64_t start_us = r->start_us;
    r->start_us = 0;
    const struct command *cmd = shale_command_lookup(r->argv[0]);
    if (!cmd) {
        reply_unknown_command(r);
        reject(c, r);
        return;
    }
    if ((cmd->flags & CMD_PROTECTED) && arity_ok(cmd, r->argc) &&
        !shale_access_protected_allowed(t->srv->cfg->enable_debug_command,
                                        (c->flags & CONN_LOCAL) != 0)) {
        shale_resp_add_error(&r->reply, shale_access_debug_denied_error());
        reject(c, r);
        return;
    }
    if ((cmd->flags & CMD_CONTAINER) && r->argc >= 2) {
        const struct command *sub = shale_command_lookup_sub(cmd, r->argv[1]);
        if (!sub) {
            /* The name as the client typed it (rename-command), as Redis. */
            char upper[33];
            size_t n = r->argv[0].len < sizeof(upper) - 1 ? r->argv[0].len : sizeof(upper) - 1;
            for (size_t i = 0; i < n; i++)
                upper[i] = (char)toupper((unsigned char)r->argv[0].ptr[i]);
            upper[n] = '\0';
            int sublen = r->argv[1].len > 128 ? 128 : (int)r->argv[1].len;
            shale_resp_add_errorf(
                &r->reply, "ERR unknown subcommand %s'%.*s'. Try %s HELP.",
                (cmd->flags & CMD_HAND_PARSED) ? "or wrong number of arguments for " : "", sublen,
                r->argv[1].ptr, upper);
            reject(c, r);
            return;
        }
        cmd = sub;
    }
    r->cmd = cmd;
    if (!arity_ok(cmd, r->argc)) {
        shale_resp_add_errorf(&r->reply, "ERR wrong number of arguments for '%s' command",
                              cmd->name);
        reject(c, r);
        return;
    }
    if (!(c->flags & CONN_AUTHENTICATED) && !(cmd->flags & CMD_NO_AUTH)) {
        shale_resp_add_error(&r->reply, "NOAUTH Authentication required.");
        reject(c, r);
        return;
    }
    if (shale_multi_queues(c, cmd)) {
        shale_multi_queue(c, r);
        shale_router_finish(r);
        return;
    }
    r->start_us = start_us;
    atomic_store_explicit(&c->info.last_cmd, shale_command_index(cmd), memory_order_relaxed);
    shale_router_run(t, c, r);
}

int shale_router_run(struct io_thread *t, struct conn *c, struct request *r)
{
    const struct command *cmd = r->cmd;
    if (cmd->io_proc) {
        int64_t start_ns = clock_mono_ns();
        cmd->io_proc(c, r);
        shale_accounting_ran_here(t, r, clock_mono_ns() - start_ns);
        if (cmd->flags & CMD_DEFERRED)
            return 0;
        shale_router_finish(r);
        return 1;
    }
    shale_accounting_routed(t);
    route(t, r);
    return 0;
}

/* The first error reply among the parts, or NULL. */
static const struct request *first_error(const struct request *r)
{
    for (const struct request *p = r->parts; p; p = p->next)
        if (p->reply.len && p->reply.data[0] == '-')
            return p;
    return NULL;
}

static size_t after_header(const struct resp_buf *b)
{
    const char *nl = memchr(b->data, '\n', b->len);
    return nl ? (size_t)(nl - b->data) + 1 : b->len;
}

/* Array elements back in argument order: walk the keys again and take the
 * next element of the part that owns each key. */
static void merge_array(struct io_thread *t, struct request *r)
{
    struct request *part[MAX_SHARDS] = {0};
    size_t cursor[MAX_SHARDS];
    for (struct request *p = r->parts; p; p = p->next) {
        part[p->shard] = p;
        cursor[p->shard] = after_header(&p->reply);
    }
    shale_resp_add_array_len(&r->reply, r->argc - r->cmd->first_key);
    for (int i = r->cmd->first_key; i < r->argc; i++) {
        int s = shard_of_key(t, r->argv[i]);
        const struct resp_buf *b = &part[s]->reply;
        size_t n = shale_resp_value_len(b->data + cursor[s], b->len - cursor[s]);
        shale_resp_add_raw(&r->reply, b->data + cursor[s], n);
        cursor[s] += n;
    }
}

/* KEYS: every part's elements, shard after shard. */
static void merge_concat(struct request *r)
{
    long long total = 0;
    for (const struct request *p = r->parts; p; p = p->next)
        total += strtoll(p->reply.data + 1, NULL, 10);
    shale_resp_add_array_len(&r->reply, total);
    for (const struct request *p = r->parts; p; p = p->next) {
        size_t skip = after_header(&p->reply);
        shale_resp_add_raw(&r->reply, p->reply.data + skip, p->reply.len - skip);
    }
}

/* RANDOMKEY: each part is [its shard's key count, a key or nil]. A part is
 * picked with probability proportional to its count, so every key is about
 * equally likely (exactly, when no key expired in between); parts that found
 * no key are skipped. The draw needs no state: the monotonic clock in ns,
 * mixed, is random enough for picking a shard. */
static void merge_random(struct request *r)
{
    const struct request *found[MAX_SHARDS];
    unsigned long long weight[MAX_SHARDS], total = 0;
    int n = 0;
    for (const struct request *p = r->parts; p; p = p->next) {
        const char *d = p->reply.data + after_header(&p->reply);
        size_t left = p->reply.len - (size_t)(d - p->reply.data);
        size_t ilen = shale_resp_value_len(d, left);
        if (d[ilen] != '$' || d[ilen + 1] == '-')
            continue; /* nil: RESP2 $-1, RESP3 _ */
        found[n] = p;
        weight[n] = strtoull(d + 1, NULL, 10);
        if (weight[n] == 0)
            weight[n] = 1;
        total += weight[n++];
    }
    if (n == 0) {
        shale_resp_add_null(&r->reply);
        return;
    }
    uint64_t x = (uint64_t)clock_mono_us() * 0x9e3779b97f4a7c15ull;
    x ^= x >> 29;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 32;
    unsigned long long pick = x % total;
    int i = 0;
    while (pick >= weight[i])
        pick -= weight[i++];
    const struct resp_buf *b = &found[i]->reply;
    const char *d = b->data + after_header(b);
    d += shale_resp_value_len(d, b->len - (size_t)(d - b->data));
    shale_resp_add_raw(&r->reply, d, b->len - (size_t)(d - b->data));
}

/* SCAN came back with [table cursor, keys]: make the cursor global. A
 * finished table moves the scan on to the next shard's first position, or
 * ends it (0) after the last shard. */
static void rewrite_scan_cursor(struct io_thread *t, struct request *r)
{
    struct resp_buf *b = &r->reply;
    if (b->len == 0 || b->data[0] != '*')
        return; /* an error */
    size_t at = after_header(b);
    size_t clen = shale_resp_value_len(b->data + at, b->len - at);
    const char *digits = memchr(b->data + at, '\n', clen) + 1;
    unsigned long long table_cursor = strtoull(digits, NULL, 10);
    unsigned long long next;
    if (table_cursor != 0)
        next = (unsigned long long)r->shard << SHALE_TABLE_CURSOR_BITS | table_cursor;
    else if (r->shard + 1 < t->srv->nshards)
        next = (unsigned long long)(r->shard + 1) << SHALE_TABLE_CURSOR_BITS;
    else
        next = 0;
    size_t rest_at = at + clen, rest_len = b->len - rest_at;
    char *rest = shale_malloc(rest_len ? rest_len : 1);
    memcpy(rest, b->data + rest_at, rest_len);
    char buf[24];
    int n = snprintf(buf, sizeof(buf), "%llu", next);
    shale_resp_buf_reset(b);
    shale_resp_add_array_len(b, 2);
    shale_resp_add_bulk(b, buf, (size_t)n);
    shale_resp_add_raw(b, rest, rest_len);
    shale_free(rest);
}

static void merge(struct io_thread *t, struct request *r)
{
    const struct request *err = first_error(r);
    if (err) {
        shale_resp_add_raw(&r->reply, err->reply.data, err->reply.len);
        return;
    }
    switch (r->cmd->split) {
    case SPLIT_KEYS_SUM:
    case FANOUT_SUM: {
        long long sum = 0;
        for (const struct request *p = r->parts; p; p = p->next)
            sum += strtoll(p->reply.data + 1, NULL, 10);
        shale_resp_add_integer(&r->reply, sum);
        break;
    }
    case SPLIT_KEYS_ARRAY:
        merge_array(t, r);
        break;
    case FANOUT_ARRAY:
        merge_concat(r);
        break;
    case FANOUT_RANDOM:
        merge_random(r);
        break;
    case SPLIT_PAIRS_OK:
    case FANOUT_OK:
    case SPLIT_NONE:
    case SPLIT_SCAN_CURSOR:
    case SPLIT_COORDINATED:
        shale_resp_add_status(&r->reply, "OK");
        break;
    }
}

/* r has its whole reply. Its own parts go back to the pool; then it is
 * either a part of a bigger request (a command inside EXEC, or a part of a
 * part), which may now be complete too, or a client's request, which is
 * released in order and lets its atomic batch move on. A request nobody
 * waits for (an UNWATCH sent after the connection went) is freed. */
static void done(struct io_thread *t, struct request *r)
{
    if (r->parts && !r->cmd->io_proc)
        shale_accounting_merged(t, r); /* split or coordinated: one call */
    else if (!r->parent)
        shale_accounting_ran_on_shard(t, r);
    while (r->parts) {
        struct request *p = r->parts;
        r->parts = p->next;
        shale_io_request_put(t, p);
    }
    struct request *parent = r->parent;
    if (parent) {
        if (r->exec_ns > parent->exec_ns)
            parent->exec_ns = r->exec_ns; /* the parts ran side by side */
        if (--parent->parts_pending == 0)
            all_parts_back(t, parent);
        return;
    }
    int atomic = r->txn == TXN_ATOMIC;
    if (!r->conn) {
        shale_io_request_put(t, r);
        return;
    }
    shale_router_finish(r);
    if (atomic)
        shale_txn_finished(t, r);
}

/* The parts of r's current round are all back. */
static void all_parts_back(struct io_thread *t, struct request *r)
{
    if (r->cmd->coordinate) {
        r->round++;
        if (!r->cmd->coordinate(t, r))
            return; /* another round is out */
    } else {
        merge(t, r);
    }
    done(t, r);
}

void shale_router_part_done(struct io_thread *t, struct request *part)
{
    done(t, part);
}

void shale_router_complete(struct io_thread *t, struct request *r)
{
    if (r->kind == REQUEST_HOLD) {
        shale_txn_held(t, r);
        return;
    }
    if (r->cmd->split == SPLIT_SCAN_CURSOR) /* SCAN is never split: this is the request */
        rewrite_scan_cursor(t, r);
    done(t, r);
}
