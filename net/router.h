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

#endif
