/*
 * Introspection over the wire: INFO commandstats (calls, usec, rejected and
 * failed calls, one call for a command split across shards), INFO
 * errorstats and total_error_replies, CONFIG RESETSTAT, SLOWLOG (GET, LEN,
 * RESET, HELP, truncation, redaction, thresholds, entries from clients of
 * every I/O thread), INFO section sets and keyspace avg_ttl.
 *
 * shale runs with 2 I/O threads and 4 shards, so consecutive connections
 * land on different I/O threads and multi-key commands split; every test
 * also passes against redis-server (SHALE_SERVER_KIND=redis).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <pthread.h>
#include <setjmp.h>

#include <cmocka.h>

#include "tests/support/reply.h"
#include "tests/support/server.h"

static struct test_server *server;
static struct test_server *auth_server;

#define PASSWORD "secret"

static int group_setup(void **state)
{
    static const char *const shale_args[] = {"--shards", "4", "--io-threads", "2", NULL};
    /* DEBUG is refused unless enable-debug-command allows it. */
    static const char *const debug_args[] = {"--enable-debug-command", "yes", NULL};
    static const char *const auth_args[] = {"--requirepass", PASSWORD, NULL};
    server = shale_test_server_start(debug_args, shale_args);
    if (server == NULL)
        return -1;
    auth_server = shale_test_server_start(auth_args, shale_args);
    return auth_server != NULL ? 0 : -1;
}

static int group_teardown(void **state)
{
    int rc = shale_test_server_stop(server);
    return shale_test_server_stop(auth_server) != 0 ? -1 : rc;
}

static int test_setup(void **state)
{
    redisContext *c;
    if (shale_test_begin(server, &c) != 0)
        return -1;
    /* Every test starts from the defaults. */
    shale_test_assert_status(c, "OK", "CONFIG SET slowlog-log-slower-than 10000");
    shale_test_assert_status(c, "OK", "CONFIG SET slowlog-max-len 128");
    shale_test_assert_status(c, "OK", "SLOWLOG RESET");
    shale_test_assert_status(c, "OK", "CONFIG RESETSTAT");
    return shale_test_end(server, &c);
}

static int test_teardown(void **state)
{
    return shale_test_server_alive(server) && shale_test_server_alive(auth_server) ? 0 : -1;
}

static char *info(redisContext *c, const char *section)
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

/* An INFO field as a number; fails the test when it is missing. */
static long long info_ll(redisContext *c, const char *section, const char *field)
{
    char *text = info(c, section);
    const char *v = shale_test_info_field(text, field);
    if (v == NULL)
        fail_msg("INFO %s has no field %s:\n%s", section, field, text);
    long long n = atoll(v);
    free(text);
    return n;
}

struct cmdstat {
    bool present;
    long long calls, usec, rejected, failed;
    double usec_per_call;
};

/* The cmdstat_<name> line of INFO commandstats. */
static struct cmdstat cmdstat(redisContext *c, const char *name)
{
    struct cmdstat s = {0};
    char field[96];
    snprintf(field, sizeof field, "cmdstat_%s", name);
    char *text = info(c, "commandstats");
    const char *v = shale_test_info_field(text, field);
    if (v != NULL) {
        s.present = true;
        int n = sscanf(v,
                       "calls=%lld,usec=%lld,usec_per_call=%lf,rejected_calls=%lld,"
                       "failed_calls=%lld",
                       &s.calls, &s.usec, &s.usec_per_call, &s.rejected, &s.failed);
        if (n != 5)
            fail_msg("malformed commandstats line: %.*s", (int)strcspn(v, "\r"), v);
    }
    free(text);
    return s;
}

static long long errorstat(redisContext *c, const char *prefix)
{
    char field[96];
    snprintf(field, sizeof field, "errorstat_%s", prefix);
    char *text = info(c, "errorstats");
    const char *v = shale_test_info_field(text, field);
    long long n = -1;
    if (v != NULL && sscanf(v, "count=%lld", &n) != 1)
        fail_msg("malformed errorstats line: %.*s", (int)strcspn(v, "\r"), v);
    free(text);
    return v != NULL ? n : 0;
}

/* ---- commandstats ---- */

static void test_commandstats_calls_and_time(void **state)
{
    redisContext *c = shale_test_connect(server);
    shale_test_assert_status(c, "OK", "CONFIG RESETSTAT");
    struct cmdstat s = cmdstat(c, "config|resetstat");
    assert_true(s.present);
    assert_int_equal(s.calls, 1); /* counted after it ran, like Redis */
    shale_test_assert_status(c, "OK", "SET k v");
    for (int i = 0; i < 3; i++)
        shale_test_assert_bulk(c, "v", "GET k");
    /* A command that takes long enough to read on the clock. */
    shale_test_assert_status(c, "OK", "DEBUG SLEEP 0.01");
    s = cmdstat(c, "get");
    assert_true(s.present);
    assert_int_equal(s.calls, 3);
    assert_int_equal(s.rejected, 0);
    assert_int_equal(s.failed, 0);
    s = cmdstat(c, "set");
    assert_int_equal(s.calls, 1);
    s = cmdstat(c, "debug");
    assert_int_equal(s.calls, 1);
    assert_true(s.usec >= 10000);
    assert_true(s.usec_per_call >= 10000.0);
    /* INFO does not count itself: it is counted after it ran. */
    s = cmdstat(c, "info");
    assert_int_equal(s.calls, 4);
    assert_false(cmdstat(c, "mget").present);
    redisFree(c);
}

static void test_commandstats_rejected_and_failed(void **state)
{
    redisContext *c = shale_test_connect(server);
    shale_test_assert_status(c, "OK", "CONFIG RESETSTAT");
    /* Wrong arity: refused before running. */
    shale_test_assert_error(c, "ERR wrong number of arguments for 'get' command", "GET");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'slowlog' command", "SLOWLOG");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'client|id' command",
                            "CLIENT ID x");
    /* Unknown commands and subcommands have no line of their own. */
    shale_test_assert_error_prefix(c, "ERR unknown command 'NOSUCH'", "NOSUCH");
    shale_test_assert_error(c, "ERR unknown subcommand 'NOSUCH'. Try CLIENT HELP.",
                            "CLIENT NOSUCH");
    /* Ran and replied an error. */
    shale_test_assert_int(c, 1, "HSET h f v");
    shale_test_assert_error_prefix(c, "WRONGTYPE", "INCR h");
    shale_test_assert_error(c, "ERR count should be greater than or equal to -1", "SLOWLOG GET -5");

    struct cmdstat s = cmdstat(c, "get");
    assert_true(s.present);
    assert_int_equal(s.calls, 0);
    assert_int_equal(s.rejected, 1);
    s = cmdstat(c, "slowlog");
    assert_int_equal(s.rejected, 1);
    s = cmdstat(c, "client|id");
    assert_int_equal(s.rejected, 1);
    assert_false(cmdstat(c, "client").present);
    s = cmdstat(c, "incr");
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.failed, 1);
    s = cmdstat(c, "slowlog|get");
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.failed, 1);
    s = cmdstat(c, "hset");
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.failed, 0);
    /* Only commands that ran count in total_commands_processed:
     * RESETSTAT, HSET, INCR, SLOWLOG GET and the INFOs above. */
    assert_int_equal(info_ll(c, "stats", "total_commands_processed"), 4 + 7);
    redisFree(c);
}

static void test_commandstats_noauth_is_rejected(void **state)
{
    redisContext *admin = shale_test_connect(auth_server);
    shale_test_assert_status(admin, "OK", "AUTH %s", PASSWORD);
    shale_test_assert_status(admin, "OK", "CONFIG RESETSTAT");
    redisFree(admin);
    redisContext *c = shale_test_connect(auth_server);
    shale_test_assert_error(c, "NOAUTH Authentication required.", "GET k");
    shale_test_assert_error(c, "NOAUTH Authentication required.", "INFO");
    shale_test_assert_status(c, "OK", "AUTH %s", PASSWORD);
    struct cmdstat s = cmdstat(c, "get");
    assert_true(s.present);
    assert_int_equal(s.calls, 0);
    assert_int_equal(s.rejected, 1);
    assert_int_equal(errorstat(c, "NOAUTH"), 2);
    redisFree(c);
}

/* A command whose keys live on different shards is split into parts; it
 * still counts as one call (and one failure), with all the time. */
static void test_commandstats_split_command_counts_once(void **state)
{
    redisContext *c = shale_test_connect(server);
    shale_test_assert_status(c, "OK", "CONFIG RESETSTAT");
    shale_test_assert_status(c, "OK", "MSET a 1 b 2 c 3 d 4 e 5 f 6 g 7 h 8");
    redisReply *r = shale_test_command(c, "MGET a b c d e f g h");
    shale_test_expect_array(r, 8, "MGET");
    freeReplyObject(r);
    shale_test_assert_int(c, 8, "DEL a b c d e f g h");
    shale_test_assert_int(c, 0, "EXISTS a b c d e f g h");
    shale_test_assert_int(c, 0, "DBSIZE");
    shale_test_assert_error_prefix(c, "ERR unknown subcommand or wrong number of arguments",
                                   "DEBUG SLEEP 0 0");
    const char *names[] = {"mset", "mget", "del", "exists", "dbsize", "debug"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        struct cmdstat s = cmdstat(c, names[i]);
        assert_true(s.present);
        if (s.calls != 1)
            fail_msg("cmdstat_%s: calls=%lld, expected 1", names[i], s.calls);
        assert_int_equal(s.failed, !strcmp(names[i], "debug"));
    }
    redisFree(c);
}

/* ---- errorstats ---- */

static void test_errorstats_by_prefix(void **state)
{
    redisContext *c = shale_test_connect(server);
    shale_test_assert_status(c, "OK", "CONFIG RESETSTAT");
    char *text = info(c, "errorstats");
    assert_string_equal(text, "# Errorstats\r\n");
    free(text);
    assert_int_equal(info_ll(c, "stats", "total_error_replies"), 0);

    shale_test_assert_int(c, 1, "HSET h f v");
    shale_test_assert_error_prefix(c, "WRONGTYPE", "GET h");
    shale_test_assert_error_prefix(c, "WRONGTYPE", "INCR h");
    shale_test_assert_error_prefix(c, "ERR unknown command", "NOSUCH");
    shale_test_assert_error(c, "ERR syntax error", "SET k v NX XX");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'get' command", "GET");
    /* An error of a command that ran on every shard counts once. */
    shale_test_assert_error_prefix(c, "ERR unknown subcommand or wrong number of arguments",
                                   "DEBUG SLEEP 0 0");
    assert_int_equal(errorstat(c, "WRONGTYPE"), 2);
    assert_int_equal(errorstat(c, "ERR"), 4);
    assert_int_equal(info_ll(c, "stats", "total_error_replies"), 6);

    /* Sorted by prefix, as Redis's radix tree keeps them. */
    text = info(c, "errorstats");
    const char *err = strstr(text, "errorstat_ERR:count=4\r\n");
    const char *wrongtype = strstr(text, "errorstat_WRONGTYPE:count=2\r\n");
    assert_non_null(err);
    assert_non_null(wrongtype);
    assert_true(err < wrongtype);
    free(text);
    redisFree(c);
}

/* ---- CONFIG RESETSTAT ---- */

static void test_resetstat(void **state)
{
    redisContext *c = shale_test_connect(server);
    shale_test_assert_status(c, "OK", "CONFIG SET slowlog-log-slower-than 0");
    shale_test_assert_status(c, "OK", "SET k v");
    shale_test_assert_bulk(c, "v", "GET k");
    shale_test_assert_nil(c, "GET missing");
    shale_test_assert_error_prefix(c, "ERR", "NOSUCH");
    /* CONFIG SET, SET, GET, GET (an unknown command does not run). */
    long long slowlog_len = shale_test_command_int(c, "SLOWLOG LEN");
    assert_int_equal(slowlog_len, 4);
    assert_true(info_ll(c, "stats", "keyspace_hits") >= 1);
    assert_true(info_ll(c, "stats", "total_net_input_bytes") > 0);

    shale_test_assert_status(c, "OK", "CONFIG RESETSTAT");
    char *text = info(c, "stats");
    static const char *const zero[] = {
        "keyspace_hits",       "keyspace_misses",      "expired_keys",
        "total_error_replies", "rejected_connections",
    };
    for (size_t i = 0; i < sizeof zero / sizeof zero[0]; i++) {
        const char *v = shale_test_info_field(text, zero[i]);
        assert_non_null(v);
        if (atoll(v) != 0)
            fail_msg("%s is %lld after CONFIG RESETSTAT", zero[i], atoll(v));
    }
    /* The reset itself was processed (and counted) after the baseline. */
    assert_int_equal(atoll(shale_test_info_field(text, "total_commands_processed")), 1);
    assert_int_equal(atoll(shale_test_info_field(text, "total_connections_received")), 0);
    /* The bytes of this INFO command and the RESETSTAT reply. */
    assert_true(atoll(shale_test_info_field(text, "total_net_input_bytes")) < 100);
    free(text);
    text = info(c, "commandstats");
    assert_null(strstr(text, "cmdstat_get:"));
    assert_non_null(strstr(text, "cmdstat_config|resetstat:calls=1,"));
    free(text);
    text = info(c, "errorstats");
    assert_string_equal(text, "# Errorstats\r\n");
    free(text);
    /* Counting goes on from zero. */
    shale_test_assert_bulk(c, "v", "GET k");
    assert_int_equal(info_ll(c, "stats", "keyspace_hits"), 1);
    assert_int_equal(cmdstat(c, "get").calls, 1);
    /* The slow log is kept. */
    assert_true(shale_test_command_int(c, "SLOWLOG LEN") >= slowlog_len);
    redisFree(c);
}

/* ---- SLOWLOG ---- */

/* The client address of a connection, from CLIENT INFO. */
static void client_addr(redisContext *c, char *out, size_t cap)
{
    redisReply *r = shale_test_command(c, "CLIENT INFO");
    const char *a = strstr(r->str, " addr=");
    assert_non_null(a);
    a += 6;
    snprintf(out, cap, "%.*s", (int)strcspn(a, " "), a);
    freeReplyObject(r);
}

static void expect_args(const redisReply *argv, const char *const *want, size_t n)
{
    shale_test_expect_array(argv, n, "slowlog entry arguments");
    for (size_t i = 0; i < n; i++)
        shale_test_expect_bulk(argv->element[i], want[i], "slowlog entry argument");
}

static void test_slowlog_entries(void **state)
{
    redisContext *c = shale_test_connect(server);
    char addr[64];
    client_addr(c, addr, sizeof addr);
    shale_test_assert_status(c, "OK", "CONFIG SET slowlog-log-slower-than 0");
    shale_test_assert_status(c, "OK", "SLOWLOG RESET");
    shale_test_assert_status(c, "OK", "CLIENT SETNAME slowpoke");
    shale_test_assert_status(c, "OK", "SET key value");
    shale_test_assert_status(c, "OK", "MSET a 1 b 2 c 3");
    long long before = (long long)time(NULL);

    redisReply *r = shale_test_command(c, "SLOWLOG GET");
    /* SLOWLOG RESET, CLIENT SETNAME, SET, MSET; newest first. */
    shale_test_expect_array(r, 4, "SLOWLOG GET");
    static const char *const mset[] = {"MSET", "a", "1", "b", "2", "c", "3"};
    static const char *const set[] = {"SET", "key", "value"};
    static const char *const setname[] = {"CLIENT", "SETNAME", "slowpoke"};
    static const char *const reset[] = {"SLOWLOG", "RESET"};
    const char *const *args[] = {mset, set, setname, reset};
    const size_t nargs[] = {7, 3, 3, 2};
    for (size_t i = 0; i < 4; i++) {
        const redisReply *e = r->element[i];
        shale_test_expect_array(e, 6, "SLOWLOG GET entry");
        assert_int_equal(e->element[0]->type, REDIS_REPLY_INTEGER);
        if (i > 0)
            assert_true(e->element[0]->integer < r->element[i - 1]->element[0]->integer);
        assert_int_equal(e->element[1]->type, REDIS_REPLY_INTEGER);
        assert_true(e->element[1]->integer <= before && e->element[1]->integer > before - 60);
        assert_int_equal(e->element[2]->type, REDIS_REPLY_INTEGER);
        assert_true(e->element[2]->integer >= 0);
        expect_args(e->element[3], args[i], nargs[i]);
        shale_test_expect_bulk(e->element[4], addr, "SLOWLOG GET client address");
        /* The name when the entry was made, after the command ran. */
        shale_test_expect_bulk(e->element[5], i < 3 ? "slowpoke" : "", "SLOWLOG GET client name");
    }
    freeReplyObject(r);

    r = shale_test_command(c, "SLOWLOG GET 1");
    shale_test_expect_array(r, 1, "SLOWLOG GET 1");
    static const char *const get[] = {"SLOWLOG", "GET"};
    expect_args(r->element[0]->element[3], get, 2);
    freeReplyObject(r);
    r = shale_test_command(c, "SLOWLOG GET 0");
    shale_test_expect_array(r, 0, "SLOWLOG GET 0");
    freeReplyObject(r);
    r = shale_test_command(c, "SLOWLOG GET -1");
    shale_test_expect_array(r, 7, "SLOWLOG GET -1");
    freeReplyObject(r);
    redisFree(c);
}

static void test_slowlog_truncates_like_redis(void **state)
{
    redisContext *c = shale_test_connect(server);
    shale_test_assert_status(c, "OK", "CONFIG SET slowlog-log-slower-than 0");
    /* 40 arguments: 31 kept, the 32nd says how many more there were. */
    const char *argv[40];
    char keys[40][16];
    argv[0] = "DEL";
    for (int i = 1; i < 40; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        argv[i] = keys[i];
    }
    redisReply *r = shale_test_command_argv(c, 40, argv, NULL);
    shale_test_expect_int(r, 0, "DEL of 39 keys");
    freeReplyObject(r);
    r = shale_test_command(c, "SLOWLOG GET 1");
    const redisReply *args = r->element[0]->element[3];
    shale_test_expect_array(args, 32, "slowlog arguments of DEL");
    shale_test_expect_bulk(args->element[0], "DEL", "argument 0");
    shale_test_expect_bulk(args->element[30], "k30", "argument 30");
    shale_test_expect_bulk(args->element[31], "... (9 more arguments)", "argument 31");
    freeReplyObject(r);

    /* A string over 128 bytes keeps 128 and says how many more. */
    char value[201];
    memset(value, 'x', 200);
    value[200] = '\0';
    shale_test_assert_status(c, "OK", "SET k %s", value);
    r = shale_test_command(c, "SLOWLOG GET 1");
    args = r->element[0]->element[3];
    shale_test_expect_array(args, 3, "slowlog arguments of SET");
    char want[160];
    snprintf(want, sizeof want, "%.128s... (72 more bytes)", value);
    shale_test_expect_bulk(args->element[2], want, "long argument");
    freeReplyObject(r);
    redisFree(c);
}

static void test_slowlog_redacts_secrets(void **state)
{
    redisContext *c = shale_test_connect(server);
    shale_test_assert_status(c, "OK", "CONFIG SET slowlog-log-slower-than 0");
    shale_test_assert_status(c, "OK", "SLOWLOG RESET");
    shale_test_assert_error_prefix(c, "ERR AUTH <password> called without", "AUTH hunter2");
    redisReply *r = shale_test_command(c, "HELLO 2 AUTH default hunter2");
    freeReplyObject(r);
    shale_test_assert_status(c, "OK", "CONFIG SET requirepass hunter2");
    shale_test_assert_status(c, "OK", "CONFIG SET requirepass %s", "");
    r = shale_test_command(c, "SLOWLOG GET 4");
    shale_test_expect_array(r, 4, "SLOWLOG GET");
    static const char *const config[] = {"CONFIG", "SET", "requirepass", "(redacted)"};
    static const char *const hello[] = {"HELLO", "2", "AUTH", "(redacted)", "(redacted)"};
    static const char *const auth[] = {"AUTH", "(redacted)"};
    expect_args(r->element[0]->element[3], config, 4);
    expect_args(r->element[1]->element[3], config, 4);
    expect_args(r->element[2]->element[3], hello, 5);
    expect_args(r->element[3]->element[3], auth, 2);
    freeReplyObject(r);
    redisFree(c);
}

static void test_slowlog_threshold_and_length(void **state)
{
    redisContext *c = shale_test_connect(server);
    /* The default threshold (10 ms) keeps fast commands out. */
    shale_test_assert_status(c, "OK", "SET k v");
    shale_test_assert_int(c, 0, "SLOWLOG LEN");
    /* A slow command is logged, on its shard's clock. */
    shale_test_assert_status(c, "OK", "DEBUG SLEEP 0.02");
    redisReply *r = shale_test_command(c, "SLOWLOG GET");
    shale_test_expect_array(r, 1, "SLOWLOG GET");
    assert_true(r->element[0]->element[2]->integer >= 20000);
    static const char *const sleep[] = {"DEBUG", "SLEEP", "0.02"};
    expect_args(r->element[0]->element[3], sleep, 3);
    freeReplyObject(r);

    /* -1 logs nothing; the CONFIG SET that sets it is judged by the new value. */
    shale_test_assert_status(c, "OK", "CONFIG SET slowlog-log-slower-than -1");
    shale_test_assert_status(c, "OK", "DEBUG SLEEP 0.02");
    shale_test_assert_int(c, 1, "SLOWLOG LEN");

    /* 0 logs everything; slowlog-max-len keeps the newest. */
    shale_test_assert_status(c, "OK", "CONFIG SET slowlog-max-len 5");
    shale_test_assert_status(c, "OK", "CONFIG SET slowlog-log-slower-than 0");
    for (int i = 0; i < 10; i++)
        shale_test_assert_status(c, "OK", "SET k%d v", i);
    shale_test_assert_int(c, 5, "SLOWLOG LEN");
    r = shale_test_command(c, "SLOWLOG GET -1");
    shale_test_expect_array(r, 5, "SLOWLOG GET -1");
    shale_test_expect_bulk(r->element[1]->element[3]->element[1], "k9", "newest SET");
    freeReplyObject(r);
    r = shale_test_command(c, "SLOWLOG GET 100");
    shale_test_expect_array(r, 5, "SLOWLOG GET 100");
    freeReplyObject(r);

    /* RESET empties it; with threshold 0 the RESET itself is logged. */
    shale_test_assert_status(c, "OK", "SLOWLOG RESET");
    shale_test_assert_int(c, 1, "SLOWLOG LEN");
    shale_test_assert_status(c, "OK", "CONFIG SET slowlog-log-slower-than 10000");
    shale_test_assert_status(c, "OK", "SLOWLOG RESET");
    shale_test_assert_int(c, 0, "SLOWLOG LEN");
    redisFree(c);
}

/* Clients of both I/O threads log into one history with increasing ids. */
static void test_slowlog_merges_every_client(void **state)
{
    enum { CLIENTS = 4, ROUNDS = 5 };
    redisContext *cs[CLIENTS];
    for (int i = 0; i < CLIENTS; i++)
        cs[i] = shale_test_connect(server);
    shale_test_assert_status(cs[0], "OK", "CONFIG SET slowlog-log-slower-than 0");
    shale_test_assert_status(cs[0], "OK", "SLOWLOG RESET");
    for (int round = 0; round < ROUNDS; round++)
        for (int i = 0; i < CLIENTS; i++)
            shale_test_assert_status(cs[i], "OK", "SET c%d r%d", i, round);
    redisReply *r = shale_test_command(cs[1], "SLOWLOG GET -1");
    shale_test_expect_array(r, 1 + CLIENTS * ROUNDS, "SLOWLOG GET -1");
    /* Newest first, in the order the commands were sent. */
    for (int k = 0; k < CLIENTS * ROUNDS; k++) {
        const redisReply *e = r->element[k];
        int round = ROUNDS - 1 - k / CLIENTS, client = CLIENTS - 1 - k % CLIENTS;
        char key[16], value[16];
        snprintf(key, sizeof key, "c%d", client);
        snprintf(value, sizeof value, "r%d", round);
        shale_test_expect_bulk(e->element[3]->element[1], key, "SET key");
        shale_test_expect_bulk(e->element[3]->element[2], value, "SET value");
        assert_true(e->element[0]->integer > r->element[k + 1]->element[0]->integer);
    }
    freeReplyObject(r);
    shale_test_assert_int(cs[2], 2 + CLIENTS * ROUNDS, "SLOWLOG LEN");
    for (int i = 0; i < CLIENTS; i++)
        redisFree(cs[i]);
}

static void test_slowlog_errors_and_help(void **state)
{
    redisContext *c = shale_test_connect(server);
    shale_test_assert_error(c, "ERR count should be greater than or equal to -1", "SLOWLOG GET x");
    shale_test_assert_error(c, "ERR count should be greater than or equal to -1", "SLOWLOG GET -2");
    shale_test_assert_error(
        c, "ERR unknown subcommand or wrong number of arguments for 'get'. Try SLOWLOG HELP.",
        "SLOWLOG get 1 2");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'slowlog|len' command",
                            "SLOWLOG LEN x");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'slowlog|reset' command",
                            "SLOWLOG RESET x");
    shale_test_assert_error(c, "ERR unknown subcommand 'foo'. Try SLOWLOG HELP.", "SLOWLOG foo");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'slowlog' command", "SLOWLOG");
    shale_test_assert_error(c,
                            "ERR CONFIG SET failed (possibly related to argument "
                            "'slowlog-log-slower-than') - argument must be between -1 and "
                            "9223372036854775807 inclusive",
                            "CONFIG SET slowlog-log-slower-than -2");
    redisReply *r = shale_test_command(c, "SLOWLOG HELP");
    shale_test_expect_array(r, 12, "SLOWLOG HELP");
    shale_test_expect_status(r->element[0],
                             "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                             "SLOWLOG HELP first line");
    shale_test_expect_status(r->element[1], "GET [<count>]", "SLOWLOG HELP");
    shale_test_expect_status(r->element[11], "    Prints this help.", "SLOWLOG HELP last line");
    freeReplyObject(r);
    r = shale_test_command(c, "CONFIG GET slowlog*");
    shale_test_expect_array(r, 4, "CONFIG GET slowlog*");
    freeReplyObject(r);
    redisFree(c);
}

/* Writers log on both I/O threads with a short slowlog-max-len, so every
 * command trims an entry, while readers on both threads walk the logs and
 * reset them. Under AddressSanitizer (make asan) a reader touching an entry
 * its writer freed fails the run. */
struct slowlog_worker {
    int port;
    bool reader;
    int errors;
};

static void *slowlog_worker_main(void *arg)
{
    struct slowlog_worker *w = arg;
    struct timeval tv = {10, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", w->port, tv);
    if (c == NULL || c->err) {
        w->errors++;
        if (c)
            redisFree(c);
        return NULL;
    }
    for (int i = 0; i < 400; i++) {
        redisReply *r;
        if (!w->reader)
            r = redisCommand(c, "SET key%d %d", i % 7, i);
        else if (i % 50 == 49)
            r = redisCommand(c, "SLOWLOG RESET");
        else if (i % 2)
            r = redisCommand(c, "SLOWLOG LEN");
        else
            r = redisCommand(c, "SLOWLOG GET -1");
        if (r == NULL || r->type == REDIS_REPLY_ERROR)
            w->errors++;
        else if (w->reader && r->type == REDIS_REPLY_ARRAY && r->elements > 4)
            w->errors++; /* more than slowlog-max-len */
        if (r)
            freeReplyObject(r);
    }
    redisFree(c);
    return NULL;
}

static void test_slowlog_concurrent_readers(void **state)
{
    enum { WORKERS = 6 };
    redisContext *c = shale_test_connect(server);
    shale_test_assert_status(c, "OK", "CONFIG SET slowlog-max-len 4");
    shale_test_assert_status(c, "OK", "CONFIG SET slowlog-log-slower-than 0");
    pthread_t threads[WORKERS];
    struct slowlog_worker workers[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        workers[i] = (struct slowlog_worker){shale_test_server_port(server), i % 2 == 1, 0};
        assert_int_equal(pthread_create(&threads[i], NULL, slowlog_worker_main, &workers[i]), 0);
    }
    for (int i = 0; i < WORKERS; i++) {
        pthread_join(threads[i], NULL);
        if (workers[i].errors)
            fail_msg("worker %d saw %d bad replies", i, workers[i].errors);
    }
    for (int i = 0; i < 3; i++)
        shale_test_assert_status(c, "OK", "SET after%d v", i);
    shale_test_assert_int(c, 4, "SLOWLOG LEN");
    redisReply *r = shale_test_command(c, "SLOWLOG GET");
    shale_test_expect_array(r, 4, "SLOWLOG GET");
    shale_test_expect_bulk(r->element[0]->element[3]->element[0], "SLOWLOG", "newest entry");
    shale_test_expect_bulk(r->element[1]->element[3]->element[1], "after2", "second newest");
    freeReplyObject(r);
    redisFree(c);
}

/* ---- INFO sections and keyspace ---- */

/* The "# Title" lines of the reply to `command`, joined with ','. */
static void section_titles(redisContext *c, const char *command, char *out, size_t cap)
{
    redisReply *r = shale_test_command(c, command);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    char *text = strdup(r->str);
    freeReplyObject(r);
    out[0] = '\0';
    for (const char *line = text; *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        if (line[0] == '#') {
            size_t used = strlen(out);
            snprintf(out + used, cap - used, "%s%.*s", used ? "," : "", (int)(len - 3), line + 2);
        }
        line += len + (nl != NULL);
    }
    free(text);
}

static void test_info_section_sets(void **state)
{
    redisContext *c = shale_test_connect(server);
    char got[512];
    const char *dflt = "Server,Clients,Memory,Persistence,Stats,Replication,CPU,Modules,"
                       "Errorstats,Cluster,Keyspace";
    section_titles(c, "INFO", got, sizeof got);
    assert_string_equal(got, dflt);
    section_titles(c, "INFO default", got, sizeof got);
    assert_string_equal(got, dflt);
    /* "all" adds the sections "default" leaves out; shale adds its own. */
    const char *all = shale_test_server_is_redis()
                          ? "Server,Clients,Memory,Persistence,Stats,Replication,CPU,Modules,"
                            "Commandstats,Errorstats,Latencystats,Cluster,Keyspace"
                          : "Server,Clients,Memory,Persistence,Stats,Replication,CPU,Modules,"
                            "Commandstats,Errorstats,Latencystats,Cluster,Keyspace,Shale";
    section_titles(c, "INFO all", got, sizeof got);
    assert_string_equal(got, all);
    section_titles(c, "INFO everything", got, sizeof got);
    assert_string_equal(got, all);
    section_titles(c, "INFO cluster errorstats", got, sizeof got);
    assert_string_equal(got, "Errorstats,Cluster");
    assert_int_equal(info_ll(c, "cluster", "cluster_enabled"), 0);
    redisFree(c);
}

static void test_keyspace_avg_ttl(void **state)
{
    redisContext *c = shale_test_connect(server);
    for (int i = 0; i < 50; i++)
        shale_test_assert_status(c, "OK", "SET ttl%d v EX 100", i);
    for (int i = 0; i < 50; i++)
        shale_test_assert_status(c, "OK", "SET plain%d v", i);
    /* The expiry cycle samples the TTLs on its own timer. */
    long long avg = 0;
    long long deadline = shale_test_now_ms() + 5000;
    char *text = NULL;
    while (shale_test_now_ms() < deadline) {
        free(text);
        text = info(c, "keyspace");
        const char *v = strstr(text, "db0:keys=100,expires=50,avg_ttl=");
        assert_non_null(v);
        avg = atoll(v + strlen("db0:keys=100,expires=50,avg_ttl="));
        if (avg > 0)
            break;
        shale_test_sleep_ms(50);
    }
    free(text);
    if (avg <= 90000 || avg > 100000)
        fail_msg("avg_ttl %lld, expected about 100000 ms", avg);
    redisFree(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, test_setup, test_teardown)
        T(test_commandstats_calls_and_time),
        T(test_commandstats_rejected_and_failed),
        T(test_commandstats_noauth_is_rejected),
        T(test_commandstats_split_command_counts_once),
        T(test_errorstats_by_prefix),
        T(test_resetstat),
        T(test_slowlog_entries),
        T(test_slowlog_truncates_like_redis),
        T(test_slowlog_redacts_secrets),
        T(test_slowlog_threshold_and_length),
        T(test_slowlog_merges_every_client),
        T(test_slowlog_errors_and_help),
        T(test_slowlog_concurrent_readers),
        T(test_info_section_sets),
        T(test_keyspace_avg_ttl),
#undef T
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
