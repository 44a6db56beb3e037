/*
 * HTTP/1.0 GET over a raw socket (see http.h).
 */
#include "tests/support/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool shale_test_http_get(int port, const char *path, int timeout_ms, struct test_http_reply *reply)
{
    memset(reply, 0, sizeof(*reply));
    reply->status = -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        return false;
    }
    char req[512];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return false;
    }
    size_t cap = 64 * 1024, len = 0;
    char *buf = malloc(cap + 1);
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        long long left = deadline - now_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
            break;
        }
        if (len == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            break;
        }
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    char *end = strstr(buf, "\r\n\r\n");
    int status;
    if (end == NULL || sscanf(buf, "HTTP/1.%*d %d", &status) != 1) {
        free(buf);
        return false;
    }
    *end = '\0';
    reply->status = status;
    reply->headers = buf;
    reply->body = end + 4;
    reply->body_len = len - (size_t)(reply->body - buf);
    return true;
}

void shale_test_http_reply_free(struct test_http_reply *reply)
{
    free(reply->headers); /* body points into the same block */
    memset(reply, 0, sizeof(*reply));
}

const char *shale_test_http_header(const struct test_http_reply *reply, const char *name)
{
    static char value[256];
    size_t nl = strlen(name);
    for (const char *line = reply->headers; line != NULL && *line;) {
        const char *eol = strstr(line, "\r\n");
        size_t ll = eol != NULL ? (size_t)(eol - line) : strlen(line);
        if (ll > nl && line[nl] == ':' && strncasecmp(line, name, nl) == 0) {
            const char *v = line + nl + 1;
            while (*v == ' ') {
                v++;
            }
            snprintf(value, sizeof value, "%.*s", (int)(ll - (size_t)(v - line)), v);
            return value;
        }
        line = eol != NULL ? eol + 2 : NULL;
    }
    return NULL;
}
