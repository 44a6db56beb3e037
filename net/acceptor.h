/* acceptor: the listening sockets, on the main thread. Each accepted socket
 * is handed to an I/O thread, round robin; past `maxclients` the client gets
 * Redis's error and is closed. */
#ifndef SHALE_ACCEPTOR_H
#define SHALE_ACCEPTOR_H

struct event_base;
struct server;
struct acceptor;

/* Binds every address of `bind` on `port` and on `tls-port` (each unless 0);
 * NULL (and a logged reason) when a required address cannot be bound. */
struct acceptor *shale_acceptor_create(struct server *srv, struct event_base *base);
void shale_acceptor_destroy(struct acceptor *a);
/* Stops accepting (shutdown). */
void shale_acceptor_pause(struct acceptor *a);

#endif
