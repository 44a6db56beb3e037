/* test_cpus: the cgroup CPU quota reader (server/cpus.c) on fake /proc and
 * /sys trees written to a temporary directory: cgroup v2 (cpu.max, "max",
 * a tighter parent, a cgroup namespace), cgroup v1 (cfs quota and period,
 * -1 for none, the cpu,cpuacct mount, a hybrid system), and no cgroup at
 * all. Single-threaded. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/cpus.h"

static char root[PATH_MAX];

/* Writes text to root/rel, creating the directories on the way. */
static void put(const char *rel, const char *text)
{
    char path[PATH_MAX * 2];
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
        *p = '\0';
        mkdir(path, 0755);
        *p = '/';
    }
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    snprintf(root, sizeof(root), "/tmp/shale-test-cpus-XXXXXX");
    return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : -1;
}

static double quota(char *source, size_t len)
{
    double cpus = 0;
    if (!shale_cpus_cgroup_quota(root, &cpus, source, len))
        return 0;
    return cpus;
}

static const char v2_mount[] = "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";

static void test_v2_quota(void **state)
{
    char source[512];
    put("proc/self/mountinfo", v2_mount);
    put("proc/self/cgroup", "0::/kubepods/pod1/ctr\n");
    put("sys/fs/cgroup/kubepods/pod1/ctr/cpu.max", "150000 100000\n");
    assert_true(quota(source, sizeof(source)) == 1.5);
    assert_non_null(strstr(source, "cgroup v2 cpu.max 150000/100000"));
    assert_non_null(strstr(source, "/kubepods/pod1/ctr"));
}

static void test_v2_parent_is_tighter(void **state)
{
    char source[512];
    put("proc/self/mountinfo", v2_mount);
    put("proc/self/cgroup", "0::/kubepods/pod1/ctr\n");
    put("sys/fs/cgroup/kubepods/pod1/ctr/cpu.max", "max 100000\n");
    put("sys/fs/cgroup/kubepods/pod1/cpu.max", "200000 100000\n");
    put("sys/fs/cgroup/kubepods/cpu.max", "400000 100000\n");
    assert_true(quota(source, sizeof(source)) == 2.0);
    const char *tail = "/kubepods/pod1";
    assert_string_equal(source + strlen(source) - strlen(tail), tail);
}

static void test_v2_unlimited(void **state)
{
    char source[512];
    put("proc/self/mountinfo", v2_mount);
    put("proc/self/cgroup", "0::/\n");
    put("sys/fs/cgroup/cpu.max", "max 100000\n");
    assert_true(quota(source, sizeof(source)) == 0);
    assert_string_equal(source, "no cgroup CPU quota");
}

/* Inside a container's cgroup namespace the mount root and path are "/". */
static void test_v2_namespace(void **state)
{
    char source[512];
    put("proc/self/mountinfo", v2_mount);
    put("proc/self/cgroup", "0::/\n");
    put("sys/fs/cgroup/cpu.max", "50000 100000\n");
    assert_true(quota(source, sizeof(source)) == 0.5);
}

static const char v1_mounts[] =
    "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
    "33 31 0:30 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n";

static void test_v1_quota(void **state)
{
    char source[512];
    put("proc/self/mountinfo", v1_mounts);
    put("proc/self/cgroup", "4:memory:/docker/abc\n2:cpu,cpuacct:/docker/abc\n0::/docker/abc\n");
    put("sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "300000\n");
    put("sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n");
    put("sys/fs/cgroup/unified/docker/abc/cpu.max", "100000 100000\n"); /* no controller here */
    assert_true(quota(source, sizeof(source)) == 3.0);
    assert_non_null(strstr(source, "cgroup v1 cpu.cfs_quota_us/cpu.cfs_period_us 300000/100000"));
}

static void test_v1_no_quota(void **state)
{
    char source[512];
    put("proc/self/mountinfo", v1_mounts);
    put("proc/self/cgroup", "2:cpu,cpuacct:/\n");
    put("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
    put("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
    assert_true(quota(source, sizeof(source)) == 0);
}

/* A v1 container mount whose root is the container's own cgroup. */
static void test_v1_mount_root(void **state)
{
    char source[512];
    put("proc/self/mountinfo",
        "32 31 0:29 /docker/abc /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n");
    put("proc/self/cgroup", "3:cpu:/docker/abc\n");
    put("sys/fs/cgroup/cpu/cpu.cfs_quota_us", "250000\n");
    put("sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n");
    assert_true(quota(source, sizeof(source)) == 2.5);
}

static void test_no_cgroup(void **state)
{
    char source[512];
    assert_true(quota(source, sizeof(source)) == 0);
    assert_string_equal(source, "no cgroup CPU quota");
}

static void test_probe_this_machine(void **state)
{
    struct cpus_info info;
    shale_cpus_probe(&info);
    assert_true(info.affinity >= 1);
    assert_true(info.usable >= 1 && info.usable <= info.affinity);
    assert_true(info.source[0] != '\0');
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_v2_quota),           T(test_v2_parent_is_tighter),
        T(test_v2_unlimited),       T(test_v2_namespace),
        T(test_v1_quota),           T(test_v1_no_quota),
        T(test_v1_mount_root),      T(test_no_cgroup),
        T(test_probe_this_machine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
