/* admin: the admin HTTP endpoint on `admin-port` (0: off), for the people
 * and probes that run shale: /metrics (Prometheus text), /healthz (every
 * thread's loop is turning), /readyz (serving: not starting, not shutting
 * down). Runs on the main thread's event loop; never touches a keyspace or
 * a connection. */
#ifndef SHALE_ADMIN_H
#define SHALE_ADMIN_H

struct admin;
struct event_base;
struct server;

/* Binds admin-bind:admin-port on base (nothing when the port is 0). NULL,
 * after logging why, when it cannot bind. */
struct admin *shale_admin_create(struct server *srv, struct event_base *base);
void shale_admin_destroy(struct admin *a);

#endif
