/*
 * The admin HTTP endpoint (--admin-port), fetched with a raw-socket HTTP
 * GET: /metrics parses as Prometheus text format 0.0.4 (tests/support/prom.c
 * is strict), has the expected families, agrees with INFO, and its counters
 * and latency histograms move with traffic; /healthz answers 200 while
 * every thread turns its loop and 503 naming a thread that is stuck (DEBUG
 * SLEEP past the 5 s staleness limit); /readyz answers 200 while serving
 * and 503 during a shutdown. shale only: Redis has no admin endpoint.
 */
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>

#include <cmocka.h>

#include "tests/support/http.h"
#include "tests/support/prom.h"
#include "tests/support/raw.h"
#include "tests/support/reply.h"
#include "tests/support/server.h"

#define HTTP_TIMEOUT_MS 5000

static struct test_server *server;
static redisContext *c;
static int admin_port;
static char admin_port_str[16];

static struct test_server *start_with_admin(int *port)
{
    *port = shale_test_free_port();
    snprintf(admin_port_str, sizeof admin_port_str, "%d", *port);
    const char *const shale_args[] = {"--admin-port",           admin_port_str, "--shards", "2",
                                      "--enable-debug-command", "yes",          NULL};
    return shale_test_server_start(NULL, shale_args);
}

static int group_setup(void **state)
{
    if (shale_test_server_is_redis()) {
        return 0; /* every test skips itself */
    }
    server = start_with_admin(&admin_port);
    return server != NULL ? 0 : -1;
}

static int group_teardown(void **state)
{
    return shale_test_server_stop(server);
}

static int test_setup(void **state)
{
    return shale_test_server_is_redis() ? 0 : shale_test_begin(server, &c);
}

static int test_teardown(void **state)
{
    return shale_test_server_is_redis() ? 0 : shale_test_end(server, &c);
}

#define SHALE_ONLY() shale_test_skip_on_redis("the admin endpoint is shale's own")

/* GETs path and fails the test unless the status is `status`. */
static void get(int port, const char *path, int status, struct test_http_reply *reply)
{
    if (!shale_test_http_get(port, path, HTTP_TIMEOUT_MS, reply)) {
        shale_test_server_report_failure();
        fail_msg("GET %s on admin port %d: no HTTP response", path, port);
    }
    if (reply->status != status) {
        shale_test_server_report_failure();
        fail_msg("GET %s: status %d, expected %d; body:\n%s", path, reply->status, status,
                 reply->body);
    }
}

static void scrape(int port, struct prom_doc *doc)
{
    struct test_http_reply reply;
    get(port, "/metrics", 200, &reply);
    const char *ctype = shale_test_http_header(&reply, "Content-Type");
    if (ctype == NULL || strncmp(ctype, "text/plain; version=0.0.4", 25) != 0) {
        fail_msg("/metrics Content-Type is '%s'", ctype != NULL ? ctype : "(none)");
    }
    char err[256];
    if (!shale_test_prom_parse(reply.body, doc, err, sizeof err)) {
        fail_msg("/metrics is not valid Prometheus text: %s\n%s", err, reply.body);
    }
    shale_test_http_reply_free(&reply);
}

static double value(const struct prom_doc *doc, const char *name, const char *labels)
{
    const struct prom_sample *s = shale_test_prom_sample(doc, name, labels);
    if (s == NULL) {
        fail_msg("/metrics has no %s%s", name, labels);
    }
    return s->value;
}

static long long info_ll(const char *info, const char *field)
{
    const char *v = shale_test_info_field(info, field);
    if (v == NULL) {
        fail_msg("INFO has no %s field", field);
    }
    return strtoll(v, NULL, 10);
}

/* The value of key=NN inside an INFO line such as "db0:keys=3,expires=1". */
static long long info_subfield(const char *info, const char *field, const char *key)
{
    const char *line = shale_test_info_field(info, field);
    if (line == NULL) {
        fail_msg("INFO has no %s line", field);
    }
    char pat[64];
    snprintf(pat, sizeof pat, "%s=", key);
    const char *v = strstr(line, pat);
    if (v == NULL || v > strchr(line, '\r')) {
        fail_msg("INFO %s has no %s", field, key);
    }
    return strtoll(v + strlen(pat), NULL, 10);
}

static void test_metrics_families(void **state)
{
    SHALE_ONLY();
    struct prom_doc doc;
    shale_test_assert_status(c, "OK", "SET k v");
    shale_test_assert_bulk(c, "v", "GET k");
    scrape(admin_port, &doc);
    static const struct {
        const char *name, *type;
    } want[] = {
        {"shale_instance_info", "gauge"},
        {"shale_uptime_in_seconds", "gauge"},
        {"shale_ready", "gauge"},
        {"shale_connected_clients", "gauge"},
        {"shale_connections_received_total", "counter"},
        {"shale_rejected_connections_total", "counter"},
        {"shale_commands_processed_total", "counter"},
        {"shale_instantaneous_ops_per_sec", "gauge"},
        {"shale_net_input_bytes_total", "counter"},
        {"shale_net_output_bytes_total", "counter"},
        {"shale_keyspace_hits_total", "counter"},
        {"shale_keyspace_misses_total", "counter"},
        {"shale_expired_keys_total", "counter"},
        {"shale_db_keys", "gauge"},
        {"shale_db_keys_expiring", "gauge"},
        {"shale_memory_used_bytes", "gauge"},
        {"shale_memory_used_rss_bytes", "gauge"},
        {"shale_allocator_frag_ratio", "gauge"},
        {"shale_mem_fragmentation_ratio", "gauge"},
        {"shale_memory_static_plan_bytes", "gauge"},
        {"shale_shard_commands_total", "counter"},
        {"shale_shard_keys", "gauge"},
        {"shale_shard_memory_used_bytes", "gauge"},
        {"shale_shard_busy_seconds_total", "counter"},
        {"shale_io_thread_commands_total", "counter"},
        {"shale_io_thread_busy_seconds_total", "counter"},
        {"shale_thread_heartbeat_age_seconds", "gauge"},
        {"shale_commands_total", "counter"},
        {"shale_command_duration_seconds", "histogram"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const struct prom_family *f = shale_test_prom_family(&doc, want[i].name);
        if (f == NULL || strcmp(f->type, want[i].type) != 0 || !f->has_help) {
            fail_msg("family %s: %s", want[i].name,
                     f == NULL ? "missing" : "wrong type or no HELP");
        }
    }
    /* Conventions redis_exporter users expect: prefix, _total on counters. */
    for (size_t i = 0; i < doc.nfamilies; i++) {
        const char *name = doc.families[i].name;
        size_t len = strlen(name);
        assert_true(strncmp(name, "shale_", 6) == 0);
        if (strcmp(doc.families[i].type, "counter") == 0 &&
            (len < 6 || strcmp(name + len - 6, "_total") != 0)) {
            fail_msg("counter %s does not end in _total", name);
        }
    }
    /* Every thread reports a heartbeat, and none is old. */
    assert_true(value(&doc, "shale_thread_heartbeat_age_seconds", "{thread=\"main\"}") < 5);
    assert_true(value(&doc, "shale_thread_heartbeat_age_seconds", "{thread=\"io-0\"}") < 5);
    assert_true(value(&doc, "shale_thread_heartbeat_age_seconds", "{thread=\"shard-1\"}") < 5);
    assert_true(value(&doc, "shale_ready", "") == 1);
    assert_true(value(&doc, "shale_shards", "") == 2);
    shale_test_prom_free(&doc);
}

/* Nothing runs between INFO and the scrape, so the counters agree exactly. */
static void test_metrics_match_info(void **state)
{
    SHALE_ONLY();
    for (int i = 0; i < 10; i++) {
        shale_test_assert_status(c, "OK", "SET key:%d %d", i, i);
    }
    for (int i = 0; i < 3; i++) {
        shale_test_assert_int(c, 1, "EXPIRE key:%d 1000", i);
    }
    for (int i = 0; i < 7; i++) {
        shale_test_assert_bulk(c, "5", "GET key:5");
    }
    shale_test_assert_nil(c, "GET missing");
    redisReply *r = shale_test_command(c, "INFO everything");
    const char *info = r->str;
    struct prom_doc doc;
    scrape(admin_port, &doc);
    assert_int_equal(value(&doc, "shale_db_keys", "{db=\"db0\"}"),
                     info_subfield(info, "db0", "keys"));
    assert_int_equal(value(&doc, "shale_db_keys", "{db=\"db0\"}"), 10);
    assert_int_equal(value(&doc, "shale_db_keys_expiring", "{db=\"db0\"}"),
                     info_subfield(info, "db0", "expires"));
    assert_int_equal(value(&doc, "shale_db_keys_expiring", "{db=\"db0\"}"), 3);
    assert_int_equal(value(&doc, "shale_keyspace_hits_total", ""), info_ll(info, "keyspace_hits"));
    assert_int_equal(value(&doc, "shale_keyspace_misses_total", ""),
                     info_ll(info, "keyspace_misses"));
    /* INFO counts itself once it has run, as Redis's call() does. */
    assert_int_equal(value(&doc, "shale_commands_processed_total", ""),
                     info_ll(info, "total_commands_processed") + 1);
    assert_int_equal(value(&doc, "shale_connections_received_total", ""),
                     info_ll(info, "total_connections_received"));
    assert_int_equal(value(&doc, "shale_expired_keys_total", ""), info_ll(info, "expired_keys"));
    assert_int_equal(value(&doc, "shale_memory_static_plan_bytes", ""),
                     info_ll(info, "shale_static_bytes"));
    assert_int_equal(value(&doc, "shale_io_threads", ""), info_ll(info, "shale_io_threads"));
    assert_int_equal(value(&doc, "shale_commands_total", "{cmd=\"set\"}"),
                     info_subfield(info, "cmdstat_set", "calls"));
    assert_int_equal(value(&doc, "shale_commands_total", "{cmd=\"get\"}"),
                     info_subfield(info, "cmdstat_get", "calls"));
    /* Per-shard keys add up to the database total. */
    double shard_keys = value(&doc, "shale_shard_keys", "{shard=\"0\"}") +
                        value(&doc, "shale_shard_keys", "{shard=\"1\"}");
    assert_int_equal(shard_keys, 10);
    /* Every command that ran was timed once. */
    assert_int_equal(value(&doc, "shale_command_duration_seconds_count", "{cmd=\"get\"}"),
                     info_subfield(info, "cmdstat_get", "calls"));
    assert_int_equal(value(&doc, "shale_command_duration_seconds_count", "{cmd=\"expire\"}"), 3);
    freeReplyObject(r);
    shale_test_prom_free(&doc);
}

static void test_counters_move(void **state)
{
    SHALE_ONLY();
    struct prom_doc before, after;
    shale_test_assert_status(c, "OK", "SET present x");
    scrape(admin_port, &before);
    for (int i = 0; i < 100; i++) {
        redisAppendCommand(c, "GET nope:%d", i);
    }
    for (int i = 0; i < 50; i++) {
        redisAppendCommand(c, "HSET h f%d v", i);
    }
    for (int i = 0; i < 100; i++) {
        freeReplyObject(shale_test_next_reply(c));
    }
    for (int i = 0; i < 50; i++) {
        freeReplyObject(shale_test_next_reply(c));
    }
    scrape(admin_port, &after);
    const char *get = "{cmd=\"get\"}";
    assert_int_equal(value(&after, "shale_commands_total", get) -
                         value(&before, "shale_commands_total", get),
                     100);
    assert_int_equal(value(&after, "shale_command_duration_seconds_count", get) -
                         value(&before, "shale_command_duration_seconds_count", get),
                     100);
    assert_int_equal(value(&after, "shale_command_duration_seconds_count", "{cmd=\"hset\"}"), 50);
    assert_true(value(&after, "shale_command_duration_seconds_sum", "{cmd=\"hset\"}") > 0);
    /* A loopback round trip through a shard takes more than a microsecond
     * and far less than 4 s: the +Inf bucket equals the 4.194304 s one. */
    assert_int_equal(
        value(&after, "shale_command_duration_seconds_bucket", "{cmd=\"hset\",le=\"4.194304\"}"),
        50);
    assert_int_equal(value(&after, "shale_keyspace_misses_total", "") -
                         value(&before, "shale_keyspace_misses_total", ""),
                     100);
    assert_int_equal(value(&after, "shale_commands_processed_total", "") -
                         value(&before, "shale_commands_processed_total", ""),
                     150);
    assert_true(value(&after, "shale_net_input_bytes_total", "") >
                value(&before, "shale_net_input_bytes_total", "") + 150 * 10);
    assert_true(value(&after, "shale_net_output_bytes_total", "") >
                value(&before, "shale_net_output_bytes_total", ""));
    assert_true(value(&after, "shale_io_thread_busy_seconds_total", "{thread=\"0\"}") >=
                value(&before, "shale_io_thread_busy_seconds_total", "{thread=\"0\"}"));
    assert_true(value(&after, "shale_io_thread_busy_seconds_total", "{thread=\"0\"}") > 0);
    shale_test_prom_free(&before);
    shale_test_prom_free(&after);
}

static void test_health_and_ready(void **state)
{
    SHALE_ONLY();
    struct test_http_reply reply;
    get(admin_port, "/healthz", 200, &reply);
    assert_string_equal(reply.body, "ok\n");
    shale_test_http_reply_free(&reply);
    get(admin_port, "/readyz", 200, &reply);
    assert_string_equal(reply.body, "ready\n");
    shale_test_http_reply_free(&reply);
    get(admin_port, "/metrics/extra", 404, &reply);
    shale_test_http_reply_free(&reply);
}

/* A shard stuck in a 6 s command stops beating: /healthz turns 503 after
 * 5 s and names it, and recovers once the command ends. */
static void test_healthz_names_stuck_thread(void **state)
{
    SHALE_ONLY();
    struct test_raw *raw = shale_test_raw_connect(server);
    long long start = shale_test_now_ms();
    shale_test_raw_command(raw, "DEBUG", "SLEEP", "6", NULL);
    shale_test_sleep_ms(5600);
    struct test_http_reply reply;
    get(admin_port, "/healthz", 503, &reply);
    if (strstr(reply.body, "shard-") == NULL) {
        fail_msg("/healthz 503 body does not name the shard: %s", reply.body);
    }
    shale_test_http_reply_free(&reply);
    shale_test_raw_expect(raw, "+OK\r\n");
    assert_true(shale_test_now_ms() - start >= 6000);
    shale_test_sleep_ms(300); /* one shard cron */
    get(admin_port, "/healthz", 200, &reply);
    shale_test_http_reply_free(&reply);
    shale_test_raw_close(raw);
}

/* During a shutdown that waits for an in-flight DEBUG SLEEP, /readyz is 503
 * while /healthz stays 200; the sleeping client still gets its reply. */
static void test_readyz_during_shutdown(void **state)
{
    SHALE_ONLY();
    int port;
    struct test_server *s2 = start_with_admin(&port);
    assert_non_null(s2);
    struct test_raw *raw = shale_test_raw_connect(s2);
    shale_test_raw_command(raw, "DEBUG", "SLEEP", "1", NULL);
    shale_test_raw_command(raw, "PING", NULL);
    shale_test_sleep_ms(100);
    struct test_http_reply reply;
    get(port, "/readyz", 200, &reply);
    shale_test_http_reply_free(&reply);
    shale_test_server_kill(s2, SIGTERM);
    shale_test_sleep_ms(200);
    get(port, "/readyz", 503, &reply);
    assert_string_equal(reply.body, "not ready: shutting down\n");
    shale_test_http_reply_free(&reply);
    get(port, "/healthz", 200, &reply);
    shale_test_http_reply_free(&reply);
    struct prom_doc doc;
    scrape(port, &doc);
    assert_true(value(&doc, "shale_ready", "") == 0);
    shale_test_prom_free(&doc);
    shale_test_raw_expect(raw, "+OK\r\n+PONG\r\n");
    shale_test_raw_expect_closed(raw);
    shale_test_raw_close(raw);
    assert_int_equal(shale_test_server_wait_exit(s2, 5000), 0);
    assert_int_equal(shale_test_server_stop(s2), 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, test_setup, test_teardown)
    const struct CMUnitTest tests[] = {
        T(test_metrics_families),
        T(test_metrics_match_info),
        T(test_counters_move),
        T(test_health_and_ready),
        T(test_healthz_names_stuck_thread),
        T(test_readyz_during_shutdown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
