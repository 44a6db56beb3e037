/* log: leveled log lines, one line per event, in Redis's format
 * ("pid:role date mark message") or as logfmt key=value pairs for log
 * pipelines. The level is checked before the arguments are evaluated.
 * Any thread; never called once per request. */
#ifndef SHALE_LOG_H
#define SHALE_LOG_H

#include <stddef.h>
#include <sys/time.h>

enum log_level { LOG_DEBUG = 0, LOG_VERBOSE, LOG_NOTICE, LOG_WARNING };
/* log-format values (the order of LOG_FORMAT_CHOICES in config.h). */
enum log_format { LOG_FORMAT_LEGACY = 0, LOG_FORMAT_LOGFMT };

/* Reads the level and file from config; "" logs to stdout. */
void shale_log_setup(int level, const char *path);
void shale_log_teardown(void);
/* CONFIG SET loglevel. */
void shale_log_set_level(int level);
/* log-format (start-up and CONFIG SET). */
void shale_log_set_format(int format);
/* Reopens the log file (after rotation: SIGHUP). */
void shale_log_reopen(void);
int shale_log_enabled(int level);
void shale_log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One formatted line, newline included, truncated to fit; returns its
 * length. Pure (the unit tests call it). */
size_t shale_log_format_line(char *out, size_t cap, int format, int level, const struct timeval *tv,
                             int pid, const char *msg);

#define shale_log(level, ...)                                                                      \
    do {                                                                                           \
        if (shale_log_enabled(level))                                                              \
            shale_log_write(level, __VA_ARGS__);                                                   \
    } while (0)

#endif
