/* test_hash_entry: unit tests for the table encoding's field/value entries
 * (shards/hash_entry.c): both layouts, every transition between them on a
 * value update, growth and shrinkage in place, every length class of the
 * field and value headers, binary-safe bytes, and the defrag move. Run
 * under ASan too (make asan): a transition that leaks, frees twice or
 * reads a moved block fails there. Single-threaded, like a shard. */
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
#include "shards/hash_entry.h"

#define EXPECT(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fail_msg(__VA_ARGS__);                                                                 \
    } while (0)

/* len bytes of a pattern that depends on seed and contains NULs, CR, LF. */
static char *pattern(size_t len, unsigned seed)
{
    char *p = malloc(len ? len : 1);
    for (size_t i = 0; i < len; i++)
        p[i] = (char)((i * 131 + seed * 7) % 251);
    return p;
}

static struct slice sl(const char *p, size_t len)
{
    return (struct slice){p, len};
}

/* The entry holds exactly this field and value. */
static void expect_entry(const struct hash_entry *e, struct slice field, struct slice value)
{
    struct slice f = shale_hash_entry_field(e), v = shale_hash_entry_value(e);
    EXPECT(f.len == field.len, "field length %zu, expected %zu", f.len, field.len);
    EXPECT(f.len == 0 || memcmp(f.ptr, field.ptr, f.len) == 0, "field bytes differ (len %zu)",
           f.len);
    EXPECT(v.len == value.len, "value length %zu, expected %zu", v.len, value.len);
    EXPECT(v.len == 0 || memcmp(v.ptr, value.ptr, v.len) == 0, "value bytes differ (len %zu)",
           v.len);
}

/* Embedded exactly when the embedded block fits the budget. */
static void expect_layout(const struct hash_entry *e, size_t flen, size_t vlen)
{
    int embed = shale_hash_entry_embedded_size(flen, vlen) <= HASH_ENTRY_EMBED_MAX;
    EXPECT(shale_hash_entry_is_embedded(e) == embed,
           "field %zu + value %zu bytes: expected the %s layout", flen, vlen,
           embed ? "embedded" : "pointer");
}

/* Largest value that still embeds next to a field of flen bytes. */
static size_t max_embedded_value(size_t flen)
{
    size_t v = 0;
    while (shale_hash_entry_embedded_size(flen, v + 1) <= HASH_ENTRY_EMBED_MAX)
        v++;
    return v;
}

static void test_layouts(void **state)
{
    const char *f = "field";
    char *big = pattern(1000, 1);

    struct hash_entry *e = shale_hash_entry_create(sl(f, 5), sl("value", 5));
    assert_true(shale_hash_entry_is_embedded(e));
    expect_entry(e, sl(f, 5), sl("value", 5));
    /* One allocation holds both. */
    EXPECT(shale_hash_entry_alloc_size(e) <= 16, "field 5 + value 5 took %zu bytes",
           shale_hash_entry_alloc_size(e));
    shale_hash_entry_destroy(e);

    e = shale_hash_entry_create(sl(f, 5), sl(big, 1000));
    assert_false(shale_hash_entry_is_embedded(e));
    expect_entry(e, sl(f, 5), sl(big, 1000));
    EXPECT(shale_hash_entry_alloc_size(e) >= 1000 + 5 + 8, "pointer layout too small: %zu",
           shale_hash_entry_alloc_size(e));
    shale_hash_entry_destroy(e);

    /* The budget boundary, exactly. */
    size_t vmax = max_embedded_value(5);
    assert_int_equal(shale_hash_entry_embedded_size(5, vmax), HASH_ENTRY_EMBED_MAX);
    e = shale_hash_entry_create(sl(f, 5), sl(big, vmax));
    assert_true(shale_hash_entry_is_embedded(e));
    expect_entry(e, sl(f, 5), sl(big, vmax));
    shale_hash_entry_destroy(e);
    e = shale_hash_entry_create(sl(f, 5), sl(big, vmax + 1));
    assert_false(shale_hash_entry_is_embedded(e));
    expect_entry(e, sl(f, 5), sl(big, vmax + 1));
    shale_hash_entry_destroy(e);
    /* A field alone over the budget: pointer layout even for "". */
    e = shale_hash_entry_create(sl(big, 500), sl("", 0));
    assert_false(shale_hash_entry_is_embedded(e));
    expect_entry(e, sl(big, 500), sl("", 0));
    shale_hash_entry_destroy(e);
    free(big);
}

/* The benchmark's entry: field f<N>, 15-byte value: one 32-byte block. */
static void test_benchmark_entry_size(void **state)
{
    char field[8];
    int n = snprintf(field, sizeof field, "f%d", 999);
    struct hash_entry *e = shale_hash_entry_create(sl(field, (size_t)n), sl("abcdefghijklmno", 15));
    assert_true(shale_hash_entry_is_embedded(e));
    assert_int_equal(shale_hash_entry_embedded_size(4, 15), 21);
    /* A cell: 24 bytes where jemalloc's next class is 32. */
    EXPECT(shale_hash_entry_alloc_size(e) == CELL_SIZE, "f999 -> 15 bytes took %zu bytes",
           shale_hash_entry_alloc_size(e));
    shale_hash_entry_destroy(e);
}

/* Every transition on a value update, in both directions, checking the
 * layout and contents after each, from several field sizes. */
static void test_transitions(void **state)
{
    static const size_t fields[] = {0, 1, 5, 31, 32, 60};
    char *bytes = pattern(100100, 3);

    for (size_t fi = 0; fi < sizeof fields / sizeof fields[0]; fi++) {
        size_t flen = fields[fi];
        char *field = pattern(flen, 9);
        size_t vmax = max_embedded_value(flen);
        /* Sizes that walk embedded -> embedded (grow, shrink) -> pointer
         * -> pointer (grow, shrink) -> embedded -> pointer -> embedded. */
        size_t seq[] = {0, 1,      3, vmax / 2, vmax, vmax + 1, vmax + 200, 70000, vmax + 1, vmax,
                        2, 100000, 0, 64,       63,   16384,    16383,      vmax,  0};
        struct hash_entry *e = shale_hash_entry_create(sl(field, flen), sl(bytes, 0));
        expect_layout(e, flen, 0);
        for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) {
            struct slice v = sl(bytes + i, seq[i]);
            int was_pointer = !shale_hash_entry_is_embedded(e);
            int stays_pointer = shale_hash_entry_embedded_size(flen, seq[i]) > HASH_ENTRY_EMBED_MAX;
            struct hash_entry *moved = shale_hash_entry_set_value(e, v);
            /* Pointer -> pointer never moves the field block. */
            if (was_pointer && stays_pointer)
                EXPECT(moved == e, "pointer layout update moved the entry (value %zu)", seq[i]);
            e = moved;
            expect_layout(e, flen, seq[i]);
            expect_entry(e, sl(field, flen), v);
        }
        shale_hash_entry_destroy(e);
        free(field);
    }
    free(bytes);
}

/* Updates that stay in the block's allocation keep the entry where it is;
 * a block left mostly empty is given back. */
static void test_in_place(void **state)
{
    char *bytes = pattern(400, 4);
    struct hash_entry *e = shale_hash_entry_create(sl("f", 1), sl(bytes, 40));
    size_t block = shale_hash_entry_alloc_size(e);

    /* Shrinking by a byte or growing into the block's own slack: in place. */
    struct hash_entry *same = shale_hash_entry_set_value(e, sl(bytes + 1, 39));
    assert_ptr_equal(same, e);
    expect_entry(e, sl("f", 1), sl(bytes + 1, 39));
    size_t room = block - shale_hash_entry_embedded_size(1, 0);
    if (room >= 40) {
        same = shale_hash_entry_set_value(e, sl(bytes + 2, room));
        assert_ptr_equal(same, e);
        expect_entry(e, sl("f", 1), sl(bytes + 2, room));
    }
    /* Shrinking to a few bytes: the block is reallocated smaller. */
    e = shale_hash_entry_set_value(e, sl(bytes, 3));
    expect_entry(e, sl("f", 1), sl(bytes, 3));
    EXPECT(shale_hash_entry_alloc_size(e) < block, "block kept %zu bytes for a 5-byte entry",
           shale_hash_entry_alloc_size(e));
    shale_hash_entry_destroy(e);

    /* Pointer layout: the value block follows the same rule. */
    e = shale_hash_entry_create(sl("f", 1), sl(bytes, 400));
    assert_false(shale_hash_entry_is_embedded(e));
    size_t before = shale_hash_entry_alloc_size(e);
    same = shale_hash_entry_set_value(e, sl(bytes + 5, 395));
    assert_ptr_equal(same, e);
    expect_entry(e, sl("f", 1), sl(bytes + 5, 395));
    assert_int_equal(shale_hash_entry_alloc_size(e), before);
    free(bytes);
    shale_hash_entry_destroy(e);
}

/* Field and value lengths at each edge of each header class (1, 2, 4 bytes;
 * the 9-byte class is in test_huge_header_classes). */
static void test_length_classes(void **state)
{
    static const size_t field_lens[] = {0, 1, 31, 32, 8191, 8192, 70000};
    static const size_t value_lens[] = {0, 1, 63, 64, 16383, 16384, 300000};
    char *bytes = pattern(300010, 5);

    for (size_t i = 0; i < sizeof field_lens / sizeof field_lens[0]; i++) {
        for (size_t j = 0; j < sizeof value_lens / sizeof value_lens[0]; j++) {
            struct slice f = sl(bytes + 7, field_lens[i]), v = sl(bytes + 3, value_lens[j]);
            struct hash_entry *e = shale_hash_entry_create(f, v);
            expect_layout(e, f.len, v.len);
            expect_entry(e, f, v);
            /* And the same through an update from another class. */
            e = shale_hash_entry_set_value(e, sl(bytes, value_lens[(j + 3) % 7]));
            expect_entry(e, f, sl(bytes, value_lens[(j + 3) % 7]));
            e = shale_hash_entry_set_value(e, v);
            expect_entry(e, f, v);
            shale_hash_entry_destroy(e);
        }
    }
    free(bytes);
}

/* The 9-byte class (field >= 2^29, value >= 2^30 bytes) without
 * allocating gigabytes: a pointer-layout entry laid out by hand as
 * hash_entry.h documents it, which reading never dereferences past the
 * headers. */
static void test_huge_header_classes(void **state)
{
    uint8_t field_block[8 + 9];
    uint8_t value_block[9];
    size_t flen = (size_t)1 << 29, vlen = ((size_t)1 << 30) + 5;
    uint8_t *vp = value_block;

    memcpy(field_block, &vp, sizeof vp);
    field_block[8] = 0x01 | 3u << 1; /* pointer layout, class 3 */
    for (int i = 0; i < 8; i++)
        field_block[9 + i] = (uint8_t)((uint64_t)flen >> (8 * i));
    value_block[0] = 3; /* class 3 */
    for (int i = 0; i < 8; i++)
        value_block[1 + i] = (uint8_t)((uint64_t)vlen >> (8 * i));
    const struct hash_entry *e = (const struct hash_entry *)(field_block + 8);
    assert_false(shale_hash_entry_is_embedded(e));
    assert_int_equal(shale_hash_entry_field(e).len, flen);
    assert_ptr_equal(shale_hash_entry_field(e).ptr, field_block + 8 + 9);
    assert_int_equal(shale_hash_entry_value(e).len, vlen);
    assert_ptr_equal(shale_hash_entry_value(e).ptr, value_block + 9);
    /* Sizes the encoder picks at the class edges. */
    assert_int_equal(shale_hash_entry_embedded_size(flen - 1, 0), 4 + flen - 1 + 1);
    assert_int_equal(shale_hash_entry_embedded_size(flen, 0), 9 + flen + 1);
    assert_int_equal(shale_hash_entry_embedded_size(0, vlen), 1 + 9 + vlen);
    assert_int_equal(shale_hash_entry_embedded_size(0, ((size_t)1 << 30) - 1),
                     1 + 4 + ((size_t)1 << 30) - 1);

    /* A real entry of the 9-byte class when asked for (512 MB). */
    if (getenv("SHALE_TEST_HUGE")) {
        char *big = calloc(flen, 1);
        big[flen - 1] = 'z';
        struct hash_entry *h = shale_hash_entry_create(sl(big, flen), sl("v", 1));
        expect_entry(h, sl(big, flen), sl("v", 1));
        shale_hash_entry_destroy(h);
        free(big);
    }
}

static void test_binary_safe(void **state)
{
    const char field[] = {'\0', 'a', '\0', '\r', '\n', '\0'};
    const char value[] = {'\0', '\0', '\0', 'x', '\0'};
    struct hash_entry *e = shale_hash_entry_create(sl(field, sizeof field), sl(value, 5));
    expect_entry(e, sl(field, sizeof field), sl(value, 5));
    char *big = pattern(500, 0); /* starts with a NUL */
    e = shale_hash_entry_set_value(e, sl(big, 500));
    expect_entry(e, sl(field, sizeof field), sl(big, 500));
    e = shale_hash_entry_set_value(e, sl(value, 1));
    expect_entry(e, sl(field, sizeof field), sl(value, 1));
    shale_hash_entry_destroy(e);
    free(big);
    /* Empty field and empty value (the slices may have no bytes behind). */
    e = shale_hash_entry_create(sl(NULL, 0), sl(NULL, 0));
    expect_entry(e, sl("", 0), sl("", 0));
    e = shale_hash_entry_set_value(e, sl(NULL, 0));
    expect_entry(e, sl("", 0), sl("", 0));
    shale_hash_entry_destroy(e);
}

/* Movers as defrag will call them: copy to a fresh block or cell, free the
 * old one, and remember what moved and which mover moved it. */
struct mover {
    int calls;
    int refuse; /* leave blocks alone (return NULL) */
    void *moved_from[4];
    char kind[4]; /* 'b' block, 'c' cell */
};

static int record(struct mover *m, void *ptr, char kind)
{
    if (m->calls < 4) {
        m->moved_from[m->calls] = ptr;
        m->kind[m->calls] = kind;
    }
    m->calls++;
    return !m->refuse;
}

static void *move_block(void *ptr, void *ctx)
{
    if (!record(ctx, ptr, 'b'))
        return NULL;
    size_t size = shale_malloc_usable_size(ptr);
    void *fresh = shale_malloc_counted(size);
    memcpy(fresh, ptr, size);
    shale_free_counted(ptr);
    return fresh;
}

static void *move_cell(void *cell, void *ctx)
{
    if (!record(ctx, cell, 'c'))
        return NULL;
    return shale_cell_move(cell);
}

static void test_defrag(void **state)
{
    char *bytes = pattern(1000, 6);

    struct mover m = {0};
    struct defrag_movers movers = {move_block, move_cell, &m};

    /* Embedded, 27 bytes: one block moves; the returned pointer is the entry. */
    struct hash_entry *e = shale_hash_entry_create(sl("field", 5), sl(bytes, 20));
    struct hash_entry *old = e;
    e = shale_hash_entry_defrag(e, &movers);
    assert_int_equal(m.calls, 1);
    assert_int_equal(m.kind[0], 'b');
    assert_ptr_equal(m.moved_from[0], old);
    expect_entry(e, sl("field", 5), sl(bytes, 20));

    /* Pointer layout: the value block first, then [pointer | field] (14
     * bytes: a block of jemalloc's 16-byte class). */
    e = shale_hash_entry_set_value(e, sl(bytes, 1000));
    assert_false(shale_hash_entry_is_embedded(e));
    struct slice v_before = shale_hash_entry_value(e);
    memset(&m, 0, sizeof m);
    old = e;
    e = shale_hash_entry_defrag(e, &movers);
    assert_int_equal(m.calls, 2);
    assert_int_equal(m.kind[0], 'b');
    assert_int_equal(m.kind[1], 'b');
    assert_ptr_equal(m.moved_from[0], (const char *)v_before.ptr - 2); /* 2-byte header */
    assert_ptr_equal(m.moved_from[1], (char *)old - sizeof(void *));
    assert_ptr_not_equal(e, old);
    expect_entry(e, sl("field", 5), sl(bytes, 1000));

    /* Movers that decline leave everything where it was. */
    memset(&m, 0, sizeof m);
    m.refuse = 1;
    old = e;
    e = shale_hash_entry_defrag(e, &movers);
    assert_int_equal(m.calls, 2);
    assert_ptr_equal(e, old);
    expect_entry(e, sl("field", 5), sl(bytes, 1000));

    /* Still a working entry: back to embedded (17 bytes, a cell), moved
     * again, freed. */
    e = shale_hash_entry_set_value(e, sl(bytes, 10));
    memset(&m, 0, sizeof m);
    old = e;
    e = shale_hash_entry_defrag(e, &movers);
    assert_int_equal(m.calls, 1);
    assert_int_equal(m.kind[0], 'c');
    assert_ptr_not_equal(e, old);
    expect_entry(e, sl("field", 5), sl(bytes, 10));
    shale_hash_entry_destroy(e);
    free(bytes);
}

/* The block the table points into is a cell exactly when it needs 17-24
 * bytes, in both layouts, and updates move it between cells and blocks. */
static void test_cells(void **state)
{
    char *bytes = pattern(600, 9);
    struct cell_heap_stats before, st;
    shale_cell_heap_stats(&before);

    /* Embedded: field 4 ("f123") + value v: 1 + 4 + 1 + v bytes. */
    for (size_t v = 0; v <= 30; v++) {
        struct hash_entry *e = shale_hash_entry_create(sl("f123", 4), sl(bytes, v));
        size_t need = 6 + v;
        int cell = need >= 17 && need <= CELL_SIZE;
        shale_cell_heap_stats(&st);
        EXPECT((st.cells_used - before.cells_used == 1) == cell, "value %zu (%zu bytes): %s a cell",
               v, need, cell ? "not in" : "in");
        if (cell)
            assert_int_equal(shale_hash_entry_alloc_size(e), CELL_SIZE);
        /* Across the boundary both ways, and back. */
        e = shale_hash_entry_set_value(e, sl(bytes, 30 - v));
        expect_entry(e, sl("f123", 4), sl(bytes, 30 - v));
        e = shale_hash_entry_set_value(e, sl(bytes, v));
        expect_entry(e, sl("f123", 4), sl(bytes, v));
        shale_hash_entry_destroy(e);
    }
    /* Pointer layout: [pointer | field header | field] is a cell for
     * fields of 8-15 bytes; embedded (cell) -> pointer (cell) -> embedded. */
    struct hash_entry *e = shale_hash_entry_create(sl("fieldfield", 10), sl(bytes, 5));
    shale_cell_heap_stats(&st);
    assert_int_equal(st.cells_used - before.cells_used, 1); /* 1 + 10 + 1 + 5 */
    e = shale_hash_entry_set_value(e, sl(bytes, 600));
    assert_false(shale_hash_entry_is_embedded(e));
    shale_cell_heap_stats(&st);
    assert_int_equal(st.cells_used - before.cells_used, 1); /* 8 + 1 + 10 */
    expect_entry(e, sl("fieldfield", 10), sl(bytes, 600));
    e = shale_hash_entry_set_value(e, sl(bytes, 7));
    assert_true(shale_hash_entry_is_embedded(e));
    expect_entry(e, sl("fieldfield", 10), sl(bytes, 7));
    shale_hash_entry_destroy(e);

    shale_cell_heap_stats(&st);
    assert_int_equal(st.cells_used, before.cells_used);
    assert_int_equal(st.pages, before.pages); /* pages free when they empty */
    free(bytes);
}

/* Many random updates against a reference copy. */
static void test_random_updates(void **state)
{
    enum { N = 64, ROUNDS = 20000 };
    struct hash_entry *entries[N];
    size_t vlen[N];
    char *bytes = pattern(5000, 8);
    char field[16];
    uint64_t rng = 42;

    for (int i = 0; i < N; i++) {
        int n = snprintf(field, sizeof field, "f%d", i);
        vlen[i] = (size_t)i;
        entries[i] = shale_hash_entry_create(sl(field, (size_t)n), sl(bytes + i, vlen[i]));
    }
    for (int r = 0; r < ROUNDS; r++) {
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        int i = (int)((rng >> 33) % N);
        size_t len = (size_t)((rng >> 17) % 4) == 0 ? (rng >> 40) % 4000 : (rng >> 40) % 140;
        vlen[i] = len;
        entries[i] = shale_hash_entry_set_value(entries[i], sl(bytes + i, len));
        int n = snprintf(field, sizeof field, "f%d", i);
        expect_entry(entries[i], sl(field, (size_t)n), sl(bytes + i, len));
    }
    for (int i = 0; i < N; i++) {
        int n = snprintf(field, sizeof field, "f%d", i);
        expect_entry(entries[i], sl(field, (size_t)n), sl(bytes + i, vlen[i]));
        shale_hash_entry_destroy(entries[i]);
    }
    free(bytes);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layouts),        cmocka_unit_test(test_benchmark_entry_size),
        cmocka_unit_test(test_transitions),    cmocka_unit_test(test_in_place),
        cmocka_unit_test(test_length_classes), cmocka_unit_test(test_huge_header_classes),
        cmocka_unit_test(test_binary_safe),    cmocka_unit_test(test_defrag),
        cmocka_unit_test(test_cells),          cmocka_unit_test(test_random_updates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
