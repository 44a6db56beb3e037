/* clients: the registry of connected clients, for CLIENT LIST/INFO,
 * `maxclients` and INFO clients. Connections live on I/O threads; what other
 * threads may read about them is here: immutable fields, relaxed atomics, and
 * the name, which is guarded by the registry lock (taken on connect,
 * disconnect, CLIENT SETNAME and CLIENT LIST: never on the request path). */
#ifndef SHALE_CLIENTS_H
#define SHALE_CLIENTS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct client_info {
    /* Immutable while registered. */
    uint64_t id;
    int fd;
    int io_thread;
    int64_t created_ms;
    char addr[64];
    char laddr[64];
    /* Written by the owning I/O thread, read by anyone. */
    _Atomic int64_t last_ms;
    _Atomic int db;
    _Atomic int proto;
    _Atomic int last_cmd; /* command table index, -1 none */
    _Atomic uint64_t inflight;
    _Atomic int multi; /* commands queued by MULTI, -1 outside a transaction */
    /* CLIENT LIST's buffer and flag fields, published by the owner after
     * each read and write (net/cmd_client.c). */
    _Atomic uint32_t list_flags; /* CLIENT_LIST_* */
    _Atomic uint64_t qbuf, qbuf_free, rbuf_size, rbuf_peak, argv_mem;
    _Atomic uint64_t out_bytes, out_replies; /* finished replies not yet written */
    /* Set by CLIENT KILL on any thread; the owner closes the connection. */
    _Atomic int kill;
    /* Guarded by the registry lock. */
    char *name;
    struct client_info *prev, *next;
};

struct clients {
    pthread_mutex_t lock;
    struct client_info *head; /* lock */
    _Atomic uint64_t next_id;
    _Atomic uint64_t connected;      /* accepted and not yet closed */
    _Atomic uint64_t total_received; /* total_connections_received */
    _Atomic uint64_t rejected;       /* rejected_connections */
};

void shale_clients_init(struct clients *reg);
void shale_clients_deinit(struct clients *reg);
void shale_clients_add(struct clients *reg, struct client_info *ci);
void shale_clients_remove(struct clients *reg, struct client_info *ci);
/* Replaces the name (NULL or "" clears it). */
void shale_clients_set_name(struct clients *reg, struct client_info *ci, const char *name,
                            size_t len);
/* Copies the name into out (empty when none). */
void shale_clients_get_name(struct clients *reg, struct client_info *ci, char *out, size_t outlen);
/* Calls fn for every client (or only `only` when non-NULL), under the lock. */
void shale_clients_foreach(struct clients *reg, const struct client_info *only,
                           void (*fn)(void *ctx, struct client_info *ci), void *ctx);

#endif
