/* acceptor: see acceptor.h. Main thread only. A socket accepted on tls-port
 * is handed over with a flag; its handshake runs on the I/O thread. */
#include "net/acceptor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "net/access.h"
#include "net/io_thread.h"
#include "server/log.h"
#include "server/mem.h"
#include "server/server.h"

#define MAX_LISTENERS 16

struct acceptor {
    struct server *srv;
    struct evconnlistener *listeners[MAX_LISTENERS];
    int count;
    unsigned next_io;
};

static void accept_client(struct acceptor *a, int fd, const struct sockaddr *addr, int tls)
{
    struct clients *reg = &a->srv->clients;
    atomic_fetch_add(&reg->total_received, 1);
    if (atomic_load(&reg->connected) >= (uint64_t)a->srv->cfg->maxclients) {
        static const char msg[] = "-ERR max number of clients reached\r\n";
        if (!tls) { /* a TLS client could not read it before a handshake */
            ssize_t n = write(fd, msg, sizeof(msg) - 1);
            (void)n;
        }
        close(fd);
        atomic_fetch_add(&reg->rejected, 1);
        return;
    }
    if (shale_access_refuse_peer((int)config_live(a->srv->cfg, protected_mode),
                                 config_live(a->srv->cfg, requirepass), addr)) {
        if (!tls) {
            ssize_t n = write(fd, shale_access_denied_reply(), strlen(shale_access_denied_reply()));
            (void)n;
        }
        close(fd);
        atomic_fetch_add(&reg->rejected, 1);
        return;
    }
    atomic_fetch_add(&reg->connected, 1);
    struct io_thread *t = a->srv->io[a->next_io++ % (unsigned)a->srv->nio];
    shale_io_thread_adopt(t, fd, tls);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *addr, int len,
                      void *arg)
{
    accept_client(arg, fd, addr, 0);
}

static void on_accept_tls(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *addr,
                          int len, void *arg)
{
    accept_client(arg, fd, addr, 1);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
    int err = EVUTIL_SOCKET_ERROR();
    shale_log(LOG_WARNING, "Accepting client connection: %s", evutil_socket_error_to_string(err));
}

/* One address of `bind`; a leading '-' means "skip if unavailable" as in
 * Redis. Returns 0 when bound or skipped. */
static int listen_on(struct acceptor *a, struct event_base *base, const char *word, int port,
                     evconnlistener_cb cb)
{
    int optional = word[0] == '-';
    const char *host = optional ? word + 1 : word;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    socklen_t sl;
    if (strchr(host, ':')) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        if (strcmp(host, "*") != 0 && inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
            goto bad;
        sl = sizeof(*in6);
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        if (strcmp(host, "*") == 0)
            in->sin_addr.s_addr = htonl(INADDR_ANY);
        else if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
            goto bad;
        sl = sizeof(*in);
    }
    if (a->count == MAX_LISTENERS) {
        shale_log(LOG_WARNING, "Too many bind addresses (max %d)", MAX_LISTENERS);
        return -1;
    }
    struct evconnlistener *l = evconnlistener_new_bind(
        base, cb, a, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
        (int)a->srv->cfg->tcp_backlog, (struct sockaddr *)&ss, (int)sl);
    if (!l) {
        if (optional)
            return 0;
        shale_log(LOG_WARNING, "Could not create server TCP listening socket %s:%d: %s", host, port,
                  strerror(errno));
        return -1;
    }
    evconnlistener_set_error_cb(l, on_accept_error);
    a->listeners[a->count++] = l;
    return 0;
bad:
    if (optional)
        return 0;
    shale_log(LOG_WARNING, "Invalid bind address '%s'", host);
    return -1;
}

struct acceptor *shale_acceptor_create(struct server *srv, struct event_base *base)
{
    struct acceptor *a = shale_calloc(1, sizeof(*a));
    a->srv = srv;
    int port = (int)srv->cfg->port;
    int tls_port = (int)srv->cfg->tls_port;
    if (port == 0 && tls_port == 0)
        return a;
    char *addrs = shale_strdup(srv->cfg->bind);
    char *save = NULL;
    int rc = 0;
    for (char *w = strtok_r(addrs, " ", &save); w && rc == 0; w = strtok_r(NULL, " ", &save)) {
        if (port)
            rc = listen_on(a, base, w, port, on_accept);
        if (tls_port && rc == 0)
            rc = listen_on(a, base, w, tls_port, on_accept_tls);
    }
    shale_free(addrs);
    if (rc == 0 && a->count == 0) {
        shale_log(LOG_WARNING, "No address of bind '%s' could be used", srv->cfg->bind);
        rc = -1;
    }
    if (rc < 0) {
        shale_acceptor_destroy(a);
        return NULL;
    }
    return a;
}

void shale_acceptor_pause(struct acceptor *a)
{
    for (int i = 0; i < a->count; i++)
        evconnlistener_disable(a->listeners[i]);
}

void shale_acceptor_destroy(struct acceptor *a)
{
    if (!a)
        return;
    for (int i = 0; i < a->count; i++)
        evconnlistener_free(a->listeners[i]);
    shale_free(a);
}
