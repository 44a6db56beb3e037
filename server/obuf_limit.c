/* obuf_limit: see obuf_limit.h. Pure; any thread. */
#include "server/obuf_limit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/mem.h"
#include "server/strconv.h"

#define MAX_WORDS 64
#define WORD_MAX  64

static const char *const class_names[OBUF_CLASSES] = {"normal", "slave", "pubsub"};

/* Redis getClientTypeByName, less "master" (which has no limit). */
static int class_of(const char *name)
{
    if (!strcasecmp(name, "normal"))
        return OBUF_NORMAL;
    if (!strcasecmp(name, "replica") || !strcasecmp(name, "slave"))
        return OBUF_REPLICA;
    if (!strcasecmp(name, "pubsub"))
        return OBUF_PUBSUB;
    return -1;
}

/* Redis memtoull: digits with an optional b/k/kb/m/mb/g/gb unit. */
static int parse_bytes(const char *s, unsigned long long *out)
{
    if (*s < '0' || *s > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    unsigned long long mul;
    if (shale_strconv_memory_unit(end, &mul) < 0)
        return -1;
    return __builtin_mul_overflow(v, mul, out) ? -1 : 0;
}

static int parse_seconds(const char *s, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno || v < 0)
        return -1;
    *out = v;
    return 0;
}

static int fail(char *err, size_t errlen, const char *msg)
{
    snprintf(err, errlen, "%s", msg);
    return -1;
}

int shale_obuf_limit_parse(const char *text, struct obuf_limits *limits, char *err, size_t errlen)
{
    char words[MAX_WORDS][WORD_MAX];
    int n = 0;
    for (const char *p = text;;) {
        p += strspn(p, " \t\r\n");
        if (!*p)
            break;
        size_t len = strcspn(p, " \t\r\n");
        if (n == MAX_WORDS || len >= WORD_MAX)
            return fail(err, errlen, "Wrong number of arguments in buffer limit configuration.");
        memcpy(words[n], p, len);
        words[n++][len] = '\0';
        p += len;
    }
    if (n % 4)
        return fail(err, errlen, "Wrong number of arguments in buffer limit configuration.");
    /* Everything is checked before anything changes: all or nothing. */
    struct obuf_limits next = *limits;
    for (int i = 0; i < n; i += 4) {
        int cls = class_of(words[i]);
        if (cls < 0)
            return fail(err, errlen,
                        "Invalid client class specified in buffer limit configuration.");
        struct obuf_limit l;
        if (parse_bytes(words[i + 1], &l.hard) < 0 || parse_bytes(words[i + 2], &l.soft) < 0 ||
            parse_seconds(words[i + 3], &l.soft_seconds) < 0)
            return fail(err, errlen,
                        "Error in hard, soft or soft_seconds setting in buffer limit "
                        "configuration.");
        next.cls[cls] = l;
    }
    *limits = next;
    return 0;
}

void shale_obuf_limit_format(const struct obuf_limits *limits, char *out, size_t outlen)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < OBUF_CLASSES && used < outlen; i++) {
        const struct obuf_limit *l = &limits->cls[i];
        int w = snprintf(out + used, outlen - used, "%s%s %llu %llu %lld", i ? " " : "",
                         class_names[i], l->hard, l->soft, l->soft_seconds);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

int shale_obuf_limit_normalize(const char *current, const char *text, char **out, char *err,
                               size_t errlen)
{
    struct obuf_limits limits;
    memset(&limits, 0, sizeof(limits));
    if (current && shale_obuf_limit_parse(current, &limits, err, errlen) < 0)
        return -1;
    if (shale_obuf_limit_parse(text, &limits, err, errlen) < 0)
        return -1;
    char buf[256];
    shale_obuf_limit_format(&limits, buf, sizeof(buf));
    *out = shale_strdup(buf);
    return 0;
}

enum obuf_verdict shale_obuf_limit_check(const struct obuf_limit *limit, size_t pending,
                                         int64_t now_ms, int64_t *soft_since_ms)
{
    if (limit->hard && pending >= limit->hard)
        return OBUF_OVER_HARD;
    if (!limit->soft || pending < limit->soft) {
        *soft_since_ms = 0;
        return OBUF_WITHIN;
    }
    if (!*soft_since_ms) {
        *soft_since_ms = now_ms ? now_ms : 1;
        return OBUF_WITHIN;
    }
    if (limit->soft_seconds > INT64_MAX / 1000)
        return OBUF_WITHIN; /* forever */
    return now_ms - *soft_since_ms > limit->soft_seconds * 1000 ? OBUF_OVER_SOFT : OBUF_WITHIN;
}
