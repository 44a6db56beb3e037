/*
 * Reply assertions for hiredis (RESP2) clients in integration tests.
 *
 * Every helper is a macro over an `_at` function so that a failure points at
 * the test's own line; a failure prints the command, the expected reply and
 * the reply received (bytes escaped), the logs of the running servers, and
 * fails the cmocka test.  hiredis 0.14 only speaks RESP2: for RESP3 use the
 * raw client in tests/support/raw.h.
 *
 * Main test thread only.
 */
#ifndef SHALE_TEST_REPLY_H
#define SHALE_TEST_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <hiredis/hiredis.h>

/*
 * Runs a command (hiredis printf-like format, %b for binary) and returns its
 * reply, to be released with freeReplyObject.  Fails the test when no reply
 * arrives (connection closed, timeout).
 */
#define shale_test_command(c, ...) shale_test_command_at(__FILE__, __LINE__, (c), __VA_ARGS__)
redisReply *shale_test_command_at(const char *file, int line, redisContext *c, const char *fmt,
                                  ...);

/* Same with explicit arguments; argvlen NULL means strlen of each. */
#define shale_test_command_argv(c, argc, argv, argvlen)                                            \
    shale_test_command_argv_at(__FILE__, __LINE__, (c), (argc), (argv), (argvlen))
redisReply *shale_test_command_argv_at(const char *file, int line, redisContext *c, int argc,
                                       const char **argv, const size_t *argvlen);

/* Reads the next reply of a pipeline (after redisAppendCommand). */
#define shale_test_next_reply(c) shale_test_next_reply_at(__FILE__, __LINE__, (c))
redisReply *shale_test_next_reply_at(const char *file, int line, redisContext *c);

/*
 * Checks on a reply already received; `what` names the command in messages.
 * They do not free the reply.
 */
#define shale_test_expect_status(r, expected, what)                                                \
    shale_test_expect_status_at(__FILE__, __LINE__, (r), (expected), (what))
#define shale_test_expect_int(r, expected, what)                                                   \
    shale_test_expect_int_at(__FILE__, __LINE__, (r), (expected), (what))
#define shale_test_expect_bulk(r, expected, what)                                                  \
    shale_test_expect_bulk_len_at(__FILE__, __LINE__, (r), (expected), strlen(expected), (what))
#define shale_test_expect_bulk_len(r, expected, len, what)                                         \
    shale_test_expect_bulk_len_at(__FILE__, __LINE__, (r), (expected), (len), (what))
#define shale_test_expect_nil(r, what) shale_test_expect_nil_at(__FILE__, __LINE__, (r), (what))
#define shale_test_expect_error(r, expected, what)                                                 \
    shale_test_expect_error_at(__FILE__, __LINE__, (r), (expected), false, (what))
#define shale_test_expect_error_prefix(r, prefix, what)                                            \
    shale_test_expect_error_at(__FILE__, __LINE__, (r), (prefix), true, (what))
#define shale_test_expect_array(r, elements, what)                                                 \
    shale_test_expect_array_at(__FILE__, __LINE__, (r), (elements), (what))

void shale_test_expect_status_at(const char *file, int line, const redisReply *r,
                                 const char *expected, const char *what);
void shale_test_expect_int_at(const char *file, int line, const redisReply *r, long long expected,
                              const char *what);
void shale_test_expect_bulk_len_at(const char *file, int line, const redisReply *r,
                                   const char *expected, size_t len, const char *what);
void shale_test_expect_nil_at(const char *file, int line, const redisReply *r, const char *what);
void shale_test_expect_error_at(const char *file, int line, const redisReply *r,
                                const char *expected, bool prefix_only, const char *what);
void shale_test_expect_array_at(const char *file, int line, const redisReply *r, size_t elements,
                                const char *what);

/*
 * Run a command and check its reply in one step, e.g.
 *   shale_test_assert_status(c, "OK", "SET %s %s", key, value);
 *   shale_test_assert_error(c, "ERR syntax error", "SET k v NX XX");
 * _error wants the whole error text (without the leading '-'); _error_prefix
 * only its beginning.
 */
#define shale_test_assert_status(c, expected, ...)                                                 \
    shale_test_assert_status_at(__FILE__, __LINE__, (c), (expected), __VA_ARGS__)
#define shale_test_assert_int(c, expected, ...)                                                    \
    shale_test_assert_int_at(__FILE__, __LINE__, (c), (expected), __VA_ARGS__)
#define shale_test_assert_bulk(c, expected, ...)                                                   \
    shale_test_assert_bulk_at(__FILE__, __LINE__, (c), (expected), __VA_ARGS__)
#define shale_test_assert_nil(c, ...) shale_test_assert_nil_at(__FILE__, __LINE__, (c), __VA_ARGS__)
#define shale_test_assert_error(c, expected, ...)                                                  \
    shale_test_assert_error_at(__FILE__, __LINE__, (c), (expected), false, __VA_ARGS__)
#define shale_test_assert_error_prefix(c, prefix, ...)                                             \
    shale_test_assert_error_at(__FILE__, __LINE__, (c), (prefix), true, __VA_ARGS__)

void shale_test_assert_status_at(const char *file, int line, redisContext *c, const char *expected,
                                 const char *fmt, ...);
void shale_test_assert_int_at(const char *file, int line, redisContext *c, long long expected,
                              const char *fmt, ...);
void shale_test_assert_bulk_at(const char *file, int line, redisContext *c, const char *expected,
                               const char *fmt, ...);
void shale_test_assert_nil_at(const char *file, int line, redisContext *c, const char *fmt, ...);
void shale_test_assert_error_at(const char *file, int line, redisContext *c, const char *expected,
                                bool prefix_only, const char *fmt, ...);

/* Runs a command that must answer an integer and returns it (TTL bounds etc.). */
#define shale_test_command_int(c, ...)                                                             \
    shale_test_command_int_at(__FILE__, __LINE__, (c), __VA_ARGS__)
long long shale_test_command_int_at(const char *file, int line, redisContext *c, const char *fmt,
                                    ...);

/*
 * Writes a printable, escaped and possibly shortened rendering of len bytes
 * into buf ("\r\n" as \r\n, other bytes < 0x20 or >= 0x7f as \xNN).
 */
void shale_test_escape(const char *data, size_t len, char *buf, size_t cap);

/* Describes a reply ("status \"OK\"", "bulk(3) \"abc\"", "nil", ...) into buf. */
void shale_test_describe_reply(const redisReply *r, char *buf, size_t cap);

/* The value of "field:" in an INFO text, or NULL; the value ends at '\r'. */
const char *shale_test_info_field(const char *info, const char *field);

#endif
