/* health: see health.h. */
#include "server/health.h"

#include <stdatomic.h>
#include <stdio.h>

#include "net/io_thread.h"
#include "server/lifecycle.h"
#include "server/server.h"
#include "shards/shard.h"

/* A thread that has not beaten yet started with the server. */
static int64_t age(const struct server *srv, int64_t beat_us, int64_t now_us)
{
    return now_us - (beat_us ? beat_us : srv->start_us);
}

void shale_health_foreach(struct server *srv, int64_t now_us,
                          void (*fn)(void *ctx, const char *thread, int64_t age_us), void *ctx)
{
    char name[32];
    fn(ctx, "main", age(srv, shale_lifecycle_heartbeat(srv->life), now_us));
    for (int i = 0; i < srv->nio; i++) {
        snprintf(name, sizeof(name), "io-%d", i);
        int64_t beat = atomic_load_explicit(&srv->io[i]->stats.heartbeat_us, memory_order_relaxed);
        fn(ctx, name, age(srv, beat, now_us));
    }
    for (int s = 0; s < srv->nshards; s++) {
        snprintf(name, sizeof(name), "shard-%d", s);
        int64_t beat = atomic_load_explicit(&shale_shard_stats(srv->shards[s])->heartbeat_us,
                                            memory_order_relaxed);
        fn(ctx, name, age(srv, beat, now_us));
    }
}

struct check_ctx {
    char *why;
    size_t len, used;
    int stale;
};

static void check_one(void *arg, const char *thread, int64_t age_us)
{
    struct check_ctx *ctx = arg;
    if (age_us <= HEALTH_STALE_US)
        return;
    ctx->stale++;
    if (ctx->used < ctx->len) {
        int n =
            snprintf(ctx->why + ctx->used, ctx->len - ctx->used, "%s%s: no heartbeat for %.1f s",
                     ctx->used ? ", " : "", thread, (double)age_us / 1e6);
        ctx->used += n > 0 ? (size_t)n : 0;
    }
}

int shale_health_check(struct server *srv, int64_t now_us, char *why, size_t whylen)
{
    struct check_ctx ctx = {why, whylen, 0, 0};
    if (whylen)
        why[0] = '\0';
    shale_health_foreach(srv, now_us, check_one, &ctx);
    return ctx.stale == 0;
}
