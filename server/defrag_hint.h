/* defrag_hint: the decision "should this allocation move?" (DESIGN §6).
 *
 * Stock jemalloc has no defrag hint (Redis patches its bundled copy), so the
 * decision is rebuilt from two public interfaces: per pointer,
 * experimental.utilization.batch_query says how full its slab is; per bin,
 * the arena's stats say how full the bin's non-full slabs are on average.
 * An allocation moves when its slab is not much fuller than that average
 * (DEFRAG_HINT_MARGIN_8THS: 1.5x), taken once at the start of a pass: the
 * move goes to the fullest slabs jemalloc offers and helps empty this one.
 * Why 1.5x and a frozen average, where Redis's hint uses 1.125x and live
 * figures: defrag_hint.c.
 *
 * Threads: the main thread publishes a shard arena's bin figures after its
 * stats refresh (shale_defrag_hint_publish); the shard thread asks about its
 * own pointers (shale_defrag_hint_decide), reading the figures with relaxed
 * atomics -- never the allocator's stats, whose refresh is a global lock.
 * Never allocates. In a DEFRAG=force build the answer is always "move". */
#ifndef SHALE_DEFRAG_HINT_H
#define SHALE_DEFRAG_HINT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "server/mem.h"

#define DEFRAG_HINT_MAX_BINS 128

/* One arena's bins as the decision needs them. */
struct defrag_hint {
    int always;                                           /* read-only after init */
    _Atomic uint64_t nonfull_slabs[DEFRAG_HINT_MAX_BINS]; /* main thread writes */
    _Atomic uint64_t nonfull_used[DEFRAG_HINT_MAX_BINS];  /* regions in use in them */
};

/* Zeroes the figures; `always` is set in DEFRAG=force builds (every
 * allocation moves, whatever the allocator says). */
void shale_defrag_hint_init(struct defrag_hint *h);

/* Main thread, after shale_mem_stats_refresh: the arena's per-bin figures
 * (shale_mem_arena_bin_stats). Regions of full slabs are taken out: only
 * non-full slabs are candidates to move from or to. */
void shale_defrag_hint_publish(struct defrag_hint *h, const struct mem_bin_stats *bins,
                               unsigned nbins);
/* The figures of src into dst (a shard freezes them for a whole pass). */
void shale_defrag_hint_copy(struct defrag_hint *dst, const struct defrag_hint *src);

/* The rule on one allocation, given where it lives: 1 to move. Pure. */
int shale_defrag_hint_should_move(const struct defrag_hint *h, const struct mem_util *u);

/* Shard thread: fills move[i] (0 or 1) for n live pointers of the shard's
 * own arena, asking jemalloc once for the whole batch. */
void shale_defrag_hint_decide(const struct defrag_hint *h, void *const *ptrs, size_t n,
                              uint8_t *move);

#endif
