/* hash: the hash value object and its two encodings (see hash.h). Shard
 * thread only. Knows which encoding a value has from its first byte; the
 * encodings themselves live in hash_compact.c and hash_entry.c + table.c. */
#include "shards/hash.h"

#include <stdio.h>
#include <stdlib.h>

#include "server/mem.h"
#include "server/rng.h"
#include "shards/hash_compact.h"
#include "shards/hash_entry.h"
#include "shards/table.h"

struct hash {
    uint8_t tag; /* enum hash_encoding; the rest depends on it */
};

/* The table encoding's header. The tag stays first so that the first
 * byte of any hash value names its encoding. */
struct hash_table_enc {
    uint8_t tag;
    struct table *table;
};

/* Scan ranges walked per requested pair before HSCAN returns anyway
 * (Redis's maxiterations = count * 10). */
#define SCAN_ITERATIONS_PER_PAIR 10

_Noreturn static void hash_panic(const char *what)
{
    fprintf(stderr, "shale: hash: %s\n", what);
    abort();
}

static struct hash_compact *as_compact(const struct hash *h)
{
    return (struct hash_compact *)h;
}

static struct table *as_table(const struct hash *h)
{
    return ((const struct hash_table_enc *)h)->table;
}

static struct slice entry_key(const void *entry)
{
    return shale_hash_entry_field(entry);
}

static const struct table_type hash_table_type = {.entry_key = entry_key};

static void free_entry(void *entry)
{
    shale_hash_entry_destroy(entry);
}

/* ---- life cycle and conversion ------------------------------------------- */

struct hash *shale_hash_create(void)
{
    return (struct hash *)shale_hash_compact_create(HASH_ENC_COMPACT);
}

void shale_hash_destroy(struct hash *h)
{
    if (!h)
        return;
    if (h->tag == HASH_ENC_COMPACT) {
        shale_hash_compact_destroy(as_compact(h));
        return;
    }
    shale_table_destroy(as_table(h), free_entry);
    shale_free_counted(h);
}

void shale_hash_convert(struct hash **hp, const struct hash_config *cfg)
{
    struct hash *h = *hp;
    if (h->tag != HASH_ENC_COMPACT)
        return;
    struct hash_compact *c = as_compact(h);
    struct table *t = shale_table_create(&hash_table_type, cfg->seed);
    struct slice f, v;
    size_t pos = 0;
    while (shale_hash_compact_next(c, &pos, &f, &v))
        shale_table_add(t, shale_hash_entry_create(f, v));
    shale_hash_compact_destroy(c);
    struct hash_table_enc *enc = shale_malloc_counted(sizeof *enc);
    enc->tag = HASH_ENC_TABLE;
    enc->table = t;
    *hp = (struct hash *)enc;
}

/* ---- reads ------------------------------------------------------------------ */

enum hash_encoding shale_hash_encoding(const struct hash *h)
{
    return (enum hash_encoding)h->tag;
}

const char *shale_hash_encoding_name(const struct hash *h)
{
    return h->tag == HASH_ENC_COMPACT ? "listpack" : "hashtable";
}

size_t shale_hash_len(const struct hash *h)
{
    if (h->tag == HASH_ENC_COMPACT)
        return shale_hash_compact_len(as_compact(h));
    return shale_table_size(as_table(h));
}

int shale_hash_get(const struct hash *h, struct slice field, struct slice *value)
{
    if (h->tag == HASH_ENC_COMPACT)
        return shale_hash_compact_get(as_compact(h), field, value);
    const struct hash_entry *e = shale_table_find(as_table(h), field.ptr, field.len);
    if (!e)
        return 0;
    *value = shale_hash_entry_value(e);
    return 1;
}

/* ---- batch prefetch ------------------------------------------------------- */

void shale_hash_prefetch_encoding(const struct hash *h)
{
    if (h->tag == HASH_ENC_COMPACT)
        shale_hash_compact_prefetch(as_compact(h));
    else
        __builtin_prefetch(as_table(h));
}

uint64_t shale_hash_prefetch_field_bucket(const struct hash *h, struct slice field)
{
    if (h->tag == HASH_ENC_COMPACT)
        return 0;
    uint64_t hash = shale_table_hash(as_table(h), field.ptr, field.len);
    shale_table_prefetch_bucket(as_table(h), hash);
    return hash;
}

void shale_hash_prefetch_field_entries(const struct hash *h, uint64_t field_hash)
{
    if (h->tag != HASH_ENC_COMPACT)
        shale_table_prefetch_entries(as_table(h), field_hash);
}

/* ---- writes ----------------------------------------------------------------- */

static int too_long_for_compact(const struct hash *h, struct slice field, struct slice value,
                                const struct hash_config *cfg)
{
    return field.len > cfg->max_compact_value || value.len > cfg->max_compact_value ||
           shale_hash_compact_bytes(as_compact(h)) +
                   shale_hash_compact_pair_size(field.len, value.len) >
               HASH_COMPACT_MAX_BYTES;
}

int shale_hash_set(struct hash **hp, struct slice field, struct slice value,
                   const struct hash_config *cfg)
{
    int created;

    if ((*hp)->tag == HASH_ENC_COMPACT && too_long_for_compact(*hp, field, value, cfg))
        shale_hash_convert(hp, cfg);
    if ((*hp)->tag == HASH_ENC_COMPACT) {
        *hp = (struct hash *)shale_hash_compact_set(as_compact(*hp), field, value, &created);
        if (created && shale_hash_len(*hp) > cfg->max_compact_entries)
            shale_hash_convert(hp, cfg);
        return created;
    }
    struct table *t = as_table(*hp);
    struct table_slot *ref = shale_table_find_ref(t, field.ptr, field.len);
    if (ref) {
        /* Same field, so the slot stays right for the moved entry. */
        table_slot_set(ref, shale_hash_entry_set_value(table_slot_entry(ref), value));
        return 0;
    }
    shale_table_add(t, shale_hash_entry_create(field, value));
    return 1;
}

int shale_hash_delete(struct hash **hp, struct slice field)
{
    if ((*hp)->tag == HASH_ENC_COMPACT) {
        int deleted;
        *hp = (struct hash *)shale_hash_compact_delete(as_compact(*hp), field, &deleted);
        return deleted;
    }
    struct hash_entry *e = shale_table_remove(as_table(*hp), field.ptr, field.len);
    if (!e)
        return 0;
    shale_hash_entry_destroy(e);
    return 1;
}

/* ---- iteration ------------------------------------------------------------- */

struct visit {
    void (*fn)(void *ctx, struct slice field, struct slice value);
    void *ctx;
    size_t visited;
};

static void visit_entry(void *arg, struct table_slot *ref)
{
    struct visit *v = arg;
    const struct hash_entry *e = table_slot_entry(ref);
    v->visited++;
    v->fn(v->ctx, shale_hash_entry_field(e), shale_hash_entry_value(e));
}

static void compact_foreach(const struct hash *h,
                            void (*fn)(void *ctx, struct slice field, struct slice value),
                            void *ctx)
{
    struct slice f, v;
    size_t pos = 0;
    while (shale_hash_compact_next(as_compact(h), &pos, &f, &v))
        fn(ctx, f, v);
}

void shale_hash_foreach(const struct hash *h,
                        void (*fn)(void *ctx, struct slice field, struct slice value), void *ctx)
{
    if (h->tag == HASH_ENC_COMPACT) {
        compact_foreach(h, fn, ctx);
        return;
    }
    struct visit v = {fn, ctx, 0};
    uint64_t cursor = 0;
    do
        cursor = shale_table_scan(as_table(h), cursor, visit_entry, &v);
    while (cursor);
}

uint64_t shale_hash_scan(const struct hash *h, uint64_t cursor, size_t count,
                         void (*fn)(void *ctx, struct slice field, struct slice value), void *ctx)
{
    if (h->tag == HASH_ENC_COMPACT) {
        compact_foreach(h, fn, ctx);
        return 0;
    }
    struct visit v = {fn, ctx, 0};
    size_t steps =
        count > SIZE_MAX / SCAN_ITERATIONS_PER_PAIR ? SIZE_MAX : count * SCAN_ITERATIONS_PER_PAIR;
    do
        cursor = shale_table_scan(as_table(h), cursor, visit_entry, &v);
    while (cursor && steps-- && v.visited < count);
    return cursor;
}

/* ---- random pairs ----------------------------------------------------------- */

/* A compact hash: positions of every pair once, then O(1) per pick. */
static void compact_random(const struct hash *h, size_t n, int distinct, uint64_t *rng,
                           void (*fn)(void *ctx, struct slice field, struct slice value), void *ctx)
{
    const struct hash_compact *c = as_compact(h);
    size_t len = shale_hash_compact_len(c);
    struct slice f, v;
    size_t pos = 0;

    if (distinct) {
        /* Selection sampling (Knuth's algorithm S): one pass, each pair
         * kept with probability wanted/remaining; n exactly, uniform. */
        for (size_t seen = 0, want = n; want && shale_hash_compact_next(c, &pos, &f, &v); seen++)
            if (rng_below(rng, len - seen) < want) {
                fn(ctx, f, v);
                want--;
            }
        return;
    }
    size_t *at = shale_malloc(len * sizeof *at);
    for (size_t i = 0; i < len; i++) {
        at[i] = pos;
        shale_hash_compact_next(c, &pos, &f, &v);
    }
    while (n--) {
        pos = at[rng_below(rng, len)];
        shale_hash_compact_next(c, &pos, &f, &v);
        fn(ctx, f, v);
    }
    shale_free(at);
}

struct entry_list {
    void **items;
    size_t n;
};

static void collect_entry(void *arg, struct table_slot *ref)
{
    struct entry_list *l = arg;
    l->items[l->n++] = table_slot_entry(ref);
}

/* n distinct entries of a table. Many of them (over a third): take them all
 * and shuffle a prefix. Few: draw until n different ones came up, telling
 * repeats apart with a small open-addressing set of pointers. */
static void table_random_distinct(struct table *t, size_t n, uint64_t *rng,
                                  void (*fn)(void *ctx, struct slice field, struct slice value),
                                  void *ctx)
{
    size_t len = shale_table_size(t);
    if (n * 3 > len) {
        struct entry_list l = {shale_malloc(len * sizeof(void *)), 0};
        uint64_t cursor = 0;
        do
            cursor = shale_table_scan(t, cursor, collect_entry, &l);
        while (cursor);
        if (l.n != len)
            hash_panic("table scan missed entries");
        for (size_t i = 0; i < n; i++) {
            size_t j = i + rng_below(rng, len - i);
            void *e = l.items[j];
            l.items[j] = l.items[i];
            fn(ctx, shale_hash_entry_field(e), shale_hash_entry_value(e));
        }
        shale_free(l.items);
        return;
    }
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    void **seen = shale_calloc(cap, sizeof(void *));
    for (size_t got = 0; got < n;) {
        void *e = shale_table_random(t, rng);
        size_t i = (size_t)(((uintptr_t)e * 0x9e3779b97f4a7c15ULL) >> 20) & (cap - 1);
        while (seen[i] && seen[i] != e)
            i = (i + 1) & (cap - 1);
        if (seen[i])
            continue;
        seen[i] = e;
        got++;
        fn(ctx, shale_hash_entry_field(e), shale_hash_entry_value(e));
    }
    shale_free(seen);
}

void shale_hash_random(const struct hash *h, size_t n, int distinct, uint64_t *rng,
                       void (*fn)(void *ctx, struct slice field, struct slice value), void *ctx)
{
    size_t len = shale_hash_len(h);
    if (len == 0 || (distinct && n >= len))
        hash_panic("random pairs: empty hash, or more distinct pairs than it holds");
    if (h->tag == HASH_ENC_COMPACT) {
        compact_random(h, n, distinct, rng, fn, ctx);
        return;
    }
    struct table *t = as_table(h);
    if (distinct) {
        table_random_distinct(t, n, rng, fn, ctx);
        return;
    }
    while (n--) {
        const struct hash_entry *e = shale_table_random(t, rng);
        fn(ctx, shale_hash_entry_field(e), shale_hash_entry_value(e));
    }
}

/* ---- memory and defrag ------------------------------------------------------ */

static void add_entry_size(void *arg, struct table_slot *ref)
{
    *(size_t *)arg += shale_hash_entry_alloc_size(table_slot_entry(ref));
}

size_t shale_hash_mem_usage(const struct hash *h)
{
    size_t total = shale_malloc_usable_size((void *)h);
    if (h->tag == HASH_ENC_COMPACT)
        return total;
    struct table *t = as_table(h);
    total += shale_table_mem_usage(t);
    uint64_t cursor = 0;
    do
        cursor = shale_table_scan(t, cursor, add_entry_size, &total);
    while (cursor);
    return total;
}

struct hash *shale_hash_defrag(struct hash *h, void *(*move)(void *ptr, void *ctx), void *ctx)
{
    struct hash *moved = move(h, ctx);
    return moved ? moved : h;
}

void shale_hash_defrag_table(struct hash *h, void *(*move)(void *ptr, void *ctx), void *ctx)
{
    if (h->tag != HASH_ENC_TABLE)
        return;
    struct hash_table_enc *enc = (struct hash_table_enc *)h;
    enc->table = shale_table_defrag(enc->table, move, ctx);
}

static void defrag_entry(void *arg, struct table_slot *ref)
{
    /* The entry keeps its field, so the slot stays valid for it. */
    table_slot_set(ref, shale_hash_entry_defrag(table_slot_entry(ref), arg));
}

uint64_t shale_hash_defrag_entries(struct hash *h, uint64_t cursor, const struct defrag_movers *m)
{
    if (h->tag == HASH_ENC_COMPACT)
        return 0;
    return shale_table_scan(as_table(h), cursor, defrag_entry, (void *)m);
}
