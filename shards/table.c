/* table: the keyspace hash table (design in table.h). Runs only on the shard
 * thread that owns the table. Never blocks; allocates only bucket arrays, on
 * resize; a single call does bounded work (no full-table pass except clear,
 * destroy and stats). */
#include "shards/table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/hashfn.h"
#include "server/mem.h"
#include "server/rng.h"

#define TABLE_SLOTS         8
#define TABLE_TAG_DISPLACED 0x80
#define TABLE_PASSING_STUCK 255
#define TABLE_POS_BITS      SHALE_TABLE_CURSOR_BITS
#define TABLE_POS_END       ((uint64_t)1 << TABLE_POS_BITS)

/* Entries per bucket (of 8 slots): grow above MAX, resize to between
 * TARGET and TARGET_HIGH, shrink below MIN. See table.h for why. */
#define TABLE_MAX_PER_BUCKET         7
#define TABLE_TARGET_PER_BUCKET      5
#define TABLE_TARGET_HIGH_PER_BUCKET 6
#define TABLE_MIN_PER_BUCKET         1

/* Non-empty old buckets migrated per add/remove. Empty ones are nearly free
 * (one sequential cache line) so a step may also skip up to
 * TABLE_EMPTY_PER_STEP of them per non-empty bucket: that is what lets a
 * shrink, whose old array is mostly empty, finish quickly. */
#define TABLE_REHASH_STEP    2
#define TABLE_EMPTY_PER_STEP 8

/* A remove re-hashes at most this many entries, looking at most this many
 * buckets ahead, while pulling displaced entries back into the hole it opened
 * (each costs a read of the entry; those of one bucket are read in parallel).
 * Measured under churn at fill 6/7 with 7-slot buckets: 0.47 re-hashes per
 * remove on average;
 * limits of 8/3 let miss walks grow from 3.4 to 6.2 buckets, 32/8 to 4.3. */
#define TABLE_BACKFILL_BUDGET 32
#define TABLE_BACKFILL_REACH  8

#define TABLE_RANDOM_TRIES 100

/* The 8 tag bytes of a bucket gathered into one word (tag_word). */
#define TABLE_BYTE_LOW7 0x7f7f7f7f7f7f7f7fULL
#define TABLE_BYTE_HIGH 0x8080808080808080ULL
#define TABLE_BYTE_ONES 0x0101010101010101ULL

/* A slot word: entry pointer (SHALE_TABLE_ENTRY_MASK), tag byte above it,
 * and in slot 0 only the bucket's passing count in the top byte. */
#define TABLE_TAG_SHIFT     48
#define TABLE_PASSING_SHIFT 56
#define TABLE_TOP_BYTE      (0xffULL << TABLE_PASSING_SHIFT)

#define TABLE_ASSERT(cond) ((cond) ? (void)0 : table_panic(#cond, __FILE__, __LINE__))

/* Tag: 0 empty; bit 7 displaced; bits 0-6 hash. Passing: entries that
 * probed past this bucket. Both live in the slot words (see table.h). */
struct table_bucket {
    struct table_slot slots[TABLE_SLOTS];
};

_Static_assert(sizeof(struct table_bucket) == 64, "a bucket is one cache line");

struct table_array {
    struct table_bucket *buckets;
    void *alloc;       /* what to free; == buckets unless aligned by hand */
    size_t alloc_size; /* usable bytes of alloc */
    size_t nbuckets;
    size_t used; /* entries stored in this array */
};

struct table {
    const struct table_type *type;
    uint64_t seed;
    size_t size;
    struct table_array cur; /* receives adds */
    struct table_array old; /* being migrated into cur; nbuckets 0 if none */
    size_t rehash_idx;      /* next old bucket to migrate */
};

/* Where a lookup found an entry. */
struct table_loc {
    struct table_array *array;
    size_t home;
    size_t bucket;
    int slot;
};

_Noreturn static void table_panic(const char *what, const char *file, int line)
{
    fprintf(stderr, "shale: %s:%d: table invariant broken: %s\n", file, line, what);
    abort();
}

/* ---- slot words ------------------------------------------------------------ */

static inline void *entry_at(const struct table_bucket *b, int i)
{
    return table_slot_entry(&b->slots[i]);
}

static inline uint8_t tag_at(const struct table_bucket *b, int i)
{
    return (uint8_t)(b->slots[i].word >> TABLE_TAG_SHIFT);
}

/* table_slot_set checks that the entry fits. */
static inline void put_slot(struct table_bucket *b, int i, uint8_t tag, void *entry)
{
    b->slots[i].word = (b->slots[i].word & TABLE_TOP_BYTE) | ((uint64_t)tag << TABLE_TAG_SHIFT);
    table_slot_set(&b->slots[i], entry);
}

static inline void clear_slot(struct table_bucket *b, int i)
{
    b->slots[i].word &= TABLE_TOP_BYTE;
}

static inline uint8_t passing_of(const struct table_bucket *b)
{
    return (uint8_t)(b->slots[0].word >> TABLE_PASSING_SHIFT);
}

static inline void set_passing(struct table_bucket *b, uint8_t passing)
{
    b->slots[0].word =
        (b->slots[0].word & ~TABLE_TOP_BYTE) | ((uint64_t)passing << TABLE_PASSING_SHIFT);
}

/* ---- hashing and indexing ------------------------------------------------ */

static inline uint64_t key_hash(const struct table *t, const void *key, size_t len)
{
    return shale_hashfn_bytes(key, len, t->seed);
}

static inline uint64_t entry_hash(const struct table *t, const void *entry)
{
    struct slice k = t->type->entry_key(entry);
    return key_hash(t, k.ptr, k.len);
}

/* Position in hash space: the top 48 bits. Bucket order follows it. */
static inline uint64_t hash_pos(uint64_t h)
{
    return h >> (64 - TABLE_POS_BITS);
}

/* 7 bits from the other end of the hash, mapped onto 1..127 (0 = empty). */
static inline uint8_t hash_tag(uint64_t h)
{
    return (uint8_t)(1 + (((h & 0xffff) * 127) >> 16));
}

static inline size_t pos_bucket(uint64_t pos, size_t nbuckets)
{
    return (size_t)(((unsigned __int128)pos * nbuckets) >> TABLE_POS_BITS);
}

/* Smallest position that maps to bucket b (b may be nbuckets: the end). */
static inline uint64_t bucket_start(size_t b, size_t nbuckets)
{
    if (b >= nbuckets)
        return TABLE_POS_END;
    return (uint64_t)((((unsigned __int128)b << TABLE_POS_BITS) + nbuckets - 1) / nbuckets);
}

static inline size_t home_of(const struct table_array *a, uint64_t h)
{
    return pos_bucket(hash_pos(h), a->nbuckets);
}

static inline size_t next_bucket(const struct table_array *a, size_t b)
{
    return b + 1 == a->nbuckets ? 0 : b + 1;
}

/* Buckets from `from` forward to `to`, wrapping. */
static inline size_t ring_dist(const struct table_array *a, size_t from, size_t to)
{
    return to >= from ? to - from : to + a->nbuckets - from;
}

/* ---- bucket words: all 8 tags compared at once (SWAR) ------------------ */

/* Byte i = the tag of slot i. */
static inline uint64_t tag_word(const struct table_bucket *b)
{
    uint64_t w = 0;
    for (int i = 0; i < TABLE_SLOTS; i++)
        w |= (uint64_t)tag_at(b, i) << (8 * i);
    return w;
}

/* Bit 7 of byte i set iff tag byte i equals tag (exact, no false hits). */
static inline uint64_t match_tag(uint64_t w, uint8_t tag)
{
    uint64_t x = w ^ (TABLE_BYTE_ONES * tag);
    return ~(((x & TABLE_BYTE_LOW7) + TABLE_BYTE_LOW7) | x) & TABLE_BYTE_HIGH;
}

static inline uint64_t occupied_mask(const struct table_bucket *b)
{
    return ~match_tag(tag_word(b), 0) & TABLE_BYTE_HIGH;
}

static inline int mask_slot(uint64_t m)
{
    return __builtin_ctzll(m) >> 3;
}

/* ---- arrays ---------------------------------------------------------------- */

static void array_alloc(struct table_array *a, size_t nbuckets)
{
    size_t bytes = nbuckets * sizeof(struct table_bucket);
    char *p = shale_calloc_counted(1, bytes);
    size_t usable = shale_malloc_usable_size(p);

    if (((uintptr_t)p & 63) == 0) {
        /* Use the whole size class the allocator rounded us up to. */
        memset(p + bytes, 0, usable - bytes);
        a->buckets = (struct table_bucket *)p;
        a->nbuckets = usable / sizeof(struct table_bucket);
    } else {
        /* libc only promises 16-byte alignment (jemalloc gives 64 for
         * these sizes): align by hand so no bucket straddles two lines. */
        shale_free_counted(p);
        p = shale_calloc_counted(1, bytes + 64);
        usable = shale_malloc_usable_size(p);
        a->buckets = (struct table_bucket *)(((uintptr_t)p + 63) & ~(uintptr_t)63);
        a->nbuckets = nbuckets;
    }
    a->alloc = p;
    a->alloc_size = usable;
    a->used = 0;
}

static void array_free(struct table_array *a)
{
    shale_free_counted(a->alloc);
    memset(a, 0, sizeof *a);
}

static void array_free_entries(struct table_array *a, void (*free_entry)(void *entry))
{
    if (!free_entry)
        return;
    for (size_t j = 0; j < a->nbuckets && a->used; j++) {
        struct table_bucket *b = &a->buckets[j];
        for (uint64_t m = occupied_mask(b); m; m &= m - 1)
            free_entry(entry_at(b, mask_slot(m)));
    }
}

/* Finds the entry with this key in one array. */
static int array_find(const struct table *t, struct table_array *a, uint64_t h, const void *key,
                      size_t len, struct table_loc *loc)
{
    size_t home = home_of(a, h);
    uint8_t tag = hash_tag(h);
    size_t j = home;

    for (size_t steps = 0; steps < a->nbuckets; steps++) {
        struct table_bucket *b = &a->buckets[j];
        for (uint64_t m = match_tag(tag_word(b), tag); m; m &= m - 1) {
            int i = mask_slot(m);
            struct slice k = t->type->entry_key(entry_at(b, i));
            if (k.len == len && (len == 0 || memcmp(k.ptr, key, len) == 0)) {
                *loc = (struct table_loc){a, home, j, i};
                return 1;
            }
        }
        if (passing_of(b) == 0)
            return 0;
        j = next_bucket(a, j);
        tag |= TABLE_TAG_DISPLACED; /* past home, only displaced entries */
    }
    return 0;
}

static void array_insert(struct table_array *a, uint64_t h, void *entry)
{
    size_t home = home_of(a, h);
    size_t j = home;

    for (size_t steps = 0;; steps++) {
        TABLE_ASSERT(steps < a->nbuckets);
        struct table_bucket *b = &a->buckets[j];
        uint64_t m = match_tag(tag_word(b), 0);
        if (m) {
            int i = mask_slot(m);
            put_slot(b, i, hash_tag(h) | (j == home ? 0 : TABLE_TAG_DISPLACED), entry);
            a->used++;
            return;
        }
        if (passing_of(b) != TABLE_PASSING_STUCK)
            set_passing(b, passing_of(b) + 1);
        j = next_bucket(a, j);
    }
}

/* An entry stored at `to` stops passing the buckets [from, to). */
static void array_unpass(struct table_array *a, size_t from, size_t to)
{
    for (size_t j = from; j != to; j = next_bucket(a, j)) {
        struct table_bucket *b = &a->buckets[j];
        TABLE_ASSERT(passing_of(b) > 0);
        if (passing_of(b) != TABLE_PASSING_STUCK)
            set_passing(b, passing_of(b) - 1);
    }
}

/* A remove opened a hole in bucket `hole`. While entries probed past it,
 * move one of them back into it (the hole then moves to where that entry
 * was). Any displaced entry of the next bucket qualifies; further on, an entry
 * must be re-hashed to see whether its home is at or before the hole. Without
 * this, holes under churn leave passing counts up and probe walks long. */
static void backfill(const struct table *t, struct table_array *a, size_t hole)
{
    int budget = TABLE_BACKFILL_BUDGET;

    while (budget > 0) {
        struct table_bucket *hb = &a->buckets[hole];
        if (passing_of(hb) == 0 || passing_of(hb) == TABLE_PASSING_STUCK)
            return;
        size_t from = next_bucket(a, hole);
        int found = 0;
        for (int reach = 0; reach < TABLE_BACKFILL_REACH && !found && budget > 0; reach++) {
            struct table_bucket *fb = &a->buckets[from];
            uint64_t displaced = tag_word(fb) & TABLE_BYTE_HIGH;
            if (reach > 0) {
                for (uint64_t m = displaced; m; m &= m - 1)
                    __builtin_prefetch(entry_at(fb, mask_slot(m)));
            }
            for (uint64_t m = displaced; m && budget > 0; m &= m - 1) {
                int i = mask_slot(m);
                uint64_t h = entry_hash(t, entry_at(fb, i));
                size_t home = home_of(a, h);
                budget--;
                if (ring_dist(a, home, hole) >= ring_dist(a, home, from))
                    continue; /* its home is after the hole */
                int dst = mask_slot(match_tag(tag_word(hb), 0));
                put_slot(hb, dst, hash_tag(h) | (home == hole ? 0 : TABLE_TAG_DISPLACED),
                         entry_at(fb, i));
                clear_slot(fb, i);
                array_unpass(a, hole, from);
                hole = from;
                found = 1;
                break;
            }
            if (passing_of(fb) == 0)
                break; /* nothing from before `from` goes further */
            from = next_bucket(a, from);
        }
        if (!found)
            return;
    }
}

/* ---- resize ------------------------------------------------------------------ */

static void migrate_bucket(struct table *t, size_t idx)
{
    struct table_array *o = &t->old;
    struct table_bucket *b = &o->buckets[idx];
    uint64_t occ = occupied_mask(b);

    /* Up to 7 independent misses: start them all before hashing any. */
    for (uint64_t m = occ; m; m &= m - 1)
        __builtin_prefetch(entry_at(b, mask_slot(m)));
    for (uint64_t m = occ; m; m &= m - 1) {
        int i = mask_slot(m);
        void *entry = entry_at(b, i);
        uint64_t h = entry_hash(t, entry);
        if (tag_at(b, i) & TABLE_TAG_DISPLACED)
            array_unpass(o, home_of(o, h), idx);
        clear_slot(b, i);
        o->used--;
        array_insert(&t->cur, h, entry);
    }
}

/* Migrates up to `nonempty` non-empty old buckets (skipping at most
 * TABLE_EMPTY_PER_STEP empty ones for each). Returns 1 if more remains. */
static int rehash_some(struct table *t, size_t nonempty)
{
    size_t visits = nonempty * (TABLE_EMPTY_PER_STEP + 1);

    while (t->old.nbuckets && t->old.used && nonempty && visits) {
        visits--;
        if (occupied_mask(&t->old.buckets[t->rehash_idx])) {
            migrate_bucket(t, t->rehash_idx);
            nonempty--;
        }
        t->rehash_idx++;
        TABLE_ASSERT(t->rehash_idx <= t->old.nbuckets);
    }
    if (t->old.nbuckets && t->old.used == 0) {
        array_free(&t->old);
        t->rehash_idx = 0;
    }
    return t->old.nbuckets != 0;
}

static void finish_rehash(struct table *t)
{
    while (rehash_some(t, SIZE_MAX / (TABLE_EMPTY_PER_STEP + 1)))
        ;
}

/* Bucket count for `count` entries: at most count/5 buckets (fill 5/8), at
 * least count/6 (fill 6/8), and a size the allocator has a class for.
 * jemalloc's classes are 4 per doubling (2^k * 5/4, 6/4, 7/4, 8/4) and it
 * rounds a request up to one, so asking for 1.5x could cost up to 1.9x;
 * rounding down to that grid ourselves keeps growth between x1.2 and x1.5.
 * For libc the grid is merely a choice among equally good sizes. */
static size_t resize_buckets(size_t count)
{
    size_t lo = (count + TABLE_TARGET_HIGH_PER_BUCKET - 1) / TABLE_TARGET_HIGH_PER_BUCKET;
    size_t hi = (count + TABLE_TARGET_PER_BUCKET - 1) / TABLE_TARGET_PER_BUCKET;
    size_t bytes = (hi ? hi : 1) * sizeof(struct table_bucket);

    if (bytes > 256) {
        size_t quarter = (size_t)1 << (63 - __builtin_clzll(bytes) - 2);
        bytes -= bytes % quarter;
    }
    size_t b = bytes / sizeof(struct table_bucket);
    return b >= lo && b > 0 ? b : (hi ? hi : 1);
}

/* Replaces cur with an array sized for `count` entries; the old one is then
 * migrated step by step. */
static void start_resize(struct table *t, size_t count)
{
    struct table_array fresh;

    TABLE_ASSERT(t->old.nbuckets == 0);
    array_alloc(&fresh, resize_buckets(count));
    if (fresh.nbuckets == t->cur.nbuckets) {
        array_free(&fresh);
        return;
    }
    if (t->cur.used == 0) {
        if (t->cur.nbuckets)
            array_free(&t->cur);
        t->cur = fresh;
        return;
    }
    t->old = t->cur;
    t->cur = fresh;
    t->rehash_idx = 0;
}

/* Makes room for one more entry in cur. A growth rehash always finishes
 * first (a new array has room for 1.4 more entries per old bucket, a step
 * migrates at least 2 buckets per add), so finish_rehash is a safety net. */
static void reserve_one(struct table *t)
{
    size_t need = t->size + 1;

    if (t->old.nbuckets && need > TABLE_MAX_PER_BUCKET * t->cur.nbuckets)
        finish_rehash(t);
    if (!t->old.nbuckets && need > TABLE_MAX_PER_BUCKET * t->cur.nbuckets)
        start_resize(t, need);
}

static void maybe_shrink(struct table *t)
{
    if (t->size == 0) {
        /* Empty tables (most of 16 databases x shards) hold no buckets. */
        if (t->old.nbuckets)
            array_free(&t->old);
        if (t->cur.nbuckets)
            array_free(&t->cur);
        t->rehash_idx = 0;
        return;
    }
    if (t->old.nbuckets || t->cur.nbuckets <= 1 ||
        t->size >= TABLE_MIN_PER_BUCKET * t->cur.nbuckets)
        return;
    /* Leave room for the adds that may arrive while the old array is
     * migrated (each migrates at least TABLE_REHASH_STEP buckets), so a burst
     * of adds never has to force the migration to finish. */
    size_t migrate_calls = t->cur.nbuckets / TABLE_REHASH_STEP + 1;
    size_t room =
        (t->size + migrate_calls) * TABLE_TARGET_HIGH_PER_BUCKET / TABLE_MAX_PER_BUCKET + 1;
    start_resize(t, t->size > room ? t->size : room);
}

/* ---- lookups ---------------------------------------------------------------- */

static int locate_hashed(struct table *t, uint64_t h, const void *key, size_t len,
                         struct table_loc *loc)
{
    if (t->size == 0)
        return 0;
    if (!t->old.nbuckets)
        return array_find(t, &t->cur, h, key, len, loc);
    /* During a rehash, look first where the entry most likely is. */
    if (home_of(&t->old, h) >= t->rehash_idx)
        return array_find(t, &t->old, h, key, len, loc) || array_find(t, &t->cur, h, key, len, loc);
    return array_find(t, &t->cur, h, key, len, loc) || array_find(t, &t->old, h, key, len, loc);
}

static int locate(struct table *t, const void *key, size_t len, struct table_loc *loc)
{
    return t->size && locate_hashed(t, key_hash(t, key, len), key, len, loc);
}

/* cur and old seen as one ring of buckets, for random and sample. */
static struct table_bucket *ring_bucket(struct table *t, size_t idx)
{
    if (idx < t->cur.nbuckets)
        return &t->cur.buckets[idx];
    return &t->old.buckets[idx - t->cur.nbuckets];
}

/* ---- public API ---------------------------------------------------------------- */

struct table *shale_table_create(const struct table_type *type, uint64_t hash_seed)
{
    struct table *t = shale_calloc_counted(1, sizeof *t);
    t->type = type;
    t->seed = hash_seed;
    return t;
}

void shale_table_destroy(struct table *t, void (*free_entry)(void *entry))
{
    if (!t)
        return;
    shale_table_clear(t, free_entry);
    shale_free_counted(t);
}

size_t shale_table_size(const struct table *t)
{
    return t->size;
}

struct table_slot *shale_table_find_ref(struct table *t, const void *key, size_t len)
{
    struct table_loc loc;
    if (!locate(t, key, len, &loc))
        return NULL;
    return &loc.array->buckets[loc.bucket].slots[loc.slot];
}

uint64_t shale_table_hash(const struct table *t, const void *key, size_t len)
{
    return key_hash(t, key, len);
}

void shale_table_prefetch_bucket(const struct table *t, uint64_t hash)
{
    if (t->size && t->cur.nbuckets)
        __builtin_prefetch(&t->cur.buckets[home_of(&t->cur, hash)]);
}

void shale_table_prefetch_entries(const struct table *t, uint64_t hash)
{
    if (t->size == 0 || !t->cur.nbuckets)
        return;
    const struct table_bucket *b = &t->cur.buckets[home_of(&t->cur, hash)];
    for (uint64_t m = match_tag(tag_word(b), hash_tag(hash)); m; m &= m - 1)
        __builtin_prefetch(entry_at(b, mask_slot(m)));
}

void *shale_table_find_hashed(struct table *t, uint64_t hash, const void *key, size_t len)
{
    struct table_loc loc;
    if (!locate_hashed(t, hash, key, len, &loc))
        return NULL;
    return table_slot_entry(&loc.array->buckets[loc.bucket].slots[loc.slot]);
}

void *shale_table_find(struct table *t, const void *key, size_t len)
{
    struct table_slot *ref = shale_table_find_ref(t, key, len);
    return ref ? table_slot_entry(ref) : NULL;
}

void shale_table_add(struct table *t, void *entry)
{
    uint64_t h = entry_hash(t, entry);
    if (t->old.nbuckets)
        rehash_some(t, TABLE_REHASH_STEP);
    reserve_one(t);
    array_insert(&t->cur, h, entry);
    t->size++;
}

void *shale_table_remove(struct table *t, const void *key, size_t len)
{
    struct table_loc loc;

    if (t->old.nbuckets)
        rehash_some(t, TABLE_REHASH_STEP);
    if (!locate(t, key, len, &loc))
        return NULL;
    struct table_array *a = loc.array;
    struct table_bucket *b = &a->buckets[loc.bucket];
    void *entry = entry_at(b, loc.slot);
    clear_slot(b, loc.slot);
    a->used--;
    t->size--;
    array_unpass(a, loc.home, loc.bucket);
    if (a == &t->cur)
        backfill(t, a, loc.bucket);
    else if (a->used == 0)
        rehash_some(t, 1); /* frees the drained old array */
    maybe_shrink(t);
    return entry;
}

void shale_table_clear(struct table *t, void (*free_entry)(void *entry))
{
    array_free_entries(&t->cur, free_entry);
    array_free_entries(&t->old, free_entry);
    if (t->cur.nbuckets)
        array_free(&t->cur);
    if (t->old.nbuckets)
        array_free(&t->old);
    t->rehash_idx = 0;
    t->size = 0;
}

/* Calls fn on the entries of array a whose position is in [from, to), which
 * lies inside one bucket's range: they are in that bucket or after it, as
 * far as entries passed it. Entries whose bucket settles the question
 * (displaced in the home bucket: out; not displaced past it: out; not
 * displaced in it when the range is the whole bucket: in) are not hashed. */
static void scan_range(const struct table *t, struct table_array *a, uint64_t from, uint64_t to,
                       void (*fn)(void *ctx, struct table_slot *entry_ref), void *ctx)
{
    size_t home = pos_bucket(from, a->nbuckets);
    int whole =
        from == bucket_start(home, a->nbuckets) && to == bucket_start(home + 1, a->nbuckets);
    size_t j = home;

    for (size_t steps = 0; steps < a->nbuckets; steps++) {
        struct table_bucket *b = &a->buckets[j];
        for (uint64_t m = occupied_mask(b); m; m &= m - 1) {
            int i = mask_slot(m);
            int displaced = (tag_at(b, i) & TABLE_TAG_DISPLACED) != 0;
            if (displaced == (j == home))
                continue;
            if (!whole || displaced) {
                uint64_t pos = hash_pos(entry_hash(t, entry_at(b, i)));
                if (pos < from || pos >= to)
                    continue;
            }
            fn(ctx, &b->slots[i]);
        }
        if (passing_of(b) == 0)
            break;
        j = next_bucket(a, j);
    }
}

uint64_t shale_table_scan(struct table *t, uint64_t cursor,
                          void (*fn)(void *ctx, struct table_slot *entry_ref), void *ctx)
{
    if (cursor >= TABLE_POS_END || t->size == 0)
        return 0;
    /* The range covered is the largest one inside a single bucket of each
     * array, so each array is visited at one home bucket. */
    uint64_t to = TABLE_POS_END;
    struct table_array *arrays[2] = {&t->cur, &t->old};
    for (int k = 0; k < 2; k++) {
        struct table_array *a = arrays[k];
        if (a->nbuckets) {
            uint64_t end = bucket_start(pos_bucket(cursor, a->nbuckets) + 1, a->nbuckets);
            to = end < to ? end : to;
        }
    }
    for (int k = 0; k < 2; k++) {
        if (arrays[k]->nbuckets && arrays[k]->used)
            scan_range(t, arrays[k], cursor, to, fn, ctx);
    }
    return to == TABLE_POS_END ? 0 : to;
}

void *shale_table_random(struct table *t, uint64_t *rng)
{
    if (t->size == 0)
        return NULL;
    /* Rejection sampling over slots: every entry owns exactly one slot, so
     * the first occupied slot drawn is uniform over entries. Fill is at least
     * 1/8 outside transients, so this takes ~8 draws at worst. */
    size_t ring = t->cur.nbuckets + t->old.nbuckets;
    for (int tries = 0; tries < TABLE_RANDOM_TRIES; tries++) {
        size_t slot = rng_below(rng, ring * TABLE_SLOTS);
        struct table_bucket *b = ring_bucket(t, slot / TABLE_SLOTS);
        if (tag_at(b, (int)(slot % TABLE_SLOTS)))
            return entry_at(b, (int)(slot % TABLE_SLOTS));
    }
    /* Pathologically sparse (mid-shrink): slightly biased, but bounded. */
    void *entry = NULL;
    shale_table_sample(t, &entry, 1, rng);
    return entry;
}

size_t shale_table_sample(struct table *t, void **out, size_t n, uint64_t *rng)
{
    size_t want = n < t->size ? n : t->size;
    size_t got = 0;
    if (want == 0)
        return 0;
    size_t ring = t->cur.nbuckets + t->old.nbuckets;
    size_t idx = rng_below(rng, ring);
    for (size_t visited = 0; visited < ring && got < want; visited++) {
        struct table_bucket *b = ring_bucket(t, idx);
        for (uint64_t m = occupied_mask(b); m && got < want; m &= m - 1)
            out[got++] = entry_at(b, mask_slot(m));
        idx = idx + 1 == ring ? 0 : idx + 1;
    }
    return got;
}

size_t shale_table_mem_usage(const struct table *t)
{
    return shale_malloc_usable_size((void *)t) + t->cur.alloc_size + t->old.alloc_size;
}

/* Moves an array's block and keeps its buckets 64-byte aligned: jemalloc
 * places every size class that is a multiple of 64 on 64-byte boundaries,
 * so a moved jemalloc array stays put inside its block; a libc block may
 * come back aligned differently and then the buckets shift inside it, or
 * into a new block with room when they would not fit. */
static void array_defrag(struct table_array *a, void *(*move)(void *ptr, void *ctx), void *ctx)
{
    if (!a->nbuckets)
        return;
    size_t off = (size_t)((char *)a->buckets - (char *)a->alloc);
    size_t bytes = a->nbuckets * sizeof(struct table_bucket);
    char *p = move(a->alloc, ctx);
    if (!p)
        return;
    size_t usable = shale_malloc_usable_size(p);
    char *aligned = (char *)(((uintptr_t)p + 63) & ~(uintptr_t)63);
    if (aligned + bytes > p + usable) {
        char *q = shale_malloc(bytes + 64);
        char *qa = (char *)(((uintptr_t)q + 63) & ~(uintptr_t)63);
        memcpy(qa, p + off, bytes);
        shale_free(p);
        p = q;
        aligned = qa;
        usable = shale_malloc_usable_size(q);
    } else if (aligned != p + off) {
        memmove(aligned, p + off, bytes);
    }
    a->alloc = p;
    a->alloc_size = usable;
    a->buckets = (struct table_bucket *)aligned;
}

struct table *shale_table_defrag(struct table *t, void *(*move)(void *ptr, void *ctx), void *ctx)
{
    array_defrag(&t->cur, move, ctx);
    array_defrag(&t->old, move, ctx);
    struct table *moved = move(t, ctx);
    return moved ? moved : t;
}

int shale_table_rehash_step(struct table *t, int buckets)
{
    /* A table that emptied out during a growth and then saw no more removes
     * would keep its big array: let the idle timer shrink it too. */
    if (!t->old.nbuckets)
        maybe_shrink(t);
    return rehash_some(t, buckets > 0 ? (size_t)buckets : 0);
}

int shale_table_rehashing(const struct table *t)
{
    return t->old.nbuckets != 0;
}

static void array_stats(const struct table *t, const struct table_array *a, size_t *probes,
                        struct table_stats *out)
{
    for (size_t j = 0; j < a->nbuckets; j++) {
        const struct table_bucket *b = &a->buckets[j];
        out->passing += passing_of(b) != 0;
        size_t walk = 1;
        for (size_t k = j; passing_of(&a->buckets[k]) && walk < a->nbuckets; k = next_bucket(a, k))
            walk++;
        out->avg_miss_probe += (double)walk / (double)(t->cur.nbuckets + t->old.nbuckets);
        for (uint64_t m = occupied_mask(b); m; m &= m - 1) {
            size_t dist = ring_dist(a, home_of(a, entry_hash(t, entry_at(b, mask_slot(m)))), j) + 1;
            *probes += dist;
            out->max_probe = dist > out->max_probe ? dist : out->max_probe;
        }
    }
}

void shale_table_stats(const struct table *t, struct table_stats *out)
{
    size_t probes = 0;
    memset(out, 0, sizeof *out);
    out->buckets = t->cur.nbuckets;
    out->rehash_buckets = t->old.nbuckets;
    array_stats(t, &t->cur, &probes, out);
    array_stats(t, &t->old, &probes, out);
    out->avg_probe = t->size ? (double)probes / (double)t->size : 0.0;
}
