/* t_keys: the commands that work on any key whatever its type, mirroring
 * Redis 7.0's db.c and expire.c replies and errors.
 *
 * Runs on a shard thread; a handler touches only x->ks, x->stats and
 * r->reply. A multi-key command (DEL, UNLINK, EXISTS, TOUCH) sees only this
 * shard's keys and answers for them; DBSIZE, FLUSHDB and FLUSHALL run on
 * every shard and answer for this shard's part. */
#include "shards/t_keys.h"

#include <limits.h>
#include <string.h>

#include "server/status.h"
#include "server/strconv.h"
#include "shards/exec.h"
#include "shards/keyspace.h"
#include "shards/object.h"
#include "shards/t_string.h"

struct table_slot *shale_keys_lookup_read(struct exec_ctx *x, int db, struct slice key)
{
    struct table_slot *ref = shale_keyspace_find(x->ks, db, key, x->now_ms);

    if (ref)
        x->stats.keyspace_hits++;
    else
        x->stats.keyspace_misses++;
    return ref;
}

/* DEL and UNLINK (memory is freed at once either way). A key whose TTL has
 * passed is not counted: find expires it first, as Redis's expireIfNeeded
 * does before dbSyncDelete. */
static void del_keys(struct exec_ctx *x, struct request *r)
{
    long long deleted = 0;

    for (int j = 1; j < r->argc; j++) {
        if (shale_keyspace_find(x->ks, r->db, r->argv[j], x->now_ms))
            deleted += shale_keyspace_delete(x->ks, r->db, r->argv[j]);
    }
    shale_resp_add_integer(&r->reply, deleted);
}

void shale_cmd_del(struct exec_ctx *x, struct request *r)
{
    del_keys(x, r);
}

void shale_cmd_unlink(struct exec_ctx *x, struct request *r)
{
    del_keys(x, r);
}

/* EXISTS and TOUCH: how many of the arguments exist, a key named twice
 * counting twice. Both count keyspace hits and misses, as in Redis. */
static void count_existing(struct exec_ctx *x, struct request *r)
{
    long long n = 0;

    for (int j = 1; j < r->argc; j++) {
        if (shale_keys_lookup_read(x, r->db, r->argv[j]))
            n++;
    }
    shale_resp_add_integer(&r->reply, n);
}

void shale_cmd_exists(struct exec_ctx *x, struct request *r)
{
    count_existing(x, r);
}

void shale_cmd_touch(struct exec_ctx *x, struct request *r)
{
    count_existing(x, r);
}

void shale_cmd_type(struct exec_ctx *x, struct request *r)
{
    struct table_slot *ref = shale_keys_lookup_read(x, r->db, r->argv[1]);

    shale_resp_add_status(&r->reply, ref ? shale_kobj_type_name(keyspace_obj(ref)) : "none");
}

/* EXPIRE's NX/XX/GT/LT, checked like Redis's
 * parseExtendedExpireArgumentsOrReply. */
enum expire_opt {
    EXPIRE_NX = 1 << 0,
    EXPIRE_XX = 1 << 1,
    EXPIRE_GT = 1 << 2,
    EXPIRE_LT = 1 << 3,
};

static int parse_expire_opts(struct request *r, unsigned *flags)
{
    *flags = 0;
    for (int j = 3; j < r->argc; j++) {
        struct slice a = r->argv[j];

        if (slice_eq_nocase(a, "NX")) {
            *flags |= EXPIRE_NX;
        } else if (slice_eq_nocase(a, "XX")) {
            *flags |= EXPIRE_XX;
        } else if (slice_eq_nocase(a, "GT")) {
            *flags |= EXPIRE_GT;
        } else if (slice_eq_nocase(a, "LT")) {
            *flags |= EXPIRE_LT;
        } else {
            /* Redis prints the option as a C string: up to its first NUL. */
            const char *nul = memchr(a.ptr, '\0', a.len);
            int n = (int)(nul ? (size_t)(nul - a.ptr) : a.len);
            shale_resp_add_errorf(&r->reply, "ERR Unsupported option %.*s", n, a.ptr);
            return SHALE_ERR;
        }
    }
    if ((*flags & EXPIRE_NX) && (*flags & (EXPIRE_XX | EXPIRE_GT | EXPIRE_LT))) {
        shale_resp_add_error(&r->reply,
                             "ERR NX and XX, GT or LT options at the same time are not compatible");
        return SHALE_ERR;
    }
    if ((*flags & EXPIRE_GT) && (*flags & EXPIRE_LT)) {
        shale_resp_add_error(&r->reply,
                             "ERR GT and LT options at the same time are not compatible");
        return SHALE_ERR;
    }
    return SHALE_OK;
}

/* Whether the options let an expire change from cur (KOBJ_NO_EXPIRE: none,
 * which GT and LT treat as infinite) to when. */
static int expire_allowed(unsigned flags, int64_t cur, long long when)
{
    if ((flags & EXPIRE_NX) && cur != KOBJ_NO_EXPIRE)
        return 0;
    if ((flags & EXPIRE_XX) && cur == KOBJ_NO_EXPIRE)
        return 0;
    if ((flags & EXPIRE_GT) && (cur == KOBJ_NO_EXPIRE || when <= cur))
        return 0;
    if ((flags & EXPIRE_LT) && cur != KOBJ_NO_EXPIRE && when >= cur)
        return 0;
    return 1;
}

/* Redis's expireGenericCommand. basetime is now for the relative forms, 0
 * for the absolute ones; unit_ms 1000 for seconds. Negative times are
 * allowed (they delete the key); only overflow is an error. */
static void expire_generic(struct exec_ctx *x, struct request *r, const char *cmd,
                           long long basetime, long long unit_ms)
{
    unsigned flags;
    long long when;
    struct table_slot *ref;

    if (parse_expire_opts(r, &flags) != SHALE_OK)
        return;
    if (!shale_strconv_ll(r->argv[2], &when)) {
        shale_resp_add_error(&r->reply, "ERR value is not an integer or out of range");
        return;
    }
    if (when > LLONG_MAX / unit_ms || when < LLONG_MIN / unit_ms)
        goto invalid;
    when *= unit_ms;
    if (when > LLONG_MAX - basetime)
        goto invalid;
    when += basetime;

    ref = shale_keyspace_find(x->ks, r->db, r->argv[1], x->now_ms);
    if (!ref || !expire_allowed(flags, shale_kobj_expire(keyspace_obj(ref)), when)) {
        shale_resp_add_integer(&r->reply, 0);
        return;
    }
    if (when <= x->now_ms)
        shale_keyspace_delete(x->ks, r->db, r->argv[1]);
    else
        shale_keyspace_set_expire(x->ks, r->db, ref, when);
    shale_resp_add_integer(&r->reply, 1);
    return;
invalid:
    shale_resp_add_errorf(&r->reply, "ERR invalid expire time in '%s' command", cmd);
}

void shale_cmd_expire(struct exec_ctx *x, struct request *r)
{
    expire_generic(x, r, "expire", x->now_ms, 1000);
}

void shale_cmd_pexpire(struct exec_ctx *x, struct request *r)
{
    expire_generic(x, r, "pexpire", x->now_ms, 1);
}

void shale_cmd_expireat(struct exec_ctx *x, struct request *r)
{
    expire_generic(x, r, "expireat", 0, 1000);
}

void shale_cmd_pexpireat(struct exec_ctx *x, struct request *r)
{
    expire_generic(x, r, "pexpireat", 0, 1);
}

/* Redis's ttlGenericCommand: -2 missing, -1 no expire, else the time left
 * (or the expire itself when absolute), never below 0. Seconds round to
 * nearest. */
static void ttl_generic(struct exec_ctx *x, struct request *r, int in_ms, int absolute)
{
    struct table_slot *ref = shale_keys_lookup_read(x, r->db, r->argv[1]);
    int64_t expire, ttl;

    if (!ref) {
        shale_resp_add_integer(&r->reply, -2);
        return;
    }
    expire = shale_kobj_expire(keyspace_obj(ref));
    if (expire == KOBJ_NO_EXPIRE) {
        shale_resp_add_integer(&r->reply, -1);
        return;
    }
    ttl = absolute ? expire : expire - x->now_ms;
    if (ttl < 0)
        ttl = 0;
    /* (ttl + 500) / 1000 as Redis, without overflowing near INT64_MAX. */
    shale_resp_add_integer(&r->reply, in_ms ? ttl : ttl / 1000 + (ttl % 1000 >= 500));
}

void shale_cmd_ttl(struct exec_ctx *x, struct request *r)
{
    ttl_generic(x, r, 0, 0);
}

void shale_cmd_pttl(struct exec_ctx *x, struct request *r)
{
    ttl_generic(x, r, 1, 0);
}

void shale_cmd_expiretime(struct exec_ctx *x, struct request *r)
{
    ttl_generic(x, r, 0, 1);
}

void shale_cmd_pexpiretime(struct exec_ctx *x, struct request *r)
{
    ttl_generic(x, r, 1, 1);
}

void shale_cmd_persist(struct exec_ctx *x, struct request *r)
{
    struct table_slot *ref = shale_keyspace_find(x->ks, r->db, r->argv[1], x->now_ms);

    if (!ref || shale_kobj_expire(keyspace_obj(ref)) == KOBJ_NO_EXPIRE) {
        shale_resp_add_integer(&r->reply, 0);
        return;
    }
    shale_keyspace_set_expire(x->ks, r->db, ref, KOBJ_NO_EXPIRE);
    shale_resp_add_integer(&r->reply, 1);
}

void shale_cmd_dbsize(struct exec_ctx *x, struct request *r)
{
    shale_resp_add_integer(&r->reply, (long long)shale_keyspace_keys(x->ks, r->db));
}

/* FLUSHDB/FLUSHALL [ASYNC|SYNC]: both free at once here; the word is only
 * checked. */
static void flush_generic(struct exec_ctx *x, struct request *r, int db)
{
    if (r->argc > 2 || (r->argc == 2 && !slice_eq_nocase(r->argv[1], "ASYNC") &&
                        !slice_eq_nocase(r->argv[1], "SYNC"))) {
        shale_resp_add_error(&r->reply, "ERR syntax error");
        return;
    }
    shale_keyspace_flush(x->ks, db);
    shale_resp_add_status(&r->reply, "OK");
}

void shale_cmd_flushdb(struct exec_ctx *x, struct request *r)
{
    flush_generic(x, r, r->db);
}

void shale_cmd_flushall(struct exec_ctx *x, struct request *r)
{
    flush_generic(x, r, -1);
}
