/*
 * INFO memory and the per-shard memory figures over the wire: the static
 * memory plan is reported, the allocator totals add up, and keys that all
 * hash to one shard (hash tag {a}) grow that shard's arena and not the
 * other's. Per-shard figures exist only with jemalloc: under MALLOC=libc
 * (make asan) that check is skipped, saying why.
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

#define NKEYS      20000
#define VALUE_LEN  100
#define PIPELINE   1000
#define MAX_SHARDS 2

/* The main cron refreshes the allocator stats every 100 ms: wait for two. */
#define STATS_SETTLE_MS 350

static struct test_server *server;
static redisContext *c;

static int group_setup(void **state)
{
    static const char *const shale_args[] = {"--shards", "2", NULL};
    server = shale_test_server_start(NULL, shale_args);
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

static long long info_ll(const char *info, const char *field)
{
    const char *v = shale_test_info_field(info, field);
    if (v == NULL) {
        fail_msg("INFO has no %s field:\n%s", field, info);
    }
    return strtoll(v, NULL, 10);
}

/* "name=" inside shardN's line of INFO shale. */
static long long shard_ll(const char *info, int shard, const char *name)
{
    char field[16];
    snprintf(field, sizeof(field), "shard%d", shard);
    const char *line = shale_test_info_field(info, field);
    if (line == NULL) {
        fail_msg("INFO has no %s line:\n%s", field, info);
    }
    const char *end = strchr(line, '\r');
    size_t n = strlen(name);
    for (const char *p = line; p != NULL && (end == NULL || p < end); p = strchr(p, ',')) {
        if (*p == ',') {
            p++;
        }
        if (strncmp(p, name, n) == 0 && p[n] == '=') {
            return strtoll(p + n + 1, NULL, 10);
        }
    }
    fail_msg("%s line has no %s=: %.*s", field, name, end ? (int)(end - line) : 80, line);
    return 0;
}

/* INFO memory + shale in one reply, so every figure comes from one snapshot. */
static char *info_memory(void)
{
    redisReply *r = shale_test_command(c, "INFO memory shale");
    if (r->type != REDIS_REPLY_STRING) {
        fail_msg("INFO memory shale: expected a bulk string, got type %d", r->type);
    }
    char *text = strdup(r->str);
    freeReplyObject(r);
    return text;
}

static void test_static_plan_and_totals(void **state)
{
    shale_test_skip_on_redis("shale_static_bytes and per-shard lines are shale's");
    char *info = info_memory();
    long long static_bytes = info_ll(info, "shale_static_bytes");
    long long budget = info_ll(info, "shale_data_budget");
    long long used = info_ll(info, "used_memory");
    long long allocated = info_ll(info, "allocator_allocated");
    long long active = info_ll(info, "allocator_active");
    long long resident = info_ll(info, "allocator_resident");
    long long frag_bytes = info_ll(info, "allocator_frag_bytes");
    printf("shale_static_bytes=%lld used_memory=%lld allocator_allocated=%lld active=%lld "
           "resident=%lld\n",
           static_bytes, used, allocated, active, resident);
    if (static_bytes <= 0) {
        fail_msg("shale_static_bytes = %lld, expected > 0", static_bytes);
    }
    if (shale_test_info_field(info, "shale_static_bytes_human") == NULL) {
        fail_msg("INFO has no shale_static_bytes_human");
    }
    /* maxmemory 0 means no limit (budget 0); under a cgroup memory limit it
     * defaults to a share of that limit, the static plan included. */
    long long maxmemory = info_ll(info, "maxmemory");
    assert_int_equal(budget, maxmemory > static_bytes ? maxmemory - static_bytes : 0);
    if (used <= 0 || used != allocated) {
        fail_msg("used_memory %lld, allocator_allocated %lld: expected equal and > 0", used,
                 allocated);
    }
    if (active < allocated) {
        fail_msg("allocator_active %lld < allocator_allocated %lld", active, allocated);
    }
    assert_int_equal(frag_bytes, active - allocated);
    /* The static part is allocated at start-up and counted in used_memory. */
    if (used < static_bytes) {
        fail_msg("used_memory %lld < shale_static_bytes %lld", used, static_bytes);
    }
    free(info);
}

static void load_keys_on_one_shard(void)
{
    char value[VALUE_LEN + 1];
    memset(value, 'v', VALUE_LEN);
    value[VALUE_LEN] = '\0';
    for (int base = 0; base < NKEYS; base += PIPELINE) {
        for (int i = base; i < base + PIPELINE; i++) {
            redisAppendCommand(c, "SET {a}:%d %s", i, value);
        }
        for (int i = base; i < base + PIPELINE; i++) {
            redisReply *r = shale_test_next_reply(c);
            shale_test_expect_status(r, "OK", "SET {a}:N");
            freeReplyObject(r);
        }
    }
    shale_test_assert_int(c, NKEYS, "DBSIZE");
}

static void test_keys_on_one_shard_grow_its_arena(void **state)
{
    shale_test_skip_on_redis("per-shard memory is shale's");
    char *info = info_memory();
    const char *allocator = shale_test_info_field(info, "mem_allocator");
    if (allocator != NULL && strncmp(allocator, "libc", 4) == 0) {
        printf("skipped: server built with MALLOC=libc (make asan): no jemalloc arenas, so no "
               "per-shard memory figures (they read 0)\n");
        free(info);
        skip();
        return;
    }
    shale_test_sleep_ms(STATS_SETTLE_MS);
    free(info);
    info = info_memory();
    long long before[MAX_SHARDS];
    for (int s = 0; s < MAX_SHARDS; s++) {
        before[s] = shard_ll(info, s, "used_memory");
    }
    free(info);

    load_keys_on_one_shard();
    shale_test_sleep_ms(STATS_SETTLE_MS);
    info = info_memory();

    int loaded = -1;
    long long grew[MAX_SHARDS], sum = 0;
    for (int s = 0; s < MAX_SHARDS; s++) {
        long long keys = shard_ll(info, s, "keys");
        long long used = shard_ll(info, s, "used_memory");
        long long active = shard_ll(info, s, "active");
        grew[s] = used - before[s];
        sum += used;
        printf("shard%d: keys=%lld used_memory=%lld (grew %lld) active=%lld resident=%lld\n", s,
               keys, used, grew[s], active, shard_ll(info, s, "resident"));
        if (keys == NKEYS) {
            loaded = s;
        } else if (keys != 0) {
            fail_msg("shard%d holds %lld keys: expected all %d {a} keys on one shard", s, keys,
                     NKEYS);
        }
        if (used > 0 && active < used) {
            fail_msg("shard%d active %lld < used_memory %lld", s, active, used);
        }
    }
    if (loaded < 0) {
        fail_msg("no shard reports keys=%d", NKEYS);
    }
    int other = 1 - loaded;
    long long want = (long long)NKEYS * VALUE_LEN;
    if (grew[loaded] < want) {
        fail_msg("shard%d (the {a} shard) grew %lld bytes for %d keys, expected >= %lld", loaded,
                 grew[loaded], NKEYS, want);
    }
    if (grew[other] * 10 > grew[loaded]) {
        fail_msg("shard%d (no keys) grew %lld bytes, shard%d (all keys) %lld: expected the "
                 "loaded shard's growth to be over 10x the other's",
                 other, grew[other], loaded, grew[loaded]);
    }
    long long allocated = info_ll(info, "allocator_allocated");
    if (sum > allocated) {
        fail_msg("per-shard used_memory sums to %lld > allocator_allocated %lld", sum, allocated);
    }
    free(info);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_static_plan_and_totals, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_keys_on_one_shard_grow_its_arena, test_setup,
                                        test_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
