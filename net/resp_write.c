/* resp_write: reply encoder (see resp_write.h).
 *
 * Runs on shard threads (command replies) and I/O threads (errors, replies
 * of keyless commands), always on a buffer that thread owns at the moment.
 * Integer formatting is on every hot path (lengths, counters), so it is done
 * by hand rather than with snprintf. It must never emit a CR or LF inside a
 * status or error line. */
#include "resp_write.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "server/mem.h"

/* Longest decimal long long ("-9223372036854775808"). */
#define LL_DIGITS_MAX 20
/* Type byte + number + CRLF: the longest header line. */
#define HEADER_MAX (1 + LL_DIGITS_MAX + 2)

static const char digit_pairs[201] = "0001020304050607080910111213141516171819"
                                     "2021222324252627282930313233343536373839"
                                     "4041424344454647484950515253545556575859"
                                     "6061626364656667686970717273747576777879"
                                     "8081828384858687888990919293949596979899";

static unsigned digits10(unsigned long long v)
{
    unsigned n = 1;

    for (;;) {
        if (v < 10)
            return n;
        if (v < 100)
            return n + 1;
        if (v < 1000)
            return n + 2;
        if (v < 10000)
            return n + 3;
        v /= 10000;
        n += 4;
    }
}

/* Writes v in decimal at dst (no NUL) and returns the length; dst needs
 * LL_DIGITS_MAX bytes. Two digits per division, written back to front. */
static size_t ll_to_dec(char *dst, long long v)
{
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    size_t sign = v < 0;
    size_t n = sign + digits10(u);
    char *p = dst + n;

    if (sign)
        dst[0] = '-';
    while (u >= 100) {
        unsigned i = (unsigned)(u % 100) * 2;
        u /= 100;
        *--p = digit_pairs[i + 1];
        *--p = digit_pairs[i];
    }
    if (u < 10) {
        *--p = (char)('0' + u);
    } else {
        unsigned i = (unsigned)u * 2;
        *--p = digit_pairs[i + 1];
        *--p = digit_pairs[i];
    }
    return n;
}

void shale_resp_buf_init(struct resp_buf *b, int proto)
{
    b->data = b->inline_data;
    b->len = 0;
    b->cap = RESP_BUF_INLINE;
    b->proto = proto;
}

void shale_resp_buf_reset(struct resp_buf *b)
{
    b->len = 0;
}

void shale_resp_buf_release(struct resp_buf *b)
{
    if (b->data != b->inline_data)
        shale_free(b->data);
    b->data = b->inline_data;
    b->cap = RESP_BUF_INLINE;
    b->len = 0;
}

/* Doubling keeps appends amortised O(1); the first move copies out of the
 * inline array, which realloc cannot do. */
static void grow(struct resp_buf *b, size_t need)
{
    size_t cap = b->cap * 2;

    if (cap < need)
        cap = need;
    if (b->data == b->inline_data) {
        char *heap = shale_realloc(NULL, cap);
        memcpy(heap, b->data, b->len);
        b->data = heap;
    } else {
        b->data = shale_realloc(b->data, cap);
    }
    b->cap = cap;
}

char *shale_resp_buf_reserve(struct resp_buf *b, size_t n)
{
    if (b->cap - b->len < n)
        grow(b, b->len + n);
    return b->data + b->len;
}

void shale_resp_add_raw(struct resp_buf *b, const void *p, size_t n)
{
    memcpy(shale_resp_buf_reserve(b, n), p, n);
    b->len += n;
}

/* "<type><v>\r\n" — the shape of every length header and of integers. */
static void add_header(struct resp_buf *b, char type, long long v)
{
    char *p = shale_resp_buf_reserve(b, HEADER_MAX);
    size_t n;

    p[0] = type;
    n = 1 + ll_to_dec(p + 1, v);
    p[n] = '\r';
    p[n + 1] = '\n';
    b->len += n + 2;
}

static void add_crlf(struct resp_buf *b)
{
    char *p = shale_resp_buf_reserve(b, 2);

    p[0] = '\r';
    p[1] = '\n';
    b->len += 2;
}

/* type + bytes + CRLF with every CR/LF of the bytes turned into a space. */
static void add_line(struct resp_buf *b, char type, const char *s, size_t n)
{
    char *p = shale_resp_buf_reserve(b, 1 + n + 2);

    p[0] = type;
    for (size_t i = 0; i < n; i++)
        p[1 + i] = s[i] == '\r' || s[i] == '\n' ? ' ' : s[i];
    p[1 + n] = '\r';
    p[2 + n] = '\n';
    b->len += n + 3;
}

void shale_resp_add_status(struct resp_buf *b, const char *s)
{
    add_line(b, '+', s, strlen(s));
}

void shale_resp_add_error(struct resp_buf *b, const char *msg)
{
    if (msg[0] == '-')
        msg++;
    add_line(b, '-', msg, strlen(msg));
}

/* Formats straight into the buffer behind a reserved '-' so a long message
 * costs no temporary allocation; a second pass is needed only when the
 * first guess of its length was short. */
void shale_resp_add_errorf(struct resp_buf *b, const char *fmt, ...)
{
    size_t room = 128, start, end;
    va_list ap;
    char *p;
    int n;

    for (;;) {
        p = shale_resp_buf_reserve(b, 1 + room + 2);
        va_start(ap, fmt);
        n = vsnprintf(p + 1, room + 1, fmt, ap);
        va_end(ap);
        if (n < 0)
            n = 0;
        if ((size_t)n <= room)
            break;
        room = (size_t)n;
    }
    start = 1;
    end = 1 + (size_t)n;
    while (start < end && (p[start] == '\r' || p[start] == '\n'))
        start++;
    while (end > start && (p[end - 1] == '\r' || p[end - 1] == '\n'))
        end--;
    if (start < end && p[start] == '-')
        start++;
    for (size_t i = start; i < end; i++)
        if (p[i] == '\r' || p[i] == '\n')
            p[i] = ' ';
    memmove(p + 1, p + start, end - start);
    p[0] = '-';
    end = 1 + (end - start);
    p[end] = '\r';
    p[end + 1] = '\n';
    b->len += end + 2;
}

void shale_resp_add_integer(struct resp_buf *b, long long v)
{
    add_header(b, ':', v);
}

void shale_resp_add_bulk(struct resp_buf *b, const void *p, size_t n)
{
    char *dst = shale_resp_buf_reserve(b, HEADER_MAX + n + 2);
    size_t h;

    dst[0] = '$';
    h = 1 + ll_to_dec(dst + 1, (long long)n);
    dst[h] = '\r';
    dst[h + 1] = '\n';
    memcpy(dst + h + 2, p, n);
    dst[h + 2 + n] = '\r';
    dst[h + 3 + n] = '\n';
    b->len += h + n + 4;
}

void shale_resp_add_bulk_cstr(struct resp_buf *b, const char *s)
{
    shale_resp_add_bulk(b, s, strlen(s));
}

void shale_resp_add_bulk_ll(struct resp_buf *b, long long v)
{
    char digits[LL_DIGITS_MAX];

    shale_resp_add_bulk(b, digits, ll_to_dec(digits, v));
}

void shale_resp_add_null(struct resp_buf *b)
{
    if (b->proto >= 3)
        shale_resp_add_raw(b, "_\r\n", 3);
    else
        shale_resp_add_raw(b, "$-1\r\n", 5);
}

void shale_resp_add_null_array(struct resp_buf *b)
{
    if (b->proto >= 3)
        shale_resp_add_raw(b, "_\r\n", 3);
    else
        shale_resp_add_raw(b, "*-1\r\n", 5);
}

void shale_resp_add_array_len(struct resp_buf *b, long long n)
{
    add_header(b, '*', n);
}

void shale_resp_add_map_len(struct resp_buf *b, long long n)
{
    if (b->proto >= 3)
        add_header(b, '%', n);
    else
        add_header(b, '*', n * 2);
}

void shale_resp_add_set_len(struct resp_buf *b, long long n)
{
    add_header(b, b->proto >= 3 ? '~' : '*', n);
}

void shale_resp_add_double(struct resp_buf *b, double d)
{
    char text[64];
    int n;

    /* Spelled out rather than left to printf, as Redis does, so every
     * libc gives the same bytes. */
    if (isinf(d))
        n = snprintf(text, sizeof(text), "%s", d > 0 ? "inf" : "-inf");
    else if (isnan(d))
        n = snprintf(text, sizeof(text), "nan");
    else
        n = snprintf(text, sizeof(text), "%.17g", d);
    if (b->proto >= 3) {
        char *p = shale_resp_buf_reserve(b, 1 + (size_t)n + 2);

        p[0] = ',';
        memcpy(p + 1, text, (size_t)n);
        p[1 + n] = '\r';
        p[2 + n] = '\n';
        b->len += (size_t)n + 3;
    } else {
        shale_resp_add_bulk(b, text, (size_t)n);
    }
}

void shale_resp_add_bool(struct resp_buf *b, int v)
{
    if (b->proto >= 3)
        shale_resp_add_raw(b, v ? "#t\r\n" : "#f\r\n", 4);
    else
        shale_resp_add_raw(b, v ? ":1\r\n" : ":0\r\n", 4);
}

void shale_resp_add_verbatim(struct resp_buf *b, const char *fmt3, const void *p, size_t n)
{
    char *dst;

    if (b->proto < 3) {
        shale_resp_add_bulk(b, p, n);
        return;
    }
    add_header(b, '=', (long long)(n + 4));
    dst = shale_resp_buf_reserve(b, 4);
    for (int i = 0; i < 3; i++)
        dst[i] = *fmt3 ? *fmt3++ : ' ';
    dst[3] = ':';
    b->len += 4;
    shale_resp_add_raw(b, p, n);
    add_crlf(b);
}

/* Length header of a reply this server wrote: optional '-' and digits. Only
 * -1 is a valid negative (null bulk / null array). */
static int header_number(const char *s, size_t n, long long *out)
{
    size_t i = 0;
    long long v = 0;
    int negative = 0;

    if (n > 0 && s[0] == '-') {
        negative = 1;
        i = 1;
    }
    if (i == n || n - i > 18)
        return 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    if (negative && v != 1)
        return 0;
    *out = negative ? -v : v;
    return 1;
}

/* Walks values front to back with a count of those still owed instead of
 * recursing, so a deeply nested reply cannot overflow the stack. */
size_t shale_resp_value_len(const char *p, size_t n)
{
    size_t pos = 0;
    unsigned long long owed = 1;

    while (owed > 0) {
        const char *cr;
        size_t next;
        long long count;

        if (pos >= n)
            return 0;
        cr = memchr(p + pos, '\r', n - pos);
        if (!cr || (size_t)(cr - p) + 2 > n || cr[1] != '\n')
            return 0;
        next = (size_t)(cr - p) + 2;
        owed--;
        switch (p[pos]) {
        case '+':
        case '-':
        case ':':
        case '_':
        case ',':
        case '#':
        case '(':
            pos = next;
            break;
        case '$':
        case '=':
        case '!':
            if (!header_number(p + pos + 1, next - 2 - pos - 1, &count))
                return 0;
            if (count < 0) {
                pos = next;
                break;
            }
            if (n - next < (size_t)count + 2)
                return 0;
            pos = next + (size_t)count;
            if (p[pos] != '\r' || p[pos + 1] != '\n')
                return 0;
            pos += 2;
            break;
        case '*':
        case '~':
        case '>':
        case '%':
        case '|': {
            char type = p[pos];

            if (!header_number(p + pos + 1, next - 2 - pos - 1, &count))
                return 0;
            pos = next;
            if (count < 0)
                break;
            /* A map or an attribute holds pairs; an attribute is followed
             * by the value it describes. */
            owed += (unsigned long long)count * (type == '%' || type == '|' ? 2 : 1);
            owed += type == '|';
            /* Every value takes at least 3 bytes; owing more than could fit
             * means incomplete, and keeps owed from overflowing. */
            if (owed > (n - pos) / 3)
                return 0;
            break;
        }
        default:
            return 0;
        }
    }
    return pos;
}

void shale_resp_add_textf(struct resp_buf *b, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n > 0)
        shale_resp_add_raw(b, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}
