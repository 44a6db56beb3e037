/*
 * Reply assertions for hiredis clients: run a command, compare the reply with
 * the expected one, and on mismatch print both (escaped) and fail the cmocka
 * test at the caller's line.  Main test thread only.
 */
#include "tests/support/reply.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include "tests/support/server.h"

#define DESCRIBE_CAP   1024
#define ARG_SHOW_BYTES 80 /* longer arguments are shown shortened */

void shale_test_escape(const char *data, size_t len, char *buf, size_t cap)
{
    size_t out = 0;
    size_t shown = 0;
    if (cap == 0) {
        return;
    }
    for (; shown < len; shown++) {
        char tmp[8];
        unsigned char ch = (unsigned char)data[shown];
        size_t n;
        if (ch == '\r') {
            n = (size_t)snprintf(tmp, sizeof tmp, "\\r");
        } else if (ch == '\n') {
            n = (size_t)snprintf(tmp, sizeof tmp, "\\n");
        } else if (ch == '"' || ch == '\\') {
            n = (size_t)snprintf(tmp, sizeof tmp, "\\%c", ch);
        } else if (ch < 0x20 || ch >= 0x7f) {
            n = (size_t)snprintf(tmp, sizeof tmp, "\\x%02x", ch);
        } else {
            tmp[0] = (char)ch;
            n = 1;
        }
        if (out + n + 32 >= cap) {
            break;
        }
        memcpy(buf + out, tmp, n);
        out += n;
    }
    buf[out] = '\0';
    if (shown < len) {
        snprintf(buf + out, cap - out, "...(%zu bytes in all)", len);
    }
}

static size_t append(char *buf, size_t cap, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static size_t append(char *buf, size_t cap, size_t at, const char *fmt, ...)
{
    if (at >= cap) {
        return at;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + at, cap - at, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return at;
    }
    return at + (size_t)n >= cap ? cap - 1 : at + (size_t)n;
}

static size_t describe_into(const redisReply *r, char *buf, size_t cap, size_t at, int depth)
{
    char esc[DESCRIBE_CAP];
    if (r == NULL) {
        return append(buf, cap, at, "no reply");
    }
    switch (r->type) {
    case REDIS_REPLY_STATUS:
        shale_test_escape(r->str, (size_t)r->len, esc, sizeof esc);
        return append(buf, cap, at, "status \"%s\"", esc);
    case REDIS_REPLY_ERROR:
        shale_test_escape(r->str, (size_t)r->len, esc, sizeof esc);
        return append(buf, cap, at, "error \"%s\"", esc);
    case REDIS_REPLY_INTEGER:
        return append(buf, cap, at, "integer %lld", r->integer);
    case REDIS_REPLY_NIL:
        return append(buf, cap, at, "nil");
    case REDIS_REPLY_STRING:
        shale_test_escape(r->str, (size_t)r->len, esc, sizeof esc / (size_t)(depth + 1));
        return append(buf, cap, at, "bulk(%zu) \"%s\"", r->len, esc);
    case REDIS_REPLY_ARRAY:
        at = append(buf, cap, at, "array(%zu) [", r->elements);
        for (size_t i = 0; i < r->elements && i < 8 && depth < 3; i++) {
            at = append(buf, cap, at, i == 0 ? "" : ", ");
            at = describe_into(r->element[i], buf, cap, at, depth + 1);
        }
        if (r->elements > 8 || (depth >= 3 && r->elements > 0)) {
            at = append(buf, cap, at, ", ...");
        }
        return append(buf, cap, at, "]");
    default:
        return append(buf, cap, at, "reply of type %d", r->type);
    }
}

void shale_test_describe_reply(const redisReply *r, char *buf, size_t cap)
{
    buf[0] = '\0';
    describe_into(r, buf, cap, 0, 0);
}

/* Renders a RESP multibulk request as `SET "key" "value"` for messages. */
static void describe_request(const char *cmd, size_t len, char *buf, size_t cap)
{
    const char *p = cmd;
    const char *end = cmd + len;
    size_t at = 0;
    buf[0] = '\0';
    if (p >= end || *p != '*') {
        return;
    }
    long argc = strtol(p + 1, NULL, 10);
    p = memchr(p, '\n', (size_t)(end - p));
    for (long i = 0; p != NULL && i < argc && p + 1 < end; i++) {
        p++; /* past '\n', at '$' */
        long alen = strtol(p + 1, NULL, 10);
        const char *data = memchr(p, '\n', (size_t)(end - p));
        if (data == NULL || alen < 0 || data + 1 + alen > end) {
            break;
        }
        data++;
        char esc[ARG_SHOW_BYTES * 4 + 64];
        shale_test_escape(data, (size_t)alen < ARG_SHOW_BYTES ? (size_t)alen : ARG_SHOW_BYTES, esc,
                          sizeof esc);
        if ((size_t)alen > ARG_SHOW_BYTES) {
            at = append(buf, cap, at, "%s\"%s\"...(%ld bytes)", i ? " " : "", esc, alen);
        } else if (i == 0) {
            at = append(buf, cap, at, "%s", esc);
        } else {
            at = append(buf, cap, at, " \"%s\"", esc);
        }
        p = data + alen + 1; /* at '\n' of the trailing CRLF */
    }
}

static void describe_format(char *buf, size_t cap, const char *fmt, va_list ap)
{
    char *cmd = NULL;
    va_list copy;
    va_copy(copy, ap);
    int len = redisvFormatCommand(&cmd, fmt, copy);
    va_end(copy);
    if (len < 0 || cmd == NULL) {
        snprintf(buf, cap, "%s", fmt);
        return;
    }
    describe_request(cmd, (size_t)len, buf, cap);
    free(cmd);
}

static void fail_at(const char *file, int line, const char *what, const char *expected,
                    const redisReply *got)
{
    char desc[DESCRIBE_CAP * 2];
    shale_test_describe_reply(got, desc, sizeof desc);
    print_error("command:  %s\nexpected: %s\ngot:      %s\n", what, expected, desc);
    shale_test_server_report_failure();
    _fail(file, line);
}

static void fail_no_reply(const char *file, int line, redisContext *c, const char *what)
{
    print_error("command:  %s\nno reply: %s (error %d)\n", what,
                c->errstr[0] != '\0' ? c->errstr : "unknown", c->err);
    shale_test_server_report_failure();
    _fail(file, line);
}

static redisReply *run_v(const char *file, int line, redisContext *c, char *what, size_t cap,
                         const char *fmt, va_list ap)
{
    describe_format(what, cap, fmt, ap);
    va_list copy;
    va_copy(copy, ap);
    redisReply *r = redisvCommand(c, fmt, copy);
    va_end(copy);
    if (r == NULL) {
        fail_no_reply(file, line, c, what);
    }
    return r;
}

redisReply *shale_test_command_at(const char *file, int line, redisContext *c, const char *fmt, ...)
{
    char what[DESCRIBE_CAP];
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = run_v(file, line, c, what, sizeof what, fmt, ap);
    va_end(ap);
    return r;
}

redisReply *shale_test_command_argv_at(const char *file, int line, redisContext *c, int argc,
                                       const char **argv, const size_t *argvlen)
{
    redisReply *r = redisCommandArgv(c, argc, argv, argvlen);
    if (r == NULL) {
        char what[DESCRIBE_CAP];
        char *cmd = NULL;
        int len = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
        what[0] = '\0';
        if (len > 0) {
            describe_request(cmd, (size_t)len, what, sizeof what);
        }
        free(cmd);
        fail_no_reply(file, line, c, what);
    }
    return r;
}

redisReply *shale_test_next_reply_at(const char *file, int line, redisContext *c)
{
    void *r = NULL;
    if (redisGetReply(c, &r) != REDIS_OK || r == NULL) {
        fail_no_reply(file, line, c, "(pipelined reply)");
    }
    return r;
}

void shale_test_expect_status_at(const char *file, int line, const redisReply *r,
                                 const char *expected, const char *what)
{
    if (r == NULL || r->type != REDIS_REPLY_STATUS || strlen(expected) != (size_t)r->len ||
        memcmp(r->str, expected, (size_t)r->len) != 0) {
        char exp[DESCRIBE_CAP + 64];
        char esc[DESCRIBE_CAP];
        shale_test_escape(expected, strlen(expected), esc, sizeof esc);
        snprintf(exp, sizeof exp, "status \"%s\"", esc);
        fail_at(file, line, what, exp, r);
    }
}

void shale_test_expect_int_at(const char *file, int line, const redisReply *r, long long expected,
                              const char *what)
{
    if (r == NULL || r->type != REDIS_REPLY_INTEGER || r->integer != expected) {
        char exp[64];
        snprintf(exp, sizeof exp, "integer %lld", expected);
        fail_at(file, line, what, exp, r);
    }
}

void shale_test_expect_bulk_len_at(const char *file, int line, const redisReply *r,
                                   const char *expected, size_t len, const char *what)
{
    if (r == NULL || r->type != REDIS_REPLY_STRING || (size_t)r->len != len ||
        memcmp(r->str, expected, len) != 0) {
        char exp[DESCRIBE_CAP + 64];
        char esc[DESCRIBE_CAP];
        shale_test_escape(expected, len, esc, sizeof esc);
        snprintf(exp, sizeof exp, "bulk(%zu) \"%s\"", len, esc);
        if (r != NULL && r->type == REDIS_REPLY_STRING && (size_t)r->len == len) {
            for (size_t i = 0; i < len; i++) {
                if (r->str[i] != expected[i]) {
                    print_error("first difference at byte %zu\n", i);
                    break;
                }
            }
        }
        fail_at(file, line, what, exp, r);
    }
}

void shale_test_expect_nil_at(const char *file, int line, const redisReply *r, const char *what)
{
    if (r == NULL || r->type != REDIS_REPLY_NIL) {
        fail_at(file, line, what, "nil", r);
    }
}

void shale_test_expect_error_at(const char *file, int line, const redisReply *r,
                                const char *expected, bool prefix_only, const char *what)
{
    size_t n = strlen(expected);
    bool ok = r != NULL && r->type == REDIS_REPLY_ERROR &&
              (prefix_only ? (size_t)r->len >= n : (size_t)r->len == n) &&
              memcmp(r->str, expected, n) == 0;
    if (!ok) {
        char exp[DESCRIBE_CAP + 64];
        char esc[DESCRIBE_CAP];
        shale_test_escape(expected, n, esc, sizeof esc);
        snprintf(exp, sizeof exp, "error %s\"%s\"", prefix_only ? "starting with " : "", esc);
        fail_at(file, line, what, exp, r);
    }
}

void shale_test_expect_array_at(const char *file, int line, const redisReply *r, size_t elements,
                                const char *what)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != elements) {
        char exp[64];
        snprintf(exp, sizeof exp, "array of %zu elements", elements);
        fail_at(file, line, what, exp, r);
    }
}

void shale_test_assert_status_at(const char *file, int line, redisContext *c, const char *expected,
                                 const char *fmt, ...)
{
    char what[DESCRIBE_CAP];
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = run_v(file, line, c, what, sizeof what, fmt, ap);
    va_end(ap);
    shale_test_expect_status_at(file, line, r, expected, what);
    freeReplyObject(r);
}

void shale_test_assert_int_at(const char *file, int line, redisContext *c, long long expected,
                              const char *fmt, ...)
{
    char what[DESCRIBE_CAP];
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = run_v(file, line, c, what, sizeof what, fmt, ap);
    va_end(ap);
    shale_test_expect_int_at(file, line, r, expected, what);
    freeReplyObject(r);
}

void shale_test_assert_bulk_at(const char *file, int line, redisContext *c, const char *expected,
                               const char *fmt, ...)
{
    char what[DESCRIBE_CAP];
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = run_v(file, line, c, what, sizeof what, fmt, ap);
    va_end(ap);
    shale_test_expect_bulk_len_at(file, line, r, expected, strlen(expected), what);
    freeReplyObject(r);
}

void shale_test_assert_nil_at(const char *file, int line, redisContext *c, const char *fmt, ...)
{
    char what[DESCRIBE_CAP];
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = run_v(file, line, c, what, sizeof what, fmt, ap);
    va_end(ap);
    shale_test_expect_nil_at(file, line, r, what);
    freeReplyObject(r);
}

void shale_test_assert_error_at(const char *file, int line, redisContext *c, const char *expected,
                                bool prefix_only, const char *fmt, ...)
{
    char what[DESCRIBE_CAP];
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = run_v(file, line, c, what, sizeof what, fmt, ap);
    va_end(ap);
    shale_test_expect_error_at(file, line, r, expected, prefix_only, what);
    freeReplyObject(r);
}

long long shale_test_command_int_at(const char *file, int line, redisContext *c, const char *fmt,
                                    ...)
{
    char what[DESCRIBE_CAP];
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = run_v(file, line, c, what, sizeof what, fmt, ap);
    va_end(ap);
    if (r->type != REDIS_REPLY_INTEGER) {
        fail_at(file, line, what, "an integer", r);
    }
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

const char *shale_test_info_field(const char *info, const char *field)
{
    size_t n = strlen(field);
    for (const char *line = info; line != NULL && *line != '\0';) {
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            return line + n + 1;
        }
        line = strchr(line, '\n');
        if (line != NULL) {
            line++;
        }
    }
    return NULL;
}
