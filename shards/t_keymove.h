/* t_keymove: the commands that move or copy whole keys (RENAME, RENAMENX,
 * COPY) and MSETNX, with Redis 7.0's replies and errors.
 *
 * When every key of the command lives on this shard, the handler runs it
 * whole (r->step == KEYMOVE_WHOLE). When the keys span shards, a coordinator
 * on the I/O thread (net/coord.c) holds the shards and runs the command in
 * steps, one part per shard, each part's r->step naming the step:
 *
 *   DUMP      argv [cmd, key]            -> the key as a dump (below), or nil
 *   RESTORE   argv [cmd, key, dump]      -> :1; key replaced by the dump
 *   RESTORE_NX argv [cmd, key, dump]     -> :1 restored, :0 key existed
 *   DELETE    argv [cmd, key]            -> :1 / :0
 *   COUNT     argv [cmd, k1, v1, ...]    -> :n keys that exist
 *   SET       argv [cmd, k1, v1, ...]    -> +OK, each key set, TTL dropped
 *
 * A dump is RESP: *3 :type :expire-ms-or--1 then the value (a bulk string,
 * or an array of field, value bulks for a hash). It is internal: it travels
 * from one shard to another through the I/O thread, never to a client.
 *
 * Handlers run on a shard thread; shale_copy_parse is pure and runs on the
 * I/O thread too. */
#ifndef SHALE_T_KEYMOVE_H
#define SHALE_T_KEYMOVE_H

struct exec_ctx;
struct request;

enum keymove_step {
    KEYMOVE_WHOLE = 0,
    KEYMOVE_DUMP,
    KEYMOVE_RESTORE,
    KEYMOVE_RESTORE_NX,
    KEYMOVE_DELETE,
    KEYMOVE_COUNT,
    KEYMOVE_SET,
};

void shale_cmd_rename(struct exec_ctx *x, struct request *r);
void shale_cmd_renamenx(struct exec_ctx *x, struct request *r);
void shale_cmd_copy(struct exec_ctx *x, struct request *r);
void shale_cmd_msetnx(struct exec_ctx *x, struct request *r);

/* COPY's options (argv[3..]): the destination database and REPLACE. Returns
 * NULL, or the Redis error text to answer. */
const char *shale_copy_parse(const struct request *r, int databases, int *dst_db, int *replace);

#endif
