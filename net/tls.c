/* tls: OpenSSL contexts and per-connection SSL state (see tls.h).
 *
 * Threads: the context is built on the thread that asks for it (main at
 * start-up and on SIGHUP, an I/O thread for CONFIG SET) under the config
 * lock; `ctx_lock` only covers swapping the pointer and taking a reference
 * to it, once per accepted connection and once per reload, never per
 * request. Everything per connection runs on its I/O thread. OpenSSL's
 * error queue is per thread: every failure path empties it, so the next
 * SSL_get_error on that thread reads only its own call's outcome. */
#include "net/tls.h"

#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "server/clock.h"
#include "server/config.h"
#include "server/log.h"
#include "server/mem.h"

#define TLS_RECORD_MAX 16384 /* plaintext bytes in one TLS record */
#define TLS_WRITE_MAX  (1 << 30)
#define TLS_LOG_BURST  10 /* refusal lines per second; the rest are counted */

enum tls_auth { TLS_AUTH_NO = 0, TLS_AUTH_YES = 1, TLS_AUTH_OPTIONAL = 2 }; /* config order */

struct tls {
    const struct config *cfg;
    int enabled;              /* tls-port != 0; read-only after setup */
    pthread_mutex_t ctx_lock; /* guards ctx */
    SSL_CTX *ctx;             /* holds one reference of its own */
    struct tls_stats stats;
    _Atomic int64_t log_second; /* rate limit of refusal lines */
    _Atomic int log_lines;
    _Atomic uint64_t log_dropped;
};

struct tls_conn {
    struct tls *tls;
    SSL *ssl;
    const char *addr; /* the connection's client_info.addr */
    int64_t started_ms;
    size_t retry_len; /* bytes of an SSL_write that would block: retry exactly those */
    uint8_t established;
    uint8_t broken; /* fatal error seen: no close_notify */
    uint8_t read_wants_write;
    uint8_t write_wants_read;
};

/* ---- logging ---- */

/* Refusals come from clients, so a flood of them must not flood the log:
 * at most TLS_LOG_BURST lines a second, the next line says how many were
 * left out. */
static void log_refusal(struct tls *tls, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void log_refusal(struct tls *tls, const char *fmt, ...)
{
    int64_t second = clock_mono_us() / 1000000;
    int64_t seen = atomic_load_explicit(&tls->log_second, memory_order_relaxed);
    if (seen != second && atomic_compare_exchange_strong(&tls->log_second, &seen, second))
        atomic_store(&tls->log_lines, 0);
    if (atomic_fetch_add(&tls->log_lines, 1) >= TLS_LOG_BURST) {
        atomic_fetch_add(&tls->log_dropped, 1);
        return;
    }
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    uint64_t dropped = atomic_exchange(&tls->log_dropped, 0);
    if (dropped)
        shale_log(LOG_WARNING, "%s (%llu similar lines left out)", line,
                  (unsigned long long)dropped);
    else
        shale_log(LOG_WARNING, "%s", line);
}

/* The first queued OpenSSL error as text; empties the queue. */
static void take_error(char *out, size_t outlen)
{
    unsigned long e = ERR_get_error();
    if (e)
        ERR_error_string_n(e, out, outlen);
    else
        snprintf(out, outlen, "unknown error");
    ERR_clear_error();
}

/* ---- building a context ---- */

static int parse_protocols(const char *text, long *disable, char *why, size_t whylen)
{
    static const struct {
        const char *name;
        long op;
    } versions[] = {
        {"TLSv1", SSL_OP_NO_TLSv1},
        {"TLSv1.1", SSL_OP_NO_TLSv1_1},
        {"TLSv1.2", SSL_OP_NO_TLSv1_2},
        {"TLSv1.3", SSL_OP_NO_TLSv1_3},
    };
    long all = SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1 | SSL_OP_NO_TLSv1_2 | SSL_OP_NO_TLSv1_3;
    long allowed = 0;
    if (!*text)
        allowed = SSL_OP_NO_TLSv1_2 | SSL_OP_NO_TLSv1_3; /* Redis's default */
    for (const char *p = text; *p;) {
        p += strspn(p, " ");
        size_t n = strcspn(p, " ");
        if (!n)
            break;
        size_t i = 0;
        while (i < 4 && !(strlen(versions[i].name) == n && !strncasecmp(p, versions[i].name, n)))
            i++;
        if (i == 4) {
            snprintf(why, whylen,
                     "Invalid tls-protocols specified. Use a combination of 'TLSv1', 'TLSv1.1', "
                     "'TLSv1.2' and 'TLSv1.3'.");
            return -1;
        }
        allowed |= versions[i].op;
        p += n;
    }
    *disable = all & ~allowed;
    return 0;
}

static int passphrase_cb(char *buf, int size, int rwflag, void *arg)
{
    const char *pass = arg;
    size_t n = pass ? strlen(pass) : 0;
    if (n > (size_t)size)
        n = (size_t)size;
    memcpy(buf, pass ? pass : "", n);
    return (int)n;
}

/* One line about the certificate now in use, so an operator can tell
 * which one a reload picked up. */
static void log_certificate(SSL_CTX *ctx, const char *what)
{
    X509 *x = SSL_CTX_get0_certificate(ctx);
    if (!x)
        return;
    char subject[256] = "?", expires[64] = "?";
    X509_NAME_oneline(X509_get_subject_name(x), subject, sizeof(subject));
    struct tm tm;
    if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1)
        strftime(expires, sizeof(expires), "%Y-%m-%d %H:%M:%S UTC", &tm);
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *serial = bn ? BN_bn2hex(bn) : NULL;
    shale_log(LOG_NOTICE, "TLS %s: certificate %s, serial %s, expires %s", what, subject,
              serial ? serial : "?", expires);
    OPENSSL_free(serial);
    BN_free(bn);
    if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
        shale_log(LOG_WARNING, "TLS certificate %s has expired: clients will refuse it", subject);
    ERR_clear_error();
}

/* OpenSSL fills a certificate's extension cache (key identifiers,
 * purposes) on its first use, under that certificate's lock, but readers
 * test the "filled" flag without the lock. Two handshakes on two I/O threads
 * verifying clients against a CA certificate nobody had used yet therefore
 * race: one writes the subject key identifier while the other compares it
 * (make tsan found it right after a reload). Filling every cache here, on
 * the thread that builds the context and before any handshake can see it,
 * leaves nothing to fill later. A tls-ca-cert-dir is read lazily by
 * OpenSSL, under the store's lock; its certificates are not warmed. */
static void warm_certificate_caches(SSL_CTX *ctx)
{
    STACK_OF(X509_OBJECT) *objects = X509_STORE_get0_objects(SSL_CTX_get_cert_store(ctx));
    for (int i = 0; i < sk_X509_OBJECT_num(objects); i++) {
        X509 *x = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objects, i));
        if (x)
            X509_check_purpose(x, -1, 0);
    }
    X509 *own = SSL_CTX_get0_certificate(ctx);
    if (own)
        X509_check_purpose(own, -1, 0);
    STACK_OF(X509) *chain = NULL;
    if (SSL_CTX_get0_chain_certs(ctx, &chain) && chain)
        for (int i = 0; i < sk_X509_num(chain); i++)
            X509_check_purpose(sk_X509_value(chain, i), -1, 0);
}

/* A context from the current tls-* options, or NULL with the reason. The
 * same checks and wording as Redis's tlsConfigure. */
static SSL_CTX *build_ctx(const struct config *cfg, char *why, size_t whylen)
{
    const char *cert = config_live(cfg, tls_cert_file);
    const char *key = config_live(cfg, tls_key_file);
    const char *pass = config_live(cfg, tls_key_file_pass);
    const char *ca_file = config_live(cfg, tls_ca_cert_file);
    const char *ca_dir = config_live(cfg, tls_ca_cert_dir);
    const char *ciphers = config_live(cfg, tls_ciphers);
    const char *suites = config_live(cfg, tls_ciphersuites);
    long long auth = config_live(cfg, tls_auth_clients);
    long disable = 0;
    char err[256];

    if (!*cert) {
        snprintf(why, whylen, "No tls-cert-file configured!");
        return NULL;
    }
    if (!*key) {
        snprintf(why, whylen, "No tls-key-file configured!");
        return NULL;
    }
    if (auth != TLS_AUTH_NO && !*ca_file && !*ca_dir) {
        snprintf(why, whylen,
                 "Either tls-ca-cert-file or tls-ca-cert-dir must be specified when "
                 "tls-auth-clients is enabled!");
        return NULL;
    }
    if (parse_protocols(config_live(cfg, tls_protocols), &disable, why, whylen) < 0)
        return NULL;

    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        take_error(err, sizeof(err));
        snprintf(why, whylen, "SSL_CTX_new: %s", err);
        return NULL;
    }
    long options = SSL_OP_NO_SSLv2 | SSL_OP_NO_SSLv3 | SSL_OP_NO_COMPRESSION |
                   SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF | disable;
    if (config_live(cfg, tls_prefer_server_ciphers))
        options |= SSL_OP_CIPHER_SERVER_PREFERENCE;
    if (!config_live(cfg, tls_session_caching))
        options |= SSL_OP_NO_TICKET;
    SSL_CTX_set_options(ctx, (uint64_t)options);
    /* Writes go straight from the reply buffers, which stay put until fully
     * written but may be a different pointer on the retry; idle connections
     * give OpenSSL's record buffers back, like ours (DESIGN §3). */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    /* One read(2) takes whatever is there, not one record header at a time:
     * what it buffers is why SSL_has_pending matters (see conn.c). */
    SSL_CTX_set_read_ahead(ctx, 1);
    if (config_live(cfg, tls_session_caching)) {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
        SSL_CTX_sess_set_cache_size(ctx, (long)config_live(cfg, tls_session_cache_size));
        SSL_CTX_set_timeout(ctx, (long)config_live(cfg, tls_session_cache_timeout));
        SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"shale", 5);
    } else {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_num_tickets(ctx, 0);
    }

    SSL_CTX_set_default_passwd_cb(ctx, passphrase_cb);
    SSL_CTX_set_default_passwd_cb_userdata(ctx, (void *)pass);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) <= 0) {
        take_error(err, sizeof(err));
        snprintf(why, whylen, "Failed to load certificate: %s: %s", cert, err);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) <= 0) {
        take_error(err, sizeof(err));
        snprintf(why, whylen, "Failed to load private key: %s: %s", key, err);
        goto fail;
    }
    SSL_CTX_set_default_passwd_cb_userdata(ctx, NULL);
    if (SSL_CTX_check_private_key(ctx) <= 0) {
        take_error(err, sizeof(err));
        snprintf(why, whylen, "tls-key-file does not match tls-cert-file: %s", err);
        goto fail;
    }
    if ((*ca_file || *ca_dir) ? SSL_CTX_load_verify_locations(ctx, *ca_file ? ca_file : NULL,
                                                              *ca_dir ? ca_dir : NULL) <= 0
                              : SSL_CTX_set_default_verify_paths(ctx) <= 0) {
        take_error(err, sizeof(err));
        snprintf(why, whylen, "Failed to configure CA certificate(s) file/directory: %s", err);
        goto fail;
    }
    if (*ciphers && !SSL_CTX_set_cipher_list(ctx, ciphers)) {
        take_error(err, sizeof(err));
        snprintf(why, whylen, "Failed to configure ciphers: %s", err);
        goto fail;
    }
    if (*suites && !SSL_CTX_set_ciphersuites(ctx, suites)) {
        take_error(err, sizeof(err));
        snprintf(why, whylen, "Failed to configure ciphersuites: %s", err);
        goto fail;
    }
    warm_certificate_caches(ctx);
    ERR_clear_error();
    return ctx;
fail:
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return NULL;
}

/* ---- the server's context ---- */

struct tls *shale_tls_setup(const struct config *cfg)
{
    struct tls *tls = shale_calloc(1, sizeof(*tls));
    tls->cfg = cfg;
    pthread_mutex_init(&tls->ctx_lock, NULL);
    tls->enabled = cfg->tls_port != 0;
    if (!tls->enabled)
        return tls;
    OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS | OPENSSL_INIT_LOAD_CRYPTO_STRINGS, NULL);
    char why[512];
    tls->ctx = build_ctx(cfg, why, sizeof(why));
    if (!tls->ctx) {
        shale_log(LOG_WARNING, "Failed to configure TLS: %s", why);
        shale_tls_teardown(tls);
        return NULL;
    }
    log_certificate(tls->ctx, "ready");
    return tls;
}

void shale_tls_teardown(struct tls *tls)
{
    if (!tls)
        return;
    SSL_CTX_free(tls->ctx);
    pthread_mutex_destroy(&tls->ctx_lock);
    shale_free(tls);
}

const struct tls_stats *shale_tls_stats(const struct tls *tls)
{
    return &tls->stats;
}

int shale_tls_option_reloads(const char *name)
{
    return !strncasecmp(name, "tls-", 4) && strcasecmp(name, "tls-port") != 0 &&
           strcasecmp(name, "tls-auth-clients") != 0 &&
           strcasecmp(name, "tls-handshake-timeout") != 0;
}

int shale_tls_reload(struct tls *tls, char *err, size_t errlen)
{
    if (!tls->enabled)
        return 0;
    char why[512];
    SSL_CTX *ctx = build_ctx(tls->cfg, why, sizeof(why));
    if (!ctx) {
        atomic_fetch_add(&tls->stats.reload_failures, 1);
        shale_log(LOG_WARNING, "TLS reload failed, the current certificates stay in use: %s", why);
        snprintf(err, errlen, "Unable to update TLS configuration. Check server logs.");
        return -1;
    }
    pthread_mutex_lock(&tls->ctx_lock);
    SSL_CTX *old = tls->ctx;
    tls->ctx = ctx;
    pthread_mutex_unlock(&tls->ctx_lock);
    SSL_CTX_free(old); /* open connections hold their own references */
    atomic_fetch_add(&tls->stats.reloads, 1);
    log_certificate(ctx, "reloaded");
    return 0;
}

void shale_tls_reload_on_signal(struct tls *tls, struct config *cfg)
{
    if (!tls->enabled)
        return;
    char err[128];
    shale_log(LOG_NOTICE, "Received SIGHUP, reloading TLS certificates");
    pthread_mutex_lock(&cfg->set_lock);
    shale_tls_reload(tls, err, sizeof(err));
    pthread_mutex_unlock(&cfg->set_lock);
}

/* ---- connections ---- */

struct tls_conn *shale_tls_conn_create(struct tls *tls, int fd, const char *addr)
{
    pthread_mutex_lock(&tls->ctx_lock);
    SSL_CTX *ctx = tls->ctx;
    if (ctx)
        SSL_CTX_up_ref(ctx);
    pthread_mutex_unlock(&tls->ctx_lock);
    if (!ctx)
        return NULL;
    SSL *ssl = SSL_new(ctx); /* takes its own reference */
    SSL_CTX_free(ctx);
    if (!ssl || !SSL_set_fd(ssl, fd)) {
        SSL_free(ssl);
        ERR_clear_error();
        return NULL;
    }
    /* Read per connection, as Redis does, so CONFIG SET tls-auth-clients
     * applies to the next client without a reload. */
    switch (config_live(tls->cfg, tls_auth_clients)) {
    case TLS_AUTH_NO:
        SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
        break;
    case TLS_AUTH_OPTIONAL:
        SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
        break;
    default:
        SSL_set_verify(ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        break;
    }
    SSL_set_accept_state(ssl);
    struct tls_conn *tc = shale_calloc(1, sizeof(*tc));
    tc->tls = tls;
    tc->ssl = ssl;
    tc->addr = addr;
    tc->started_ms = clock_mono_us() / 1000;
    atomic_fetch_add_explicit(&tls->stats.connections, 1, memory_order_relaxed);
    return tc;
}

void shale_tls_conn_destroy(struct tls_conn *tc)
{
    if (!tc)
        return;
    if (tc->established && !tc->broken)
        SSL_shutdown(tc->ssl); /* one try at close_notify; the socket is non-blocking */
    ERR_clear_error();
    SSL_free(tc->ssl);
    atomic_fetch_sub_explicit(&tc->tls->stats.connections, 1, memory_order_relaxed);
    shale_free(tc);
}

int shale_tls_established(const struct tls_conn *tc)
{
    return tc->established;
}

static void handshake_failed(struct tls_conn *tc, int ssl_err, int saved_errno)
{
    struct tls *tls = tc->tls;
    tc->broken = 1;
    atomic_fetch_add_explicit(&tls->stats.handshake_failures, 1, memory_order_relaxed);
    unsigned long e = ERR_peek_error();
    if (!e && (ssl_err == SSL_ERROR_SYSCALL || ssl_err == SSL_ERROR_ZERO_RETURN)) {
        /* A client that connects and leaves (a TCP health check) is not news. */
        shale_log(LOG_VERBOSE, "TLS client %s closed the connection during the handshake%s%s",
                  tc->addr, saved_errno ? ": " : "", saved_errno ? strerror(saved_errno) : "");
        ERR_clear_error();
        return;
    }
    char err[256];
    long verify = SSL_get_verify_result(tc->ssl);
    int reason = ERR_GET_REASON(e);
    take_error(err, sizeof(err));
    if (verify != X509_V_OK)
        log_refusal(tls, "TLS handshake with %s refused: client certificate: %s", tc->addr,
                    X509_verify_cert_error_string(verify));
    else if (reason == SSL_R_WRONG_VERSION_NUMBER || reason == SSL_R_HTTP_REQUEST ||
             reason == SSL_R_UNKNOWN_PROTOCOL || reason == SSL_R_PACKET_LENGTH_TOO_LONG)
        log_refusal(tls,
                    "TLS handshake with %s refused: not a TLS client (plaintext on the "
                    "TLS port?): %s",
                    tc->addr, err);
    else
        log_refusal(tls, "TLS handshake with %s refused: %s", tc->addr, err);
}

enum tls_step shale_tls_handshake(struct tls_conn *tc)
{
    int rc = SSL_do_handshake(tc->ssl);
    if (rc == 1) {
        tc->established = 1;
        atomic_fetch_add_explicit(&tc->tls->stats.handshakes, 1, memory_order_relaxed);
        return TLS_DONE;
    }
    int saved_errno = errno;
    int e = SSL_get_error(tc->ssl, rc);
    if (e == SSL_ERROR_WANT_READ)
        return TLS_WANT_READ;
    if (e == SSL_ERROR_WANT_WRITE)
        return TLS_WANT_WRITE;
    handshake_failed(tc, e, saved_errno);
    return TLS_FAILED;
}

int shale_tls_handshake_expired(struct tls_conn *tc, int64_t now_ms)
{
    if (tc->established || tc->broken)
        return 0;
    long long limit_ms = config_live(tc->tls->cfg, tls_handshake_timeout) * 1000;
    if (now_ms - tc->started_ms < limit_ms)
        return 0;
    tc->broken = 1;
    atomic_fetch_add_explicit(&tc->tls->stats.handshake_timeouts, 1, memory_order_relaxed);
    log_refusal(tc->tls, "TLS handshake with %s timed out after %lld s", tc->addr, limit_ms / 1000);
    return 1;
}

/* The outcome of an SSL_read/SSL_write that did not move bytes, as errno. */
static ssize_t not_done(struct tls_conn *tc, int rc, int reading)
{
    int saved_errno = errno;
    switch (SSL_get_error(tc->ssl, rc)) {
    case SSL_ERROR_WANT_READ:
        if (reading)
            tc->read_wants_write = 0;
        else
            tc->write_wants_read = 1;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        if (reading)
            tc->read_wants_write = 1;
        else
            tc->write_wants_read = 0;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN: /* close_notify */
        if (reading)
            return 0;
        errno = EPIPE;
        return -1;
    default:
        tc->broken = 1;
        ERR_clear_error();
        errno = saved_errno && saved_errno != EAGAIN ? saved_errno : ECONNRESET;
        return -1;
    }
}

ssize_t shale_tls_read(struct tls_conn *tc, void *buf, size_t len)
{
    int n = SSL_read(tc->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
    if (n > 0) {
        tc->read_wants_write = 0;
        return n;
    }
    return not_done(tc, n, 1);
}

/* One SSL_write per call, so the bytes it is given can be found again for
 * the retry OpenSSL requires after WANT_WRITE: the caller's iovecs do not
 * move until written, and retry_len makes the retry take the same span. A
 * run of small replies is copied into one record-sized buffer (a record per
 * reply would cost 22+ bytes and a MAC each); a reply of a record or more,
 * or a lone one, is encrypted straight from where it lies. */
ssize_t shale_tls_writev(struct tls_conn *tc, const struct iovec *iov, int iovcnt)
{
    static _Thread_local char coalesce[TLS_RECORD_MAX];
    size_t limit = tc->retry_len ? tc->retry_len : TLS_RECORD_MAX;
    const void *src;
    size_t len = 0;
    if (iovcnt == 1 || iov[0].iov_len >= limit) {
        src = iov[0].iov_base;
        len = tc->retry_len && tc->retry_len <= iov[0].iov_len ? tc->retry_len : iov[0].iov_len;
        if (len > TLS_WRITE_MAX)
            len = TLS_WRITE_MAX;
    } else {
        for (int i = 0; i < iovcnt && len < limit; i++) {
            size_t take = iov[i].iov_len < limit - len ? iov[i].iov_len : limit - len;
            memcpy(coalesce + len, iov[i].iov_base, take);
            len += take;
        }
        src = coalesce;
    }
    if (tc->retry_len && len != tc->retry_len) {
        shale_log(LOG_WARNING, "TLS write retry with %zu bytes instead of %zu", len, tc->retry_len);
        abort(); /* the caller changed bytes OpenSSL has already encrypted */
    }
    int n = SSL_write(tc->ssl, src, (int)len);
    if (n > 0) {
        tc->retry_len = 0;
        tc->write_wants_read = 0;
        return n;
    }
    ssize_t rc = not_done(tc, n, 0);
    if (rc < 0 && errno == EAGAIN)
        tc->retry_len = len;
    return rc;
}

int shale_tls_read_wants_write(const struct tls_conn *tc)
{
    return tc->read_wants_write;
}

int shale_tls_write_wants_read(const struct tls_conn *tc)
{
    return tc->write_wants_read;
}

int shale_tls_has_pending(const struct tls_conn *tc)
{
    return SSL_has_pending(tc->ssl);
}

/* ---- the plain port ---- */

int shale_tls_is_client_hello(const char *data, size_t len)
{
    /* A TLS record header: handshake (22), version 3.x. No RESP or inline
     * command starts with byte 22. */
    const unsigned char *p = (const unsigned char *)data;
    return len >= 1 && p[0] == 0x16 && (len < 2 || p[1] == 0x03);
}

void shale_tls_refuse_on_plain_port(struct tls *tls, const char *addr)
{
    atomic_fetch_add_explicit(&tls->stats.plain_port_refused, 1, memory_order_relaxed);
    log_refusal(tls, "Client %s sent a TLS handshake to the plain port: closed", addr);
}
