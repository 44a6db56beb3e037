/* ring: allocation of the SPSC rings (the hot path is inline in ring.h). */
#include "server/ring.h"

#include "server/mem.h"

static size_t capacity_for(size_t min_capacity)
{
    size_t capacity = 16;
    while (capacity < min_capacity)
        capacity <<= 1;
    return capacity;
}

size_t shale_ring_bytes(size_t min_capacity)
{
    return sizeof(struct ring) + capacity_for(min_capacity) * sizeof(void *);
}

struct ring *shale_ring_create(size_t min_capacity)
{
    size_t capacity = capacity_for(min_capacity);
    struct ring *r = shale_calloc_aligned(_Alignof(struct ring), sizeof(*r));
    r->mask = capacity - 1;
    r->slots = shale_calloc(capacity, sizeof(void *));
    return r;
}

void shale_ring_destroy(struct ring *r)
{
    if (!r)
        return;
    shale_free(r->slots);
    shale_free(r);
}
