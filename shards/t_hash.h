/* t_hash: the hash commands (HSET, HSETNX, HMSET, HGET, HMGET, HDEL, HLEN,
 * HSTRLEN, HEXISTS, HGETALL, HKEYS, HVALS, HINCRBY, HINCRBYFLOAT,
 * HRANDFIELD, HSCAN) with Redis 7.0's replies and errors. Shard thread
 * only. */
#ifndef SHALE_T_HASH_H
#define SHALE_T_HASH_H

struct exec_ctx;
struct kobj;
struct request;

/* Encoding name of a hash key's value ("listpack", "hashtable"), for
 * OBJECT ENCODING; NULL when o is not a hash. */
const char *shale_hash_key_encoding(const struct kobj *o);

void shale_cmd_hset(struct exec_ctx *x, struct request *r);
void shale_cmd_hsetnx(struct exec_ctx *x, struct request *r);
void shale_cmd_hmset(struct exec_ctx *x, struct request *r);
void shale_cmd_hget(struct exec_ctx *x, struct request *r);
void shale_cmd_hmget(struct exec_ctx *x, struct request *r);
void shale_cmd_hdel(struct exec_ctx *x, struct request *r);
void shale_cmd_hlen(struct exec_ctx *x, struct request *r);
void shale_cmd_hstrlen(struct exec_ctx *x, struct request *r);
void shale_cmd_hexists(struct exec_ctx *x, struct request *r);
void shale_cmd_hgetall(struct exec_ctx *x, struct request *r);
void shale_cmd_hkeys(struct exec_ctx *x, struct request *r);
void shale_cmd_hvals(struct exec_ctx *x, struct request *r);
void shale_cmd_hincrby(struct exec_ctx *x, struct request *r);
void shale_cmd_hincrbyfloat(struct exec_ctx *x, struct request *r);
void shale_cmd_hrandfield(struct exec_ctx *x, struct request *r);
void shale_cmd_hscan(struct exec_ctx *x, struct request *r);

#endif
