/* t_string: the string commands (GET, SET and its variants, the INCR family,
 * APPEND, GETRANGE/SETRANGE, MGET/MSET), and Redis's strict number parsing
 * that other command modules reuse. Shard thread only. */
#ifndef SHALE_T_STRING_H
#define SHALE_T_STRING_H

#include "server/slice.h"

struct exec_ctx;
struct request;

/* Longest string value a command may build (APPEND, SETRANGE): Redis's
 * default proto-max-bulk-len. The configured value does not reach the shard
 * yet, so this is the default, not the setting. */
#define T_STRING_MAX_LEN (512LL * 1024 * 1024)

void shale_cmd_get(struct exec_ctx *x, struct request *r);
void shale_cmd_set(struct exec_ctx *x, struct request *r);
void shale_cmd_setnx(struct exec_ctx *x, struct request *r);
void shale_cmd_setex(struct exec_ctx *x, struct request *r);
void shale_cmd_psetex(struct exec_ctx *x, struct request *r);
void shale_cmd_getset(struct exec_ctx *x, struct request *r);
void shale_cmd_getdel(struct exec_ctx *x, struct request *r);
void shale_cmd_getex(struct exec_ctx *x, struct request *r);
void shale_cmd_append(struct exec_ctx *x, struct request *r);
void shale_cmd_strlen(struct exec_ctx *x, struct request *r);
/* Also SUBSTR, its old name. */
void shale_cmd_getrange(struct exec_ctx *x, struct request *r);
void shale_cmd_setrange(struct exec_ctx *x, struct request *r);
void shale_cmd_incr(struct exec_ctx *x, struct request *r);
void shale_cmd_decr(struct exec_ctx *x, struct request *r);
void shale_cmd_incrby(struct exec_ctx *x, struct request *r);
void shale_cmd_decrby(struct exec_ctx *x, struct request *r);
void shale_cmd_incrbyfloat(struct exec_ctx *x, struct request *r);
void shale_cmd_mget(struct exec_ctx *x, struct request *r);
void shale_cmd_mset(struct exec_ctx *x, struct request *r);

#endif
