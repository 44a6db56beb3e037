/* test_crc16: unit tests for the Redis Cluster key slot (server/crc16.c).
 * Pure functions, single-threaded. The expected slots are the values
 * `CLUSTER KEYSLOT` returns on a Redis 7 server in cluster mode (also what
 * the algorithm in the Redis Cluster spec gives: CRC16-XMODEM mod 16384). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "server/crc16.h"

/* CLUSTER KEYSLOT of these keys. */
#define SLOT_FOO      12182u
#define SLOT_BAR      5061u
#define SLOT_HELLO    866u
#define SLOT_USER1000 3443u
#define SLOT_A        15495u
#define SLOT_EMPTY    0u
/* "foo{}{bar}": the first tag is empty, so the whole key is hashed. */
#define SLOT_FOO_EMPTY_TAG_BAR 8363u
/* "foo{{bar}}zap": the tag is "{bar" (from the first '{' to the first '}'). */
#define SLOT_OPEN_BRACE_BAR 4015u
/* "{}": an empty tag, so the whole two-byte key is hashed. */
#define SLOT_EMPTY_BRACES 15257u
/* "a{b": no closing brace, so the whole key is hashed. */
#define SLOT_A_UNCLOSED 13340u

static unsigned slot_of(const char *key)
{
    return shale_crc16_key_slot(key, strlen(key));
}

static void test_crc16_check_value(void **state)
{
    /* The catalogued check value of CRC-16/XMODEM. */
    assert_int_equal(shale_crc16("123456789", 9), 0x31C3);
}

static void test_crc16_known_checksums(void **state)
{
    assert_int_equal(shale_crc16("", 0), 0x0000);
    assert_int_equal(shale_crc16("foo", 3), 0xAF96);
    assert_int_equal(shale_crc16("bar", 3), 0x93C5);
    assert_int_equal(shale_crc16("hello", 5), 0xC362);
}

static void test_crc16_uses_length_not_nul(void **state)
{
    /* Binary-safe: bytes after an embedded NUL count, bytes past len do not. */
    assert_int_equal(shale_crc16("123456789xyz", 9), 0x31C3);
    const char with_nul[] = {'a', '\0', 'b'};
    assert_int_not_equal(shale_crc16(with_nul, 3), shale_crc16("a", 1));
    /* High bytes are taken as unsigned. */
    const char high[] = {(char)0xff, (char)0x80};
    const unsigned char uhigh[] = {0xff, 0x80};
    assert_int_equal(shale_crc16(high, 2), shale_crc16((const char *)uhigh, 2));
}

static void test_crc16_key_slots_match_redis_cluster(void **state)
{
    assert_int_equal(slot_of("123456789"), 0x31C3 % CRC16_SLOTS);
    assert_int_equal(slot_of("foo"), SLOT_FOO);
    assert_int_equal(slot_of("bar"), SLOT_BAR);
    assert_int_equal(slot_of("hello"), SLOT_HELLO);
    assert_int_equal(slot_of("user1000"), SLOT_USER1000);
    assert_int_equal(slot_of(""), SLOT_EMPTY);
}

static void test_crc16_hash_tags(void **state)
{
    assert_int_equal(slot_of("{user1000}.following"), SLOT_USER1000);
    assert_int_equal(slot_of("{user1000}.followers"), SLOT_USER1000);
    assert_int_equal(slot_of("x{user1000}y"), SLOT_USER1000);
    assert_int_equal(slot_of("{a}"), SLOT_A);
    /* A '}' before the first '{' does not close anything. */
    assert_int_equal(slot_of("}{a}"), SLOT_A);
    /* Only the first tag counts. */
    assert_int_equal(slot_of("foo{bar}{zap}"), SLOT_BAR);
    assert_int_equal(slot_of("foo{{bar}}zap"), SLOT_OPEN_BRACE_BAR);
    assert_int_equal(slot_of("foo{{bar}}zap"), shale_crc16("{bar", 4) % CRC16_SLOTS);
}

static void test_crc16_empty_or_unclosed_tag_hashes_whole_key(void **state)
{
    assert_int_equal(slot_of("foo{}{bar}"), SLOT_FOO_EMPTY_TAG_BAR);
    assert_int_equal(slot_of("foo{}{bar}"), shale_crc16("foo{}{bar}", 10) % CRC16_SLOTS);
    assert_int_not_equal(slot_of("foo{}{bar}"), SLOT_BAR);
    assert_int_equal(slot_of("{}"), SLOT_EMPTY_BRACES);
    assert_int_equal(slot_of("a{b"), SLOT_A_UNCLOSED);
    assert_int_equal(slot_of("{"), shale_crc16("{", 1) % CRC16_SLOTS);
}

static void test_crc16_tag_search_stays_within_len(void **state)
{
    /* The closing brace lies past len: no tag, hash the first 4 bytes. */
    assert_int_equal(shale_crc16_key_slot("a{bc}", 4), shale_crc16("a{bc", 4) % CRC16_SLOTS);
    /* The tag lies wholly past len. */
    assert_int_equal(shale_crc16_key_slot("foo{bar}", 3), SLOT_FOO);
}

static void test_crc16_slots_in_range(void **state)
{
    char key[32];
    unsigned seen_high = 0;
    for (unsigned i = 0; i < 100000; i++) {
        int n = snprintf(key, sizeof(key), "key:%u", i);
        unsigned slot = shale_crc16_key_slot(key, (size_t)n);
        if (slot >= CRC16_SLOTS)
            fail_msg("slot of '%s' is %u, expected < %d", key, slot, CRC16_SLOTS);
        if (slot >= CRC16_SLOTS / 2)
            seen_high++;
    }
    /* Keys spread over the whole slot space, not just the low half. */
    assert_in_range(seen_high, 40000, 60000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc16_check_value),
        cmocka_unit_test(test_crc16_known_checksums),
        cmocka_unit_test(test_crc16_uses_length_not_nul),
        cmocka_unit_test(test_crc16_key_slots_match_redis_cluster),
        cmocka_unit_test(test_crc16_hash_tags),
        cmocka_unit_test(test_crc16_empty_or_unclosed_tag_hashes_whole_key),
        cmocka_unit_test(test_crc16_tag_search_stays_within_len),
        cmocka_unit_test(test_crc16_slots_in_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
