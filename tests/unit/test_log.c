/* test_log: the two line formats of server/log.c, built by the pure
 * shale_log_format_line: legacy ("pid:M 22 Nov 2026 04:00:00.123 * msg",
 * Redis's layout) and logfmt (ts, level, pid, role, msg; values quoted and
 * escaped only when needed), with truncation that keeps a line a line.
 * Single-threaded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/log.h"

/* 2026-11-22T04:05:06.789Z */
static const struct timeval when = {1795320306, 789123};

static const char *line(int format, int level, const char *msg)
{
    static char out[512];
    size_t n = shale_log_format_line(out, sizeof(out), format, level, &when, 4242, msg);
    assert_true(n > 0 && n < sizeof(out));
    assert_int_equal(out[n - 1], '\n');
    out[n - 1] = '\0';
    assert_null(strchr(out, '\n'));
    return out;
}

static void test_logfmt(void **state)
{
    assert_string_equal(line(LOG_FORMAT_LOGFMT, LOG_NOTICE, "Ready"),
                        "ts=2026-11-22T04:05:06.789Z level=notice pid=4242 role=master msg=Ready");
    assert_string_equal(line(LOG_FORMAT_LOGFMT, LOG_WARNING, "a b=c \"d\" \\ e\nf"),
                        "ts=2026-11-22T04:05:06.789Z level=warning pid=4242 role=master "
                        "msg=\"a b=c \\\"d\\\" \\\\ e\\nf\"");
    assert_string_equal(line(LOG_FORMAT_LOGFMT, LOG_DEBUG, ""),
                        "ts=2026-11-22T04:05:06.789Z level=debug pid=4242 role=master msg=\"\"");
    assert_non_null(strstr(line(LOG_FORMAT_LOGFMT, LOG_VERBOSE, "x"), "level=verbose"));
}

static void test_legacy(void **state)
{
    const char *l = line(LOG_FORMAT_LEGACY, LOG_WARNING, "Received SIGTERM");
    int pid, day, year, h, m, sec, ms, n = 0;
    char mon[4], mark;
    assert_int_equal(sscanf(l, "%d:M %2d %3s %4d %2d:%2d:%2d.%3d %c %n", &pid, &day, mon, &year, &h,
                            &m, &sec, &ms, &mark, &n),
                     9);
    assert_int_equal(pid, 4242);
    assert_int_equal(ms, 789);
    assert_int_equal(mark, '#');
    assert_string_equal(l + n, "Received SIGTERM");
    l = line(LOG_FORMAT_LEGACY, LOG_DEBUG, "x");
    assert_string_equal(l + strlen(l) - 4, " . x");
}

/* A long message is cut, but the line still ends in one newline and a
 * quoted logfmt value still ends in its quote. */
static void test_truncation(void **state)
{
    char msg[2048];
    memset(msg, 'q', sizeof(msg) - 1);
    msg[sizeof(msg) - 1] = '\0';
    msg[10] = ' ';
    char out[200];
    size_t n =
        shale_log_format_line(out, sizeof(out), LOG_FORMAT_LOGFMT, LOG_NOTICE, &when, 1, msg);
    assert_true(n <= sizeof(out));
    assert_int_equal(out[n - 1], '\n');
    assert_int_equal(out[n - 2], '"');
    n = shale_log_format_line(out, sizeof(out), LOG_FORMAT_LEGACY, LOG_NOTICE, &when, 1, msg);
    assert_true(n <= sizeof(out));
    assert_int_equal(out[n - 1], '\n');
    assert_int_equal(shale_log_format_line(out, 1, LOG_FORMAT_LEGACY, LOG_NOTICE, &when, 1, "x"),
                     0);
}

int main(void)
{
    setenv("TZ", "UTC", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logfmt),
        cmocka_unit_test(test_legacy),
        cmocka_unit_test(test_truncation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
