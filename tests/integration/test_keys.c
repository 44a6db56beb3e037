/*
 * Keyspace commands over the wire: DEL, EXISTS, TYPE, EXPIRE/PEXPIRE and
 * their options, TTL/PTTL, PERSIST, lazy expiry, DBSIZE, FLUSHDB, FLUSHALL.
 * Replies and error texts are Redis 7.0's.
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
static redisContext *c; /* fresh per test, on db 0 */

static int group_setup(void **state)
{
    server = shale_test_server_start(NULL, NULL);
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

static void assert_ttl_between(const char *cmd, const char *key, long long lo, long long hi)
{
    long long ttl = shale_test_command_int(c, "%s %s", cmd, key);
    if (ttl < lo || ttl > hi) {
        fail_msg("%s %s = %lld, expected %lld..%lld", cmd, key, ttl, lo, hi);
    }
}

static void test_del_exists(void **state)
{
    shale_test_assert_status(c, "OK", "MSET a 1 b 2 c 3");
    shale_test_assert_int(c, 1, "EXISTS a");
    shale_test_assert_int(c, 0, "EXISTS z");
    /* Duplicates count once per mention. */
    shale_test_assert_int(c, 3, "EXISTS a a b z");
    shale_test_assert_int(c, 4, "EXISTS a a a c");
    /* DEL counts keys actually removed: a repeated key only once. */
    shale_test_assert_int(c, 2, "DEL a b z a");
    shale_test_assert_int(c, 1, "EXISTS a b c");
    shale_test_assert_int(c, 0, "DEL a");
    shale_test_assert_int(c, 1, "DEL c");
    shale_test_assert_int(c, 0, "EXISTS a b c");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'del' command", "DEL");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'exists' command", "EXISTS");
}

static void test_del_exists_many_keys(void **state)
{
    /* Keys spread over every shard. */
    enum { N = 200 };
    const char *argv[N + 1];
    char names[N][32];
    argv[0] = "EXISTS";
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "user:%d:%x", i, i * 2654435761u);
        argv[i + 1] = names[i];
        if (i % 2 == 0) {
            shale_test_assert_status(c, "OK", "SET %s %d", names[i], i);
        }
    }
    redisReply *r = shale_test_command_argv(c, N + 1, argv, NULL);
    shale_test_expect_int(r, N / 2, "EXISTS <200 keys>");
    freeReplyObject(r);
    argv[0] = "DEL";
    r = shale_test_command_argv(c, N + 1, argv, NULL);
    shale_test_expect_int(r, N / 2, "DEL <200 keys>");
    freeReplyObject(r);
    shale_test_assert_int(c, 0, "DBSIZE");
}

static void test_type(void **state)
{
    shale_test_assert_status(c, "OK", "SET s v");
    shale_test_assert_status(c, "OK", "SET n 42");
    shale_test_assert_status(c, "string", "TYPE s");
    shale_test_assert_status(c, "string", "TYPE n");
    shale_test_assert_status(c, "none", "TYPE missing");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'type' command", "TYPE");
}

static void test_expire_pexpire(void **state)
{
    shale_test_assert_status(c, "OK", "SET k v");
    shale_test_assert_int(c, 1, "EXPIRE k 100");
    assert_ttl_between("TTL", "k", 99, 100);
    assert_ttl_between("PTTL", "k", 99000, 100000);
    shale_test_assert_int(c, 1, "PEXPIRE k 50000");
    assert_ttl_between("PTTL", "k", 49000, 50000);
    assert_ttl_between("TTL", "k", 49, 50);
    shale_test_assert_int(c, 0, "EXPIRE missing 100");
    shale_test_assert_int(c, 0, "PEXPIRE missing 100");
    shale_test_assert_int(c, 0, "EXISTS missing");
    /* A TTL of zero or less deletes at once, and still answers 1. */
    shale_test_assert_int(c, 1, "EXPIRE k 0");
    shale_test_assert_int(c, 0, "EXISTS k");
    shale_test_assert_status(c, "OK", "SET k v");
    shale_test_assert_int(c, 1, "PEXPIRE k -1");
    shale_test_assert_int(c, 0, "EXISTS k");

    shale_test_assert_status(c, "OK", "SET k v");
    shale_test_assert_error(c, "ERR value is not an integer or out of range", "EXPIRE k x");
    shale_test_assert_error(c, "ERR value is not an integer or out of range", "EXPIRE k 1.5");
    shale_test_assert_error(c, "ERR invalid expire time in 'expire' command",
                            "EXPIRE k 9223372036854775807");
    shale_test_assert_error(c, "ERR invalid expire time in 'expire' command",
                            "EXPIRE k 9223372036854775");
    shale_test_assert_error(c, "ERR invalid expire time in 'pexpire' command",
                            "PEXPIRE k 9223372036854775807");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'expire' command", "EXPIRE k");
    shale_test_assert_int(c, -1, "TTL k");
}

static void test_expire_options(void **state)
{
    shale_test_assert_status(c, "OK", "SET k v");
    shale_test_assert_int(c, 0, "EXPIRE k 100 XX"); /* no TTL yet */
    shale_test_assert_int(c, 1, "EXPIRE k 100 NX");
    shale_test_assert_int(c, 0, "EXPIRE k 200 NX");
    shale_test_assert_int(c, 1, "EXPIRE k 200 XX");
    shale_test_assert_int(c, 0, "EXPIRE k 100 GT");
    shale_test_assert_int(c, 1, "EXPIRE k 300 GT");
    shale_test_assert_int(c, 0, "EXPIRE k 400 LT");
    shale_test_assert_int(c, 1, "PEXPIRE k 250000 lt");
    assert_ttl_between("TTL", "k", 249, 250);
    shale_test_assert_error(c, "ERR Unsupported option FOO", "EXPIRE k 10 FOO");
    shale_test_assert_error(c,
                            "ERR NX and XX, GT or LT options at the same time are not compatible",
                            "EXPIRE k 10 NX XX");
    shale_test_assert_error(c, "ERR GT and LT options at the same time are not compatible",
                            "EXPIRE k 10 GT LT");
    assert_ttl_between("TTL", "k", 249, 250);
}

static void test_ttl_pttl(void **state)
{
    shale_test_assert_int(c, -2, "TTL missing");
    shale_test_assert_int(c, -2, "PTTL missing");
    shale_test_assert_status(c, "OK", "SET k v");
    shale_test_assert_int(c, -1, "TTL k");
    shale_test_assert_int(c, -1, "PTTL k");
    shale_test_assert_status(c, "OK", "SET k v PX 1500");
    /* TTL rounds to the nearest second. */
    assert_ttl_between("TTL", "k", 1, 2);
    assert_ttl_between("PTTL", "k", 1000, 1500);
    shale_test_assert_error(c, "ERR wrong number of arguments for 'ttl' command", "TTL");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'pttl' command", "PTTL a b");
}

static void test_persist(void **state)
{
    shale_test_assert_status(c, "OK", "SET k v EX 100");
    shale_test_assert_int(c, 1, "PERSIST k");
    shale_test_assert_int(c, -1, "TTL k");
    shale_test_assert_int(c, 0, "PERSIST k");
    shale_test_assert_int(c, 0, "PERSIST missing");
    shale_test_assert_bulk(c, "v", "GET k");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'persist' command", "PERSIST");
}

static void test_lazy_expiry(void **state)
{
    shale_test_assert_status(c, "OK", "SET gone v PX 50");
    shale_test_assert_status(c, "OK", "SET gone2 v PX 50");
    shale_test_assert_status(c, "OK", "SET gone3 v");
    shale_test_assert_int(c, 1, "PEXPIRE gone3 50");
    shale_test_assert_status(c, "OK", "SET stays v PX 100000");
    shale_test_sleep_ms(120);
    shale_test_assert_nil(c, "GET gone");
    shale_test_assert_int(c, 0, "EXISTS gone2");
    shale_test_assert_int(c, -2, "TTL gone3");
    shale_test_assert_status(c, "none", "TYPE gone3");
    shale_test_assert_int(c, 0, "DEL gone2");
    shale_test_assert_int(c, 0, "PERSIST gone");
    shale_test_assert_bulk(c, "v", "GET stays");
    /* An expired key can be set again and starts with no TTL. */
    shale_test_assert_int(c, 1, "SETNX gone fresh");
    shale_test_assert_int(c, -1, "TTL gone");
    shale_test_assert_int(c, 1, "INCR gone2");
    shale_test_assert_int(c, 5, "APPEND gone3 hello");
    shale_test_assert_bulk(c, "hello", "GET gone3");
}

static void test_set_resets_ttl(void **state)
{
    shale_test_assert_status(c, "OK", "SET k v EX 100");
    shale_test_assert_status(c, "OK", "SET k w");
    shale_test_assert_int(c, -1, "TTL k");
    shale_test_assert_status(c, "OK", "SET k v PX 60");
    shale_test_assert_status(c, "OK", "SET k w");
    shale_test_sleep_ms(100);
    shale_test_assert_bulk(c, "w", "GET k");
}

static void test_dbsize(void **state)
{
    shale_test_assert_int(c, 0, "DBSIZE");
    shale_test_assert_status(c, "OK", "MSET a 1 b 2 c 3");
    shale_test_assert_int(c, 3, "DBSIZE");
    shale_test_assert_status(c, "OK", "SET a again");
    shale_test_assert_int(c, 3, "DBSIZE");
    shale_test_assert_int(c, 1, "DEL b");
    shale_test_assert_int(c, 2, "DBSIZE");
    shale_test_assert_status(c, "OK", "SELECT 1");
    shale_test_assert_int(c, 0, "DBSIZE");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'dbsize' command", "DBSIZE x");
}

static void test_flushdb(void **state)
{
    shale_test_assert_status(c, "OK", "MSET a 1 b 2");
    shale_test_assert_status(c, "OK", "SELECT 1");
    shale_test_assert_status(c, "OK", "MSET a 1 b 2 c 3");
    shale_test_assert_status(c, "OK", "FLUSHDB");
    shale_test_assert_int(c, 0, "DBSIZE");
    shale_test_assert_nil(c, "GET a");
    shale_test_assert_status(c, "OK", "SELECT 0");
    shale_test_assert_int(c, 2, "DBSIZE");
    shale_test_assert_bulk(c, "1", "GET a");
    shale_test_assert_status(c, "OK", "FLUSHDB SYNC");
    shale_test_assert_int(c, 0, "DBSIZE");
    shale_test_assert_status(c, "OK", "FLUSHDB ASYNC");
    shale_test_assert_error(c, "ERR syntax error", "FLUSHDB x");
}

static void test_flushall(void **state)
{
    redisContext *other = shale_test_connect(server);
    shale_test_assert_status(c, "OK", "SET a 1");
    shale_test_assert_status(other, "OK", "SELECT 7");
    shale_test_assert_status(other, "OK", "SET a 1 EX 100");
    shale_test_assert_status(c, "OK", "FLUSHALL");
    shale_test_assert_int(c, 0, "DBSIZE");
    shale_test_assert_int(other, 0, "DBSIZE");
    shale_test_assert_int(other, -2, "TTL a");
    shale_test_assert_status(other, "OK", "SET b 1");
    shale_test_assert_status(c, "OK", "FLUSHALL ASYNC");
    shale_test_assert_int(other, 0, "DBSIZE");
    shale_test_assert_status(c, "OK", "FLUSHALL SYNC");
    shale_test_assert_error(c, "ERR syntax error", "FLUSHALL x");
    redisFree(other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, test_setup, test_teardown)
        T(test_del_exists),     T(test_del_exists_many_keys),
        T(test_type),           T(test_expire_pexpire),
        T(test_expire_options), T(test_ttl_pttl),
        T(test_persist),        T(test_lazy_expiry),
        T(test_set_resets_ttl), T(test_dbsize),
        T(test_flushdb),        T(test_flushall),
#undef T
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
