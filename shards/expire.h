/* expire: the active expiry cycle of one shard. Deletes keys whose TTL has
 * passed without waiting for a client to look them up (lazy expiry in
 * shale_keyspace_find does that), in short time-bounded slices run from the
 * shard's own timer. Owns a resumable position per database and the
 * figures INFO shows; never allocates during a cycle, never blocks.
 *
 * Shard thread only: the keyspace it walks belongs to the calling shard.
 * Design and measured costs are in expire.c. */
#ifndef SHALE_EXPIRE_H
#define SHALE_EXPIRE_H

#include <stdint.h>

struct keyspace;

/* Figures since start, for INFO stats (Redis field names on the right). */
struct expire_stats {
    uint64_t cycles;           /* calls of shale_expire_cycle */
    uint64_t time_cap_reached; /* expired_time_cap_reached_count: calls that
                                  ran out of budget with work left */
    uint64_t cpu_us;           /* expire_cycle_cpu_milliseconds (x 1000) */
    uint64_t scanned;          /* key objects visited */
    uint64_t sampled;          /* of those, keys with a TTL */
    uint64_t expired;          /* keys this cycle deleted; INFO expired_keys is
                                  shale_keyspace_expired: lazy + active */
    uint64_t passes;           /* completed passes over a database's table */
    double stale_perc;         /* expired_stale_perc / 100: share of sampled
                                  TTL keys found already expired, smoothed per
                                  call as 0.95 old + 0.05 new (Redis's) */
};

struct expire_state; /* opaque */

/* State for a keyspace of `databases` databases. */
struct expire_state *shale_expire_create(int databases);
void shale_expire_destroy(struct expire_state *st);

/* Runs the active expiry cycle for about budget_us microseconds of
 * monotonic time: walks each database that has keys with a TTL from where
 * the previous call stopped, deletes those whose expire time is <= now_ms
 * (unix ms, the same clock the shard gives lazy expiry), and moves on from a
 * database once too few of the keys with a TTL it samples are expired (see
 * expire.c). Always makes some progress, even with budget_us <= 0: one batch
 * of up to ~64 keys is the smallest slice. Returns 1 when it stopped because
 * the budget ran out with work still to do (call again soon), 0 when it is
 * caught up (wait for the next regular tick). */
int shale_expire_cycle(struct expire_state *st, struct keyspace *ks, int64_t now_ms,
                       int64_t budget_us);

void shale_expire_stats(const struct expire_state *st, struct expire_stats *out);

/* INFO keyspace avg_ttl of db, in ms: like Redis, a running average of the
 * remaining TTL of the keys the cycle samples (0 until it has sampled any,
 * and again once db has no key with a TTL). */
int64_t shale_expire_avg_ttl(const struct expire_state *st, int db);
/* Defrag of the state's own blocks. It holds positions, never key object
 * pointers, between calls: a moved key needs no fixing here. `move` returns
 * a block's new address (old one copied and freed) or NULL to leave it. */
void shale_expire_defrag(struct expire_state *st, void *(*move)(void *ptr, void *ctx), void *ctx);

#endif
