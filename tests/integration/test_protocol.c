/*
 * The request parser seen from a raw socket: malformed multibulk requests,
 * size limits, inline commands, requests split across writes or packed into
 * one.  Every protocol error must answer Redis 7.0's exact error, close only
 * that connection, and leave a client connected beforehand (the bystander)
 * and the server itself unharmed.
 *
 * The file's server runs with --proto-max-bulk-len 1048576: Redis refuses
 * anything lower (its minimum is 1 MB).
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

#define MAX_BULK 1048576

static struct test_server *server;
static struct test_raw *bystander; /* connected before each test's bad client */

static int group_setup(void **state)
{
    static const char *const args[] = {"--proto-max-bulk-len", "1048576", NULL};
    server = shale_test_server_start(args, NULL);
    return server != NULL ? 0 : -1;
}

static int group_teardown(void **state)
{
    return shale_test_server_stop(server);
}

static int test_setup(void **state)
{
    if (shale_test_begin(server, NULL) != 0) {
        return -1;
    }
    bystander = shale_test_raw_connect(server);
    shale_test_raw_command(bystander, "PING", NULL);
    shale_test_raw_expect(bystander, "+PONG\r\n");
    return 0;
}

static int test_teardown(void **state)
{
    shale_test_raw_close(bystander);
    bystander = NULL;
    return shale_test_server_alive(server) ? 0 : -1;
}

/* The bystander and brand-new clients are still served. */
static void assert_others_unaffected(struct test_server *s, struct test_raw *other)
{
    assert_true(shale_test_server_alive(s));
    shale_test_raw_command(other, "PING", NULL);
    shale_test_raw_expect(other, "+PONG\r\n");
    struct test_raw *fresh = shale_test_raw_connect(s);
    shale_test_raw_command(fresh, "ECHO", "still here", NULL);
    shale_test_raw_expect(fresh, "$10\r\nstill here\r\n");
    shale_test_raw_close(fresh);
}

/* Sends bytes on a new connection and expects exactly `reply`, then a close. */
static void expect_error_and_close(const char *request, size_t len, const char *reply)
{
    struct test_raw *raw = shale_test_raw_connect(server);
    shale_test_raw_send(raw, request, len);
    shale_test_raw_expect(raw, reply);
    shale_test_raw_expect_closed(raw);
    shale_test_raw_close(raw);
    assert_others_unaffected(server, bystander);
}

#define EXPECT_ERROR_AND_CLOSE(request, reply)                                                     \
    expect_error_and_close((request), sizeof(request) - 1, (reply))

static void test_invalid_multibulk_length(void **state)
{
    EXPECT_ERROR_AND_CLOSE("*abc\r\n", "-ERR Protocol error: invalid multibulk length\r\n");
    EXPECT_ERROR_AND_CLOSE("*+1\r\n$4\r\nPING\r\n",
                           "-ERR Protocol error: invalid multibulk length\r\n");
    EXPECT_ERROR_AND_CLOSE("* 1\r\n$4\r\nPING\r\n",
                           "-ERR Protocol error: invalid multibulk length\r\n");
    EXPECT_ERROR_AND_CLOSE("*2147483648\r\n", "-ERR Protocol error: invalid multibulk length\r\n");
    /* Commands before the bad request in the same write are answered. */
    EXPECT_ERROR_AND_CLOSE("PING\r\n*1\r\n$4\r\nPING\r\n*x\r\nPING\r\n",
                           "+PONG\r\n+PONG\r\n-ERR Protocol error: invalid multibulk length\r\n");
}

static void test_empty_multibulk_is_ignored(void **state)
{
    struct test_raw *raw = shale_test_raw_connect(server);
    shale_test_raw_send_str(raw, "*0\r\n*-1\r\n*-5\r\n*1\r\n$4\r\nPING\r\n");
    shale_test_raw_expect(raw, "+PONG\r\n");
    shale_test_raw_expect_silence(raw, 100);
    shale_test_raw_close(raw);
}

static void test_expected_dollar(void **state)
{
    EXPECT_ERROR_AND_CLOSE("*1\r\nfoo\r\n", "-ERR Protocol error: expected '$', got 'f'\r\n");
    EXPECT_ERROR_AND_CLOSE("*2\r\n$3\r\nGET\r\n:1\r\n",
                           "-ERR Protocol error: expected '$', got ':'\r\n");
}

static void test_invalid_bulk_length(void **state)
{
    /* Refused as soon as the length is read, before any payload. */
    EXPECT_ERROR_AND_CLOSE("*2\r\n$3\r\nGET\r\n$2000000\r\n",
                           "-ERR Protocol error: invalid bulk length\r\n");
    EXPECT_ERROR_AND_CLOSE("*2\r\n$3\r\nGET\r\n$1048577\r\n",
                           "-ERR Protocol error: invalid bulk length\r\n");
    EXPECT_ERROR_AND_CLOSE("*2\r\n$3\r\nGET\r\n$abc\r\n",
                           "-ERR Protocol error: invalid bulk length\r\n");
    EXPECT_ERROR_AND_CLOSE("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$-1\r\n",
                           "-ERR Protocol error: invalid bulk length\r\n");
    EXPECT_ERROR_AND_CLOSE("*1\r\n$+4\r\nPING\r\n", "-ERR Protocol error: invalid bulk length\r\n");
    EXPECT_ERROR_AND_CLOSE("*1\r\n$ 4\r\nPING\r\n", "-ERR Protocol error: invalid bulk length\r\n");
}

static void test_bulk_at_the_limit_is_accepted(void **state)
{
    static const char head[] = "*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$1048576\r\n";
    size_t len = sizeof head - 1 + MAX_BULK + 2;
    char *request = malloc(len);
    memcpy(request, head, sizeof head - 1);
    memset(request + sizeof head - 1, 'z', MAX_BULK);
    memcpy(request + len - 2, "\r\n", 2);
    struct test_raw *raw = shale_test_raw_connect(server);
    assert_true(shale_test_raw_send(raw, request, len));
    free(request);
    shale_test_raw_expect(raw, "+OK\r\n");
    shale_test_raw_command(raw, "STRLEN", "big", NULL);
    shale_test_raw_expect(raw, ":1048576\r\n");
    shale_test_raw_close(raw);
}

static void test_too_long_lines(void **state)
{
    /* No newline within 64 KB: inline request, multibulk count, bulk length. */
    size_t len = 70000;
    char *request = malloc(len + 16);
    memset(request, 'x', len);
    expect_error_and_close(request, len, "-ERR Protocol error: too big inline request\r\n");
    request[0] = '*';
    memset(request + 1, '1', len - 1);
    expect_error_and_close(request, len, "-ERR Protocol error: too big mbulk count string\r\n");
    memcpy(request, "*1\r\n$", 5);
    expect_error_and_close(request, len, "-ERR Protocol error: too big bulk count string\r\n");
    free(request);
}

/*
 * Redis 7.0 accepts any count up to INT_MAX from an authenticated client and
 * then waits for the arguments; shale refuses an absurd count at once.
 */
static void test_huge_multibulk_count_refused(void **state)
{
    shale_test_skip_on_redis("redis-server waits for 10^9 arguments instead of refusing them");
    EXPECT_ERROR_AND_CLOSE("*1000000000\r\n", "-ERR Protocol error: invalid multibulk length\r\n");
}

static void test_inline_commands(void **state)
{
    struct test_raw *raw = shale_test_raw_connect(server);
    shale_test_raw_send_str(raw, "PING\r\n");
    shale_test_raw_expect(raw, "+PONG\r\n");
    shale_test_raw_send_str(raw, "ping\n"); /* a bare \n ends the line too */
    shale_test_raw_expect(raw, "+PONG\r\n");
    shale_test_raw_send_str(raw, "   PING   \r\n");
    shale_test_raw_expect(raw, "+PONG\r\n");
    shale_test_raw_send_str(raw, "\r\n\n\r\nPING\r\n"); /* empty lines are skipped */
    shale_test_raw_expect(raw, "+PONG\r\n");
    shale_test_raw_send_str(raw, "SET a \"hello world\"\r\n");
    shale_test_raw_expect(raw, "+OK\r\n");
    shale_test_raw_send_str(raw, "GET a\r\n");
    shale_test_raw_expect(raw, "$11\r\nhello world\r\n");
    /* Double quotes take C-like escapes; single quotes only \'. */
    shale_test_raw_send_str(raw, "SET b \"a\\x41\\n\\t\\\"\"\r\nGET b\r\n");
    shale_test_raw_expect(raw, "+OK\r\n$5\r\naA\n\t\"\r\n");
    shale_test_raw_send_str(raw, "SET c 'it\\'s'\r\nGET c\r\n");
    shale_test_raw_expect(raw, "+OK\r\n$4\r\nit's\r\n");
    shale_test_raw_send_str(raw, "SET d \"\"\r\nSTRLEN d\r\n");
    shale_test_raw_expect(raw, "+OK\r\n:0\r\n");
    shale_test_raw_send_str(raw, "ECHO\r\n");
    shale_test_raw_expect(raw, "-ERR wrong number of arguments for 'echo' command\r\n");
    shale_test_raw_send_str(raw, "nosuch x y\r\n");
    shale_test_raw_expect(raw,
                          "-ERR unknown command 'nosuch', with args beginning with: 'x' 'y' \r\n");
    shale_test_raw_close(raw);
}

static void test_inline_unbalanced_quotes(void **state)
{
    EXPECT_ERROR_AND_CLOSE("SET a \"hello\r\n",
                           "-ERR Protocol error: unbalanced quotes in request\r\n");
    EXPECT_ERROR_AND_CLOSE("SET a \"x\"y\r\n",
                           "-ERR Protocol error: unbalanced quotes in request\r\n");
}

static void test_inline_and_multibulk_in_one_write(void **state)
{
    struct test_raw *raw = shale_test_raw_connect(server);
    shale_test_raw_send_str(raw, "SET k 1\r\n*2\r\n$4\r\nINCR\r\n$1\r\nk\r\nINCR k\r\n"
                                 "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$0\r\n\r\n"
                                 "*2\r\n$3\r\nGET\r\n$0\r\n\r\n");
    shale_test_raw_expect(raw, "+OK\r\n:2\r\n:3\r\n$1\r\n3\r\n"
                               "-ERR unknown command '', with args beginning with: \r\n$-1\r\n");
    shale_test_raw_close(raw);
}

static void test_request_split_across_writes(void **state)
{
    static const char request[] =
        "*3\r\n$3\r\nSET\r\n$5\r\nsplit\r\n$12\r\nhello\r\nworld\r\nGET split\r\n";
    struct test_raw *raw = shale_test_raw_connect(server);
    for (size_t i = 0; i < sizeof request - 1; i++) {
        assert_true(shale_test_raw_send(raw, request + i, 1));
        shale_test_sleep_ms(1);
    }
    shale_test_raw_expect(raw, "+OK\r\n$12\r\nhello\r\nworld\r\n");

    /* A large bulk in uneven pieces. */
    enum { SIZE = 300000 };
    char *big = malloc(SIZE + 64);
    int n = snprintf(big, 64, "*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$%d\r\n", SIZE);
    memset(big + n, 'q', SIZE);
    memcpy(big + n + SIZE, "\r\n", 2);
    size_t total = (size_t)n + SIZE + 2;
    for (size_t off = 0, step = 1; off < total; off += step, step = step * 3 + 7) {
        size_t chunk = off + step > total ? total - off : step;
        assert_true(shale_test_raw_send(raw, big + off, chunk));
        shale_test_sleep_ms(1);
    }
    free(big);
    shale_test_raw_expect(raw, "+OK\r\n");
    shale_test_raw_command(raw, "STRLEN", "big", NULL);
    shale_test_raw_expect(raw, ":300000\r\n");
    shale_test_raw_close(raw);
}

static void test_many_commands_in_one_write(void **state)
{
    enum { N = 2000 };
    static const char ping[] = "*1\r\n$4\r\nPING\r\n";
    static const char incr[] = "INCR n\r\n";
    char *out = malloc(N * sizeof ping);
    size_t len = 0;
    for (int i = 0; i < N; i++) {
        const char *cmd = i % 2 ? incr : ping;
        size_t n = i % 2 ? sizeof incr - 1 : sizeof ping - 1;
        memcpy(out + len, cmd, n);
        len += n;
    }
    struct test_raw *raw = shale_test_raw_connect(server);
    assert_true(shale_test_raw_send(raw, out, len));
    free(out);
    char expected[32];
    for (int i = 0; i < N; i++) {
        if (i % 2 == 0) {
            shale_test_raw_expect(raw, "+PONG\r\n");
        } else {
            snprintf(expected, sizeof expected, ":%d\r\n", i / 2 + 1);
            shale_test_raw_expect(raw, expected);
        }
    }
    shale_test_raw_expect_silence(raw, 50);
    shale_test_raw_close(raw);
}

/*
 * A client whose pending request outgrows client-query-buffer-limit is
 * dropped without a reply (Redis does the same, so this runs on both).
 */
static void test_client_query_buffer_limit(void **state)
{
    static const char *const args[] = {"--client-query-buffer-limit", "1048576", NULL};
    struct test_server *limited = shale_test_server_start(args, NULL);
    assert_non_null(limited);
    struct test_raw *other = shale_test_raw_connect(limited);
    shale_test_raw_command(other, "PING", NULL);
    shale_test_raw_expect(other, "+PONG\r\n");

    enum { SIZE = 2 * 1024 * 1024 };
    char *big = malloc(SIZE + 64);
    int n = snprintf(big, 64, "*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$%d\r\n", SIZE);
    memset(big + n, 'q', SIZE);
    memcpy(big + n + SIZE, "\r\n", 2);
    struct test_raw *raw = shale_test_raw_connect(limited);
    shale_test_raw_send(raw, big, (size_t)n + SIZE + 2); /* may fail midway: reset */
    free(big);
    shale_test_raw_expect_closed(raw);
    shale_test_raw_close(raw);

    assert_others_unaffected(limited, other);
    shale_test_raw_command(other, "EXISTS", "big", NULL);
    shale_test_raw_expect(other, ":0\r\n");
    shale_test_raw_close(other);
    assert_int_equal(shale_test_server_stop(limited), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, test_setup, test_teardown)
        T(test_invalid_multibulk_length),
        T(test_empty_multibulk_is_ignored),
        T(test_expected_dollar),
        T(test_invalid_bulk_length),
        T(test_bulk_at_the_limit_is_accepted),
        T(test_too_long_lines),
        T(test_huge_multibulk_count_refused),
        T(test_inline_commands),
        T(test_inline_unbalanced_quotes),
        T(test_inline_and_multibulk_in_one_write),
        T(test_request_split_across_writes),
        T(test_many_commands_in_one_write),
        T(test_client_query_buffer_limit),
#undef T
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
