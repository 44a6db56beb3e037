/*
 * Raw TCP client for integration tests: sends exact bytes (malformed
 * protocol, inline commands, split writes), checks exact reply bytes and
 * connection close, and parses RESP3 replies (hiredis 0.14 cannot).
 *
 * Main test thread only; failing helpers fail the cmocka test at the
 * caller's line after printing expected vs received bytes and server logs.
 */
#ifndef SHALE_TEST_RAW_H
#define SHALE_TEST_RAW_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct test_server;
struct test_raw;

/* Default wait for expected bytes or for a close, in milliseconds. */
#define SHALE_TEST_RAW_TIMEOUT_MS 5000

#define shale_test_raw_connect(server) shale_test_raw_connect_at(__FILE__, __LINE__, (server))
struct test_raw *shale_test_raw_connect_at(const char *file, int line, struct test_server *server);
void shale_test_raw_close(struct test_raw *raw);

/*
 * Sends len bytes, all of them.  Returns false when the peer has closed or
 * reset the connection (EPIPE / ECONNRESET); other errors fail the test.
 */
#define shale_test_raw_send(raw, data, len)                                                        \
    shale_test_raw_send_at(__FILE__, __LINE__, (raw), (data), (len))
#define shale_test_raw_send_str(raw, str)                                                          \
    shale_test_raw_send_at(__FILE__, __LINE__, (raw), (str), strlen(str))
bool shale_test_raw_send_at(const char *file, int line, struct test_raw *raw, const void *data,
                            size_t len);

/*
 * Sends a command as a RESP multibulk; the arguments are C strings ending
 * with NULL: shale_test_raw_command(raw, "HELLO", "3", NULL).
 */
#define shale_test_raw_command(raw, ...)                                                           \
    shale_test_raw_command_at(__FILE__, __LINE__, (raw), __VA_ARGS__)
void shale_test_raw_command_at(const char *file, int line, struct test_raw *raw, ...)
    __attribute__((sentinel));

/*
 * Reads until `want` bytes have arrived, the connection closes, or timeout_ms
 * pass.  Returns the number of bytes stored in buf.
 */
size_t shale_test_raw_read(struct test_raw *raw, char *buf, size_t want, int timeout_ms);

/* True when the peer closed or reset the connection (data before it is dropped). */
bool shale_test_raw_peer_closed(const struct test_raw *raw);

/* Expects exactly these bytes next (waiting up to SHALE_TEST_RAW_TIMEOUT_MS). */
#define shale_test_raw_expect(raw, expected)                                                       \
    shale_test_raw_expect_at(__FILE__, __LINE__, (raw), (expected), strlen(expected))
#define shale_test_raw_expect_len(raw, expected, len)                                              \
    shale_test_raw_expect_at(__FILE__, __LINE__, (raw), (expected), (len))
void shale_test_raw_expect_at(const char *file, int line, struct test_raw *raw,
                              const char *expected, size_t len);

/* Expects the server to close the connection without sending anything more. */
#define shale_test_raw_expect_closed(raw) shale_test_raw_expect_closed_at(__FILE__, __LINE__, (raw))
void shale_test_raw_expect_closed_at(const char *file, int line, struct test_raw *raw);

/* Expects nothing to arrive, and no close, for ms milliseconds. */
#define shale_test_raw_expect_silence(raw, ms)                                                     \
    shale_test_raw_expect_silence_at(__FILE__, __LINE__, (raw), (ms))
void shale_test_raw_expect_silence_at(const char *file, int line, struct test_raw *raw, int ms);

/*
 * A parsed RESP2/RESP3 reply.  type is the reply's first byte:
 *   + - : $ * _ , # ( ! = % ~ > |
 * '$' and '*' with is_null set are RESP2's $-1 and *-1.  For maps ('%') and
 * attributes ('|') element holds key, value, key, value...; elements counts
 * them all (twice the pairs).
 */
struct test_resp {
    char type;
    bool is_null;
    long long integer; /* ':' ; '#' is 1 or 0 */
    char *str;         /* + - $ , ( ! = : the text, NUL-terminated; '=' keeps "txt:" */
    size_t len;
    size_t elements;
    struct test_resp **element;
};

/* Reads and parses one reply; fails the test on timeout, close or bad syntax. */
#define shale_test_raw_read_reply(raw) shale_test_raw_read_reply_at(__FILE__, __LINE__, (raw))
struct test_resp *shale_test_raw_read_reply_at(const char *file, int line, struct test_raw *raw);
void shale_test_resp_free(struct test_resp *resp);

/* In a map reply, the value whose key is the string `key`; NULL when absent. */
const struct test_resp *shale_test_resp_map_get(const struct test_resp *map, const char *key);

#endif
