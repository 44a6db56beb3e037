/* t_scan: the commands that walk a shard's whole keyspace (KEYS, SCAN,
 * RANDOMKEY). Each answers for its own shard only; the router fans them
 * out and merges (KEYS, RANDOMKEY) or turns SCAN's table cursor into the
 * global one. Shard thread only. */
#ifndef SHALE_T_SCAN_H
#define SHALE_T_SCAN_H

#include "server/slice.h"

struct exec_ctx;
struct request;

/* KEYS pattern: this shard's matching keys, as an array. */
void shale_cmd_keys(struct exec_ctx *x, struct request *r);
/* SCAN cursor [MATCH p] [COUNT n] [TYPE t]: argv[1] is the global cursor;
 * its low SHALE_TABLE_CURSOR_BITS are this shard's table cursor. Replies
 * [table next cursor, keys]; the router rewrites the cursor. */
void shale_cmd_scan(struct exec_ctx *x, struct request *r);
/* RANDOMKEY part: [this shard's key count, a random key or nil]; the router
 * picks one part weighted by the counts. */
void shale_cmd_randomkey(struct exec_ctx *x, struct request *r);

#endif
