/* accounting: see accounting.h. I/O thread only. */
#include "net/accounting.h"

#include "net/conn.h"
#include "net/io_thread.h"
#include "net/slowlog.h"
#include "server/cmdstats.h"
#include "server/command.h"
#include "server/server.h"

static int is_error(const struct request *r)
{
    return r->reply.len && r->reply.data[0] == '-';
}

void shale_accounting_rejected(struct io_thread *t, const struct command *cmd)
{
    cmdstats_bump(&t->stats.cmds[shale_command_index(cmd)].rejected, 1);
}

static void consider_slow(struct io_thread *t, struct request *r)
{
    long long slower_than = config_live(t->srv->cfg, slowlog_log_slower_than);
    uint64_t us = r->exec_ns / 1000;
    if (slower_than >= 0 && us >= (uint64_t)slower_than)
        shale_slowlog_add(t, r, us);
}

/* The call, its latency and SLOWLOG, as Redis's call() records them:
 * after the command ran, so INFO does not count itself. */
static void count_call(struct io_thread *t, struct request *r)
{
    struct cmdstat *row = &t->stats.cmds[shale_command_index(r->cmd)];
    cmdstats_bump(&row->calls, 1);
    if (is_error(r))
        cmdstats_bump(&row->failed, 1);
    if (config_live(t->srv->cfg, latency_tracking))
        cmdstats_hist_add(row, r->exec_ns);
    if (r->conn)
        consider_slow(t, r);
}

void shale_accounting_ran_here(struct io_thread *t, struct request *r, int64_t ns)
{
    r->exec_ns = (uint64_t)ns;
    cmdstats_bump(&t->stats.commands, 1);
    cmdstats_bump(&t->stats.cmds[shale_command_index(r->cmd)].ns, (uint64_t)ns);
    count_call(t, r);
}

void shale_accounting_routed(struct io_thread *t)
{
    cmdstats_bump(&t->stats.commands, 1);
}

void shale_accounting_ran_on_shard(struct io_thread *t, struct request *r)
{
    if (r->conn)
        consider_slow(t, r);
}

void shale_accounting_merged(struct io_thread *t, struct request *r)
{
    count_call(t, r);
}

void shale_accounting_reply_slow(struct request *r)
{
    struct io_thread *t = r->conn->t;
    if (is_error(r))
        shale_cmdstats_error_reply(t->srv->stats, &t->stats.errors, r->reply.data, r->reply.len);
    /* Redis counts the error (and the failed call) even when the client
     * asked not to receive it. */
    if (r->silent)
        shale_resp_buf_reset(&r->reply);
}
