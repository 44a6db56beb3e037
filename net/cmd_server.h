/* cmd_server: server-control commands that run on the I/O thread (no key,
 * no shard hop): SHUTDOWN. I/O thread only. */
#ifndef SHALE_CMD_SERVER_H
#define SHALE_CMD_SERVER_H

struct conn;
struct request;

void shale_cmd_shutdown(struct conn *c, struct request *r);

#endif
