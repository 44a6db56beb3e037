/* hash_compact: the small-hash blob (layout in hash_compact.h). Shard
 * thread only. Every write is one memmove of the tail at most plus a
 * realloc when the blob leaves its size class. */
#include "shards/hash_compact.h"

#include <string.h>

#include "server/mem.h"
#include "server/varint.h"

#define HDR_SIZE   HASH_COMPACT_HDR_SIZE
#define OFF_USED   1
#define OFF_COUNT  5
#define OFF_ALLOC  9
#define VARINT_MAX 10

struct hash_compact {
    uint8_t bytes[1]; /* packed; see hash_compact.h */
};

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* memcpy of a slice; an empty one may have a NULL pointer. */
static void copy(uint8_t *dst, struct slice s)
{
    if (s.len)
        memcpy(dst, s.ptr, s.len);
}

static size_t used(const struct hash_compact *c)
{
    return get32(c->bytes + OFF_USED);
}

/* One decoded pair: where it starts and where its value's varint is. */
struct compact_pair {
    size_t start, value_at, end;
    struct slice field, value;
};

static void read_pair(const struct hash_compact *c, size_t pos, struct compact_pair *p)
{
    size_t len;
    p->start = pos;
    pos += varint_get(c->bytes + pos, &len);
    p->field = (struct slice){(const char *)c->bytes + pos, len};
    pos += len;
    p->value_at = pos;
    pos += varint_get(c->bytes + pos, &len);
    p->value = (struct slice){(const char *)c->bytes + pos, len};
    p->end = pos + len;
}

/* Equal bytes of a field of the blob and the one asked for, len >= 1.
 * The fields of one hash tend to share a prefix and differ at the end
 * ("f:000000012345", "user:42:name"), so the last 8 bytes are compared
 * first, in one load each, and memcmp sees only candidates. */
static int same_field(const uint8_t *a, const char *b, size_t len)
{
    if (len >= 8) {
        uint64_t x, y;
        memcpy(&x, a + len - 8, 8);
        memcpy(&y, b + len - 8, 8);
        return x == y && memcmp(a, b, len - 8) == 0;
    }
    return a[len - 1] == (uint8_t)b[len - 1] && memcmp(a, b, len - 1) == 0;
}

/* The scan every lookup and write starts with: lengths first, then a
 * cheap comparison per pair. */
static int find(const struct hash_compact *c, struct slice field, struct compact_pair *p)
{
    size_t end = used(c);
    for (size_t pos = HDR_SIZE; pos < end; pos = p->end) {
        read_pair(c, pos, p);
        if (p->field.len == field.len &&
            (field.len == 0 || same_field((const uint8_t *)p->field.ptr, field.ptr, field.len)))
            return 1;
    }
    return 0;
}

/* Grows or shrinks the allocation to hold `need` bytes. Shrinks only when
 * a quarter or more would be idle, so delete/insert churn does not
 * realloc every time. */
static struct hash_compact *fit(struct hash_compact *c, size_t need)
{
    size_t have = get32(c->bytes + OFF_ALLOC);
    if (need > have || (have - need > 16 && have - need >= have / 4)) {
        c = shale_realloc_counted(c, need);
        put32(c->bytes + OFF_ALLOC, (uint32_t)shale_malloc_usable_size(c));
    }
    return c;
}

struct hash_compact *shale_hash_compact_create(uint8_t tag)
{
    struct hash_compact *c = shale_malloc_counted(HDR_SIZE);
    c->bytes[0] = tag;
    put32(c->bytes + OFF_USED, HDR_SIZE);
    put32(c->bytes + OFF_COUNT, 0);
    put32(c->bytes + OFF_ALLOC, (uint32_t)shale_malloc_usable_size(c));
    return c;
}

void shale_hash_compact_destroy(struct hash_compact *c)
{
    shale_free_counted(c);
}

size_t shale_hash_compact_len(const struct hash_compact *c)
{
    return get32(c->bytes + OFF_COUNT);
}

size_t shale_hash_compact_bytes(const struct hash_compact *c)
{
    return used(c);
}

size_t shale_hash_compact_pair_size(size_t field_len, size_t value_len)
{
    return varint_size(field_len) + field_len + varint_size(value_len) + value_len;
}

void shale_hash_compact_prefetch(const struct hash_compact *c)
{
    size_t end = used(c);
    for (size_t line = 64; line < end; line += 64)
        __builtin_prefetch(c->bytes + line);
}

int shale_hash_compact_get(const struct hash_compact *c, struct slice field, struct slice *value)
{
    struct compact_pair p;
    if (!find(c, field, &p))
        return 0;
    *value = p.value;
    return 1;
}

struct hash_compact *shale_hash_compact_set(struct hash_compact *c, struct slice field,
                                            struct slice value, int *created)
{
    struct compact_pair p;
    size_t total = used(c);
    uint8_t hdr[VARINT_MAX];
    size_t hlen = varint_put(hdr, value.len);

    if (find(c, field, &p)) {
        /* Replace the value part [value_at, end) by the new one, in place. */
        size_t old = p.end - p.value_at, new = hlen + value.len;
        size_t tail = total - p.end;
        *created = 0;
        if (new < old) {
            memmove(c->bytes + p.value_at + new, c->bytes + p.end, tail);
            c = fit(c, total - (old - new));
        } else if (new > old) {
            c = fit(c, total + (new - old));
            memmove(c->bytes + p.value_at + new, c->bytes + p.end, tail);
        }
        memcpy(c->bytes + p.value_at, hdr, hlen);
        copy(c->bytes + p.value_at + hlen, value);
        put32(c->bytes + OFF_USED, (uint32_t)(total - old + new));
        return c;
    }
    *created = 1;
    size_t need = total + shale_hash_compact_pair_size(field.len, value.len);
    c = fit(c, need);
    uint8_t *w = c->bytes + total;
    w += varint_put(w, field.len);
    copy(w, field);
    w += field.len;
    memcpy(w, hdr, hlen);
    copy(w + hlen, value);
    put32(c->bytes + OFF_USED, (uint32_t)need);
    put32(c->bytes + OFF_COUNT, (uint32_t)shale_hash_compact_len(c) + 1);
    return c;
}

struct hash_compact *shale_hash_compact_delete(struct hash_compact *c, struct slice field,
                                               int *deleted)
{
    struct compact_pair p;
    size_t total = used(c);

    if (!find(c, field, &p)) {
        *deleted = 0;
        return c;
    }
    *deleted = 1;
    memmove(c->bytes + p.start, c->bytes + p.end, total - p.end);
    total -= p.end - p.start;
    put32(c->bytes + OFF_USED, (uint32_t)total);
    put32(c->bytes + OFF_COUNT, (uint32_t)shale_hash_compact_len(c) - 1);
    return fit(c, total);
}

int shale_hash_compact_next(const struct hash_compact *c, size_t *pos, struct slice *field,
                            struct slice *value)
{
    struct compact_pair p;
    size_t at = *pos ? *pos : HDR_SIZE;
    if (at >= used(c))
        return 0;
    read_pair(c, at, &p);
    *field = p.field;
    *value = p.value;
    *pos = p.end;
    return 1;
}
