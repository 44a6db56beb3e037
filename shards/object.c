/* object: encoding and decoding of the one-allocation key object (layout in
 * object.h). Shard thread only. */
#include "shards/object.h"

#include <string.h>

#include "server/mem.h"
#include "server/varint.h"
#include "shards/hash.h"

#define HDR_SIZE         4
#define EXPIRE_SIZE      8
#define TYPE_MASK        0x0f
#define FLAG_HASEXPIRE   0x10
#define STRING_SLACK_MIN 64 /* below this, grow to the exact size */

struct kobj {
    uint8_t bytes[1]; /* packed; see object.h */
};

static int has_expire(const struct kobj *o)
{
    return (o->bytes[0] & FLAG_HASEXPIRE) != 0;
}

/* Offset of the key's length varint. */
static size_t key_offset(const struct kobj *o)
{
    return HDR_SIZE + (has_expire(o) ? EXPIRE_SIZE : 0);
}

/* Offset of the value part (string length varint, or pointer). */
static size_t value_offset(const struct kobj *o)
{
    size_t off = key_offset(o), klen;
    off += varint_get(o->bytes + off, &klen);
    return off + klen;
}

/* Allocates an object of `type` with room for value_size bytes after the
 * key, writes header, expire and key, and returns where the value goes. */
static struct kobj *new_object(unsigned type, struct slice key, int64_t expire_ms,
                               size_t value_size, uint8_t **value)
{
    size_t size =
        HDR_SIZE + (expire_ms >= 0 ? EXPIRE_SIZE : 0) + varint_size(key.len) + key.len + value_size;
    struct kobj *o = shale_malloc_counted(size);
    uint8_t *p = o->bytes;
    p[0] = (uint8_t)(type & TYPE_MASK);
    p[1] = p[2] = p[3] = 0;
    p += HDR_SIZE;
    if (expire_ms >= 0) {
        o->bytes[0] |= FLAG_HASEXPIRE;
        memcpy(p, &expire_ms, EXPIRE_SIZE);
        p += EXPIRE_SIZE;
    }
    p += varint_put(p, key.len);
    memcpy(p, key.ptr, key.len);
    *value = p + key.len;
    return o;
}

struct kobj *shale_kobj_new_string(struct slice key, struct slice value, int64_t expire_ms)
{
    uint8_t *p;
    struct kobj *o =
        new_object(KOBJ_STRING, key, expire_ms, varint_size(value.len) + value.len, &p);
    p += varint_put(p, value.len);
    memcpy(p, value.ptr, value.len);
    return o;
}

struct kobj *shale_kobj_new_ptr(struct slice key, unsigned type, void *value, int64_t expire_ms)
{
    uint8_t *p;
    struct kobj *o = new_object(type, key, expire_ms, sizeof(value), &p);
    memcpy(p, &value, sizeof(value));
    return o;
}

void *shale_kobj_ptr(const struct kobj *o)
{
    void *value;
    memcpy(&value, o->bytes + value_offset(o), sizeof(value));
    return value;
}

void shale_kobj_set_ptr(struct kobj *o, void *value)
{
    memcpy(o->bytes + value_offset(o), &value, sizeof(value));
}

/* Frees the value of a pointer type. */
static void free_value(struct kobj *o)
{
    switch (shale_kobj_type(o)) {
    case KOBJ_STRING:
        break;
    case KOBJ_HASH:
        shale_hash_destroy(shale_kobj_ptr(o));
        break;
    }
}

void shale_kobj_free(struct kobj *o)
{
    free_value(o);
    shale_free_counted(o);
}

unsigned shale_kobj_type(const struct kobj *o)
{
    return o->bytes[0] & TYPE_MASK;
}

const char *shale_kobj_type_name(const struct kobj *o)
{
    switch (shale_kobj_type(o)) {
    case KOBJ_STRING:
        return "string";
    case KOBJ_HASH:
        return "hash";
    }
    return "none";
}

struct slice shale_kobj_key(const struct kobj *o)
{
    size_t off = key_offset(o), klen;
    off += varint_get(o->bytes + off, &klen);
    return (struct slice){(const char *)o->bytes + off, klen};
}

int64_t shale_kobj_expire(const struct kobj *o)
{
    if (!has_expire(o))
        return KOBJ_NO_EXPIRE;
    int64_t ms;
    memcpy(&ms, o->bytes + HDR_SIZE, EXPIRE_SIZE);
    return ms;
}

/* Total bytes of the object as laid out (not the allocator's size). */
static size_t used_size(const struct kobj *o)
{
    size_t off = value_offset(o);
    if (shale_kobj_type(o) != KOBJ_STRING)
        return off + sizeof(void *);
    size_t vlen;
    off += varint_get(o->bytes + off, &vlen);
    return off + vlen;
}

struct kobj *shale_kobj_set_expire(struct kobj *o, int64_t ms)
{
    int want = ms >= 0;
    if (want && has_expire(o)) {
        memcpy(o->bytes + HDR_SIZE, &ms, EXPIRE_SIZE);
        return o;
    }
    if (!want && !has_expire(o))
        return o;
    size_t used = used_size(o);
    size_t tail = used - HDR_SIZE - (want ? 0 : EXPIRE_SIZE);
    if (want) {
        o = shale_realloc_counted(o, used + EXPIRE_SIZE);
        memmove(o->bytes + HDR_SIZE + EXPIRE_SIZE, o->bytes + HDR_SIZE, tail);
        memcpy(o->bytes + HDR_SIZE, &ms, EXPIRE_SIZE);
        o->bytes[0] |= FLAG_HASEXPIRE;
    } else {
        memmove(o->bytes + HDR_SIZE, o->bytes + HDR_SIZE + EXPIRE_SIZE, tail);
        o->bytes[0] &= (uint8_t)~FLAG_HASEXPIRE;
        o = shale_realloc_counted(o, used - EXPIRE_SIZE);
    }
    return o;
}

uint32_t shale_kobj_lru(const struct kobj *o)
{
    return (uint32_t)o->bytes[1] | (uint32_t)o->bytes[2] << 8 | (uint32_t)o->bytes[3] << 16;
}

void shale_kobj_set_lru(struct kobj *o, uint32_t clock24)
{
    o->bytes[1] = (uint8_t)clock24;
    o->bytes[2] = (uint8_t)(clock24 >> 8);
    o->bytes[3] = (uint8_t)(clock24 >> 16);
}

struct slice shale_kobj_string(const struct kobj *o)
{
    size_t off = value_offset(o), vlen;
    off += varint_get(o->bytes + off, &vlen);
    return (struct slice){(const char *)o->bytes + off, vlen};
}

char *shale_kobj_string_bytes(struct kobj *o)
{
    size_t off = value_offset(o), vlen;
    off += varint_get(o->bytes + off, &vlen);
    return (char *)o->bytes + off;
}

struct kobj *shale_kobj_string_resize(struct kobj *o, size_t len)
{
    size_t voff = value_offset(o), old_len;
    size_t old_hdr = varint_get(o->bytes + voff, &old_len);
    size_t new_hdr = varint_size(len);
    size_t need = voff + new_hdr + len;
    size_t have = shale_malloc_usable_size(o);
    /* Shrinking: move the kept bytes to the new header size while they are
     * still inside the block, before a shrinking realloc cuts it. */
    if (len < old_len && new_hdr != old_hdr) {
        memmove(o->bytes + voff + new_hdr, o->bytes + voff + old_hdr, len);
        old_hdr = new_hdr;
    }
    if (need > have || (len < old_len && need + STRING_SLACK_MIN < have / 2)) {
        /* Growing strings get slack (up to 1 MB) so APPEND loops stay linear. */
        size_t alloc = need;
        if (len > old_len && len >= STRING_SLACK_MIN)
            alloc += len < (1 << 20) ? len : (1 << 20);
        struct kobj *moved = shale_realloc_counted(o, alloc);
        o = moved;
    }
    uint8_t *value = o->bytes + voff;
    size_t keep = old_len < len ? old_len : len;
    if (new_hdr != old_hdr)
        memmove(value + new_hdr, value + old_hdr, keep);
    varint_put(value, len);
    if (len > old_len)
        memset(value + new_hdr + old_len, 0, len - old_len);
    return o;
}

size_t shale_kobj_alloc_size(const struct kobj *o)
{
    return shale_malloc_usable_size((void *)o);
}
