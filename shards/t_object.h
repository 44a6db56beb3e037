/* t_object: introspection and debugging commands: OBJECT ENCODING, FREQ,
 * IDLETIME, REFCOUNT and HELP, DEBUG SLEEP and DEBUG POPULATE, with Redis
 * 7.0's replies. Shard handlers run on the shard thread; OBJECT HELP on the
 * I/O thread. */
#ifndef SHALE_T_OBJECT_H
#define SHALE_T_OBJECT_H

struct conn;
struct exec_ctx;
struct request;

void shale_cmd_object_encoding(struct exec_ctx *x, struct request *r);
void shale_cmd_object_freq(struct exec_ctx *x, struct request *r);
void shale_cmd_object_idletime(struct exec_ctx *x, struct request *r);
void shale_cmd_object_refcount(struct exec_ctx *x, struct request *r);
void shale_cmd_object_help(struct conn *c, struct request *r);

/* DEBUG SLEEP seconds: the router runs it on every shard, so no key command
 * is served until it ends (Redis blocks its one thread the same way);
 * keyless commands, answered by the I/O threads, still are. */
void shale_cmd_debug_sleep(struct exec_ctx *x, struct request *r);
/* DEBUG POPULATE count [prefix] [size]: runs on every shard; each creates
 * the keys that hash to it. The router appends one argument the client
 * never sent: a slice over the server's slot-to-shard map (uint16_t[16384],
 * read-only after start), so the shard can tell its own keys; r->shard is
 * its index. */
void shale_cmd_debug_populate(struct exec_ctx *x, struct request *r);

#endif
