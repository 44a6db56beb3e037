/* cmd_conn: commands that need no key and run on the connection's own I/O
 * thread with no shard hop: connection state (PING, HELLO, AUTH, SELECT,
 * CLIENT, RESET, QUIT) and server introspection (COMMAND, INFO, CONFIG,
 * TIME). I/O thread only. */
#ifndef SHALE_CMD_CONN_H
#define SHALE_CMD_CONN_H

struct conn;
struct request;

void shale_cmd_ping(struct conn *c, struct request *r);
void shale_cmd_echo(struct conn *c, struct request *r);
void shale_cmd_hello(struct conn *c, struct request *r);
void shale_cmd_auth(struct conn *c, struct request *r);
void shale_cmd_quit(struct conn *c, struct request *r);
void shale_cmd_reset(struct conn *c, struct request *r);
void shale_cmd_select(struct conn *c, struct request *r);
void shale_cmd_client_id(struct conn *c, struct request *r);
void shale_cmd_client_setname(struct conn *c, struct request *r);
void shale_cmd_client_getname(struct conn *c, struct request *r);
void shale_cmd_client_setinfo(struct conn *c, struct request *r);
void shale_cmd_command(struct conn *c, struct request *r);
void shale_cmd_command_count(struct conn *c, struct request *r);
void shale_cmd_command_list(struct conn *c, struct request *r);
void shale_cmd_command_info(struct conn *c, struct request *r);
void shale_cmd_command_docs(struct conn *c, struct request *r);
void shale_cmd_time(struct conn *c, struct request *r);
void shale_cmd_info(struct conn *c, struct request *r);
void shale_cmd_config_get(struct conn *c, struct request *r);
void shale_cmd_config_set(struct conn *c, struct request *r);
void shale_cmd_config_rewrite(struct conn *c, struct request *r);
void shale_cmd_config_resetstat(struct conn *c, struct request *r);

#endif
