/* fuzz_resp_parse: libFuzzer target for net/resp_parse.c.
 *
 * Input: 4 header bytes (limits, unauthenticated flag, chunking seed), then
 * the byte stream a client sends. The stream is parsed twice:
 *  - whole, from one buffer, command after command, as far as it goes;
 *  - incrementally, in chunk sizes drawn from the seed, each call on a fresh
 *    copy of the command's bytes at a new address (the parser keeps offsets
 *    only, so this must not matter), the way conn.c moves its read buffer.
 * Both runs must produce the same commands, argument for argument, and the
 * same error, unless the stream holds a line longer than the inline limit
 * (Redis, too, judges those by how the bytes arrived). Every result is
 * checked against the limits: no more arguments than allowed, no bulk longer
 * than allowed, arguments inside the buffer, consumed within the input,
 * error texts without CR/LF. Single-threaded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/resp_parse.h"
#include "server/mem.h"
#include "server/status.h"
#include "tests/fuzz/harness.h"

#define MAX_COMMANDS 256

struct outcome {
    int rc;         /* SHALE_OK, SHALE_AGAIN (stream ended) or SHALE_PROTO */
    size_t at;      /* stream offset of the command */
    size_t len;     /* bytes consumed */
    int argc;       /* SHALE_OK */
    uint64_t hash;  /* of the arguments, lengths included */
    char error[64]; /* SHALE_PROTO */
};

static uint64_t hash_args(int argc, const struct slice *argv)
{
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < argc; i++) {
        h = (h ^ argv[i].len) * 1099511628211ULL;
        for (size_t k = 0; k < argv[i].len; k++)
            h = (h ^ (uint8_t)argv[i].ptr[k]) * 1099511628211ULL;
    }
    return h;
}

/* first: the command's first byte before parsing (inline unescaping moves
 * bytes in place, so buf[0] may have changed since). */
static void check_result(const struct resp_parser *p, int rc, char first, const char *buf,
                         size_t len, size_t consumed, int argc, const struct slice *argv)
{
    if (rc == SHALE_PROTO) {
        const char *e = shale_resp_parser_error(p);
        FUZZ_CHECK(e[0] != '\0', "a protocol error without a message");
        FUZZ_CHECK(!strpbrk(e, "\r\n"), "error message holds CR or LF: %s", e);
        FUZZ_CHECK(!strncmp(e, "Protocol error: ", 16), "unexpected error text: %s", e);
        return;
    }
    if (rc != SHALE_OK)
        return;
    FUZZ_CHECK(consumed > 0 && consumed <= len, "consumed %zu of %zu", consumed, len);
    FUZZ_CHECK(argc >= 0, "argc %d", argc);
    if (first == '*') {
        FUZZ_CHECK(argc <= p->limits.max_multibulk_len, "argc %d over the limit %lld", argc,
                   p->limits.max_multibulk_len);
        if (p->unauthenticated)
            FUZZ_CHECK(argc <= RESP_UNAUTH_MAX_MULTIBULK_LEN, "unauthenticated argc %d", argc);
    }
    for (int i = 0; i < argc; i++) {
        FUZZ_CHECK(argv[i].ptr >= buf && argv[i].ptr + argv[i].len <= buf + consumed,
                   "argument %d outside the command's bytes", i);
        if (first == '*') {
            FUZZ_CHECK((long long)argv[i].len <= p->limits.max_bulk_len,
                       "bulk of %zu over the limit %lld", argv[i].len, p->limits.max_bulk_len);
            if (p->unauthenticated)
                FUZZ_CHECK(argv[i].len <= RESP_UNAUTH_MAX_BULK_LEN, "unauthenticated bulk %zu",
                           argv[i].len);
        }
    }
}

static void record(struct outcome *o, const struct resp_parser *p, int rc, size_t at,
                   size_t consumed, int argc, const struct slice *argv)
{
    memset(o, 0, sizeof(*o));
    o->rc = rc;
    o->at = at;
    if (rc == SHALE_OK) {
        o->len = consumed;
        o->argc = argc;
        o->hash = hash_args(argc, argv);
    } else if (rc == SHALE_PROTO) {
        snprintf(o->error, sizeof(o->error), "%s", shale_resp_parser_error(p));
    }
}

/* The whole stream in one buffer. Returns the number of outcomes. */
static int parse_whole(const struct resp_limits *lim, int unauth, const uint8_t *data, size_t len,
                       struct outcome *out)
{
    char *buf = shale_malloc(len + 1);
    memcpy(buf, data, len);
    struct resp_parser p;
    shale_resp_parser_init(&p, lim);
    shale_resp_parser_set_unauthenticated(&p, unauth);
    size_t at = 0;
    int n = 0;
    while (n < MAX_COMMANDS) {
        size_t consumed = 0;
        int argc = 0;
        struct slice *argv = NULL;
        char first = at < len ? buf[at] : 0;
        int rc = shale_resp_parse(&p, buf + at, len - at, &consumed, &argc, &argv);
        check_result(&p, rc, first, buf + at, len - at, consumed, argc, argv);
        record(&out[n++], &p, rc, at, consumed, argc, argv);
        if (rc != SHALE_OK)
            break;
        at += consumed;
    }
    shale_resp_parser_deinit(&p);
    shale_free(buf);
    return n;
}

/* The same stream arriving in chunks; each call sees the command's bytes
 * so far in a new buffer, as after conn.c moved them. */
static int parse_chunked(const struct resp_limits *lim, int unauth, const uint8_t *data, size_t len,
                         uint32_t seed, struct outcome *out)
{
    struct resp_parser p;
    shale_resp_parser_init(&p, lim);
    shale_resp_parser_set_unauthenticated(&p, unauth);
    size_t start = 0, have = 0;
    int n = 0;
    uint32_t x = seed | 1;
    while (n < MAX_COMMANDS) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        size_t chunk = (x & 3) == 0 ? (x >> 8) % 4096 + 1 : (x >> 8) % 17 + 1;
        have += chunk;
        if (start + have > len)
            have = len - start;
        char *buf = shale_malloc(have + 1);
        memcpy(buf, data + start, have);
        size_t consumed = 0;
        int argc = 0;
        struct slice *argv = NULL;
        char first = have ? buf[0] : 0;
        int rc = shale_resp_parse(&p, buf, have, &consumed, &argc, &argv);
        check_result(&p, rc, first, buf, have, consumed, argc, argv);
        if (rc == SHALE_AGAIN && start + have < len) {
            size_t need = shale_resp_parser_needed(&p);
            FUZZ_CHECK(need == 0 || need > have, "parser needs %zu bytes but has %zu", need, have);
            shale_free(buf);
            continue;
        }
        record(&out[n++], &p, rc, start, consumed, argc, argv);
        shale_free(buf);
        if (rc != SHALE_OK)
            break;
        start += consumed;
        have = 0;
    }
    shale_resp_parser_deinit(&p);
    return n;
}

/* A run of more than max bytes without a LF (which ends an inline command)
 * or without a CR (which ends a header line): then how the bytes were cut
 * decides between "too big" and another outcome, in Redis as here. */
static int has_long_line(const uint8_t *data, size_t len, size_t max)
{
    size_t run_lf = 0, run_cr = 0;
    for (size_t i = 0; i < len; i++) {
        run_lf = data[i] == '\n' ? 0 : run_lf + 1;
        run_cr = data[i] == '\r' ? 0 : run_cr + 1;
        if (run_lf > max || run_cr > max)
            return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input in = {data, size, 0};
    uint8_t mode = shale_fuzz_u8(&in);
    struct resp_limits lim;
    /* Small limits half of the time, so inputs reach them. */
    if (mode & 1) {
        lim.max_bulk_len = 1 + shale_fuzz_u8(&in) % 64;
        lim.max_multibulk_len = 1 + shale_fuzz_u8(&in) % 16;
        lim.max_inline_len = 8 + (size_t)(mode >> 4) * 16;
    } else {
        lim.max_bulk_len = RESP_DEFAULT_MAX_BULK_LEN;
        lim.max_multibulk_len = RESP_DEFAULT_MAX_MULTIBULK_LEN;
        lim.max_inline_len = RESP_DEFAULT_MAX_INLINE_LEN;
        shale_fuzz_u8(&in);
        shale_fuzz_u8(&in);
    }
    int unauth = (mode >> 1) & 1;
    uint32_t seed = shale_fuzz_u8(&in) * 2654435761u + 1;
    size_t len;
    const uint8_t *stream = shale_fuzz_bytes(&in, size, &len);

    static struct outcome whole[MAX_COMMANDS], chunked[MAX_COMMANDS];
    int nw = parse_whole(&lim, unauth, stream, len, whole);
    int nc = parse_chunked(&lim, unauth, stream, len, seed, chunked);
    if (has_long_line(stream, len, lim.max_inline_len))
        return 0;
    FUZZ_CHECK(nw == nc, "whole parse gave %d outcomes, chunked %d", nw, nc);
    for (int i = 0; i < nw; i++) {
        const struct outcome *a = &whole[i], *b = &chunked[i];
        FUZZ_CHECK(a->rc == b->rc && a->at == b->at,
                   "command %d: whole rc %d at %zu, chunked rc %d at %zu", i, a->rc, a->at, b->rc,
                   b->at);
        FUZZ_CHECK(a->len == b->len && a->argc == b->argc && a->hash == b->hash,
                   "command %d: whole and chunked parses differ (len %zu/%zu argc %d/%d)", i,
                   a->len, b->len, a->argc, b->argc);
        FUZZ_CHECK(!strcmp(a->error, b->error), "command %d: errors differ: '%s' vs '%s'", i,
                   a->error, b->error);
    }
    return 0;
}
