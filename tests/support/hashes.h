/*
 * Hash data for integration tests: fill a hash with f<i> -> v<i> pairs and
 * check it back, and observe its encoding (OBJECT ENCODING where the server
 * has it; HSCAN, which returns a listpack whole with cursor 0 and walks a
 * table in steps, in Redis as in shale).
 *
 * Every helper is a macro over an `_at` function so that a failure points at
 * the test's own line.  Main test thread only.
 */
#ifndef SHALE_TEST_HASHES_H
#define SHALE_TEST_HASHES_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

/* HSET key f<i> v<i> for i in [from, to), pipelined; each must be new. */
#define shale_test_hash_fill(c, key, from, to)                                                     \
    shale_test_hash_fill_at(__FILE__, __LINE__, (c), (key), (from), (to))
void shale_test_hash_fill_at(const char *file, int line, redisContext *c, const char *key, int from,
                             int to);

/* Every f<i>, i < n, reads back v<i>, and HLEN is n. */
#define shale_test_hash_expect_filled(c, key, n)                                                   \
    shale_test_hash_expect_filled_at(__FILE__, __LINE__, (c), (key), (n))
void shale_test_hash_expect_filled_at(const char *file, int line, redisContext *c, const char *key,
                                      int n);

/* OBJECT ENCODING key is `expected`; skipped (passes) while the server
 * answers OBJECT with "unknown command". */
#define shale_test_hash_expect_encoding(c, key, expected)                                          \
    shale_test_hash_expect_encoding_at(__FILE__, __LINE__, (c), (key), (expected))
void shale_test_hash_expect_encoding_at(const char *file, int line, redisContext *c,
                                        const char *key, const char *expected);

/* HSCAN key 0 COUNT 1: whole == true expects all `len` pairs and cursor 0
 * (a listpack); whole == false expects a cursor other than 0 (a table of
 * more than a few fields). */
#define shale_test_hash_expect_scan_whole(c, key, whole, len)                                      \
    shale_test_hash_expect_scan_whole_at(__FILE__, __LINE__, (c), (key), (whole), (len))
void shale_test_hash_expect_scan_whole_at(const char *file, int line, redisContext *c,
                                          const char *key, bool whole, size_t len);

#endif
