/* defrag: the stage walk of one shard (stages and safety rules in
 * defrag.h). Shard thread only; every call keeps to its deadline give or
 * take one unit of work (a table scan step: a few keys, or a hash of at
 * most active-defrag-max-scan-fields fields). */
#include "shards/defrag.h"

#include <string.h>

#include "server/clock.h"
#include "server/defrag_hint.h"
#include "server/mem.h"
#include "shards/cells.h"
#include "shards/expire.h"
#include "shards/hash.h"
#include "shards/hash_entry.h"
#include "shards/keyspace.h"
#include "shards/object.h"

enum defrag_stage {
    STAGE_KEYS,   /* key objects, values, hashes (deferred ones in between) */
    STAGE_TABLES, /* the keyspace's tables and database array */
    STAGE_EXPIRE, /* the expiry state */
    STAGE_DONE,
};

/* Key objects whose hints are asked of jemalloc in one batch_query. */
#define DEFRAG_KEY_BATCH 64
/* Hash-table scan steps of a deferred hash between two clock reads. */
#define DEFRAG_LATER_STEPS 8

/* A hash too big to do at once, by name: its pointer may not survive until
 * the next call. */
struct defrag_later {
    int db;
    uint64_t cursor; /* in the hash's table; a position, so it survives resizes */
    size_t len;
    char *name;
};

struct defrag_walk {
    struct keyspace *ks;
    struct expire_state *expire;
    const struct defrag_hint *hint;
    unsigned arena;

    int active;
    enum defrag_stage stage;
    int db;
    uint64_t cursor; /* keyspace scan position in db */
    size_t max_scan_fields;

    struct defrag_later *later; /* FIFO: [head, n) pending */
    size_t later_head, later_n, later_cap;

    /* The current call's limits. */
    int64_t deadline_us;
    int (*yield)(void *ctx);
    void *yield_ctx;

    /* Slots of the current scan step; valid until the step's end, since the
     * walk neither adds nor removes keys. */
    struct table_slot *batch[DEFRAG_KEY_BATCH];
    size_t nbatch;

    struct defrag_movers movers; /* for hash entries: move_one, move_cell */
    struct defrag_counts counts;
};

/* The `move` every hook gets: ask the hint, move or leave, count. */
static void *move_one(void *ptr, void *ctx)
{
    struct defrag_walk *w = ctx;
    uint8_t go;
    shale_defrag_hint_decide(w->hint, &ptr, 1, &go);
    if (!go) {
        w->counts.misses++;
        return NULL;
    }
    w->counts.hits++;
    return shale_mem_defrag_move(ptr, w->arena);
}

/* A cell moves when its page is being evacuated (shards/cells.h), or
 * always in a DEFRAG=force build. */
static void *move_cell(void *cell, void *ctx)
{
    struct defrag_walk *w = ctx;
    if (!w->hint->always && !shale_cell_evacuating(cell)) {
        w->counts.misses++;
        return NULL;
    }
    w->counts.hits++;
    return shale_cell_move(cell);
}

struct defrag_walk *shale_defrag_walk_create(struct keyspace *ks, struct expire_state *expire,
                                             const struct defrag_hint *hint, unsigned arena)
{
    struct defrag_walk *w = shale_calloc(1, sizeof(*w));
    w->ks = ks;
    w->expire = expire;
    w->hint = hint;
    w->arena = arena;
    w->stage = STAGE_DONE;
    w->movers = (struct defrag_movers){move_one, move_cell, w};
    return w;
}

static void later_clear(struct defrag_walk *w)
{
    for (size_t i = w->later_head; i < w->later_n; i++)
        shale_free(w->later[i].name);
    w->later_head = w->later_n = 0;
}

void shale_defrag_walk_destroy(struct defrag_walk *w)
{
    if (!w)
        return;
    later_clear(w);
    shale_free(w->later);
    shale_free(w);
}

static void later_push(struct defrag_walk *w, int db, struct slice key, uint64_t cursor)
{
    if (w->later_n == w->later_cap) {
        w->later_cap = w->later_cap ? 2 * w->later_cap : 8;
        w->later = shale_realloc(w->later, w->later_cap * sizeof(*w->later));
    }
    struct defrag_later *l = &w->later[w->later_n++];
    l->db = db;
    l->cursor = cursor;
    l->len = key.len;
    l->name = shale_malloc(key.len ? key.len : 1);
    memcpy(l->name, key.ptr, key.len);
}

static int must_stop(const struct defrag_walk *w);

/* A key's value, after the object itself: everything a hash owns. A hash
 * small enough to do now is still walked in steps of DEFRAG_LATER_STEPS,
 * and when the call must stop (a request waits) its remainder joins the
 * deferred hashes, so no unit of work is a whole 1000-field hash. */
static void defrag_value(struct defrag_walk *w, struct kobj *o)
{
    if (shale_kobj_type(o) != KOBJ_HASH)
        return; /* strings are embedded in the object */
    struct hash *h = shale_kobj_ptr(o);
    struct hash *moved = shale_hash_defrag(h, move_one, w);
    if (moved != h)
        shale_kobj_set_ptr(o, moved);
    shale_hash_defrag_table(moved, move_one, w);
    if (shale_hash_encoding(moved) != HASH_ENC_TABLE)
        return;
    if (shale_hash_len(moved) > w->max_scan_fields) {
        later_push(w, w->db, shale_kobj_key(o), 0);
        return;
    }
    uint64_t cursor = 0;
    for (int step = 1;; step++) {
        cursor = shale_hash_defrag_entries(moved, cursor, &w->movers);
        if (!cursor)
            return;
        if (step % DEFRAG_LATER_STEPS == 0 && must_stop(w)) {
            later_push(w, w->db, shale_kobj_key(o), cursor);
            return;
        }
    }
}

/* The key objects of the batch: one hint query for all of them, then each
 * object moved (its table slot fixed) and its value walked. */
static void flush_batch(struct defrag_walk *w)
{
    void *objs[DEFRAG_KEY_BATCH];
    uint8_t go[DEFRAG_KEY_BATCH];
    size_t n = w->nbatch;
    if (n == 0)
        return;
    for (size_t i = 0; i < n; i++)
        objs[i] = keyspace_obj(w->batch[i]);
    shale_defrag_hint_decide(w->hint, objs, n, go);
    for (size_t i = 0; i < n; i++) {
        uint64_t before = w->counts.hits;
        struct kobj *o = objs[i];
        if (go[i]) {
            o = shale_mem_defrag_move(o, w->arena);
            keyspace_moved(w->batch[i], o);
            w->counts.hits++;
        } else {
            w->counts.misses++;
        }
        defrag_value(w, o);
        if (w->counts.hits > before)
            w->counts.key_hits++;
        else
            w->counts.key_misses++;
    }
    w->counts.scanned += n;
    w->nbatch = 0;
}

static void collect_key(void *ctx, struct table_slot *entry_ref)
{
    struct defrag_walk *w = ctx;
    w->batch[w->nbatch++] = entry_ref;
    if (w->nbatch == DEFRAG_KEY_BATCH)
        flush_batch(w); /* replaces slots only: allowed during a scan */
}

/* Checked after every unit of work. */
static int must_stop(const struct defrag_walk *w)
{
    if (clock_mono_us() >= w->deadline_us)
        return 1;
    return w->yield && w->yield(w->yield_ctx);
}

/* The deferred hashes, oldest first. Returns 1 when none is left. */
static int run_later(struct defrag_walk *w)
{
    while (w->later_head < w->later_n) {
        struct defrag_later *l = &w->later[w->later_head];
        struct table_slot *ref = shale_keyspace_ref(w->ks, l->db, (struct slice){l->name, l->len});
        struct hash *h = NULL;
        struct kobj *o = ref ? keyspace_obj(ref) : NULL;
        if (o && shale_kobj_type(o) == KOBJ_HASH) {
            h = shale_kobj_ptr(o);
            if (shale_hash_encoding(h) != HASH_ENC_TABLE)
                h = NULL; /* replaced by a small hash since */
        }
        while (h) {
            for (int step = 0; step < DEFRAG_LATER_STEPS && (l->cursor || step == 0); step++)
                l->cursor = shale_hash_defrag_entries(h, l->cursor, &w->movers);
            if (!l->cursor)
                break;
            if (must_stop(w))
                return 0;
        }
        shale_free(l->name);
        w->later_head++;
    }
    w->later_head = w->later_n = 0;
    return 1;
}

/* Stage KEYS: one scan step at a time, deferred hashes before the next. */
static int walk_keys(struct defrag_walk *w)
{
    int ndb = shale_keyspace_databases(w->ks);
    while (w->db < ndb) {
        if (!run_later(w))
            return 0;
        if (shale_keyspace_keys(w->ks, w->db) == 0) {
            w->db++;
            w->cursor = 0;
            continue;
        }
        w->cursor = shale_keyspace_scan(w->ks, w->db, w->cursor, collect_key, w);
        flush_batch(w);
        if (w->cursor == 0)
            w->db++;
        if (must_stop(w))
            return 0;
    }
    return run_later(w);
}

void shale_defrag_cycle_start(struct defrag_walk *w, size_t max_scan_fields)
{
    later_clear(w);
    shale_cell_heap_evacuate_begin();
    w->active = 1;
    w->stage = STAGE_KEYS;
    w->db = 0;
    w->cursor = 0;
    w->max_scan_fields = max_scan_fields ? max_scan_fields : 1;
}

int shale_defrag_cycle_run(struct defrag_walk *w, int64_t deadline_us, int (*yield)(void *ctx),
                           void *yield_ctx)
{
    w->deadline_us = deadline_us;
    w->yield = yield;
    w->yield_ctx = yield_ctx;
    while (w->active && w->stage != STAGE_DONE) {
        switch (w->stage) {
        case STAGE_KEYS:
            if (!walk_keys(w))
                return 0;
            w->stage = STAGE_TABLES;
            break;
        case STAGE_TABLES:
            shale_keyspace_defrag(w->ks, move_one, w);
            w->stage = STAGE_EXPIRE;
            break;
        case STAGE_EXPIRE:
            shale_expire_defrag(w->expire, move_one, w);
            w->stage = STAGE_DONE;
            break;
        case STAGE_DONE:
            break;
        }
        if (w->stage != STAGE_DONE && must_stop(w))
            return 0;
    }
    return 1;
}

void shale_defrag_cycle_end(struct defrag_walk *w)
{
    later_clear(w);
    shale_cell_heap_evacuate_end();
    w->active = 0;
    w->stage = STAGE_DONE;
}

int shale_defrag_cycle_active(const struct defrag_walk *w)
{
    return w->active;
}

void shale_defrag_counts(const struct defrag_walk *w, struct defrag_counts *out)
{
    *out = w->counts;
}
