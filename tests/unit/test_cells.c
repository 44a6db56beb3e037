/* test_cells: unit tests for the 24-byte cell slab (shards/cells.c): cells
 * are distinct and keep their bytes, pages fill, free when they empty and
 * cost exactly one 4096-byte block, heaps are separate, and a defrag
 * evacuation empties sparse pages into the others. Under ASan a freed or
 * moved cell is poisoned, so a stale read here would fail there. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/mem.h"
#include "shards/cells.h"

#define EXPECT(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fail_msg(__VA_ARGS__);                                                                 \
    } while (0)

static void fill_cell(void *cell, uint64_t tag)
{
    for (int i = 0; i < CELL_SIZE / 8; i++)
        memcpy((char *)cell + 8 * i, &tag, 8);
}

static void expect_cell(const void *cell, uint64_t tag)
{
    for (int i = 0; i < CELL_SIZE / 8; i++) {
        uint64_t got;
        memcpy(&got, (const char *)cell + 8 * i, 8);
        EXPECT(got == tag, "cell %p word %d holds %llu, not %llu", cell, i, (unsigned long long)got,
               (unsigned long long)tag);
    }
}

static void stats(struct cell_heap_stats *st)
{
    shale_cell_heap_stats(st);
}

static void test_alloc_free(void **state)
{
    struct cell_heap *h = shale_cell_heap_create();
    shale_cell_heap_use(h);
    enum { N = 3 * CELL_PAGE_CELLS + 5 };
    void **cells = calloc(N, sizeof(*cells));
    long long counted = shale_mem_counted_bytes();

    for (uint64_t i = 0; i < N; i++) {
        cells[i] = shale_cell_alloc();
        EXPECT(((uintptr_t)cells[i] & 7) == 0, "cell %p is not 8-aligned", cells[i]);
        fill_cell(cells[i], i);
    }
    struct cell_heap_stats st;
    stats(&st);
    assert_int_equal(st.pages, 4);
    assert_int_equal(st.cells_used, N);
    assert_int_equal(shale_cell_heap_free_bytes(), (4 * CELL_PAGE_CELLS - N) * CELL_SIZE);
    /* A page is one 4096-byte block in the counted bytes: no rounding. */
    assert_int_equal(shale_mem_counted_bytes() - counted, 4 * CELL_PAGE_SIZE);
    for (uint64_t i = 0; i < N; i++)
        expect_cell(cells[i], i);

    /* Free every other cell, then allocate them again: the freed ones are
     * reused, no page is added. */
    for (uint64_t i = 0; i < N; i += 2)
        shale_cell_free(cells[i]);
    for (uint64_t i = 0; i < N; i += 2) {
        cells[i] = shale_cell_alloc();
        fill_cell(cells[i], i + 1000000);
    }
    stats(&st);
    assert_int_equal(st.pages, 4);
    for (uint64_t i = 0; i < N; i++)
        expect_cell(cells[i], i % 2 ? i : i + 1000000);

    /* Every cell freed: every page is gone. */
    for (uint64_t i = 0; i < N; i++)
        shale_cell_free(cells[i]);
    stats(&st);
    assert_int_equal(st.pages, 0);
    assert_int_equal(st.cells_used, 0);
    assert_int_equal(shale_mem_counted_bytes(), counted);
    free(cells);
    shale_cell_heap_destroy(h);
}

static void test_heaps_are_separate(void **state)
{
    struct cell_heap *a = shale_cell_heap_create();
    struct cell_heap *b = shale_cell_heap_create();
    struct cell_heap_stats st;

    shale_cell_heap_use(a);
    void *x = shale_cell_alloc();
    shale_cell_heap_use(b);
    void *y = shale_cell_alloc();
    void *z = shale_cell_alloc();
    stats(&st);
    assert_int_equal(st.cells_used, 2);
    shale_cell_heap_use(a);
    stats(&st);
    assert_int_equal(st.cells_used, 1);
    shale_cell_free(x);
    shale_cell_heap_destroy(a);
    /* Destroying a heap with live cells frees its pages too (a shard's
     * keyspace frees its cells first; this is the backstop). */
    shale_cell_heap_use(b);
    shale_cell_free(y);
    (void)z;
    shale_cell_heap_destroy(b);
    shale_cell_heap_use(NULL);
}

/* 40 full pages, then 3 cells in 4 freed at random: evacuation takes the
 * sparse pages out of service and moving their cells frees them. */
static void test_evacuation(void **state)
{
    struct cell_heap *h = shale_cell_heap_create();
    shale_cell_heap_use(h);
    enum { PAGES = 40, N = PAGES * CELL_PAGE_CELLS };
    void **cells = calloc(N, sizeof(*cells));
    uint64_t rng = 7;
    size_t live = 0;

    for (uint64_t i = 0; i < N; i++) {
        cells[i] = shale_cell_alloc();
        fill_cell(cells[i], i);
    }
    /* Nothing to win on full pages. */
    assert_int_equal(shale_cell_heap_evacuate_begin(), 0);
    shale_cell_heap_evacuate_end();

    for (uint64_t i = 0; i < N; i++) {
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        if ((rng >> 33) % 4 != 0) {
            shale_cell_free(cells[i]);
            cells[i] = NULL;
        } else {
            live++;
        }
    }
    struct cell_heap_stats st;
    stats(&st);
    assert_int_equal(st.pages, PAGES);
    uint64_t evacuating = shale_cell_heap_evacuate_begin();
    EXPECT(evacuating > PAGES / 2, "only %llu of %d sparse pages to evacuate",
           (unsigned long long)evacuating, PAGES);
    for (uint64_t i = 0; i < N; i++)
        if (cells[i] && shale_cell_evacuating(cells[i])) {
            void *moved = shale_cell_move(cells[i]);
            assert_false(shale_cell_evacuating(moved));
            cells[i] = moved;
        }
    shale_cell_heap_evacuate_end();
    stats(&st);
    assert_int_equal(st.pages_evacuating, 0);
    assert_int_equal(st.cells_used, live);
    size_t min_pages = (live + CELL_PAGE_CELLS - 1) / CELL_PAGE_CELLS;
    EXPECT(st.pages <= min_pages + (PAGES - evacuating) + 1,
           "%llu pages hold %zu cells after evacuation (%zu at the least)",
           (unsigned long long)st.pages, live, min_pages);
    EXPECT(st.pages < PAGES / 2, "%llu pages left of %d", (unsigned long long)st.pages, PAGES);
    for (uint64_t i = 0; i < N; i++)
        if (cells[i]) {
            expect_cell(cells[i], i);
            shale_cell_free(cells[i]);
        }
    stats(&st);
    assert_int_equal(st.pages, 0);
    free(cells);
    shale_cell_heap_destroy(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_free),
        cmocka_unit_test(test_heaps_are_separate),
        cmocka_unit_test(test_evacuation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
