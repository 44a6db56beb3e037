/* resp_parse: incremental request parser (see resp_parse.h).
 *
 * Runs on the I/O thread that owns the connection. Mirrors Redis 7.0
 * networking.c (processMultibulkBuffer, processInlineBuffer, sdssplitargs,
 * string2ll) closely enough that clients see the same replies and the same
 * protocol errors; where this file departs from Redis a comment says so.
 * It must never read outside buf[0..len), keep a pointer into buf across
 * calls, or allocate for more arguments than have actually arrived. */
#include "net/resp_parse.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "server/mem.h"
#include "server/status.h"
#include "server/strconv.h"

/* First size of the argument arrays; they double as arguments arrive. */
#define ARGS_INITIAL 16
/* A connection keeps arrays up to this many entries between commands; a
 * bigger one (left by a huge MSET) is freed when the next command starts. */
#define ARGS_KEEP 1024
/* Redis string2ll refuses strings of LONG_STR_SIZE (21) bytes or more. */

void shale_resp_parser_init(struct resp_parser *p, const struct resp_limits *limits)
{
    memset(p, 0, sizeof(*p));
    if (limits) {
        p->limits = *limits;
    } else {
        p->limits.max_bulk_len = RESP_DEFAULT_MAX_BULK_LEN;
        p->limits.max_multibulk_len = RESP_DEFAULT_MAX_MULTIBULK_LEN;
        p->limits.max_inline_len = RESP_DEFAULT_MAX_INLINE_LEN;
    }
    p->bulk_len = -1;
}

static void free_args(struct resp_parser *p)
{
    shale_free(p->argv);
    shale_free(p->arg_off);
    p->argv = NULL;
    p->arg_off = NULL;
    p->arg_cap = 0;
    p->argc = 0;
}

void shale_resp_parser_deinit(struct resp_parser *p)
{
    free_args(p);
}

void shale_resp_parser_set_unauthenticated(struct resp_parser *p, int unauthenticated)
{
    p->unauthenticated = unauthenticated;
}

const char *shale_resp_parser_error(const struct resp_parser *p)
{
    return p->error;
}

size_t shale_resp_parser_needed(const struct resp_parser *p)
{
    if (p->started && p->expected > 0 && p->bulk_len >= 0)
        return p->pos + (size_t)p->bulk_len + 2;
    return 0;
}

/* Forget the command in progress; argv stays valid for the caller. */
static void reset(struct resp_parser *p)
{
    p->started = 0;
    p->scan = 0;
    p->pos = 0;
    p->expected = 0;
    p->bulk_len = -1;
}

static int fail(struct resp_parser *p, const char *msg)
{
    snprintf(p->error, sizeof(p->error), "%s", msg);
    reset(p);
    return SHALE_PROTO;
}

/* Makes room for one more argument. The arrays double, but never beyond
 * `limit` (the declared count of a multibulk), so a client that declares a
 * million arguments and sends three costs three arguments' worth. */
static void reserve_arg(struct resp_parser *p, size_t limit)
{
    size_t cap;

    if ((size_t)p->argc < p->arg_cap)
        return;
    cap = p->arg_cap ? p->arg_cap * 2 : ARGS_INITIAL;
    if (limit && cap > limit)
        cap = limit;
    if (cap <= (size_t)p->argc)
        cap = (size_t)p->argc + 1;
    p->argv = shale_realloc(p->argv, cap * sizeof(*p->argv));
    p->arg_off = shale_realloc(p->arg_off, cap * sizeof(*p->arg_off));
    p->arg_cap = cap;
}

/* Finds the CR that ends a header line starting at `start`. Returns
 * SHALE_OK with *cr set when the CR and one byte after it are present (Redis
 * skips that byte without checking it is LF), SHALE_AGAIN when not yet,
 * SHALE_PROTO when the line is already longer than an inline request may be.
 * p->scan carries the search position across calls, so a header that
 * arrives a byte at a time is still scanned once. Unlike Redis, whose
 * strchr() stops at a NUL byte and then waits for a CR it cannot see, a NUL
 * is just another byte of a malformed header. */
static int find_header_end(struct resp_parser *p, const char *buf, size_t len, size_t start,
                           size_t *cr)
{
    const char *hit;

    if (p->scan < start)
        p->scan = start;
    hit = p->scan < len ? memchr(buf + p->scan, '\r', len - p->scan) : NULL;
    if (!hit) {
        p->scan = len;
        return len - start > p->limits.max_inline_len ? SHALE_PROTO : SHALE_AGAIN;
    }
    *cr = (size_t)(hit - buf);
    if (*cr + 2 > len) {
        p->scan = *cr;
        return SHALE_AGAIN;
    }
    return SHALE_OK;
}

static int parse_multibulk(struct resp_parser *p, char *buf, size_t len, size_t *consumed)
{
    size_t cr;
    long long ll;
    int rc;

    if (p->expected == 0) {
        rc = find_header_end(p, buf, len, 0, &cr);
        if (rc == SHALE_PROTO)
            return fail(p, "Protocol error: too big mbulk count string");
        if (rc != SHALE_OK)
            return rc;
        /* Redis 7.0 accepts counts up to INT_MAX (its argv still grows only
         * as arguments arrive); shale caps them lower, by config. */
        if (!shale_strconv_ll((struct slice){buf + 1, cr - 1}, &ll) ||
            ll > p->limits.max_multibulk_len || ll > INT_MAX)
            return fail(p, "Protocol error: invalid multibulk length");
        if (p->unauthenticated && ll > RESP_UNAUTH_MAX_MULTIBULK_LEN)
            return fail(p, "Protocol error: unauthenticated multibulk length");
        p->pos = cr + 2;
        if (ll <= 0) {
            /* Redis treats any count <= 0 as an empty command. */
            *consumed = p->pos;
            reset(p);
            return SHALE_OK;
        }
        p->expected = ll;
        p->bulk_len = -1;
    }

    while (p->argc < p->expected) {
        if (p->bulk_len < 0) {
            size_t hdr = p->pos;

            rc = find_header_end(p, buf, len, hdr, &cr);
            if (rc == SHALE_PROTO)
                return fail(p, "Protocol error: too big bulk count string");
            if (rc != SHALE_OK)
                return rc;
            if (buf[hdr] != '$') {
                char got = buf[hdr];

                /* Redis sends a CR or LF here as a space (its error replies
                 * never hold one); NUL, which would cut the message, too. */
                if (got == '\r' || got == '\n' || got == '\0')
                    got = ' ';
                snprintf(p->error, sizeof(p->error), "Protocol error: expected '$', got '%c'", got);
                reset(p);
                return SHALE_PROTO;
            }
            if (!shale_strconv_ll((struct slice){buf + hdr + 1, cr - hdr - 1}, &ll) || ll < 0 ||
                ll > p->limits.max_bulk_len)
                return fail(p, "Protocol error: invalid bulk length");
            if (p->unauthenticated && ll > RESP_UNAUTH_MAX_BULK_LEN)
                return fail(p, "Protocol error: unauthenticated bulk length");
            p->pos = cr + 2;
            p->bulk_len = ll;
        }
        /* The payload and the two bytes after it must all be here. Like
         * Redis, those two bytes are skipped without checking for CRLF. */
        if (len - p->pos < (size_t)p->bulk_len + 2)
            return SHALE_AGAIN;
        reserve_arg(p, (size_t)p->expected);
        p->arg_off[p->argc] = p->pos;
        p->argv[p->argc].len = (size_t)p->bulk_len;
        p->argc++;
        p->pos += (size_t)p->bulk_len + 2;
        p->bulk_len = -1;
    }

    /* Offsets become pointers only now that buf will not move again. */
    for (int i = 0; i < p->argc; i++)
        p->argv[i].ptr = buf + p->arg_off[i];
    *consumed = p->pos;
    reset(p);
    return SHALE_OK;
}

/* Byte i of the line, or 0 past its end: sdssplitargs works on a C string, so
 * an embedded NUL ends the line just as the end does. */
static int at(const char *s, size_t n, size_t i)
{
    return i < n ? (unsigned char)s[i] : 0;
}

/* isspace() in the C locale, without depending on the process locale. */
static int is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Redis sdssplitargs, unescaping in place: every output byte consumes at
 * least one input byte, so the write position never passes the read
 * position. Returns SHALE_PROTO on unbalanced quotes. */
static int split_inline(struct resp_parser *p, char *s, size_t n)
{
    size_t r = 0;

    for (;;) {
        size_t start, w;
        int inq = 0, insq = 0, done = 0;

        while (at(s, n, r) && is_space(at(s, n, r)))
            r++;
        if (!at(s, n, r))
            return SHALE_OK;
        start = w = r;
        while (!done) {
            int c = at(s, n, r);

            if (inq) {
                if (c == '\\' && at(s, n, r + 1) == 'x' && hex_value(at(s, n, r + 2)) >= 0 &&
                    hex_value(at(s, n, r + 3)) >= 0) {
                    s[w++] = (char)(hex_value(at(s, n, r + 2)) * 16 + hex_value(at(s, n, r + 3)));
                    r += 3;
                } else if (c == '\\' && at(s, n, r + 1)) {
                    r++;
                    switch (s[r]) {
                    case 'n':
                        s[w++] = '\n';
                        break;
                    case 'r':
                        s[w++] = '\r';
                        break;
                    case 't':
                        s[w++] = '\t';
                        break;
                    case 'b':
                        s[w++] = '\b';
                        break;
                    case 'a':
                        s[w++] = '\a';
                        break;
                    default:
                        s[w++] = s[r];
                        break;
                    }
                } else if (c == '"') {
                    /* The closing quote must be followed by a space or the end. */
                    if (at(s, n, r + 1) && !is_space(at(s, n, r + 1)))
                        return SHALE_PROTO;
                    done = 1;
                } else if (!c) {
                    return SHALE_PROTO;
                } else {
                    s[w++] = (char)c;
                }
            } else if (insq) {
                if (c == '\\' && at(s, n, r + 1) == '\'') {
                    r++;
                    s[w++] = '\'';
                } else if (c == '\'') {
                    if (at(s, n, r + 1) && !is_space(at(s, n, r + 1)))
                        return SHALE_PROTO;
                    done = 1;
                } else if (!c) {
                    return SHALE_PROTO;
                } else {
                    s[w++] = (char)c;
                }
            } else {
                /* Only these end a bare word; \v and \f are part of it,
                 * although they are skipped between words. */
                switch (c) {
                case ' ':
                case '\n':
                case '\r':
                case '\t':
                case '\0':
                    done = 1;
                    break;
                case '"':
                    inq = 1;
                    break;
                case '\'':
                    insq = 1;
                    break;
                default:
                    s[w++] = (char)c;
                    break;
                }
            }
            if (at(s, n, r))
                r++;
        }
        reserve_arg(p, 0);
        p->argv[p->argc].ptr = s + start;
        p->argv[p->argc].len = w - start;
        p->argc++;
    }
}

static int parse_inline(struct resp_parser *p, char *buf, size_t len, size_t *consumed)
{
    const char *hit = p->scan < len ? memchr(buf + p->scan, '\n', len - p->scan) : NULL;
    size_t nl, line_len;

    if (!hit) {
        p->scan = len;
        /* As in Redis, only a line still without its newline is too big; a
         * longer line that arrived whole is accepted. */
        if (len > p->limits.max_inline_len)
            return fail(p, "Protocol error: too big inline request");
        return SHALE_AGAIN;
    }
    nl = (size_t)(hit - buf);
    line_len = nl > 0 && buf[nl - 1] == '\r' ? nl - 1 : nl;
    if (split_inline(p, buf, line_len) != SHALE_OK) {
        p->argc = 0;
        return fail(p, "Protocol error: unbalanced quotes in request");
    }
    *consumed = nl + 1;
    reset(p);
    return SHALE_OK;
}

int shale_resp_parse(struct resp_parser *p, char *buf, size_t len, size_t *consumed, int *argc,
                     struct slice **argv)
{
    int rc;

    if (!p->started) {
        if (p->arg_cap > ARGS_KEEP)
            free_args(p);
        p->argc = 0;
        p->error[0] = '\0';
        p->started = 1;
    }
    if (len == 0)
        return SHALE_AGAIN;
    if (buf[0] == '*')
        rc = parse_multibulk(p, buf, len, consumed);
    else
        rc = parse_inline(p, buf, len, consumed);
    if (rc == SHALE_OK) {
        *argc = p->argc;
        *argv = p->argv;
    }
    return rc;
}
