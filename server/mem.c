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

void *shale_calloc_aligned(size_t align, size_t size)
{
    void *ptr = NULL;
    if (posix_memalign(&ptr, align, size ? size : 1) != 0)
        out_of_memory(size);
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
