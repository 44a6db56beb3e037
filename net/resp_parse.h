/* resp_parse: incremental, zero-copy parser for client requests (RESP
 * multibulk and inline commands), with Redis 7.0's exact behaviour and error
 * texts (networking.c processMultibulkBuffer / processInlineBuffer).
 *
 * Runs on an I/O thread; one parser per connection, never shared. The parser
 * keeps only offsets between calls, so the caller may move or copy its read
 * buffer while a command is incomplete. It never reads past buf[len) and
 * never allocates for a count the client merely declares. */
#ifndef SHALE_RESP_PARSE_H
#define SHALE_RESP_PARSE_H

#include <stddef.h>

#include "server/slice.h"

#define RESP_DEFAULT_MAX_BULK_LEN      (512LL * 1024 * 1024) /* proto-max-bulk-len */
#define RESP_DEFAULT_MAX_MULTIBULK_LEN (1024LL * 1024)
#define RESP_DEFAULT_MAX_INLINE_LEN    ((size_t)64 * 1024) /* PROTO_INLINE_MAX_SIZE */

/* Before AUTH, Redis allows only small requests: a client that does not
 * know the password cannot make the server buffer much for it. */
#define RESP_UNAUTH_MAX_MULTIBULK_LEN 10
#define RESP_UNAUTH_MAX_BULK_LEN      16384

struct resp_limits {
    long long max_bulk_len;      /* proto-max-bulk-len, Redis default 512MB */
    long long max_multibulk_len; /* cap on *N, default 1048576 */
    size_t max_inline_len;       /* Redis: 64KB (PROTO_INLINE_MAX_SIZE); also bounds
                                    the *N and $N header lines, as in Redis */
};

/* State for one connection. Fields are private to resp_parse.c (tests may
 * read them); a command in progress is remembered as offsets from its first
 * byte. */
struct resp_parser {
    struct resp_limits limits; /* copied at init */
    int started;               /* a command is in progress */
    size_t scan;               /* where the search for the next CR / LF resumes */
    size_t pos;                /* multibulk: first byte not yet consumed */
    long long expected;        /* multibulk: declared count; 0 until *N is read */
    long long bulk_len;        /* multibulk: payload length of the current arg, -1 = header
                                  not read yet */
    int argc;
    size_t arg_cap;      /* entries allocated in argv and arg_off */
    struct slice *argv;  /* returned to the caller on SHALE_OK */
    size_t *arg_off;     /* multibulk: offset of each arg's payload until complete */
    int unauthenticated; /* apply the RESP_UNAUTH_* limits */
    char error[64];      /* last SHALE_PROTO message */
};

/* limits == NULL means the Redis defaults above. */
void shale_resp_parser_init(struct resp_parser *p, const struct resp_limits *limits);
void shale_resp_parser_deinit(struct resp_parser *p); /* frees its arg array */

/* Parses one command from buf[0..len), where buf starts at the first byte of
 * the command. The buffer is mutable (inline commands are unescaped in place).
 * Returns:
 *  SHALE_OK    : *consumed = bytes of this command; *argc and *argv set; argv is
 *                owned by the parser (valid until the next call) and its slices
 *                point INTO buf. The parser is ready for the next command, which
 *                starts at buf + *consumed. A command with zero arguments (empty
 *                inline line, "*0\r\n", "*-1\r\n") is OK with argc == 0.
 *  SHALE_AGAIN : incomplete; call again with the same command start and more
 *                bytes (the bytes already given must be unchanged, but they may
 *                live at another address). Work already done is not repeated.
 *  SHALE_PROTO : protocol error; shale_resp_parser_error() says why. The
 *                connection should get the error reply and be closed. */
int shale_resp_parse(struct resp_parser *p, char *buf, size_t len, size_t *consumed, int *argc,
                     struct slice **argv);

/* Message of the last SHALE_PROTO, without the "-ERR " prefix, e.g.
 * "Protocol error: invalid bulk length": the text Redis sends, never holding
 * CR or LF. "" when the command in progress has not failed. */
/* Whether the connection has yet to authenticate (see RESP_UNAUTH_*). */
void shale_resp_parser_set_unauthenticated(struct resp_parser *p, int unauthenticated);
const char *shale_resp_parser_error(const struct resp_parser *p);

/* Total bytes (from the command start) the buffer must hold for the parser to
 * make progress, so the caller can size its buffer for a large bulk argument
 * ("$100000\r\n" -> header + 100000 + 2). 0 when unknown. */
size_t shale_resp_parser_needed(const struct resp_parser *p);

#endif
