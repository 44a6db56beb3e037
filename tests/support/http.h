/*
 * A minimal HTTP/1.0 client over a raw socket, for the admin endpoint:
 * GET a path on 127.0.0.1:port and return the status and body.  No curl, so
 * the tests see exactly what the server sent.  Main test thread only.
 */
#ifndef SHALE_TEST_HTTP_H
#define SHALE_TEST_HTTP_H

#include <stdbool.h>
#include <stddef.h>

struct test_http_reply {
    int status;    /* e.g. 200; -1 when no valid response arrived */
    char *headers; /* the header block, NUL-terminated */
    char *body;    /* NUL-terminated */
    size_t body_len;
};

/*
 * GETs path; waits up to timeout_ms for the whole response (the server
 * closes an HTTP/1.0 connection after it).  Returns false when the
 * connection failed or the response was not HTTP (reply->status -1).
 */
bool shale_test_http_get(int port, const char *path, int timeout_ms, struct test_http_reply *reply);
void shale_test_http_reply_free(struct test_http_reply *reply);

/* The value of a response header (case-insensitive name), or NULL; static buffer. */
const char *shale_test_http_header(const struct test_http_reply *reply, const char *name);

#endif
