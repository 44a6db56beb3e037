/* Unit tests for net/resp_parse: every request form, every protocol error
 * text (they must match Redis 7.0 byte for byte), split and moved input,
 * pipelining, and the cost of huge commands. Single-threaded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "net/resp_parse.h"
#include "server/mem.h"
#include "server/status.h"

/* A string literal as (pointer, length), so literals may hold NUL bytes. */
#define S(lit) lit, sizeof(lit) - 1

/* ---- helpers ----------------------------------------------------------- */

/* Parses one command from a private, mutable copy of input and checks the
 * outcome: status, then consumed count and arguments (SHALE_OK) or the error
 * message (SHALE_PROTO). */
static void expect_parse(const struct resp_limits *limits, const char *input, size_t len,
                         int want_rc, size_t want_consumed, int want_argc, const struct slice *want,
                         const char *want_error)
{
    struct resp_parser p;
    char *buf = shale_malloc(len + 1);
    size_t consumed = 0;
    struct slice *argv = NULL;
    int argc = -1;
    int rc;

    memcpy(buf, input, len);
    shale_resp_parser_init(&p, limits);
    rc = shale_resp_parse(&p, buf, len, &consumed, &argc, &argv);
    if (rc == SHALE_PROTO && want_rc != SHALE_PROTO)
        print_message("parser error: %s\n", shale_resp_parser_error(&p));
    assert_int_equal(rc, want_rc);
    if (rc == SHALE_PROTO)
        assert_string_equal(shale_resp_parser_error(&p), want_error);
    if (rc == SHALE_OK) {
        assert_int_equal(consumed, want_consumed);
        assert_int_equal(argc, want_argc);
        for (int i = 0; i < argc; i++) {
            assert_int_equal(argv[i].len, want[i].len);
            assert_memory_equal(argv[i].ptr, want[i].ptr, want[i].len);
            assert_true(argv[i].ptr >= buf && argv[i].ptr + argv[i].len <= buf + len);
        }
    }
    shale_resp_parser_deinit(&p);
    shale_free(buf);
}

#define EXPECT_ARGS(input, consumed, ...)                                                          \
    expect_parse(NULL, S(input), SHALE_OK, consumed,                                               \
                 (int)(sizeof((struct slice[]){__VA_ARGS__}) / sizeof(struct slice)),              \
                 (struct slice[]){__VA_ARGS__}, NULL)
#define EXPECT_EMPTY(input, consumed)                                                              \
    expect_parse(NULL, S(input), SHALE_OK, consumed, 0, NULL, NULL)
#define EXPECT_AGAIN(input)      expect_parse(NULL, S(input), SHALE_AGAIN, 0, 0, NULL, NULL)
#define EXPECT_AGAIN_N(buf, len) expect_parse(NULL, buf, len, SHALE_AGAIN, 0, 0, NULL, NULL)
#define EXPECT_ERROR_N(limits, buf, len, msg)                                                      \
    expect_parse(limits, buf, len, SHALE_PROTO, 0, 0, NULL, msg)
#define EXPECT_ERROR(input, msg) expect_parse(NULL, S(input), SHALE_PROTO, 0, 0, NULL, msg)

/* A growable byte string recording what a parse run produced, so runs fed in
 * different ways can be compared with one assert_memory_equal. */
struct dump {
    char *data;
    size_t len, cap;
};

static void dump_add(struct dump *d, const void *p, size_t n)
{
    if (d->len + n > d->cap) {
        d->cap = (d->len + n) * 2;
        d->data = shale_realloc(d->data, d->cap);
    }
    memcpy(d->data + d->len, p, n);
    d->len += n;
}

static void dump_str(struct dump *d, const char *s)
{
    dump_add(d, s, strlen(s));
}

static void dump_result(struct dump *d, struct resp_parser *p, int rc, int argc,
                        const struct slice *argv)
{
    char line[64];

    if (rc == SHALE_PROTO) {
        dump_str(d, "error:");
        dump_str(d, shale_resp_parser_error(p));
        dump_str(d, "\n");
        return;
    }
    snprintf(line, sizeof(line), "command argc=%d\n", argc);
    dump_str(d, line);
    for (int i = 0; i < argc; i++) {
        snprintf(line, sizeof(line), " %zu:", argv[i].len);
        dump_str(d, line);
        dump_add(d, argv[i].ptr, argv[i].len);
        dump_str(d, "\n");
    }
}

/* Read sizes for run_chunked: `step` bytes at a time, or when step is 0
 * pseudo-random sizes 1..97 from a seeded xorshift (replayable). */
struct feed {
    size_t step;
    uint64_t rng;
};

static size_t next_chunk(struct feed *f)
{
    if (f->step)
        return f->step;
    f->rng ^= f->rng << 13;
    f->rng ^= f->rng >> 7;
    f->rng ^= f->rng << 17;
    return 1 + (size_t)(f->rng % 97);
}

/* a[0..an) followed by b[0..bn) in a fresh allocation. */
static char *joined_copy(const char *a, size_t an, const char *b, size_t bn)
{
    char *copy = shale_malloc(an + bn + 1);

    memcpy(copy, a, an);
    memcpy(copy + an, b, bn);
    return copy;
}

/* Feeds input the way a connection would, in chunks sized by `feed`, and
 * copies the unconsumed bytes into a fresh allocation after every read and
 * every command, so the parser never sees the same address twice. */
static void run_chunked(const char *input, size_t len, struct feed feed, struct dump *d)
{
    struct resp_parser p;
    char *buf = shale_malloc(1);
    size_t have = 0, fed = 0;
    int stop = 0;

    shale_resp_parser_init(&p, NULL);
    while (fed < len && !stop) {
        size_t n = next_chunk(&feed);
        char *moved;

        if (n > len - fed)
            n = len - fed;
        moved = joined_copy(buf, have, input + fed, n);
        shale_free(buf);
        buf = moved;
        have += n;
        fed += n;
        while (have > 0) {
            size_t consumed = 0;
            struct slice *argv = NULL;
            int argc = 0;
            int rc = shale_resp_parse(&p, buf, have, &consumed, &argc, &argv);

            if (rc == SHALE_AGAIN)
                break;
            dump_result(d, &p, rc, argc, argv);
            if (rc != SHALE_OK) {
                stop = 1;
                break;
            }
            have -= consumed;
            moved = joined_copy(buf + consumed, have, "", 0);
            shale_free(buf);
            buf = moved;
        }
    }
    if (!stop && have > 0)
        dump_str(d, "incomplete\n");
    shale_resp_parser_deinit(&p);
    shale_free(buf);
}

/* Parses input that is all in one buffer. */
static void run_whole(const char *input, size_t len, struct dump *d)
{
    run_chunked(input, len, (struct feed){.step = SIZE_MAX}, d);
}

static void expect_same_dump(const struct dump *want, const struct dump *got)
{
    if (want->len != got->len || memcmp(want->data, got->data, want->len) != 0)
        print_message("expected:\n%.*s\ngot:\n%.*s\n", (int)want->len, want->data, (int)got->len,
                      got->data);
    assert_int_equal(got->len, want->len);
    assert_memory_equal(got->data, want->data, want->len);
}

static double seconds_since(const struct timespec *start)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* "*<n>\r\n" then n arguments "k000000".."k<n-1>" as bulk strings. */
static char *build_many_args(int n, size_t *len)
{
    char *buf = shale_malloc(32 + (size_t)n * 16);
    size_t off = (size_t)sprintf(buf, "*%d\r\n", n);

    for (int i = 0; i < n; i++)
        off += (size_t)sprintf(buf + off, "$7\r\nk%06d\r\n", i);
    *len = off;
    return buf;
}

static void check_many_args(int argc, const struct slice *argv, int n)
{
    char want[16];

    assert_int_equal(argc, n);
    for (int i = 0; i < n; i++) {
        snprintf(want, sizeof(want), "k%06d", i);
        assert_int_equal(argv[i].len, 7);
        assert_memory_equal(argv[i].ptr, want, 7);
    }
}

/* ---- multibulk --------------------------------------------------------- */

static void test_multibulk_args_point_into_buffer_with_default_limits(void **state)
{
    struct resp_parser p;
    char buf[] = "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n";
    size_t consumed;
    struct slice *argv;
    int argc;

    shale_resp_parser_init(&p, NULL);
    assert_int_equal(shale_resp_parse(&p, buf, strlen(buf), &consumed, &argc, &argv), SHALE_OK);
    assert_int_equal(consumed, strlen(buf));
    assert_int_equal(argc, 2);
    assert_ptr_equal(argv[0].ptr, buf + 8);
    assert_ptr_equal(argv[1].ptr, buf + 17);
    assert_int_equal(argv[1].len, 3);
    assert_string_equal(shale_resp_parser_error(&p), "");
    /* NULL limits are Redis's defaults. */
    assert_int_equal(p.limits.max_bulk_len, 512LL * 1024 * 1024);
    assert_int_equal(p.limits.max_multibulk_len, 1048576);
    assert_int_equal(p.limits.max_inline_len, 65536);
    shale_resp_parser_deinit(&p);
}

static void test_multibulk_zero_or_negative_count_is_empty_command(void **state)
{
    EXPECT_EMPTY("*0\r\n", 4);
    EXPECT_EMPTY("*-1\r\n", 5);
    EXPECT_EMPTY("*-7\r\n$3\r\nfoo\r\n", 5);
}

static void test_multibulk_empty_and_binary_args(void **state)
{
    EXPECT_ARGS("*1\r\n$0\r\n\r\n", 10, {S("")});
    EXPECT_ARGS("*2\r\n$3\r\nSET\r\n$8\r\na\0\r\nb\r\n\0\r\n", 27, {S("SET")},
                {S("a\0\r\nb\r\n\0")});
}

static void test_multibulk_trailing_crlf_not_checked_like_redis(void **state)
{
    /* Redis skips the two bytes after a payload without looking at them, and
     * the byte after a header's CR likewise. */
    EXPECT_ARGS("*1\r\n$3\r\nfooXY", 13, {S("foo")});
    EXPECT_ARGS("*1\rX$1\r\na\r\n", 11, {S("a")});
}

static void test_multibulk_incomplete_waits(void **state)
{
    EXPECT_AGAIN("*");
    EXPECT_AGAIN("*2");
    EXPECT_AGAIN("*2\r");
    EXPECT_AGAIN("*2\r\n");
    EXPECT_AGAIN("*2\r\n$3\r");
    EXPECT_AGAIN("*2\r\n$3\r\nGET\r");
    EXPECT_AGAIN("*2\r\n$3\r\nGET\r\n$3\r\nkey\r");
    /* The '$' check waits for the whole header line, as in Redis. */
    EXPECT_AGAIN("*1\r\nfoo");
    /* The largest count allowed by default. */
    EXPECT_AGAIN("*1048576\r\n");
}

static void test_huge_multibulk_count_rejected_without_allocation(void **state)
{
    struct resp_parser p;
    char huge[] = "*1000000000\r\n";
    char at_cap[] = "*1048576\r\n$1\r\na\r\n$1\r\nb\r\n";
    size_t consumed;
    struct slice *argv;
    int argc;

    shale_resp_parser_init(&p, NULL);
    assert_int_equal(shale_resp_parse(&p, huge, strlen(huge), &consumed, &argc, &argv),
                     SHALE_PROTO);
    assert_string_equal(shale_resp_parser_error(&p), "Protocol error: invalid multibulk length");
    assert_int_equal(p.arg_cap, 0);
    shale_resp_parser_deinit(&p);

    /* Allowed but mostly missing: space only for what has arrived. */
    shale_resp_parser_init(&p, NULL);
    assert_int_equal(shale_resp_parse(&p, at_cap, strlen(at_cap), &consumed, &argc, &argv),
                     SHALE_AGAIN);
    assert_int_equal(p.argc, 2);
    assert_true(p.arg_cap <= 16);
    shale_resp_parser_deinit(&p);
}

static void test_arg_array_grows_only_to_declared_count(void **state)
{
    struct resp_parser p;
    size_t len, consumed;
    char *buf = build_many_args(100, &len);
    struct slice *argv;
    int argc;

    shale_resp_parser_init(&p, NULL);
    assert_int_equal(shale_resp_parse(&p, buf, len, &consumed, &argc, &argv), SHALE_OK);
    check_many_args(argc, argv, 100);
    assert_int_equal(p.arg_cap, 100);
    shale_resp_parser_deinit(&p);
    shale_free(buf);
}

/* ---- multibulk errors -------------------------------------------------- */

static void test_error_invalid_multibulk_length(void **state)
{
    const char *msg = "Protocol error: invalid multibulk length";

    EXPECT_ERROR("*abc\r\n", msg);
    EXPECT_ERROR("*\r\n", msg);
    EXPECT_ERROR("*1048577\r\n", msg);
    EXPECT_ERROR("*01\r\n", msg);
    EXPECT_ERROR("*+1\r\n", msg);
    EXPECT_ERROR("* 1\r\n", msg);
    EXPECT_ERROR("*1 \r\n", msg);
    EXPECT_ERROR("*-0\r\n", msg);
    EXPECT_ERROR("*-\r\n", msg);
    EXPECT_ERROR("*99999999999999999999\r\n", msg);
    /* The header ends at CR, so a bare LF is part of the number. */
    EXPECT_ERROR("*1\n$1\r\na\r\n", msg);
}

static void test_error_invalid_bulk_length(void **state)
{
    const char *msg = "Protocol error: invalid bulk length";
    struct resp_limits small = {
        .max_bulk_len = 10, .max_multibulk_len = 1024, .max_inline_len = 64 * 1024};

    EXPECT_ERROR("*1\r\n$abc\r\n", msg);
    EXPECT_ERROR("*1\r\n$\r\n", msg);
    EXPECT_ERROR("*1\r\n$-1\r\n", msg);
    EXPECT_ERROR("*1\r\n$01\r\n", msg);
    EXPECT_ERROR("*1\r\n$3 \r\n", msg);
    EXPECT_ERROR("*2\r\n$1\r\na\r\n$x\r\n", msg);
    EXPECT_ERROR("*1\r\n$536870913\r\n", msg);
    EXPECT_AGAIN("*1\r\n$536870912\r\n");
    expect_parse(&small, S("*1\r\n$11\r\n"), SHALE_PROTO, 0, 0, NULL, msg);
    expect_parse(&small, S("*1\r\n$10\r\n0123456789\r\n"), SHALE_OK, 21, 1,
                 (struct slice[]){{S("0123456789")}}, NULL);
}

static void test_error_expected_dollar_names_the_byte(void **state)
{
    EXPECT_ERROR("*1\r\nfoo\r\n", "Protocol error: expected '$', got 'f'");
    EXPECT_ERROR("*2\r\n$1\r\na\r\n:1\r\n", "Protocol error: expected '$', got ':'");
    EXPECT_ERROR("*1\r\n*1\r\n", "Protocol error: expected '$', got '*'");
    /* Redis's reply shows a CR as a space; the message never holds one. */
    EXPECT_ERROR("*1\r\n\r\n", "Protocol error: expected '$', got ' '");
    EXPECT_ERROR("*1\r\n\n\r\n", "Protocol error: expected '$', got ' '");
    EXPECT_ERROR("*1\r\n\0\r\n", "Protocol error: expected '$', got ' '");
}

static void test_error_too_big_mbulk_count_string(void **state)
{
    size_t max = RESP_DEFAULT_MAX_INLINE_LEN;
    char *buf = shale_malloc(max + 1);

    buf[0] = '*';
    memset(buf + 1, '1', max);
    /* Exactly max bytes without a CR still waits; one more is too many. */
    EXPECT_AGAIN_N(buf, max);
    EXPECT_ERROR_N(NULL, buf, max + 1, "Protocol error: too big mbulk count string");
    shale_free(buf);
}

static void test_error_too_big_bulk_count_string(void **state)
{
    size_t max = RESP_DEFAULT_MAX_INLINE_LEN;
    char *buf = shale_malloc(4 + max + 1);

    memcpy(buf, "*1\r\n", 4);
    buf[4] = '$';
    memset(buf + 5, '1', max);
    EXPECT_AGAIN_N(buf, 4 + max);
    EXPECT_ERROR_N(NULL, buf, 4 + max + 1, "Protocol error: too big bulk count string");
    shale_free(buf);
}

static void test_needed_reports_bytes_for_large_bulk(void **state)
{
    struct resp_parser p;
    char buf[] = "*2\r\n$3\r\nSET\r\n$100000\r\nabc";
    size_t consumed;
    struct slice *argv;
    int argc;

    shale_resp_parser_init(&p, NULL);
    assert_int_equal(shale_resp_parser_needed(&p), 0);
    assert_int_equal(shale_resp_parse(&p, buf, 4, &consumed, &argc, &argv), SHALE_AGAIN);
    assert_int_equal(shale_resp_parser_needed(&p), 0);
    assert_int_equal(shale_resp_parse(&p, buf, strlen(buf), &consumed, &argc, &argv), SHALE_AGAIN);
    /* 13 bytes before "$100000\r\n", 9 for it, then payload and CRLF. */
    assert_int_equal(shale_resp_parser_needed(&p), 13 + 9 + 100000 + 2);
    shale_resp_parser_deinit(&p);
}

/* ---- inline ------------------------------------------------------------ */

static void test_inline_command_forms(void **state)
{
    EXPECT_ARGS("PING\r\n", 6, {S("PING")});
    EXPECT_ARGS("SET a b\n", 8, {S("SET")}, {S("a")}, {S("b")});
    EXPECT_ARGS("  GET\t\tkey  \r\n", 14, {S("GET")}, {S("key")});
    /* Only one CR before the LF is part of the line ending; another CR is a
     * separator. */
    EXPECT_ARGS("PING\r\r\n", 7, {S("PING")});
    EXPECT_ARGS("a\rb\r\n", 5, {S("a")}, {S("b")});
    /* \v and \f are skipped between words but do not end one. */
    EXPECT_ARGS("\v\fa\vb c\r\n", 9, {S("a\vb")}, {S("c")});
    EXPECT_AGAIN("PING");
    EXPECT_AGAIN("PING\r");
}

static void test_inline_empty_lines_are_empty_commands(void **state)
{
    EXPECT_EMPTY("\r\n", 2);
    EXPECT_EMPTY("\n", 1);
    EXPECT_EMPTY("  \t \r\n", 6);
    EXPECT_EMPTY("\r\n*1\r\n$4\r\nPING\r\n", 2);
}

static void test_inline_quoting(void **state)
{
    EXPECT_ARGS("SET \"a b\" c\r\n", 13, {S("SET")}, {S("a b")}, {S("c")});
    EXPECT_ARGS("\"\\x41\\x4a\\x7e\\n\\r\\t\\b\\a\\\\\\\"\"\n", 29, {S("AJ~\n\r\t\b\a\\\"")});
    EXPECT_ARGS("\"\\x00z\"\n", 8, {S("\0z")});
    EXPECT_ARGS("\"\\xZZ\\q\"\n", 9, {S("xZZq")});
    EXPECT_ARGS("'it\\'s' 'a\\nb'\n", 15, {S("it's")}, {S("a\\nb")});
    EXPECT_ARGS("\"\" ''\n", 6, {S("")}, {S("")});
    EXPECT_ARGS("foo\"bar baz\" x\n", 15, {S("foobar baz")}, {S("x")});
    EXPECT_ARGS("\"a\"\tb\r\n", 7, {S("a")}, {S("b")});
    EXPECT_ARGS("'a'\v\n", 5, {S("a")});
    EXPECT_ARGS("\"a'b\" 'c\"d'\n", 12, {S("a'b")}, {S("c\"d")});
}

static void test_inline_unbalanced_quotes(void **state)
{
    const char *msg = "Protocol error: unbalanced quotes in request";

    EXPECT_ERROR("\"abc\r\n", msg);
    EXPECT_ERROR("'abc\n", msg);
    EXPECT_ERROR("SET \"a\"b c\n", msg);
    EXPECT_ERROR("'a'b\n", msg);
    EXPECT_ERROR("\"abc\\\"\n", msg);
    EXPECT_ERROR("\"abc\\\n", msg);
    EXPECT_ERROR("\"ab\0c\"\n", msg);
}

static void test_inline_line_ends_at_nul_like_sdssplitargs(void **state)
{
    EXPECT_ARGS("GET a\0junk b\r\n", 14, {S("GET")}, {S("a")});
}

static void test_inline_too_big_request(void **state)
{
    size_t max = RESP_DEFAULT_MAX_INLINE_LEN;
    char *buf = shale_malloc(max + 8);

    memset(buf, 'a', max + 8);
    EXPECT_AGAIN_N(buf, max);
    EXPECT_ERROR_N(NULL, buf, max + 1, "Protocol error: too big inline request");
    /* Redis only measures a line still missing its newline. */
    buf[max + 7] = '\n';
    expect_parse(NULL, buf, max + 8, SHALE_OK, max + 8, 1, (struct slice[]){{buf, max + 7}}, NULL);
    shale_free(buf);
}

/* ---- streams of commands ----------------------------------------------- */

static const char pipeline[] = "*3\r\n$3\r\nSET\r\n$4\r\nk\0\r\n\r\n$5\r\nv\r\nv\r\r\n"
                               "PING\r\n"
                               "\r\n"
                               "*0\r\n"
                               "*-1\r\n"
                               "SET \"quoted \\x41\" 'single \\' q'\r\n"
                               "  \n"
                               "*2\r\n$4\r\nECHO\r\n$0\r\n\r\n"
                               "*1\r\n$20\r\n01234567890123456789\r\n"
                               "GET x\n"
                               "*2\r\n$3\r\nGET\r\n$1\r\n";

static void test_pipelined_commands_back_to_back(void **state)
{
    struct dump d = {0};
    const char want[] = "command argc=3\n 3:SET\n 4:k\0\r\n\n 5:v\r\nv\r\n"
                        "command argc=1\n 4:PING\n"
                        "command argc=0\n"
                        "command argc=0\n"
                        "command argc=0\n"
                        "command argc=3\n 3:SET\n 8:quoted A\n 10:single ' q\n"
                        "command argc=0\n"
                        "command argc=2\n 4:ECHO\n 0:\n"
                        "command argc=1\n 20:01234567890123456789\n"
                        "command argc=2\n 3:GET\n 1:x\n"
                        "incomplete\n";

    run_whole(S(pipeline), &d);
    expect_same_dump(&(struct dump){(char *)want, sizeof(want) - 1, 0}, &d);
    shale_free(d.data);
}

static void test_split_one_byte_at_a_time_matches_whole(void **state)
{
    struct dump whole = {0}, split = {0};

    run_whole(S(pipeline), &whole);
    run_chunked(S(pipeline), (struct feed){.step = 1}, &split);
    expect_same_dump(&whole, &split);
    shale_free(whole.data);
    shale_free(split.data);
}

static void test_split_random_chunks_match_whole(void **state)
{
    struct dump whole = {0};

    run_whole(S(pipeline), &whole);
    for (uint64_t seed = 1; seed <= 200; seed++) {
        struct dump split = {0};
        run_chunked(S(pipeline), (struct feed){.rng = seed * 0x9E3779B97F4A7C15ULL}, &split);
        if (split.len != whole.len || memcmp(split.data, whole.data, whole.len) != 0)
            print_message("chunk seed %llu\n", (unsigned long long)seed);
        expect_same_dump(&whole, &split);
        shale_free(split.data);
    }
    shale_free(whole.data);
}

static void test_split_errors_match_whole(void **state)
{
    static const char *const inputs[] = {
        "PING\r\n*2\r\n$3\r\nGET\r\nxyz\r\n",
        "*1\r\n$4\r\nPING\r\n*1\r\n$-5\r\n",
        "GET a\r\nSET 'x\r\n",
    };

    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        struct dump whole = {0}, split = {0};

        run_whole(inputs[i], strlen(inputs[i]), &whole);
        run_chunked(inputs[i], strlen(inputs[i]), (struct feed){.step = 1}, &split);
        assert_non_null(memmem(whole.data, whole.len, "error:Protocol error", 20));
        expect_same_dump(&whole, &split);
        shale_free(whole.data);
        shale_free(split.data);
    }
}

/* ---- large commands ---------------------------------------------------- */

static void test_hundred_thousand_args_in_4k_chunks_moving_buffer(void **state)
{
    struct dump whole = {0}, split = {0};
    size_t len;
    char *input = build_many_args(100000, &len);
    struct timespec start;

    run_whole(input, len, &whole);
    assert_memory_equal(whole.data, "command argc=100000\n 7:k000000\n", 31);
    clock_gettime(CLOCK_MONOTONIC, &start);
    run_chunked(input, len, (struct feed){.step = 4096}, &split);
    print_message("100000 args in 4KB chunks: %.3f s\n", seconds_since(&start));
    assert_true(seconds_since(&start) < 5.0);
    expect_same_dump(&whole, &split);
    shale_free(whole.data);
    shale_free(split.data);
    shale_free(input);
}

static void test_hundred_thousand_args_in_16_byte_reads_is_linear(void **state)
{
    struct resp_parser p;
    size_t len, have = 0, consumed = 0;
    char *input = build_many_args(100000, &len);
    struct slice *argv = NULL;
    int argc = 0, rc = SHALE_AGAIN, calls = 0;
    struct timespec start;

    /* ~80,000 calls: rescanning finished arguments on each one would cost
     * billions of steps; resuming from saved offsets costs milliseconds. */
    clock_gettime(CLOCK_MONOTONIC, &start);
    shale_resp_parser_init(&p, NULL);
    while (rc == SHALE_AGAIN && have < len) {
        have = len - have < 16 ? len : have + 16;
        rc = shale_resp_parse(&p, input, have, &consumed, &argc, &argv);
        calls++;
    }
    assert_int_equal(rc, SHALE_OK);
    check_many_args(argc, argv, 100000);
    print_message("100000 args in %d calls: %.3f s\n", calls, seconds_since(&start));
    assert_true(seconds_since(&start) < 2.0);

    /* The next small command drops the huge argument array. */
    memcpy(input, "*1\r\n$4\r\nPING\r\n", 14);
    assert_int_equal(shale_resp_parse(&p, input, 14, &consumed, &argc, &argv), SHALE_OK);
    assert_true(p.arg_cap <= 1024);
    shale_resp_parser_deinit(&p);
    shale_free(input);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multibulk_args_point_into_buffer_with_default_limits),
        cmocka_unit_test(test_multibulk_zero_or_negative_count_is_empty_command),
        cmocka_unit_test(test_multibulk_empty_and_binary_args),
        cmocka_unit_test(test_multibulk_trailing_crlf_not_checked_like_redis),
        cmocka_unit_test(test_multibulk_incomplete_waits),
        cmocka_unit_test(test_huge_multibulk_count_rejected_without_allocation),
        cmocka_unit_test(test_arg_array_grows_only_to_declared_count),
        cmocka_unit_test(test_error_invalid_multibulk_length),
        cmocka_unit_test(test_error_invalid_bulk_length),
        cmocka_unit_test(test_error_expected_dollar_names_the_byte),
        cmocka_unit_test(test_error_too_big_mbulk_count_string),
        cmocka_unit_test(test_error_too_big_bulk_count_string),
        cmocka_unit_test(test_needed_reports_bytes_for_large_bulk),
        cmocka_unit_test(test_inline_command_forms),
        cmocka_unit_test(test_inline_empty_lines_are_empty_commands),
        cmocka_unit_test(test_inline_quoting),
        cmocka_unit_test(test_inline_unbalanced_quotes),
        cmocka_unit_test(test_inline_line_ends_at_nul_like_sdssplitargs),
        cmocka_unit_test(test_inline_too_big_request),
        cmocka_unit_test(test_pipelined_commands_back_to_back),
        cmocka_unit_test(test_split_one_byte_at_a_time_matches_whole),
        cmocka_unit_test(test_split_random_chunks_match_whole),
        cmocka_unit_test(test_split_errors_match_whole),
        cmocka_unit_test(test_hundred_thousand_args_in_4k_chunks_moving_buffer),
        cmocka_unit_test(test_hundred_thousand_args_in_16_byte_reads_is_linear),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
