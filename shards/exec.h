/* exec: what a command handler running on a shard may use. The shard owns
 * this context and passes it to each handler; handlers touch nothing else
 * (not the connection, not another shard). Shard thread only. */
#ifndef SHALE_EXEC_H
#define SHALE_EXEC_H

#include <stdint.h>

#include "net/request.h"
#include "shards/hash.h"
#include "shards/keyspace.h"
#include "shards/watch.h"

struct exec_stats {
    uint64_t keyspace_hits;
    uint64_t keyspace_misses;
};

struct exec_ctx {
    struct keyspace *ks;
    int64_t now_ms; /* wall clock, refreshed once per batch */
    struct exec_stats stats;
    uint64_t rng;                  /* xorshift state for sampling */
    struct hash_config hash;       /* read-only after start */
    int shard;                     /* this shard's index; read-only after start */
    const uint16_t *slot_to_shard; /* the server's slot map; read-only after start */
    struct watch_registry watch;   /* WATCHed keys of this shard */
};

#endif
