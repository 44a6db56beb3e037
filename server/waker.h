/* waker: how one thread wakes another that sleeps in its event loop.
 *
 * A consumer announces it is about to sleep (sleeping = 1), looks at its
 * queues once more, and only then blocks on its event loop, where the
 * waker's eventfd is registered. A producer publishes to a queue first, then
 * checks the flag; only the producer that flips it back to 0 writes the
 * eventfd. The seq_cst fences on both sides make sure at least one of them
 * sees the other's write, so no wake-up is lost and a busy consumer costs
 * producers no system call. */
#ifndef SHALE_WAKER_H
#define SHALE_WAKER_H

#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

struct waker {
    _Alignas(64) _Atomic int sleeping; /* set by the owner, cleared by anyone */
    int efd;                           /* eventfd, read by the owner's loop */
};

void shale_waker_init(struct waker *w);
void shale_waker_deinit(struct waker *w);
/* Owner: read and discard pending wake-ups (from the eventfd callback). */
void shale_waker_drain(struct waker *w);

/* Producer, after publishing work. */
static inline void waker_notify(struct waker *w)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&w->sleeping, memory_order_relaxed) &&
        atomic_exchange_explicit(&w->sleeping, 0, memory_order_acq_rel)) {
        uint64_t one = 1;
        ssize_t n = write(w->efd, &one, sizeof(one));
        (void)n; /* EAGAIN means a wake-up is already pending */
    }
}

/* Owner, before its final look at the queues. */
static inline void waker_prepare_sleep(struct waker *w)
{
    atomic_store_explicit(&w->sleeping, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
}

/* Owner, when it found work after all or has woken up. */
static inline void waker_awake(struct waker *w)
{
    atomic_store_explicit(&w->sleeping, 0, memory_order_relaxed);
}

#endif
