/*
 * Client management over the wire: CLIENT LIST/INFO fields and filters,
 * CLIENT KILL (old and new forms, every filter, clients of another I/O
 * thread), CLIENT NO-EVICT, CLIENT REPLY ON/OFF/SKIP, `maxclients` and
 * `timeout`. Replies and errors are Redis 7.0's.
 *
 * shale runs with 2 I/O threads: consecutive connections land on different
 * threads, so a kill crosses threads. Every test also runs against
 * redis-server except MAXAGE, a Redis 7.4 filter.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>

#include <cmocka.h>

#include "tests/support/raw.h"
#include "tests/support/reply.h"
#include "tests/support/server.h"

static struct test_server *server;

static int group_setup(void **state)
{
    static const char *const shale_args[] = {"--shards", "2", "--io-threads", "2", NULL};
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

/* The value of `field=` in a CLIENT LIST/INFO line, copied into out. */
static bool line_field(const char *line, const char *field, char *out, size_t cap)
{
    size_t n = strlen(field);
    for (const char *p = line; (p = strstr(p, field)) != NULL; p += n) {
        if ((p == line || p[-1] == ' ') && p[n] == '=') {
            const char *v = p + n + 1;
            snprintf(out, cap, "%.*s", (int)strcspn(v, " \n"), v);
            return true;
        }
    }
    return false;
}

/* CLIENT INFO of c, as a C string to free. */
static char *client_info(redisContext *c)
{
    redisReply *r = shale_test_command(c, "CLIENT INFO");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    char *line = strdup(r->str);
    freeReplyObject(r);
    return line;
}

static void info_field(redisContext *c, const char *field, char *out, size_t cap)
{
    char *line = client_info(c);
    if (!line_field(line, field, out, cap))
        fail_msg("CLIENT INFO has no %s: %s", field, line);
    free(line);
}

static long long raw_client_id(struct test_raw *raw)
{
    shale_test_raw_command(raw, "CLIENT", "ID", NULL);
    struct test_resp *r = shale_test_raw_read_reply(raw);
    assert_int_equal(r->type, ':');
    long long id = r->integer;
    shale_test_resp_free(r);
    return id;
}

static void raw_client_addr(struct test_raw *raw, char *out, size_t cap)
{
    shale_test_raw_command(raw, "CLIENT", "INFO", NULL);
    struct test_resp *r = shale_test_raw_read_reply(raw);
    assert_int_equal(r->type, '$');
    assert_true(line_field(r->str, "addr", out, cap));
    shale_test_resp_free(r);
}

/* Whether CLIENT LIST (seen from c) has a client with this id. */
static bool listed(redisContext *c, long long id)
{
    char token[32];
    snprintf(token, sizeof token, "id=%lld ", id);
    redisReply *r = shale_test_command(c, "CLIENT LIST");
    bool found = false;
    for (const char *line = r->str; line && *line; line = strchr(line, '\n') + 1) {
        if (strncmp(line, token, strlen(token)) == 0)
            found = true;
        if (!strchr(line, '\n'))
            break;
    }
    freeReplyObject(r);
    return found;
}

/* ---- CLIENT LIST / INFO ---- */

static void test_client_info_fields(void **state)
{
    static const char *const fields[] = {
        "id",        "addr",     "laddr",     "fd",   "name", "age",   "idle",
        "flags",     "db",       "sub",       "psub", "ssub", "multi", "qbuf",
        "qbuf-free", "argv-mem", "multi-mem", "rbs",  "rbp",  "obl",   "oll",
        "omem",      "tot-mem",  "events",    "cmd",  "user", "redir", "resp",
    };
    redisContext *c = shale_test_connect(server);
    char *line = client_info(c);
    /* Every field, in Redis's order, and nothing else. */
    const char *p = line;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        size_t n = strlen(fields[i]);
        if (strncmp(p, fields[i], n) != 0 || p[n] != '=')
            fail_msg("field %zu should be %s: %s", i, fields[i], line);
        p += n + 1 + strcspn(p + n + 1, " \n");
        p += *p == ' ';
    }
    assert_string_equal(p, "\n");
    char v[128];
    static const struct {
        const char *field, *value;
    } exact[] = {
        {"name", ""},           {"flags", "N"},      {"db", "0"},        {"sub", "0"},
        {"psub", "0"},          {"multi", "-1"},     {"argv-mem", "10"}, {"events", "r"},
        {"cmd", "client|info"}, {"user", "default"}, {"redir", "-1"},    {"resp", "2"},
    };
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++) {
        assert_true(line_field(line, exact[i].field, v, sizeof v));
        if (strcmp(v, exact[i].value) != 0)
            fail_msg("%s=%s, expected %s: %s", exact[i].field, v, exact[i].value, line);
    }
    assert_true(line_field(line, "tot-mem", v, sizeof v));
    assert_true(atoll(v) > 0);
    assert_true(line_field(line, "laddr", v, sizeof v));
    char port[16];
    snprintf(port, sizeof port, ":%d", shale_test_server_port(server));
    assert_non_null(strstr(v, port));
    free(line);
    redisFree(c);
}

static void test_client_list_filters(void **state)
{
    redisContext *c = shale_test_connect(server);
    redisContext *other = shale_test_connect(server);
    long long id = shale_test_command_int(c, "CLIENT ID");
    long long other_id = shale_test_command_int(other, "CLIENT ID");

    redisReply *r = shale_test_command(c, "CLIENT LIST ID %lld %lld 999999", id, other_id);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    int lines = 0;
    for (const char *s = r->str; (s = strchr(s, '\n')) != NULL; s++)
        lines++;
    assert_int_equal(lines, 2);
    freeReplyObject(r);
    r = shale_test_command(c, "CLIENT LIST ID %lld", other_id);
    char want[32];
    snprintf(want, sizeof want, "id=%lld ", other_id);
    assert_true(strncmp(r->str, want, strlen(want)) == 0);
    freeReplyObject(r);
    assert_true(listed(c, other_id));
    r = shale_test_command(c, "CLIENT LIST TYPE normal");
    assert_non_null(strstr(r->str, want));
    freeReplyObject(r);
    r = shale_test_command(c, "CLIENT LIST TYPE pubsub");
    shale_test_expect_bulk(r, "", "CLIENT LIST TYPE pubsub");
    freeReplyObject(r);
    shale_test_assert_error(c, "ERR Unknown client type 'foo'", "CLIENT LIST TYPE foo");
    shale_test_assert_error(c, "ERR Invalid client ID", "CLIENT LIST ID abc");
    shale_test_assert_error(c, "ERR Invalid client ID", "CLIENT LIST ID %lld abc", id);
    shale_test_assert_error(c, "ERR syntax error", "CLIENT LIST ID");
    shale_test_assert_error(c, "ERR syntax error", "CLIENT LIST TYPE");
    shale_test_assert_error(c, "ERR syntax error", "CLIENT LIST foo");
    redisFree(other);
    redisFree(c);
}

/* ---- CLIENT KILL ---- */

static void test_client_kill_old_form(void **state)
{
    redisContext *c = shale_test_connect(server);
    struct test_raw *victim = shale_test_raw_connect(server);
    char addr[64];
    raw_client_addr(victim, addr, sizeof addr);
    long long victim_id = raw_client_id(victim);
    shale_test_assert_status(c, "OK", "CLIENT KILL %s", addr);
    shale_test_raw_expect_closed(victim);
    shale_test_raw_close(victim);
    assert_false(listed(c, victim_id));
    shale_test_assert_error(c, "ERR No such client", "CLIENT KILL %s", addr);
    shale_test_assert_error(c, "ERR No such client", "CLIENT KILL 1.2.3.4:5");
    shale_test_assert_error(c, "ERR No such client", "CLIENT KILL nonsense");

    /* The old form may kill the caller: it gets +OK, then the close, and
     * nothing it pipelined after the kill runs. */
    struct test_raw *self = shale_test_raw_connect(server);
    raw_client_addr(self, addr, sizeof addr);
    char cmd[160];
    int n = snprintf(cmd, sizeof cmd,
                     "*3\r\n$6\r\nCLIENT\r\n$4\r\nKILL\r\n$%zu\r\n%s\r\n*3\r\n$3\r\nSET\r\n"
                     "$9\r\nafterkill\r\n$1\r\n1\r\n",
                     strlen(addr), addr);
    shale_test_raw_send(self, cmd, (size_t)n);
    shale_test_raw_expect(self, "+OK\r\n");
    shale_test_raw_expect_closed(self);
    shale_test_raw_close(self);
    shale_test_assert_nil(c, "GET afterkill");
    redisFree(c);
}

static void test_client_kill_filters(void **state)
{
    redisContext *c = shale_test_connect(server);
    long long my_id = shale_test_command_int(c, "CLIENT ID");
    char my_laddr[64];
    info_field(c, "laddr", my_laddr, sizeof my_laddr);

    /* ID: the victims alternate between the I/O threads. */
    for (int i = 0; i < 4; i++) {
        struct test_raw *victim = shale_test_raw_connect(server);
        long long id = raw_client_id(victim);
        shale_test_assert_int(c, 1, "CLIENT KILL ID %lld", id);
        shale_test_raw_expect_closed(victim);
        shale_test_raw_close(victim);
        assert_false(listed(c, id));
        shale_test_assert_int(c, 0, "CLIENT KILL ID %lld", id);
    }
    /* SKIPME yes (the default) spares the caller. */
    shale_test_assert_int(c, 0, "CLIENT KILL ID %lld", my_id);
    shale_test_assert_int(c, 0, "CLIENT KILL ID %lld SKIPME yes", my_id);

    /* ADDR and LADDR, combined with other filters. */
    struct test_raw *a = shale_test_raw_connect(server);
    char addr[64];
    raw_client_addr(a, addr, sizeof addr);
    shale_test_assert_int(c, 0, "CLIENT KILL ADDR %s ID %lld", addr, my_id);
    shale_test_assert_int(c, 0, "CLIENT KILL ADDR %s TYPE master", addr);
    shale_test_assert_int(c, 1, "CLIENT KILL ADDR %s TYPE normal USER default", addr);
    shale_test_raw_expect_closed(a);
    shale_test_raw_close(a);

    struct test_raw *others[3];
    for (int i = 0; i < 3; i++)
        others[i] = shale_test_raw_connect(server);
    for (int i = 0; i < 3; i++)
        raw_client_id(others[i]); /* connected and registered */
    shale_test_assert_int(c, 3, "CLIENT KILL LADDR %s", my_laddr);
    for (int i = 0; i < 3; i++) {
        shale_test_raw_expect_closed(others[i]);
        shale_test_raw_close(others[i]);
    }
    shale_test_assert_int(c, 0, "CLIENT KILL USER default");
    shale_test_assert_status(c, "PONG", "PING");

    /* SKIPME no: the caller goes too, after its reply. */
    struct test_raw *self = shale_test_raw_connect(server);
    long long self_id = raw_client_id(self);
    char id_text[32];
    snprintf(id_text, sizeof id_text, "%lld", self_id);
    shale_test_raw_command(self, "CLIENT", "KILL", "ID", id_text, "SKIPME", "no", NULL);
    shale_test_raw_expect(self, ":1\r\n");
    shale_test_raw_expect_closed(self);
    shale_test_raw_close(self);
    redisFree(c);
}

static void test_client_kill_errors(void **state)
{
    redisContext *c = shale_test_connect(server);
    shale_test_assert_error(c, "ERR client-id should be greater than 0", "CLIENT KILL ID abc");
    shale_test_assert_error(c, "ERR client-id should be greater than 0", "CLIENT KILL ID 0");
    shale_test_assert_error(c, "ERR client-id should be greater than 0", "CLIENT KILL ID -3");
    shale_test_assert_error(c, "ERR Unknown client type 'foo'", "CLIENT KILL TYPE foo");
    shale_test_assert_error(c, "ERR No such user 'nobody'", "CLIENT KILL USER nobody");
    shale_test_assert_error(c, "ERR syntax error", "CLIENT KILL SKIPME maybe");
    shale_test_assert_error(c, "ERR syntax error", "CLIENT KILL FOO bar");
    shale_test_assert_error(c, "ERR syntax error", "CLIENT KILL ID 1 ADDR");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'client|kill' command",
                            "CLIENT KILL");
    shale_test_assert_status(c, "PONG", "PING");
    redisFree(c);
}

/* MAXAGE came with Redis 7.4; 7.0 answers it with a syntax error. */
static void test_client_kill_maxage(void **state)
{
    shale_test_skip_on_redis("CLIENT KILL MAXAGE is a Redis 7.4 filter");
    redisContext *c = shale_test_connect(server);
    struct test_raw *old = shale_test_raw_connect(server);
    raw_client_id(old);
    shale_test_sleep_ms(2100);
    struct test_raw *young = shale_test_raw_connect(server);
    raw_client_id(young);
    /* c is as old as `old`: SKIPME keeps it. */
    shale_test_assert_int(c, 1, "CLIENT KILL MAXAGE 1");
    shale_test_raw_expect_closed(old);
    shale_test_raw_close(old);
    shale_test_raw_command(young, "PING", NULL);
    shale_test_raw_expect(young, "+PONG\r\n");
    shale_test_raw_close(young);
    shale_test_assert_error(c, "ERR syntax error", "CLIENT KILL MAXAGE x");
    shale_test_assert_error(c, "ERR syntax error", "CLIENT KILL MAXAGE 0");
    redisFree(c);
}

/* ---- CLIENT NO-EVICT, CLIENT REPLY ---- */

static void test_client_no_evict(void **state)
{
    redisContext *c = shale_test_connect(server);
    char flags[16];
    shale_test_assert_status(c, "OK", "CLIENT NO-EVICT on");
    info_field(c, "flags", flags, sizeof flags);
    assert_string_equal(flags, "e");
    shale_test_assert_status(c, "OK", "CLIENT NO-EVICT OFF");
    info_field(c, "flags", flags, sizeof flags);
    assert_string_equal(flags, "N");
    shale_test_assert_error(c, "ERR syntax error", "CLIENT NO-EVICT maybe");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'client|no-evict' command",
                            "CLIENT NO-EVICT");
    /* RESET leaves it as it is (Redis 7.0). */
    shale_test_assert_status(c, "OK", "CLIENT NO-EVICT on");
    shale_test_assert_status(c, "RESET", "RESET");
    info_field(c, "flags", flags, sizeof flags);
    assert_string_equal(flags, "e");
    redisFree(c);
}

static long long error_replies(redisContext *c)
{
    redisReply *r = shale_test_command(c, "INFO stats");
    const char *v = shale_test_info_field(r->str, "total_error_replies");
    assert_non_null(v);
    long long n = atoll(v);
    freeReplyObject(r);
    return n;
}

static void test_client_reply(void **state)
{
    redisContext *c = shale_test_connect(server);
    struct test_raw *raw = shale_test_raw_connect(server);
    long long errors = error_replies(c);

    /* OFF: nothing comes back, not even errors or the OFF itself; keyed
     * commands still run. */
    shale_test_raw_command(raw, "CLIENT", "REPLY", "OFF", NULL);
    shale_test_raw_command(raw, "SET", "replied", "no", NULL);
    shale_test_raw_command(raw, "GET", "replied", NULL);
    shale_test_raw_command(raw, "NOSUCH", NULL);
    shale_test_raw_command(raw, "CLIENT", "REPLY", "SKIP", NULL); /* ignored while OFF */
    shale_test_raw_expect_silence(raw, 200);
    shale_test_assert_bulk(c, "no", "GET replied");
    /* The suppressed error still counts. */
    assert_int_equal(error_replies(c), errors + 1);
    shale_test_raw_command(raw, "CLIENT", "REPLY", "ON", NULL);
    shale_test_raw_expect(raw, "+OK\r\n");
    shale_test_raw_command(raw, "PING", NULL);
    shale_test_raw_expect(raw, "+PONG\r\n");

    /* SKIP: no reply to it, none to the next command, then replies again. */
    shale_test_raw_command(raw, "CLIENT", "REPLY", "SKIP", NULL);
    shale_test_raw_command(raw, "INCR", "skipped", NULL);
    shale_test_raw_command(raw, "INCR", "skipped", NULL);
    shale_test_raw_expect(raw, ":2\r\n");
    /* ON cancels a pending SKIP and answers, as in Redis. */
    shale_test_raw_command(raw, "CLIENT", "REPLY", "SKIP", NULL);
    shale_test_raw_command(raw, "CLIENT", "REPLY", "ON", NULL);
    shale_test_raw_command(raw, "ECHO", "back", NULL);
    shale_test_raw_expect(raw, "+OK\r\n$4\r\nback\r\n");

    /* RESET turns replies back on, and answers. */
    shale_test_raw_command(raw, "CLIENT", "REPLY", "OFF", NULL);
    shale_test_raw_command(raw, "RESET", NULL);
    shale_test_raw_expect(raw, "+RESET\r\n");

    shale_test_raw_command(raw, "CLIENT", "REPLY", "maybe", NULL);
    shale_test_raw_expect(raw, "-ERR syntax error\r\n");
    shale_test_raw_close(raw);
    shale_test_assert_error(c, "ERR wrong number of arguments for 'client|reply' command",
                            "CLIENT REPLY");
    redisFree(c);
}

/* ---- maxclients and timeout ---- */

static void test_maxclients(void **state)
{
    static const char *const args[] = {"--maxclients", "3", NULL};
    struct test_server *small = shale_test_server_start(args, NULL);
    assert_non_null(small);
    redisContext *cs[3];
    cs[0] = shale_test_connect(small);
    /* The start-up check's connection may still be closing. */
    for (long long deadline = shale_test_now_ms() + 5000; shale_test_now_ms() < deadline;) {
        redisReply *r = shale_test_command(cs[0], "INFO clients");
        long long connected = atoll(shale_test_info_field(r->str, "connected_clients"));
        freeReplyObject(r);
        if (connected == 1)
            break;
        shale_test_sleep_ms(20);
    }
    for (int i = 1; i < 3; i++) {
        cs[i] = shale_test_connect(small);
        shale_test_assert_status(cs[i], "PONG", "PING");
    }
    struct test_raw *refused = shale_test_raw_connect(small);
    shale_test_raw_expect(refused, "-ERR max number of clients reached\r\n");
    shale_test_raw_expect_closed(refused);
    shale_test_raw_close(refused);
    redisReply *r = shale_test_command(cs[0], "INFO stats");
    assert_true(atoll(shale_test_info_field(r->str, "rejected_connections")) >= 1);
    freeReplyObject(r);
    r = shale_test_command(cs[0], "CONFIG GET maxclients");
    shale_test_expect_array(r, 2, "CONFIG GET maxclients");
    shale_test_expect_bulk(r->element[1], "3", "maxclients");
    freeReplyObject(r);

    /* A slot that frees up takes a new client (the close is asynchronous). */
    redisFree(cs[2]);
    bool accepted = false;
    for (long long deadline = shale_test_now_ms() + 5000;
         !accepted && shale_test_now_ms() < deadline;) {
        struct test_raw *again = shale_test_raw_connect(small);
        shale_test_raw_command(again, "PING", NULL);
        char buf[64];
        size_t n = shale_test_raw_read(again, buf, 7, 2000);
        accepted = n == 7 && memcmp(buf, "+PONG\r\n", 7) == 0;
        shale_test_raw_close(again);
        if (!accepted)
            shale_test_sleep_ms(50);
    }
    assert_true(accepted);
    redisFree(cs[0]);
    redisFree(cs[1]);
    assert_int_equal(shale_test_server_stop(small), 0);
}

static void test_timeout_closes_idle_clients(void **state)
{
    static const char *const args[] = {"--timeout", "1", NULL};
    struct test_server *strict = shale_test_server_start(args, NULL);
    assert_non_null(strict);
    struct test_raw *idle = shale_test_raw_connect(strict);
    struct test_raw *busy = shale_test_raw_connect(strict);
    shale_test_raw_command(idle, "PING", NULL);
    shale_test_raw_expect(idle, "+PONG\r\n");
    /* The busy client talks every 300 ms for 3 s and keeps its connection;
     * the idle one is closed after about a second of silence. */
    for (int i = 0; i < 10; i++) {
        shale_test_raw_command(busy, "PING", NULL);
        shale_test_raw_expect(busy, "+PONG\r\n");
        shale_test_sleep_ms(300);
    }
    shale_test_raw_expect_closed(idle);
    shale_test_raw_close(idle);
    shale_test_raw_command(busy, "CONFIG", "GET", "timeout", NULL);
    shale_test_raw_expect(busy, "*2\r\n$7\r\ntimeout\r\n$1\r\n1\r\n");
    /* timeout is live: 0 keeps idle clients forever. */
    shale_test_raw_command(busy, "CONFIG", "SET", "timeout", "0", NULL);
    shale_test_raw_expect(busy, "+OK\r\n");
    shale_test_raw_expect_silence(busy, 2500);
    shale_test_raw_command(busy, "PING", NULL);
    shale_test_raw_expect(busy, "+PONG\r\n");
    shale_test_raw_close(busy);
    assert_int_equal(shale_test_server_stop(strict), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, test_setup, test_teardown)
        T(test_client_info_fields),   T(test_client_list_filters),
        T(test_client_kill_old_form), T(test_client_kill_filters),
        T(test_client_kill_errors),   T(test_client_kill_maxage),
        T(test_client_no_evict),      T(test_client_reply),
        T(test_maxclients),           T(test_timeout_closes_idle_clients),
#undef T
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
