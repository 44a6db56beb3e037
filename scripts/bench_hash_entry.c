/* bench_hash_entry: the measurement behind HASH_ENTRY_EMBED_MAX (see
 * shards/hash_entry.h and docs/hashes.md). Not part of the build.
 *
 * Builds shards/hash_entry.c into itself with the budget given at compile
 * time, so the same program measures "always pointer layout" (budget 0),
 * candidate budgets and "always embedded" (a huge budget):
 *
 *   make                                  # for build/libshale.a
 *   for b in 0 64 128 256 1000000; do
 *     cc -O2 -g -std=c11 -D_GNU_SOURCE -I. -DSHALE_USE_JEMALLOC -DHASH_ENTRY_EMBED_MAX=$b \
 *        -o /tmp/bench_entry_$b scripts/bench_hash_entry.c build/libshale.a \
 *        -levent_core -lcrypto -lm -pthread -ljemalloc
 *     /tmp/bench_entry_$b
 *   done
 *
 * For each value size it prints:
 *   bytes/field  allocator bytes (jemalloc size classes, both blocks) per
 *                entry, fields f0..f999 like the server benchmark; the
 *                table's own bytes are the same for every layout and left out
 *   get ns       a lookup in a 1M-entry table (shards/table.c) at a random
 *                field plus a copy of the value, as HGET does into a reply
 *   set ns       a value update to a random field, alternating between the
 *                size and the size + 24 (so half the updates change class)
 * Single-threaded. */
#include "shards/hash_entry.c"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "shards/table.h"

#define TABLE_FIELDS 1000000
#define OPS          2000000

static struct slice entry_key(const void *e)
{
    return shale_hash_entry_field(e);
}

static const struct table_type type = {.entry_key = entry_key};

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static uint64_t next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static double bytes_per_field(size_t vlen, const char *value)
{
    struct hash_entry **e = malloc(1000 * sizeof *e);
    char f[16];
    size_t total = 0;
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(f, sizeof f, "f%d", i);
        e[i] = shale_hash_entry_create((struct slice){f, (size_t)n}, (struct slice){value, vlen});
        total += shale_hash_entry_alloc_size(e[i]);
    }
    for (int i = 0; i < 1000; i++)
        shale_hash_entry_destroy(e[i]);
    free(e);
    return (double)total / 1000;
}

static void time_ops(size_t vlen, const char *value, double *get_ns, double *set_ns)
{
    struct table *t = shale_table_create(&type, 42);
    char f[16];
    for (int i = 0; i < TABLE_FIELDS; i++) {
        int n = snprintf(f, sizeof f, "f%d", i);
        shale_table_add(
            t, shale_hash_entry_create((struct slice){f, (size_t)n}, (struct slice){value, vlen}));
    }
    char *out = malloc(vlen + 64);
    uint64_t rng = 88172645463325252ULL, sum = 0;
    double t0 = now_ns();
    for (int op = 0; op < OPS; op++) {
        int n = snprintf(f, sizeof f, "f%d", (int)(next(&rng) % TABLE_FIELDS));
        const struct hash_entry *e = shale_table_find(t, f, (size_t)n);
        struct slice v = shale_hash_entry_value(e);
        memcpy(out, v.ptr, v.len);
        sum += (uint8_t)out[v.len / 2];
    }
    *get_ns = (now_ns() - t0) / OPS;
    t0 = now_ns();
    for (int op = 0; op < OPS; op++) {
        int n = snprintf(f, sizeof f, "f%d", (int)(next(&rng) % TABLE_FIELDS));
        struct table_slot *ref = shale_table_find_ref(t, f, (size_t)n);
        size_t len = vlen + (op & 1 ? 24 : 0);
        table_slot_set(ref, shale_hash_entry_set_value(table_slot_entry(ref), (struct slice){value, len}));
    }
    *set_ns = (now_ns() - t0) / OPS;
    if (sum == 1)
        printf(" ");
    free(out);
    shale_table_destroy(t, (void (*)(void *))shale_hash_entry_destroy);
}

int main(void)
{
    static const size_t sizes[] = {15, 32, 48, 64, 96, 120, 128, 160, 200, 256, 384, 512, 1024};
    char *value = malloc(2048);
    memset(value, 'v', 2048);
    printf("HASH_ENTRY_EMBED_MAX %d (%s, %s)\n", HASH_ENTRY_EMBED_MAX, shale_mem_allocator_name(),
           "fields f0..f999 for bytes, f0..f999999 for time");
    printf("%6s %12s %8s %8s\n", "value", "bytes/field", "get ns", "set ns");
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        double get_ns, set_ns;
        time_ops(sizes[i], value, &get_ns, &set_ns);
        printf("%6zu %12.1f %8.1f %8.1f\n", sizes[i], bytes_per_field(sizes[i], value), get_ns,
               set_ns);
        fflush(stdout);
    }
    /* Averages over every value size of a range: what a mix of sizes pays. */
    static const size_t ranges[][2] = {{1, 64}, {65, 128}, {129, 256}, {257, 512}};
    printf("%-12s %12s\n", "value range", "bytes/field");
    for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++) {
        double sum = 0;
        for (size_t v = ranges[r][0]; v <= ranges[r][1]; v++)
            sum += bytes_per_field(v, value);
        printf("%4zu..%-6zu %12.1f\n", ranges[r][0], ranges[r][1],
               sum / (double)(ranges[r][1] - ranges[r][0] + 1));
    }
    free(value);
    return 0;
}
