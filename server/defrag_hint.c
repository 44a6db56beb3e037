/* defrag_hint: see defrag_hint.h. The main thread writes a shard's figures,
 * that shard reads them; both with relaxed atomics (a figure a tick old only
 * makes one decision slightly less sharp). */
#include "server/defrag_hint.h"

#include <string.h>

void shale_defrag_hint_init(struct defrag_hint *h)
{
    memset(h, 0, sizeof(*h));
#ifdef SHALE_DEFRAG_FORCE
    h->always = 1;
#endif
}

void shale_defrag_hint_publish(struct defrag_hint *h, const struct mem_bin_stats *bins,
                               unsigned nbins)
{
    if (nbins > DEFRAG_HINT_MAX_BINS)
        nbins = DEFRAG_HINT_MAX_BINS;
    for (unsigned j = 0; j < nbins; j++) {
        const struct mem_bin_stats *b = &bins[j];
        uint64_t full = b->curslabs > b->nonfull_slabs ? b->curslabs - b->nonfull_slabs : 0;
        uint64_t in_full = full * b->nregs;
        uint64_t used = b->curregs > in_full ? b->curregs - in_full : 0;
        atomic_store_explicit(&h->nonfull_slabs[j], b->nonfull_slabs, memory_order_relaxed);
        atomic_store_explicit(&h->nonfull_used[j], used, memory_order_relaxed);
    }
}

int shale_defrag_hint_should_move(const struct defrag_hint *h, const struct mem_util *u)
{
    if (h->always)
        return 1;
    /* Large allocations and full slabs stay: nothing to gain. */
    if (u->bin < 0 || u->bin >= DEFRAG_HINT_MAX_BINS || u->nfree == 0 || u->nregs == 0)
        return 0;
    uint64_t slabs = atomic_load_explicit(&h->nonfull_slabs[u->bin], memory_order_relaxed);
    uint64_t used = atomic_load_explicit(&h->nonfull_used[u->bin], memory_order_relaxed);
    /* With one non-full slab the new region would come from that same slab. */
    if (slabs < 2)
        return 0;
    /* This slab's use against the average of the non-full ones, without a
     * division: use x slabs <= total used (+1/8 so equals still move). */
    uint64_t in_use = (uint64_t)(u->nregs - u->nfree);
    return in_use * slabs <= used + used / 8;
}

void shale_defrag_hint_decide(const struct defrag_hint *h, void *const *ptrs, size_t n,
                              uint8_t *move)
{
    if (h->always) {
        memset(move, 1, n);
        return;
    }
    struct mem_util util[64];
    for (size_t done = 0; done < n;) {
        size_t k = n - done < 64 ? n - done : 64;
        if (shale_mem_utilization(ptrs + done, k, util) < 0) {
            memset(move + done, 0, n - done);
            return;
        }
        for (size_t i = 0; i < k; i++)
            move[done + i] = (uint8_t)shale_defrag_hint_should_move(h, &util[i]);
        done += k;
    }
}
