/* txn: atomic cross-shard commands, coordinated by the I/O thread.
 *
 * A command whose keys live on several shards (MSET, MGET, DEL, RENAME,
 * MULTI/EXEC ...) must not be seen half done. The I/O thread takes the
 * shards it needs in ascending shard order: it sends a HOLD, the shard
 * acknowledges and from then on serves only this I/O thread's ring, and the
 * next shard is asked only after the acknowledgement. With every shard held
 * the requests run; then each shard gets a RELEASE. Taking shards in one
 * global order means two I/O threads can never wait on each other in a
 * cycle; a shard hands itself over round robin (shards/shard.c), so a
 * thread whose batches follow each other back to back cannot keep another
 * waiting either.
 *
 * Requests are batched: everything queued while a batch is being acquired
 * or run forms the next batch, which holds the union of its shards once. A
 * connection with a request waiting in the queue routes its later shard
 * requests through the queue too (as followers), so its pipeline keeps its
 * order. Single-shard work of other connections waits only while a command
 * that runs in rounds (RENAME, MSETNX, COPY across shards; EXEC) is between
 * two of its rounds: the shards are held by this I/O thread, and nothing it
 * sends may land between those rounds.
 *
 * I/O thread only. */
#ifndef SHALE_TXN_H
#define SHALE_TXN_H

#include <stdint.h>

struct io_thread;
struct request;

enum txn_state {
    TXN_IDLE,
    TXN_ACQUIRING, /* waiting for the HOLD of shard `next` to come back */
    TXN_RUNNING,   /* every shard of the batch held; requests running */
};

struct txn_coord {
    enum txn_state state;
    struct request *queue_head, *queue_tail; /* the next batch, via txn_next */
    struct request *batch;                   /* the batch being acquired */
    struct request *rest;                    /* the running batch's requests not sent yet */
    struct request *in_rounds;               /* sent, runs in rounds: the rest waits for it */
    int sending;                             /* inside the loop that sends the rest */
    uint32_t unfinished;                     /* atomic requests of the batch still running */
    int has_exec;                            /* the batch (acquired or running) holds an EXEC */
    int sequenced;                           /* sole sender to the shards: splits need no holds */
    int next;                                /* the shard whose HOLD is out */
    uint8_t *want;                           /* [nshards] the batch needs this shard */
    struct request *hold;                    /* [nshards] HOLD messages, reused */
    struct request *release;                 /* [nshards] RELEASE messages, reused */
    uint64_t batches;                        /* batches run (INFO) */
};

/* sole_sender: the only I/O thread, so every shard has one inbound ring
 * and split commands are sequenced instead of held (net/router.c). */
void shale_txn_setup(struct txn_coord *x, int nshards, int sole_sender);
void shale_txn_teardown(struct txn_coord *x);

/* Queues r for the next batch (r->txn says how it takes part). */
void shale_txn_enqueue(struct io_thread *t, struct request *r);
/* A HOLD came back from its shard. */
void shale_txn_held(struct io_thread *t, struct request *hold);
/* An atomic request of the running batch has its reply. */
void shale_txn_finished(struct io_thread *t, struct request *r);
/* Shard work of this thread must queue behind the batch: a command of the
 * running batch is between two of its rounds, or the batch holds an EXEC.
 * An EXEC reads its WATCH flags once its shards are held; a write sent
 * straight to a shard after that shard's HOLD would run after the HOLD came
 * back yet before EXEC's commands, unseen by the check: EXEC would run
 * after a write to a key it watched. */
int shale_txn_orders_all(const struct io_thread *t);

/* Marks in want[] every shard r needs held: those of its keys, or for
 * EXEC those of its queued commands and watched keys. */
void shale_txn_mark_shards(struct io_thread *t, const struct request *r, uint8_t *want);

#endif
