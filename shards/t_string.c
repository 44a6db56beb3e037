/* t_string: the string commands, mirroring Redis 7.0 t_string.c reply for
 * reply and error for error (including the order in which arguments are
 * checked, which decides which error a client sees).
 *
 * Runs on a shard thread; a handler touches only x->ks, x->stats and
 * r->reply. Strings live embedded in their key object, so a write that
 * changes a value's length may move the object: the new pointer goes back
 * into the table slot (keyspace_moved) before anything else runs. */
#include "shards/t_string.h"

#include "server/strconv.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/status.h"
#include "shards/exec.h"
#include "shards/keyspace.h"
#include "shards/object.h"
#include "shards/t_keys.h"

#define ERR_WRONGTYPE   "WRONGTYPE Operation against a key holding the wrong kind of value"
#define ERR_NOT_INTEGER "ERR value is not an integer or out of range"
#define ERR_NOT_FLOAT   "ERR value is not a valid float"
#define ERR_SYNTAX      "ERR syntax error"
#define ERR_TOO_LONG    "ERR string exceeds maximum allowed size (proto-max-bulk-len)"

/* Redis's LONG_STR_SIZE - 1: string2ll refuses anything longer. */

/* Finds key's object for a command on strings. LOOKUP_READ counts a keyspace
 * hit or miss (Redis's read lookups do, its write lookups do not). Replies
 * WRONGTYPE and returns SHALE_ERR when key holds another type; otherwise
 * *ref is the slot, or NULL when key is missing. */
#define LOOKUP_WRITE 0
#define LOOKUP_READ  1

static int lookup_string(struct exec_ctx *x, struct request *r, struct slice key, int mode,
                         struct table_slot **ref)
{
    struct table_slot *slot = mode == LOOKUP_READ
                                  ? shale_keys_lookup_read(x, r->db, key)
                                  : shale_keyspace_find(x->ks, r->db, key, x->now_ms);

    *ref = slot;
    if (slot && shale_kobj_type(keyspace_obj(slot)) != KOBJ_STRING) {
        shale_resp_add_error(&r->reply, ERR_WRONGTYPE);
        return SHALE_ERR;
    }
    return SHALE_OK;
}

static void reply_value(struct request *r, struct table_slot *ref)
{
    if (ref) {
        struct slice v = shale_kobj_string(keyspace_obj(ref));
        shale_resp_add_bulk(&r->reply, v.ptr, v.len);
    } else {
        shale_resp_add_null(&r->reply);
    }
}

/* Sets key to val with expire `when`, whether or not it exists (ref is its
 * slot from a find, or NULL). An expire already in the past (EXAT/PXAT)
 * leaves no key behind rather than storing one only expiry would remove. */
static void store_string(struct exec_ctx *x, int db, struct table_slot *ref, struct slice key,
                         struct slice val, int64_t when)
{
    struct kobj *o;

    if (when != KOBJ_NO_EXPIRE && when <= x->now_ms) {
        if (ref)
            shale_keyspace_delete(x->ks, db, key);
        return;
    }
    o = shale_kobj_new_string(key, val, when);
    if (ref)
        shale_keyspace_replace(x->ks, db, ref, o);
    else
        shale_keyspace_add(x->ks, db, o);
}

/* Writes data at offset into key's value, resizing the value to len first
 * (zero-filled where it grows); creates key when ref is NULL. Keeps the
 * expire, as Redis does for APPEND, SETRANGE and the INCR family. */
static void write_string(struct exec_ctx *x, int db, struct table_slot *ref, struct slice key,
                         size_t len, size_t offset, struct slice data)
{
    struct kobj *o;

    if (!ref) {
        if (offset == 0 && data.len == len) {
            o = shale_kobj_new_string(key, data, KOBJ_NO_EXPIRE);
        } else {
            o = shale_kobj_new_string(key, (struct slice){"", 0}, KOBJ_NO_EXPIRE);
            o = shale_kobj_string_resize(o, len);
            memcpy(shale_kobj_string_bytes(o) + offset, data.ptr, data.len);
        }
        shale_keyspace_add(x->ks, db, o);
        return;
    }
    o = keyspace_obj(ref);
    if (len != shale_kobj_string(o).len) {
        o = shale_kobj_string_resize(o, len);
        keyspace_moved(ref, o);
    }
    memcpy(shale_kobj_string_bytes(o) + offset, data.ptr, data.len);
}

/* SET and GETEX options, as Redis's parseExtendedStringArgumentsOrReply
 * reads them: a repeated option is accepted (the last EX wins), clashing
 * ones are a syntax error. */
enum string_opt {
    OPT_NX = 1 << 0,
    OPT_XX = 1 << 1,
    OPT_GET = 1 << 2,
    OPT_KEEPTTL = 1 << 3,
    OPT_PERSIST = 1 << 4,
    OPT_EX = 1 << 5,
    OPT_PX = 1 << 6,
    OPT_EXAT = 1 << 7,
    OPT_PXAT = 1 << 8,
};
#define OPT_EXPIRE (OPT_EX | OPT_PX | OPT_EXAT | OPT_PXAT)

struct string_opts {
    unsigned flags;
    struct slice expire; /* the EX/PX/EXAT/PXAT argument */
};

static unsigned expire_opt(struct slice a)
{
    if (slice_eq_nocase(a, "EX"))
        return OPT_EX;
    if (slice_eq_nocase(a, "PX"))
        return OPT_PX;
    if (slice_eq_nocase(a, "EXAT"))
        return OPT_EXAT;
    if (slice_eq_nocase(a, "PXAT"))
        return OPT_PXAT;
    return 0;
}

static int parse_string_opts(struct request *r, int first, int for_set, struct string_opts *o)
{
    o->flags = 0;
    o->expire = (struct slice){NULL, 0};
    for (int j = first; j < r->argc; j++) {
        struct slice a = r->argv[j];
        unsigned f = o->flags, unit = expire_opt(a);

        if (for_set && slice_eq_nocase(a, "NX") && !(f & OPT_XX)) {
            o->flags |= OPT_NX;
        } else if (for_set && slice_eq_nocase(a, "XX") && !(f & OPT_NX)) {
            o->flags |= OPT_XX;
        } else if (for_set && slice_eq_nocase(a, "GET")) {
            o->flags |= OPT_GET;
        } else if (for_set && slice_eq_nocase(a, "KEEPTTL") && !(f & (OPT_PERSIST | OPT_EXPIRE))) {
            o->flags |= OPT_KEEPTTL;
        } else if (!for_set && slice_eq_nocase(a, "PERSIST") && !(f & (OPT_KEEPTTL | OPT_EXPIRE))) {
            o->flags |= OPT_PERSIST;
        } else if (unit && j + 1 < r->argc &&
                   !(f & (OPT_KEEPTTL | OPT_PERSIST | (OPT_EXPIRE & ~unit)))) {
            o->flags |= unit;
            o->expire = r->argv[++j];
        } else {
            shale_resp_add_error(&r->reply, ERR_SYNTAX);
            return SHALE_ERR;
        }
    }
    return SHALE_OK;
}

/* The absolute unix ms an EX/PX/EXAT/PXAT argument names (Redis's
 * getExpireMillisecondsOrReply): zero, negative or overflowing is an error
 * naming the command. */
static int expire_ms(struct exec_ctx *x, struct request *r, const char *cmd, struct slice arg,
                     unsigned unit, int64_t *when)
{
    long long v;
    int seconds = (unit & (OPT_EX | OPT_EXAT)) != 0;

    if (!shale_strconv_ll(arg, &v)) {
        shale_resp_add_error(&r->reply, ERR_NOT_INTEGER);
        return SHALE_ERR;
    }
    if (v <= 0 || (seconds && v > LLONG_MAX / 1000))
        goto invalid;
    if (seconds)
        v *= 1000;
    if (unit & (OPT_EX | OPT_PX)) {
        if (v > LLONG_MAX - x->now_ms)
            goto invalid;
        v += x->now_ms;
    }
    *when = v;
    return SHALE_OK;
invalid:
    shale_resp_add_errorf(&r->reply, "ERR invalid expire time in '%s' command", cmd);
    return SHALE_ERR;
}

/* What a SET-like command answers when it set the key, and when NX/XX
 * stopped it: SET says +OK or nil, SETNX :1 or :0. */
enum set_reply {
    SET_REPLY_OK,
    SET_REPLY_INT,
};

/* Redis's setGenericCommand: SET, SETNX, SETEX, PSETEX and GETSET. */
static void set_generic(struct exec_ctx *x, struct request *r, const char *cmd, struct slice val,
                        const struct string_opts *o, enum set_reply kind)
{
    struct slice key = r->argv[1];
    int64_t when = KOBJ_NO_EXPIRE;
    struct table_slot *ref;
    int found;

    if ((o->flags & OPT_EXPIRE) &&
        expire_ms(x, r, cmd, o->expire, o->flags & OPT_EXPIRE, &when) != SHALE_OK)
        return;
    if (o->flags & OPT_GET) {
        if (lookup_string(x, r, key, LOOKUP_READ, &ref) != SHALE_OK)
            return;
        reply_value(r, ref);
    } else {
        ref = shale_keyspace_find(x->ks, r->db, key, x->now_ms);
    }
    found = ref != NULL;
    if (((o->flags & OPT_NX) && found) || ((o->flags & OPT_XX) && !found)) {
        if (o->flags & OPT_GET)
            return;
        if (kind == SET_REPLY_INT)
            shale_resp_add_integer(&r->reply, 0);
        else
            shale_resp_add_null(&r->reply);
        return;
    }
    if ((o->flags & OPT_KEEPTTL) && found)
        when = shale_kobj_expire(keyspace_obj(ref));
    store_string(x, r->db, ref, key, val, when);
    if (o->flags & OPT_GET)
        return;
    if (kind == SET_REPLY_INT)
        shale_resp_add_integer(&r->reply, 1);
    else
        shale_resp_add_status(&r->reply, "OK");
}

void shale_cmd_set(struct exec_ctx *x, struct request *r)
{
    struct string_opts o;

    if (parse_string_opts(r, 3, 1, &o) != SHALE_OK)
        return;
    set_generic(x, r, "set", r->argv[2], &o, SET_REPLY_OK);
}

void shale_cmd_setnx(struct exec_ctx *x, struct request *r)
{
    struct string_opts o = {OPT_NX, {NULL, 0}};

    set_generic(x, r, "setnx", r->argv[2], &o, SET_REPLY_INT);
}

void shale_cmd_setex(struct exec_ctx *x, struct request *r)
{
    struct string_opts o = {OPT_EX, r->argv[2]};

    set_generic(x, r, "setex", r->argv[3], &o, SET_REPLY_OK);
}

void shale_cmd_psetex(struct exec_ctx *x, struct request *r)
{
    struct string_opts o = {OPT_PX, r->argv[2]};

    set_generic(x, r, "psetex", r->argv[3], &o, SET_REPLY_OK);
}

void shale_cmd_getset(struct exec_ctx *x, struct request *r)
{
    struct string_opts o = {OPT_GET, {NULL, 0}};

    set_generic(x, r, "getset", r->argv[2], &o, SET_REPLY_OK);
}

void shale_cmd_get(struct exec_ctx *x, struct request *r)
{
    struct table_slot *ref;

    if (lookup_string(x, r, r->argv[1], LOOKUP_READ, &ref) != SHALE_OK)
        return;
    reply_value(r, ref);
}

void shale_cmd_getdel(struct exec_ctx *x, struct request *r)
{
    struct table_slot *ref;

    if (lookup_string(x, r, r->argv[1], LOOKUP_READ, &ref) != SHALE_OK)
        return;
    reply_value(r, ref);
    if (ref)
        shale_keyspace_delete(x->ks, r->db, r->argv[1]);
}

/* Redis checks GETEX in this order: options, key (nil when missing, even
 * with a bad expire), type, then the expire value. */
void shale_cmd_getex(struct exec_ctx *x, struct request *r)
{
    struct string_opts o;
    struct table_slot *ref;
    int64_t when = KOBJ_NO_EXPIRE;

    if (parse_string_opts(r, 2, 0, &o) != SHALE_OK)
        return;
    if (lookup_string(x, r, r->argv[1], LOOKUP_READ, &ref) != SHALE_OK)
        return;
    if (!ref) {
        shale_resp_add_null(&r->reply);
        return;
    }
    if ((o.flags & OPT_EXPIRE) &&
        expire_ms(x, r, "getex", o.expire, o.flags & OPT_EXPIRE, &when) != SHALE_OK)
        return;
    reply_value(r, ref);
    if ((o.flags & (OPT_EXAT | OPT_PXAT)) && when <= x->now_ms)
        shale_keyspace_delete(x->ks, r->db, r->argv[1]);
    else if (o.flags & OPT_EXPIRE)
        shale_keyspace_set_expire(x->ks, r->db, ref, when);
    else if ((o.flags & OPT_PERSIST) && shale_kobj_expire(keyspace_obj(ref)) != KOBJ_NO_EXPIRE)
        shale_keyspace_set_expire(x->ks, r->db, ref, KOBJ_NO_EXPIRE);
}

void shale_cmd_append(struct exec_ctx *x, struct request *r)
{
    struct slice add = r->argv[2];
    struct table_slot *ref;
    size_t len;

    if (lookup_string(x, r, r->argv[1], LOOKUP_WRITE, &ref) != SHALE_OK)
        return;
    len = ref ? shale_kobj_string(keyspace_obj(ref)).len : 0;
    if (ref && (unsigned long long)len + add.len > (unsigned long long)T_STRING_MAX_LEN) {
        shale_resp_add_error(&r->reply, ERR_TOO_LONG);
        return;
    }
    write_string(x, r->db, ref, r->argv[1], len + add.len, len, add);
    shale_resp_add_integer(&r->reply, (long long)(len + add.len));
}

void shale_cmd_strlen(struct exec_ctx *x, struct request *r)
{
    struct table_slot *ref;

    if (lookup_string(x, r, r->argv[1], LOOKUP_READ, &ref) != SHALE_OK)
        return;
    shale_resp_add_integer(&r->reply,
                           ref ? (long long)shale_kobj_string(keyspace_obj(ref)).len : 0);
}

void shale_cmd_getrange(struct exec_ctx *x, struct request *r)
{
    long long start, end, len;
    struct table_slot *ref;
    struct slice v;

    if (!shale_strconv_ll(r->argv[2], &start) || !shale_strconv_ll(r->argv[3], &end)) {
        shale_resp_add_error(&r->reply, ERR_NOT_INTEGER);
        return;
    }
    if (lookup_string(x, r, r->argv[1], LOOKUP_READ, &ref) != SHALE_OK)
        return;
    if (!ref) {
        shale_resp_add_bulk(&r->reply, "", 0);
        return;
    }
    v = shale_kobj_string(keyspace_obj(ref));
    len = (long long)v.len;
    /* Redis: both ends negative with start after end is empty outright;
     * otherwise negatives count from the end and clamp to the string. */
    if (start < 0 && end < 0 && start > end) {
        shale_resp_add_bulk(&r->reply, "", 0);
        return;
    }
    if (start < 0)
        start += len;
    if (end < 0)
        end += len;
    if (start < 0)
        start = 0;
    if (end < 0)
        end = 0;
    if (end >= len)
        end = len - 1;
    if (start > end || len == 0)
        shale_resp_add_bulk(&r->reply, "", 0);
    else
        shale_resp_add_bulk(&r->reply, v.ptr + start, (size_t)(end - start + 1));
}

void shale_cmd_setrange(struct exec_ctx *x, struct request *r)
{
    struct slice val = r->argv[3];
    long long offset;
    struct table_slot *ref;
    size_t len;

    if (!shale_strconv_ll(r->argv[2], &offset)) {
        shale_resp_add_error(&r->reply, ERR_NOT_INTEGER);
        return;
    }
    if (offset < 0) {
        shale_resp_add_error(&r->reply, "ERR offset is out of range");
        return;
    }
    if (lookup_string(x, r, r->argv[1], LOOKUP_WRITE, &ref) != SHALE_OK)
        return;
    len = ref ? shale_kobj_string(keyspace_obj(ref)).len : 0;
    /* Setting nothing creates nothing and reports the current length. */
    if (val.len == 0) {
        shale_resp_add_integer(&r->reply, (long long)len);
        return;
    }
    if ((unsigned long long)offset + val.len > (unsigned long long)T_STRING_MAX_LEN) {
        shale_resp_add_error(&r->reply, ERR_TOO_LONG);
        return;
    }
    if ((size_t)offset + val.len > len)
        len = (size_t)offset + val.len;
    write_string(x, r->db, ref, r->argv[1], len, (size_t)offset, val);
    shale_resp_add_integer(&r->reply, (long long)len);
}

/* Redis's incrDecrCommand: the value must parse as string2ll, the TTL stays. */
static void incr_by(struct exec_ctx *x, struct request *r, long long by)
{
    struct table_slot *ref;
    long long v = 0;
    char buf[32];
    int n;

    if (lookup_string(x, r, r->argv[1], LOOKUP_WRITE, &ref) != SHALE_OK)
        return;
    if (ref && !shale_strconv_ll(shale_kobj_string(keyspace_obj(ref)), &v)) {
        shale_resp_add_error(&r->reply, ERR_NOT_INTEGER);
        return;
    }
    if ((by < 0 && v < 0 && by < LLONG_MIN - v) || (by > 0 && v > 0 && by > LLONG_MAX - v)) {
        shale_resp_add_error(&r->reply, "ERR increment or decrement would overflow");
        return;
    }
    v += by;
    n = snprintf(buf, sizeof(buf), "%lld", v);
    write_string(x, r->db, ref, r->argv[1], (size_t)n, 0, (struct slice){buf, (size_t)n});
    shale_resp_add_integer(&r->reply, v);
}

void shale_cmd_incr(struct exec_ctx *x, struct request *r)
{
    incr_by(x, r, 1);
}

void shale_cmd_decr(struct exec_ctx *x, struct request *r)
{
    incr_by(x, r, -1);
}

void shale_cmd_incrby(struct exec_ctx *x, struct request *r)
{
    long long by;

    if (!shale_strconv_ll(r->argv[2], &by)) {
        shale_resp_add_error(&r->reply, ERR_NOT_INTEGER);
        return;
    }
    incr_by(x, r, by);
}

void shale_cmd_decrby(struct exec_ctx *x, struct request *r)
{
    long long by;

    if (!shale_strconv_ll(r->argv[2], &by)) {
        shale_resp_add_error(&r->reply, ERR_NOT_INTEGER);
        return;
    }
    /* -LLONG_MIN does not exist. */
    if (by == LLONG_MIN) {
        shale_resp_add_error(&r->reply, "ERR decrement would overflow");
        return;
    }
    incr_by(x, r, -by);
}

void shale_cmd_incrbyfloat(struct exec_ctx *x, struct request *r)
{
    long double v = 0, by;
    char buf[STRCONV_LD_SIZE];
    struct table_slot *ref;
    int n;

    if (lookup_string(x, r, r->argv[1], LOOKUP_WRITE, &ref) != SHALE_OK)
        return;
    if ((ref && !shale_strconv_ld(shale_kobj_string(keyspace_obj(ref)), &v)) ||
        !shale_strconv_ld(r->argv[2], &by)) {
        shale_resp_add_error(&r->reply, ERR_NOT_FLOAT);
        return;
    }
    v += by;
    if (isnan(v) || isinf(v)) {
        shale_resp_add_error(&r->reply, "ERR increment would produce NaN or Infinity");
        return;
    }
    n = shale_strconv_ld_human(buf, sizeof(buf), v);
    write_string(x, r->db, ref, r->argv[1], (size_t)n, 0, (struct slice){buf, (size_t)n});
    shale_resp_add_bulk(&r->reply, buf, (size_t)n);
}

/* A part of a split MGET: this shard's keys only, nil for a missing key or
 * one that is not a string. */
void shale_cmd_mget(struct exec_ctx *x, struct request *r)
{
    shale_resp_add_array_len(&r->reply, r->argc - 1);
    for (int j = 1; j < r->argc; j++) {
        struct table_slot *ref = shale_keys_lookup_read(x, r->db, r->argv[j]);
        reply_value(r, ref && shale_kobj_type(keyspace_obj(ref)) == KOBJ_STRING ? ref : NULL);
    }
}

/* A part of a split MSET: this shard's pairs. Each key loses its TTL. */
void shale_cmd_mset(struct exec_ctx *x, struct request *r)
{
    if (r->argc % 2 == 0) {
        shale_resp_add_error(&r->reply, "ERR wrong number of arguments for 'mset' command");
        return;
    }
    for (int j = 1; j < r->argc; j += 2) {
        struct table_slot *ref = shale_keyspace_find(x->ks, r->db, r->argv[j], x->now_ms);
        store_string(x, r->db, ref, r->argv[j], r->argv[j + 1], KOBJ_NO_EXPIRE);
    }
    shale_resp_add_status(&r->reply, "OK");
}
