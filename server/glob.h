/* glob: Redis-compatible glob matching (*, ?, [a-z], [^x], \x), used by
 * CONFIG GET, KEYS and SCAN MATCH. Pure function, any thread. */
#ifndef SHALE_GLOB_H
#define SHALE_GLOB_H

#include <stddef.h>

int shale_glob_match(const char *pattern, size_t patlen, const char *str, size_t len, int nocase);

#endif
