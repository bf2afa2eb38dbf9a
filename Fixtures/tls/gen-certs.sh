#!/usr/bin/env bash
# Makes the test PKI: a CA, identities it signs (server for localhost/127.0.0.1 and its rotated
# successor, client for mTLS, one for another host name, one expired), a self-signed server and
# an untrusted CA.
# Test-only keys; long validity except the expired one. Run from anywhere; writes next to
# this script. Needs only the openssl command line.
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
days=36500

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# The CA and a second, never-trusted CA.
key ca.key
openssl req -x509 -new -key ca.key -days $days -subj "/CN=Channels Test CA" -out ca.pem \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
key untrusted-ca.key
openssl req -x509 -new -key untrusted-ca.key -days $days -subj "/CN=Untrusted Test CA" -out untrusted-ca.pem \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign

# sign NAME SUBJECT EXTENSIONS [CA-KEY CA-CERT]: a key and a certificate signed by the CA.
sign() {
    local name=$1 subject=$2 extensions=$3 cakey=${4:-ca.key} cacert=${5:-ca.pem}
    key "$name.key"
    openssl req -new -key "$name.key" -subj "$subject" -out "$work/$name.csr"
    printf '%s\n' "$extensions" > "$work/$name.ext"
    openssl x509 -req -in "$work/$name.csr" -CA "$cacert" -CAkey "$cakey" -CAcreateserial \
        -days $days -extfile "$work/$name.ext" -out "$name.pem" 2>/dev/null
}

server_ext="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"
sign server "/CN=localhost" "$server_ext"
cat server.pem ca.pem > server-chain.pem
# The same name from the same CA with a new key: what a certificate rotation installs.
sign server-rotated "/CN=localhost" "$server_ext"
cat server-rotated.pem ca.pem > server-rotated-chain.pem

sign client "/CN=channels-test-client" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"

sign wrong-host "/CN=other.example" "basicConstraints=CA:FALSE
extendedKeyUsage=serverAuth
subjectAltName=DNS:other.example"

# Expired: `openssl ca` is the stock way to set explicit past dates.
mkdir -p "$work/ca/newcerts"
touch "$work/ca/index.txt"
echo 1000 > "$work/ca/serial"
cat > "$work/ca.cnf" <<CNF
[ ca ]
default_ca = test
[ test ]
dir = $work/ca
database = \$dir/index.txt
new_certs_dir = \$dir/newcerts
serial = \$dir/serial
default_md = sha256
policy = anything
copy_extensions = none
[ anything ]
commonName = supplied
[ server ]
basicConstraints = CA:FALSE
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
CNF
key expired.key
openssl req -new -key expired.key -subj "/CN=localhost" -out "$work/expired.csr"
openssl ca -batch -config "$work/ca.cnf" -cert ca.pem -keyfile ca.key -in "$work/expired.csr" \
    -startdate 20200101000000Z -enddate 20210101000000Z -extensions server -notext -out expired.pem 2>/dev/null

# Self-signed server identity for localhost.
key self-signed.key
openssl req -x509 -new -key self-signed.key -days $days -subj "/CN=localhost" -out self-signed.pem \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1"

rm -f ca.srl untrusted-ca.key
echo "made: $(ls *.pem *.key | tr '\n' ' ')"
