/* Regression tests for bugs the fuzzers (tests/fuzz/) found, one test per
 * bug, on the pure modules involved; the inputs that found them are kept in
 * tests/fuzz/corpus/<target>/regress-* and replayed by every `make fuzz`.
 * Bugs on the request path (router) are covered over the wire in
 * tests/integration/test_regressions.c. Also the client-output-buffer-limit
 * option parser and decision (server/obuf_limit.c). Single-threaded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "net/request.h"
#include "net/resp_write.h"
#include "server/mem.h"
#include "server/obuf_limit.h"
#include "server/slice.h"
#include "shards/exec.h"
#include "shards/keyspace.h"
#include "shards/t_object.h"

static void run_debug_sleep(const char *arg, const char *want)
{
    struct exec_ctx x;
    memset(&x, 0, sizeof(x));
    x.ks = shale_keyspace_create(1, 1);
    struct slice argv[3] = {{"debug", 5}, {"sleep", 5}, {arg, strlen(arg)}};
    struct request r;
    memset(&r, 0, sizeof(r));
    r.argc = 3;
    r.argv = argv;
    r.proto = 2;
    shale_resp_buf_init(&r.reply, 2);
    shale_cmd_debug_sleep(&x, &r);
    assert_int_equal(r.reply.len, strlen(want));
    assert_memory_equal(r.reply.data, want, strlen(want));
    shale_resp_buf_release(&r.reply);
    shale_keyspace_destroy(x.ks);
}

/* fuzz_commands: "DEBUG SLEEP nan" converted nan to long long (undefined;
 * UBSan aborts). Values that do not sleep answer OK at once. */
static void test_debug_sleep_nan_and_negative(void **state)
{
    run_debug_sleep("nan", "+OK\r\n");
    run_debug_sleep("-nan", "+OK\r\n");
    run_debug_sleep("-1e300", "+OK\r\n");
    run_debug_sleep("-5", "+OK\r\n");
    run_debug_sleep("0", "+OK\r\n");
    run_debug_sleep("0.000001", "+OK\r\n");
}

/* ---- client-output-buffer-limit ---------------------------------------- */

static void test_obuf_limit_default_and_canonical_form(void **state)
{
    char *out = NULL;
    char err[256];
    assert_int_equal(shale_obuf_limit_normalize(NULL, OBUF_LIMIT_DEFAULT, &out, err, sizeof(err)),
                     0);
    assert_string_equal(out, "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60");
    char *next = NULL;
    /* Only the classes named change; units and the slave alias as in Redis. */
    assert_int_equal(shale_obuf_limit_normalize(out, "NORMAL 1mb 512KB 10 replica 1k 1 2", &next,
                                                err, sizeof(err)),
                     0);
    assert_string_equal(next, "normal 1048576 524288 10 slave 1000 1 2 pubsub 33554432 8388608 60");
    shale_free(out);
    shale_free(next);
}

static void test_obuf_limit_errors_change_nothing(void **state)
{
    struct obuf_limits l;
    char err[256];
    memset(&l, 0, sizeof(l));
    assert_int_equal(shale_obuf_limit_parse("normal 1 2 3", &l, err, sizeof(err)), 0);
    struct obuf_limits before = l;
    static const struct {
        const char *text, *err;
    } bad[] = {
        {"normal 1 2", "Wrong number of arguments in buffer limit configuration."},
        {"master 1 2 3", "Invalid client class specified in buffer limit configuration."},
        {"pubsub 5 5 5 bogus 1 2 3",
         "Invalid client class specified in buffer limit configuration."},
        {"normal -1 2 3",
         "Error in hard, soft or soft_seconds setting in buffer limit configuration."},
        {"normal 1x 2 3",
         "Error in hard, soft or soft_seconds setting in buffer limit configuration."},
        {"normal 1 2 -3",
         "Error in hard, soft or soft_seconds setting in buffer limit configuration."},
        {"normal 99999999999999999999 2 3",
         "Error in hard, soft or soft_seconds setting in buffer limit configuration."},
        {"normal 17179869184gb 0 0",
         "Error in hard, soft or soft_seconds setting in buffer limit configuration."},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(shale_obuf_limit_parse(bad[i].text, &l, err, sizeof(err)), -1);
        assert_string_equal(err, bad[i].err);
        assert_memory_equal(&l, &before, sizeof(l)); /* all or nothing */
    }
}

static void test_obuf_limit_check_hard_and_soft(void **state)
{
    struct obuf_limit l = {.hard = 1000, .soft = 100, .soft_seconds = 2};
    int64_t since = 0;
    assert_int_equal(shale_obuf_limit_check(&l, 99, 10000, &since), OBUF_WITHIN);
    assert_int_equal(since, 0);
    assert_int_equal(shale_obuf_limit_check(&l, 1000, 10000, &since), OBUF_OVER_HARD);
    /* Over soft: counted from the first time seen, closed only after more
     * than soft_seconds. */
    assert_int_equal(shale_obuf_limit_check(&l, 500, 10000, &since), OBUF_WITHIN);
    assert_int_equal(since, 10000);
    assert_int_equal(shale_obuf_limit_check(&l, 500, 12000, &since), OBUF_WITHIN);
    assert_int_equal(shale_obuf_limit_check(&l, 500, 12001, &since), OBUF_OVER_SOFT);
    /* Back under soft resets the clock. */
    assert_int_equal(shale_obuf_limit_check(&l, 50, 12002, &since), OBUF_WITHIN);
    assert_int_equal(since, 0);
    /* Zero means no limit; a huge soft_seconds never overflows. */
    struct obuf_limit none = {0};
    assert_int_equal(shale_obuf_limit_check(&none, (size_t)1 << 40, 5, &since), OBUF_WITHIN);
    struct obuf_limit forever = {.soft = 1, .soft_seconds = 9223372036854775807LL};
    since = 1;
    assert_int_equal(shale_obuf_limit_check(&forever, 10, 9223372036854775807LL, &since),
                     OBUF_WITHIN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_debug_sleep_nan_and_negative),
        cmocka_unit_test(test_obuf_limit_default_and_canonical_form),
        cmocka_unit_test(test_obuf_limit_errors_change_nothing),
        cmocka_unit_test(test_obuf_limit_check_hard_and_soft),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
