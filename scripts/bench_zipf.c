/* bench_zipf: the client of scripts/bench_hitratio.py. Not part of the
 * server build; the script compiles it (cc -O2 ... -lhiredis).
 *
 *   bench_zipf load PORT N VALUE_SIZE
 *       SET key:00000000 .. key:<N-1> to VALUE_SIZE-byte values, pipelined.
 *   bench_zipf run PORT KEYS THETA WARMUP_OPS OPS VALUE_SIZE SEED
 *       A cache workload: GET key:R with R drawn from Zipf(THETA) over KEYS
 *       ranks, and SET key:R on a miss (cache-aside), pipelined 64 GETs per
 *       round trip. Prints "hits H gets G sets S oom E seconds T" counted
 *       over the OPS gets after the first WARMUP_OPS.
 *
 * Zipf sampling is Gray et al.'s method as YCSB uses it (ZipfianGenerator):
 * zeta(n) computed once, then O(1) per draw. Rank r is key:r, zero-padded
 * to 8 digits so every key costs the same and the calibration load (ranks
 * 0..N-1) weighs what the workload's keys weigh; the server hashes key
 * names, so rank and table position are unrelated. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#define PIPELINE 64

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double uniform(void)
{
    return (double)(rng_next() >> 11) * (1.0 / 9007199254740992.0);
}

struct zipf {
    long long n;
    double theta, alpha, zetan, eta;
};

static void zipf_init(struct zipf *z, long long n, double theta)
{
    double zeta2 = 1.0 + pow(0.5, theta);
    z->n = n;
    z->theta = theta;
    z->zetan = 0;
    for (long long i = 1; i <= n; i++)
        z->zetan += 1.0 / pow((double)i, theta);
    z->alpha = 1.0 / (1.0 - theta);
    z->eta = (1.0 - pow(2.0 / (double)n, 1.0 - theta)) / (1.0 - zeta2 / z->zetan);
}

static long long zipf_next(const struct zipf *z)
{
    double u = uniform(), uz = u * z->zetan;
    if (uz < 1.0)
        return 0;
    if (uz < 1.0 + pow(0.5, z->theta))
        return 1;
    long long r = (long long)((double)z->n * pow(z->eta * u - z->eta + 1.0, z->alpha));
    return r < z->n ? r : z->n - 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static redisContext *connect_to(int port)
{
    struct timeval tv = {60, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (!c || c->err) {
        fprintf(stderr, "bench_zipf: cannot connect to port %d\n", port);
        exit(2);
    }
    redisSetTimeout(c, tv);
    return c;
}

static redisReply *next_reply(redisContext *c)
{
    redisReply *r = NULL;
    if (redisGetReply(c, (void **)&r) != REDIS_OK || !r) {
        fprintf(stderr, "bench_zipf: connection error: %s\n", c->errstr);
        exit(2);
    }
    return r;
}

static int load(int port, long long n, size_t vsize)
{
    redisContext *c = connect_to(port);
    char *value = malloc(vsize);
    memset(value, 'v', vsize);
    for (long long base = 0; base < n; base += PIPELINE) {
        long long end = base + PIPELINE < n ? base + PIPELINE : n;
        for (long long i = base; i < end; i++)
            redisAppendCommand(c, "SET key:%08lld %b", i, value, vsize);
        for (long long i = base; i < end; i++) {
            redisReply *r = next_reply(c);
            if (r->type == REDIS_REPLY_ERROR) {
                fprintf(stderr, "bench_zipf: SET: %s\n", r->str);
                exit(2);
            }
            freeReplyObject(r);
        }
    }
    free(value);
    redisFree(c);
    return 0;
}

static int run(int port, long long keys, double theta, long long warmup, long long ops,
               size_t vsize, uint64_t seed)
{
    redisContext *c = connect_to(port);
    struct zipf z;
    zipf_init(&z, keys, theta);
    rng_state = seed;
    char *value = malloc(vsize);
    memset(value, 'v', vsize);
    long long done = 0, hits = 0, gets = 0, sets = 0, oom = 0;
    double start = 0;
    long long ranks[PIPELINE], missed[PIPELINE];
    while (done < warmup + ops) {
        int measured = done >= warmup;
        if (measured && start == 0)
            start = now_s();
        int n = PIPELINE, nmiss = 0;
        for (int i = 0; i < n; i++) {
            ranks[i] = zipf_next(&z);
            redisAppendCommand(c, "GET key:%08lld", ranks[i]);
        }
        for (int i = 0; i < n; i++) {
            redisReply *r = next_reply(c);
            int hit = r->type == REDIS_REPLY_STRING;
            if (!hit)
                missed[nmiss++] = ranks[i];
            if (measured) {
                gets++;
                hits += hit;
            }
            freeReplyObject(r);
        }
        for (int i = 0; i < nmiss; i++)
            redisAppendCommand(c, "SET key:%08lld %b", missed[i], value, vsize);
        for (int i = 0; i < nmiss; i++) {
            redisReply *r = next_reply(c);
            if (r->type == REDIS_REPLY_ERROR)
                oom++;
            freeReplyObject(r);
        }
        if (measured)
            sets += nmiss;
        done += n;
    }
    printf("hits %lld gets %lld sets %lld oom %lld seconds %.3f\n", hits, gets, sets, oom,
           now_s() - start);
    free(value);
    redisFree(c);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && !strcmp(argv[1], "load"))
        return load(atoi(argv[2]), atoll(argv[3]), (size_t)atoll(argv[4]));
    if (argc == 9 && !strcmp(argv[1], "run"))
        return run(atoi(argv[2]), atoll(argv[3]), atof(argv[4]), atoll(argv[5]), atoll(argv[6]),
                   (size_t)atoll(argv[7]), (uint64_t)strtoull(argv[8], NULL, 10));
    fprintf(stderr, "usage: bench_zipf load PORT N VALUE_SIZE\n"
                    "       bench_zipf run PORT KEYS THETA WARMUP_OPS OPS VALUE_SIZE SEED\n");
    return 2;
}
