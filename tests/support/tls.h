/*
 * TLS support for integration tests: throwaway certificates made by
 * scripts/gen-certs.sh in a temp dir, a free port for tls-port, a plain TCP
 * socket to any port, and a small blocking TLS client written directly on
 * OpenSSL (hiredis 0.14 has no TLS).
 *
 * Main test thread only.  Failing helpers that take file/line fail the
 * cmocka test there after printing why and the server logs.
 */
#ifndef SHALE_TEST_TLS_H
#define SHALE_TEST_TLS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

struct test_tls;

/* The directory gen-certs.sh wrote: ca, server, server-alt, client,
 * other-ca, other-client and expired-client, each NAME.crt + NAME.key. */
struct test_certs {
    char dir[PATH_MAX];
};

/* Runs scripts/gen-certs.sh into a new temp dir; -1 (after printing why). */
int shale_test_certs_create(struct test_certs *certs);
/* Removes the dir and everything in it. */
void shale_test_certs_destroy(struct test_certs *certs);
/* DIR/name into out (e.g. "ca.crt"); returns out. */
const char *shale_test_cert_path(const struct test_certs *certs, const char *name, char *out,
                                 size_t outlen);
/* The serial number of a PEM certificate file, upper-case hex; false on error. */
bool shale_test_cert_serial(const char *path, char *out, size_t outlen);

/* shale_test_free_port: tests/support/server.h. */
/* A blocking TCP socket connected to 127.0.0.1:port, or -1. */
int shale_test_tcp_connect(int port);
/*
 * Waits up to timeout_ms for the peer to close fd; true when it did (EOF or
 * reset).  Bytes that arrive before are counted into *received (may be NULL).
 */
bool shale_test_tcp_wait_closed(int fd, int timeout_ms, size_t *received);

/*
 * Connects to 127.0.0.1:port and completes a TLS handshake that checks the
 * server's certificate against ca (and its name, 127.0.0.1), presenting
 * cert/key when given (NULL: none).  max_version 0 allows any version,
 * otherwise e.g. TLS1_2_VERSION.  Returns NULL with the reason in err when
 * the connection or the handshake fails.  I/O waits at most 10 s.
 */
struct test_tls *shale_test_tls_connect(int port, const char *ca, const char *cert, const char *key,
                                        int max_version, char *err, size_t errlen);
void shale_test_tls_close(struct test_tls *t);
/* Sends all len bytes; false (with the reason in err) when it cannot. */
bool shale_test_tls_send(struct test_tls *t, const void *data, size_t len, char *err,
                         size_t errlen);
/*
 * Encrypts each of the n parts as a TLS record of its own and sends all the
 * records with one send(2), so they reach the server in one segment: the
 * server's first read takes them all, and what it does not decrypt at once
 * waits inside OpenSSL, where epoll cannot see it.
 */
bool shale_test_tls_send_records(struct test_tls *t, const char *const *parts, const size_t *lens,
                                 int n, char *err, size_t errlen);
/*
 * Reads until want bytes arrived, the peer closed or refused (alert), or
 * timeout_ms passed; returns the bytes stored.  *closed (may be NULL) is set
 * when the session ended.
 */
size_t shale_test_tls_read(struct test_tls *t, char *buf, size_t want, int timeout_ms,
                           bool *closed);
/* The server certificate's serial, upper-case hex. */
bool shale_test_tls_peer_serial(struct test_tls *t, char *out, size_t outlen);
/*
 * A new connection with prev's port and files that offers prev's TLS
 * session for resumption (prev must have read a reply, so that a TLS 1.3
 * ticket has arrived).  NULL with the reason in err on failure.
 */
struct test_tls *shale_test_tls_reconnect(struct test_tls *prev, char *err, size_t errlen);
/* Whether the handshake resumed an earlier session. */
bool shale_test_tls_session_reused(struct test_tls *t);

/*
 * One PING over a new TLS connection.  Returns true when +PONG came back;
 * false when the server refused the client at any point (handshake failure,
 * alert or close right after it, as TLS 1.3 servers check client
 * certificates after the client has finished), with what happened in why.
 */
bool shale_test_tls_ping(int port, const char *ca, const char *cert, const char *key, char *why,
                         size_t whylen);

#endif
