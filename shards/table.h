/* table: the keyspace hash table -- one per shard per database.
 *
 * Owned and used by a single shard thread; no locking, never touched by
 * another thread. Entries are opaque pointers owned by the caller; the table
 * stores only the pointer and learns an entry's key through a callback.
 *
 * Layout. An array of 64-byte, cache-line-aligned buckets. A bucket is 8
 * slot words of 64 bits. A slot word holds an entry pointer in its low 48
 * bits (user-space addresses on x86-64 and AArch64 fit in 47; adding an entry
 * that does not fit aborts), the slot's tag byte in bits 48-55, and in slot 0
 * only, the bucket's "passing" byte in bits 56-63:
 *   tag      0 = empty slot; else bits 0-6 are 7 extra hash bits (1..127) and
 *            bit 7 says the entry is displaced (stored past its home bucket).
 *            A lookup compares only entries whose whole tag byte matches, so
 *            it almost never reads another entry's key (1 in 127 per entry
 *            sharing the bucket and the displacement state).
 *   passing  how many entries probed past this bucket when inserted (home at
 *            or before it, stored after it); saturates at 255 and then sticks.
 *            A lookup moves on to the next bucket only while this is non-zero.
 * Keeping the tags in the pointers' unused bits gives a cache line 8 entries
 * instead of 7 (tags in a byte array of their own): 8 bytes per slot, not
 * 9.14, and still one cache line read per bucket probed. The tags are
 * gathered into one word to be compared at once.
 *
 * Collisions: linear probing between buckets, not chained child buckets. A
 * child bucket costs a whole 64-byte allocation for the 1-2 entries that
 * overflowed, so a chained table cannot get below ~12.5 bytes per key at any
 * fill; linear probing at fill f costs exactly 64 / (8 f) bytes per key and
 * needs no allocation besides the array. The classic weakness of linear probing
 * -- deleted entries leave "keep probing" markers that pile up under churn
 * until every lookup walks the whole cluster -- is avoided two ways: the
 * passing count is exact (a remove knows the removed key's home and
 * decrements exactly the buckets it passed), and a remove pulls a displaced
 * entry from the following buckets back into the hole (backward shift), so
 * the table stays as compact as if it had been built fresh.
 *
 * Index. Bucket = (top 48 hash bits * nbuckets) >> 48, so any bucket count
 * works (not only powers of two) and bucket order is hash order. The table
 * grows when it averages 7 entries per 8-slot bucket (max fill 7/8: 9.1 bytes
 * per key), by x1.2 to x1.5 rather than x2, to a fill between 5/8 and 6/8 at
 * an array size that is exactly one of the allocator's size classes (no
 * rounding waste). So the steady-state overhead stays between 9.1 and 12.8
 * bytes per key (10.5 at 1M keys) instead of between 9.1 and 18. Max fill
 * is not higher because misses then walk too far (tests/unit/test_table.c
 * measures the walks under churn at max fill). Shrinks below 1 entry per
 * bucket.
 *
 * Resize is incremental: a new array is allocated, and each add/remove (and
 * shale_table_rehash_step from the shard timer) migrates 2 buckets of the old
 * one, at most 16 entries of work. Lookups check both arrays meanwhile but
 * never move entries, so a slot pointer from find_ref stays valid across
 * lookups. A new array is sized so that adds cannot outrun the migration: a
 * grown one (x1.2 or more) has room for at least 1.4 more entries per old
 * bucket, a shrunk one for one add per 2 old buckets, and every add migrates
 * at least 2 old buckets.
 *
 * SCAN. Because bucket order is hash order, the cursor is simply a position
 * in 48-bit hash space: a call returns the entries of the bucket holding that
 * position whose hash is at or after it, and the next cursor is the end of the
 * bucket. In any array size, before or after any number of resizes, the calls
 * cover consecutive, disjoint hash ranges, so every entry present for the
 * whole scan is returned exactly once (an entry removed and re-added may be
 * returned twice). This is what the reverse-binary cursor achieves for tables
 * indexed by the low hash bits, without its duplicates after a shrink. Cursors
 * are below 2^SHALE_TABLE_CURSOR_BITS, leaving the top bits to the caller
 * (SCAN encodes the shard there). */
#ifndef SHALE_TABLE_H
#define SHALE_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "server/slice.h"

#define SHALE_TABLE_CURSOR_BITS 48

/* Where a table keeps an entry: read and replace it only through
 * table_slot_entry and table_slot_set (the word holds the table's own bits
 * too). */
struct table_slot {
    uint64_t word;
};

#define SHALE_TABLE_ENTRY_MASK ((UINT64_C(1) << 48) - 1)

static inline void *table_slot_entry(const struct table_slot *slot)
{
    return (void *)(uintptr_t)(slot->word & SHALE_TABLE_ENTRY_MASK);
}

/* Stores a new entry pointer with the SAME key (a reallocated or moved
 * entry) into a slot from find_ref or scan, keeping the table's bits. */
static inline void table_slot_set(struct table_slot *slot, void *entry)
{
    if ((uint64_t)(uintptr_t)entry & ~SHALE_TABLE_ENTRY_MASK)
        abort(); /* an address above 2^48 cannot be kept in a slot */
    slot->word = (slot->word & ~SHALE_TABLE_ENTRY_MASK) | (uint64_t)(uintptr_t)entry;
}

struct table_type {
    /* Key bytes of an entry. */
    struct slice (*entry_key)(const void *entry);
};

struct table; /* opaque */

/* Counters for INFO / DEBUG HTSTATS-style output and tests. */
struct table_stats {
    size_t buckets;        /* in the current (new) array */
    size_t rehash_buckets; /* in the old array still being migrated, else 0 */
    size_t passing;        /* buckets whose passing count is non-zero */
    size_t max_probe;      /* longest lookup of a present key, in buckets */
    double avg_probe;      /* mean buckets read to find a present key */
    double avg_miss_probe; /* mean buckets read to miss, over home buckets */
};

/* An empty table allocates no buckets until its first add. */
struct table *shale_table_create(const struct table_type *type, uint64_t hash_seed);
/* Calls free_entry (may be NULL) on every entry, then frees the table. */
void shale_table_destroy(struct table *t, void (*free_entry)(void *entry));
size_t shale_table_size(const struct table *t);

/* The slot holding the entry with this key, or NULL. The caller may read the
 * entry, or store a new entry pointer with the SAME key into it (used when a
 * value is reallocated or moved by defrag): table_slot_entry/_set. Valid
 * until the next call that adds, removes, clears or rehash-steps (lookups,
 * random and sample do not move entries). */
struct table_slot *shale_table_find_ref(struct table *t, const void *key, size_t len);
void *shale_table_find(struct table *t, const void *key, size_t len);
/* A lookup taken apart, for the batch prefetch (shards/prefetch.h): the
 * key's hash; start loading its home bucket; once that is in cache, start
 * loading the entries there whose tag matches (no key compared, so nothing
 * waits on memory); the lookup itself with the hash already known. */
uint64_t shale_table_hash(const struct table *t, const void *key, size_t len);
void shale_table_prefetch_bucket(const struct table *t, uint64_t hash);
void shale_table_prefetch_entries(const struct table *t, uint64_t hash);
void *shale_table_find_hashed(struct table *t, uint64_t hash, const void *key, size_t len);
/* Inserts an entry whose key is not present (caller checked). */
void shale_table_add(struct table *t, void *entry);
/* Removes and returns the entry with this key, or NULL. */
void *shale_table_remove(struct table *t, const void *key, size_t len);
/* Empties the table, calling free_entry on each entry (may be NULL), and frees
 * its buckets. */
void shale_table_clear(struct table *t, void (*free_entry)(void *entry));

/* Visits the entries at cursor position, returns the next cursor (0 = done).
 * Start with 0. fn gets a pointer to the slot so it may replace the entry
 * (same key). fn must not add or remove entries. A cursor that is not below
 * 2^SHALE_TABLE_CURSOR_BITS ends the scan (returns 0 at once). */
uint64_t shale_table_scan(struct table *t, uint64_t cursor,
                          void (*fn)(void *ctx, struct table_slot *entry_ref), void *ctx);

/* A uniformly random entry (or NULL when empty); *rng is the caller's PRNG
 * state (any value; the table advances it). */
void *shale_table_random(struct table *t, uint64_t *rng);
/* Up to n distinct entries found by walking buckets from a random one, for
 * eviction sampling: cheap, not uniform. Returns how many were stored in out
 * (min(n, size)). */
size_t shale_table_sample(struct table *t, void **out, size_t n, uint64_t *rng);

/* Defrag: `move` is asked about each block of the table's own (the bucket
 * arrays, then the struct) and returns its new address, having copied and
 * freed the old one, or NULL to leave it. Entries are not touched. Returns
 * the table's address now, for the owner to store. Slot references from
 * find_ref are invalid afterwards. */
struct table *shale_table_defrag(struct table *t, void *(*move)(void *ptr, void *ctx), void *ctx);

/* Bytes used by the table's own structures (the table and its bucket
 * arrays, as the allocator sized them), for INFO/memory accounting. */
size_t shale_table_mem_usage(const struct table *t);
/* Does up to `buckets` non-empty buckets of pending incremental rehash (and
 * skips up to 8 empty ones per bucket); returns 1 if more remains. Lets the
 * shard's timer finish a rehash on an idle table. With no rehash pending it
 * may start a shrink of a very sparse table. */
int shale_table_rehash_step(struct table *t, int buckets);
/* 1 while a resize is being migrated. */
int shale_table_rehashing(const struct table *t);
/* Fills *out. Computing max_probe/avg_probe hashes every key: O(size), for
 * debugging and tests, not for INFO on a large table. */
void shale_table_stats(const struct table *t, struct table_stats *out);

#endif
