/*
 * Multi-key commands are atomic across shards: no client ever observes half
 * of an MSET, a DEL of many keys, an MSETNX or a RENAME.
 *
 * The server runs with --shards 4 --io-threads 2 (shale only), so the keys
 * of one command sit on different shards and the writers and readers are
 * served by different I/O threads: the main thread connects them one at a
 * time, writer and reader in turn, and the server hands connections to its
 * I/O threads round robin. Shards are then held for each batch (net/txn.h).
 * The same tests run again with --io-threads 1, where split commands are
 * sequenced without holds (net/router.c, sequenced_parts_are_atomic). Writers set KEYS keys to one
 * value per command (MSET, MSETNX after DEL) or delete them all (DEL); readers check with MGET and
 * EXISTS that every key always holds the same value (or none does). Both sides must also make
 * progress: an I/O thread whose batches follow each other back to back must not keep the shards
 * from the other one, so the slowest single command of each side is bounded too (a writer once
 * waited out the whole run). Against redis-server,
 * which runs commands one at a time, the same test passes trivially: it is
 * the reference.
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

enum {
    KEYS = 8,
    WRITERS = 3,
    READERS = 3,
    RUN_MS = 2500,
    /* A command may wait for the other side's batches, never for the other
     * side to stop: well under RUN_MS, with room for a noisy machine. */
    MAX_COMMAND_MS = 1000,
};

static int start_with_io_threads(const char *io_threads)
{
    const char *const shale_args[] = {"--shards", "4", "--io-threads", io_threads, NULL};
    server = shale_test_server_start(NULL, shale_args);
    return server != NULL ? 0 : -1;
}

static int group_setup_held(void **state)
{
    return start_with_io_threads("2");
}

static int group_setup_sequenced(void **state)
{
    return start_with_io_threads("1");
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

/* Key shapes whose hash slots spread over every shard. */
static void key_name(char *buf, size_t cap, int i)
{
    snprintf(buf, cap, "atomic:%d:%x", i, i * 2654435761u);
}

struct worker {
    pthread_t thread;
    redisContext *c; /* connected by the main thread, freed by the worker */
    int id;
    int mode; /* what a writer does, see write_loop */
    long long deadline_ms;
    long long ops;
    long long slowest_ms; /* the longest single command */
    char failure[256];    /* empty when every check held */
};

/* Main thread: one connection, made and answered before the next is made,
 * so the server's round robin puts consecutive ones on different I/O
 * threads. */
static redisContext *connect_worker(void)
{
    struct timeval tv = {10, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", shale_test_server_port(server), tv);
    assert_non_null(c);
    assert_int_equal(c->err, 0);
    redisSetTimeout(c, tv);
    redisReply *r = redisCommand(c, "PING");
    assert_non_null(r);
    freeReplyObject(r);
    return c;
}

enum { MODE_MSET, MODE_DEL_MSETNX };

/* argv for "<cmd> k0 v k1 v ..." (with_values) or "<cmd> k0 k1 ...". */
struct command_line {
    int argc;
    const char *argv[1 + 2 * KEYS];
    size_t len[1 + 2 * KEYS];
    char keys[KEYS][48];
};

static void build_line(struct command_line *l, const char *cmd, const char *value, int with_values,
                       const char *key_suffix)
{
    l->argc = 0;
    l->argv[l->argc] = cmd;
    l->len[l->argc++] = strlen(cmd);
    for (int i = 0; i < KEYS; i++) {
        key_name(l->keys[i], sizeof(l->keys[i]) - 8, i);
        strcat(l->keys[i], key_suffix);
        l->argv[l->argc] = l->keys[i];
        l->len[l->argc++] = strlen(l->keys[i]);
        if (with_values) {
            l->argv[l->argc] = value;
            l->len[l->argc++] = strlen(value);
        }
    }
}

/* Sends l and waits for its reply, keeping the worker's slowest time. */
static redisReply *timed_command(struct worker *w, redisContext *c, struct command_line *l)
{
    long long start = shale_test_now_ms();
    redisReply *r = redisCommandArgv(c, l->argc, l->argv, l->len);
    long long took = shale_test_now_ms() - start;
    if (took > w->slowest_ms)
        w->slowest_ms = took;
    return r;
}

static int command_ok(struct worker *w, redisContext *c, struct command_line *l)
{
    redisReply *r = timed_command(w, c, l);
    if (!r || r->type == REDIS_REPLY_ERROR) {
        snprintf(w->failure, sizeof(w->failure), "writer %d: %s failed: %s", w->id, l->argv[0],
                 r ? r->str : c->errstr);
        if (r)
            freeReplyObject(r);
        return 0;
    }
    freeReplyObject(r);
    return 1;
}

/* MODE_MSET: MSET every key to one value.
 * MODE_DEL_MSETNX: DEL every key, then MSETNX them all to one value. */
static void *write_loop(void *arg)
{
    struct worker *w = arg;
    redisContext *c = w->c;
    struct command_line l;
    char value[64];
    for (long long n = 0; shale_test_now_ms() < w->deadline_ms; n++) {
        snprintf(value, sizeof(value), "w%d-%lld", w->id, n);
        if (w->mode == MODE_MSET) {
            build_line(&l, "MSET", value, 1, "");
            if (!command_ok(w, c, &l))
                break;
        } else {
            build_line(&l, "DEL", value, 0, "");
            if (!command_ok(w, c, &l))
                break;
            build_line(&l, "MSETNX", value, 1, "");
            if (!command_ok(w, c, &l))
                break;
        }
        w->ops++;
    }
    redisFree(c);
    return NULL;
}

/* MGET: every element equal (all nil counts as equal); EXISTS: 0 or KEYS. */
static void *read_loop(void *arg)
{
    struct worker *w = arg;
    redisContext *c = w->c;
    struct command_line l;
    while (shale_test_now_ms() < w->deadline_ms && !w->failure[0]) {
        build_line(&l, w->ops % 2 ? "EXISTS" : "MGET", NULL, 0, "");
        redisReply *r = timed_command(w, c, &l);
        if (!r) {
            snprintf(w->failure, sizeof(w->failure), "reader %d: %s", w->id, c->errstr);
            break;
        }
        if (r->type == REDIS_REPLY_INTEGER) {
            if (r->integer != 0 && r->integer != KEYS)
                snprintf(w->failure, sizeof(w->failure),
                         "reader %d: EXISTS of %d keys answered %lld: a DEL or MSETNX seen half "
                         "done",
                         w->id, KEYS, r->integer);
        } else if (r->type != REDIS_REPLY_ARRAY || r->elements != KEYS) {
            snprintf(w->failure, sizeof(w->failure), "reader %d: MGET: unexpected reply", w->id);
        } else {
            for (size_t i = 1; i < KEYS && !w->failure[0]; i++) {
                const redisReply *a = r->element[0], *b = r->element[i];
                int same = a->type == b->type &&
                           (a->type != REDIS_REPLY_STRING ||
                            (a->len == b->len && memcmp(a->str, b->str, a->len) == 0));
                if (!same)
                    snprintf(w->failure, sizeof(w->failure),
                             "reader %d: MGET saw %s=%s but %s=%s: a write seen half done", w->id,
                             l.keys[0], a->type == REDIS_REPLY_STRING ? a->str : "(nil)", l.keys[i],
                             b->type == REDIS_REPLY_STRING ? b->str : "(nil)");
            }
        }
        freeReplyObject(r);
        w->ops++;
    }
    redisFree(c);
    return NULL;
}

static void run_workers(int writer_mode)
{
    struct worker writers[WRITERS], readers[READERS];
    for (int i = 0; i < WRITERS || i < READERS; i++) {
        if (i < WRITERS)
            writers[i] = (struct worker){.c = connect_worker(), .id = i, .mode = writer_mode};
        if (i < READERS)
            readers[i] = (struct worker){.c = connect_worker(), .id = i};
    }
    long long deadline = shale_test_now_ms() + RUN_MS;
    for (int i = 0; i < WRITERS; i++) {
        writers[i].deadline_ms = deadline;
        assert_int_equal(pthread_create(&writers[i].thread, NULL, write_loop, &writers[i]), 0);
    }
    for (int i = 0; i < READERS; i++) {
        readers[i].deadline_ms = deadline;
        assert_int_equal(pthread_create(&readers[i].thread, NULL, read_loop, &readers[i]), 0);
    }
    long long writes = 0, reads = 0, slowest_write = 0, slowest_read = 0;
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(writers[i].thread, NULL);
        if (writers[i].failure[0])
            fail_msg("%s", writers[i].failure);
        writes += writers[i].ops;
        if (writers[i].slowest_ms > slowest_write)
            slowest_write = writers[i].slowest_ms;
    }
    for (int i = 0; i < READERS; i++) {
        pthread_join(readers[i].thread, NULL);
        if (readers[i].failure[0])
            fail_msg("%s", readers[i].failure);
        reads += readers[i].ops;
        if (readers[i].slowest_ms > slowest_read)
            slowest_read = readers[i].slowest_ms;
    }
    print_message("%lld writes and %lld reads checked; slowest command: write %lld ms, read %lld "
                  "ms\n",
                  writes, reads, slowest_write, slowest_read);
    /* One side stalled behind the other: the shards were not shared fairly. */
    if (slowest_write > MAX_COMMAND_MS || slowest_read > MAX_COMMAND_MS)
        fail_msg("a %s command took %lld ms (limit %d ms): %s stalled behind %s (%lld writes, "
                 "%lld reads)",
                 slowest_write > slowest_read ? "writer" : "reader",
                 slowest_write > slowest_read ? slowest_write : slowest_read, MAX_COMMAND_MS,
                 slowest_write > slowest_read ? "writers" : "readers",
                 slowest_write > slowest_read ? "readers" : "writers", writes, reads);
    /* Enough overlap that a half-done write would have been seen. */
    if (writes < 200 || reads < 200)
        fail_msg("too little traffic to prove anything: %lld writes, %lld reads", writes, reads);
}

static void test_mset_is_atomic_for_mget_readers(void **state)
{
    run_workers(MODE_MSET);
}

static void test_del_and_msetnx_are_atomic(void **state)
{
    run_workers(MODE_DEL_MSETNX);
}

/* RENAME of a key to a name on another shard: a reader looking at both
 * names (MGET src dst) sees the value under exactly one of them. */
static void *rename_loop(void *arg)
{
    struct worker *w = arg;
    redisContext *c = w->c;
    char a[48], b[48];
    key_name(a, sizeof(a), 100);
    key_name(b, sizeof(b), 101);
    for (long long n = 0; shale_test_now_ms() < w->deadline_ms; n++) {
        redisReply *r = redisCommand(c, "RENAME %s %s", n % 2 ? b : a, n % 2 ? a : b);
        if (!r || r->type != REDIS_REPLY_STATUS) {
            snprintf(w->failure, sizeof(w->failure), "RENAME failed: %s", r ? r->str : c->errstr);
            if (r)
                freeReplyObject(r);
            break;
        }
        freeReplyObject(r);
        w->ops++;
    }
    redisFree(c);
    return NULL;
}

static void test_rename_across_shards_is_atomic(void **state)
{
    redisContext *c = shale_test_connect(server);
    char a[48], b[48];
    key_name(a, sizeof(a), 100);
    key_name(b, sizeof(b), 101);
    shale_test_assert_status(c, "OK", "SET %s moving-value", a);
    struct worker mover = {
        .c = connect_worker(), .id = 0, .deadline_ms = shale_test_now_ms() + 1500};
    assert_int_equal(pthread_create(&mover.thread, NULL, rename_loop, &mover), 0);
    long long checks = 0;
    char failure[256] = "";
    while (shale_test_now_ms() < mover.deadline_ms && !failure[0]) {
        redisReply *r = shale_test_command(c, "MGET %s %s", a, b);
        int present = (r->element[0]->type == REDIS_REPLY_STRING) +
                      (r->element[1]->type == REDIS_REPLY_STRING);
        if (present != 1)
            snprintf(failure, sizeof(failure), "MGET %s %s saw the value under %d names", a, b,
                     present);
        freeReplyObject(r);
        checks++;
    }
    pthread_join(mover.thread, NULL);
    redisFree(c);
    if (mover.failure[0])
        fail_msg("%s", mover.failure);
    if (failure[0])
        fail_msg("%s", failure);
    if (mover.ops < 100 || checks < 100)
        fail_msg("too little traffic: %lld renames, %lld checks", mover.ops, checks);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_mset_is_atomic_for_mget_readers, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_del_and_msetnx_are_atomic, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_rename_across_shards_is_atomic, test_setup,
                                        test_teardown),
    };
    int failed =
        cmocka_run_group_tests_name("held shards", tests, group_setup_held, group_teardown);
    if (shale_test_server_is_redis())
        return failed;
    return failed + cmocka_run_group_tests_name("one I/O thread, sequenced", tests,
                                                group_setup_sequenced, group_teardown);
}
