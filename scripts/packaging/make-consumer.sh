#!/usr/bin/env bash
# Lays out a consumer project as npm would install epollws from the registry, without npm:
#   <dest>/node_modules/epollws/{package.json,dist,prebuilds}   (no build/, no sources)
#   <dest>/node_modules/{node-gyp-build,ws}                     (links into the repo's node_modules)
#   <dest>/{echo-check.js,esm-check.mjs}
# so node-gyp-build can only pick a prebuild. Used by check/node18.sh and check/arm64.sh when no
# consumer from pack-check (KEEP=1) is given.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dest=${1:?usage: make-consumer.sh <dest dir>}
[ -f "$root/dist/index.js" ] || { echo "make-consumer: dist/ missing; run npm run build" >&2; exit 1; }
[ -d "$root/prebuilds" ] || { echo "make-consumer: prebuilds/ missing; run npm run prebuildify" >&2; exit 1; }
pkg="$dest/node_modules/epollws"
mkdir -p "$pkg"
cp "$root/package.json" "$pkg/"
cp -r "$root/dist" "$root/prebuilds" "$pkg/"
for dep in node-gyp-build ws; do
  ln -sfn "$root/node_modules/$dep" "$dest/node_modules/$dep"
done
[ -f "$dest/package.json" ] || echo '{ "name": "epollws-consumer", "private": true }' > "$dest/package.json"
cp "$root/scripts/packaging/echo-check.js" "$root/scripts/packaging/esm-check.mjs" "$dest/"
