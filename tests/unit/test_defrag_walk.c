/* test_defrag_walk: unit tests for a shard's defrag walk (shards/defrag.c)
 * with a hint that moves everything, on a keyspace holding every kind of
 * allocation: string keys with and without a TTL, compact hashes, table
 * hashes with embedded and pointer-layout entries, hashes above
 * active-defrag-max-scan-fields (walked later, by name), two databases. The
 * walk runs in the smallest slices (deadline already passed), and between
 * slices the keyspace changes as commands would change it: keys deleted,
 * added (the table grows and rehashes), hashes rewritten, a big hash deleted
 * or shrunk to compact while it is being walked, a database flushed. After
 * each cycle every value is checked against a model, and every key that sat
 * still must have been moved. Under ASan (make asan) a stale pointer anywhere
 * in the walk is a use-after-free. Single-threaded, like a shard. */
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
#include "shards/defrag.h"
#include "shards/expire.h"
#include "shards/hash.h"
#include "shards/keyspace.h"
#include "shards/object.h"

#define EXPECT(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fail_msg(__VA_ARGS__);                                                                 \
    } while (0)

#define NDB        2
#define MAX_KEYS   6000
#define MAX_SCAN   100
#define FAR_FUTURE 4102444800000LL /* 2100-01-01, ms */

enum kind { K_NONE, K_STRING, K_HASH };

/* The model: what each key holds. Hash fields are generated from
 * (id, field, gen) so only the shape is stored. */
struct model_key {
    enum kind kind;
    int db;
    int gen;
    int nfields;
    int layout; /* 0: small values, 1: every other value 300 bytes */
    int ttl;
    struct kobj *seen; /* object address when the cycle started */
};

static struct model_key model[MAX_KEYS];
static const struct hash_config hcfg = {
    .max_compact_entries = 16, .max_compact_value = 64, .seed = 0x77};

static struct slice key_of(int id, char *buf)
{
    return (struct slice){buf, (size_t)snprintf(buf, 32, "key:%d", id)};
}

static size_t string_value(int id, int gen, char *buf)
{
    size_t len = (size_t)((id * 37 + gen * 11) % 300) + 1;
    for (size_t i = 0; i < len; i++)
        buf[i] = (char)('a' + (id + gen + (int)i) % 26);
    return len;
}

static size_t field_name(int f, char *buf)
{
    return (size_t)snprintf(buf, 32, "field:%d", f);
}

static size_t field_value(int id, int f, int gen, int layout, char *buf)
{
    size_t len = layout && (f % 2) ? 300 : (size_t)((id + f + gen) % 40) + 1;
    for (size_t i = 0; i < len; i++)
        buf[i] = (char)('A' + (id * 3 + f + gen + (int)i) % 26);
    return len;
}

static void put_string(struct keyspace *ks, int id, int db, int gen, int ttl)
{
    char kb[32], vb[512];
    struct slice k = key_of(id, kb);
    struct slice v = {vb, string_value(id, gen, vb)};
    struct kobj *o = shale_kobj_new_string(k, v, ttl ? FAR_FUTURE : KOBJ_NO_EXPIRE);
    struct table_slot *ref = shale_keyspace_find(ks, db, k, 0);
    if (ref)
        shale_keyspace_replace(ks, db, ref, o);
    else
        shale_keyspace_add(ks, db, o);
    model[id] = (struct model_key){.kind = K_STRING, .db = db, .gen = gen, .ttl = ttl};
}

static void put_hash(struct keyspace *ks, int id, int db, int nfields, int layout, int gen)
{
    char kb[32], fb[32], vb[512];
    struct slice k = key_of(id, kb);
    shale_keyspace_delete(ks, db, k);
    struct hash *h = shale_hash_create();
    for (int f = 0; f < nfields; f++)
        shale_hash_set(&h, (struct slice){fb, field_name(f, fb)},
                       (struct slice){vb, field_value(id, f, gen, layout, vb)}, &hcfg);
    shale_keyspace_add(ks, db, shale_kobj_new_ptr(k, KOBJ_HASH, h, KOBJ_NO_EXPIRE));
    model[id] = (struct model_key){
        .kind = K_HASH, .db = db, .gen = gen, .nfields = nfields, .layout = layout};
}

static void delete_key(struct keyspace *ks, int id)
{
    char kb[32];
    EXPECT(shale_keyspace_delete(ks, model[id].db, key_of(id, kb)), "key:%d should exist", id);
    model[id].kind = K_NONE;
}

static void check_all(struct keyspace *ks)
{
    uint64_t want[NDB] = {0};
    char kb[32], fb[32], vb[512];
    for (int id = 0; id < MAX_KEYS; id++) {
        struct model_key *m = &model[id];
        if (m->kind == K_NONE)
            continue;
        want[m->db]++;
        struct slice k = key_of(id, kb);
        struct table_slot *ref = shale_keyspace_ref(ks, m->db, k);
        EXPECT(ref, "key:%d missing from db %d", id, m->db);
        struct kobj *o = keyspace_obj(ref);
        struct slice got_key = shale_kobj_key(o);
        EXPECT(got_key.len == k.len && !memcmp(got_key.ptr, k.ptr, k.len), "key:%d name", id);
        if (m->kind == K_STRING) {
            EXPECT(shale_kobj_type(o) == KOBJ_STRING, "key:%d should be a string", id);
            size_t n = string_value(id, m->gen, vb);
            struct slice v = shale_kobj_string(o);
            EXPECT(v.len == n && !memcmp(v.ptr, vb, n), "key:%d value differs", id);
            EXPECT((shale_kobj_expire(o) != KOBJ_NO_EXPIRE) == m->ttl, "key:%d TTL", id);
            continue;
        }
        EXPECT(shale_kobj_type(o) == KOBJ_HASH, "key:%d should be a hash", id);
        struct hash *h = shale_kobj_ptr(o);
        EXPECT((int)shale_hash_len(h) == m->nfields, "key:%d has %zu fields, expected %d", id,
               shale_hash_len(h), m->nfields);
        for (int f = 0; f < m->nfields; f++) {
            struct slice v;
            size_t n = field_value(id, f, m->gen, m->layout, vb);
            EXPECT(shale_hash_get(h, (struct slice){fb, field_name(f, fb)}, &v),
                   "key:%d field %d missing", id, f);
            EXPECT(v.len == n && !memcmp(v.ptr, vb, n), "key:%d field %d differs", id, f);
        }
    }
    for (int db = 0; db < NDB; db++)
        EXPECT(shale_keyspace_keys(ks, db) == want[db], "db %d holds %llu keys, model %llu", db,
               (unsigned long long)shale_keyspace_keys(ks, db), (unsigned long long)want[db]);
}

static void remember_addresses(struct keyspace *ks)
{
    char kb[32];
    for (int id = 0; id < MAX_KEYS; id++)
        if (model[id].kind != K_NONE)
            model[id].seen = keyspace_obj(shale_keyspace_ref(ks, model[id].db, key_of(id, kb)));
}

/* The initial keyspace: ids 0..2999 strings (every 5th with a TTL), 3000..
 * 3099 compact hashes, 3100..3139 table hashes (embedded), 3140..3159
 * table hashes with pointer-layout values, 3160..3163 big hashes; db 1
 * gets ids 3200..3699 as strings. */
static void populate(struct keyspace *ks)
{
    memset(model, 0, sizeof(model));
    for (int id = 0; id < 3000; id++)
        put_string(ks, id, 0, 0, id % 5 == 0);
    for (int id = 3000; id < 3100; id++)
        put_hash(ks, id, 0, 8, 0, 0);
    for (int id = 3100; id < 3140; id++)
        put_hash(ks, id, 0, 60, 0, 0);
    for (int id = 3140; id < 3160; id++)
        put_hash(ks, id, 0, 50, 1, 0);
    for (int id = 3160; id < 3164; id++)
        put_hash(ks, id, 0, 800, id % 2, 0);
    for (int id = 3200; id < 3700; id++)
        put_string(ks, id, 1, 0, 0);
}

struct fixture {
    struct keyspace *ks;
    struct expire_state *ex;
    struct defrag_hint hint;
    struct defrag_walk *w;
};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    fx->ks = shale_keyspace_create(NDB, 0x1234);
    fx->ex = shale_expire_create(NDB);
    shale_defrag_hint_init(&fx->hint);
    fx->hint.always = 1;
    fx->w = shale_defrag_walk_create(fx->ks, fx->ex, &fx->hint, shale_mem_arena_create());
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    shale_defrag_walk_destroy(fx->w);
    shale_expire_destroy(fx->ex);
    shale_keyspace_destroy(fx->ks);
    free(fx);
    return 0;
}

/* A whole cycle on a quiet keyspace: every key moved, values intact. */
static void test_quiet_cycle_moves_everything(void **state)
{
    struct fixture *fx = *state;
    populate(fx->ks);
    remember_addresses(fx->ks);
    shale_defrag_cycle_start(fx->w, MAX_SCAN);
    int calls = 0;
    while (!shale_defrag_cycle_run(fx->w, 0, NULL, NULL))
        calls++;
    shale_defrag_cycle_end(fx->w);
    check_all(fx->ks);
    char kb[32];
    for (int id = 0; id < MAX_KEYS; id++)
        if (model[id].kind != K_NONE)
            EXPECT(keyspace_obj(shale_keyspace_ref(fx->ks, model[id].db, key_of(id, kb))) !=
                       model[id].seen,
                   "key:%d was not moved", id);
    struct defrag_counts c;
    shale_defrag_counts(fx->w, &c);
    printf("%d slices; hits %llu misses %llu key_hits %llu scanned %llu\n", calls,
           (unsigned long long)c.hits, (unsigned long long)c.misses, (unsigned long long)c.key_hits,
           (unsigned long long)c.scanned);
    EXPECT(calls > 100, "the walk should have needed many slices, took %d", calls);
    assert_int_equal(c.misses, 0);
    assert_int_equal(c.key_hits, 3700 - 3200 + 3164);
    assert_int_equal(c.scanned, c.key_hits);
    /* Every entry of every hash moved too, plus the pointer-layout values. */
    EXPECT(c.hits > c.key_hits + 100 * 8 + 40 * 60 + 20 * 75 + 4 * 800,
           "only %llu allocations moved", (unsigned long long)c.hits);
}

/* Commands between slices: nothing the walk holds may go stale. */
static void test_cycle_survives_changes(void **state)
{
    struct fixture *fx = *state;
    populate(fx->ks);
    uint64_t rng = 42;
    int next_id = 3700;
    for (int cycle = 0; cycle < 3; cycle++) {
        shale_defrag_cycle_start(fx->w, MAX_SCAN);
        for (int slice = 0; !shale_defrag_cycle_run(fx->w, 0, NULL, NULL); slice++) {
            rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
            int r = (int)(rng >> 33);
            int id = r % 3700;
            switch (slice % 9) {
            case 0: /* delete a key */
                if (model[id].kind != K_NONE)
                    delete_key(fx->ks, id);
                break;
            case 1: /* rewrite a string (may change its size class) */
                if (model[id].kind == K_STRING)
                    put_string(fx->ks, id, model[id].db, model[id].gen + 1, model[id].ttl);
                break;
            case 2: /* add keys: the table grows and rehashes under the walk */
                for (int i = 0; i < 8 && next_id < MAX_KEYS; i++, next_id++)
                    put_string(fx->ks, next_id, 0, 0, next_id % 3 == 0);
                break;
            case 3: /* rewrite a hash with another shape */
                if (model[id].kind == K_HASH && model[id].nfields < 200)
                    put_hash(fx->ks, id, 0, (model[id].nfields * 3) % 70 + 1, r % 2,
                             model[id].gen + 1);
                break;
            case 4: /* a big hash replaced while it may be walked by name */
                if (slice % 27 == 4) {
                    int big = 3160 + r % 4;
                    if (r % 3 == 0)
                        put_hash(fx->ks, big, 0, 5, 0, model[big].gen + 1); /* now compact */
                    else if (r % 3 == 1 && model[big].kind != K_NONE)
                        delete_key(fx->ks, big);
                    else
                        put_hash(fx->ks, big, 0, 900, 1, model[big].gen + 1);
                }
                break;
            case 5: /* flush db 1 now and then, refill it */
                if (slice % 450 == 5) {
                    shale_keyspace_flush(fx->ks, 1);
                    for (int i = 3200; i < 3700; i++)
                        if (model[i].db == 1)
                            model[i].kind = K_NONE;
                    for (int i = 3200; i < 3300; i++)
                        put_string(fx->ks, i, 1, cycle + 1, 0);
                }
                break;
            case 6: /* move the rehash along as the shard's cron does */
                shale_keyspace_rehash(fx->ks, 50);
                break;
            default:
                break;
            }
            EXPECT(slice < 200000, "cycle %d never finished", cycle);
        }
        shale_defrag_cycle_end(fx->w);
        check_all(fx->ks);
    }
}

/* A cycle abandoned half-way (activedefrag turned off) leaves nothing
 * behind (ASan's leak check) and the next one starts from the top. */
static void test_abandoned_cycle(void **state)
{
    struct fixture *fx = *state;
    populate(fx->ks);
    shale_defrag_cycle_start(fx->w, 10);
    for (int i = 0; i < 600; i++)
        shale_defrag_cycle_run(fx->w, 0, NULL, NULL);
    EXPECT(shale_defrag_cycle_active(fx->w), "the cycle should still be running");
    shale_defrag_cycle_end(fx->w);
    EXPECT(!shale_defrag_cycle_active(fx->w), "the cycle should have ended");
    remember_addresses(fx->ks);
    shale_defrag_cycle_start(fx->w, 10);
    while (!shale_defrag_cycle_run(fx->w, 0, NULL, NULL))
        ;
    shale_defrag_cycle_end(fx->w);
    check_all(fx->ks);
    char kb[32];
    for (int id = 0; id < MAX_KEYS; id++)
        if (model[id].kind != K_NONE)
            EXPECT(keyspace_obj(shale_keyspace_ref(fx->ks, model[id].db, key_of(id, kb))) !=
                       model[id].seen,
                   "key:%d was not moved by the second cycle", id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_quiet_cycle_moves_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cycle_survives_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abandoned_cycle, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
