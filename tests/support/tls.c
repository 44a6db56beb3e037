/*
 * TLS support for integration tests (see tls.h).  Owns the certificate temp
 * dir and the OpenSSL client state of each test connection.  Main test
 * thread only.
 */
#include "tests/support/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tests/support/server.h"

#ifndef SHALE_SOURCE_DIR
#define SHALE_SOURCE_DIR "."
#endif

#define IO_TIMEOUT_MS 10000

struct test_tls {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    int port;
    int max_version;
    char ca[PATH_MAX];
    char cert[PATH_MAX];
    char key[PATH_MAX];
};

/* ---- certificates ---- */

int shale_test_certs_create(struct test_certs *certs)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(certs->dir, sizeof certs->dir, "%s/shale-certs-XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    if (mkdtemp(certs->dir) == NULL) {
        fprintf(stderr, "[tls] mkdtemp %s: %s\n", certs->dir, strerror(errno));
        return -1;
    }
    const char *src = getenv("SHALE_SOURCE_DIR");
    char cmd[PATH_MAX * 2 + 64];
    snprintf(cmd, sizeof cmd, "'%s/scripts/gen-certs.sh' '%s' >/dev/null",
             src != NULL && src[0] != '\0' ? src : SHALE_SOURCE_DIR, certs->dir);
    int rc = system(cmd);
    if (rc != 0) {
        fprintf(stderr, "[tls] %s failed (status %d); set SHALE_SOURCE_DIR to the source tree\n",
                cmd, rc);
        shale_test_certs_destroy(certs);
        return -1;
    }
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

void shale_test_certs_destroy(struct test_certs *certs)
{
    if (certs->dir[0] != '\0') {
        nftw(certs->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        certs->dir[0] = '\0';
    }
}

const char *shale_test_cert_path(const struct test_certs *certs, const char *name, char *out,
                                 size_t outlen)
{
    snprintf(out, outlen, "%s/%s", certs->dir, name);
    return out;
}

static bool serial_hex(X509 *x, char *out, size_t outlen)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
    bool ok = hex != NULL;
    if (ok) {
        snprintf(out, outlen, "%s", hex);
    }
    OPENSSL_free(hex);
    BN_free(bn);
    return ok;
}

bool shale_test_cert_serial(const char *path, char *out, size_t outlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return false;
    }
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    bool ok = x != NULL && serial_hex(x, out, outlen);
    X509_free(x);
    return ok;
}

/* ---- plain sockets ---- */

int shale_test_tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {.tv_sec = IO_TIMEOUT_MS / 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
}

bool shale_test_tcp_wait_closed(int fd, int timeout_ms, size_t *received)
{
    long long deadline = shale_test_now_ms() + timeout_ms;
    if (received != NULL) {
        *received = 0;
    }
    for (;;) {
        long long left = deadline - shale_test_now_ms();
        if (left <= 0) {
            return false;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int n = poll(&p, 1, (int)left);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        char buf[4096];
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
            return true;
        }
        if (r > 0 && received != NULL) {
            *received += (size_t)r;
        }
    }
}

/* ---- TLS client ---- */

static void openssl_error(const char *what, char *err, size_t errlen)
{
    unsigned long e = ERR_get_error();
    char text[256] = "no OpenSSL error queued";
    if (e != 0) {
        ERR_error_string_n(e, text, sizeof text);
    }
    snprintf(err, errlen, "%s: %s", what, text);
    ERR_clear_error();
}

static struct test_tls *connect_with(int port, const char *ca, const char *cert, const char *key,
                                     int max_version, SSL_SESSION *session, char *err,
                                     size_t errlen)
{
    struct test_tls *t = calloc(1, sizeof *t);
    t->fd = -1;
    t->port = port;
    t->max_version = max_version;
    snprintf(t->ca, sizeof t->ca, "%s", ca);
    snprintf(t->cert, sizeof t->cert, "%s", cert != NULL ? cert : "");
    snprintf(t->key, sizeof t->key, "%s", key != NULL ? key : "");
    t->ctx = SSL_CTX_new(TLS_client_method());
    if (t->ctx == NULL) {
        openssl_error("SSL_CTX_new", err, errlen);
        goto fail;
    }
    if (max_version != 0) {
        SSL_CTX_set_max_proto_version(t->ctx, max_version);
    }
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_load_verify_locations(t->ctx, ca, NULL) != 1) {
        openssl_error("loading the CA", err, errlen);
        goto fail;
    }
    if (cert != NULL && (SSL_CTX_use_certificate_chain_file(t->ctx, cert) != 1 ||
                         SSL_CTX_use_PrivateKey_file(t->ctx, key, SSL_FILETYPE_PEM) != 1)) {
        openssl_error("loading the client certificate", err, errlen);
        goto fail;
    }
    t->fd = shale_test_tcp_connect(port);
    if (t->fd < 0) {
        snprintf(err, errlen, "connect to port %d: %s", port, strerror(errno));
        goto fail;
    }
    t->ssl = SSL_new(t->ctx);
    SSL_set_fd(t->ssl, t->fd);
    SSL_set1_host(t->ssl, "127.0.0.1");
    if (session != NULL) {
        SSL_set_session(t->ssl, session);
    }
    if (SSL_connect(t->ssl) != 1) {
        openssl_error("handshake", err, errlen);
        goto fail;
    }
    return t;
fail:
    shale_test_tls_close(t);
    return NULL;
}

struct test_tls *shale_test_tls_connect(int port, const char *ca, const char *cert, const char *key,
                                        int max_version, char *err, size_t errlen)
{
    return connect_with(port, ca, cert, key, max_version, NULL, err, errlen);
}

struct test_tls *shale_test_tls_reconnect(struct test_tls *prev, char *err, size_t errlen)
{
    SSL_SESSION *session = SSL_get1_session(prev->ssl);
    struct test_tls *t =
        connect_with(prev->port, prev->ca, prev->cert[0] ? prev->cert : NULL,
                     prev->key[0] ? prev->key : NULL, prev->max_version, session, err, errlen);
    SSL_SESSION_free(session);
    return t;
}

void shale_test_tls_close(struct test_tls *t)
{
    if (t == NULL) {
        return;
    }
    if (t->ssl != NULL) {
        SSL_free(t->ssl);
    }
    if (t->ctx != NULL) {
        SSL_CTX_free(t->ctx);
    }
    if (t->fd >= 0) {
        close(t->fd);
    }
    ERR_clear_error();
    free(t);
}

bool shale_test_tls_send(struct test_tls *t, const void *data, size_t len, char *err, size_t errlen)
{
    const char *p = data;
    while (len > 0) {
        int n = SSL_write(t->ssl, p, len > 1 << 20 ? 1 << 20 : (int)len);
        if (n <= 0) {
            openssl_error("SSL_write", err, errlen);
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

bool shale_test_tls_send_records(struct test_tls *t, const char *const *parts, const size_t *lens,
                                 int n, char *err, size_t errlen)
{
    BIO *socket_bio = SSL_get_wbio(t->ssl);
    BIO *mem = BIO_new(BIO_s_mem());
    BIO_up_ref(socket_bio);
    BIO_up_ref(mem);
    SSL_set0_wbio(t->ssl, mem);
    bool ok = true;
    for (int i = 0; i < n && ok; i++) {
        ok = SSL_write(t->ssl, parts[i], (int)lens[i]) == (int)lens[i];
    }
    if (!ok) {
        openssl_error("SSL_write to memory", err, errlen);
    }
    SSL_set0_wbio(t->ssl, socket_bio);
    char *data = NULL;
    long len = BIO_get_mem_data(mem, &data);
    if (ok && send(t->fd, data, (size_t)len, MSG_NOSIGNAL) != len) {
        snprintf(err, errlen, "send: %s", strerror(errno));
        ok = false;
    }
    BIO_free(mem);
    return ok;
}

size_t shale_test_tls_read(struct test_tls *t, char *buf, size_t want, int timeout_ms, bool *closed)
{
    size_t got = 0;
    long long deadline = shale_test_now_ms() + timeout_ms;
    if (closed != NULL) {
        *closed = false;
    }
    while (got < want) {
        long long left = deadline - shale_test_now_ms();
        if (left <= 0) {
            break;
        }
        if (SSL_pending(t->ssl) == 0) {
            struct pollfd p = {.fd = t->fd, .events = POLLIN};
            if (poll(&p, 1, (int)left) <= 0) {
                continue;
            }
        }
        int n = SSL_read(t->ssl, buf + got, (int)(want - got));
        if (n > 0) {
            got += (size_t)n;
            continue;
        }
        int e = SSL_get_error(t->ssl, n);
        ERR_clear_error();
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            continue;
        }
        if (closed != NULL) {
            *closed = true;
        }
        break;
    }
    return got;
}

bool shale_test_tls_peer_serial(struct test_tls *t, char *out, size_t outlen)
{
    X509 *x = SSL_get1_peer_certificate(t->ssl);
    bool ok = x != NULL && serial_hex(x, out, outlen);
    X509_free(x);
    return ok;
}

bool shale_test_tls_session_reused(struct test_tls *t)
{
    return SSL_session_reused(t->ssl) == 1;
}

bool shale_test_tls_ping(int port, const char *ca, const char *cert, const char *key, char *why,
                         size_t whylen)
{
    char err[512];
    struct test_tls *t = shale_test_tls_connect(port, ca, cert, key, 0, err, sizeof err);
    if (t == NULL) {
        snprintf(why, whylen, "%s", err);
        return false;
    }
    static const char ping[] = "*1\r\n$4\r\nPING\r\n";
    char reply[16] = "";
    bool closed = false;
    size_t got = 0;
    if (!shale_test_tls_send(t, ping, sizeof ping - 1, err, sizeof err)) {
        snprintf(why, whylen, "after the handshake, %s", err);
    } else {
        got = shale_test_tls_read(t, reply, 7, IO_TIMEOUT_MS, &closed);
        snprintf(why, whylen, "after the handshake, %s after %zu reply bytes",
                 closed ? "the server ended the session" : "no reply within 10 s", got);
    }
    shale_test_tls_close(t);
    if (got == 7 && memcmp(reply, "+PONG\r\n", 7) == 0) {
        snprintf(why, whylen, "PONG");
        return true;
    }
    return false;
}
