/* t_keymove: see t_keymove.h. Shard thread, except shale_copy_parse. */
#include "shards/t_keymove.h"

#include <stdlib.h>
#include <string.h>

#include "server/strconv.h"
#include "shards/exec.h"
#include "shards/hash.h"
#include "shards/keyspace.h"
#include "shards/object.h"

/* ---- copies of key objects ---- */

struct hash_copy {
    struct hash *h;
    const struct hash_config *cfg;
};

static void copy_pair(void *ctx, struct slice field, struct slice value)
{
    struct hash_copy *c = ctx;
    shale_hash_set(&c->h, field, value, c->cfg);
}

/* A new object under key holding a copy of o's value and o's TTL. */
static struct kobj *clone_object(struct exec_ctx *x, const struct kobj *o, struct slice key)
{
    int64_t expire = shale_kobj_expire(o);
    if (shale_kobj_type(o) == KOBJ_STRING)
        return shale_kobj_new_string(key, shale_kobj_string(o), expire);
    struct hash_copy c = {shale_hash_create(), &x->hash};
    shale_hash_foreach(shale_kobj_ptr(o), copy_pair, &c);
    return shale_kobj_new_ptr(key, KOBJ_HASH, c.h, expire);
}

/* Puts o under its key in db, replacing whatever was there. */
static void store_object(struct exec_ctx *x, int db, struct kobj *o)
{
    struct table_slot *ref = shale_keyspace_find(x->ks, db, shale_kobj_key(o), x->now_ms);
    if (ref)
        shale_keyspace_replace(x->ks, db, ref, o);
    else
        shale_keyspace_add(x->ks, db, o);
}

/* ---- dumps: a key in transit between shards ---- */

static void dump_pair(void *ctx, struct slice field, struct slice value)
{
    struct resp_buf *b = ctx;
    shale_resp_add_bulk(b, field.ptr, field.len);
    shale_resp_add_bulk(b, value.ptr, value.len);
}

static void dump_object(const struct kobj *o, struct resp_buf *b)
{
    shale_resp_add_array_len(b, 3);
    shale_resp_add_integer(b, shale_kobj_type(o));
    shale_resp_add_integer(b, shale_kobj_expire(o));
    if (shale_kobj_type(o) == KOBJ_STRING) {
        struct slice v = shale_kobj_string(o);
        shale_resp_add_bulk(b, v.ptr, v.len);
        return;
    }
    const struct hash *h = shale_kobj_ptr(o);
    shale_resp_add_array_len(b, 2 * (long long)shale_hash_len(h));
    shale_hash_foreach(h, dump_pair, b);
}

/* Reads "<c><digits>\r\n" at *p; the dump was written by dump_object. */
static long long read_number(const char **p)
{
    char *end;
    long long v = strtoll(*p + 1, &end, 10);
    *p = end + 2;
    return v;
}

static struct slice read_bulk(const char **p)
{
    size_t len = (size_t)read_number(p);
    struct slice s = {*p, len};
    *p += len + 2;
    return s;
}

static struct kobj *restore_object(struct exec_ctx *x, struct slice key, struct slice dump)
{
    const char *p = dump.ptr;
    read_number(&p); /* *3 */
    unsigned type = (unsigned)read_number(&p);
    int64_t expire = read_number(&p);
    if (type == KOBJ_STRING)
        return shale_kobj_new_string(key, read_bulk(&p), expire);
    long long n = read_number(&p);
    struct hash *h = shale_hash_create();
    for (long long i = 0; i < n; i += 2) {
        struct slice field = read_bulk(&p);
        struct slice value = read_bulk(&p);
        shale_hash_set(&h, field, value, &x->hash);
    }
    return shale_kobj_new_ptr(key, KOBJ_HASH, h, expire);
}

/* ---- steps of a command whose keys span shards ---- */

static void run_step(struct exec_ctx *x, struct request *r)
{
    struct table_slot *ref;
    switch (r->step) {
    case KEYMOVE_DUMP:
        ref = shale_keyspace_find(x->ks, r->db, r->argv[1], x->now_ms);
        if (ref)
            dump_object(keyspace_obj(ref), &r->reply);
        else
            shale_resp_add_null(&r->reply);
        break;
    case KEYMOVE_RESTORE_NX:
        if (shale_keyspace_find(x->ks, r->db, r->argv[1], x->now_ms)) {
            shale_resp_add_integer(&r->reply, 0);
            break;
        }
        /* fall through */
    case KEYMOVE_RESTORE:
        store_object(x, r->db, restore_object(x, r->argv[1], r->argv[2]));
        shale_resp_add_integer(&r->reply, 1);
        break;
    case KEYMOVE_DELETE:
        shale_resp_add_integer(&r->reply, shale_keyspace_delete(x->ks, r->db, r->argv[1]));
        break;
    case KEYMOVE_COUNT: {
        long long n = 0;
        for (int j = 1; j < r->argc; j += 2)
            n += shale_keyspace_find(x->ks, r->db, r->argv[j], x->now_ms) != NULL;
        shale_resp_add_integer(&r->reply, n);
        break;
    }
    case KEYMOVE_SET:
        for (int j = 1; j < r->argc; j += 2)
            store_object(x, r->db,
                         shale_kobj_new_string(r->argv[j], r->argv[j + 1], KOBJ_NO_EXPIRE));
        shale_resp_add_status(&r->reply, "OK");
        break;
    }
}

/* ---- whole commands, all keys on this shard ---- */

/* RENAME and RENAMENX. Like Redis, the value keeps its TTL, and renaming a
 * key to itself succeeds (RENAME) or answers 0 (RENAMENX). */
static void rename_key(struct exec_ctx *x, struct request *r, int nx)
{
    struct table_slot *src = shale_keyspace_find(x->ks, r->db, r->argv[1], x->now_ms);
    if (!src) {
        shale_resp_add_error(&r->reply, "ERR no such key");
        return;
    }
    if (slice_eq(r->argv[1], r->argv[2])) {
        if (nx)
            shale_resp_add_integer(&r->reply, 0);
        else
            shale_resp_add_status(&r->reply, "OK");
        return;
    }
    if (nx && shale_keyspace_find(x->ks, r->db, r->argv[2], x->now_ms)) {
        shale_resp_add_integer(&r->reply, 0);
        return;
    }
    /* find may have moved nothing, but look src up again after the second
     * find: a lookup can expire (delete) a key and invalidate slots. */
    src = shale_keyspace_find(x->ks, r->db, r->argv[1], x->now_ms);
    struct kobj *moved = clone_object(x, keyspace_obj(src), r->argv[2]);
    shale_keyspace_delete(x->ks, r->db, r->argv[1]);
    store_object(x, r->db, moved);
    if (nx)
        shale_resp_add_integer(&r->reply, 1);
    else
        shale_resp_add_status(&r->reply, "OK");
}

void shale_cmd_rename(struct exec_ctx *x, struct request *r)
{
    if (r->step)
        run_step(x, r);
    else
        rename_key(x, r, 0);
}

void shale_cmd_renamenx(struct exec_ctx *x, struct request *r)
{
    if (r->step)
        run_step(x, r);
    else
        rename_key(x, r, 1);
}

const char *shale_copy_parse(const struct request *r, int databases, int *dst_db, int *replace)
{
    *dst_db = r->db;
    *replace = 0;
    for (int j = 3; j < r->argc; j++) {
        if (slice_eq_nocase(r->argv[j], "replace")) {
            *replace = 1;
        } else if (slice_eq_nocase(r->argv[j], "db") && j + 1 < r->argc) {
            long long db;
            if (!shale_strconv_ll(r->argv[++j], &db) || db < 0 || db > 2147483647LL)
                return "ERR value is not an integer or out of range";
            if (db >= databases)
                return "ERR DB index is out of range";
            *dst_db = (int)db;
        } else {
            return "ERR syntax error";
        }
    }
    if (*dst_db == r->db && slice_eq(r->argv[1], r->argv[2]))
        return "ERR source and destination objects are the same";
    return NULL;
}

void shale_cmd_copy(struct exec_ctx *x, struct request *r)
{
    if (r->step) {
        run_step(x, r);
        return;
    }
    int dst_db, replace;
    const char *err = shale_copy_parse(r, shale_keyspace_databases(x->ks), &dst_db, &replace);
    if (err) {
        shale_resp_add_error(&r->reply, err);
        return;
    }
    struct table_slot *src = shale_keyspace_find(x->ks, r->db, r->argv[1], x->now_ms);
    if (!src || (!replace && shale_keyspace_find(x->ks, dst_db, r->argv[2], x->now_ms))) {
        shale_resp_add_integer(&r->reply, 0);
        return;
    }
    src = shale_keyspace_find(x->ks, r->db, r->argv[1], x->now_ms); /* see rename_key */
    store_object(x, dst_db, clone_object(x, keyspace_obj(src), r->argv[2]));
    shale_resp_add_integer(&r->reply, 1);
}

void shale_cmd_msetnx(struct exec_ctx *x, struct request *r)
{
    if (r->step) {
        run_step(x, r);
        return;
    }
    if (r->argc % 2 == 0) {
        shale_resp_add_error(&r->reply, "ERR wrong number of arguments for 'msetnx' command");
        return;
    }
    for (int j = 1; j < r->argc; j += 2)
        if (shale_keyspace_find(x->ks, r->db, r->argv[j], x->now_ms)) {
            shale_resp_add_integer(&r->reply, 0);
            return;
        }
    for (int j = 1; j < r->argc; j += 2)
        store_object(x, r->db, shale_kobj_new_string(r->argv[j], r->argv[j + 1], KOBJ_NO_EXPIRE));
    shale_resp_add_integer(&r->reply, 1);
}
