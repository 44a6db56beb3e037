/* bench_defrag_hint: the measurement behind the defrag hint's margin and its
 * frozen figures (server/defrag_hint.c). Not part of the build.
 *
 * Builds server/defrag_hint.c into itself with the margin given at compile
 * time (in eighths), the rest from libshale.a:
 *
 *   make                                  # for build/libshale.a
 *   for m in 9 12 16; do
 *     cc -O2 -std=c11 -D_GNU_SOURCE -I. -DSHALE_USE_JEMALLOC -DDEFRAG_HINT_MARGIN_8THS=$m \
 *        -o /tmp/bench_hint_$m scripts/bench_defrag_hint.c build/libshale.a \
 *        -levent_core -lm -pthread -ljemalloc
 *     /tmp/bench_hint_$m 25 frozen; /tmp/bench_hint_$m 25 live; /tmp/bench_hint_$m 60 frozen
 *   done
 *
 * Arguments: KEEP_PCT (blocks kept, the rest freed at random), frozen|live
 * (bin figures taken once per pass, or every 20,000 blocks as a 100 ms
 * stats refresh would during a long pass), and optionally "sequential" to
 * visit blocks in allocation order instead of the keyspace walk's random
 * order. 500,000 blocks of 116-416 bytes (a key object holding a 100-400
 * byte value) live in their own arena; each pass asks the hint about every
 * kept block, in batches of 64 like the walk, and moves the chosen ones with
 * shale_mem_defrag_move. Prints the arena's frag ratio (active/allocated)
 * before each pass and how many blocks moved. Single-threaded. */
#include "server/defrag_hint.c"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NBLOCKS    500000
#define PASSES     3
#define LIVE_EVERY 20000
#define BATCH      64

static uint64_t splitmix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static void publish(struct defrag_hint *h, unsigned arena)
{
    static struct mem_bin_stats bins[DEFRAG_HINT_MAX_BINS];
    shale_mem_stats_refresh();
    unsigned n = shale_mem_arena_bin_stats(arena, bins, DEFRAG_HINT_MAX_BINS);
    shale_defrag_hint_publish(h, bins, n);
}

int main(int argc, char **argv)
{
    int keep = argc > 1 ? atoi(argv[1]) : 25;
    int live = argc > 2 && !strcmp(argv[2], "live");
    int sequential = argc > 3 && !strcmp(argv[3], "sequential");
    /* The bookkeeping lives outside the measured arena. */
    void **blocks = malloc(NBLOCKS * sizeof(*blocks));
    uint32_t *order = malloc(NBLOCKS * sizeof(*order));
    unsigned arena = shale_mem_arena_create();
    if (shale_mem_arena_bind(arena) != 0 || !shale_mem_has_arena_stats()) {
        fprintf(stderr, "needs jemalloc arenas\n");
        return 1;
    }
    for (uint32_t i = 0; i < NBLOCKS; i++) {
        size_t len = 16 + 100 + splitmix(i) % 301;
        blocks[i] = shale_malloc(len);
        memset(blocks[i], (int)i, len);
    }
    size_t kept = 0;
    for (uint32_t i = 0; i < NBLOCKS; i++) {
        if ((int)(splitmix(i ^ 77) % 100) >= keep) {
            shale_free(blocks[i]);
            blocks[i] = NULL;
        } else {
            order[kept++] = i;
        }
    }
    /* The keyspace walk visits keys in hash order: random w.r.t. memory. */
    for (size_t i = kept - 1; !sequential && i > 0; i--) {
        size_t j = splitmix(i) % (i + 1);
        uint32_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    static struct defrag_hint hint;
    shale_defrag_hint_init(&hint);
    hint.always = 0;
    printf("margin %d/8, keep %d%%, figures %s, %s order\n", DEFRAG_HINT_MARGIN_8THS, keep,
           live ? "live" : "frozen per pass", sequential ? "allocation" : "random");
    for (int pass = 0; pass <= PASSES; pass++) {
        struct mem_stats st;
        publish(&hint, arena);
        shale_mem_arena_stats(arena, &st);
        printf("  pass %d: frag ratio %.3f", pass, (double)st.active / (double)st.allocated);
        if (pass == PASSES) {
            printf("\n");
            break;
        }
        size_t moved = 0;
        for (size_t base = 0; base < kept; base += BATCH) {
            size_t n = kept - base < BATCH ? kept - base : BATCH;
            void *ptrs[BATCH];
            uint8_t go[BATCH];
            if (live && base % LIVE_EVERY < BATCH)
                publish(&hint, arena);
            for (size_t k = 0; k < n; k++)
                ptrs[k] = blocks[order[base + k]];
            shale_defrag_hint_decide(&hint, ptrs, n, go);
            for (size_t k = 0; k < n; k++)
                if (go[k]) {
                    blocks[order[base + k]] = shale_mem_defrag_move(ptrs[k], arena);
                    moved++;
                }
        }
        printf(", moved %zu of %zu blocks\n", moved, kept);
    }
    for (size_t i = 0; i < kept; i++)
        shale_free(blocks[order[i]]);
    free(blocks);
    free(order);
    return 0;
}
