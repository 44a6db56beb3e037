/* conn_limits: see conn_limits.h. I/O thread only.
 *
 * The option is parsed from its canonical text at each check. Checks run
 * only for connections whose writes are blocked (a slow path), so this costs
 * nothing on the request path and needs no per-thread cache to invalidate
 * when CONFIG SET changes the text. */
#include "net/conn_limits.h"

#include "net/conn.h"
#include "net/io_thread.h"
#include "net/request.h"
#include "server/log.h"
#include "server/obuf_limit.h"
#include "server/server.h"

size_t shale_conn_limits_pending_output(const struct conn *c)
{
    size_t bytes = 0;
    for (const struct request *r = c->head; r; r = r->next)
        if (r->state == REQUEST_DONE)
            bytes += r->reply.len;
    return bytes > c->wpos ? bytes - c->wpos : 0;
}

int shale_conn_limits_output_exceeded(struct conn *c, int64_t now_ms)
{
    const char *text = config_live(c->t->srv->cfg, client_output_buffer_limit);
    struct obuf_limits limits = {0};
    char err[128];
    if (!text || shale_obuf_limit_parse(text, &limits, err, sizeof(err)) < 0)
        return 0; /* cannot happen: the config stores only canonical text */
    const struct obuf_limit *normal = &limits.cls[OBUF_NORMAL];
    if (!normal->hard && !normal->soft)
        return 0;
    size_t pending = shale_conn_limits_pending_output(c);
    enum obuf_verdict v = shale_obuf_limit_check(normal, pending, now_ms, &c->obuf_soft_since_ms);
    if (v == OBUF_WITHIN)
        return 0;
    shale_log(LOG_VERBOSE,
              "Client id=%llu addr=%s closed for overcoming of output buffer limits (%s limit, "
              "%zu bytes pending).",
              (unsigned long long)c->info.id, c->info.addr, v == OBUF_OVER_HARD ? "hard" : "soft",
              pending);
    atomic_fetch_add_explicit(&c->t->stats.obuf_limit_closed, 1, memory_order_relaxed);
    return 1;
}
