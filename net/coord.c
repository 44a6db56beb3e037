/* coord: see coord.h. A coordinator is called with r->round = 0 when the
 * shards are held, and again each time a round's parts are all back; it
 * sends the next round (returns 0) or writes the reply (returns 1). */
#include "net/coord.h"

#include <stdlib.h>
#include <string.h>

#include "net/io_thread.h"
#include "net/router.h"
#include "server/mem.h"
#include "server/server.h"
#include "shards/t_keymove.h"

#define MAX_SHARDS 256

/* The part of the previous round (the one whose replies just came back). */
static struct request *last_round(struct request *r)
{
    for (struct request *p = r->parts; p; p = p->next)
        if (p->round == r->round - 1)
            return p;
    return NULL;
}

static int reply_int(const struct request *p)
{
    return p->reply.len && p->reply.data[0] == ':' ? atoi(p->reply.data + 1) : -1;
}

static int is_nil(const struct request *p)
{
    return p->reply.len && (p->reply.data[0] == '_' || !memcmp(p->reply.data, "$-1", 3));
}

/* A part for one key: argv [cmd, key (, extra)]. */
static struct request *key_part(struct io_thread *t, struct request *r, int step, int db,
                                struct slice key, const struct slice *extra)
{
    struct request *p = shale_router_new_part(t, r, shale_router_shard_of_key(t, key));
    p->step = (uint8_t)step;
    p->db = (uint8_t)db;
    p->argv[0] = r->argv[0];
    p->argv[1] = key;
    p->argc = 2;
    if (extra)
        p->argv[p->argc++] = *extra;
    return p;
}

/* One part per shard holding some of r's key/value pairs. */
static void pair_parts(struct io_thread *t, struct request *r, int step)
{
    uint32_t count[MAX_SHARDS] = {0};
    struct request *part[MAX_SHARDS] = {0};
    for (int i = 1; i + 1 < r->argc; i += 2)
        count[shale_router_shard_of_key(t, r->argv[i])]++;
    for (int s = 0; s < t->srv->nshards; s++) {
        if (!count[s])
            continue;
        struct request *p = part[s] = shale_router_new_part(t, r, s);
        p->step = (uint8_t)step;
        int argc = 1 + 2 * (int)count[s];
        if (argc > REQUEST_INLINE_ARGS) {
            p->argv = shale_malloc(sizeof(struct slice) * (size_t)argc);
            p->argv_heap = 1;
        }
        p->argv[0] = r->argv[0];
        p->argc = 1;
    }
    for (int i = 1; i + 1 < r->argc; i += 2) {
        struct request *p = part[shale_router_shard_of_key(t, r->argv[i])];
        p->argv[p->argc++] = r->argv[i];
        p->argv[p->argc++] = r->argv[i + 1];
    }
}

static int send_round(struct io_thread *t, struct request *r)
{
    shale_router_send_parts(t, r);
    return 0;
}

static struct slice dump_of(const struct request *p)
{
    return (struct slice){p->reply.data, p->reply.len};
}

/* RENAME: DUMP src; then RESTORE dst and DELETE src together. */
int shale_coord_rename(struct io_thread *t, struct request *r)
{
    const struct request *prev = r->round ? last_round(r) : NULL;
    switch (r->round) {
    case 0:
        key_part(t, r, KEYMOVE_DUMP, r->db, r->argv[1], NULL);
        return send_round(t, r);
    case 1:
        if (is_nil(prev)) {
            shale_resp_add_error(&r->reply, "ERR no such key");
            return 1;
        }
        struct slice dump = dump_of(prev);
        key_part(t, r, KEYMOVE_RESTORE, r->db, r->argv[2], &dump);
        key_part(t, r, KEYMOVE_DELETE, r->db, r->argv[1], NULL);
        return send_round(t, r);
    default:
        shale_resp_add_status(&r->reply, "OK");
        return 1;
    }
}

/* RENAMENX: DUMP src; RESTORE_NX dst; DELETE src only if that restored. */
int shale_coord_renamenx(struct io_thread *t, struct request *r)
{
    const struct request *prev = r->round ? last_round(r) : NULL;
    switch (r->round) {
    case 0:
        key_part(t, r, KEYMOVE_DUMP, r->db, r->argv[1], NULL);
        return send_round(t, r);
    case 1:
        if (is_nil(prev)) {
            shale_resp_add_error(&r->reply, "ERR no such key");
            return 1;
        }
        struct slice dump = dump_of(prev);
        key_part(t, r, KEYMOVE_RESTORE_NX, r->db, r->argv[2], &dump);
        return send_round(t, r);
    case 2:
        if (reply_int(prev) != 1) {
            shale_resp_add_integer(&r->reply, 0);
            return 1;
        }
        key_part(t, r, KEYMOVE_DELETE, r->db, r->argv[1], NULL);
        return send_round(t, r);
    default:
        shale_resp_add_integer(&r->reply, 1);
        return 1;
    }
}

/* COPY: DUMP src; RESTORE (REPLACE) or RESTORE_NX dst in its database. */
int shale_coord_copy(struct io_thread *t, struct request *r)
{
    int dst_db, replace;
    const char *err = shale_copy_parse(r, (int)t->srv->cfg->databases, &dst_db, &replace);
    const struct request *prev = r->round ? last_round(r) : NULL;
    switch (r->round) {
    case 0:
        if (err) {
            shale_resp_add_error(&r->reply, err);
            return 1;
        }
        key_part(t, r, KEYMOVE_DUMP, r->db, r->argv[1], NULL);
        return send_round(t, r);
    case 1:
        if (is_nil(prev)) {
            shale_resp_add_integer(&r->reply, 0);
            return 1;
        }
        struct slice dump = dump_of(prev);
        key_part(t, r, replace ? KEYMOVE_RESTORE : KEYMOVE_RESTORE_NX, dst_db, r->argv[2], &dump);
        return send_round(t, r);
    default:
        shale_resp_add_integer(&r->reply, reply_int(prev) == 1);
        return 1;
    }
}

/* MSETNX: COUNT the existing keys on every shard; SET them all if none. */
int shale_coord_msetnx(struct io_thread *t, struct request *r)
{
    switch (r->round) {
    case 0:
        if (r->argc % 2 == 0) {
            shale_resp_add_error(&r->reply, "ERR wrong number of arguments for 'msetnx' command");
            return 1;
        }
        pair_parts(t, r, KEYMOVE_COUNT);
        return send_round(t, r);
    case 1:
        for (const struct request *p = r->parts; p; p = p->next)
            if (p->round == 0 && reply_int(p) != 0) {
                shale_resp_add_integer(&r->reply, 0);
                return 1;
            }
        pair_parts(t, r, KEYMOVE_SET);
        return send_round(t, r);
    default:
        shale_resp_add_integer(&r->reply, 1);
        return 1;
    }
}
