/* maxmemory: turns the maxmemory option into each shard's share, and picks
 * a default under a cgroup memory limit.
 *
 * What maxmemory caps: used_memory, everything the process allocated
 * through the gateway, as in Redis -- the static plan (server/mem_plan.h)
 * and the I/O side included. The shards' part is what is left after the
 * rest: share = (maxmemory - non-shard bytes) / shards, where non-shard
 * bytes = used_memory - the bytes the shards hold (their arenas), measured
 * every 100 ms. The static plan is the bulk of it and never grows; the I/O
 * side's dynamic part (over-sized read buffers, reply buffers of keyless
 * commands, libevent) comes and goes, and the shares follow it within a
 * tick. So used_memory stays <= maxmemory, and RSS <= maxmemory plus
 * allocator fragmentation (docs/architecture.md, "Eviction and
 * accounting").
 *
 * Main thread (start-up and its cron), and the I/O thread that runs CONFIG
 * SET maxmemory; it reads only published atomics and stores the shares
 * with atomics, so concurrent updates converge on the next tick. */
#ifndef SHALE_MAXMEMORY_H
#define SHALE_MAXMEMORY_H

#include <stdint.h>

struct config;
struct server;

/* The share of (cgroup limit - static plan) a cgroup-derived maxmemory
 * grants to data: see maxmemory.c for why 75%. */
#define MAXMEMORY_CGROUP_PERCENT 75

/* Start-up, before the threads: when maxmemory is 0 and the process runs
 * under a cgroup memory limit (read under cgroup_root, "" in production),
 * sets maxmemory to the default and logs it (so CONFIG GET and INFO show
 * the limit in force); warns when maxmemory leaves nothing for data. */
void shale_maxmemory_setup(struct config *cfg, uint64_t static_bytes, const char *cgroup_root);
/* The default for a cgroup limit and a static plan (0: leave maxmemory 0). */
uint64_t shale_maxmemory_cgroup_default(uint64_t limit, uint64_t static_bytes,
                                        uint64_t physical_bytes);

/* Recomputes every shard's share from maxmemory and the latest published
 * memory figures (main cron, after shale_info_sample_memory; CONFIG SET). */
void shale_maxmemory_update(struct server *srv);
/* CONFIG SET maxmemory: warns like Redis when the new value is below what is
 * in use, then updates the shares at once. */
void shale_maxmemory_changed(struct server *srv);
/* used_memory - the shards' bytes, as of the last refresh. */
uint64_t shale_maxmemory_nonshard(const struct server *srv);

#endif
