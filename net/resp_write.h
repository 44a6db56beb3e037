/* resp_write: reply encoder for RESP2 and RESP3 into a growable buffer, with
 * the byte-exact output of Redis 7.0's addReply* family.
 *
 * A resp_buf belongs to one thread at a time (a shard thread fills it, the
 * I/O thread sends it after the hand-off); nothing here locks. Small replies
 * stay in the inline array, so most commands never allocate. The struct
 * points into itself: never copy or move an initialised resp_buf by value. */
#ifndef SHALE_RESP_WRITE_H
#define SHALE_RESP_WRITE_H

#include <stddef.h>

#define RESP_BUF_INLINE 128

struct resp_buf {
    char *data; /* == inline_data until it outgrows it, then heap */
    size_t len, cap;
    int proto; /* 2 or 3 */
    char inline_data[RESP_BUF_INLINE];
};

void shale_resp_buf_init(struct resp_buf *b, int proto);
void shale_resp_buf_reset(struct resp_buf *b);   /* len = 0, keeps heap */
void shale_resp_buf_release(struct resp_buf *b); /* frees heap, back to inline */
/* Makes room for n more bytes; returns where they go (b->data + b->len).
 * The caller writes them and then adds n to b->len. */
char *shale_resp_buf_reserve(struct resp_buf *b, size_t n);

void shale_resp_add_raw(struct resp_buf *b, const void *p, size_t n);
void shale_resp_add_status(struct resp_buf *b, const char *s); /* +s */
/* -msg. msg carries its own prefix ("ERR syntax error", "WRONGTYPE ..."); a
 * leading '-' in msg is not doubled. Any \r or \n in msg becomes a space, so a
 * message can never break the protocol. */
void shale_resp_add_error(struct resp_buf *b, const char *msg);
/* printf-like add_error. Like Redis's addReplyErrorFormat, CR/LF at either
 * end of the formatted text are trimmed before the inner ones become spaces. */
void shale_resp_add_errorf(struct resp_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends printf-formatted text as is, no RESP framing (the lines of an
 * INFO payload, up to 511 bytes each). */
void shale_resp_add_textf(struct resp_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void shale_resp_add_integer(struct resp_buf *b, long long v);          /* :v */
void shale_resp_add_bulk(struct resp_buf *b, const void *p, size_t n); /* $n.. */
void shale_resp_add_bulk_cstr(struct resp_buf *b, const char *s);
void shale_resp_add_bulk_ll(struct resp_buf *b, long long v);   /* integer as bulk string */
void shale_resp_add_null(struct resp_buf *b);                   /* RESP2 $-1 ; RESP3 _ */
void shale_resp_add_null_array(struct resp_buf *b);             /* RESP2 *-1 ; RESP3 _ */
void shale_resp_add_array_len(struct resp_buf *b, long long n); /* *n */
void shale_resp_add_map_len(struct resp_buf *b, long long n);   /* RESP2 *2n ; RESP3 %n */
void shale_resp_add_set_len(struct resp_buf *b, long long n);   /* RESP2 *n ; RESP3 ~n */
/* RESP2 bulk ; RESP3 ,d. "%.17g" as Redis 7.0; inf and -inf spelled out;
 * every NaN is written "nan" (glibc would print "-nan" for a negative one). */
void shale_resp_add_double(struct resp_buf *b, double d);
void shale_resp_add_bool(struct resp_buf *b, int v); /* RESP2 :1/:0 ; RESP3 #t/#f */
/* RESP2 bulk ; RESP3 =len\r\nfmt:... where fmt3 is cut or space-padded to
 * exactly 3 bytes ("txt", "mkd"). */
void shale_resp_add_verbatim(struct resp_buf *b, const char *fmt3, const void *p, size_t n);

/* Total length in bytes of the one RESP2/RESP3 value starting at p (nested
 * aggregates and attributes included), 0 if p[0..n) does not hold a complete,
 * well-formed value. Used to split multi-part replies. */
size_t shale_resp_value_len(const char *p, size_t n);

#endif
