#!/bin/sh
# check-symbols: every global symbol shale defines must start with `shale_`.
#
# Why: shale links fully statically against libssl.a, libcrypto.a, libz.a,
# libevent*.a and libjemalloc.a (`make static`). In a static link a generic
# global name such as `zcalloc` either breaks the link ("multiple definition")
# or, worse, silently replaces zlib's own inflate allocator. -fvisibility does
# not help a static executable; the prefix does (DESIGN.md §3, §10).
#
# Usage: scripts/check-symbols.sh [OBJECT_OR_ARCHIVE...]
#   With no arguments it checks $BUILD/libshale.a and $BUILD/server/main.o
#   (BUILD defaults to build), i.e. everything compiled from server/ shards/
#   net/. Exempt: main and the fuzzer entry points.
# Every defined global symbol nm reports (T D B R C, and W V i u G S A when
# they appear) is checked. Exit 0 when all are prefixed, 1 when some are not
# (each printed with the object that defines it), 2 when it cannot check.
set -eu

NM=${NM:-nm}
BUILD=${BUILD:-build}
exempt="main LLVMFuzzerTestOneInput LLVMFuzzerInitialize"

[ $# -gt 0 ] || set -- "$BUILD/libshale.a" "$BUILD/server/main.o"
for f in "$@"; do
  if [ ! -f "$f" ]; then
    echo "check-symbols: $f: no such file (build it first)" >&2
    exit 2
  fi
done

# -A: prefix each line with the file (archive[member]); -P: "name type value
# [size]"; -g --defined-only: global symbols this file defines.
if ! listing=$("$NM" -A -P -g --defined-only "$@"); then
  echo "check-symbols: $NM failed on: $*" >&2
  exit 2
fi

printf '%s\n' "$listing" | awk -v exempt="$exempt" '
BEGIN {
  n = split(exempt, names, " ")
  for (i = 1; i <= n; i++)
    ok[names[i]] = 1
}
NF >= 3 {
  file = $1
  sub(/:$/, "", file)
  total++
  if ($2 ~ /^shale_/ || ($2 in ok))
    next
  bad++
  printf "check-symbols: %s: %s (nm type %s) does not start with shale_\n", file, $2, $3
}
END {
  if (total == 0) {
    print "check-symbols: no global symbols found; wrong files?" > "/dev/stderr"
    exit 2
  }
  if (bad > 0) {
    printf "check-symbols: %d of %d global symbols lack the shale_ prefix; " \
           "make them static or name them shale_<module>_<what> (exempt: %s)\n",
           bad, total, exempt
    exit 1
  }
  printf "check-symbols: %d global symbols, all shale_-prefixed\n", total
}'
