/* test_hash: unit tests for the hash value (shards/hash.c) and its compact
 * encoding (shards/hash_compact.c): every operation on both encodings,
 * conversion at both limits (entries and length), order, iteration, scan,
 * random picks, memory usage and the defrag hooks. Each hash is checked
 * against a plain reference array. Single-threaded, like a shard. */
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
#include "shards/hash.h"
#include "shards/hash_compact.h"
#include "shards/hash_entry.h"

#define EXPECT(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fail_msg(__VA_ARGS__);                                                                 \
    } while (0)

static const struct hash_config small_cfg = {
    .max_compact_entries = 8, .max_compact_value = 16, .seed = 0x1234};
static const struct hash_config default_cfg = {
    .max_compact_entries = 128, .max_compact_value = 64, .seed = 0x5678};

static struct slice cs(const char *s)
{
    return (struct slice){s, strlen(s)};
}

static size_t fmt(char *buf, const char *prefix, int i)
{
    return (size_t)snprintf(buf, 32, "%s%d", prefix, i);
}

static void expect_get(const struct hash *h, struct slice field, struct slice want)
{
    struct slice v;
    EXPECT(shale_hash_get(h, field, &v), "field '%.*s' missing (%s)", (int)field.len, field.ptr,
           shale_hash_encoding_name(h));
    EXPECT(v.len == want.len && memcmp(v.ptr, want.ptr, v.len) == 0,
           "field '%.*s': got '%.*s', expected '%.*s'", (int)field.len, field.ptr, (int)v.len,
           v.ptr, (int)want.len, want.ptr);
}

static void expect_missing(const struct hash *h, struct slice field)
{
    struct slice v;
    EXPECT(!shale_hash_get(h, field, &v), "field '%.*s' should be absent", (int)field.len,
           field.ptr);
}

/* Fields f<i> -> v<i> for i in [from, to). */
static void fill(struct hash **h, int from, int to, const struct hash_config *cfg)
{
    char f[32], v[32];
    for (int i = from; i < to; i++) {
        size_t fl = fmt(f, "f", i), vl = fmt(v, "v", i);
        EXPECT(shale_hash_set(h, (struct slice){f, fl}, (struct slice){v, vl}, cfg) == 1,
               "f%d should be new", i);
    }
}

static void expect_filled(const struct hash *h, int from, int to)
{
    char f[32], v[32];
    for (int i = from; i < to; i++) {
        size_t fl = fmt(f, "f", i), vl = fmt(v, "v", i);
        expect_get(h, (struct slice){f, fl}, (struct slice){v, vl});
    }
}

/* ---- the compact blob ------------------------------------------------------ */

struct pair_list {
    char text[4096]; /* "f=v," per pair */
    size_t n;
};

static void list_compact(const struct hash_compact *c, struct pair_list *out)
{
    struct slice f, v;
    size_t pos = 0;
    out->text[0] = '\0';
    out->n = 0;
    while (shale_hash_compact_next(c, &pos, &f, &v)) {
        size_t used = strlen(out->text);
        snprintf(out->text + used, sizeof out->text - used, "%.*s=%.*s,", (int)f.len, f.ptr,
                 (int)v.len, v.ptr);
        out->n++;
    }
}

static void test_compact_basics(void **state)
{
    struct hash_compact *c = shale_hash_compact_create(0xab);
    struct pair_list l;
    int created, deleted;
    struct slice v;

    assert_int_equal(shale_hash_compact_len(c), 0);
    assert_false(shale_hash_compact_get(c, cs("a"), &v));
    c = shale_hash_compact_set(c, cs("a"), cs("1"), &created);
    assert_true(created);
    c = shale_hash_compact_set(c, cs("b"), cs("22"), &created);
    c = shale_hash_compact_set(c, cs("c"), cs("333"), &created);
    list_compact(c, &l);
    assert_string_equal(l.text, "a=1,b=22,c=333,");
    /* Replace in the middle: longer, shorter, same length; order kept. */
    c = shale_hash_compact_set(c, cs("b"), cs("a much longer value"), &created);
    assert_false(created);
    list_compact(c, &l);
    assert_string_equal(l.text, "a=1,b=a much longer value,c=333,");
    c = shale_hash_compact_set(c, cs("b"), cs(""), &created);
    list_compact(c, &l);
    assert_string_equal(l.text, "a=1,b=,c=333,");
    c = shale_hash_compact_set(c, cs("c"), cs("xyz"), &created);
    list_compact(c, &l);
    assert_string_equal(l.text, "a=1,b=,c=xyz,");
    assert_int_equal(shale_hash_compact_len(c), 3);
    /* Delete first, missing, last. */
    c = shale_hash_compact_delete(c, cs("a"), &deleted);
    assert_true(deleted);
    c = shale_hash_compact_delete(c, cs("zz"), &deleted);
    assert_false(deleted);
    c = shale_hash_compact_delete(c, cs("c"), &deleted);
    assert_true(deleted);
    list_compact(c, &l);
    assert_string_equal(l.text, "b=,");
    c = shale_hash_compact_delete(c, cs("b"), &deleted);
    assert_int_equal(shale_hash_compact_len(c), 0);
    assert_int_equal(shale_hash_compact_bytes(c), HASH_COMPACT_HDR_SIZE);
    /* The owner's tag byte is never touched. */
    assert_int_equal(*(const uint8_t *)c, 0xab);
    shale_hash_compact_destroy(c);
}

/* Fields of every length up to 20 that differ from each other in exactly
 * one byte, at every position: the scan compares the last 8 bytes first,
 * and must still see a difference anywhere. */
static void test_compact_fields_differing_anywhere(void **state)
{
    for (size_t len = 1; len <= 20; len++) {
        struct hash_compact *c = shale_hash_compact_create(0);
        char base[20], f[20];
        int created;
        memset(base, 'a', len);
        for (size_t at = 0; at < len; at++) {
            memcpy(f, base, len);
            f[at] = 'b';
            c = shale_hash_compact_set(c, (struct slice){f, len}, (struct slice){f, at + 1},
                                       &created);
            assert_true(created);
        }
        struct slice v;
        EXPECT(!shale_hash_compact_get(c, (struct slice){base, len}, &v),
               "length %zu: the all-'a' field found among one-byte variants", len);
        for (size_t at = 0; at < len; at++) {
            memcpy(f, base, len);
            f[at] = 'b';
            assert_true(shale_hash_compact_get(c, (struct slice){f, len}, &v));
            EXPECT(v.len == at + 1, "length %zu, 'b' at %zu: found the pair of 'b' at %zu", len, at,
                   v.len - 1);
        }
        shale_hash_compact_destroy(c);
    }
}

/* Lengths whose varints take 1, 2 and 3 bytes, growing and shrinking in
 * place; binary bytes. */
static void test_compact_lengths_and_binary(void **state)
{
    struct hash_compact *c = shale_hash_compact_create(1);
    static const size_t lens[] = {0, 127, 128, 16383, 16384, 70000, 5, 128, 0};
    char *big = malloc(70000);
    for (size_t i = 0; i < 70000; i++)
        big[i] = (char)(i % 256); /* NULs included */
    const char bin_field[] = {'\0', 'k', '\0'};
    struct slice bf = {bin_field, sizeof bin_field};
    int created;
    struct slice v;

    c = shale_hash_compact_set(c, cs("before"), cs("x"), &created);
    c = shale_hash_compact_set(c, bf, cs(""), &created);
    c = shale_hash_compact_set(c, cs("after"), cs("y"), &created);
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        c = shale_hash_compact_set(c, bf, (struct slice){big, lens[i]}, &created);
        assert_false(created);
        assert_true(shale_hash_compact_get(c, bf, &v));
        assert_int_equal(v.len, lens[i]);
        assert_memory_equal(v.ptr, big, lens[i]);
        assert_true(shale_hash_compact_get(c, cs("before"), &v));
        assert_int_equal(v.len, 1);
        assert_true(shale_hash_compact_get(c, cs("after"), &v));
        assert_memory_equal(v.ptr, "y", 1);
        assert_int_equal(shale_hash_compact_bytes(c), HASH_COMPACT_HDR_SIZE +
                                                          shale_hash_compact_pair_size(6, 1) +
                                                          shale_hash_compact_pair_size(3, lens[i]) +
                                                          shale_hash_compact_pair_size(5, 1));
    }
    /* A field that is a prefix of another is a different field. */
    assert_false(shale_hash_compact_get(c, (struct slice){bin_field, 2}, &v));
    shale_hash_compact_destroy(c);
    free(big);
}

/* ---- the hash value --------------------------------------------------------- */

static void test_operations_on_both_encodings(void **state)
{
    for (int round = 0; round < 2; round++) {
        struct hash *h = shale_hash_create();
        int n = round == 0 ? 6 : 300; /* compact, then table */
        fill(&h, 0, n, &default_cfg);
        assert_string_equal(shale_hash_encoding_name(h), round == 0 ? "listpack" : "hashtable");
        assert_int_equal(shale_hash_encoding(h), round == 0 ? HASH_ENC_COMPACT : HASH_ENC_TABLE);
        assert_int_equal(shale_hash_len(h), n);
        expect_filled(h, 0, n);
        expect_missing(h, cs("nope"));
        expect_missing(h, cs("f"));
        /* Update: not new, value replaced, length unchanged. */
        assert_int_equal(shale_hash_set(&h, cs("f3"), cs("updated"), &default_cfg), 0);
        expect_get(h, cs("f3"), cs("updated"));
        assert_int_equal(shale_hash_len(h), n);
        /* Empty field and empty value are ordinary. */
        assert_int_equal(shale_hash_set(&h, cs(""), cs(""), &default_cfg), 1);
        expect_get(h, cs(""), cs(""));
        /* Delete present and absent. */
        assert_int_equal(shale_hash_delete(&h, cs("f1")), 1);
        assert_int_equal(shale_hash_delete(&h, cs("f1")), 0);
        expect_missing(h, cs("f1"));
        assert_int_equal(shale_hash_len(h), n);
        expect_filled(h, 4, n);
        /* Delete everything. */
        assert_int_equal(shale_hash_delete(&h, cs("")), 1);
        assert_int_equal(shale_hash_delete(&h, cs("f3")), 1);
        char f[32];
        for (int i = 0; i < n; i++)
            if (i != 1 && i != 3)
                assert_int_equal(shale_hash_delete(&h, (struct slice){f, fmt(f, "f", i)}), 1);
        assert_int_equal(shale_hash_len(h), 0);
        /* A table stays a table once converted (as in Redis). */
        assert_int_equal(shale_hash_encoding(h), round == 0 ? HASH_ENC_COMPACT : HASH_ENC_TABLE);
        fill(&h, 0, 3, &default_cfg);
        expect_filled(h, 0, 3);
        shale_hash_destroy(h);
    }
}

static void test_convert_at_entry_limit(void **state)
{
    struct hash *h = shale_hash_create();
    fill(&h, 0, 8, &small_cfg);
    assert_int_equal(shale_hash_encoding(h), HASH_ENC_COMPACT);
    /* Updates at the limit do not convert. */
    assert_int_equal(shale_hash_set(&h, cs("f0"), cs("w"), &small_cfg), 0);
    assert_int_equal(shale_hash_encoding(h), HASH_ENC_COMPACT);
    fill(&h, 8, 9, &small_cfg);
    assert_int_equal(shale_hash_encoding(h), HASH_ENC_TABLE);
    assert_int_equal(shale_hash_len(h), 9);
    expect_get(h, cs("f0"), cs("w"));
    expect_filled(h, 1, 9);
    shale_hash_destroy(h);

    /* Zero entries allowed: the first field converts. */
    struct hash_config none = small_cfg;
    none.max_compact_entries = 0;
    h = shale_hash_create();
    fill(&h, 0, 1, &none);
    assert_int_equal(shale_hash_encoding(h), HASH_ENC_TABLE);
    shale_hash_destroy(h);
}

static void test_convert_at_length_limit(void **state)
{
    char v16[17], v17[18];
    memset(v16, 'a', 16);
    v16[16] = '\0';
    memset(v17, 'b', 17);
    v17[17] = '\0';

    struct hash *h = shale_hash_create();
    fill(&h, 0, 3, &small_cfg);
    assert_int_equal(shale_hash_set(&h, cs("x"), cs(v16), &small_cfg), 1);
    assert_int_equal(shale_hash_set(&h, cs(v16), cs("y"), &small_cfg), 1);
    assert_int_equal(shale_hash_encoding(h), HASH_ENC_COMPACT);
    /* A value one byte over: converted before it is stored. */
    assert_int_equal(shale_hash_set(&h, cs("x"), cs(v17), &small_cfg), 0);
    assert_int_equal(shale_hash_encoding(h), HASH_ENC_TABLE);
    expect_get(h, cs("x"), cs(v17));
    expect_get(h, cs(v16), cs("y"));
    expect_filled(h, 0, 3);
    shale_hash_destroy(h);

    /* A field one byte over. */
    h = shale_hash_create();
    fill(&h, 0, 2, &small_cfg);
    assert_int_equal(shale_hash_set(&h, cs(v17), cs("z"), &small_cfg), 1);
    assert_int_equal(shale_hash_encoding(h), HASH_ENC_TABLE);
    expect_get(h, cs(v17), cs("z"));
    expect_filled(h, 0, 2);
    shale_hash_destroy(h);

    /* Converting by hand keeps every pair. */
    h = shale_hash_create();
    fill(&h, 0, 5, &small_cfg);
    shale_hash_convert(&h, &small_cfg);
    assert_int_equal(shale_hash_encoding(h), HASH_ENC_TABLE);
    shale_hash_convert(&h, &small_cfg); /* no-op */
    expect_filled(h, 0, 5);
    assert_int_equal(shale_hash_len(h), 5);
    shale_hash_destroy(h);
}

/* Values of every size class in a table hash, updated across the entry
 * layouts, with the table slot following each moved entry. */
static void test_table_value_updates(void **state)
{
    struct hash *h = shale_hash_create();
    char *big = malloc(20000);
    memset(big, 'q', 20000);
    fill(&h, 0, 200, &default_cfg);
    static const size_t sizes[] = {0, 15, 100, 130, 20000, 60, 1, 300, 0};
    char f[32];
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        for (int i = 0; i < 200; i += 7)
            shale_hash_set(&h, (struct slice){f, fmt(f, "f", i)}, (struct slice){big, sizes[s]},
                           &default_cfg);
        for (int i = 0; i < 200; i++) {
            struct slice v;
            assert_true(shale_hash_get(h, (struct slice){f, fmt(f, "f", i)}, &v));
            if (i % 7 == 0)
                assert_int_equal(v.len, sizes[s]);
        }
    }
    free(big);
    shale_hash_destroy(h);
}

struct collected {
    char *seen; /* per index of f<i> */
    int n;
    size_t calls;
    int order[64];
};

static void collect(void *ctx, struct slice field, struct slice value)
{
    struct collected *c = ctx;
    char buf[32];
    int i = atoi(field.ptr + 1);
    assert_true(field.ptr[0] == 'f' && i >= 0 && i < c->n);
    snprintf(buf, sizeof buf, "v%d", i);
    assert_int_equal(value.len, strlen(buf));
    assert_memory_equal(value.ptr, buf, value.len);
    if (c->calls < 64)
        c->order[c->calls] = i;
    c->seen[i]++;
    c->calls++;
}

static void test_foreach_and_scan(void **state)
{
    for (int round = 0; round < 2; round++) {
        int n = round == 0 ? 20 : 1000;
        struct hash *h = shale_hash_create();
        fill(&h, 0, n, &default_cfg);
        struct collected c = {calloc((size_t)n, 1), n, 0, {0}};
        shale_hash_foreach(h, collect, &c);
        assert_int_equal(c.calls, n);
        for (int i = 0; i < n; i++)
            assert_int_equal(c.seen[i], 1);
        if (round == 0)
            for (int i = 0; i < n; i++)
                assert_int_equal(c.order[i], i); /* insertion order */

        /* Scan: a compact hash in one call with cursor 0; a table in
         * steps, every pair at least once. */
        memset(c.seen, 0, (size_t)n);
        c.calls = 0;
        uint64_t cursor = 0;
        int steps = 0;
        do {
            cursor = shale_hash_scan(h, cursor, 10, collect, &c);
            steps++;
        } while (cursor);
        for (int i = 0; i < n; i++)
            assert_true(c.seen[i] >= 1);
        if (round == 0)
            assert_int_equal(steps, 1);
        else
            assert_true(steps > 20 && c.calls == (size_t)n);
        /* A huge count takes everything at once. */
        c.calls = 0;
        assert_int_equal(shale_hash_scan(h, 0, SIZE_MAX, collect, &c), 0);
        assert_int_equal(c.calls, n);
        free(c.seen);
        shale_hash_destroy(h);
    }
}

static void test_random(void **state)
{
    uint64_t rng = 7;
    for (int round = 0; round < 2; round++) {
        int n = round == 0 ? 10 : 500;
        struct hash *h = shale_hash_create();
        fill(&h, 0, n, &default_cfg);
        struct collected c = {calloc((size_t)n, 1), n, 0, {0}};
        /* Repeats allowed: exactly the count, every field shows up. */
        shale_hash_random(h, (size_t)n * 50, 0, &rng, collect, &c);
        assert_int_equal(c.calls, (size_t)n * 50);
        for (int i = 0; i < n; i++)
            EXPECT(c.seen[i] > 0, "f%d never picked in %d draws", i, n * 50);
        /* Distinct: few (draw and reject) and many (shuffle). */
        static const int fractions[] = {10, 2, 1};
        for (int k = 0; k < 3; k++) {
            int want = k == 2 ? n - 1 : n / fractions[k];
            memset(c.seen, 0, (size_t)n);
            c.calls = 0;
            shale_hash_random(h, (size_t)want, 1, &rng, collect, &c);
            assert_int_equal(c.calls, want);
            for (int i = 0; i < n; i++)
                EXPECT(c.seen[i] <= 1, "f%d picked twice for a distinct draw", i);
        }
        free(c.seen);
        shale_hash_destroy(h);
    }
}

static void test_mem_usage(void **state)
{
    struct hash *h = shale_hash_create();
    fill(&h, 0, 10, &default_cfg);
    size_t compact = shale_hash_mem_usage(h);
    EXPECT(compact < 200, "10 small pairs take %zu bytes compact", compact);
    fill(&h, 10, 1000, &default_cfg);
    size_t table = shale_hash_mem_usage(h);
    /* "f123" -> "v123" entries are 10 bytes (a 16-byte block, 10 with
     * libc under ASan), plus 9.1-16 bytes of table per field. */
    EXPECT(table > 1000 * (10 + 9) && table < 1000 * (16 + 17), "1000 fields take %zu bytes",
           table);
    shale_hash_destroy(h);
}

static void *move_block(void *ptr, void *ctx)
{
    int *moves = ctx;
    size_t size = shale_malloc_usable_size(ptr);
    void *fresh = shale_malloc(size);
    memcpy(fresh, ptr, size);
    shale_free(ptr);
    (*moves)++;
    return fresh;
}

static void *move_cell(void *cell, void *ctx)
{
    int *moves = ctx;
    (*moves)++;
    return shale_cell_move(cell);
}

static void test_defrag_hooks(void **state)
{
    for (int round = 0; round < 2; round++) {
        int n = round == 0 ? 10 : 400;
        int moves = 0;
        struct hash *h = shale_hash_create();
        fill(&h, 0, n, &default_cfg);
        /* A few values in the pointer layout. */
        char big[300];
        memset(big, 'z', sizeof big);
        if (round == 1)
            for (int i = 0; i < n; i += 50) {
                char f[32];
                shale_hash_set(&h, (struct slice){f, fmt(f, "f", i)},
                               (struct slice){big, sizeof big}, &default_cfg);
            }
        struct hash *old = h;
        h = shale_hash_defrag(h, move_block, &moves);
        assert_ptr_not_equal(h, old);
        assert_int_equal(moves, 1);
        uint64_t cursor = 0;
        int steps = 0;
        struct defrag_movers movers = {move_block, move_cell, &moves};
        do {
            cursor = shale_hash_defrag_entries(h, cursor, &movers);
            steps++;
        } while (cursor);
        /* Compact: nothing more to move; table: every entry, plus the
         * value blocks of the pointer-layout ones. */
        assert_int_equal(moves, round == 0 ? 1 : 1 + n + n / 50);
        for (int i = 0; i < n; i++) {
            char f[32], v[32];
            struct slice want = (round == 1 && i % 50 == 0) ? (struct slice){big, sizeof big}
                                                            : (struct slice){v, fmt(v, "v", i)};
            expect_get(h, (struct slice){f, fmt(f, "f", i)}, want);
        }
        assert_int_equal(shale_hash_len(h), n);
        shale_hash_destroy(h);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compact_basics),
        cmocka_unit_test(test_compact_lengths_and_binary),
        cmocka_unit_test(test_compact_fields_differing_anywhere),
        cmocka_unit_test(test_operations_on_both_encodings),
        cmocka_unit_test(test_convert_at_entry_limit),
        cmocka_unit_test(test_convert_at_length_limit),
        cmocka_unit_test(test_table_value_updates),
        cmocka_unit_test(test_foreach_and_scan),
        cmocka_unit_test(test_random),
        cmocka_unit_test(test_mem_usage),
        cmocka_unit_test(test_defrag_hooks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
