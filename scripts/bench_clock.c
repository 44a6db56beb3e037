/* bench_clock: what one read of the monotonic clock (server/clock.h's
 * clock_mono_us) costs on this machine, the number behind reading it once
 * per batch rather than once per request for the latency histograms (see
 * docs/architecture.md, "Latency histograms"). Not part of the build:
 *
 *   cc -O2 -std=c11 -D_GNU_SOURCE -I. -o /tmp/bench_clock scripts/bench_clock.c
 *   /tmp/bench_clock
 *
 * Single-threaded; prints ns per call over 10 million calls, three times. */
#include <stdio.h>

#include "server/clock.h"

int main(void)
{
    for (int run = 0; run < 3; run++) {
        int64_t sink = 0, start = clock_mono_us();
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (int i = 0; i < 10000000; i++)
            sink += clock_mono_us();
        clock_gettime(CLOCK_MONOTONIC, &b);
        double ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / 1e7;
        printf("clock_mono_us: %.1f ns per call (%lld)\n", ns, (long long)((sink - start) & 1));
    }
    return 0;
}
