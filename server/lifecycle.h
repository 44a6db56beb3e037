/* lifecycle: the process's run state (starting, running, stopping), the
 * shutdown sequence and the main thread's heartbeat.
 *
 * A shutdown is asked for by SIGTERM/SIGINT or the SHUTDOWN command (any
 * I/O thread); it always runs on the main thread: readiness turns false, the
 * listeners close, every I/O thread drains (net/drain.c), and the main loop
 * ends when all are drained or `shutdown-timeout` has passed. The state is
 * read by any thread; everything else belongs to the main thread. */
#ifndef SHALE_LIFECYCLE_H
#define SHALE_LIFECYCLE_H

#include <stdint.h>

struct acceptor;
struct event_base;
struct lifecycle;
struct server;

enum lifecycle_state {
    LIFECYCLE_STARTING = 0,
    LIFECYCLE_RUNNING,
    LIFECYCLE_STOPPING, /* a shutdown was asked for or is under way */
};

/* SHUTDOWN's modifiers. NOSAVE/SAVE/FORCE change nothing (no persistence).
 * NOW does not wait for clients, as Redis's NOW does not wait for replicas:
 * requests already read still run and their replies are written as far as
 * the sockets take them, but a client that does not read them, or has not
 * acknowledged them yet, is not waited for. */
enum lifecycle_shutdown_flag {
    LIFECYCLE_SHUTDOWN_NOSAVE = 1 << 0,
    LIFECYCLE_SHUTDOWN_SAVE = 1 << 1,
    LIFECYCLE_SHUTDOWN_NOW = 1 << 2,
    LIFECYCLE_SHUTDOWN_FORCE = 1 << 3,
};

/* Main thread, before the I/O threads start: registers SIGTERM, SIGINT and
 * the heartbeat timer on base. The acceptor is closed when a shutdown starts. */
struct lifecycle *shale_lifecycle_create(struct server *srv, struct event_base *base,
                                         struct acceptor *acceptor);
void shale_lifecycle_destroy(struct lifecycle *l);

/* Main thread: start-up is complete; readiness turns true. */
void shale_lifecycle_ready(struct lifecycle *l);

/* Any thread. */
enum lifecycle_state shale_lifecycle_state(const struct lifecycle *l);
/* Last main-thread heartbeat, monotonic microseconds (0 before the first). */
int64_t shale_lifecycle_heartbeat(const struct lifecycle *l);

/* Any thread: asks for a shutdown; `why` is logged. A second request while
 * one is pending or running is ignored. */
void shale_lifecycle_request_shutdown(struct lifecycle *l, int flags, const char *why);
/* Any thread: SHUTDOWN ABORT. 0 when a requested shutdown had not started
 * yet and is cancelled; -1 when there is none to cancel. */
int shale_lifecycle_abort_shutdown(struct lifecycle *l);

/* Main thread, after the main loop returned: 1 when the shutdown timed out
 * with requests still executing on a shard. Joining that shard could wait
 * for as long as the command runs, so the caller exits without teardown. */
int shale_lifecycle_must_exit_now(const struct lifecycle *l);

#endif
