/* test_mem_arena: unit tests for the per-shard arenas of server/mem.h. A
 * thread bound to a new arena (as a shard thread binds itself) allocates,
 * and after one stats refresh that arena's allocated bytes have grown by at
 * least what it allocated, while another fresh arena's have not. An arena
 * that defers purging (as a shard's does during a defrag cycle) keeps the
 * pages its frees empty until a purge gives them all back.
 * Under MALLOC=libc there are no arenas: the tests are skipped, saying why. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <cmocka.h>
#ifdef SHALE_USE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

#include "server/mem.h"

#define SMALL_COUNT 4096
#define SMALL_SIZE  200
#define LARGE_SIZE  (4 << 20)

struct worker {
    unsigned arena;
    int bound;
    void *small[SMALL_COUNT];
    void *large;
};

static void *allocate_in_arena(void *arg)
{
    struct worker *w = arg;
    w->bound = shale_mem_arena_bind(w->arena) == 0;
    for (int i = 0; i < SMALL_COUNT; i++) {
        w->small[i] = shale_malloc(SMALL_SIZE);
        memset(w->small[i], 0x5a, SMALL_SIZE);
    }
    w->large = shale_malloc(LARGE_SIZE);
    memset(w->large, 0x5a, LARGE_SIZE);
    return NULL;
}

static void *free_all(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < SMALL_COUNT; i++)
        shale_free(w->small[i]);
    shale_free(w->large);
    return NULL;
}

static void run_thread(void *(*fn)(void *), struct worker *w)
{
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, fn, w), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
}

static int skip_without_arenas(void)
{
    if (shale_mem_has_arena_stats())
        return 0;
    printf("skipped: built with MALLOC=libc, which has no per-thread arenas or "
           "per-arena stats\n");
    return 1;
}

static void test_bound_thread_allocates_in_its_arena(void **state)
{
    if (skip_without_arenas()) {
        skip();
        return;
    }
    static struct worker w;
    w.arena = shale_mem_arena_create();
    unsigned other = shale_mem_arena_create();
    assert_true(w.arena != 0);
    assert_true(other != w.arena);

    struct mem_stats before, after, other_after, total;
    shale_mem_stats_refresh();
    assert_int_equal(shale_mem_arena_stats(w.arena, &before), 0);

    run_thread(allocate_in_arena, &w);
    assert_true(w.bound);

    shale_mem_stats_refresh();
    assert_int_equal(shale_mem_arena_stats(w.arena, &after), 0);
    assert_int_equal(shale_mem_arena_stats(other, &other_after), 0);
    shale_mem_total_stats(&total);
    size_t wanted = (size_t)SMALL_COUNT * SMALL_SIZE + LARGE_SIZE;
    if (after.allocated < before.allocated + wanted)
        fail_msg("arena %u allocated %zu -> %zu, expected growth >= %zu", w.arena, before.allocated,
                 after.allocated, wanted);
    if (other_after.allocated != 0)
        fail_msg("untouched arena %u reports %zu allocated bytes, expected 0", other,
                 other_after.allocated);
    assert_true(after.active >= after.allocated);
    assert_true(after.resident >= after.active);
    assert_true(total.allocated >= after.allocated);

    /* Freed from a thread bound to the same arena, the bytes go back. */
    run_thread(free_all, &w);
    shale_mem_stats_refresh();
    struct mem_stats freed;
    assert_int_equal(shale_mem_arena_stats(w.arena, &freed), 0);
    if (freed.allocated >= after.allocated - LARGE_SIZE)
        fail_msg("arena %u allocated %zu after freeing, expected < %zu", w.arena, freed.allocated,
                 after.allocated - LARGE_SIZE);
}

#ifdef SHALE_USE_JEMALLOC
/* The allocator's own figures, read directly: what is checked here is what
 * jemalloc does with the arena, not what shale reports of it. */
static size_t dirty_pages(unsigned arena)
{
    shale_mem_stats_refresh();
    char name[64];
    snprintf(name, sizeof(name), "stats.arenas.%u.pdirty", arena);
    size_t pdirty = 0;
    size_t sz = sizeof(pdirty);
    assert_int_equal(mallctl(name, &pdirty, &sz, NULL, 0), 0);
    return pdirty;
}

static ssize_t decay_ms(unsigned arena)
{
    char name[64];
    snprintf(name, sizeof(name), "arena.%u.dirty_decay_ms", arena);
    ssize_t ms = 0;
    size_t sz = sizeof(ms);
    assert_int_equal(mallctl(name, &ms, &sz, NULL, 0), 0);
    return ms;
}
#endif

static void test_deferred_purge_keeps_then_returns_pages(void **state)
{
#ifndef SHALE_USE_JEMALLOC
    printf("skipped: built with MALLOC=libc, which has no per-arena purging\n");
    skip();
#else
    static struct worker w;
    w.arena = shale_mem_arena_create();
    ssize_t default_ms = decay_ms(w.arena);
    shale_mem_arena_defer_purge(w.arena, 1);
    if (decay_ms(w.arena) != -1)
        fail_msg("arena %u dirty_decay_ms %zd while deferring, expected -1", w.arena,
                 decay_ms(w.arena));

    run_thread(allocate_in_arena, &w);
    run_thread(free_all, &w);
    size_t kept = dirty_pages(w.arena);
    size_t wanted = LARGE_SIZE / (size_t)sysconf(_SC_PAGESIZE);
    if (kept < wanted)
        fail_msg("arena %u kept %zu dirty pages after freeing, expected >= %zu", w.arena, kept,
                 wanted);

    shale_mem_arena_defer_purge(w.arena, 0);
    if (decay_ms(w.arena) != default_ms)
        fail_msg("arena %u dirty_decay_ms %zd after deferring, expected the default %zd", w.arena,
                 decay_ms(w.arena), default_ms);
    shale_mem_arena_purge(w.arena);
    if (dirty_pages(w.arena) != 0)
        fail_msg("arena %u still has %zu dirty pages after a purge, expected 0", w.arena,
                 dirty_pages(w.arena));
#endif
}

static void test_libc_arena_is_noop(void **state)
{
    if (shale_mem_has_arena_stats()) {
        printf("skipped: built with jemalloc; this checks the MALLOC=libc fallback\n");
        skip();
        return;
    }
    assert_int_equal(shale_mem_arena_create(), 0);
    assert_int_equal(shale_mem_arena_bind(0), 0);
    struct mem_stats st;
    assert_int_equal(shale_mem_arena_stats(0, &st), -1);
    assert_int_equal(st.allocated, 0);
    void *p = shale_malloc(1 << 20);
    shale_mem_stats_refresh();
    shale_mem_total_stats(&st);
    assert_true(st.allocated >= 1 << 20);
    shale_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bound_thread_allocates_in_its_arena),
        cmocka_unit_test(test_deferred_purge_keeps_then_returns_pages),
        cmocka_unit_test(test_libc_arena_is_noop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
