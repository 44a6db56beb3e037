/* cpus: see cpus.h. The cgroup mount and the process's place in it come
 * from /proc/self/mountinfo and /proc/self/cgroup, so this works inside a
 * container (cgroup namespace: the mount root is the container's cgroup) and
 * outside one (the path is relative to the hierarchy's root). */
#include "server/cpus.h"

#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CG_V1 = 1, CG_V2 = 2 };

struct hierarchy {
    char mount_root[PATH_MAX];  /* the cgroup path mounted */
    char mount_point[PATH_MAX]; /* where (under root) */
    char path[PATH_MAX];        /* the process's cgroup in that hierarchy */
    int found_mount, found_path;
};

/* 1 when `word` is one of the comma-separated words of list. */
static int has_word(const char *list, const char *word)
{
    size_t wl = strlen(word);
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        if (n == wl && !strncmp(p, word, n))
            return 1;
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

static void read_proc_cgroup(const char *root, struct hierarchy *v1, struct hierarchy *v2)
{
    char file[PATH_MAX], line[4096];
    snprintf(file, sizeof(file), "%s/proc/self/cgroup", root);
    FILE *f = fopen(file, "r");
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c1 = *c2 = '\0';
        const char *controllers = c1 + 1, *path = c2 + 1;
        struct hierarchy *h = NULL;
        if (!strcmp(line, "0") && !*controllers)
            h = v2;
        else if (has_word(controllers, "cpu"))
            h = v1;
        if (h) {
            snprintf(h->path, sizeof(h->path), "%s", path);
            h->found_path = 1;
        }
    }
    fclose(f);
}

/* mountinfo: id parent maj:min root mount-point options [optional...] - fstype source super */
static void read_mountinfo(const char *root, struct hierarchy *v1, struct hierarchy *v2)
{
    char file[PATH_MAX], line[4096];
    snprintf(file, sizeof(file), "%s/proc/self/mountinfo", root);
    FILE *f = fopen(file, "r");
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        char mroot[PATH_MAX], point[PATH_MAX];
        if (sscanf(line, "%*s %*s %*s %4095s %4095s", mroot, point) != 2)
            continue;
        const char *dash = strstr(line, " - ");
        if (!dash)
            continue;
        char fstype[64], source[256], super[1024] = "";
        if (sscanf(dash + 3, "%63s %255s %1023s", fstype, source, super) < 2)
            continue;
        struct hierarchy *h = NULL;
        if (!strcmp(fstype, "cgroup2"))
            h = v2;
        else if (!strcmp(fstype, "cgroup") && has_word(super, "cpu"))
            h = v1;
        if (h && !h->found_mount) {
            snprintf(h->mount_root, sizeof(h->mount_root), "%s", mroot);
            if (snprintf(h->mount_point, sizeof(h->mount_point), "%s%s", root, point) >=
                (int)sizeof(h->mount_point))
                continue;
            h->found_mount = 1;
        }
    }
    fclose(f);
}

/* The process's cgroup directory: the mount point plus the path below the
 * mount's root (in a cgroup namespace both are "/"). */
static void cgroup_dir(const struct hierarchy *h, char *out, size_t len)
{
    const char *rel = h->path;
    size_t rl = strlen(h->mount_root);
    if (!strcmp(h->mount_root, "/"))
        rel = h->path;
    else if (!strncmp(h->path, h->mount_root, rl) && (h->path[rl] == '/' || !h->path[rl]))
        rel = h->path + rl;
    else
        rel = ""; /* not below the mount: the mount point is the best guess */
    if (snprintf(out, len, "%s%s", h->mount_point, !strcmp(rel, "/") ? "" : rel) >= (int)len)
        out[0] = '\0'; /* too long to be real */
}

/* Quota in CPUs read from one directory; 0 when it sets none. */
static double quota_in(const char *dir, int version, char *detail, size_t dlen)
{
    char file[PATH_MAX + 32];
    long long quota = -1, period = 0;
    if (version == CG_V2) {
        snprintf(file, sizeof(file), "%s/cpu.max", dir);
        FILE *f = fopen(file, "r");
        if (!f)
            return 0;
        char q[32];
        if (fscanf(f, "%31s %lld", q, &period) == 2 && strcmp(q, "max") != 0)
            quota = atoll(q);
        fclose(f);
        if (snprintf(detail, dlen, "cgroup v2 cpu.max %lld/%lld in %s", quota, period, dir) < 0)
            detail[0] = '\0';
    } else {
        snprintf(file, sizeof(file), "%s/cpu.cfs_quota_us", dir);
        FILE *f = fopen(file, "r");
        if (!f)
            return 0;
        if (fscanf(f, "%lld", &quota) != 1)
            quota = -1;
        fclose(f);
        snprintf(file, sizeof(file), "%s/cpu.cfs_period_us", dir);
        f = fopen(file, "r");
        if (f) {
            if (fscanf(f, "%lld", &period) != 1)
                period = 0;
            fclose(f);
        }
        if (snprintf(detail, dlen, "cgroup v1 cpu.cfs_quota_us/cpu.cfs_period_us %lld/%lld in %s",
                     quota, period, dir) < 0)
            detail[0] = '\0';
    }
    return quota > 0 && period > 0 ? (double)quota / (double)period : 0;
}

/* The tightest quota from the process's cgroup up to the mount point: a
 * parent's limit binds its children too. */
static double walk_up(const struct hierarchy *h, int version, char *source, size_t len)
{
    char dir[PATH_MAX];
    cgroup_dir(h, dir, sizeof(dir));
    size_t floor_len = strlen(h->mount_point);
    double best = 0;
    for (;;) {
        char detail[sizeof(((struct cpus_info *)0)->source)];
        double q = quota_in(dir, version, detail, sizeof(detail));
        if (q > 0 && (best == 0 || q < best)) {
            best = q;
            snprintf(source, len, "%s", detail);
        }
        char *slash = strrchr(dir, '/');
        if (!slash || strlen(dir) <= floor_len || (size_t)(slash - dir) < floor_len)
            break;
        *slash = '\0';
    }
    return best;
}

int shale_cpus_cgroup_quota(const char *root, double *cpus, char *source, size_t len)
{
    struct hierarchy v1 = {0}, v2 = {0};
    read_proc_cgroup(root, &v1, &v2);
    read_mountinfo(root, &v1, &v2);
    snprintf(source, len, "no cgroup CPU quota");
    double q = 0;
    /* Hybrid systems mount v2 without controllers: a v1 cpu hierarchy wins. */
    if (v1.found_mount && v1.found_path)
        q = walk_up(&v1, CG_V1, source, len);
    else if (v2.found_mount && v2.found_path)
        q = walk_up(&v2, CG_V2, source, len);
    if (q <= 0)
        return 0;
    *cpus = q;
    return 1;
}

void shale_cpus_probe(struct cpus_info *out)
{
    memset(out, 0, sizeof(*out));
    cpu_set_t set;
    out->affinity = 1;
    if (sched_getaffinity(0, sizeof(set), &set) == 0)
        out->affinity = CPU_COUNT(&set);
    out->usable = out->affinity;
    double q;
    if (shale_cpus_cgroup_quota("", &q, out->source, sizeof(out->source))) {
        out->quota = q;
        int limit = (int)q;
        if ((double)limit < q)
            limit++;
        if (limit < out->usable)
            out->usable = limit;
    }
    if (out->usable < 1)
        out->usable = 1;
}
