/* admin: see admin.h. libevent's evhttp on the main event_base: each
 * request is answered at once from published counters, so a scrape never
 * waits on an I/O thread or a shard. */
#include "server/admin.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <string.h>

#include "server/clock.h"
#include "server/health.h"
#include "server/lifecycle.h"
#include "server/log.h"
#include "server/mem.h"
#include "server/metrics.h"
#include "server/server.h"

#define MAX_ADMIN_BINDS 8

struct admin {
    struct server *srv;
    struct evhttp *http; /* NULL when admin-port is 0 */
};

static void reply_text(struct evhttp_request *req, int code, const char *reason,
                       const char *content_type, struct evbuffer *body)
{
    struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
    evhttp_add_header(headers, "Content-Type", content_type);
    evhttp_add_header(headers, "Cache-Control", "no-store");
    evhttp_send_reply(req, code, reason, body);
}

static void serve_metrics(struct admin *a, struct evhttp_request *req, struct evbuffer *body)
{
    shale_metrics_build(a->srv, body);
    reply_text(req, HTTP_OK, "OK", "text/plain; version=0.0.4; charset=utf-8", body);
}

/* Liveness: every thread's loop is turning. */
static void serve_healthz(struct admin *a, struct evhttp_request *req, struct evbuffer *body)
{
    char why[512];
    if (shale_health_check(a->srv, clock_mono_us(), why, sizeof(why))) {
        evbuffer_add_printf(body, "ok\n");
        reply_text(req, HTTP_OK, "OK", "text/plain; charset=utf-8", body);
    } else {
        evbuffer_add_printf(body, "unhealthy: %s\n", why);
        reply_text(req, 503, "Service Unavailable", "text/plain; charset=utf-8", body);
    }
}

/* Readiness: serving clients (not starting, not shutting down). */
static void serve_readyz(struct admin *a, struct evhttp_request *req, struct evbuffer *body)
{
    enum lifecycle_state st = shale_lifecycle_state(a->srv->life);
    if (st == LIFECYCLE_RUNNING) {
        evbuffer_add_printf(body, "ready\n");
        reply_text(req, HTTP_OK, "OK", "text/plain; charset=utf-8", body);
    } else {
        evbuffer_add_printf(body, "not ready: %s\n",
                            st == LIFECYCLE_STARTING ? "starting" : "shutting down");
        reply_text(req, 503, "Service Unavailable", "text/plain; charset=utf-8", body);
    }
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct admin *a = arg;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    struct evbuffer *body = evbuffer_new();
    if (!path || !body) {
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
    } else if (!strcmp(path, "/metrics")) {
        serve_metrics(a, req, body);
    } else if (!strcmp(path, "/healthz")) {
        serve_healthz(a, req, body);
    } else if (!strcmp(path, "/readyz")) {
        serve_readyz(a, req, body);
    } else {
        evbuffer_add_printf(body, "not found; try /metrics, /healthz or /readyz\n");
        reply_text(req, HTTP_NOTFOUND, "Not Found", "text/plain; charset=utf-8", body);
    }
    if (body)
        evbuffer_free(body);
}

struct admin *shale_admin_create(struct server *srv, struct event_base *base)
{
    struct admin *a = shale_calloc(1, sizeof(*a));
    a->srv = srv;
    int port = (int)srv->cfg->admin_port;
    if (port == 0)
        return a;
    a->http = evhttp_new(base);
    evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    evhttp_set_timeout(a->http, 10);
    evhttp_set_max_headers_size(a->http, 8192);
    evhttp_set_max_body_size(a->http, 1024);
    evhttp_set_gencb(a->http, on_request, a);
    char *addrs = shale_strdup(srv->cfg->admin_bind);
    char *save = NULL;
    int bound = 0, failed = 0;
    for (char *w = strtok_r(addrs, " ", &save); w && !failed; w = strtok_r(NULL, " ", &save)) {
        if (bound == MAX_ADMIN_BINDS || !evhttp_bind_socket_with_handle(a->http, w, (uint16_t)port))
            failed = 1;
        else
            bound++;
        if (failed)
            shale_log(LOG_WARNING, "Could not create admin HTTP listening socket %s:%d", w, port);
    }
    shale_free(addrs);
    if (failed || !bound) {
        shale_admin_destroy(a);
        return NULL;
    }
    shale_log(LOG_NOTICE, "Admin HTTP on %s port %d: /metrics /healthz /readyz",
              srv->cfg->admin_bind, port);
    return a;
}

void shale_admin_destroy(struct admin *a)
{
    if (!a)
        return;
    if (a->http)
        evhttp_free(a->http);
    shale_free(a);
}
