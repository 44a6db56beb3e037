/* keyspace: a table of key objects per database (see keyspace.h).
 * Shard thread only. Expire counts are kept here so INFO keyspace is O(1). */
#include "shards/keyspace.h"

#include "server/clock.h"
#include "server/mem.h"
#include "shards/lfu.h"
#include "shards/table.h"

struct db {
    struct table *table;
    uint64_t expires; /* keys with a TTL */
};

struct keyspace {
    int ndb;
    uint64_t seed;
    uint64_t expired; /* lazily expired keys, since start */
    /* LRU clock of the latest lookup: add and replace stamp new objects with
     * it rather than reading the clock (every write command looks its key
     * up first, so it is current). */
    uint32_t lru_now;
    int64_t now_ms; /* the clock of the latest lookup, for LFU stamps */
    /* Access tracking mode (shale_keyspace_set_lfu): what the objects' 24
     * header bits mean, and Redis's LFU parameters. */
    int lfu;
    long long lfu_log_factor;
    long long lfu_decay_time;
    uint64_t rng; /* LFU's probabilistic increments */
    struct db *dbs;
};

static struct slice entry_key(const void *entry)
{
    return shale_kobj_key(entry);
}

static const struct table_type kobj_table_type = {.entry_key = entry_key};

static void free_entry(void *entry)
{
    shale_kobj_free(entry);
}

/* Redis's LRU_CLOCK: seconds, 24 bits (LRU_CLOCK_RESOLUTION 1000 ms). */
static uint32_t lru_clock(int64_t now_ms)
{
    return (uint32_t)(now_ms / 1000) & SHALE_KEYSPACE_LRU_MAX;
}

struct keyspace *shale_keyspace_create(int databases, uint64_t seed)
{
    struct keyspace *ks = shale_calloc_counted(1, sizeof(*ks));
    ks->ndb = databases;
    ks->seed = seed;
    ks->now_ms = clock_wall_ms();
    ks->lru_now = lru_clock(ks->now_ms);
    ks->lfu_log_factor = 10;
    ks->lfu_decay_time = 1;
    ks->rng = seed ^ 0x6a09e667f3bcc909ULL;
    ks->dbs = shale_calloc_counted((size_t)databases, sizeof(*ks->dbs));
    for (int i = 0; i < databases; i++)
        ks->dbs[i].table = shale_table_create(&kobj_table_type, seed + (uint64_t)i);
    return ks;
}

void shale_keyspace_destroy(struct keyspace *ks)
{
    if (!ks)
        return;
    for (int i = 0; i < ks->ndb; i++)
        shale_table_destroy(ks->dbs[i].table, free_entry);
    shale_free_counted(ks->dbs);
    shale_free_counted(ks);
}

int shale_keyspace_databases(const struct keyspace *ks)
{
    return ks->ndb;
}

static void forget(struct db *d, struct kobj *o)
{
    if (shale_kobj_expire(o) != KOBJ_NO_EXPIRE)
        d->expires--;
}

static struct table_slot *find_live(struct keyspace *ks, int db, struct slice key, int64_t now_ms)
{
    struct db *d = &ks->dbs[db];
    ks->lru_now = lru_clock(now_ms);
    ks->now_ms = now_ms;
    struct table_slot *ref = shale_table_find_ref(d->table, key.ptr, key.len);
    if (!ref)
        return NULL;
    int64_t when = shale_kobj_expire(keyspace_obj(ref));
    if (when != KOBJ_NO_EXPIRE && when <= now_ms) {
        struct kobj *o = shale_table_remove(d->table, key.ptr, key.len);
        forget(d, o);
        shale_kobj_free(o);
        ks->expired++;
        return NULL;
    }
    return ref;
}

struct table_slot *shale_keyspace_find(struct keyspace *ks, int db, struct slice key,
                                       int64_t now_ms)
{
    struct table_slot *ref = find_live(ks, db, key, now_ms);
    if (!ref)
        return NULL;
    struct kobj *o = keyspace_obj(ref);
    if (ks->lfu)
        shale_kobj_set_lru(o, shale_lfu_touch(shale_kobj_lru(o), now_ms, ks->lfu_log_factor,
                                              ks->lfu_decay_time, &ks->rng));
    else if (shale_kobj_lru(o) != ks->lru_now) /* a store at most once a second */
        shale_kobj_set_lru(o, ks->lru_now);
    return ref;
}

struct table_slot *shale_keyspace_peek(struct keyspace *ks, int db, struct slice key,
                                       int64_t now_ms)
{
    return find_live(ks, db, key, now_ms);
}

int64_t shale_keyspace_idle_ms(const struct kobj *o, int64_t now_ms)
{
    uint32_t now = lru_clock(now_ms), lru = shale_kobj_lru(o);
    uint32_t idle = now >= lru ? now - lru : now + (SHALE_KEYSPACE_LRU_MAX - lru);
    return (int64_t)idle * 1000;
}

void shale_keyspace_set_lfu(struct keyspace *ks, int lfu, long long log_factor,
                            long long decay_time)
{
    ks->lfu = lfu;
    ks->lfu_log_factor = log_factor;
    ks->lfu_decay_time = decay_time;
}

int shale_keyspace_lfu(const struct keyspace *ks)
{
    return ks->lfu;
}

unsigned shale_keyspace_lfu_freq(const struct keyspace *ks, const struct kobj *o, int64_t now_ms)
{
    return shale_lfu_decayed(shale_kobj_lru(o), now_ms, ks->lfu_decay_time);
}

/* Keys with a TTL are looked for in runs of consecutive buckets (a walk
 * from a random bucket, shale_table_sample) of this many entries, at most
 * this many runs per call: with no expires index, a database where few keys
 * have a TTL costs at most ~1024 object reads per call, as an expiry round
 * does (shards/expire.c). */
#define SAMPLE_RUN     64
#define SAMPLE_RUNS    16
#define SAMPLE_DENSE_X 4 /* TTL keys >= 1/4 of the keys: draw, don't walk */

size_t shale_keyspace_sample(struct keyspace *ks, int db, int with_ttl, struct kobj **out, size_t n,
                             uint64_t *rng)
{
    struct db *d = &ks->dbs[db];
    size_t size = shale_table_size(d->table), got = 0;
    if (size == 0 || n == 0 || (with_ttl && d->expires == 0))
        return 0;
    if (!with_ttl || d->expires * SAMPLE_DENSE_X >= size) {
        /* Independent uniform draws; for TTL keys, rejection with a bound
         * that expects n hits, then walks for whatever it missed. */
        size_t tries = with_ttl ? n * SAMPLE_DENSE_X * 2 : n;
        for (size_t t = 0; t < tries && got < n; t++) {
            struct kobj *o = shale_table_random(d->table, rng);
            if (o && (!with_ttl || shale_kobj_expire(o) != KOBJ_NO_EXPIRE))
                out[got++] = o;
        }
        if (!with_ttl || got == n)
            return got;
    }
    void *run[SAMPLE_RUN];
    for (int r = 0; r < SAMPLE_RUNS && got < n; r++) {
        size_t k = shale_table_sample(d->table, run, SAMPLE_RUN, rng);
        for (size_t j = 0; j < k && got < n; j++)
            if (shale_kobj_expire(run[j]) != KOBJ_NO_EXPIRE)
                out[got++] = run[j];
    }
    return got;
}

struct kobj *shale_keyspace_random(struct keyspace *ks, int db, int64_t now_ms, uint64_t *rng)
{
    struct db *d = &ks->dbs[db];
    /* Like Redis's dbRandomKey: an expired pick is deleted and another
     * drawn; give up after a bounded number of tries (all-expired table). */
    for (int tries = 0; tries < 100; tries++) {
        struct kobj *o = shale_table_random(d->table, rng);
        if (!o)
            return NULL;
        int64_t when = shale_kobj_expire(o);
        if (when == KOBJ_NO_EXPIRE || when > now_ms)
            return o;
        shale_keyspace_expire_key(ks, db, shale_kobj_key(o));
    }
    return NULL;
}

struct table *shale_keyspace_table(struct keyspace *ks, int db)
{
    return ks->dbs[db].table;
}

void shale_keyspace_add(struct keyspace *ks, int db, struct kobj *o)
{
    struct db *d = &ks->dbs[db];
    shale_kobj_set_lru(o, ks->lfu ? shale_lfu_init(ks->now_ms) : ks->lru_now);
    shale_table_add(d->table, o);
    if (shale_kobj_expire(o) != KOBJ_NO_EXPIRE)
        d->expires++;
}

void shale_keyspace_replace(struct keyspace *ks, int db, struct table_slot *ref, struct kobj *o)
{
    struct db *d = &ks->dbs[db];
    /* Like Redis's dbSetValue: an overwrite keeps the key's access
     * frequency under LFU (the lookup before it already counted). */
    struct kobj *old = keyspace_obj(ref);
    uint32_t bits = ks->lfu ? shale_kobj_lru(old) : ks->lru_now;
    forget(d, old);
    shale_kobj_free(old);
    keyspace_moved(ref, o);
    shale_kobj_set_lru(o, bits);
    if (shale_kobj_expire(o) != KOBJ_NO_EXPIRE)
        d->expires++;
}

void shale_keyspace_set_expire(struct keyspace *ks, int db, struct table_slot *ref, int64_t ms)
{
    struct db *d = &ks->dbs[db];
    struct kobj *o = keyspace_obj(ref);
    int had = shale_kobj_expire(o) != KOBJ_NO_EXPIRE;
    keyspace_moved(ref, shale_kobj_set_expire(o, ms));
    d->expires += (uint64_t)(ms >= 0) - (uint64_t)had;
}

int shale_keyspace_delete(struct keyspace *ks, int db, struct slice key)
{
    struct db *d = &ks->dbs[db];
    struct kobj *o = shale_table_remove(d->table, key.ptr, key.len);
    if (!o)
        return 0;
    forget(d, o);
    shale_kobj_free(o);
    return 1;
}

int shale_keyspace_expire_key(struct keyspace *ks, int db, struct slice key)
{
    if (!shale_keyspace_delete(ks, db, key))
        return 0;
    ks->expired++;
    return 1;
}

uint64_t shale_keyspace_scan(struct keyspace *ks, int db, uint64_t cursor,
                             void (*fn)(void *ctx, struct table_slot *entry_ref), void *ctx)
{
    return shale_table_scan(ks->dbs[db].table, cursor, fn, ctx);
}

void shale_keyspace_flush(struct keyspace *ks, int db)
{
    for (int i = 0; i < ks->ndb; i++) {
        if (db >= 0 && i != db)
            continue;
        shale_table_clear(ks->dbs[i].table, free_entry);
        ks->dbs[i].expires = 0;
    }
}

void shale_keyspace_rehash(struct keyspace *ks, int64_t budget_us)
{
    int64_t deadline = clock_mono_us() + budget_us;
    for (int i = 0; i < ks->ndb; i++)
        while (shale_table_rehash_step(ks->dbs[i].table, 64))
            if (clock_mono_us() >= deadline)
                return;
}

struct table_slot *shale_keyspace_ref(struct keyspace *ks, int db, struct slice key)
{
    return shale_table_find_ref(ks->dbs[db].table, key.ptr, key.len);
}

void shale_keyspace_defrag(struct keyspace *ks, void *(*move)(void *ptr, void *ctx), void *ctx)
{
    for (int i = 0; i < ks->ndb; i++)
        ks->dbs[i].table = shale_table_defrag(ks->dbs[i].table, move, ctx);
    struct db *dbs = move(ks->dbs, ctx);
    if (dbs)
        ks->dbs = dbs;
}

uint64_t shale_keyspace_keys(const struct keyspace *ks, int db)
{
    return shale_table_size(ks->dbs[db].table);
}

uint64_t shale_keyspace_expires(const struct keyspace *ks, int db)
{
    return ks->dbs[db].expires;
}

uint64_t shale_keyspace_expired(const struct keyspace *ks)
{
    return ks->expired;
}
