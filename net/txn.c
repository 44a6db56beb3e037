/* txn: see txn.h. I/O thread only. */
#include "net/txn.h"

#include <string.h>

#include "net/conn.h"
#include "net/io_thread.h"
#include "net/router.h"
#include "server/mem.h"
#include "server/server.h"

void shale_txn_setup(struct txn_coord *x, int nshards)
{
    memset(x, 0, sizeof(*x));
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
    if (x->queue_head)
        start_batch(t);
}

/* Every shard is held: send the batch's requests in queue order, so each
 * shard sees them in the order their connections sent them. */
static void run_batch(struct io_thread *t)
{
    struct txn_coord *x = &t->txn;
    x->state = TXN_RUNNING;
    x->batches++;
    struct request *r = x->batch;
    x->batch = NULL;
    uint32_t atomic = 0;
    for (struct request *p = r; p; p = p->txn_next)
        atomic += p->txn == TXN_ATOMIC;
    x->unfinished = atomic;
    while (r) {
        struct request *next = r->txn_next;
        r->txn_next = NULL;
        if (r->conn)
            r->conn->txn_queued--;
        shale_router_run_queued(t, r);
        r = next;
    }
    if (atomic == 0)
        release_batch(t);
}

static void start_batch(struct io_thread *t)
{
    struct txn_coord *x = &t->txn;
    x->batch = x->queue_head;
    x->queue_head = x->queue_tail = NULL;
    for (struct request *r = x->batch; r; r = r->txn_next)
        if (r->txn == TXN_ATOMIC)
            shale_txn_mark_shards(t, r, x->want);
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
    if (--x->unfinished == 0)
        release_batch(t);
}
