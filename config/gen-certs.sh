#!/bin/sh
# Generates throwaway ECDSA P-256 certificates for the example web.yml files:
#   certs/ca.crt, certs/ca.key          a private CA (10 years)
#   certs/server.crt, certs/server.key  server certificate for localhost and 127.0.0.1
#   certs/client.crt, certs/client.key  client certificate, CN and DNS SAN "prometheus"
# Usage: config/gen-certs.sh [output-dir]   (default: the certs/ directory next to this script)
# CRL_URI=http://... names a CRL distribution point in the server certificate, as certificates
# from a real CA do (scripts/tls-scan sets it, so testssl sees revocation information).
# Needs openssl. Existing files are overwritten. The keys are unencrypted: test use only.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-"$here/certs"}
days=${DAYS:-825}
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

new_key() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
    chmod 600 "$1"
}

# sign NAME SUBJECT EXTENSIONS: a certificate for $out/NAME.key, issued by the CA.
sign() {
    printf '%s\n' "$3" > "$tmp/$1.ext"
    openssl req -new -key "$out/$1.key" -subj "$2" -out "$tmp/$1.csr"
    openssl x509 -req -in "$tmp/$1.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" \
        -set_serial "0x$(openssl rand -hex 16)" -days "$days" -sha256 \
        -extfile "$tmp/$1.ext" -out "$out/$1.crt" 2>/dev/null
}

new_key "$out/ca.key"
openssl req -x509 -new -key "$out/ca.key" -sha256 -days 3650 \
    -subj "/CN=scrapegate example CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$out/ca.crt"

new_key "$out/server.key"
sign server "/CN=localhost" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1${CRL_URI:+
crlDistributionPoints=URI:$CRL_URI}"

new_key "$out/client.key"
sign client "/CN=prometheus" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
subjectAltName=DNS:prometheus"

echo "wrote $out/{ca,server,client}.{crt,key}"
