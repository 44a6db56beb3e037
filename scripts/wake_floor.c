/* wake_floor: the latency floor of the machine itself, with no server in
 * the way. scripts/bench_defrag.py runs it next to its probe so that a
 * report can tell the server's tail from the machine's. Not part of the
 * build; the script compiles it (cc -O2 -pthread -o build/wake_floor
 * scripts/wake_floor.c).
 *
 *   wake_floor MB OUTFILE
 *       Allocates and touches MB megabytes (the heap a loaded server holds),
 *       then bounces one byte between two threads over a pair of pipes, one
 *       round trip at a time, until SIGINT/SIGTERM: each round trip is what
 *       a pipeline-1 request costs in wake-ups, without parsing, data or
 *       TCP. Writes one record per round trip to OUTFILE in defrag_probe's
 *       format: int64 send time (CLOCK_MONOTONIC ns) and int64 latency (ns).
 *       Prints "requests=N" at the end.
 *
 * On a virtual machine whose host samples or reclaims guest memory, the
 * round trips of a process with a large heap stall for milliseconds at the
 * host's period, and no server on that machine can have a lower max. */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static int to_echo[2], from_echo[2];

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *echo(void *arg)
{
    (void)arg;
    char byte;
    while (read(to_echo[0], &byte, 1) == 1)
        if (write(from_echo[1], &byte, 1) != 1)
            break;
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s MB OUTFILE\n", argv[0]);
        return 2;
    }
    size_t bytes = (size_t)strtoull(argv[1], NULL, 10) << 20;
    volatile char *heap = bytes ? malloc(bytes) : NULL;
    if (bytes && !heap) {
        fprintf(stderr, "wake_floor: cannot allocate %s MB\n", argv[1]);
        return 2;
    }
    for (size_t i = 0; i < bytes; i += 4096)
        heap[i] = 1;
    FILE *out = fopen(argv[2], "wb");
    if (!out || pipe(to_echo) || pipe(from_echo)) {
        fprintf(stderr, "wake_floor: cannot write %s or make pipes\n", argv[2]);
        return 2;
    }
    /* The echo thread starts with SIGINT/SIGTERM blocked, so the signal
     * interrupts the measuring thread (no SA_RESTART: its read returns). */
    sigset_t stops, old;
    sigemptyset(&stops);
    sigaddset(&stops, SIGINT);
    sigaddset(&stops, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stops, &old);
    pthread_t thread;
    if (pthread_create(&thread, NULL, echo, NULL)) {
        fprintf(stderr, "wake_floor: cannot start the echo thread\n");
        return 2;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    uint64_t trips = 0;
    char byte = 'x';
    while (!stop) {
        int64_t t0 = now_ns();
        if (write(to_echo[1], &byte, 1) != 1 || read(from_echo[0], &byte, 1) != 1)
            break;
        int64_t rec[2] = {t0, now_ns() - t0};
        fwrite(rec, sizeof(rec), 1, out);
        trips++;
    }
    fclose(out);
    printf("requests=%llu\n", (unsigned long long)trips);
    return 0;
}
