/* mem: the allocator gateway (see mem.h). Out-of-memory is fatal: a cache
 * server that cannot allocate its own bookkeeping cannot answer honestly. */
#include "server/mem.h"

#include <event2/event.h>
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

void shale_mem_setup(void)
{
    event_set_mem_functions(shale_malloc, shale_realloc, shale_free);
}

size_t shale_mem_allocated(void)
{
#ifdef SHALE_USE_JEMALLOC
    /* Refreshing stats walks every arena under a global lock: callers are
     * INFO and the once-a-tick governor, never the request path. */
    uint64_t epoch = 1;
    size_t sz = sizeof(epoch);
    mallctl("epoch", &epoch, &sz, &epoch, sz);
    size_t allocated = 0;
    sz = sizeof(allocated);
    if (mallctl("stats.allocated", &allocated, &sz, NULL, 0) != 0)
        return 0;
    return allocated;
#else
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
#endif
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
