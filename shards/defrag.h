/* defrag: the execution half of active defragmentation -- one shard's
 * staged, resumable walk over everything the shard owns, moving each
 * allocation the hint picks (server/defrag_hint.h) and fixing every pointer
 * to it. Whether to defrag and how hard is decided elsewhere (the governor
 * on the main thread, the shard's defrag timer); this module only walks.
 *
 * A cycle is one pass through the stages, in order:
 *   KEYS     per database, the keyspace table in scan order (a position in
 *            hash space, so it survives resizes, deletes and FLUSHALL): each
 *            key object (its string value is embedded in it), the fixed
 *            table slot; a hash's value -- compact blob, or table header,
 *            table and bucket arrays, and every entry of both layouts (the
 *            separate value block, then the field block, a cell when it is
 *            one: its page decides, shards/cells.h) -- right away when
 *            it has at most active-defrag-max-scan-fields fields (and the
 *            call need not stop half-way through) ...
 *   LATER    ... else by key name, a few hash-table scan steps at a time
 *            with its own cursor, before the key walk goes on (Redis's
 *            defrag-later list); a key deleted or changed meanwhile is
 *            simply dropped;
 *   TABLES   the keyspace's own blocks: each database's table and bucket
 *            arrays, the database array;
 *   EXPIRE   the expiry state (it keeps positions, never key pointers).
 * Between two calls the walk holds no pointer into the keyspace -- only
 * cursors and copied key names -- so anything a command does in between is
 * safe. Within a call nothing else runs on the shard. A cycle's start takes
 * the shard's sparse cell pages out of service and its end puts back what
 * is left of them (shale_cell_heap_evacuate_begin/end).
 *
 * Shard thread only. Allocates only the copied names of deferred keys. */
#ifndef SHALE_DEFRAG_H
#define SHALE_DEFRAG_H

#include <stddef.h>
#include <stdint.h>

struct keyspace;
struct expire_state;
struct defrag_hint;

/* What a walk did, since it was created (Redis's INFO names). */
struct defrag_counts {
    uint64_t hits;       /* active_defrag_hits: allocations moved */
    uint64_t misses;     /* active_defrag_misses: allocations looked at and left */
    uint64_t key_hits;   /* active_defrag_key_hits: keys with a moved allocation */
    uint64_t key_misses; /* active_defrag_key_misses: keys left as they were */
    uint64_t scanned;    /* key objects visited */
};

struct defrag_walk;

/* hint: the shard's published bin figures (read-only here); arena: the
 * shard's jemalloc arena, where moved blocks go. */
struct defrag_walk *shale_defrag_walk_create(struct keyspace *ks, struct expire_state *expire,
                                             const struct defrag_hint *hint, unsigned arena);
void shale_defrag_walk_destroy(struct defrag_walk *w);

/* Starts a cycle from the first stage. Hashes with more than
 * max_scan_fields fields are walked incrementally. */
void shale_defrag_cycle_start(struct defrag_walk *w, size_t max_scan_fields);
/* Works until deadline_us (monotonic clock) or until yield(yield_ctx) says
 * to stop (may be NULL: a client request is waiting). Both are checked
 * between units of work -- a keyspace scan step (a few keys) or 8 scan
 * steps of a hash's table; a hash interrupted this way is finished later by
 * name -- so a call may run a little past the deadline and always does one
 * unit. Returns 1 when the cycle has finished every stage. */
int shale_defrag_cycle_run(struct defrag_walk *w, int64_t deadline_us, int (*yield)(void *ctx),
                           void *yield_ctx);
/* Ends the cycle (finished or abandoned): drops the deferred keys. */
void shale_defrag_cycle_end(struct defrag_walk *w);
/* 1 between start and end. */
int shale_defrag_cycle_active(const struct defrag_walk *w);

void shale_defrag_counts(const struct defrag_walk *w, struct defrag_counts *out);

#endif
