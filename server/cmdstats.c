/* cmdstats: see cmdstats.h. INFO and CONFIG RESETSTAT run on any I/O
 * thread; they only read counters and write baselines. */
#include "server/cmdstats.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "net/io_thread.h"
#include "net/resp_write.h"
#include "server/command.h"
#include "server/info.h"
#include "server/mem.h"
#include "server/server.h"
#include "shards/shard.h"

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

struct cmdstats *shale_cmdstats_create(void)
{
    struct cmdstats *st = shale_calloc(1, sizeof(*st));
    pthread_mutex_init(&st->names_lock, NULL);
    st->cmd_base = shale_cmdstats_table_create();
    return st;
}

void shale_cmdstats_destroy(struct cmdstats *st)
{
    if (!st)
        return;
    shale_cmdstats_table_destroy(st->cmd_base);
    pthread_mutex_destroy(&st->names_lock);
    shale_free(st);
}

struct cmdstat *shale_cmdstats_table_create(void)
{
    return shale_calloc((size_t)shale_command_count(), sizeof(struct cmdstat));
}

void shale_cmdstats_table_destroy(struct cmdstat *table)
{
    if (!table)
        return;
    for (int i = 0; i < shale_command_count(); i++)
        shale_free((void *)atomic_load(&table[i].hist));
    shale_free(table);
}

static _Atomic uint64_t *hist_create(void)
{
    return shale_calloc(CMDSTATS_HIST_BUCKETS, sizeof(_Atomic uint64_t));
}

_Atomic uint64_t *shale_cmdstats_hist_create(struct cmdstat *row)
{
    _Atomic uint64_t *h = hist_create();
    atomic_store_explicit(&row->hist, h, memory_order_release); /* INFO loads it with acquire */
    return h;
}

/* Adds every thread's histogram of command `index` into out; 0 when no
 * thread has one. */
static int sum_hist(struct server *srv, int index, uint64_t *out)
{
    int any = 0;
    for (int i = 0; i < srv->nio + srv->nshards; i++) {
        const struct cmdstat *row = i < srv->nio
                                        ? &srv->io[i]->stats.cmds[index]
                                        : &shale_shard_cmdstats(srv->shards[i - srv->nio])[index];
        _Atomic uint64_t *h = atomic_load_explicit(&row->hist, memory_order_acquire);
        if (!h)
            continue;
        any = 1;
        for (int b = 0; b < CMDSTATS_HIST_BUCKETS; b++)
            out[b] += LOAD(h[b]);
    }
    return any;
}

/* Index of a prefix among the first n names, or -1. */
static int find_name(const struct cmdstats *st, int n, const char *name, size_t len)
{
    for (int i = 0; i < n; i++)
        if (strlen(st->names[i]) == len && memcmp(st->names[i], name, len) == 0)
            return i;
    return -1;
}

static int name_index(struct cmdstats *st, const char *name, size_t len)
{
    int n = atomic_load_explicit(&st->nnames, memory_order_acquire);
    int i = find_name(st, n, name, len);
    if (i >= 0)
        return i;
    pthread_mutex_lock(&st->names_lock);
    n = atomic_load_explicit(&st->nnames, memory_order_relaxed);
    i = find_name(st, n, name, len);
    if (i < 0 && n < CMDSTATS_ERRORS) {
        memcpy(st->names[n], name, len);
        st->names[n][len] = '\0';
        atomic_store_explicit(&st->nnames, n + 1, memory_order_release);
        i = n;
    }
    pthread_mutex_unlock(&st->names_lock);
    return i;
}

void shale_cmdstats_error_reply(struct cmdstats *st, struct errorstats *es, const char *data,
                                size_t len)
{
    cmdstats_bump(&es->total, 1);
    /* Redis's afterErrorReply: the prefix is the first word, looked for in
     * the first 32 bytes; without a space there it counts as ERR. */
    const char *space = memchr(data, ' ', len < CMDSTATS_ERROR_LEN ? len : CMDSTATS_ERROR_LEN);
    const char *name = space ? data + 1 : "ERR";
    size_t nlen = space ? (size_t)(space - data) - 1 : 3;
    int i = name_index(st, name, nlen);
    if (i >= 0)
        cmdstats_bump(&es->count[i], 1);
}

/* The counter as it stands, from the threads that own it. */
static uint64_t raw_counter(struct server *srv, enum stat_counter which)
{
    switch (which) {
    case STAT_CONNECTIONS_RECEIVED:
        return LOAD(srv->clients.total_received);
    case STAT_COMMANDS_PROCESSED:
        return shale_info_io_sum(srv, offsetof(struct io_stats, commands));
    case STAT_NET_INPUT_BYTES:
        return shale_info_io_sum(srv, offsetof(struct io_stats, net_input));
    case STAT_NET_OUTPUT_BYTES:
        return shale_info_io_sum(srv, offsetof(struct io_stats, net_output));
    case STAT_REJECTED_CONNECTIONS:
        return LOAD(srv->clients.rejected);
    case STAT_QBUF_LIMIT_DISCONNECTIONS:
        return shale_info_io_sum(srv, offsetof(struct io_stats, qbuf_limit_closed));
    case STAT_OBUF_LIMIT_DISCONNECTIONS:
        return shale_info_io_sum(srv, offsetof(struct io_stats, obuf_limit_closed));
    case STAT_EXPIRED_KEYS:
        return shale_info_shard_sum(srv, offsetof(struct shard_public_stats, expired_keys));
    case STAT_EXPIRED_TIME_CAP_REACHED:
        return shale_info_shard_sum(srv,
                                    offsetof(struct shard_public_stats, expire_time_cap_reached));
    case STAT_EXPIRE_CYCLE_CPU_US:
        return shale_info_shard_sum(srv, offsetof(struct shard_public_stats, expire_cpu_us));
    case STAT_EVICTED_KEYS:
        return shale_info_shard_sum(srv, offsetof(struct shard_public_stats, evicted_keys));
    case STAT_KEYSPACE_HITS:
        return shale_info_shard_sum(srv, offsetof(struct shard_public_stats, keyspace_hits));
    case STAT_KEYSPACE_MISSES:
        return shale_info_shard_sum(srv, offsetof(struct shard_public_stats, keyspace_misses));
    case STAT_ERROR_REPLIES:
        return shale_info_io_sum(srv, offsetof(struct io_stats, errors.total));
    case STAT_COUNTERS:
        break;
    }
    return 0;
}

/* counter - baseline. The baseline is loaded first (acquire), so a counter
 * read after it is at least the value the baseline was taken from; the
 * clamp only guards against a counter that went down (none does). */
uint64_t shale_cmdstats_counter(struct server *srv, enum stat_counter which)
{
    uint64_t b = atomic_load_explicit(&srv->stats->base[which], memory_order_acquire);
    uint64_t value = raw_counter(srv, which);
    return value > b ? value - b : 0;
}

/* One command's counters summed over every I/O thread and shard. */
struct cmd_sum {
    uint64_t calls, ns, rejected, failed;
};

static void sum_command(struct server *srv, int index, struct cmd_sum *out)
{
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < srv->nio + srv->nshards; i++) {
        const struct cmdstat *row = i < srv->nio
                                        ? &srv->io[i]->stats.cmds[index]
                                        : &shale_shard_cmdstats(srv->shards[i - srv->nio])[index];
        out->calls += LOAD(row->calls);
        out->ns += LOAD(row->ns);
        out->rejected += LOAD(row->rejected);
        out->failed += LOAD(row->failed);
    }
}

uint64_t shale_cmdstats_calls(struct server *srv, int index)
{
    struct cmd_sum s;
    sum_command(srv, index, &s);
    return s.calls;
}

static uint64_t sum_errors(struct server *srv, int index)
{
    uint64_t total = 0;
    for (int i = 0; i < srv->nio; i++)
        total += LOAD(srv->io[i]->stats.errors.count[index]);
    return total;
}

void shale_cmdstats_reset(struct server *srv)
{
    struct cmdstats *st = srv->stats;
    for (int w = 0; w < STAT_COUNTERS; w++)
        atomic_store_explicit(&st->base[w], raw_counter(srv, (enum stat_counter)w),
                              memory_order_release);
    for (int i = 0; i < shale_command_count(); i++) {
        struct cmd_sum s;
        sum_command(srv, i, &s);
        struct cmdstat *b = &st->cmd_base[i];
        atomic_store_explicit(&b->calls, s.calls, memory_order_release);
        atomic_store_explicit(&b->ns, s.ns, memory_order_release);
        atomic_store_explicit(&b->rejected, s.rejected, memory_order_release);
        atomic_store_explicit(&b->failed, s.failed, memory_order_release);
    }
    int n = atomic_load_explicit(&st->nnames, memory_order_acquire);
    for (int i = 0; i < n; i++)
        atomic_store_explicit(&st->err_base[i], sum_errors(srv, i), memory_order_release);
    uint64_t sum[CMDSTATS_HIST_BUCKETS];
    for (int i = 0; i < shale_command_count(); i++) {
        memset(sum, 0, sizeof(sum));
        if (!sum_hist(srv, i, sum))
            continue;
        struct cmdstat *b = &st->cmd_base[i];
        _Atomic uint64_t *h = atomic_load_explicit(&b->hist, memory_order_acquire);
        if (!h) { /* two resets at once: one allocation wins */
            _Atomic uint64_t *fresh = hist_create(), *expected = NULL;
            if (atomic_compare_exchange_strong(&b->hist, &expected, fresh)) {
                h = fresh;
            } else {
                shale_free((void *)fresh);
                h = expected;
            }
        }
        for (int k = 0; k < CMDSTATS_HIST_BUCKETS; k++)
            atomic_store_explicit(&h[k], sum[k], memory_order_release);
    }
}

/* The row whose name INFO shows for command `index`: subcommands of a
 * container Redis parses by hand (DEBUG) count under the container. */
static int shown_row(int index)
{
    const struct command *cmd = shale_command_at(index);
    const char *bar = strchr(cmd->name, '|');
    if (!bar)
        return index;
    struct slice container = {cmd->name, (size_t)(bar - cmd->name)};
    const struct command *c = shale_command_lookup(container);
    return c && (c->flags & CMD_HAND_PARSED) ? shale_command_index(c) : index;
}

void shale_cmdstats_info_commands(struct server *srv, struct resp_buf *out)
{
    int n = shale_command_count();
    struct cmd_sum *shown = shale_calloc((size_t)n, sizeof(*shown));
    for (int i = 0; i < n; i++) {
        /* Baselines first (see since_reset), then the counters. */
        const struct cmdstat *b = &srv->stats->cmd_base[i];
        uint64_t bc = atomic_load_explicit(&b->calls, memory_order_acquire);
        uint64_t bn = atomic_load_explicit(&b->ns, memory_order_acquire);
        uint64_t br = atomic_load_explicit(&b->rejected, memory_order_acquire);
        uint64_t bf = atomic_load_explicit(&b->failed, memory_order_acquire);
        struct cmd_sum s;
        sum_command(srv, i, &s);
        struct cmd_sum *to = &shown[shown_row(i)];
        to->calls += s.calls > bc ? s.calls - bc : 0;
        to->ns += s.ns > bn ? s.ns - bn : 0;
        to->rejected += s.rejected > br ? s.rejected - br : 0;
        to->failed += s.failed > bf ? s.failed - bf : 0;
    }
    for (int i = 0; i < n; i++) {
        const struct cmd_sum *s = &shown[i];
        if (!s->calls && !s->rejected && !s->failed)
            continue;
        uint64_t usec = s->ns / 1000;
        shale_resp_add_textf(
            out,
            "cmdstat_%s:calls=%llu,usec=%llu,usec_per_call=%.2f,rejected_calls=%llu,"
            "failed_calls=%llu\r\n",
            shale_command_at(i)->name, (unsigned long long)s->calls, (unsigned long long)usec,
            s->calls ? (double)s->ns / 1000.0 / (double)s->calls : 0.0,
            (unsigned long long)s->rejected, (unsigned long long)s->failed);
    }
    shale_free(shown);
}

void shale_cmdstats_info_errors(struct server *srv, struct resp_buf *out)
{
    struct cmdstats *st = srv->stats;
    int n = atomic_load_explicit(&st->nnames, memory_order_acquire);
    int order[CMDSTATS_ERRORS];
    /* Redis keeps the prefixes in a radix tree: they print sorted. */
    for (int i = 0; i < n; i++) {
        int j = i;
        while (j > 0 && strcmp(st->names[order[j - 1]], st->names[i]) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    for (int k = 0; k < n; k++) {
        int i = order[k];
        uint64_t base = atomic_load_explicit(&st->err_base[i], memory_order_acquire);
        uint64_t value = sum_errors(srv, i);
        uint64_t count = value > base ? value - base : 0;
        if (count)
            shale_resp_add_textf(out, "errorstat_%s:count=%llu\r\n", st->names[i],
                                 (unsigned long long)count);
    }
}

/* The highest value (ns) a bucket holds, as HdrHistogram reports a
 * percentile: the top of the bucket it falls in. */
static uint64_t bucket_top(int b)
{
    if (b < 8)
        return (uint64_t)b;
    int e = b / 8 + 2, sub = b % 8;
    return ((uint64_t)(8 + sub) << (e - 3)) + ((uint64_t)1 << (e - 3)) - 1;
}

/* HdrHistogram's hdr_value_at_percentile. */
static double value_at(const uint64_t *h, uint64_t total, double percentile)
{
    uint64_t want = (uint64_t)(percentile / 100.0 * (double)total + 0.5);
    if (want < 1)
        want = 1;
    uint64_t seen = 0;
    for (int b = 0; b < CMDSTATS_HIST_BUCKETS; b++) {
        seen += h[b];
        if (seen >= want)
            return (double)bucket_top(b);
    }
    return (double)bucket_top(CMDSTATS_HIST_BUCKETS - 1);
}

void shale_cmdstats_info_latency(struct server *srv, struct resp_buf *out)
{
    int n = shale_command_count();
    uint64_t **shown = shale_calloc((size_t)n, sizeof(*shown));
    uint64_t base[CMDSTATS_HIST_BUCKETS], sum[CMDSTATS_HIST_BUCKETS];
    for (int i = 0; i < n; i++) {
        /* Baseline first, then the counters (see shale_cmdstats_counter). */
        memset(base, 0, sizeof(base));
        _Atomic uint64_t *bh =
            atomic_load_explicit(&srv->stats->cmd_base[i].hist, memory_order_acquire);
        for (int b = 0; bh && b < CMDSTATS_HIST_BUCKETS; b++)
            base[b] = atomic_load_explicit(&bh[b], memory_order_acquire);
        memset(sum, 0, sizeof(sum));
        if (!sum_hist(srv, i, sum))
            continue;
        int to = shown_row(i);
        if (!shown[to])
            shown[to] = shale_calloc(CMDSTATS_HIST_BUCKETS, sizeof(uint64_t));
        for (int b = 0; b < CMDSTATS_HIST_BUCKETS; b++)
            shown[to][b] += sum[b] > base[b] ? sum[b] - base[b] : 0;
    }
    for (int i = 0; i < n; i++) {
        if (!shown[i])
            continue;
        uint64_t total = 0;
        for (int b = 0; b < CMDSTATS_HIST_BUCKETS; b++)
            total += shown[i][b];
        if (total)
            shale_resp_add_textf(
                out, "latency_percentiles_usec_%s:p50=%.3f,p99=%.3f,p99.9=%.3f\r\n",
                shale_command_at(i)->name, value_at(shown[i], total, 50.0) / 1000.0,
                value_at(shown[i], total, 99.0) / 1000.0, value_at(shown[i], total, 99.9) / 1000.0);
        shale_free(shown[i]);
    }
    shale_free(shown);
}
