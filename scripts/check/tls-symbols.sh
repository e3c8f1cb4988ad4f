#!/usr/bin/env bash
# check:tls-symbols — the addon takes OpenSSL from the node binary that loads it, at run time (dlsym
# into a function table), so that it loads wherever node was built: official builds export their own
# OpenSSL, Debian's node links the system libssl3, and other builds export none. A direct call to a
# libssl/libcrypto function would leave an undefined dynamic symbol that such a node cannot resolve
# (the addon would fail to load there, or bind to a different OpenSSL than the one node uses). Only
# the two functions the WebSocket handshake uses, SHA1 and EVP_EncodeBlock, stay direct: every node
# build exports them.
#
#   scripts/check/tls-symbols.sh [file.node ...]   (default: build/Release/epollws.node and each
#                                                  prebuilds/*/*.node, those present)
#
# A symbol counts as OpenSSL's if the system's libssl.so.3 / libcrypto.so.3 define it (when they are
# installed), if its version tag is OPENSSL_*, or if its name has an OpenSSL prefix (SSL_, EVP_, ...),
# so the check holds on a machine without libssl3 and for the arm64 prebuild (nm reads any ELF).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
die() { echo "check:tls-symbols: FAIL: $*" >&2; exit 1; }
command -v nm >/dev/null || die "nm not found (binutils)"

ALLOWED='^(SHA1|EVP_EncodeBlock)(@.*)?$'
PREFIXES='^(SSL|TLS|DTLS|EVP|OPENSSL|OSSL|BIO|X509|X509V3|ERR|CRYPTO|RAND|PEM|ASN1|BN|EC|ECDSA|ECDH|RSA|DH|DSA|HMAC|CMAC|OBJ|PKCS5|PKCS7|PKCS8|PKCS12|ENGINE|CONF|NCONF|OCSP|CMS|CT|SCT|UI|COMP|ASYNC|d2i|i2d|sk|SHA|SHA224|SHA256|SHA384|SHA512|MD4|MD5|RIPEMD160|AES|CRYPTO_THREAD|SRP)_|^(SHA1|SHA224|SHA256|SHA384|SHA512|MD5|MD4|RIPEMD160)$'

files=("$@")
if [ ${#files[@]} -eq 0 ]; then
  # prebuildify moves the addon it built out of build/Release, so either may be missing (CI runs
  # this right after the prebuilds), not both.
  shopt -s nullglob
  files=("$root"/build/Release/epollws.no[d]e "$root"/prebuilds/*/*.node)  # [d]: a glob, so nullglob drops it
  shopt -u nullglob
  [ ${#files[@]} -gt 0 ] || die "neither build/Release/epollws.node nor prebuilds/*/*.node: build the addon first"
fi

# The names the system's OpenSSL defines (without version tags), when it is installed.
known=$(mktemp)
trap 'rm -f "$known"' EXIT
for lib in libssl.so.3 libcrypto.so.3; do
  path=$( (ldconfig -p 2>/dev/null || true) | awk -v l="$lib" '$1 == l && /x86-64|AArch64/ { print $NF; exit }')
  [ -n "$path" ] && nm -D --defined-only "$path" | awk '{ sub(/@.*/, "", $NF); print $NF }' >> "$known"
done
sort -u -o "$known" "$known"
echo "check:tls-symbols: $(wc -l < "$known") names from the system's libssl/libcrypto, plus OpenSSL's prefixes"

failed=0
for f in "${files[@]}"; do
  [ -f "$f" ] || die "$f: no such file"
  # "U name@VERSION" (or "w name") per undefined symbol; a missing nm output means nm could not read it.
  undefined=$(nm -D --undefined-only "$f") || die "$f: nm could not read it"
  openssl=$(echo "$undefined" | awk 'NF >= 2 { print $NF }' | while read -r sym; do
    name=${sym%%@*}
    version=${sym#"$name"}
    if [[ $version == @OPENSSL_* || $name =~ $PREFIXES ]] || grep -qxF -- "$name" "$known"; then
      echo "$sym"
    fi
  done)
  direct=$(echo "$openssl" | grep -vE '^$' | grep -vE "$ALLOWED" || true)
  rel=${f#"$root"/}
  if [ -n "$direct" ]; then
    echo "check:tls-symbols: FAIL: $rel has undefined libssl/libcrypto symbols besides SHA1 and EVP_EncodeBlock:" >&2
    echo "$direct" | sed 's/^/  /' >&2
    failed=1
  else
    echo "check:tls-symbols: ok: $rel: $(echo "$undefined" | grep -c .) undefined symbols, OpenSSL's among them: $(echo "$openssl" | grep . | tr '\n' ' ')"
  fi
done
[ "$failed" -eq 0 ] || exit 1
