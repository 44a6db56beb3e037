/* evict: the eviction policies (API in evict.h). Shard thread only.
 *
 * The algorithm is Redis 7.0's performEvictions, applied per shard:
 *  - LRU, LFU and TTL policies keep a pool of the 16 best candidates seen so
 *    far (EVPOOL_SIZE), sorted by score (idle ms; 255 - LFU counter; how soon
 *    the TTL ends). Each round samples maxmemory-samples keys from every
 *    database with keys (keys with a TTL for volatile-*), merges them into
 *    the pool, and evicts the best candidate that still exists. A pool entry
 *    holds a copy of the key, not the object: objects move and die between
 *    rounds.
 *  - random policies evict a random key, databases taken round robin.
 *  - the run stops when the used bytes are under the limit, when nothing
 *    is left to evict (EVICT_FAIL), or after the tenacity's time budget,
 *    checked every 16 keys (EVICT_RUNNING).
 * What is per shard rather than global: the pool, the round-robin database
 * and the limit itself (each shard holds an equal share of maxmemory; keys
 * spread over shards by slot, so shares fill evenly unless hash tags pile
 * keys onto one shard). */
#include "shards/evict.h"

#include <math.h>
#include <string.h>

#include "server/clock.h"
#include "server/mem.h"
#include "shards/keyspace.h"
#include "shards/object.h"

#define EVPOOL_SIZE            16
#define EVPOOL_CACHED_KEY      255 /* longer keys get their own copy */
#define EVICT_CHECK_EVERY      16  /* keys evicted between clock reads */
#define EVICT_MAX_GHOST_ROUNDS 8   /* pool rounds that found only vanished keys */

struct evict_pool_entry {
    uint64_t score; /* higher evicts first */
    int db;
    size_t klen;
    char *key;    /* NULL: empty entry; else == cached, or a heap copy */
    char *cached; /* this entry's EVPOOL_CACHED_KEY buffer */
};

struct evict_state {
    struct evict_pool_entry pool[EVPOOL_SIZE];
    char *cache; /* EVPOOL_SIZE x EVPOOL_CACHED_KEY bytes behind pool[].cached */
    uint64_t evicted;
    int next_db; /* random policies: the database to try next */
    uint64_t rng;
};

static const char *const policy_names[EVICT_POLICIES] = {
    "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
    "allkeys-lru",  "allkeys-lfu",  "allkeys-random",  "noeviction",
};

const char *shale_evict_policy_name(int policy)
{
    return policy >= 0 && policy < EVICT_POLICIES ? policy_names[policy] : "unknown";
}

int shale_evict_policy_is_lfu(int policy)
{
    return policy == EVICT_VOLATILE_LFU || policy == EVICT_ALLKEYS_LFU;
}

static int policy_volatile(int policy)
{
    return policy <= EVICT_VOLATILE_TTL;
}

static int policy_random(int policy)
{
    return policy == EVICT_VOLATILE_RANDOM || policy == EVICT_ALLKEYS_RANDOM;
}

struct evict_state *shale_evict_create(uint64_t seed)
{
    struct evict_state *ev = shale_calloc(1, sizeof(*ev));
    ev->cache = shale_malloc(EVPOOL_SIZE * EVPOOL_CACHED_KEY);
    for (int i = 0; i < EVPOOL_SIZE; i++)
        ev->pool[i].cached = ev->cache + (size_t)i * EVPOOL_CACHED_KEY;
    ev->rng = seed;
    return ev;
}

static void entry_clear(struct evict_pool_entry *e)
{
    if (e->key && e->key != e->cached)
        shale_free(e->key);
    e->key = NULL;
    e->score = 0;
}

void shale_evict_destroy(struct evict_state *ev)
{
    if (!ev)
        return;
    for (int i = 0; i < EVPOOL_SIZE; i++)
        entry_clear(&ev->pool[i]);
    shale_free(ev->cache);
    shale_free(ev);
}

uint64_t shale_evict_evicted(const struct evict_state *ev)
{
    return ev->evicted;
}

int64_t shale_evict_time_limit_us(int tenacity)
{
    if (tenacity <= 10)
        return 50 * (int64_t)(tenacity < 0 ? 0 : tenacity);
    if (tenacity < 100)
        return (int64_t)(500.0 * pow(1.15, tenacity - 10.0));
    return INT64_MAX;
}

int64_t shale_evict_used(int64_t overhead)
{
    return (int64_t)shale_mem_counted_bytes() + (overhead > 0 ? overhead : 0);
}

/* Higher is evicted first (Redis's "idle" of evictionPoolPopulate). */
static uint64_t score(const struct keyspace *ks, const struct kobj *o, int policy, int64_t now_ms)
{
    switch (policy) {
    case EVICT_VOLATILE_LRU:
    case EVICT_ALLKEYS_LRU:
        return (uint64_t)shale_keyspace_idle_ms(o, now_ms);
    case EVICT_VOLATILE_LFU:
    case EVICT_ALLKEYS_LFU:
        return 255 - shale_keyspace_lfu_freq(ks, o, now_ms);
    default: /* volatile-ttl: the sooner the TTL ends, the higher */
        return UINT64_MAX - (uint64_t)shale_kobj_expire(o);
    }
}

/* Merges one candidate into the pool, kept sorted by rising score; the
 * worst is dropped when the pool is full (Redis's evictionPoolPopulate). */
static void pool_insert(struct evict_state *ev, int db, struct slice key, uint64_t sc)
{
    struct evict_pool_entry *pool = ev->pool;
    int k = 0;
    while (k < EVPOOL_SIZE && pool[k].key && pool[k].score < sc)
        k++;
    if (k == 0 && pool[EVPOOL_SIZE - 1].key)
        return; /* worse than everything in a full pool */
    if (k < EVPOOL_SIZE && !pool[k].key) {
        /* an empty slot: nothing to shift */
    } else if (!pool[EVPOOL_SIZE - 1].key) {
        /* room on the right: shift k.. right, keeping the buffers paired */
        char *cached = pool[EVPOOL_SIZE - 1].cached;
        memmove(pool + k + 1, pool + k, sizeof(pool[0]) * (size_t)(EVPOOL_SIZE - k - 1));
        pool[k].cached = cached;
        pool[k].key = NULL;
    } else {
        /* full: drop the lowest score, shift ..k-1 left */
        k--;
        char *cached = pool[0].cached;
        entry_clear(&pool[0]);
        memmove(pool, pool + 1, sizeof(pool[0]) * (size_t)k);
        pool[k].cached = cached;
        pool[k].key = NULL;
    }
    struct evict_pool_entry *e = &pool[k];
    if (key.len > EVPOOL_CACHED_KEY) {
        e->key = shale_malloc(key.len);
    } else {
        e->key = e->cached;
    }
    memcpy(e->key, key.ptr, key.len);
    e->klen = key.len;
    e->score = sc;
    e->db = db;
}

static void pool_populate(struct evict_state *ev, struct keyspace *ks, int db,
                          const struct evict_config *cfg, int64_t now_ms)
{
    struct kobj *sample[EVICT_SAMPLES_MAX];
    size_t want = cfg->samples < 1 ? 1 : (size_t)cfg->samples;
    if (want > EVICT_SAMPLES_MAX)
        want = EVICT_SAMPLES_MAX;
    size_t n = shale_keyspace_sample(ks, db, policy_volatile(cfg->policy), sample, want, &ev->rng);
    for (size_t i = 0; i < n; i++)
        pool_insert(ev, db, shale_kobj_key(sample[i]), score(ks, sample[i], cfg->policy, now_ms));
}

static void evict_key(struct evict_state *ev, struct keyspace *ks, int db, struct slice key)
{
    if (shale_keyspace_delete(ks, db, key))
        ev->evicted++;
}

/* Frees one key by the pool policies. Returns 1 when memory was freed (a
 * key evicted, or an expired one deleted on the way), 0 when there is no
 * candidate. */
static int evict_from_pool(struct evict_state *ev, struct keyspace *ks,
                           const struct evict_config *cfg, int64_t now_ms)
{
    int ndb = shale_keyspace_databases(ks), with_ttl = policy_volatile(cfg->policy);
    uint64_t expired_before = shale_keyspace_expired(ks);
    for (int round = 0; round < EVICT_MAX_GHOST_ROUNDS; round++) {
        uint64_t total = 0;
        for (int db = 0; db < ndb; db++) {
            uint64_t keys = with_ttl ? shale_keyspace_expires(ks, db) : shale_keyspace_keys(ks, db);
            if (keys) {
                pool_populate(ev, ks, db, cfg, now_ms);
                total += keys;
            }
        }
        if (!total)
            return 0;
        for (int k = EVPOOL_SIZE - 1; k >= 0; k--) {
            struct evict_pool_entry *e = &ev->pool[k];
            if (!e->key)
                continue;
            struct slice key = {e->key, e->klen};
            int db = e->db;
            /* peek: no access stamp; an expired key is deleted here. */
            struct table_slot *ref = shale_keyspace_peek(ks, db, key, now_ms);
            int found =
                ref && (!with_ttl || shale_kobj_expire(keyspace_obj(ref)) != KOBJ_NO_EXPIRE);
            if (found)
                evict_key(ev, ks, db, key);
            entry_clear(e);
            if (found)
                return 1;
        }
        if (shale_keyspace_expired(ks) != expired_before)
            return 1;
    }
    return 0;
}

static int evict_random(struct evict_state *ev, struct keyspace *ks, const struct evict_config *cfg,
                        int64_t now_ms)
{
    int ndb = shale_keyspace_databases(ks), with_ttl = policy_volatile(cfg->policy);
    uint64_t expired_before = shale_keyspace_expired(ks);
    for (int i = 0; i < ndb; i++) {
        int db = ev->next_db = (ev->next_db + 1) % ndb;
        struct kobj *o = NULL;
        if (with_ttl)
            shale_keyspace_sample(ks, db, 1, &o, 1, &ev->rng);
        else if (shale_keyspace_keys(ks, db))
            o = shale_keyspace_random(ks, db, now_ms, &ev->rng);
        if (o) {
            evict_key(ev, ks, db, shale_kobj_key(o));
            return 1;
        }
    }
    return shale_keyspace_expired(ks) != expired_before;
}

enum evict_result shale_evict_perform(struct evict_state *ev, struct keyspace *ks,
                                      const struct evict_config *cfg, uint64_t limit,
                                      int64_t overhead, int64_t now_ms)
{
    if (limit == EVICT_NO_LIMIT || shale_evict_used(overhead) <= (int64_t)limit)
        return EVICT_OK;
    if (cfg->policy == EVICT_NOEVICTION)
        return EVICT_FAIL;
    int64_t budget = shale_evict_time_limit_us(cfg->tenacity);
    int64_t start = clock_mono_us();
    uint64_t freed = 0;
    while (shale_evict_used(overhead) > (int64_t)limit) {
        int ok = policy_random(cfg->policy) ? evict_random(ev, ks, cfg, now_ms)
                                            : evict_from_pool(ev, ks, cfg, now_ms);
        if (!ok)
            return shale_evict_used(overhead) > (int64_t)limit ? EVICT_FAIL : EVICT_OK;
        if (++freed % EVICT_CHECK_EVERY == 0 && clock_mono_us() - start > budget)
            return shale_evict_used(overhead) > (int64_t)limit ? EVICT_RUNNING : EVICT_OK;
    }
    return EVICT_OK;
}
