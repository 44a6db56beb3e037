/*
 * What a redis_exporter-style scraper sees, through the real redis-cli:
 * `INFO ALL` parses into "# Section" headers and "field:value" lines with
 * the sections and fields the exporter reads, and `CONFIG GET *` returns
 * every option of the config table. shale-only where it checks shale's own
 * section and option count.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>

#include <cmocka.h>

#include "server/config.h"
#include "tests/support/reply.h"
#include "tests/support/server.h"

#define OUTPUT_MAX (1 << 20)

static struct test_server *server;

static int group_setup(void **state)
{
    server = shale_test_server_start(NULL, NULL);
    return server != NULL ? 0 : -1;
}

static int group_teardown(void **state)
{
    return shale_test_server_stop(server);
}

/* redis-cli's whole stdout for `args` (shell words) against the server. */
static char *redis_cli(const char *args)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "redis-cli -p %d %s", shale_test_server_port(server), args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char *out = calloc(1, OUTPUT_MAX);
    size_t n = fread(out, 1, OUTPUT_MAX - 1, p);
    out[n] = '\0';
    assert_int_equal(pclose(p), 0);
    return out;
}

/* The value of "field:" in section `section` of an INFO text, or NULL. */
static const char *field_in(const char *info, const char *section, const char *field, char *value,
                            size_t cap)
{
    char header[64];
    snprintf(header, sizeof(header), "# %s\r\n", section);
    const char *s = strstr(info, header);
    if (!s)
        return NULL;
    const char *end = strstr(s + strlen(header), "\r\n#");
    size_t flen = strlen(field);
    for (const char *line = s + strlen(header); *line && (!end || line < end);) {
        const char *eol = strstr(line, "\r\n");
        if (!eol)
            break;
        if ((size_t)(eol - line) > flen && !strncmp(line, field, flen) && line[flen] == ':') {
            size_t n = (size_t)(eol - line) - flen - 1;
            n = n < cap - 1 ? n : cap - 1;
            memcpy(value, line + flen + 1, n);
            value[n] = '\0';
            return value;
        }
        line = eol + 2;
    }
    return NULL;
}

static void expect_field(const char *info, const char *section, const char *field)
{
    char value[256];
    if (!field_in(info, section, field, value, sizeof(value)) || !*value)
        fail_msg("INFO ALL: no %s in section %s", field, section);
}

/* Every line is a "# Section" header, a "field:value" pair, or empty. */
static void expect_well_formed(const char *info)
{
    for (const char *line = info; *line;) {
        const char *eol = strstr(line, "\r\n");
        if (!eol)
            fail_msg("INFO ALL: a line without CRLF: %.60s", line);
        if (eol > line && line[0] != '#' && !memchr(line, ':', (size_t)(eol - line)))
            fail_msg("INFO ALL: neither a header nor field:value: %.*s", (int)(eol - line), line);
        line = eol + 2;
    }
}

static void test_info_all_has_the_exporter_fields(void **state)
{
    redisContext *c = shale_test_connect(server);
    shale_test_assert_status(c, "OK", "SET scrape:a 1");
    shale_test_assert_int(c, 1, "EXPIRE scrape:a 1000");
    shale_test_assert_error_prefix(c, "ERR wrong number", "INCR scrape:a extra");
    redisFree(c);
    /* redis-cli prints a bulk reply as is (CRLF lines) when its stdout is
     * not a terminal, as a scraper running it sees it. */
    char *info = redis_cli("INFO ALL");
    expect_well_formed(info);
    static const char *const fields[][2] = {
        {"Server", "redis_version"},
        {"Server", "uptime_in_seconds"},
        {"Server", "process_id"},
        {"Server", "tcp_port"},
        {"Clients", "connected_clients"},
        {"Clients", "blocked_clients"},
        {"Memory", "used_memory"},
        {"Memory", "used_memory_rss"},
        {"Memory", "maxmemory"},
        {"Memory", "mem_fragmentation_ratio"},
        {"Persistence", "rdb_changes_since_last_save"},
        {"Persistence", "aof_enabled"},
        {"Stats", "total_connections_received"},
        {"Stats", "total_commands_processed"},
        {"Stats", "keyspace_hits"},
        {"Stats", "keyspace_misses"},
        {"Stats", "expired_keys"},
        {"Stats", "evicted_keys"},
        {"Stats", "total_error_replies"},
        {"Replication", "role"},
        {"Replication", "connected_slaves"},
        {"CPU", "used_cpu_sys"},
        {"CPU", "used_cpu_user"},
        {"Commandstats", "cmdstat_set"},
        {"Commandstats", "cmdstat_expire"},
        {"Errorstats", "errorstat_ERR"},
        {"Keyspace", "db0"},
    };
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        expect_field(info, fields[i][0], fields[i][1]);
    char value[256];
    assert_string_equal(field_in(info, "Replication", "role", value, sizeof(value)), "master");
    field_in(info, "Commandstats", "cmdstat_set", value, sizeof(value));
    assert_true(strstr(value, "calls=1,usec=") == value);
    assert_non_null(strstr(value, ",usec_per_call="));
    assert_non_null(strstr(value, ",rejected_calls=0,failed_calls=0"));
    field_in(info, "Keyspace", "db0", value, sizeof(value));
    assert_true(strstr(value, "keys=1,expires=1,avg_ttl=") == value);
    if (!shale_test_server_is_redis()) {
        expect_field(info, "Shale", "shard0");
        expect_field(info, "Memory", "shale_static_bytes");
    }
    free(info);
}

static void test_config_get_star_returns_every_option(void **state)
{
    shale_test_skip_on_redis("the count is shale's option table");
#define COUNT_OPTION(field, name, type, def, min, max, choices, mode, help) +1
    const int options = 0 SHALE_CONFIG_OPTIONS(COUNT_OPTION);
    char *out = redis_cli("CONFIG GET '*'");
    int lines = 0;
    for (const char *p = out; (p = strchr(p, '\n')) != NULL; p++)
        lines++;
    /* A name line and a value line per option. */
    assert_int_equal(lines, 2 * options);
    memmove(out + 1, out, strlen(out) + 1);
    out[0] = '\n'; /* so that every name is found as "\nname\n" */
#define CHECK_OPTION(field, name, type, def, min, max, choices, mode, help)                        \
    {                                                                                              \
        char line[96];                                                                             \
        snprintf(line, sizeof(line), "\n%s\n", name);                                              \
        if (!strstr(out, line))                                                                    \
            fail_msg("CONFIG GET * has no %s", name);                                              \
    }
    SHALE_CONFIG_OPTIONS(CHECK_OPTION)
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_info_all_has_the_exporter_fields),
        cmocka_unit_test(test_config_get_star_returns_every_option),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
