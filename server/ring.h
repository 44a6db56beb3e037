/* ring: a bounded lock-free single-producer/single-consumer queue of
 * pointers. One ring per (I/O thread, shard) direction; the producer and the
 * consumer are fixed threads, written next to each ring where it is created.
 *
 * Capacity is chosen so a ring can never be full: a ring carries only
 * requests of one I/O thread, and that thread owns a fixed number of request
 * slots, so capacity >= slots means push never fails. */
#ifndef SHALE_RING_H
#define SHALE_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct ring {
    _Alignas(64) _Atomic size_t head; /* written by the consumer */
    size_t tail_cache;                /* consumer-private */
    _Alignas(64) _Atomic size_t tail; /* written by the producer */
    size_t head_cache;                /* producer-private */
    size_t staged;                    /* producer-private: tail incl. unpublished items */
    _Alignas(64) size_t mask;         /* read-only after create */
    void **slots;
};

struct ring *shale_ring_create(size_t min_capacity);
void shale_ring_destroy(struct ring *r);
/* Bytes shale_ring_create(min_capacity) allocates (for the memory plan). */
size_t shale_ring_bytes(size_t min_capacity);

/* Producer: writes an item the consumer cannot see until ring_publish, so a
 * batch becomes visible at once (one reply flush per pipelined batch, one
 * cache-line transfer per batch). False when full (callers size rings so
 * this cannot happen). */
static inline bool ring_stage(struct ring *r, void *item)
{
    size_t tail = r->staged;
    if (tail - r->head_cache > r->mask) {
        r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
        if (tail - r->head_cache > r->mask)
            return false;
    }
    r->slots[tail & r->mask] = item;
    r->staged = tail + 1;
    return true;
}

/* Producer: makes every staged item visible; true if there were any. */
static inline bool ring_publish(struct ring *r)
{
    if (atomic_load_explicit(&r->tail, memory_order_relaxed) == r->staged)
        return false;
    atomic_store_explicit(&r->tail, r->staged, memory_order_release);
    return true;
}

/* Producer: stage and publish one item. */
static inline bool ring_push(struct ring *r, void *item)
{
    if (!ring_stage(r, item))
        return false;
    ring_publish(r);
    return true;
}

/* Consumer: NULL when empty. */
static inline void *ring_pop(struct ring *r)
{
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    if (head == r->tail_cache) {
        r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (head == r->tail_cache)
            return NULL;
    }
    void *item = r->slots[head & r->mask];
    atomic_store_explicit(&r->head, head + 1, memory_order_release);
    return item;
}

/* Consumer: whether anything is waiting (a fresh look at the producer). */
static inline bool ring_has_items(struct ring *r)
{
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    return head != atomic_load_explicit(&r->tail, memory_order_acquire);
}

#endif
