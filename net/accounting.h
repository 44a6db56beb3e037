/* accounting: what an I/O thread records about the commands of its
 * clients: rejections, the calls and time of the commands it runs itself,
 * the one call of a command split across shards (INFO commandstats and
 * stats), error replies (INFO errorstats) and slow commands (SLOWLOG).
 * Shards count the commands they run in their own tables (shards/shard.c).
 * I/O thread only; the router calls these at the points named. */
#ifndef SHALE_ACCOUNTING_H
#define SHALE_ACCOUNTING_H

#include <stdint.h>

#include "net/request.h"

struct command;
struct io_thread;
struct request;

/* Refused before running (wrong arity, NOAUTH). */
void shale_accounting_rejected(struct io_thread *t, const struct command *cmd);
/* r's handler ran on this thread for ns nanoseconds. */
void shale_accounting_ran_here(struct io_thread *t, struct request *r, int64_t ns);
/* A command went to the shards (total_commands_processed). */
void shale_accounting_routed(struct io_thread *t);
/* r (not split) came back from its shard, which counted it. */
void shale_accounting_ran_on_shard(struct io_thread *t, struct request *r);
/* Every part of r came back and the parts' replies were merged into r's. */
void shale_accounting_merged(struct io_thread *t, struct request *r);
/* r's reply is final: counts an error reply, and drops the reply when the
 * client asked for none (CLIENT REPLY OFF/SKIP). */
void shale_accounting_reply_slow(struct request *r);
static inline void shale_accounting_reply(struct request *r)
{
    if ((r->reply.len && r->reply.data[0] == '-') || r->silent)
        shale_accounting_reply_slow(r);
}

#endif
