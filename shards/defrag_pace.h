/* defrag_pace: when a shard's defrag timer runs next and for how long
 * (DESIGN §6). Pure arithmetic on times the caller reads; no clock, no
 * allocation, no thread of its own (the shard thread owns a pace).
 *
 * The duty-cycle rule. With a share P of the shard's time, a run may last
 *     run = P * W / (100 - P)
 * where W is the time since the previous run ended, so runs over runs plus
 * gaps stays P. A run never lasts more than active-defrag-cycle-us (the
 * latency a client can see behind it); the next one is timed so that the
 * gap earns one full run.
 *
 * Overshoot is carried forward: a run that outlasts its budget (the walk
 * checks the clock between units of work) leaves a debt the next gap must
 * earn back first. Catch-up is capped: when a slow command kept the loop
 * busy past the timer, the long gap earns credit -- kept up to
 * DEFRAG_PACE_CATCHUP_RUNS runs -- that the next runs spend coming back
 * sooner, but never so soon that the shard spends more than
 * active-defrag-cycle-max of its time on defrag. Busy shards therefore still
 * defragment (no starvation), and a long stall never becomes a long burst.
 *
 * Idle time first. While the pace is not behind (less than
 * DEFRAG_PACE_YIELD_RUNS runs of credit), a run stops as soon as a client
 * request is waiting, and the next run comes as soon as the shard is idle
 * again (delay 0): the allowance is the same, it is just spent between
 * requests, so a request waits for one unit of defrag work (microseconds),
 * not for a whole run. A shard so busy that its credit piles up past that
 * mark runs whole runs again, requests or not. */
#ifndef SHALE_DEFRAG_PACE_H
#define SHALE_DEFRAG_PACE_H

#include <stdint.h>

/* Shares are in 1/100 of a percent: 2500 = 25% of the shard's time. */
#define DEFRAG_PACE_SCALE 10000
/* Credit kept from a late timer, in full runs. */
#define DEFRAG_PACE_CATCHUP_RUNS 4
/* A run shorter than this is mostly overhead: wait for more allowance. */
#define DEFRAG_PACE_MIN_RUN_US 20
/* Below this much credit, in runs, a run gives way to waiting requests. */
#define DEFRAG_PACE_YIELD_RUNS 2
/* Longest delay between runs; tiny shares run short slices instead. */
#define DEFRAG_PACE_MAX_DELAY_US 100000

struct defrag_pace {
    int64_t last_end_us; /* when the previous run ended (or the pace started) */
    int64_t credit_us;   /* allowance banked (+) or overshoot owed (-) */
};

/* A cycle starts at now_us with one run's worth of credit. */
void shale_defrag_pace_start(struct defrag_pace *p, int64_t now_us, int64_t cycle_us);

/* The budget of a run starting at now_us with share (1..9999), at most
 * cycle_us; 0 when the allowance is too small to be worth a run (call
 * shale_defrag_pace_next with ran_us 0 for the delay). */
int64_t shale_defrag_pace_budget(struct defrag_pace *p, int64_t now_us, uint32_t share,
                                 int64_t cycle_us);

/* After shale_defrag_pace_budget: 1 when the run may stop early for a
 * waiting request (the pace is not behind). */
int shale_defrag_pace_may_yield(const struct defrag_pace *p, int64_t cycle_us);

/* Accounts a run that ended at end_us after ran_us, and returns the delay
 * before the next one (0..DEFRAG_PACE_MAX_DELAY_US). max_share is
 * active-defrag-cycle-max in the same units: catch-up runs are never closer
 * than it allows. yielded: the run stopped early for a request; the next
 * one may come at once (delay 0) while allowance is left. */
int64_t shale_defrag_pace_next(struct defrag_pace *p, int64_t end_us, int64_t ran_us,
                               uint32_t share, uint32_t max_share, int64_t cycle_us, int yielded);

#endif
