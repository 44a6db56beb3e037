/* cmd_server: see cmd_server.h. Replies follow Redis 7.0 word for word. */
#include "net/cmd_server.h"

#include "net/conn.h"
#include "net/io_thread.h"
#include "net/request.h"
#include "server/lifecycle.h"
#include "server/server.h"

/* SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]. A shutdown has no reply:
 * like Redis, the connection just closes, after the replies of everything
 * this client sent before it (they drain like everyone else's). Commands
 * pipelined after SHUTDOWN are not run. */
void shale_cmd_shutdown(struct conn *c, struct request *r)
{
    int flags = 0, abort = 0;
    for (int i = 1; i < r->argc; i++) {
        if (slice_eq_nocase(r->argv[i], "nosave"))
            flags |= LIFECYCLE_SHUTDOWN_NOSAVE;
        else if (slice_eq_nocase(r->argv[i], "save"))
            flags |= LIFECYCLE_SHUTDOWN_SAVE;
        else if (slice_eq_nocase(r->argv[i], "now"))
            flags |= LIFECYCLE_SHUTDOWN_NOW;
        else if (slice_eq_nocase(r->argv[i], "force"))
            flags |= LIFECYCLE_SHUTDOWN_FORCE;
        else if (slice_eq_nocase(r->argv[i], "abort"))
            abort = 1;
        else {
            shale_resp_add_error(&r->reply, "ERR syntax error");
            return;
        }
    }
    if ((abort && flags) ||
        ((flags & LIFECYCLE_SHUTDOWN_NOSAVE) && (flags & LIFECYCLE_SHUTDOWN_SAVE))) {
        shale_resp_add_error(&r->reply, "ERR syntax error");
        return;
    }
    struct lifecycle *life = c->t->srv->life;
    if (abort) {
        if (shale_lifecycle_abort_shutdown(life) == 0)
            shale_resp_add_status(&r->reply, "OK");
        else
            shale_resp_add_error(&r->reply, "ERR No shutdown in progress.");
        return;
    }
    c->flags |= CONN_CLOSE_AFTER_REPLY;
    shale_lifecycle_request_shutdown(life, flags, "User requested shutdown...");
}
