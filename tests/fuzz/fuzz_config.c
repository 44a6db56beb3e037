/* fuzz_config: libFuzzer target for server/config.c (and the option
 * parsers it calls, server/obuf_limit.c).
 *
 * The input is split at the first two 0xff bytes into:
 *  1. a configuration file (redis.conf syntax), loaded from a memfd through
 *     shale_config_load_file;
 *  2. command-line words (split at NUL bytes) for shale_config_load_args;
 *  3. CONFIG SET arguments (split at NUL bytes) for shale_config_set_live.
 * Whatever each step answers, the configuration must stay consistent:
 * every option's CONFIG GET text must be accepted back by CONFIG SET (live
 * options) or the file loader (fixed ones) and print the same again, and a
 * failed CONFIG SET must leave every value as it was (all or nothing).
 * (Error texts may quote the input, CR and LF included: start-up errors go
 * to stderr, and shale_resp_add_error makes any CR or LF in a CONFIG SET
 * error a space before it reaches a client.)
 * Nothing is written to disk. Single-threaded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "server/config.h"
#include "server/mem.h"
#include "tests/fuzz/harness.h"

#define MAX_WORDS   64
#define MAX_OPTIONS 128

struct snapshot {
    int n;
    char name[MAX_OPTIONS][64];
    char value[MAX_OPTIONS][512];
};

static void collect(void *ctx, const char *name, const char *value)
{
    struct snapshot *s = ctx;
    FUZZ_CHECK(s->n < MAX_OPTIONS, "more than %d options", MAX_OPTIONS);
    snprintf(s->name[s->n], sizeof(s->name[0]), "%s", name);
    snprintf(s->value[s->n], sizeof(s->value[0]), "%s", value);
    s->n++;
}

static void snapshot(const struct config *cfg, struct snapshot *s)
{
    s->n = 0;
    shale_config_get(cfg, "*", 1, collect, s);
}

static void check_error(const char *err)
{
    FUZZ_CHECK(err[0] != '\0', "an error without a message");
}

/* Splits p[0..n) at NUL bytes into at most MAX_WORDS NUL-terminated words,
 * copied into buf (n + 1 bytes). */
static int split_words(const uint8_t *p, size_t n, char *buf, char **words)
{
    memcpy(buf, p, n);
    buf[n] = '\0';
    int count = 0;
    for (size_t i = 0; i <= n && count < MAX_WORDS;) {
        words[count++] = buf + i;
        i += strlen(buf + i) + 1;
    }
    if (n == 0)
        count = 0;
    return count;
}

/* Every option's printed value reads back as the same value. */
static void check_round_trip(struct config *cfg)
{
    static struct snapshot before, after;
    snapshot(cfg, &before);
    for (int i = 0; i < before.n; i++) {
        const char *args[2] = {before.name[i], before.value[i]};
        size_t lens[2] = {strlen(args[0]), strlen(args[1])};
        char err[512];
        if (shale_config_set_live(cfg, args, lens, 2, err, sizeof(err)) < 0) {
            check_error(err);
            /* Fixed options are refused by CONFIG SET: the loader must take them. */
            FUZZ_CHECK(strstr(err, "can't set immutable config"), "CONFIG SET %s '%s' refused: %s",
                       args[0], args[1], err);
            const char *value = before.value[i];
            FUZZ_CHECK(shale_config_set(cfg, args[0], &value, 1, err, sizeof(err)) == 0 ||
                           !strcmp(before.value[i], ""),
                       "option %s does not read back its own value '%s': %s", args[0], value, err);
        }
    }
    snapshot(cfg, &after);
    FUZZ_CHECK(after.n == before.n, "option count changed");
    for (int i = 0; i < before.n; i++)
        FUZZ_CHECK(!strcmp(before.value[i], after.value[i]),
                   "option %s printed '%s', read back as '%s'", before.name[i], before.value[i],
                   after.value[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *end = data + size;
    const uint8_t *cut1 = memchr(data, 0xff, size);
    const uint8_t *file = data;
    size_t file_len = cut1 ? (size_t)(cut1 - data) : size;
    const uint8_t *rest = cut1 ? cut1 + 1 : end;
    const uint8_t *cut2 = memchr(rest, 0xff, (size_t)(end - rest));
    const uint8_t *args = rest;
    size_t args_len = cut2 ? (size_t)(cut2 - rest) : (size_t)(end - rest);
    const uint8_t *sets = cut2 ? cut2 + 1 : end;
    size_t sets_len = (size_t)(end - sets);

    struct config cfg;
    shale_config_init(&cfg);
    char err[1024];

    /* 1. The file, from memory: a memfd has a path, nothing touches disk. */
    int fd = memfd_create("fuzz.conf", 0);
    FUZZ_CHECK(fd >= 0, "memfd_create");
    FUZZ_CHECK(write(fd, file, file_len) == (ssize_t)file_len, "memfd write");
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    if (shale_config_load_file(&cfg, path, err, sizeof(err)) < 0)
        check_error(err);
    close(fd);

    /* 2. Command-line words. */
    char *abuf = shale_malloc(args_len + 1);
    char *words[MAX_WORDS];
    int nwords = split_words(args, args_len, abuf, words);
    if (shale_config_load_args(&cfg, nwords, words, err, sizeof(err)) < 0)
        check_error(err);
    shale_free(abuf);

    /* 3. CONFIG SET: all or nothing. */
    char *sbuf = shale_malloc(sets_len + 1);
    char *sargs[MAX_WORDS];
    int nsets = split_words(sets, sets_len, sbuf, sargs);
    size_t lens[MAX_WORDS];
    for (int i = 0; i < nsets; i++)
        lens[i] = strlen(sargs[i]);
    static struct snapshot before, after;
    snapshot(&cfg, &before);
    if (shale_config_set_live(&cfg, (const char *const *)sargs, lens, nsets, err, sizeof(err)) <
        0) {
        check_error(err);
        FUZZ_CHECK(!strncmp(err, "ERR ", 4), "CONFIG SET error without ERR: %s", err);
        snapshot(&cfg, &after);
        for (int i = 0; i < before.n; i++)
            FUZZ_CHECK(!strcmp(before.value[i], after.value[i]),
                       "failed CONFIG SET changed %s from '%s' to '%s'", before.name[i],
                       before.value[i], after.value[i]);
    }
    shale_free(sbuf);

    check_round_trip(&cfg);
    shale_config_deinit(&cfg);
    return 0;
}
