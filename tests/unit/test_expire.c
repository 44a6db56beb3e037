/* test_expire: unit tests for the active expiry cycle (shards/expire.c) on
 * a real keyspace. The clock is fixed (NOW, unix ms) and moved by hand; keys
 * are checked with shale_keyspace_find at now_ms 0, which never expires
 * anything, so the tests see only what the cycle deleted. Single-threaded,
 * like the shard thread that owns a keyspace. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "server/clock.h"
#include "server/mem.h"
#include "shards/expire.h"
#include "shards/keyspace.h"
#include "shards/object.h"

#define EXPECT(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fail_msg(__VA_ARGS__);                                                                 \
    } while (0)

#define NOW       1700000000000LL
#define DATABASES 16
#define FOREVER   (1000 * 1000 * 1000) /* a budget no test reaches, in us */
#define PASS_MS   60000                /* EXPIRE_PASS_MS in expire.c */

static struct slice key_of(char *buf, const char *prefix, size_t i)
{
    int len = snprintf(buf, 32, "%s:%zu", prefix, i);
    return (struct slice){buf, (size_t)len};
}

static void add_keys(struct keyspace *ks, int db, const char *prefix, size_t from, size_t to,
                     int64_t expire_ms)
{
    char buf[32];
    for (size_t i = from; i < to; i++)
        shale_keyspace_add(
            ks, db,
            shale_kobj_new_string(key_of(buf, prefix, i), (struct slice){"v", 1}, expire_ms));
}

/* Keys prefix:from..to-1 that are present, found without lazy expiry. */
static size_t count_present(struct keyspace *ks, int db, const char *prefix, size_t from, size_t to)
{
    char buf[32];
    size_t n = 0;
    for (size_t i = from; i < to; i++)
        n += shale_keyspace_find(ks, db, key_of(buf, prefix, i), 0) != NULL;
    return n;
}

static struct expire_stats stats_of(const struct expire_state *st)
{
    struct expire_stats s;
    shale_expire_stats(st, &s);
    return s;
}

/* Calls the cycle until it reports no more work; returns how many calls. */
static int run_until_idle(struct expire_state *st, struct keyspace *ks, int64_t now_ms,
                          int64_t budget_us, int max_calls)
{
    for (int calls = 1; calls <= max_calls; calls++)
        if (!shale_expire_cycle(st, ks, now_ms, budget_us))
            return calls;
    fail_msg("the cycle still had work after %d calls", max_calls);
    return max_calls;
}

static void test_expired_keys_go_without_lookup(void **state)
{
    struct keyspace *ks = shale_keyspace_create(DATABASES, 1);
    struct expire_state *st = shale_expire_create(DATABASES);
    add_keys(ks, 0, "dead", 0, 1000, NOW - 1);
    add_keys(ks, 0, "edge", 0, 100, NOW); /* expire == now counts as expired, as lazily */
    add_keys(ks, 0, "later", 0, 1000, NOW + 1);
    add_keys(ks, 0, "plain", 0, 1000, KOBJ_NO_EXPIRE);
    add_keys(ks, 3, "dead", 0, 500, NOW - 60000);
    add_keys(ks, 15, "plain", 0, 10, KOBJ_NO_EXPIRE);

    run_until_idle(st, ks, NOW, FOREVER, 10);

    EXPECT(count_present(ks, 0, "dead", 0, 1000) == 0, "expired keys of db 0 left: %zu",
           count_present(ks, 0, "dead", 0, 1000));
    EXPECT(count_present(ks, 0, "edge", 0, 100) == 0, "keys expiring at now left: %zu",
           count_present(ks, 0, "edge", 0, 100));
    EXPECT(count_present(ks, 0, "later", 0, 1000) == 1000, "keys with a later TTL: %zu of 1000",
           count_present(ks, 0, "later", 0, 1000));
    EXPECT(count_present(ks, 0, "plain", 0, 1000) == 1000, "keys without a TTL: %zu of 1000",
           count_present(ks, 0, "plain", 0, 1000));
    EXPECT(shale_keyspace_keys(ks, 0) == 2000, "db 0 has %llu keys, expected 2000",
           (unsigned long long)shale_keyspace_keys(ks, 0));
    EXPECT(shale_keyspace_expires(ks, 0) == 1000, "db 0 has %llu keys with a TTL, expected 1000",
           (unsigned long long)shale_keyspace_expires(ks, 0));
    EXPECT(shale_keyspace_keys(ks, 3) == 0 && shale_keyspace_expires(ks, 3) == 0,
           "db 3: %llu keys, %llu with a TTL, expected none",
           (unsigned long long)shale_keyspace_keys(ks, 3),
           (unsigned long long)shale_keyspace_expires(ks, 3));
    EXPECT(shale_keyspace_keys(ks, 15) == 10, "db 15 has %llu keys, expected 10",
           (unsigned long long)shale_keyspace_keys(ks, 15));
    /* Counted where lazy expiry counts, and in the cycle's own figure. */
    EXPECT(shale_keyspace_expired(ks) == 1600, "keyspace counted %llu expired, expected 1600",
           (unsigned long long)shale_keyspace_expired(ks));
    EXPECT(stats_of(st).expired == 1600, "cycle counted %llu expired, expected 1600",
           (unsigned long long)stats_of(st).expired);

    /* Later, the rest expire too; a lookup still expires lazily, into the
     * same counter. */
    char buf[32];
    EXPECT(shale_keyspace_find(ks, 0, key_of(buf, "later", 0), NOW + 1) == NULL,
           "a lookup at its expire time found later:0");
    run_until_idle(st, ks, NOW + 1, FOREVER, 10);
    EXPECT(shale_keyspace_keys(ks, 0) == 1000, "db 0 has %llu keys, expected the 1000 plain ones",
           (unsigned long long)shale_keyspace_keys(ks, 0));
    EXPECT(shale_keyspace_expired(ks) == 2600, "keyspace counted %llu expired, expected 2600",
           (unsigned long long)shale_keyspace_expired(ks));
    EXPECT(stats_of(st).expired == 2599, "cycle counted %llu expired, expected 2599 (1 lazily)",
           (unsigned long long)stats_of(st).expired);

    shale_expire_destroy(st);
    shale_keyspace_destroy(ks);
}

/* Databases without keys with a TTL are not walked at all, and a database
 * where nothing has expired costs one round per call, not a pass. */
static void test_idle_work_is_small(void **state)
{
    struct keyspace *ks = shale_keyspace_create(DATABASES, 2);
    struct expire_state *st = shale_expire_create(DATABASES);
    add_keys(ks, 0, "plain", 0, 20000, KOBJ_NO_EXPIRE);
    add_keys(ks, 1, "plain", 0, 20000, KOBJ_NO_EXPIRE);

    EXPECT(shale_expire_cycle(st, ks, NOW, FOREVER) == 0, "no work, yet asked to come back");
    EXPECT(stats_of(st).scanned == 0, "visited %llu keys in databases without TTLs",
           (unsigned long long)stats_of(st).scanned);

    /* Dense TTLs, none expired: one round is ~20 keys with a TTL. */
    add_keys(ks, 0, "later", 0, 20000, NOW + 3600000);
    shale_expire_cycle(st, ks, NOW, FOREVER);
    uint64_t scanned = stats_of(st).scanned;
    EXPECT(scanned > 0 && scanned <= 256, "a clean database cost %llu visited keys",
           (unsigned long long)scanned);

    /* Sparse TTLs (10 in 20,010): a round stops after ~1024 keys. */
    add_keys(ks, 1, "later", 0, 10, NOW + 3600000);
    shale_expire_cycle(st, ks, NOW, FOREVER);
    uint64_t both = stats_of(st).scanned - scanned;
    EXPECT(both <= 2 * 256 + 1024 + 256, "two clean databases cost %llu visited keys",
           (unsigned long long)both);
    EXPECT(stats_of(st).expired == 0 && shale_keyspace_keys(ks, 0) == 40000,
           "deleted live keys: %llu", (unsigned long long)stats_of(st).expired);

    shale_expire_destroy(st);
    shale_keyspace_destroy(ks);
}

/* The pace floor: a pass over a clean database completes within
 * EXPIRE_PASS_MS, spread over the calls in between. */
static void test_pass_is_paced(void **state)
{
    struct keyspace *ks = shale_keyspace_create(DATABASES, 3);
    struct expire_state *st = shale_expire_create(DATABASES);
    add_keys(ks, 0, "later", 0, 50000, NOW + 3600000);

    shale_expire_cycle(st, ks, NOW, FOREVER); /* the pass starts */
    shale_expire_cycle(st, ks, NOW + PASS_MS / 2, FOREVER);
    struct expire_stats s = stats_of(st);
    EXPECT(s.passes == 0 && s.scanned >= 20000 && s.scanned <= 30000,
           "half way through the pace: %llu passes, %llu of 50000 keys visited",
           (unsigned long long)s.passes, (unsigned long long)s.scanned);
    shale_expire_cycle(st, ks, NOW + PASS_MS, FOREVER);
    s = stats_of(st);
    /* Slices sharing a bucket make a few keys visited twice. */
    EXPECT(s.passes == 1 && s.scanned >= 50000 && s.scanned <= 55000,
           "after the pace period: %llu passes, %llu visits for 50000 keys",
           (unsigned long long)s.passes, (unsigned long long)s.scanned);

    shale_expire_destroy(st);
    shale_keyspace_destroy(ks);
}

static void test_budget_is_respected_and_work_resumes(void **state)
{
    struct keyspace *ks = shale_keyspace_create(DATABASES, 4);
    struct expire_state *st = shale_expire_create(DATABASES);
    const size_t n = 1000000;
    add_keys(ks, 0, "dead", 0, n, NOW - 1);

    int64_t t0 = clock_mono_us();
    int more = shale_expire_cycle(st, ks, NOW, 200);
    int64_t took = clock_mono_us() - t0;
    uint64_t left = shale_keyspace_keys(ks, 0);
    /* Generous for sanitizers and a busy machine: the cycle reads the clock
     * every <= 64 keys. */
    EXPECT(took < 50000, "a 200 us budget took %lld us", (long long)took);
    EXPECT(more == 1, "stopped by the budget but reported no more work");
    EXPECT(left < n && left > n / 2, "one 200 us call deleted %llu of %zu keys",
           (unsigned long long)(n - left), n);
    EXPECT(stats_of(st).time_cap_reached == 1, "time cap count %llu, expected 1",
           (unsigned long long)stats_of(st).time_cap_reached);

    shale_expire_cycle(st, ks, NOW, 200);
    EXPECT(shale_keyspace_keys(ks, 0) < left, "the second call deleted nothing");

    run_until_idle(st, ks, NOW, 200, 1000000);
    EXPECT(shale_keyspace_keys(ks, 0) == 0, "%llu expired keys left",
           (unsigned long long)shale_keyspace_keys(ks, 0));
    EXPECT(shale_keyspace_expired(ks) == n, "expired %llu of %zu",
           (unsigned long long)shale_keyspace_expired(ks), n);
    struct expire_stats s = stats_of(st);
    EXPECT(s.time_cap_reached + 1 == s.cycles, "%llu cycles, %llu capped: only the last is not",
           (unsigned long long)s.cycles, (unsigned long long)s.time_cap_reached);

    /* Resuming, not restarting: a paced pass over 1M live keys in small
     * slices visits each about once. */
    add_keys(ks, 0, "later", 0, n, NOW + 3600000);
    uint64_t before = stats_of(st).scanned, passes = stats_of(st).passes;
    shale_expire_cycle(st, ks, NOW, 200); /* the pass starts at NOW */
    int calls = 1;
    while (stats_of(st).passes == passes && calls < 1000000) {
        shale_expire_cycle(st, ks, NOW + PASS_MS, 200);
        calls++;
    }
    uint64_t visits = stats_of(st).scanned - before;
    EXPECT(calls > 2 && visits >= n && visits <= n + n / 10,
           "a pass took %d calls and %llu visits for %zu keys", calls, (unsigned long long)visits,
           n);
    EXPECT(shale_keyspace_keys(ks, 0) == n, "live keys deleted: %llu left of %zu",
           (unsigned long long)shale_keyspace_keys(ks, 0), n);

    shale_expire_destroy(st);
    shale_keyspace_destroy(ks);
}

/* Keys come and go between calls (the table grows, then shrinks, under the
 * cycle's feet); every key that has expired is still found. */
static void test_all_expired_go_while_table_resizes(void **state)
{
    struct keyspace *ks = shale_keyspace_create(DATABASES, 5);
    struct expire_state *st = shale_expire_create(DATABASES);
    char buf[32];
    const int64_t now = NOW + 1000;
    add_keys(ks, 0, "dead", 0, 20000, now);
    add_keys(ks, 0, "later", 0, 20000, now + 3600000);
    add_keys(ks, 0, "plain", 0, 20000, KOBJ_NO_EXPIRE);

    /* Grow: 100 calls of one batch each, 2,000 new keys between them. */
    for (size_t round = 0; round < 100; round++) {
        shale_expire_cycle(st, ks, now, 0);
        add_keys(ks, 0, "dead2", round * 1000, round * 1000 + 1000, now - 5);
        add_keys(ks, 0, "grow", round * 1000, round * 1000 + 1000, KOBJ_NO_EXPIRE);
    }
    /* Shrink: delete most of the plain keys again, between calls. */
    for (size_t round = 0; round < 100; round++) {
        shale_expire_cycle(st, ks, now, 0);
        for (size_t i = round * 1000; i < round * 1000 + 950; i++)
            EXPECT(shale_keyspace_delete(ks, 0, key_of(buf, "grow", i)) == 1, "grow:%zu missing",
                   i);
    }
    for (size_t i = 0; i < 19000; i++)
        EXPECT(shale_keyspace_delete(ks, 0, key_of(buf, "plain", i)) == 1, "plain:%zu missing", i);

    /* With nothing changing any more, one whole pass must find the rest. */
    uint64_t passes = stats_of(st).passes;
    int calls = 0;
    while (stats_of(st).passes < passes + 2 && calls < 1000000) {
        shale_expire_cycle(st, ks, now, 0);
        calls++;
    }
    EXPECT(stats_of(st).passes >= passes + 2, "no two passes in %d calls", calls);
    EXPECT(count_present(ks, 0, "dead", 0, 20000) == 0, "dead keys left: %zu",
           count_present(ks, 0, "dead", 0, 20000));
    EXPECT(count_present(ks, 0, "dead2", 0, 100000) == 0, "dead2 keys left: %zu",
           count_present(ks, 0, "dead2", 0, 100000));
    EXPECT(count_present(ks, 0, "later", 0, 20000) == 20000, "later keys: %zu of 20000",
           count_present(ks, 0, "later", 0, 20000));
    EXPECT(count_present(ks, 0, "plain", 19000, 20000) == 1000, "plain keys: %zu of 1000",
           count_present(ks, 0, "plain", 19000, 20000));
    EXPECT(shale_keyspace_keys(ks, 0) == 20000 + 1000 + 5000, "%llu keys left, expected 26000",
           (unsigned long long)shale_keyspace_keys(ks, 0));
    EXPECT(shale_keyspace_expired(ks) == 120000, "expired %llu, expected 120000",
           (unsigned long long)shale_keyspace_expired(ks));

    shale_expire_destroy(st);
    shale_keyspace_destroy(ks);
}

static void test_stats(void **state)
{
    struct keyspace *ks = shale_keyspace_create(DATABASES, 6);
    struct expire_state *st = shale_expire_create(DATABASES);
    struct expire_stats s = stats_of(st);
    EXPECT(s.cycles == 0 && s.stale_perc == 0.0 && s.time_cap_reached == 0,
           "fresh stats: %llu cycles, stale %f, %llu capped", (unsigned long long)s.cycles,
           s.stale_perc, (unsigned long long)s.time_cap_reached);

    /* Every key sampled is expired: the estimate moves 5% of the way to 1. */
    add_keys(ks, 2, "dead", 0, 300, NOW - 1);
    run_until_idle(st, ks, NOW, FOREVER, 1);
    s = stats_of(st);
    EXPECT(s.cycles == 1 && s.time_cap_reached == 0, "%llu cycles, %llu capped, expected 1, 0",
           (unsigned long long)s.cycles, (unsigned long long)s.time_cap_reached);
    EXPECT(s.sampled == 300 && s.expired == 300 && s.scanned == 300 && s.passes == 1,
           "sampled %llu, expired %llu, scanned %llu, passes %llu; expected 300, 300, 300, 1",
           (unsigned long long)s.sampled, (unsigned long long)s.expired,
           (unsigned long long)s.scanned, (unsigned long long)s.passes);
    EXPECT(s.stale_perc > 0.0499 && s.stale_perc < 0.0501, "stale estimate %f, expected 0.05",
           s.stale_perc);

    /* Nothing sampled counts as 0% (Redis's rule): the estimate decays. */
    shale_expire_cycle(st, ks, NOW, FOREVER);
    s = stats_of(st);
    EXPECT(s.stale_perc > 0.0474 && s.stale_perc < 0.0476, "stale estimate %f, expected 0.0475",
           s.stale_perc);

    /* Half expired: one pass samples both halves (a few live keys twice,
     * where a slice ends inside a bucket). */
    add_keys(ks, 2, "dead", 0, 1000, NOW - 1);
    add_keys(ks, 2, "later", 0, 1000, NOW + 3600000);
    run_until_idle(st, ks, NOW, FOREVER, 1);
    s = stats_of(st);
    double lo = 0.45 * 0.05 + 0.0475 * 0.95, hi = 0.5 * 0.05 + 0.0475 * 0.95;
    EXPECT(shale_keyspace_keys(ks, 2) == 1000, "%llu keys left, expected 1000",
           (unsigned long long)shale_keyspace_keys(ks, 2));
    EXPECT(s.stale_perc > lo && s.stale_perc <= hi + 1e-9, "stale estimate %f, expected %f..%f",
           s.stale_perc, lo, hi);

    /* A call that runs out of budget counts once. */
    add_keys(ks, 2, "dead", 0, 100000, NOW - 1);
    EXPECT(shale_expire_cycle(st, ks, NOW, 0) == 1, "a zero budget did everything");
    s = stats_of(st);
    EXPECT(s.time_cap_reached == 1 && s.cycles == 4, "%llu capped of %llu cycles, expected 1 of 4",
           (unsigned long long)s.time_cap_reached, (unsigned long long)s.cycles);

    shale_expire_destroy(st);
    shale_keyspace_destroy(ks);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expired_keys_go_without_lookup),
        cmocka_unit_test(test_idle_work_is_small),
        cmocka_unit_test(test_pass_is_paced),
        cmocka_unit_test(test_budget_is_respected_and_work_resumes),
        cmocka_unit_test(test_all_expired_go_while_table_resizes),
        cmocka_unit_test(test_stats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
