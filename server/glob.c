/* glob: see glob.h. Follows Redis's stringmatchlen semantics, matched
 * iteratively: on a mismatch it backs up to the last '*' and lets it eat one
 * more byte, so any pattern costs at most O(pattern x string) steps and no
 * recursion (a pattern like "a*a*a*a*b" cannot blow up or overflow the stack). */
#include "server/glob.h"

#include <ctype.h>

static int fold(int c, int nocase)
{
    return nocase ? tolower(c) : c;
}

/* Matches c against the class starting at *pp ('['); leaves *pp on its ']'. */
static int match_class(const char **pp, const char *end, int c, int nocase)
{
    const char *p = *pp + 1;
    int negate = p < end && *p == '^';
    if (negate)
        p++;
    int matched = 0;
    while (p < end && *p != ']') {
        if (*p == '\\' && p + 1 < end) {
            p++;
            matched |= fold((unsigned char)*p, nocase) == fold(c, nocase);
        } else if (p + 2 < end && p[1] == '-' && p[2] != ']') {
            int lo = fold((unsigned char)p[0], nocase), hi = fold((unsigned char)p[2], nocase);
            if (lo > hi) {
                int t = lo;
                lo = hi;
                hi = t;
            }
            int x = fold(c, nocase);
            matched |= x >= lo && x <= hi;
            p += 2;
        } else {
            matched |= fold((unsigned char)*p, nocase) == fold(c, nocase);
        }
        p++;
    }
    *pp = p < end ? p : end - 1;
    return negate ? !matched : matched;
}

/* Matches one byte against the single-byte token at *pp (?, [..], \x or a
 * literal); on success moves *pp past the token. */
static int match_one(const char **pp, const char *pend, int c, int nocase)
{
    const char *p = *pp;
    int ok;
    switch (*p) {
    case '?':
        ok = 1;
        break;
    case '[':
        ok = match_class(&p, pend, c, nocase);
        break;
    case '\\':
        if (p + 1 < pend)
            p++;
        /* fall through */
    default:
        ok = fold((unsigned char)*p, nocase) == fold(c, nocase);
        break;
    }
    if (ok)
        *pp = p + 1;
    return ok;
}

int shale_glob_match(const char *pattern, size_t patlen, const char *str, size_t len, int nocase)
{
    const char *p = pattern, *pend = pattern + patlen;
    const char *s = str, *send = str + len;
    const char *star_p = NULL, *star_s = NULL; /* resume points after the last '*' */
    while (s < send) {
        if (p < pend && *p == '*') {
            while (p < pend && *p == '*')
                p++;
            if (p == pend)
                return 1;
            star_p = p;
            star_s = s;
            continue;
        }
        if (p < pend && match_one(&p, pend, (unsigned char)*s, nocase)) {
            s++;
            continue;
        }
        if (!star_p)
            return 0;
        p = star_p;
        s = ++star_s;
    }
    while (p < pend && *p == '*')
        p++;
    return p == pend;
}
