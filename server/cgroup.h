/* cgroup: the memory limit a container runtime (Kubernetes, Docker,
 * systemd) puts on this process, read from the cgroup filesystem at
 * start-up: v2 memory.max, v1 memory.limit_in_bytes and the hierarchical
 * limit in memory.stat. (The CPU quota is server/cpus.c's.)
 *
 * Every path is read under `root`: "" on a real system, a fixture
 * directory in the unit tests. Main thread, start-up only; reads files,
 * never writes, never fails the server (no cgroup = no limit). */
#ifndef SHALE_CGROUP_H
#define SHALE_CGROUP_H

#include <stddef.h>
#include <stdint.h>

#define CGROUP_NO_LIMIT UINT64_MAX

/* The tightest memory limit on the process's cgroup and its ancestors, in
 * bytes, or CGROUP_NO_LIMIT. */
uint64_t shale_cgroup_memory_limit(const char *root);

/* The parsers behind them, exposed for the unit tests. */
/* A limit file's text ("max", "536870912\n"; v1's unlimited is a number
 * near 2^63, read as no limit). -1 when it is not a limit. */
int shale_cgroup_parse_limit(const char *text, uint64_t *out);
/* The "hierarchical_memory_limit N" line of a v1 memory.stat. */
int shale_cgroup_parse_v1_stat_limit(const char *text, uint64_t *out);
/* The process's cgroup path for a v1 controller ("memory"), or for v2 when
 * controller is NULL ("0::/path"), from /proc/self/cgroup's text. */
int shale_cgroup_parse_path(const char *proc_cgroup, const char *controller, char *out,
                            size_t outlen);

#endif
