/* router: from a parsed request to where it runs. Looks the command up,
 * checks arity and authentication (errors answered right here), runs keyless
 * commands on the I/O thread, sends single-shard commands to the shard that
 * owns the key's slot, and splits multi-key and whole-keyspace commands into
 * one part per shard, merging the parts' replies in argument order when they
 * come back. I/O thread only. */
#ifndef SHALE_ROUTER_H
#define SHALE_ROUTER_H

struct io_thread;
struct conn;
struct request;

void shale_router_dispatch(struct io_thread *t, struct conn *c, struct request *r);
/* A request came back from a shard. */
void shale_router_complete(struct io_thread *t, struct request *r);
/* Marks a request run on the I/O thread as finished. */
void shale_router_finish(struct request *r);

/* For coordinators (SPLIT_COORDINATED commands) and net/txn.c. */
struct slice;
int shale_router_shard_of_key(const struct io_thread *t, struct slice key);
/* A new part of parent for shard, in parent's current round: same command,
 * db and protocol, no arguments yet (argv has REQUEST_INLINE_ARGS slots). */
struct request *shale_router_new_part(struct io_thread *t, struct request *parent, int shard);
/* Sends parent's parts, after the connection's requests queued for an
 * atomic batch if it has any (so its order holds). */
void shale_router_submit_parts(struct io_thread *t, struct request *parent);
/* Sends parent's parts of its current round, now. */
void shale_router_send_parts(struct io_thread *t, struct request *parent);
/* Sends a request the atomic batch queue held back (net/txn.c). */
void shale_router_run_queued(struct io_thread *t, struct request *r);

/* For EXEC (net/multi.c), whose queued commands are its parts and run with
 * the shards already held. */
struct command;
/* Runs a checked command (r->cmd set): its handler here, or sent to its
 * shards; counted in the statistics. Returns 1 when it was answered here. */
int shale_router_run(struct io_thread *t, struct conn *c, struct request *r);
/* A part answered on the I/O thread: counts it back to its parent. */
void shale_router_part_done(struct io_thread *t, struct request *part);

#endif
