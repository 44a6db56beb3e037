/* txn: see txn.h. I/O thread only. */
#include "net/txn.h"

#include <string.h>

#include "net/conn.h"
#include "net/io_thread.h"
#include "net/router.h"
#include "server/command.h"
#include "server/mem.h"
#include "server/server.h"

void shale_txn_setup(struct txn_coord *x, int nshards, int sole_sender)
{
    memset(x, 0, sizeof(*x));
    x->sequenced = sole_sender;
    x->want = shale_calloc((size_t)nshards, 1);
    x->hold = shale_calloc((size_t)nshards, sizeof(*x->hold));
    x->release = shale_calloc((size_t)nshards, sizeof(*x->release));
    for (int s = 0; s < nshards; s++) {
        x->hold[s].kind = REQUEST_HOLD;
        x->hold[s].shard = (uint16_t)s;
        x->release[s].kind = REQUEST_RELEASE;
        x->release[s].shard = (uint16_t)s;
    }
}

void shale_txn_teardown(struct txn_coord *x)
{
    shale_free(x->want);
    shale_free(x->hold);
    shale_free(x->release);
    memset(x, 0, sizeof(*x));
}

static void start_batch(struct io_thread *t);

/* The first shard >= from that the batch wants, or nshards. */
static int next_wanted(const struct io_thread *t, int from)
{
    while (from < t->srv->nshards && !t->txn.want[from])
        from++;
    return from;
}

static void send_hold(struct io_thread *t, int shard)
{
    t->txn.state = TXN_ACQUIRING;
    t->txn.next = shard;
    shale_io_send_to_shard(t, shard, &t->txn.hold[shard]);
}

static void release_batch(struct io_thread *t)
{
    struct txn_coord *x = &t->txn;
    for (int s = 0; s < t->srv->nshards; s++)
        if (x->want[s]) {
            x->want[s] = 0;
            shale_io_send_to_shard(t, s, &x->release[s]);
        }
    x->state = TXN_IDLE;
    x->has_exec = 0;
    if (x->queue_head)
        start_batch(t);
}

/* Sends the batch's requests in queue order, so each shard sees them in
 * the order their connections sent them. A command that runs in rounds
 * (RENAME, MSETNX, COPY across shards, EXEC) is sent alone: what follows
 * it waits until its last round is back, or a later request would reach a
 * shard between two of its rounds. */
static void send_rest(struct io_thread *t)
{
    struct txn_coord *x = &t->txn;
    x->sending = 1;
    while (x->rest && !x->in_rounds) {
        struct request *r = x->rest;
        x->rest = r->txn_next;
        r->txn_next = NULL;
        if (r->conn)
            r->conn->txn_queued--;
        if (r->txn == TXN_ATOMIC && r->cmd->coordinate)
            x->in_rounds = r; /* cleared by shale_txn_finished */
        shale_router_run_queued(t, r);
    }
    x->sending = 0;
    if (!x->rest && x->unfinished == 0)
        release_batch(t);
}

/* Every shard is held. */
static void run_batch(struct io_thread *t)
{
    struct txn_coord *x = &t->txn;
    x->state = TXN_RUNNING;
    x->batches++;
    x->rest = x->batch;
    x->batch = NULL;
    x->unfinished = 0;
    for (struct request *p = x->rest; p; p = p->txn_next)
        x->unfinished += p->txn == TXN_ATOMIC;
    send_rest(t);
}

static void start_batch(struct io_thread *t)
{
    struct txn_coord *x = &t->txn;
    x->batch = x->queue_head;
    x->queue_head = x->queue_tail = NULL;
    for (struct request *r = x->batch; r; r = r->txn_next)
        if (r->txn == TXN_ATOMIC) {
            shale_txn_mark_shards(t, r, x->want);
            x->has_exec |= (r->cmd->flags & CMD_EXEC) != 0;
        }
    int first = next_wanted(t, 0);
    if (first < t->srv->nshards)
        send_hold(t, first);
    else
        run_batch(t);
}

void shale_txn_enqueue(struct io_thread *t, struct request *r)
{
    struct txn_coord *x = &t->txn;
    r->txn_next = NULL;
    if (x->queue_tail)
        x->queue_tail->txn_next = r;
    else
        x->queue_head = r;
    x->queue_tail = r;
    if (r->conn)
        r->conn->txn_queued++;
    if (x->state == TXN_IDLE)
        start_batch(t);
}

void shale_txn_held(struct io_thread *t, struct request *hold)
{
    int next = next_wanted(t, hold->shard + 1);
    if (next < t->srv->nshards)
        send_hold(t, next);
    else
        run_batch(t);
}

void shale_txn_finished(struct io_thread *t, struct request *r)
{
    struct txn_coord *x = &t->txn;
    r->txn = TXN_NONE;
    x->unfinished--;
    if (x->in_rounds == r)
        x->in_rounds = NULL;
    if (!x->sending)
        send_rest(t); /* what waited for r, then the release when all is done */
}

int shale_txn_orders_all(const struct io_thread *t)
{
    return t->txn.in_rounds != NULL || t->txn.has_exec;
}
