#!/bin/sh
# Makes throw-away TLS material for trying `savevm --tls-*` and for the tests:
#   ca.pem                         the CA both sides trust
#   destination.pem/.key           signed by ca.pem, for the listening side
#   source.pem/.key                signed by ca.pem, for the connecting side
#   rogue-ca.pem, rogue.pem/.key   another CA and a certificate it signed (must be refused)
#   client-only.pem/.key           signed by ca.pem for clientAuth only (refused as a destination's)
# Usage: make-test-certs.sh OUTDIR [EXTRA_SAN...]   e.g. IP:10.200.0.1 DNS:dst.example
# Certificates carry the SANs IP:127.0.0.1, IP:::1, DNS:localhost and the extra ones.
set -eu
out=$1; shift
mkdir -p "$out"
sans="IP:127.0.0.1,IP:::1,DNS:localhost"
for san in "$@"; do sans="$sans,$san"; done
ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"

ca() { # name subject
  openssl req -x509 $ec -keyout "$out/$1.key" -out "$out/$1.pem" -days 2 -subj "/CN=$2" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}
leaf() { # name cn ca usage
  openssl req $ec -keyout "$out/$1.key" -out "$out/$1.csr" -subj "/CN=$2" 2>/dev/null
  printf 'subjectAltName=%s\nextendedKeyUsage=%s\nbasicConstraints=CA:FALSE\n' "$sans" "$4" > "$out/$1.ext"
  openssl x509 -req -in "$out/$1.csr" -CA "$out/$3.pem" -CAkey "$out/$3.key" -CAcreateserial \
    -out "$out/$1.pem" -days 2 -extfile "$out/$1.ext" 2>/dev/null
  rm -f "$out/$1.csr" "$out/$1.ext"
}
ca ca "savevm test CA"
ca rogue-ca "some other CA"
leaf destination savevm-destination ca serverAuth,clientAuth
leaf source savevm-source ca serverAuth,clientAuth
leaf rogue savevm-rogue rogue-ca serverAuth,clientAuth
leaf client-only savevm-client-only ca clientAuth
rm -f "$out"/*.srl
