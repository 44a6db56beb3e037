/*
 * Hash data for integration tests (see hashes.h).  Main test thread only.
 */
#include "tests/support/hashes.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include "tests/support/reply.h"
#include "tests/support/server.h"

void shale_test_hash_fill_at(const char *file, int line, redisContext *c, const char *key, int from,
                             int to)
{
    for (int i = from; i < to; i++) {
        redisAppendCommand(c, "HSET %s f%d v%d", key, i, i);
    }
    for (int i = from; i < to; i++) {
        redisReply *r = shale_test_next_reply_at(file, line, c);
        shale_test_expect_int_at(file, line, r, 1, "HSET (fill)");
        freeReplyObject(r);
    }
}

void shale_test_hash_expect_filled_at(const char *file, int line, redisContext *c, const char *key,
                                      int n)
{
    for (int i = 0; i < n; i++) {
        redisAppendCommand(c, "HGET %s f%d", key, i);
    }
    for (int i = 0; i < n; i++) {
        char want[32];
        snprintf(want, sizeof want, "v%d", i);
        redisReply *r = shale_test_next_reply_at(file, line, c);
        shale_test_expect_bulk_len_at(file, line, r, want, strlen(want), "HGET (filled field)");
        freeReplyObject(r);
    }
    redisReply *r = shale_test_command_at(file, line, c, "HLEN %s", key);
    shale_test_expect_int_at(file, line, r, n, "HLEN (filled hash)");
    freeReplyObject(r);
}

void shale_test_hash_expect_encoding_at(const char *file, int line, redisContext *c,
                                        const char *key, const char *expected)
{
    redisReply *r = shale_test_command_at(file, line, c, "OBJECT ENCODING %s", key);
    if (r->type == REDIS_REPLY_ERROR && strstr(r->str, "unknown command") != NULL) {
        freeReplyObject(r);
        return;
    }
    char what[128];
    snprintf(what, sizeof what, "OBJECT ENCODING %s", key);
    shale_test_expect_bulk_len_at(file, line, r, expected, strlen(expected), what);
    freeReplyObject(r);
}

void shale_test_hash_expect_scan_whole_at(const char *file, int line, redisContext *c,
                                          const char *key, bool whole, size_t len)
{
    redisReply *r = shale_test_command_at(file, line, c, "HSCAN %s 0 COUNT 1", key);
    shale_test_expect_array_at(file, line, r, 2, "HSCAN key 0 COUNT 1");
    bool done = r->element[0]->type == REDIS_REPLY_STRING && strcmp(r->element[0]->str, "0") == 0;
    bool ok = whole ? done && r->element[1]->elements == 2 * len : !done;
    if (!ok) {
        fprintf(stderr, "HSCAN %s 0 COUNT 1: expected %s, got cursor %s and %zu elements\n", key,
                whole ? "the whole listpack and cursor 0" : "a table walk (cursor not 0)",
                r->element[0]->type == REDIS_REPLY_STRING ? r->element[0]->str : "?",
                r->element[1]->elements);
        freeReplyObject(r);
        shale_test_server_report_failure();
        _fail(file, line);
    }
    freeReplyObject(r);
}
