#!/usr/bin/env bash
# Runs the linux-arm64 prebuild under qemu user-mode emulation with Debian's arm64 Node 18 (unpacked
# into a sysroot with its arm64 libraries, scripts/packaging/debian-node.sh): require() + echo with
# the ws client and with the raw client (Sec-WebSocket-Accept checked, so SHA-1 runs on arm64),
# each also over wss:// on the tls option (a TLS handshake and records on arm64),
# then import + echo from ESM. Server and clients run inside the emulated node, on 127.0.0.1.
#
#   scripts/prebuildify-arm64.sh && scripts/check/arm64.sh
#   EPOLLWS_CONSUMER=<dir> scripts/check/arm64.sh     (a consumer with prebuilds/linux-arm64 inside)
#
# Needs qemu-user-static (apt-get install qemu-user-static) and apt with Debian 12 sources; the
# arm64 architecture is added to dpkg/apt if missing (packages are only downloaded, not installed).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)  # scripts/
. "$here/packaging/debian-node.sh"
die() { echo "check-arm64: FAIL: $*" >&2; exit 1; }

qemu=$(command -v qemu-aarch64-static || command -v qemu-aarch64 || true)
[ -n "$qemu" ] || die "qemu-aarch64-static not found: apt-get install qemu-user-static"
ls "$here"/../prebuilds/linux-arm64/*.node >/dev/null 2>&1 || [ -n "${EPOLLWS_CONSUMER:-}" ] \
  || die "no prebuilds/linux-arm64/*.node: run scripts/prebuildify-arm64.sh"

start=$(date +%s)
sysroot=$(debian_node_root arm64 libc6 libstdc++6 libgcc-s1 libssl3 zlib1g) \
  || die "could not fetch Debian's arm64 Node 18"

consumer=${EPOLLWS_CONSUMER:-}
if [ -z "$consumer" ]; then
  consumer=$(mktemp -d "${TMPDIR:-/tmp}/epollws-arm64.XXXXXX")
  trap 'rm -rf "$consumer"' EXIT
  "$here/packaging/make-consumer.sh" "$consumer"
fi
cp "$here/packaging/echo-check.js" "$here/packaging/esm-check.mjs" "$consumer/"

# qemu -L resolves the guest's absolute paths (the loader, /usr/lib/aarch64-linux-gnu, and the
# /usr/share/nodejs builtins) inside the sysroot first, and falls back to the host's files, which
# is how the consumer dir and the repo's node_modules are reached.
node_arm64() {
  QEMU_LD_PREFIX=$sysroot LD_LIBRARY_PATH=/lib/aarch64-linux-gnu:/usr/lib/aarch64-linux-gnu \
    "$qemu" -L "$sysroot" "$sysroot/usr/bin/node" "$@"
}
fetched=$(date +%s)
cd "$consumer"
node_arm64 -p '`node ${process.version} ${process.arch}, N-API ${process.versions.napi}, OpenSSL ${process.versions.openssl}`'
node_arm64 echo-check.js epollws --expect-binary prebuilds/linux-arm64/ --timeout 300 || die "require + ws client"
node_arm64 echo-check.js epollws --client raw --expect-binary prebuilds/linux-arm64/ --timeout 300 || die "require + raw client"
node_arm64 esm-check.mjs || die "import + ws client"
end=$(date +%s)
echo "check-arm64: ok: arm64 prebuild echoes under qemu ($((fetched - start)) s fetching, $((end - fetched)) s running)"
