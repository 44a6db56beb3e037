/*
 * Pipelining and concurrency: 10,000 pipelined commands over many keys on
 * one connection must come back complete and in order; 200 concurrent
 * clients incrementing their own and one shared counter must lose nothing.
 *
 * The server runs with --shards 4 --io-threads 2 (shale only) so that keys
 * and connections spread over several threads.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>
#include <setjmp.h>

#include <cmocka.h>

#include "tests/support/reply.h"
#include "tests/support/server.h"

static struct test_server *server;

static int group_setup(void **state)
{
    static const char *const shale_args[] = {"--shards", "4", "--io-threads", "2", NULL};
    server = shale_test_server_start(NULL, shale_args);
    return server != NULL ? 0 : -1;
}

static int group_teardown(void **state)
{
    return shale_test_server_stop(server);
}

static int test_setup(void **state)
{
    return shale_test_begin(server, NULL);
}

static int test_teardown(void **state)
{
    return shale_test_end(server, NULL);
}

/* ---- one connection, 10,000 pipelined commands ------------------------- */

enum {
    PIPELINE_COMMANDS = 10000,
    STRING_KEYS = 701,
    COUNTER_KEYS = 307,
};

struct expected {
    int type;        /* REDIS_REPLY_* */
    long long value; /* INTEGER */
    char text[96];   /* STATUS, STRING, ERROR */
    char what[96];   /* the command, for messages */
};

static uint64_t rng_next(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

/* Varied key shapes so a hash spreads them over every shard. */
static void string_key(char *buf, size_t cap, unsigned k)
{
    static const char *const shapes[] = {"user:%u",  "session/%x/data", "%u",
                                         "k-%u-end", "{tag%u}x",        "cache:%u:%u"};
    snprintf(buf, cap, shapes[k % 6], k, k * 7u);
}

static void counter_key(char *buf, size_t cap, unsigned k)
{
    snprintf(buf, cap, "ctr:%u:%x", k, k * 2654435761u);
}

static void test_pipeline_10000_mixed_commands(void **state)
{
    redisContext *c = shale_test_connect(server);
    struct expected *exp = calloc(PIPELINE_COMMANDS, sizeof *exp);
    long long *string_val = malloc(STRING_KEYS * sizeof *string_val); /* -1: absent */
    long long *counter = calloc(COUNTER_KEYS, sizeof *counter);
    assert_non_null(exp);
    for (int k = 0; k < STRING_KEYS; k++) {
        string_val[k] = -1;
    }

    uint64_t seed = 12345;
    for (int i = 0; i < PIPELINE_COMMANDS; i++) {
        char key[64];
        struct expected *e = &exp[i];
        unsigned op = (unsigned)rng_next(&seed) % 100;
        unsigned sk = (unsigned)rng_next(&seed) % STRING_KEYS;
        unsigned ck = (unsigned)rng_next(&seed) % COUNTER_KEYS;
        string_key(key, sizeof key, sk);
        if (op < 30) {
            redisAppendCommand(c, "SET %s v%d-%u", key, i, sk);
            e->type = REDIS_REPLY_STATUS;
            snprintf(e->text, sizeof e->text, "OK");
            string_val[sk] = i;
            snprintf(e->what, sizeof e->what, "SET %s v%d-%u", key, i, sk);
        } else if (op < 55) {
            redisAppendCommand(c, "GET %s", key);
            if (string_val[sk] < 0) {
                e->type = REDIS_REPLY_NIL;
            } else {
                e->type = REDIS_REPLY_STRING;
                snprintf(e->text, sizeof e->text, "v%lld-%u", string_val[sk], sk);
            }
            snprintf(e->what, sizeof e->what, "GET %s", key);
        } else if (op < 80) {
            counter_key(key, sizeof key, ck);
            redisAppendCommand(c, "INCR %s", key);
            e->type = REDIS_REPLY_INTEGER;
            e->value = ++counter[ck];
            snprintf(e->what, sizeof e->what, "INCR %s", key);
        } else if (op < 90) {
            redisAppendCommand(c, "DEL %s", key);
            e->type = REDIS_REPLY_INTEGER;
            e->value = string_val[sk] >= 0;
            string_val[sk] = -1;
            snprintf(e->what, sizeof e->what, "DEL %s", key);
        } else if (op < 96) {
            redisAppendCommand(c, "PING");
            e->type = REDIS_REPLY_STATUS;
            snprintf(e->text, sizeof e->text, "PONG");
            snprintf(e->what, sizeof e->what, "PING");
        } else if (op < 98) {
            redisAppendCommand(c, "PING p%d", i);
            e->type = REDIS_REPLY_STRING;
            snprintf(e->text, sizeof e->text, "p%d", i);
            snprintf(e->what, sizeof e->what, "PING p%d", i);
        } else if (op < 99) {
            /* An error mid-pipeline must not disturb what follows. */
            redisAppendCommand(c, "GET");
            e->type = REDIS_REPLY_ERROR;
            snprintf(e->text, sizeof e->text, "ERR wrong number of arguments for 'get' command");
            snprintf(e->what, sizeof e->what, "GET");
        } else {
            redisAppendCommand(c, "NOSUCHCMD %d", i);
            e->type = REDIS_REPLY_ERROR;
            snprintf(e->text, sizeof e->text,
                     "ERR unknown command 'NOSUCHCMD', with args beginning with: '%d' ", i);
            snprintf(e->what, sizeof e->what, "NOSUCHCMD %d", i);
        }
    }

    for (int i = 0; i < PIPELINE_COMMANDS; i++) {
        redisReply *r = shale_test_next_reply(c);
        const struct expected *e = &exp[i];
        char what[160];
        snprintf(what, sizeof what, "#%d of the pipeline: %s", i, e->what);
        switch (e->type) {
        case REDIS_REPLY_STATUS:
            shale_test_expect_status(r, e->text, what);
            break;
        case REDIS_REPLY_STRING:
            shale_test_expect_bulk(r, e->text, what);
            break;
        case REDIS_REPLY_NIL:
            shale_test_expect_nil(r, what);
            break;
        case REDIS_REPLY_INTEGER:
            shale_test_expect_int(r, e->value, what);
            break;
        default:
            shale_test_expect_error(r, e->text, what);
            break;
        }
        freeReplyObject(r);
    }

    /* Nothing extra came back, and the keyspace matches the model. */
    long long present = 0;
    for (int k = 0; k < STRING_KEYS; k++) {
        present += string_val[k] >= 0;
    }
    for (int k = 0; k < COUNTER_KEYS; k++) {
        present += counter[k] > 0;
    }
    shale_test_assert_int(c, present, "DBSIZE");
    for (unsigned k = 0; k < COUNTER_KEYS; k += 37) {
        char key[64];
        char val[32];
        counter_key(key, sizeof key, k);
        if (counter[k] > 0) {
            snprintf(val, sizeof val, "%lld", counter[k]);
            shale_test_assert_bulk(c, val, "GET %s", key);
        }
    }
    free(exp);
    free(string_val);
    free(counter);
    redisFree(c);
}

/* A pipeline of large values: replies far bigger than one socket buffer. */
static void test_pipeline_large_values(void **state)
{
    enum { N = 64, SIZE = 64 * 1024 };
    redisContext *c = shale_test_connect(server);
    char *value = malloc(SIZE);
    for (int i = 0; i < SIZE; i++) {
        value[i] = (char)('a' + i % 26);
    }
    for (int i = 0; i < N; i++) {
        value[0] = (char)('A' + i % 26);
        redisAppendCommand(c, "SET big:%d %b", i, value, (size_t)SIZE);
        redisAppendCommand(c, "GET big:%d", i);
    }
    for (int i = 0; i < N; i++) {
        value[0] = (char)('A' + i % 26);
        redisReply *r = shale_test_next_reply(c);
        shale_test_expect_status(r, "OK", "SET big:<i> <64 KB>");
        freeReplyObject(r);
        r = shale_test_next_reply(c);
        shale_test_expect_bulk_len(r, value, SIZE, "GET big:<i>");
        freeReplyObject(r);
    }
    free(value);
    redisFree(c);
}

/* ---- 200 concurrent clients -------------------------------------------- */

enum {
    THREADS = 20,
    CONNS_PER_THREAD = 10,
    INCRS_PER_KEY = 500,
    BATCH = 10, /* INCRs of each key pipelined per round */
};

struct worker {
    int index;
    int port;
    pthread_barrier_t *all_connected;
    char error[512]; /* first failure, empty when all went well */
};

static void worker_fail(struct worker *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void worker_fail(struct worker *w, const char *fmt, ...)
{
    if (w->error[0] != '\0') {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->error, sizeof w->error, fmt, ap);
    va_end(ap);
}

/* Worker threads never call cmocka: they record the first failure. */
static void *worker_main(void *arg)
{
    struct worker *w = arg;
    redisContext *conns[CONNS_PER_THREAD] = {0};
    long long last_shared[CONNS_PER_THREAD] = {0};
    struct timeval tv = {.tv_sec = 10, .tv_usec = 0};
    bool connected = true;

    for (int i = 0; i < CONNS_PER_THREAD; i++) {
        conns[i] = redisConnectWithTimeout("127.0.0.1", w->port, tv);
        if (conns[i] == NULL || conns[i]->err != 0) {
            worker_fail(w, "thread %d connection %d: cannot connect: %s", w->index, i,
                        conns[i] != NULL ? conns[i]->errstr : "out of memory");
            connected = false;
            break;
        }
        redisSetTimeout(conns[i], tv);
    }
    /* Every client is connected before any starts: 200 at once. */
    pthread_barrier_wait(w->all_connected);

    for (int round = 0; connected && round < INCRS_PER_KEY / BATCH && w->error[0] == '\0';
         round++) {
        for (int i = 0; i < CONNS_PER_THREAD; i++) {
            for (int j = 0; j < BATCH; j++) {
                redisAppendCommand(conns[i], "INCR own:%d:%d", w->index, i);
                redisAppendCommand(conns[i], "INCR shared");
            }
        }
        for (int i = 0; i < CONNS_PER_THREAD && w->error[0] == '\0'; i++) {
            for (int j = 0; j < BATCH; j++) {
                redisReply *own = NULL;
                redisReply *shared = NULL;
                if (redisGetReply(conns[i], (void **)&own) != REDIS_OK ||
                    redisGetReply(conns[i], (void **)&shared) != REDIS_OK) {
                    worker_fail(w, "thread %d connection %d: no reply: %s", w->index, i,
                                conns[i]->errstr);
                } else if (own->type != REDIS_REPLY_INTEGER ||
                           own->integer != (long long)round * BATCH + j + 1) {
                    char desc[256];
                    shale_test_describe_reply(own, desc, sizeof desc);
                    worker_fail(w, "thread %d connection %d: INCR own:%d:%d: expected %d, got %s",
                                w->index, i, w->index, i, round * BATCH + j + 1, desc);
                } else if (shared->type != REDIS_REPLY_INTEGER ||
                           shared->integer <= last_shared[i] ||
                           shared->integer >
                               (long long)THREADS * CONNS_PER_THREAD * INCRS_PER_KEY) {
                    char desc[256];
                    shale_test_describe_reply(shared, desc, sizeof desc);
                    worker_fail(w,
                                "thread %d connection %d: INCR shared: expected an integer "
                                "above %lld, got %s",
                                w->index, i, last_shared[i], desc);
                } else {
                    last_shared[i] = shared->integer;
                }
                if (own != NULL) {
                    freeReplyObject(own);
                }
                if (shared != NULL) {
                    freeReplyObject(shared);
                }
                if (w->error[0] != '\0') {
                    break;
                }
            }
        }
    }
    for (int i = 0; i < CONNS_PER_THREAD; i++) {
        if (conns[i] != NULL) {
            redisFree(conns[i]);
        }
    }
    return NULL;
}

static void test_200_concurrent_clients(void **state)
{
    struct worker workers[THREADS];
    pthread_t threads[THREADS];
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, THREADS);
    for (int t = 0; t < THREADS; t++) {
        workers[t] = (struct worker){
            .index = t, .port = shale_test_server_port(server), .all_connected = &barrier};
        assert_int_equal(pthread_create(&threads[t], NULL, worker_main, &workers[t]), 0);
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(threads[t], NULL);
    }
    pthread_barrier_destroy(&barrier);
    bool failed = false;
    for (int t = 0; t < THREADS; t++) {
        if (workers[t].error[0] != '\0') {
            print_error("%s\n", workers[t].error);
            failed = true;
        }
    }
    if (failed) {
        shale_test_server_report_failure();
        fail_msg("concurrent clients saw wrong replies (see above)");
    }

    redisContext *c = shale_test_connect(server);
    char total[32];
    snprintf(total, sizeof total, "%d", THREADS * CONNS_PER_THREAD * INCRS_PER_KEY);
    shale_test_assert_bulk(c, total, "GET shared");
    for (int t = 0; t < THREADS; t++) {
        for (int i = 0; i < CONNS_PER_THREAD; i++) {
            char expected[16];
            snprintf(expected, sizeof expected, "%d", INCRS_PER_KEY);
            shale_test_assert_bulk(c, expected, "GET own:%d:%d", t, i);
        }
    }
    shale_test_assert_int(c, THREADS * CONNS_PER_THREAD + 1, "DBSIZE");
    redisFree(c);
}

/* Reading pauses at client-max-inflight and must resume once the replies
 * are written, also when no shard was involved (keyless commands). */
static void test_backpressure_resumes_after_keyless_replies(void **state)
{
    shale_test_skip_on_redis("client-max-inflight is shale's");
    enum { N = 200 };
    redisContext *c = shale_test_connect(server);
    shale_test_assert_status(c, "OK", "CONFIG SET client-max-inflight 2");
    for (int i = 0; i < N; i++) {
        redisAppendCommand(c, "ECHO %d", i);
    }
    for (int i = 0; i < N; i++) {
        char expected[16];
        snprintf(expected, sizeof expected, "%d", i);
        redisReply *r = shale_test_next_reply(c);
        shale_test_expect_bulk(r, expected, "ECHO");
        freeReplyObject(r);
    }
    shale_test_assert_nil(c, "GET k");
    shale_test_assert_status(c, "OK", "CONFIG SET client-max-inflight 1024");
    redisFree(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, test_setup, test_teardown)
        T(test_pipeline_10000_mixed_commands),
        T(test_pipeline_large_values),
        T(test_200_concurrent_clients),
        T(test_backpressure_resumes_after_keyless_replies),
#undef T
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
