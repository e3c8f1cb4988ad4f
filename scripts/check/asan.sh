#!/usr/bin/env bash
# Runs the conformance and hostile-input suites, the conformance suite over TLS (the native tls
# option, and an https.Server's sockets through the stream bridge) and the TLS suites (test/tls)
# against an AddressSanitizer + UBSan build of the addon: a copy of the package is built aside (the
# normal build/ stays as it is) and every node that loads it runs with the ASan runtime preloaded.
# test/tls loads the addon in the test process itself, so test/tls and test/helpers are copied
# into the aside copy too (their ../../dist then is the copy's, which loads the ASan build).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="${TMPDIR:-/tmp}/epollws-asan"
rm -rf "$work"
mkdir -p "$work"
cp -r "$root/package.json" "$root/binding.gyp" "$root/native" "$root/dist" "$root/examples" "$work/"
mkdir -p "$work/test"
cp -r "$root/test/tls" "$root/test/helpers" "$work/test/"
ln -s "$root/node_modules" "$work/node_modules"

sanitize="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
(cd "$work" && CXXFLAGS="$sanitize" CFLAGS="$sanitize" LDFLAGS="$sanitize" \
  npm exec --offline -- node-gyp rebuild -j 2 >/dev/null)

runtime="$(g++ -print-file-name=libasan.so)"
# The copy loads the instrumented build (it has no prebuilds/ that node-gyp-build would prefer).
symbols=$(nm -D "$work/build/Release/epollws.node")
grep -q ' __asan_init$' <<<"$symbols" || { echo "asan: the build is not instrumented" >&2; exit 1; }
loaded=$(LD_PRELOAD=$runtime ASAN_OPTIONS=detect_leaks=0 node -p 'require(process.argv[1] + "/node_modules/node-gyp-build").resolve(process.argv[1])' "$work")
[ "$loaded" = "$work/build/Release/epollws.node" ] || { echo "asan: the copy would load $loaded" >&2; exit 1; }
# Node itself is not instrumented and frees at exit in ways LeakSanitizer cannot follow: leaks
# are checked by the C++ suites instead; here ASan guards every access the addon makes.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export EPOLLWS_TEST_SERVER="env LD_PRELOAD=$runtime node $work/examples/echo-server.js"
node "$root/scripts/run-tests.mjs" test/conformance test/e2e/hostile.test.mjs test/e2e/ws-client.test.mjs
# The same over TLS: the tls option (the core's TlsTransport), then an https.Server whose
# TLSSockets are core streams fed by lib/stream-bridge.ts.
EPOLLWS_TEST_TLS=1 node "$root/scripts/run-tests.mjs" test/conformance
EPOLLWS_TEST_TLS=1 EPOLLWS_TEST_SERVER="env LD_PRELOAD=$runtime node $work/test/helpers/https-echo-server.mjs" \
  node "$root/scripts/run-tests.mjs" test/conformance
# The TLS suites in-process: the test files (and the servers they spawn from the copy's examples/)
# load the ASan addon. LD_PRELOAD reaches their children too (the openssl CLI, node:tls clients).
unset EPOLLWS_TEST_SERVER
LD_PRELOAD=$runtime node "$root/scripts/run-tests.mjs" "$work/test/tls"
