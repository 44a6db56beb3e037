/* slice: a borrowed byte range (not NUL-terminated, binary safe). Command
 * arguments are slices into the connection's read buffer. */
#ifndef SHALE_SLICE_H
#define SHALE_SLICE_H

#include <stddef.h>
#include <string.h>
#include <strings.h>

struct slice {
    const char *ptr;
    size_t len;
};

static inline int slice_eq_nocase(struct slice s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && strncasecmp(s.ptr, lit, n) == 0;
}

static inline int slice_eq(struct slice a, struct slice b)
{
    return a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0;
}

#endif
