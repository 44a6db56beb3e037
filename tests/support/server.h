/*
 * Integration-test harness: starts the server under test as a child process,
 * waits until it answers, connects hiredis clients to it and stops it again.
 *
 * The binary comes from $SHALE_SERVER.  With SHALE_SERVER_KIND=redis the same
 * tests run against Debian's redis-server, the reference shale must match:
 * persistence is switched off and shale-only options are dropped.
 *
 * Runs on the test's main thread only (cmocka is not thread-safe); worker
 * threads of a test may use their own redisContext but never these helpers.
 */
#ifndef SHALE_TEST_SERVER_H
#define SHALE_TEST_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

struct test_server;

/* True when SHALE_SERVER_KIND=redis, i.e. the reference server is under test. */
bool shale_test_server_is_redis(void);

/*
 * Starts $SHALE_SERVER --port P --bind 127.0.0.1 followed by common_args and,
 * unless the reference is under test, shale_only_args and the words of
 * $SHALE_TEST_SERVER_ARGS.  Both lists are
 * NULL-terminated and may be NULL.  Waits up to 10 s for PING to be answered.
 * Returns NULL after printing why (missing $SHALE_SERVER, early exit with the
 * log's tail, timeout).
 */
struct test_server *shale_test_server_start(const char *const *common_args,
                                            const char *const *shale_only_args);

/*
 * SIGTERM, then SIGKILL after 5 s; reaps the child and removes its temp dir.
 * Returns 0 on a clean exit, -1 (after printing the log's tail) when the server
 * had died before, needed SIGKILL, or exited with an error.  NULL is a no-op.
 */
int shale_test_server_stop(struct test_server *server);

/* As shale_test_server_start, with conf_file (an absolute path, or NULL)
 * as the server's first argument, before --port: its configuration file. */
struct test_server *shale_test_server_start_conf(const char *conf_file,
                                                 const char *const *common_args,
                                                 const char *const *shale_only_args);

int shale_test_server_port(const struct test_server *server);

/* The server's log file (stdout and stderr of the child). */
const char *shale_test_server_log_path(const struct test_server *server);

/*
 * Returns false, after printing the exit status and the log's tail, when the
 * child has exited.  Usable as the body of a cmocka per-test teardown.
 */
bool shale_test_server_alive(struct test_server *server);

/* Prints the last tail_bytes of the server's log to stderr. */
void shale_test_server_print_log(const struct test_server *server, size_t tail_bytes);

/*
 * Called by every failing helper before it fails the test: reports each
 * started server that has died and prints the tail of every server's log.
 */
void shale_test_server_report_failure(void);

/*
 * Connects a hiredis client with a 10 s I/O timeout; fails the test (with the
 * caller's file and line) when the connection cannot be made.
 */
#define shale_test_connect(server) shale_test_connect_at(__FILE__, __LINE__, (server))
redisContext *shale_test_connect_at(const char *file, int line, struct test_server *server);

/* Skips the calling test, printing why, when the reference server is under test. */
#define shale_test_skip_on_redis(reason) shale_test_skip_on_redis_at(__FILE__, __LINE__, (reason))
void shale_test_skip_on_redis_at(const char *file, int line, const char *reason);

/* A free TCP port on 127.0.0.1 (for a second listener, e.g. --admin-port). */
int shale_test_free_port(void);

/* Sends sig to the server process. */
void shale_test_server_kill(struct test_server *server, int sig);

/*
 * Waits up to timeout_ms for the server to exit on its own (after SIGTERM or
 * SHUTDOWN).  Returns its exit status (0..255), 128 + the signal number when
 * a signal killed it, or -1 on timeout.  A server that exited with status 0
 * this way counts as stopped cleanly by shale_test_server_stop.
 */
int shale_test_server_wait_exit(struct test_server *server, long timeout_ms);

/* Milliseconds on the monotonic clock; for deadlines and sleeps in tests. */
long long shale_test_now_ms(void);
void shale_test_sleep_ms(long ms);

/* Per-test set-up shared by the integration tests: fails (-1) if the server
 * died; otherwise flushes every database through a new connection, which is
 * kept in *c for the test (or closed when c is NULL). */
int shale_test_begin(struct test_server *server, redisContext **c);
/* Per-test tear-down: closes *c (when c is not NULL); -1 if the server died. */
int shale_test_end(struct test_server *server, redisContext **c);

#endif
