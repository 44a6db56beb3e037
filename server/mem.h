/* mem: the allocator gateway. The only module that calls malloc/jemalloc.
 *
 * Every allocation in shale goes through these functions, so accounting and
 * the allocator choice (jemalloc by default, libc with `make MALLOC=libc`)
 * live in one place. Any thread may call them. */
#ifndef SHALE_MEM_H
#define SHALE_MEM_H

#include <stddef.h>
#include <stdint.h>

void *shale_malloc(size_t size);
void *shale_calloc(size_t count, size_t size);
void *shale_realloc(void *ptr, size_t size);
void shale_free(void *ptr);
size_t shale_malloc_usable_size(void *ptr);
/* Zeroed memory aligned to `align` (a power of two), for structs with
 * cache-line-aligned members; freed with shale_free. */
void *shale_calloc_aligned(size_t align, size_t size);
char *shale_strdup(const char *s);
char *shale_strndup(const char *s, size_t len);

/* Counted allocations: the same as the functions above, and they also keep a
 * count, per thread, of the usable bytes held by counted blocks allocated on
 * that thread (less those freed on it). The keyspace (key objects, tables,
 * hash encodings) allocates through these, and a shard only ever frees its
 * own keys, so a shard thread's count is exactly the bytes its keyspace holds,
 * up to date after every allocation: what eviction compares with the shard's
 * limit (shards/evict.h). A counted block must be freed (or reallocated) with
 * the counted functions, on the thread that allocated it; a defrag move that
 * keeps the size class may use the uncounted ones for both halves. */
void *shale_malloc_counted(size_t size);
void *shale_calloc_counted(size_t count, size_t size);
void *shale_realloc_counted(void *ptr, size_t size);
void shale_free_counted(void *ptr);
/* Counted, aligned to `align` (a power of two), not zeroed; freed with
 * shale_free_counted. */
void *shale_malloc_aligned_counted(size_t align, size_t size);
/* This thread's count (see above); any thread, for its own count. */
long long shale_mem_counted_bytes(void);

/* Name of the allocator this binary was built with ("jemalloc-5.3.0", "libc"). */
const char *shale_mem_allocator_name(void);

/* Routes libevent's and OpenSSL's allocations through the gateway. Call
 * first in main: before any event_base exists and any OpenSSL call. */
void shale_mem_setup(void);

/* Bytes the process has allocated through the gateway, as of the last
 * shale_mem_stats_refresh (jemalloc) or now (libc, mallinfo2). */
size_t shale_mem_allocated(void);

/* Per-shard arenas (DESIGN §3, §10). A shard creates its arena on the main
 * thread and its thread binds itself to it with thread.arena, which is strict
 * (MALLOCX_ARENA through the default tcache is not). Under MALLOC=libc both
 * are no-ops: the arena is 0 and nothing is measured per arena. */
unsigned shale_mem_arena_create(void);
/* Binds the calling thread to arena; 0 on success (always, under libc). */
int shale_mem_arena_bind(unsigned arena);
/* True when per-arena stats exist (jemalloc), false under libc. */
int shale_mem_has_arena_stats(void);

/* Allocator figures in bytes. allocated: live allocations; active: pages
 * holding them; resident: pages the allocator has touched and not returned. */
struct mem_stats {
    size_t allocated;
    size_t active;
    size_t resident;
};

/* Refreshes jemalloc's stats snapshot (`epoch`). It takes a global lock and
 * walks every arena: call it from ONE thread (the main cron, every 100 ms),
 * never per shard or per request. No-op under libc. */
void shale_mem_stats_refresh(void);
/* One arena's figures as of the last refresh, read by precomputed MIBs;
 * -1 (and zeros) under libc. */
int shale_mem_arena_stats(unsigned arena, struct mem_stats *out);
/* The whole process's figures as of the last refresh (jemalloc stats.*), or
 * what mallinfo2 reports now under libc (allocated = in use, active =
 * resident = arena + mmapped bytes), or under ASan/TSan what the sanitizer's
 * allocator reports (allocated; active = resident = its heap size). */
void shale_mem_total_stats(struct mem_stats *out);
/* Resident set size of the process, from /proc/self/statm. */
size_t shale_mem_rss(void);

/* ---- what active defragmentation needs from the allocator (DESIGN §6) ----
 * The mechanism only: which allocations to move is decided elsewhere
 * (server/defrag_hint.h); the walk lives in shards/defrag.c. */

/* True when this build can defragment: jemalloc with
 * experimental.utilization.batch_query, or a DEFRAG=force build (any
 * allocator: every allocation is moved, fragmentation is simulated). */
int shale_mem_defrag_supported(void);
/* "jemalloc", "force" or "unsupported", for INFO and the logs. */
const char *shale_mem_defrag_mode(void);

/* Where an allocation lives: free and total regions of its slab, and the
 * index of its small bin (-1 for a large allocation, which never moves). */
struct mem_util {
    uint32_t nfree;
    uint32_t nregs;
    int bin;
};
/* jemalloc's experimental.utilization.batch_query for n live pointers
 * (~10-20 ns each, takes no lock). Returns -1 where it does not exist. */
int shale_mem_utilization(void *const *ptrs, size_t n, struct mem_util *out);

/* One small bin of an arena as of the last shale_mem_stats_refresh. */
struct mem_bin_stats {
    uint64_t curregs;       /* regions in use */
    uint64_t curslabs;      /* slabs holding them */
    uint64_t nonfull_slabs; /* of those, slabs with a free region */
    uint32_t nregs;         /* regions per slab */
};
/* Fills out[0..n) for the arena's small bins (sizes looked up from
 * arenas.bin.<j>.size, never assumed) and returns n (<= max); 0 under libc.
 * Reads the snapshot the main thread's refresh took: call it from there. */
unsigned shale_mem_arena_bin_stats(unsigned arena, struct mem_bin_stats *out, unsigned max);

/* Moves an allocation: a new block of the same size class in `arena`,
 * without the thread cache (so it comes from the arena's fullest slabs, not
 * a cached region), the bytes copied, the old block freed without the thread
 * cache (so its slab can empty). Returns the new address; the old one is
 * gone. Under libc: malloc + memcpy + free. The caller fixes every pointer. */
void *shale_mem_defrag_move(void *ptr, unsigned arena);
/* Returns the arena's unused dirty pages to the OS (arena.<i>.purge), so RSS
 * drops after a defrag cycle. May take milliseconds: not on a shard. */
void shale_mem_arena_purge(unsigned arena);
/* defer: the arena keeps the pages its frees empty (arena.<i>.dirty_decay_ms
 * -1) instead of returning them a few at a time as they decay: each such
 * madvise makes the kernel flush the TLB of every CPU running one of our
 * threads, and a defrag cycle's thousands of emptied slabs turned that into
 * a stream of small stalls for clients. !defer: back to opt.dirty_decay_ms.
 * Setting it does not purge what is already dirty (jemalloc 5.3, measured):
 * shale_mem_arena_purge does, in one pass. No-op under libc. */
void shale_mem_arena_defer_purge(unsigned arena, int defer);

#endif
