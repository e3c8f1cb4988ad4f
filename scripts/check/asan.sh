#!/usr/bin/env bash
# Runs the conformance and hostile-input suites (and the conformance suite over TLS) against an
# AddressSanitizer + UBSan build of the
# addon: a copy of the package is built aside (the normal build/ stays as it is) and the echo
# server runs with the ASan runtime preloaded into node.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="${TMPDIR:-/tmp}/epollws-asan"
rm -rf "$work"
mkdir -p "$work"
cp -r "$root/package.json" "$root/binding.gyp" "$root/native" "$root/dist" "$root/examples" "$work/"
ln -s "$root/node_modules" "$work/node_modules"

sanitize="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
(cd "$work" && CXXFLAGS="$sanitize" CFLAGS="$sanitize" LDFLAGS="$sanitize" \
  npm exec --offline -- node-gyp rebuild -j 2 >/dev/null)

runtime="$(g++ -print-file-name=libasan.so)"
# Node itself is not instrumented and frees at exit in ways LeakSanitizer cannot follow: leaks
# are checked by the C++ suites instead; here ASan guards every access the addon makes.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export EPOLLWS_TEST_SERVER="env LD_PRELOAD=$runtime node $work/examples/echo-server.js"
node "$root/scripts/run-tests.mjs" test/conformance test/e2e/hostile.test.mjs test/e2e/ws-client.test.mjs
# The same over TLS (the tls option): every connection is a core stream fed by lib/stream-bridge.ts.
EPOLLWS_TEST_TLS=1 node "$root/scripts/run-tests.mjs" test/conformance
