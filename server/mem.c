/* mem: the allocator gateway (see mem.h). Out-of-memory is fatal: a cache
 * server that cannot allocate its own bookkeeping cannot answer honestly. */
#include "server/mem.h"

#include <event2/event.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef SHALE_USE_JEMALLOC
#include <jemalloc/jemalloc.h>
#define ALLOCATOR_NAME "jemalloc-" JEMALLOC_VERSION
#else
#include <malloc.h>
#define ALLOCATOR_NAME "libc"
/* Under ASan/TSan the sanitizer's allocator replaces glibc's and mallinfo2
 * reads zeros: ask the sanitizer instead. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SHALE_SANITIZER_ALLOCATOR 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SHALE_SANITIZER_ALLOCATOR 1
#endif
#endif
#ifdef SHALE_SANITIZER_ALLOCATOR
/* From <sanitizer/allocator_interface.h>, which gcc does not install. */
size_t __sanitizer_get_current_allocated_bytes(void);
size_t __sanitizer_get_heap_size(void);
#endif
#endif

static void out_of_memory(size_t size)
{
    fprintf(stderr, "shale: out of memory allocating %zu bytes\n", size);
    abort();
}

void *shale_malloc(size_t size)
{
    void *ptr = malloc(size ? size : 1);
    if (!ptr)
        out_of_memory(size);
    return ptr;
}

void *shale_calloc(size_t count, size_t size)
{
    void *ptr = calloc(count ? count : 1, size ? size : 1);
    if (!ptr)
        out_of_memory(count * size);
    return ptr;
}

static void *malloc_aligned(size_t align, size_t size)
{
    void *ptr = NULL;
    if (posix_memalign(&ptr, align, size ? size : 1) != 0)
        out_of_memory(size);
    return ptr;
}

void *shale_calloc_aligned(size_t align, size_t size)
{
    void *ptr = malloc_aligned(align, size);
    memset(ptr, 0, size);
    return ptr;
}

void *shale_realloc(void *ptr, size_t size)
{
    void *moved = realloc(ptr, size ? size : 1);
    if (!moved)
        out_of_memory(size);
    return moved;
}

void shale_free(void *ptr)
{
    free(ptr);
}

size_t shale_malloc_usable_size(void *ptr)
{
    return ptr ? malloc_usable_size(ptr) : 0;
}

/* The counted allocations' tally (mem.h). Thread-local rather than passed
 * in: the keyspace's allocation sites sit in a dozen functions (objects,
 * tables, hash encodings) that take no context, and the count belongs to
 * the thread that owns those blocks anyway. */
static _Thread_local long long counted_bytes;

void *shale_malloc_counted(size_t size)
{
    void *ptr = shale_malloc(size);
    counted_bytes += (long long)malloc_usable_size(ptr);
    return ptr;
}

void *shale_calloc_counted(size_t count, size_t size)
{
    void *ptr = shale_calloc(count, size);
    counted_bytes += (long long)malloc_usable_size(ptr);
    return ptr;
}

void *shale_realloc_counted(void *ptr, size_t size)
{
    long long before = ptr ? (long long)malloc_usable_size(ptr) : 0;
    void *moved = shale_realloc(ptr, size);
    counted_bytes += (long long)malloc_usable_size(moved) - before;
    return moved;
}

void shale_free_counted(void *ptr)
{
    if (!ptr)
        return;
    counted_bytes -= (long long)malloc_usable_size(ptr);
    free(ptr);
}

void *shale_malloc_aligned_counted(size_t align, size_t size)
{
    void *ptr = malloc_aligned(align, size);
    counted_bytes += (long long)malloc_usable_size(ptr);
    return ptr;
}

long long shale_mem_counted_bytes(void)
{
    return counted_bytes;
}

char *shale_strndup(const char *s, size_t len)
{
    char *copy = shale_malloc(len + 1);
    memcpy(copy, s, len);
    copy[len] = '\0';
    return copy;
}

char *shale_strdup(const char *s)
{
    return shale_strndup(s, strlen(s));
}

const char *shale_mem_allocator_name(void)
{
    return ALLOCATOR_NAME;
}

/* OpenSSL's allocator hooks carry the caller's file and line. */
static void *openssl_malloc(size_t size, const char *file, int line)
{
    return shale_malloc(size);
}

static void *openssl_realloc(void *ptr, size_t size, const char *file, int line)
{
    return shale_realloc(ptr, size);
}

static void openssl_free(void *ptr, const char *file, int line)
{
    shale_free(ptr);
}

void shale_mem_setup(void)
{
    event_set_mem_functions(shale_malloc, shale_realloc, shale_free);
    /* Refused once OpenSSL has allocated anything: this runs first in main. */
    if (!CRYPTO_set_mem_functions(openssl_malloc, openssl_realloc, openssl_free)) {
        fprintf(stderr, "shale: CRYPTO_set_mem_functions refused: OpenSSL already allocated\n");
        abort();
    }
}

#ifdef SHALE_USE_JEMALLOC
/* MIBs for the stats read every tick, looked up once: a read by MIB costs
 * ~0.08 us, by name ~0.5 us (DESIGN §10). Written once under pthread_once,
 * read-only afterwards. The arena index is element 2 of the per-arena ones. */
#define MIB_LEN 8
struct mem_mibs {
    size_t epoch[MIB_LEN], epoch_len;
    size_t allocated[MIB_LEN], allocated_len;
    size_t active[MIB_LEN], active_len;
    size_t resident[MIB_LEN], resident_len;
    size_t small[MIB_LEN], small_len;
    size_t large[MIB_LEN], large_len;
    size_t pactive[MIB_LEN], pactive_len;
    size_t aresident[MIB_LEN], aresident_len;
    size_t page;
};
static struct mem_mibs mibs;
static pthread_once_t mibs_once = PTHREAD_ONCE_INIT;

static void mib(const char *name, size_t *out, size_t *len)
{
    *len = MIB_LEN;
    if (mallctlnametomib(name, out, len) != 0) {
        fprintf(stderr, "shale: jemalloc has no %s\n", name);
        abort();
    }
}

static void mibs_init(void)
{
    mib("epoch", mibs.epoch, &mibs.epoch_len);
    mib("stats.allocated", mibs.allocated, &mibs.allocated_len);
    mib("stats.active", mibs.active, &mibs.active_len);
    mib("stats.resident", mibs.resident, &mibs.resident_len);
    mib("stats.arenas.0.small.allocated", mibs.small, &mibs.small_len);
    mib("stats.arenas.0.large.allocated", mibs.large, &mibs.large_len);
    mib("stats.arenas.0.pactive", mibs.pactive, &mibs.pactive_len);
    mib("stats.arenas.0.resident", mibs.aresident, &mibs.aresident_len);
    size_t sz = sizeof(mibs.page);
    if (mallctl("arenas.page", &mibs.page, &sz, NULL, 0) != 0)
        mibs.page = (size_t)sysconf(_SC_PAGESIZE);
}

static const struct mem_mibs *get_mibs(void)
{
    pthread_once(&mibs_once, mibs_init);
    return &mibs;
}

static size_t read_mib(const size_t *m, size_t len)
{
    size_t v = 0, sz = sizeof(v);
    if (mallctlbymib(m, len, &v, &sz, NULL, 0) != 0)
        return 0;
    return v;
}

static size_t read_arena_mib(const size_t *m, size_t len, unsigned arena)
{
    size_t copy[MIB_LEN];
    memcpy(copy, m, len * sizeof(*m));
    copy[2] = arena;
    return read_mib(copy, len);
}
#endif

unsigned shale_mem_arena_create(void)
{
#ifdef SHALE_USE_JEMALLOC
    unsigned arena = 0;
    size_t sz = sizeof(arena);
    if (mallctl("arenas.create", &arena, &sz, NULL, 0) != 0) {
        fprintf(stderr, "shale: jemalloc arenas.create failed\n");
        abort();
    }
    return arena;
#else
    return 0;
#endif
}

int shale_mem_arena_bind(unsigned arena)
{
#ifdef SHALE_USE_JEMALLOC
    return mallctl("thread.arena", NULL, NULL, &arena, sizeof(arena)) == 0 ? 0 : -1;
#else
    return 0;
#endif
}

int shale_mem_has_arena_stats(void)
{
#ifdef SHALE_USE_JEMALLOC
    return 1;
#else
    return 0;
#endif
}

void shale_mem_stats_refresh(void)
{
#ifdef SHALE_USE_JEMALLOC
    const struct mem_mibs *m = get_mibs();
    uint64_t epoch = 1;
    size_t sz = sizeof(epoch);
    mallctlbymib(m->epoch, m->epoch_len, &epoch, &sz, &epoch, sz);
#endif
}

int shale_mem_arena_stats(unsigned arena, struct mem_stats *out)
{
#ifdef SHALE_USE_JEMALLOC
    const struct mem_mibs *m = get_mibs();
    out->allocated = read_arena_mib(m->small, m->small_len, arena) +
                     read_arena_mib(m->large, m->large_len, arena);
    out->active = read_arena_mib(m->pactive, m->pactive_len, arena) * m->page;
    out->resident = read_arena_mib(m->aresident, m->aresident_len, arena);
    return 0;
#else
    (void)arena;
    out->allocated = out->active = out->resident = 0;
    return -1;
#endif
}

void shale_mem_total_stats(struct mem_stats *out)
{
#ifdef SHALE_USE_JEMALLOC
    const struct mem_mibs *m = get_mibs();
    out->allocated = read_mib(m->allocated, m->allocated_len);
    out->active = read_mib(m->active, m->active_len);
    out->resident = read_mib(m->resident, m->resident_len);
#elif defined(SHALE_SANITIZER_ALLOCATOR)
    out->allocated = __sanitizer_get_current_allocated_bytes();
    out->active = __sanitizer_get_heap_size();
    out->resident = out->active;
#else
    struct mallinfo2 mi = mallinfo2();
    out->allocated = mi.uordblks + mi.hblkhd;
    out->active = mi.arena + mi.hblkhd;
    out->resident = mi.arena + mi.hblkhd;
#endif
}

size_t shale_mem_allocated(void)
{
    struct mem_stats st;
    shale_mem_total_stats(&st);
    return st.allocated;
}

size_t shale_mem_rss(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    unsigned long size = 0, resident = 0;
    int n = fscanf(f, "%lu %lu", &size, &resident);
    fclose(f);
    return n == 2 ? resident * (size_t)sysconf(_SC_PAGESIZE) : 0;
}

/* ---- active defragmentation support ---------------------------------------- */

#ifdef SHALE_USE_JEMALLOC
/* Small bins hold at most this many size classes (36 with 4 KB pages here;
 * more with bigger pages). */
#define MEM_MAX_BINS 128
/* Pointers per batch_query call. */
#define MEM_UTIL_BATCH 64

/* The bin table and the MIBs defrag reads, built once: the sizes come from
 * arenas.bin.<j>.size, so nothing assumes jemalloc's quantum (16 on Debian).
 * Written under pthread_once, read-only afterwards. */
struct mem_bins {
    unsigned nbins;
    size_t size[MEM_MAX_BINS]; /* region size of bin j, ascending */
    uint32_t nregs[MEM_MAX_BINS];
    int has_batch_query;
    size_t batch[MIB_LEN], batch_len;
    size_t curregs[MIB_LEN], curregs_len;
    size_t curslabs[MIB_LEN], curslabs_len;
    size_t nonfull[MIB_LEN], nonfull_len;
    size_t purge[MIB_LEN], purge_len;
    size_t dirty_decay[MIB_LEN], dirty_decay_len;
    ssize_t default_dirty_decay_ms; /* opt.dirty_decay_ms */
};
static struct mem_bins bins;
static pthread_once_t bins_once = PTHREAD_ONCE_INIT;

static void bins_init(void)
{
    size_t sz = sizeof(bins.nbins);
    if (mallctl("arenas.nbins", &bins.nbins, &sz, NULL, 0) != 0)
        bins.nbins = 0;
    if (bins.nbins > MEM_MAX_BINS)
        bins.nbins = MEM_MAX_BINS;
    for (unsigned j = 0; j < bins.nbins; j++) {
        char name[64];
        snprintf(name, sizeof(name), "arenas.bin.%u.size", j);
        sz = sizeof(bins.size[j]);
        mallctl(name, &bins.size[j], &sz, NULL, 0);
        snprintf(name, sizeof(name), "arenas.bin.%u.nregs", j);
        sz = sizeof(bins.nregs[j]);
        mallctl(name, &bins.nregs[j], &sz, NULL, 0);
    }
    bins.batch_len = MIB_LEN;
    bins.has_batch_query =
        mallctlnametomib("experimental.utilization.batch_query", bins.batch, &bins.batch_len) == 0;
    mib("stats.arenas.0.bins.0.curregs", bins.curregs, &bins.curregs_len);
    mib("stats.arenas.0.bins.0.curslabs", bins.curslabs, &bins.curslabs_len);
    mib("stats.arenas.0.bins.0.nonfull_slabs", bins.nonfull, &bins.nonfull_len);
    mib("arena.0.purge", bins.purge, &bins.purge_len);
    mib("arena.0.dirty_decay_ms", bins.dirty_decay, &bins.dirty_decay_len);
    sz = sizeof(bins.default_dirty_decay_ms);
    if (mallctl("opt.dirty_decay_ms", &bins.default_dirty_decay_ms, &sz, NULL, 0) != 0)
        bins.default_dirty_decay_ms = 10000; /* jemalloc's documented default */
}

static const struct mem_bins *get_bins(void)
{
    pthread_once(&bins_once, bins_init);
    return &bins;
}

/* The bin whose regions are exactly `size` bytes, or -1. */
static int bin_of_size(const struct mem_bins *b, size_t size)
{
    unsigned lo = 0, hi = b->nbins;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (b->size[mid] < size)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < b->nbins && b->size[lo] == size ? (int)lo : -1;
}

static size_t read_bin_mib(const size_t *m, size_t len, unsigned arena, unsigned bin)
{
    size_t copy[MIB_LEN];
    memcpy(copy, m, len * sizeof(*m));
    copy[2] = arena;
    copy[4] = bin;
    return read_mib(copy, len);
}
#endif

int shale_mem_defrag_supported(void)
{
#if defined(SHALE_DEFRAG_FORCE)
    return 1;
#elif defined(SHALE_USE_JEMALLOC)
    return get_bins()->has_batch_query;
#else
    return 0;
#endif
}

const char *shale_mem_defrag_mode(void)
{
#ifdef SHALE_DEFRAG_FORCE
    return "force";
#else
    return shale_mem_defrag_supported() ? "jemalloc" : "unsupported";
#endif
}

int shale_mem_utilization(void *const *ptrs, size_t n, struct mem_util *out)
{
#ifdef SHALE_USE_JEMALLOC
    const struct mem_bins *b = get_bins();
    if (!b->has_batch_query)
        return -1;
    /* batch_query answers (nfree, nregs, size of the slab) per pointer; a
     * slab holds exactly nregs regions, so its region size is size/nregs. */
    size_t raw[3 * MEM_UTIL_BATCH];
    for (size_t done = 0; done < n;) {
        size_t k = n - done < MEM_UTIL_BATCH ? n - done : MEM_UTIL_BATCH;
        size_t rawlen = 3 * k * sizeof(size_t);
        if (mallctlbymib(b->batch, b->batch_len, raw, &rawlen, (void *)(ptrs + done),
                         k * sizeof(void *)) != 0)
            return -1;
        for (size_t i = 0; i < k; i++) {
            size_t nfree = raw[3 * i], nregs = raw[3 * i + 1], slab = raw[3 * i + 2];
            struct mem_util *u = &out[done + i];
            u->nfree = (uint32_t)nfree;
            u->nregs = (uint32_t)nregs;
            u->bin = nregs ? bin_of_size(b, slab / nregs) : -1;
            if (u->bin >= 0 && b->nregs[u->bin] != nregs)
                u->bin = -1; /* a large allocation of a bin's size */
        }
        done += k;
    }
    return 0;
#else
    (void)ptrs;
    (void)n;
    (void)out;
    return -1;
#endif
}

unsigned shale_mem_arena_bin_stats(unsigned arena, struct mem_bin_stats *out, unsigned max)
{
#ifdef SHALE_USE_JEMALLOC
    const struct mem_bins *b = get_bins();
    unsigned n = b->nbins < max ? b->nbins : max;
    for (unsigned j = 0; j < n; j++) {
        out[j].curregs = read_bin_mib(b->curregs, b->curregs_len, arena, j);
        out[j].curslabs = read_bin_mib(b->curslabs, b->curslabs_len, arena, j);
        out[j].nonfull_slabs = read_bin_mib(b->nonfull, b->nonfull_len, arena, j);
        out[j].nregs = b->nregs[j];
    }
    return n;
#else
    (void)arena;
    (void)out;
    (void)max;
    return 0;
#endif
}

void *shale_mem_defrag_move(void *ptr, unsigned arena)
{
    size_t size = malloc_usable_size(ptr);
#ifdef SHALE_USE_JEMALLOC
    void *fresh = mallocx(size, MALLOCX_TCACHE_NONE | MALLOCX_ARENA(arena));
    if (!fresh)
        out_of_memory(size);
    memcpy(fresh, ptr, size);
    sdallocx(ptr, size, MALLOCX_TCACHE_NONE);
#else
    (void)arena;
    void *fresh = malloc(size ? size : 1);
    if (!fresh)
        out_of_memory(size);
    memcpy(fresh, ptr, size);
    free(ptr);
#endif
    return fresh;
}

#ifdef SHALE_USE_JEMALLOC
/* Writes (or, with no value, triggers) arena.<arena>.<name> by its MIB. */
static void arena_ctl(const size_t *m, size_t len, unsigned arena, void *value, size_t size)
{
    size_t copy[MIB_LEN];
    memcpy(copy, m, len * sizeof(*m));
    copy[1] = arena;
    mallctlbymib(copy, len, NULL, NULL, value, size);
}
#endif

void shale_mem_arena_purge(unsigned arena)
{
#ifdef SHALE_USE_JEMALLOC
    const struct mem_bins *b = get_bins();
    arena_ctl(b->purge, b->purge_len, arena, NULL, 0);
#else
    (void)arena;
#endif
}

void shale_mem_arena_defer_purge(unsigned arena, int defer)
{
#ifdef SHALE_USE_JEMALLOC
    const struct mem_bins *b = get_bins();
    ssize_t ms = defer ? -1 : b->default_dirty_decay_ms;
    arena_ctl(b->dirty_decay, b->dirty_decay_len, arena, &ms, sizeof(ms));
#else
    (void)arena;
    (void)defer;
#endif
}
