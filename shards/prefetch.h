/* prefetch: the cache misses of a batch of commands, overlapped.
 *
 * A lookup is a chain of dependent loads -- the key's bucket, the key
 * object, and for a hash the value block, the table struct, the field's
 * bucket and entry -- and in a keyspace larger than the cache each is a
 * miss (~100 ns) the command waits for in turn. Before a shard runs a batch
 * of commands it walks the batch once per link of the chain, starting each
 * request's next load from what the previous walk brought in, so the
 * misses of the whole batch are in flight together and the commands find
 * their data in cache. (Valkey 8 prefetches its batches the same way.)
 * Commands on strings stop at the bucket: their chain is one more load,
 * and prefetching it measured no faster.
 *
 * A stage reads only what the stage before it loaded, compares no key but
 * in the one lookup that finds the object, and changes nothing: hints,
 * run on the shard thread just before the commands, so nothing it reads
 * can change under it. Expiry is not checked: an expired key is prefetched
 * like a live one.
 *
 * The key is the command's first key; the field, for commands whose value
 * is a block apart (CMD_VALUE_APART: hash commands), argv[2] when there is
 * one -- the field of most hash commands, a cursor or count for the rest,
 * where the hint is wasted. */
#ifndef SHALE_PREFETCH_H
#define SHALE_PREFETCH_H

#include "shards/keyspace.h"

struct request;

/* Requests whose data is prefetched together, at most. */
#define PREFETCH_BATCH 16

void shale_prefetch_batch(struct keyspace *ks, struct request *const *batch, unsigned n);

#endif
