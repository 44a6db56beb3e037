/*
 * Hash encodings over the wire: conversion from listpack to hashtable at
 * hash-max-listpack-entries and hash-max-listpack-value (by HSET, HMSET,
 * HSETNX and HINCRBY; limits from the defaults and from the command line),
 * no conversion back, values that grow and shrink across shale's entry
 * layouts, binary-safe fields and values in both encodings, and TTLs kept
 * by hash writes. The hash commands themselves are in test_hashes.c.
 * Encodings are checked with OBJECT ENCODING where the server has it, and
 * through HSCAN (a listpack comes back whole with cursor 0, a table in
 * steps) everywhere.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>

#include <cmocka.h>

#include "tests/support/hashes.h"
#include "tests/support/reply.h"
#include "tests/support/server.h"

static struct test_server *server;
static redisContext *c; /* fresh per test */

/* Redis 7.0's default hash-max-listpack-entries is 512, shale's 128: the
 * shared server is told 128 so both convert at the same point; the
 * defaults themselves are checked in test_default_limits. */
static const char *const common_args[] = {"--hash-max-listpack-entries", "128", NULL};

static int group_setup(void **state)
{
    server = shale_test_server_start(common_args, NULL);
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

static void test_conversion_by_entries(void **state)
{
    shale_test_hash_fill(c, "h", 0, 128);
    shale_test_hash_expect_encoding(c, "h", "listpack");
    shale_test_hash_expect_scan_whole(c, "h", 1, 128);
    shale_test_hash_fill(c, "h", 128, 129);
    shale_test_hash_expect_encoding(c, "h", "hashtable");
    shale_test_hash_expect_scan_whole(c, "h", 0, 129);
    shale_test_hash_expect_filled(c, "h", 129);
    /* No way back: deleting down to one field keeps the table. */
    for (int i = 1; i < 129; i++)
        redisAppendCommand(c, "HDEL h f%d", i);
    for (int i = 1; i < 129; i++) {
        redisReply *r = shale_test_next_reply(c);
        shale_test_expect_int(r, 1, "HDEL");
        freeReplyObject(r);
    }
    shale_test_hash_expect_encoding(c, "h", "hashtable");
    shale_test_hash_expect_filled(c, "h", 1);
    /* HMSET, HSETNX and HINCRBY convert too. */
    shale_test_hash_fill(c, "m", 0, 127);
    shale_test_assert_status(c, "OK", "HMSET m f127 v127 f128 v128");
    shale_test_hash_expect_encoding(c, "m", "hashtable");
    shale_test_hash_expect_filled(c, "m", 129);
    shale_test_hash_fill(c, "n", 0, 128);
    shale_test_assert_int(c, 1, "HSETNX n f128 v128");
    shale_test_hash_expect_encoding(c, "n", "hashtable");
    shale_test_hash_expect_filled(c, "n", 129);
    shale_test_hash_fill(c, "i", 0, 128);
    shale_test_assert_int(c, 1, "HINCRBY i counter 1");
    shale_test_hash_expect_encoding(c, "i", "hashtable");
    shale_test_assert_int(c, 129, "HLEN i");
}

static void test_conversion_by_length(void **state)
{
    char v64[65], v65[66];
    memset(v64, 'x', 64);
    v64[64] = '\0';
    memset(v65, 'y', 65);
    v65[65] = '\0';

    shale_test_assert_int(c, 2, "HSET h a 1 f %s", v64);
    shale_test_hash_expect_encoding(c, "h", "listpack");
    shale_test_assert_int(c, 0, "HSET h f %s", v65);
    shale_test_hash_expect_encoding(c, "h", "hashtable");
    shale_test_assert_bulk(c, v65, "HGET h f");
    shale_test_assert_bulk(c, "1", "HGET h a");
    shale_test_assert_int(c, 1, "HSET k %s 1", v64);
    shale_test_hash_expect_encoding(c, "k", "listpack");
    shale_test_assert_int(c, 1, "HSET k %s 1", v65);
    shale_test_hash_expect_encoding(c, "k", "hashtable");
    shale_test_assert_bulk(c, "1", "HGET k %s", v65);
    shale_test_assert_int(c, 2, "HLEN k");
    /* HSET's pairs are checked before any is added. */
    shale_test_assert_int(c, 2, "HSET j a 1 b %s", v65);
    shale_test_hash_expect_encoding(c, "j", "hashtable");
    shale_test_assert_int(c, 1, "HSETNX s f %s", v65);
    shale_test_hash_expect_encoding(c, "s", "hashtable");
}

/* The limits come from the config (both servers take them as options). */
static void test_conversion_limits_from_config(void **state)
{
    const char *args[] = {"--hash-max-listpack-entries", "4", "--hash-max-listpack-value", "8",
                          NULL};
    struct test_server *small = shale_test_server_start(args, NULL);
    assert_non_null(small);
    redisContext *ctx = shale_test_connect(small);
    shale_test_hash_fill(ctx, "h", 0, 4);
    shale_test_hash_expect_encoding(ctx, "h", "listpack");
    shale_test_hash_expect_scan_whole(ctx, "h", 1, 4);
    shale_test_hash_fill(ctx, "h", 4, 5);
    shale_test_hash_expect_encoding(ctx, "h", "hashtable");
    shale_test_hash_expect_filled(ctx, "h", 5);
    redisReply *r = shale_test_command(ctx, "HSET v f 12345678");
    shale_test_expect_int(r, 1, "HSET 8 bytes");
    freeReplyObject(r);
    shale_test_hash_expect_encoding(ctx, "v", "listpack");
    r = shale_test_command(ctx, "HSET v g 123456789");
    shale_test_expect_int(r, 1, "HSET 9 bytes");
    freeReplyObject(r);
    shale_test_hash_expect_encoding(ctx, "v", "hashtable");
    r = shale_test_command(ctx, "HGET v f");
    shale_test_expect_bulk(r, "12345678", "HGET v f");
    freeReplyObject(r);
    redisFree(ctx);
    assert_int_equal(shale_test_server_stop(small), 0);
}

/* shale's defaults: 128 entries (Redis 7.0: 512), 64 bytes. */
static void test_default_limits(void **state)
{
    shale_test_skip_on_redis("Redis 7.0 converts at 512 entries, shale at 128");
    struct test_server *plain = shale_test_server_start(NULL, NULL);
    assert_non_null(plain);
    redisContext *ctx = shale_test_connect(plain);
    redisReply *r = shale_test_command(ctx, "CONFIG GET hash-max-listpack-*");
    shale_test_expect_array(r, 4, "CONFIG GET hash-max-listpack-*");
    for (size_t i = 0; i < r->elements; i += 2) {
        const char *want =
            strcmp(r->element[i]->str, "hash-max-listpack-entries") == 0 ? "128" : "64";
        shale_test_expect_bulk(r->element[i + 1], want, "CONFIG GET default");
    }
    freeReplyObject(r);
    shale_test_hash_fill(ctx, "h", 0, 128);
    shale_test_hash_expect_encoding(ctx, "h", "listpack");
    shale_test_hash_expect_scan_whole(ctx, "h", 1, 128);
    shale_test_hash_fill(ctx, "h", 128, 129);
    shale_test_hash_expect_encoding(ctx, "h", "hashtable");
    shale_test_hash_expect_scan_whole(ctx, "h", 0, 129);
    redisFree(ctx);
    assert_int_equal(shale_test_server_stop(plain), 0);
}

/* Values growing and shrinking in a table hash cross shale's entry
 * layouts (embedded up to a 256-byte budget, a separate value block
 * above) both ways; every step must read back exactly. */
static void test_value_sizes_in_table(void **state)
{
    static const size_t sizes[] = {0, 1,   15,   60,  100,   200, 248,    250, 251, 252, 64,
                                   3, 500, 4096, 250, 20000, 110, 300000, 7,   260, 0};
    size_t max = 300000;
    char *value = malloc(max + 1);

    shale_test_hash_fill(c, "t", 0, 200);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t len = sizes[i];
        for (size_t j = 0; j < len; j++)
            value[j] = (char)('a' + (j * 7 + i) % 26);
        for (int f = 0; f < 5; f++) {
            redisReply *r = shale_test_command(c, "HSET t f%d %b", f * 37, value, len);
            shale_test_expect_int(r, 0, "HSET resize");
            freeReplyObject(r);
        }
        for (int f = 0; f < 5; f++) {
            redisReply *r = shale_test_command(c, "HGET t f%d", f * 37);
            shale_test_expect_bulk_len(r, value, len, "HGET after resize");
            freeReplyObject(r);
        }
        shale_test_assert_int(c, (long long)len, "HSTRLEN t f0");
    }
    /* A long field name, too. */
    memset(value, 'F', 10000);
    redisReply *r = shale_test_command(c, "HSET t %b small", value, (size_t)10000);
    shale_test_expect_int(r, 1, "HSET long field");
    freeReplyObject(r);
    r = shale_test_command(c, "HGET t %b", value, (size_t)10000);
    shale_test_expect_bulk(r, "small", "HGET long field");
    freeReplyObject(r);
    free(value);
    shale_test_assert_int(c, 201, "HLEN t");
}

static void test_binary_safe(void **state)
{
    const char field[] = {'f', '\0', 'x', '\r', '\n'};
    const char value[] = {'\0', '\0', 'v', '\n', '\0'};
    const char field2[] = {'f', '\0', 'y'};

    for (int round = 0; round < 2; round++) {
        const char *key = round == 0 ? "small" : "big";
        if (round == 1)
            shale_test_hash_fill(c, key, 0, 200);
        redisReply *r = shale_test_command(c, "HSET %s %b %b %b %b", key, field, sizeof field,
                                           value, sizeof value, field2, sizeof field2, "", 0);
        shale_test_expect_int(r, 2, "HSET binary");
        freeReplyObject(r);
        r = shale_test_command(c, "HGET %s %b", key, field, sizeof field);
        shale_test_expect_bulk_len(r, value, sizeof value, "HGET binary");
        freeReplyObject(r);
        r = shale_test_command(c, "HGET %s %b", key, field, (size_t)2);
        shale_test_expect_nil(r, "HGET binary prefix");
        freeReplyObject(r);
        r = shale_test_command(c, "HSTRLEN %s %b", key, field, sizeof field);
        shale_test_expect_int(r, 5, "HSTRLEN binary");
        freeReplyObject(r);
        r = shale_test_command(c, "HEXISTS %s %b", key, field2, sizeof field2);
        shale_test_expect_int(r, 1, "HEXISTS binary");
        freeReplyObject(r);
        r = shale_test_command(c, "HDEL %s %b", key, field2, sizeof field2);
        shale_test_expect_int(r, 1, "HDEL binary");
        freeReplyObject(r);
    }
}

static void test_ttl_kept_by_writes(void **state)
{
    shale_test_assert_int(c, 1, "HSET h a 1");
    shale_test_assert_int(c, 1, "EXPIRE h 100");
    shale_test_assert_int(c, 1, "HSET h b 2");
    shale_test_assert_int(c, 3, "HINCRBY h a 2");
    shale_test_hash_fill(c, "h", 0, 200);
    long long ttl = shale_test_command_int(c, "TTL h");
    assert_true(ttl >= 99 && ttl <= 100);
    shale_test_assert_int(c, 1, "PEXPIRE h 1");
    shale_test_sleep_ms(20);
    shale_test_assert_int(c, 0, "HLEN h");
    shale_test_assert_nil(c, "HGET h a");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, test_setup, test_teardown)
        T(test_conversion_by_entries),
        T(test_conversion_by_length),
        T(test_conversion_limits_from_config),
        T(test_default_limits),
        T(test_value_sizes_in_table),
        T(test_binary_safe),
        T(test_ttl_kept_by_writes),
#undef T
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
