/*
 * String commands over the wire: GET/SET and every SET option, SETNX, SETEX,
 * PSETEX, GETSET, GETDEL, GETEX, APPEND, STRLEN, GETRANGE, SETRANGE, the
 * INCR family, INCRBYFLOAT, MGET/MSET, binary-safe and 1 MB values.
 * Replies and error texts are Redis 7.0's.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <setjmp.h>

#include <cmocka.h>

#include "tests/support/reply.h"
#include "tests/support/server.h"

#define NOT_INTEGER    "ERR value is not an integer or out of range"
#define NOT_FLOAT      "ERR value is not a valid float"
#define SYNTAX         "ERR syntax error"
#define OVERFLOW       "ERR increment or decrement would overflow"
#define BAD_SET_EXPIRE "ERR invalid expire time in 'set' command"

static struct test_server *server;
static redisContext *c; /* fresh per test */

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

static void assert_ttl_between(const char *key, long long lo, long long hi)
{
    long long ttl = shale_test_command_int(c, "TTL %s", key);
    if (ttl < lo || ttl > hi) {
        fail_msg("TTL %s = %lld, expected %lld..%lld", key, ttl, lo, hi);
    }
}

static void assert_pttl_between(const char *key, long long lo, long long hi)
{
    long long ttl = shale_test_command_int(c, "PTTL %s", key);
    if (ttl < lo || ttl > hi) {
        fail_msg("PTTL %s = %lld, expected %lld..%lld", key, ttl, lo, hi);
    }
}

static long long unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_get_set(void **state)
{
    shale_test_assert_nil(c, "GET k");
    shale_test_assert_status(c, "OK", "SET k v");
    shale_test_assert_bulk(c, "v", "GET k");
    shale_test_assert_status(c, "OK", "SET k %s", "another value");
    shale_test_assert_bulk(c, "another value", "GET k");
    shale_test_assert_status(c, "OK", "SET empty %s", "");
    shale_test_assert_bulk(c, "", "GET empty");
    shale_test_assert_int(c, 1, "EXISTS empty");
    /* Integers are stored as strings and read back as written. */
    shale_test_assert_status(c, "OK", "SET n 12345");
    shale_test_assert_bulk(c, "12345", "GET n");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'get' command", "GET");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'set' command", "SET k");
}

static void test_set_ex_px_exat_pxat(void **state)
{
    shale_test_assert_status(c, "OK", "SET k v EX 100");
    assert_ttl_between("k", 99, 100);
    shale_test_assert_status(c, "OK", "SET k v PX 100000");
    assert_pttl_between("k", 99000, 100000);
    shale_test_assert_status(c, "OK", "SET k v EXAT %lld", (long long)time(NULL) + 100);
    assert_ttl_between("k", 98, 100);
    shale_test_assert_status(c, "OK", "SET k v PXAT %lld", unix_ms() + 100000);
    assert_pttl_between("k", 98000, 100000);
    /* Options are case-insensitive; a repeated option keeps the last value. */
    shale_test_assert_status(c, "OK", "SET k v ex 10 ex 200");
    assert_ttl_between("k", 199, 200);
    shale_test_assert_bulk(c, "v", "GET k");
    /* A time already past stores nothing. */
    shale_test_assert_status(c, "OK", "SET k v EXAT 1");
    shale_test_assert_int(c, 0, "EXISTS k");
    shale_test_assert_status(c, "OK", "SET k v PXAT 1");
    shale_test_assert_int(c, 0, "EXISTS k");
}

static void test_set_nx_xx(void **state)
{
    shale_test_assert_nil(c, "SET k v XX");
    shale_test_assert_int(c, 0, "EXISTS k");
    shale_test_assert_status(c, "OK", "SET k v NX");
    shale_test_assert_nil(c, "SET k w NX");
    shale_test_assert_bulk(c, "v", "GET k");
    shale_test_assert_status(c, "OK", "SET k w XX");
    shale_test_assert_bulk(c, "w", "GET k");
    shale_test_assert_status(c, "OK", "SET k x xx EX 100");
    assert_ttl_between("k", 99, 100);
    shale_test_assert_nil(c, "SET k y nx nx");
}

static void test_set_keepttl(void **state)
{
    shale_test_assert_status(c, "OK", "SET k v EX 100");
    shale_test_assert_status(c, "OK", "SET k v2 KEEPTTL");
    assert_ttl_between("k", 99, 100);
    shale_test_assert_bulk(c, "v2", "GET k");
    /* A plain SET drops the TTL. */
    shale_test_assert_status(c, "OK", "SET k v3");
    shale_test_assert_int(c, -1, "TTL k");
    shale_test_assert_status(c, "OK", "SET new v KEEPTTL");
    shale_test_assert_int(c, -1, "TTL new");
}

static void test_set_get_option(void **state)
{
    shale_test_assert_nil(c, "SET k v GET");
    shale_test_assert_bulk(c, "v", "GET k");
    shale_test_assert_bulk(c, "v", "SET k w GET");
    shale_test_assert_bulk(c, "w", "GET k");
    /* With NX (allowed since 7.0) the old value comes back and nothing is set. */
    shale_test_assert_bulk(c, "w", "SET k x GET NX");
    shale_test_assert_bulk(c, "w", "GET k");
    shale_test_assert_nil(c, "SET n v NX GET");
    shale_test_assert_bulk(c, "v", "GET n");
    shale_test_assert_nil(c, "SET missing v GET XX");
    shale_test_assert_int(c, 0, "EXISTS missing");
    shale_test_assert_bulk(c, "w", "SET k y XX GET EX 100");
    assert_ttl_between("k", 99, 100);
    shale_test_assert_bulk(c, "y", "SET k z GET GET");
}

static void test_set_errors(void **state)
{
    shale_test_assert_error(c, SYNTAX, "SET k v NX XX");
    shale_test_assert_error(c, SYNTAX, "SET k v EX 10 PX 10");
    shale_test_assert_error(c, SYNTAX, "SET k v EX 10 EXAT 10");
    shale_test_assert_error(c, SYNTAX, "SET k v KEEPTTL EX 10");
    shale_test_assert_error(c, SYNTAX, "SET k v PX 10 KEEPTTL");
    shale_test_assert_error(c, SYNTAX, "SET k v FOO");
    shale_test_assert_error(c, SYNTAX, "SET k v EX");
    shale_test_assert_error(c, SYNTAX, "SET k v v2");
    shale_test_assert_error(c, BAD_SET_EXPIRE, "SET k v EX 0");
    shale_test_assert_error(c, BAD_SET_EXPIRE, "SET k v EX -1");
    shale_test_assert_error(c, BAD_SET_EXPIRE, "SET k v PX 0");
    shale_test_assert_error(c, BAD_SET_EXPIRE, "SET k v EXAT 0");
    shale_test_assert_error(c, BAD_SET_EXPIRE, "SET k v PXAT 0");
    /* Seconds that overflow once turned into milliseconds. */
    shale_test_assert_error(c, BAD_SET_EXPIRE, "SET k v EX 9999999999999999");
    shale_test_assert_error(c, BAD_SET_EXPIRE, "SET k v EX 9223372036854775807");
    /* Milliseconds that overflow once the current time is added. */
    shale_test_assert_error(c, BAD_SET_EXPIRE, "SET k v PX 9223372036854775807");
    shale_test_assert_error(c, NOT_INTEGER, "SET k v EX x");
    shale_test_assert_error(c, NOT_INTEGER, "SET k v EX 1.5");
    shale_test_assert_error(c, NOT_INTEGER, "SET k v PX %s", "");
    shale_test_assert_error(c, NOT_INTEGER, "SET k v EX 9223372036854775808");
    shale_test_assert_int(c, 0, "EXISTS k");
}

static void test_setnx_setex_psetex(void **state)
{
    shale_test_assert_int(c, 1, "SETNX k v");
    shale_test_assert_int(c, 0, "SETNX k w");
    shale_test_assert_bulk(c, "v", "GET k");

    shale_test_assert_status(c, "OK", "SETEX s 100 v");
    assert_ttl_between("s", 99, 100);
    shale_test_assert_bulk(c, "v", "GET s");
    shale_test_assert_status(c, "OK", "PSETEX p 100000 v");
    assert_pttl_between("p", 99000, 100000);
    shale_test_assert_bulk(c, "v", "GET p");

    shale_test_assert_error(c, "ERR invalid expire time in 'setex' command", "SETEX s 0 v");
    shale_test_assert_error(c, "ERR invalid expire time in 'setex' command", "SETEX s -1 v");
    shale_test_assert_error(c, "ERR invalid expire time in 'setex' command",
                            "SETEX s 9999999999999999 v");
    shale_test_assert_error(c, "ERR invalid expire time in 'psetex' command", "PSETEX p 0 v");
    shale_test_assert_error(c, "ERR invalid expire time in 'psetex' command",
                            "PSETEX p 9223372036854775807 v");
    shale_test_assert_error(c, NOT_INTEGER, "SETEX s x v");
    shale_test_assert_error(c, NOT_INTEGER, "PSETEX p 10.5 v");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'setex' command", "SETEX s 10");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'setnx' command", "SETNX k");
    /* The failed calls left the keys as they were. */
    assert_ttl_between("s", 98, 100);
    shale_test_assert_bulk(c, "v", "GET s");
}

static void test_getset_getdel(void **state)
{
    shale_test_assert_nil(c, "GETSET k 1");
    shale_test_assert_bulk(c, "1", "GETSET k 2");
    shale_test_assert_bulk(c, "2", "GET k");
    /* GETSET drops the TTL like SET. */
    shale_test_assert_status(c, "OK", "SET t v EX 100");
    shale_test_assert_bulk(c, "v", "GETSET t w");
    shale_test_assert_int(c, -1, "TTL t");

    shale_test_assert_bulk(c, "2", "GETDEL k");
    shale_test_assert_nil(c, "GETDEL k");
    shale_test_assert_int(c, 0, "EXISTS k");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'getset' command", "GETSET k");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'getdel' command", "GETDEL");
}

static void test_getex(void **state)
{
    shale_test_assert_nil(c, "GETEX missing");
    shale_test_assert_nil(c, "GETEX missing EX 10");
    shale_test_assert_int(c, 0, "EXISTS missing");
    shale_test_assert_status(c, "OK", "SET k v");
    shale_test_assert_bulk(c, "v", "GETEX k");
    shale_test_assert_int(c, -1, "TTL k");
    shale_test_assert_bulk(c, "v", "GETEX k EX 100");
    assert_ttl_between("k", 99, 100);
    shale_test_assert_bulk(c, "v", "GETEX k");
    assert_ttl_between("k", 99, 100); /* no option: TTL untouched */
    shale_test_assert_bulk(c, "v", "GETEX k PERSIST");
    shale_test_assert_int(c, -1, "TTL k");
    shale_test_assert_bulk(c, "v", "GETEX k PX 50000");
    assert_pttl_between("k", 49000, 50000);
    shale_test_assert_bulk(c, "v", "GETEX k EXAT %lld", (long long)time(NULL) + 200);
    assert_ttl_between("k", 198, 200);
    shale_test_assert_bulk(c, "v", "GETEX k PXAT %lld", unix_ms() + 300000);
    assert_ttl_between("k", 298, 300);
    /* A time already past deletes the key, after returning it. */
    shale_test_assert_bulk(c, "v", "GETEX k EXAT 1");
    shale_test_assert_int(c, 0, "EXISTS k");

    shale_test_assert_status(c, "OK", "SET k v");
    shale_test_assert_error(c, "ERR invalid expire time in 'getex' command", "GETEX k EX 0");
    shale_test_assert_error(c, "ERR invalid expire time in 'getex' command", "GETEX k EX -5");
    shale_test_assert_error(c, "ERR invalid expire time in 'getex' command", "GETEX k PXAT 0");
    shale_test_assert_error(c, NOT_INTEGER, "GETEX k EX x");
    shale_test_assert_error(c, SYNTAX, "GETEX k EX 10 PX 10");
    shale_test_assert_error(c, SYNTAX, "GETEX k PERSIST 1");
    shale_test_assert_error(c, SYNTAX, "GETEX k EX");
    shale_test_assert_error(c, SYNTAX, "GETEX k KEEPTTL");
    shale_test_assert_error(c, SYNTAX, "GETEX k FOO");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'getex' command", "GETEX");
    shale_test_assert_int(c, -1, "TTL k");
}

static void test_append_strlen(void **state)
{
    shale_test_assert_int(c, 0, "STRLEN k");
    shale_test_assert_int(c, 5, "APPEND k hello");
    shale_test_assert_int(c, 11, "APPEND k %s", " world");
    shale_test_assert_bulk(c, "hello world", "GET k");
    shale_test_assert_int(c, 11, "STRLEN k");
    shale_test_assert_int(c, 11, "APPEND k %s", "");
    /* APPEND keeps the TTL. */
    shale_test_assert_status(c, "OK", "SET t a EX 100");
    shale_test_assert_int(c, 2, "APPEND t b");
    assert_ttl_between("t", 99, 100);
    /* Appending to an integer-looking value gives a string. */
    shale_test_assert_status(c, "OK", "SET n 10");
    shale_test_assert_int(c, 3, "APPEND n 5");
    shale_test_assert_int(c, 106, "INCR n");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'append' command", "APPEND k");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'strlen' command", "STRLEN");
}

static void test_getrange(void **state)
{
    shale_test_assert_status(c, "OK", "SET s %s", "Hello World");
    shale_test_assert_bulk(c, "Hello", "GETRANGE s 0 4");
    shale_test_assert_bulk(c, "World", "GETRANGE s -5 -1");
    shale_test_assert_bulk(c, "Hello World", "GETRANGE s 0 -1");
    shale_test_assert_bulk(c, "Hello World", "GETRANGE s -100 100");
    shale_test_assert_bulk(c, "d", "GETRANGE s -1 -1");
    shale_test_assert_bulk(c, "", "GETRANGE s 5 2");
    shale_test_assert_bulk(c, "", "GETRANGE s 100 200");
    shale_test_assert_bulk(c, "", "GETRANGE s -1 -5");
    /* Redis 7.0 clamps a negative end below the start to 0 (7.2 returns ""). */
    shale_test_assert_bulk(c, "H", "GETRANGE s 0 -100");
    shale_test_assert_bulk(c, "", "GETRANGE missing 0 -1");
    shale_test_assert_status(c, "OK", "SET e %s", "");
    shale_test_assert_bulk(c, "", "GETRANGE e 0 -1");
    shale_test_assert_bulk(c, "", "GETRANGE e 0 0");
    /* Integers are ranged as their decimal text. */
    shale_test_assert_status(c, "OK", "SET n 12345");
    shale_test_assert_bulk(c, "234", "GETRANGE n 1 3");
    shale_test_assert_error(c, NOT_INTEGER, "GETRANGE s x 1");
    shale_test_assert_error(c, NOT_INTEGER, "GETRANGE s 0 1.5");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'getrange' command",
                            "GETRANGE s 0");
}

static void test_setrange(void **state)
{
    /* A missing key is padded with zero bytes up to the offset. */
    shale_test_assert_int(c, 7, "SETRANGE k 5 hi");
    redisReply *r = shale_test_command(c, "GET k");
    shale_test_expect_bulk_len(r, "\0\0\0\0\0hi", 7, "GET k");
    freeReplyObject(r);
    shale_test_assert_int(c, 9, "SETRANGE k 1 abcdefgh");
    r = shale_test_command(c, "GET k");
    shale_test_expect_bulk_len(r, "\0abcdefgh", 9, "GET k");
    freeReplyObject(r);

    shale_test_assert_status(c, "OK", "SET s %s", "Hello World");
    shale_test_assert_int(c, 11, "SETRANGE s 6 Redis");
    shale_test_assert_bulk(c, "Hello Redis", "GET s");
    shale_test_assert_int(c, 13, "SETRANGE s 11 !!");
    shale_test_assert_bulk(c, "Hello Redis!!", "GET s");
    /* An empty value changes nothing and does not create the key. */
    shale_test_assert_int(c, 13, "SETRANGE s 100 %s", "");
    shale_test_assert_int(c, 0, "SETRANGE missing 0 %s", "");
    shale_test_assert_int(c, 0, "EXISTS missing");
    shale_test_assert_int(c, 0, "SETRANGE missing 536870912 %s", "");

    shale_test_assert_error(c, "ERR offset is out of range", "SETRANGE s -1 x");
    shale_test_assert_error(c, NOT_INTEGER, "SETRANGE s x y");
    /* offset + length past 512 MB (proto-max-bulk-len) is refused. */
    shale_test_assert_error(c, "ERR string exceeds maximum allowed size (proto-max-bulk-len)",
                            "SETRANGE s 536870912 x");
    shale_test_assert_error(c, "ERR string exceeds maximum allowed size (proto-max-bulk-len)",
                            "SETRANGE s 536870911 xy");
    shale_test_assert_error(c, "ERR string exceeds maximum allowed size (proto-max-bulk-len)",
                            "SETRANGE s 9223372036854775807 x");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'setrange' command",
                            "SETRANGE s 0");
    shale_test_assert_bulk(c, "Hello Redis!!", "GET s");
}

static void test_incr_decr(void **state)
{
    shale_test_assert_int(c, 1, "INCR c");
    shale_test_assert_int(c, 11, "INCRBY c 10");
    shale_test_assert_int(c, 10, "DECR c");
    shale_test_assert_int(c, -10, "DECRBY c 20");
    shale_test_assert_int(c, -5, "INCRBY c 5");
    shale_test_assert_int(c, 0, "DECRBY c -5");
    shale_test_assert_bulk(c, "0", "GET c");
    shale_test_assert_int(c, -1, "DECR fresh");
    shale_test_assert_status(c, "OK", "SET big 9223372036854775806");
    shale_test_assert_int(c, 9223372036854775807LL, "INCR big");
    shale_test_assert_status(c, "OK", "SET small -9223372036854775807");
    shale_test_assert_int(c, -9223372036854775807LL - 1, "DECR small");
    /* INCR keeps the TTL. */
    shale_test_assert_status(c, "OK", "SET t 5 EX 100");
    shale_test_assert_int(c, 6, "INCR t");
    assert_ttl_between("t", 99, 100);
}

static void test_incr_errors(void **state)
{
    shale_test_assert_status(c, "OK", "SET max 9223372036854775807");
    shale_test_assert_error(c, OVERFLOW, "INCR max");
    shale_test_assert_error(c, OVERFLOW, "INCRBY max 1");
    shale_test_assert_status(c, "OK", "SET min -9223372036854775808");
    shale_test_assert_error(c, OVERFLOW, "DECR min");
    shale_test_assert_error(c, OVERFLOW, "INCRBY min -1");
    shale_test_assert_error(c, OVERFLOW, "DECRBY min 1");
    /* DECRBY cannot negate the smallest integer (7.0's own message). */
    shale_test_assert_error(c, "ERR decrement would overflow", "DECRBY c -9223372036854775808");
    shale_test_assert_int(c, 0, "EXISTS c");
    shale_test_assert_bulk(c, "9223372036854775807", "GET max");

    const char *not_integers[] = {
        "abc", " 1", "1 ", "01", "1.0", "+1", "-0", "", "9223372036854775808", "0x10", "1e3"};
    for (size_t i = 0; i < sizeof not_integers / sizeof not_integers[0]; i++) {
        shale_test_assert_status(c, "OK", "SET s %s", not_integers[i]);
        shale_test_assert_error(c, NOT_INTEGER, "INCR s");
        shale_test_assert_error(c, NOT_INTEGER, "DECRBY s 1");
    }
    shale_test_assert_error(c, NOT_INTEGER, "INCRBY c x");
    shale_test_assert_error(c, NOT_INTEGER, "INCRBY c 1.5");
    shale_test_assert_error(c, NOT_INTEGER, "INCRBY c 9223372036854775808");
    shale_test_assert_error(c, NOT_INTEGER, "DECRBY c %s", "");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'incr' command", "INCR");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'incrby' command", "INCRBY c");
    shale_test_assert_int(c, 0, "EXISTS c");
}

static void test_incrbyfloat(void **state)
{
    shale_test_assert_status(c, "OK", "SET f 10");
    shale_test_assert_bulk(c, "20.5", "INCRBYFLOAT f 10.5");
    shale_test_assert_bulk(c, "20.6", "INCRBYFLOAT f 0.1");
    shale_test_assert_bulk(c, "0", "INCRBYFLOAT f -20.6");
    shale_test_assert_bulk(c, "5000", "INCRBYFLOAT f 5.0e3");
    shale_test_assert_bulk(c, "5000", "GET f");
    shale_test_assert_bulk(c, "3", "INCRBYFLOAT n 3");
    /* long double arithmetic, printed with 17 significant digits, no trailing zeros. */
    shale_test_assert_bulk(c, "0.1", "INCRBYFLOAT z 0.1");
    shale_test_assert_bulk(c, "0.3", "INCRBYFLOAT z 0.2");
    shale_test_assert_bulk(c, "1.23456789012345679", "INCRBYFLOAT y 1.23456789012345678901");
    shale_test_assert_bulk(c, "100000000000000000000", "INCRBYFLOAT big 1e20");
    shale_test_assert_bulk(c, "0", "INCRBYFLOAT negzero -0");
    shale_test_assert_status(c, "OK", "SET h 3.0e3");
    shale_test_assert_bulk(c, "3200", "INCRBYFLOAT h 200");
    shale_test_assert_bulk(c, "-1.5", "INCRBYFLOAT neg -1.5");
    /* The result is stored as a string: INCR refuses it unless integral text. */
    shale_test_assert_status(c, "OK", "SET s 5.0");
    shale_test_assert_error(c, NOT_INTEGER, "INCR s");
    shale_test_assert_bulk(c, "6", "INCRBYFLOAT s 1");
    shale_test_assert_int(c, 7, "INCR s");
    /* INCRBYFLOAT keeps the TTL. */
    shale_test_assert_status(c, "OK", "SET t 1 EX 100");
    shale_test_assert_bulk(c, "1.5", "INCRBYFLOAT t 0.5");
    assert_ttl_between("t", 99, 100);

    shale_test_assert_error(c, NOT_FLOAT, "INCRBYFLOAT f x");
    shale_test_assert_error(c, NOT_FLOAT, "INCRBYFLOAT f %s", "");
    shale_test_assert_error(c, NOT_FLOAT, "INCRBYFLOAT f %s", " 1");
    shale_test_assert_error(c, NOT_FLOAT, "INCRBYFLOAT f nan");
    shale_test_assert_error(c, "ERR increment would produce NaN or Infinity", "INCRBYFLOAT f inf");
    shale_test_assert_status(c, "OK", "SET s abc");
    shale_test_assert_error(c, NOT_FLOAT, "INCRBYFLOAT s 1");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'incrbyfloat' command",
                            "INCRBYFLOAT f");
    shale_test_assert_bulk(c, "5000", "GET f");
}

static void test_mget_mset(void **state)
{
    shale_test_assert_status(c, "OK", "MSET a 1 b 2 c 3");
    redisReply *r = shale_test_command(c, "MGET a b missing c a");
    shale_test_expect_array(r, 5, "MGET a b missing c a");
    shale_test_expect_bulk(r->element[0], "1", "MGET[0]");
    shale_test_expect_bulk(r->element[1], "2", "MGET[1]");
    shale_test_expect_nil(r->element[2], "MGET[2]");
    shale_test_expect_bulk(r->element[3], "3", "MGET[3]");
    shale_test_expect_bulk(r->element[4], "1", "MGET[4]");
    freeReplyObject(r);
    /* MSET overwrites and drops TTLs; the last of duplicate keys wins. */
    shale_test_assert_status(c, "OK", "SET t v EX 100");
    shale_test_assert_status(c, "OK", "MSET t w a x a y");
    shale_test_assert_int(c, -1, "TTL t");
    shale_test_assert_bulk(c, "y", "GET a");

    shale_test_assert_error(c, "ERR wrong number of arguments for 'mset' command", "MSET a 1 b");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'mset' command", "MSET a");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'mset' command", "MSET");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'mget' command", "MGET");
    shale_test_assert_bulk(c, "2", "GET b");
}

static void test_binary_safe(void **state)
{
    static const char key[] = "bin\0key\r\n";
    static const char value[] = "\0\r\n$3\r\nfoo\r\n\xff\xfe\0";
    const size_t klen = sizeof key - 1;
    const size_t vlen = sizeof value - 1;

    const char *set[] = {"SET", key, value};
    size_t set_len[] = {3, klen, vlen};
    redisReply *r = shale_test_command_argv(c, 3, set, set_len);
    shale_test_expect_status(r, "OK", "SET <binary key> <binary value>");
    freeReplyObject(r);

    r = shale_test_command(c, "GET %b", key, klen);
    shale_test_expect_bulk_len(r, value, vlen, "GET <binary key>");
    freeReplyObject(r);
    shale_test_assert_int(c, (long long)vlen, "STRLEN %b", key, klen);
    /* A key differing only after the NUL byte is another key. */
    shale_test_assert_int(c, 0, "EXISTS %b", "bin\0kex\r\n", klen);
    shale_test_assert_nil(c, "GET bin");

    shale_test_assert_int(c, (long long)vlen + 2, "APPEND %b %b", key, klen, "\0\n", (size_t)2);
    r = shale_test_command(c, "GETRANGE %b -3 -1", key, klen);
    shale_test_expect_bulk_len(r, "\0\0\n", 3, "GETRANGE <binary key> -3 -1");
    freeReplyObject(r);

    r = shale_test_command(c, "MGET %b missing", key, klen);
    shale_test_expect_array(r, 2, "MGET <binary key> missing");
    assert_int_equal(r->element[0]->len, vlen + 2);
    assert_memory_equal(r->element[0]->str, value, vlen);
    freeReplyObject(r);
}

static void test_one_megabyte_value(void **state)
{
    const size_t len = 1024 * 1024;
    char *value = malloc(len);
    assert_non_null(value);
    for (size_t i = 0; i < len; i++) {
        value[i] = (char)(i * 131 + (i >> 9)); /* every byte value, \0 and \r\n included */
    }
    redisReply *r = shale_test_command(c, "SET big %b", value, len);
    shale_test_expect_status(r, "OK", "SET big <1 MB>");
    freeReplyObject(r);
    r = shale_test_command(c, "GET big");
    shale_test_expect_bulk_len(r, value, len, "GET big");
    freeReplyObject(r);
    shale_test_assert_int(c, (long long)len, "STRLEN big");
    r = shale_test_command(c, "GETRANGE big %lld %lld", (long long)len - 10, (long long)len - 1);
    shale_test_expect_bulk_len(r, value + len - 10, 10, "GETRANGE big <last 10>");
    freeReplyObject(r);
    shale_test_assert_int(c, (long long)len * 2, "APPEND big %b", value, len);
    r = shale_test_command(c, "GETRANGE big %lld %lld", (long long)len, (long long)len * 2 - 1);
    shale_test_expect_bulk_len(r, value, len, "GETRANGE big <second half>");
    freeReplyObject(r);
    free(value);
    shale_test_assert_int(c, 1, "DEL big");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, test_setup, test_teardown)
        T(test_get_set),
        T(test_set_ex_px_exat_pxat),
        T(test_set_nx_xx),
        T(test_set_keepttl),
        T(test_set_get_option),
        T(test_set_errors),
        T(test_setnx_setex_psetex),
        T(test_getset_getdel),
        T(test_getex),
        T(test_append_strlen),
        T(test_getrange),
        T(test_setrange),
        T(test_incr_decr),
        T(test_incr_errors),
        T(test_incrbyfloat),
        T(test_mget_mset),
        T(test_binary_safe),
        T(test_one_megabyte_value),
#undef T
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
