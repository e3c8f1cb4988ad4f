#!/usr/bin/env bash
# Proves that the linux-x64 prebuild loads and echoes under Debian's own Node 18 (18.20 from
# bookworm, libnode108 linking the system libssl3) and under the system node: require() with the ws
# client and with a raw client that checks Sec-WebSocket-Accept (so the addon's SHA1 and
# EVP_EncodeBlock resolve and compute right: under Debian's node they bind to the system
# libcrypto.so.3, under official builds to node's own OpenSSL), each also over wss:// on the tls
# option (the addon's TLS resolves the rest of OpenSSL from that same node at run time), then
# import from ESM.
#
#   scripts/check/node18.sh                         (consumer laid out from dist/ + prebuilds/)
#   EPOLLWS_CONSUMER=<dir> scripts/check/node18.sh  (e.g. the project `KEEP=1 scripts/check/pack.sh` kept)
#
# Debian 12 host with apt; Debian's node is unpacked aside (scripts/packaging/debian-node.sh), not
# installed. That node loads parts of itself from /usr/share/nodejs, so it runs in a private mount
# namespace (unshare -m, root or user namespaces) with the unpacked /usr/share overlaid on /usr/share.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)  # scripts/
. "$here/packaging/debian-node.sh"
die() { echo "check-node18: FAIL: $*" >&2; exit 1; }

root=$(debian_node_root "$(dpkg --print-architecture)") || die "could not fetch Debian's Node 18"
libdir=$(dirname "$(find "$root/usr/lib" -name 'libnode.so.*' | head -1)")
missing=$(LD_LIBRARY_PATH=$libdir ldd "$root/usr/bin/node" | grep 'not found' || true)
[ -z "$missing" ] || die "Debian's node lacks libraries: $missing (apt-get install them)"

consumer=${EPOLLWS_CONSUMER:-}
if [ -z "$consumer" ]; then
  consumer=$(mktemp -d "${TMPDIR:-/tmp}/epollws-node18.XXXXXX")
  trap 'rm -rf "$consumer"' EXIT
  "$here/packaging/make-consumer.sh" "$consumer"
fi
cp "$here/packaging/echo-check.js" "$here/packaging/esm-check.mjs" "$consumer/"

checks() {
  local node=$1
  "$node" echo-check.js epollws --expect-binary prebuilds/linux-x64/ &&
  "$node" echo-check.js epollws --client raw --expect-binary prebuilds/linux-x64/ &&
  "$node" esm-check.mjs
}

echo "check-node18: Debian node: $(LD_LIBRARY_PATH=$libdir ldd "$root/usr/bin/node" | grep -oE 'lib(node|ssl|crypto)\.so\.[0-9]+ => [^ ]+' | tr '\n' ' ')"
unshare_flags=-m
[ "$(id -u)" -eq 0 ] || unshare_flags=-rm
export -f checks
(cd "$consumer" && unshare $unshare_flags bash -c '
  set -e
  mount -t overlay overlay -o "lowerdir=$1/usr/share:/usr/share" /usr/share
  LD_LIBRARY_PATH=$2 checks "$1/usr/bin/node"
' check "$root" "$libdir") || die "Debian Node 18"

(cd "$consumer" && checks "$(command -v node)") || die "system node $(node --version)"
echo "check-node18: ok: Debian node 18 and system node $(node --version) load the x64 prebuild and echo"
