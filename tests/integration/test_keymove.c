/*
 * RENAME, RENAMENX, COPY and MSETNX: Redis 7.0's replies and errors, for
 * keys on one shard ({tag} keys) and keys on different shards (the
 * coordinated path), with strings and hashes of both encodings, TTLs kept.
 * The server runs with --shards 4 (shale only); the same test passes
 * against redis-server.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <setjmp.h>

#include <cmocka.h>

#include "tests/support/reply.h"
#include "tests/support/server.h"

static struct test_server *server;

static int group_setup(void **state)
{
    static const char *const shale_args[] = {"--shards", "4", NULL};
    server = shale_test_server_start(NULL, shale_args);
    return server != NULL ? 0 : -1;
}

static int group_teardown(void **state)
{
    return shale_test_server_stop(server);
}

static int test_setup(void **state)
{
    redisContext *c;
    if (shale_test_begin(server, &c) != 0)
        return -1;
    *state = c;
    return 0;
}

static int test_teardown(void **state)
{
    redisContext *c = *state;
    return shale_test_end(server, &c);
}

/* Pairs of names: the first pair shares a hash tag (one shard); the others
 * are plain names, most of them on different shards of four. */
static const char *const pairs[][2] = {
    {"{t}src", "{t}dst"}, {"src:a", "dst:b"}, {"alpha", "omega"}, {"k1", "k2"}, {"user:1", "x"},
};
#define NPAIRS (sizeof(pairs) / sizeof(pairs[0]))

/* A TTL in (0, 100000] ms, as PTTL reports it. */
static void assert_ttl_kept(redisContext *c, const char *key)
{
    redisReply *r = shale_test_command(c, "PTTL %s", key);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    if (r->integer <= 0 || r->integer > 100000)
        fail_msg("PTTL %s = %lld, want the TTL carried over", key, r->integer);
    freeReplyObject(r);
}

static void test_rename_moves_value_and_ttl(void **state)
{
    redisContext *c = *state;
    for (size_t i = 0; i < NPAIRS; i++) {
        const char *a = pairs[i][0], *b = pairs[i][1];
        shale_test_assert_error(c, "ERR no such key", "RENAME %s %s", a, b);
        shale_test_assert_status(c, "OK", "SET %s value-%d PX 100000", a, (int)i);
        shale_test_assert_status(c, "OK", "SET %s old", b);
        shale_test_assert_status(c, "OK", "RENAME %s %s", a, b);
        shale_test_assert_int(c, 0, "EXISTS %s", a);
        char want[32];
        snprintf(want, sizeof(want), "value-%zu", i);
        shale_test_assert_bulk(c, want, "GET %s", b);
        assert_ttl_kept(c, b);
        /* Renaming a key to itself keeps it. */
        shale_test_assert_status(c, "OK", "RENAME %s %s", b, b);
        shale_test_assert_bulk(c, want, "GET %s", b);
    }
}

static void test_rename_hash_of_both_encodings(void **state)
{
    redisContext *c = *state;
    for (size_t i = 0; i < NPAIRS; i++) {
        const char *a = pairs[i][0], *b = pairs[i][1];
        shale_test_assert_int(c, 2, "HSET %s f1 v1 f2 v2", a);
        shale_test_assert_status(c, "OK", "RENAME %s %s", a, b);
        shale_test_assert_bulk(c, "v2", "HGET %s f2", b);
        shale_test_assert_int(c, 2, "HLEN %s", b);
        shale_test_assert_bulk(c, "listpack", "OBJECT ENCODING %s", b);
        /* 600 fields: the table encoding (Debian's redis-server converts at 512). */
        for (int f = 0; f < 600; f++)
            freeReplyObject(shale_test_command(c, "HSET %s field%d value%d", b, f, f));
        shale_test_assert_status(c, "OK", "RENAME %s %s", b, a);
        shale_test_assert_int(c, 602, "HLEN %s", a);
        shale_test_assert_bulk(c, "value150", "HGET %s field150", a);
        shale_test_assert_bulk(c, "hashtable", "OBJECT ENCODING %s", a);
        shale_test_assert_int(c, 1, "DEL %s", a);
    }
}

static void test_renamenx(void **state)
{
    redisContext *c = *state;
    for (size_t i = 0; i < NPAIRS; i++) {
        const char *a = pairs[i][0], *b = pairs[i][1];
        shale_test_assert_error(c, "ERR no such key", "RENAMENX %s %s", a, b);
        shale_test_assert_status(c, "OK", "SET %s one", a);
        shale_test_assert_status(c, "OK", "SET %s two", b);
        shale_test_assert_int(c, 0, "RENAMENX %s %s", a, b);
        shale_test_assert_bulk(c, "one", "GET %s", a);
        shale_test_assert_bulk(c, "two", "GET %s", b);
        shale_test_assert_int(c, 0, "RENAMENX %s %s", a, a);
        shale_test_assert_int(c, 1, "DEL %s", b);
        shale_test_assert_int(c, 1, "RENAMENX %s %s", a, b);
        shale_test_assert_int(c, 0, "EXISTS %s", a);
        shale_test_assert_bulk(c, "one", "GET %s", b);
        shale_test_assert_int(c, 1, "DEL %s", b);
    }
}

static void test_copy(void **state)
{
    redisContext *c = *state;
    for (size_t i = 0; i < NPAIRS; i++) {
        const char *a = pairs[i][0], *b = pairs[i][1];
        shale_test_assert_int(c, 0, "COPY %s %s", a, b);
        shale_test_assert_status(c, "OK", "SET %s original PX 100000", a);
        shale_test_assert_int(c, 1, "COPY %s %s", a, b);
        shale_test_assert_bulk(c, "original", "GET %s", a);
        shale_test_assert_bulk(c, "original", "GET %s", b);
        assert_ttl_kept(c, b);
        shale_test_assert_status(c, "OK", "SET %s changed", a);
        shale_test_assert_int(c, 0, "COPY %s %s", a, b);
        shale_test_assert_bulk(c, "original", "GET %s", b);
        shale_test_assert_int(c, 1, "COPY %s %s REPLACE", a, b);
        shale_test_assert_bulk(c, "changed", "GET %s", b);
        /* Into another database, even under the same name. */
        shale_test_assert_int(c, 1, "COPY %s %s DB 3", a, a);
        shale_test_assert_status(c, "OK", "SELECT 3");
        shale_test_assert_bulk(c, "changed", "GET %s", a);
        shale_test_assert_int(c, 1, "DEL %s", a);
        shale_test_assert_status(c, "OK", "SELECT 0");
        shale_test_assert_int(c, 2, "DEL %s %s", a, b);
    }
    shale_test_assert_status(c, "OK", "SET src x");
    shale_test_assert_error(c, "ERR source and destination objects are the same", "COPY src src");
    shale_test_assert_error(c, "ERR syntax error", "COPY src dst REPLACE bogus");
    shale_test_assert_error(c, "ERR DB index is out of range", "COPY src dst DB 99");
    shale_test_assert_error(c, "ERR value is not an integer or out of range", "COPY src dst DB x");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'copy' command", "COPY src");
}

static void test_msetnx(void **state)
{
    redisContext *c = *state;
    shale_test_assert_int(c, 1, "MSETNX a 1 b 2 c 3 {t}d 4 {t}e 5");
    shale_test_assert_int(c, 0, "MSETNX x 9 a 10 y 11");
    shale_test_assert_int(c, 0, "EXISTS x y");
    shale_test_assert_bulk(c, "1", "GET a");
    shale_test_assert_int(c, 1, "MSETNX {t}f 6 {t}g 7");
    shale_test_assert_int(c, 0, "MSETNX {t}g 8 {t}h 9");
    shale_test_assert_int(c, 7, "EXISTS a b c {t}d {t}e {t}f {t}g");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'msetnx' command",
                            "MSETNX a 1 b");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'msetnx' command", "MSETNX a");
    /* A key with a TTL loses it, like MSET. */
    shale_test_assert_status(c, "OK", "SET ttl:k v EX 100");
    shale_test_assert_int(c, 1, "DEL ttl:k");
    shale_test_assert_int(c, 1, "MSETNX ttl:k v2 other:k v3");
    shale_test_assert_int(c, -1, "TTL ttl:k");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rename_moves_value_and_ttl, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_rename_hash_of_both_encodings, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_renamenx, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_copy, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_msetnx, test_setup, test_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
