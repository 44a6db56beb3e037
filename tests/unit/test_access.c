/* test_access: the protected-mode and enable-debug-command decisions
 * (net/access.c) and rename-command in the command table, without a
 * network: Redis's notion of a local peer (exactly 127.0.0.1 or ::1), who
 * protected mode refuses, and which settings allow DEBUG. The integration
 * test test_security covers the same over real sockets. Single-threaded. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "net/access.h"
#include "server/command.h"
#include "server/config.h"

static struct sockaddr_storage v4(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    in->sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, ip, &in->sin_addr), 1);
    return ss;
}

static struct sockaddr_storage v6(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    in6->sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1);
    return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

static void test_loopback(void **state)
{
    struct sockaddr_storage a = v4("127.0.0.1"), b = v4("127.0.0.2"), c = v4("10.1.2.3"),
                            d = v6("::1"), e = v6("::ffff:127.0.0.1"), f = v6("fd00::2");
    assert_true(shale_access_is_loopback(SA(a)));
    assert_false(shale_access_is_loopback(SA(b))); /* Redis: only the exact address */
    assert_false(shale_access_is_loopback(SA(c)));
    assert_true(shale_access_is_loopback(SA(d)));
    assert_false(shale_access_is_loopback(SA(e)));
    assert_false(shale_access_is_loopback(SA(f)));
}

static void test_protected_mode_decision(void **state)
{
    struct sockaddr_storage local = v4("127.0.0.1"), remote = v4("192.0.2.7");
    assert_true(shale_access_refuse_peer(1, "", SA(remote)));
    assert_true(shale_access_refuse_peer(1, NULL, SA(remote)));
    assert_false(shale_access_refuse_peer(1, "", SA(local)));
    assert_false(shale_access_refuse_peer(0, "", SA(remote)));       /* protected-mode no */
    assert_false(shale_access_refuse_peer(1, "secret", SA(remote))); /* a password */
    const char *reply = shale_access_denied_reply();
    assert_true(strncmp(reply, "-DENIED Redis is running in protected mode", 42) == 0);
    assert_string_equal(reply + strlen(reply) - 2, "\r\n");
    assert_ptr_equal(strchr(reply, '\n'), reply + strlen(reply) - 1); /* one line */
}

static void test_debug_gate(void **state)
{
    assert_false(shale_access_protected_allowed(ACCESS_ALLOW_NO, 1));
    assert_false(shale_access_protected_allowed(ACCESS_ALLOW_NO, 0));
    assert_true(shale_access_protected_allowed(ACCESS_ALLOW_YES, 0));
    assert_true(shale_access_protected_allowed(ACCESS_ALLOW_LOCAL, 1));
    assert_false(shale_access_protected_allowed(ACCESS_ALLOW_LOCAL, 0));
}

static struct slice s(const char *text)
{
    return (struct slice){text, strlen(text)};
}

static void test_rename_command(void **state)
{
    shale_command_setup();
    struct config_rename off = {NULL, "FlushAll", ""};
    struct config_rename ren = {&off, "config", "MyConfig"};
    char err[256];
    assert_int_equal(shale_command_apply_renames(&ren, err, sizeof(err)), 0);
    assert_null(shale_command_lookup(s("flushall")));
    assert_null(shale_command_lookup(s("config")));
    const struct command *cmd = shale_command_lookup(s("MYCONFIG"));
    assert_non_null(cmd);
    assert_string_equal(cmd->name, "config"); /* replies and stats keep the name */
    assert_non_null(shale_command_lookup_sub(cmd, s("get")));
    assert_non_null(shale_command_lookup(s("get")));

    struct config_rename missing = {NULL, "nosuch", "x"};
    assert_int_equal(shale_command_apply_renames(&missing, err, sizeof(err)), -1);
    assert_string_equal(err, "rename-command nosuch \"x\": No such command in rename-command");
    struct config_rename taken = {NULL, "get", "SET"};
    assert_int_equal(shale_command_apply_renames(&taken, err, sizeof(err)), -1);
    assert_string_equal(err, "rename-command get \"SET\": Target command name already exists");
    struct config_rename sub = {NULL, "config|get", "cg"};
    assert_int_equal(shale_command_apply_renames(&sub, err, sizeof(err)), -1);
    shale_command_setup(); /* back to the plain table */
    assert_non_null(shale_command_lookup(s("flushall")));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loopback),
        cmocka_unit_test(test_protected_mode_decision),
        cmocka_unit_test(test_debug_gate),
        cmocka_unit_test(test_rename_command),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
