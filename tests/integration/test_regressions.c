/*
 * Regression tests, over the wire, for bugs the fuzzers found on the request
 * path (tests/fuzz/; their inputs are kept as tests/fuzz/corpus/<target>/
 * regress-*). Each also runs against redis-server: the replies are Redis's.
 * Pure-module regressions live in tests/unit/test_fuzz_regressions.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>

#include <cmocka.h>

#include "tests/support/reply.h"
#include "tests/support/server.h"

static struct test_server *server;
static redisContext *c;

static int group_setup(void **state)
{
    /* Several shards, so that keys of one command land on different ones. */
    static const char *const shale_args[] = {"--shards", "3", NULL};
    static const char *const redis_args[] = {"--enable-debug-command", "yes", NULL};
    server = shale_test_server_start(shale_test_server_is_redis() ? redis_args : NULL, shale_args);
    return server != NULL ? 0 : -1;
}

static int group_teardown(void **state)
{
    return shale_test_server_stop(server);
}

static int test_setup(void **state)
{
    return shale_test_begin(server, &c);
}

static int test_teardown(void **state)
{
    return shale_test_end(server, &c);
}

/*
 * fuzz_commands: MSET with an odd number of arguments whose keys hash to
 * different shards was split by pairs before the handler could refuse it,
 * and the split read one value past the end of argv (ASan: heap overflow).
 * The router now refuses it first, with Redis's error, and stores nothing.
 */
static void test_mset_odd_arguments_across_shards(void **state)
{
    shale_test_assert_error(c, "ERR wrong number of arguments for 'mset' command",
                            "MSET a 1 b 2 c");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'mset' command",
                            "MSET {x}a 1 {y}b");
    shale_test_assert_int(c, 0, "EXISTS a b c {x}a {y}b");
    shale_test_assert_status(c, "OK", "MSET a 1 b 2 c 3");
    shale_test_assert_int(c, 3, "EXISTS a b c");
}

/* fuzz_commands: DEBUG SLEEP nan converted nan to an integer (undefined
 * behaviour); values that do not sleep answer at once. */
static void test_debug_sleep_non_positive(void **state)
{
    long long t0 = shale_test_now_ms();
    shale_test_assert_status(c, "OK", "DEBUG SLEEP nan");
    shale_test_assert_status(c, "OK", "DEBUG SLEEP -1");
    shale_test_assert_status(c, "OK", "DEBUG SLEEP 0");
    assert_true(shale_test_now_ms() - t0 < 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_mset_odd_arguments_across_shards, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_debug_sleep_non_positive, test_setup, test_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
