/* defrag_probe: the client side of scripts/bench_defrag.py, in C so that
 * loading millions of keys is quick and every request's latency is measured
 * without an interpreter in the way. Not part of the build; the script
 * compiles it (cc -O2 -o build/defrag_probe scripts/defrag_probe.c -lhiredis).
 *
 *   defrag_probe load   PORT KEYS HASHES FIELDS
 *       SET key:<i> (100-400 random bytes) for i < KEYS, and HSET
 *       hash:<h> field:<f> (16-200 bytes) for FIELDS fields of HASHES hashes,
 *       pipelined.
 *   defrag_probe delete PORT KEYS HASHES FIELDS KEEP_PCT
 *       DEL / HDEL all but a pseudo-random KEEP_PCT% of them.
 *   defrag_probe probe  PORT KEYS HASHES FIELDS KEEP_PCT OUTFILE
 *       One connection, one request at a time (pipeline 1), alternating GET
 *       of a kept key and HGET of a kept field, each reply checked against
 *       the value it must hold, until SIGINT/SIGTERM. Writes one record per
 *       request to OUTFILE: int64 send time (CLOCK_MONOTONIC ns) and int64
 *       latency (ns). Prints "requests=N errors=E" at the end; exits 1 on
 *       any wrong reply.
 * Which keys are kept and every value are functions of the index
 * (splitmix64), so the three commands agree without sharing state. */
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PIPELINE 1000

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static uint64_t splitmix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Value bytes of item id (keys: id < 2^40; fields: 2^40 + h * FIELDS + f). */
static size_t value_of(uint64_t id, size_t len, char *buf)
{
    uint64_t h = splitmix(id);
    for (size_t i = 0; i < len; i++) {
        if (i % 8 == 0)
            h = splitmix(h);
        buf[i] = (char)('!' + (h >> (8 * (i % 8))) % 90);
    }
    return len;
}

static size_t key_len(uint64_t i)
{
    return 100 + splitmix(i ^ 0x5151) % 301;
}

static uint64_t field_id(uint64_t h, uint64_t f, uint64_t nfields)
{
    return ((uint64_t)1 << 40) + h * nfields + f;
}

static size_t field_len(uint64_t id)
{
    return 16 + splitmix(id ^ 0x7373) % 185;
}

static int kept(uint64_t id, int keep_pct)
{
    return (int)(splitmix(id ^ 0xabcdef) % 100) < keep_pct;
}

static void drain(redisContext *c, int n)
{
    for (int i = 0; i < n; i++) {
        redisReply *r;
        if (redisGetReply(c, (void **)&r) != REDIS_OK) {
            fprintf(stderr, "defrag_probe: connection error: %s\n", c->errstr);
            exit(2);
        }
        if (r->type == REDIS_REPLY_ERROR) {
            fprintf(stderr, "defrag_probe: %s\n", r->str);
            exit(2);
        }
        freeReplyObject(r);
    }
}

static void load(redisContext *c, uint64_t nkeys, uint64_t nhashes, uint64_t nfields)
{
    char buf[512];
    int pending = 0;
    for (uint64_t i = 0; i < nkeys; i++) {
        redisAppendCommand(c, "SET key:%llu %b", (unsigned long long)i, buf,
                           value_of(i, key_len(i), buf));
        if (++pending == PIPELINE) {
            drain(c, pending);
            pending = 0;
        }
    }
    for (uint64_t h = 0; h < nhashes; h++)
        for (uint64_t f = 0; f < nfields; f++) {
            uint64_t id = field_id(h, f, nfields);
            redisAppendCommand(c, "HSET hash:%llu field:%llu %b", (unsigned long long)h,
                               (unsigned long long)f, buf, value_of(id, field_len(id), buf));
            if (++pending == PIPELINE) {
                drain(c, pending);
                pending = 0;
            }
        }
    drain(c, pending);
}

static void delete_most(redisContext *c, uint64_t nkeys, uint64_t nhashes, uint64_t nfields,
                        int keep_pct)
{
    int pending = 0;
    for (uint64_t i = 0; i < nkeys; i++) {
        if (kept(i, keep_pct))
            continue;
        redisAppendCommand(c, "DEL key:%llu", (unsigned long long)i);
        if (++pending == PIPELINE) {
            drain(c, pending);
            pending = 0;
        }
    }
    for (uint64_t h = 0; h < nhashes; h++)
        for (uint64_t f = 0; f < nfields; f++) {
            if (kept(field_id(h, f, nfields), keep_pct))
                continue;
            redisAppendCommand(c, "HDEL hash:%llu field:%llu", (unsigned long long)h,
                               (unsigned long long)f);
            if (++pending == PIPELINE) {
                drain(c, pending);
                pending = 0;
            }
        }
    drain(c, pending);
}

static int probe(redisContext *c, uint64_t nkeys, uint64_t nhashes, uint64_t nfields, int keep_pct,
                 const char *path)
{
    uint64_t *keys = malloc(nkeys * sizeof(*keys));
    uint64_t *fields = malloc(nhashes * nfields * sizeof(*fields));
    size_t nk = 0, nf = 0;
    for (uint64_t i = 0; i < nkeys; i++)
        if (kept(i, keep_pct))
            keys[nk++] = i;
    for (uint64_t h = 0; h < nhashes; h++)
        for (uint64_t f = 0; f < nfields; f++)
            if (kept(field_id(h, f, nfields), keep_pct))
                fields[nf++] = h * nfields + f;
    FILE *out = fopen(path, "wb");
    if (!out || !nk) {
        fprintf(stderr, "defrag_probe: cannot write %s, or no key kept\n", path);
        return 2;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    uint64_t rng = 0x1234567, requests = 0, errors = 0;
    char want[512];
    while (!stop) {
        rng = splitmix(rng);
        int hget = nf && (requests & 1);
        redisReply *r;
        size_t len;
        int64_t t0 = now_ns();
        if (hget) {
            uint64_t hf = fields[rng % nf];
            uint64_t h = hf / nfields, f = hf % nfields, id = field_id(h, f, nfields);
            r = redisCommand(c, "HGET hash:%llu field:%llu", (unsigned long long)h,
                             (unsigned long long)f);
            len = value_of(id, field_len(id), want);
        } else {
            uint64_t i = keys[rng % nk];
            r = redisCommand(c, "GET key:%llu", (unsigned long long)i);
            len = value_of(i, key_len(i), want);
        }
        int64_t t1 = now_ns();
        if (!r) {
            fprintf(stderr, "defrag_probe: connection error: %s\n", c->errstr);
            return 2;
        }
        if (r->type != REDIS_REPLY_STRING || r->len != len || memcmp(r->str, want, len) != 0)
            errors++;
        freeReplyObject(r);
        int64_t rec[2] = {t0, t1 - t0};
        fwrite(rec, sizeof(rec), 1, out);
        requests++;
    }
    fclose(out);
    printf("requests=%llu errors=%llu\n", (unsigned long long)requests, (unsigned long long)errors);
    free(keys);
    free(fields);
    return errors ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: %s load|delete|probe PORT KEYS HASHES FIELDS [KEEP_PCT [OUT]]\n",
                argv[0]);
        return 2;
    }
    int port = atoi(argv[2]);
    uint64_t nkeys = strtoull(argv[3], NULL, 10);
    uint64_t nhashes = strtoull(argv[4], NULL, 10);
    uint64_t nfields = strtoull(argv[5], NULL, 10);
    int keep_pct = argc > 6 ? atoi(argv[6]) : 100;
    redisContext *c = redisConnect("127.0.0.1", port);
    if (!c || c->err) {
        fprintf(stderr, "defrag_probe: cannot connect to port %d\n", port);
        return 2;
    }
    int rc = 0;
    if (!strcmp(argv[1], "load"))
        load(c, nkeys, nhashes, nfields);
    else if (!strcmp(argv[1], "delete"))
        delete_most(c, nkeys, nhashes, nfields, keep_pct);
    else if (!strcmp(argv[1], "probe") && argc > 7)
        rc = probe(c, nkeys, nhashes, nfields, keep_pct, argv[7]);
    else {
        fprintf(stderr, "defrag_probe: unknown command %s\n", argv[1]);
        rc = 2;
    }
    redisFree(c);
    return rc;
}
