/* t_scan: KEYS, SCAN and RANDOMKEY over one shard (see t_scan.h), with
 * Redis 7.0's options and error texts. Shard thread only; touches x->ks and
 * r->reply. Keys whose TTL has passed are left out of the replies (Redis
 * deletes them as it meets them; the active expiry cycle does that here). */
#include "shards/t_scan.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/glob.h"
#include "server/mem.h"
#include "server/strconv.h"
#include "shards/exec.h"
#include "shards/keyspace.h"
#include "shards/object.h"
#include "shards/table.h"

#define SCAN_CURSOR_MASK ((UINT64_C(1) << SHALE_TABLE_CURSOR_BITS) - 1)

/* Keys collected by a table walk, filtered as they come. */
struct key_list {
    struct slice pattern;
    int use_pattern;
    const char *type; /* NULL: any */
    int64_t now_ms;
    size_t visited; /* live keys met, before MATCH and TYPE */
    struct slice *keys;
    size_t n, cap;
};

static void collect_key(void *ctx, struct table_slot *entry_ref)
{
    struct key_list *l = ctx;
    const struct kobj *o = keyspace_obj(entry_ref);
    int64_t when = shale_kobj_expire(o);
    struct slice key = shale_kobj_key(o);

    if (when != KOBJ_NO_EXPIRE && when <= l->now_ms)
        return;
    l->visited++;
    if (l->use_pattern && !shale_glob_match(l->pattern.ptr, l->pattern.len, key.ptr, key.len, 0))
        return;
    if (l->type && strcasecmp(l->type, shale_kobj_type_name(o)) != 0)
        return;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->keys = shale_realloc(l->keys, l->cap * sizeof(*l->keys));
    }
    l->keys[l->n++] = key;
}

static void reply_keys(struct request *r, const struct key_list *l)
{
    shale_resp_add_array_len(&r->reply, (long long)l->n);
    for (size_t i = 0; i < l->n; i++)
        shale_resp_add_bulk(&r->reply, l->keys[i].ptr, l->keys[i].len);
}

static int is_star(struct slice p)
{
    return p.len == 1 && p.ptr[0] == '*';
}

void shale_cmd_keys(struct exec_ctx *x, struct request *r)
{
    struct key_list l = {
        .pattern = r->argv[1], .use_pattern = !is_star(r->argv[1]), .now_ms = x->now_ms};
    uint64_t cursor = 0;

    do
        cursor = shale_keyspace_scan(x->ks, r->db, cursor, collect_key, &l);
    while (cursor != 0);
    reply_keys(r, &l);
    shale_free(l.keys);
}

/* The router has checked argv[1] already and sent SCAN to the shard the
 * cursor names. */
void shale_cmd_scan(struct exec_ctx *x, struct request *r)
{
    unsigned long long global = 0;
    shale_strconv_cursor(r->argv[1], &global);
    uint64_t cursor = global & SCAN_CURSOR_MASK;
    long long count = 10;
    char type[16];
    struct key_list l = {.now_ms = x->now_ms};

    for (int i = 2; i < r->argc; i += 2) {
        struct slice opt = r->argv[i];
        if (i + 1 >= r->argc) {
            shale_resp_add_error(&r->reply, "ERR syntax error");
            return;
        }
        if (slice_eq_nocase(opt, "count")) {
            if (!shale_strconv_ll(r->argv[i + 1], &count)) {
                shale_resp_add_error(&r->reply, "ERR value is not an integer or out of range");
                return;
            }
            if (count < 1) {
                shale_resp_add_error(&r->reply, "ERR syntax error");
                return;
            }
        } else if (slice_eq_nocase(opt, "match")) {
            l.pattern = r->argv[i + 1];
            l.use_pattern = !is_star(l.pattern);
        } else if (slice_eq_nocase(opt, "type")) {
            /* Redis 7.0 compares names; an unknown type matches nothing. */
            size_t n =
                r->argv[i + 1].len < sizeof(type) - 1 ? r->argv[i + 1].len : sizeof(type) - 1;
            memcpy(type, r->argv[i + 1].ptr, n);
            type[n] = '\0';
            l.type = r->argv[i + 1].len < sizeof(type) - 1 ? type : "";
        } else {
            shale_resp_add_error(&r->reply, "ERR syntax error");
            return;
        }
    }
    /* Like Redis: visit buckets until COUNT keys are gathered (before
     * filtering) or 10 x COUNT buckets were visited. */
    long long buckets = 0;
    do {
        cursor = shale_keyspace_scan(x->ks, r->db, cursor, collect_key, &l);
        buckets++;
    } while (cursor != 0 && (long long)l.visited < count && buckets < count * 10);
    char buf[24];
    int n = snprintf(buf, sizeof(buf), "%llu", (unsigned long long)cursor);
    shale_resp_add_array_len(&r->reply, 2);
    shale_resp_add_bulk(&r->reply, buf, (size_t)n);
    reply_keys(r, &l);
    shale_free(l.keys);
}

void shale_cmd_randomkey(struct exec_ctx *x, struct request *r)
{
    struct kobj *o = shale_keyspace_random(x->ks, r->db, x->now_ms, &x->rng);

    shale_resp_add_array_len(&r->reply, 2);
    shale_resp_add_integer(&r->reply, (long long)shale_keyspace_keys(x->ks, r->db));
    if (o) {
        struct slice key = shale_kobj_key(o);
        shale_resp_add_bulk(&r->reply, key.ptr, key.len);
    } else {
        shale_resp_add_null(&r->reply);
    }
}
