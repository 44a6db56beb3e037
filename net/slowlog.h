/* slowlog: SLOWLOG GET/LEN/RESET/HELP and the logs behind them.
 *
 * Each I/O thread keeps its own log of the slow commands of its clients.
 * The time is measured where a command runs (the shard hands it back in
 * request->exec_ns); the entry is made on the connection's I/O thread
 * because only that thread may read the client's name and address. A log
 * has one writer, its thread; SLOWLOG on any I/O thread reads every log
 * without a lock (see slowlog.c) and merges the entries by id, which comes
 * from one server-wide counter, so the merged log is in the order the
 * entries were made, newest first, as Redis's single log is.
 *
 * I/O threads only. */
#ifndef SHALE_SLOWLOG_H
#define SHALE_SLOWLOG_H

#include <stdint.h>

struct conn;
struct io_thread;
struct request;
struct slowlog;

struct slowlog *shale_slowlog_create(void);
void shale_slowlog_destroy(struct slowlog *log);

/* r ran for us microseconds, which slowlog-log-slower-than calls slow:
 * logs it on t's log (unless its command is never logged). r must have its
 * connection. */
void shale_slowlog_add(struct io_thread *t, struct request *r, uint64_t us);
/* Owner thread, from its cron: applies a smaller slowlog-max-len or a
 * SLOWLOG RESET to its log and frees what readers no longer hold. */
void shale_slowlog_tidy(struct io_thread *t);

void shale_cmd_slowlog_get(struct conn *c, struct request *r);
void shale_cmd_slowlog_len(struct conn *c, struct request *r);
void shale_cmd_slowlog_reset(struct conn *c, struct request *r);
void shale_cmd_slowlog_help(struct conn *c, struct request *r);

#endif
