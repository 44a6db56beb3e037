/* config: the one option table. It drives the conf file (redis.conf syntax),
 * `--name value` flags and CONFIG GET; each module reads its own fields.
 * Read-only once the server threads have started. */
#ifndef SHALE_CONFIG_H
#define SHALE_CONFIG_H

#include <pthread.h>
#include <stddef.h>

#include "server/obuf_limit.h"

enum config_type {
    CONFIG_INT,    /* integer within [min, max] */
    CONFIG_MEMORY, /* bytes, accepts 1k/1kb/1m/1mb/1g/1gb */
    CONFIG_BOOL,   /* yes/no */
    CONFIG_STRING,
    CONFIG_ENUM, /* one of the words in `choices` */
};

#define CONFIG_NO_CHOICES        NULL
#define LOGLEVEL_CHOICES         "debug verbose notice warning"
#define LOG_FORMAT_CHOICES       "legacy logfmt"
#define PROTECTED_ACTION_CHOICES "no yes local" /* enable-debug-command, as Redis */
/* Redis's order; shards/evict.h's enum evict_policy follows it. */
#define MAXMEMORY_POLICY_CHOICES                                                                   \
    "volatile-lru volatile-lfu volatile-random volatile-ttl allkeys-lru allkeys-lfu "              \
    "allkeys-random noeviction"

/* The table reads as columns: keep the formatter out. */
/* clang-format off */
/* X(field, name, type, default, min, max, choices, mode, help)
 * mode: CONFIG_LIVE options may change at run time (CONFIG SET); readers on
 * other threads load them with config_live(). CONFIG_FIXED ones are frozen
 * once the threads start. */
#define SHALE_CONFIG_OPTIONS(X)                                                                    \
    /* ---- network ---- */                                                                        \
    X(port, "port", CONFIG_INT, "6379", 0, 65535, NULL, CONFIG_FIXED,                              \
      "TCP port (0: no plain listener)")                                                           \
    X(bind, "bind", CONFIG_STRING, "127.0.0.1 -::1", 0, 0, NULL, CONFIG_FIXED,                     \
      "addresses to listen on")                                                                    \
    X(tcp_backlog, "tcp-backlog", CONFIG_INT, "511", 1, 65535, NULL, CONFIG_FIXED,                 \
      "listen(2) backlog")                                                                         \
    /* ---- threads and static pools ---- */                                                       \
    X(io_threads, "io-threads", CONFIG_INT, "0", 0, 128, NULL, CONFIG_FIXED,                       \
      "I/O threads (0: derived from CPUs)")                                                        \
    X(shards, "shards", CONFIG_INT, "0", 0, 256, NULL, CONFIG_FIXED,                               \
      "shard threads (0: derived from CPUs)")                                                      \
    X(io_thread_requests, "io-thread-requests", CONFIG_INT, "4096",                                \
      64, 1048576, NULL, CONFIG_FIXED,                                                             \
      "request slots per I/O thread (in-flight commands)")                                         \
    X(client_max_inflight, "client-max-inflight", CONFIG_INT, "1024",                              \
      1, 1048576, NULL, CONFIG_LIVE,                                                               \
      "in-flight commands per client before its reads pause")                                      \
    X(io_buffers, "io-buffers", CONFIG_INT, "256", 1, 1048576, NULL, CONFIG_FIXED,                 \
      "16KB read buffers pooled per I/O thread")                                                   \
    X(spin_us, "spin-us", CONFIG_INT, "-1", -1, 10000, NULL, CONFIG_FIXED,                         \
      "microseconds a thread polls its queues before sleeping (-1: auto)")                         \
    /* ---- clients and limits ---- */                                                             \
    X(requirepass, "requirepass", CONFIG_STRING, "", 0, 0, NULL, CONFIG_LIVE,                      \
      "password of the default user")                                                              \
    X(maxclients, "maxclients", CONFIG_INT, "10000", 1, 1000000, NULL, CONFIG_FIXED,                \
      "max connected clients")                                                                     \
    X(timeout, "timeout", CONFIG_INT, "0", 0, 2147483647, NULL, CONFIG_LIVE,                       \
      "close clients idle this many seconds (0: never)")                                           \
    X(proto_max_bulk_len, "proto-max-bulk-len", CONFIG_MEMORY, "512mb",                            \
      1048576, 2147483647, NULL, CONFIG_LIVE,                                                      \
      "largest bulk string argument")                                                              \
    X(proto_max_multibulk_len, "proto-max-multibulk-len", CONFIG_INT, "1048576",                   \
      1, 2147483647, NULL, CONFIG_LIVE,                                                            \
      "most arguments in one command")                                                             \
    X(client_query_buffer_limit, "client-query-buffer-limit", CONFIG_MEMORY, "1gb",                \
      1048576, 4294967296LL, NULL, CONFIG_LIVE,                                                    \
      "largest unparsed input of one client")                                                      \
    /* ---- introspection ---- */                                                                  \
    X(slowlog_log_slower_than, "slowlog-log-slower-than", CONFIG_INT, "10000",                     \
      -1, 9223372036854775807LL, NULL, CONFIG_LIVE,                                                \
      "SLOWLOG keeps commands that ran at least this many microseconds (-1: none)")                \
    X(slowlog_max_len, "slowlog-max-len", CONFIG_INT, "128", 0, 9223372036854775807LL, NULL,        \
      CONFIG_LIVE, "entries SLOWLOG keeps")                                                        \
    X(latency_tracking, "latency-tracking", CONFIG_BOOL, "yes", 0, 0, NULL, CONFIG_LIVE,           \
      "per-command latency histograms for INFO latencystats")                                      \
    X(client_output_buffer_limit, "client-output-buffer-limit", CONFIG_STRING,                     \
      OBUF_LIMIT_DEFAULT, 0, 0, NULL, CONFIG_LIVE,                                                 \
      "class hard soft seconds: close clients whose unread replies exceed it")                     \
    /* ---- keyspace and types ---- */                                                             \
    X(databases, "databases", CONFIG_INT, "16", 1, 256, NULL, CONFIG_FIXED,                        \
      "number of databases")                                                                       \
    X(hash_max_listpack_entries, "hash-max-listpack-entries", CONFIG_INT, "128",                   \
      0, 9223372036854775807LL, NULL, CONFIG_LIVE,                                                 \
      "most fields a hash keeps in the compact encoding")                                          \
    X(hash_max_listpack_value, "hash-max-listpack-value", CONFIG_MEMORY, "64",                     \
      0, 9223372036854775807LL, NULL, CONFIG_LIVE,                                                 \
      "longest field or value a compact hash holds")                                               \
    /* ---- memory and eviction ---- */                                                            \
    X(maxmemory, "maxmemory", CONFIG_MEMORY, "0", 0, 9223372036854775807LL, NULL, CONFIG_LIVE,     \
      "cap on used_memory, static plan included (0: none, or a cgroup-derived default)")           \
    X(maxmemory_policy, "maxmemory-policy", CONFIG_ENUM, "noeviction", 0, 0,                       \
      MAXMEMORY_POLICY_CHOICES, CONFIG_LIVE, "what to evict when over maxmemory")                  \
    X(maxmemory_samples, "maxmemory-samples", CONFIG_INT, "5", 1, 2147483647, NULL, CONFIG_LIVE,   \
      "keys sampled per eviction round (above 64: 64)")                                            \
    X(maxmemory_eviction_tenacity, "maxmemory-eviction-tenacity", CONFIG_INT, "10", 0, 100,        \
      NULL, CONFIG_LIVE, "eviction time per command (10: 500 us; 100: unlimited)")                 \
    X(lfu_log_factor, "lfu-log-factor", CONFIG_INT, "10", 0, 2147483647, NULL, CONFIG_LIVE,        \
      "accesses per LFU counter step grow with this factor")                                       \
    X(lfu_decay_time, "lfu-decay-time", CONFIG_INT, "1", 0, 2147483647, NULL, CONFIG_LIVE,         \
      "minutes idle per LFU counter decrement (0: no decay)")                                      \
    /* ---- active defragmentation ---- */                                                         \
    X(activedefrag, "activedefrag", CONFIG_BOOL, "no", 0, 0, NULL, CONFIG_LIVE,                    \
      "move allocations out of sparse slabs to give fragmented memory back")                       \
    X(active_defrag_ignore_bytes, "active-defrag-ignore-bytes", CONFIG_MEMORY, "100mb",            \
      1, 9223372036854775807LL, NULL, CONFIG_LIVE,                                                 \
      "no defrag below this much fragmentation overhead")                                          \
    X(active_defrag_threshold_lower, "active-defrag-threshold-lower", CONFIG_INT, "10",            \
      0, 1000, NULL, CONFIG_LIVE, "fragmentation % that starts defrag")                            \
    X(active_defrag_threshold_upper, "active-defrag-threshold-upper", CONFIG_INT, "100",           \
      0, 1000, NULL, CONFIG_LIVE, "fragmentation % at which defrag uses cycle-max")                \
    X(active_defrag_cycle_min, "active-defrag-cycle-min", CONFIG_INT, "1", 1, 99, NULL,            \
      CONFIG_LIVE, "least CPU % for defrag at threshold-lower")                                    \
    X(active_defrag_cycle_max, "active-defrag-cycle-max", CONFIG_INT, "25", 1, 99, NULL,           \
      CONFIG_LIVE, "most CPU % for defrag (also each shard's cap)")                                \
    X(active_defrag_max_scan_fields, "active-defrag-max-scan-fields", CONFIG_INT, "1000",          \
      1, 9223372036854775807LL, NULL, CONFIG_LIVE,                                                 \
      "collections larger than this are defragged in steps")                                       \
    X(active_defrag_cycle_us, "active-defrag-cycle-us", CONFIG_INT, "500", 1, 100000, NULL,        \
      CONFIG_LIVE, "longest single run of a shard's defrag timer, in microseconds")                \
    /* ---- tls ---- */                                                                            \
    X(tls_port, "tls-port", CONFIG_INT, "0", 0, 65535, NULL, CONFIG_FIXED,                         \
      "TLS port (0: no TLS listener)")                                                             \
    X(tls_cert_file, "tls-cert-file", CONFIG_STRING, "", 0, 0, NULL, CONFIG_LIVE,                  \
      "server certificate chain (PEM); CONFIG SET reloads")                                        \
    X(tls_key_file, "tls-key-file", CONFIG_STRING, "", 0, 0, NULL, CONFIG_LIVE,                    \
      "private key of tls-cert-file (PEM)")                                                        \
    X(tls_key_file_pass, "tls-key-file-pass", CONFIG_STRING, "", 0, 0, NULL, CONFIG_LIVE,          \
      "passphrase of tls-key-file, if encrypted")                                                  \
    X(tls_ca_cert_file, "tls-ca-cert-file", CONFIG_STRING, "", 0, 0, NULL, CONFIG_LIVE,            \
      "CA certificates that sign client certificates (PEM)")                                       \
    X(tls_ca_cert_dir, "tls-ca-cert-dir", CONFIG_STRING, "", 0, 0, NULL, CONFIG_LIVE,              \
      "directory of CA certificates (c_rehash layout)")                                            \
    X(tls_auth_clients, "tls-auth-clients", CONFIG_ENUM, "yes", 0, 0, "no yes optional",           \
      CONFIG_LIVE, "client certificates: yes (required), optional, no")                            \
    X(tls_protocols, "tls-protocols", CONFIG_STRING, "", 0, 0, NULL, CONFIG_LIVE,                  \
      "allowed versions, e.g. TLSv1.2 TLSv1.3 (empty: those two)")                                 \
    X(tls_ciphers, "tls-ciphers", CONFIG_STRING, "", 0, 0, NULL, CONFIG_LIVE,                      \
      "TLSv1.2 cipher list (empty: OpenSSL default)")                                              \
    X(tls_ciphersuites, "tls-ciphersuites", CONFIG_STRING, "", 0, 0, NULL, CONFIG_LIVE,            \
      "TLSv1.3 cipher suites (empty: OpenSSL default)")                                            \
    X(tls_prefer_server_ciphers, "tls-prefer-server-ciphers", CONFIG_BOOL, "no", 0, 0, NULL,       \
      CONFIG_LIVE, "server picks the cipher by its own order")                                     \
    X(tls_session_caching, "tls-session-caching", CONFIG_BOOL, "yes", 0, 0, NULL, CONFIG_LIVE,     \
      "resume TLS sessions")                                                                       \
    X(tls_session_cache_size, "tls-session-cache-size", CONFIG_INT, "20480",                       \
      0, 2147483647, NULL, CONFIG_LIVE, "sessions kept for resumption")                            \
    X(tls_session_cache_timeout, "tls-session-cache-timeout", CONFIG_INT, "300",                   \
      0, 2147483647, NULL, CONFIG_LIVE, "seconds a cached session stays valid")                    \
    X(tls_handshake_timeout, "tls-handshake-timeout", CONFIG_INT, "10", 1, 3600, NULL,             \
      CONFIG_LIVE, "seconds a TLS handshake may take before the client is closed")                 \
    /* ---- operations and logging ---- */                                                         \
    X(loglevel, "loglevel", CONFIG_ENUM, "notice", 0, 0, LOGLEVEL_CHOICES, CONFIG_LIVE,            \
      "log verbosity")                                                                             \
    X(logfile, "logfile", CONFIG_STRING, "", 0, 0, NULL, CONFIG_FIXED,                             \
      "log file (empty: stdout)")                                                                  \
    X(log_format, "log-format", CONFIG_ENUM, "legacy", 0, 0, LOG_FORMAT_CHOICES, CONFIG_LIVE,      \
      "log line format: legacy (Redis-like) or logfmt (key=value)")                                \
    X(admin_port, "admin-port", CONFIG_INT, "0", 0, 65535, NULL, CONFIG_FIXED,                     \
      "admin HTTP port: /metrics, /healthz, /readyz (0: off)")                                     \
    X(admin_bind, "admin-bind", CONFIG_STRING, "127.0.0.1", 0, 0, NULL, CONFIG_FIXED,              \
      "addresses the admin HTTP port listens on")                                                  \
    X(shutdown_timeout, "shutdown-timeout", CONFIG_INT, "10", 0, 2147483647, NULL, CONFIG_LIVE,    \
      "seconds a shutdown waits for in-flight replies before exiting anyway")                      \
    X(protected_mode, "protected-mode", CONFIG_BOOL, "yes", 0, 0, NULL, CONFIG_LIVE,               \
      "without a password, refuse clients that are not on the loopback interface")                 \
    X(enable_debug_command, "enable-debug-command", CONFIG_ENUM, "no", 0, 0,                       \
      PROTECTED_ACTION_CHOICES, CONFIG_FIXED, "allow DEBUG: no, yes, or local (loopback clients)") \
    /* ---- persistence (compatibility only) ---- */                                               \
    X(save, "save", CONFIG_STRING, "", 0, 0, NULL, CONFIG_LIVE,                                    \
      "accepted for compatibility; no persistence")                                                \
    X(appendonly, "appendonly", CONFIG_BOOL, "no", 0, 0, NULL, CONFIG_LIVE,                        \
      "accepted for compatibility; must be no")

/* clang-format on */

enum config_mode { CONFIG_FIXED, CONFIG_LIVE };

struct config_retired; /* strings replaced at run time, freed at deinit */

/* One `rename-command NAME NEWNAME` line ("" as NEWNAME disables NAME), in
 * file order; the command table applies them at start-up. */
struct config_rename {
    struct config_rename *next;
    char *from;
    char *to;
};

struct config {
#define CONFIG_FIELD(field, name, type, def, min, max, choices, mode, help)                        \
    CONFIG_CTYPE_##type field;
#define CONFIG_CTYPE_CONFIG_INT    long long
#define CONFIG_CTYPE_CONFIG_MEMORY long long
#define CONFIG_CTYPE_CONFIG_BOOL   long long
#define CONFIG_CTYPE_CONFIG_ENUM   long long
#define CONFIG_CTYPE_CONFIG_STRING char *
    SHALE_CONFIG_OPTIONS(CONFIG_FIELD)
#undef CONFIG_FIELD

    /* Not options: the bookkeeping of run-time changes. */
    char *file;               /* the conf file loaded at start-up (CONFIG REWRITE), or NULL */
    pthread_mutex_t set_lock; /* serialises CONFIG SET and REWRITE */
    struct config_retired *retired;
    struct config_rename *renames; /* read-only after start */
    /* Called after CONFIG SET changed an option, on the thread that ran it,
     * with set_lock held; the composition root wires side effects here. A
     * side effect that fails (a TLS reload) returns -1 with a reason in err:
     * CONFIG SET then restores every value it set and fails. */
    int (*changed)(void *ctx, const char *name, char *err, size_t errlen);
    void *changed_ctx;
};

/* Loads a CONFIG_LIVE field from any thread. Numbers are stored relaxed;
 * a string is published with a release store, so the acquire here makes its
 * bytes visible along with the pointer (free on x86, where every load is an
 * acquire). A string read this way stays valid until deinit. */
#define config_live(cfg, field) __atomic_load_n(&(cfg)->field, __ATOMIC_ACQUIRE)

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

/* CONFIG SET name value [name value ...]: all or nothing, only CONFIG_LIVE
 * options. On failure err holds the whole Redis error reply text. Any thread. */
int shale_config_set_live(struct config *cfg, const char *const *args, const size_t *lens,
                          int nargs, char *err, size_t errlen);
/* CONFIG REWRITE: writes the current values back into cfg->file, keeping its
 * comments and order. On failure err holds the Redis error reply text. */
int shale_config_rewrite(struct config *cfg, char *err, size_t errlen);

/* CONFIG GET: calls emit(name, value) for every option matching the glob. */
void shale_config_get(const struct config *cfg, const char *pattern, size_t patlen,
                      void (*emit)(void *ctx, const char *name, const char *value), void *ctx);

#endif
