/* test_defrag_pace: unit tests for the duty-cycle arithmetic of a shard's
 * defrag timer (shards/defrag_pace.c), driven by a simulated clock: the
 * long-run share equals the target, no run exceeds active-defrag-cycle-us,
 * an overshoot is paid back by a longer gap, a late timer catches up with
 * capped credit and never faster than cycle-max, tiny shares still run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "shards/defrag_pace.h"

#define EXPECT(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fail_msg(__VA_ARGS__);                                                                 \
    } while (0)

#define CYCLE_US 500

/* A simulated timer: fires exactly when asked (plus `late` when given),
 * runs for the budget times `overrun`. Returns the defrag time over the
 * whole span. */
struct sim {
    int64_t now;
    int64_t defrag_us;
    int64_t runs;
    int64_t max_run;
    int64_t min_gap_after_run; /* shortest delay that followed a real run */
};

static void sim_run(struct defrag_pace *p, struct sim *s, uint32_t share, uint32_t max_share,
                    int64_t span_us, double overrun)
{
    int64_t end = s->now + span_us;
    s->min_gap_after_run = INT64_MAX;
    while (s->now < end) {
        int64_t budget = shale_defrag_pace_budget(p, s->now, share, CYCLE_US);
        int64_t ran = (int64_t)((double)budget * overrun);
        s->now += ran;
        s->defrag_us += ran;
        if (ran > 0) {
            s->runs++;
            if (ran > s->max_run)
                s->max_run = ran;
        }
        int64_t delay = shale_defrag_pace_next(p, s->now, ran, share, max_share, CYCLE_US, 0);
        EXPECT(delay >= 0 && delay <= DEFRAG_PACE_MAX_DELAY_US, "delay %lld out of range",
               (long long)delay);
        if (ran > 0 && delay < s->min_gap_after_run)
            s->min_gap_after_run = delay;
        s->now += delay;
    }
}

static void expect_share(const struct sim *s, int64_t span, double want_pct, double tol_pct)
{
    double got = 100.0 * (double)s->defrag_us / (double)span;
    EXPECT(got > want_pct - tol_pct && got < want_pct + tol_pct,
           "defrag took %.3f%% of the time, expected %.2f%% +- %.2f", got, want_pct, tol_pct);
}

static void test_steady_share(void **state)
{
    static const uint32_t shares[] = {100, 500, 1000, 2500, 5000, 9000};
    for (size_t i = 0; i < sizeof(shares) / sizeof(shares[0]); i++) {
        struct defrag_pace p;
        struct sim s = {0};
        s.now = 1000000;
        int64_t start = s.now;
        shale_defrag_pace_start(&p, s.now, CYCLE_US);
        sim_run(&p, &s, shares[i], 9900, 20000000, 1.0);
        expect_share(&s, s.now - start, shares[i] / 100.0, 0.05 + shares[i] / 100.0 * 0.01);
        EXPECT(s.max_run <= CYCLE_US, "a run took %lld us, more than active-defrag-cycle-us",
               (long long)s.max_run);
    }
}

/* Runs that take 60% longer than budgeted: the debt lengthens the gaps, so
 * the share still holds. */
static void test_overshoot_carried_forward(void **state)
{
    struct defrag_pace p;
    struct sim s = {0};
    shale_defrag_pace_start(&p, 0, CYCLE_US);
    sim_run(&p, &s, 1000, 2500, 20000000, 1.6);
    expect_share(&s, s.now, 10.0, 0.2);
}

/* A slow command kept the loop busy 50 ms past the timer: the next runs
 * come sooner to catch up, with at most DEFRAG_PACE_CATCHUP_RUNS runs of
 * credit, each at most cycle-us, never closer than cycle-max allows. */
static void test_catch_up_is_capped(void **state)
{
    struct defrag_pace p;
    const uint32_t share = 1000, max_share = 2500;
    shale_defrag_pace_start(&p, 0, CYCLE_US);
    int64_t now = 0;
    /* Reach the steady state first. */
    for (int i = 0; i < 50; i++) {
        int64_t b = shale_defrag_pace_budget(&p, now, share, CYCLE_US);
        now += b;
        now += shale_defrag_pace_next(&p, now, b, share, max_share, CYCLE_US, 0);
    }
    now += 50000; /* the stall */
    int64_t caught = 0, runs = 0, t0 = now;
    for (;;) {
        int64_t b = shale_defrag_pace_budget(&p, now, share, CYCLE_US);
        EXPECT(b <= CYCLE_US, "budget %lld above cycle-us", (long long)b);
        now += b;
        caught += b;
        runs++;
        int64_t delay = shale_defrag_pace_next(&p, now, b, share, max_share, CYCLE_US, 0);
        /* cycle-max 25%: a 500 us run is followed by >= 1500 us of gap. */
        EXPECT(delay >= b * 3, "gap %lld after a %lld us run: faster than cycle-max",
               (long long)delay, (long long)b);
        if (delay >= 4000)
            break; /* back to the 10% rhythm (500 us every 4.5 ms) */
        now += delay;
        EXPECT(runs < 100, "catch-up never ended");
    }
    /* The stall earned 50000 * 10/90 = 5.5 ms; only 4 runs' worth is kept,
     * on top of what the catch-up's own gaps earn and the run in hand. */
    int64_t bound = DEFRAG_PACE_CATCHUP_RUNS * CYCLE_US + CYCLE_US + (now - t0) / 9;
    EXPECT(caught <= bound, "caught up %lld us after the stall, more than the cap (%lld)",
           (long long)caught, (long long)bound);
    EXPECT(runs >= DEFRAG_PACE_CATCHUP_RUNS, "only %lld catch-up runs", (long long)runs);
    EXPECT(now - t0 < 20000, "catch-up took %lld us", (long long)(now - t0));
}

/* A share of 0.01% with the delay capped at 100 ms still adds up. */
static void test_tiny_share(void **state)
{
    struct defrag_pace p;
    struct sim s = {0};
    shale_defrag_pace_start(&p, 0, CYCLE_US);
    sim_run(&p, &s, 1, 2500, 600000000, 1.0);
    /* The first run uses the cycle's starting credit; the rest earn. */
    double pct = 100.0 * (double)(s.defrag_us - CYCLE_US) / (double)s.now;
    EXPECT(pct > 0.008 && pct < 0.012, "tiny share ran %.4f%% of the time", pct);
}

/* Too little allowance for a worthwhile run: no run, and a delay that
 * earns a full one. */
static void test_small_allowance_waits(void **state)
{
    struct defrag_pace p;
    shale_defrag_pace_start(&p, 0, CYCLE_US);
    int64_t b = shale_defrag_pace_budget(&p, 0, 2500, CYCLE_US);
    assert_int_equal(b, CYCLE_US);
    int64_t d = shale_defrag_pace_next(&p, CYCLE_US, CYCLE_US, 2500, 2500, CYCLE_US, 0);
    assert_int_equal(d, 3 * CYCLE_US);
    /* Fired after 30 us instead of 1500 us: 10 us of allowance. */
    b = shale_defrag_pace_budget(&p, CYCLE_US + 30, 2500, CYCLE_US);
    assert_int_equal(b, 0);
    d = shale_defrag_pace_next(&p, CYCLE_US + 30, 0, 2500, 2500, CYCLE_US, 0);
    assert_int_equal(d, (CYCLE_US - 10) * 3);
}

/* Requests every 40 us (the shard idle in between): runs give way after
 * 30 us and resume when the shard is idle again, and the share still comes
 * out right -- spent in the gaps, never more than the target. */
static void test_yield_spends_idle_time(void **state)
{
    const uint32_t share = 2500, max_share = 2500;
    struct defrag_pace p;
    shale_defrag_pace_start(&p, 0, CYCLE_US);
    int64_t now = 0, defrag = 0, short_runs = 0, long_runs = 0;
    while (now < 20000000) {
        int64_t budget = shale_defrag_pace_budget(&p, now, share, CYCLE_US);
        int yield = shale_defrag_pace_may_yield(&p, CYCLE_US);
        int64_t ran = budget;
        int yielded = 0;
        if (yield && budget > 30) {
            ran = 30; /* a request arrived: stop after the current unit */
            yielded = 1;
        }
        now += ran;
        defrag += ran;
        if (ran > 0 && ran <= 30)
            short_runs++;
        else if (ran > 30)
            long_runs++;
        int64_t delay = shale_defrag_pace_next(&p, now, ran, share, max_share, CYCLE_US, yielded);
        EXPECT(!yielded || delay == 0 || p.credit_us < DEFRAG_PACE_MIN_RUN_US,
               "a run cut short by a request should resume at once (delay %lld)", (long long)delay);
        /* The request itself, then the loop comes back to the timer. */
        now += delay > 10 ? delay : 10;
    }
    double pct = 100.0 * (double)defrag / (double)now;
    EXPECT(pct > 24.0 && pct < 25.5, "yielding runs gave %.2f%% instead of 25%%", pct);
    EXPECT(short_runs > 50 * long_runs, "%lld short runs, %lld whole ones: expected mostly short",
           (long long)short_runs, (long long)long_runs);
}

/* Far behind (credit of two runs or more): no giving way. */
static void test_no_yield_when_behind(void **state)
{
    struct defrag_pace p;
    shale_defrag_pace_start(&p, 0, CYCLE_US);
    shale_defrag_pace_budget(&p, 0, 2500, CYCLE_US);
    EXPECT(shale_defrag_pace_may_yield(&p, CYCLE_US), "a fresh cycle may give way");
    /* 20 ms without a run at 25%: 6.7 ms earned, 2 ms kept. */
    shale_defrag_pace_budget(&p, 20000, 2500, CYCLE_US);
    EXPECT(!shale_defrag_pace_may_yield(&p, CYCLE_US), "behind: a run must not give way");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_steady_share),
        cmocka_unit_test(test_overshoot_carried_forward),
        cmocka_unit_test(test_catch_up_is_capped),
        cmocka_unit_test(test_tiny_share),
        cmocka_unit_test(test_small_allowance_waits),
        cmocka_unit_test(test_yield_spends_idle_time),
        cmocka_unit_test(test_no_yield_when_behind),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
