/*
 * Logging for operators: `log-format logfmt` writes every line as
 * key=value pairs (ts, level, pid, role, msg) a log pipeline can parse, and
 * CONFIG SET log-format switches back to the Redis-like legacy line at run
 * time; SIGHUP reopens `logfile` after it was renamed (log rotation); and
 * requests never log, even at loglevel debug. shale only (Redis has no
 * log-format and ignores SIGHUP).
 */
#include <ctype.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>

#include <cmocka.h>

#include "tests/support/reply.h"
#include "tests/support/server.h"

#define WAIT_MS 3000

/* The file's lines, NUL-separated in a malloc'ed block; count in *n. */
static char *read_lines(const char *path, int *n)
{
    FILE *f = fopen(path, "r");
    *n = 0;
    if (f == NULL) {
        return NULL;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    size_t r;
    while ((r = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += r;
        if (len + 1 == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    fclose(f);
    buf[len] = '\0';
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == '\n') {
            buf[i] = '\0';
            (*n)++;
        }
    }
    return buf;
}

static bool file_has(const char *path, const char *text)
{
    int n;
    char *lines = read_lines(path, &n);
    bool found = false;
    for (char *l = lines; l != NULL && n-- > 0 && !found; l += strlen(l) + 1) {
        found = strstr(l, text) != NULL;
    }
    free(lines);
    return found;
}

static bool wait_for(const char *path, const char *text)
{
    long long deadline = shale_test_now_ms() + WAIT_MS;
    while (!file_has(path, text)) {
        if (shale_test_now_ms() > deadline) {
            return false;
        }
        shale_test_sleep_ms(10);
    }
    return true;
}

/* One logfmt value at *p: bare or "quoted" with \" \\ \n escapes. */
static bool logfmt_value(const char **p, char *out, size_t cap)
{
    const char *s = *p;
    size_t n = 0;
    if (*s == '"') {
        for (s++; *s != '"'; s++) {
            if (*s == '\0' || n + 1 >= cap) {
                return false;
            }
            if (*s == '\\') {
                s++;
                if (*s != '"' && *s != '\\' && *s != 'n') {
                    return false;
                }
            }
            out[n++] = *s;
        }
        s++;
    } else {
        while (*s != ' ' && *s != '\0') {
            if (*s == '"' || *s == '=' || n + 1 >= cap) {
                return false;
            }
            out[n++] = *s++;
        }
    }
    out[n] = '\0';
    *p = s;
    return true;
}

/* Checks one logfmt line: keys ts, level, pid, role, msg in that order. */
static void check_logfmt(const char *line, char *msg, size_t msgcap)
{
    static const char *const keys[] = {"ts", "level", "pid", "role", "msg"};
    const char *p = line;
    char value[1024];
    for (size_t k = 0; k < 5; k++) {
        size_t kl = strlen(keys[k]);
        if (strncmp(p, keys[k], kl) != 0 || p[kl] != '=') {
            fail_msg("logfmt line without '%s=' where expected: %s", keys[k], line);
        }
        p += kl + 1;
        if (!logfmt_value(&p, value, sizeof value)) {
            fail_msg("bad logfmt value for %s: %s", keys[k], line);
        }
        if (k == 0) {
            int y, mo, d, h, mi, s, ms;
            char z;
            if (sscanf(value, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &h, &mi, &s, &ms, &z) !=
                    8 ||
                z != 'Z' || strlen(value) != 24) {
                fail_msg("ts is not RFC 3339 UTC with milliseconds: %s", value);
            }
        } else if (k == 1 && strcmp(value, "debug") && strcmp(value, "verbose") &&
                   strcmp(value, "notice") && strcmp(value, "warning")) {
            fail_msg("unknown level '%s'", value);
        } else if (k == 2 && (int)strtol(value, NULL, 10) <= 0) {
            fail_msg("pid '%s'", value);
        } else if (k == 4) {
            snprintf(msg, msgcap, "%s", value);
        }
        if (k < 4 && *p++ != ' ') {
            fail_msg("no space after %s: %s", keys[k], line);
        }
    }
    if (*p != '\0') {
        fail_msg("trailing text after msg: %s", line);
    }
}

/* "pid:M 22 Nov 2026 04:00:00.123 * message" */
static bool is_legacy(const char *line)
{
    int pid, day, year, h, m, s, ms, n = 0;
    char mon[4], mark;
    return sscanf(line, "%d:M %2d %3s %4d %2d:%2d:%2d.%3d %c %n", &pid, &day, mon, &year, &h, &m,
                  &s, &ms, &mark, &n) == 9 &&
           n > 0 && strchr(".-*#", mark) != NULL;
}

static void test_logfmt_lines(void **state)
{
    shale_test_skip_on_redis("log-format is shale's (and Valkey's), not Redis's");
    static const char *const args[] = {"--log-format", "logfmt", NULL};
    struct test_server *s = shale_test_server_start(NULL, args);
    assert_non_null(s);
    const char *path = shale_test_server_log_path(s);
    int n;
    char *lines = read_lines(path, &n);
    assert_true(n >= 3);
    bool ready = false;
    char msg[1024];
    for (char *l = lines; n-- > 0; l += strlen(l) + 1) {
        check_logfmt(l, msg, sizeof msg);
        ready |= strncmp(msg, "Ready to accept connections", 27) == 0;
    }
    free(lines);
    assert_true(ready);

    /* Live switch back to the Redis-like line. */
    redisContext *c = shale_test_connect(s);
    shale_test_assert_status(c, "OK", "CONFIG SET log-format legacy");
    redisFree(c);
    shale_test_server_kill(s, SIGTERM);
    assert_int_equal(shale_test_server_wait_exit(s, WAIT_MS), 0);
    lines = read_lines(path, &n);
    const char *last = NULL;
    for (char *l = lines; n-- > 0; l += strlen(l) + 1) {
        last = l;
    }
    assert_non_null(last);
    if (!is_legacy(last) || strstr(last, "bye bye") == NULL) {
        fail_msg("last line is not a legacy goodbye: %s", last);
    }
    free(lines);
    assert_int_equal(shale_test_server_stop(s), 0);
}

static void test_sighup_reopens_renamed_log(void **state)
{
    shale_test_skip_on_redis("Redis ignores SIGHUP");
    static const char *const args[] = {"--logfile", "shale.log", NULL};
    struct test_server *s = shale_test_server_start(NULL, args);
    assert_non_null(s);
    char dir[PATH_MAX], logfile[PATH_MAX + 16], rotated[PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s", shale_test_server_log_path(s));
    snprintf(logfile, sizeof logfile, "%s/shale.log", dirname(dir));
    snprintf(rotated, sizeof rotated, "%s.1", logfile);
    assert_true(wait_for(logfile, "Ready to accept connections"));
    assert_int_equal(rename(logfile, rotated), 0);
    shale_test_server_kill(s, SIGHUP);
    if (!wait_for(logfile, "Log file reopened")) {
        fail_msg("no new %s after SIGHUP", logfile);
    }
    assert_true(file_has(rotated, "Received SIGHUP"));
    assert_false(file_has(rotated, "Log file reopened"));
    shale_test_server_kill(s, SIGTERM);
    assert_int_equal(shale_test_server_wait_exit(s, WAIT_MS), 0);
    assert_true(file_has(logfile, "bye bye"));
    assert_false(file_has(rotated, "bye bye"));
    unlink(rotated);
    unlink(logfile);
    assert_int_equal(shale_test_server_stop(s), 0);
}

/* At loglevel debug, 3,000 commands (hits, misses, errors, INFO) add no
 * line: nothing logs on the request path. */
static void test_no_log_line_per_request(void **state)
{
    shale_test_skip_on_redis("checks shale's own request path");
    static const char *const args[] = {"--loglevel", "debug", "--shards", "2", NULL};
    struct test_server *s = shale_test_server_start(NULL, args);
    assert_non_null(s);
    redisContext *c = shale_test_connect(s);
    shale_test_assert_status(c, "PONG", "PING");
    int before;
    free(read_lines(shale_test_server_log_path(s), &before));
    for (int i = 0; i < 500; i++) {
        redisAppendCommand(c, "SET k%d v", i);
        redisAppendCommand(c, "GET k%d", i);
        redisAppendCommand(c, "GET missing%d", i);
        redisAppendCommand(c, "INCR k%d", i); /* an error reply */
        redisAppendCommand(c, "NOSUCHCOMMAND %d", i);
        redisAppendCommand(c, "MGET k%d k%d", i, i + 1);
    }
    for (int i = 0; i < 3000; i++) {
        freeReplyObject(shale_test_next_reply(c));
    }
    shale_test_assert_status(c, "PONG", "PING");
    int after;
    free(read_lines(shale_test_server_log_path(s), &after));
    if (after != before) {
        shale_test_server_print_log(s, 2048);
        fail_msg("%d log line(s) appeared while serving 3,000 requests", after - before);
    }
    redisFree(c);
    assert_int_equal(shale_test_server_stop(s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logfmt_lines),
        cmocka_unit_test(test_sighup_reopens_renamed_log),
        cmocka_unit_test(test_no_log_line_per_request),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
