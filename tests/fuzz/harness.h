/* harness: what the libFuzzer targets share: a byte reader over the fuzz
 * input, a checked-invariant macro that aborts with a message (libFuzzer
 * then saves the input), and a strict RESP reply reader used as an
 * independent judge of well-formed replies. Single-threaded, like each
 * target. */
#ifndef SHALE_FUZZ_HARNESS_H
#define SHALE_FUZZ_HARNESS_H

#include <stddef.h>
#include <stdint.h>

/* Fails the run (abort) with file, line and message when cond is false. */
#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond))                                                                               \
            shale_fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                               \
    } while (0)

void shale_fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 4, 5)));

/* Consumes the fuzz input front to back; reads past the end give zeros. */
struct fuzz_input {
    const uint8_t *data;
    size_t len, pos;
};

uint8_t shale_fuzz_u8(struct fuzz_input *in);
uint32_t shale_fuzz_u32(struct fuzz_input *in);
/* A number in [0, n) (n > 0). */
uint32_t shale_fuzz_below(struct fuzz_input *in, uint32_t n);
/* Up to max bytes of the input: *len set, returns a pointer into the input. */
const uint8_t *shale_fuzz_bytes(struct fuzz_input *in, size_t max, size_t *len);
int shale_fuzz_done(const struct fuzz_input *in);

/* Strict RESP2/RESP3 reply reader, written apart from the server's own
 * encoder so it judges it independently: counts the complete replies in
 * buf[0..len) and sets *consumed to the bytes they take. Returns -1 when the
 * bytes are not well-formed (a bad type byte, a length that does not match,
 * a missing CRLF, a non-number where a number must be); an incomplete reply
 * at the end is not an error. */
int shale_fuzz_count_replies(const char *buf, size_t len, size_t *consumed);
/* Bytes of the one reply at buf, 0 when incomplete, -1 when malformed. */
long shale_fuzz_reply_len(const char *buf, size_t len);

#endif
