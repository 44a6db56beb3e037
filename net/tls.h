/* tls: TLS for client connections, with OpenSSL driven directly on the
 * non-blocking socket (no bufferevent_openssl: DESIGN §10).
 *
 * Owns the server's SSL_CTX, built from the tls-* options and replaced whole
 * on reload (CONFIG SET, SIGHUP): connections keep the context they were
 * accepted with (each SSL holds a reference), new ones get the new one.
 * Contexts are built by whichever thread asks for the reload, under the
 * config lock; handshakes, reads and writes run on the connection's I/O
 * thread only, never on the main thread. Never logs per byte or per request:
 * refusals are logged at most TLS_LOG_BURST lines a second. */
#ifndef SHALE_TLS_H
#define SHALE_TLS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct config;
struct tls;
struct tls_conn;

/* Counters (relaxed atomics, any thread), declared once for the struct,
 * INFO shale (tls_<name>) and /metrics (shale_tls_<name>, with _total on
 * counters): X(name, gauge or counter, description). */
#define TLS_STATS(X)                                                                               \
    X(connections, gauge, "TLS connections open now")                                              \
    X(handshakes, counter, "TLS handshakes completed")                                             \
    X(handshake_failures, counter,                                                                 \
      "TLS handshakes refused: bad or missing client certificate, plaintext on the TLS port ...")  \
    X(handshake_timeouts, counter, "TLS connections closed by tls-handshake-timeout")              \
    X(plain_port_refused, counter,                                                                 \
      "Connections closed for sending a TLS handshake to the plain port")                          \
    X(reloads, counter, "TLS certificate reloads (CONFIG SET tls-*, SIGHUP)")                      \
    X(reload_failures, counter, "TLS certificate reloads that failed (the old context stays)")

struct tls_stats {
#define TLS_STAT_FIELD(name, kind, help) _Atomic uint64_t name;
    TLS_STATS(TLS_STAT_FIELD)
#undef TLS_STAT_FIELD
};

/* Main thread, before any other OpenSSL use but after shale_mem_setup.
 * With tls-port 0 TLS stays off (no context) and reloads do nothing, as in
 * Redis. Otherwise builds the first context; NULL (after logging why) when
 * it cannot. */
struct tls *shale_tls_setup(const struct config *cfg);
void shale_tls_teardown(struct tls *tls);
const struct tls_stats *shale_tls_stats(const struct tls *tls);

/* Whether CONFIG SET of this option must rebuild the context. */
int shale_tls_option_reloads(const char *name);
/* Builds a context from the current options and swaps it in; on failure
 * the old one stays, the reason is logged, and err gets Redis's reply text.
 * The caller holds the config lock (CONFIG SET does). Any thread. */
int shale_tls_reload(struct tls *tls, char *err, size_t errlen);
/* SIGHUP (main thread): takes the config lock and reloads. */
void shale_tls_reload_on_signal(struct tls *tls, struct config *cfg);

/* ---- per connection, on its I/O thread ---- */

/* State for an accepted socket (the server-side handshake starts on the
 * first event). NULL when TLS is off. */
struct tls_conn *shale_tls_conn_create(struct tls *tls, int fd, const char *addr);
/* Sends close_notify when the session is healthy, frees the state; the
 * caller closes the socket. */
void shale_tls_conn_destroy(struct tls_conn *tc);

enum tls_step { TLS_DONE, TLS_WANT_READ, TLS_WANT_WRITE, TLS_FAILED };
/* Moves the handshake on; TLS_FAILED is logged and counted. */
enum tls_step shale_tls_handshake(struct tls_conn *tc);
int shale_tls_established(const struct tls_conn *tc);
/* Closes a connection whose handshake outlived tls-handshake-timeout
 * (counted and logged here; the caller closes). 1 when it has. */
int shale_tls_handshake_expired(struct tls_conn *tc, int64_t now_ms);

/* read(2)/writev(2) shapes: bytes, 0 at a clean end of stream, -1 with
 * errno EAGAIN when the socket must become ready first, -1 with another
 * errno when the connection is broken. writev encrypts the iovecs as whole
 * records: small ones are coalesced into one record of up to 16 KB, large
 * ones are encrypted in place; it may write fewer bytes than given, and
 * after EAGAIN it must be called again with the same leading bytes. */
ssize_t shale_tls_read(struct tls_conn *tc, void *buf, size_t len);
ssize_t shale_tls_writev(struct tls_conn *tc, const struct iovec *iov, int iovcnt);
/* After EAGAIN: whether the SSL call is waiting for the socket to become
 * writable (a read can need a write and the other way round). */
int shale_tls_read_wants_write(const struct tls_conn *tc);
int shale_tls_write_wants_read(const struct tls_conn *tc);
/* Decrypted or buffered bytes OpenSSL holds: epoll will not report them. */
int shale_tls_has_pending(const struct tls_conn *tc);

/* A plain-port connection whose first bytes are a TLS handshake record. */
int shale_tls_is_client_hello(const char *data, size_t len);
/* Counts and logs (rate-limited) such a connection; the caller closes. */
void shale_tls_refuse_on_plain_port(struct tls *tls, const char *addr);

#endif
