#!/bin/sh
# Generates throwaway TLS certificates for trying shale's TLS port and for
# the TLS tests. Never use them for anything real: the keys are unencrypted
# and the CA signs whatever this script asks it to.
#
# Usage: scripts/gen-certs.sh [DIR]      (default: ./tls)
#
# DIR/ca.crt, ca.key            a CA ("shale test CA")
# DIR/server.crt, server.key    server certificate, SAN 127.0.0.1, ::1, localhost
# DIR/server-alt.crt, .key      another server certificate from the same CA
#                               (a new serial: for trying certificate reload)
# DIR/client.crt, client.key    client certificate for mutual TLS
# DIR/other-ca.crt, .key        a second, unrelated CA
# DIR/other-client.crt, .key    client certificate signed by the second CA
# DIR/expired-client.crt, .key  client certificate from the first CA whose
#                               validity ended before it began (expired)
#
# Needs the openssl command (Debian package openssl). EC P-256 keys.
set -eu

dir=${1:-tls}
days=3650
mkdir -p "$dir"
cd "$dir"

ext=$(mktemp)
trap 'rm -f "$ext" ./*.csr ./*.srl' EXIT

newkey() {
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null
  chmod 600 "$1.key"
}

ca() { # name subject
  newkey "$1"
  openssl req -x509 -new -key "$1.key" -subj "$2" -days "$days" -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$1.crt"
}

leaf() { # name subject ca usage [days] [san]
  newkey "$1"
  openssl req -new -key "$1.key" -subj "$2" -out "$1.csr"
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$4"
    [ -n "${6:-}" ] && echo "subjectAltName=$6"
  } >"$ext"
  # A random serial: two runs, or two certificates, never share one.
  openssl x509 -req -in "$1.csr" -CA "$3.crt" -CAkey "$3.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days "${5:-$days}" -sha256 \
    -extfile "$ext" -out "$1.crt" 2>/dev/null
}

san="IP:127.0.0.1,IP:::1,DNS:localhost"
ca ca "/O=shale/CN=shale test CA"
leaf server "/O=shale/CN=shale server" ca serverAuth "$days" "$san"
leaf server-alt "/O=shale/CN=shale server (alt)" ca serverAuth "$days" "$san"
leaf client "/O=shale/CN=shale client" ca clientAuth
ca other-ca "/O=elsewhere/CN=other test CA"
leaf other-client "/O=elsewhere/CN=other client" other-ca clientAuth
# -days -1: notAfter one day before notBefore, so it is expired from the start.
leaf expired-client "/O=shale/CN=expired client" ca clientAuth -1

echo "certificates in $(pwd):"
for f in ca server server-alt client other-ca other-client expired-client; do
  printf '  %-20s serial %s\n' "$f.crt" "$(openssl x509 -in "$f.crt" -noout -serial | cut -d= -f2)"
done
