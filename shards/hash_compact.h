/* hash_compact: the contiguous encoding of a small hash (Redis's listpack
 * role): one allocation holding every field/value pair in insertion order.
 *
 * Layout (packed bytes, multi-byte numbers little-endian):
 *   byte 0      the owner's tag: written at create, never read or changed
 *               here (hash.c keeps its encoding there, so a hash value is
 *               one allocation whatever its encoding)
 *   bytes 1-4   bytes in use, header included
 *   bytes 5-8   number of pairs
 *   bytes 9-12  bytes allocated (the allocator's usable size, kept here so
 *               a write need not ask the allocator)
 *   pairs       varint field length, field, varint value length, value
 *               (varints are LEB128: one byte up to 127)
 *
 * Lookups are linear scans, which is why the owner keeps these small
 * (hash-max-listpack-entries, hash-max-listpack-value). An update keeps the
 * pair's position (as listpack's lpReplace does), a new field is appended,
 * so iteration order is insertion order, as in Redis.
 *
 * Functions that change the contents may move the blob and return its new
 * address. Shard thread only. */
#ifndef SHALE_HASH_COMPACT_H
#define SHALE_HASH_COMPACT_H

#include <stddef.h>
#include <stdint.h>

#include "server/slice.h"

/* Bytes of the header, before the first pair. */
#define HASH_COMPACT_HDR_SIZE 13
/* Largest blob (bytes in use) the format allows; owners convert before. */
#define HASH_COMPACT_MAX_BYTES ((size_t)1 << 30)

struct hash_compact; /* opaque bytes */

struct hash_compact *shale_hash_compact_create(uint8_t tag);
void shale_hash_compact_destroy(struct hash_compact *c);

size_t shale_hash_compact_len(const struct hash_compact *c);
/* Bytes in use (header included). */
size_t shale_hash_compact_bytes(const struct hash_compact *c);
/* Bytes a pair of these lengths adds. */
size_t shale_hash_compact_pair_size(size_t field_len, size_t value_len);

/* Starts loading every line of the blob past the first (which must be in
 * cache: it holds the length). A hint for the batch prefetch. */
void shale_hash_compact_prefetch(const struct hash_compact *c);

/* 1 and *value set when field is present. */
int shale_hash_compact_get(const struct hash_compact *c, struct slice field, struct slice *value);
/* Sets field to value (replacing in place, or appending); *created says
 * which. May move the blob. */
struct hash_compact *shale_hash_compact_set(struct hash_compact *c, struct slice field,
                                            struct slice value, int *created);
/* Removes field; *deleted is 1 if it was there. May move the blob. */
struct hash_compact *shale_hash_compact_delete(struct hash_compact *c, struct slice field,
                                               int *deleted);

/* Iteration in insertion order: start with *pos = 0; each call that
 * returns 1 fills field and value and advances *pos. The blob must not
 * change during the walk. A saved *pos may also be passed back to re-read
 * the pair it leads to (random access by remembered position). */
int shale_hash_compact_next(const struct hash_compact *c, size_t *pos, struct slice *field,
                            struct slice *value);

#endif
