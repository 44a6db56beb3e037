/* Unit tests for net/resp_write: byte-exact RESP2 and RESP3 output of every
 * encoder function (compared with what Redis 7.0 sends), buffer growth past
 * the inline array, and shale_resp_value_len on nested and truncated input.
 * Single-threaded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <limits.h>
#include <math.h>

#include "net/resp_write.h"
#include "server/mem.h"

/* A string literal as (pointer, length), so literals may hold NUL bytes. */
#define S(lit) lit, sizeof(lit) - 1

/* ---- helpers ----------------------------------------------------------- */

/* Prints bytes with CR, LF and other control bytes escaped, so a mismatch
 * report shows exactly what was expected and what was written. */
static void print_escaped(const char *label, const char *p, size_t n)
{
    print_message("%s \"", label);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];

        if (c == '\r')
            print_message("\\r");
        else if (c == '\n')
            print_message("\\n");
        else if (c < 32 || c >= 127)
            print_message("\\x%02x", c);
        else
            print_message("%c", c);
    }
    print_message("\"\n");
}

static void expect_bytes(const struct resp_buf *b, const char *want, size_t n)
{
    if (b->len != n || memcmp(b->data, want, n) != 0) {
        print_escaped("expected", want, n);
        print_escaped("got     ", b->data, b->len);
    }
    assert_int_equal(b->len, n);
    assert_memory_equal(b->data, want, n);
}

#define EXPECT(b, lit) expect_bytes((b), S(lit))

/* One buffer per protocol version; every test encodes into both. */
struct pair {
    struct resp_buf r2, r3;
};

static void pair_init(struct pair *p)
{
    shale_resp_buf_init(&p->r2, 2);
    shale_resp_buf_init(&p->r3, 3);
}

static void pair_reset(struct pair *p)
{
    shale_resp_buf_reset(&p->r2);
    shale_resp_buf_reset(&p->r3);
}

static void pair_release(struct pair *p)
{
    shale_resp_buf_release(&p->r2);
    shale_resp_buf_release(&p->r3);
}

#define BOTH(p, call, ...)                                                                         \
    do {                                                                                           \
        call(&(p)->r2, __VA_ARGS__);                                                               \
        call(&(p)->r3, __VA_ARGS__);                                                               \
    } while (0)

static void expect_value_len(const char *p, size_t n, size_t want)
{
    size_t got = shale_resp_value_len(p, n);

    if (got != want)
        print_escaped("value", p, n);
    assert_int_equal(got, want);
}

/* The whole input is one value, and every proper prefix of it is incomplete. */
static void expect_one_value(const char *p, size_t n)
{
    expect_value_len(p, n, n);
    for (size_t cut = 0; cut < n; cut++)
        expect_value_len(p, cut, 0);
}

#define EXPECT_ONE_VALUE(lit) expect_one_value(S(lit))

/* ---- simple types ------------------------------------------------------ */

static void test_status_is_plus_line_with_crlf_replaced(void **state)
{
    struct pair p;

    pair_init(&p);
    BOTH(&p, shale_resp_add_status, "OK");
    EXPECT(&p.r2, "+OK\r\n");
    EXPECT(&p.r3, "+OK\r\n");
    pair_reset(&p);
    BOTH(&p, shale_resp_add_status, "a\r\nb");
    EXPECT(&p.r2, "+a  b\r\n");
    pair_release(&p);
}

static void test_error_is_minus_line_with_crlf_replaced(void **state)
{
    struct pair p;

    pair_init(&p);
    BOTH(&p, shale_resp_add_error, "ERR syntax error");
    EXPECT(&p.r2, "-ERR syntax error\r\n");
    EXPECT(&p.r3, "-ERR syntax error\r\n");
    pair_reset(&p);
    shale_resp_add_error(&p.r2, "WRONGTYPE Operation\r\nagainst\n");
    EXPECT(&p.r2, "-WRONGTYPE Operation  against \r\n");
    pair_reset(&p);
    shale_resp_add_error(&p.r2, "-ERR already dashed");
    EXPECT(&p.r2, "-ERR already dashed\r\n");
    pair_release(&p);
}

static void test_errorf_formats_trims_and_replaces_newlines(void **state)
{
    struct pair p;
    char arg[301], want[400];
    int n;

    pair_init(&p);
    shale_resp_add_errorf(&p.r2, "ERR unknown command '%s', with args beginning with: %d", "FOO",
                          7);
    EXPECT(&p.r2, "-ERR unknown command 'FOO', with args beginning with: 7\r\n");
    pair_reset(&p);
    /* As Redis's addReplyErrorFormat: CR/LF trimmed at the ends, spaces inside. */
    shale_resp_add_errorf(&p.r2, "\r\nERR a%sb\r\n", "\n");
    EXPECT(&p.r2, "-ERR a b\r\n");

    /* Longer than the first formatting guess: formatted twice, still exact. */
    pair_reset(&p);
    memset(arg, 'x', 300);
    arg[300] = '\0';
    shale_resp_add_status(&p.r2, "before");
    shale_resp_add_errorf(&p.r2, "ERR %s!", arg);
    n = snprintf(want, sizeof(want), "+before\r\n-ERR %s!\r\n", arg);
    expect_bytes(&p.r2, want, (size_t)n);
    pair_release(&p);
}

static void test_integer_formats_all_digit_counts_and_extremes(void **state)
{
    struct pair p;
    char want[64];

    pair_init(&p);
    BOTH(&p, shale_resp_add_integer, 0);
    EXPECT(&p.r2, ":0\r\n");
    EXPECT(&p.r3, ":0\r\n");
    pair_reset(&p);
    shale_resp_add_integer(&p.r2, LLONG_MIN);
    EXPECT(&p.r2, ":-9223372036854775808\r\n");
    pair_reset(&p);
    shale_resp_add_integer(&p.r2, LLONG_MAX);
    EXPECT(&p.r2, ":9223372036854775807\r\n");

    /* Every power of ten and its neighbours, both signs, against printf. */
    for (long long v = 1; v > 0 && v <= LLONG_MAX / 10; v *= 10) {
        long long cases[] = {v - 1, v, v + 1, -v, -v + 1, -v - 1, v * 10 - 1};

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            int n = snprintf(want, sizeof(want), ":%lld\r\n", cases[i]);

            pair_reset(&p);
            shale_resp_add_integer(&p.r2, cases[i]);
            expect_bytes(&p.r2, want, (size_t)n);
        }
    }
    pair_release(&p);
}

static void test_bulk_is_length_prefixed_and_binary_safe(void **state)
{
    struct pair p;

    pair_init(&p);
    BOTH(&p, shale_resp_add_bulk, "foo", 3);
    EXPECT(&p.r2, "$3\r\nfoo\r\n");
    EXPECT(&p.r3, "$3\r\nfoo\r\n");
    pair_reset(&p);
    shale_resp_add_bulk(&p.r2, "", 0);
    EXPECT(&p.r2, "$0\r\n\r\n");
    pair_reset(&p);
    shale_resp_add_bulk(&p.r2, S("a\0\r\nb"));
    EXPECT(&p.r2, "$5\r\na\0\r\nb\r\n");
    pair_reset(&p);
    BOTH(&p, shale_resp_add_bulk_cstr, "hello world");
    EXPECT(&p.r3, "$11\r\nhello world\r\n");
    pair_reset(&p);
    BOTH(&p, shale_resp_add_bulk_ll, -12345);
    EXPECT(&p.r2, "$6\r\n-12345\r\n");
    EXPECT(&p.r3, "$6\r\n-12345\r\n");
    pair_reset(&p);
    shale_resp_add_bulk_ll(&p.r2, LLONG_MIN);
    EXPECT(&p.r2, "$20\r\n-9223372036854775808\r\n");
    pair_release(&p);
}

static void test_null_and_null_array_differ_by_protocol(void **state)
{
    struct pair p;

    pair_init(&p);
    shale_resp_add_null(&p.r2);
    shale_resp_add_null(&p.r3);
    EXPECT(&p.r2, "$-1\r\n");
    EXPECT(&p.r3, "_\r\n");
    pair_reset(&p);
    shale_resp_add_null_array(&p.r2);
    shale_resp_add_null_array(&p.r3);
    EXPECT(&p.r2, "*-1\r\n");
    EXPECT(&p.r3, "_\r\n");
    pair_release(&p);
}

static void test_aggregate_headers_by_protocol(void **state)
{
    struct pair p;

    pair_init(&p);
    BOTH(&p, shale_resp_add_array_len, 3);
    EXPECT(&p.r2, "*3\r\n");
    EXPECT(&p.r3, "*3\r\n");
    pair_reset(&p);
    BOTH(&p, shale_resp_add_array_len, 0);
    EXPECT(&p.r3, "*0\r\n");
    pair_reset(&p);
    BOTH(&p, shale_resp_add_map_len, 2);
    EXPECT(&p.r2, "*4\r\n");
    EXPECT(&p.r3, "%2\r\n");
    pair_reset(&p);
    BOTH(&p, shale_resp_add_set_len, 5);
    EXPECT(&p.r2, "*5\r\n");
    EXPECT(&p.r3, "~5\r\n");
    pair_release(&p);
}

static void test_double_uses_17_significant_digits(void **state)
{
    struct pair p;

    pair_init(&p);
    BOTH(&p, shale_resp_add_double, 3.14);
    EXPECT(&p.r2, "$18\r\n3.1400000000000001\r\n");
    EXPECT(&p.r3, ",3.1400000000000001\r\n");
    pair_reset(&p);
    BOTH(&p, shale_resp_add_double, 1.0);
    EXPECT(&p.r2, "$1\r\n1\r\n");
    EXPECT(&p.r3, ",1\r\n");
    pair_reset(&p);
    BOTH(&p, shale_resp_add_double, -0.0);
    EXPECT(&p.r2, "$2\r\n-0\r\n");
    EXPECT(&p.r3, ",-0\r\n");
    pair_reset(&p);
    BOTH(&p, shale_resp_add_double, 1e300);
    EXPECT(&p.r2, "$23\r\n1.0000000000000001e+300\r\n");
    EXPECT(&p.r3, ",1.0000000000000001e+300\r\n");
    pair_reset(&p);
    BOTH(&p, shale_resp_add_double, -2.5);
    EXPECT(&p.r3, ",-2.5\r\n");
    pair_release(&p);
}

static void test_double_inf_and_nan_spelled_out(void **state)
{
    struct pair p;

    pair_init(&p);
    BOTH(&p, shale_resp_add_double, INFINITY);
    EXPECT(&p.r2, "$3\r\ninf\r\n");
    EXPECT(&p.r3, ",inf\r\n");
    pair_reset(&p);
    BOTH(&p, shale_resp_add_double, -INFINITY);
    EXPECT(&p.r2, "$4\r\n-inf\r\n");
    EXPECT(&p.r3, ",-inf\r\n");
    pair_reset(&p);
    BOTH(&p, shale_resp_add_double, NAN);
    EXPECT(&p.r2, "$3\r\nnan\r\n");
    EXPECT(&p.r3, ",nan\r\n");
    pair_reset(&p);
    BOTH(&p, shale_resp_add_double, -NAN);
    EXPECT(&p.r3, ",nan\r\n");
    pair_release(&p);
}

static void test_bool_is_integer_in_resp2_and_hash_in_resp3(void **state)
{
    struct pair p;

    pair_init(&p);
    BOTH(&p, shale_resp_add_bool, 1);
    BOTH(&p, shale_resp_add_bool, 0);
    EXPECT(&p.r2, ":1\r\n:0\r\n");
    EXPECT(&p.r3, "#t\r\n#f\r\n");
    pair_release(&p);
}

static void test_verbatim_is_bulk_in_resp2_and_pads_format_in_resp3(void **state)
{
    struct pair p;

    pair_init(&p);
    BOTH(&p, shale_resp_add_verbatim, "txt", "abc", 3);
    EXPECT(&p.r2, "$3\r\nabc\r\n");
    EXPECT(&p.r3, "=7\r\ntxt:abc\r\n");
    pair_reset(&p);
    shale_resp_add_verbatim(&p.r3, "md", "x\r\ny", 4);
    EXPECT(&p.r3, "=8\r\nmd :x\r\ny\r\n");
    pair_reset(&p);
    shale_resp_add_verbatim(&p.r3, "markdown", "", 0);
    EXPECT(&p.r3, "=4\r\nmar:\r\n");
    pair_release(&p);
}

static void test_raw_appends_bytes_unchanged(void **state)
{
    struct pair p;

    pair_init(&p);
    shale_resp_add_raw(&p.r2, S("+a\r\n\0"));
    shale_resp_add_raw(&p.r2, "", 0);
    EXPECT(&p.r2, "+a\r\n\0");
    pair_release(&p);
}

/* ---- buffer management ------------------------------------------------- */

static void test_buffer_starts_inline_and_grows_to_heap(void **state)
{
    struct resp_buf b;
    char big[300], want[400];
    int n;

    shale_resp_buf_init(&b, 2);
    assert_ptr_equal(b.data, b.inline_data);
    assert_int_equal(b.cap, RESP_BUF_INLINE);
    shale_resp_add_status(&b, "OK");
    assert_ptr_equal(b.data, b.inline_data);

    memset(big, 'v', sizeof(big));
    shale_resp_add_bulk(&b, big, sizeof(big));
    assert_ptr_not_equal(b.data, b.inline_data);
    assert_true(b.cap >= b.len);
    n = snprintf(want, sizeof(want), "+OK\r\n$300\r\n%.300s\r\n", big);
    expect_bytes(&b, want, (size_t)n);
    shale_resp_buf_release(&b);
}

static void test_buffer_many_appends_match_printf(void **state)
{
    struct resp_buf b;
    struct resp_buf want;
    char line[64];

    shale_resp_buf_init(&b, 3);
    shale_resp_buf_init(&want, 3);
    for (long long i = 0; i < 20000; i++) {
        int n = snprintf(line, sizeof(line), ":%lld\r\n$%d\r\n%lld\r\n", i * 7919 - 50000,
                         snprintf(NULL, 0, "%lld", i), i);

        shale_resp_add_integer(&b, i * 7919 - 50000);
        shale_resp_add_bulk_ll(&b, i);
        shale_resp_add_raw(&want, line, (size_t)n);
    }
    expect_bytes(&b, want.data, want.len);
    shale_resp_buf_release(&b);
    shale_resp_buf_release(&want);
}

static void test_reset_keeps_heap_and_release_returns_inline(void **state)
{
    struct resp_buf b;
    char big[500] = {0};
    char *heap;
    size_t cap;

    shale_resp_buf_init(&b, 2);
    shale_resp_add_raw(&b, big, sizeof(big));
    heap = b.data;
    cap = b.cap;
    shale_resp_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_ptr_equal(b.data, heap);
    assert_int_equal(b.cap, cap);
    shale_resp_add_status(&b, "OK");
    EXPECT(&b, "+OK\r\n");

    shale_resp_buf_release(&b);
    assert_ptr_equal(b.data, b.inline_data);
    assert_int_equal(b.cap, RESP_BUF_INLINE);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.proto, 2);
    shale_resp_add_status(&b, "again");
    EXPECT(&b, "+again\r\n");
    shale_resp_buf_release(&b);
}

static void test_reserve_returns_room_at_end(void **state)
{
    struct resp_buf b;
    char *p;

    shale_resp_buf_init(&b, 2);
    shale_resp_add_raw(&b, S("ab"));
    p = shale_resp_buf_reserve(&b, 1000);
    assert_ptr_equal(p, b.data + 2);
    assert_true(b.cap - b.len >= 1000);
    memcpy(p, "cd", 2);
    b.len += 2;
    EXPECT(&b, "abcd");
    shale_resp_buf_release(&b);
}

/* ---- shale_resp_value_len ---------------------------------------------- */

static void test_value_len_simple_types(void **state)
{
    EXPECT_ONE_VALUE("+OK\r\n");
    EXPECT_ONE_VALUE("-ERR no\r\n");
    EXPECT_ONE_VALUE(":-42\r\n");
    EXPECT_ONE_VALUE("_\r\n");
    EXPECT_ONE_VALUE(",3.14\r\n");
    EXPECT_ONE_VALUE("#t\r\n");
    EXPECT_ONE_VALUE("(12345678901234567890123\r\n");
    EXPECT_ONE_VALUE("$3\r\nfoo\r\n");
    EXPECT_ONE_VALUE("$0\r\n\r\n");
    EXPECT_ONE_VALUE("$-1\r\n");
    EXPECT_ONE_VALUE("$6\r\na\r\n\0\r\n\r\n");
    EXPECT_ONE_VALUE("=8\r\ntxt:abcd\r\n");
    EXPECT_ONE_VALUE("!5\r\nERR x\r\n");
}

static void test_value_len_nested_aggregates(void **state)
{
    EXPECT_ONE_VALUE("*0\r\n");
    EXPECT_ONE_VALUE("*-1\r\n");
    EXPECT_ONE_VALUE("*2\r\n*2\r\n:1\r\n:2\r\n$3\r\nfoo\r\n");
    EXPECT_ONE_VALUE("%2\r\n+a\r\n*1\r\n:1\r\n+b\r\n%1\r\n:1\r\n_\r\n");
    EXPECT_ONE_VALUE("~2\r\n$1\r\nx\r\n$1\r\ny\r\n");
    EXPECT_ONE_VALUE(">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n");
    /* An attribute's pairs come before the value it describes. */
    EXPECT_ONE_VALUE("|1\r\n+ttl\r\n:5\r\n$1\r\nv\r\n");
}

static void test_value_len_stops_after_first_value(void **state)
{
    expect_value_len(S("*1\r\n:1\r\n+next\r\n"), 8);
    expect_value_len(S("$1\r\na\r\n$1\r\nb\r\n"), 7);
}

static void test_value_len_rejects_malformed_input(void **state)
{
    expect_value_len(S("?\r\n"), 0);
    expect_value_len(S("$x\r\nabc\r\n"), 0);
    expect_value_len(S("$-2\r\n"), 0);
    expect_value_len(S("$\r\n"), 0);
    expect_value_len(S("$3\r\nfooXY"), 0);
    expect_value_len(S("+OK\rX"), 0);
}

static void test_value_len_huge_declared_count_is_incomplete(void **state)
{
    expect_value_len(S("*1000000000\r\n:1\r\n"), 0);
    expect_value_len(S("%999999999999999999\r\n"), 0);
    expect_value_len(S("$999999999999999999\r\nab\r\n"), 0);
}

static void test_value_len_deep_nesting_without_recursion(void **state)
{
    struct resp_buf b;

    shale_resp_buf_init(&b, 3);
    for (int i = 0; i < 200000; i++)
        shale_resp_add_array_len(&b, 1);
    shale_resp_add_integer(&b, 7);
    expect_value_len(b.data, b.len, b.len);
    expect_value_len(b.data, b.len - 1, 0);
    shale_resp_buf_release(&b);
}

static void test_value_len_measures_encoder_output(void **state)
{
    for (int proto = 2; proto <= 3; proto++) {
        struct resp_buf b;
        size_t first;

        shale_resp_buf_init(&b, proto);
        shale_resp_add_map_len(&b, 3);
        shale_resp_add_bulk_cstr(&b, "name");
        shale_resp_add_verbatim(&b, "txt", "shale", 5);
        shale_resp_add_bulk_cstr(&b, "score");
        shale_resp_add_double(&b, 1.5);
        shale_resp_add_bulk_cstr(&b, "flags");
        shale_resp_add_set_len(&b, 4);
        shale_resp_add_bool(&b, 1);
        shale_resp_add_null(&b);
        shale_resp_add_null_array(&b);
        shale_resp_add_errorf(&b, "ERR %d", 1);
        first = b.len;
        shale_resp_add_integer(&b, 99);
        expect_value_len(b.data, b.len, first);
        expect_one_value(b.data, first);
        shale_resp_buf_release(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_is_plus_line_with_crlf_replaced),
        cmocka_unit_test(test_error_is_minus_line_with_crlf_replaced),
        cmocka_unit_test(test_errorf_formats_trims_and_replaces_newlines),
        cmocka_unit_test(test_integer_formats_all_digit_counts_and_extremes),
        cmocka_unit_test(test_bulk_is_length_prefixed_and_binary_safe),
        cmocka_unit_test(test_null_and_null_array_differ_by_protocol),
        cmocka_unit_test(test_aggregate_headers_by_protocol),
        cmocka_unit_test(test_double_uses_17_significant_digits),
        cmocka_unit_test(test_double_inf_and_nan_spelled_out),
        cmocka_unit_test(test_bool_is_integer_in_resp2_and_hash_in_resp3),
        cmocka_unit_test(test_verbatim_is_bulk_in_resp2_and_pads_format_in_resp3),
        cmocka_unit_test(test_raw_appends_bytes_unchanged),
        cmocka_unit_test(test_buffer_starts_inline_and_grows_to_heap),
        cmocka_unit_test(test_buffer_many_appends_match_printf),
        cmocka_unit_test(test_reset_keeps_heap_and_release_returns_inline),
        cmocka_unit_test(test_reserve_returns_room_at_end),
        cmocka_unit_test(test_value_len_simple_types),
        cmocka_unit_test(test_value_len_nested_aggregates),
        cmocka_unit_test(test_value_len_stops_after_first_value),
        cmocka_unit_test(test_value_len_rejects_malformed_input),
        cmocka_unit_test(test_value_len_huge_declared_count_is_incomplete),
        cmocka_unit_test(test_value_len_deep_nesting_without_recursion),
        cmocka_unit_test(test_value_len_measures_encoder_output),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
