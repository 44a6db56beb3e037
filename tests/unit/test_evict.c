/* test_evict: the eviction policies (shards/evict.c) on a real keyspace,
 * the LFU counter (shards/lfu.c) and the counted allocations that give a
 * shard its exact used bytes (server/mem.c). Single-threaded, like the
 * shard that owns a keyspace: the counted bytes of this thread are the
 * keyspace's, so a limit is "what the keyspace holds now, minus X". The
 * clock is passed by hand (unix ms), so idle times are exact. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "server/config.h"
#include "server/mem.h"
#include "shards/evict.h"
#include "shards/keyspace.h"
#include "shards/lfu.h"
#include "shards/object.h"

#define EXPECT(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fail_msg(__VA_ARGS__);                                                                 \
    } while (0)

#define NOW       1700000000000LL
#define DATABASES 16
#define NKEYS     2000
#define VALUE     "0123456789abcdef0123456789abcdef" /* 32 bytes */

static struct slice key_of(char *buf, const char *prefix, size_t i)
{
    int len = snprintf(buf, 32, "%s:%zu", prefix, i);
    return (struct slice){buf, (size_t)len};
}

/* Adds prefix:0..n-1 at now_ms (the find sets the keyspace's clock). */
static void add_keys(struct keyspace *ks, int db, const char *prefix, size_t n, int64_t now_ms,
                     int64_t expire_ms)
{
    char buf[32];
    for (size_t i = 0; i < n; i++) {
        struct slice k = key_of(buf, prefix, i);
        assert_null(shale_keyspace_find(ks, db, k, now_ms));
        shale_keyspace_add(
            ks, db, shale_kobj_new_string(k, (struct slice){VALUE, sizeof(VALUE) - 1}, expire_ms));
    }
}

/* How many of prefix:0..n-1 are present (peek: no access stamp). */
static size_t present(struct keyspace *ks, int db, const char *prefix, size_t n, int64_t now_ms)
{
    char buf[32];
    size_t got = 0;
    for (size_t i = 0; i < n; i++)
        got += shale_keyspace_peek(ks, db, key_of(buf, prefix, i), now_ms) != NULL;
    return got;
}

static struct evict_config config_for(int policy)
{
    return (struct evict_config){
        .policy = policy, .samples = 5, .tenacity = 100, .lfu_log_factor = 10, .lfu_decay_time = 1};
}

/* A limit that makes the keyspace give back `bytes`. */
static uint64_t limit_minus(size_t bytes)
{
    return (uint64_t)shale_mem_counted_bytes() - bytes;
}

/* The bytes n keys of db named prefix:N take, from the average over
 * prefix:0..total-1 (sizes differ a little with the key's length, and under
 * MALLOC=libc every byte counts). */
static size_t bytes_like(struct keyspace *ks, int db, const char *prefix, size_t total, size_t n)
{
    char buf[32];
    size_t sum = 0;
    for (size_t i = 0; i < total; i++) {
        struct table_slot *ref = shale_keyspace_peek(ks, db, key_of(buf, prefix, i), NOW);
        assert_non_null(ref);
        sum += shale_kobj_alloc_size(keyspace_obj(ref));
    }
    return sum / total * n;
}

/* Slack in key counts for approximate sizes (2% of NKEYS). */
#define SLACK (NKEYS / 50)

static void test_counted_bytes(void **state)
{
    long long before = shale_mem_counted_bytes();
    struct keyspace *ks = shale_keyspace_create(DATABASES, 1);
    long long empty = shale_mem_counted_bytes();
    add_keys(ks, 0, "k", 1000, NOW, KOBJ_NO_EXPIRE);
    char buf[32];
    struct table_slot *ref = shale_keyspace_peek(ks, 0, key_of(buf, "k", 7), NOW);
    assert_non_null(ref);
    long long one = (long long)shale_kobj_alloc_size(keyspace_obj(ref));
    long long full = shale_mem_counted_bytes();
    assert_int_equal(shale_keyspace_delete(ks, 0, key_of(buf, "k", 7)), 1);
    EXPECT(full - shale_mem_counted_bytes() >= one,
           "deleting a key gives back at least its object (%lld), gave %lld", one,
           full - shale_mem_counted_bytes());
    /* A value grown in place is counted at its new size. */
    ref = shale_keyspace_find(ks, 0, key_of(buf, "k", 8), NOW);
    long long mid = shale_mem_counted_bytes(),
              old = (long long)shale_kobj_alloc_size(keyspace_obj(ref));
    keyspace_moved(ref, shale_kobj_string_resize(keyspace_obj(ref), 5000));
    assert_int_equal(shale_mem_counted_bytes() - mid,
                     (long long)shale_kobj_alloc_size(keyspace_obj(ref)) - old);
    shale_keyspace_flush(ks, -1);
    EXPECT(shale_mem_counted_bytes() == empty,
           "an emptied keyspace holds what it held when created (%lld), holds %lld", empty,
           shale_mem_counted_bytes());
    shale_keyspace_destroy(ks);
    assert_int_equal(shale_mem_counted_bytes(), before);
}

/* The option's words and the enum are one list. */
static void test_policy_names(void **state)
{
    struct config cfg;
    shale_config_init(&cfg);
    assert_int_equal(cfg.maxmemory_policy, EVICT_NOEVICTION);
    for (int p = 0; p < EVICT_POLICIES; p++) {
        char err[256];
        const char *name = shale_evict_policy_name(p);
        assert_int_equal(shale_config_set(&cfg, "maxmemory-policy", &name, 1, err, sizeof(err)), 0);
        assert_int_equal(cfg.maxmemory_policy, p);
    }
    assert_true(shale_evict_policy_is_lfu(EVICT_ALLKEYS_LFU));
    assert_true(shale_evict_policy_is_lfu(EVICT_VOLATILE_LFU));
    assert_false(shale_evict_policy_is_lfu(EVICT_ALLKEYS_LRU));
    shale_config_deinit(&cfg);
}

static void test_time_limit(void **state)
{
    assert_int_equal(shale_evict_time_limit_us(0), 0);
    assert_int_equal(shale_evict_time_limit_us(10), 500);
    assert_int_equal(shale_evict_time_limit_us(11), 575);
    assert_true(shale_evict_time_limit_us(99) > 100 * 1000 * 1000);
    assert_true(shale_evict_time_limit_us(100) == INT64_MAX);
}

static void test_no_limit_and_noeviction(void **state)
{
    struct keyspace *ks = shale_keyspace_create(DATABASES, 2);
    struct evict_state *ev = shale_evict_create(2);
    add_keys(ks, 0, "old", 100, NOW, KOBJ_NO_EXPIRE);
    struct evict_config cfg = config_for(EVICT_NOEVICTION);
    assert_int_equal(shale_evict_perform(ev, ks, &cfg, EVICT_NO_LIMIT, 0, NOW), EVICT_OK);
    assert_int_equal(shale_evict_perform(ev, ks, &cfg, limit_minus(0), 0, NOW), EVICT_OK);
    assert_int_equal(shale_evict_perform(ev, ks, &cfg, limit_minus(1), 0, NOW), EVICT_FAIL);
    /* the overhead counts too */
    assert_int_equal(shale_evict_perform(ev, ks, &cfg, limit_minus(0), 1, NOW), EVICT_FAIL);
    assert_int_equal(present(ks, 0, "old", 100, NOW), 100);
    assert_int_equal(shale_evict_evicted(ev), 0);
    shale_evict_destroy(ev);
    shale_keyspace_destroy(ks);
}

/* allkeys-lru: keys idle for 100 s go before keys touched now. */
static void test_allkeys_lru(void **state)
{
    struct keyspace *ks = shale_keyspace_create(DATABASES, 3);
    struct evict_state *ev = shale_evict_create(3);
    add_keys(ks, 0, "old", NKEYS, NOW, KOBJ_NO_EXPIRE);
    add_keys(ks, 0, "new", NKEYS, NOW + 100000, KOBJ_NO_EXPIRE);
    struct evict_config cfg = config_for(EVICT_ALLKEYS_LRU);
    uint64_t limit = limit_minus(bytes_like(ks, 0, "old", NKEYS, NKEYS / 2));
    assert_int_equal(shale_evict_perform(ev, ks, &cfg, limit, 0, NOW + 100000), EVICT_OK);
    assert_true(shale_mem_counted_bytes() <= (long long)limit);
    size_t old = present(ks, 0, "old", NKEYS, NOW), fresh = present(ks, 0, "new", NKEYS, NOW);
    EXPECT(fresh == NKEYS, "allkeys-lru evicted %zu keys touched now", NKEYS - fresh);
    EXPECT(old <= NKEYS / 2 + SLACK, "allkeys-lru kept %zu of %d idle keys", old, NKEYS);
    assert_int_equal(shale_evict_evicted(ev), 2 * NKEYS - old - fresh);
    shale_evict_destroy(ev);
    shale_keyspace_destroy(ks);
}

/* allkeys-lfu: keys read a few times outlive keys never read. */
static void test_allkeys_lfu(void **state)
{
    struct keyspace *ks = shale_keyspace_create(DATABASES, 4);
    struct evict_state *ev = shale_evict_create(4);
    shale_keyspace_set_lfu(ks, 1, 10, 1);
    add_keys(ks, 0, "old", NKEYS, NOW, KOBJ_NO_EXPIRE);
    add_keys(ks, 1, "hot", NKEYS / 4, NOW, KOBJ_NO_EXPIRE);
    char buf[32];
    for (int round = 0; round < 3; round++)
        for (size_t i = 0; i < NKEYS / 4; i++)
            assert_non_null(shale_keyspace_find(ks, 1, key_of(buf, "hot", i), NOW));
    struct table_slot *ref = shale_keyspace_peek(ks, 1, key_of(buf, "hot", 3), NOW);
    EXPECT(shale_keyspace_lfu_freq(ks, keyspace_obj(ref), NOW) > LFU_INIT_VAL,
           "a key read 3 times has a counter above %d", LFU_INIT_VAL);
    struct evict_config cfg = config_for(EVICT_ALLKEYS_LFU);
    uint64_t limit = limit_minus(bytes_like(ks, 0, "old", NKEYS, NKEYS / 2));
    assert_int_equal(shale_evict_perform(ev, ks, &cfg, limit, 0, NOW), EVICT_OK);
    size_t hot = present(ks, 1, "hot", NKEYS / 4, NOW);
    EXPECT(hot == NKEYS / 4, "allkeys-lfu evicted %zu frequently read keys", NKEYS / 4 - hot);
    EXPECT(present(ks, 0, "old", NKEYS, NOW) <= NKEYS / 2 + SLACK,
           "allkeys-lfu evicted too little");
    shale_evict_destroy(ev);
    shale_keyspace_destroy(ks);
}

/* volatile-*: keys without a TTL are never evicted; once only they are
 * left, eviction fails (the write would get -OOM). */
static void check_volatile(int policy, uint64_t seed)
{
    struct keyspace *ks = shale_keyspace_create(DATABASES, seed);
    struct evict_state *ev = shale_evict_create(seed);
    if (shale_evict_policy_is_lfu(policy))
        shale_keyspace_set_lfu(ks, 1, 10, 1);
    add_keys(ks, 0, "old", NKEYS, NOW, KOBJ_NO_EXPIRE);
    add_keys(ks, 2, "ttl", NKEYS / 2, NOW + 1000, NOW + 3600 * 1000);
    struct evict_config cfg = config_for(policy);
    size_t ttl_keys = bytes_like(ks, 2, "ttl", NKEYS / 2, NKEYS / 2);
    uint64_t limit = limit_minus(ttl_keys / 2);
    assert_int_equal(shale_evict_perform(ev, ks, &cfg, limit, 0, NOW + 1000), EVICT_OK);
    assert_int_equal(present(ks, 0, "old", NKEYS, NOW), NKEYS);
    EXPECT(present(ks, 2, "ttl", NKEYS / 2, NOW) <= NKEYS / 4 + SLACK, "%s evicted too little",
           shale_evict_policy_name(policy));
    /* Ask for more than the TTL keys hold: all of them go, then it fails. */
    limit = limit_minus(ttl_keys + ttl_keys / 10);
    assert_int_equal(shale_evict_perform(ev, ks, &cfg, limit, 0, NOW + 1000), EVICT_FAIL);
    assert_int_equal(present(ks, 2, "ttl", NKEYS / 2, NOW), 0);
    assert_int_equal(present(ks, 0, "old", NKEYS, NOW), NKEYS);
    assert_int_equal(shale_evict_evicted(ev), NKEYS / 2);
    shale_evict_destroy(ev);
    shale_keyspace_destroy(ks);
}

static void test_volatile_policies(void **state)
{
    check_volatile(EVICT_VOLATILE_LRU, 5);
    check_volatile(EVICT_VOLATILE_LFU, 6);
    check_volatile(EVICT_VOLATILE_RANDOM, 7);
    check_volatile(EVICT_VOLATILE_TTL, 8);
}

/* volatile-ttl: the keys whose TTL ends first go first. */
static void test_volatile_ttl_order(void **state)
{
    struct keyspace *ks = shale_keyspace_create(DATABASES, 9);
    struct evict_state *ev = shale_evict_create(9);
    add_keys(ks, 0, "old", NKEYS / 2, NOW, NOW + 100 * 1000);     /* short TTL */
    add_keys(ks, 0, "long", NKEYS / 2, NOW, NOW + 100000 * 1000); /* long TTL */
    add_keys(ks, 0, "none", NKEYS / 2, NOW, KOBJ_NO_EXPIRE);
    struct evict_config cfg = config_for(EVICT_VOLATILE_TTL);
    uint64_t limit = limit_minus(bytes_like(ks, 0, "old", NKEYS / 2, NKEYS / 4));
    assert_int_equal(shale_evict_perform(ev, ks, &cfg, limit, 0, NOW), EVICT_OK);
    assert_int_equal(present(ks, 0, "long", NKEYS / 2, NOW), NKEYS / 2);
    assert_int_equal(present(ks, 0, "none", NKEYS / 2, NOW), NKEYS / 2);
    EXPECT(present(ks, 0, "old", NKEYS / 2, NOW) <= NKEYS / 4 + SLACK,
           "volatile-ttl kept too many short-TTL keys");
    shale_evict_destroy(ev);
    shale_keyspace_destroy(ks);
}

/* allkeys-random reaches the limit over several databases; a zero time
 * budget (tenacity 0) stops after 16 keys with EVICT_RUNNING. */
static void test_allkeys_random_and_budget(void **state)
{
    struct keyspace *ks = shale_keyspace_create(DATABASES, 10);
    struct evict_state *ev = shale_evict_create(10);
    add_keys(ks, 0, "old", NKEYS, NOW, KOBJ_NO_EXPIRE);
    add_keys(ks, 5, "old", NKEYS, NOW, KOBJ_NO_EXPIRE);
    struct evict_config cfg = config_for(EVICT_ALLKEYS_RANDOM);
    cfg.tenacity = 0;
    uint64_t limit = limit_minus(bytes_like(ks, 0, "old", NKEYS, NKEYS));
    assert_int_equal(shale_evict_perform(ev, ks, &cfg, limit, 0, NOW), EVICT_RUNNING);
    assert_int_equal(shale_evict_evicted(ev), 16);
    cfg.tenacity = 100;
    assert_int_equal(shale_evict_perform(ev, ks, &cfg, limit, 0, NOW), EVICT_OK);
    size_t a = present(ks, 0, "old", NKEYS, NOW), b = present(ks, 5, "old", NKEYS, NOW);
    EXPECT(a < NKEYS && b < NKEYS, "random eviction took keys from both databases (%zu, %zu)", a,
           b);
    assert_true(shale_mem_counted_bytes() <= (long long)limit);
    shale_evict_destroy(ev);
    shale_keyspace_destroy(ks);
}

static void test_lfu_counter(void **state)
{
    uint32_t bits = shale_lfu_init(NOW);
    assert_int_equal(bits & 255, LFU_INIT_VAL);
    assert_int_equal(shale_lfu_decayed(bits, NOW, 1), LFU_INIT_VAL);
    /* one step per decay period of idle minutes, floored at 0 */
    assert_int_equal(shale_lfu_decayed(bits, NOW + 3 * 60000, 1), LFU_INIT_VAL - 3);
    assert_int_equal(shale_lfu_decayed(bits, NOW + 3 * 60000, 2), LFU_INIT_VAL - 1);
    assert_int_equal(shale_lfu_decayed(bits, NOW + 3 * 60000, 0), LFU_INIT_VAL);
    assert_int_equal(shale_lfu_decayed(bits, NOW + 60 * 60000, 1), 0);
    /* at or below LFU_INIT_VAL an access always counts */
    uint64_t rng = 1;
    assert_int_equal(shale_lfu_touch(bits, NOW, 10, 1, &rng) & 255, LFU_INIT_VAL + 1);
    /* factor 0: every access counts, up to 255 */
    for (int i = 0; i < 300; i++)
        bits = shale_lfu_touch(bits, NOW, 0, 1, &rng);
    assert_int_equal(bits & 255, 255);
    /* factor 10: ~100 accesses take the counter only a few steps up */
    bits = shale_lfu_init(NOW);
    for (int i = 0; i < 100; i++)
        bits = shale_lfu_touch(bits, NOW, 10, 1, &rng);
    EXPECT((bits & 255) > LFU_INIT_VAL + 1 && (bits & 255) < LFU_INIT_VAL + 12,
           "100 accesses at factor 10 gave %u", bits & 255);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counted_bytes),
        cmocka_unit_test(test_policy_names),
        cmocka_unit_test(test_time_limit),
        cmocka_unit_test(test_no_limit_and_noeviction),
        cmocka_unit_test(test_allkeys_lru),
        cmocka_unit_test(test_allkeys_lfu),
        cmocka_unit_test(test_volatile_policies),
        cmocka_unit_test(test_volatile_ttl_order),
        cmocka_unit_test(test_allkeys_random_and_budget),
        cmocka_unit_test(test_lfu_counter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
