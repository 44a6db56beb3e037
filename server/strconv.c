/* strconv: see strconv.h. */
#include "server/strconv.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/mem.h"

#define LL_STR_MAX 20

int shale_strconv_ll(struct slice s, long long *out)
{
    size_t i = 0;
    int negative = 0;
    unsigned long long v;

    if (s.len == 0 || s.len > LL_STR_MAX)
        return 0;
    if (s.len == 1 && s.ptr[0] == '0') {
        *out = 0;
        return 1;
    }
    if (s.ptr[0] == '-') {
        negative = 1;
        if (++i == s.len)
            return 0;
    }
    if (s.ptr[i] < '1' || s.ptr[i] > '9')
        return 0;
    v = (unsigned long long)(s.ptr[i++] - '0');
    for (; i < s.len; i++) {
        unsigned d = (unsigned)(s.ptr[i] - '0');
        if (d > 9 || v > (ULLONG_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    if (negative) {
        if (v > (unsigned long long)LLONG_MAX + 1)
            return 0;
        *out = v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)v;
    } else {
        if (v > LLONG_MAX)
            return 0;
        *out = (long long)v;
    }
    return 1;
}

int shale_strconv_ld(struct slice s, long double *out)
{
    char buf[STRCONV_LD_SIZE];
    char *end;
    long double v;

    if (s.len == 0 || s.len >= sizeof(buf))
        return 0;
    memcpy(buf, s.ptr, s.len);
    buf[s.len] = '\0';
    errno = 0;
    v = strtold(buf, &end);
    /* end must reach the slice's end: an embedded NUL stops strtold early. */
    if (isspace((unsigned char)buf[0]) || (size_t)(end - buf) != s.len || errno == EINVAL ||
        (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || v == 0)) || isnan(v))
        return 0;
    *out = v;
    return 1;
}

int shale_strconv_ld_human(char *buf, size_t size, long double v)
{
    int n = snprintf(buf, size, "%.17Lf", v);
    if (n < 0 || (size_t)n >= size)
        return 0;
    if (memchr(buf, '.', (size_t)n)) {
        while (buf[n - 1] == '0')
            n--;
        if (buf[n - 1] == '.')
            n--;
    }
    if (n == 2 && buf[0] == '-' && buf[1] == '0') {
        buf[0] = '0';
        n = 1;
    }
    buf[n] = '\0';
    return n;
}

/* Redis's parseScanCursorOrReply: strtoul over the argument read as a C
 * string (so up to a NUL byte), no leading space, nothing left over, no
 * overflow. */
int shale_strconv_cursor(struct slice s, unsigned long long *out)
{
    char small[64];
    const char *nul = memchr(s.ptr, '\0', s.len);
    size_t len = nul ? (size_t)(nul - s.ptr) : s.len;
    char *buf = len < sizeof(small) ? small : shale_malloc(len + 1);
    char *end;
    int ok;

    if (len)
        memcpy(buf, s.ptr, len);
    buf[len] = '\0';
    errno = 0;
    *out = strtoull(buf, &end, 10);
    ok = !isspace((unsigned char)buf[0]) && *end == '\0' && errno != ERANGE;
    if (buf != small)
        shale_free(buf);
    return ok;
}

int shale_strconv_memory_unit(const char *unit, unsigned long long *mul)
{
    static const struct {
        const char *name;
        unsigned long long mul;
    } units[] = {{"", 1},
                 {"b", 1},
                 {"k", 1000},
                 {"kb", 1024},
                 {"m", 1000 * 1000},
                 {"mb", 1024 * 1024},
                 {"g", 1000ULL * 1000 * 1000},
                 {"gb", 1024ULL * 1024 * 1024}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (!strcasecmp(unit, units[i].name)) {
            *mul = units[i].mul;
            return 0;
        }
    return -1;
}
