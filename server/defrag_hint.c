/* defrag_hint: see defrag_hint.h. The main thread writes a shard's figures,
 * that shard reads them; both with relaxed atomics.
 *
 * The margin and the frozen average, measured with
 * scripts/bench_defrag_hint.c (jemalloc 5.3: 500,000 blocks of 116-416
 * bytes, 75% freed at random, the rest visited in random order as the
 * keyspace walk visits them; the arena's frag ratio before each pass):
 *   margin 9/8 (Redis's), figures live       3.97 -> 1.69 -> 1.13 -> 1.03
 *   margin 9/8, frozen for the pass          3.97 -> 1.58 -> 1.04 -> 1.01
 *   margin 12/8, live                        3.97 -> 1.28 -> 1.03 -> 1.02
 *   margin 12/8, frozen                      3.97 -> 1.05 -> 1.00
 *   margin 16/8, frozen                      3.97 -> 1.01 -> 1.01
 * and with 40% freed (1.66), one frozen pass: 1.03 at 9/8, 1.00 at 12/8.
 * Redis's 9/8 with live figures suits a walk that drains slab after slab; a
 * walk in hash order leaves many slabs half drained at any moment, which
 * drags a live average down until average slabs stop qualifying. Frozen
 * figures keep the bar where the pass began, and 12/8 lets the pass take
 * slabs a little above average too, so one pass does what took three. That
 * matters because Redis's thresholds start a new pass only while the
 * fragmentation is above active-defrag-ignore-bytes: the last pass must
 * finish the job. 16/8 buys little more and moves blocks out of fuller
 * slabs (107k vs 103k of 125k blocks moved in the first pass; 74k at 9/8). */
#include "server/defrag_hint.h"

#include <string.h>

#ifndef DEFRAG_HINT_MARGIN_8THS
#define DEFRAG_HINT_MARGIN_8THS 12 /* a slab may be 12/8 of the average */
#endif

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

void shale_defrag_hint_copy(struct defrag_hint *dst, const struct defrag_hint *src)
{
    dst->always = src->always;
    for (unsigned j = 0; j < DEFRAG_HINT_MAX_BINS; j++) {
        atomic_store_explicit(&dst->nonfull_slabs[j],
                              atomic_load_explicit(&src->nonfull_slabs[j], memory_order_relaxed),
                              memory_order_relaxed);
        atomic_store_explicit(&dst->nonfull_used[j],
                              atomic_load_explicit(&src->nonfull_used[j], memory_order_relaxed),
                              memory_order_relaxed);
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
     * division: use x slabs <= total used x margin. */
    uint64_t in_use = (uint64_t)(u->nregs - u->nfree);
    return in_use * slabs * 8 <= used * DEFRAG_HINT_MARGIN_8THS;
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
