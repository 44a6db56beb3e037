/* conn: one client connection on its I/O thread: its socket, read buffer,
 * parser, the ordered list of its in-flight requests and its session state
 * (database, protocol, authentication). I/O thread only. */
#ifndef SHALE_CONN_H
#define SHALE_CONN_H

#include <stdint.h>

#include "net/resp_parse.h"
#include "server/clients.h"

struct io_thread;
struct iobuf;
struct request;
struct event;
struct tls_conn;

enum conn_flag {
    CONN_READ_PAUSED = 1 << 0,       /* too many in flight, or no request slots */
    CONN_CLOSE_AFTER_REPLY = 1 << 1, /* QUIT, protocol error */
    CONN_CLOSED = 1 << 2,            /* socket gone; waiting for shards to return requests */
    CONN_WRITE_ARMED = 1 << 3,
    CONN_DIRTY = 1 << 4, /* on the thread's dirty list */
    CONN_AUTHENTICATED = 1 << 5,
    CONN_ON_RESUME = 1 << 6,
    CONN_INPUT_SEEN = 1 << 7, /* the first bytes were looked at */
};

struct conn {
    struct io_thread *t;
    int fd;
    struct tls_conn *tls; /* NULL: plain TCP */
    uint32_t flags;
    uint8_t db;
    uint8_t proto;
    uint32_t inflight; /* requests in the list */
    struct event *read_event;
    struct event *write_event;
    struct iobuf *rbuf; /* NULL when idle */
    size_t rpos;        /* first unparsed byte in rbuf */
    struct resp_parser parser;
    struct request *head, *tail; /* in request order */
    size_t wpos;                 /* bytes of head's reply already written */
    struct conn *next_active, *prev_active;
    struct conn *next_dirty;
    struct conn *next_resume;
    struct client_info info;
};

/* Sets up a connection slot for an accepted socket (tls: from tls-port). */
void shale_conn_open(struct io_thread *t, struct conn *c, int fd, int tls);
/* Authentication state; an unauthenticated client may only send small requests. */
void shale_conn_set_authenticated(struct conn *c, int yes);
/* Closes the socket now; the slot returns once shards hand back its requests. */
void shale_conn_close(struct conn *c);
/* A request of c finished: schedule its replies to be written. */
void shale_conn_mark_dirty(struct conn *c);
/* Writes every reply that is ready, in order. */
void shale_conn_flush(struct conn *c);
/* Parses and dispatches what is buffered (after a pause). */
void shale_conn_process_input(struct conn *c);
/* Resumes a paused reader if it may read again; 1 when no longer paused. */
int shale_conn_try_resume(struct conn *c);
/* Cron: closes TLS clients whose handshake outlived tls-handshake-timeout. */
void shale_conn_expire_handshakes(struct io_thread *t);

#endif
