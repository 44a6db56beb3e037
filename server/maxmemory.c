/* maxmemory: see maxmemory.h.
 *
 * Why 75% under a cgroup. The kernel OOM-kills the pod when its cgroup's
 * memory (RSS, kernel socket buffers, page cache it cannot reclaim) reaches
 * the limit. maxmemory caps used_memory, the allocator's live bytes; RSS is
 * larger by the allocator's fragmentation, which reaches 1.2-1.3 under
 * churn of mixed value sizes before active defragmentation brings it down,
 * plus the binary's pages, thread stacks and the kernel's socket buffers
 * (tens of KB per busy connection). Data gets 75% of what the static plan
 * leaves: 1/0.75 = 1.33x, room for fragmentation of 1.25 and ~6% more for
 * the rest. The static plan itself is touched at start-up (resident at its
 * full size) and never grows, so it is taken off the limit before the
 * fraction, not scaled by it. */
#include "server/maxmemory.h"

#include <stdatomic.h>
#include <unistd.h>

#include "server/cgroup.h"
#include "server/config.h"
#include "server/log.h"
#include "server/server.h"
#include "shards/evict.h"
#include "shards/shard.h"

uint64_t shale_maxmemory_cgroup_default(uint64_t limit, uint64_t static_bytes,
                                        uint64_t physical_bytes)
{
    /* A "limit" at or above the machine's memory limits nothing. */
    if (limit == CGROUP_NO_LIMIT || (physical_bytes && limit >= physical_bytes))
        return 0;
    if (limit <= static_bytes)
        return limit / 100 * MAXMEMORY_CGROUP_PERCENT; /* useless, but never OOM-killed */
    return static_bytes + (limit - static_bytes) / 100 * MAXMEMORY_CGROUP_PERCENT;
}

static uint64_t physical_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
}

void shale_maxmemory_setup(struct config *cfg, uint64_t static_bytes, const char *cgroup_root)
{
    if (cfg->maxmemory == 0) {
        uint64_t limit = shale_cgroup_memory_limit(cgroup_root);
        uint64_t dflt = shale_maxmemory_cgroup_default(limit, static_bytes, physical_memory());
        if (dflt) {
            cfg->maxmemory = (long long)dflt;
            shale_log(LOG_NOTICE,
                      "maxmemory not set: defaulting to %llu bytes = static plan %llu + %d%% of "
                      "(cgroup memory limit %llu - static plan)",
                      (unsigned long long)dflt, (unsigned long long)static_bytes,
                      MAXMEMORY_CGROUP_PERCENT, (unsigned long long)limit);
            if (limit <= static_bytes)
                shale_log(LOG_WARNING,
                          "The static memory plan (%llu bytes) does not fit the cgroup memory "
                          "limit (%llu bytes): lower maxclients, io-buffers or "
                          "io-thread-requests",
                          (unsigned long long)static_bytes, (unsigned long long)limit);
        }
    }
    if (cfg->maxmemory > 0 && (uint64_t)cfg->maxmemory <= static_bytes)
        shale_log(LOG_WARNING,
                  "maxmemory (%lld bytes) is not above the static memory plan (%llu bytes): "
                  "every write will evict or be refused",
                  cfg->maxmemory, (unsigned long long)static_bytes);
}

uint64_t shale_maxmemory_nonshard(const struct server *srv)
{
    uint64_t total = atomic_load_explicit(&srv->rates.mem_allocated, memory_order_relaxed);
    uint64_t shards = 0;
    for (int i = 0; i < srv->nshards; i++)
        shards += shale_shard_memory_in_use(srv->shards[i]);
    return total > shards ? total - shards : 0;
}

void shale_maxmemory_update(struct server *srv)
{
    uint64_t max = (uint64_t)config_live(srv->cfg, maxmemory);
    uint64_t share = EVICT_NO_LIMIT;
    if (max) {
        uint64_t nonshard = shale_maxmemory_nonshard(srv);
        share = max > nonshard ? (max - nonshard) / (uint64_t)srv->nshards : 0;
    }
    for (int i = 0; i < srv->nshards; i++)
        shale_shard_set_memory_limit(srv->shards[i], share);
}

void shale_maxmemory_changed(struct server *srv)
{
    uint64_t max = (uint64_t)config_live(srv->cfg, maxmemory);
    uint64_t used = atomic_load_explicit(&srv->rates.mem_allocated, memory_order_relaxed);
    if (max && max < used)
        shale_log(LOG_WARNING,
                  "WARNING: the new maxmemory value set via CONFIG SET (%llu) is smaller than "
                  "the current memory usage (%llu). This will result in key eviction and/or "
                  "the inability to accept new write commands depending on the "
                  "maxmemory-policy.",
                  (unsigned long long)max, (unsigned long long)used);
    shale_maxmemory_update(srv);
}
