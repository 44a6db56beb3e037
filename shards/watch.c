/* watch: see watch.h. */
#include "shards/watch.h"

#include <string.h>

#include "server/command.h"
#include "server/hashfn.h"
#include "server/mem.h"
#include "shards/exec.h"
#include "shards/keyspace.h"
#include "shards/object.h"
#include "shards/t_keymove.h"

struct watch_entry {
    struct watch_entry *next;
    struct watch_token *token;
    uint64_t hash;
    uint32_t len;
    uint8_t db;
    char key[];
};

struct watch_token *shale_watch_token_create(void)
{
    struct watch_token *tok = shale_calloc(1, sizeof(*tok));
    atomic_store(&tok->refs, 1);
    return tok;
}

void shale_watch_token_get(struct watch_token *tok)
{
    atomic_fetch_add_explicit(&tok->refs, 1, memory_order_relaxed);
}

void shale_watch_token_put(struct watch_token *tok)
{
    if (atomic_fetch_sub_explicit(&tok->refs, 1, memory_order_acq_rel) == 1)
        shale_free(tok);
}

int shale_watch_token_stale(struct watch_token *tok, int64_t now_ms)
{
    if (atomic_load_explicit(&tok->dirty, memory_order_relaxed))
        return 1;
    int64_t expires = atomic_load_explicit(&tok->expires_at_ms, memory_order_relaxed);
    return expires != 0 && expires <= now_ms;
}

/* Lowers the token's expiry to key's expire time if the key is live now. */
static void note_expiry(struct exec_ctx *x, int db, struct slice key, struct watch_token *tok)
{
    struct table_slot *ref = shale_keyspace_ref(x->ks, db, key);
    int64_t expires = ref ? shale_kobj_expire(keyspace_obj(ref)) : KOBJ_NO_EXPIRE;
    if (expires == KOBJ_NO_EXPIRE || expires <= x->now_ms)
        return; /* absent, persistent, or already expired: nothing to wait for */
    int64_t cur = atomic_load_explicit(&tok->expires_at_ms, memory_order_relaxed);
    while ((cur == 0 || expires < cur) &&
           !atomic_compare_exchange_weak_explicit(&tok->expires_at_ms, &cur, expires,
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

static uint64_t key_hash(int db, struct slice key)
{
    return shale_hashfn_bytes(key.ptr, key.len, 0x77a7c4ULL + (uint64_t)db);
}

static struct watch_entry **bucket_of(struct watch_registry *reg, uint64_t hash)
{
    return &reg->buckets[hash & (reg->nbuckets - 1)];
}

static void grow(struct watch_registry *reg)
{
    size_t n = reg->nbuckets ? reg->nbuckets * 2 : 16;
    struct watch_entry **old = reg->buckets;
    size_t oldn = reg->nbuckets;
    reg->buckets = shale_calloc(n, sizeof(*reg->buckets));
    reg->nbuckets = n;
    for (size_t i = 0; i < oldn; i++)
        while (old[i]) {
            struct watch_entry *e = old[i];
            old[i] = e->next;
            struct watch_entry **b = bucket_of(reg, e->hash);
            e->next = *b;
            *b = e;
        }
    shale_free(old);
}

static int matches(const struct watch_entry *e, uint64_t hash, int db, struct slice key)
{
    return e->hash == hash && e->db == db && e->len == key.len && !memcmp(e->key, key.ptr, key.len);
}

static void add(struct watch_registry *reg, int db, struct slice key, struct watch_token *tok)
{
    if (reg->count >= reg->nbuckets)
        grow(reg);
    uint64_t hash = key_hash(db, key);
    struct watch_entry **b = bucket_of(reg, hash);
    for (struct watch_entry *e = *b; e; e = e->next)
        if (e->token == tok && matches(e, hash, db, key))
            return; /* watched twice */
    struct watch_entry *e = shale_malloc(sizeof(*e) + key.len);
    e->token = tok;
    e->hash = hash;
    e->len = (uint32_t)key.len;
    e->db = (uint8_t)db;
    memcpy(e->key, key.ptr, key.len);
    e->next = *b;
    *b = e;
    reg->count++;
    atomic_fetch_add_explicit(&tok->refs, 1, memory_order_relaxed);
}

static void remove_entry(struct watch_registry *reg, int db, struct slice key,
                         struct watch_token *tok)
{
    if (!reg->nbuckets)
        return;
    uint64_t hash = key_hash(db, key);
    for (struct watch_entry **link = bucket_of(reg, hash); *link; link = &(*link)->next) {
        struct watch_entry *e = *link;
        if (e->token == tok && matches(e, hash, db, key)) {
            *link = e->next;
            reg->count--;
            shale_watch_token_put(tok);
            shale_free(e);
            return;
        }
    }
}

static void touch_key(struct watch_registry *reg, int db, struct slice key)
{
    uint64_t hash = key_hash(db, key);
    for (struct watch_entry *e = *bucket_of(reg, hash); e; e = e->next)
        if (matches(e, hash, db, key))
            atomic_store_explicit(&e->token->dirty, 1, memory_order_relaxed);
}

/* db < 0: every database. */
static void touch_db(struct watch_registry *reg, int db)
{
    for (size_t i = 0; i < reg->nbuckets; i++)
        for (struct watch_entry *e = reg->buckets[i]; e; e = e->next)
            if (db < 0 || e->db == db)
                atomic_store_explicit(&e->token->dirty, 1, memory_order_relaxed);
}

void shale_watch_registry_deinit(struct watch_registry *reg)
{
    for (size_t i = 0; i < reg->nbuckets; i++)
        while (reg->buckets[i]) {
            struct watch_entry *e = reg->buckets[i];
            reg->buckets[i] = e->next;
            shale_watch_token_put(e->token);
            shale_free(e);
        }
    shale_free(reg->buckets);
    memset(reg, 0, sizeof(*reg));
}

void shale_cmd_watch_keys(struct exec_ctx *x, struct request *r)
{
    for (int j = 1; j < r->argc; j++) {
        add(&x->watch, r->db, r->argv[j], r->aux);
        note_expiry(x, r->db, r->argv[j], r->aux);
    }
    shale_watch_token_put(r->aux); /* the message's reference */
    r->aux = NULL;
    shale_resp_add_status(&r->reply, "OK");
}

void shale_cmd_unwatch_keys(struct exec_ctx *x, struct request *r)
{
    for (int j = 1; j < r->argc; j++)
        remove_entry(&x->watch, r->db, r->argv[j], r->aux);
    shale_watch_token_put(r->aux);
    r->aux = NULL;
    shale_resp_add_status(&r->reply, "OK");
}

void shale_watch_after_write(struct exec_ctx *x, const struct request *r)
{
    struct watch_registry *reg = &x->watch;
    const struct command *cmd = r->cmd;
    if (!reg->count || !(cmd->flags & CMD_WRITE) || (r->reply.len && r->reply.data[0] == '-'))
        return;
    if (cmd->first_key == 0) { /* FLUSHDB, FLUSHALL */
        touch_db(reg, strcmp(cmd->name, "flushall") == 0 ? -1 : r->db);
        return;
    }
    switch (r->step) {
    case KEYMOVE_DUMP:
    case KEYMOVE_COUNT:
        return; /* reads */
    case KEYMOVE_RESTORE:
    case KEYMOVE_RESTORE_NX:
    case KEYMOVE_DELETE:
        touch_key(reg, r->db, r->argv[1]);
        return;
    case KEYMOVE_SET:
        for (int j = 1; j < r->argc; j += 2)
            touch_key(reg, r->db, r->argv[j]);
        return;
    default:
        break;
    }
    int last = cmd->last_key < 0 ? r->argc + cmd->last_key : cmd->last_key;
    for (int j = cmd->first_key; j <= last && j < r->argc; j += cmd->key_step)
        touch_key(reg, r->db, r->argv[j]);
}
