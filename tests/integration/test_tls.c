/*
 * TLS client connections over the wire: redis-cli --tls, a client written
 * on OpenSSL sending pipelines and large values, mutual TLS (required,
 * optional, off), certificate reload by CONFIG SET and SIGHUP while older
 * connections keep working, session resumption, and the bad inputs: a
 * plaintext client on the TLS port, a TLS client on the plain port, client
 * certificates from another CA or expired, handshakes that stall.  Each bad
 * client is closed, logged once, and nobody else notices.
 *
 * Certificates come from scripts/gen-certs.sh, generated into a temp dir
 * when the tests start.  One server with a plain port and a TLS port
 * (tls-auth-clients yes, Redis's default); the tests that change its TLS
 * options put them back.
 */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <setjmp.h>

#include <cmocka.h>

#include <openssl/ssl.h>

#include "tests/support/reply.h"
#include "tests/support/server.h"
#include "tests/support/tls.h"

static struct test_server *server;
static struct test_certs certs;
static int tls_port;
static char tls_port_str[16];
static char path_ca[PATH_MAX], path_server_crt[PATH_MAX], path_server_key[PATH_MAX];
static char path_client_crt[PATH_MAX], path_client_key[PATH_MAX];

#define CERT(name) shale_test_cert_path(&certs, (name), (char[PATH_MAX]){0}, PATH_MAX)

static int group_setup(void **state)
{
    if (shale_test_certs_create(&certs) != 0) {
        return -1;
    }
    shale_test_cert_path(&certs, "ca.crt", path_ca, sizeof path_ca);
    shale_test_cert_path(&certs, "server.crt", path_server_crt, sizeof path_server_crt);
    shale_test_cert_path(&certs, "server.key", path_server_key, sizeof path_server_key);
    shale_test_cert_path(&certs, "client.crt", path_client_crt, sizeof path_client_crt);
    shale_test_cert_path(&certs, "client.key", path_client_key, sizeof path_client_key);
    tls_port = shale_test_free_port();
    snprintf(tls_port_str, sizeof tls_port_str, "%d", tls_port);
    const char *const args[] = {"--tls-port",         tls_port_str,     "--tls-cert-file",
                                path_server_crt,      "--tls-key-file", path_server_key,
                                "--tls-ca-cert-file", path_ca,          NULL};
    /* Two I/O threads share the context and its reloads. */
    static const char *const shale_args[] = {"--tls-handshake-timeout", "1", "--io-threads", "2",
                                             NULL};
    server = shale_test_server_start(args, shale_args);
    return server != NULL ? 0 : -1;
}

static int group_teardown(void **state)
{
    int rc = shale_test_server_stop(server);
    shale_test_certs_destroy(&certs);
    return rc;
}

static int test_setup(void **state)
{
    return shale_test_begin(server, NULL);
}

static int test_teardown(void **state)
{
    return shale_test_end(server, NULL);
}

/* ---- helpers ---- */

#define expect_ping(cert, key) expect_ping_at(__FILE__, __LINE__, (cert), (key))
static void expect_ping_at(const char *file, int line, const char *cert, const char *key)
{
    char why[512];
    if (!shale_test_tls_ping(tls_port, path_ca, cert, key, why, sizeof why)) {
        print_error("TLS PING with certificate %s refused: %s\n", cert ? cert : "(none)", why);
        shale_test_server_report_failure();
        _fail(file, line);
    }
}

#define expect_refused(cert, key) expect_refused_at(__FILE__, __LINE__, (cert), (key))
static void expect_refused_at(const char *file, int line, const char *cert, const char *key)
{
    char why[512];
    if (shale_test_tls_ping(tls_port, path_ca, cert, key, why, sizeof why)) {
        print_error("TLS PING with certificate %s answered; expected a refusal\n",
                    cert ? cert : "(none)");
        shale_test_server_report_failure();
        _fail(file, line);
    }
}

#define tls_connect(cert, key) tls_connect_at(__FILE__, __LINE__, (cert), (key))
static struct test_tls *tls_connect_at(const char *file, int line, const char *cert,
                                       const char *key)
{
    char err[512];
    struct test_tls *t = shale_test_tls_connect(tls_port, path_ca, cert, key, 0, err, sizeof err);
    if (t == NULL) {
        print_error("TLS connect to port %d: %s\n", tls_port, err);
        shale_test_server_report_failure();
        _fail(file, line);
    }
    return t;
}

/* Sends `request` and expects exactly `expected` back. */
#define tls_exchange(t, request, rlen, expected, elen)                                             \
    tls_exchange_at(__FILE__, __LINE__, (t), (request), (rlen), (expected), (elen))
static void tls_exchange_at(const char *file, int line, struct test_tls *t, const char *request,
                            size_t rlen, const char *expected, size_t elen)
{
    char err[512];
    if (!shale_test_tls_send(t, request, rlen, err, sizeof err)) {
        print_error("TLS send: %s\n", err);
        shale_test_server_report_failure();
        _fail(file, line);
    }
    char *got = malloc(elen + 1);
    bool closed = false;
    size_t n = shale_test_tls_read(t, got, elen, 10000, &closed);
    if (n != elen || memcmp(got, expected, elen) != 0) {
        size_t at = 0;
        while (at < n && got[at] == expected[at]) {
            at++;
        }
        char want[256], have[256];
        shale_test_escape(expected + at, elen - at, want, sizeof want);
        shale_test_escape(got + at, n - at, have, sizeof have);
        print_error("TLS reply differs at byte %zu of %zu (received %zu%s)\n  expected: %s\n"
                    "  received: %s\n",
                    at, elen, n, closed ? ", then the session ended" : "", want, have);
        free(got);
        shale_test_server_report_failure();
        _fail(file, line);
    }
    free(got);
}

static void tls_ping_on(struct test_tls *t)
{
    static const char ping[] = "*1\r\n$4\r\nPING\r\n";
    tls_exchange(t, ping, sizeof ping - 1, "+PONG\r\n", 7);
}

static void expect_serial(struct test_tls *t, const char *cert_file)
{
    char want[128], have[128];
    assert_true(shale_test_cert_serial(cert_file, want, sizeof want));
    assert_true(shale_test_tls_peer_serial(t, have, sizeof have));
    if (strcmp(want, have) != 0) {
        fail_msg("server certificate serial %s, expected %s (%s)", have, want, cert_file);
    }
}

static long long info_tls(const char *field)
{
    redisContext *c = shale_test_connect(server);
    redisReply *r = shale_test_command(c, "INFO shale");
    const char *v = shale_test_info_field(r->str, field);
    if (v == NULL) {
        fail_msg("INFO shale has no %s:\n%s", field, r->str);
    }
    long long n = atoll(v);
    freeReplyObject(r);
    redisFree(c);
    return n;
}

/* Lines of the server log that contain `needle`. */
static int log_count(const char *needle)
{
    FILE *f = fopen(shale_test_server_log_path(server), "r");
    assert_non_null(f);
    char line[2048];
    int n = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        n += strstr(line, needle) != NULL;
    }
    fclose(f);
    return n;
}

/* Waits up to 3 s (the log is written by another process) for count lines. */
static void expect_log_count(const char *needle, int count)
{
    long long deadline = shale_test_now_ms() + 3000;
    while (log_count(needle) < count && shale_test_now_ms() < deadline) {
        shale_test_sleep_ms(20);
    }
    shale_test_sleep_ms(50);
    int n = log_count(needle);
    if (n != count) {
        shale_test_server_print_log(server, 4096);
        fail_msg("%d log lines contain \"%s\", expected %d", n, needle, count);
    }
}

static void config_set_ok(const char *name, const char *value)
{
    redisContext *c = shale_test_connect(server);
    shale_test_assert_status(c, "OK", "CONFIG SET %s %s", name, value);
    redisFree(c);
}

static void config_set_certs(const char *crt, const char *key)
{
    redisContext *c = shale_test_connect(server);
    shale_test_assert_status(c, "OK", "CONFIG SET tls-cert-file %s tls-key-file %s", crt, key);
    redisFree(c);
}

/* Runs redis-cli --tls with the client certificate; its stdout into out. */
static void redis_cli(const char *args, char *out, size_t outlen)
{
    char cmd[PATH_MAX * 4];
    snprintf(cmd, sizeof cmd,
             "redis-cli --tls --cacert '%s' --cert '%s' --key '%s' -h 127.0.0.1 -p %d %s 2>&1",
             path_ca, path_client_crt, path_client_key, tls_port, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, outlen - 1, p);
    out[n] = '\0';
    int rc = pclose(p);
    if (rc != 0) {
        fail_msg("%s exited with status %d: %s", cmd, rc, out);
    }
}

/* ---- tests ---- */

static void test_redis_cli_tls(void **state)
{
    char out[4096];
    redis_cli("PING", out, sizeof out);
    assert_string_equal(out, "PONG\n");
    redis_cli("SET tls:key 'hello over tls'", out, sizeof out);
    assert_string_equal(out, "OK\n");
    redis_cli("GET tls:key", out, sizeof out);
    assert_string_equal(out, "hello over tls\n");
    /* The plain port serves the same data at the same time. */
    redisContext *c = shale_test_connect(server);
    shale_test_assert_bulk(c, "hello over tls", "GET tls:key");
    redisFree(c);
}

/* Appends a RESP command to buf. */
static size_t add_command(char *buf, size_t at, int argc, const char **argv, const size_t *lens)
{
    at += (size_t)sprintf(buf + at, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++) {
        at += (size_t)sprintf(buf + at, "$%zu\r\n", lens[i]);
        memcpy(buf + at, argv[i], lens[i]);
        at += lens[i];
        memcpy(buf + at, "\r\n", 2);
        at += 2;
    }
    return at;
}

static void test_pipeline_over_openssl_client(void **state)
{
    enum { N = 2000 };
    /* 2000 SETs then 2000 GETs in one write: far more than one TLS record
     * each way, so reads and writes cross record and buffer boundaries. */
    char *request = malloc(N * 2 * 64);
    char *expected = malloc(N * 64);
    size_t rlen = 0, elen = 0;
    for (int i = 0; i < N; i++) {
        char key[32], value[32];
        snprintf(key, sizeof key, "pipe:%d", i);
        snprintf(value, sizeof value, "value-%d", i * 7);
        const char *argv[] = {"SET", key, value};
        size_t lens[] = {3, strlen(key), strlen(value)};
        rlen = add_command(request, rlen, 3, argv, lens);
        memcpy(expected + elen, "+OK\r\n", 5);
        elen += 5;
    }
    for (int i = 0; i < N; i++) {
        char key[32], value[32];
        snprintf(key, sizeof key, "pipe:%d", i);
        snprintf(value, sizeof value, "value-%d", i * 7);
        const char *argv[] = {"GET", key};
        size_t lens[] = {3, strlen(key)};
        rlen = add_command(request, rlen, 2, argv, lens);
        elen += (size_t)sprintf(expected + elen, "$%zu\r\n%s\r\n", strlen(value), value);
    }
    struct test_tls *t = tls_connect(path_client_crt, path_client_key);
    tls_exchange(t, request, rlen, expected, elen);
    free(request);
    free(expected);

    tls_ping_on(t);
    shale_test_tls_close(t);
}

static void test_records_buffered_inside_openssl(void **state)
{
    /* 40 PINGs, one record each, arriving in one segment: after the first
     * read the socket is empty and the rest is inside OpenSSL, so only a
     * server that looks there (SSL_has_pending) answers them all. */
    enum { N = 40 };
    static const char ping[] = "*1\r\n$4\r\nPING\r\n";
    const char *parts[N];
    size_t lens[N];
    char expected[N * 7 + 1];
    for (int i = 0; i < N; i++) {
        parts[i] = ping;
        lens[i] = sizeof ping - 1;
        memcpy(expected + 7 * i, "+PONG\r\n", 7);
    }
    struct test_tls *t = tls_connect(path_client_crt, path_client_key);
    char err[512];
    if (!shale_test_tls_send_records(t, parts, lens, N, err, sizeof err)) {
        fail_msg("%s", err);
    }
    tls_exchange(t, "", 0, expected, 7 * N);
    /* The same with a command split over two records. */
    const char *halves[] = {"*3\r\n$3\r\nSET\r\n$1\r\nk", "\r\n$1\r\nv\r\n"};
    size_t hlens[] = {strlen(halves[0]), strlen(halves[1])};
    if (!shale_test_tls_send_records(t, halves, hlens, 2, err, sizeof err)) {
        fail_msg("%s", err);
    }
    tls_exchange(t, "", 0, "+OK\r\n", 5);
    if (!shale_test_server_is_redis()) {
        /* Reading pauses after 2 commands in flight; when it resumes, the
         * rest is still only inside OpenSSL. */
        config_set_ok("client-max-inflight", "2");
        if (!shale_test_tls_send_records(t, parts, lens, N, err, sizeof err)) {
            fail_msg("%s", err);
        }
        tls_exchange(t, "", 0, expected, 7 * N);
        config_set_ok("client-max-inflight", "1024");
    }
    shale_test_tls_close(t);
}

static void test_slow_reader_gets_every_byte(void **state)
{
    /* Replies far larger than the socket buffers, to a client that reads
     * nothing for a while: the server's SSL_write must wait and retry with
     * the same bytes, for big replies (encrypted in place) and runs of
     * small ones (coalesced) alike. */
    enum { BIG = 1 << 20, ROUNDS = 6 };
    char *value = malloc(BIG);
    for (size_t i = 0; i < BIG; i++) {
        value[i] = (char)('A' + (i * 7) % 26);
    }
    char *request = malloc(BIG + 128);
    const char *set[] = {"SET", "slow", value};
    size_t setlens[] = {3, 4, BIG};
    size_t rlen = add_command(request, 0, 3, set, setlens);
    struct test_tls *t = tls_connect(path_client_crt, path_client_key);
    tls_exchange(t, request, rlen, "+OK\r\n", 5);

    rlen = 0;
    size_t elen = 0;
    char header[32];
    int hlen = snprintf(header, sizeof header, "$%d\r\n", BIG);
    char *expected = malloc((size_t)ROUNDS * (BIG + 64) + ROUNDS * 40 * 7);
    for (int r = 0; r < ROUNDS; r++) {
        const char *get[] = {"GET", "slow"};
        size_t getlens[] = {3, 4};
        rlen = add_command(request, rlen, 2, get, getlens);
        memcpy(expected + elen, header, (size_t)hlen);
        elen += (size_t)hlen;
        memcpy(expected + elen, value, BIG);
        elen += BIG;
        memcpy(expected + elen, "\r\n", 2);
        elen += 2;
        for (int i = 0; i < 40; i++) {
            const char *ping[] = {"PING"};
            size_t pinglen[] = {4};
            rlen = add_command(request, rlen, 1, ping, pinglen);
            memcpy(expected + elen, "+PONG\r\n", 7);
            elen += 7;
        }
    }
    char err[512];
    if (!shale_test_tls_send(t, request, rlen, err, sizeof err)) {
        fail_msg("%s", err);
    }
    shale_test_sleep_ms(500); /* the server fills the socket and waits */
    tls_exchange(t, "", 0, expected, elen);
    free(expected);
    free(request);

    /* 100,000 small replies (10 MB): the waits now fall on coalesced records. */
    enum { SMALL = 100000 };
    request = malloc(SMALL * 24);
    expected = malloc(SMALL * 110);
    rlen = elen = 0;
    memset(value, 'x', 96);
    const char *set_small[] = {"SET", "small", value};
    size_t set_small_lens[] = {3, 5, 96};
    rlen = add_command(request, 0, 3, set_small, set_small_lens);
    tls_exchange(t, request, rlen, "+OK\r\n", 5);
    rlen = 0;
    for (int i = 0; i < SMALL; i++) {
        static const char get[] = "*2\r\n$3\r\nGET\r\n$5\r\nsmall\r\n";
        memcpy(request + rlen, get, sizeof get - 1);
        rlen += sizeof get - 1;
        memcpy(expected + elen, "$96\r\n", 5);
        memcpy(expected + elen + 5, value, 96);
        memcpy(expected + elen + 101, "\r\n", 2);
        elen += 103;
    }
    if (!shale_test_tls_send(t, request, rlen, err, sizeof err)) {
        fail_msg("%s", err);
    }
    shale_test_sleep_ms(500);
    tls_exchange(t, "", 0, expected, elen);
    tls_ping_on(t);
    shale_test_tls_close(t);
    free(expected);
    free(request);
    free(value);
}

static void test_mutual_tls_accepts_client_certificate(void **state)
{
    expect_ping(path_client_crt, path_client_key);
}

static void test_mutual_tls_refuses_missing_certificate(void **state)
{
    expect_refused(NULL, NULL);
    expect_ping(path_client_crt, path_client_key); /* others unaffected */
}

static void test_mutual_tls_refuses_other_ca(void **state)
{
    expect_refused(CERT("other-client.crt"), CERT("other-client.key"));
    /* Also when the handshake is TLS 1.2, where the refusal comes before
     * the client finishes. */
    char err[512];
    struct test_tls *t =
        shale_test_tls_connect(tls_port, path_ca, CERT("other-client.crt"),
                               CERT("other-client.key"), TLS1_2_VERSION, err, sizeof err);
    if (t != NULL) {
        shale_test_tls_close(t);
        fail_msg("a TLS 1.2 handshake with a certificate from another CA succeeded");
    }
    expect_ping(path_client_crt, path_client_key);
}

static void test_mutual_tls_refuses_expired_certificate(void **state)
{
    expect_refused(CERT("expired-client.crt"), CERT("expired-client.key"));
    expect_ping(path_client_crt, path_client_key);
}

static void test_auth_clients_optional_and_no(void **state)
{
    config_set_ok("tls-auth-clients", "optional");
    expect_ping(NULL, NULL);
    expect_ping(path_client_crt, path_client_key);
    /* Optional still checks a certificate that is presented. */
    expect_refused(CERT("other-client.crt"), CERT("other-client.key"));
    config_set_ok("tls-auth-clients", "no");
    expect_ping(NULL, NULL);
    expect_ping(CERT("other-client.crt"), CERT("other-client.key")); /* not asked for */
    config_set_ok("tls-auth-clients", "yes");
    expect_refused(NULL, NULL);
}

static void test_config_set_reloads_certificate(void **state)
{
    struct test_tls *old = tls_connect(path_client_crt, path_client_key);
    expect_serial(old, path_server_crt);
    tls_ping_on(old);

    config_set_certs(CERT("server-alt.crt"), CERT("server-alt.key"));
    struct test_tls *fresh = tls_connect(path_client_crt, path_client_key);
    expect_serial(fresh, CERT("server-alt.crt"));
    tls_ping_on(fresh);
    /* The connection made before the reload goes on with its session. */
    static const char set[] = "*3\r\n$3\r\nSET\r\n$3\r\nold\r\n$5\r\nstill\r\n"
                              "*2\r\n$3\r\nGET\r\n$3\r\nold\r\n";
    tls_exchange(old, set, sizeof set - 1, "+OK\r\n$5\r\nstill\r\n", 16);

    config_set_certs(path_server_crt, path_server_key);
    struct test_tls *back = tls_connect(path_client_crt, path_client_key);
    expect_serial(back, path_server_crt);
    tls_ping_on(back);
    tls_ping_on(fresh);
    tls_ping_on(old);
    shale_test_tls_close(back);
    shale_test_tls_close(fresh);
    shale_test_tls_close(old);
}

static void test_failed_reload_keeps_current_certificate(void **state)
{
    struct test_tls *old = tls_connect(path_client_crt, path_client_key);
    redisContext *c = shale_test_connect(server);
    shale_test_assert_error(c,
                            "ERR CONFIG SET failed (possibly related to argument "
                            "'tls-cert-file') - Unable to update TLS configuration. Check "
                            "server logs.",
                            "CONFIG SET tls-cert-file %s", CERT("no-such.crt"));
    /* A key that does not match the certificate. */
    shale_test_assert_error(c,
                            "ERR CONFIG SET failed (possibly related to argument "
                            "'tls-key-file') - Unable to update TLS configuration. Check "
                            "server logs.",
                            "CONFIG SET tls-key-file %s", CERT("client.key"));
    redisReply *r = shale_test_command(c, "CONFIG GET tls-cert-file");
    shale_test_expect_array(r, 2, "CONFIG GET tls-cert-file");
    shale_test_expect_bulk(r->element[1], path_server_crt, "tls-cert-file");
    freeReplyObject(r);
    r = shale_test_command(c, "CONFIG GET tls-key-file");
    shale_test_expect_array(r, 2, "CONFIG GET tls-key-file");
    shale_test_expect_bulk(r->element[1], path_server_key, "tls-key-file");
    freeReplyObject(r);
    redisFree(c);
    struct test_tls *fresh = tls_connect(path_client_crt, path_client_key);
    expect_serial(fresh, path_server_crt);
    tls_ping_on(fresh);
    tls_ping_on(old);
    shale_test_tls_close(fresh);
    shale_test_tls_close(old);
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    FILE *out = fopen(to, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
        assert_int_equal(fwrite(buf, 1, n, out), n);
    }
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

static void test_sighup_reloads_certificate_files(void **state)
{
    shale_test_skip_on_redis("redis-server ignores SIGHUP");
    char live_crt[PATH_MAX], live_key[PATH_MAX];
    shale_test_cert_path(&certs, "live.crt", live_crt, sizeof live_crt);
    shale_test_cert_path(&certs, "live.key", live_key, sizeof live_key);
    copy_file(path_server_crt, live_crt);
    copy_file(path_server_key, live_key);
    config_set_certs(live_crt, live_key);
    struct test_tls *old = tls_connect(path_client_crt, path_client_key);
    expect_serial(old, path_server_crt);

    /* Renewed files at the same paths, as cert-manager or certbot leave them. */
    copy_file(CERT("server-alt.crt"), live_crt);
    copy_file(CERT("server-alt.key"), live_key);
    long long reloads = info_tls("tls_reloads");
    redisContext *c = shale_test_connect(server);
    redisReply *r = shale_test_command(c, "INFO server");
    const char *pid = shale_test_info_field(r->str, "process_id");
    assert_non_null(pid);
    assert_int_equal(kill((pid_t)atoll(pid), SIGHUP), 0);
    freeReplyObject(r);
    redisFree(c);
    long long deadline = shale_test_now_ms() + 5000;
    while (info_tls("tls_reloads") == reloads && shale_test_now_ms() < deadline) {
        shale_test_sleep_ms(20);
    }
    assert_int_equal(info_tls("tls_reloads"), reloads + 1);

    struct test_tls *fresh = tls_connect(path_client_crt, path_client_key);
    expect_serial(fresh, CERT("server-alt.crt"));
    tls_ping_on(fresh);
    tls_ping_on(old);
    shale_test_tls_close(fresh);
    shale_test_tls_close(old);
    config_set_certs(path_server_crt, path_server_key);
}

static void test_session_resumption(void **state)
{
    struct test_tls *first = tls_connect(path_client_crt, path_client_key);
    tls_ping_on(first); /* a TLS 1.3 ticket arrives with the first reply */
    char err[512];
    struct test_tls *again = shale_test_tls_reconnect(first, err, sizeof err);
    if (again == NULL) {
        fail_msg("reconnect: %s", err);
    }
    assert_true(shale_test_tls_session_reused(again));
    tls_ping_on(again);
    shale_test_tls_close(again);
    shale_test_tls_close(first);
}

static void test_plaintext_client_on_tls_port(void **state)
{
    int before = shale_test_server_is_redis() ? 0 : log_count("not a TLS client");
    int fd = shale_test_tcp_connect(tls_port);
    assert_true(fd >= 0);
    static const char ping[] = "*1\r\n$4\r\nPING\r\n";
    assert_int_equal(send(fd, ping, sizeof ping - 1, MSG_NOSIGNAL), (ssize_t)(sizeof ping - 1));
    char buf[64];
    ssize_t n = recv(fd, buf, sizeof buf, 0); /* at most a TLS alert, then the close */
    if (n > 0) {
        assert_true(memmem(buf, (size_t)n, "PONG", 4) == NULL);
        assert_true(shale_test_tcp_wait_closed(fd, 5000, NULL));
    } else {
        assert_true(n == 0 || n < 0);
    }
    close(fd);
    expect_ping(path_client_crt, path_client_key);
    if (!shale_test_server_is_redis()) {
        expect_log_count("not a TLS client", before + 1);
    }
}

static void test_tls_client_on_plain_port(void **state)
{
    char err[512];
    struct test_tls *t =
        shale_test_tls_connect(shale_test_server_port(server), path_ca, path_client_crt,
                               path_client_key, 0, err, sizeof err);
    if (t != NULL) {
        shale_test_tls_close(t);
        fail_msg("a TLS handshake on the plain port succeeded");
    }
    redisContext *c = shale_test_connect(server);
    shale_test_assert_status(c, "PONG", "PING");
    redisFree(c);
    if (shale_test_server_is_redis()) {
        return; /* redis-server answers the hello as an inline command */
    }
    /* shale closes at once: the client saw the end of the stream. */
    assert_non_null(strstr(err, "unexpected eof"));
    long long refused = info_tls("tls_plain_port_refused");
    assert_true(refused >= 1);
    expect_log_count("sent a TLS handshake to the plain port", (int)refused);
}

static void test_stalled_handshakes_time_out(void **state)
{
    shale_test_skip_on_redis("tls-handshake-timeout is shale's");
    long long timeouts = info_tls("tls_handshake_timeouts");
    int silent = shale_test_tcp_connect(tls_port);
    int partial = shale_test_tcp_connect(tls_port);
    assert_true(silent >= 0 && partial >= 0);
    /* A record header that promises 512 bytes of ClientHello, then nothing. */
    static const unsigned char header[] = {0x16, 0x03, 0x01, 0x02, 0x00};
    assert_int_equal(send(partial, header, sizeof header, MSG_NOSIGNAL), (ssize_t)sizeof header);
    /* Meanwhile other clients are served. */
    expect_ping(path_client_crt, path_client_key);
    long long start = shale_test_now_ms();
    size_t received = 0;
    assert_true(shale_test_tcp_wait_closed(silent, 5000, &received));
    assert_true(shale_test_tcp_wait_closed(partial, 5000, NULL));
    long long waited = shale_test_now_ms() - start;
    assert_true(waited < 4000); /* tls-handshake-timeout 1, checked every second */
    close(silent);
    close(partial);
    assert_int_equal(info_tls("tls_handshake_timeouts"), timeouts + 2);
    expect_ping(path_client_crt, path_client_key);
}

static void test_refusal_is_logged_once_and_counted(void **state)
{
    shale_test_skip_on_redis("the log lines and INFO fields are shale's");
    long long failures = info_tls("tls_handshake_failures");
    long long handshakes = info_tls("tls_handshakes");
    int lines = log_count("certificate has expired");
    expect_refused(CERT("expired-client.crt"), CERT("expired-client.key"));
    expect_log_count("certificate has expired", lines + 1);
    assert_int_equal(info_tls("tls_handshake_failures"), failures + 1);
    expect_ping(path_client_crt, path_client_key);
    assert_int_equal(info_tls("tls_handshakes"), handshakes + 1);
}

static void test_connections_gauge_and_many_handshakes(void **state)
{
    shale_test_skip_on_redis("the INFO fields are shale's");
    enum { OPEN = 8, SERIAL = 100 };
    struct test_tls *open[OPEN];
    long long base = info_tls("tls_connections");
    for (int i = 0; i < OPEN; i++) {
        open[i] = tls_connect(path_client_crt, path_client_key);
        tls_ping_on(open[i]);
    }
    assert_int_equal(info_tls("tls_connections"), base + OPEN);
    for (int i = 0; i < SERIAL; i++) {
        expect_ping(path_client_crt, path_client_key);
    }
    for (int i = 0; i < OPEN; i++) {
        tls_ping_on(open[i]);
        shale_test_tls_close(open[i]);
    }
    long long deadline = shale_test_now_ms() + 3000;
    while (info_tls("tls_connections") != base && shale_test_now_ms() < deadline) {
        shale_test_sleep_ms(20);
    }
    assert_int_equal(info_tls("tls_connections"), base);
}

struct pinger {
    int count;
    int ok;
    char why[512];
};

static void *pinger_main(void *arg)
{
    struct pinger *p = arg;
    for (int i = 0; i < p->count; i++) {
        char why[512];
        if (shale_test_tls_ping(tls_port, path_ca, path_client_crt, path_client_key, why,
                                sizeof why)) {
            p->ok++;
        } else {
            snprintf(p->why, sizeof p->why, "%s", why);
        }
    }
    return NULL;
}

static void test_reloads_during_concurrent_handshakes(void **state)
{
    /* Contexts are swapped while other threads' handshakes take references
     * to them; every client must be served, by one certificate or the
     * other, and (under ASan) nothing may be used after it is freed. */
    enum { THREADS = 4, PINGS = 40, RELOADS = 30 };
    struct pinger pingers[THREADS] = {0};
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) {
        pingers[i].count = PINGS;
        assert_int_equal(pthread_create(&threads[i], NULL, pinger_main, &pingers[i]), 0);
    }
    redisContext *c = shale_test_connect(server);
    char alt_crt[PATH_MAX], alt_key[PATH_MAX];
    shale_test_cert_path(&certs, "server-alt.crt", alt_crt, sizeof alt_crt);
    shale_test_cert_path(&certs, "server-alt.key", alt_key, sizeof alt_key);
    for (int i = 0; i < RELOADS; i++) {
        bool alt = i % 2 == 0;
        shale_test_assert_status(c, "OK", "CONFIG SET tls-cert-file %s tls-key-file %s",
                                 alt ? alt_crt : path_server_crt, alt ? alt_key : path_server_key);
        shale_test_sleep_ms(10);
    }
    shale_test_assert_status(c, "OK", "CONFIG SET tls-cert-file %s tls-key-file %s",
                             path_server_crt, path_server_key);
    redisFree(c);
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
    }
    for (int i = 0; i < THREADS; i++) {
        if (pingers[i].ok != PINGS) {
            fail_msg("thread %d: %d of %d TLS PINGs answered; last refusal: %s", i, pingers[i].ok,
                     PINGS, pingers[i].why);
        }
    }
}

#define T(name) cmocka_unit_test_setup_teardown(name, test_setup, test_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_redis_cli_tls),
        T(test_pipeline_over_openssl_client),
        T(test_records_buffered_inside_openssl),
        T(test_slow_reader_gets_every_byte),
        T(test_mutual_tls_accepts_client_certificate),
        T(test_mutual_tls_refuses_missing_certificate),
        T(test_mutual_tls_refuses_other_ca),
        T(test_mutual_tls_refuses_expired_certificate),
        T(test_auth_clients_optional_and_no),
        T(test_config_set_reloads_certificate),
        T(test_failed_reload_keeps_current_certificate),
        T(test_sighup_reloads_certificate_files),
        T(test_reloads_during_concurrent_handshakes),
        T(test_session_resumption),
        T(test_plaintext_client_on_tls_port),
        T(test_tls_client_on_plain_port),
        T(test_stalled_handshakes_time_out),
        T(test_refusal_is_logged_once_and_counted),
        T(test_connections_gauge_and_many_handshakes),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
