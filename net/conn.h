/* conn: one client connection on its I/O thread: its socket, read buffer,
 * parser, the ordered list of its in-flight requests and its session state
 * (database, protocol, authentication). I/O thread only. */
#ifndef SHALE_CONN_H
#define SHALE_CONN_H

#include <event2/event_struct.h>
#include <stdint.h>

#include "net/resp_parse.h"
#include "server/clients.h"

struct io_thread;
struct iobuf;
struct request;
struct event;
struct multi_state;
struct tls_conn;

enum conn_flag {
    CONN_READ_PAUSED = 1 << 0,       /* too many in flight, or no request slots */
    CONN_CLOSE_AFTER_REPLY = 1 << 1, /* QUIT, protocol error */
    CONN_CLOSED = 1 << 2,            /* socket gone; waiting for shards to return requests */
    CONN_WRITE_ARMED = 1 << 3,
    CONN_DIRTY = 1 << 4, /* on the thread's dirty list */
    CONN_AUTHENTICATED = 1 << 5,
    CONN_ON_RESUME = 1 << 6,
    /* CLIENT REPLY and NO-EVICT (net/cmd_client.c). */
    CONN_REPLY_OFF = 1 << 7,
    CONN_REPLY_SKIP = 1 << 8,      /* the reply of the command being handled is dropped */
    CONN_REPLY_SKIP_NEXT = 1 << 9, /* ... and of the next one (CLIENT REPLY SKIP) */
    CONN_NO_EVICT = 1 << 10,
    CONN_LOCAL = 1 << 11,      /* peer is 127.0.0.1 or ::1 (enable-debug-command local) */
    CONN_NO_READ = 1 << 12,    /* draining for shutdown: never read the socket again */
    CONN_WR_SHUT = 1 << 13,    /* draining: every reply written, FIN sent */
    CONN_INPUT_SEEN = 1 << 14, /* the first bytes were looked at (TLS port) */
};

struct conn {
    struct io_thread *t;
    int fd;
    struct tls_conn *tls; /* NULL: plain TCP */
    uint32_t flags;
    uint8_t db;
    uint8_t proto;
    uint32_t inflight;         /* requests in the list */
    uint32_t txn_queued;       /* requests waiting in the thread's atomic batch queue */
    struct multi_state *multi; /* MULTI queue and WATCHed keys, or NULL */
    struct event *read_event;
    struct event *write_event;
    /* read_event and write_event point here: the events live in the slot,
     * so a connection costs exactly its slot of the static plan
     * (server/mem_plan.c) and connecting allocates nothing. */
    struct event read_ev, write_ev;
    struct iobuf *rbuf; /* NULL when idle */
    size_t rpos;        /* first unparsed byte in rbuf */
    struct resp_parser parser;
    struct request *head, *tail; /* in request order */
    size_t wpos;                 /* bytes of head's reply already written */
    uint64_t argv_bytes;         /* argument bytes of the requests in the list */
    struct conn *next_active, *prev_active;
    struct conn *next_dirty;
    struct conn *next_resume;
    struct client_info info;
    /* Over the output soft limit since (ms; 0: not). net/conn_limits.c */
    int64_t obuf_soft_since_ms;
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
