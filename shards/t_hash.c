/* t_hash: the hash commands, mirroring Redis 7.0 t_hash.c reply for reply
 * and error for error, including the order in which arguments, the key's
 * type and the stored value are checked (it decides which error a client
 * sees). HSCAN also takes NOVALUES (Redis 7.4).
 *
 * Runs on a shard thread; a handler touches only x->ks, x->stats, x->rng
 * and r->reply. A write may move the hash value (shards/hash.h): the new
 * pointer goes back into the key object before anything else runs, and a
 * hash left empty is deleted with its key, as in Redis. */
#include "shards/t_hash.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/glob.h"
#include "server/mem.h"
#include "server/status.h"
#include "server/strconv.h"
#include "shards/exec.h"
#include "shards/hash.h"
#include "shards/keyspace.h"
#include "shards/object.h"
#include "shards/t_keys.h"
#include "shards/t_string.h"

#define ERR_WRONGTYPE   "WRONGTYPE Operation against a key holding the wrong kind of value"
#define ERR_NOT_INTEGER "ERR value is not an integer or out of range"
#define ERR_NOT_FLOAT   "ERR value is not a valid float"
#define ERR_SYNTAX      "ERR syntax error"

/* HRANDFIELD with a negative count repeats fields, so its reply is not
 * bounded by the hash: Redis 7.0 builds it until the client's output limit
 * (none by default) stops it. shale builds replies whole before sending,
 * so it refuses counts above this instead of exhausting memory. */
#define RANDFIELD_MAX_REPEATS (10LL * 1000 * 1000)

const char *shale_hash_key_encoding(const struct kobj *o)
{
    if (shale_kobj_type(o) != KOBJ_HASH)
        return NULL;
    return shale_hash_encoding_name(shale_kobj_ptr(o));
}

/* ---- key access ------------------------------------------------------------- */

#define LOOKUP_WRITE 0
#define LOOKUP_READ  1

/* Finds key for a hash command. LOOKUP_READ counts a keyspace hit or miss
 * (Redis's read lookups do, its write lookups do not). Replies WRONGTYPE
 * and returns SHALE_ERR when key holds another type; otherwise *h is the
 * hash, or NULL when key is missing. */
static int lookup_hash(struct exec_ctx *x, struct request *r, int mode, struct table_slot **ref,
                       struct hash **h)
{
    struct slice key = r->argv[1];
    struct table_slot *slot = mode == LOOKUP_READ
                                  ? shale_keys_lookup_read(x, r->db, key)
                                  : shale_keyspace_find(x->ks, r->db, key, x->now_ms);

    *ref = slot;
    *h = NULL;
    if (!slot)
        return SHALE_OK;
    if (shale_kobj_type(keyspace_obj(slot)) != KOBJ_HASH) {
        shale_resp_add_error(&r->reply, ERR_WRONGTYPE);
        return SHALE_ERR;
    }
    *h = shale_kobj_ptr(keyspace_obj(slot));
    return SHALE_OK;
}

/* Redis's hashTypeLookupWriteOrCreate: the hash of key, or a new empty one
 * (added to the keyspace by store_hash). */
static int open_hash(struct exec_ctx *x, struct request *r, struct table_slot **ref,
                     struct hash **h)
{
    if (lookup_hash(x, r, LOOKUP_WRITE, ref, h) != SHALE_OK)
        return SHALE_ERR;
    if (!*h)
        *h = shale_hash_create();
    return SHALE_OK;
}

/* Puts a written hash back: into its key object (it may have moved), into
 * a new key when ref is NULL, or deletes the key when the hash is empty. */
static void store_hash(struct exec_ctx *x, struct request *r, struct table_slot *ref,
                       struct hash *h)
{
    if (ref) {
        /* First, so that deleting the key frees the hash where it is now. */
        shale_kobj_set_ptr(keyspace_obj(ref), h);
        if (shale_hash_len(h) == 0)
            shale_keyspace_delete(x->ks, r->db, r->argv[1]);
    } else if (shale_hash_len(h) == 0) {
        shale_hash_destroy(h);
    } else {
        shale_keyspace_add(x->ks, r->db,
                           shale_kobj_new_ptr(r->argv[1], KOBJ_HASH, h, KOBJ_NO_EXPIRE));
    }
}

/* ---- writes ----------------------------------------------------------------- */

/* HSET and HMSET: field/value pairs from argv[2]; the reply differs. */
static void set_pairs(struct exec_ctx *x, struct request *r, const char *cmd, int reply_count)
{
    struct table_slot *ref;
    struct hash *h;
    long long created = 0;

    if (r->argc % 2 == 1) {
        shale_resp_add_errorf(&r->reply, "ERR wrong number of arguments for '%s' command", cmd);
        return;
    }
    if (open_hash(x, r, &ref, &h) != SHALE_OK)
        return;
    for (int j = 2; j < r->argc; j += 2)
        created += shale_hash_set(&h, r->argv[j], r->argv[j + 1], &x->hash);
    store_hash(x, r, ref, h);
    if (reply_count)
        shale_resp_add_integer(&r->reply, created);
    else
        shale_resp_add_status(&r->reply, "OK");
}

void shale_cmd_hset(struct exec_ctx *x, struct request *r)
{
    set_pairs(x, r, "hset", 1);
}

void shale_cmd_hmset(struct exec_ctx *x, struct request *r)
{
    set_pairs(x, r, "hmset", 0);
}

void shale_cmd_hsetnx(struct exec_ctx *x, struct request *r)
{
    struct table_slot *ref;
    struct hash *h;
    struct slice old;

    if (open_hash(x, r, &ref, &h) != SHALE_OK)
        return;
    if (shale_hash_get(h, r->argv[2], &old)) {
        shale_resp_add_integer(&r->reply, 0);
        return;
    }
    shale_hash_set(&h, r->argv[2], r->argv[3], &x->hash);
    store_hash(x, r, ref, h);
    shale_resp_add_integer(&r->reply, 1);
}

void shale_cmd_hdel(struct exec_ctx *x, struct request *r)
{
    struct table_slot *ref;
    struct hash *h;
    long long deleted = 0;

    if (lookup_hash(x, r, LOOKUP_WRITE, &ref, &h) != SHALE_OK)
        return;
    if (!h) {
        shale_resp_add_integer(&r->reply, 0);
        return;
    }
    for (int j = 2; j < r->argc && shale_hash_len(h) > 0; j++)
        deleted += shale_hash_delete(&h, r->argv[j]);
    store_hash(x, r, ref, h);
    shale_resp_add_integer(&r->reply, deleted);
}

void shale_cmd_hincrby(struct exec_ctx *x, struct request *r)
{
    struct table_slot *ref;
    struct hash *h;
    struct slice cur;
    long long incr, v = 0;
    char buf[32];

    if (!shale_strconv_ll(r->argv[3], &incr)) {
        shale_resp_add_error(&r->reply, ERR_NOT_INTEGER);
        return;
    }
    if (open_hash(x, r, &ref, &h) != SHALE_OK)
        return;
    if (shale_hash_get(h, r->argv[2], &cur) && !shale_strconv_ll(cur, &v)) {
        shale_resp_add_error(&r->reply, "ERR hash value is not an integer");
        store_hash(x, r, ref, h); /* unchanged; a new, empty hash is dropped */
        return;
    }
    if ((incr < 0 && v < 0 && incr < LLONG_MIN - v) ||
        (incr > 0 && v > 0 && incr > LLONG_MAX - v)) {
        shale_resp_add_error(&r->reply, "ERR increment or decrement would overflow");
        store_hash(x, r, ref, h);
        return;
    }
    v += incr;
    int n = snprintf(buf, sizeof(buf), "%lld", v);
    shale_hash_set(&h, r->argv[2], (struct slice){buf, (size_t)n}, &x->hash);
    store_hash(x, r, ref, h);
    shale_resp_add_integer(&r->reply, v);
}

void shale_cmd_hincrbyfloat(struct exec_ctx *x, struct request *r)
{
    struct table_slot *ref;
    struct hash *h;
    struct slice cur;
    long double incr, v = 0;
    char buf[STRCONV_LD_SIZE];

    if (!shale_strconv_ld(r->argv[3], &incr)) {
        shale_resp_add_error(&r->reply, ERR_NOT_FLOAT);
        return;
    }
    if (isnan(incr) || isinf(incr)) {
        shale_resp_add_error(&r->reply, "ERR value is NaN or Infinity");
        return;
    }
    if (open_hash(x, r, &ref, &h) != SHALE_OK)
        return;
    if (shale_hash_get(h, r->argv[2], &cur) && !shale_strconv_ld(cur, &v)) {
        shale_resp_add_error(&r->reply, "ERR hash value is not a float");
        store_hash(x, r, ref, h); /* unchanged; a new, empty hash is dropped */
        return;
    }
    v += incr;
    if (isnan(v) || isinf(v)) {
        shale_resp_add_error(&r->reply, "ERR increment would produce NaN or Infinity");
        store_hash(x, r, ref, h);
        return;
    }
    int n = shale_strconv_ld_human(buf, sizeof(buf), v);
    shale_hash_set(&h, r->argv[2], (struct slice){buf, (size_t)n}, &x->hash);
    store_hash(x, r, ref, h);
    shale_resp_add_bulk(&r->reply, buf, (size_t)n);
}

/* ---- single-field reads ----------------------------------------------------- */

void shale_cmd_hget(struct exec_ctx *x, struct request *r)
{
    struct table_slot *ref;
    struct hash *h;
    struct slice v;

    if (lookup_hash(x, r, LOOKUP_READ, &ref, &h) != SHALE_OK)
        return;
    if (h && shale_hash_get(h, r->argv[2], &v))
        shale_resp_add_bulk(&r->reply, v.ptr, v.len);
    else
        shale_resp_add_null(&r->reply);
}

void shale_cmd_hmget(struct exec_ctx *x, struct request *r)
{
    struct table_slot *ref;
    struct hash *h;
    struct slice v;

    if (lookup_hash(x, r, LOOKUP_READ, &ref, &h) != SHALE_OK)
        return;
    shale_resp_add_array_len(&r->reply, r->argc - 2);
    for (int j = 2; j < r->argc; j++) {
        if (h && shale_hash_get(h, r->argv[j], &v))
            shale_resp_add_bulk(&r->reply, v.ptr, v.len);
        else
            shale_resp_add_null(&r->reply);
    }
}

void shale_cmd_hlen(struct exec_ctx *x, struct request *r)
{
    struct table_slot *ref;
    struct hash *h;

    if (lookup_hash(x, r, LOOKUP_READ, &ref, &h) != SHALE_OK)
        return;
    shale_resp_add_integer(&r->reply, h ? (long long)shale_hash_len(h) : 0);
}

void shale_cmd_hstrlen(struct exec_ctx *x, struct request *r)
{
    struct table_slot *ref;
    struct hash *h;
    struct slice v;

    if (lookup_hash(x, r, LOOKUP_READ, &ref, &h) != SHALE_OK)
        return;
    shale_resp_add_integer(&r->reply,
                           h && shale_hash_get(h, r->argv[2], &v) ? (long long)v.len : 0);
}

void shale_cmd_hexists(struct exec_ctx *x, struct request *r)
{
    struct table_slot *ref;
    struct hash *h;
    struct slice v;

    if (lookup_hash(x, r, LOOKUP_READ, &ref, &h) != SHALE_OK)
        return;
    shale_resp_add_integer(&r->reply, h && shale_hash_get(h, r->argv[2], &v));
}

/* ---- whole-hash reads ------------------------------------------------------- */

enum pair_part {
    PART_FIELD = 1 << 0,
    PART_VALUE = 1 << 1,
    PART_PAIR_ARRAY = 1 << 2, /* RESP3 HRANDFIELD WITHVALUES: each pair a *2 */
};

struct pair_writer {
    struct resp_buf *out;
    unsigned parts;
};

static void write_pair(void *ctx, struct slice field, struct slice value)
{
    struct pair_writer *w = ctx;
    if (w->parts & PART_PAIR_ARRAY)
        shale_resp_add_array_len(w->out, 2);
    if (w->parts & PART_FIELD)
        shale_resp_add_bulk(w->out, field.ptr, field.len);
    if (w->parts & PART_VALUE)
        shale_resp_add_bulk(w->out, value.ptr, value.len);
}

/* Redis's genericHgetallCommand: HGETALL answers a map, HKEYS and HVALS
 * an array (all three empty for a missing key). */
static void get_all(struct exec_ctx *x, struct request *r, unsigned parts)
{
    struct table_slot *ref;
    struct hash *h;
    int map = parts == (PART_FIELD | PART_VALUE);
    size_t n;

    if (lookup_hash(x, r, LOOKUP_READ, &ref, &h) != SHALE_OK)
        return;
    n = h ? shale_hash_len(h) : 0;
    if (map)
        shale_resp_add_map_len(&r->reply, (long long)n);
    else
        shale_resp_add_array_len(&r->reply, (long long)n);
    if (h) {
        struct pair_writer w = {&r->reply, parts};
        shale_hash_foreach(h, write_pair, &w);
    }
}

void shale_cmd_hgetall(struct exec_ctx *x, struct request *r)
{
    get_all(x, r, PART_FIELD | PART_VALUE);
}

void shale_cmd_hkeys(struct exec_ctx *x, struct request *r)
{
    get_all(x, r, PART_FIELD);
}

void shale_cmd_hvals(struct exec_ctx *x, struct request *r)
{
    get_all(x, r, PART_VALUE);
}

/* ---- HRANDFIELD ------------------------------------------------------------- */

/* Redis's hrandfieldWithCountCommand. A negative count may repeat fields
 * and picks each independently; a positive one returns distinct fields,
 * the whole hash when it asks for as many or more. RESP3 nests each
 * WITHVALUES pair in its own array, RESP2 flattens them. */
static void randfield_count(struct exec_ctx *x, struct request *r, long long count, int withvalues)
{
    struct table_slot *ref;
    struct hash *h;
    int distinct = count >= 0;
    unsigned long long n = distinct ? (unsigned long long)count : 0ULL - (unsigned long long)count;
    struct pair_writer w = {&r->reply, PART_FIELD};

    if (lookup_hash(x, r, LOOKUP_READ, &ref, &h) != SHALE_OK)
        return;
    if (!h || n == 0) {
        shale_resp_add_array_len(&r->reply, 0);
        return;
    }
    if (withvalues)
        w.parts |= PART_VALUE | (r->reply.proto >= 3 ? PART_PAIR_ARRAY : 0);
    size_t len = shale_hash_len(h);
    if (distinct && n >= len) {
        shale_resp_add_array_len(&r->reply,
                                 (long long)(withvalues && r->reply.proto < 3 ? 2 * len : len));
        shale_hash_foreach(h, write_pair, &w);
        return;
    }
    if (!distinct && n > RANDFIELD_MAX_REPEATS) {
        shale_resp_add_error(&r->reply, "ERR value is out of range");
        return;
    }
    shale_resp_add_array_len(&r->reply, (long long)(withvalues && r->reply.proto < 3 ? 2 * n : n));
    shale_hash_random(h, (size_t)n, distinct && n > 1, &x->rng, write_pair, &w);
}

void shale_cmd_hrandfield(struct exec_ctx *x, struct request *r)
{
    struct table_slot *ref;
    struct hash *h;
    long long count;

    if (r->argc >= 3) {
        if (!shale_strconv_ll(r->argv[2], &count)) {
            shale_resp_add_error(&r->reply, ERR_NOT_INTEGER);
            return;
        }
        if (count < -LLONG_MAX) {
            shale_resp_add_errorf(&r->reply,
                                  "ERR value is out of range, value must between %lld and %lld",
                                  -LLONG_MAX, LLONG_MAX);
            return;
        }
        if (r->argc > 4 || (r->argc == 4 && !slice_eq_nocase(r->argv[3], "withvalues"))) {
            shale_resp_add_error(&r->reply, ERR_SYNTAX);
            return;
        }
        if (r->argc == 4 && (count < -LLONG_MAX / 2 || count > LLONG_MAX / 2)) {
            shale_resp_add_error(&r->reply, "ERR value is out of range");
            return;
        }
        randfield_count(x, r, count, r->argc == 4);
        return;
    }
    if (lookup_hash(x, r, LOOKUP_READ, &ref, &h) != SHALE_OK)
        return;
    if (!h) {
        shale_resp_add_null(&r->reply);
        return;
    }
    struct pair_writer w = {&r->reply, PART_FIELD};
    shale_hash_random(h, 1, 0, &x->rng, write_pair, &w);
}

/* ---- HSCAN ------------------------------------------------------------------ */

struct scan_pairs {
    struct slice *items; /* field, value, field, value ... */
    size_t n, cap;
};

static void collect_pair(void *ctx, struct slice field, struct slice value)
{
    struct scan_pairs *p = ctx;
    if (p->n + 2 > p->cap) {
        p->cap = p->cap ? p->cap * 2 : 64;
        p->items = shale_realloc(p->items, p->cap * sizeof(*p->items));
    }
    p->items[p->n++] = field;
    p->items[p->n++] = value;
}

/* Redis's scanGenericCommand for a hash: the options are read only after
 * the key was found and type-checked, so a missing key answers an empty
 * scan whatever follows. MATCH filters on the field. */
void shale_cmd_hscan(struct exec_ctx *x, struct request *r)
{
    unsigned long long cursor;
    struct table_slot *ref;
    struct hash *h;
    long long count = 10;
    struct slice pattern = {NULL, 0};
    int use_pattern = 0, novalues = 0;

    if (!shale_strconv_cursor(r->argv[2], &cursor)) {
        shale_resp_add_error(&r->reply, "ERR invalid cursor");
        return;
    }
    if (lookup_hash(x, r, LOOKUP_READ, &ref, &h) != SHALE_OK)
        return;
    if (!h) {
        shale_resp_add_array_len(&r->reply, 2);
        shale_resp_add_bulk(&r->reply, "0", 1);
        shale_resp_add_array_len(&r->reply, 0);
        return;
    }
    for (int i = 3; i < r->argc;) {
        int left = r->argc - i;
        if (slice_eq_nocase(r->argv[i], "count") && left >= 2) {
            if (!shale_strconv_ll(r->argv[i + 1], &count)) {
                shale_resp_add_error(&r->reply, ERR_NOT_INTEGER);
                return;
            }
            if (count < 1) {
                shale_resp_add_error(&r->reply, ERR_SYNTAX);
                return;
            }
            i += 2;
        } else if (slice_eq_nocase(r->argv[i], "match") && left >= 2) {
            pattern = r->argv[i + 1];
            use_pattern = !(pattern.len == 1 && pattern.ptr[0] == '*');
            i += 2;
        } else if (slice_eq_nocase(r->argv[i], "novalues")) {
            novalues = 1;
            i++;
        } else {
            shale_resp_add_error(&r->reply, ERR_SYNTAX);
            return;
        }
    }
    struct scan_pairs pairs = {NULL, 0, 0};
    cursor = shale_hash_scan(h, cursor, (size_t)count, collect_pair, &pairs);
    size_t kept = 0;
    for (size_t i = 0; i < pairs.n; i += 2) {
        struct slice f = pairs.items[i];
        if (use_pattern && !shale_glob_match(pattern.ptr, pattern.len, f.ptr, f.len, 0))
            continue;
        pairs.items[kept++] = f;
        if (!novalues)
            pairs.items[kept++] = pairs.items[i + 1];
    }
    char buf[24];
    int n = snprintf(buf, sizeof(buf), "%llu", cursor);
    shale_resp_add_array_len(&r->reply, 2);
    shale_resp_add_bulk(&r->reply, buf, (size_t)n);
    shale_resp_add_array_len(&r->reply, (long long)kept);
    for (size_t i = 0; i < kept; i++)
        shale_resp_add_bulk(&r->reply, pairs.items[i].ptr, pairs.items[i].len);
    shale_free(pairs.items);
}
