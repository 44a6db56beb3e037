/* hash: the value of a hash key, in one of two encodings.
 *
 *   compact  one blob (shards/hash_compact.h) for small hashes: reported as
 *            "listpack", Redis's name for the same role;
 *   table    a shards/table.h table whose entries are hash_entry pointers
 *            (shards/hash_entry.h: field and value in one allocation when
 *            small): reported as "hashtable".
 *
 * A hash starts compact and converts to a table, once and for good (as in
 * Redis 7.0), when a field or value longer than hash-max-listpack-value is
 * stored, or when it would hold more than hash-max-listpack-entries pairs.
 * The first byte of the value is its encoding tag, so a compact hash is a
 * single allocation and a table hash is a 16-byte header plus the table.
 *
 * Functions that write may move the value and take `struct hash **`: the
 * owner (the key object) must store the new pointer (shale_kobj_set_ptr).
 * Shard thread only. */
#ifndef SHALE_HASH_H
#define SHALE_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "server/slice.h"

struct defrag_movers; /* shards/hash_entry.h */

enum hash_encoding {
    HASH_ENC_COMPACT = 1,
    HASH_ENC_TABLE = 2,
};

/* The shard's slice of the config, read-only after start. */
struct hash_config {
    size_t max_compact_entries; /* hash-max-listpack-entries */
    size_t max_compact_value;   /* hash-max-listpack-value */
    uint64_t seed;              /* hash-function seed of table-encoded hashes */
};

struct hash; /* opaque */

/* An empty hash (compact). A key never holds an empty hash for long: the
 * command that empties one deletes the key. */
struct hash *shale_hash_create(void);
void shale_hash_destroy(struct hash *h);

enum hash_encoding shale_hash_encoding(const struct hash *h);
/* "listpack" or "hashtable", the names OBJECT ENCODING reports. */
const char *shale_hash_encoding_name(const struct hash *h);
size_t shale_hash_len(const struct hash *h);

/* The batch prefetch's steps for a field lookup (shards/prefetch.h), each
 * reading only what the one before loaded: the encoding's next block (the
 * table struct, or the rest of a compact blob); the field's bucket, whose
 * hash is returned for the last step; the entries there whose tag matches.
 * Hints only: nothing is changed. */
void shale_hash_prefetch_encoding(const struct hash *h);
uint64_t shale_hash_prefetch_field_bucket(const struct hash *h, struct slice field);
void shale_hash_prefetch_field_entries(const struct hash *h, uint64_t field_hash);

/* 1 and *value (valid until the hash is written) when field is present. */
int shale_hash_get(const struct hash *h, struct slice field, struct slice *value);
/* Sets field to value; returns 1 when the field is new, 0 when updated.
 * Converts to the table encoding first when field or value is longer than
 * max_compact_value, and after inserting when the hash then holds more than
 * max_compact_entries pairs. */
int shale_hash_set(struct hash **hp, struct slice field, struct slice value,
                   const struct hash_config *cfg);
/* Removes field; returns 1 if it was there. */
int shale_hash_delete(struct hash **hp, struct slice field);
/* Converts a compact hash to the table encoding (no-op for a table). */
void shale_hash_convert(struct hash **hp, const struct hash_config *cfg);

/* Every pair, in insertion order for compact hashes; fn must not write the
 * hash. */
void shale_hash_foreach(const struct hash *h,
                        void (*fn)(void *ctx, struct slice field, struct slice value), void *ctx);

/* HSCAN step: calls fn on the pairs from cursor on and returns the next
 * cursor (0: done). A compact hash is returned whole with cursor 0 whatever
 * the cursor (Redis does the same for listpacks); a table walks bucket
 * ranges until `count` pairs were visited or 10 x count ranges were. Every
 * pair present for the whole scan is visited at least once. */
uint64_t shale_hash_scan(const struct hash *h, uint64_t cursor, size_t count,
                         void (*fn)(void *ctx, struct slice field, struct slice value), void *ctx);

/* n random pairs for HRANDFIELD. distinct == 0: n independent uniform picks
 * (repeats allowed). distinct == 1: n < length required; n different pairs.
 * *rng is the caller's PRNG state. The hash must not be empty. */
void shale_hash_random(const struct hash *h, size_t n, int distinct, uint64_t *rng,
                       void (*fn)(void *ctx, struct slice field, struct slice value), void *ctx);

/* Bytes the value holds in the allocator: the blob, or the header, the
 * table's own arrays and every entry (O(length)). */
size_t shale_hash_mem_usage(const struct hash *h);

/* Defrag hooks; `move` as a struct defrag_movers's `block`
 * (shards/hash_entry.h: returns the new address after copying and freeing,
 * or NULL to leave a block alone).
 * shale_hash_defrag moves the value's first block (the whole compact blob,
 * or a table hash's header) and returns the value's new address for the
 * key object. shale_hash_defrag_entries moves the entries of a table hash
 * (cells too, hence both movers) one scan step at a time, fixing each
 * table slot: start with cursor 0,
 * call again with what it returns until 0 (a compact hash returns 0). */
struct hash *shale_hash_defrag(struct hash *h, void *(*move)(void *ptr, void *ctx), void *ctx);
uint64_t shale_hash_defrag_entries(struct hash *h, uint64_t cursor, const struct defrag_movers *m);
/* Moves a table hash's table (its bucket arrays and struct; see
 * shale_table_defrag); a compact hash has none. */
void shale_hash_defrag_table(struct hash *h, void *(*move)(void *ptr, void *ctx), void *ctx);

#endif
