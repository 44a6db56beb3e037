/* hash_entry: one field/value pair of a hash in the table encoding.
 *
 * The table (shards/table.h) stores one pointer per field, and that pointer
 * points at the FIELD HEADER. Two layouts, told apart by bit 0 of that
 * header:
 *
 *   embedded  [field header | field | value header | value]   one allocation
 *   pointer   [value pointer | field header | field]            + [value header | value]
 *                             ^ the entry pointer                 a second allocation
 *
 * Length headers (little-endian, byte 0 low bits first). Bits 0..r-1 of
 * byte 0 are reserved (r = 1 for the field: the layout bit; r = 0 for a
 * value), the next 2 bits are the length class, the rest the length:
 *   class 0: 1 byte,  field length < 32,     value length < 64
 *   class 1: 2 bytes, field length < 8192,   value length < 16384
 *   class 2: 4 bytes, field length < 2^29,   value length < 2^30
 *   class 3: 9 bytes, byte 0 then a 64-bit length
 *
 * Embed budget. A pair is embedded when its embedded block (both headers
 * and both strings) is at most HASH_ENTRY_EMBED_MAX bytes, and uses the
 * pointer layout above that. Chosen by measurement, not by the 64-byte
 * cache line the design started from (scripts/bench_hash_entry.c; jemalloc
 * 5.3.0, quantum 16, classes 8 16 32 48 64 80 96 112 128 160 192 224 256
 * 320 ...; fields f<N>; full tables in docs/hashes.md):
 *   - Memory: embedding saves ~10 bytes per field at every value size (the
 *     8-byte pointer plus one block's rounding): averaged over value sizes
 *     1-64, 65-128, 129-256, 257-512 an entry takes 45.6 / 112.6 / 216.6 /
 *     424.6 bytes embedded against 56.1 / 122.5 / 226.5 / 434.5 as two
 *     blocks: 19%, 8%, 4.4%, 2.3% less. At the benchmark's 15-byte values
 *     both are 32 bytes in jemalloc (21 -> 32 embedded, 16 + 16 as two
 *     blocks); embedded, the pair is now a 24-byte cell (below).
 *   - Reads: an HGET-like lookup plus value copy in a 1M-field table costs
 *     one dependent cache miss more with a separate value block: ~400-460
 *     ns against ~610-690 ns for values of 32-256 bytes, 714 vs 921 at 512,
 *     843 vs 1142 at 1024 (best of 3 on a busy 2-core VM). At 15 bytes the
 *     two 16-byte blocks usually sit side by side (430 vs 400 ns).
 *   - Updates that change the value's size class cost the same within
 *     noise either way: one realloc, of the whole pair or of the value.
 * Embedding wins on both counts at every size measured, so the limit is
 * where its memory gain stops mattering: 256 bytes keeps 4% or more, and a
 * pair of two strings as long as hash-max-listpack-value allows (64 + 64)
 * is embedded with room to spare. Above it the pointer layout costs ~2% of
 * memory and buys what large values want: a rewrite of a multi-KB value
 * reallocates that value only, never moving the entry the table points
 * at, and defrag moves the big block and the small field block separately.
 *
 * Cells. The block the table points into -- the whole pair, or [value
 * pointer | field] -- is a 24-byte cell (shards/cells.h) when it needs
 * 17 to 24 bytes, and an allocator block otherwise (a 16-byte block costs
 * less than a cell); its size alone says which. jemalloc has no class between 16 and 32, so the
 * commonest small pair (`f<N>` -> 15 bytes: 21 bytes) takes 24.2 bytes, not 32. Separate value
 * blocks are always allocator blocks.
 *
 * Value updates switch layouts both ways. A block is reused in place while
 * the new size fits its allocation and wastes less than 1/8 of it (the
 * spacing of jemalloc's classes, so this is "same size class"); otherwise it
 * is reallocated. An update may move the entry (embedded blocks, layout
 * switches): the caller stores the returned pointer into the table slot
 * (shale_table_find_ref), which is valid because the field is unchanged.
 *
 * Owned by the shard thread that owns the hash; no locking. Values passed in
 * must not point into the entry being updated. */
#ifndef SHALE_HASH_ENTRY_H
#define SHALE_HASH_ENTRY_H

#include <stddef.h>

#include "server/slice.h"

#ifndef HASH_ENTRY_EMBED_MAX
#define HASH_ENTRY_EMBED_MAX 256
#endif

struct hash_entry; /* opaque bytes; the pointer is the field header */

struct hash_entry *shale_hash_entry_create(struct slice field, struct slice value);
void shale_hash_entry_destroy(struct hash_entry *e);

struct slice shale_hash_entry_field(const struct hash_entry *e);
struct slice shale_hash_entry_value(const struct hash_entry *e);
/* 1 when field and value share one allocation. */
int shale_hash_entry_is_embedded(const struct hash_entry *e);

/* Replaces the value; returns where the entry lives now (may be e). Any
 * pointer to the old entry, or slice of its field or value, is invalid
 * after the call unless the same pointer came back. */
struct hash_entry *shale_hash_entry_set_value(struct hash_entry *e, struct slice value);

/* Bytes the entry holds in the allocator (both blocks, as allocated). */
size_t shale_hash_entry_alloc_size(const struct hash_entry *e);

/* Defrag: a mover is asked about each block of the entry -- the separate
 * value block first, then the block holding the field -- and returns its
 * new address (having copied and freed the old one), or NULL to leave it
 * where it is. `block` moves allocator blocks, `cell` moves cells. */
struct defrag_movers {
    void *(*block)(void *ptr, void *ctx);
    void *(*cell)(void *cell, void *ctx);
    void *ctx;
};
/* Returns the entry's new address (e when the field block stayed), for the
 * caller to store into the table slot. */
struct hash_entry *shale_hash_entry_defrag(struct hash_entry *e, const struct defrag_movers *m);

/* Embedded block size of a pair (both headers included): what is compared
 * with HASH_ENTRY_EMBED_MAX. */
size_t shale_hash_entry_embedded_size(size_t field_len, size_t value_len);

#endif
