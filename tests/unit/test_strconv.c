/* Unit tests for server/strconv: strict number parsing with Redis's rules
 * (string2ll, string2ld), SCAN cursors, and long doubles printed the way
 * INCRBYFLOAT replies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <limits.h>

#include "server/strconv.h"

static struct slice slice_of(const char *s)
{
    return (struct slice){s, strlen(s)};
}

static void test_ll_is_strict(void **state)
{
    static const char *bad[] = {"", " 1", "1 ", "+1", "01", "-0", "-", "1.0", "0x10", "1e3", "abc",
                                "00", "--1",
                                /* out of range, and longer than any long long */
                                "9223372036854775808", "-9223372036854775809",
                                "18446744073709551616", "123456789012345678901"};
    long long v;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (shale_strconv_ll(slice_of(bad[i]), &v))
            print_message("accepted \"%s\"\n", bad[i]);
        assert_false(shale_strconv_ll(slice_of(bad[i]), &v));
    }
    assert_true(shale_strconv_ll(slice_of("0"), &v));
    assert_int_equal(v, 0);
    assert_true(shale_strconv_ll(slice_of("-1"), &v));
    assert_int_equal(v, -1);
    assert_true(shale_strconv_ll(slice_of("9223372036854775807"), &v));
    assert_true(v == LLONG_MAX);
    assert_true(shale_strconv_ll(slice_of("-9223372036854775808"), &v));
    assert_true(v == LLONG_MIN);
    /* Binary safe: an embedded NUL is not a digit. */
    assert_false(shale_strconv_ll((struct slice){"1\0002", 3}, &v));
}

static void test_ld_is_strict(void **state)
{
    static const char *bad[] = {"", " 1", "1 ", "abc", "nan", "-nan", "1e5000", "1.5x"};
    long double v;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (shale_strconv_ld(slice_of(bad[i]), &v))
            print_message("accepted \"%s\"\n", bad[i]);
        assert_false(shale_strconv_ld(slice_of(bad[i]), &v));
    }
    assert_true(shale_strconv_ld(slice_of("5.0e3"), &v));
    assert_true(v == 5000.0L);
    assert_true(shale_strconv_ld(slice_of("+1.5"), &v)); /* strtold takes '+' */
    assert_true(shale_strconv_ld(slice_of("inf"), &v));  /* as Redis's string2ld */
    assert_false(shale_strconv_ld((struct slice){"1\0002", 3}, &v));
}

static void test_cursor_like_redis(void **state)
{
    unsigned long long v;

    (void)state;
    assert_true(shale_strconv_cursor(slice_of("0"), &v));
    assert_true(v == 0);
    assert_true(shale_strconv_cursor(slice_of("18446744073709551615"), &v));
    assert_true(v == ULLONG_MAX);
    assert_false(shale_strconv_cursor(slice_of("18446744073709551616"), &v));
    assert_false(shale_strconv_cursor(slice_of(" 1"), &v));
    assert_false(shale_strconv_cursor(slice_of("1x"), &v));
    /* Read as a C string, as Redis does: a NUL ends it. */
    assert_true(shale_strconv_cursor((struct slice){"7\0x", 3}, &v));
    assert_true(v == 7);
}

static void test_ld_human_format(void **state)
{
    char buf[STRCONV_LD_SIZE];

    (void)state;
    assert_int_equal(shale_strconv_ld_human(buf, sizeof(buf), 20.5L), 4);
    assert_string_equal(buf, "20.5");
    shale_strconv_ld_human(buf, sizeof(buf), 3200.0L);
    assert_string_equal(buf, "3200");
    shale_strconv_ld_human(buf, sizeof(buf), -0.0L);
    assert_string_equal(buf, "0");
    assert_int_equal(shale_strconv_ld_human(buf, 3, 1234.5L), 0); /* does not fit */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ll_is_strict),
        cmocka_unit_test(test_ld_is_strict),
        cmocka_unit_test(test_cursor_like_redis),
        cmocka_unit_test(test_ld_human_format),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
