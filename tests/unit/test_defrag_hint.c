/* test_defrag_hint: unit tests for the defrag decision
 * (server/defrag_hint.c). On synthetic batch_query answers and bin figures:
 * a slab emptier than its bin's non-full average moves, one up to 1.5x the
 * average too, a fuller one, a full one, a large allocation, or the only
 * non-full slab stays; frozen figures do not follow later publications. Then on the real allocator:
 * with jemalloc, a fragmented arena's survivors are judged from its published stats, the picked
 * ones moved, and the arena's active pages shrink; under libc there is nothing to ask and the
 * answer is "stay" (or "move", in a DEFRAG=force build). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/defrag_hint.h"
#include "server/mem.h"

#define EXPECT(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fail_msg(__VA_ARGS__);                                                                 \
    } while (0)

/* Bin 7 holds 256 regions per slab: 10 slabs, 2 full, the 8 others hold
 * 800 regions in all (100 per slab on average). */
static void publish_example(struct defrag_hint *h)
{
    struct mem_bin_stats bins[8] = {0};
    bins[7].nregs = 256;
    bins[7].curslabs = 10;
    bins[7].nonfull_slabs = 8;
    bins[7].curregs = 2 * 256 + 800;
    shale_defrag_hint_init(h);
    h->always = 0;
    shale_defrag_hint_publish(h, bins, 8);
}

static int judge(const struct defrag_hint *h, uint32_t nfree, uint32_t nregs, int bin)
{
    struct mem_util u = {.nfree = nfree, .nregs = nregs, .bin = bin};
    return shale_defrag_hint_should_move(h, &u);
}

static void test_rule_on_synthetic_answers(void **state)
{
    struct defrag_hint h;
    publish_example(&h);
    assert_int_equal(atomic_load(&h.nonfull_slabs[7]), 8);
    assert_int_equal(atomic_load(&h.nonfull_used[7]), 800);
    EXPECT(judge(&h, 256 - 10, 256, 7), "a slab with 10 of 256 used should move (average 100)");
    EXPECT(judge(&h, 256 - 100, 256, 7), "an average slab should move");
    EXPECT(judge(&h, 256 - 150, 256, 7), "150 used is within the 1.5x margin of 100");
    EXPECT(!judge(&h, 256 - 151, 256, 7), "151 used is fuller than 1.5x the average: stays");
    EXPECT(!judge(&h, 0, 256, 7), "a full slab stays");
    EXPECT(!judge(&h, 0, 1, -1), "a large allocation stays");
    EXPECT(!judge(&h, 5, 256, 3), "a bin without figures (no non-full slabs) stays");
}

static void test_single_nonfull_slab_stays(void **state)
{
    struct defrag_hint h;
    struct mem_bin_stats bins[1] = {
        {.curregs = 300, .curslabs = 2, .nonfull_slabs = 1, .nregs = 256}};
    shale_defrag_hint_init(&h);
    h.always = 0;
    shale_defrag_hint_publish(&h, bins, 1);
    /* The move would take a region of that same slab. */
    EXPECT(!judge(&h, 212, 256, 0), "the only non-full slab must not move into itself");
}

static void test_frozen_copy(void **state)
{
    struct defrag_hint live, frozen;
    publish_example(&live);
    shale_defrag_hint_init(&frozen);
    shale_defrag_hint_copy(&frozen, &live);
    EXPECT(judge(&frozen, 256 - 140, 256, 7), "the copy judges like the original");
    /* The live figures move on (the average drops to 50); the copy not. */
    struct mem_bin_stats bins[8] = {0};
    bins[7] = (struct mem_bin_stats){
        .nregs = 256, .curslabs = 10, .nonfull_slabs = 8, .curregs = 2 * 256 + 400};
    shale_defrag_hint_publish(&live, bins, 8);
    EXPECT(!judge(&live, 256 - 140, 256, 7), "140 used is above 1.5x the new average");
    EXPECT(judge(&frozen, 256 - 140, 256, 7), "the frozen copy keeps the old average");
}

static void test_always(void **state)
{
    struct defrag_hint h;
    shale_defrag_hint_init(&h);
    h.always = 1;
    EXPECT(judge(&h, 0, 256, 7), "always: even a full slab's allocation moves");
    void *ptrs[3] = {&h, &h, &h};
    uint8_t move[3] = {0};
    shale_defrag_hint_decide(&h, ptrs, 3, move);
    EXPECT(move[0] && move[1] && move[2], "always: decide says move");
}

#define NOBJ     20000
#define OBJ_SIZE 100

static void test_real_allocator(void **state)
{
    struct defrag_hint h;
    shale_defrag_hint_init(&h);
    int forced = h.always;
    if (!shale_mem_has_arena_stats()) {
        /* libc: nothing to ask; the hint answers stay unless forced. */
        void *p = shale_malloc(OBJ_SIZE);
        struct mem_util u;
        assert_int_equal(shale_mem_utilization(&p, 1, &u), -1);
        uint8_t move = 7;
        shale_defrag_hint_decide(&h, &p, 1, &move);
        assert_int_equal(move, forced ? 1 : 0);
        shale_free(p);
        return;
    }
    unsigned arena = shale_mem_arena_create();
    assert_int_equal(shale_mem_arena_bind(arena), 0);
    void **objs = malloc(NOBJ * sizeof(void *));
    for (int i = 0; i < NOBJ; i++) {
        objs[i] = shale_malloc(OBJ_SIZE);
        memset(objs[i], i & 0xff, OBJ_SIZE);
    }
    srand(7);
    for (int i = 0; i < NOBJ; i++)
        if (rand() % 5) {
            shale_free(objs[i]);
            objs[i] = NULL;
        }
    struct mem_stats before, after;
    struct mem_bin_stats bins[DEFRAG_HINT_MAX_BINS];
    shale_mem_stats_refresh();
    shale_mem_arena_stats(arena, &before);
    unsigned nb = shale_mem_arena_bin_stats(arena, bins, DEFRAG_HINT_MAX_BINS);
    EXPECT(nb >= 30, "jemalloc reported %u small bins", nb);
    h.always = 0;
    shale_defrag_hint_publish(&h, bins, nb);

    int moved = 0, kept = 0;
    for (int i = 0; i < NOBJ; i++) {
        if (!objs[i])
            continue;
        struct mem_util u;
        assert_int_equal(shale_mem_utilization(&objs[i], 1, &u), 0);
        EXPECT(u.bin >= 0 && bins[u.bin].nregs == u.nregs && u.nfree < u.nregs,
               "batch_query answer for a %d-byte block: bin %d, %u of %u free", OBJ_SIZE, u.bin,
               u.nfree, u.nregs);
        uint8_t go;
        shale_defrag_hint_decide(&h, &objs[i], 1, &go);
        if (go) {
            objs[i] = shale_mem_defrag_move(objs[i], arena);
            moved++;
        } else {
            kept++;
        }
    }
    for (int i = 0; i < NOBJ; i++)
        if (objs[i]) {
            unsigned char *b = objs[i];
            EXPECT(b[0] == (i & 0xff) && b[OBJ_SIZE - 1] == (i & 0xff), "object %d corrupted", i);
        }
    shale_mem_stats_refresh();
    shale_mem_arena_stats(arena, &after);
    printf("moved %d kept %d; arena active %zu -> %zu, allocated %zu -> %zu\n", moved, kept,
           before.active, after.active, before.allocated, after.allocated);
    EXPECT(moved > 0 && kept > 0, "moved %d, kept %d: the rule should pick some, not all", moved,
           kept);
    EXPECT(after.active * 10 < before.active * 6, "active pages %zu -> %zu: expected a big drop",
           before.active, after.active);
    for (int i = 0; i < NOBJ; i++)
        shale_free(objs[i]);
    free(objs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule_on_synthetic_answers),
        cmocka_unit_test(test_single_nonfull_slab_stays),
        cmocka_unit_test(test_frozen_copy),
        cmocka_unit_test(test_always),
        cmocka_unit_test(test_real_allocator),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
