/* defrag_timer: a shard's active-defrag timer, in the shard's own event
 * loop (DESIGN §6). It turns the share of the shard's time the governor
 * grants (server/defrag_governor.h) into short runs of the stage walk
 * (shards/defrag.h): each run at most active-defrag-cycle-us, the gaps from
 * the duty-cycle rule (shards/defrag_pace.h). Cycles start when the
 * governor grants a share and end when the walk is done (or the share is
 * withdrawn: activedefrag turned off).
 *
 * The shard thread runs everything here except the fields of struct
 * defrag_timer_shared marked for the main thread. Never blocks, never reads
 * the allocator's stats (their refresh is a global lock: DESIGN §10). */
#ifndef SHALE_DEFRAG_TIMER_H
#define SHALE_DEFRAG_TIMER_H

#include <stdatomic.h>
#include <stdint.h>

#include "server/defrag_hint.h"

struct config;
struct event_base;
struct keyspace;
struct expire_state;

/* What the governor and the shard tell each other. */
struct defrag_timer_shared {
    /* Main thread writes, shard reads. */
    _Atomic uint32_t share; /* of the shard's time, 1/100 % (0: no defrag) */
    _Atomic uint64_t tick;  /* governor ticks; stored (release) after share and hint */
    struct defrag_hint hint;
    /* Shard writes (relaxed), main thread and INFO read. */
    _Atomic uint32_t running; /* 1 while a cycle is in progress */
    _Atomic uint64_t cycles_started;
    _Atomic uint64_t cycles_done;
    _Atomic uint64_t cycle_hits; /* moves in the current (or last) cycle */
    _Atomic uint64_t hits;
    _Atomic uint64_t misses;
    _Atomic uint64_t key_hits;
    _Atomic uint64_t key_misses;
    _Atomic uint64_t scanned;
    _Atomic uint64_t runs;
    _Atomic uint64_t cpu_us;  /* thread CPU time spent in runs */
    _Atomic uint64_t wall_us; /* wall-clock time spent in runs (the paced share) */
};

struct defrag_timer;

/* Main thread, at shard creation. */
struct defrag_timer *shale_defrag_timer_create(int shard, unsigned arena, const struct config *cfg);
/* Shard thread, once it created its keyspace and expiry index (in its own
 * arena), before its loop runs: what the walk defragments. */
void shale_defrag_timer_bind(struct defrag_timer *t, struct keyspace *ks,
                             struct expire_state *expire);
void shale_defrag_timer_destroy(struct defrag_timer *t);
/* Creates the timer event in the shard's loop (before its thread starts)
 * and removes it (after the thread stopped). pending(arg) tells whether a
 * client request is waiting, so a run can give way to it (see
 * shards/defrag_pace.h); it must be cheap (a look at the rings). */
void shale_defrag_timer_attach(struct defrag_timer *t, struct event_base *base,
                               int (*pending)(void *arg), void *arg);
void shale_defrag_timer_detach(struct defrag_timer *t);
/* Shard thread, from its 100 ms cron: starts a cycle when the governor
 * granted a share since the last one ended, abandons one whose share was
 * withdrawn, and makes sure a running cycle's timer is armed. */
void shale_defrag_timer_cron(struct defrag_timer *t);

struct defrag_timer_shared *shale_defrag_timer_shared(struct defrag_timer *t);

#endif
