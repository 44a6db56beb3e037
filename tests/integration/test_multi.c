/*
 * MULTI, EXEC, DISCARD, WATCH and UNWATCH with Redis 7.0's semantics and
 * replies, over keys on different shards (--shards 4 --io-threads 2, shale
 * only), plus a concurrency check: transactions that increment two keys on
 * different shards are never seen half applied. Passes against redis-server.
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
    redisContext *c;
    if (shale_test_begin(server, &c) != 0)
        return -1;
    *state = c;
    return 0;
}

static int test_teardown(void **state)
{
    redisContext *c = *state;
    return shale_test_end(server, &c);
}

static void test_exec_runs_queued_commands_in_order(void **state)
{
    redisContext *c = *state;
    shale_test_assert_status(c, "OK", "MULTI");
    shale_test_assert_status(c, "QUEUED", "SET counter 10");
    shale_test_assert_status(c, "QUEUED", "INCR counter");
    shale_test_assert_status(c, "QUEUED", "MSET alpha 1 beta 2 gamma 3");
    shale_test_assert_status(c, "QUEUED", "MGET alpha beta gamma counter");
    shale_test_assert_status(c, "QUEUED", "PING");
    shale_test_assert_status(c, "QUEUED", "RENAME alpha omega");
    shale_test_assert_status(c, "QUEUED", "GET omega");
    shale_test_assert_status(c, "QUEUED", "SELECT 2");
    shale_test_assert_status(c, "QUEUED", "SET indb2 yes");
    shale_test_assert_status(c, "QUEUED", "DEL beta gamma");
    redisReply *r = shale_test_command(c, "EXEC");
    shale_test_expect_array(r, 10, "EXEC");
    shale_test_expect_status(r->element[0], "OK", "SET");
    shale_test_expect_int(r->element[1], 11, "INCR");
    shale_test_expect_status(r->element[2], "OK", "MSET");
    shale_test_expect_array(r->element[3], 4, "MGET");
    shale_test_expect_bulk(r->element[3]->element[2], "3", "MGET gamma");
    shale_test_expect_bulk(r->element[3]->element[3], "11", "MGET counter");
    shale_test_expect_status(r->element[4], "PONG", "PING");
    shale_test_expect_status(r->element[5], "OK", "RENAME");
    shale_test_expect_bulk(r->element[6], "1", "GET omega");
    shale_test_expect_status(r->element[7], "OK", "SELECT");
    shale_test_expect_status(r->element[8], "OK", "SET in db 2");
    /* SELECT inside the transaction applied to what followed it. */
    shale_test_expect_int(r->element[9], 0, "DEL in db 2");
    freeReplyObject(r);
    shale_test_assert_bulk(c, "yes", "GET indb2");
    shale_test_assert_status(c, "OK", "SELECT 0");
    shale_test_assert_int(c, 2, "EXISTS beta gamma");
    shale_test_assert_int(c, 0, "EXISTS alpha");
}

static void test_empty_and_runtime_errors(void **state)
{
    redisContext *c = *state;
    shale_test_assert_status(c, "OK", "MULTI");
    redisReply *r = shale_test_command(c, "EXEC");
    shale_test_expect_array(r, 0, "empty EXEC");
    freeReplyObject(r);
    /* An error while running does not stop the other commands. */
    shale_test_assert_int(c, 1, "HSET h f v");
    shale_test_assert_status(c, "OK", "MULTI");
    shale_test_assert_status(c, "QUEUED", "INCR h");
    shale_test_assert_status(c, "QUEUED", "SET after ok");
    r = shale_test_command(c, "EXEC");
    shale_test_expect_array(r, 2, "EXEC");
    shale_test_expect_error_prefix(r->element[0], "WRONGTYPE", "INCR of a hash");
    shale_test_expect_status(r->element[1], "OK", "SET after");
    freeReplyObject(r);
}

static void test_errors_and_execabort(void **state)
{
    redisContext *c = *state;
    shale_test_assert_error(c, "ERR EXEC without MULTI", "EXEC");
    shale_test_assert_error(c, "ERR DISCARD without MULTI", "DISCARD");
    shale_test_assert_status(c, "OK", "MULTI");
    shale_test_assert_error(c, "ERR MULTI calls can not be nested", "MULTI");
    shale_test_assert_status(c, "QUEUED", "SET k v");
    shale_test_assert_error(c, "ERR WATCH inside MULTI is not allowed", "WATCH k");
    shale_test_assert_status(c, "OK", "DISCARD");
    shale_test_assert_int(c, 0, "EXISTS k");

    /* A command that fails its checks dooms the transaction. */
    shale_test_assert_status(c, "OK", "MULTI");
    shale_test_assert_status(c, "QUEUED", "SET k v");
    shale_test_assert_error_prefix(c, "ERR unknown command", "NOSUCHCOMMAND");
    shale_test_assert_error(c, "EXECABORT Transaction discarded because of previous errors.",
                            "EXEC");
    shale_test_assert_status(c, "OK", "MULTI");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'get' command", "GET");
    shale_test_assert_error(c, "EXECABORT Transaction discarded because of previous errors.",
                            "EXEC");
    shale_test_assert_int(c, 0, "EXISTS k");
}

static void test_watch(void **state)
{
    redisContext *c = *state;
    redisContext *other = shale_test_connect(server);

    /* Untouched: runs. */
    shale_test_assert_status(c, "OK", "WATCH w1 w2 w3");
    shale_test_assert_status(c, "OK", "MULTI");
    shale_test_assert_status(c, "QUEUED", "SET w1 mine");
    redisReply *r = shale_test_command(c, "EXEC");
    shale_test_expect_array(r, 1, "EXEC, nothing touched");
    freeReplyObject(r);

    /* Written by another client between WATCH and EXEC: nil. */
    shale_test_assert_status(c, "OK", "WATCH w1 w2 w3");
    shale_test_assert_status(other, "OK", "SET w3 theirs");
    shale_test_assert_status(c, "OK", "MULTI");
    shale_test_assert_status(c, "QUEUED", "SET w1 mine-again");
    shale_test_assert_nil(c, "EXEC");
    shale_test_assert_bulk(c, "mine", "GET w1");

    /* EXEC unwatched everything: a later write does not matter. */
    shale_test_assert_status(other, "OK", "SET w3 later");
    shale_test_assert_status(c, "OK", "MULTI");
    shale_test_assert_status(c, "QUEUED", "SET w1 third");
    r = shale_test_command(c, "EXEC");
    shale_test_expect_array(r, 1, "EXEC after an unwatched write");
    freeReplyObject(r);

    /* UNWATCH, and DISCARD, forget the keys. */
    shale_test_assert_status(c, "OK", "WATCH w2");
    shale_test_assert_status(c, "OK", "UNWATCH");
    shale_test_assert_status(other, "OK", "SET w2 x");
    shale_test_assert_status(c, "OK", "MULTI");
    r = shale_test_command(c, "EXEC");
    shale_test_expect_array(r, 0, "EXEC after UNWATCH");
    freeReplyObject(r);
    shale_test_assert_status(c, "OK", "WATCH w2");
    shale_test_assert_status(c, "OK", "MULTI");
    shale_test_assert_status(c, "OK", "DISCARD");
    shale_test_assert_status(other, "OK", "SET w2 y");
    shale_test_assert_status(c, "OK", "MULTI");
    r = shale_test_command(c, "EXEC");
    shale_test_expect_array(r, 0, "EXEC after DISCARD");
    freeReplyObject(r);

    /* Deletion, expiry commands and FLUSHALL count as writes; reads do not. */
    shale_test_assert_status(c, "OK", "WATCH w1");
    shale_test_assert_bulk(other, "third", "GET w1");
    shale_test_assert_int(other, 1, "EXISTS w1");
    shale_test_assert_status(c, "OK", "MULTI");
    r = shale_test_command(c, "EXEC");
    shale_test_expect_array(r, 0, "EXEC after reads only");
    freeReplyObject(r);
    shale_test_assert_status(c, "OK", "WATCH w1");
    shale_test_assert_int(other, 1, "EXPIRE w1 100");
    shale_test_assert_status(c, "OK", "MULTI");
    shale_test_assert_nil(c, "EXEC");
    shale_test_assert_status(c, "OK", "WATCH w1");
    shale_test_assert_int(other, 1, "DEL w1");
    shale_test_assert_status(c, "OK", "MULTI");
    shale_test_assert_nil(c, "EXEC");
    shale_test_assert_status(c, "OK", "WATCH w2");
    shale_test_assert_status(other, "OK", "FLUSHALL");
    shale_test_assert_status(c, "OK", "MULTI");
    shale_test_assert_nil(c, "EXEC");
    redisFree(other);
}

/* MULTI, PING, EXEC: EXEC runs it (runs = 1) or aborts with nil (0). */
static void expect_exec(redisContext *c, int runs, const char *what)
{
    shale_test_assert_status(c, "OK", "MULTI");
    shale_test_assert_status(c, "QUEUED", "PING");
    if (!runs) {
        shale_test_assert_nil(c, "EXEC");
        return;
    }
    redisReply *r = shale_test_command(c, "EXEC");
    shale_test_expect_array(r, 1, what);
    freeReplyObject(r);
}

/* Expiry is a write for WATCH (Redis 7): a key live at WATCH that expires
 * before EXEC fails it, whether or not anything deleted it yet; a key that
 * had expired before WATCH does not, until it is written. */
static void test_watch_expiry(void **state)
{
    redisContext *c = *state;
    redisContext *other = shale_test_connect(server);

    shale_test_assert_status(c, "OK", "SET e1 v PX 100");
    shale_test_assert_status(c, "OK", "WATCH e1 e2 e3");
    shale_test_sleep_ms(150);
    expect_exec(c, 0, "EXEC after a watched key expired");

    /* The same after the key was looked up (lazy expiry deleted it). */
    shale_test_assert_status(c, "OK", "SET e1 v PX 100");
    shale_test_assert_status(c, "OK", "WATCH e1");
    shale_test_sleep_ms(150);
    shale_test_assert_nil(c, "GET e1");
    expect_exec(c, 0, "EXEC after a watched key expired and was read");

    shale_test_assert_status(c, "OK", "SET e2 v PX 1");
    shale_test_sleep_ms(20);
    shale_test_assert_status(c, "OK", "WATCH e2");
    expect_exec(c, 1, "EXEC on a key that had expired before WATCH");

    /* A TTL far away does not fail EXEC; removing it is a write. */
    shale_test_assert_status(c, "OK", "SET e3 v EX 1000");
    shale_test_assert_status(c, "OK", "WATCH e3");
    expect_exec(c, 1, "EXEC on a key with a distant TTL");
    shale_test_assert_status(c, "OK", "WATCH e3");
    shale_test_assert_int(other, 1, "PERSIST e3");
    expect_exec(c, 0, "EXEC after PERSIST of a watched key");
    redisFree(other);
}

/* ---- transactions over two shards are never seen half applied ---- */

struct worker {
    pthread_t thread;
    int port;
    long long deadline_ms;
    long long ops;
    char failure[256];
};

static redisContext *worker_connect(struct worker *w)
{
    struct timeval tv = {10, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", w->port, tv);
    if (!c || c->err) {
        snprintf(w->failure, sizeof(w->failure), "cannot connect");
        return NULL;
    }
    return c;
}

static void *incr_both(void *arg)
{
    struct worker *w = arg;
    redisContext *c = worker_connect(w);
    while (c && shale_test_now_ms() < w->deadline_ms) {
        redisAppendCommand(c, "MULTI");
        redisAppendCommand(c, "INCR pair:left");
        redisAppendCommand(c, "INCR pair:right");
        redisAppendCommand(c, "EXEC");
        for (int i = 0; i < 4; i++) {
            redisReply *r = NULL;
            if (redisGetReply(c, (void **)&r) != REDIS_OK || !r || r->type == REDIS_REPLY_ERROR) {
                snprintf(w->failure, sizeof(w->failure), "transaction failed");
                w->deadline_ms = 0;
            }
            if (r)
                freeReplyObject(r);
        }
        w->ops++;
    }
    if (c)
        redisFree(c);
    return NULL;
}

static void test_transactions_are_atomic_across_shards(void **state)
{
    redisContext *c = *state;
    struct worker writers[2];
    for (int i = 0; i < 2; i++) {
        writers[i] = (struct worker){.port = shale_test_server_port(server),
                                     .deadline_ms = shale_test_now_ms() + 2000};
        assert_int_equal(pthread_create(&writers[i].thread, NULL, incr_both, &writers[i]), 0);
    }
    long long checks = 0;
    char failure[256] = "";
    while (shale_test_now_ms() < writers[0].deadline_ms && !failure[0]) {
        redisReply *r = shale_test_command(c, "MGET pair:left pair:right");
        const char *l = r->element[0]->str, *rr = r->element[1]->str;
        if ((l == NULL) != (rr == NULL) || (l && strcmp(l, rr) != 0))
            snprintf(failure, sizeof(failure), "MGET saw left=%s right=%s", l ? l : "(nil)",
                     rr ? rr : "(nil)");
        freeReplyObject(r);
        checks++;
    }
    long long ops = 0;
    for (int i = 0; i < 2; i++) {
        pthread_join(writers[i].thread, NULL);
        if (writers[i].failure[0])
            fail_msg("%s", writers[i].failure);
        ops += writers[i].ops;
    }
    if (failure[0])
        fail_msg("%s", failure);
    if (ops < 100 || checks < 100)
        fail_msg("too little traffic: %lld transactions, %lld checks", ops, checks);
    char want[32];
    snprintf(want, sizeof(want), "%lld", ops);
    shale_test_assert_bulk(c, want, "GET pair:left");
    shale_test_assert_bulk(c, want, "GET pair:right");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_exec_runs_queued_commands_in_order, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_empty_and_runtime_errors, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_errors_and_execabort, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_watch, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_watch_expiry, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_transactions_are_atomic_across_shards, test_setup,
                                        test_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
