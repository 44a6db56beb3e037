/* obuf_limit: `client-output-buffer-limit` (Redis syntax and meaning): the
 * option's text, its canonical form, and the decision whether a client whose
 * replies are not being read has gone past its limit. Pure functions on
 * caller-owned state: any thread; it never touches a connection itself.
 *
 * Text: "<class> <hard> <soft> <soft-seconds> ..." with classes normal,
 * replica (alias slave) and pubsub; sizes take Redis's units (1k, 1kb, 1mb...).
 * Only `normal` applies to shale's clients today; the others are accepted and
 * kept so Redis configuration files load unchanged. */
#ifndef SHALE_OBUF_LIMIT_H
#define SHALE_OBUF_LIMIT_H

#include <stddef.h>
#include <stdint.h>

enum obuf_class { OBUF_NORMAL = 0, OBUF_REPLICA, OBUF_PUBSUB, OBUF_CLASSES };

/* The Redis default. */
#define OBUF_LIMIT_DEFAULT "normal 0 0 0 replica 256mb 64mb 60 pubsub 32mb 8mb 60"

struct obuf_limit {
    unsigned long long hard; /* bytes; 0 = none */
    unsigned long long soft; /* bytes; 0 = none */
    long long soft_seconds;  /* how long a client may stay over soft */
};

struct obuf_limits {
    struct obuf_limit cls[OBUF_CLASSES];
};

/* Applies "class hard soft seconds ..." to *limits: all of it, or nothing
 * (then -1 and err holds Redis's message). Classes not named keep their
 * values, as in Redis. */
int shale_obuf_limit_parse(const char *text, struct obuf_limits *limits, char *err, size_t errlen);

/* Canonical text, as Redis's CONFIG GET prints it:
 * "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60". */
void shale_obuf_limit_format(const struct obuf_limits *limits, char *out, size_t outlen);

/* The config option's setter: parses text over `current` (canonical text, or
 * NULL for all zeros) and returns the new canonical text in *out (to be
 * freed with shale_free), or -1 with err set. */
int shale_obuf_limit_normalize(const char *current, const char *text, char **out, char *err,
                               size_t errlen);

enum obuf_verdict { OBUF_WITHIN = 0, OBUF_OVER_HARD, OBUF_OVER_SOFT };

/* Redis's checkClientOutputBufferLimits: `pending` reply bytes against one
 * class's limit at now_ms. *soft_since_ms (0: not over soft) is the caller's
 * per-client state: set when the client first goes over soft, cleared when
 * it is back under. Over soft counts only after more than soft_seconds. */
enum obuf_verdict shale_obuf_limit_check(const struct obuf_limit *limit, size_t pending,
                                         int64_t now_ms, int64_t *soft_since_ms);

#endif
