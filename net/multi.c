/* multi: see multi.h. */
#include "net/multi.h"

#include <stdlib.h>
#include <string.h>

#include "net/conn.h"
#include "net/io_thread.h"
#include "net/router.h"
#include "net/txn.h"
#include "server/clock.h"
#include "server/command.h"
#include "server/mem.h"
#include "server/server.h"
#include "shards/t_scan.h"
#include "shards/table.h"
#include "shards/watch.h"

/* A command queued inside MULTI: argv and the argument bytes in one block. */
struct queued_cmd {
    struct queued_cmd *next;
    const struct command *cmd;
    int argc;
    struct slice argv[];
};

struct watched_key {
    struct watched_key *next;
    uint16_t shard;
    uint8_t db;
    uint32_t len;
    char key[];
};

/* A connection's transaction state; EXEC takes it over whole (see exec_job). */
struct multi_state {
    int active; /* between MULTI and EXEC/DISCARD */
    int doomed; /* a command failed to queue: EXEC answers EXECABORT */
    struct queued_cmd *head, *tail;
    int count;
    struct watch_token *token; /* NULL until the first WATCH */
    struct watched_key *watched;
};

/* What EXEC runs: the state taken from the connection, and its progress.
 * Commands go out in windows that fit the request pool; a window's replies
 * are copied into EXEC's reply when it is back, and its parts freed. */
struct exec_job {
    struct multi_state state;
    struct queued_cmd *next; /* the first command not sent yet */
    int window;              /* commands in the window out now */
    struct request **parts;  /* [count]: the window's parts in queue order */
};

static const struct command *internal_row(const char *container, const char *sub)
{
    const struct command *c = shale_command_lookup((struct slice){container, strlen(container)});
    return shale_command_lookup_sub(c, (struct slice){sub, strlen(sub)});
}

static struct multi_state *state_of(struct conn *c)
{
    if (!c->multi)
        c->multi = shale_calloc(1, sizeof(*c->multi));
    return c->multi;
}

/* CLIENT LIST's multi=: the commands queued, -1 outside MULTI. */
static void show_queued(struct conn *c, int count)
{
    atomic_store_explicit(&c->info.multi, count, memory_order_relaxed);
}

static void free_queue(struct multi_state *m)
{
    while (m->head) {
        struct queued_cmd *q = m->head;
        m->head = q->next;
        shale_free(q);
    }
    m->tail = NULL;
    m->count = 0;
    m->active = m->doomed = 0;
}

/* ---- WATCH registrations ---- */

/* Fills r with [cmd, k...]: the keys of the list from `first` on that share
 * its shard and database. argv and the key bytes are one block r frees. */
static void fill_keys_message(struct request *r, const struct command *cmd,
                              const struct watched_key *first, struct watch_token *tok)
{
    int n = 0;
    size_t bytes = 0;
    for (const struct watched_key *w = first; w; w = w->next)
        if (w->shard == first->shard && w->db == first->db) {
            n++;
            bytes += w->len;
        }
    struct slice *argv = shale_malloc(sizeof(struct slice) * (size_t)(n + 1) + bytes);
    char *data = (char *)(argv + n + 1);
    argv[0] = (struct slice){cmd->name, strlen(cmd->name)};
    int argc = 1;
    for (const struct watched_key *w = first; w; w = w->next)
        if (w->shard == first->shard && w->db == first->db) {
            memcpy(data, w->key, w->len);
            argv[argc++] = (struct slice){data, w->len};
            data += w->len;
        }
    r->argv = argv;
    r->argv_heap = 1;
    r->argc = argc;
    r->cmd = cmd;
    r->db = first->db;
    r->shard = first->shard;
    shale_watch_token_get(tok); /* until the shard has run it */
    r->aux = tok;
}

/* Unregisters every watched key (fire and forget: nobody waits for the
 * replies) and drops the connection's token. */
static void unwatch_all(struct io_thread *t, struct multi_state *m)
{
    const struct command *cmd = internal_row("unwatch", "keys");
    while (m->watched) {
        struct watched_key *first = m->watched;
        /* Nobody waits for it (freed when back); not a client's call. */
        struct request *msg = shale_io_request_get(t);
        msg->part = 1;
        shale_resp_buf_init(&msg->reply, 2);
        fill_keys_message(msg, cmd, first, m->token);
        shale_io_send_to_shard(t, first->shard, msg);
        for (struct watched_key **link = &m->watched; *link;) {
            struct watched_key *w = *link;
            if (w->shard == first->shard && w->db == first->db && w != first) {
                *link = w->next;
                shale_free(w);
            } else {
                link = &w->next;
            }
        }
        m->watched = first->next;
        shale_free(first);
    }
    if (m->token)
        shale_watch_token_put(m->token);
    m->token = NULL;
}

static int is_watched(const struct watched_key *list, int db, struct slice key)
{
    for (const struct watched_key *w = list; w; w = w->next)
        if (w->db == db && w->len == key.len && !memcmp(w->key, key.ptr, key.len))
            return 1;
    return 0;
}

void shale_cmd_watch(struct conn *c, struct request *r)
{
    struct io_thread *t = c->t;
    struct multi_state *m = state_of(c);
    if (m->active) {
        shale_resp_add_error(&r->reply, "ERR WATCH inside MULTI is not allowed");
        shale_router_finish(r);
        return;
    }
    if (!m->token)
        m->token = shale_watch_token_create();
    struct watched_key *fresh = NULL;
    for (int i = 1; i < r->argc; i++) {
        struct slice key = r->argv[i];
        if (is_watched(m->watched, c->db, key) || is_watched(fresh, c->db, key))
            continue;
        struct watched_key *w = shale_malloc(sizeof(*w) + key.len);
        w->shard = (uint16_t)shale_router_shard_of_key(t, key);
        w->db = c->db;
        w->len = (uint32_t)key.len;
        memcpy(w->key, key.ptr, key.len);
        w->next = fresh;
        fresh = w;
    }
    if (!fresh) {
        shale_resp_add_status(&r->reply, "OK");
        shale_router_finish(r);
        return;
    }
    /* One part per shard registers the new keys; the reply waits for all. */
    const struct command *cmd = internal_row("watch", "keys");
    uint8_t sent[256] = {0};
    for (struct watched_key *w = fresh; w; w = w->next)
        if (!sent[w->shard]) {
            sent[w->shard] = 1;
            fill_keys_message(shale_router_new_part(t, r, w->shard), cmd, w, m->token);
        }
    struct watched_key *tail = fresh;
    while (tail->next)
        tail = tail->next;
    tail->next = m->watched;
    m->watched = fresh;
    shale_router_submit_parts(t, r);
}

void shale_cmd_unwatch(struct conn *c, struct request *r)
{
    if (c->multi)
        unwatch_all(c->t, c->multi);
    shale_resp_add_status(&r->reply, "OK");
}

/* ---- MULTI, DISCARD, queueing ---- */

int shale_multi_queues(const struct conn *c, const struct command *cmd)
{
    return c->multi && c->multi->active && !(cmd->flags & CMD_NO_QUEUE);
}

void shale_multi_queue(struct conn *c, struct request *r)
{
    struct multi_state *m = c->multi;
    size_t bytes = 0;
    for (int i = 0; i < r->argc; i++)
        bytes += r->argv[i].len;
    struct queued_cmd *q =
        shale_malloc(sizeof(*q) + sizeof(struct slice) * (size_t)r->argc + bytes);
    char *data = (char *)(q->argv + r->argc);
    q->next = NULL;
    q->cmd = r->cmd;
    q->argc = r->argc;
    for (int i = 0; i < r->argc; i++) {
        memcpy(data, r->argv[i].ptr, r->argv[i].len);
        q->argv[i] = (struct slice){data, r->argv[i].len};
        data += r->argv[i].len;
    }
    if (m->tail)
        m->tail->next = q;
    else
        m->head = q;
    m->tail = q;
    m->count++;
    show_queued(c, m->count);
    shale_resp_add_status(&r->reply, "QUEUED");
}

void shale_multi_flag_error(struct conn *c)
{
    if (c->multi && c->multi->active)
        c->multi->doomed = 1;
}

void shale_cmd_multi(struct conn *c, struct request *r)
{
    struct multi_state *m = state_of(c);
    if (m->active) {
        shale_resp_add_error(&r->reply, "ERR MULTI calls can not be nested");
        return;
    }
    m->active = 1;
    show_queued(c, 0);
    shale_resp_add_status(&r->reply, "OK");
}

void shale_cmd_discard(struct conn *c, struct request *r)
{
    if (!c->multi || !c->multi->active) {
        shale_resp_add_error(&r->reply, "ERR DISCARD without MULTI");
        return;
    }
    free_queue(c->multi);
    unwatch_all(c->t, c->multi);
    show_queued(c, -1);
    shale_resp_add_status(&r->reply, "OK");
}

void shale_multi_reset(struct conn *c)
{
    if (!c->multi)
        return;
    free_queue(c->multi);
    unwatch_all(c->t, c->multi);
    show_queued(c, -1);
    shale_free(c->multi);
    c->multi = NULL;
}

/* ---- EXEC ---- */

void shale_cmd_exec(struct conn *c, struct request *r)
{
    struct multi_state *m = c->multi;
    if (!m || !m->active) {
        shale_resp_add_error(&r->reply, "ERR EXEC without MULTI");
        shale_router_finish(r);
        return;
    }
    if (m->doomed) {
        shale_resp_add_error(&r->reply,
                             "EXECABORT Transaction discarded because of previous errors.");
        free_queue(m);
        unwatch_all(c->t, m);
        show_queued(c, -1);
        shale_router_finish(r);
        return;
    }
    struct exec_job *job = shale_calloc(1, sizeof(*job));
    job->state = *m;
    job->next = m->head;
    job->parts = shale_calloc((size_t)m->count + 1, sizeof(*job->parts));
    memset(m, 0, sizeof(*m)); /* the connection starts afresh */
    show_queued(c, -1);
    r->aux = job;
    r->state = REQUEST_QUEUED;
    r->txn = TXN_ATOMIC;
    shale_txn_enqueue(c->t, r);
}

static void mark_command_shards(struct io_thread *t, const struct queued_cmd *q, uint8_t *want)
{
    const struct command *cmd = q->cmd;
    if (cmd->io_proc)
        return;
    switch (cmd->split) {
    case FANOUT_SUM:
    case FANOUT_OK:
    case FANOUT_ARRAY:
    case FANOUT_RANDOM:
        memset(want, 1, (size_t)t->srv->nshards);
        return;
    case SPLIT_SCAN_CURSOR: {
        unsigned long long cursor = strtoull(q->argv[1].ptr, NULL, 10);
        if ((cursor >> SHALE_TABLE_CURSOR_BITS) < (unsigned long long)t->srv->nshards)
            want[cursor >> SHALE_TABLE_CURSOR_BITS] = 1;
        return;
    }
    default:
        break;
    }
    int last = cmd->last_key < 0 ? q->argc + cmd->last_key : cmd->last_key;
    for (int i = cmd->first_key; i > 0 && i <= last && i < q->argc; i += cmd->key_step)
        want[shale_router_shard_of_key(t, q->argv[i])] = 1;
}

void shale_multi_mark_shards(struct io_thread *t, const struct request *exec, uint8_t *want)
{
    const struct exec_job *job = exec->aux;
    for (const struct queued_cmd *q = job->state.head; q; q = q->next)
        mark_command_shards(t, q, want);
    for (const struct watched_key *w = job->state.watched; w; w = w->next)
        want[w->shard] = 1;
}

static void end_job(struct io_thread *t, struct request *r)
{
    struct exec_job *job = r->aux;
    free_queue(&job->state);
    unwatch_all(t, &job->state);
    shale_free(job->parts);
    shale_free(job);
    r->aux = NULL;
}

/* Does q coordinate rounds of its own (RENAME ... across shards)? The next
 * command must wait for it. */
static int runs_in_rounds(struct io_thread *t, const struct queued_cmd *q)
{
    if (q->cmd->split != SPLIT_COORDINATED)
        return 0;
    int shard = shale_router_shard_of_key(t, q->argv[1]);
    return q->argc > 2 && shale_router_shard_of_key(t, q->argv[2]) != shard;
}

/* The window that just came back: its replies, in queue order, into EXEC's
 * reply; its parts back to the pool. */
static void take_window(struct io_thread *t, struct request *r, struct exec_job *job)
{
    for (int i = 0; i < job->window; i++)
        shale_resp_add_raw(&r->reply, job->parts[i]->reply.data, job->parts[i]->reply.len);
    job->window = 0;
    while (r->parts) {
        struct request *p = r->parts;
        r->parts = p->next;
        shale_io_request_put(t, p);
    }
}

/* Sends queued commands while the pool has room for the most one command
 * may take (a split over every shard, or the rounds of MSETNX); at least
 * one, which the pool's admission reserve guarantees room for
 * (net/conn.c). Stops after a command that runs rounds of its own. */
static void send_window(struct io_thread *t, struct request *r, struct exec_job *job)
{
    struct conn *c = r->conn;
    uint32_t need = 2 * (uint32_t)t->srv->nshards + 1;
    while (job->next && (job->window == 0 || t->requests_free > need)) {
        struct queued_cmd *q = job->next;
        job->next = q->next;
        struct request *p = shale_router_new_part(t, r, 0);
        job->parts[job->window++] = p;
        p->cmd = q->cmd;
        p->argv = q->argv;
        p->argc = q->argc;
        p->db = c->db; /* a SELECT queued earlier has run already */
        p->part = 0;   /* a command of its own: counted as a call */
        p->round = 0;  /* ... and runs its own rounds, if any */
        if (shale_router_run(t, c, p))
            r->parts_pending--; /* answered right here */
        else if (runs_in_rounds(t, q))
            break;
    }
}

int shale_multi_exec_round(struct io_thread *t, struct request *r)
{
    struct exec_job *job = r->aux;
    if (r->round == 0) {
        if (job->state.token && shale_watch_token_stale(job->state.token, clock_wall_ms())) {
            shale_resp_add_null_array(&r->reply);
            end_job(t, r);
            return 1;
        }
        shale_resp_add_array_len(&r->reply, job->state.count);
    }
    for (;;) {
        take_window(t, r, job);
        if (!job->next) {
            end_job(t, r);
            return 1;
        }
        send_window(t, r, job);
        if (r->parts_pending > 0)
            return 0; /* called again when the window is back */
    }
}
