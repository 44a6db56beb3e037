/* hash_entry: the embedded and pointer layouts of a table-encoded hash's
 * field/value pairs (layouts, header format and the embed budget are in
 * hash_entry.h). Shard thread only. Every transition keeps the field bytes
 * where a realloc preserves them and frees exactly the blocks it replaces. */
#include "shards/hash_entry.h"

#include <stdint.h>
#include <string.h>

#include "server/mem.h"
#include "shards/cells.h"

#define LAYOUT_POINTER 0x01 /* bit 0 of the field header */
#define FIELD_RESERVED 1    /* header bits before the length class */
#define VALUE_RESERVED 0
#define PTR_SIZE       sizeof(void *)

struct hash_entry {
    uint8_t bytes[1]; /* the field header; see hash_entry.h */
};

/* ---- length headers ------------------------------------------------------ */

/* Header bytes for a length, with r reserved low bits in byte 0. */
static size_t hdr_size(size_t len, unsigned r)
{
    unsigned low = 6 - r; /* length bits left in byte 0 */
    if (len < ((size_t)1 << low))
        return 1;
    if (len < ((size_t)1 << (low + 8)))
        return 2;
    if (len < ((size_t)1 << (low + 24)))
        return 4;
    return 9;
}

/* Writes the header; the reserved bits of byte 0 are taken from `keep`. */
static size_t hdr_put(uint8_t *p, size_t len, unsigned r, uint8_t keep)
{
    size_t n = hdr_size(len, r);
    unsigned cls = n == 1 ? 0 : n == 2 ? 1 : n == 4 ? 2 : 3;
    uint8_t reserved = (uint8_t)(keep & ((1u << r) - 1));

    if (cls == 3) {
        p[0] = (uint8_t)(reserved | 3u << r);
        for (int i = 0; i < 8; i++)
            p[1 + i] = (uint8_t)((uint64_t)len >> (8 * i));
        return n;
    }
    p[0] = (uint8_t)(reserved | cls << r | (len << (r + 2)));
    len >>= 6 - r;
    for (size_t i = 1; i < n; i++, len >>= 8)
        p[i] = (uint8_t)len;
    return n;
}

static size_t hdr_get(const uint8_t *p, unsigned r, size_t *len)
{
    unsigned cls = (p[0] >> r) & 3;
    if (cls == 3) {
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
            v |= (uint64_t)p[1 + i] << (8 * i);
        *len = (size_t)v;
        return 9;
    }
    size_t n = cls == 0 ? 1 : cls == 1 ? 2 : 4;
    size_t v = (size_t)(p[0] >> (r + 2));
    for (size_t i = 1; i < n; i++)
        v |= (size_t)p[i] << (6 - r + 8 * (i - 1));
    *len = v;
    return n;
}

/* ---- layout helpers ---------------------------------------------------------- */

static int is_pointer(const struct hash_entry *e)
{
    return (e->bytes[0] & LAYOUT_POINTER) != 0;
}

/* Bytes of the field header plus the field. */
static size_t field_span(const struct hash_entry *e)
{
    size_t len;
    size_t h = hdr_get(e->bytes, FIELD_RESERVED, &len);
    return h + len;
}

static void *block_of(struct hash_entry *e)
{
    return is_pointer(e) ? (void *)(e->bytes - PTR_SIZE) : (void *)e;
}

static uint8_t *value_block(const struct hash_entry *e)
{
    uint8_t *v;
    memcpy(&v, e->bytes - PTR_SIZE, PTR_SIZE);
    return v;
}

static void set_value_block(struct hash_entry *e, uint8_t *v)
{
    memcpy(e->bytes - PTR_SIZE, &v, PTR_SIZE);
}

/* Writes a value header and bytes at p; returns bytes written. */
static size_t put_value(uint8_t *p, struct slice value)
{
    size_t h = hdr_put(p, value.len, VALUE_RESERVED, 0);
    if (value.len)
        memcpy(p + h, value.ptr, value.len);
    return h + value.len;
}

static size_t value_size(size_t len)
{
    return hdr_size(len, VALUE_RESERVED) + len;
}

/* True when a block of `usable` bytes may keep holding `need` bytes: it
 * fits, and wastes less than 1/8 (the spacing of jemalloc's size classes
 * relative to their size, and at least the 16-byte quantum), so a
 * realloc would land in the same size class anyway. */
static int fits_well(size_t need, size_t usable)
{
    size_t slack = usable / 8 > 16 ? usable / 8 : 16;
    return need <= usable && usable - need < slack;
}

/* Resizes block to need bytes, keeping its first min(need, old) bytes;
 * in place when it fits well. */
static void *resize(void *block, size_t need)
{
    if (fits_well(need, shale_malloc_usable_size(block)))
        return block;
    return shale_realloc_counted(block, need);
}

static uint8_t *new_value_block(struct slice value)
{
    uint8_t *v = shale_malloc_counted(value_size(value.len));
    put_value(v, value);
    return v;
}

/* ---- the field block: a cell when it fits one (shards/cells.h) ----------- */

/* Bytes the block the table points into needs: the whole pair when
 * embedded, [pointer | field] otherwise. Whether it is a cell follows from
 * this alone, so no bit records it. */
static size_t need_of(const struct hash_entry *e)
{
    size_t fspan = field_span(e);
    if (is_pointer(e))
        return PTR_SIZE + fspan;
    size_t len;
    size_t h = hdr_get(e->bytes + fspan, VALUE_RESERVED, &len);
    return fspan + h + len;
}

/* 17-24 bytes: below, jemalloc's 16-byte class costs less than a cell. */
static int in_cell(size_t need)
{
    return need > CELL_SIZE - 8 && need <= CELL_SIZE;
}

static uint8_t *block_alloc(size_t need)
{
    return in_cell(need) ? shale_cell_alloc() : shale_malloc_counted(need);
}

static void block_free(void *block, size_t need)
{
    if (in_cell(need))
        shale_cell_free(block);
    else
        shale_free_counted(block);
}

/* The block resized from `have` to `need` bytes, its first min(have, need)
 * bytes kept: in place within a cell or a well-fitting allocation, moved
 * when it crosses between the two. */
static uint8_t *block_resize(void *block, size_t have, size_t need)
{
    if (in_cell(have) && in_cell(need))
        return block;
    if (!in_cell(have) && !in_cell(need))
        return resize(block, need);
    uint8_t *moved = block_alloc(need);
    memcpy(moved, block, have < need ? have : need);
    block_free(block, have);
    return moved;
}

/* ---- public API ------------------------------------------------------------ */

size_t shale_hash_entry_embedded_size(size_t field_len, size_t value_len)
{
    return hdr_size(field_len, FIELD_RESERVED) + field_len + value_size(value_len);
}

struct hash_entry *shale_hash_entry_create(struct slice field, struct slice value)
{
    size_t fspan = hdr_size(field.len, FIELD_RESERVED) + field.len;
    uint8_t *block, *f;

    if (fspan + value_size(value.len) <= HASH_ENTRY_EMBED_MAX) {
        block = block_alloc(fspan + value_size(value.len));
        f = block;
        hdr_put(f, field.len, FIELD_RESERVED, 0);
        put_value(f + fspan, value);
    } else {
        block = block_alloc(PTR_SIZE + fspan);
        f = block + PTR_SIZE;
        hdr_put(f, field.len, FIELD_RESERVED, LAYOUT_POINTER);
        uint8_t *v = new_value_block(value);
        memcpy(block, &v, PTR_SIZE);
    }
    if (field.len)
        memcpy(f + fspan - field.len, field.ptr, field.len);
    return (struct hash_entry *)f;
}

void shale_hash_entry_destroy(struct hash_entry *e)
{
    if (!e)
        return;
    if (is_pointer(e))
        shale_free_counted(value_block(e));
    block_free(block_of(e), need_of(e));
}

struct slice shale_hash_entry_field(const struct hash_entry *e)
{
    size_t len;
    size_t h = hdr_get(e->bytes, FIELD_RESERVED, &len);
    return (struct slice){(const char *)e->bytes + h, len};
}

struct slice shale_hash_entry_value(const struct hash_entry *e)
{
    const uint8_t *v = is_pointer(e) ? value_block(e) : e->bytes + field_span(e);
    size_t len;
    size_t h = hdr_get(v, VALUE_RESERVED, &len);
    return (struct slice){(const char *)v + h, len};
}

int shale_hash_entry_is_embedded(const struct hash_entry *e)
{
    return !is_pointer(e);
}

struct hash_entry *shale_hash_entry_set_value(struct hash_entry *e, struct slice value)
{
    size_t fspan = field_span(e);
    size_t have = need_of(e);
    int embed = fspan + value_size(value.len) <= HASH_ENTRY_EMBED_MAX;
    uint8_t *block;

    if (!is_pointer(e) && embed) {
        /* embedded -> embedded: the field stays at offset 0. */
        block = block_resize(e, have, fspan + value_size(value.len));
        put_value(block + fspan, value);
        return (struct hash_entry *)block;
    }
    if (is_pointer(e) && !embed) {
        /* pointer -> pointer: only the value block changes. */
        uint8_t *v = resize(value_block(e), value_size(value.len));
        put_value(v, value);
        set_value_block(e, v);
        return e;
    }
    if (!is_pointer(e)) {
        /* embedded -> pointer: the block becomes [pointer | field]. The
         * field moves 8 bytes right after the resize kept it. */
        uint8_t *v = new_value_block(value);
        block = block_resize(e, have, PTR_SIZE + fspan);
        memmove(block + PTR_SIZE, block, fspan);
        memcpy(block, &v, PTR_SIZE);
        block[PTR_SIZE] |= LAYOUT_POINTER;
        return (struct hash_entry *)(block + PTR_SIZE);
    }
    /* pointer -> embedded: drop the value block, move the field to the
     * start while the old block still holds it, then resize. */
    shale_free_counted(value_block(e));
    block = block_of(e);
    memmove(block, block + PTR_SIZE, fspan);
    block[0] &= (uint8_t)~LAYOUT_POINTER;
    block = block_resize(block, have, fspan + value_size(value.len));
    put_value(block + fspan, value);
    return (struct hash_entry *)block;
}

size_t shale_hash_entry_alloc_size(const struct hash_entry *e)
{
    size_t need = need_of(e);
    size_t n =
        in_cell(need) ? CELL_SIZE : shale_malloc_usable_size(block_of((struct hash_entry *)e));
    if (is_pointer(e))
        n += shale_malloc_usable_size(value_block(e));
    return n;
}

struct hash_entry *shale_hash_entry_defrag(struct hash_entry *e, const struct defrag_movers *m)
{
    if (is_pointer(e)) {
        uint8_t *v = m->block(value_block(e), m->ctx);
        if (v)
            set_value_block(e, v);
    }
    size_t offset = is_pointer(e) ? PTR_SIZE : 0;
    void *(*move)(void *, void *) = in_cell(need_of(e)) ? m->cell : m->block;
    uint8_t *block = move(block_of(e), m->ctx);
    return block ? (struct hash_entry *)(block + offset) : e;
}
