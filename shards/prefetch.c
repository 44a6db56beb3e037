/* prefetch: the stages of the batch prefetch (prefetch.h). Shard thread. */
#include "shards/prefetch.h"

#include "net/request.h"
#include "server/command.h"
#include "shards/hash.h"
#include "shards/object.h"
#include "shards/table.h"

/* One request's walk down its chain. */
struct prefetch_item {
    struct table *keys; /* NULL: nothing (more) to prefetch */
    struct slice key;
    uint64_t key_hash;
    int value_apart;
    int has_field;
    struct slice field;
    uint64_t field_hash;
    const struct hash *hash; /* found by the VALUE stage */
};

enum prefetch_stage {
    STAGE_KEY_BUCKET,
    STAGE_KEY_OBJECT,
    STAGE_VALUE,         /* finds the object; a hash's first block */
    STAGE_ENCODING,      /* a hash's table struct, or its blob's other lines */
    STAGE_FIELD_BUCKET,  /* table encoding: the field's bucket */
    STAGE_FIELD_ENTRIES, /* ... and its tag-matching entries */
    STAGE_COUNT,
};

static void start(struct keyspace *ks, const struct request *r, struct prefetch_item *it)
{
    it->keys = NULL;
    if (r->kind != REQUEST_COMMAND)
        return;
    int first = r->cmd->first_key;
    if (first <= 0 || first >= r->argc)
        return;
    it->keys = shale_keyspace_table(ks, r->db);
    it->key = r->argv[first];
    it->value_apart = (r->cmd->flags & CMD_VALUE_APART) != 0;
    it->has_field = it->value_apart && r->argc > 2;
    if (it->has_field)
        it->field = r->argv[2];
    it->hash = NULL;
}

static void step(struct prefetch_item *it, enum prefetch_stage stage)
{
    switch (stage) {
    case STAGE_KEY_BUCKET:
        it->key_hash = shale_table_hash(it->keys, it->key.ptr, it->key.len);
        shale_table_prefetch_bucket(it->keys, it->key_hash);
        /* A string's chain ends at its object, which prefetching did not
         * speed up (2M keys, GET at pipeline 16: docs/benchmarks.md). */
        if (!it->value_apart)
            it->keys = NULL;
        return;
    case STAGE_KEY_OBJECT:
        shale_table_prefetch_entries(it->keys, it->key_hash);
        return;
    case STAGE_VALUE: {
        const struct kobj *o =
            shale_table_find_hashed(it->keys, it->key_hash, it->key.ptr, it->key.len);
        if (!o || shale_kobj_type(o) != KOBJ_HASH) {
            it->keys = NULL;
            return;
        }
        it->hash = shale_kobj_ptr(o);
        __builtin_prefetch(it->hash);
        return;
    }
    case STAGE_ENCODING:
        shale_hash_prefetch_encoding(it->hash);
        if (!it->has_field || shale_hash_encoding(it->hash) != HASH_ENC_TABLE)
            it->keys = NULL;
        return;
    case STAGE_FIELD_BUCKET:
        it->field_hash = shale_hash_prefetch_field_bucket(it->hash, it->field);
        return;
    case STAGE_FIELD_ENTRIES:
        shale_hash_prefetch_field_entries(it->hash, it->field_hash);
        return;
    case STAGE_COUNT:
        return;
    }
}

void shale_prefetch_batch(struct keyspace *ks, struct request *const *batch, unsigned n)
{
    struct prefetch_item items[PREFETCH_BATCH];
    if (n > PREFETCH_BATCH)
        n = PREFETCH_BATCH;
    for (unsigned i = 0; i < n; i++)
        start(ks, batch[i], &items[i]);
    for (int stage = 0; stage < STAGE_COUNT; stage++) {
        int any = 0;
        for (unsigned i = 0; i < n; i++)
            if (items[i].keys) {
                step(&items[i], (enum prefetch_stage)stage);
                any = 1;
            }
        if (!any)
            return;
    }
}
