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

void shale_log_reopen(void)
{
    if (!log_path)
        return;
    int old = atomic_exchange(&log_fd, open_log(log_path));
    if (old != STDOUT_FILENO)
        close(old);
}

int shale_log_enabled(int level)
{
    return level >= atomic_load_explicit(&log_level, memory_order_relaxed);
}

void shale_log_write(int level, const char *fmt, ...)
{
    static const char marks[] = ".-*#";
    char line[1024];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%d:M ", (int)getpid());
    n += (int)strftime(line + n, sizeof(line) - (size_t)n, "%d %b %Y %H:%M:%S", &tm);
    n += snprintf(line + n, sizeof(line) - (size_t)n, ".%03d %c ", (int)(tv.tv_usec / 1000),
                  marks[level & 3]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    n = m < 0 ? n : n + m;
    if (n > (int)sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    ssize_t w = write(atomic_load_explicit(&log_fd, memory_order_relaxed), line, (size_t)n);
    (void)w;
}
