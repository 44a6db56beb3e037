/* log: see log.h. One line is one write(2), so threads never interleave. */
#include "server/log.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "server/mem.h"

static _Atomic int log_level = LOG_NOTICE;
static _Atomic int log_fd = STDOUT_FILENO;
static _Atomic int log_format = LOG_FORMAT_LEGACY;
static char *log_path; /* main thread */

static int open_log(const char *path)
{
    if (!path || !*path)
        return STDOUT_FILENO;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    return fd < 0 ? STDOUT_FILENO : fd;
}

void shale_log_setup(int level, const char *path)
{
    atomic_store(&log_level, level);
    log_path = path && *path ? shale_strdup(path) : NULL;
    atomic_store(&log_fd, open_log(log_path));
}

void shale_log_set_level(int level)
{
    atomic_store(&log_level, level);
}

void shale_log_teardown(void)
{
    int fd = atomic_exchange(&log_fd, STDOUT_FILENO);
    if (fd != STDOUT_FILENO)
        close(fd);
    shale_free(log_path);
    log_path = NULL;
}

/* dup3 swaps the file behind the same descriptor in one step, so a thread
 * writing a line meanwhile never writes to a closed or reused descriptor. */
void shale_log_reopen(void)
{
    if (!log_path)
        return;
    int fd = open_log(log_path);
    if (fd == STDOUT_FILENO)
        return; /* cannot open: keep writing to the old file */
    int cur = atomic_load(&log_fd);
    if (cur == STDOUT_FILENO) {
        atomic_store(&log_fd, fd);
        return;
    }
    dup3(fd, cur, O_CLOEXEC);
    close(fd);
}

int shale_log_enabled(int level)
{
    return level >= atomic_load_explicit(&log_level, memory_order_relaxed);
}

void shale_log_set_format(int format)
{
    atomic_store(&log_format, format);
}

/* logfmt value: bare when it needs no quoting, else "..." with \" \\ \n. */
static size_t put_logfmt_value(char *out, size_t cap, const char *v)
{
    size_t n = 0;
    int quote = !*v || strpbrk(v, " =\"\\\n\t") != NULL;
    if (quote && n < cap)
        out[n++] = '"';
    for (const char *p = v; *p && n + 2 < cap; p++) {
        if (quote && (*p == '"' || *p == '\\')) {
            out[n++] = '\\';
            out[n++] = *p;
        } else if (*p == '\n') {
            out[n++] = '\\';
            out[n++] = 'n';
        } else {
            out[n++] = *p;
        }
    }
    if (quote && n < cap)
        out[n++] = '"';
    return n;
}

size_t shale_log_format_line(char *out, size_t cap, int format, int level, const struct timeval *tv,
                             int pid, const char *msg)
{
    static const char marks[] = ".-*#";
    static const char *const names[] = {"debug", "verbose", "notice", "warning"};
    struct tm tm;
    int n;
    if (cap < 2)
        return 0;
    if (format == LOG_FORMAT_LOGFMT) {
        time_t secs = tv->tv_sec;
        gmtime_r(&secs, &tm);
        char ts[32];
        strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
        n = snprintf(out, cap, "ts=%s.%03dZ level=%s pid=%d role=master msg=", ts,
                     (int)(tv->tv_usec / 1000), names[level & 3], pid);
        if (n < 0)
            n = 0;
        if ((size_t)n < cap - 2)
            n += (int)put_logfmt_value(out + n, cap - 2 - (size_t)n, msg);
    } else {
        time_t secs = tv->tv_sec;
        localtime_r(&secs, &tm);
        n = snprintf(out, cap, "%d:M ", pid);
        if (n < 0)
            n = 0;
        if ((size_t)n < cap)
            n += (int)strftime(out + n, cap - (size_t)n, "%d %b %Y %H:%M:%S", &tm);
        if ((size_t)n < cap)
            n += snprintf(out + n, cap - (size_t)n, ".%03d %c %s", (int)(tv->tv_usec / 1000),
                          marks[level & 3], msg);
    }
    if ((size_t)n > cap - 2)
        n = (int)cap - 2;
    out[n++] = '\n';
    return (size_t)n;
}

void shale_log_write(int level, const char *fmt, ...)
{
    char msg[1024], line[1400];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    size_t n = shale_log_format_line(line, sizeof(line),
                                     atomic_load_explicit(&log_format, memory_order_relaxed), level,
                                     &tv, (int)getpid(), msg);
    ssize_t w = write(atomic_load_explicit(&log_fd, memory_order_relaxed), line, n);
    (void)w;
}
