/*
 * The admin HTTP endpoint (--admin-port), fetched with a raw-socket HTTP
 * GET: /metrics parses as Prometheus text format 0.0.4 (tests/support/prom.c
 * is strict), has the expected families, agrees with INFO, and its counters
 * and latency histograms move with traffic; /healthz answers 200 while
 * every thread turns its loop and 503 naming a thread that is stuck (DEBUG
 * SLEEP past the 5 s staleness limit); /readyz answers 200 while serving
 * and 503 during a shutdown. The eviction, active-defrag and TLS families
 * are checked against INFO after real evictions (a small maxmemory), a
 * real defrag cycle (when the build can defragment) and real TLS
 * handshakes (a second server with a TLS port, certificates from
 * scripts/gen-certs.sh). shale only: Redis has no admin endpoint.
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

#include "tests/support/defrag.h"
#include "tests/support/http.h"
#include "tests/support/prom.h"
#include "tests/support/raw.h"
#include "tests/support/reply.h"
#include "tests/support/server.h"
#include "tests/support/tls.h"

#define HTTP_TIMEOUT_MS 5000
/* The main cron refreshes the allocator stats every 100 ms: wait for two. */
#define STATS_SETTLE_MS 250

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

/* Puts back what the eviction and defrag tests change. */
static int test_teardown(void **state)
{
    if (shale_test_server_is_redis()) {
        return 0;
    }
    if (c != NULL) {
        redisReply *r =
            redisCommand(c, "CONFIG SET maxmemory 0 maxmemory-policy noeviction activedefrag no "
                            "active-defrag-ignore-bytes 100mb active-defrag-threshold-lower 10");
        if (r != NULL) {
            freeReplyObject(r);
        }
    }
    return shale_test_end(server, &c);
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
        {"shale_error_replies_total", "counter"},
        {"shale_client_query_buffer_limit_disconnections_total", "counter"},
        {"shale_client_output_buffer_limit_disconnections_total", "counter"},
        /* eviction */
        {"shale_memory_max_bytes", "gauge"},
        {"shale_maxmemory_policy_info", "gauge"},
        {"shale_memory_nonshard_bytes", "gauge"},
        {"shale_evicted_keys_total", "counter"},
        {"shale_shard_evicted_keys_total", "counter"},
        {"shale_shard_memory_max_bytes", "gauge"},
        {"shale_shard_keyspace_bytes", "gauge"},
        /* active defrag */
        {"shale_active_defrag_mode_info", "gauge"},
        {"shale_active_defrag_running", "gauge"},
        {"shale_defrag_hits_total", "counter"},
        {"shale_defrag_misses_total", "counter"},
        {"shale_defrag_key_hits_total", "counter"},
        {"shale_defrag_key_misses_total", "counter"},
        {"shale_active_defrag_time_seconds_total", "counter"},
        {"shale_active_defrag_current_time_seconds", "gauge"},
        {"shale_active_defrag_cycles_total", "counter"},
        {"shale_active_defrag_scanned_total", "counter"},
        {"shale_active_defrag_cpu_seconds_total", "counter"},
        {"shale_active_defrag_run_seconds_total", "counter"},
        {"shale_active_defrag_cpu_ratio", "gauge"},
        {"shale_active_defrag_target_cpu_ratio", "gauge"},
        {"shale_shard_defrag_running", "gauge"},
        {"shale_shard_defrag_target_cpu_ratio", "gauge"},
        {"shale_shard_defrag_cpu_ratio", "gauge"},
        {"shale_shard_defrag_cpu_seconds_total", "counter"},
        {"shale_shard_defrag_run_seconds_total", "counter"},
        {"shale_shard_defrag_runs_total", "counter"},
        {"shale_shard_defrag_cycles_total", "counter"},
        {"shale_shard_defrag_hits_total", "counter"},
        {"shale_shard_defrag_misses_total", "counter"},
        {"shale_shard_defrag_key_hits_total", "counter"},
        {"shale_shard_defrag_key_misses_total", "counter"},
        /* TLS: present (at 0) with the TLS port off too */
        {"shale_tls_connections", "gauge"},
        {"shale_tls_handshakes_total", "counter"},
        {"shale_tls_handshake_failures_total", "counter"},
        {"shale_tls_handshake_timeouts_total", "counter"},
        {"shale_tls_plain_port_refused_total", "counter"},
        {"shale_tls_reloads_total", "counter"},
        {"shale_tls_reload_failures_total", "counter"},
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
    /* This server has no TLS port: the TLS families read 0. */
    assert_true(value(&doc, "shale_tls_handshakes_total", "") == 0);
    assert_true(value(&doc, "shale_tls_connections", "") == 0);
    assert_true(value(&doc, "shale_maxmemory_policy_info", "{policy=\"noeviction\"}") == 1);
    assert_true(value(&doc, "shale_shard_defrag_running", "{shard=\"1\"}") == 0);
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
    shale_test_assert_error(c, "ERR value is not an integer or out of range", "INCRBY key:5 x");
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
    assert_int_equal(value(&doc, "shale_error_replies_total", ""),
                     info_ll(info, "total_error_replies"));
    assert_true(value(&doc, "shale_error_replies_total", "") >= 1);
    assert_int_equal(value(&doc, "shale_client_query_buffer_limit_disconnections_total", ""),
                     info_ll(info, "client_query_buffer_limit_disconnections"));
    assert_int_equal(value(&doc, "shale_client_output_buffer_limit_disconnections_total", ""),
                     info_ll(info, "client_output_buffer_limit_disconnections"));
    assert_int_equal(value(&doc, "shale_shard_keyspace_bytes", "{shard=\"0\"}"),
                     info_subfield(info, "shard0", "keyspace_bytes"));
    freeReplyObject(r);
    shale_test_prom_free(&doc);
}

/* SETs prefix:0..n-1 with 1000-byte values, pipelined; every reply +OK. */
static void set_values(const char *prefix, int n)
{
    static char big[1001];
    memset(big, 'v', 1000);
    for (int base = 0; base < n; base += 500) {
        int end = base + 500 < n ? base + 500 : n;
        for (int i = base; i < end; i++) {
            redisAppendCommand(c, "SET %s:%d %s", prefix, i, big);
        }
        for (int i = base; i < end; i++) {
            redisReply *reply = shale_test_next_reply(c);
            shale_test_expect_status(reply, "OK", "pipelined SET");
            freeReplyObject(reply);
        }
    }
}

/* INFO everything twice around a scrape; true when the two INFO texts
 * agree on every field in `fields`, so the scrape saw the same values. */
static int scrape_between_equal_infos(struct prom_doc *doc, char **info_out,
                                      const char *const *fields, size_t nfields)
{
    char *before = shale_test_info_text(c, "everything");
    scrape(admin_port, doc);
    char *after = shale_test_info_text(c, "everything");
    int same = 1;
    for (size_t i = 0; i < nfields && same; i++) {
        const char *a = shale_test_info_field(before, fields[i]);
        const char *b = shale_test_info_field(after, fields[i]);
        same = a != NULL && b != NULL && strcspn(a, "\r") == strcspn(b, "\r") &&
               strncmp(a, b, strcspn(a, "\r")) == 0;
    }
    free(before);
    if (!same) {
        free(after);
        shale_test_prom_free(doc);
        return 0;
    }
    *info_out = after;
    return 1;
}

/* Evictions forced with a small maxmemory: the eviction families read what
 * INFO reads, and the per-shard figures add up to the totals. */
static void test_metrics_eviction_matches_info(void **state)
{
    SHALE_ONLY();
    shale_test_assert_status(c, "OK", "CONFIG SET maxmemory-policy allkeys-random");
    set_values("a", 2000);
    shale_test_sleep_ms(STATS_SETTLE_MS);
    char *info = shale_test_info_text(c, "memory");
    long long used = shale_test_info_ll(info, "used_memory");
    free(info);
    shale_test_assert_status(c, "OK", "CONFIG SET maxmemory %lld", used);
    set_values("b", 1500);
    /* No limit: nothing is evicted from here on, so the counts stay put. */
    shale_test_assert_status(c, "OK", "CONFIG SET maxmemory 0");

    struct prom_doc doc;
    info = shale_test_info_text(c, "everything");
    scrape(admin_port, &doc);
    long long evicted = shale_test_info_ll(info, "evicted_keys");
    printf("evicted_keys %lld\n", evicted);
    if (evicted < 1000) {
        fail_msg("only %lld keys evicted after writing 1500 into a full server", evicted);
    }
    assert_int_equal(value(&doc, "shale_evicted_keys_total", ""), evicted);
    double per_shard = 0;
    for (int s = 0; s < 2; s++) {
        char labels[32], line[32];
        snprintf(labels, sizeof labels, "{shard=\"%d\"}", s);
        snprintf(line, sizeof line, "shard%d", s);
        double v = value(&doc, "shale_shard_evicted_keys_total", labels);
        assert_int_equal(v, info_subfield(info, line, "evicted_keys"));
        assert_int_equal(value(&doc, "shale_shard_memory_max_bytes", labels), 0);
        per_shard += v;
    }
    assert_int_equal(per_shard, evicted);
    assert_int_equal(value(&doc, "shale_memory_max_bytes", ""), 0);
    assert_true(value(&doc, "shale_maxmemory_policy_info", "{policy=\"allkeys-random\"}") == 1);
    if (shale_test_prom_sample(&doc, "shale_maxmemory_policy_info", "{policy=\"noeviction\"}")) {
        fail_msg("shale_maxmemory_policy_info still has the old policy");
    }
    free(info);
    shale_test_prom_free(&doc);

    /* A limit in force: maxmemory and each shard's share as INFO has them.
     * The shares follow the non-shard bytes every 100 ms, so the scrape is
     * taken between two INFO that agree. */
    shale_test_assert_status(c, "OK", "CONFIG SET maxmemory 100mb");
    static const char *const fields[] = {"maxmemory", "shard0", "shard1", "shale_nonshard_bytes"};
    int tries = 0;
    while (!scrape_between_equal_infos(&doc, &info, fields, 4)) {
        if (++tries == 20) {
            fail_msg("INFO's maxmemory figures kept moving over 20 tries");
        }
        shale_test_sleep_ms(30);
    }
    assert_int_equal(value(&doc, "shale_memory_max_bytes", ""), 100LL * 1024 * 1024);
    assert_int_equal(value(&doc, "shale_memory_max_bytes", ""), info_ll(info, "maxmemory"));
    assert_int_equal(value(&doc, "shale_memory_nonshard_bytes", ""),
                     info_ll(info, "shale_nonshard_bytes"));
    for (int s = 0; s < 2; s++) {
        char labels[32], line[32];
        snprintf(labels, sizeof labels, "{shard=\"%d\"}", s);
        snprintf(line, sizeof line, "shard%d", s);
        double share = value(&doc, "shale_shard_memory_max_bytes", labels);
        assert_int_equal(share, info_subfield(info, line, "maxmemory"));
        assert_true(share > 0 && share < 100.0 * 1024 * 1024);
    }
    free(info);
    shale_test_prom_free(&doc);
}

/* The defrag families against INFO: after a real cycle when the build can
 * defragment (jemalloc, DEFRAG=force), at 0 otherwise. */
static void test_metrics_defrag_matches_info(void **state)
{
    SHALE_ONLY();
    char *mode = shale_test_defrag_mode(c);
    int can = strcmp(mode, "unsupported") != 0;
    if (can) {
        /* 30000 values of 100-400 bytes, 80% deleted at random. */
        char buf[512];
        for (int base = 0; base < 30000; base += 1000) {
            for (int i = base; i < base + 1000; i++) {
                size_t len = shale_test_make_value(buf, (uint64_t)i, 0,
                                                   100 + shale_test_mix((uint64_t)i) % 301);
                redisAppendCommand(c, "SET str:%d %b", i, buf, len);
            }
            for (int i = base; i < base + 1000; i++) {
                freeReplyObject(shale_test_next_reply(c));
            }
        }
        int sent = 0;
        for (int i = 0; i < 30000; i++) {
            if (shale_test_mix((uint64_t)i + 77) % 5 != 0) {
                redisAppendCommand(c, "DEL str:%d", i);
                sent++;
            }
        }
        for (int i = 0; i < sent; i++) {
            freeReplyObject(shale_test_next_reply(c));
        }
        shale_test_sleep_ms(STATS_SETTLE_MS);
        shale_test_assert_status(c, "OK",
                                 "CONFIG SET active-defrag-ignore-bytes 1mb "
                                 "active-defrag-threshold-lower 5 activedefrag yes");
        long long deadline = shale_test_now_ms() + 30000, cycles = 0;
        while (cycles < 1) {
            if (shale_test_now_ms() > deadline) {
                fail_msg("no defrag cycle completed in 30 s (%s build)", mode);
            }
            shale_test_sleep_ms(100);
            char *info = shale_test_info_text(c, "stats");
            cycles = shale_test_info_ll(info, "shale_active_defrag_cycles");
            free(info);
        }
        shale_test_assert_status(c, "OK", "CONFIG SET activedefrag no");
    }
    /* Wait for the governor to see every cycle over, so the counters stop. */
    long long deadline = shale_test_now_ms() + 5000;
    for (;;) {
        char *info = shale_test_info_text(c, "everything");
        int idle = shale_test_info_ll(info, "active_defrag_running") == 0 &&
                   shale_test_info_line_field(info, "shard0_defrag", "running") == 0 &&
                   shale_test_info_line_field(info, "shard1_defrag", "running") == 0;
        free(info);
        if (idle) {
            break;
        }
        if (shale_test_now_ms() > deadline) {
            fail_msg("active defrag still running 5 s after activedefrag no");
        }
        shale_test_sleep_ms(50);
    }
    shale_test_sleep_ms(STATS_SETTLE_MS);

    struct prom_doc doc;
    char *info = shale_test_info_text(c, "everything");
    scrape(admin_port, &doc);
    static const struct {
        const char *metric, *field;
    } same[] = {
        {"shale_active_defrag_running", "active_defrag_running"},
        {"shale_defrag_hits_total", "active_defrag_hits"},
        {"shale_defrag_misses_total", "active_defrag_misses"},
        {"shale_defrag_key_hits_total", "active_defrag_key_hits"},
        {"shale_defrag_key_misses_total", "active_defrag_key_misses"},
        {"shale_active_defrag_cycles_total", "shale_active_defrag_cycles"},
        {"shale_active_defrag_scanned_total", "shale_active_defrag_scanned"},
    };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        double m = value(&doc, same[i].metric, "");
        long long want = shale_test_info_ll(info, same[i].field);
        if (m != (double)want) {
            fail_msg("%s is %.0f, INFO %s is %lld", same[i].metric, m, same[i].field, want);
        }
    }
    /* INFO has ms and µs where /metrics has seconds. */
    assert_int_equal(
        (long long)(value(&doc, "shale_active_defrag_time_seconds_total", "") * 1e6 + 0.5) / 1000,
        shale_test_info_ll(info, "total_active_defrag_time"));
    assert_int_equal(value(&doc, "shale_active_defrag_current_time_seconds", ""), 0);
    assert_int_equal(
        (long long)(value(&doc, "shale_active_defrag_cpu_seconds_total", "") * 1e6 + 0.5),
        shale_test_info_ll(info, "shale_active_defrag_cpu_us"));
    double shard_hits = 0, shard_cycles = 0;
    for (int s = 0; s < 2; s++) {
        char labels[32], line[32];
        snprintf(labels, sizeof labels, "{shard=\"%d\"}", s);
        snprintf(line, sizeof line, "shard%d_defrag", s);
        double hits = value(&doc, "shale_shard_defrag_hits_total", labels);
        assert_int_equal(hits, shale_test_info_line_field(info, line, "hits"));
        assert_int_equal(value(&doc, "shale_shard_defrag_cycles_total", labels),
                         shale_test_info_line_field(info, line, "cycles"));
        assert_int_equal(value(&doc, "shale_shard_defrag_runs_total", labels),
                         shale_test_info_line_field(info, line, "runs"));
        assert_int_equal(
            (long long)(value(&doc, "shale_shard_defrag_cpu_seconds_total", labels) * 1e6 + 0.5),
            (long long)shale_test_info_line_field(info, line, "cpu_us"));
        shard_hits += hits;
        shard_cycles += value(&doc, "shale_shard_defrag_cycles_total", labels);
    }
    assert_int_equal(shard_hits, value(&doc, "shale_defrag_hits_total", ""));
    assert_int_equal(shard_cycles, value(&doc, "shale_active_defrag_cycles_total", ""));
    char labels[48];
    snprintf(labels, sizeof labels, "{mode=\"%s\"}", mode);
    assert_true(value(&doc, "shale_active_defrag_mode_info", labels) == 1);
    if (can) {
        printf("%s: %.0f cycles, %.0f hits, %.3f s defrag CPU\n", mode, shard_cycles, shard_hits,
               value(&doc, "shale_active_defrag_cpu_seconds_total", ""));
        assert_true(shard_cycles >= 1);
    }
    free(mode);
    free(info);
    shale_test_prom_free(&doc);
}

/* The value of a TLS field of INFO shale on ctx. */
static long long info_tls(redisContext *ctx, const char *field)
{
    redisReply *r = shale_test_command(ctx, "INFO shale");
    long long v = info_ll(r->str, field);
    freeReplyObject(r);
    return v;
}

/* A second server with a TLS port: one handshake that completes, one
 * refused for want of a client certificate, one TLS client on the plain
 * port; each shows in /metrics as INFO counts it. */
static void test_metrics_tls_matches_info(void **state)
{
    SHALE_ONLY();
    struct test_certs certs;
    if (shale_test_certs_create(&certs) != 0) {
        fail_msg("scripts/gen-certs.sh could not make the test certificates");
    }
    char ca[PATH_MAX], crt[PATH_MAX], key[PATH_MAX], client_crt[PATH_MAX], client_key[PATH_MAX];
    shale_test_cert_path(&certs, "ca.crt", ca, sizeof ca);
    shale_test_cert_path(&certs, "server.crt", crt, sizeof crt);
    shale_test_cert_path(&certs, "server.key", key, sizeof key);
    shale_test_cert_path(&certs, "client.crt", client_crt, sizeof client_crt);
    shale_test_cert_path(&certs, "client.key", client_key, sizeof client_key);
    int tls_port = shale_test_free_port(), port = shale_test_free_port();
    char tls_port_str[16], port_str[16];
    snprintf(tls_port_str, sizeof tls_port_str, "%d", tls_port);
    snprintf(port_str, sizeof port_str, "%d", port);
    const char *const args[] = {"--admin-port",
                                port_str,
                                "--tls-port",
                                tls_port_str,
                                "--tls-cert-file",
                                crt,
                                "--tls-key-file",
                                key,
                                "--tls-ca-cert-file",
                                ca,
                                NULL};
    struct test_server *s2 = shale_test_server_start(NULL, args);
    assert_non_null(s2);
    redisContext *c2 = shale_test_connect(s2);

    struct prom_doc doc;
    scrape(port, &doc);
    assert_int_equal(value(&doc, "shale_tls_handshakes_total", ""), 0);
    shale_test_prom_free(&doc);

    char why[512];
    if (!shale_test_tls_ping(tls_port, ca, client_crt, client_key, why, sizeof why)) {
        fail_msg("TLS PING with the client certificate refused: %s", why);
    }
    if (shale_test_tls_ping(tls_port, ca, NULL, NULL, why, sizeof why)) {
        fail_msg("TLS PING without a client certificate answered (tls-auth-clients yes)");
    }
    char err[512];
    struct test_tls *plain = shale_test_tls_connect(shale_test_server_port(s2), ca, client_crt,
                                                    client_key, 0, err, sizeof err);
    if (plain != NULL) {
        fail_msg("a TLS handshake on the plain port succeeded");
    }
    /* One connection left open for the gauge. */
    struct test_tls *kept =
        shale_test_tls_connect(tls_port, ca, client_crt, client_key, 0, err, sizeof err);
    if (kept == NULL) {
        fail_msg("TLS connect: %s", err);
    }
    static const char ping[] = "*1\r\n$4\r\nPING\r\n";
    char got[8] = {0};
    assert_true(shale_test_tls_send(kept, ping, sizeof ping - 1, err, sizeof err));
    assert_int_equal(shale_test_tls_read(kept, got, 7, 10000, NULL), 7);
    assert_string_equal(got, "+PONG\r\n");
    /* The refused connections are released on their I/O thread. */
    long long deadline = shale_test_now_ms() + 3000;
    while (info_tls(c2, "tls_connections") != 1 && shale_test_now_ms() < deadline) {
        shale_test_sleep_ms(20);
    }

    redisReply *r = shale_test_command(c2, "INFO shale");
    scrape(port, &doc);
    static const struct {
        const char *metric, *field;
    } same[] = {
        {"shale_tls_connections", "tls_connections"},
        {"shale_tls_handshakes_total", "tls_handshakes"},
        {"shale_tls_handshake_failures_total", "tls_handshake_failures"},
        {"shale_tls_handshake_timeouts_total", "tls_handshake_timeouts"},
        {"shale_tls_plain_port_refused_total", "tls_plain_port_refused"},
        {"shale_tls_reloads_total", "tls_reloads"},
        {"shale_tls_reload_failures_total", "tls_reload_failures"},
    };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        double m = value(&doc, same[i].metric, "");
        long long want = info_ll(r->str, same[i].field);
        if (m != (double)want) {
            fail_msg("%s is %.0f, INFO %s is %lld", same[i].metric, m, same[i].field, want);
        }
    }
    assert_int_equal(value(&doc, "shale_tls_connections", ""), 1);
    assert_int_equal(value(&doc, "shale_tls_handshakes_total", ""), 2);
    assert_int_equal(value(&doc, "shale_tls_handshake_failures_total", ""), 1);
    assert_int_equal(value(&doc, "shale_tls_plain_port_refused_total", ""), 1);
    freeReplyObject(r);
    shale_test_prom_free(&doc);
    shale_test_tls_close(kept);
    redisFree(c2);
    assert_int_equal(shale_test_server_stop(s2), 0);
    shale_test_certs_destroy(&certs);
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
        T(test_metrics_eviction_matches_info),
        T(test_metrics_defrag_matches_info),
        T(test_metrics_tls_matches_info),
        T(test_counters_move),
        T(test_health_and_ready),
        T(test_healthz_names_stuck_thread),
        T(test_readyz_during_shutdown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
