/* health: every thread's heartbeat, for /healthz and /metrics. The main
 * thread stamps its own (server/lifecycle.c), I/O threads and shards stamp
 * theirs from their own timers; a thread whose stamp is older than
 * HEALTH_STALE_US has stopped turning its loop (stuck in a long command, a
 * deadlock, a lost wake-up). Reading is any thread; nothing here writes. */
#ifndef SHALE_HEALTH_H
#define SHALE_HEALTH_H

#include <stddef.h>
#include <stdint.h>

struct server;

/* I/O threads beat every second, shards every 100 ms, main every 250 ms. */
#define HEALTH_STALE_US (5 * 1000000LL)

/* Calls fn(ctx, "main" | "io-N" | "shard-N", age in µs) for every thread. */
void shale_health_foreach(struct server *srv, int64_t now_us,
                          void (*fn)(void *ctx, const char *thread, int64_t age_us), void *ctx);

/* 1 when every thread beat within HEALTH_STALE_US; otherwise 0 and why
 * names the stale threads. */
int shale_health_check(struct server *srv, int64_t now_us, char *why, size_t whylen);

#endif
