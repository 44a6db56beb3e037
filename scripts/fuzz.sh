#!/bin/sh
# Runs each libFuzzer target for a fixed time (make fuzz).
# Usage: scripts/fuzz.sh BUILD_DIR SECONDS UPDATE_CORPUS NAME...
#
# The seed corpus tests/fuzz/corpus/NAME/ is only read; what a run finds goes
# to BUILD_DIR/corpus/NAME/ and crashes to BUILD_DIR/artifacts/. With
# UPDATE_CORPUS=1 the new inputs that add coverage are merged into the seed
# corpus afterwards (-merge=1), the only write into the source tree.
# Prints "fuzz: N passed, M failed" and exits non-zero if a target failed.
set -u
build=$1
seconds=$2
update=${3:-0}
shift 3
dict=tests/fuzz/resp.dict
passed=0
failed=0
for name in "$@"; do
  work="$build/corpus/$name"
  seeds="tests/fuzz/corpus/$name"
  mkdir -p "$work" "$build/artifacts"
  echo "fuzz: $name for ${seconds}s"
  # -rss_limit_mb: ASan's shadow plus the target's own memory, well below
  # the machine's; -timeout: one input must never take a second.
  if "$build/$name" "$work" "$seeds" -dict="$dict" -max_total_time="$seconds" \
      -max_len=8192 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$build/artifacts/$name-" >"$build/$name.log" 2>&1; then
    passed=$((passed + 1))
    grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ *DONE)" \
      "$build/$name.log" | sed "s/^/fuzz: $name: /"
  else
    failed=$((failed + 1))
    echo "fuzz: $name FAILED (log: $build/$name.log); its tail:"
    tail -n 60 "$build/$name.log"
  fi
  if [ "$update" = 1 ]; then
    "$build/$name" -merge=1 "$seeds" "$work" -dict="$dict" -max_len=8192 \
      >"$build/$name.merge.log" 2>&1 || echo "fuzz: $name: merge failed"
  fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
