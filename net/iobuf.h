/* iobuf: read buffers of one I/O thread. A fixed pool of 16 KB buffers is
 * allocated at start-up; a connection borrows one when it has bytes to read
 * and returns it once everything in it is parsed and every request pointing
 * into it is answered, so idle connections hold no buffer. A command larger
 * than a pooled buffer gets a buffer of its own size (bounded by
 * client-query-buffer-limit). I/O thread only. */
#ifndef SHALE_IOBUF_H
#define SHALE_IOBUF_H

#include <stddef.h>
#include <stdint.h>

#define IOBUF_SIZE (16 * 1024)

struct iobuf {
    uint32_t refs;   /* requests whose argv point into data, + 1 while a conn reads into it */
    uint32_t pooled; /* part of the start-up pool */
    size_t len;      /* bytes filled */
    size_t cap;
    struct iobuf *next_free;
    char data[];
};

struct iobuf_pool {
    struct iobuf *free;
    void *slab;        /* the start-up allocation */
    size_t count;      /* pooled buffers */
    size_t available;  /* pooled buffers on the free list */
    size_t heap_bytes; /* bytes in buffers outside the pool */
};

void shale_iobuf_pool_init(struct iobuf_pool *pool, size_t count);
void shale_iobuf_pool_deinit(struct iobuf_pool *pool);
/* A buffer with at least `min_cap` bytes of capacity, refs = 1. */
struct iobuf *shale_iobuf_get(struct iobuf_pool *pool, size_t min_cap);
/* Drops one reference; the buffer goes back when none are left. */
void shale_iobuf_put(struct iobuf_pool *pool, struct iobuf *b);

#endif
