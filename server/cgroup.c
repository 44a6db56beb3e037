/* cgroup: see cgroup.h.
 *
 * Where a limit can hide:
 *  - v2 (one hierarchy mounted at /sys/fs/cgroup, which has
 *    cgroup.controllers): /proc/self/cgroup says "0::/kubepods/pod/ctr".
 *    With a cgroup namespace (Kubernetes on v2) that path is "/" and the
 *    container's own limit is /sys/fs/cgroup/memory.max; without one the
 *    path is the host's and a parent may hold the limit, so every
 *    directory from ours up to the mount is read and the smallest wins.
 *  - v1 (one mount per controller, /sys/fs/cgroup/memory): the path from
 *    the "memory" line of /proc/self/cgroup, when it exists under the
 *    mount; inside a container it usually does not (the mount is the
 *    container's own cgroup), and the mount's root files are the ones.
 *    memory.stat's hierarchical_memory_limit covers the ancestors.
 *    "Unlimited" reads as 9223372036854771712 (PAGE_COUNTER_MAX pages). */
#include "server/cgroup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CGROUP_MOUNT    "/sys/fs/cgroup"
#define CGROUP_PATH_MAX 1024
#define CGROUP_FILE_MAX 8192
/* A v1 limit this large is "unlimited" (2^62: no machine has that). */
#define CGROUP_HUGE_LIMIT (1ULL << 62)

/* Reads a small file into buf (NUL-terminated); -1 when it cannot. */
static int read_file(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, len - 1, f);
    fclose(f);
    buf[n] = '\0';
    return 0;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

int shale_cgroup_parse_limit(const char *text, uint64_t *out)
{
    while (*text == ' ' || *text == '\t')
        text++;
    if (!strncmp(text, "max", 3)) {
        *out = CGROUP_NO_LIMIT;
        return 0;
    }
    if (*text < '0' || *text > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (end == text || errno || (*end && *end != '\n' && *end != ' '))
        return -1;
    *out = v >= CGROUP_HUGE_LIMIT ? CGROUP_NO_LIMIT : (uint64_t)v;
    return 0;
}

int shale_cgroup_parse_v1_stat_limit(const char *text, uint64_t *out)
{
    static const char key[] = "hierarchical_memory_limit ";
    for (const char *line = text; line && *line; line = strchr(line, '\n')) {
        if (*line == '\n')
            line++;
        if (!strncmp(line, key, sizeof(key) - 1))
            return shale_cgroup_parse_limit(line + sizeof(key) - 1, out);
    }
    return -1;
}

/* Lines are "id:controllers:path"; v2's is "0::path". */
int shale_cgroup_parse_path(const char *proc_cgroup, const char *controller, char *out,
                            size_t outlen)
{
    for (const char *line = proc_cgroup; line && *line;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        const char *c1 = memchr(line, ':', len);
        const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line)) : NULL;
        if (c2) {
            const char *ctl = c1 + 1;
            size_t ctl_len = (size_t)(c2 - ctl), path_len = len - (size_t)(c2 + 1 - line);
            int match = 0;
            if (!controller) {
                match = ctl_len == 0 && c1 - line == 1 && line[0] == '0';
            } else {
                /* a comma-separated list ("cpu,cpuacct") */
                size_t want = strlen(controller);
                for (const char *p = ctl; p < c2;) {
                    const char *comma = memchr(p, ',', (size_t)(c2 - p));
                    size_t n = comma ? (size_t)(comma - p) : (size_t)(c2 - p);
                    if (n == want && !memcmp(p, controller, n))
                        match = 1;
                    p += n + 1;
                }
            }
            if (match && path_len > 0 && path_len < outlen) {
                memcpy(out, c2 + 1, path_len);
                out[path_len] = '\0';
                return 0;
            }
        }
        line = eol ? eol + 1 : NULL;
    }
    return -1;
}

static int own_path(const char *root, const char *controller, char *out, size_t outlen)
{
    char path[CGROUP_PATH_MAX], text[CGROUP_FILE_MAX];
    snprintf(path, sizeof(path), "%s/proc/self/cgroup", root);
    if (read_file(path, text, sizeof(text)) < 0)
        return -1;
    return shale_cgroup_parse_path(text, controller, out, outlen);
}

static int is_v2(const char *root)
{
    char path[CGROUP_PATH_MAX];
    snprintf(path, sizeof(path), "%s" CGROUP_MOUNT "/cgroup.controllers", root);
    return exists(path);
}

/* Calls fn on every directory from the process's v2 cgroup up to the
 * mount (just the mount when the path is not there). */
static void walk_v2(const char *root, void (*fn)(const char *dir, void *ctx), void *ctx)
{
    char rel[CGROUP_PATH_MAX], dir[CGROUP_PATH_MAX];
    size_t base = (size_t)snprintf(dir, sizeof(dir), "%s" CGROUP_MOUNT, root);
    if (own_path(root, NULL, rel, sizeof(rel)) == 0 && rel[0] == '/' &&
        strlen(rel) + base < sizeof(dir)) {
        memcpy(dir + base, rel, strlen(rel) + 1);
        if (!is_dir(dir))
            dir[base] = '\0';
    }
    for (;;) {
        size_t len = strlen(dir);
        while (len > base && dir[len - 1] == '/')
            dir[--len] = '\0';
        fn(dir, ctx);
        char *slash = strrchr(dir, '/');
        if (len <= base || !slash || (size_t)(slash - dir) < base)
            break;
        *slash = '\0';
    }
}

/* The v1 directory of controller's hierarchy for this process. */
static int v1_dir(const char *root, const char *mount_name, const char *controller, char *dir,
                  size_t len)
{
    char rel[CGROUP_PATH_MAX];
    int n = snprintf(dir, len, "%s" CGROUP_MOUNT "/%s", root, mount_name);
    if (n < 0 || (size_t)n >= len || !is_dir(dir))
        return -1;
    if (own_path(root, controller, rel, sizeof(rel)) == 0 && rel[0] == '/' &&
        strlen(rel) + (size_t)n < len) {
        memcpy(dir + n, rel, strlen(rel) + 1);
        if (!is_dir(dir))
            dir[n] = '\0';
    }
    return 0;
}

static void min_limit(const char *path, uint64_t *best)
{
    char text[64];
    uint64_t v;
    if (read_file(path, text, sizeof(text)) == 0 && shale_cgroup_parse_limit(text, &v) == 0 &&
        v < *best)
        *best = v;
}

static void v2_memory(const char *dir, void *ctx)
{
    char path[CGROUP_PATH_MAX];
    snprintf(path, sizeof(path), "%s/memory.max", dir);
    min_limit(path, ctx);
}

uint64_t shale_cgroup_memory_limit(const char *root)
{
    uint64_t best = CGROUP_NO_LIMIT;
    if (is_v2(root)) {
        walk_v2(root, v2_memory, &best);
        return best;
    }
    char dir[CGROUP_PATH_MAX], path[CGROUP_PATH_MAX + 32], text[CGROUP_FILE_MAX];
    if (v1_dir(root, "memory", "memory", dir, sizeof(dir)) < 0)
        return best;
    snprintf(path, sizeof(path), "%s/memory.limit_in_bytes", dir);
    min_limit(path, &best);
    snprintf(path, sizeof(path), "%s/memory.stat", dir);
    uint64_t v;
    if (read_file(path, text, sizeof(text)) == 0 &&
        shale_cgroup_parse_v1_stat_limit(text, &v) == 0 && v < best)
        best = v;
    return best;
}
