/* strconv: strict conversions of command arguments to numbers, with Redis's
 * rules (string2ll, string2ld): no spaces, no '+', no leading zeros, range
 * checked, no NaN. Pure functions, any thread. */
#ifndef SHALE_STRCONV_H
#define SHALE_STRCONV_H

#include "server/slice.h"

/* 1 and *out set when s is exactly a long long in canonical form, else 0. */
int shale_strconv_ll(struct slice s, long long *out);
/* 1 and *out set when s is a valid long double (not NaN), else 0. */
int shale_strconv_ld(struct slice s, long double *out);

#endif
