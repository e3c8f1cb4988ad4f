#!/usr/bin/env bash
# Cross-compiles the linux-arm64 (glibc) prebuild on an x86-64 Debian/Ubuntu host:
#   scripts/prebuildify-arm64.sh            -> prebuilds/linux-arm64/epollws.glibc.node
# Needs g++-aarch64-linux-gnu (apt-get install g++-aarch64-linux-gnu) and the repo's devDependencies.
# Node's headers are the same for every architecture, and the OpenSSL headers node ships pick their
# per-arch configuration (openssl/archs/linux-aarch64) from the compiler's predefined macros, so the
# host's node headers serve. The build runs in a scratch copy so the repo's build/ (node-gyp's
# x64 build) is left alone; only prebuilds/linux-arm64/ is written here.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
triple=${CROSS_TRIPLE:-aarch64-linux-gnu}

for tool in "$triple-gcc" "$triple-g++" "$triple-strip"; do
  command -v "$tool" >/dev/null || {
    echo "prebuild-arm64: $tool not found; install it with: apt-get install g++-aarch64-linux-gnu" >&2
    exit 1
  }
done
[ -x "$root/node_modules/.bin/prebuildify" ] || {
  echo "prebuild-arm64: node_modules/.bin/prebuildify missing; run npm install first" >&2
  exit 1
}

stage=$(mktemp -d "${TMPDIR:-/tmp}/epollws-arm64.XXXXXX")
trap 'rm -rf "$stage"' EXIT
cp "$root/package.json" "$root/binding.gyp" "$stage/"
mkdir -p "$stage/native"
cp -r "$root/native/core" "$root/native/binding" "$stage/native/"
ln -s "$root/node_modules" "$stage/node_modules"

# node-gyp needs the headers of the running node: take nodedir from npm's config when set (npm run
# exports it as npm_config_nodedir), otherwise node-gyp downloads them as usual.
export npm_config_nodedir=${npm_config_nodedir:-$(npm config get nodedir 2>/dev/null | grep -v '^undefined$' || true)}
[ -n "$npm_config_nodedir" ] || unset npm_config_nodedir

rm -f "$root"/prebuilds/linux-arm64/*.node
(
  cd "$stage"
  CC="$triple-gcc" CXX="$triple-g++" LINK="$triple-g++" AR="$triple-ar" \
    "$root/node_modules/.bin/prebuildify" --napi --strip --tag-libc --arch arm64 \
    --strip-bin "$triple-strip" --out "$root"
)

out=$(ls "$root"/prebuilds/linux-arm64/*.node)
file "$out"
file "$out" | grep -q 'ARM aarch64' || { echo "prebuild-arm64: $out is not an aarch64 object" >&2; exit 1; }
