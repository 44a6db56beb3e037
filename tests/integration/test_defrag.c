/*
 * Active defragmentation over the wire (DESIGN §6). What the server can do
 * depends on how it was built, and INFO's shale_defrag_mode says which:
 *   jemalloc     fragmentation is real: a keyspace fragmented by deleting
 *                80% of its keys at random is defragmented (allocator frag
 *                ratio down, hits up, RSS down, every value intact) and the
 *                cycles are logged with the frag before and after;
 *   force        (make DEFRAG=force, run under ASan by make defrag-test):
 *                every allocation moves and fragmentation is simulated:
 *                cycles run and move allocations, every value intact (the
 *                clients-during-cycles test is test_defrag_clients.c);
 *   unsupported  (MALLOC=libc): CONFIG SET activedefrag yes answers the
 *                error Redis gives without its jemalloc.
 * With 4 shards and the keys of one hash tag, the CPU budget goes to the
 * shard that holds them and to no other (jemalloc and force).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>

#include <cmocka.h>

#include "tests/support/defrag.h"
#include "tests/support/reply.h"
#include "tests/support/server.h"

/* The main cron refreshes the allocator stats every 100 ms: wait for two. */
#define STATS_SETTLE_MS 350

static struct test_server *server;
static redisContext *c;

static int group_setup(void **state)
{
    static const char *const shale_args[] = {"--loglevel", "verbose", NULL};
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
    /* Leave the server as the next test expects it: defrag off, defaults. */
    if (c != NULL && !shale_test_server_is_redis()) {
        redisReply *r = redisCommand(c, "CONFIG SET activedefrag no active-defrag-ignore-bytes "
                                        "100mb active-defrag-threshold-lower 10 "
                                        "active-defrag-cycle-min 1 active-defrag-cycle-max 25 "
                                        "active-defrag-max-scan-fields 1000");
        if (r != NULL) {
            freeReplyObject(r);
        }
    }
    return shale_test_end(server, &c);
}

/* ---- small helpers ------------------------------------------------------ */

static void expect_bulk_value(redisReply *r, const char *buf, size_t len, const char *what)
{
    if (r->type != REDIS_REPLY_STRING || r->len != len || memcmp(r->str, buf, len) != 0) {
        char got[128];
        shale_test_describe_reply(r, got, sizeof got);
        fail_msg("%s: expected a %zu-byte value, got %s", what, len, got);
    }
}

/* ---- options and refusal ---------------------------------------------- */

static void expect_config(const char *name, const char *want)
{
    redisReply *r = shale_test_command(c, "CONFIG GET %s", name);
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[1]->type != REDIS_REPLY_STRING || strcmp(r->element[1]->str, want) != 0) {
        char got[256];
        shale_test_describe_reply(r, got, sizeof got);
        fail_msg("CONFIG GET %s: expected %s, got %s", name, want, got);
    }
    freeReplyObject(r);
}

static void test_options_and_info_fields(void **state)
{
    expect_config("activedefrag", "no");
    expect_config("active-defrag-ignore-bytes", "104857600");
    expect_config("active-defrag-threshold-lower", "10");
    expect_config("active-defrag-threshold-upper", "100");
    expect_config("active-defrag-cycle-min", "1");
    expect_config("active-defrag-cycle-max", "25");
    expect_config("active-defrag-max-scan-fields", "1000");
    shale_test_assert_status(c, "OK", "CONFIG SET active-defrag-cycle-max 30");
    expect_config("active-defrag-cycle-max", "30");
    shale_test_assert_status(c, "OK", "CONFIG SET active-defrag-cycle-max 25");
    shale_test_assert_error(c,
                            "ERR CONFIG SET failed (possibly related to argument "
                            "'active-defrag-cycle-max') - argument must be between 1 and 99 "
                            "inclusive",
                            "CONFIG SET active-defrag-cycle-max 100");
    char *info = shale_test_info_text(c, "all");
    static const char *const fields[] = {
        "active_defrag_running",      "active_defrag_hits",       "active_defrag_misses",
        "active_defrag_key_hits",     "active_defrag_key_misses", "total_active_defrag_time",
        "current_active_defrag_time",
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        assert_int_equal(shale_test_info_ll(info, fields[i]), 0);
    }
    free(info);

    shale_test_skip_on_redis("active-defrag-cycle-us and the per-shard lines are shale's");
    expect_config("active-defrag-cycle-us", "500");
    info = shale_test_info_text(c, "all");
    shale_test_info_line_field(info, "shard0_defrag", "share_pct");
    shale_test_info_double(info, "shale_active_defrag_cpu_pct");
    free(info);
}

static void test_enable_follows_the_build(void **state)
{
    shale_test_skip_on_redis("whether redis-server accepts it depends on how it was built");
    char *mode = shale_test_defrag_mode(c);
    printf("shale_defrag_mode: %s\n", mode);
    if (strcmp(mode, "unsupported") == 0) {
        shale_test_assert_error(c,
                                "ERR CONFIG SET failed (possibly related to argument "
                                "'activedefrag') - Active defragmentation cannot be enabled: it "
                                "requires a shale server compiled with jemalloc (the default "
                                "MALLOC=jemalloc build) or with DEFRAG=force",
                                "CONFIG SET activedefrag yes");
        expect_config("activedefrag", "no");
    } else {
        shale_test_assert_status(c, "OK", "CONFIG SET activedefrag yes");
        expect_config("activedefrag", "yes");
        shale_test_assert_status(c, "OK", "CONFIG SET activedefrag no");
    }
    free(mode);
}

/* ---- (a) a fragmented keyspace is defragmented ------------------------- */

#define FRAG_PIPELINE 1000
#define FRAG_HASHES   20
#define FRAG_FIELDS   1500

static void pipeline_ok(int n)
{
    for (int i = 0; i < n; i++) {
        redisReply *r = shale_test_next_reply(c);
        if (r->type == REDIS_REPLY_ERROR) {
            fail_msg("pipelined command %d failed: %s", i, r->str);
        }
        freeReplyObject(r);
    }
}

/* Keys str:<i> with 100-400 byte values and FRAG_HASHES hashes of
 * FRAG_FIELDS fields, then ~80% of both deleted at random. Returns the
 * surviving keys' bitmap (the caller frees it). */
static unsigned char *fragment(int nkeys)
{
    char value[512];
    unsigned char *alive = calloc((size_t)nkeys, 1);
    for (int base = 0; base < nkeys; base += FRAG_PIPELINE) {
        int n = base + FRAG_PIPELINE <= nkeys ? FRAG_PIPELINE : nkeys - base;
        for (int i = base; i < base + n; i++) {
            size_t len = shale_test_make_value(value, (uint64_t)i, 0,
                                               100 + shale_test_mix((uint64_t)i) % 301);
            redisAppendCommand(c, "SET str:%d %b", i, value, len);
        }
        pipeline_ok(n);
    }
    for (int h = 0; h < FRAG_HASHES; h++) {
        for (int f = 0; f < FRAG_FIELDS; f++) {
            /* Every 5th value is long enough for the pointer layout. */
            size_t len =
                shale_test_make_value(value, (uint64_t)(h * 100000 + f), 0, f % 5 ? 24 : 300);
            redisAppendCommand(c, "HSET hash:%d f%d %b", h, f, value, len);
        }
        pipeline_ok(FRAG_FIELDS);
    }
    int sent = 0;
    for (int i = 0; i < nkeys; i++) {
        alive[i] = shale_test_mix((uint64_t)i + 77) % 5 == 0;
        if (!alive[i]) {
            redisAppendCommand(c, "DEL str:%d", i);
            if (++sent == FRAG_PIPELINE) {
                pipeline_ok(sent);
                sent = 0;
            }
        }
    }
    pipeline_ok(sent);
    for (int h = 0; h < FRAG_HASHES; h++) {
        sent = 0;
        for (int f = 0; f < FRAG_FIELDS; f++) {
            if (shale_test_mix((uint64_t)(h * 100000 + f) + 99) % 5 != 0) {
                redisAppendCommand(c, "HDEL hash:%d f%d", h, f);
                sent++;
            }
        }
        pipeline_ok(sent);
    }
    return alive;
}

static void check_fragmented_data(int nkeys, const unsigned char *alive)
{
    char value[512], what[64];
    for (int base = 0; base < nkeys; base += FRAG_PIPELINE) {
        int n = base + FRAG_PIPELINE <= nkeys ? FRAG_PIPELINE : nkeys - base;
        for (int i = base; i < base + n; i++) {
            redisAppendCommand(c, "GET str:%d", i);
        }
        for (int i = base; i < base + n; i++) {
            redisReply *r = shale_test_next_reply(c);
            snprintf(what, sizeof what, "GET str:%d", i);
            if (alive[i]) {
                expect_bulk_value(r, value,
                                  shale_test_make_value(value, (uint64_t)i, 0,
                                                        100 + shale_test_mix((uint64_t)i) % 301),
                                  what);
            } else {
                shale_test_expect_nil(r, what);
            }
            freeReplyObject(r);
        }
    }
    for (int h = 0; h < FRAG_HASHES; h++) {
        long long want = 0;
        for (int f = 0; f < FRAG_FIELDS; f++) {
            int kept = shale_test_mix((uint64_t)(h * 100000 + f) + 99) % 5 == 0;
            want += kept;
            redisAppendCommand(c, "HGET hash:%d f%d", h, f);
        }
        for (int f = 0; f < FRAG_FIELDS; f++) {
            redisReply *r = shale_test_next_reply(c);
            snprintf(what, sizeof what, "HGET hash:%d f%d", h, f);
            if (shale_test_mix((uint64_t)(h * 100000 + f) + 99) % 5 == 0) {
                expect_bulk_value(
                    r, value,
                    shale_test_make_value(value, (uint64_t)(h * 100000 + f), 0, f % 5 ? 24 : 300),
                    what);
            } else {
                shale_test_expect_nil(r, what);
            }
            freeReplyObject(r);
        }
        shale_test_assert_int(c, want, "HLEN hash:%d", h);
    }
}

static int log_has(const char *needle)
{
    FILE *f = fopen(shale_test_server_log_path(server), "r");
    if (f == NULL) {
        return 0;
    }
    char line[1024];
    int found = 0;
    while (!found && fgets(line, sizeof line, f) != NULL) {
        found = strstr(line, needle) != NULL;
    }
    fclose(f);
    return found;
}

static void test_fragmented_keyspace_is_defragmented(void **state)
{
    shale_test_skip_on_redis("Debian's redis-server refuses activedefrag (system jemalloc)");
    char *mode = shale_test_defrag_mode(c);
    if (strcmp(mode, "unsupported") == 0) {
        printf("skipped: this build cannot defragment (MALLOC=libc without DEFRAG=force); "
               "test_enable_follows_the_build checked the refusal\n");
        free(mode);
        skip();
        return;
    }
    int real = strcmp(mode, "jemalloc") == 0;
    int nkeys = real ? 200000 : 20000;
    unsigned char *alive = fragment(nkeys);
    shale_test_sleep_ms(STATS_SETTLE_MS);
    char *info = shale_test_info_text(c, "all");
    double ratio_before = shale_test_info_double(info, "allocator_frag_ratio");
    long long rss_before = shale_test_info_ll(info, "used_memory_rss");
    printf("%s: %d keys, 80%% deleted: allocator_frag_ratio %.2f, frag_bytes %lld, rss %lld\n",
           mode, nkeys, ratio_before, shale_test_info_ll(info, "allocator_frag_bytes"), rss_before);
    if (real && ratio_before < 1.4) {
        fail_msg("deleting 80%% of the keys left allocator_frag_ratio at %.2f: expected >= 1.4",
                 ratio_before);
    }
    free(info);

    shale_test_assert_status(c, "OK",
                             "CONFIG SET active-defrag-ignore-bytes 1mb "
                             "active-defrag-threshold-lower 5 activedefrag yes");
    long long deadline = shale_test_now_ms() + 30000;
    double ratio = ratio_before;
    long long hits = 0, cycles = 0;
    for (;;) {
        shale_test_sleep_ms(200);
        info = shale_test_info_text(c, "all");
        ratio = shale_test_info_double(info, "allocator_frag_ratio");
        hits = shale_test_info_ll(info, "active_defrag_hits");
        cycles = shale_test_info_ll(info, "shale_active_defrag_cycles");
        free(info);
        if (real ? ratio <= 1.15 && cycles >= 1 : cycles >= 2) {
            break;
        }
        if (shale_test_now_ms() > deadline) {
            fail_msg("after 30 s: allocator_frag_ratio %.2f (from %.2f), %lld hits, %lld cycles",
                     ratio, ratio_before, hits, cycles);
        }
    }
    shale_test_assert_status(c, "OK", "CONFIG SET activedefrag no");
    shale_test_sleep_ms(STATS_SETTLE_MS);
    info = shale_test_info_text(c, "all");
    long long rss_after = shale_test_info_ll(info, "used_memory_rss");
    printf("after defrag: allocator_frag_ratio %.2f, hits %lld, misses %lld, key_hits %lld, "
           "key_misses %lld, cycles %lld, cpu_us %lld, rss %lld -> %lld\n",
           shale_test_info_double(info, "allocator_frag_ratio"),
           shale_test_info_ll(info, "active_defrag_hits"),
           shale_test_info_ll(info, "active_defrag_misses"),
           shale_test_info_ll(info, "active_defrag_key_hits"),
           shale_test_info_ll(info, "active_defrag_key_misses"), cycles,
           shale_test_info_ll(info, "shale_active_defrag_cpu_us"), rss_before, rss_after);
    if (shale_test_info_ll(info, "active_defrag_hits") <= 0 ||
        shale_test_info_ll(info, "active_defrag_key_hits") <= 0) {
        fail_msg("no allocation was moved");
    }
    if (shale_test_info_ll(info, "total_active_defrag_time") <= 0) {
        fail_msg("total_active_defrag_time is 0 after a cycle");
    }
    if (real && rss_after >= rss_before) {
        fail_msg("RSS did not drop after defrag and purge: %lld -> %lld", rss_before, rss_after);
    }
    free(info);
    if (!log_has("starting active defrag") || !log_has("active defrag done in")) {
        fail_msg("the log has no cycle start/end lines");
    }
    check_fragmented_data(nkeys, alive);
    free(alive);
    free(mode);
}

/* ---- (b) free cells are fragmentation, and defrag frees their pages ---- */

#define CELL_FIELDS 1000

/* Sum of the shards' cells_free (INFO shale: "shardN:...,cells_free=B"). */
static long long cells_free(const char *info)
{
    long long sum = 0;
    for (const char *p = strstr(info, "cells_free="); p; p = strstr(p + 1, "cells_free="))
        sum += atoll(p + strlen("cells_free="));
    return sum;
}

static int cell_field_kept(int h, int f)
{
    return shale_test_mix((uint64_t)(h * 100000 + f) + 5) % 4 == 0;
}

/* Hashes of `f<N>` -> 15-byte values: every entry is a 21-byte cell
 * (shards/cells.h). With 3 in 4 fields deleted their pages are a quarter
 * full, which jemalloc cannot see; the shard reports the free cells, the
 * governor starts a cycle, and the cells move until the pages empty. */
static void test_fragmented_cells_are_defragmented(void **state)
{
    shale_test_skip_on_redis("shale's cell pages");
    char *mode = shale_test_defrag_mode(c);
    if (strcmp(mode, "unsupported") == 0) {
        printf("skipped: this build cannot defragment\n");
        free(mode);
        skip();
        return;
    }
    int real = strcmp(mode, "jemalloc") == 0;
    int nhashes = real ? 200 : 40;
    char value[32], what[64];
    for (int h = 0; h < nhashes; h++) {
        for (int f = 0; f < CELL_FIELDS; f++) {
            size_t len = shale_test_make_value(value, (uint64_t)(h * 100000 + f), 0, 15);
            redisAppendCommand(c, "HSET cells:%d f%d %b", h, f, value, len);
        }
        pipeline_ok(CELL_FIELDS);
    }
    for (int h = 0; h < nhashes; h++) {
        int sent = 0;
        for (int f = 0; f < CELL_FIELDS; f++)
            if (!cell_field_kept(h, f)) {
                redisAppendCommand(c, "HDEL cells:%d f%d", h, f);
                sent++;
            }
        pipeline_ok(sent);
    }
    shale_test_sleep_ms(STATS_SETTLE_MS);
    char *info = shale_test_info_text(c, "all");
    long long free_before = cells_free(info);
    long long frag_before = shale_test_info_ll(info, "allocator_frag_bytes");
    printf("%s: %d x %d fields, 75%% deleted: cells_free %lld, allocator_frag_bytes %lld\n", mode,
           nhashes, CELL_FIELDS, free_before, frag_before);
    /* 3/4 of 24 bytes per deleted field, give or take the pages' tails. */
    long long expect_free = (long long)nhashes * CELL_FIELDS * 24 * 3 / 4;
    if (free_before < expect_free * 9 / 10)
        fail_msg("cells_free %lld after deleting 3/4 of %d cells: expected about %lld", free_before,
                 nhashes * CELL_FIELDS, expect_free);
    if (real && frag_before < free_before)
        fail_msg("allocator_frag_bytes %lld leaves the free cells (%lld) out", frag_before,
                 free_before);
    free(info);

    shale_test_assert_status(c, "OK",
                             "CONFIG SET active-defrag-ignore-bytes 1mb "
                             "active-defrag-threshold-lower 5 activedefrag yes");
    long long deadline = shale_test_now_ms() + 30000;
    long long free_now = free_before, cycles = 0;
    for (;;) {
        shale_test_sleep_ms(200);
        info = shale_test_info_text(c, "all");
        free_now = cells_free(info);
        cycles = shale_test_info_ll(info, "shale_active_defrag_cycles");
        free(info);
        if (real ? free_now < free_before / 20 && cycles >= 1 : cycles >= 2)
            break;
        if (shale_test_now_ms() > deadline)
            fail_msg("after 30 s: cells_free %lld (from %lld), %lld cycles", free_now, free_before,
                     cycles);
    }
    shale_test_assert_status(c, "OK", "CONFIG SET activedefrag no");
    printf("after defrag: cells_free %lld, %lld cycles\n", free_now, cycles);
    for (int h = 0; h < nhashes; h++) {
        long long want = 0;
        for (int f = 0; f < CELL_FIELDS; f++)
            redisAppendCommand(c, "HGET cells:%d f%d", h, f);
        for (int f = 0; f < CELL_FIELDS; f++) {
            redisReply *r = shale_test_next_reply(c);
            snprintf(what, sizeof what, "HGET cells:%d f%d", h, f);
            if (cell_field_kept(h, f)) {
                want++;
                expect_bulk_value(r, value,
                                  shale_test_make_value(value, (uint64_t)(h * 100000 + f), 0, 15),
                                  what);
            } else {
                shale_test_expect_nil(r, what);
            }
            freeReplyObject(r);
        }
        shale_test_assert_int(c, want, "HLEN cells:%d", h);
    }
    free(mode);
}

/* ---- the budget follows the fragmentation ------------------------------ */

#define TAG_KEYS 100000

static void test_budget_goes_to_the_fragmented_shard(void **state)
{
    shale_test_skip_on_redis("shards are shale's");
    char *mode = shale_test_defrag_mode(c);
    if (strcmp(mode, "unsupported") == 0) {
        printf("skipped: this build cannot defragment (MALLOC=libc without DEFRAG=force)\n");
        free(mode);
        skip();
        return;
    }
    int real = strcmp(mode, "jemalloc") == 0;
    static const char *const args[] = {"--shards", "4", NULL};
    struct test_server *four = shale_test_server_start(NULL, args);
    assert_non_null(four);
    redisContext *fc = shale_test_connect(four);
    int nkeys = real ? TAG_KEYS : TAG_KEYS / 10;
    char value[512];
    for (int base = 0; base < nkeys; base += FRAG_PIPELINE) {
        for (int i = base; i < base + FRAG_PIPELINE; i++) {
            redisAppendCommand(fc, "SET {a}:%d %b", i, value,
                               shale_test_make_value(value, (uint64_t)i, 0,
                                                     100 + shale_test_mix((uint64_t)i) % 301));
        }
        for (int i = base; i < base + FRAG_PIPELINE; i++) {
            freeReplyObject(shale_test_next_reply(fc));
        }
    }
    for (int base = 0; base < nkeys; base += FRAG_PIPELINE) {
        for (int i = base; i < base + FRAG_PIPELINE; i++) {
            redisAppendCommand(fc, i % 5 ? "DEL {a}:%d" : "EXISTS {a}:%d", i);
        }
        for (int i = base; i < base + FRAG_PIPELINE; i++) {
            freeReplyObject(shale_test_next_reply(fc));
        }
    }
    shale_test_assert_status(fc, "OK",
                             "CONFIG SET active-defrag-ignore-bytes 1mb "
                             "active-defrag-threshold-lower 5 activedefrag yes");
    /* Watch the shares while the fragmented shard works. */
    int tagged = -1;
    double share[4] = {0}, max_share = 0;
    long long deadline = shale_test_now_ms() + 20000;
    char *info = NULL;
    for (;;) {
        shale_test_sleep_ms(100);
        free(info);
        info = shale_test_info_text(fc, "shale");
        for (int s = 0; s < 4; s++) {
            char line[32];
            snprintf(line, sizeof line, "shard%d", s);
            if (shale_test_info_line_field(info, line, "keys") > 0) {
                tagged = s;
            }
            snprintf(line, sizeof line, "shard%d_defrag", s);
            share[s] = shale_test_info_line_field(info, line, "share_pct");
        }
        if (tagged >= 0 && share[tagged] > max_share) {
            max_share = share[tagged];
        }
        char line[32];
        snprintf(line, sizeof line, "shard%d_defrag", tagged < 0 ? 0 : tagged);
        if (tagged >= 0 && shale_test_info_line_field(info, line, "cycles") >= 1 && max_share > 0) {
            break;
        }
        if (shale_test_now_ms() > deadline) {
            fail_msg("no defrag cycle on the {a} shard in 20 s:\n%s", info);
        }
    }
    printf("{a} keys on shard%d; its largest share %.2f%% of its time\n%s", tagged, max_share,
           info);
    for (int s = 0; s < 4; s++) {
        char line[32];
        snprintf(line, sizeof line, "shard%d_defrag", s);
        double hits = shale_test_info_line_field(info, line, "hits");
        double cpu_us = shale_test_info_line_field(info, line, "cpu_us");
        if (s == tagged) {
            if (hits <= 0 || cpu_us <= 0) {
                fail_msg("shard%d (fragmented) moved %.0f allocations in %.0f us", s, hits, cpu_us);
            }
        } else if (hits != 0 || cpu_us != 0 || share[s] != 0) {
            fail_msg("shard%d holds no keys but got share %.2f%%, %.0f us, %.0f hits", s, share[s],
                     cpu_us, hits);
        }
    }
    /* 4 shards: the pool is 4 x the server-wide target; one shard gets it
     * all, up to active-defrag-cycle-max (25). */
    if (max_share > 25.0) {
        fail_msg("shard%d got %.2f%% of its time: more than active-defrag-cycle-max", tagged,
                 max_share);
    }
    free(info);
    redisFree(fc);
    assert_int_equal(shale_test_server_stop(four), 0);
    free(mode);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_options_and_info_fields, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_enable_follows_the_build, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_fragmented_keyspace_is_defragmented, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_fragmented_cells_are_defragmented, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_budget_goes_to_the_fragmented_shard, test_setup,
                                        test_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
