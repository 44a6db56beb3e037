/*
 * Active defragmentation while clients read and write (DESIGN §6). In a
 * DEFRAG=force build (make defrag-test: libc allocator under ASan) every
 * allocation moves on every cycle and cycles run back to back; with
 * jemalloc, thresholds of zero keep cycles running the same way. Three
 * client threads work for three rounds of 2.5 s each, every reply checked
 * against a model of what they wrote:
 *   strings   SET (some with a long TTL), GET, DEL, and keys with 100-400 ms
 *             TTLs read before, around and after they expire;
 *   hashes    compact, table with embedded entries, table with entries
 *             switching between the embedded and pointer layouts, and hashes
 *             of 200 fields (more than active-defrag-max-scan-fields, so
 *             walked later by name): rebuilt, updated field by field,
 *             fields deleted, keys deleted, read back;
 *   db 1      its own keys, FLUSHDB every few hundred operations.
 * A FLUSHALL ends each round, in the middle of whatever cycle is running.
 * A stale pointer in the walk is an ASan report (the server dies) or a
 * wrong reply here. Under MALLOC=libc without DEFRAG=force the server
 * cannot defragment and the test is skipped, saying why.
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

#include "tests/support/defrag.h"
#include "tests/support/reply.h"
#include "tests/support/server.h"

static struct test_server *server;
static redisContext *c;

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
    return 1 + shale_test_mix((uint64_t)id * 31 + (uint64_t)ver) % 400;
}

static int strings_verify_all(struct worker *w, redisContext *ctx, struct str_model *m)
{
    char buf[512];
    for (long id = 0; id < W_STR_KEYS; id++) {
        redisReply *r = redisCommand(ctx, "GET str:%ld", id);
        int rc = m->ver[id] < 0
                     ? check_nil(w, r, "GET str", id)
                     : check_value(w, r, buf,
                                   shale_test_make_value(buf, (uint64_t)id, (uint64_t)m->ver[id],
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
        size_t len = shale_test_make_value(buf, (uint64_t)id, (uint64_t)ver, str_len(id, ver));
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
        rc = m->ver[id] < 0
                 ? check_nil(w, r, "GET str", id)
                 : check_value(w, r, buf,
                               shale_test_make_value(buf, (uint64_t)id, (uint64_t)m->ver[id],
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
        size_t len = shale_test_make_value(buf, (uint64_t)(tmp + 1000000), (uint64_t)ver, 50);
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
        size_t len =
            shale_test_make_value(buf, (uint64_t)(tmp + 1000000), (uint64_t)m->tmp_ver[tmp], 50);
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
                                       shale_test_make_value(buf, (uint64_t)(h * 1000 + f),
                                                             (uint64_t)ver, field_len(h, f, ver)),
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
            size_t len = shale_test_make_value(buf, (uint64_t)(h * 1000 + f), (uint64_t)ver,
                                               field_len(h, f, ver));
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
        size_t len = shale_test_make_value(buf, (uint64_t)(h * 1000 + f), (uint64_t)ver,
                                           field_len(h, f, ver));
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
        size_t len =
            shale_test_make_value(buf, (uint64_t)id + 5000000, (uint64_t)v, 20 + (size_t)v % 200);
        r = redisCommand(ctx, "SET d:%ld %b", id, buf, len);
        ver[id] = v;
    } else {
        r = redisCommand(ctx, "GET d:%ld", id);
        rc = ver[id] < 0
                 ? check_nil(w, r, "GET d", id)
                 : check_value(w, r, buf,
                               shale_test_make_value(buf, (uint64_t)id + 5000000, (uint64_t)ver[id],
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
    char *mode = shale_test_defrag_mode(c);
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
    char *info = shale_test_info_text(c, "stats");
    long long hits0 = shale_test_info_ll(info, "active_defrag_hits");
    long long cycles0 = shale_test_info_ll(info, "shale_active_defrag_cycles");
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
    info = shale_test_info_text(c, "stats");
    long long hits = shale_test_info_ll(info, "active_defrag_hits") - hits0;
    long long cycles = shale_test_info_ll(info, "shale_active_defrag_cycles") - cycles0;
    printf("%s: %ld client operations checked; %lld allocations moved in %lld cycles\n", mode,
           total_ops, hits, cycles);
    free(info);
    if (hits <= 0 || cycles < 3) {
        fail_msg("defrag should have run throughout: %lld hits, %lld cycles", hits, cycles);
    }
    free(mode);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_clients_during_defrag_cycles, test_setup,
                                        test_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
