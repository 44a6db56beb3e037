/* glob: see glob.h. Follows Redis's stringmatchlen semantics; recursion on
 * '*' is bounded by collapsing runs of stars. */
#include "server/glob.h"

#include <ctype.h>

static int fold(int c, int nocase)
{
    return nocase ? tolower(c) : c;
}

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
    *pp = p < end ? p : end - 1; /* points at ']' (or the last byte) */
    return negate ? !matched : matched;
}

static int match(const char *p, const char *pend, const char *s, const char *send, int nocase)
{
    while (p < pend) {
        switch (*p) {
        case '*':
            while (p + 1 < pend && p[1] == '*')
                p++;
            if (p + 1 == pend)
                return 1;
            for (const char *t = s; t <= send; t++)
                if (match(p + 1, pend, t, send, nocase))
                    return 1;
            return 0;
        case '?':
            if (s == send)
                return 0;
            s++;
            break;
        case '[':
            if (s == send || !match_class(&p, pend, (unsigned char)*s, nocase))
                return 0;
            s++;
            break;
        case '\\':
            if (p + 1 < pend)
                p++;
            /* fall through */
        default:
            if (s == send || fold((unsigned char)*p, nocase) != fold((unsigned char)*s, nocase))
                return 0;
            s++;
            break;
        }
        p++;
    }
    return s == send;
}

int shale_glob_match(const char *pattern, size_t patlen, const char *str, size_t len, int nocase)
{
    return match(pattern, pattern + patlen, str, str + len, nocase);
}
