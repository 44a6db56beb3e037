/*
 * A bulk load that expires: 1,000,000 keys with a 1.5 s TTL, loaded through
 * a pipeline (a sanitizer build, many times slower, gets a TTL of twice its
 * load time instead, timed on a trial batch, so no key expires before the
 * load ends). Within a few seconds of their expiry, with no client touching
 * them, the keys are gone and used_memory is back near its level before the
 * load (tables shrink as they empty), while the server keeps answering PING
 * quickly the whole time. Runs against redis-server too.
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

#define KEYS     1000000
#define BATCH    10000
#define TTL_MS   1500
#define DEADLINE 8000    /* ms after the TTL for memory to come back */
#define SLACK    2000000 /* bytes above the pre-load level still "back" */
#define MAX_PING 250     /* ms: the slowest PING allowed while keys expire */

static struct test_server *server;

static int group_setup(void **state)
{
    server = shale_test_server_start(NULL, NULL);
    return server != NULL ? 0 : -1;
}

static int group_teardown(void **state)
{
    return shale_test_server_stop(server);
}

static long long used_memory(redisContext *c)
{
    redisReply *r = shale_test_command(c, "INFO memory");
    const char *v = shale_test_info_field(r->str, "used_memory");
    long long n = v ? atoll(v) : -1;
    freeReplyObject(r);
    return n;
}

/* SETs keys [from, from + BATCH) with a TTL of ttl_ms (0: none). */
static void load_batch(redisContext *c, int from, long long ttl_ms)
{
    char key[32];
    for (int i = from; i < from + BATCH; i++) {
        int n = snprintf(key, sizeof(key), "bulk:%d", i);
        if (ttl_ms)
            redisAppendCommand(c, "SET %b 0123456789abcdef PX %lld", key, (size_t)n, ttl_ms);
        else
            redisAppendCommand(c, "SET %b 0123456789abcdef", key, (size_t)n);
    }
    for (int i = 0; i < BATCH; i++) {
        redisReply *r = shale_test_next_reply(c);
        shale_test_expect_status(r, "OK", "SET");
        freeReplyObject(r);
    }
}

/* TTL_MS, or twice the load time here if that is longer (from the time one
 * trial batch takes). */
static long long choose_ttl_ms(redisContext *c)
{
    long long t0 = shale_test_now_ms();
    load_batch(c, 0, 0);
    long long load_ms = (shale_test_now_ms() - t0) * (KEYS / BATCH);
    shale_test_assert_status(c, "OK", "FLUSHALL");
    return 2 * load_ms > TTL_MS ? 2 * load_ms : TTL_MS;
}

static void test_memory_returns_after_bulk_expiry(void **state)
{
    redisContext *c = shale_test_connect(server);
    shale_test_assert_status(c, "OK", "FLUSHALL");
    long long ttl_ms = choose_ttl_ms(c);
    long long before = used_memory(c);
    for (int base = 0; base < KEYS; base += BATCH)
        load_batch(c, base, ttl_ms);
    long long loaded_at = shale_test_now_ms();
    long long peak = used_memory(c);
    print_message("used_memory: %lld before, %lld loaded (%lld keys)\n", before, peak,
                  (long long)KEYS);
    if (peak < before + KEYS * 16LL)
        fail_msg("the load did not show in used_memory (%lld -> %lld)", before, peak);

    long long slowest = 0, now = 0, back_at = -1;
    long long keys = -1, mem = -1;
    while ((now = shale_test_now_ms()) < loaded_at + ttl_ms + DEADLINE) {
        long long t0 = shale_test_now_ms();
        shale_test_assert_status(c, "PONG", "PING");
        long long took = shale_test_now_ms() - t0;
        slowest = took > slowest ? took : slowest;
        redisReply *r = shale_test_command(c, "DBSIZE");
        keys = r->integer;
        freeReplyObject(r);
        mem = used_memory(c);
        if (keys == 0 && mem <= before + SLACK) {
            back_at = now;
            break;
        }
        shale_test_sleep_ms(50);
    }
    print_message("keys gone and memory back %lld ms after the load (%lld bytes), slowest PING "
                  "%lld ms\n",
                  back_at - loaded_at, mem, slowest);
    if (back_at < 0)
        fail_msg("%lld ms after the TTL: %lld keys left, used_memory %lld (before the load %lld)",
                 (long long)DEADLINE, keys, mem, before);
    if (slowest > MAX_PING)
        fail_msg("a PING took %lld ms while keys expired", slowest);
    redisFree(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory_returns_after_bulk_expiry),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
