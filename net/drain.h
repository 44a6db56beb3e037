/* drain: how an I/O thread empties itself during a shutdown.
 *
 * Once asked, the thread reads no new bytes from any socket; commands it had
 * already read (including input held back by backpressure) still run and
 * their replies are written in order. A connection with nothing left to
 * answer is half-closed (FIN after the last reply) and closed once the
 * client has acknowledged every byte or has closed its side; input that
 * arrives meanwhile is discarded, so the close never turns into a reset that
 * would destroy replies still in flight. */
#ifndef SHALE_DRAIN_H
#define SHALE_DRAIN_H

#include <stdint.h>

struct conn;
struct io_thread;

/* Main thread: asks t to drain; wakes it. With `now`, connections are
 * closed as soon as nothing is left to run for them (SHUTDOWN NOW): no wait
 * for a slow reader or for the client's acknowledgement. */
void shale_drain_request(struct io_thread *t, int now);
/* Main thread: 1 when t has no connection and no request left. conns and
 * requests say what is still pending (as of t's last look). */
int shale_drain_status(struct io_thread *t, uint32_t *conns, uint32_t *requests);

/* I/O thread, from its loop, once it sees the request. */
void shale_drain_begin(struct io_thread *t);

/* Main thread, after t's loop has been joined: closes what is left (input
 * discarded first) and frees the drain's timer. */
void shale_drain_teardown(struct io_thread *t);

#endif
