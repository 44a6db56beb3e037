/* test_config: unit tests for the option table (server/config.c): defaults,
 * `--name value` flags, conf files (written to a temporary directory),
 * memory units, error wording and CONFIG GET. Each test gets a fresh config
 * from setup and teardown frees it, so an ASan build checks for leaks.
 * Single-threaded, like start-up. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/config.h"

#define MAX_PAIRS 64

static char tmpdir[64];

struct fx {
    struct config cfg;
    char err[512];
    char path[128];
};

struct pairs {
    int n;
    char name[MAX_PAIRS][64];
    char value[MAX_PAIRS][128];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    shale_config_init(&f->cfg);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    shale_config_deinit(&f->cfg);
    free(f);
    return 0;
}

static int group_setup(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/shale-test-config-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    DIR *d = opendir(tmpdir);
    if (!d)
        return -1;
    char path[sizeof(tmpdir) + 300];
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", tmpdir, e->d_name);
        unlink(path);
    }
    closedir(d);
    return rmdir(tmpdir);
}

static int load_args(struct fx *f, char **argv, int argc)
{
    f->err[0] = '\0';
    return shale_config_load_args(&f->cfg, argc, argv, f->err, sizeof(f->err));
}

#define ARGV(...)    ((char *[]){__VA_ARGS__})
#define ARGC(...)    ((int)(sizeof(ARGV(__VA_ARGS__)) / sizeof(char *)))
#define LOAD(f, ...) load_args(f, ARGV(__VA_ARGS__), ARGC(__VA_ARGS__))

/* Loading the words must succeed. */
#define LOAD_OK(f, ...)                                                                            \
    do {                                                                                           \
        if (LOAD(f, __VA_ARGS__) != 0)                                                             \
            fail_msg("loading arguments failed with '%s', expected success", (f)->err);            \
    } while (0)

/* Loading the words must fail with exactly this message. */
#define LOAD_ERR(f, msg, ...)                                                                      \
    do {                                                                                           \
        assert_int_equal(LOAD(f, __VA_ARGS__), -1);                                                \
        assert_string_equal((f)->err, msg);                                                        \
    } while (0)

/* Writes `text` to a file in the temp dir; its path is left in f->path. */
static void write_conf(struct fx *f, const char *name, const char *text)
{
    snprintf(f->path, sizeof(f->path), "%s/%s", tmpdir, name);
    FILE *fp = fopen(f->path, "w");
    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
}

static int load_file(struct fx *f)
{
    f->err[0] = '\0';
    return shale_config_load_file(&f->cfg, f->path, f->err, sizeof(f->err));
}

static void collect(void *ctx, const char *name, const char *value)
{
    struct pairs *p = ctx;
    assert_true(p->n < MAX_PAIRS);
    snprintf(p->name[p->n], sizeof(p->name[0]), "%s", name);
    snprintf(p->value[p->n], sizeof(p->value[0]), "%s", value);
    p->n++;
}

static void get_pairs(const struct fx *f, const char *pattern, struct pairs *p)
{
    p->n = 0;
    shale_config_get(&f->cfg, pattern, strlen(pattern), collect, p);
}

/* CONFIG GET of one exact name; returns its value. */
static const char *get_value(const struct fx *f, const char *name)
{
    static struct pairs p;
    get_pairs(f, name, &p);
    if (p.n != 1)
        fail_msg("CONFIG GET %s returned %d options, expected 1", name, p.n);
    assert_string_equal(p.name[0], name);
    return p.value[0];
}

static void test_config_defaults(void **state)
{
    struct fx *f = *state;
    assert_int_equal(f->cfg.port, 6379);
    assert_int_equal(f->cfg.databases, 16);
    assert_int_equal(f->cfg.maxclients, 10000);
    assert_int_equal(f->cfg.proto_max_bulk_len, 536870912);
    assert_int_equal(f->cfg.client_query_buffer_limit, 1073741824);
    assert_int_equal(f->cfg.spin_us, -1);
    assert_int_equal(f->cfg.appendonly, 0);
    assert_string_equal(f->cfg.bind, "127.0.0.1 -::1");
    assert_string_equal(f->cfg.requirepass, "");
    assert_string_equal(get_value(f, "loglevel"), "notice");
    assert_string_equal(get_value(f, "appendonly"), "no");
    assert_string_equal(get_value(f, "proto-max-bulk-len"), "536870912");
}

static void test_config_args(void **state)
{
    struct fx *f = *state;
    LOAD_OK(f, "--port", "7000", "--io-threads", "2", "--shards", "4", "--bind", "127.0.0.1",
            "::1");
    assert_int_equal(f->cfg.port, 7000);
    assert_int_equal(f->cfg.io_threads, 2);
    assert_int_equal(f->cfg.shards, 4);
    assert_string_equal(f->cfg.bind, "127.0.0.1 ::1");
    assert_int_equal(f->cfg.databases, 16); /* untouched */

    /* Names and enum words are case-insensitive; a lone '-' is a value. */
    LOAD_OK(f, "--PORT", "7001", "--loglevel", "WARNING", "--spin-us", "-1", "--requirepass");
    assert_int_equal(f->cfg.port, 7001);
    assert_string_equal(get_value(f, "loglevel"), "warning");
    assert_int_equal(f->cfg.spin_us, -1);
    assert_string_equal(f->cfg.requirepass, ""); /* a string may have no words */
    LOAD_OK(f, "--port", "0");                   /* the lower bound is inclusive */
    assert_int_equal(f->cfg.port, 0);
    assert_int_equal(load_args(f, NULL, 0), 0);
}

static void test_config_memory_units(void **state)
{
    static const struct {
        const char *text;
        long long bytes;
    } cases[] = {
        {"1048576", 1048576},    {"1048576b", 1048576},   {"2000k", 2000 * 1000},
        {"2048kb", 2048 * 1024}, {"2048KB", 2048 * 1024}, {"3m", 3000 * 1000},
        {"3mb", 3 << 20},        {"3Mb", 3 << 20},        {"1g", 1000 * 1000 * 1000},
        {"1gb", 1LL << 30},      {"1GB", 1LL << 30},      {"4gb", 4LL << 30},
    };
    struct fx *f = *state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *text = (char *)cases[i].text;
        if (LOAD(f, "--client-query-buffer-limit", text) != 0)
            fail_msg("'%s' failed with '%s', expected %lld bytes", text, f->err, cases[i].bytes);
        if (f->cfg.client_query_buffer_limit != cases[i].bytes)
            fail_msg("'%s' gave %lld bytes, expected %lld", text, f->cfg.client_query_buffer_limit,
                     cases[i].bytes);
    }
    assert_string_equal(get_value(f, "client-query-buffer-limit"), "4294967296");
    LOAD_OK(f, "--proto-max-bulk-len", "1mb");
    assert_int_equal(f->cfg.proto_max_bulk_len, 1048576);
}

static void test_config_memory_errors(void **state)
{
#define NOT_MEMORY "option '--proto-max-bulk-len': argument must be a memory value"
#define BULK_RANGE                                                                                 \
    "option '--proto-max-bulk-len': argument must be between 1048576 and 2147483647 inclusive"
#define QUERY_RANGE                                                                                \
    "option '--client-query-buffer-limit': argument must be between 1048576 and 4294967296 "       \
    "inclusive"
    struct fx *f = *state;
    LOAD_ERR(f, NOT_MEMORY, "--proto-max-bulk-len", "12x");
    LOAD_ERR(f, NOT_MEMORY, "--proto-max-bulk-len", "mb");
    LOAD_ERR(f, NOT_MEMORY, "--proto-max-bulk-len", "1mbb");
    /* 1k = 1000 and 1kb = 1024 are both below the 1mb minimum. */
    LOAD_ERR(f, BULK_RANGE, "--proto-max-bulk-len", "1k");
    LOAD_ERR(f, BULK_RANGE, "--proto-max-bulk-len", "1kb");
    LOAD_ERR(f, BULK_RANGE, "--proto-max-bulk-len", "2gb");
    LOAD_ERR(f, QUERY_RANGE, "--client-query-buffer-limit", "5gb");
    LOAD_ERR(f, QUERY_RANGE, "--client-query-buffer-limit", "-1mb");
    assert_int_equal(f->cfg.proto_max_bulk_len, 536870912); /* failures change nothing */
}

static void test_config_memory_overflow(void **state)
{
    static const char *const too_big[] = {
        "17179869185gb",         /* (2^34 + 1) * 2^30 wraps to 2^30: would read as 1gb */
        "9223372036854775807kb", /* LLONG_MAX * 1024 */
        "9223372036854775808",   /* past LLONG_MAX before any unit */
    };
    struct fx *f = *state;
    for (size_t i = 0; i < sizeof(too_big) / sizeof(too_big[0]); i++) {
        if (LOAD(f, "--client-query-buffer-limit", (char *)too_big[i]) == 0)
            fail_msg("'%s' was accepted as %lld bytes, expected an error (it overflows)",
                     too_big[i], f->cfg.client_query_buffer_limit);
    }
    assert_int_equal(f->cfg.client_query_buffer_limit, 1073741824);
}

static void test_config_bad_values(void **state)
{
#define PORT_RANGE "option '--port': argument must be between 0 and 65535 inclusive"
#define PORT_NAN   "option '--port': argument couldn't be parsed into an integer"
#define PORT_NARGS "option '--port': wrong number of arguments"
#define NO_AOF                                                                                     \
    "option '--appendonly': appendonly is not supported: shale is a cache without persistence"
#define LOGLEVELS                                                                                  \
    "option '--loglevel': argument(s) must be one of the following: debug, verbose, notice, "      \
    "warning"
    struct fx *f = *state;
    LOAD_ERR(f, PORT_RANGE, "--port", "65536");
    LOAD_ERR(f, PORT_RANGE, "--port", "-1");
    LOAD_ERR(f, "option '--databases': argument must be between 1 and 256 inclusive", "--databases",
             "0");
    LOAD_ERR(f, PORT_NAN, "--port", "abc");
    LOAD_ERR(f, PORT_NAN, "--port", "70x0");
    LOAD_ERR(f, PORT_NAN, "--port", "");
    LOAD_ERR(f, "option '--timeout': argument couldn't be parsed into an integer", "--timeout",
             "99999999999999999999");
    LOAD_ERR(f, "option '--appendonly': argument must be 'yes' or 'no'", "--appendonly", "maybe");
    LOAD_ERR(f, LOGLEVELS, "--loglevel", "loud");
    LOAD_ERR(f, PORT_NARGS, "--port");
    LOAD_ERR(f, PORT_NARGS, "--port", "1", "2");
    LOAD_ERR(f, "option '--nosuch': Bad directive or wrong number of arguments", "--nosuch", "1");
    LOAD_ERR(f, "unexpected argument 'port' (options are --name value)", "port", "7000");
    LOAD_ERR(f, NO_AOF, "--appendonly", "YES");
    LOAD_OK(f, "--appendonly", "no");
    assert_int_equal(f->cfg.port, 6379);
    assert_string_equal(get_value(f, "appendonly"), "no");
}

static void test_config_set_value_too_long(void **state)
{
    struct fx *f = *state;
    static char big[3000];
    memset(big, 'x', 2999);
    big[2999] = '\0';
    const char *values[] = {big, big};
    assert_int_equal(shale_config_set(&f->cfg, "save", values, 1, f->err, sizeof(f->err)), 0);
    assert_int_equal(strlen(f->cfg.save), 2999);
    assert_int_equal(shale_config_set(&f->cfg, "save", values, 2, f->err, sizeof(f->err)), -1);
    assert_string_equal(f->err, "value too long");
}

static void test_config_file(void **state)
{
    struct fx *f = *state;
    write_conf(f, "good.conf",
               "# shale test config\n"
               "\n"
               "   # an indented comment\n"
               "port 7002\r\n"
               "  databases   32  \n"
               "bind 10.0.0.1   10.0.0.2\n"
               "requirepass secret\n"
               "requirepass \"\"\n"
               "logfile \"my \\\"log\\\".txt\"\n"
               "save 'it\\s raw' \"900 1\" 300\n"
               "loglevel \"debug\"\n"
               "appendonly no\n"
               "maxclients 500");
    if (load_file(f) != 0)
        fail_msg("loading %s failed with '%s', expected success", f->path, f->err);
    assert_int_equal(f->cfg.port, 7002);
    assert_int_equal(f->cfg.databases, 32);
    assert_string_equal(f->cfg.bind, "10.0.0.1 10.0.0.2");
    assert_string_equal(f->cfg.requirepass, "");
    assert_string_equal(f->cfg.logfile, "my \"log\".txt");   /* \" inside double quotes */
    assert_string_equal(f->cfg.save, "it\\s raw 900 1 300"); /* no escapes in single quotes */
    assert_string_equal(get_value(f, "loglevel"), "debug");
    assert_int_equal(f->cfg.maxclients, 500); /* last line without a newline */
}

/* Loading `text` as file `name` must fail with "<path>:<where>". */
static void expect_file_error(struct fx *f, const char *name, const char *text, const char *where)
{
    char want[512];
    write_conf(f, name, text);
    assert_int_equal(load_file(f), -1);
    snprintf(want, sizeof(want), "%s:%s", f->path, where);
    assert_string_equal(f->err, want);
}

static void test_config_file_errors(void **state)
{
    struct fx *f = *state;
    expect_file_error(f, "bad.conf", "# first\n\nport 7003\ndatabases 0\nport 7004\n",
                      "4: 'databases': argument must be between 1 and 256 inclusive");
    assert_int_equal(f->cfg.port, 7003); /* lines after the bad one are not applied */
    expect_file_error(f, "unknown.conf", "port 7005\nnosuch-option yes\n",
                      "2: 'nosuch-option': Bad directive or wrong number of arguments");
    expect_file_error(f, "quote.conf", "requirepass \"open\n",
                      "1: unbalanced quotes or too many arguments");
    expect_file_error(f, "aof.conf", "port 7006\nappendonly yes\n",
                      "2: 'appendonly': appendonly is not supported: shale is a cache without "
                      "persistence");
    assert_int_equal(f->cfg.appendonly, 0);

    char want[512];
    snprintf(f->path, sizeof(f->path), "%s/missing.conf", tmpdir);
    assert_int_equal(load_file(f), -1);
    snprintf(want, sizeof(want), "can't open config file '%s': No such file or directory", f->path);
    assert_string_equal(f->err, want);
}

static void test_config_get_patterns(void **state)
{
    static const char *const max_names[] = {"client-max-inflight",
                                            "maxclients",
                                            "proto-max-bulk-len",
                                            "proto-max-multibulk-len",
                                            "slowlog-max-len",
                                            "hash-max-listpack-entries",
                                            "hash-max-listpack-value",
                                            "maxmemory",
                                            "maxmemory-policy",
                                            "maxmemory-samples",
                                            "maxmemory-eviction-tenacity"};
    static const char *const max_values[] = {"1024", "10000", "536870912",  "1048576", "128", "128",
                                             "64",   "0",     "noeviction", "5",       "10"};
#define OPTION_NAME(field, name, type, def, min, max, choices, mode, help) name,
    static const char *const all_names[] = {SHALE_CONFIG_OPTIONS(OPTION_NAME)};
    struct fx *f = *state;
    struct pairs p;

    /* Every option whose name holds "max", in table order (taken from the
     * table, so a new option needs no edit here), and the values of some. */
    const char *want[sizeof(all_names) / sizeof(all_names[0])];
    int nwant = 0;
    for (size_t i = 0; i < sizeof(all_names) / sizeof(all_names[0]); i++)
        if (strstr(all_names[i], "max"))
            want[nwant++] = all_names[i];
    get_pairs(f, "*max*", &p);
    assert_int_equal(p.n, nwant);
    for (int i = 0; i < p.n; i++)
        assert_string_equal(p.name[i], want[i]);
    for (size_t k = 0; k < sizeof(max_names) / sizeof(max_names[0]); k++) {
        int found = 0;
        for (int i = 0; i < p.n; i++)
            if (!strcmp(p.name[i], max_names[k])) {
                assert_string_equal(p.value[i], max_values[k]);
                found = 1;
            }
        assert_true(found);
    }

    get_pairs(f, "port", &p);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.name[0], "port");
    assert_string_equal(p.value[0], "6379");

    get_pairs(f, "PORT", &p); /* CONFIG GET is case-insensitive */
    assert_int_equal(p.n, 1);
    assert_string_equal(p.name[0], "port");

    get_pairs(f, "nomatch", &p);
    assert_int_equal(p.n, 0);

    p.n = 0;
    shale_config_get(&f->cfg, "portXYZ", 4, collect, &p); /* patlen is honoured */
    assert_int_equal(p.n, 1);
    assert_string_equal(p.name[0], "port");

    /* "*" lists every option of the table, once each, in table order. */
    get_pairs(f, "*", &p);
    assert_int_equal(p.n, sizeof(all_names) / sizeof(all_names[0]));
    for (int i = 0; i < p.n; i++)
        assert_string_equal(p.name[i], all_names[i]);

    LOAD_OK(f, "--bind", "::1", "--save", "3600", "1", "--loglevel", "verbose");
    get_pairs(f, "[bs][ia]*", &p);
    assert_int_equal(p.n, 2);
    assert_string_equal(p.name[0], "bind");
    assert_string_equal(p.value[0], "::1");
    assert_string_equal(p.name[1], "save");
    assert_string_equal(p.value[1], "3600 1");
    assert_string_equal(get_value(f, "loglevel"), "verbose");
}

static void test_config_deinit_frees_strings(void **state)
{
    struct fx *f = *state;
    /* Replacing a string frees the old one (ASan's leak check runs at exit). */
    LOAD_OK(f, "--requirepass", "one", "--requirepass", "two", "--logfile", "/tmp/x.log");
    shale_config_deinit(&f->cfg);
    assert_null(f->cfg.bind);
    assert_null(f->cfg.requirepass);
    assert_null(f->cfg.logfile);
    assert_null(f->cfg.save);
    shale_config_deinit(&f->cfg); /* twice is harmless (teardown does it again) */
    shale_config_init(&f->cfg);
    assert_string_equal(f->cfg.bind, "127.0.0.1 -::1");
}

/* The operations options and rename-command, a directive that may repeat
 * and keeps file order (applied by the command table at start-up). */
static void test_config_operations(void **state)
{
    struct fx *f = *state;
    assert_string_equal(get_value(f, "protected-mode"), "yes");
    assert_string_equal(get_value(f, "enable-debug-command"), "no");
    assert_string_equal(get_value(f, "log-format"), "legacy");
    assert_string_equal(get_value(f, "admin-port"), "0");
    assert_string_equal(get_value(f, "admin-bind"), "127.0.0.1");
    assert_string_equal(get_value(f, "shutdown-timeout"), "10");
    assert_null(f->cfg.renames);
    write_conf(f, "ops.conf",
               "rename-command FLUSHALL \"\"\n"
               "rename-command config my-config\n"
               "enable-debug-command local\n"
               "log-format logfmt\n"
               "admin-port 9121\n");
    assert_int_equal(load_file(f), 0);
    LOAD_OK(f, "--rename-command", "debug", "dbg");
    const struct config_rename *r = f->cfg.renames;
    assert_non_null(r);
    assert_string_equal(r->from, "FLUSHALL");
    assert_string_equal(r->to, "");
    r = r->next;
    assert_string_equal(r->from, "config");
    assert_string_equal(r->to, "my-config");
    r = r->next;
    assert_string_equal(r->from, "debug");
    assert_string_equal(r->to, "dbg");
    assert_null(r->next);
    assert_string_equal(get_value(f, "enable-debug-command"), "local");
    assert_string_equal(get_value(f, "log-format"), "logfmt");
    assert_int_equal(f->cfg.admin_port, 9121);
    /* Not an option: CONFIG GET does not list it, as in Redis. */
    struct pairs p;
    get_pairs(f, "rename*", &p);
    assert_int_equal(p.n, 0);
    LOAD_ERR(f, "option '--rename-command': Bad directive or wrong number of arguments",
             "--rename-command", "get");
    LOAD_ERR(f,
             "option '--enable-debug-command': argument(s) must be one of the following: no, "
             "yes, local",
             "--enable-debug-command", "sometimes");
    LOAD_ERR(f, "option '--log-format': argument(s) must be one of the following: legacy, logfmt",
             "--log-format", "json");
}

/* A side effect that refuses tls-cert-file (as a failed TLS reload does). */
struct change_log {
    int calls;
    char names[8][32];
};

static int refuse_tls_cert(void *ctx, const char *name, char *err, size_t errlen)
{
    struct change_log *log = ctx;
    if (log->calls < 8)
        snprintf(log->names[log->calls], sizeof(log->names[0]), "%s", name);
    log->calls++;
    if (!strcmp(name, "tls-cert-file")) {
        snprintf(err, errlen, "Unable to update TLS configuration. Check server logs.");
        return -1;
    }
    return 0;
}

static void test_config_set_live_rolls_back_failed_side_effect(void **state)
{
    struct fx *f = *state;
    struct change_log log = {0};
    f->cfg.changed = refuse_tls_cert;
    f->cfg.changed_ctx = &log;
    LOAD_OK(f, "--tls-cert-file", "old.crt", "--timeout", "5");
    const char *args[] = {"timeout", "7", "tls-cert-file", "new.crt"};
    size_t lens[] = {7, 1, 13, 7};
    assert_int_equal(shale_config_set_live(&f->cfg, args, lens, 4, f->err, sizeof(f->err)), -1);
    assert_string_equal(f->err, "ERR CONFIG SET failed (possibly related to argument "
                                "'tls-cert-file') - Unable to update TLS configuration. Check "
                                "server logs.");
    /* Both values are back, and timeout's side effect ran again for 5. */
    assert_string_equal(config_live(&f->cfg, tls_cert_file), "old.crt");
    assert_int_equal(config_live(&f->cfg, timeout), 5);
    assert_int_equal(log.calls, 3);
    assert_string_equal(log.names[0], "timeout");
    assert_string_equal(log.names[1], "tls-cert-file");
    assert_string_equal(log.names[2], "timeout");

    const char *ok[] = {"tls-key-file", "k.pem"};
    size_t oklens[] = {12, 5};
    assert_int_equal(shale_config_set_live(&f->cfg, ok, oklens, 2, f->err, sizeof(f->err)), 0);
    assert_string_equal(config_live(&f->cfg, tls_key_file), "k.pem");
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_config_defaults),
        T(test_config_args),
        T(test_config_memory_units),
        T(test_config_memory_errors),
        T(test_config_memory_overflow),
        T(test_config_bad_values),
        T(test_config_set_value_too_long),
        T(test_config_file),
        T(test_config_file_errors),
        T(test_config_get_patterns),
        T(test_config_deinit_frees_strings),
        T(test_config_operations),
        T(test_config_set_live_rolls_back_failed_side_effect),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
