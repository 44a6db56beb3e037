/* defrag_pace: the duty-cycle arithmetic (rule and reasons in
 * defrag_pace.h). Pure functions; the shard thread owns the state. */
#include "shards/defrag_pace.h"

static uint32_t clamp_share(uint32_t share)
{
    if (share < 1)
        return 1;
    return share >= DEFRAG_PACE_SCALE ? DEFRAG_PACE_SCALE - 1 : share;
}

/* Defrag time earned by `gap` of other work at this share. */
static int64_t earned(int64_t gap, uint32_t share)
{
    return (int64_t)((__int128)gap * share / (DEFRAG_PACE_SCALE - share));
}

/* Other work needed to earn `run` of defrag time at this share. */
static int64_t gap_for(int64_t run, uint32_t share)
{
    return (int64_t)((__int128)run * (DEFRAG_PACE_SCALE - share) / share);
}

void shale_defrag_pace_start(struct defrag_pace *p, int64_t now_us, int64_t cycle_us)
{
    p->last_end_us = now_us;
    p->credit_us = cycle_us;
}

int64_t shale_defrag_pace_budget(struct defrag_pace *p, int64_t now_us, uint32_t share,
                                 int64_t cycle_us)
{
    share = clamp_share(share);
    int64_t gap = now_us > p->last_end_us ? now_us - p->last_end_us : 0;
    int64_t allow = p->credit_us + earned(gap, share);
    int64_t cap = cycle_us * DEFRAG_PACE_CATCHUP_RUNS;
    if (allow > cap)
        allow = cap;
    /* The gap is now banked; the run (or the wait) starts from here. */
    p->credit_us = allow;
    p->last_end_us = now_us;
    int64_t budget = allow < cycle_us ? allow : cycle_us;
    return budget >= DEFRAG_PACE_MIN_RUN_US ? budget : 0;
}

int shale_defrag_pace_may_yield(const struct defrag_pace *p, int64_t cycle_us)
{
    return p->credit_us < cycle_us * DEFRAG_PACE_YIELD_RUNS;
}

int64_t shale_defrag_pace_next(struct defrag_pace *p, int64_t end_us, int64_t ran_us,
                               uint32_t share, uint32_t max_share, int64_t cycle_us, int yielded)
{
    share = clamp_share(share);
    max_share = clamp_share(max_share);
    if (share > max_share)
        share = max_share;
    if (ran_us < 0)
        ran_us = 0;
    p->credit_us -= ran_us;
    p->last_end_us = end_us;
    /* Cut short by a request: the rest of the allowance waits only for the
     * shard to be idle again. */
    if (yielded && p->credit_us >= DEFRAG_PACE_MIN_RUN_US)
        return 0;
    /* Never closer than cycle-max allows after the run just done. */
    int64_t floor = gap_for(ran_us, max_share);
    int64_t need = cycle_us - p->credit_us;
    int64_t delay = need > 0 ? gap_for(need, share) : 0;
    if (delay < floor)
        delay = floor;
    return delay > DEFRAG_PACE_MAX_DELAY_US ? DEFRAG_PACE_MAX_DELAY_US : delay;
}
