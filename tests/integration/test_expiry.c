/*
 * Active expiry over the wire: keys whose TTL passes are deleted by the
 * shards' own expiry cycle, with no client touching them, and INFO shows it
 * (keyspace counts, expired_keys). Nothing here looks a key up after it
 * expires, so lazy expiry cannot be what removed it. Runs against Redis too
 * (SHALE_SERVER_KIND=redis): the figures are Redis's.
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

#define VOLATILE_KEYS 10000
#define PLAIN_KEYS    100
#define WAIT_MS       1500 /* after the last SET; the keys expire 100 ms after theirs */

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

/* INFO <section> as a NUL-terminated string, to be freed. */
static char *info(const char *section)
{
    redisReply *r = shale_test_command(c, "INFO %s", section);
    if (r->type != REDIS_REPLY_STRING) {
        char desc[512];
        shale_test_describe_reply(r, desc, sizeof desc);
        fail_msg("INFO %s: expected a bulk string, got %s", section, desc);
    }
    char *text = strdup(r->str);
    freeReplyObject(r);
    return text;
}

/* keys= of "db0:keys=N,expires=...", 0 when the line is absent (no keys). */
static long long db0_keys(const char *keyspace)
{
    const char *v = shale_test_info_field(keyspace, "db0");
    if (v == NULL) {
        return 0;
    }
    if (strncmp(v, "keys=", 5) != 0) {
        fail_msg("INFO keyspace: db0 line without keys=: %.60s", v);
    }
    return strtoll(v + 5, NULL, 10);
}

static long long expired_keys(void)
{
    char *stats = info("stats");
    const char *v = shale_test_info_field(stats, "expired_keys");
    if (v == NULL) {
        fail_msg("INFO stats has no expired_keys field");
    }
    long long n = strtoll(v, NULL, 10);
    free(stats);
    return n;
}

static void test_untouched_keys_expire(void **state)
{
    long long expired_before = expired_keys();

    /* One pipeline: 10,000 keys with PX 100, then 100 without a TTL. */
    for (int i = 0; i < VOLATILE_KEYS; i++) {
        redisAppendCommand(c, "SET volatile:%d v PX 100", i);
    }
    for (int i = 0; i < PLAIN_KEYS; i++) {
        redisAppendCommand(c, "SET plain:%d v", i);
    }
    for (int i = 0; i < VOLATILE_KEYS + PLAIN_KEYS; i++) {
        redisReply *r = shale_test_next_reply(c);
        shale_test_expect_status(r, "OK", "SET");
        freeReplyObject(r);
    }
    long long set_done = shale_test_now_ms();

    /* Only INFO from here on: it reads counts and touches no key. Stop
     * waiting as soon as the count is right; judge at WAIT_MS. */
    char *keyspace = NULL;
    long long keys = -1;
    for (;;) {
        free(keyspace);
        keyspace = info("keyspace");
        keys = db0_keys(keyspace);
        if (keys == PLAIN_KEYS || shale_test_now_ms() - set_done >= WAIT_MS) {
            break;
        }
        shale_test_sleep_ms(50);
    }
    if (keys != PLAIN_KEYS) {
        fail_msg("%lld ms after setting %d keys with PX 100 and %d without a TTL, INFO "
                 "keyspace says db0 has %lld keys (expected %d: the active expiry cycle has not "
                 "deleted the expired ones): %s",
                 shale_test_now_ms() - set_done, VOLATILE_KEYS, PLAIN_KEYS, keys, PLAIN_KEYS,
                 keyspace);
    }
    const char *db0 = shale_test_info_field(keyspace, "db0");
    if (strncmp(db0, "keys=100,expires=0,", 19) != 0) {
        fail_msg("INFO keyspace db0: expected keys=100,expires=0,..., got %.60s", db0);
    }
    free(keyspace);

    long long expired = expired_keys() - expired_before;
    if (expired < VOLATILE_KEYS) {
        fail_msg("INFO stats expired_keys grew by %lld, expected at least %d", expired,
                 VOLATILE_KEYS);
    }
    /* The count the shards answer agrees, and the plain keys are intact. */
    shale_test_assert_int(c, PLAIN_KEYS, "DBSIZE");
    shale_test_assert_bulk(c, "v", "GET plain:0");
    shale_test_assert_bulk(c, "v", "GET plain:%d", PLAIN_KEYS - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_untouched_keys_expire, test_setup, test_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
