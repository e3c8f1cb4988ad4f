#!/bin/sh
# Installs uWebSockets.js (binaries republished as @btc-vision/uwebsockets.js) OUTSIDE the repo and,
# on glibc older than 2.38, makes a patched scratch copy that loads there (see uws-glibc-shim.c).
# Idempotent. Prints two lines on success: UWS_DIR=<package dir to require> and UWS_PRELOAD=<shim or empty>.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${EPOLLWS_BENCH_CACHE:-$HOME/.cache/epollws-bench}
PKG=@btc-vision/uwebsockets.js
VERSION=${UWS_VERSION:-20.57.0}
SRC="$CACHE/uws/node_modules/$PKG"
PATCHED="$CACHE/uws-patched-$VERSION"
SHIM="$CACHE/uws-glibc-shim.so"

if [ ! -f "$SRC/package.json" ] || ! grep -q "\"version\": \"$VERSION\"" "$SRC/package.json"; then
  mkdir -p "$CACHE/uws"
  npm install --prefix "$CACHE/uws" --no-audit --no-fund --loglevel=error "$PKG@$VERSION" >&2
fi

ABI=$(node -p process.versions.modules)
ARCH=$(node -p process.arch)
BIN="uws_linux_${ARCH}_${ABI}.node"
[ -f "$SRC/$BIN" ] || { echo "uWebSockets.js $VERSION has no $BIN" >&2; exit 1; }

GLIBC=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')
NEEDS_SHIM=no
case "$GLIBC" in
  2.[0-9]|2.[12][0-9]|2.3[0-7]) NEEDS_SHIM=yes ;;
esac

if [ "$NEEDS_SHIM" = no ]; then
  DIR="$SRC"; PRELOAD=""
else
  if [ ! -f "$PATCHED/$BIN" ] || [ "$SRC/$BIN" -nt "$PATCHED/$BIN" ]; then
    rm -rf "$PATCHED"
    mkdir -p "$PATCHED"
    cp "$SRC/package.json" "$SRC/uws.js" "$SRC/ESM_wrapper.mjs" "$SRC/index.d.ts" "$PATCHED/"
    node "$HERE/patch-elf-weak.mjs" "$SRC/$BIN" "$PATCHED/$BIN" GLIBC_2.38 >&2
  fi
  if [ ! -f "$SHIM" ] || [ "$HERE/uws-glibc-shim.c" -nt "$SHIM" ]; then
    ${CC:-cc} -shared -fPIC -O2 -Wall -o "$SHIM" "$HERE/uws-glibc-shim.c"
  fi
  DIR="$PATCHED"; PRELOAD="$SHIM"
fi

# Load check: fails here, with the loader's message, rather than in the middle of a benchmark.
LD_PRELOAD="$PRELOAD" node -e "require(process.argv[1])" "$DIR" >&2
echo "UWS_DIR=$DIR"
echo "UWS_PRELOAD=$PRELOAD"
