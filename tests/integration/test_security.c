/*
 * Who may talk to the server, as Redis 7.0 decides it. Protected mode: with
 * no password, a client whose address is not 127.0.0.1 or ::1 gets Redis's
 * DENIED text at once and is closed. The non-loopback client is a socket
 * bound to 127.0.0.2 (any Linux routes all of 127/8 through lo, and Redis
 * does not count 127.0.0.2 as local), plus, when the machine has one, its
 * first non-loopback IPv4 address. CONFIG SET protected-mode and a password
 * lift it. enable-debug-command no|yes|local gates DEBUG with Redis's error.
 * rename-command renames or disables commands and rejects bad lines at
 * start-up. Every test also runs against redis-server.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>

#include <cmocka.h>

#include "tests/support/reply.h"
#include "tests/support/server.h"

static const char denied[] =
    "-DENIED Redis is running in protected mode because protected mode is enabled and no "
    "password is set for the default user. In this mode connections are only accepted from the "
    "loopback interface. If you want to connect from external computers to Redis you may adopt "
    "one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG "
    "SET protected-mode no' from the loopback interface by connecting to Redis from the same host "
    "the server is running, however MAKE SURE Redis is not publicly accessible from internet if "
    "you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just "
    "disable the protected mode by editing the Redis configuration file, and setting the "
    "protected mode option to 'no', and then restarting the server. 3) If you started the "
    "server manually just for testing, restart it with the '--protected-mode no' option. 4) "
    "Setup a an authentication password for the default user. NOTE: You only need to do one of "
    "the above things in order for the server to start accepting connections from the "
    "outside.\r\n";

static const char debug_denied[] =
    "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you "
    "can run it from a local connection, otherwise you need to set this option in the "
    "configuration file, and then restart the server.";

/* A TCP connection from source address `from` to `to`:port. */
static int connect_from(const char *from, const char *to, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in src = {.sin_family = AF_INET};
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, from, &src.sin_addr);
    inet_pton(AF_INET, to, &dst.sin_addr);
    if (fd < 0 || bind(fd, (struct sockaddr *)&src, sizeof src) != 0 ||
        connect(fd, (struct sockaddr *)&dst, sizeof dst) != 0) {
        fail_msg("connect %s -> %s:%d: %s", from, to, port, strerror(errno));
    }
    return fd;
}

/* Sends cmd (may be empty) and reads until the server closes or stops
 * sending for quiet_ms; returns what arrived and whether it closed. */
static size_t exchange(int fd, const char *cmd, char *buf, size_t cap, int quiet_ms, int *closed)
{
    if (*cmd && write(fd, cmd, strlen(cmd)) != (ssize_t)strlen(cmd)) {
        *closed = 1;
        return 0;
    }
    size_t len = 0;
    *closed = 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, quiet_ms) <= 0) {
            break;
        }
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n <= 0) {
            *closed = 1;
            break;
        }
        len += (size_t)n;
    }
    buf[len] = '\0';
    return len;
}

static void expect_denied(const char *from, const char *to, int port)
{
    int fd = connect_from(from, to, port);
    char buf[2048];
    int closed;
    exchange(fd, "", buf, sizeof buf, 2000, &closed);
    if (strcmp(buf, denied) != 0 || !closed) {
        fail_msg("client %s -> %s: expected DENIED and a close, got %s'%.80s...'", from, to,
                 closed ? "(closed) " : "", buf);
    }
    close(fd);
}

static void expect_reply(const char *from, const char *to, int port, const char *cmd,
                         const char *reply)
{
    int fd = connect_from(from, to, port);
    char buf[2048];
    int closed;
    exchange(fd, cmd, buf, sizeof buf, 300, &closed);
    if (strcmp(buf, reply) != 0) {
        fail_msg("client %s -> %s: %s answered '%s', expected '%s'", from, to, cmd, buf, reply);
    }
    close(fd);
}

/* The first non-loopback IPv4 address of an interface that is up, if any. */
static bool external_address(char *out, size_t cap)
{
    struct ifaddrs *list;
    bool found = false;
    if (getifaddrs(&list) != 0) {
        return false;
    }
    for (struct ifaddrs *i = list; i != NULL && !found; i = i->ifa_next) {
        if (i->ifa_addr == NULL || i->ifa_addr->sa_family != AF_INET ||
            (i->ifa_flags & IFF_LOOPBACK) || !(i->ifa_flags & IFF_UP)) {
            continue;
        }
        inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, out, (socklen_t)cap);
        found = true;
    }
    freeifaddrs(list);
    return found;
}

static long long rejected(redisContext *c)
{
    redisReply *r = shale_test_command(c, "INFO stats");
    const char *v = shale_test_info_field(r->str, "rejected_connections");
    assert_non_null(v);
    long long n = strtoll(v, NULL, 10);
    freeReplyObject(r);
    return n;
}

static void test_protected_mode(void **state)
{
    static const char *const args[] = {"--bind", "0.0.0.0", NULL};
    struct test_server *s = shale_test_server_start(args, NULL);
    assert_non_null(s);
    int port = shale_test_server_port(s);
    redisContext *c = shale_test_connect(s);
    long long before = rejected(c);

    expect_denied("127.0.0.2", "127.0.0.1", port);
    char ext[INET_ADDRSTRLEN];
    if (external_address(ext, sizeof ext)) {
        expect_denied(ext, ext, port);
    } else {
        print_message("no non-loopback IPv4 address here: only 127.0.0.2 was tried\n");
    }
    expect_reply("127.0.0.1", "127.0.0.1", port, "PING\r\n", "+PONG\r\n");
    assert_true(rejected(c) > before);

    /* Lifted at run time, from the loopback interface. */
    shale_test_assert_status(c, "OK", "CONFIG SET protected-mode no");
    expect_reply("127.0.0.2", "127.0.0.1", port, "PING\r\n", "+PONG\r\n");
    shale_test_assert_status(c, "OK", "CONFIG SET protected-mode yes");
    expect_denied("127.0.0.2", "127.0.0.1", port);

    /* A password also lifts it: the client is accepted and must AUTH. */
    shale_test_assert_status(c, "OK", "CONFIG SET requirepass s3cret");
    expect_reply("127.0.0.2", "127.0.0.1", port, "PING\r\n",
                 "-NOAUTH Authentication required.\r\n");
    expect_reply("127.0.0.2", "127.0.0.1", port, "AUTH s3cret\r\nPING\r\n", "+OK\r\n+PONG\r\n");
    shale_test_assert_status(c, "OK", "CONFIG SET requirepass \"\"");
    redisFree(c);
    assert_int_equal(shale_test_server_stop(s), 0);
}

static void test_protected_mode_off(void **state)
{
    static const char *const args[] = {"--bind", "0.0.0.0", "--protected-mode", "no", NULL};
    struct test_server *s = shale_test_server_start(args, NULL);
    assert_non_null(s);
    expect_reply("127.0.0.2", "127.0.0.1", shale_test_server_port(s), "PING\r\n", "+PONG\r\n");
    redisContext *c = shale_test_connect(s);
    redisReply *r = shale_test_command(c, "CONFIG GET protected-mode");
    assert_int_equal(r->elements, 2);
    assert_string_equal(r->element[1]->str, "no");
    freeReplyObject(r);
    redisFree(c);
    assert_int_equal(shale_test_server_stop(s), 0);
}

static void test_debug_command_gate(void **state)
{
    struct test_server *s = shale_test_server_start(NULL, NULL); /* default: no */
    assert_non_null(s);
    redisContext *c = shale_test_connect(s);
    shale_test_assert_error(c, debug_denied, "DEBUG SLEEP 0");
    shale_test_assert_error(c, debug_denied, "DEBUG NOSUCHSUBCOMMAND");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'debug' command", "DEBUG");
    shale_test_assert_error(c,
                            "ERR CONFIG SET failed (possibly related to argument "
                            "'enable-debug-command') - can't set immutable config",
                            "CONFIG SET enable-debug-command yes");
    redisReply *r = shale_test_command(c, "CONFIG GET enable-debug-command");
    assert_string_equal(r->element[1]->str, "no");
    freeReplyObject(r);
    redisFree(c);
    assert_int_equal(shale_test_server_stop(s), 0);

    static const char *const yes[] = {"--enable-debug-command", "yes", NULL};
    s = shale_test_server_start(yes, NULL);
    assert_non_null(s);
    c = shale_test_connect(s);
    shale_test_assert_status(c, "OK", "DEBUG SLEEP 0");
    redisFree(c);
    assert_int_equal(shale_test_server_stop(s), 0);

    /* local: loopback clients only (127.0.0.2 is not local for Redis). */
    static const char *const local[] = {"--enable-debug-command", "local", "--bind", "0.0.0.0",
                                        "--protected-mode",       "no",    NULL};
    s = shale_test_server_start(local, NULL);
    assert_non_null(s);
    int port = shale_test_server_port(s);
    static const char sleep0[] = "DEBUG SLEEP 0\r\n";
    expect_reply("127.0.0.1", "127.0.0.1", port, sleep0, "+OK\r\n");
    char want[512];
    snprintf(want, sizeof want, "-%s\r\n", debug_denied);
    expect_reply("127.0.0.2", "127.0.0.1", port, sleep0, want);
    assert_int_equal(shale_test_server_stop(s), 0);
}

static void test_rename_command(void **state)
{
    static const char *const args[] = {"--rename-command", "flushall", "",  "--rename-command",
                                       "CONFIG",           "myconfig", NULL};
    struct test_server *s = shale_test_server_start(args, NULL);
    assert_non_null(s);
    redisContext *c = shale_test_connect(s);
    shale_test_assert_error(
        c, "ERR unknown command 'flushall', with args beginning with: ", "flushall");
    shale_test_assert_error(c,
                            "ERR unknown command 'config', with args beginning with: 'get' "
                            "'port' ",
                            "config get port");
    redisReply *r = shale_test_command(c, "MYCONFIG GET maxclients");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 2);
    assert_string_equal(r->element[0]->str, "maxclients");
    freeReplyObject(r);
    /* Errors and stats keep the original name, as in Redis. */
    shale_test_assert_error(c, "ERR unknown subcommand 'foo'. Try MYCONFIG HELP.", "myconfig foo");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'config|get' command",
                            "myconfig get");
    shale_test_assert_status(c, "OK", "SET still works");
    redisFree(c);
    assert_int_equal(shale_test_server_stop(s), 0);
}

/* A bad rename-command line stops start-up with Redis's reason. */
static void expect_start_failure(const char *from, const char *to, const char *reason)
{
    const char *bin = getenv("SHALE_SERVER");
    assert_non_null(bin);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' --port 0 --rename-command '%s' '%s' 2>&1", bin, from, to);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char out[4096] = "";
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    if (!WIFEXITED(status) || WEXITSTATUS(status) == 0 || strstr(out, reason) == NULL) {
        fail_msg("rename-command %s '%s': status %d, output:\n%s", from, to, status, out);
    }
}

static void test_rename_command_errors(void **state)
{
    expect_start_failure("nosuchcommand", "x", "No such command in rename-command");
    expect_start_failure("get", "set", "Target command name already exists");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_protected_mode),        cmocka_unit_test(test_protected_mode_off),
        cmocka_unit_test(test_debug_command_gate),    cmocka_unit_test(test_rename_command),
        cmocka_unit_test(test_rename_command_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
