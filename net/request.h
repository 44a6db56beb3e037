/* request: one command in flight, from parse to reply.
 *
 * A request slot belongs to the I/O thread that parsed it (fixed pool,
 * sized at start-up). It travels to a shard through the I/O thread's ring;
 * while it is there the shard owns it: it reads argv, writes `reply` and
 * `exec_ns`, and touches nothing else. It comes back through the shard's
 * ring, and the I/O thread releases the reply in the connection's request
 * order.
 *
 * argv points into the connection's read buffer (`buf` holds a reference),
 * so arguments are never copied. */
#ifndef SHALE_REQUEST_H
#define SHALE_REQUEST_H

#include <stdint.h>

#include "net/resp_write.h"
#include "server/slice.h"

#define REQUEST_INLINE_ARGS 6

struct command;
struct conn;
struct iobuf;

/* What a shard does with a ring message. HOLD and RELEASE carry no command:
 * they take and give back a shard for a cross-shard atomic batch (net/txn.h). */
enum request_kind {
    REQUEST_COMMAND = 0,
    REQUEST_HOLD,    /* serve only the sender's ring until RELEASE; acknowledged */
    REQUEST_RELEASE, /* serve every ring again; not sent back */
};

/* How a request takes part in its I/O thread's atomic batches (net/txn.h). */
enum request_txn {
    TXN_NONE = 0,
    TXN_ATOMIC,       /* keys on several shards: runs with all of them held */
    TXN_FOLLOW_ONE,   /* queued behind an atomic request of its connection */
    TXN_FOLLOW_PARTS, /* the same, for a command already split into parts */
};

enum request_state {
    REQUEST_FREE = 0,
    REQUEST_QUEUED, /* on a shard, or waiting for its parts */
    REQUEST_DONE,   /* reply complete, waiting for earlier replies */
};

struct request {
    /* Set by the I/O thread before dispatch; read-only on the shard. */
    const struct command *cmd;
    int argc;
    struct slice *argv; /* argv_inline or a heap array */
    uint8_t db;
    uint8_t proto; /* 2 or 3 */
    uint8_t state;
    uint8_t argv_heap; /* argv was allocated for this request */
    uint8_t kind;      /* enum request_kind */
    uint8_t step;      /* 0: the whole command; else a step of a coordinated one */
    uint8_t part;      /* one part of a split command (stats count its time only) */
    uint16_t shard;
    uint64_t argv_bytes; /* bytes of the arguments (CLIENT LIST argv-mem) */
    int64_t start_us;    /* parse time, for latency stats */
    void *aux;           /* internal messages: e.g. the WATCH token (shards/watch.h) */

    /* Written by whoever executes the command: its reply, and how long the
     * handler ran in ns (the I/O thread decides from it whether SLOWLOG
     * keeps it; a split command's parent takes its longest part's). */
    uint64_t exec_ns;
    struct resp_buf reply;

    /* I/O-thread-only bookkeeping below. */
    struct conn *conn;        /* NULL for a part of a split command */
    struct request *next;     /* next request of the same connection */
    struct iobuf *buf;        /* read buffer argv points into */
    struct request *parent;   /* the command this is one part of */
    struct request *parts;    /* first part (a list through next) */
    uint32_t parts_pending;   /* parts not yet back */
    uint8_t silent;           /* CLIENT REPLY OFF/SKIP: the reply is not sent */
    uint8_t txn;              /* enum request_txn */
    uint8_t round;            /* coordinated commands: the round in flight */
    struct request *txn_next; /* in the I/O thread's batch queue */
    struct slice argv_inline[REQUEST_INLINE_ARGS];
};

#endif
