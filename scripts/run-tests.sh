#!/bin/sh
# Runs each test binary given on the command line, one at a time, and prints
# a closing line "N passed, N failed" counting the binaries.
set -u
passed=0
failed=0
failed_names=""
for bin in "$@"; do
  echo "=== $bin"
  if "$bin"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    failed_names="$failed_names $bin"
  fi
done
[ -n "$failed_names" ] && echo "failed:$failed_names"
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
