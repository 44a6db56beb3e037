/* multi: MULTI, EXEC, DISCARD, WATCH and UNWATCH, with Redis 7.0 semantics.
 *
 * Inside MULTI a checked command is copied into the connection's queue and
 * answered +QUEUED; a command that fails its checks dooms the transaction
 * (EXEC answers EXECABORT). EXEC takes the queue away from the connection
 * and becomes an atomic request of the I/O thread's batches (net/txn.h):
 * when every shard its commands and watched keys live on is held, it checks
 * the WATCH token (nil reply when a watched key was written) and runs the
 * commands as its parts, in order, in rounds of as many as the request
 * slots allow (a command that coordinates rounds of its own ends a round).
 *
 * WATCH registers the keys with their shards (shards/watch.h) before it
 * answers, so any write that follows the reply marks the token.
 *
 * I/O thread only. */
#ifndef SHALE_MULTI_H
#define SHALE_MULTI_H

#include <stdint.h>

struct command;
struct conn;
struct io_thread;
struct request;

/* Router hooks. */
int shale_multi_queues(const struct conn *c, const struct command *cmd);
void shale_multi_queue(struct conn *c, struct request *r);
void shale_multi_flag_error(struct conn *c);
/* EXEC's shards for net/txn.c. */
void shale_multi_mark_shards(struct io_thread *t, const struct request *exec, uint8_t *want);
/* RESET, and a connection going away: drop the queue and every watch. */
void shale_multi_reset(struct conn *c);

void shale_cmd_multi(struct conn *c, struct request *r);
void shale_cmd_exec(struct conn *c, struct request *r);
void shale_cmd_discard(struct conn *c, struct request *r);
void shale_cmd_watch(struct conn *c, struct request *r);
void shale_cmd_unwatch(struct conn *c, struct request *r);
/* EXEC's coordinator (server/command.h `coordinate`). */
int shale_multi_exec_round(struct io_thread *t, struct request *r);

#endif
