/* command: the command table, the single source of truth for name, arity,
 * flags, key positions, where a command runs and how a multi-key command is
 * split across shards and merged. Read-only after start; any thread. */
#ifndef SHALE_COMMAND_H
#define SHALE_COMMAND_H

#include <stdint.h>

#include "server/slice.h"

struct conn;
struct exec_ctx;
struct io_thread;
struct request;

enum command_flag {
    CMD_WRITE = 1 << 0,
    CMD_READONLY = 1 << 1,
    CMD_DENYOOM = 1 << 2,
    CMD_FAST = 1 << 3,
    CMD_NO_AUTH = 1 << 4, /* allowed before AUTH */
    CMD_ADMIN = 1 << 5,
    CMD_LOADING = 1 << 6,
    CMD_STALE = 1 << 7,
    CMD_CONTAINER = 1 << 8,  /* has subcommands: argv[1] picks the row "name|sub" */
    CMD_SUBCOMMAND = 1 << 9, /* a "container|sub" row, found only through its container */
    /* Redis parses this container's subcommands by hand (DEBUG): an unknown
     * one, or a wrong argument count (checked by the handler; rows take
     * arity -2), answers "unknown subcommand or wrong number of arguments". */
    CMD_HAND_PARSED = 1 << 10,
    /* An I/O command that answers later (it waits for shards): the router
     * does not finish the request when io_proc returns. */
    CMD_DEFERRED = 1 << 11,
    /* EXEC: the shards it needs are those of the queued commands. */
    CMD_EXEC = 1 << 12,
    /* Runs even inside MULTI instead of being queued. */
    CMD_NO_QUEUE = 1 << 13,
    CMD_SKIP_SLOWLOG = 1 << 14, /* never logged by SLOWLOG (Redis: EXEC) */
    /* Gated by enable-debug-command (DEBUG), checked before its subcommand. */
    CMD_PROTECTED = 1 << 15,
    /* The key's value is a block of its own, not embedded in the key object
     * (hash commands): a shard prefetches it with the batch. Not a Redis
     * flag; COMMAND INFO does not show it. */
    CMD_VALUE_APART = 1 << 16,
};

/* How a command with keys on several shards is split, and its parts merged. */
enum command_split {
    SPLIT_NONE = 0,    /* one key (or all keys on one shard) */
    SPLIT_KEYS_SUM,    /* one part per shard with its keys; integer replies summed */
    SPLIT_KEYS_ARRAY,  /* one part per shard; array elements merged in key order */
    SPLIT_PAIRS_OK,    /* key/value pairs per shard; +OK unless a part failed */
    FANOUT_SUM,        /* every shard runs it; integer replies summed */
    FANOUT_OK,         /* every shard runs it; +OK unless a part failed */
    FANOUT_ARRAY,      /* every shard runs it; the arrays concatenated (KEYS) */
    FANOUT_RANDOM,     /* every shard answers [keys, key|nil]; one key picked (RANDOMKEY) */
    SPLIT_SCAN_CURSOR, /* to the shard named by the cursor; the reply's cursor made global */
    SPLIT_COORDINATED, /* keys on one shard: runs whole there; else `coordinate` runs it */
};

struct command {
    const char *name; /* lower case, as Redis reports it */
    int arity;        /* Redis meaning: n exact, -n at least n */
    uint32_t flags;
    int first_key, last_key, key_step; /* Redis meaning; last_key -1 = last arg */
    enum command_split split;
    /* Exactly one of these is set: shard commands touch a keyspace, I/O
     * commands (PING, HELLO, CLIENT ...) run on the connection's thread. */
    void (*shard_proc)(struct exec_ctx *x, struct request *r);
    void (*io_proc)(struct conn *c, struct request *r);
    const char *group; /* COMMAND DOCS group */
    /* SPLIT_COORDINATED across shards, on the I/O thread with the shards
     * held: called for round 0 and again each time a round's parts are all
     * back (r->round counts them). Sends the next round's parts and returns
     * 0, or writes the reply and returns 1. Each part's r->step tells its
     * shard_proc which step to run. */
    int (*coordinate)(struct io_thread *t, struct request *r);
};

void shale_command_setup(void);
struct config_rename;
/* Applies rename-command lines (start-up, before any thread runs): the
 * command answers to its new name only, or to none. The name in replies and
 * stats stays the original, as in Redis. -1 with err set on a bad line. */
int shale_command_apply_renames(const struct config_rename *renames, char *err, size_t errlen);
/* Case-insensitive lookup of a command name; NULL when unknown. */
const struct command *shale_command_lookup(struct slice name);
/* The "container|sub" row of a container command; NULL when unknown. */
const struct command *shale_command_lookup_sub(const struct command *container, struct slice sub);
/* Every row, subcommands included (for per-command stats arrays). */
int shale_command_count(void);
const struct command *shale_command_at(int index);
/* Index of cmd in the table (for per-command stats arrays). */
int shale_command_index(const struct command *cmd);

#endif
