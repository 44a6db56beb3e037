/*
 * What the active-defrag integration tests share: INFO fields read as
 * numbers, the build's defrag mode, and values that are a function of a key
 * and a version, so a test can check any reply without storing what it
 * wrote. Main test thread only, except shale_test_mix and
 * shale_test_make_value (pure, any thread).
 */
#ifndef SHALE_TEST_DEFRAG_H
#define SHALE_TEST_DEFRAG_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

/* INFO <sections> as a string the caller frees. */
char *shale_test_info_text(redisContext *c, const char *sections);
/* A numeric INFO field; fails the test when it is missing. */
long long shale_test_info_ll(const char *info, const char *field);
double shale_test_info_double(const char *info, const char *field);
/* "name=" inside an INFO line such as shard2_defrag:running=1,hits=...;
 * fails the test when the line or the name is missing. */
double shale_test_info_line_field(const char *info, const char *line_name, const char *name);

/* INFO's shale_defrag_mode: "jemalloc", "force" or "unsupported"; freed by
 * the caller. */
char *shale_test_defrag_mode(redisContext *c);

/* A 64-bit mix (splitmix64's finalizer). */
uint64_t shale_test_mix(uint64_t x);
/* Writes the len-byte value of (id, version) into buf; returns len. */
size_t shale_test_make_value(char *buf, uint64_t id, uint64_t ver, size_t len);

#endif
