/* test_mem_arena: unit tests for the per-shard arenas of server/mem.h. A
 * thread bound to a new arena (as a shard thread binds itself) allocates,
 * and after one stats refresh that arena's allocated bytes have grown by at
 * least what it allocated, while another fresh arena's have not. Under
 * MALLOC=libc there are no arenas: the tests are skipped, saying why. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

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
        cmocka_unit_test(test_libc_arena_is_noop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
