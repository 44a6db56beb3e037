/*
 * CONFIG SET and CONFIG REWRITE: Redis 7.0's replies and error texts,
 * all-or-nothing multi-option SET, options that take effect at once, and a
 * rewrite that keeps the file's comments. Passes against redis-server.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/reply.h"
#include "tests/support/server.h"

static struct test_server *server;
static char conf_path[256];

static int group_setup(void **state)
{
    snprintf(conf_path, sizeof(conf_path), "/tmp/shale-config-set-%d.conf", (int)getpid());
    FILE *f = fopen(conf_path, "w");
    if (!f)
        return -1;
    fputs("# kept by CONFIG REWRITE\ntimeout 0\n", f);
    fclose(f);
    server = shale_test_server_start_conf(conf_path, NULL, NULL);
    return server != NULL ? 0 : -1;
}

static int group_teardown(void **state)
{
    int rc = shale_test_server_stop(server);
    unlink(conf_path);
    return rc;
}

static int test_setup(void **state)
{
    redisContext *c;
    if (shale_test_begin(server, &c) != 0)
        return -1;
    *state = c;
    return 0;
}

static int test_teardown(void **state)
{
    redisContext *c = *state;
    return shale_test_end(server, &c);
}

static void assert_config(redisContext *c, const char *name, const char *value)
{
    redisReply *r = shale_test_command(c, "CONFIG GET %s", name);
    shale_test_expect_array(r, 2, "CONFIG GET");
    shale_test_expect_bulk(r->element[1], value, name);
    freeReplyObject(r);
}

static void test_set_and_errors(void **state)
{
    redisContext *c = *state;
    shale_test_assert_status(c, "OK", "CONFIG SET timeout 30");
    assert_config(c, "timeout", "30");
    shale_test_assert_status(c, "OK", "CONFIG SET timeout 31 loglevel verbose");
    assert_config(c, "timeout", "31");
    assert_config(c, "loglevel", "verbose");
    shale_test_assert_error(c,
                            "ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'",
                            "CONFIG SET nosuch 1");
    shale_test_assert_error(c,
                            "ERR CONFIG SET failed (possibly related to argument 'databases') - "
                            "can't set immutable config",
                            "CONFIG SET databases 4");
    shale_test_assert_error(c,
                            "ERR CONFIG SET failed (possibly related to argument 'timeout') - "
                            "argument couldn't be parsed into an integer",
                            "CONFIG SET timeout abc");
    shale_test_assert_error(c,
                            "ERR CONFIG SET failed (possibly related to argument 'timeout') - "
                            "duplicate parameter",
                            "CONFIG SET timeout 1 timeout 2");
    shale_test_assert_error_prefix(
        c, "ERR CONFIG SET failed (possibly related to argument 'loglevel') - argument(s) must be",
        "CONFIG SET loglevel loud");
    shale_test_assert_error(c, "ERR wrong number of arguments for 'config|set' command",
                            "CONFIG SET timeout");
    /* All or nothing: the valid first pair is not applied either. */
    shale_test_assert_error_prefix(c, "ERR CONFIG SET failed", "CONFIG SET timeout 5 databases 3");
    assert_config(c, "timeout", "31");
    shale_test_assert_status(c, "OK", "CONFIG SET timeout 0 loglevel notice");
}

static void test_changes_apply_at_once(void **state)
{
    redisContext *c = *state;
    shale_test_assert_status(c, "OK", "CONFIG SET hash-max-listpack-entries 2");
    shale_test_assert_int(c, 3, "HSET h a 1 b 2 c 3");
    shale_test_assert_bulk(c, "hashtable", "OBJECT ENCODING h");
    shale_test_assert_status(c, "OK", "CONFIG SET hash-max-listpack-entries 128");
    shale_test_assert_int(c, 3, "HSET h2 a 1 b 2 c 3");
    shale_test_assert_bulk(c, "listpack", "OBJECT ENCODING h2");

    /* A password set at run time: new connections must AUTH; this one, authenticated
     * before, stays so. */
    shale_test_assert_status(c, "OK", "CONFIG SET requirepass s3cret");
    redisContext *other = shale_test_connect(server);
    shale_test_assert_error(other, "NOAUTH Authentication required.", "GET h");
    shale_test_assert_status(other, "OK", "AUTH s3cret");
    shale_test_assert_bulk(other, "1", "HGET h a");
    shale_test_assert_status(c, "OK", "CONFIG SET requirepass %s", "");
    redisFree(other);
}

static void test_rewrite_keeps_comments(void **state)
{
    redisContext *c = *state;
    shale_test_assert_status(c, "OK", "CONFIG SET timeout 42");
    shale_test_assert_status(c, "OK", "CONFIG REWRITE");
    FILE *f = fopen(conf_path, "r");
    assert_non_null(f);
    char text[16384];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    if (!strstr(text, "# kept by CONFIG REWRITE\n"))
        fail_msg("comment lost by CONFIG REWRITE:\n%s", text);
    if (!strstr(text, "\ntimeout 42\n"))
        fail_msg("no 'timeout 42' line after CONFIG REWRITE:\n%s", text);
    if (strstr(text, "\ntimeout 0\n"))
        fail_msg("the old 'timeout 0' line is still there:\n%s", text);
    shale_test_assert_status(c, "OK", "CONFIG SET timeout 0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_set_and_errors, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_changes_apply_at_once, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_rewrite_keeps_comments, test_setup, test_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
