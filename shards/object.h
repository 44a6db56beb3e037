/* object: the key object, one allocation per key.
 *
 * Layout (packed bytes, no padding; multi-byte fields read with memcpy):
 *   byte 0      type (bits 0-3) | has_expire (bit 4) | spare (bits 5-7)
 *   bytes 1-3   24-bit LRU clock / LFU counter (Redis's width)
 *   [8 bytes]   absolute expire time in unix ms, only when has_expire
 *   varint      key length (LEB128: 1 byte up to 127)
 *   key bytes
 *   string:     varint value length, then the value bytes, embedded
 *   other types: an 8-byte pointer to the value
 *
 * A 10-byte key with a 16-byte value is 4 + 1 + 10 + 1 + 16 = 32 bytes: one
 * jemalloc 32-byte region, against Redis's robj + sds key + sds value + dict
 * entry. Strings are always embedded: a value that grows is a realloc of the
 * one block, and the keyspace swaps the pointer in its table slot.
 *
 * Owned by one shard thread; never shared. */
#ifndef SHALE_OBJECT_H
#define SHALE_OBJECT_H

#include <stddef.h>
#include <stdint.h>

#include "server/slice.h"

enum kobj_type {
    KOBJ_STRING = 0,
    KOBJ_HASH = 1,
};

#define KOBJ_NO_EXPIRE (-1)

struct kobj; /* opaque bytes */

struct kobj *shale_kobj_new_string(struct slice key, struct slice value, int64_t expire_ms);
/* A key whose value lives in its own structure (a hash ...): the object
 * holds the pointer; shale_kobj_free frees the value too. */
struct kobj *shale_kobj_new_ptr(struct slice key, unsigned type, void *value, int64_t expire_ms);
void shale_kobj_free(struct kobj *o);

unsigned shale_kobj_type(const struct kobj *o);
const char *shale_kobj_type_name(const struct kobj *o);
struct slice shale_kobj_key(const struct kobj *o);
int64_t shale_kobj_expire(const struct kobj *o); /* KOBJ_NO_EXPIRE when none */
/* Sets (ms >= 0) or removes (KOBJ_NO_EXPIRE) the expire; may move the object. */
struct kobj *shale_kobj_set_expire(struct kobj *o, int64_t ms);

uint32_t shale_kobj_lru(const struct kobj *o);
void shale_kobj_set_lru(struct kobj *o, uint32_t clock24);

/* String values. */
struct slice shale_kobj_string(const struct kobj *o);
/* Writable value bytes (valid until the object moves). */
char *shale_kobj_string_bytes(struct kobj *o);
/* Sets the value length to len, keeping the first min(old, len) bytes (new
 * bytes are zeroed); grows with slack for append patterns; may move. */
struct kobj *shale_kobj_string_resize(struct kobj *o, size_t len);

/* Pointer values (every type but strings). */
void *shale_kobj_ptr(const struct kobj *o);
/* Replaces the pointer (the value moved: defrag, re-encoding); no free. */
void shale_kobj_set_ptr(struct kobj *o, void *value);

/* Bytes this object holds in the allocator (for MEMORY USAGE / accounting). */
size_t shale_kobj_alloc_size(const struct kobj *o);

#endif
