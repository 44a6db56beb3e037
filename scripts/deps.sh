#!/bin/sh
# Installs the Debian packages a shale target needs, only those missing.
# Usage: scripts/deps.sh build|test|bench|static|fuzz|soak
# As root it runs apt-get; otherwise it prints the exact command and fails.
set -eu

build_pkgs="gcc make pkg-config libjemalloc-dev libevent-dev libssl-dev"
# openssl: scripts/gen-certs.sh makes the TLS tests' and benchmark's certificates.
test_pkgs="$build_pkgs libhiredis-dev libcmocka-dev redis-tools clang-format python3 python3-yaml openssl"
bench_pkgs="$build_pkgs redis-server redis-tools python3 openssl"
# make static / check-symbols: libc.a, libz.a (libssl.a, libcrypto.a,
# libevent*.a and libjemalloc.a come with the build set), nm, file(1).
# The static smoke test in `make test` also needs redis-cli (the test set).
static_pkgs="$build_pkgs libc6-dev zlib1g-dev binutils file"
# make fuzz: clang 14 with libFuzzer and the sanitizer runtimes.
fuzz_pkgs="$build_pkgs clang libclang-rt-14-dev"
# scripts/soak.py: redis-py, and gnuplot for the RSS plot.
soak_pkgs="$build_pkgs python3 python3-redis gnuplot-nox"

case "${1:-build}" in
  build) wanted=$build_pkgs ;;
  test)  wanted=$test_pkgs ;;
  bench) wanted=$bench_pkgs ;;
  static) wanted=$static_pkgs ;;
  fuzz)  wanted=$fuzz_pkgs ;;
  soak)  wanted=$soak_pkgs ;;
  *) echo "usage: $0 build|test|bench|static|fuzz|soak" >&2; exit 2 ;;
esac

missing=""
for pkg in $wanted; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" ||
    missing="$missing $pkg"
done
[ -z "$missing" ] && exit 0

cmd="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" -ne 0 ]; then
  echo "shale: missing packages:$missing" >&2
  echo "shale: run as root:  apt-get update && $cmd" >&2
  exit 1
fi
echo "shale: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null || true
# shellcheck disable=SC2086
$cmd >/dev/null
