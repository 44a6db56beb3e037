/* iobuf: the read buffer pool (see iobuf.h). I/O thread only. */
#include "net/iobuf.h"

#include "server/mem.h"

#define SLOT_SIZE (sizeof(struct iobuf) + IOBUF_SIZE)

void shale_iobuf_pool_init(struct iobuf_pool *pool, size_t count)
{
    pool->slab = shale_malloc(count * SLOT_SIZE);
    pool->free = NULL;
    pool->count = count;
    pool->available = count;
    pool->heap_bytes = 0;
    for (size_t i = count; i-- > 0;) {
        struct iobuf *b = (struct iobuf *)((char *)pool->slab + i * SLOT_SIZE);
        b->pooled = 1;
        b->cap = IOBUF_SIZE;
        b->next_free = pool->free;
        pool->free = b;
    }
}

void shale_iobuf_pool_deinit(struct iobuf_pool *pool)
{
    shale_free(pool->slab);
    pool->slab = NULL;
    pool->free = NULL;
}

struct iobuf *shale_iobuf_get(struct iobuf_pool *pool, size_t min_cap)
{
    struct iobuf *b;
    if (min_cap <= IOBUF_SIZE && pool->free) {
        b = pool->free;
        pool->free = b->next_free;
        pool->available--;
    } else {
        size_t cap = min_cap < IOBUF_SIZE ? IOBUF_SIZE : min_cap;
        b = shale_malloc(sizeof(*b) + cap);
        b->pooled = 0;
        b->cap = cap;
        pool->heap_bytes += cap;
    }
    b->refs = 1;
    b->len = 0;
    b->next_free = NULL;
    return b;
}

void shale_iobuf_put(struct iobuf_pool *pool, struct iobuf *b)
{
    if (--b->refs > 0)
        return;
    if (b->pooled) {
        b->next_free = pool->free;
        pool->free = b;
        pool->available++;
    } else {
        pool->heap_bytes -= b->cap;
        shale_free(b);
    }
}
