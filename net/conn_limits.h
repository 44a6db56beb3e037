/* conn_limits: the output-buffer limit of a client connection
 * (`client-output-buffer-limit normal`). conn.c asks it when a write would
 * block; the I/O thread's cron asks it once a second for connections whose
 * writes are blocked, so a client that sits over the soft limit is closed
 * even when no new reply arrives (backpressure stops new ones). I/O thread
 * only; it decides and counts, the caller closes. */
#ifndef SHALE_CONN_LIMITS_H
#define SHALE_CONN_LIMITS_H

#include <stddef.h>
#include <stdint.h>

struct conn;

/* Reply bytes c holds that the client has not read yet. */
size_t shale_conn_limits_pending_output(const struct conn *c);

/* 1 when c went past its output limit: logged (verbose) and counted in
 * INFO stats client_output_buffer_limit_disconnections; the caller closes. */
int shale_conn_limits_output_exceeded(struct conn *c, int64_t now_ms);

#endif
