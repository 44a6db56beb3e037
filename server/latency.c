/* latency: see latency.h. */
#include "server/latency.h"

#include "server/mem.h"

struct latency *shale_latency_create(int ncmd)
{
    struct latency *l = shale_calloc(1, sizeof(*l));
    l->ncmd = ncmd;
    l->cells = shale_calloc((size_t)ncmd, sizeof(*l->cells));
    return l;
}

void shale_latency_destroy(struct latency *l)
{
    if (!l)
        return;
    shale_free(l->cells);
    shale_free(l);
}

void shale_latency_add_to(const struct latency *l, int cmd, uint64_t counts[LATENCY_BUCKETS],
                          uint64_t *sum_us)
{
    if (cmd < 0 || cmd >= l->ncmd)
        return;
    const struct latency_cell *c = &l->cells[cmd];
    for (int b = 0; b < LATENCY_BUCKETS; b++)
        counts[b] += atomic_load_explicit(&c->count[b], memory_order_relaxed);
    *sum_us += atomic_load_explicit(&c->sum_us, memory_order_relaxed);
}

double shale_latency_bucket_seconds(int b)
{
    return (double)(1ULL << b) / 1e6;
}
