/* cmd_client: CLIENT LIST/INFO/KILL/NO-EVICT/REPLY, and what they need from
 * a connection: the fields other threads may read (published after each
 * read and write) and the kill flag another thread may set. A connection is
 * closed only by its own I/O thread; CLIENT KILL on another thread flags it
 * and wakes the owner. I/O threads only. */
#ifndef SHALE_CMD_CLIENT_H
#define SHALE_CMD_CLIENT_H

struct conn;
struct io_thread;
struct request;

void shale_cmd_client_info(struct conn *c, struct request *r);
void shale_cmd_client_list(struct conn *c, struct request *r);
void shale_cmd_client_kill(struct conn *c, struct request *r);
void shale_cmd_client_no_evict(struct conn *c, struct request *r);
void shale_cmd_client_reply(struct conn *c, struct request *r);

/* Owner thread: copies c's buffer sizes and flags where CLIENT LIST on any
 * thread reads them. */
void shale_client_publish(struct conn *c);
/* Owner thread: closes its connections that CLIENT KILL flagged. */
void shale_client_kill_flagged(struct io_thread *t);
/* RESET: replies back on; r is the RESET request. */
void shale_client_reset_modes(struct conn *c, struct request *r);
/* After a command of a connection in CLIENT REPLY SKIP: the SKIP state
 * moves on by one command, as Redis's resetClient does. (Before dispatch,
 * conn.c marks a request silent while REPLY OFF or SKIP is on.) */
void shale_client_reply_skip_done(struct conn *c);

#endif
