/* varint: LEB128 lengths (7 bits a byte, 1 byte up to 127), as stored in
 * key objects and compact hashes. Header-only, pure, any thread. */
#ifndef SHALE_VARINT_H
#define SHALE_VARINT_H

#include <stddef.h>
#include <stdint.h>

static inline size_t varint_size(size_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static inline size_t varint_put(uint8_t *p, size_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static inline size_t varint_get(const uint8_t *p, size_t *v)
{
    if (p[0] < 0x80) { /* the common case: a length under 128 */
        *v = p[0];
        return 1;
    }
    size_t value = 0, n = 0;
    unsigned shift = 0;
    for (;;) {
        uint8_t b = p[n++];
        value |= (size_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            break;
        shift += 7;
    }
    *v = value;
    return n;
}

#endif
