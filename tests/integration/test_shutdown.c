/*
 * Graceful shutdown. SIGTERM with 100 clients whose pipelined writes the
 * server has read but not yet answered (the shards are busy in DEBUG SLEEP):
 * every client gets every reply, in order, then an orderly close; the
 * server's own count of commands served matches the replies received, and
 * it exits 0 well within shutdown-timeout. Commands held back by
 * backpressure still run. Idle clients do not delay the exit. A client
 * that never reads its replies holds the exit only until shutdown-timeout. SHUTDOWN [NOSAVE|SAVE]
 * [NOW] [FORCE] [ABORT] with Redis's replies and errors (shale also delivers the replies of
 * commands pipelined before SHUTDOWN; Redis drops them, so that part is shale-only).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <setjmp.h>

#include <cmocka.h>

#include "tests/support/raw.h"
#include "tests/support/reply.h"
#include "tests/support/server.h"

#define NCLIENTS   100
#define PER_CLIENT 40 /* 100 x 40 requests fit the 8192 request slots: all are read */
#define EXIT_MS    5000

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        fail_msg("connect to %d: %s", port, strerror(errno));
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            fail_msg("write: %s", strerror(errno));
        }
        data += n;
        len -= (size_t)n;
    }
}

/* Reads until EOF (within timeout_ms); fails on a reset or a timeout. */
static size_t read_to_eof(int fd, char *buf, size_t cap, int timeout_ms)
{
    size_t len = 0;
    long long deadline = shale_test_now_ms() + timeout_ms;
    for (;;) {
        long long left = deadline - shale_test_now_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
            fail_msg("no EOF within %d ms (%zu bytes read)", timeout_ms, len);
        }
        if (len == cap) {
            fail_msg("more than %zu bytes of replies", cap);
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            fail_msg("read after %zu bytes: %s (the server reset the connection)", len,
                     strerror(errno));
        }
        if (n == 0) {
            return len;
        }
        len += (size_t)n;
    }
}

/* "Served N commands" from the server's last words. */
static long long served_from_log(struct test_server *s)
{
    FILE *f = fopen(shale_test_server_log_path(s), "r");
    assert_non_null(f);
    char line[1024];
    long long served = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        const char *p = strstr(line, "Served ");
        if (p != NULL) {
            served = strtoll(p + 7, NULL, 10);
        }
    }
    fclose(f);
    return served;
}

static bool log_contains(struct test_server *s, const char *text)
{
    FILE *f = fopen(shale_test_server_log_path(s), "r");
    assert_non_null(f);
    char line[2048];
    bool found = false;
    while (!found && fgets(line, sizeof line, f) != NULL) {
        found = strstr(line, text) != NULL;
    }
    fclose(f);
    return found;
}

static long long info_commands(redisContext *c)
{
    redisReply *r = shale_test_command(c, "INFO stats");
    const char *v = shale_test_info_field(r->str, "total_commands_processed");
    assert_non_null(v);
    long long n = strtoll(v, NULL, 10);
    freeReplyObject(r);
    return n;
}

static void test_sigterm_answers_everything_read(void **state)
{
    shale_test_skip_on_redis("Redis does not drain pipelined replies on SIGTERM");
    static const char *const args[] = {"--shards",
                                       "2",
                                       "--enable-debug-command",
                                       "yes",
                                       "--io-thread-requests",
                                       "8192",
                                       "--shutdown-timeout",
                                       "10",
                                       NULL};
    struct test_server *s = shale_test_server_start(NULL, args);
    assert_non_null(s);
    int port = shale_test_server_port(s);
    redisContext *c = shale_test_connect(s);
    long long before = info_commands(c) + 1; /* INFO counts itself once it has run */
    redisFree(c);

    /* Keep both shards busy so the writes below stay in flight. */
    int sleeper = connect_to(port);
    static const char sleep_cmd[] = "*3\r\n$5\r\nDEBUG\r\n$5\r\nSLEEP\r\n$3\r\n0.8\r\n";
    send_all(sleeper, sleep_cmd, sizeof sleep_cmd - 1);
    shale_test_sleep_ms(50);

    int fds[NCLIENTS];
    char cmd[128];
    for (int i = 0; i < NCLIENTS; i++) {
        fds[i] = connect_to(port);
        char pipeline[PER_CLIENT * 64];
        size_t len = 0;
        for (int j = 0; j < PER_CLIENT; j++) {
            int n = j % 2 == 0 ? snprintf(cmd, sizeof cmd, "SET c%d:k%d v%d\r\n", i, j, j)
                               : snprintf(cmd, sizeof cmd, "INCR c%d:ctr\r\n", i);
            memcpy(pipeline + len, cmd, (size_t)n);
            len += (size_t)n;
        }
        send_all(fds[i], pipeline, len);
    }
    shale_test_sleep_ms(200); /* the server reads everything; shards still asleep */
    long long term_at = shale_test_now_ms();
    shale_test_server_kill(s, SIGTERM);

    static char buf[PER_CLIENT * 64];
    long long replies = 0;
    for (int i = 0; i < NCLIENTS; i++) {
        char expected[PER_CLIENT * 32];
        size_t elen = 0;
        for (int j = 0; j < PER_CLIENT; j++) {
            int n = j % 2 == 0
                        ? snprintf(expected + elen, sizeof expected - elen, "+OK\r\n")
                        : snprintf(expected + elen, sizeof expected - elen, ":%d\r\n", j / 2 + 1);
            elen += (size_t)n;
        }
        size_t got = read_to_eof(fds[i], buf, sizeof buf, EXIT_MS);
        if (got != elen || memcmp(buf, expected, elen) != 0) {
            char shown[512];
            shale_test_escape(buf, got, shown, sizeof shown);
            fail_msg("client %d: %zu bytes of replies, expected %zu: %s", i, got, elen, shown);
        }
        replies += PER_CLIENT;
        close(fds[i]);
    }
    size_t got = read_to_eof(sleeper, buf, sizeof buf, EXIT_MS);
    assert_int_equal(got, 5);
    assert_memory_equal(buf, "+OK\r\n", 5);
    close(sleeper);

    assert_int_equal(shale_test_server_wait_exit(s, EXIT_MS), 0);
    long long took = shale_test_now_ms() - term_at;
    if (took > 3000) {
        fail_msg("exit took %lld ms after SIGTERM (the shards slept 0.8 s)", took);
    }
    /* Every command the server ran was answered: its count matches ours. */
    assert_int_equal(served_from_log(s), before + 1 + replies);
    assert_true(log_contains(s, "All connections drained"));
    assert_int_equal(shale_test_server_stop(s), 0);
}

/* Input read but held back by backpressure (client-max-inflight 8) is
 * still run after SIGTERM: 100 INCRs behind a DEBUG SLEEP all answer. */
static void test_sigterm_runs_input_held_by_backpressure(void **state)
{
    shale_test_skip_on_redis("client-max-inflight is shale's");
    static const char *const args[] = {"--client-max-inflight", "8", "--enable-debug-command",
                                       "yes", NULL};
    struct test_server *s = shale_test_server_start(NULL, args);
    assert_non_null(s);
    int fd = connect_to(shale_test_server_port(s));
    static char pipeline[32 + 100 * 8];
    size_t len = (size_t)snprintf(pipeline, sizeof pipeline, "DEBUG SLEEP 0.5\r\n");
    for (int i = 0; i < 100; i++) {
        len += (size_t)snprintf(pipeline + len, sizeof pipeline - len, "INCR c\r\n");
    }
    send_all(fd, pipeline, len);
    shale_test_sleep_ms(200);
    shale_test_server_kill(s, SIGTERM);
    static char expected[8 + 100 * 8], buf[sizeof expected];
    size_t elen = (size_t)snprintf(expected, sizeof expected, "+OK\r\n");
    for (int i = 1; i <= 100; i++) {
        elen += (size_t)snprintf(expected + elen, sizeof expected - elen, ":%d\r\n", i);
    }
    size_t got = read_to_eof(fd, buf, sizeof buf, EXIT_MS);
    assert_int_equal(got, elen);
    assert_memory_equal(buf, expected, elen);
    close(fd);
    assert_int_equal(shale_test_server_wait_exit(s, EXIT_MS), 0);
    assert_int_equal(shale_test_server_stop(s), 0);
}

static void test_sigterm_with_idle_clients_is_quick(void **state)
{
    struct test_server *s = shale_test_server_start(NULL, NULL);
    assert_non_null(s);
    redisContext *idle[20];
    for (int i = 0; i < 20; i++) {
        idle[i] = shale_test_connect(s);
        shale_test_assert_status(idle[i], "PONG", "PING");
    }
    long long term_at = shale_test_now_ms();
    shale_test_server_kill(s, SIGTERM);
    assert_int_equal(shale_test_server_wait_exit(s, EXIT_MS), 0);
    long long took = shale_test_now_ms() - term_at;
    if (took > 1000) {
        fail_msg("exit with idle clients took %lld ms", took);
    }
    for (int i = 0; i < 20; i++) {
        redisReply *r = redisCommand(idle[i], "PING");
        assert_null(r); /* the server closed it */
        redisFree(idle[i]);
    }
    assert_int_equal(shale_test_server_stop(s), 0);
}

/* 40 replies of 512 KB to a client that never reads: the shutdown waits
 * for them only until shutdown-timeout (2 s), then exits 0 anyway. */
static void test_stuck_client_bounded_by_timeout(void **state)
{
    shale_test_skip_on_redis("shutdown-timeout bounds the drain (Redis: replicas)");
    static const char *const args[] = {"--shutdown-timeout", "2", NULL};
    struct test_server *s = shale_test_server_start(NULL, args);
    assert_non_null(s);
    redisContext *c = shale_test_connect(s);
    size_t vlen = 512 * 1024;
    char *big = malloc(vlen);
    memset(big, 'x', vlen);
    redisReply *r = shale_test_command(c, "SET big %b", big, vlen);
    shale_test_expect_status(r, "OK", "SET big");
    freeReplyObject(r);
    free(big);
    int fd = connect_to(shale_test_server_port(s));
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    char pipeline[40 * 32];
    size_t len = 0;
    for (int i = 0; i < 40; i++) {
        len += (size_t)snprintf(pipeline + len, sizeof pipeline - len, "GET big\r\n");
    }
    send_all(fd, pipeline, len);
    shale_test_sleep_ms(300);
    long long term_at = shale_test_now_ms();
    shale_test_server_kill(s, SIGTERM);
    assert_int_equal(shale_test_server_wait_exit(s, EXIT_MS), 0);
    long long took = shale_test_now_ms() - term_at;
    if (took < 1900 || took > 3500) {
        fail_msg("exit %lld ms after SIGTERM; shutdown-timeout is 2000 ms", took);
    }
    assert_true(log_contains(s, "Shutdown timeout reached"));
    close(fd);
    redisFree(c);
    assert_int_equal(shale_test_server_stop(s), 0);
}

static void test_shutdown_errors(void **state)
{
    struct test_server *s = shale_test_server_start(NULL, NULL);
    assert_non_null(s);
    redisContext *c = shale_test_connect(s);
    shale_test_assert_error(c, "ERR syntax error", "SHUTDOWN FOO");
    shale_test_assert_error(c, "ERR syntax error", "SHUTDOWN SAVE NOSAVE");
    shale_test_assert_error(c, "ERR syntax error", "SHUTDOWN ABORT NOW");
    shale_test_assert_error(c, "ERR syntax error", "SHUTDOWN NOSAVE ABORT");
    shale_test_assert_error(c, "ERR No shutdown in progress.", "SHUTDOWN ABORT");
    shale_test_assert_status(c, "PONG", "PING"); /* still serving */
    redisFree(c);
    assert_int_equal(shale_test_server_stop(s), 0);
}

static void shutdown_with(const char *const *words)
{
    struct test_server *s = shale_test_server_start(NULL, NULL);
    assert_non_null(s);
    struct test_raw *raw = shale_test_raw_connect(s);
    shale_test_raw_command(raw, "SET", "a", "1", NULL);
    shale_test_raw_command(raw, "GET", "a", NULL);
    char cmd[256];
    int nwords = 0;
    while (words[nwords] != NULL) {
        nwords++;
    }
    size_t len = (size_t)snprintf(cmd, sizeof cmd, "*%d\r\n", nwords);
    for (int i = 0; i < nwords; i++) {
        len += (size_t)snprintf(cmd + len, sizeof cmd - len, "$%zu\r\n%s\r\n", strlen(words[i]),
                                words[i]);
    }
    len += (size_t)snprintf(cmd + len, sizeof cmd - len, "*1\r\n$4\r\nPING\r\n");
    shale_test_raw_send(raw, cmd, len);
    if (!shale_test_server_is_redis()) {
        shale_test_raw_expect(raw, "+OK\r\n$1\r\n1\r\n"); /* no reply to SHUTDOWN, none after */
    }
    char rest[256];
    size_t got = shale_test_raw_read(raw, rest, sizeof rest, EXIT_MS);
    if (got != 0 || !shale_test_raw_peer_closed(raw)) {
        fail_msg("%s: expected a close with no more bytes, got %zu byte(s)", words[1], got);
    }
    shale_test_raw_close(raw);
    assert_int_equal(shale_test_server_wait_exit(s, EXIT_MS), 0);
    assert_int_equal(shale_test_server_stop(s), 0);
}

static void test_shutdown_variants(void **state)
{
    static const char *const plain[] = {"SHUTDOWN", NULL};
    static const char *const nosave[] = {"SHUTDOWN", "NOSAVE", NULL};
    static const char *const save[] = {"SHUTDOWN", "SAVE", NULL};
    static const char *const now[] = {"shutdown", "now", NULL};
    static const char *const all[] = {"SHUTDOWN", "NOSAVE", "NOW", "FORCE", NULL};
    shutdown_with(plain);
    shutdown_with(nosave);
    shutdown_with(save);
    shutdown_with(now);
    shutdown_with(all);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigterm_answers_everything_read),
        cmocka_unit_test(test_sigterm_runs_input_held_by_backpressure),
        cmocka_unit_test(test_sigterm_with_idle_clients_is_quick),
        cmocka_unit_test(test_stuck_client_bounded_by_timeout),
        cmocka_unit_test(test_shutdown_errors),
        cmocka_unit_test(test_shutdown_variants),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
