/* harness: see harness.h. */
#include "tests/fuzz/harness.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void shale_fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "\n%s:%d: invariant failed: %s\n  ", file, line, cond);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    abort();
}

uint8_t shale_fuzz_u8(struct fuzz_input *in)
{
    return in->pos < in->len ? in->data[in->pos++] : 0;
}

uint32_t shale_fuzz_u32(struct fuzz_input *in)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v = v << 8 | shale_fuzz_u8(in);
    return v;
}

uint32_t shale_fuzz_below(struct fuzz_input *in, uint32_t n)
{
    uint32_t v = n > 256 ? shale_fuzz_u32(in) : shale_fuzz_u8(in);
    return v % n;
}

const uint8_t *shale_fuzz_bytes(struct fuzz_input *in, size_t max, size_t *len)
{
    size_t left = in->len - in->pos;
    *len = max < left ? max : left;
    const uint8_t *p = in->data + in->pos;
    in->pos += *len;
    return p;
}

int shale_fuzz_done(const struct fuzz_input *in)
{
    return in->pos >= in->len;
}

/* ---- strict RESP reader ------------------------------------------------ */

#define BAD        (-1L)
#define INCOMPLETE 0L
#define MAX_DEPTH  64

/* The line starting at p: its length up to CR, which must be followed by LF.
 * BAD when a bare LF comes first, INCOMPLETE when there is no CRLF yet. */
static long line_len(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n')
            return BAD;
        if (p[i] == '\r') {
            if (i + 1 >= n)
                return INCOMPLETE - 2;
            return p[i + 1] == '\n' ? (long)i : BAD;
        }
    }
    return INCOMPLETE - 2;
}

/* A decimal integer filling exactly s[0..n): optional '-', digits, no
 * leading zero except "0" itself. */
static int parse_int(const char *s, size_t n, long long *out)
{
    size_t i = 0;
    int neg = 0;
    if (n && s[0] == '-') {
        neg = 1;
        i = 1;
    }
    if (i == n || n - i > 19 || (s[i] == '0' && n - i > 1))
        return 0;
    unsigned long long v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > (unsigned long long)9223372036854775807LL + (unsigned)neg)
        return 0;
    *out = neg ? (long long)(0 - v) : (long long)v;
    return 1;
}

static int valid_double(const char *s, size_t n)
{
    if ((n == 3 && !memcmp(s, "inf", 3)) || (n == 4 && !memcmp(s, "-inf", 4)) ||
        (n == 3 && !memcmp(s, "nan", 3)))
        return 1;
    char tmp[64];
    if (n == 0 || n >= sizeof(tmp))
        return 0;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    char *end;
    strtod(tmp, &end);
    return *end == '\0' && strspn(tmp, "0123456789+-.eE") == n;
}

/* Bytes taken by the value at p, INCOMPLETE, or BAD. */
static long value_len(const char *p, size_t n, int depth)
{
    if (n == 0)
        return INCOMPLETE;
    if (depth > MAX_DEPTH)
        return BAD;
    long l = line_len(p + 1, n - 1);
    if (l == BAD)
        return BAD;
    if (l < 0)
        return INCOMPLETE;
    const char *body = p + 1;
    size_t head = 1 + (size_t)l + 2;
    long long num;
    switch (p[0]) {
    case '+':
    case '-':
    case '(':
        return (long)head;
    case ':':
        return parse_int(body, (size_t)l, &num) ? (long)head : BAD;
    case '_':
        return l == 0 ? (long)head : BAD;
    case '#':
        return l == 1 && (body[0] == 't' || body[0] == 'f') ? (long)head : BAD;
    case ',':
        return valid_double(body, (size_t)l) ? (long)head : BAD;
    case '$':
    case '!':
    case '=': {
        if (!parse_int(body, (size_t)l, &num) || num < -1 || (num == -1 && p[0] != '$'))
            return BAD;
        if (num == -1)
            return (long)head;
        if (p[0] == '=' && num < 4)
            return BAD;
        if (n < head + (size_t)num + 2)
            return INCOMPLETE;
        if (p[head + (size_t)num] != '\r' || p[head + (size_t)num + 1] != '\n')
            return BAD;
        if (p[0] == '=' && p[head + 3] != ':')
            return BAD;
        return (long)(head + (size_t)num + 2);
    }
    case '*':
    case '%':
    case '~':
    case '>':
    case '|': {
        if (!parse_int(body, (size_t)l, &num) || num < -1 || (num == -1 && p[0] != '*'))
            return BAD;
        long long elements = p[0] == '%' || p[0] == '|' ? num * 2 : num;
        size_t at = head;
        for (long long i = 0; i < elements; i++) {
            long e = value_len(p + at, n - at, depth + 1);
            if (e <= 0)
                return e;
            at += (size_t)e;
        }
        if (p[0] == '|') { /* an attribute precedes the value it describes */
            long e = value_len(p + at, n - at, depth + 1);
            if (e <= 0)
                return e;
            at += (size_t)e;
        }
        return (long)at;
    }
    default:
        return BAD;
    }
}

int shale_fuzz_count_replies(const char *buf, size_t len, size_t *consumed)
{
    size_t at = 0;
    int count = 0;
    for (;;) {
        long e = value_len(buf + at, len - at, 0);
        if (e == BAD)
            return -1;
        if (e == INCOMPLETE)
            break;
        at += (size_t)e;
        count++;
    }
    *consumed = at;
    return count;
}

long shale_fuzz_reply_len(const char *buf, size_t len)
{
    return value_len(buf, len, 0);
}
