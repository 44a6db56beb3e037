/*
 * Whole-keyspace and introspection commands over the wire, on a server with
 * 4 shards: SCAN (MATCH, COUNT, TYPE; the cursor carries the shard), KEYS,
 * RANDOMKEY, OBJECT ENCODING/FREQ/IDLETIME/REFCOUNT/HELP, DEBUG POPULATE
 * and DEBUG SLEEP. Replies and error texts are Redis 7.0's; the few places
 * where shale differs on purpose are skipped on the reference.
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
    static const char *const shale_args[] = {"--shards", "4", NULL};
    static const char *const common_args[] = {"--enable-debug-command", "yes", NULL};
    server = shale_test_server_start(common_args, shale_args);
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

enum { NKEYS = 10000 };

/* Which of key:0 .. key:NKEYS-1 a scan has returned, and how often. */
struct seen {
    unsigned char count[NKEYS];
    long long other; /* names outside that range */
};

static void note_key(struct seen *s, const redisReply *k)
{
    char *end;
    if (k->type != REDIS_REPLY_STRING) {
        fail_msg("scan element of type %d, expected a bulk string", k->type);
    }
    if (k->len > 4 && memcmp(k->str, "key:", 4) == 0) {
        long n = strtol(k->str + 4, &end, 10);
        if (*end == '\0' && n >= 0 && n < NKEYS) {
            if (s->count[n] < 255) {
                s->count[n]++;
            }
            return;
        }
    }
    s->other++;
}

/* Runs SCAN to completion with the given options; returns the calls made. */
static long scan_all(const char *opts, struct seen *s)
{
    char cursor[32] = "0";
    long calls = 0;
    memset(s, 0, sizeof(*s));
    do {
        const char *argv[16] = {"SCAN", cursor};
        char words[256];
        int argc = 2;
        snprintf(words, sizeof(words), "%s", opts);
        for (char *w = strtok(words, " "); w && argc < 16; w = strtok(NULL, " ")) {
            argv[argc++] = w;
        }
        redisReply *r = shale_test_command_argv(c, argc, argv, NULL);
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
            char buf[256];
            shale_test_describe_reply(r, buf, sizeof(buf));
            fail_msg("SCAN %s %s answered %s, expected [cursor, keys]", cursor, opts, buf);
        }
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++) {
            note_key(s, r->element[1]->element[i]);
        }
        freeReplyObject(r);
        if (++calls > 10 * NKEYS) {
            fail_msg("SCAN %s did not finish after %ld calls", opts, calls);
        }
    } while (strcmp(cursor, "0") != 0);
    return calls;
}

static void populate(void)
{
    shale_test_assert_status(c, "OK", "DEBUG POPULATE %d", NKEYS);
    shale_test_assert_int(c, NKEYS, "DBSIZE");
}

static void test_scan_full(void **state)
{
    struct seen s;
    populate();
    shale_test_assert_int(c, 1, "HSET h f v");
    long calls = scan_all("", &s);
    for (int i = 0; i < NKEYS; i++) {
        if (s.count[i] == 0) {
            fail_msg("SCAN never returned key:%d", i);
        }
    }
    if (s.other != 1) {
        fail_msg("SCAN returned %lld keys other than key:N, expected 1 (h)", s.other);
    }
    /* COUNT 10 by default: many calls, each a slice of one shard. */
    if (calls < NKEYS / 100) {
        fail_msg("SCAN finished in %ld calls, expected at least %d", calls, NKEYS / 100);
    }
    calls = scan_all("COUNT 1000", &s);
    for (int i = 0; i < NKEYS; i++) {
        if (s.count[i] == 0) {
            fail_msg("SCAN COUNT 1000 never returned key:%d", i);
        }
    }
    if (calls > NKEYS / 100) {
        fail_msg("SCAN COUNT 1000 took %ld calls, expected at most %d", calls, NKEYS / 100);
    }
}

/* Keys added during the scan make every shard's table grow (several
 * resizes); the keys present from start to end must all still come back. */
static void test_scan_while_growing(void **state)
{
    struct seen s;
    char cursor[32] = "0";
    long added = 0;
    memset(&s, 0, sizeof(s));
    populate();
    do {
        redisReply *r = shale_test_command(c, "SCAN %s COUNT 50", cursor);
        shale_test_expect_array(r, 2, "SCAN");
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++) {
            note_key(&s, r->element[1]->element[i]);
        }
        freeReplyObject(r);
        for (int i = 0; i < 100; i++) {
            redisAppendCommand(c, "SET new:%ld x", added++);
        }
        for (int i = 0; i < 100; i++) {
            freeReplyObject(shale_test_next_reply(c));
        }
    } while (strcmp(cursor, "0") != 0);
    for (int i = 0; i < NKEYS; i++) {
        if (s.count[i] == 0) {
            fail_msg("SCAN while adding %ld keys never returned key:%d", added, i);
        }
    }
    if (added < 2 * NKEYS) {
        fail_msg("only %ld keys added during the scan, expected the tables to grow", added);
    }
}

static void test_scan_match_type(void **state)
{
    struct seen s;
    populate();
    shale_test_assert_int(c, 1, "HSET key:h f v");
    scan_all("MATCH key:12* COUNT 100", &s);
    for (int i = 0; i < NKEYS; i++) {
        char name[16];
        snprintf(name, sizeof(name), "%d", i);
        int want = strncmp(name, "12", 2) == 0;
        if (want && s.count[i] == 0) {
            fail_msg("SCAN MATCH key:12* never returned key:%d", i);
        }
        if (!want && s.count[i] != 0) {
            fail_msg("SCAN MATCH key:12* returned key:%d", i);
        }
    }
    if (s.other != 0) {
        fail_msg("SCAN MATCH key:12* returned %lld other keys", s.other);
    }
    scan_all("TYPE hash COUNT 500", &s);
    for (int i = 0; i < NKEYS; i++) {
        if (s.count[i] != 0) {
            fail_msg("SCAN TYPE hash returned string key:%d", i);
        }
    }
    if (s.other != 1) {
        fail_msg("SCAN TYPE hash returned %lld keys, expected 1", s.other);
    }
    scan_all("TYPE string MATCH key:9999", &s);
    if (s.count[9999] == 0 || s.other != 0) {
        fail_msg("SCAN TYPE string MATCH key:9999 missed key:9999 or returned others");
    }
}

static void test_scan_errors(void **state)
{
    shale_test_assert_error(c, "ERR invalid cursor", "SCAN abc");
    shale_test_assert_error(c, "ERR invalid cursor", "SCAN -");
    shale_test_assert_error(c, "ERR invalid cursor", "SCAN 99999999999999999999999");
    shale_test_assert_error(c, "ERR syntax error", "SCAN 0 COUNT 0");
    shale_test_assert_error(c, "ERR syntax error", "SCAN 0 MATCH");
    shale_test_assert_error(c, "ERR syntax error", "SCAN 0 FOO bar");
    shale_test_assert_error(c, "ERR value is not an integer or out of range", "SCAN 0 COUNT x");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'scan' command", "SCAN");
    redisReply *r = shale_test_command(c, "SCAN 0");
    shale_test_expect_array(r, 2, "SCAN 0 on an empty db");
    freeReplyObject(r);
}

static void test_scan_cursor_names_shard(void **state)
{
    shale_test_skip_on_redis("shale's cursor carries the shard in its top bits");
    /* Shard 5 of 4 does not exist. */
    shale_test_assert_error(c, "ERR invalid cursor", "SCAN %llu", 5ull << 48);
    redisReply *r = shale_test_command(c, "SCAN %llu", 3ull << 48);
    shale_test_expect_array(r, 2, "SCAN <shard 3>");
    freeReplyObject(r);
}

static void test_keys(void **state)
{
    shale_test_assert_status(c, "OK", "MSET foo 1 foobar 2 bar 3 fo 4 f*o 5");
    redisReply *r = shale_test_command(c, "KEYS *");
    shale_test_expect_array(r, 5, "KEYS *");
    freeReplyObject(r);
    r = shale_test_command(c, "KEYS foo*");
    shale_test_expect_array(r, 2, "KEYS foo*");
    freeReplyObject(r);
    r = shale_test_command(c, "KEYS f?o");
    shale_test_expect_array(r, 2, "KEYS f?o"); /* foo and f*o */
    freeReplyObject(r);
    r = shale_test_command(c, "KEYS [b]a[a-z]");
    shale_test_expect_array(r, 1, "KEYS [b]a[a-z]");
    shale_test_expect_bulk(r->element[0], "bar", "KEYS [b]a[a-z]");
    freeReplyObject(r);
    r = shale_test_command(c, "KEYS nothing*");
    shale_test_expect_array(r, 0, "KEYS nothing*");
    freeReplyObject(r);
    shale_test_assert_status(c, "OK", "FLUSHALL");
    populate();
    r = shale_test_command(c, "KEYS key:99*");
    shale_test_expect_array(r, 111, "KEYS key:99*");
    freeReplyObject(r);
    shale_test_assert_error(c, "ERR wrong number of arguments for 'keys' command", "KEYS");
}

static void test_randomkey(void **state)
{
    shale_test_assert_nil(c, "RANDOMKEY");
    shale_test_assert_status(c, "OK", "SET only 1");
    shale_test_assert_bulk(c, "only", "RANDOMKEY");
    shale_test_assert_status(c, "OK", "MSET a 1 b 2 c 3 d 4 e 5 f 6 g 7");
    /* 8 keys over 4 shards: 400 draws see every key. */
    int hits[8] = {0};
    const char *names = "onlyabcdefg";
    for (int i = 0; i < 400; i++) {
        redisReply *r = shale_test_command(c, "RANDOMKEY");
        if (r->type != REDIS_REPLY_STRING) {
            fail_msg("RANDOMKEY answered type %d, expected a key", r->type);
        }
        if (strcmp(r->str, "only") == 0) {
            hits[0]++;
        } else if (r->len == 1 && strchr(names + 4, r->str[0])) {
            hits[1 + (strchr(names + 4, r->str[0]) - (names + 4))]++;
        } else {
            fail_msg("RANDOMKEY answered \"%s\", not a key of the db", r->str);
        }
        freeReplyObject(r);
    }
    for (int i = 0; i < 8; i++) {
        if (hits[i] == 0) {
            fail_msg("RANDOMKEY never picked key #%d in 400 draws", i);
        }
    }
    shale_test_assert_error(c, "ERR wrong number of arguments for 'randomkey' command",
                            "RANDOMKEY x");
}

static void test_object_encoding(void **state)
{
    shale_test_assert_status(c, "OK", "SET i 12345");
    shale_test_assert_status(c, "OK", "SET neg -7");
    shale_test_assert_status(c, "OK", "SET lead 0123");
    shale_test_assert_status(c, "OK", "SET e hello");
    shale_test_assert_status(c, "OK", "SET e44 %s", "12345678901234567890123456789012345678901234");
    shale_test_assert_status(c, "OK", "SET r45 %s",
                             "123456789012345678901234567890123456789012345");
    shale_test_assert_bulk(c, "int", "OBJECT ENCODING i");
    shale_test_assert_bulk(c, "int", "OBJECT ENCODING neg");
    shale_test_assert_bulk(c, "embstr", "OBJECT ENCODING lead");
    shale_test_assert_bulk(c, "embstr", "OBJECT ENCODING e");
    shale_test_assert_bulk(c, "embstr", "OBJECT ENCODING e44");
    shale_test_assert_bulk(c, "raw", "OBJECT ENCODING r45");
    shale_test_assert_int(c, 1, "HSET small f v");
    shale_test_assert_bulk(c, "listpack", "OBJECT ENCODING small");
    shale_test_assert_int(c, 1, "HSET big f %s",
                          "x-value-longer-than-the-64-byte-listpack-limit-"
                          "for-a-single-hash-value");
    shale_test_assert_bulk(c, "hashtable", "OBJECT ENCODING big");
    shale_test_assert_nil(c, "OBJECT ENCODING missing");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'object|encoding' command",
                            "OBJECT ENCODING");
    shale_test_assert_error(c, "ERR unknown subcommand 'foo'. Try OBJECT HELP.", "OBJECT foo k");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'object' command", "OBJECT");
}

static void test_object_other(void **state)
{
    shale_test_assert_status(c, "OK", "SET small 42");
    shale_test_assert_status(c, "OK", "SET s hello");
    shale_test_assert_int(c, 2147483647, "OBJECT REFCOUNT small");
    shale_test_assert_int(c, 1, "OBJECT REFCOUNT s");
    shale_test_assert_nil(c, "OBJECT REFCOUNT missing");
    shale_test_assert_error(c,
                            "ERR An LFU maxmemory policy is not selected, access frequency not "
                            "tracked. Please note that when switching between policies at "
                            "runtime LRU and LFU data will take some time to adjust.",
                            "OBJECT FREQ s");
    shale_test_assert_nil(c, "OBJECT FREQ missing");
    shale_test_assert_nil(c, "OBJECT IDLETIME missing");
    long long idle = shale_test_command_int(c, "OBJECT IDLETIME s");
    if (idle < 0 || idle > 1) {
        fail_msg("OBJECT IDLETIME of a new key = %lld, expected 0..1", idle);
    }
    /* Idle time grows while the key is not read, and a read resets it. */
    shale_test_sleep_ms(2100);
    idle = shale_test_command_int(c, "OBJECT IDLETIME s");
    if (idle < 1 || idle > 3) {
        fail_msg("OBJECT IDLETIME after 2.1 s = %lld, expected 1..3", idle);
    }
    shale_test_assert_bulk(c, "hello", "GET s");
    idle = shale_test_command_int(c, "OBJECT IDLETIME s");
    if (idle > 1) {
        fail_msg("OBJECT IDLETIME after GET = %lld, expected 0..1", idle);
    }
    redisReply *r = shale_test_command(c, "OBJECT HELP");
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 5) {
        fail_msg("OBJECT HELP did not answer a help array");
    }
    shale_test_expect_status(
        r->element[0],
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:", "OBJECT HELP");
    freeReplyObject(r);
}

static void test_debug_populate(void **state)
{
    shale_test_assert_status(c, "OK", "DEBUG POPULATE 1000");
    shale_test_assert_int(c, 1000, "DBSIZE");
    shale_test_assert_bulk(c, "value:0", "GET key:0");
    shale_test_assert_bulk(c, "value:999", "GET key:999");
    shale_test_assert_nil(c, "GET key:1000");
    /* Existing keys are left alone. */
    shale_test_assert_status(c, "OK", "SET key:5 mine");
    shale_test_assert_status(c, "OK", "DEBUG POPULATE 2000");
    shale_test_assert_int(c, 2000, "DBSIZE");
    shale_test_assert_bulk(c, "mine", "GET key:5");
    /* Prefix and size: "value:N" truncated, or padded with zero bytes. */
    shale_test_assert_status(c, "OK", "DEBUG POPULATE 20 p 3");
    shale_test_assert_int(c, 2020, "DBSIZE");
    shale_test_assert_bulk(c, "val", "GET p:7");
    shale_test_assert_status(c, "OK", "DEBUG POPULATE 2 q 10");
    redisReply *r = shale_test_command(c, "GET q:1");
    shale_test_expect_bulk_len(r, "value:1\0\0\0", 10, "GET q:1");
    freeReplyObject(r);
    shale_test_assert_status(c, "OK", "DEBUG POPULATE 0");
    shale_test_assert_error(c, "ERR value is out of range, must be positive", "DEBUG POPULATE -1");
    shale_test_assert_error(c, "ERR value is out of range, must be positive", "DEBUG POPULATE x");
    shale_test_assert_error(c,
                            "ERR unknown subcommand or wrong number of arguments for 'POPULATE'. "
                            "Try DEBUG HELP.",
                            "DEBUG POPULATE 1 a 2 3");
    shale_test_assert_error(c,
                            "ERR unknown subcommand or wrong number of arguments for 'nosuch'. "
                            "Try DEBUG HELP.",
                            "DEBUG nosuch");
}

static void test_debug_sleep(void **state)
{
    shale_test_assert_status(c, "OK", "SET k v");
    long long t0 = shale_test_now_ms();
    shale_test_assert_status(c, "OK", "DEBUG SLEEP 0.3");
    long long took = shale_test_now_ms() - t0;
    if (took < 290) {
        fail_msg("DEBUG SLEEP 0.3 answered after %lld ms, expected >= 300", took);
    }
    /* A key command sent by another client during the sleep waits for it. */
    redisContext *other = shale_test_connect(server);
    redisAppendCommand(c, "DEBUG SLEEP 0.4");
    redisBufferWrite(c, &(int){0});
    shale_test_sleep_ms(100);
    t0 = shale_test_now_ms();
    shale_test_assert_bulk(other, "v", "GET k");
    took = shale_test_now_ms() - t0;
    if (took < 150) {
        fail_msg("GET during DEBUG SLEEP answered after %lld ms, expected to wait", took);
    }
    redisReply *r = shale_test_next_reply(c);
    shale_test_expect_status(r, "OK", "DEBUG SLEEP 0.4");
    freeReplyObject(r);
    redisFree(other);
    shale_test_assert_status(c, "OK", "DEBUG SLEEP 0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, test_setup, test_teardown)
        T(test_scan_full),
        T(test_scan_while_growing),
        T(test_scan_match_type),
        T(test_scan_errors),
        T(test_scan_cursor_names_shard),
        T(test_keys),
        T(test_randomkey),
        T(test_object_encoding),
        T(test_object_other),
        T(test_debug_populate),
        T(test_debug_sleep),
#undef T
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
