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
    static const char *const debug_args[] = {"--enable-debug-command", "yes", NULL};
    server = shale_test_server_start(debug_args, shale_args);
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

/* Appends one command to c's output buffer without reading its reply. */
static void pipeline(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    assert_int_equal(redisvAppendCommand(c, fmt, ap), REDIS_OK);
    va_end(ap);
}

static void expect_next_int(long long expected, const char *what)
{
    redisReply *r = shale_test_next_reply(c);
    shale_test_expect_int(r, expected, what);
    freeReplyObject(r);
}

/*
 * fuzz_commands: an atomic batch sent the first round of a command that
 * runs in rounds (MSETNX across shards: COUNT, then SET) and then, at
 * once, the requests queued behind it, so a pipelined EXISTS reached the
 * shards between the two rounds and saw none of the keys MSETNX had
 * answered 1 for. What follows such a command now waits for its last round.
 */
static void test_pipelined_reads_see_msetnx(void **state)
{
    for (int i = 0; i < 200; i++) {
        pipeline("MSETNX {a}k%d 1 {b}k%d 1 {c}k%d 1", i, i, i);
        pipeline("EXISTS {a}k%d {b}k%d {c}k%d", i, i, i);
        pipeline("DEL {a}k%d {b}k%d {c}k%d", i, i, i);
    }
    for (int i = 0; i < 200; i++) {
        expect_next_int(1, "MSETNX");
        expect_next_int(3, "EXISTS right after MSETNX");
        expect_next_int(3, "DEL");
    }
}

/*
 * EXEC kept one request slot per queued command until its reply was
 * complete: a transaction of more commands than the pool has slots
 * (io-thread-requests, 4096) aborted the server. EXEC now sends its queue
 * in windows that fit the pool and frees each window when it is back.
 * A nested MSETNX sent in a later window also started at EXEC's round
 * instead of its own first one, and answered 1 without setting anything.
 */
static void test_exec_larger_than_the_request_pool(void **state)
{
    enum { QUEUED = 10000 };
    pipeline("MULTI");
    for (int i = 0; i < QUEUED; i++)
        pipeline("SET big:%d %d", i, i);
    pipeline("MSETNX {a}n 1 {b}n 2 {c}n 3");
    pipeline("EXEC");
    pipeline("DBSIZE");
    redisReply *r = shale_test_next_reply(c);
    shale_test_expect_status(r, "OK", "MULTI");
    freeReplyObject(r);
    for (int i = 0; i <= QUEUED; i++) {
        r = shale_test_next_reply(c);
        shale_test_expect_status(r, "QUEUED", "a queued command");
        freeReplyObject(r);
    }
    r = shale_test_next_reply(c);
    shale_test_expect_array(r, QUEUED + 1, "EXEC");
    shale_test_expect_status(r->element[QUEUED - 1], "OK", "the last SET");
    shale_test_expect_int(r->element[QUEUED], 1, "MSETNX inside EXEC");
    freeReplyObject(r);
    expect_next_int(QUEUED + 3, "DBSIZE after EXEC");
    shale_test_assert_bulk(c, "2", "GET {b}n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_mset_odd_arguments_across_shards, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_debug_sleep_non_positive, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_pipelined_reads_see_msetnx, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_exec_larger_than_the_request_pool, test_setup,
                                        test_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
