/* test_defrag_governor: unit tests for the pure parts of the defrag
 * governor (server/defrag_governor.c): the CPU target follows Redis's
 * computeDefragCycles (thresholds, ignore-bytes, interpolation, clamping,
 * never lower while a cycle runs), and the split of the shared target gives
 * each shard its part by fragmented bytes, capped, the excess passed on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "server/defrag_governor.h"

#define EXPECT(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fail_msg(__VA_ARGS__);                                                                 \
    } while (0)

#define MB (1024ULL * 1024)

static const struct defrag_params redis_defaults = {
    .enabled = 1,
    .threshold_lower = 10,
    .threshold_upper = 100,
    .cycle_min = 1,
    .cycle_max = 25,
    .ignore_bytes = 100 * MB,
};

static void test_cpu_target_thresholds(void **state)
{
    const struct defrag_params *p = &redis_defaults;
    /* Below threshold-lower, or too few bytes: do not start. */
    assert_int_equal(shale_defrag_governor_cpu_pct(p, 9.9, 500 * MB, 0), 0);
    assert_int_equal(shale_defrag_governor_cpu_pct(p, 50, 99 * MB, 0), 0);
    /* At the lower threshold: cycle-min; at or past the upper: cycle-max. */
    assert_int_equal(shale_defrag_governor_cpu_pct(p, 10, 200 * MB, 0), 1);
    assert_int_equal(shale_defrag_governor_cpu_pct(p, 100, 200 * MB, 0), 25);
    assert_int_equal(shale_defrag_governor_cpu_pct(p, 400, 200 * MB, 0), 25);
    /* In between: Redis's INTERPOLATE, truncated: 1 + 45 * 24 / 90 = 13. */
    assert_int_equal(shale_defrag_governor_cpu_pct(p, 55, 200 * MB, 0), 13);
    /* Disabled: nothing, whatever the fragmentation. */
    struct defrag_params off = *p;
    off.enabled = 0;
    assert_int_equal(shale_defrag_governor_cpu_pct(&off, 400, 900 * MB, 0), 0);
}

static void test_cpu_target_running(void **state)
{
    const struct defrag_params *p = &redis_defaults;
    /* A cycle in progress at 13% keeps 13% when the fragmentation drops,
     * even below the thresholds, and may rise. */
    assert_int_equal(shale_defrag_governor_cpu_pct(p, 5, 1 * MB, 13), 13);
    assert_int_equal(shale_defrag_governor_cpu_pct(p, 30, 150 * MB, 13), 13);
    assert_int_equal(shale_defrag_governor_cpu_pct(p, 90, 150 * MB, 13), 22);
}

static void test_cpu_target_odd_settings(void **state)
{
    /* upper <= lower would divide by zero in Redis's macro: cycle-max. */
    struct defrag_params p = redis_defaults;
    p.threshold_upper = p.threshold_lower;
    assert_int_equal(shale_defrag_governor_cpu_pct(&p, 10, 200 * MB, 0), 25);
    /* cycle-min above cycle-max: Redis's LIMIT() checks min first (the
     * split still caps each shard at cycle-max). */
    p = redis_defaults;
    p.cycle_min = 30;
    p.cycle_max = 20;
    assert_int_equal(shale_defrag_governor_cpu_pct(&p, 50, 200 * MB, 0), 30);
}

static void expect_split(uint64_t pool, const uint64_t *w, int n, uint32_t cap,
                         const uint32_t *want)
{
    uint32_t out[8];
    shale_defrag_governor_split(pool, w, n, cap, out);
    for (int i = 0; i < n; i++)
        EXPECT(out[i] == want[i], "pool %llu cap %u: shard %d got %u, expected %u",
               (unsigned long long)pool, cap, i, out[i], want[i]);
}

static void test_split(void **state)
{
    /* One fragmented shard of 4: the whole pool, up to the cap. */
    const uint64_t one[] = {0, 0, 300 * MB, 0};
    expect_split(4 * 500, one, 4, 2500, (const uint32_t[]){0, 0, 2000, 0});
    expect_split(4 * 2500, one, 4, 2500, (const uint32_t[]){0, 0, 2500, 0});
    /* Proportional to fragmented bytes. */
    const uint64_t three[] = {100, 300, 0, 600};
    expect_split(1000, three, 4, 2500, (const uint32_t[]){100, 300, 0, 600});
    /* A capped shard's excess goes to the others, by weight. */
    const uint64_t skew[] = {900, 50, 50};
    expect_split(3000, skew, 3, 2000, (const uint32_t[]){2000, 500, 500});
    /* Everyone capped: the pool is not fully spent, nobody exceeds the cap. */
    const uint64_t even[] = {1, 1};
    expect_split(9000, even, 2, 2500, (const uint32_t[]){2500, 2500});
    /* No weights, or no pool: nothing. */
    const uint64_t none[] = {0, 0, 0};
    expect_split(3000, none, 3, 2500, (const uint32_t[]){0, 0, 0});
    expect_split(0, three, 4, 2500, (const uint32_t[]){0, 0, 0, 0});
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu_target_thresholds),
        cmocka_unit_test(test_cpu_target_running),
        cmocka_unit_test(test_cpu_target_odd_settings),
        cmocka_unit_test(test_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
