/*
 * Connection-level commands over the wire: PING, ECHO, arity and unknown
 * command errors, SELECT, HELLO and RESP3, QUIT, RESET, CLIENT, TIME,
 * COMMAND, INFO and AUTH.  Error texts are Redis 7.0's, byte for byte.
 *
 * Two servers: a plain one and one started with --requirepass secret.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <setjmp.h>

#include <cmocka.h>

#include "tests/support/raw.h"
#include "tests/support/reply.h"
#include "tests/support/server.h"

#define PASSWORD "secret"

#define HELLO_NOAUTH                                                                               \
    "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO "      \
    "AUTH <user> <pass> option can be used to authenticate the client and select the RESP "        \
    "protocol version at the same time"

static struct test_server *server;
static struct test_server *auth_server;

static int group_setup(void **state)
{
    static const char *const auth_args[] = {"--requirepass", PASSWORD, NULL};
    server = shale_test_server_start(NULL, NULL);
    if (server == NULL) {
        return -1;
    }
    auth_server = shale_test_server_start(auth_args, NULL);
    return auth_server != NULL ? 0 : -1;
}

static int group_teardown(void **state)
{
    int rc = shale_test_server_stop(server);
    return shale_test_server_stop(auth_server) != 0 ? -1 : rc;
}

static int test_setup(void **state)
{
    if (shale_test_begin(server, NULL) != 0) {
        return -1;
    }
    return 0;
}

static int test_teardown(void **state)
{
    bool ok = shale_test_server_alive(server) & shale_test_server_alive(auth_server);
    return ok ? 0 : -1;
}

/* Whether a CLIENT LIST/INFO line holds the exact token "field=value". */
static bool line_has_token(const char *line, size_t line_len, const char *token)
{
    size_t n = strlen(token);
    for (size_t i = 0; i + n <= line_len; i++) {
        if ((i == 0 || line[i - 1] == ' ') && memcmp(line + i, token, n) == 0 &&
            (i + n == line_len || line[i + n] == ' ' || line[i + n] == '\n')) {
            return true;
        }
    }
    return false;
}

static bool is_version(const char *s)
{
    int dots = 0;
    if (s == NULL || *s < '0' || *s > '9') {
        return false;
    }
    for (; *s != '\0'; s++) {
        if (*s == '.') {
            dots++;
        } else if (*s < '0' || *s > '9') {
            return false;
        }
    }
    return dots == 2;
}

static long long client_id(redisContext *c)
{
    return shale_test_command_int(c, "CLIENT ID");
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

static const char *const hello_keys[] = {"server", "version", "proto",  "id",
                                         "mode",   "role",    "modules"};

/* HELLO's RESP3 map: the seven fields, in Redis's order. */
static void check_hello_map(const struct test_resp *r, long long proto, long long id)
{
    assert_int_equal(r->type, '%');
    assert_int_equal(r->elements, 14);
    for (size_t i = 0; i < 7; i++) {
        assert_int_equal(r->element[2 * i]->type, '$');
        assert_string_equal(r->element[2 * i]->str, hello_keys[i]);
    }
    const struct test_resp *v = shale_test_resp_map_get(r, "server");
    assert_int_equal(v->type, '$');
    assert_true(v->len > 0);
    v = shale_test_resp_map_get(r, "version");
    assert_int_equal(v->type, '$');
    assert_true(is_version(v->str));
    v = shale_test_resp_map_get(r, "proto");
    assert_int_equal(v->type, ':');
    assert_int_equal(v->integer, proto);
    v = shale_test_resp_map_get(r, "id");
    assert_int_equal(v->type, ':');
    assert_int_equal(v->integer, id);
    v = shale_test_resp_map_get(r, "mode");
    assert_int_equal(v->type, '$');
    assert_string_equal(v->str, "standalone");
    v = shale_test_resp_map_get(r, "role");
    assert_int_equal(v->type, '$');
    assert_string_equal(v->str, "master");
    v = shale_test_resp_map_get(r, "modules");
    assert_int_equal(v->type, '*');
    assert_int_equal(v->elements, 0);
}

/* HELLO's RESP2 reply: the same fields as a flat array of 14. */
static void check_hello_array(const redisReply *r, long long proto, long long id)
{
    shale_test_expect_array(r, 14, "HELLO");
    for (size_t i = 0; i < 7; i++) {
        shale_test_expect_bulk(r->element[2 * i], hello_keys[i], "HELLO key");
    }
    assert_int_equal(r->element[1]->type, REDIS_REPLY_STRING);
    assert_true(r->element[1]->len > 0);
    assert_int_equal(r->element[3]->type, REDIS_REPLY_STRING);
    assert_true(is_version(r->element[3]->str));
    shale_test_expect_int(r->element[5], proto, "HELLO proto");
    shale_test_expect_int(r->element[7], id, "HELLO id");
    shale_test_expect_bulk(r->element[9], "standalone", "HELLO mode");
    shale_test_expect_bulk(r->element[11], "master", "HELLO role");
    shale_test_expect_array(r->element[13], 0, "HELLO modules");
}

static void test_ping(void **state)
{
    redisContext *c = shale_test_connect(server);
    shale_test_assert_status(c, "PONG", "PING");
    shale_test_assert_bulk(c, "hello world", "PING %s", "hello world");
    shale_test_assert_bulk(c, "", "PING %s", "");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'ping' command", "PING a b");
    redisFree(c);
}

static void test_echo(void **state)
{
    redisContext *c = shale_test_connect(server);
    shale_test_assert_bulk(c, "hi", "ECHO hi");
    static const char binary[] = "a\0b\r\nc";
    redisReply *r = shale_test_command(c, "ECHO %b", binary, sizeof binary - 1);
    shale_test_expect_bulk_len(r, binary, sizeof binary - 1, "ECHO <binary>");
    freeReplyObject(r);
    shale_test_assert_error(c, "ERR wrong number of arguments for 'echo' command", "ECHO");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'echo' command", "ECHO a b");
    redisFree(c);
}

static void test_wrong_arity(void **state)
{
    redisContext *c = shale_test_connect(server);
    shale_test_assert_error(c, "ERR wrong number of arguments for 'get' command", "GET");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'get' command", "GET a b");
    /* The name in the error is the command table's, whatever case was sent. */
    shale_test_assert_error(c, "ERR wrong number of arguments for 'get' command", "GeT");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'set' command", "SET k");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'del' command", "DEL");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'client|setname' command",
                            "CLIENT SETNAME");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'client' command", "CLIENT");
    shale_test_assert_status(c, "PONG", "PING");
    redisFree(c);
}

static void test_unknown_command(void **state)
{
    redisContext *c = shale_test_connect(server);
    shale_test_assert_error(c, "ERR unknown command 'foo', with args beginning with: 'a' 'b' ",
                            "foo a b");
    /* The name keeps the case it was sent in. */
    shale_test_assert_error(c, "ERR unknown command 'FoO', with args beginning with: 'A' ",
                            "FoO A");
    shale_test_assert_error(c, "ERR unknown command 'foo', with args beginning with: ", "foo");

    /* Arguments are quoted until the list reaches 128 bytes. */
    char arg[201];
    memset(arg, 'x', 200);
    arg[200] = '\0';
    char expected[300];
    snprintf(expected, sizeof expected,
             "ERR unknown command 'foo', with args beginning with: '%.128s' ", arg);
    shale_test_assert_error(c, expected, "foo %s b", arg);
    shale_test_assert_error(
        c,
        "ERR unknown command 'foo', with args beginning with: 'a' 'b' 'c' 'd' 'e' 'f' 'g' 'h' "
        "'i' 'j' 'k' 'l' 'm' 'n' 'o' 'p' 'q' 'r' 's' 't' 'u' 'v' 'w' 'x' 'y' 'z' 'aa' 'bb' 'cc' "
        "'dd' 'ee' ",
        "foo a b c d e f g h i j k l m n o p q r s t u v w x y z aa bb cc dd ee ff gg hh ii");
    shale_test_assert_error(c, "ERR unknown subcommand 'FOO'. Try CLIENT HELP.", "CLIENT FOO");
    shale_test_assert_status(c, "PONG", "PING");
    redisFree(c);
}

static void test_select(void **state)
{
    redisContext *c = shale_test_connect(server);
    shale_test_assert_status(c, "OK", "SELECT 1");
    shale_test_assert_status(c, "OK", "SELECT 15");
    shale_test_assert_status(c, "OK", "SELECT 0");
    shale_test_assert_error(c, "ERR DB index is out of range", "SELECT 16");
    shale_test_assert_error(c, "ERR DB index is out of range", "SELECT -1");
    shale_test_assert_error(c, "ERR value is not an integer or out of range", "SELECT x");
    shale_test_assert_error(c, "ERR value is not an integer or out of range", "SELECT 1.5");
    shale_test_assert_error(c, "ERR value is not an integer or out of range", "SELECT %s", "");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'select' command", "SELECT");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'select' command", "SELECT 0 1");
    redisFree(c);
}

static void test_databases_are_isolated(void **state)
{
    redisContext *c = shale_test_connect(server);
    redisContext *other = shale_test_connect(server);
    shale_test_assert_status(c, "OK", "SET k db0");
    shale_test_assert_status(c, "OK", "SELECT 1");
    shale_test_assert_nil(c, "GET k");
    shale_test_assert_int(c, 0, "EXISTS k");
    shale_test_assert_int(c, 0, "DBSIZE");
    shale_test_assert_status(c, "OK", "SET k db1");
    shale_test_assert_status(c, "OK", "SET only1 x");
    shale_test_assert_bulk(c, "db1", "GET k");
    shale_test_assert_int(c, 2, "DBSIZE");
    /* The other connection is still on db 0. */
    shale_test_assert_bulk(other, "db0", "GET k");
    shale_test_assert_int(other, 1, "DBSIZE");
    shale_test_assert_int(other, 0, "DEL only1");
    shale_test_assert_status(other, "OK", "SELECT 1");
    shale_test_assert_int(other, 1, "DEL only1");
    shale_test_assert_status(c, "OK", "SELECT 0");
    shale_test_assert_bulk(c, "db0", "GET k");
    shale_test_assert_status(c, "OK", "SELECT 15");
    shale_test_assert_nil(c, "GET k");
    redisFree(other);
    redisFree(c);
}

static void test_hello3_map_and_resp3_replies(void **state)
{
    struct test_raw *raw = shale_test_raw_connect(server);
    long long id = raw_client_id(raw);
    shale_test_raw_command(raw, "HELLO", "3", NULL);
    struct test_resp *r = shale_test_raw_read_reply(raw);
    check_hello_map(r, 3, id);
    shale_test_resp_free(r);

    /* HELLO without a version answers in the connection's protocol. */
    shale_test_raw_command(raw, "HELLO", NULL);
    r = shale_test_raw_read_reply(raw);
    check_hello_map(r, 3, id);
    shale_test_resp_free(r);

    shale_test_raw_command(raw, "GET", "missing", NULL);
    shale_test_raw_expect(raw, "_\r\n");
    shale_test_raw_command(raw, "SET", "k", "v", NULL);
    shale_test_raw_expect(raw, "+OK\r\n");
    shale_test_raw_command(raw, "GET", "k", NULL);
    shale_test_raw_expect(raw, "$1\r\nv\r\n");
    shale_test_raw_command(raw, "MGET", "k", "missing", NULL);
    shale_test_raw_expect(raw, "*2\r\n$1\r\nv\r\n_\r\n");
    shale_test_raw_command(raw, "INCR", "n", NULL);
    shale_test_raw_expect(raw, ":1\r\n");
    /* INCRBYFLOAT stays a bulk string in RESP3, not a double. */
    shale_test_raw_command(raw, "INCRBYFLOAT", "f", "1.5", NULL);
    shale_test_raw_expect(raw, "$3\r\n1.5\r\n");
    shale_test_raw_command(raw, "PING", NULL);
    shale_test_raw_expect(raw, "+PONG\r\n");
    shale_test_raw_command(raw, "foo", NULL);
    shale_test_raw_expect(raw, "-ERR unknown command 'foo', with args beginning with: \r\n");

    /* Back to RESP2 on the same connection. */
    shale_test_raw_command(raw, "HELLO", "2", NULL);
    r = shale_test_raw_read_reply(raw);
    assert_int_equal(r->type, '*');
    assert_int_equal(r->elements, 14);
    assert_int_equal(r->element[5]->integer, 2);
    shale_test_resp_free(r);
    shale_test_raw_command(raw, "GET", "missing", NULL);
    shale_test_raw_expect(raw, "$-1\r\n");
    shale_test_raw_command(raw, "MGET", "k", "missing", NULL);
    shale_test_raw_expect(raw, "*2\r\n$1\r\nv\r\n$-1\r\n");
    shale_test_raw_close(raw);
}

static void test_hello2(void **state)
{
    redisContext *c = shale_test_connect(server);
    long long id = client_id(c);
    redisReply *r = shale_test_command(c, "HELLO 2");
    check_hello_array(r, 2, id);
    freeReplyObject(r);
    r = shale_test_command(c, "HELLO");
    check_hello_array(r, 2, id);
    freeReplyObject(r);
    shale_test_assert_nil(c, "GET missing");
    redisFree(c);
}

static void test_hello_errors(void **state)
{
    redisContext *c = shale_test_connect(server);
    shale_test_assert_error(c, "NOPROTO unsupported protocol version", "HELLO 4");
    shale_test_assert_error(c, "NOPROTO unsupported protocol version", "HELLO 1");
    shale_test_assert_error(c, "ERR Protocol version is not an integer or out of range", "HELLO x");
    shale_test_assert_error(c, "ERR Syntax error in HELLO option 'FOO'", "HELLO 2 FOO");
    shale_test_assert_error(c, "ERR Syntax error in HELLO option 'SETNAME'", "HELLO 2 SETNAME");
    shale_test_assert_error(c, "ERR Syntax error in HELLO option 'AUTH'", "HELLO 2 AUTH default");
    /* Still RESP2 after the failed attempts. */
    shale_test_assert_nil(c, "GET missing");

    redisReply *r = shale_test_command(c, "HELLO 2 SETNAME hello-name");
    shale_test_expect_array(r, 14, "HELLO 2 SETNAME hello-name");
    freeReplyObject(r);
    shale_test_assert_bulk(c, "hello-name", "CLIENT GETNAME");
    redisFree(c);
}

static void test_quit(void **state)
{
    struct test_raw *raw = shale_test_raw_connect(server);
    /* Nothing after QUIT in the same read is executed. */
    shale_test_raw_send_str(raw, "QUIT\r\nSET quitkey 1\r\n");
    shale_test_raw_expect(raw, "+OK\r\n");
    shale_test_raw_expect_closed(raw);
    shale_test_raw_close(raw);

    redisContext *c = shale_test_connect(server);
    shale_test_assert_int(c, 0, "EXISTS quitkey");
    redisFree(c);
}

static void test_reset(void **state)
{
    struct test_raw *raw = shale_test_raw_connect(server);
    shale_test_raw_command(raw, "HELLO", "3", NULL);
    shale_test_resp_free(shale_test_raw_read_reply(raw));
    shale_test_raw_command(raw, "SELECT", "2", NULL);
    shale_test_raw_expect(raw, "+OK\r\n");
    shale_test_raw_command(raw, "CLIENT", "SETNAME", "before-reset", NULL);
    shale_test_raw_expect(raw, "+OK\r\n");
    shale_test_raw_command(raw, "SET", "rk", "1", NULL);
    shale_test_raw_expect(raw, "+OK\r\n");

    shale_test_raw_command(raw, "RESET", NULL);
    shale_test_raw_expect(raw, "+RESET\r\n");
    /* RESP2 again, unnamed, on db 0. */
    shale_test_raw_command(raw, "GET", "missing", NULL);
    shale_test_raw_expect(raw, "$-1\r\n");
    shale_test_raw_command(raw, "CLIENT", "GETNAME", NULL);
    shale_test_raw_expect(raw, "$-1\r\n");
    shale_test_raw_command(raw, "EXISTS", "rk", NULL);
    shale_test_raw_expect(raw, ":0\r\n");
    shale_test_raw_command(raw, "SELECT", "2", NULL);
    shale_test_raw_expect(raw, "+OK\r\n");
    shale_test_raw_command(raw, "EXISTS", "rk", NULL);
    shale_test_raw_expect(raw, ":1\r\n");
    shale_test_raw_command(raw, "RESET", "x", NULL);
    shale_test_raw_expect(raw, "-ERR wrong number of arguments for 'reset' command\r\n");
    shale_test_raw_close(raw);
}

static void test_client_id_and_name(void **state)
{
    redisContext *c = shale_test_connect(server);
    redisContext *later = shale_test_connect(server);
    long long id = client_id(c);
    long long later_id = client_id(later);
    assert_true(id > 0);
    assert_true(later_id > id);
    assert_int_equal(client_id(c), id);

    shale_test_assert_nil(c, "CLIENT GETNAME");
    shale_test_assert_status(c, "OK", "CLIENT SETNAME my-conn");
    shale_test_assert_bulk(c, "my-conn", "CLIENT GETNAME");
    shale_test_assert_nil(later, "CLIENT GETNAME");
    shale_test_assert_error(
        c, "ERR Client names cannot contain spaces, newlines or special characters.",
        "CLIENT SETNAME %s", "a b");
    shale_test_assert_bulk(c, "my-conn", "CLIENT GETNAME");
    /* An empty name removes the name. */
    shale_test_assert_status(c, "OK", "CLIENT SETNAME %s", "");
    shale_test_assert_nil(c, "CLIENT GETNAME");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'client|id' command",
                            "CLIENT ID x");
    redisFree(later);
    redisFree(c);
}

static void test_client_info_and_list(void **state)
{
    redisContext *c = shale_test_connect(server);
    redisContext *other = shale_test_connect(server);
    long long id = client_id(c);
    long long other_id = client_id(other);
    shale_test_assert_status(c, "OK", "CLIENT SETNAME lister");
    shale_test_assert_status(c, "OK", "SELECT 3");

    char id_token[64];
    char other_token[64];
    snprintf(id_token, sizeof id_token, "id=%lld", id);
    snprintf(other_token, sizeof other_token, "id=%lld", other_id);

    redisReply *r = shale_test_command(c, "CLIENT INFO");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_true(r->len > 0 && r->str[r->len - 1] == '\n');
    assert_true(strncmp(r->str, id_token, strlen(id_token)) == 0);
    assert_true(line_has_token(r->str, (size_t)r->len, "name=lister"));
    assert_true(line_has_token(r->str, (size_t)r->len, "db=3"));
    assert_non_null(strstr(r->str, " addr=127.0.0.1:"));
    freeReplyObject(r);

    r = shale_test_command(c, "CLIENT LIST");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    bool found_self = false;
    bool found_other = false;
    for (const char *line = r->str; line < r->str + r->len;) {
        const char *nl = memchr(line, '\n', (size_t)(r->str + r->len - line));
        assert_non_null(nl); /* every line ends with \n */
        size_t len = (size_t)(nl - line);
        assert_true(strncmp(line, "id=", 3) == 0);
        assert_non_null(memmem(line, len, " addr=", 6));
        assert_non_null(memmem(line, len, " name=", 6));
        assert_non_null(memmem(line, len, " db=", 4));
        if (line_has_token(line, len, id_token)) {
            found_self = true;
            assert_true(line_has_token(line, len, "name=lister"));
            assert_true(line_has_token(line, len, "db=3"));
        }
        if (line_has_token(line, len, other_token)) {
            found_other = true;
            assert_true(line_has_token(line, len, "name="));
            assert_true(line_has_token(line, len, "db=0"));
        }
        line = nl + 1;
    }
    assert_true(found_self);
    assert_true(found_other);
    freeReplyObject(r);
    redisFree(other);
    redisFree(c);
}

static void test_time(void **state)
{
    redisContext *c = shale_test_connect(server);
    redisReply *r = shale_test_command(c, "TIME");
    shale_test_expect_array(r, 2, "TIME");
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(r->element[i]->type, REDIS_REPLY_STRING);
        assert_true(r->element[i]->len > 0);
        for (size_t j = 0; j < r->element[i]->len; j++) {
            assert_true(r->element[i]->str[j] >= '0' && r->element[i]->str[j] <= '9');
        }
    }
    long long sec = atoll(r->element[0]->str);
    long long usec = atoll(r->element[1]->str);
    long long now = (long long)time(NULL);
    assert_true(sec >= now - 5 && sec <= now + 5);
    assert_true(usec >= 0 && usec < 1000000);
    freeReplyObject(r);
    shale_test_assert_error(c, "ERR wrong number of arguments for 'time' command", "TIME x");
    redisFree(c);
}

static void test_command_count_info_docs(void **state)
{
    redisContext *c = shale_test_connect(server);
    assert_true(shale_test_command_int(c, "COMMAND COUNT") > 0);

    redisReply *r = shale_test_command(c, "COMMAND INFO get");
    shale_test_expect_array(r, 1, "COMMAND INFO get");
    const redisReply *get = r->element[0];
    assert_int_equal(get->type, REDIS_REPLY_ARRAY);
    assert_true(get->elements >= 6);
    shale_test_expect_bulk(get->element[0], "get", "COMMAND INFO get: name");
    shale_test_expect_int(get->element[1], 2, "COMMAND INFO get: arity");
    assert_int_equal(get->element[2]->type, REDIS_REPLY_ARRAY);
    bool readonly = false;
    for (size_t i = 0; i < get->element[2]->elements; i++) {
        const redisReply *flag = get->element[2]->element[i];
        assert_int_equal(flag->type, REDIS_REPLY_STATUS);
        readonly |= strcmp(flag->str, "readonly") == 0;
    }
    assert_true(readonly);
    shale_test_expect_int(get->element[3], 1, "COMMAND INFO get: first key");
    shale_test_expect_int(get->element[4], 1, "COMMAND INFO get: last key");
    shale_test_expect_int(get->element[5], 1, "COMMAND INFO get: step");
    freeReplyObject(r);

    r = shale_test_command(c, "COMMAND INFO set nosuchcommand mset");
    shale_test_expect_array(r, 3, "COMMAND INFO set nosuchcommand mset");
    shale_test_expect_bulk(r->element[0]->element[0], "set", "COMMAND INFO set: name");
    shale_test_expect_int(r->element[0]->element[1], -3, "COMMAND INFO set: arity");
    shale_test_expect_nil(r->element[1], "COMMAND INFO nosuchcommand");
    shale_test_expect_int(r->element[2]->element[1], -3, "COMMAND INFO mset: arity");
    shale_test_expect_int(r->element[2]->element[3], 1, "COMMAND INFO mset: first key");
    shale_test_expect_int(r->element[2]->element[4], -1, "COMMAND INFO mset: last key");
    shale_test_expect_int(r->element[2]->element[5], 2, "COMMAND INFO mset: step");
    freeReplyObject(r);

    r = shale_test_command(c, "COMMAND DOCS get");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 2);
    shale_test_expect_bulk(r->element[0], "get", "COMMAND DOCS get: name");
    assert_int_equal(r->element[1]->type, REDIS_REPLY_ARRAY);
    freeReplyObject(r);

    shale_test_assert_error(c, "ERR unknown subcommand 'FOO'. Try COMMAND HELP.", "COMMAND FOO");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'command|count' command",
                            "COMMAND COUNT x");
    redisFree(c);
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

static void test_info_sections(void **state)
{
    redisContext *c = shale_test_connect(server);
    redisContext *second = shale_test_connect(server);
    /* connect() returns before the server has accepted: a reply proves it has. */
    shale_test_assert_status(second, "PONG", "PING");

    char *text = info(c, "server");
    assert_true(strncmp(text, "# Server\r\n", 10) == 0);
    const char *version = shale_test_info_field(text, "redis_version");
    assert_non_null(version);
    char version_str[64];
    snprintf(version_str, sizeof version_str, "%.*s", (int)strcspn(version, "\r"), version);
    assert_true(is_version(version_str));
    free(text);

    text = info(c, "clients");
    assert_true(strncmp(text, "# Clients\r\n", 11) == 0);
    assert_non_null(shale_test_info_field(text, "connected_clients"));
    assert_true(atoll(shale_test_info_field(text, "connected_clients")) >= 2);
    free(text);

    text = info(c, "stats");
    assert_true(strncmp(text, "# Stats\r\n", 9) == 0);
    assert_non_null(shale_test_info_field(text, "total_commands_processed"));
    long long before = atoll(shale_test_info_field(text, "total_commands_processed"));
    free(text);
    for (int i = 0; i < 5; i++) {
        shale_test_assert_status(c, "PONG", "PING");
    }
    text = info(c, "stats");
    long long after = atoll(shale_test_info_field(text, "total_commands_processed"));
    assert_true(after >= before + 5);
    free(text);

    /* Empty keyspace: only the header. */
    text = info(c, "keyspace");
    assert_string_equal(text, "# Keyspace\r\n");
    free(text);

    shale_test_assert_status(c, "OK", "SET a 1");
    shale_test_assert_status(c, "OK", "SET b 2 EX 100");
    shale_test_assert_status(c, "OK", "SET c 3");
    shale_test_assert_status(second, "OK", "SELECT 5");
    shale_test_assert_status(second, "OK", "SET x 1 PX 100000");
    text = info(c, "keyspace");
    assert_true(strncmp(text, "# Keyspace\r\n", 12) == 0);
    assert_non_null(strstr(text, "\r\ndb0:keys=3,expires=1,avg_ttl="));
    assert_non_null(strstr(text, "\r\ndb5:keys=1,expires=1,avg_ttl="));
    assert_null(strstr(text, "db1:"));
    assert_true(strstr(text, "db0:") < strstr(text, "db5:"));
    free(text);

    /* INFO without a section has all of them. */
    text = info(c, "default");
    assert_non_null(strstr(text, "# Server\r\n"));
    assert_non_null(strstr(text, "# Clients\r\n"));
    assert_non_null(strstr(text, "# Stats\r\n"));
    assert_non_null(strstr(text, "# Keyspace\r\n"));
    free(text);
    redisFree(second);
    redisFree(c);
}

static void test_auth_without_password(void **state)
{
    redisContext *c = shale_test_connect(server);
    shale_test_assert_error(c,
                            "ERR AUTH <password> called without any password configured for the "
                            "default user. Are you sure your configuration is correct?",
                            "AUTH whatever");
    /* The default user has "nopass": any password is accepted for it. */
    shale_test_assert_status(c, "OK", "AUTH default whatever");
    shale_test_assert_error(c, "WRONGPASS invalid username-password pair or user is disabled.",
                            "AUTH nosuchuser whatever");
    shale_test_assert_error(c, "ERR syntax error", "AUTH a b c");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'auth' command", "AUTH");
    shale_test_assert_status(c, "PONG", "PING");
    redisFree(c);
}

static void test_auth_required(void **state)
{
    redisContext *c = shale_test_connect(auth_server);
    shale_test_assert_error(c, "NOAUTH Authentication required.", "PING");
    shale_test_assert_error(c, "NOAUTH Authentication required.", "GET k");
    shale_test_assert_error(c, "NOAUTH Authentication required.", "SELECT 1");
    shale_test_assert_error(c, "WRONGPASS invalid username-password pair or user is disabled.",
                            "AUTH wrong");
    shale_test_assert_error(c, "NOAUTH Authentication required.", "PING");
    shale_test_assert_status(c, "OK", "AUTH %s", PASSWORD);
    shale_test_assert_status(c, "PONG", "PING");
    shale_test_assert_status(c, "OK", "SET k v");

    redisContext *other = shale_test_connect(auth_server);
    shale_test_assert_error(other, "WRONGPASS invalid username-password pair or user is disabled.",
                            "AUTH default wrong");
    shale_test_assert_status(other, "OK", "AUTH default %s", PASSWORD);
    shale_test_assert_bulk(other, "v", "GET k");
    shale_test_assert_int(other, 1, "DEL k");
    redisFree(other);

    /* RESET logs the connection out again. */
    shale_test_assert_status(c, "RESET", "RESET");
    shale_test_assert_error(c, "NOAUTH Authentication required.", "PING");
    redisFree(c);
}

static void test_hello_auth(void **state)
{
    redisContext *c = shale_test_connect(auth_server);
    shale_test_assert_error(c, HELLO_NOAUTH, "HELLO 3");
    shale_test_assert_error(c, HELLO_NOAUTH, "HELLO");
    shale_test_assert_error(c, "WRONGPASS invalid username-password pair or user is disabled.",
                            "HELLO 2 AUTH default wrong");
    shale_test_assert_error(c, "NOAUTH Authentication required.", "PING");
    long long id = 0;
    redisReply *r = shale_test_command(c, "HELLO 2 AUTH default %s", PASSWORD);
    shale_test_expect_array(r, 14, "HELLO 2 AUTH default <password>");
    id = r->element[7]->integer;
    freeReplyObject(r);
    assert_int_equal(client_id(c), id);
    redisFree(c);

    struct test_raw *raw = shale_test_raw_connect(auth_server);
    shale_test_raw_command(raw, "HELLO", "3", "AUTH", "default", PASSWORD, "SETNAME", "r3", NULL);
    struct test_resp *map = shale_test_raw_read_reply(raw);
    id = raw_client_id(raw);
    check_hello_map(map, 3, id);
    shale_test_resp_free(map);
    shale_test_raw_command(raw, "PING", NULL);
    shale_test_raw_expect(raw, "+PONG\r\n");
    shale_test_raw_command(raw, "GET", "missing", NULL);
    shale_test_raw_expect(raw, "_\r\n");
    shale_test_raw_command(raw, "CLIENT", "GETNAME", NULL);
    shale_test_raw_expect(raw, "$2\r\nr3\r\n");
    shale_test_raw_close(raw);
}

/* Before AUTH a client may only send small requests. */
static void test_unauthenticated_request_limits(void **state)
{
    struct test_raw *bystander = shale_test_raw_connect(auth_server);
    struct test_raw *raw = shale_test_raw_connect(auth_server);
    shale_test_raw_send_str(raw, "*11\r\n");
    shale_test_raw_expect(raw, "-ERR Protocol error: unauthenticated multibulk length\r\n");
    shale_test_raw_expect_closed(raw);
    shale_test_raw_close(raw);

    raw = shale_test_raw_connect(auth_server);
    shale_test_raw_send_str(raw, "*2\r\n$3\r\nGET\r\n$16385\r\n");
    shale_test_raw_expect(raw, "-ERR Protocol error: unauthenticated bulk length\r\n");
    shale_test_raw_expect_closed(raw);
    shale_test_raw_close(raw);

    /* At the limits the request is accepted (and refused for lack of AUTH). */
    raw = shale_test_raw_connect(auth_server);
    char *big = malloc(16384 + 64);
    int n = snprintf(big, 64, "*2\r\n$3\r\nGET\r\n$16384\r\n");
    memset(big + n, 'k', 16384);
    memcpy(big + n + 16384, "\r\n", 2);
    shale_test_raw_send(raw, big, (size_t)n + 16384 + 2);
    free(big);
    shale_test_raw_expect(raw, "-NOAUTH Authentication required.\r\n");
    shale_test_raw_send_str(raw, "*10\r\n$4\r\nPING\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n"
                                 "$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n");
    shale_test_raw_expect(raw, "-NOAUTH Authentication required.\r\n");
    shale_test_raw_close(raw);

    shale_test_raw_command(bystander, "AUTH", PASSWORD, NULL);
    shale_test_raw_expect(bystander, "+OK\r\n");
    shale_test_raw_command(bystander, "PING", NULL);
    shale_test_raw_expect(bystander, "+PONG\r\n");
    shale_test_raw_close(bystander);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, test_setup, test_teardown)
        T(test_ping),
        T(test_echo),
        T(test_wrong_arity),
        T(test_unknown_command),
        T(test_select),
        T(test_databases_are_isolated),
        T(test_hello3_map_and_resp3_replies),
        T(test_hello2),
        T(test_hello_errors),
        T(test_quit),
        T(test_reset),
        T(test_client_id_and_name),
        T(test_client_info_and_list),
        T(test_time),
        T(test_command_count_info_docs),
        T(test_info_sections),
        T(test_auth_without_password),
        T(test_auth_required),
        T(test_hello_auth),
        T(test_unauthenticated_request_limits),
#undef T
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
