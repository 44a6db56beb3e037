/*
 * Hash commands over the wire: HSET, HSETNX, HMSET, HGET, HMGET, HDEL,
 * HLEN, HSTRLEN, HEXISTS, HGETALL (RESP2 array, RESP3 map), HKEYS, HVALS,
 * HINCRBY, HINCRBYFLOAT, HRANDFIELD, HSCAN, and WRONGTYPE both ways, each
 * on small (listpack) and large (hashtable) hashes. Replies and error texts
 * are Redis 7.0's; HSCAN NOVALUES is Redis 7.4's and skipped against 7.0.
 * Encoding conversion and value layouts are in test_hash_encodings.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>

#include <cmocka.h>

#include "tests/support/hashes.h"
#include "tests/support/raw.h"
#include "tests/support/reply.h"
#include "tests/support/server.h"

#define WRONGTYPE   "WRONGTYPE Operation against a key holding the wrong kind of value"
#define NOT_INTEGER "ERR value is not an integer or out of range"
#define NOT_FLOAT   "ERR value is not a valid float"
#define SYNTAX      "ERR syntax error"

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

/* ---- helpers --------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The elements of an array reply (every `step`-th from `first`), sorted,
 * joined with ',' into buf: order-free comparison of fields or values. */
static void sorted_join(const redisReply *r, size_t first, size_t step, char *buf, size_t cap)
{
    size_t n = 0;
    char **items = calloc(r->elements + 1, sizeof(char *));
    for (size_t i = first; i < r->elements; i += step)
        items[n++] = r->element[i]->str;
    qsort(items, n, sizeof(char *), cmp_str);
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        strncat(buf, items[i], cap - strlen(buf) - 1);
        if (i + 1 < n)
            strncat(buf, ",", cap - strlen(buf) - 1);
    }
    free(items);
}

static void expect_sorted(const char *what, const char *cmd_fmt, const char *key, size_t first,
                          size_t step, const char *expected)
{
    char buf[4096];
    redisReply *r = shale_test_command(c, cmd_fmt, key);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    sorted_join(r, first, step, buf, sizeof buf);
    if (strcmp(buf, expected) != 0)
        fail_msg("%s: expected {%s}, got {%s}", what, expected, buf);
    freeReplyObject(r);
}

/* Runs a command given as one string of space-separated words. */
static redisReply *command_words(const char *words)
{
    char *copy = strdup(words);
    const char *argv[32];
    int argc = 0;
    for (char *w = strtok(copy, " "); w != NULL && argc < 32; w = strtok(NULL, " "))
        argv[argc++] = w;
    redisReply *r = shale_test_command_argv(c, argc, argv, NULL);
    free(copy);
    return r;
}

/* Walks HSCAN to the end; checks that every field f<i>, i < n, was seen
 * (at least once) with its value, and returns how many calls it took.
 * extra: options as space-separated words. */
static int scan_all(const char *key, int n, const char *extra)
{
    char *seen = calloc((size_t)n, 1);
    char cursor[32] = "0";
    int calls = 0;
    do {
        char words[256];
        snprintf(words, sizeof words, "HSCAN %s %s %s", key, cursor, extra);
        redisReply *r = command_words(words);
        shale_test_expect_array(r, 2, "HSCAN");
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        redisReply *items = r->element[1];
        assert_int_equal(items->elements % 2, 0);
        for (size_t i = 0; i < items->elements; i += 2) {
            int idx = atoi(items->element[i]->str + 1);
            assert_true(idx >= 0 && idx < n);
            char want[32];
            snprintf(want, sizeof want, "v%d", idx);
            assert_string_equal(items->element[i + 1]->str, want);
            seen[idx] = 1;
        }
        freeReplyObject(r);
        calls++;
    } while (strcmp(cursor, "0") != 0 && calls < 100000);
    for (int i = 0; i < n; i++)
        if (!seen[i])
            fail_msg("HSCAN %s never returned f%d", key, i);
    free(seen);
    return calls;
}

/* ---- single-field commands --------------------------------------------------- */

static void test_hset_hget(void **state)
{
    shale_test_assert_nil(c, "HGET h f");
    shale_test_assert_int(c, 2, "HSET h f1 v1 f2 v2");
    shale_test_assert_bulk(c, "v1", "HGET h f1");
    shale_test_assert_bulk(c, "v2", "HGET h f2");
    shale_test_assert_nil(c, "HGET h f3");
    /* Updates count nothing; a field named twice counts once. */
    shale_test_assert_int(c, 1, "HSET h f1 w1 f3 v3 f3 w3");
    shale_test_assert_bulk(c, "w1", "HGET h f1");
    shale_test_assert_bulk(c, "w3", "HGET h f3");
    shale_test_assert_int(c, 0, "HSET h f2 %s", "");
    shale_test_assert_bulk(c, "", "HGET h f2");
    shale_test_assert_int(c, 1, "HSET h %s empty-field", "");
    shale_test_assert_bulk(c, "empty-field", "HGET h %s", "");
    shale_test_assert_status(c, "hash", "TYPE h");

    shale_test_assert_status(c, "OK", "HMSET m a 1 b 2");
    shale_test_assert_status(c, "OK", "HMSET m a 3");
    shale_test_assert_bulk(c, "3", "HGET m a");
    shale_test_assert_int(c, 2, "HLEN m");

    shale_test_assert_error(c, "ERR wrong number of arguments for 'hset' command", "HSET h f");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'hset' command", "HSET h f v g");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'hmset' command",
                            "HMSET h f v g");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'hget' command", "HGET h");
    shale_test_assert_int(c, 0, "EXISTS nothing");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'hset' command",
                            "HSET nothing f v g");
    shale_test_assert_int(c, 0, "EXISTS nothing");
}

static void test_hsetnx(void **state)
{
    shale_test_assert_int(c, 1, "HSETNX h f v");
    shale_test_assert_int(c, 0, "HSETNX h f w");
    shale_test_assert_bulk(c, "v", "HGET h f");
    shale_test_assert_int(c, 1, "HSETNX h g w");
    shale_test_assert_int(c, 2, "HLEN h");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'hsetnx' command", "HSETNX h f");
}

static void test_hmget(void **state)
{
    shale_test_assert_int(c, 2, "HSET h a 1 b 2");
    redisReply *r = shale_test_command(c, "HMGET h a x b a");
    shale_test_expect_array(r, 4, "HMGET");
    shale_test_expect_bulk(r->element[0], "1", "HMGET a");
    shale_test_expect_nil(r->element[1], "HMGET x");
    shale_test_expect_bulk(r->element[2], "2", "HMGET b");
    shale_test_expect_bulk(r->element[3], "1", "HMGET a again");
    freeReplyObject(r);
    r = shale_test_command(c, "HMGET nothing a b");
    shale_test_expect_array(r, 2, "HMGET missing key");
    shale_test_expect_nil(r->element[0], "HMGET missing a");
    shale_test_expect_nil(r->element[1], "HMGET missing b");
    freeReplyObject(r);
    shale_test_assert_error(c, "ERR wrong number of arguments for 'hmget' command", "HMGET h");
}

static void test_hdel(void **state)
{
    shale_test_assert_int(c, 0, "HDEL nothing f");
    shale_test_assert_int(c, 3, "HSET h a 1 b 2 c 3");
    shale_test_assert_int(c, 1, "HDEL h a a x");
    shale_test_assert_int(c, 0, "HDEL h a");
    shale_test_assert_int(c, 2, "HLEN h");
    /* The last field takes the key with it, TTL included. */
    shale_test_assert_int(c, 1, "EXPIRE h 100");
    shale_test_assert_int(c, 2, "HDEL h b c");
    shale_test_assert_int(c, 0, "EXISTS h");
    shale_test_assert_int(c, -2, "TTL h");
    shale_test_assert_int(c, 1, "HSET h a 1");
    shale_test_assert_int(c, -1, "TTL h");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'hdel' command", "HDEL h");
}

static void test_hlen_hstrlen_hexists(void **state)
{
    shale_test_assert_int(c, 0, "HLEN h");
    shale_test_assert_int(c, 0, "HSTRLEN h f");
    shale_test_assert_int(c, 0, "HEXISTS h f");
    shale_test_assert_int(c, 2, "HSET h f hello n -12");
    shale_test_assert_int(c, 2, "HLEN h");
    shale_test_assert_int(c, 5, "HSTRLEN h f");
    shale_test_assert_int(c, 3, "HSTRLEN h n");
    shale_test_assert_int(c, 0, "HSTRLEN h x");
    shale_test_assert_int(c, 1, "HEXISTS h f");
    shale_test_assert_int(c, 0, "HEXISTS h x");
}

/* ---- whole-hash reads ------------------------------------------------------------ */

static void test_hgetall_hkeys_hvals(void **state)
{
    redisReply *r = shale_test_command(c, "HGETALL nothing");
    shale_test_expect_array(r, 0, "HGETALL missing");
    freeReplyObject(r);
    r = shale_test_command(c, "HKEYS nothing");
    shale_test_expect_array(r, 0, "HKEYS missing");
    freeReplyObject(r);
    r = shale_test_command(c, "HVALS nothing");
    shale_test_expect_array(r, 0, "HVALS missing");
    freeReplyObject(r);

    /* A listpack keeps insertion order, an update keeps its place. */
    shale_test_assert_int(c, 3, "HSET h c 3 a 1 b 2");
    shale_test_assert_int(c, 0, "HSET h a 10");
    r = shale_test_command(c, "HGETALL h");
    shale_test_expect_array(r, 6, "HGETALL");
    const char *want[] = {"c", "3", "a", "10", "b", "2"};
    for (int i = 0; i < 6; i++)
        shale_test_expect_bulk(r->element[i], want[i], "HGETALL element");
    freeReplyObject(r);
    r = shale_test_command(c, "HKEYS h");
    shale_test_expect_array(r, 3, "HKEYS");
    shale_test_expect_bulk(r->element[0], "c", "HKEYS 0");
    shale_test_expect_bulk(r->element[1], "a", "HKEYS 1");
    shale_test_expect_bulk(r->element[2], "b", "HKEYS 2");
    freeReplyObject(r);
    r = shale_test_command(c, "HVALS h");
    shale_test_expect_array(r, 3, "HVALS");
    shale_test_expect_bulk(r->element[0], "3", "HVALS 0");
    shale_test_expect_bulk(r->element[1], "10", "HVALS 1");
    shale_test_expect_bulk(r->element[2], "2", "HVALS 2");
    freeReplyObject(r);
    /* After a delete, the rest keeps its order. */
    shale_test_assert_int(c, 1, "HDEL h a");
    expect_sorted("HKEYS after HDEL", "HKEYS %s", "h", 0, 1, "b,c");

    /* Table encoding: same contents, any order. */
    shale_test_hash_fill(c, "t", 0, 200);
    shale_test_hash_expect_encoding(c, "t", "hashtable");
    r = shale_test_command(c, "HGETALL t");
    shale_test_expect_array(r, 400, "HGETALL table");
    for (size_t i = 0; i < r->elements; i += 2) {
        char v[32];
        snprintf(v, sizeof v, "v%s", r->element[i]->str + 1);
        shale_test_expect_bulk(r->element[i + 1], v, "HGETALL table value");
    }
    freeReplyObject(r);
    r = shale_test_command(c, "HKEYS t");
    shale_test_expect_array(r, 200, "HKEYS table");
    freeReplyObject(r);
    r = shale_test_command(c, "HVALS t");
    shale_test_expect_array(r, 200, "HVALS table");
    freeReplyObject(r);
}

/* RESP3: HGETALL is a map (%), an empty one for a missing key; HRANDFIELD
 * WITHVALUES nests each pair in its own array. */
static void test_resp3_replies(void **state)
{
    struct test_raw *raw = shale_test_raw_connect(server);
    shale_test_raw_command(raw, "HELLO", "3", NULL);
    shale_test_resp_free(shale_test_raw_read_reply(raw));

    shale_test_raw_command(raw, "HGETALL", "nothing", NULL);
    shale_test_raw_expect(raw, "%0\r\n");
    shale_test_raw_command(raw, "HSET", "h", "a", "1", "b", "2", NULL);
    shale_test_raw_expect(raw, ":2\r\n");
    shale_test_raw_command(raw, "HGETALL", "h", NULL);
    shale_test_raw_expect(raw, "%2\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n");
    shale_test_raw_command(raw, "HKEYS", "h", NULL);
    shale_test_raw_expect(raw, "*2\r\n$1\r\na\r\n$1\r\nb\r\n");
    shale_test_raw_command(raw, "HGET", "h", "x", NULL);
    shale_test_raw_expect(raw, "_\r\n");
    shale_test_raw_command(raw, "HRANDFIELD", "h", "5", "WITHVALUES", NULL);
    shale_test_raw_expect(raw, "*2\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n");
    shale_test_raw_command(raw, "HRANDFIELD", "h", "-3", "WITHVALUES", NULL);
    struct test_resp *r = shale_test_raw_read_reply(raw);
    assert_int_equal(r->type, '*');
    assert_int_equal(r->elements, 3);
    for (size_t i = 0; i < r->elements; i++) {
        assert_int_equal(r->element[i]->type, '*');
        assert_int_equal(r->element[i]->elements, 2);
        const char *f = r->element[i]->element[0]->str;
        const char *v = r->element[i]->element[1]->str;
        assert_true((strcmp(f, "a") == 0 && strcmp(v, "1") == 0) ||
                    (strcmp(f, "b") == 0 && strcmp(v, "2") == 0));
    }
    shale_test_resp_free(r);
    shale_test_raw_command(raw, "HRANDFIELD", "nothing", NULL);
    shale_test_raw_expect(raw, "_\r\n");
    shale_test_raw_command(raw, "HRANDFIELD", "nothing", "2", NULL);
    shale_test_raw_expect(raw, "*0\r\n");
    shale_test_raw_command(raw, "HINCRBYFLOAT", "h", "a", "0.5", NULL);
    shale_test_raw_expect(raw, "$3\r\n1.5\r\n");
    shale_test_raw_close(raw);
}

/* ---- counters ---------------------------------------------------------------------- */

static void test_hincrby(void **state)
{
    shale_test_assert_int(c, 5, "HINCRBY h n 5");
    shale_test_assert_int(c, 2, "HINCRBY h n -3");
    shale_test_assert_bulk(c, "2", "HGET h n");
    shale_test_assert_int(c, 1, "HSET h s abc");
    shale_test_assert_error(c, "ERR hash value is not an integer", "HINCRBY h s 1");
    shale_test_assert_int(c, 1, "HSET h z 007");
    shale_test_assert_error(c, "ERR hash value is not an integer", "HINCRBY h z 1");
    shale_test_assert_error(c, NOT_INTEGER, "HINCRBY h n x");
    shale_test_assert_error(c, NOT_INTEGER, "HINCRBY h n 1.5");
    shale_test_assert_error(c, NOT_INTEGER, "HINCRBY h n 9223372036854775808");
    /* The increment is checked before the key: no key is created. */
    shale_test_assert_error(c, NOT_INTEGER, "HINCRBY nothing n x");
    shale_test_assert_int(c, 0, "EXISTS nothing");
    shale_test_assert_int(c, 9223372036854775807LL, "HINCRBY h big 9223372036854775807");
    shale_test_assert_error(c, "ERR increment or decrement would overflow", "HINCRBY h big 1");
    shale_test_assert_int(c, -9223372036854775807LL - 1, "HINCRBY h small -9223372036854775808");
    shale_test_assert_error(c, "ERR increment or decrement would overflow", "HINCRBY h small -1");
    shale_test_assert_int(c, -1, "HINCRBY h small 9223372036854775807");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'hincrby' command",
                            "HINCRBY h n");
}

static void test_hincrbyfloat(void **state)
{
    shale_test_assert_int(c, 1, "HSET h f 10.50");
    shale_test_assert_bulk(c, "10.6", "HINCRBYFLOAT h f 0.1");
    shale_test_assert_bulk(c, "5.6", "HINCRBYFLOAT h f -5");
    shale_test_assert_int(c, 0, "HSET h f 5.0e3");
    shale_test_assert_bulk(c, "5200", "HINCRBYFLOAT h f 2.0e2");
    shale_test_assert_bulk(c, "3", "HINCRBYFLOAT h new 3");
    shale_test_assert_bulk(c, "3", "HGET h new");
    shale_test_assert_bulk(c, "0", "HINCRBYFLOAT h new -3");
    shale_test_assert_int(c, 1, "HSET h s abc");
    shale_test_assert_error(c, "ERR hash value is not a float", "HINCRBYFLOAT h s 1");
    shale_test_assert_error(c, NOT_FLOAT, "HINCRBYFLOAT h f x");
    shale_test_assert_error(c, NOT_FLOAT, "HINCRBYFLOAT h f nan");
    shale_test_assert_error(c, NOT_FLOAT, "HINCRBYFLOAT h f %s", "");
    shale_test_assert_error(c, "ERR value is NaN or Infinity", "HINCRBYFLOAT h f inf");
    shale_test_assert_error(c, "ERR value is NaN or Infinity", "HINCRBYFLOAT nothing f -inf");
    shale_test_assert_int(c, 0, "EXISTS nothing");
    shale_test_assert_int(c, 0, "HSET h f 1e4932");
    shale_test_assert_error(c, "ERR increment would produce NaN or Infinity",
                            "HINCRBYFLOAT h f 1.1e4932");
    shale_test_assert_int(c, 1, "HEXISTS h f");
}

/* ---- HRANDFIELD ---------------------------------------------------------------------- */

/* Checks a HRANDFIELD reply from a hash whose fields are f<i> -> v<i>,
 * i < n: `elements` entries, fields (and values) consistent, all different
 * when distinct. */
static void check_randfield(redisReply *r, size_t elements, int n, int withvalues, int distinct)
{
    shale_test_expect_array(r, elements, "HRANDFIELD count");
    char *seen = calloc((size_t)n, 1);
    size_t step = withvalues ? 2 : 1;
    for (size_t i = 0; i < r->elements; i += step) {
        int idx = atoi(r->element[i]->str + 1);
        assert_true(r->element[i]->str[0] == 'f' && idx >= 0 && idx < n);
        if (withvalues) {
            char want[32];
            snprintf(want, sizeof want, "v%d", idx);
            assert_string_equal(r->element[i + 1]->str, want);
        }
        if (distinct && seen[idx])
            fail_msg("HRANDFIELD returned f%d twice for a positive count", idx);
        seen[idx] = 1;
    }
    free(seen);
}

static void randfield_cases(const char *key, int n)
{
    redisReply *r = shale_test_command(c, "HRANDFIELD %s", key);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_true(r->str[0] == 'f' && atoi(r->str + 1) < n);
    freeReplyObject(r);

    r = shale_test_command(c, "HRANDFIELD %s 3", key);
    check_randfield(r, 3, n, 0, 1);
    freeReplyObject(r);
    r = shale_test_command(c, "HRANDFIELD %s %d", key, n - 1);
    check_randfield(r, (size_t)n - 1, n, 0, 1);
    freeReplyObject(r);
    r = shale_test_command(c, "HRANDFIELD %s %d WITHVALUES", key, n / 2);
    check_randfield(r, (size_t)(n / 2) * 2, n, 1, 1);
    freeReplyObject(r);
    /* As many or more than there are: the whole hash. */
    r = shale_test_command(c, "HRANDFIELD %s %d withvalues", key, n + 5);
    check_randfield(r, (size_t)n * 2, n, 1, 1);
    freeReplyObject(r);
    /* Negative: exactly that many, repeats allowed. */
    r = shale_test_command(c, "HRANDFIELD %s %d", key, -3 * n);
    check_randfield(r, (size_t)n * 3, n, 0, 0);
    freeReplyObject(r);
    r = shale_test_command(c, "HRANDFIELD %s -7 WITHVALUES", key);
    check_randfield(r, 14, n, 1, 0);
    freeReplyObject(r);
    r = shale_test_command(c, "HRANDFIELD %s 0", key);
    shale_test_expect_array(r, 0, "HRANDFIELD 0");
    freeReplyObject(r);
}

static void test_hrandfield(void **state)
{
    shale_test_assert_nil(c, "HRANDFIELD nothing");
    redisReply *r = shale_test_command(c, "HRANDFIELD nothing 5");
    shale_test_expect_array(r, 0, "HRANDFIELD missing key with count");
    freeReplyObject(r);

    shale_test_hash_fill(c, "small", 0, 10);
    randfield_cases("small", 10);
    shale_test_hash_fill(c, "big", 0, 300);
    randfield_cases("big", 300);
    /* Every field comes up sooner or later (uniform enough to cover). */
    r = shale_test_command(c, "HRANDFIELD big -30000");
    check_randfield(r, 30000, 300, 0, 0);
    char *seen = calloc(300, 1);
    for (size_t i = 0; i < r->elements; i++)
        seen[atoi(r->element[i]->str + 1)] = 1;
    for (int i = 0; i < 300; i++)
        if (!seen[i])
            fail_msg("HRANDFIELD big -30000 never returned f%d", i);
    free(seen);
    freeReplyObject(r);

    shale_test_assert_error(c, NOT_INTEGER, "HRANDFIELD small x");
    shale_test_assert_error(c, NOT_INTEGER, "HRANDFIELD nothing x");
    shale_test_assert_error(c, SYNTAX, "HRANDFIELD small 3 WITHVALUE");
    shale_test_assert_error(c, SYNTAX, "HRANDFIELD small 3 WITHVALUES x");
    shale_test_assert_error(c,
                            "ERR value is out of range, value must between -9223372036854775807 "
                            "and 9223372036854775807",
                            "HRANDFIELD small -9223372036854775808");
    shale_test_assert_error(c, "ERR value is out of range",
                            "HRANDFIELD small 4611686018427387904 WITHVALUES");
    shale_test_assert_error(c, "ERR value is out of range",
                            "HRANDFIELD small -4611686018427387904 WITHVALUES");
}

/* ---- HSCAN ---------------------------------------------------------------------------- */

static void test_hscan(void **state)
{
    redisReply *r = shale_test_command(c, "HSCAN nothing 0");
    shale_test_expect_array(r, 2, "HSCAN missing");
    shale_test_expect_bulk(r->element[0], "0", "HSCAN missing cursor");
    shale_test_expect_array(r->element[1], 0, "HSCAN missing items");
    freeReplyObject(r);
    /* Options are read after the key: a missing key ignores bad ones. */
    r = shale_test_command(c, "HSCAN nothing 0 BOGUS");
    shale_test_expect_array(r, 2, "HSCAN missing, bad option");
    freeReplyObject(r);
    shale_test_assert_error(c, "ERR invalid cursor", "HSCAN nothing x");
    shale_test_assert_error(c, "ERR invalid cursor", "HSCAN nothing 1x");
    shale_test_assert_error(c, "ERR invalid cursor", "HSCAN nothing %s", " 1");
    shale_test_assert_error(c, "ERR invalid cursor", "HSCAN nothing 99999999999999999999999");

    /* A listpack: everything at once, cursor 0, whatever COUNT says. */
    shale_test_hash_fill(c, "small", 0, 20);
    shale_test_hash_expect_scan_whole(c, "small", 1, 20);
    assert_int_equal(scan_all("small", 20, "COUNT 1"), 1);
    r = shale_test_command(c, "HSCAN small 0 MATCH f1*");
    shale_test_expect_array(r, 2, "HSCAN MATCH");
    shale_test_expect_bulk(r->element[0], "0", "HSCAN MATCH cursor");
    char buf[4096];
    sorted_join(r->element[1], 0, 2, buf, sizeof buf);
    assert_string_equal(buf, "f1,f10,f11,f12,f13,f14,f15,f16,f17,f18,f19");
    sorted_join(r->element[1], 1, 2, buf, sizeof buf);
    assert_string_equal(buf, "v1,v10,v11,v12,v13,v14,v15,v16,v17,v18,v19");
    freeReplyObject(r);

    /* A table: walked in steps, every field returned. */
    shale_test_hash_fill(c, "big", 0, 1000);
    shale_test_hash_expect_scan_whole(c, "big", 0, 1000);
    int calls = scan_all("big", 1000, "COUNT 10");
    assert_true(calls > 10);
    assert_int_equal(scan_all("big", 1000, "COUNT 100000"), 1);
    scan_all("big", 1000, "MATCH * COUNT 7");
    /* MATCH filters after the step: few matches, still a walk. */
    char cursor[32] = "0";
    size_t matched = 0;
    do {
        r = shale_test_command(c, "HSCAN big %s MATCH f99? COUNT 50", cursor);
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        matched += r->element[1]->elements / 2;
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    assert_int_equal(matched, 10);

    shale_test_assert_error(c, NOT_INTEGER, "HSCAN big 0 COUNT x");
    shale_test_assert_error(c, SYNTAX, "HSCAN big 0 COUNT 0");
    shale_test_assert_error(c, SYNTAX, "HSCAN big 0 COUNT -1");
    shale_test_assert_error(c, SYNTAX, "HSCAN big 0 COUNT");
    shale_test_assert_error(c, SYNTAX, "HSCAN big 0 MATCH");
    shale_test_assert_error(c, SYNTAX, "HSCAN big 0 TYPE hash");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'hscan' command", "HSCAN big");
}

/* NOVALUES arrived in Redis 7.4; the 7.0 reference answers a syntax error. */
static void test_hscan_novalues(void **state)
{
    shale_test_skip_on_redis("HSCAN NOVALUES is Redis 7.4 syntax");
    shale_test_hash_fill(c, "small", 0, 5);
    redisReply *r = shale_test_command(c, "HSCAN small 0 NOVALUES MATCH f[13]");
    shale_test_expect_array(r, 2, "HSCAN NOVALUES");
    char buf[256];
    sorted_join(r->element[1], 0, 1, buf, sizeof buf);
    assert_string_equal(buf, "f1,f3");
    freeReplyObject(r);
    shale_test_hash_fill(c, "big", 0, 500);
    char cursor[32] = "0";
    size_t fields = 0;
    do {
        r = shale_test_command(c, "HSCAN big %s COUNT 20 NOVALUES", cursor);
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++)
            assert_int_equal(r->element[1]->element[i]->str[0], 'f');
        fields += r->element[1]->elements;
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    assert_true(fields >= 500);
}

/* ---- types -------------------------------------------------------------------------- */

static void test_wrongtype(void **state)
{
    shale_test_assert_status(c, "OK", "SET s v");
    const char *hash_cmds[] = {
        "HSET s f v",
        "HSETNX s f v",
        "HMSET s f v",
        "HGET s f",
        "HMGET s f",
        "HDEL s f",
        "HLEN s",
        "HSTRLEN s f",
        "HEXISTS s f",
        "HGETALL s",
        "HKEYS s",
        "HVALS s",
        "HINCRBY s f 1",
        "HINCRBYFLOAT s f 1",
        "HRANDFIELD s",
        "HRANDFIELD s 2",
        "HRANDFIELD s -2 WITHVALUES",
        "HSCAN s 0",
    };
    for (size_t i = 0; i < sizeof hash_cmds / sizeof hash_cmds[0]; i++) {
        redisReply *r = command_words(hash_cmds[i]);
        shale_test_expect_error(r, WRONGTYPE, hash_cmds[i]);
        freeReplyObject(r);
    }
    shale_test_assert_bulk(c, "v", "GET s");

    shale_test_assert_int(c, 1, "HSET h f v");
    const char *string_cmds[] = {"GET h",           "APPEND h x",     "STRLEN h",       "INCR h",
                                 "INCRBYFLOAT h 1", "GETRANGE h 0 1", "SETRANGE h 0 x", "GETDEL h",
                                 "GETSET h x",      "SET h x GET"};
    for (size_t i = 0; i < sizeof string_cmds / sizeof string_cmds[0]; i++) {
        redisReply *r = command_words(string_cmds[i]);
        shale_test_expect_error(r, WRONGTYPE, string_cmds[i]);
        freeReplyObject(r);
    }
    /* MGET answers nil for a key of another type; SET replaces it. */
    redisReply *r = shale_test_command(c, "MGET h");
    shale_test_expect_array(r, 1, "MGET hash");
    shale_test_expect_nil(r->element[0], "MGET hash");
    freeReplyObject(r);
    shale_test_assert_bulk(c, "v", "HGET h f");
    shale_test_assert_status(c, "OK", "SET h now-a-string");
    shale_test_assert_status(c, "string", "TYPE h");
    shale_test_assert_int(c, 1, "DEL s");
    shale_test_assert_int(c, 1, "HSET s f v");
    shale_test_assert_status(c, "hash", "TYPE s");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, test_setup, test_teardown)
        T(test_hset_hget),
        T(test_hsetnx),
        T(test_hmget),
        T(test_hdel),
        T(test_hlen_hstrlen_hexists),
        T(test_hgetall_hkeys_hvals),
        T(test_resp3_replies),
        T(test_hincrby),
        T(test_hincrbyfloat),
        T(test_hrandfield),
        T(test_hscan),
        T(test_hscan_novalues),
        T(test_wrongtype),
#undef T
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
