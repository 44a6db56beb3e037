/* test_cgroup: the cgroup limit readers (server/cgroup.c) and the default
 * maxmemory derived from them (server/maxmemory.c), on fixture trees under
 * tests/unit/fixtures/cgroup/ that copy what v1 and v2 hosts and containers
 * show: each tree has proc/self/cgroup and sys/fs/cgroup as the server
 * would read them from "/". Run from the repository root (make test does). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <unistd.h>

#include "server/cgroup.h"
#include "server/maxmemory.h"

#define FIXTURES "tests/unit/fixtures/cgroup/"
#define MB       (1024ULL * 1024)

static void test_parse_limit(void **state)
{
    uint64_t v = 0;
    assert_int_equal(shale_cgroup_parse_limit("536870912\n", &v), 0);
    assert_true(v == 536870912ULL);
    assert_int_equal(shale_cgroup_parse_limit("max\n", &v), 0);
    assert_true(v == CGROUP_NO_LIMIT);
    /* v1's "unlimited": PAGE_COUNTER_MAX pages of 4 KB */
    assert_int_equal(shale_cgroup_parse_limit("9223372036854771712\n", &v), 0);
    assert_true(v == CGROUP_NO_LIMIT);
    assert_int_equal(shale_cgroup_parse_limit("", &v), -1);
    assert_int_equal(shale_cgroup_parse_limit("12abc", &v), -1);
    assert_int_equal(shale_cgroup_parse_limit("-1", &v), -1);
}

static void test_parse_v1_stat(void **state)
{
    uint64_t v = 0;
    assert_int_equal(shale_cgroup_parse_v1_stat_limit(
                         "cache 0\nhierarchical_memory_limit 134217728\nswap 0\n", &v),
                     0);
    assert_true(v == 134217728ULL);
    assert_int_equal(shale_cgroup_parse_v1_stat_limit("hierarchical_memory_limit 1024\n", &v), 0);
    assert_true(v == 1024);
    assert_int_equal(shale_cgroup_parse_v1_stat_limit("cache 0\nrss 5\n", &v), -1);
}

static void test_parse_path(void **state)
{
    static const char text[] = "12:pids:/docker/abc\n4:memory:/docker/abc\n"
                               "3:cpu,cpuacct:/docker/cpu\n0::/kubepods/x\n";
    char out[64];
    assert_int_equal(shale_cgroup_parse_path(text, "memory", out, sizeof(out)), 0);
    assert_string_equal(out, "/docker/abc");
    assert_int_equal(shale_cgroup_parse_path(text, "cpu", out, sizeof(out)), 0);
    assert_string_equal(out, "/docker/cpu");
    assert_int_equal(shale_cgroup_parse_path(text, "cpuacct", out, sizeof(out)), 0);
    assert_string_equal(out, "/docker/cpu");
    assert_int_equal(shale_cgroup_parse_path(text, NULL, out, sizeof(out)), 0);
    assert_string_equal(out, "/kubepods/x");
    assert_int_equal(shale_cgroup_parse_path(text, "blkio", out, sizeof(out)), -1);
    /* "cpu" must not match inside "cpuset" */
    assert_int_equal(shale_cgroup_parse_path("5:cpuset:/a\n", "cpu", out, sizeof(out)), -1);
    assert_int_equal(shale_cgroup_parse_path("1:cpu:/a\n", NULL, out, sizeof(out)), -1);
}

/* v2 without a cgroup namespace: the limit sits on a parent of ours. */
static void test_v2_parent_limit(void **state)
{
    assert_true(shale_cgroup_memory_limit(FIXTURES "v2") == 512 * MB);
}

/* v2 inside a Kubernetes pod: the container's cgroup is the mount's root. */
static void test_v2_namespaced(void **state)
{
    assert_true(shale_cgroup_memory_limit(FIXTURES "v2-namespaced") == 1024 * MB);
}

/* v1 on a host: the smaller of the cgroup's own and the hierarchical limit. */
static void test_v1_host(void **state)
{
    assert_true(shale_cgroup_memory_limit(FIXTURES "v1") == 128 * MB);
}

/* v1 in a container: /proc/self/cgroup names the host path, absent under
 * the mount; the mount's own files hold the (hierarchical) limit. */
static void test_v1_container(void **state)
{
    assert_true(shale_cgroup_memory_limit(FIXTURES "v1-container") == 768 * MB);
}

static void test_no_limit(void **state)
{
    assert_true(shale_cgroup_memory_limit(FIXTURES "v1-unlimited") == CGROUP_NO_LIMIT);
    assert_true(shale_cgroup_memory_limit(FIXTURES "none") == CGROUP_NO_LIMIT);
    assert_true(shale_cgroup_memory_limit(FIXTURES "does-not-exist") == CGROUP_NO_LIMIT);
}

static void test_default_maxmemory(void **state)
{
    uint64_t ram = 64 * 1024 * MB;
    /* 1 GB pod, 10 MB static plan: 10 + 0.75 x 1014 MB */
    uint64_t d = shale_maxmemory_cgroup_default(1024 * MB, 10 * MB, ram);
    assert_true(d == 10 * MB + (1014 * MB) / 100 * MAXMEMORY_CGROUP_PERCENT);
    assert_true(d < 1024 * MB * 80 / 100);
    /* no limit, or a limit at least the machine's RAM: no default */
    assert_true(shale_maxmemory_cgroup_default(CGROUP_NO_LIMIT, 10 * MB, ram) == 0);
    assert_true(shale_maxmemory_cgroup_default(ram, 10 * MB, ram) == 0);
    /* a static plan larger than the pod: still under the limit */
    d = shale_maxmemory_cgroup_default(8 * MB, 10 * MB, ram);
    assert_true(d > 0 && d < 8 * MB);
}

static int need_fixtures(void **state)
{
    if (access(FIXTURES "v2/proc/self/cgroup", R_OK) != 0) {
        fprintf(stderr, "test_cgroup: no %s here: run from the repository root\n", FIXTURES);
        return -1;
    }
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_limit),       cmocka_unit_test(test_parse_v1_stat),
        cmocka_unit_test(test_parse_path),        cmocka_unit_test(test_v2_parent_limit),
        cmocka_unit_test(test_v2_namespaced),     cmocka_unit_test(test_v1_host),
        cmocka_unit_test(test_v1_container),      cmocka_unit_test(test_no_limit),
        cmocka_unit_test(test_default_maxmemory),
    };
    return cmocka_run_group_tests(tests, need_fixtures, NULL);
}
