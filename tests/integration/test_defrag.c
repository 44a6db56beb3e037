/*
 * Active defragmentation over the wire (DESIGN §6). What the server can do
 * depends on how it was built, and INFO's shale_defrag_mode says which:
 *   jemalloc     fragmentation is real: a keyspace fragmented by deleting
 *                80% of its keys at random is defragmented (allocator frag
 *                ratio down, hits up, RSS down, every value intact) and the
 *                cycles are logged with the frag before and after;
 *   force        (make DEFRAG=force, run under ASan by make defrag-test):
 *                every allocation moves and fragmentation is simulated, so
 *                cycles run back to back while clients read and write
 *                strings, keys with TTLs, hashes of every encoding and
 *                layout, delete, FLUSHDB and FLUSHALL: every reply is
 *                checked, and a stale pointer is an ASan report;
 *   unsupported  (MALLOC=libc): CONFIG SET activedefrag yes answers the
 *                error Redis gives without its jemalloc.
 * With 4 shards and the keys of one hash tag, the CPU budget goes to the
 * shard that holds them and to no other (jemalloc and force).
 */
#include <pthread.h>
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

static char *info_text(redisContext *ctx, const char *sections)
{
    redisReply *r = shale_test_command(ctx, "INFO %s", sections);
    if (r->type != REDIS_REPLY_STRING) {
        fail_msg("INFO %s: expected a bulk string, got type %d", sections, r->type);
    }
    char *text = strdup(r->str);
    freeReplyObject(r);
    return text;
}

static long long info_ll(const char *info, const char *field)
{
    const char *v = shale_test_info_field(info, field);
    if (v == NULL) {
        fail_msg("INFO has no %s field:\n%s", field, info);
    }
    return strtoll(v, NULL, 10);
}

static double info_double(const char *info, const char *field)
{
    const char *v = shale_test_info_field(info, field);
    if (v == NULL) {
        fail_msg("INFO has no %s field:\n%s", field, info);
    }
    return strtod(v, NULL);
}

/* "name=" inside an INFO line such as shard2_defrag:running=1,hits=... */
static double line_field(const char *info, const char *line_name, const char *name)
{
    const char *line = shale_test_info_field(info, line_name);
    if (line == NULL) {
        fail_msg("INFO has no %s line:\n%s", line_name, info);
    }
    const char *end = strchr(line, '\r');
    size_t n = strlen(name);
    for (const char *p = line; p != NULL && (end == NULL || p < end); p = strchr(p, ',')) {
        if (*p == ',') {
            p++;
        }
        if (strncmp(p, name, n) == 0 && p[n] == '=') {
            return strtod(p + n + 1, NULL);
        }
    }
    fail_msg("%s line has no %s=: %.*s", line_name, name, end ? (int)(end - line) : 80, line);
    return 0;
}

/* "jemalloc", "force" or "unsupported"; the caller frees it. */
static char *defrag_mode(redisContext *ctx)
{
    char *info = info_text(ctx, "memory");
    const char *v = shale_test_info_field(info, "shale_defrag_mode");
    if (v == NULL) {
        fail_msg("INFO memory has no shale_defrag_mode:\n%s", info);
    }
    char *mode = strndup(v, strcspn(v, "\r\n"));
    free(info);
    return mode;
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

/* The value of (id, version), len bytes, reproducible for checking. */
static size_t make_value(char *buf, uint64_t id, uint64_t ver, size_t len)
{
    uint64_t h = mix(id * 1000003 + ver);
    for (size_t i = 0; i < len; i++) {
        buf[i] = (char)('a' + (h >> (i % 32)) % 26);
    }
    return len;
}

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
    char *info = info_text(c, "all");
    static const char *const fields[] = {
        "active_defrag_running",      "active_defrag_hits",       "active_defrag_misses",
        "active_defrag_key_hits",     "active_defrag_key_misses", "total_active_defrag_time",
        "current_active_defrag_time",
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        assert_int_equal(info_ll(info, fields[i]), 0);
    }
    free(info);

    shale_test_skip_on_redis("active-defrag-cycle-us and the per-shard lines are shale's");
    expect_config("active-defrag-cycle-us", "500");
    info = info_text(c, "all");
    line_field(info, "shard0_defrag", "share_pct");
    info_double(info, "shale_active_defrag_cpu_pct");
    free(info);
}

static void test_enable_follows_the_build(void **state)
{
    shale_test_skip_on_redis("whether redis-server accepts it depends on how it was built");
    char *mode = defrag_mode(c);
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
            size_t len = make_value(value, (uint64_t)i, 0, 100 + mix((uint64_t)i) % 301);
            redisAppendCommand(c, "SET str:%d %b", i, value, len);
        }
        pipeline_ok(n);
    }
    for (int h = 0; h < FRAG_HASHES; h++) {
        for (int f = 0; f < FRAG_FIELDS; f++) {
            /* Every 5th value is long enough for the pointer layout. */
            size_t len = make_value(value, (uint64_t)(h * 100000 + f), 0, f % 5 ? 24 : 300);
            redisAppendCommand(c, "HSET hash:%d f%d %b", h, f, value, len);
        }
        pipeline_ok(FRAG_FIELDS);
    }
    int sent = 0;
    for (int i = 0; i < nkeys; i++) {
        alive[i] = mix((uint64_t)i + 77) % 5 == 0;
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
            if (mix((uint64_t)(h * 100000 + f) + 99) % 5 != 0) {
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
                                  make_value(value, (uint64_t)i, 0, 100 + mix((uint64_t)i) % 301),
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
            int kept = mix((uint64_t)(h * 100000 + f) + 99) % 5 == 0;
            want += kept;
            redisAppendCommand(c, "HGET hash:%d f%d", h, f);
        }
        for (int f = 0; f < FRAG_FIELDS; f++) {
            redisReply *r = shale_test_next_reply(c);
            snprintf(what, sizeof what, "HGET hash:%d f%d", h, f);
            if (mix((uint64_t)(h * 100000 + f) + 99) % 5 == 0) {
                expect_bulk_value(
                    r, value, make_value(value, (uint64_t)(h * 100000 + f), 0, f % 5 ? 24 : 300),
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
    char *mode = defrag_mode(c);
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
    char *info = info_text(c, "all");
    double ratio_before = info_double(info, "allocator_frag_ratio");
    long long rss_before = info_ll(info, "used_memory_rss");
    printf("%s: %d keys, 80%% deleted: allocator_frag_ratio %.2f, frag_bytes %lld, rss %lld\n",
           mode, nkeys, ratio_before, info_ll(info, "allocator_frag_bytes"), rss_before);
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
        info = info_text(c, "all");
        ratio = info_double(info, "allocator_frag_ratio");
        hits = info_ll(info, "active_defrag_hits");
        cycles = info_ll(info, "shale_active_defrag_cycles");
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
    info = info_text(c, "all");
    long long rss_after = info_ll(info, "used_memory_rss");
    printf("after defrag: allocator_frag_ratio %.2f, hits %lld, misses %lld, key_hits %lld, "
           "key_misses %lld, cycles %lld, cpu_us %lld, rss %lld -> %lld\n",
           info_double(info, "allocator_frag_ratio"), info_ll(info, "active_defrag_hits"),
           info_ll(info, "active_defrag_misses"), info_ll(info, "active_defrag_key_hits"),
           info_ll(info, "active_defrag_key_misses"), cycles,
           info_ll(info, "shale_active_defrag_cpu_us"), rss_before, rss_after);
    if (info_ll(info, "active_defrag_hits") <= 0 || info_ll(info, "active_defrag_key_hits") <= 0) {
        fail_msg("no allocation was moved");
    }
    if (info_ll(info, "total_active_defrag_time") <= 0) {
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

/* ---- (b) clients read and write while cycles run ------------------------ */

#define W_STR_KEYS    1500
#define W_TMP_KEYS    200
#define W_HASHES      40
#define W_MAX_FIELDS  200
#define W_DB1_KEYS    400
#define ROUND_MS      2500
#define TTL_MARGIN_MS 20

enum worker_kind { W_STRINGS, W_HASHES_KIND, W_DB1 };

struct worker {
    enum worker_kind kind;
    int port;
    int round;
    long long stop_ms;
    pthread_t thread;
    char err[512];
    long ops;
    uint64_t rng;
};

static uint64_t next_rand(struct worker *w)
{
    w->rng = w->rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return w->rng >> 33;
}

#define WFAIL(w, ...)                                                                              \
    do {                                                                                           \
        snprintf((w)->err, sizeof(w)->err, __VA_ARGS__);                                           \
        return -1;                                                                                 \
    } while (0)

static int check_value(struct worker *w, redisReply *r, const char *buf, size_t len,
                       const char *what, long id)
{
    if (r == NULL) {
        WFAIL(w, "%s %ld: no reply", what, id);
    }
    if (r->type != REDIS_REPLY_STRING || r->len != len || memcmp(r->str, buf, len) != 0) {
        char got[128];
        shale_test_describe_reply(r, got, sizeof got);
        WFAIL(w, "%s %ld: expected a %zu-byte value, got %s", what, id, len, got);
    }
    return 0;
}

static int check_nil(struct worker *w, redisReply *r, const char *what, long id)
{
    if (r == NULL || r->type != REDIS_REPLY_NIL) {
        char got[128] = "no reply";
        if (r != NULL) {
            shale_test_describe_reply(r, got, sizeof got);
        }
        WFAIL(w, "%s %ld: expected nil, got %s", what, id, got);
    }
    return 0;
}

/* Strings in db 0: str:<id> (some with a long TTL), tmp:<id> with 100-400
 * ms TTLs that expire under the walk. */
struct str_model {
    int ver[W_STR_KEYS];
    long long tmp_set_lo[W_TMP_KEYS], tmp_set_hi[W_TMP_KEYS]; /* expiry window, ms */
    int tmp_ver[W_TMP_KEYS];
};

static size_t str_len(long id, int ver)
{
    return 1 + mix((uint64_t)id * 31 + (uint64_t)ver) % 400;
}

static int strings_verify_all(struct worker *w, redisContext *ctx, struct str_model *m)
{
    char buf[512];
    for (long id = 0; id < W_STR_KEYS; id++) {
        redisReply *r = redisCommand(ctx, "GET str:%ld", id);
        int rc = m->ver[id] < 0 ? check_nil(w, r, "GET str", id)
                                : check_value(w, r, buf,
                                              make_value(buf, (uint64_t)id, (uint64_t)m->ver[id],
                                                         str_len(id, m->ver[id])),
                                              "GET str", id);
        if (r != NULL) {
            freeReplyObject(r);
        }
        if (rc < 0) {
            return -1;
        }
    }
    return 0;
}

static int strings_step(struct worker *w, redisContext *ctx, struct str_model *m)
{
    char buf[512];
    long id = (long)(next_rand(w) % W_STR_KEYS);
    long tmp = (long)(next_rand(w) % W_TMP_KEYS);
    redisReply *r = NULL;
    int rc = 0;
    switch (next_rand(w) % 8) {
    case 0:
    case 1: { /* SET, sometimes with a TTL that will not expire */
        int ver = m->ver[id] + 1 + (int)(next_rand(w) % 3);
        size_t len = make_value(buf, (uint64_t)id, (uint64_t)ver, str_len(id, ver));
        r = ver % 4 == 0 ? redisCommand(ctx, "SET str:%ld %b EX 100000", id, buf, len)
                         : redisCommand(ctx, "SET str:%ld %b", id, buf, len);
        if (r == NULL || r->type != REDIS_REPLY_STATUS) {
            snprintf(w->err, sizeof w->err, "SET str:%ld failed", id);
            rc = -1;
        }
        m->ver[id] = ver;
        break;
    }
    case 2:
    case 3:
    case 4: /* GET */
        r = redisCommand(ctx, "GET str:%ld", id);
        rc = m->ver[id] < 0 ? check_nil(w, r, "GET str", id)
                            : check_value(w, r, buf,
                                          make_value(buf, (uint64_t)id, (uint64_t)m->ver[id],
                                                     str_len(id, m->ver[id])),
                                          "GET str", id);
        break;
    case 5: /* DEL */
        r = redisCommand(ctx, "DEL str:%ld", id);
        if (r == NULL || r->type != REDIS_REPLY_INTEGER || r->integer != (m->ver[id] >= 0)) {
            snprintf(w->err, sizeof w->err, "DEL str:%ld: expected %d", id, m->ver[id] >= 0);
            rc = -1;
        }
        m->ver[id] = -1;
        break;
    case 6: { /* a key with a short TTL */
        int ver = m->tmp_ver[tmp] + 1;
        long px = 100 + (long)(next_rand(w) % 300);
        size_t len = make_value(buf, (uint64_t)(tmp + 1000000), (uint64_t)ver, 50);
        long long t0 = shale_test_now_ms();
        r = redisCommand(ctx, "SET tmp:%ld %b PX %ld", tmp, buf, len, px);
        long long t1 = shale_test_now_ms();
        if (r == NULL || r->type != REDIS_REPLY_STATUS) {
            snprintf(w->err, sizeof w->err, "SET tmp:%ld PX failed", tmp);
            rc = -1;
        }
        m->tmp_ver[tmp] = ver;
        m->tmp_set_lo[tmp] = t0 + px;
        m->tmp_set_hi[tmp] = t1 + px;
        break;
    }
    default: { /* GET tmp: the value before its expiry, nil after */
        if (m->tmp_ver[tmp] < 0) {
            break;
        }
        size_t len = make_value(buf, (uint64_t)(tmp + 1000000), (uint64_t)m->tmp_ver[tmp], 50);
        long long g0 = shale_test_now_ms();
        r = redisCommand(ctx, "GET tmp:%ld", tmp);
        long long g1 = shale_test_now_ms();
        /* TTL_MARGIN_MS: both clocks count whole ms, and a shard stamps a
         * batch of commands with one clock reading, so the server's expiry
         * may sit a little before or after the window seen here. */
        if (g1 < m->tmp_set_lo[tmp] - TTL_MARGIN_MS) {
            rc = check_value(w, r, buf, len, "GET tmp (before its TTL)", tmp);
        } else if (g0 > m->tmp_set_hi[tmp] + TTL_MARGIN_MS) {
            rc = check_nil(w, r, "GET tmp (after its TTL)", tmp);
        } else if (r == NULL) {
            rc = check_nil(w, r, "GET tmp", tmp);
        } else if (r->type != REDIS_REPLY_NIL) {
            rc = check_value(w, r, buf, len, "GET tmp (at its TTL)", tmp);
        }
        break;
    }
    }
    if (r != NULL) {
        freeReplyObject(r);
    }
    return rc;
}

/* Hashes h:<id>: compact, table with embedded entries, table with
 * pointer-layout entries, and big ones (more fields than
 * active-defrag-max-scan-fields, walked later by name). Field values
 * switch layout as their version changes. */
struct hash_model {
    int nfields[W_HASHES];
    int ver[W_HASHES][W_MAX_FIELDS]; /* -1: field absent */
};

static size_t field_len(int h, int f, int ver)
{
    switch (h % 4) {
    case 0:
        return 1 + (size_t)(f + ver) % 20; /* compact */
    case 1:
        return 5 + (size_t)(f + ver) % 60; /* table, embedded */
    default:
        return (f + ver) % 3 == 0 ? 300 : 30; /* both layouts, switching */
    }
}

static int shape_fields(int h)
{
    return h % 4 == 0 ? 6 : h % 4 == 3 ? W_MAX_FIELDS : 80;
}

static int hash_verify(struct worker *w, redisContext *ctx, struct hash_model *m, int h)
{
    char buf[512];
    int n = m->nfields[h];
    for (int f = 0; f < n; f++) {
        redisAppendCommand(ctx, "HGET h:%d f%d", h, f);
    }
    int rc = 0;
    for (int f = 0; f < n; f++) {
        redisReply *r = NULL;
        if (redisGetReply(ctx, (void **)&r) != REDIS_OK) {
            WFAIL(w, "HGET h:%d f%d: connection failed", h, f);
        }
        if (rc == 0) {
            int ver = m->ver[h][f];
            rc = ver < 0 ? check_nil(w, r, "HGET field of hash", h)
                         : check_value(w, r, buf,
                                       make_value(buf, (uint64_t)(h * 1000 + f), (uint64_t)ver,
                                                  field_len(h, f, ver)),
                                       "HGET field of hash", h);
        }
        freeReplyObject(r);
    }
    return rc;
}

static int hashes_step(struct worker *w, redisContext *ctx, struct hash_model *m)
{
    char buf[512];
    int h = (int)(next_rand(w) % W_HASHES);
    int op = (int)(next_rand(w) % 10);
    redisReply *r = NULL;
    if (op == 0 || m->nfields[h] == 0) { /* (re)build the whole hash */
        int n = shape_fields(h);
        r = redisCommand(ctx, "DEL h:%d", h);
        if (r != NULL) {
            freeReplyObject(r);
        }
        for (int f = 0; f < n; f++) {
            int ver = m->ver[h][f] + 1;
            if (ver < 0) {
                ver = (int)(next_rand(w) % 5);
            }
            m->ver[h][f] = ver;
            size_t len =
                make_value(buf, (uint64_t)(h * 1000 + f), (uint64_t)ver, field_len(h, f, ver));
            redisAppendCommand(ctx, "HSET h:%d f%d %b", h, f, buf, len);
        }
        for (int f = 0; f < n; f++) {
            if (redisGetReply(ctx, (void **)&r) != REDIS_OK || r->type != REDIS_REPLY_INTEGER) {
                WFAIL(w, "HSET h:%d f%d failed", h, f);
            }
            freeReplyObject(r);
        }
        m->nfields[h] = n;
        return 0;
    }
    int f = (int)(next_rand(w) % (unsigned)m->nfields[h]);
    int rc = 0;
    if (op <= 4) { /* update one field: its size class or layout may change */
        int ver = m->ver[h][f] + 1;
        if (ver < 0) {
            ver = 1;
        }
        size_t len = make_value(buf, (uint64_t)(h * 1000 + f), (uint64_t)ver, field_len(h, f, ver));
        r = redisCommand(ctx, "HSET h:%d f%d %b", h, f, buf, len);
        if (r == NULL || r->type != REDIS_REPLY_INTEGER || r->integer != (m->ver[h][f] < 0)) {
            snprintf(w->err, sizeof w->err, "HSET h:%d f%d: expected %d", h, f, m->ver[h][f] < 0);
            rc = -1;
        }
        m->ver[h][f] = ver;
    } else if (op == 5) { /* delete a field */
        r = redisCommand(ctx, "HDEL h:%d f%d", h, f);
        if (r == NULL || r->type != REDIS_REPLY_INTEGER || r->integer != (m->ver[h][f] >= 0)) {
            snprintf(w->err, sizeof w->err, "HDEL h:%d f%d: expected %d", h, f, m->ver[h][f] >= 0);
            rc = -1;
        }
        m->ver[h][f] = -1;
        int left = 0;
        for (int i = 0; i < m->nfields[h]; i++) {
            left += m->ver[h][i] >= 0;
        }
        if (left == 0) { /* the key went with its last field */
            m->nfields[h] = 0;
        }
    } else if (op == 6) { /* drop the whole key */
        r = redisCommand(ctx, "DEL h:%d", h);
        for (int i = 0; i < W_MAX_FIELDS; i++) {
            m->ver[h][i] = -1;
        }
        m->nfields[h] = 0;
    } else {
        rc = hash_verify(w, ctx, m, h);
    }
    if (r != NULL) {
        freeReplyObject(r);
    }
    return rc;
}

/* db 1: its own keys, flushed every few hundred operations. */
static int db1_step(struct worker *w, redisContext *ctx, int *ver)
{
    char buf[512];
    long id = (long)(next_rand(w) % W_DB1_KEYS);
    redisReply *r = NULL;
    int rc = 0;
    int op = (int)(next_rand(w) % 300);
    if (op == 0) {
        r = redisCommand(ctx, "FLUSHDB");
        if (r == NULL || r->type != REDIS_REPLY_STATUS) {
            snprintf(w->err, sizeof w->err, "FLUSHDB failed");
            rc = -1;
        }
        for (int i = 0; i < W_DB1_KEYS; i++) {
            ver[i] = -1;
        }
    } else if (op % 2) {
        int v = ver[id] + 1;
        size_t len = make_value(buf, (uint64_t)id + 5000000, (uint64_t)v, 20 + (size_t)v % 200);
        r = redisCommand(ctx, "SET d:%ld %b", id, buf, len);
        ver[id] = v;
    } else {
        r = redisCommand(ctx, "GET d:%ld", id);
        rc = ver[id] < 0 ? check_nil(w, r, "GET d", id)
                         : check_value(w, r, buf,
                                       make_value(buf, (uint64_t)id + 5000000, (uint64_t)ver[id],
                                                  20 + (size_t)ver[id] % 200),
                                       "GET d", id);
    }
    if (r != NULL) {
        freeReplyObject(r);
    }
    return rc;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    redisContext *ctx = redisConnect("127.0.0.1", w->port);
    if (ctx == NULL || ctx->err) {
        snprintf(w->err, sizeof w->err, "connect failed");
        return NULL;
    }
    struct timeval tv = {30, 0};
    redisSetTimeout(ctx, tv);
    struct str_model *sm = NULL;
    struct hash_model *hm = NULL;
    int *dv = NULL;
    if (w->kind == W_STRINGS) {
        sm = malloc(sizeof *sm);
        memset(sm->ver, -1, sizeof sm->ver);
        memset(sm->tmp_ver, -1, sizeof sm->tmp_ver);
    } else if (w->kind == W_HASHES_KIND) {
        hm = malloc(sizeof *hm);
        memset(hm->ver, -1, sizeof hm->ver);
        memset(hm->nfields, 0, sizeof hm->nfields);
    } else {
        dv = malloc(W_DB1_KEYS * sizeof *dv);
        memset(dv, -1, W_DB1_KEYS * sizeof *dv);
        redisReply *r = redisCommand(ctx, "SELECT 1");
        if (r != NULL) {
            freeReplyObject(r);
        }
    }
    int rc = 0;
    while (rc == 0 && shale_test_now_ms() < w->stop_ms) {
        rc = w->kind == W_STRINGS       ? strings_step(w, ctx, sm)
             : w->kind == W_HASHES_KIND ? hashes_step(w, ctx, hm)
                                        : db1_step(w, ctx, dv);
        w->ops++;
    }
    /* A last full read of everything this worker wrote. */
    if (rc == 0 && sm != NULL) {
        rc = strings_verify_all(w, ctx, sm);
    }
    for (int h = 0; rc == 0 && hm != NULL && h < W_HASHES; h++) {
        rc = hash_verify(w, ctx, hm, h);
    }
    free(sm);
    free(hm);
    free(dv);
    redisFree(ctx);
    return NULL;
}

static void test_clients_during_defrag_cycles(void **state)
{
    shale_test_skip_on_redis("Debian's redis-server refuses activedefrag (system jemalloc)");
    char *mode = defrag_mode(c);
    if (strcmp(mode, "unsupported") == 0) {
        printf("skipped: this build cannot defragment (MALLOC=libc without DEFRAG=force)\n");
        free(mode);
        skip();
        return;
    }
    /* Cycles back to back: any fragmentation is enough (force: simulated),
     * big shares, and hashes of more than 16 fields walked by name. */
    shale_test_assert_status(c, "OK",
                             "CONFIG SET active-defrag-ignore-bytes 1 "
                             "active-defrag-threshold-lower 0 active-defrag-cycle-min 25 "
                             "active-defrag-cycle-max 50 active-defrag-max-scan-fields 16 "
                             "activedefrag yes");
    char *info = info_text(c, "stats");
    long long hits0 = info_ll(info, "active_defrag_hits");
    long long cycles0 = info_ll(info, "shale_active_defrag_cycles");
    free(info);
    long total_ops = 0;
    for (int round = 0; round < 3; round++) {
        struct worker workers[3];
        for (int i = 0; i < 3; i++) {
            memset(&workers[i], 0, sizeof workers[i]);
            workers[i].kind = (enum worker_kind)i;
            workers[i].port = shale_test_server_port(server);
            workers[i].round = round;
            workers[i].rng = 0x9e3779b97f4a7c15ULL * (uint64_t)(round * 3 + i + 1);
            workers[i].stop_ms = shale_test_now_ms() + ROUND_MS;
            assert_int_equal(pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]), 0);
        }
        for (int i = 0; i < 3; i++) {
            pthread_join(workers[i].thread, NULL);
        }
        for (int i = 0; i < 3; i++) {
            total_ops += workers[i].ops;
            if (workers[i].err[0]) {
                fail_msg("round %d, worker %d (%s): %s", round, i,
                         i == 0   ? "strings"
                         : i == 1 ? "hashes"
                                  : "db 1",
                         workers[i].err);
            }
        }
        /* Everything goes while the walk is somewhere in the middle. */
        shale_test_assert_status(c, "OK", "FLUSHALL");
    }
    info = info_text(c, "stats");
    long long hits = info_ll(info, "active_defrag_hits") - hits0;
    long long cycles = info_ll(info, "shale_active_defrag_cycles") - cycles0;
    printf("%s: %ld client operations checked; %lld allocations moved in %lld cycles\n", mode,
           total_ops, hits, cycles);
    free(info);
    if (hits <= 0 || cycles < 3) {
        fail_msg("defrag should have run throughout: %lld hits, %lld cycles", hits, cycles);
    }
    free(mode);
}

/* ---- the budget follows the fragmentation ------------------------------ */

#define TAG_KEYS 100000

static void test_budget_goes_to_the_fragmented_shard(void **state)
{
    shale_test_skip_on_redis("shards are shale's");
    char *mode = defrag_mode(c);
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
                               make_value(value, (uint64_t)i, 0, 100 + mix((uint64_t)i) % 301));
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
        info = info_text(fc, "shale");
        for (int s = 0; s < 4; s++) {
            char line[32];
            snprintf(line, sizeof line, "shard%d", s);
            if (line_field(info, line, "keys") > 0) {
                tagged = s;
            }
            snprintf(line, sizeof line, "shard%d_defrag", s);
            share[s] = line_field(info, line, "share_pct");
        }
        if (tagged >= 0 && share[tagged] > max_share) {
            max_share = share[tagged];
        }
        char line[32];
        snprintf(line, sizeof line, "shard%d_defrag", tagged < 0 ? 0 : tagged);
        if (tagged >= 0 && line_field(info, line, "cycles") >= 1 && max_share > 0) {
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
        double hits = line_field(info, line, "hits");
        double cpu_us = line_field(info, line, "cpu_us");
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
        cmocka_unit_test_setup_teardown(test_clients_during_defrag_cycles, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_budget_goes_to_the_fragmented_shard, test_setup,
                                        test_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
