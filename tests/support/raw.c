/*
 * Raw TCP client for integration tests: a socket with a receive buffer,
 * byte-exact expectations and a small RESP3 parser.  Main test thread only.
 */
#include "tests/support/raw.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include "tests/support/reply.h"
#include "tests/support/server.h"

#define SHOW_CAP   4096
#define MAX_DEPTH  32
#define LINE_LIMIT (64 * 1024)

struct test_raw {
    int fd;
    char *buf; /* received, not yet consumed: buf[start, end) */
    size_t cap;
    size_t start;
    size_t end;
    bool closed;     /* EOF or reset seen */
    int close_errno; /* 0 for an orderly EOF */
};

static void fail_raw(const char *file, int line)
{
    shale_test_server_report_failure();
    _fail(file, line);
}

struct test_raw *shale_test_raw_connect_at(const char *file, int line, struct test_server *server)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)shale_test_server_port(server))};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        print_error("raw connect to port %d: %s\n", shale_test_server_port(server),
                    strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        fail_raw(file, line);
        return NULL;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct test_raw *raw = calloc(1, sizeof *raw);
    raw->fd = fd;
    raw->cap = 64 * 1024;
    raw->buf = malloc(raw->cap);
    return raw;
}

void shale_test_raw_close(struct test_raw *raw)
{
    if (raw == NULL) {
        return;
    }
    close(raw->fd);
    free(raw->buf);
    free(raw);
}

bool shale_test_raw_peer_closed(const struct test_raw *raw)
{
    return raw->closed;
}

bool shale_test_raw_send_at(const char *file, int line, struct test_raw *raw, const void *data,
                            size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(raw->fd, p, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EPIPE || errno == ECONNRESET) {
                return false;
            }
            print_error("raw send: %s\n", strerror(errno));
            fail_raw(file, line);
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

void shale_test_raw_command_at(const char *file, int line, struct test_raw *raw, ...)
{
    va_list ap;
    size_t argc = 0;
    size_t total = 32;
    va_start(ap, raw);
    for (const char *arg = va_arg(ap, const char *); arg != NULL; arg = va_arg(ap, const char *)) {
        argc++;
        total += strlen(arg) + 32;
    }
    va_end(ap);
    char *out = malloc(total);
    size_t at = (size_t)snprintf(out, total, "*%zu\r\n", argc);
    va_start(ap, raw);
    for (const char *arg = va_arg(ap, const char *); arg != NULL; arg = va_arg(ap, const char *)) {
        size_t n = strlen(arg);
        at += (size_t)snprintf(out + at, total - at, "$%zu\r\n", n);
        memcpy(out + at, arg, n);
        at += n;
        memcpy(out + at, "\r\n", 2);
        at += 2;
    }
    va_end(ap);
    bool sent = shale_test_raw_send_at(file, line, raw, out, at);
    free(out);
    if (!sent) {
        print_error("raw command: the server closed the connection\n");
        fail_raw(file, line);
    }
}

/*
 * Waits until data arrives (or EOF) before the deadline and appends it to the
 * buffer.  Returns false on timeout or when the connection is closed.
 */
static bool fill(struct test_raw *raw, long long deadline)
{
    if (raw->closed) {
        return false;
    }
    if (raw->start > 0 && raw->start == raw->end) {
        raw->start = raw->end = 0;
    }
    if (raw->end == raw->cap) {
        if (raw->start > 0) {
            memmove(raw->buf, raw->buf + raw->start, raw->end - raw->start);
            raw->end -= raw->start;
            raw->start = 0;
        } else {
            raw->cap *= 2;
            raw->buf = realloc(raw->buf, raw->cap);
        }
    }
    for (;;) {
        long long left = deadline - shale_test_now_ms();
        if (left < 0) {
            return false;
        }
        struct pollfd pfd = {.fd = raw->fd, .events = POLLIN};
        int r = poll(&pfd, 1, (int)left);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return false;
        }
        ssize_t n = recv(raw->fd, raw->buf + raw->end, raw->cap - raw->end, 0);
        if (n > 0) {
            raw->end += (size_t)n;
            return true;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        raw->closed = true;
        raw->close_errno = n == 0 ? 0 : errno;
        return false;
    }
}

static size_t buffered(const struct test_raw *raw)
{
    return raw->end - raw->start;
}

size_t shale_test_raw_read(struct test_raw *raw, char *buf, size_t want, int timeout_ms)
{
    long long deadline = shale_test_now_ms() + timeout_ms;
    while (buffered(raw) < want && fill(raw, deadline)) {
    }
    size_t n = buffered(raw) < want ? buffered(raw) : want;
    memcpy(buf, raw->buf + raw->start, n);
    raw->start += n;
    return n;
}

static const char *close_text(const struct test_raw *raw)
{
    if (!raw->closed) {
        return "connection still open";
    }
    return raw->close_errno == 0 ? "connection closed by the server"
                                 : "connection reset by the server";
}

void shale_test_raw_expect_at(const char *file, int line, struct test_raw *raw,
                              const char *expected, size_t len)
{
    char *got = malloc(len + 1);
    size_t n = shale_test_raw_read(raw, got, len, SHALE_TEST_RAW_TIMEOUT_MS);
    if (n != len || memcmp(got, expected, len) != 0) {
        char exp_esc[SHOW_CAP];
        char got_esc[SHOW_CAP];
        shale_test_escape(expected, len, exp_esc, sizeof exp_esc);
        shale_test_escape(got, n, got_esc, sizeof got_esc);
        print_error("expected bytes: \"%s\"\nreceived bytes: \"%s\"%s\n(%s)\n", exp_esc, got_esc,
                    n < len ? " and then nothing" : "", close_text(raw));
        free(got);
        fail_raw(file, line);
        return;
    }
    free(got);
}

void shale_test_raw_expect_closed_at(const char *file, int line, struct test_raw *raw)
{
    long long deadline = shale_test_now_ms() + SHALE_TEST_RAW_TIMEOUT_MS;
    while (buffered(raw) == 0 && fill(raw, deadline)) {
    }
    if (buffered(raw) > 0) {
        char esc[SHOW_CAP];
        shale_test_escape(raw->buf + raw->start, buffered(raw), esc, sizeof esc);
        print_error("expected the server to close the connection, received \"%s\"\n", esc);
        fail_raw(file, line);
        return;
    }
    if (!raw->closed) {
        print_error("expected the server to close the connection; still open after %d ms\n",
                    SHALE_TEST_RAW_TIMEOUT_MS);
        fail_raw(file, line);
    }
}

void shale_test_raw_expect_silence_at(const char *file, int line, struct test_raw *raw, int ms)
{
    long long deadline = shale_test_now_ms() + ms;
    while (buffered(raw) == 0 && fill(raw, deadline)) {
    }
    if (buffered(raw) > 0 || raw->closed) {
        char esc[SHOW_CAP];
        shale_test_escape(raw->buf + raw->start, buffered(raw), esc, sizeof esc);
        print_error("expected no reply for %d ms, received \"%s\" (%s)\n", ms, esc,
                    close_text(raw));
        fail_raw(file, line);
    }
}

/* ---- RESP3 parser ---------------------------------------------------- */

struct parse {
    struct test_raw *raw;
    long long deadline;
    char error[256];
};

/* Takes one CRLF-terminated line off the buffer into a fresh string. */
static char *take_line(struct parse *p, size_t *len)
{
    struct test_raw *raw = p->raw;
    size_t scanned = 0;
    for (;;) {
        const char *base = raw->buf + raw->start;
        for (; scanned + 1 < buffered(raw); scanned++) {
            if (base[scanned] == '\r' && base[scanned + 1] == '\n') {
                char *line = malloc(scanned + 1);
                memcpy(line, base, scanned);
                line[scanned] = '\0';
                *len = scanned;
                raw->start += scanned + 2;
                return line;
            }
        }
        if (buffered(raw) > LINE_LIMIT) {
            snprintf(p->error, sizeof p->error, "no CRLF within %d bytes", LINE_LIMIT);
            return NULL;
        }
        if (!fill(raw, p->deadline)) {
            snprintf(p->error, sizeof p->error, "%s while reading a reply",
                     raw->closed ? close_text(raw) : "timeout");
            return NULL;
        }
    }
}

static bool parse_ll(const char *s, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0') {
        return false;
    }
    *out = v;
    return true;
}

static struct test_resp *parse_reply(struct parse *p, int depth)
{
    if (depth > MAX_DEPTH) {
        snprintf(p->error, sizeof p->error, "nesting deeper than %d", MAX_DEPTH);
        return NULL;
    }
    size_t len;
    char esc[200];
    char *line = take_line(p, &len);
    if (line == NULL) {
        return NULL;
    }
    struct test_resp *r = calloc(1, sizeof *r);
    r->type = line[0];
    const char *rest = len > 0 ? line + 1 : line;
    long long n = 0;
    switch (r->type) {
    case '+':
    case '-':
    case ',':
    case '(':
        r->str = strdup(rest);
        r->len = strlen(rest);
        break;
    case ':':
        if (!parse_ll(rest, &r->integer)) {
            goto bad;
        }
        r->str = strdup(rest);
        r->len = strlen(rest);
        break;
    case '_':
        if (*rest != '\0') {
            goto bad;
        }
        r->is_null = true;
        break;
    case '#':
        if (strcmp(rest, "t") != 0 && strcmp(rest, "f") != 0) {
            goto bad;
        }
        r->integer = *rest == 't';
        break;
    case '$':
    case '!':
    case '=':
        if (!parse_ll(rest, &n) || n < -1 || (n == -1 && r->type != '$')) {
            goto bad;
        }
        if (n == -1) {
            r->is_null = true;
            break;
        }
        while (buffered(p->raw) < (size_t)n + 2) {
            if (!fill(p->raw, p->deadline)) {
                snprintf(p->error, sizeof p->error, "%s inside a %lld-byte string",
                         p->raw->closed ? close_text(p->raw) : "timeout", n);
                free(line);
                shale_test_resp_free(r);
                return NULL;
            }
        }
        r->str = malloc((size_t)n + 1);
        memcpy(r->str, p->raw->buf + p->raw->start, (size_t)n);
        r->str[n] = '\0';
        r->len = (size_t)n;
        if (memcmp(p->raw->buf + p->raw->start + n, "\r\n", 2) != 0) {
            goto bad;
        }
        p->raw->start += (size_t)n + 2;
        break;
    case '*':
    case '~':
    case '>':
    case '%':
    case '|':
        if (!parse_ll(rest, &n) || n < -1 || (n == -1 && r->type != '*')) {
            goto bad;
        }
        if (n == -1) {
            r->is_null = true;
            break;
        }
        if (r->type == '%' || r->type == '|') {
            n *= 2;
        }
        r->element = calloc((size_t)n + 1, sizeof *r->element);
        for (long long i = 0; i < n; i++) {
            r->element[i] = parse_reply(p, depth + 1);
            if (r->element[i] == NULL) {
                free(line);
                shale_test_resp_free(r);
                return NULL;
            }
            r->elements++;
        }
        break;
    default:
        goto bad;
    }
    free(line);
    return r;
bad:
    shale_test_escape(line, len, esc, sizeof esc);
    snprintf(p->error, sizeof p->error, "malformed reply line \"%s\"", esc);
    free(line);
    shale_test_resp_free(r);
    return NULL;
}

struct test_resp *shale_test_raw_read_reply_at(const char *file, int line, struct test_raw *raw)
{
    struct parse p = {.raw = raw, .deadline = shale_test_now_ms() + SHALE_TEST_RAW_TIMEOUT_MS};
    struct test_resp *r = parse_reply(&p, 0);
    if (r == NULL) {
        print_error("reading a RESP reply: %s\n", p.error);
        fail_raw(file, line);
    }
    return r;
}

void shale_test_resp_free(struct test_resp *resp)
{
    if (resp == NULL) {
        return;
    }
    for (size_t i = 0; i < resp->elements; i++) {
        shale_test_resp_free(resp->element[i]);
    }
    free(resp->element);
    free(resp->str);
    free(resp);
}

const struct test_resp *shale_test_resp_map_get(const struct test_resp *map, const char *key)
{
    if (map == NULL || (map->type != '%' && map->type != '|')) {
        return NULL;
    }
    size_t klen = strlen(key);
    for (size_t i = 0; i + 1 < map->elements; i += 2) {
        const struct test_resp *k = map->element[i];
        if (k->str != NULL && k->len == klen && memcmp(k->str, key, klen) == 0) {
            return map->element[i + 1];
        }
    }
    return NULL;
}
