/* t_keys: the type-independent key commands (DEL, EXISTS, TYPE, the EXPIRE
 * and TTL families, PERSIST, TOUCH, DBSIZE, FLUSHDB, FLUSHALL), and the read
 * lookup every type module shares. Shard thread only. */
#ifndef SHALE_T_KEYS_H
#define SHALE_T_KEYS_H

#include "server/slice.h"

struct exec_ctx;
struct kobj;
struct request;

/* Finds key for a read command and counts a keyspace hit or miss, as Redis's
 * lookupKeyRead does (write commands use shale_keyspace_find and count
 * nothing). Same slot rules as shale_keyspace_find. */
struct table_slot *shale_keys_lookup_read(struct exec_ctx *x, int db, struct slice key);

void shale_cmd_del(struct exec_ctx *x, struct request *r);
void shale_cmd_unlink(struct exec_ctx *x, struct request *r);
void shale_cmd_exists(struct exec_ctx *x, struct request *r);
void shale_cmd_type(struct exec_ctx *x, struct request *r);
void shale_cmd_expire(struct exec_ctx *x, struct request *r);
void shale_cmd_pexpire(struct exec_ctx *x, struct request *r);
void shale_cmd_expireat(struct exec_ctx *x, struct request *r);
void shale_cmd_pexpireat(struct exec_ctx *x, struct request *r);
void shale_cmd_ttl(struct exec_ctx *x, struct request *r);
void shale_cmd_pttl(struct exec_ctx *x, struct request *r);
void shale_cmd_expiretime(struct exec_ctx *x, struct request *r);
void shale_cmd_pexpiretime(struct exec_ctx *x, struct request *r);
void shale_cmd_persist(struct exec_ctx *x, struct request *r);
void shale_cmd_touch(struct exec_ctx *x, struct request *r);
void shale_cmd_dbsize(struct exec_ctx *x, struct request *r);
void shale_cmd_flushdb(struct exec_ctx *x, struct request *r);
void shale_cmd_flushall(struct exec_ctx *x, struct request *r);

#endif
