/* config: the one option table. It drives the conf file (redis.conf syntax),
 * `--name value` flags and CONFIG GET; each module reads its own fields.
 * Read-only once the server threads have started. */
#ifndef SHALE_CONFIG_H
#define SHALE_CONFIG_H

#include <stddef.h>

enum config_type {
    CONFIG_INT,    /* integer within [min, max] */
    CONFIG_MEMORY, /* bytes, accepts 1k/1kb/1m/1mb/1g/1gb */
    CONFIG_BOOL,   /* yes/no */
    CONFIG_STRING,
    CONFIG_ENUM, /* one of the words in `choices` */
};

#define CONFIG_NO_CHOICES NULL
#define LOGLEVEL_CHOICES  "debug verbose notice warning"

/* The table reads as columns: keep the formatter out. */
/* clang-format off */
/* X(field, name, type, default, min, max, choices, help) */
#define SHALE_CONFIG_OPTIONS(X)                                                                    \
    X(port, "port", CONFIG_INT, "6379", 0, 65535, NULL, "TCP port (0: no plain listener)")        \
    X(bind, "bind", CONFIG_STRING, "127.0.0.1 -::1", 0, 0, NULL, "addresses to listen on")        \
    X(tcp_backlog, "tcp-backlog", CONFIG_INT, "511", 1, 65535, NULL, "listen(2) backlog")         \
    X(io_threads, "io-threads", CONFIG_INT, "0", 0, 128, NULL,                                     \
      "I/O threads (0: derived from CPUs)")                                                        \
    X(shards, "shards", CONFIG_INT, "0", 0, 256, NULL, "shard threads (0: derived from CPUs)")     \
    X(databases, "databases", CONFIG_INT, "16", 1, 256, NULL, "number of databases")              \
    X(requirepass, "requirepass", CONFIG_STRING, "", 0, 0, NULL, "password of the default user")  \
    X(maxclients, "maxclients", CONFIG_INT, "10000", 1, 1000000, NULL, "max connected clients")   \
    X(timeout, "timeout", CONFIG_INT, "0", 0, 2147483647, NULL,                                    \
      "close clients idle this many seconds (0: never)")                                           \
    X(proto_max_bulk_len, "proto-max-bulk-len", CONFIG_MEMORY, "512mb", 1048576, 2147483647,      \
      NULL, "largest bulk string argument")                                                        \
    X(proto_max_multibulk_len, "proto-max-multibulk-len", CONFIG_INT, "1048576", 1, 2147483647,   \
      NULL, "most arguments in one command")                                                       \
    X(client_query_buffer_limit, "client-query-buffer-limit", CONFIG_MEMORY, "1gb", 1048576,      \
      4294967296LL, NULL, "largest unparsed input of one client")                                  \
    X(io_thread_requests, "io-thread-requests", CONFIG_INT, "4096", 64, 1048576, NULL,            \
      "request slots per I/O thread (in-flight commands)")                                         \
    X(client_max_inflight, "client-max-inflight", CONFIG_INT, "1024", 1, 1048576, NULL,           \
      "in-flight commands per client before its reads pause")                                      \
    X(io_buffers, "io-buffers", CONFIG_INT, "256", 1, 1048576, NULL,                               \
      "16KB read buffers pooled per I/O thread")                                                   \
    X(spin_us, "spin-us", CONFIG_INT, "-1", -1, 10000, NULL,                                       \
      "microseconds a thread polls its queues before sleeping (-1: auto)")                         \
    X(hash_max_listpack_entries, "hash-max-listpack-entries", CONFIG_INT, "128", 0,               \
      9223372036854775807LL, NULL, "most fields a hash keeps in the compact encoding")            \
    X(hash_max_listpack_value, "hash-max-listpack-value", CONFIG_MEMORY, "64", 0,                  \
      9223372036854775807LL, NULL, "longest field or value a compact hash holds")                  \
    X(loglevel, "loglevel", CONFIG_ENUM, "notice", 0, 0, LOGLEVEL_CHOICES, "log verbosity")       \
    X(logfile, "logfile", CONFIG_STRING, "", 0, 0, NULL, "log file (empty: stdout)")              \
    X(save, "save", CONFIG_STRING, "", 0, 0, NULL, "accepted for compatibility; no persistence")  \
    X(appendonly, "appendonly", CONFIG_BOOL, "no", 0, 0, NULL,                                     \
      "accepted for compatibility; must be no")

/* clang-format on */

struct config {
#define CONFIG_FIELD(field, name, type, def, min, max, choices, help) CONFIG_CTYPE_##type field;
#define CONFIG_CTYPE_CONFIG_INT                                       long long
#define CONFIG_CTYPE_CONFIG_MEMORY                                    long long
#define CONFIG_CTYPE_CONFIG_BOOL                                      long long
#define CONFIG_CTYPE_CONFIG_ENUM                                      long long
#define CONFIG_CTYPE_CONFIG_STRING                                    char *
    SHALE_CONFIG_OPTIONS(CONFIG_FIELD)
#undef CONFIG_FIELD
};

/* Fills every field with its default. */
void shale_config_init(struct config *cfg);
void shale_config_deinit(struct config *cfg);
/* Loads `path` (redis.conf syntax), then argv-style `--name value...` pairs.
 * On error writes a message to err and returns -1. */
int shale_config_load_file(struct config *cfg, const char *path, char *err, size_t errlen);
int shale_config_load_args(struct config *cfg, int argc, char **argv, char *err, size_t errlen);
/* Sets one option by name from its text form (the conf file path). */
int shale_config_set(struct config *cfg, const char *name, const char *const *values, int nvalues,
                     char *err, size_t errlen);

/* CONFIG GET: calls emit(name, value) for every option matching the glob. */
void shale_config_get(const struct config *cfg, const char *pattern, size_t patlen,
                      void (*emit)(void *ctx, const char *name, const char *value), void *ctx);

#endif
