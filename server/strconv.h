/* strconv: strict conversions of command arguments to numbers, with Redis's
 * rules (string2ll, string2ld): no spaces, no '+', no leading zeros, range
 * checked, no NaN. Pure functions, any thread. */
#ifndef SHALE_STRCONV_H
#define SHALE_STRCONV_H

#include <stddef.h>

#include "server/slice.h"

/* Redis's MAX_LONG_DOUBLE_CHARS: "%.17Lf" of the largest long double fits. */
#define STRCONV_LD_SIZE (5 * 1024)

/* 1 and *out set when s is exactly a long long in canonical form, else 0. */
int shale_strconv_ll(struct slice s, long long *out);
/* 1 and *out set when s is a valid long double (not NaN), else 0. */
int shale_strconv_ld(struct slice s, long double *out);

/* A SCAN/HSCAN cursor the way Redis's parseScanCursorOrReply reads it:
 * strtoul over the argument as a C string, no leading space, nothing left
 * over, no overflow. 1 when valid. */
int shale_strconv_cursor(struct slice s, unsigned long long *out);

/* Redis's ld2string in LD_STR_HUMAN mode for a finite v: "%.17Lf" without
 * trailing zeros or a trailing dot, "-0" written as "0". Returns the length
 * (0 if it does not fit). */
int shale_strconv_ld_human(char *buf, size_t size, long double v);

/* The multiplier of a Redis memory unit (memtoll): "" or "b" 1, "k" 1000,
 * "kb" 1024, "m", "mb", "g", "gb" likewise (any case); -1 for anything else. */
int shale_strconv_memory_unit(const char *unit, unsigned long long *mul);

#endif
