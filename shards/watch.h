/* watch: WATCH on the shard side. A connection that WATCHes keys owns one
 * token; each shard holding some of those keys registers (db, key) -> token
 * in its registry, and a write to a registered key (or a flush of its
 * database) sets the token's dirty flag, which EXEC reads on the I/O thread
 * while it holds the shards. The token is shared between threads: dirty,
 * expires_at_ms and refs are atomics, everything else here is the shard's own.
 *
 * Expiry counts as a write, as in Redis 7: a key that was live when it was
 * WATCHed and has expired by EXEC fails the transaction (a key already
 * expired at WATCH does not). No expiry path needs to find the watchers: a
 * key's expire time changes only by a write, which marks the token anyway,
 * so the earliest expire time among the live keys at registration tells EXEC
 * exactly when the token goes stale (shale_watch_token_stale).
 *
 * Registry: shard thread only. Token: any thread, through the functions. */
#ifndef SHALE_WATCH_H
#define SHALE_WATCH_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "server/slice.h"

struct exec_ctx;
struct request;

struct watch_token {
    _Atomic uint32_t dirty; /* set by shards, read by EXEC */
    /* Earliest expire time (unix ms) of a watched key that was live when a
     * shard registered it; 0 = none. Lowered by shards, read by EXEC. */
    _Atomic int64_t expires_at_ms;
    /* The connection, one per registered key, and one per watch|keys or
     * unwatch|keys message not yet run (an UNWATCH may drop the
     * connection's reference while its WATCH is still on the way). */
    _Atomic uint32_t refs;
};

struct watch_token *shale_watch_token_create(void);
void shale_watch_token_get(struct watch_token *tok);
void shale_watch_token_put(struct watch_token *tok);
/* EXEC's test: a watched key was written, or has expired since WATCH. */
int shale_watch_token_stale(struct watch_token *tok, int64_t now_ms);

struct watch_entry;

struct watch_registry {
    struct watch_entry **buckets;
    size_t nbuckets; /* power of two, or 0 */
    size_t count;    /* registered (db, key, token) entries */
};

void shale_watch_registry_deinit(struct watch_registry *reg);

/* Internal shard commands sent by net/multi.c: argv [cmd, key...],
 * r->aux = the token, whose reference the message carries (dropped here);
 * reply +OK. */
void shale_cmd_watch_keys(struct exec_ctx *x, struct request *r);
void shale_cmd_unwatch_keys(struct exec_ctx *x, struct request *r);

/* After a write command ran on this shard: marks the watchers of the keys
 * it wrote (all of a database for FLUSHDB/FLUSHALL). Cheap when nothing is
 * watched. */
void shale_watch_after_write(struct exec_ctx *x, const struct request *r);

#endif
