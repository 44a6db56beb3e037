/* cpus: how many CPUs this process may really use, for the default thread
 * counts: the affinity mask, capped by a cgroup CPU quota (v2 cpu.max or
 * v1 cpu.cfs_quota_us / cpu.cfs_period_us, the tightest along the
 * process's cgroup path), as a container's CPU limit sets it. Start-up,
 * main thread; reads /proc and /sys only. */
#ifndef SHALE_CPUS_H
#define SHALE_CPUS_H

#include <stddef.h>

struct cpus_info {
    int affinity;     /* CPUs in the affinity mask */
    double quota;     /* CPUs the cgroup quota allows; 0: no quota */
    int usable;       /* min(affinity, quota rounded up), at least 1 */
    char source[320]; /* where the numbers came from, for the start-up log */
};

void shale_cpus_probe(struct cpus_info *out);

/* The cgroup part, with every path under `root` ("" for the real system:
 * root/proc/self/mountinfo, root/proc/self/cgroup and the mount points
 * they name). Returns 1 and sets *cpus when a quota applies; source says
 * which file (or why none) either way. */
int shale_cpus_cgroup_quota(const char *root, double *cpus, char *source, size_t len);

#endif
