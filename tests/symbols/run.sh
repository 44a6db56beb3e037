#!/bin/sh
# Symbol-hygiene tests: the fully static server and the zcalloc lesson
# (DESIGN.md sections 3 and 10). Run by `make check-symbols-regression`,
# which builds everything first.
#
# Usage: tests/symbols/run.sh BUILD_DIR STATIC_SERVER
#   BUILD_DIR holds libshale.a and tests/symbols/* built for the static link;
#   STATIC_SERVER is shale-server-static.
# Environment: CC, NM, STATIC_LDLIBS (as the GNUmakefile links them).
# Prints PASS/FAIL per check and "symbols: N passed, N failed" at the end.
set -u

build=${1:?usage: $0 BUILD_DIR STATIC_SERVER}
server=${2:?usage: $0 BUILD_DIR STATIC_SERVER}
CC=${CC:-cc}
NM=${NM:-nm}
STATIC_LDLIBS=${STATIC_LDLIBS:--lz -levent_core -ljemalloc -lm -pthread}
symbols_dir=$build/tests/symbols
check_symbols=$(dirname "$0")/../../scripts/check-symbols.sh

passed=0
failed=0
tmp=$(mktemp -d)
server_pid=""

cleanup()
{
  if [ -n "$server_pid" ]; then
    kill -KILL "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

pass()
{
  echo "PASS: $1"
  passed=$((passed + 1))
}

# fail WHAT [FILE]: FILE's contents explain the failure.
fail()
{
  echo "FAIL: $1"
  [ $# -lt 2 ] || sed 's/^/    | /' "$2"
  failed=$((failed + 1))
}

# --- the static server ---------------------------------------------------

if file "$server" | grep -q 'statically linked'; then
  pass "$server is statically linked"
else
  file "$server" >"$tmp/file.out" 2>&1
  fail "$server is statically linked" "$tmp/file.out"
fi

# The server calls neither zlib nor OpenSSL yet; the link pulls them in with
# -u so that our symbols are proved to coexist with theirs.
"$NM" --defined-only "$server" >"$tmp/nm.out" 2>&1
missing=""
for sym in zcalloc inflate OPENSSL_init_ssl SSL_CTX_new bufferevent_openssl_socket_new \
           event_base_new mallctl shale_malloc; do
  grep -q " $sym\$" "$tmp/nm.out" || missing="$missing $sym"
done
if [ -z "$missing" ]; then
  pass "$server contains zlib, OpenSSL, libevent_openssl, jemalloc and shale"
else
  echo "not defined in $server:$missing" >"$tmp/missing.out"
  fail "$server contains zlib, OpenSSL, libevent_openssl, jemalloc and shale" "$tmp/missing.out"
fi

# Starts the server on a random free port; retries when the port is taken.
# Sets server_pid and port; returns 1 when it never became ready.
start_server()
{
  for attempt in 1 2 3; do
    port=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 40000))
    "$server" --port "$port" --io-threads 1 --shards 2 >"$tmp/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 100); do
      grep -q "Ready to accept connections" "$tmp/server.log" && return 0
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.05
    done
    kill -KILL "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
    server_pid=""
    grep -q "in use" "$tmp/server.log" || return 1
  done
  return 1
}

# expect_reply WHAT EXPECTED redis-cli-args...
expect_reply()
{
  what=$1
  expected=$2
  shift 2
  reply=$(timeout 5 redis-cli -p "$port" "$@" 2>&1)
  if [ "$reply" = "$expected" ]; then
    pass "$what"
  else
    printf 'expected: %s\ngot:      %s\n' "$expected" "$reply" >"$tmp/reply.out"
    fail "$what" "$tmp/reply.out"
  fi
}

if start_server; then
  pass "$server starts (port $port)"
  expect_reply "static server answers PING" PONG PING
  expect_reply "static server SET" OK SET shale:static:key "static value"
  expect_reply "static server GET returns the value" "static value" GET shale:static:key
  info=$(timeout 5 redis-cli -p "$port" INFO memory 2>&1 | tr -d '\r')
  case "$info" in
    *mem_allocator:jemalloc*) pass "static server runs on jemalloc" ;;
    *)
      printf '%s\n' "$info" >"$tmp/info.out"
      fail "static server runs on jemalloc (INFO memory)" "$tmp/info.out"
      ;;
  esac
  kill -TERM "$server_pid"
  wait "$server_pid"
  status=$?
  server_pid=""
  if [ "$status" -eq 0 ]; then
    pass "static server exits 0 on SIGTERM"
  else
    fail "static server exits 0 on SIGTERM (exit status $status)" "$tmp/server.log"
  fi
else
  fail "$server starts and logs 'Ready to accept connections'" "$tmp/server.log"
fi

# --- our objects beside zlib and OpenSSL -----------------------------------

if "$symbols_dir/static_coexist" >"$tmp/coexist.out" 2>&1; then
  pass "all of libshale.a links statically with zlib/OpenSSL/libevent/jemalloc; zlib round trip ok"
else
  fail "static_coexist (libshale.a + libz/libssl/libcrypto/libevent/jemalloc)" "$tmp/coexist.out"
fi

# --- the zcalloc lesson -----------------------------------------------------

"$check_symbols" "$symbols_dir/zcalloc_collision.o" >"$tmp/check.out" 2>&1
status=$?
if [ "$status" -eq 1 ] && grep -q ': zcalloc ' "$tmp/check.out" &&
   grep -q ': zcfree ' "$tmp/check.out"; then
  pass "check-symbols rejects an object defining zcalloc and zcfree"
else
  echo "(exit status $status, expected 1 naming zcalloc and zcfree)" >>"$tmp/check.out"
  fail "check-symbols rejects an object defining zcalloc and zcfree" "$tmp/check.out"
fi

if "$symbols_dir/zcalloc_collision" >"$tmp/collision.out" 2>&1; then
  pass "a global zcalloc silently takes over zlib's inflate allocator (hazard reproduced)"
else
  fail "a global zcalloc silently takes over zlib's inflate allocator" "$tmp/collision.out"
fi

# shellcheck disable=SC2086
if "$CC" -static -o "$tmp/deflate_too" "$symbols_dir/zcalloc_collision.o" -u deflateInit_ \
     "$build/libshale.a" $STATIC_LDLIBS >"$tmp/link.out" 2>&1; then
  echo "the link succeeded" >>"$tmp/link.out"
  fail "a global zcalloc next to zlib's deflate fails the link" "$tmp/link.out"
elif grep -q "multiple definition of .zcalloc" "$tmp/link.out"; then
  pass "a global zcalloc next to zlib's deflate fails the link (multiple definition)"
else
  fail "a global zcalloc next to zlib's deflate fails with 'multiple definition'" "$tmp/link.out"
fi

echo "symbols: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
