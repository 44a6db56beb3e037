/* mem: the allocator gateway. The only module that calls malloc/jemalloc.
 *
 * Every allocation in shale goes through these functions, so accounting and
 * the allocator choice (jemalloc by default, libc with `make MALLOC=libc`)
 * live in one place. Any thread may call them. */
#ifndef SHALE_MEM_H
#define SHALE_MEM_H

#include <stddef.h>

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

/* Name of the allocator this binary was built with ("jemalloc-5.3.0", "libc"). */
const char *shale_mem_allocator_name(void);

/* Routes libevent's allocations through the gateway. Call before any
 * event_base exists. */
void shale_mem_setup(void);

/* Bytes the process has allocated through the gateway (allocator stats). */
size_t shale_mem_allocated(void);
/* Resident set size of the process, from /proc/self/statm. */
size_t shale_mem_rss(void);

#endif
