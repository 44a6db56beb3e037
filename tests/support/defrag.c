/*
 * What the active-defrag integration tests share (see defrag.h).
 */
#include "tests/support/defrag.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>

#include <cmocka.h>

#include "tests/support/reply.h"

char *shale_test_info_text(redisContext *ctx, const char *sections)
{
    redisReply *r = shale_test_command(ctx, "INFO %s", sections);
    if (r->type != REDIS_REPLY_STRING) {
        fail_msg("INFO %s: expected a bulk string, got type %d", sections, r->type);
    }
    char *text = strdup(r->str);
    freeReplyObject(r);
    return text;
}

long long shale_test_info_ll(const char *info, const char *field)
{
    const char *v = shale_test_info_field(info, field);
    if (v == NULL) {
        fail_msg("INFO has no %s field:\n%s", field, info);
    }
    return strtoll(v, NULL, 10);
}

double shale_test_info_double(const char *info, const char *field)
{
    const char *v = shale_test_info_field(info, field);
    if (v == NULL) {
        fail_msg("INFO has no %s field:\n%s", field, info);
    }
    return strtod(v, NULL);
}

double shale_test_info_line_field(const char *info, const char *line_name, const char *name)
{
    const char *line = shale_test_info_field(info, line_name);
    if (line == NULL) {
        fail_msg("INFO has no %s line:\n%s", line_name, info);
    }
    const char *end = strchr(line, '\r');
    size_t n = strlen(name);
    for (const char *p = line; p != NULL && (end == NULL || p < end); p = strchr(p, ',')) {
        if (*p == ',') {
            p++;
        }
        if (strncmp(p, name, n) == 0 && p[n] == '=') {
            return strtod(p + n + 1, NULL);
        }
    }
    fail_msg("%s line has no %s=: %.*s", line_name, name, end ? (int)(end - line) : 80, line);
    return 0;
}

char *shale_test_defrag_mode(redisContext *ctx)
{
    char *info = shale_test_info_text(ctx, "memory");
    const char *v = shale_test_info_field(info, "shale_defrag_mode");
    if (v == NULL) {
        fail_msg("INFO memory has no shale_defrag_mode:\n%s", info);
    }
    char *mode = strndup(v, strcspn(v, "\r\n"));
    free(info);
    return mode;
}

uint64_t shale_test_mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

size_t shale_test_make_value(char *buf, uint64_t id, uint64_t ver, size_t len)
{
    uint64_t h = shale_test_mix(id * 1000003 + ver);
    for (size_t i = 0; i < len; i++) {
        buf[i] = (char)('a' + (h >> (i % 32)) % 26);
    }
    return len;
}
