/* log: leveled log lines in Redis's format ("pid:role date * message").
 * The level is checked before the arguments are evaluated. Any thread. */
#ifndef SHALE_LOG_H
#define SHALE_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_VERBOSE, LOG_NOTICE, LOG_WARNING };

/* Reads the level and file from config; "" logs to stdout. */
void shale_log_setup(int level, const char *path);
void shale_log_teardown(void);
/* CONFIG SET loglevel. */
void shale_log_set_level(int level);
/* Reopens the log file (after rotation). */
void shale_log_reopen(void);
int shale_log_enabled(int level);
void shale_log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define shale_log(level, ...)                                                                      \
    do {                                                                                           \
        if (shale_log_enabled(level))                                                              \
            shale_log_write(level, __VA_ARGS__);                                                   \
    } while (0)

#endif
