/* command: the command table (see command.h). Every command shale knows is
 * one row here; routing, arity checks, COMMAND INFO and per-command stats
 * are all derived from it. Read-only after shale_command_setup. */
#include "server/command.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "net/cmd_client.h"
#include "net/cmd_conn.h"
#include "net/cmd_server.h"
#include "net/coord.h"
#include "net/multi.h"
#include "net/slowlog.h"
#include "server/config.h"
#include "server/hashfn.h"
#include "shards/t_hash.h"
#include "shards/t_keymove.h"
#include "shards/t_keys.h"
#include "shards/t_object.h"
#include "shards/t_scan.h"
#include "shards/t_string.h"
#include "shards/watch.h"

/* The table reads as columns: keep the formatter out. */
/* clang-format off */
#define W  CMD_WRITE
#define R  CMD_READONLY
#define M  CMD_DENYOOM
#define F  CMD_FAST
#define NA CMD_NO_AUTH
#define A  CMD_ADMIN
#define LS (CMD_LOADING | CMD_STALE)
#define NQ CMD_NO_QUEUE
#define VA CMD_VALUE_APART

/* Shard command: X(name, arity, flags, first, last, step, split, handler, group) */
#define SHARD(name, arity, flags, first, last, step, split, proc, group)                          \
    {name, arity, flags, first, last, step, split, proc, NULL, group, NULL},
/* Shard command that a coordinator runs in rounds when its keys span shards. */
#define COORD(name, arity, flags, first, last, step, proc, coordinate, group)                      \
    {name, arity, flags, first, last, step, SPLIT_COORDINATED, proc, NULL, group, coordinate},
/* I/O-thread command that waits for shards (EXEC) and coordinates them. */
#define IOC(name, arity, flags, proc, coordinate, group)                                           \
    {name, arity, flags, 0, 0, 0, SPLIT_NONE, NULL, proc, group, coordinate},
/* I/O-thread command (no keys). */
#define IO(name, arity, flags, proc, group) {name, arity, flags, 0, 0, 0, SPLIT_NONE, NULL, proc, group, NULL},

static const struct command commands[] = {
    /* connection */
    IO("ping", -1, F | LS, shale_cmd_ping, "connection")
    IO("echo", 2, F | LS, shale_cmd_echo, "connection")
    IO("hello", -1, F | NA | LS, shale_cmd_hello, "connection")
    IO("auth", -2, F | NA | LS, shale_cmd_auth, "connection")
    IO("quit", -1, F | NA | LS | NQ, shale_cmd_quit, "connection")
    IO("reset", 1, F | NA | LS | NQ, shale_cmd_reset, "connection")
    IO("select", 2, F | LS, shale_cmd_select, "connection")
    IO("client", -2, CMD_CONTAINER | LS, NULL, "connection")
    IO("client|id", 2, LS | CMD_SUBCOMMAND, shale_cmd_client_id, "connection")
    IO("client|setname", 3, LS | CMD_SUBCOMMAND, shale_cmd_client_setname, "connection")
    IO("client|getname", 2, LS | CMD_SUBCOMMAND, shale_cmd_client_getname, "connection")
    IO("client|info", 2, LS | CMD_SUBCOMMAND, shale_cmd_client_info, "connection")
    IO("client|list", -2, A | LS | CMD_SUBCOMMAND, shale_cmd_client_list, "connection")
    IO("client|setinfo", 4, LS | CMD_SUBCOMMAND, shale_cmd_client_setinfo, "connection")
    /* transactions; the "|keys" rows are internal messages to shards */
    IO("multi", 1, F | LS | NQ, shale_cmd_multi, "transactions")
    IOC("exec", 1, LS | NQ | CMD_EXEC | CMD_DEFERRED | CMD_SKIP_SLOWLOG, shale_cmd_exec, shale_multi_exec_round, "transactions")
    IO("discard", 1, F | LS | NQ, shale_cmd_discard, "transactions")
    IO("watch", -2, F | LS | NQ | CMD_DEFERRED, shale_cmd_watch, "transactions")
    SHARD("watch|keys", -2, CMD_SUBCOMMAND, 1, -1, 1, SPLIT_NONE, shale_cmd_watch_keys, "transactions")
    IO("unwatch", 1, F | LS, shale_cmd_unwatch, "transactions")
    SHARD("unwatch|keys", -2, CMD_SUBCOMMAND, 1, -1, 1, SPLIT_NONE, shale_cmd_unwatch_keys, "transactions")
    IO("client|kill", -3, A | LS | CMD_SUBCOMMAND, shale_cmd_client_kill, "connection")
    IO("client|no-evict", 3, A | LS | CMD_SUBCOMMAND, shale_cmd_client_no_evict, "connection")
    IO("client|reply", 3, LS | CMD_SUBCOMMAND, shale_cmd_client_reply, "connection")
    /* server */
    IO("command", -1, CMD_CONTAINER | LS, shale_cmd_command, "server")
    IO("command|count", 2, LS | CMD_SUBCOMMAND, shale_cmd_command_count, "server")
    IO("command|list", -2, LS | CMD_SUBCOMMAND, shale_cmd_command_list, "server")
    IO("command|info", -2, LS | CMD_SUBCOMMAND, shale_cmd_command_info, "server")
    IO("command|docs", -2, LS | CMD_SUBCOMMAND, shale_cmd_command_docs, "server")
    IO("time", 1, F | LS, shale_cmd_time, "server")
    IO("info", -1, LS, shale_cmd_info, "server")
    IO("config", -2, CMD_CONTAINER | A | LS, NULL, "server")
    IO("config|get", -3, A | LS | CMD_SUBCOMMAND, shale_cmd_config_get, "server")
    IO("config|set", -4, A | LS | CMD_SUBCOMMAND, shale_cmd_config_set, "server")
    IO("config|rewrite", 2, A | LS | CMD_SUBCOMMAND, shale_cmd_config_rewrite, "server")
    IO("config|resetstat", 2, A | LS | CMD_SUBCOMMAND, shale_cmd_config_resetstat, "server")
    IO("slowlog", -2, CMD_CONTAINER, NULL, "server")
    IO("slowlog|get", -2, A | LS | CMD_SUBCOMMAND, shale_cmd_slowlog_get, "server")
    IO("slowlog|len", 2, A | LS | CMD_SUBCOMMAND, shale_cmd_slowlog_len, "server")
    IO("slowlog|reset", 2, A | LS | CMD_SUBCOMMAND, shale_cmd_slowlog_reset, "server")
    IO("slowlog|help", 2, LS | CMD_SUBCOMMAND, shale_cmd_slowlog_help, "server")
    IO("shutdown", -1, A | LS, shale_cmd_shutdown, "server")
    SHARD("dbsize", 1, R | F, 0, 0, 0, FANOUT_SUM, shale_cmd_dbsize, "server")
    SHARD("flushdb", -1, W, 0, 0, 0, FANOUT_OK, shale_cmd_flushdb, "server")
    SHARD("flushall", -1, W, 0, 0, 0, FANOUT_OK, shale_cmd_flushall, "server")
    IO("debug", -2, CMD_CONTAINER | CMD_HAND_PARSED | CMD_PROTECTED | A | LS, NULL, "server")
    SHARD("debug|sleep", -2, A | LS | CMD_SUBCOMMAND, 0, 0, 0, FANOUT_OK, shale_cmd_debug_sleep, "server")
    SHARD("debug|populate", -2, A | LS | CMD_SUBCOMMAND, 0, 0, 0, FANOUT_OK, shale_cmd_debug_populate, "server")
    /* string */
    SHARD("get", 2, R | F, 1, 1, 1, SPLIT_NONE, shale_cmd_get, "string")
    SHARD("set", -3, W | M, 1, 1, 1, SPLIT_NONE, shale_cmd_set, "string")
    SHARD("setnx", 3, W | M | F, 1, 1, 1, SPLIT_NONE, shale_cmd_setnx, "string")
    SHARD("setex", 4, W | M, 1, 1, 1, SPLIT_NONE, shale_cmd_setex, "string")
    SHARD("psetex", 4, W | M, 1, 1, 1, SPLIT_NONE, shale_cmd_psetex, "string")
    SHARD("getset", 3, W | M | F, 1, 1, 1, SPLIT_NONE, shale_cmd_getset, "string")
    SHARD("getdel", 2, W | F, 1, 1, 1, SPLIT_NONE, shale_cmd_getdel, "string")
    SHARD("getex", -2, W | F, 1, 1, 1, SPLIT_NONE, shale_cmd_getex, "string")
    SHARD("append", 3, W | M | F, 1, 1, 1, SPLIT_NONE, shale_cmd_append, "string")
    SHARD("strlen", 2, R | F, 1, 1, 1, SPLIT_NONE, shale_cmd_strlen, "string")
    SHARD("getrange", 4, R, 1, 1, 1, SPLIT_NONE, shale_cmd_getrange, "string")
    SHARD("substr", 4, R, 1, 1, 1, SPLIT_NONE, shale_cmd_getrange, "string")
    SHARD("setrange", 4, W | M, 1, 1, 1, SPLIT_NONE, shale_cmd_setrange, "string")
    SHARD("incr", 2, W | M | F, 1, 1, 1, SPLIT_NONE, shale_cmd_incr, "string")
    SHARD("decr", 2, W | M | F, 1, 1, 1, SPLIT_NONE, shale_cmd_decr, "string")
    SHARD("incrby", 3, W | M | F, 1, 1, 1, SPLIT_NONE, shale_cmd_incrby, "string")
    SHARD("decrby", 3, W | M | F, 1, 1, 1, SPLIT_NONE, shale_cmd_decrby, "string")
    SHARD("incrbyfloat", 3, W | M | F, 1, 1, 1, SPLIT_NONE, shale_cmd_incrbyfloat, "string")
    SHARD("mget", -2, R | F, 1, -1, 1, SPLIT_KEYS_ARRAY, shale_cmd_mget, "string")
    SHARD("mset", -3, W | M, 1, -1, 2, SPLIT_PAIRS_OK, shale_cmd_mset, "string")
    COORD("msetnx", -3, W | M, 1, -1, 2, shale_cmd_msetnx, shale_coord_msetnx, "string")
    /* hash */
    SHARD("hset", -4, W | M | F | VA, 1, 1, 1, SPLIT_NONE, shale_cmd_hset, "hash")
    SHARD("hsetnx", 4, W | M | F | VA, 1, 1, 1, SPLIT_NONE, shale_cmd_hsetnx, "hash")
    SHARD("hmset", -4, W | M | F | VA, 1, 1, 1, SPLIT_NONE, shale_cmd_hmset, "hash")
    SHARD("hget", 3, R | F | VA, 1, 1, 1, SPLIT_NONE, shale_cmd_hget, "hash")
    SHARD("hmget", -3, R | F | VA, 1, 1, 1, SPLIT_NONE, shale_cmd_hmget, "hash")
    SHARD("hdel", -3, W | F | VA, 1, 1, 1, SPLIT_NONE, shale_cmd_hdel, "hash")
    SHARD("hlen", 2, R | F | VA, 1, 1, 1, SPLIT_NONE, shale_cmd_hlen, "hash")
    SHARD("hstrlen", 3, R | F | VA, 1, 1, 1, SPLIT_NONE, shale_cmd_hstrlen, "hash")
    SHARD("hexists", 3, R | F | VA, 1, 1, 1, SPLIT_NONE, shale_cmd_hexists, "hash")
    SHARD("hgetall", 2, R | VA, 1, 1, 1, SPLIT_NONE, shale_cmd_hgetall, "hash")
    SHARD("hkeys", 2, R | VA, 1, 1, 1, SPLIT_NONE, shale_cmd_hkeys, "hash")
    SHARD("hvals", 2, R | VA, 1, 1, 1, SPLIT_NONE, shale_cmd_hvals, "hash")
    SHARD("hincrby", 4, W | M | F | VA, 1, 1, 1, SPLIT_NONE, shale_cmd_hincrby, "hash")
    SHARD("hincrbyfloat", 4, W | M | F | VA, 1, 1, 1, SPLIT_NONE, shale_cmd_hincrbyfloat, "hash")
    SHARD("hrandfield", -2, R | VA, 1, 1, 1, SPLIT_NONE, shale_cmd_hrandfield, "hash")
    SHARD("hscan", -3, R | VA, 1, 1, 1, SPLIT_NONE, shale_cmd_hscan, "hash")
    /* generic */
    SHARD("del", -2, W, 1, -1, 1, SPLIT_KEYS_SUM, shale_cmd_del, "generic")
    SHARD("unlink", -2, W | F, 1, -1, 1, SPLIT_KEYS_SUM, shale_cmd_unlink, "generic")
    SHARD("exists", -2, R | F, 1, -1, 1, SPLIT_KEYS_SUM, shale_cmd_exists, "generic")
    SHARD("touch", -2, R | F, 1, -1, 1, SPLIT_KEYS_SUM, shale_cmd_touch, "generic")
    SHARD("type", 2, R | F, 1, 1, 1, SPLIT_NONE, shale_cmd_type, "generic")
    COORD("rename", 3, W, 1, 2, 1, shale_cmd_rename, shale_coord_rename, "generic")
    COORD("renamenx", 3, W | F, 1, 2, 1, shale_cmd_renamenx, shale_coord_renamenx, "generic")
    COORD("copy", -3, W | M, 1, 2, 1, shale_cmd_copy, shale_coord_copy, "generic")
    SHARD("expire", -3, W | F, 1, 1, 1, SPLIT_NONE, shale_cmd_expire, "generic")
    SHARD("pexpire", -3, W | F, 1, 1, 1, SPLIT_NONE, shale_cmd_pexpire, "generic")
    SHARD("expireat", -3, W | F, 1, 1, 1, SPLIT_NONE, shale_cmd_expireat, "generic")
    SHARD("pexpireat", -3, W | F, 1, 1, 1, SPLIT_NONE, shale_cmd_pexpireat, "generic")
    SHARD("expiretime", 2, R | F, 1, 1, 1, SPLIT_NONE, shale_cmd_expiretime, "generic")
    SHARD("pexpiretime", 2, R | F, 1, 1, 1, SPLIT_NONE, shale_cmd_pexpiretime, "generic")
    SHARD("ttl", 2, R | F, 1, 1, 1, SPLIT_NONE, shale_cmd_ttl, "generic")
    SHARD("pttl", 2, R | F, 1, 1, 1, SPLIT_NONE, shale_cmd_pttl, "generic")
    SHARD("persist", 2, W | F, 1, 1, 1, SPLIT_NONE, shale_cmd_persist, "generic")
    SHARD("keys", 2, R, 0, 0, 0, FANOUT_ARRAY, shale_cmd_keys, "generic")
    SHARD("scan", -2, R, 0, 0, 0, SPLIT_SCAN_CURSOR, shale_cmd_scan, "generic")
    SHARD("randomkey", 1, R, 0, 0, 0, FANOUT_RANDOM, shale_cmd_randomkey, "generic")
    IO("object", -2, CMD_CONTAINER, NULL, "generic")
    SHARD("object|encoding", 3, R | CMD_SUBCOMMAND, 2, 2, 1, SPLIT_NONE, shale_cmd_object_encoding, "generic")
    SHARD("object|freq", 3, R | CMD_SUBCOMMAND, 2, 2, 1, SPLIT_NONE, shale_cmd_object_freq, "generic")
    SHARD("object|idletime", 3, R | CMD_SUBCOMMAND, 2, 2, 1, SPLIT_NONE, shale_cmd_object_idletime, "generic")
    SHARD("object|refcount", 3, R | CMD_SUBCOMMAND, 2, 2, 1, SPLIT_NONE, shale_cmd_object_refcount, "generic")
    IO("object|help", 2, LS | CMD_SUBCOMMAND, shale_cmd_object_help, "generic")
};

/* clang-format on */

#define NCOMMANDS    ((int)(sizeof(commands) / sizeof(commands[0])))
#define LOOKUP_SIZE  256 /* power of two, > 2 x NCOMMANDS */
#define NAME_MAX_LEN 32

/* Open-addressed index from lower-case name to row; built once at setup. */
static int16_t lookup_index[LOOKUP_SIZE];
/* The name each row answers to: its own, a rename-command name (kept in
 * renamed[]), or NULL when disabled. */
static const char *lookup_name[NCOMMANDS];
static char renamed[NCOMMANDS][NAME_MAX_LEN + 1];

static uint64_t name_hash(const char *lower, size_t len)
{
    return shale_hashfn_bytes(lower, len, 0x5ca1ab1e);
}

static void build_index(void)
{
    memset(lookup_index, -1, sizeof(lookup_index));
    for (int i = 0; i < NCOMMANDS; i++) {
        if (!lookup_name[i])
            continue;
        size_t len = strlen(lookup_name[i]);
        size_t slot = name_hash(lookup_name[i], len) & (LOOKUP_SIZE - 1);
        while (lookup_index[slot] >= 0)
            slot = (slot + 1) & (LOOKUP_SIZE - 1);
        lookup_index[slot] = (int16_t)i;
    }
}

void shale_command_setup(void)
{
    for (int i = 0; i < NCOMMANDS; i++)
        lookup_name[i] = commands[i].name;
    build_index();
}

/* Row whose full name is lower[0..len), NULL when none. */
static const struct command *find_row(const char *lower, size_t len)
{
    size_t slot = name_hash(lower, len) & (LOOKUP_SIZE - 1);
    while (lookup_index[slot] >= 0) {
        const char *name = lookup_name[lookup_index[slot]];
        if (strlen(name) == len && memcmp(name, lower, len) == 0)
            return &commands[lookup_index[slot]];
        slot = (slot + 1) & (LOOKUP_SIZE - 1);
    }
    return NULL;
}

static size_t append_lower(char *out, size_t used, struct slice s)
{
    for (size_t i = 0; i < s.len; i++)
        out[used + i] = (char)tolower((unsigned char)s.ptr[i]);
    return used + s.len;
}

const struct command *shale_command_lookup(struct slice name)
{
    if (name.len == 0 || name.len > NAME_MAX_LEN)
        return NULL;
    char lower[NAME_MAX_LEN];
    const struct command *cmd = find_row(lower, append_lower(lower, 0, name));
    return cmd && !(cmd->flags & CMD_SUBCOMMAND) ? cmd : NULL;
}

const struct command *shale_command_lookup_sub(const struct command *container, struct slice sub)
{
    size_t used = strlen(container->name);
    if (sub.len == 0 || used + 1 + sub.len > 2 * NAME_MAX_LEN)
        return NULL;
    char full[2 * NAME_MAX_LEN];
    memcpy(full, container->name, used);
    full[used++] = '|';
    return find_row(full, append_lower(full, used, sub));
}

int shale_command_count(void)
{
    return NCOMMANDS;
}

const struct command *shale_command_at(int index)
{
    return index >= 0 && index < NCOMMANDS ? &commands[index] : NULL;
}

int shale_command_index(const struct command *cmd)
{
    return (int)(cmd - commands);
}

/* Redis's rename-command: only top-level commands; errors word for word. */
static int rename_one(const char *from, const char *to, char *err, size_t errlen)
{
    const struct command *cmd = shale_command_lookup((struct slice){from, strlen(from)});
    if (!cmd) {
        snprintf(err, errlen, "No such command in rename-command");
        return -1;
    }
    size_t tolen = strlen(to);
    if (tolen > NAME_MAX_LEN) {
        snprintf(err, errlen, "New command name in rename-command is longer than %d bytes",
                 NAME_MAX_LEN);
        return -1;
    }
    char lower[NAME_MAX_LEN + 1];
    size_t n = append_lower(lower, 0, (struct slice){to, tolen});
    lower[n] = '\0';
    if (n && (find_row(lower, n) || strchr(lower, '|'))) {
        snprintf(err, errlen, "Target command name already exists");
        return -1;
    }
    int i = shale_command_index(cmd);
    if (n) {
        memcpy(renamed[i], lower, n + 1);
        lookup_name[i] = renamed[i];
    } else {
        lookup_name[i] = NULL;
    }
    build_index();
    return 0;
}

int shale_command_apply_renames(const struct config_rename *renames, char *err, size_t errlen)
{
    for (const struct config_rename *r = renames; r; r = r->next) {
        char why[128];
        if (rename_one(r->from, r->to, why, sizeof(why)) < 0) {
            snprintf(err, errlen, "rename-command %s \"%s\": %s", r->from, r->to, why);
            return -1;
        }
    }
    return 0;
}
