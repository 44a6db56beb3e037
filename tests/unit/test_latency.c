/* test_latency: the per-I/O-thread latency histograms (server/latency.h):
 * log2 bucket edges (a latency equal to an edge lands in that bucket, as
 * Prometheus's le means "less than or equal"), the +Inf bucket, sums, and
 * adding several threads' histograms. Single-threaded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "server/latency.h"

static void test_bucket_edges(void **state)
{
    assert_int_equal(latency_bucket(0), 0);
    assert_int_equal(latency_bucket(1), 0);
    assert_int_equal(latency_bucket(2), 1);
    assert_int_equal(latency_bucket(3), 2);
    assert_int_equal(latency_bucket(4), 2);
    assert_int_equal(latency_bucket(5), 3);
    assert_int_equal(latency_bucket(1024), 10);
    assert_int_equal(latency_bucket(1025), 11);
    assert_int_equal(latency_bucket(1ULL << 22), 22);
    assert_int_equal(latency_bucket((1ULL << 22) + 1), LATENCY_FINITE_BUCKETS);
    assert_int_equal(latency_bucket(UINT64_MAX), LATENCY_FINITE_BUCKETS);
    for (uint64_t us = 1; us < (1ULL << 23); us = us * 3 + 1) {
        int b = latency_bucket(us);
        if (b < LATENCY_FINITE_BUCKETS) {
            assert_true((double)us / 1e6 <= shale_latency_bucket_seconds(b));
            assert_true(b == 0 || (double)us / 1e6 > shale_latency_bucket_seconds(b - 1));
        }
    }
    assert_true(shale_latency_bucket_seconds(0) == 1e-6);
    assert_true(shale_latency_bucket_seconds(22) == 4.194304);
}

static void test_record_and_add(void **state)
{
    struct latency *a = shale_latency_create(4), *b = shale_latency_create(4);
    latency_record(a, 2, 3);
    latency_record(a, 2, 3);
    latency_record(a, 2, 100);
    latency_record(b, 2, 10000000); /* 10 s: +Inf */
    latency_record(b, 1, 1);
    uint64_t counts[LATENCY_BUCKETS] = {0}, sum = 0;
    shale_latency_add_to(a, 2, counts, &sum);
    shale_latency_add_to(b, 2, counts, &sum);
    assert_int_equal(counts[2], 2);
    assert_int_equal(counts[7], 1);
    assert_int_equal(counts[LATENCY_FINITE_BUCKETS], 1);
    assert_int_equal(sum, 3 + 3 + 100 + 10000000);
    uint64_t total = 0;
    for (int i = 0; i < LATENCY_BUCKETS; i++)
        total += counts[i];
    assert_int_equal(total, 4);
    /* Out-of-range command indexes add nothing. */
    shale_latency_add_to(a, 9, counts, &sum);
    shale_latency_add_to(a, -1, counts, &sum);
    assert_int_equal(sum, 3 + 3 + 100 + 10000000);
    shale_latency_destroy(a);
    shale_latency_destroy(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_edges),
        cmocka_unit_test(test_record_and_add),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
