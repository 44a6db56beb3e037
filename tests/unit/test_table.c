/* test_table: unit tests for the keyspace hash table (shards/table.c) and the
 * hash function under it (server/hashfn.c). Single-threaded, like the shard
 * thread that owns a table. Entries are small heap objects holding a key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "server/hashfn.h"
#include "server/mem.h"
#include "shards/table.h"

#define EXPECT(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fail_msg(__VA_ARGS__);                                                                 \
    } while (0)

struct tentry {
    size_t len;
    char key[];
};

static size_t freed_entries;

static struct slice tentry_key(const void *entry)
{
    const struct tentry *e = entry;
    return (struct slice){e->key, e->len};
}

static const struct table_type tentry_type = {.entry_key = tentry_key};

static struct tentry *tentry_new(const void *key, size_t len)
{
    struct tentry *e = shale_malloc(sizeof *e + len);
    e->len = len;
    memcpy(e->key, key, len);
    return e;
}

static void tentry_free(void *entry)
{
    freed_entries++;
    shale_free(entry);
}

static size_t fmt_key(char *buf, const char *prefix, size_t i)
{
    return (size_t)snprintf(buf, 32, "%s%zu", prefix, i);
}

static struct tentry *add_key(struct table *t, const char *prefix, size_t i)
{
    char buf[32];
    struct tentry *e = tentry_new(buf, fmt_key(buf, prefix, i));
    shale_table_add(t, e);
    return e;
}

static void *find_key(struct table *t, const char *prefix, size_t i)
{
    char buf[32];
    return shale_table_find(t, buf, fmt_key(buf, prefix, i));
}

static void *remove_key(struct table *t, const char *prefix, size_t i)
{
    char buf[32];
    return shale_table_remove(t, buf, fmt_key(buf, prefix, i));
}

static uint64_t test_rng = 42;

static uint64_t next_rand(void)
{
    uint64_t x = test_rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return test_rng = x;
}

static void test_add_find_remove_1m(void **state)
{
    const size_t n = 1000000;
    struct table *t = shale_table_create(&tentry_type, 0x1234);
    struct tentry **entries = shale_malloc(n * sizeof *entries);

    EXPECT(shale_table_find(t, "x", 1) == NULL, "find in an empty table should return NULL");
    EXPECT(shale_table_remove(t, "x", 1) == NULL, "remove from an empty table should return NULL");
    for (size_t i = 0; i < n; i++) {
        entries[i] = add_key(t, "key:", i);
        EXPECT(shale_table_size(t) == i + 1, "size after %zu adds: expected %zu, got %zu", i + 1,
               i + 1, shale_table_size(t));
    }
    for (size_t i = 0; i < n; i++)
        EXPECT(find_key(t, "key:", i) == entries[i], "key:%zu should be found after adding 1M", i);
    for (size_t i = 0; i < n / 10; i++)
        EXPECT(find_key(t, "absent:", i) == NULL, "absent:%zu was never added but was found", i);

    struct table_stats st;
    shale_table_stats(t, &st);
    printf("    1M keys: %zu buckets, fill %.3f, avg probe %.3f buckets (max %zu), miss walk "
           "%.3f, %.1f%% buckets passed\n",
           st.buckets + st.rehash_buckets, (double)n / (8.0 * (double)st.buckets), st.avg_probe,
           st.max_probe, st.avg_miss_probe, 100.0 * (double)st.passing / (double)st.buckets);
    EXPECT(st.avg_probe < 1.5, "avg probe length %.3f: expected < 1.5 buckets", st.avg_probe);

    for (size_t i = 0; i < n; i += 2)
        EXPECT(remove_key(t, "key:", i) == entries[i], "remove key:%zu should return its entry", i);
    EXPECT(shale_table_size(t) == n / 2, "size after removing half: expected %zu, got %zu", n / 2,
           shale_table_size(t));
    for (size_t i = 0; i < n; i++) {
        void *want = i % 2 ? entries[i] : NULL;
        EXPECT(find_key(t, "key:", i) == want, "key:%zu: expected %s", i,
               want ? "found (odd keys kept)" : "absent (even keys removed)");
    }
    for (size_t i = 0; i < n; i += 2) {
        EXPECT(remove_key(t, "key:", i) == NULL, "second remove of key:%zu should return NULL", i);
        shale_free(entries[i]);
    }
    for (size_t i = 1; i < n; i += 2) {
        EXPECT(remove_key(t, "key:", i) == entries[i], "remove key:%zu should return its entry", i);
        shale_free(entries[i]);
    }
    EXPECT(shale_table_size(t) == 0, "size after removing all: expected 0, got %zu",
           shale_table_size(t));
    EXPECT(shale_table_mem_usage(t) < 128, "an empty table should hold no buckets, uses %zu bytes",
           shale_table_mem_usage(t));
    shale_free(entries);
    shale_table_destroy(t, tentry_free);
}

/* Random adds and removes against a shadow array, through growths and
 * shrinks, checking every answer and, periodically, every key. */
static void test_interleaved_during_rehash(void **state)
{
    enum { KEYS = 60000 };
    struct table *t = shale_table_create(&tentry_type, 99);
    struct tentry **shadow = shale_calloc(KEYS, sizeof *shadow);
    size_t present = 0, ops_while_rehashing = 0, grows = 0, shrinks = 0;
    size_t last_buckets = 0;

    /* Phases: grow to ~50k, shrink to ~500, grow again. */
    const size_t targets[] = {50000, 500, 40000, 0};
    for (size_t phase = 0; phase < sizeof targets / sizeof *targets; phase++) {
        size_t target = targets[phase];
        for (size_t op = 0; op < 400000 && present != target; op++) {
            size_t k = next_rand() % KEYS;
            int adding = (next_rand() % 100) < (present < target ? 70 : 30);
            adding = present == 0 || (adding && present < KEYS);
            /* Walk to the nearest key in the wanted state: adds add, removes
             * mostly remove (1 in 8 tries an absent key on purpose). */
            int miss_on_purpose = !adding && next_rand() % 8 == 0;
            while ((shadow[k] != NULL) == adding && !miss_on_purpose)
                k = (k + 1) % KEYS;
            ops_while_rehashing += shale_table_rehashing(t);
            if (adding && !shadow[k]) {
                shadow[k] = add_key(t, "r:", k);
                present++;
            } else if (!adding) {
                void *got = remove_key(t, "r:", k);
                EXPECT(got == shadow[k], "remove r:%zu: expected %s, got %p", k,
                       shadow[k] ? "its entry" : "NULL (absent)", got);
                if (got) {
                    shale_free(got);
                    shadow[k] = NULL;
                    present--;
                }
            }
            EXPECT(shale_table_size(t) == present, "size: expected %zu, got %zu", present,
                   shale_table_size(t));
            struct table_stats st;
            if (op % 64 == 0) {
                shale_table_stats(t, &st);
                grows += st.buckets > last_buckets && last_buckets;
                shrinks += st.buckets < last_buckets && st.buckets;
                last_buckets = st.buckets;
            }
            if (op % 5000 == 0 || present == target) {
                for (size_t i = 0; i < KEYS; i++)
                    EXPECT(find_key(t, "r:", i) == shadow[i], "r:%zu should be %s (phase %zu)", i,
                           shadow[i] ? "present" : "absent", phase);
            }
        }
        EXPECT(present == target, "phase %zu should reach %zu keys, has %zu", phase, target,
               present);
    }
    printf("    %zu ops during rehash, %zu grows, %zu shrinks seen\n", ops_while_rehashing, grows,
           shrinks);
    EXPECT(ops_while_rehashing > 1000, "expected many ops during rehash, saw %zu",
           ops_while_rehashing);
    EXPECT(grows > 0 && shrinks > 0, "expected both growth and shrink, saw %zu/%zu", grows,
           shrinks);
    EXPECT(shale_table_mem_usage(t) < 128, "an emptied table should free its buckets");
    shale_free(shadow);
    shale_table_destroy(t, tentry_free);
}

/* Removes that run while a growth is half migrated, keys in both arrays. */
static void test_remove_during_growth(void **state)
{
    struct table *t = shale_table_create(&tentry_type, 5);
    size_t n = 0;
    struct tentry **e = shale_calloc(100000, sizeof *e);

    while (n < 10000 || !shale_table_rehashing(t))
        e[n] = add_key(t, "g:", n), n++;
    size_t first = n, during = 0;
    for (size_t i = 0; i < first; i += 3) {
        during += shale_table_rehashing(t);
        EXPECT(remove_key(t, "g:", i) == e[i], "remove g:%zu should return its entry", i);
        shale_free(e[i]);
        e[i] = NULL;
        e[n] = add_key(t, "g:", n), n++;
    }
    EXPECT(during > 50, "expected > 50 removes while the growth migrated, got %zu", during);
    for (size_t i = 0; i < n; i++)
        EXPECT(find_key(t, "g:", i) == e[i], "g:%zu should be %s", i, e[i] ? "present" : "gone");
    /* Grow again and finish the migration from the "timer". */
    while (!shale_table_rehashing(t))
        e[n] = add_key(t, "g:", n), n++;
    int steps = 0;
    while (shale_table_rehash_step(t, 1))
        steps++;
    EXPECT(!shale_table_rehashing(t), "rehash_step returned 0 but still rehashing");
    EXPECT(steps > 10, "a growth of %zu keys should take > 10 single steps, took %d", n, steps);
    for (size_t i = 0; i < n; i++)
        EXPECT(find_key(t, "g:", i) == e[i], "after rehash_step, g:%zu should be %s", i,
               e[i] ? "present" : "gone");
    shale_free(e);
    shale_table_destroy(t, tentry_free);
}

static void test_find_ref_replace(void **state)
{
    struct table *t = shale_table_create(&tentry_type, 7);
    enum { N = 20000 };
    struct tentry **e = shale_malloc(N * sizeof *e);
    char buf[32];
    size_t replaced_in_rehash = 0;

    for (size_t i = 0; i < N; i++) {
        e[i] = add_key(t, "f:", i);
        /* Replace an earlier key right away: some of these land mid-rehash. */
        size_t j = next_rand() % (i + 1);
        size_t len = fmt_key(buf, "f:", j);
        struct table_slot *ref = shale_table_find_ref(t, buf, len);
        EXPECT(ref && table_slot_entry(ref) == e[j], "find_ref(f:%zu) should point at its entry",
               j);
        struct tentry *moved = tentry_new(buf, len);
        table_slot_set(ref, moved);
        shale_free(e[j]);
        e[j] = moved;
        replaced_in_rehash += shale_table_rehashing(t);
    }
    EXPECT(shale_table_find_ref(t, "nope", 4) == NULL, "find_ref of an absent key should be NULL");
    for (size_t i = 0; i < N; i++)
        EXPECT(find_key(t, "f:", i) == e[i], "f:%zu should find the replacement entry", i);
    EXPECT(shale_table_size(t) == N, "replacing must not change size: expected %d, got %zu", N,
           shale_table_size(t));
    EXPECT(replaced_in_rehash > 0, "expected some replacements during a rehash");
    shale_free(e);
    shale_table_destroy(t, tentry_free);
}

struct scan_ctx {
    unsigned *seen; /* per base key */
    size_t others;
    struct tentry *replace_from; /* if set, swapped for replace_to */
    struct tentry *replace_to;
};

static void scan_visit(void *ctx, struct table_slot *ref)
{
    struct scan_ctx *c = ctx;
    struct tentry *e = table_slot_entry(ref);
    if (e == c->replace_from) {
        table_slot_set(ref, c->replace_to);
        e = c->replace_to;
    }
    if (e->len > 2 && memcmp(e->key, "b:", 2) == 0) {
        size_t i = 0;
        for (size_t p = 2; p < e->len; p++)
            i = i * 10 + (size_t)(e->key[p] - '0');
        c->seen[i]++;
    } else {
        c->others++;
    }
}

static void test_scan_survives_resize(void **state)
{
    enum { BASE = 3000, OTHERS = 40000 };
    struct table *t = shale_table_create(&tentry_type, 11);
    struct scan_ctx c = {.seen = shale_calloc(BASE, sizeof(unsigned))};

    EXPECT(shale_table_scan(t, 0, scan_visit, &c) == 0, "scan of an empty table should end at 0");
    for (size_t i = 0; i < BASE; i++)
        add_key(t, "b:", i);

    /* Undisturbed: each entry exactly once; the callback may swap entries. */
    struct tentry *b0 = find_key(t, "b:", 0);
    c.replace_from = b0;
    c.replace_to = tentry_new(b0->key, b0->len);
    uint64_t cur = 0;
    size_t calls = 0;
    do {
        cur = shale_table_scan(t, cur, scan_visit, &c);
        EXPECT(cur < ((uint64_t)1 << SHALE_TABLE_CURSOR_BITS), "cursor %llu exceeds 48 bits",
               (unsigned long long)cur);
        calls++;
    } while (cur);
    for (size_t i = 0; i < BASE; i++)
        EXPECT(c.seen[i] == 1, "undisturbed scan: b:%zu seen %u times, expected once", i,
               c.seen[i]);
    EXPECT(find_key(t, "b:", 0) == c.replace_to, "scan callback replacement should stick");
    shale_free(b0);
    c.replace_from = NULL;

    /* Disturbed: grow far (x10) then shrink back between scan calls. */
    for (int round = 0; round < 3; round++) {
        memset(c.seen, 0, BASE * sizeof(unsigned));
        size_t added = 0, removed = 0, calls_disturbed = 0;
        cur = 0;
        do {
            cur = shale_table_scan(t, cur, scan_visit, &c);
            calls_disturbed++;
            for (int k = 0; k < 40 + round * 40; k++) {
                if (added < OTHERS)
                    add_key(t, "o:", added++);
                else if (removed < OTHERS)
                    tentry_free(remove_key(t, "o:", removed++));
            }
        } while (cur);
        for (size_t i = 0; i < BASE; i++)
            EXPECT(c.seen[i] >= 1, "round %d: b:%zu was present throughout but not returned", round,
                   i);
        for (size_t i = 0; i < BASE; i++)
            EXPECT(c.seen[i] == 1, "round %d: b:%zu returned %u times (expected exactly once)",
                   round, i, c.seen[i]);
        printf("    scan round %d: %zu calls while the table grew to %zu keys and shrank to %zu\n",
               round, calls_disturbed, BASE + added, shale_table_size(t));
        while (removed < added)
            tentry_free(remove_key(t, "o:", removed++));
    }
    shale_free(c.seen);
    shale_table_destroy(t, tentry_free);
}

static void check_fair(struct table *t, struct tentry **e, size_t n, size_t draws, const char *what)
{
    size_t counts[256] = {0};
    uint64_t rng = 1;
    for (size_t d = 0; d < draws; d++) {
        struct tentry *got = shale_table_random(t, &rng);
        size_t i = 0; /* keys are "x:<i>" */
        for (size_t p = 2; got && p < got->len; p++)
            i = i * 10 + (size_t)(got->key[p] - '0');
        EXPECT(got && i < n && e[i] == got, "%s: random returned %p, not an entry of the table",
               what, (void *)got);
        counts[i]++;
    }
    double expect = (double)draws / (double)n;
    for (size_t i = 0; i < n; i++)
        EXPECT(counts[i] > expect * 0.9 && counts[i] < expect * 1.1,
               "%s: entry %zu drawn %zu times, expected %.0f +-10%%", what, i, counts[i], expect);
}

static void test_random_fair(void **state)
{
    struct table *t = shale_table_create(&tentry_type, 13);
    struct tentry *e[256];
    uint64_t rng = 3;

    EXPECT(shale_table_random(t, &rng) == NULL, "random of an empty table should be NULL");
    e[0] = add_key(t, "x:", 0);
    EXPECT(shale_table_random(t, &rng) == e[0], "random of a 1-entry table is that entry");
    for (size_t i = 1; i < 50; i++)
        e[i] = add_key(t, "x:", i);
    EXPECT(!shale_table_rehashing(t) || shale_table_rehash_step(t, 100) == 0, "finish rehash");
    check_fair(t, e, 50, 500000, "50 entries");

    /* Mid-rehash: entries split over two arrays must still be equally likely. */
    size_t n = 50;
    while (!shale_table_rehashing(t) && n < 256) {
        e[n] = add_key(t, "x:", n);
        n++;
    }
    EXPECT(shale_table_rehashing(t), "expected a rehash to start by 256 entries");
    check_fair(t, e, n, n * 5000, "mid-rehash");
    shale_table_destroy(t, tentry_free);
}

static void test_sample(void **state)
{
    struct table *t = shale_table_create(&tentry_type, 17);
    void *out[64];
    uint64_t rng = 9;

    EXPECT(shale_table_sample(t, out, 16, &rng) == 0, "sample of an empty table should be 0");
    for (size_t i = 0; i < 10; i++)
        add_key(t, "s:", i);
    EXPECT(shale_table_sample(t, out, 64, &rng) == 10, "sample of 64 from 10 should return 10");
    for (size_t i = 10; i < 5000; i++)
        add_key(t, "s:", i);
    for (int round = 0; round < 100; round++) {
        size_t got = shale_table_sample(t, out, 16, &rng);
        EXPECT(got == 16, "sample of 16 from 5000 returned %zu", got);
        for (size_t i = 0; i < got; i++) {
            struct tentry *s = out[i];
            EXPECT(shale_table_find(t, s->key, s->len) == s, "sampled entry not in the table");
            for (size_t j = 0; j < i; j++)
                EXPECT(out[j] != out[i], "sample returned the same entry twice");
        }
    }
    shale_table_destroy(t, tentry_free);
}

static void test_mem_usage(void **state)
{
    const size_t n = 1000000;
    struct table *t = shale_table_create(&tentry_type, 21);
    double best = 1e9, worst = 0;

    for (size_t i = 0; i < n; i++) {
        add_key(t, "m:", i);
        /* Steady state only: during a rehash both arrays are alive. */
        if (shale_table_rehashing(t) || i < 100000)
            continue;
        double per = (double)shale_table_mem_usage(t) / (double)(i + 1);
        best = per < best ? per : best;
        worst = per > worst ? per : worst;
    }
    while (shale_table_rehash_step(t, 1000))
        ;
    double per_key = (double)shale_table_mem_usage(t) / (double)n;
    printf("    table overhead at 1M keys: %.2f bytes/key (%zu bytes); steady state from 100k "
           "to 1M keys ranged %.2f..%.2f bytes/key\n",
           per_key, shale_table_mem_usage(t), best, worst);
    EXPECT(per_key <= 10.6, "at 1M keys: %.2f bytes/key, expected <= 10.6 (a 10 MiB array)",
           per_key);
    EXPECT(best <= 9.5, "best steady state %.2f bytes/key, expected <= 9.5 (fill 7/8)", best);
    EXPECT(worst <= 13.0, "worst steady state %.2f bytes/key, expected <= 13 (fill 5/8)", worst);
    shale_table_destroy(t, tentry_free);
}

static void test_churn_keeps_probes_short(void **state)
{
    struct table *t = shale_table_create(&tentry_type, 23);
    size_t n = 0;

    /* Fill to just under the growth point (7 per 8-slot bucket), then churn. */
    while (n < 50000 || !shale_table_rehashing(t))
        add_key(t, "c:", n++);
    while (shale_table_rehash_step(t, 1000))
        ;
    struct table_stats before, after;
    shale_table_stats(t, &before);
    while (n < 7 * before.buckets - 10)
        add_key(t, "c:", n++);
    shale_table_stats(t, &before);
    size_t lo = 0, hi = n;
    for (size_t op = 0; op < 5 * n; op++) {
        /* Remove a random live key, add a new one: size stays put. */
        size_t k = lo + next_rand() % (hi - lo);
        struct tentry *e = remove_key(t, "c:", k);
        if (!e)
            continue;
        tentry_free(e);
        add_key(t, "c:", hi++);
        if (k == lo)
            lo++;
    }
    shale_table_stats(t, &after);
    printf("    churn at fill %.3f: avg probe %.3f -> %.3f, miss probe %.3f -> %.3f, "
           "buckets passed %.1f%% -> %.1f%%\n",
           (double)shale_table_size(t) / (8.0 * (double)after.buckets), before.avg_probe,
           after.avg_probe, before.avg_miss_probe, after.avg_miss_probe,
           100.0 * (double)before.passing / (double)before.buckets,
           100.0 * (double)after.passing / (double)after.buckets);
    EXPECT(after.buckets == before.buckets, "churn at constant size should not resize");
    EXPECT(after.avg_probe < before.avg_probe * 1.25,
           "probe length after churn %.3f, expected within 25%% of fresh %.3f", after.avg_probe,
           before.avg_probe);
    EXPECT(after.passing < before.passing * 5 / 4,
           "passed buckets after churn %zu, expected within 25%% of fresh %zu", after.passing,
           before.passing);
    EXPECT(after.avg_miss_probe < before.avg_miss_probe * 1.5,
           "miss walk after churn %.3f buckets, expected within 50%% of fresh %.3f",
           after.avg_miss_probe, before.avg_miss_probe);
    shale_table_destroy(t, tentry_free);
}

static void test_clear_and_destroy(void **state)
{
    struct table *t = shale_table_create(&tentry_type, 29);
    size_t empty = shale_table_mem_usage(t);

    for (size_t i = 0; i < 10000; i++)
        add_key(t, "k:", i);
    EXPECT(shale_table_mem_usage(t) > empty, "a filled table should report its buckets");
    freed_entries = 0;
    shale_table_clear(t, tentry_free);
    EXPECT(freed_entries == 10000, "clear should free 10000 entries, freed %zu", freed_entries);
    EXPECT(shale_table_size(t) == 0, "size after clear: expected 0, got %zu", shale_table_size(t));
    EXPECT(shale_table_mem_usage(t) == empty, "clear should free the buckets (%zu vs %zu bytes)",
           shale_table_mem_usage(t), empty);
    EXPECT(find_key(t, "k:", 5) == NULL, "k:5 should be gone after clear");
    struct tentry *e = add_key(t, "k:", 5);
    EXPECT(find_key(t, "k:", 5) == e, "a cleared table should accept new keys");

    /* Clear in the middle of a rehash reaches both arrays. */
    for (size_t i = 6; !shale_table_rehashing(t); i++)
        add_key(t, "k:", i);
    size_t size = shale_table_size(t);
    freed_entries = 0;
    shale_table_clear(t, tentry_free);
    EXPECT(freed_entries == size, "clear mid-rehash should free %zu entries, freed %zu", size,
           freed_entries);
    shale_table_clear(t, NULL);

    for (size_t i = 0; i < 777; i++)
        add_key(t, "k:", i);
    freed_entries = 0;
    shale_table_destroy(t, tentry_free);
    EXPECT(freed_entries == 777, "destroy should free 777 entries, freed %zu", freed_entries);
}

/* A defrag mover: a fresh block of the same size, bytes copied, the old one
 * freed. It prefers a block that is NOT 64-byte aligned (glibc's malloc
 * hands those out; jemalloc and ASan's allocator do not for these sizes), so
 * in a MALLOC=libc build the table has to re-align its buckets, inside the
 * block or in a new one (both happen; checked under valgrind). */
static void *move_copy(void *ptr, void *ctx)
{
    size_t *moved = ctx;
    size_t size = shale_malloc_usable_size(ptr);
    void *rejects[64];
    int nrejects = 0;
    char *fresh = shale_malloc(size);
    while (((uintptr_t)fresh & 63) == 0 && nrejects < 64) {
        rejects[nrejects++] = fresh;
        fresh = shale_malloc(size);
    }
    for (int i = 0; i < nrejects; i++)
        shale_free(rejects[i]);
    memcpy(fresh, ptr, size);
    shale_free(ptr);
    (*moved)++;
    return fresh;
}

static void test_defrag_moves_arrays_and_struct(void **state)
{
    struct table *t = shale_table_create(&tentry_type, 0x99);
    size_t n = 0;
    while (n < 5000 || !shale_table_rehashing(t))
        add_key(t, "d", n++);
    EXPECT(shale_table_rehashing(t), "expected a rehash in progress");
    size_t moved = 0;
    struct table *old = t;
    t = shale_table_defrag(t, move_copy, &moved);
    EXPECT(t != old, "the table struct was not moved");
    assert_int_equal(moved, 3); /* new array, old array, struct */
    for (size_t i = 0; i < n; i++)
        EXPECT(find_key(t, "d", i), "key d%zu lost by defrag during a rehash", i);
    /* The moved table keeps working: finish the rehash, grow, shrink. */
    for (size_t i = n; i < n + 3000; i++)
        add_key(t, "d", i);
    for (size_t i = 0; i < n + 3000; i += 2)
        tentry_free(remove_key(t, "d", i));
    moved = 0;
    t = shale_table_defrag(t, move_copy, &moved);
    for (size_t i = 0; i < n + 3000; i++)
        EXPECT((find_key(t, "d", i) != NULL) == (i % 2 == 1), "key d%zu after the second defrag",
               i);
    shale_table_destroy(t, tentry_free);

    /* Small tables too: their arrays are small-bin blocks, the ones
     * jemalloc's hint can move. */
    for (size_t size = 1; size < 200; size += 7) {
        t = shale_table_create(&tentry_type, 0x99 + size);
        for (size_t i = 0; i < size; i++)
            add_key(t, "s", i);
        for (int round = 0; round < 3; round++) {
            t = shale_table_defrag(t, move_copy, &moved);
            for (size_t i = 0; i < size; i++)
                EXPECT(find_key(t, "s", i), "key s%zu of %zu lost by defrag", i, size);
        }
        shale_table_destroy(t, tentry_free);
    }
}

static void test_collisions_and_binary_keys(void **state)
{
    struct table *t = shale_table_create(&tentry_type, 31);
    enum { LEN = 70 }; /* long enough for every hash code path */
    char base[LEN], key[LEN];

    for (int i = 0; i < LEN; i++)
        base[i] = (char)('a' + i % 26);
    /* Every key that differs from base in exactly one byte, base included. */
    size_t added = 0;
    shale_table_add(t, tentry_new(base, LEN));
    added++;
    for (int p = 0; p < LEN; p++) {
        for (int v = 0; v < 256; v++) {
            if ((char)v == base[p])
                continue;
            memcpy(key, base, LEN);
            key[p] = (char)v;
            shale_table_add(t, tentry_new(key, LEN));
            added++;
        }
    }
    EXPECT(shale_table_size(t) == added, "one-byte variants: expected %zu keys, table has %zu",
           added, shale_table_size(t));
    for (int p = 0; p < LEN; p++) {
        for (int v = 0; v < 256; v++) {
            memcpy(key, base, LEN);
            key[p] = (char)v;
            struct tentry *e = shale_table_find(t, key, LEN);
            EXPECT(e && memcmp(e->key, key, LEN) == 0,
                   "variant (byte %d = %d) should find its own entry", p, v);
            EXPECT(shale_table_find(t, key, LEN - 1) == NULL,
                   "a %d-byte prefix of a key should not be found", LEN - 1);
        }
    }

    /* Binary keys: NULs, prefixes of each other, the empty key. */
    static const struct {
        const char *k;
        size_t len;
    } bin[] = {{"", 0},         {"\0", 1},     {"\0\0", 2},    {"\0\0\0", 3}, {"a", 1},
               {"a\0", 2},      {"a\0b", 3},   {"a\0c", 3},    {"\0a", 2},    {"ab\0\0", 4},
               {"ab\0\0\0", 5}, {"\xff\0", 2}, {"\xff\xff", 2}};
    size_t nbin = sizeof bin / sizeof *bin;
    struct tentry *be[sizeof bin / sizeof *bin];
    for (size_t i = 0; i < nbin; i++) {
        be[i] = tentry_new(bin[i].k, bin[i].len);
        shale_table_add(t, be[i]);
    }
    for (size_t i = 0; i < nbin; i++)
        EXPECT(shale_table_find(t, bin[i].k, bin[i].len) == be[i],
               "binary key #%zu (len %zu) should find its own entry", i, bin[i].len);
    EXPECT(shale_table_find(t, "\0\0\0\0", 4) == NULL, "4 NULs were never added");
    for (size_t i = 0; i < nbin; i += 2)
        tentry_free(shale_table_remove(t, bin[i].k, bin[i].len));
    for (size_t i = 0; i < nbin; i++)
        EXPECT(shale_table_find(t, bin[i].k, bin[i].len) == (i % 2 ? be[i] : NULL),
               "binary key #%zu should be %s", i, i % 2 ? "present" : "removed");
    shale_table_destroy(t, tentry_free);
}

static void test_hashfn(void **state)
{
    char buf[100];
    for (int i = 0; i < 100; i++)
        buf[i] = (char)i;
    for (size_t len = 0; len <= 100; len++) {
        uint64_t h = shale_hashfn_bytes(buf, len, 1);
        EXPECT(h == shale_hashfn_bytes(buf, len, 1), "hash must be deterministic");
        EXPECT(h != shale_hashfn_bytes(buf, len, 2), "len %zu: seeds 1 and 2 gave one hash", len);
        if (len > 0) {
            EXPECT(h != shale_hashfn_bytes(buf, len - 1, 1), "len %zu equals its prefix", len);
            /* Flipping any input bit flips about half the output bits. */
            unsigned flips = 0;
            for (size_t bit = 0; bit < len * 8; bit++) {
                buf[bit / 8] ^= (char)(1 << (bit % 8));
                flips += (unsigned)__builtin_popcountll(h ^ shale_hashfn_bytes(buf, len, 1));
                buf[bit / 8] ^= (char)(1 << (bit % 8));
            }
            double avg = (double)flips / (double)(len * 8);
            EXPECT(avg > 26 && avg < 38,
                   "len %zu: a 1-bit change flips %.1f bits on average, "
                   "expected about 32",
                   len, avg);
        }
    }
    /* All-zero keys of different lengths must differ. */
    memset(buf, 0, sizeof buf);
    for (size_t len = 1; len < 100; len++)
        EXPECT(shale_hashfn_bytes(buf, len, 0) != shale_hashfn_bytes(buf, len - 1, 0),
               "zero keys of length %zu and %zu collide", len, len - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hashfn),
        cmocka_unit_test(test_add_find_remove_1m),
        cmocka_unit_test(test_interleaved_during_rehash),
        cmocka_unit_test(test_remove_during_growth),
        cmocka_unit_test(test_find_ref_replace),
        cmocka_unit_test(test_scan_survives_resize),
        cmocka_unit_test(test_random_fair),
        cmocka_unit_test(test_sample),
        cmocka_unit_test(test_mem_usage),
        cmocka_unit_test(test_churn_keeps_probes_short),
        cmocka_unit_test(test_clear_and_destroy),
        cmocka_unit_test(test_collisions_and_binary_keys),
        cmocka_unit_test(test_defrag_moves_arrays_and_struct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
